package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/test/phone"
)

// A split WAV recording of an IVR call: the left channel holds the tone
// the caller played, the right one the prompt the caller heard; the
// recording is announced by Notify events and downloaded from the node.
func TestRecordingWAVHoldsWhatWasSaid(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},
		{"name":"startRecording","options":{"destinationUrl":"file://","format":"wav","channels":"split"}},
		{"name":"say","text":"This call is recorded.","locale":"en-US"}],
		"action":{"name":"park","holdPrompt":"#tts[Please hold.]","maxDuration":4}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
	require.NoError(t, err)
	require.NoError(t, c.WaitAudio(ctx, 300*time.Millisecond, 300))
	require.NoError(t, c.PlayTone(ctx, 1000, 1500*time.Millisecond))
	ended(ctx, t, c)

	fin := b.want(ctx, "notify")
	require.Equal(t, "recording_finished", fin["type"])
	avail := b.want(ctx, "notify")
	require.Equal(t, "recording_available", avail["type"])
	dest, _ := avail["destination"].(string)
	u, err := url.Parse(dest)
	require.NoError(t, err, "destination %q", dest)
	require.True(t, strings.HasPrefix(u.Path, "/calling/v1/recordings/"), "destination %q", dest)

	code, wav := rest(ctx, t, n, http.MethodGet, u.Path, "")
	require.Equal(t, http.StatusOK, code, "%s", wav)
	left, right := decodeStereoWAV(t, wav)
	assert.GreaterOrEqual(t, toneTime(left, 1000), time.Second, "the caller's tone is in the left channel")
	assert.Less(t, toneTime(right, 1000), 200*time.Millisecond, "and not in the right one")
	assert.True(t, phone.SpeechLike(right), "the prompt the caller heard is in the right channel")

	code, _ = rest(ctx, t, n, http.MethodDelete, u.Path, "")
	assert.Equal(t, http.StatusNoContent, code)
	code, _ = rest(ctx, t, n, http.MethodGet, u.Path, "")
	assert.Equal(t, http.StatusNotFound, code)
}

// decodeStereoWAV returns the two channels of a 16-bit 8 kHz stereo WAV.
func decodeStereoWAV(t *testing.T, b []byte) (left, right []int16) {
	t.Helper()
	require.Greater(t, len(b), 44)
	require.Equal(t, "RIFF", string(b[:4]))
	require.Equal(t, "WAVE", string(b[8:12]))
	p := 12
	var channels, bits uint16
	var rate uint32
	for p+8 <= len(b) {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			channels = binary.LittleEndian.Uint16(body[2:])
			rate = binary.LittleEndian.Uint32(body[4:])
			bits = binary.LittleEndian.Uint16(body[14:])
		case "data":
			require.Equal(t, uint16(2), channels)
			require.Equal(t, uint32(8000), rate)
			require.Equal(t, uint16(16), bits)
			body = body[:min(size, len(body))]
			for i := 0; i+4 <= len(body); i += 4 {
				left = append(left, int16(binary.LittleEndian.Uint16(body[i:])))
				right = append(right, int16(binary.LittleEndian.Uint16(body[i+2:])))
			}
			return left, right
		}
		p += 8 + size + size%2
	}
	t.Fatal("no data chunk")
	return nil, nil
}

// An SSML prompt and an MP3 prompt are both heard by the caller.
func TestSSMLAndMP3Prompts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mp3 := mp3ToneURL(t)
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},
		{"name":"playFiles","ids":["#ssml[<speak>Your code is <say-as interpret-as=\"digits\">42</say-as>.<break time=\"300ms\"/>Goodbye.</speak>]"],"locale":"en-US"},
		{"name":"playFiles","ids":["#href[`+mp3+`]"]}],"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
	require.NoError(t, err)
	ended(ctx, t, c)
	rec := c.Recording()
	assert.True(t, phone.SpeechLike(rec), "the SSML prompt was heard")
	assert.GreaterOrEqual(t, toneTime(rec, 1000), 700*time.Millisecond, "the MP3's 1 kHz tone was heard")
	assert.Equal(t, "MANAGERHANGUP", b.want(ctx, "dice")["reason"])
}

// amdCall dials through the node to the gateway phone, which answers and
// plays greeting; it returns the gateway's call.
func amdCall(ctx context.Context, t *testing.T, b *backend, amd string, greeting []int16) *phone.Call {
	t.Helper()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerManual})
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","cli":"+46700000003","amd":`+amd+`}}`)
	n := node(t, b, "sip:"+gw.Addr())
	caller := phone.New(t, phone.Options{User: "alice"})
	dialDID(ctx, caller, n, phone.DialOptions{})
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	c, err := inc.Answer()
	require.NoError(t, err)
	go func() { _ = c.Play(ctx, greeting) }()
	return c
}

// AMD, synchronous: a callee who says a short "Hello?" is human, and the
// result is in the ACE.
func TestAMDHumanInACE(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ace", `{"action":{"name":"hangup"}}`)
	greeting := append(make([]int16, 8000*3/10), speech(t, "Hello?")...)
	c := amdCall(ctx, t, b, `{"enabled":true}`, greeting)
	ace := b.want(ctx, "ace")
	amd, _ := ace["amd"].(map[string]any)
	require.NotNil(t, amd, "ACE without amd: %v", ace)
	assert.Equal(t, "human", amd["status"], "%v", amd)
	assert.Contains(t, []any{float64(1), float64(2), float64(3), float64(4), float64(5)}, amd["duration"], "%v", amd)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
}

// AMD, asynchronous: the ACE goes at once; a long greeting then a beep
// give Notify amd (machine) and Notify amd_beep.
func TestAMDMachineAndBeepAsync(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ace", `{"action":{"name":"continue"}}`)
	greeting := speech(t, "Hi, you have reached the voicemail of John Smith. I can not take your call right now. Please leave a message after the tone.")
	greeting = append(greeting, make([]int16, 8000/2)...)
	greeting = append(greeting, phone.Tone(1000, 500*time.Millisecond, 12000)...)
	c := amdCall(ctx, t, b, `{"enabled":true,"async":true}`, greeting)
	ace := b.want(ctx, "ace")
	amd, _ := ace["amd"].(map[string]any)
	require.NotNil(t, amd, "ACE without amd: %v", ace)
	assert.Equal(t, "inprogress", amd["status"])
	n1 := b.want(ctx, "notify")
	assert.Equal(t, "amd", n1["type"])
	assert.Equal(t, "machine", n1["amd"].(map[string]any)["status"], "%v", n1)
	n2 := b.want(ctx, "notify")
	assert.Equal(t, "amd_beep", n2["type"])
	assert.Equal(t, "beep", n2["amd"].(map[string]any)["reason"], "%v", n2)
	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, "CALLEEHANGUP", b.want(ctx, "dice")["reason"])
}

// speech synthesizes text (8 kHz) with the node's own TTS.
func speech(t *testing.T, text string) []int16 {
	t.Helper()
	o := media.DefaultOptions()
	o.BindIP = netip.MustParseAddr("127.0.0.1")
	e, err := media.NewEngine(o)
	require.NoError(t, err)
	defer e.Close()
	src, err := e.TTS(context.Background(), text, "en-US", false)
	require.NoError(t, err)
	var out []int16
	buf := make([]int16, 160)
	for {
		n, err := src.ReadSamples(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
}

// wsEcho is a WebSocket server that checks the start message and echoes
// every binary frame back.
func wsEcho(t *testing.T, start chan<- string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageText {
				select {
				case start <- string(msg):
				default:
				}
				continue
			}
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/stream"
}

// connectStream to a WebSocket echo server: the caller hears its own tone
// back; hanging up closes the stream.
func TestConnectStreamEcho(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		t.Run(strconv.Itoa(rate), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := make(chan string, 4)
			ws := wsEcho(t, start)
			b := newBackend(t)
			b.on("ice", `{"action":{"name":"connectStream","destination":{"type":"Websocket","endpoint":"`+ws+`"},
				"streamingOptions":{"version":1,"sampleRate":`+strconv.Itoa(rate)+`},"callHeaders":[{"key":"lang","value":"sv"}]}}`)
			n := node(t, b, "")
			caller := phone.New(t, phone.Options{User: "alice"})
			c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
			require.NoError(t, err)
			var first string
			select {
			case first = <-start:
			case <-ctx.Done():
				t.Fatal("no start message")
			}
			assert.Contains(t, first, `"lang"`)
			assert.Contains(t, first, strconv.Itoa(rate))
			require.NoError(t, c.PlayTone(ctx, 1000, time.Second))
			waitTone(ctx, t, c, 1000, 500*time.Millisecond)
			require.NoError(t, c.Hangup(ctx))
			assert.Equal(t, "CALLERHANGUP", b.want(ctx, "dice")["reason"])
		})
	}
}

// mp3ToneURL serves media's 1 s 1 kHz MP3 fixture and returns its URL.
func mp3ToneURL(t *testing.T) string {
	t.Helper()
	mp3, err := os.ReadFile(filepath.Join("..", "..", "media", "testdata", "tone1k_mono_22k.mp3"))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(mp3)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/tone.mp3"
}

// A callee on a connectSip leg puts the call on hold: the caller hears the
// connect action's hold music until the callee resumes.
func TestHoldPlaysMusicOnHold(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bob := phone.New(t, phone.Options{User: "bob", Answer: phone.AnswerAuto})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectSip","destination":{"type":"sip","endpoint":"bob@`+bob.Addr()+`"},"moh":"music1"}}`)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{})
	inc, err := bob.NextIncoming(ctx)
	require.NoError(t, err)
	callee, err := inc.Call(ctx)
	require.NoError(t, err)
	c := answered(ctx, t, dial)
	b.want(ctx, "ace")
	time.Sleep(300 * time.Millisecond)
	before := len(c.Recording())
	assert.Less(t, phone.RMS(c.Recording()), 100.0, "silence before the hold: bob says nothing")

	require.NoError(t, callee.Hold(ctx))
	require.NoError(t, c.WaitAudio(ctx, time.Second, 300), "the caller hears hold music")
	music := c.Recording()[before:]
	assert.False(t, phone.SpeechLike(music), "hold music, not a prompt")

	require.NoError(t, callee.Unhold(ctx))
	time.Sleep(300 * time.Millisecond)
	after := len(c.Recording())
	time.Sleep(time.Second)
	assert.Less(t, phone.RMS(c.Recording()[after:]), 100.0, "the music stops when bob resumes")
	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, "CALLERHANGUP", b.want(ctx, "dice")["reason"])
}

// s3Server is gofakes3 (in memory) with one bucket, the S3-compatible store
// recordings go to.
func s3Server(t *testing.T, bucket string) (endpoint string, get func(key string) []byte) {
	t.Helper()
	be := s3mem.New()
	require.NoError(t, be.CreateBucket(bucket))
	srv := httptest.NewServer(gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return srv.URL, func(key string) []byte {
		obj, err := be.GetObject(bucket, key, nil)
		require.NoError(t, err, "object %s/%s", bucket, key)
		defer obj.Contents.Close()
		b, err := io.ReadAll(obj.Contents)
		require.NoError(t, err)
		return b
	}
}

// startRecording to s3:// with credentials: the WAV lands in an
// S3-compatible store and holds the caller's tone.
func TestRecordingToS3(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	endpoint, get := s3Server(t, "calls")
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},
		{"name":"startRecording","options":{"destinationUrl":"s3://calls/2026/","credentials":"AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:eu-central-1",
		 "format":"wav","channels":"mono"}}],
		"action":{"name":"park","holdPrompt":"#tts[Please hold.]","maxDuration":3}}`)
	n := nodeWith(t, b, nodeOptions{S3Endpoint: endpoint})
	caller := phone.New(t, phone.Options{User: "alice"})
	c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
	require.NoError(t, err)
	require.NoError(t, c.PlayTone(ctx, 700, time.Second))
	ended(ctx, t, c)
	b.want(ctx, "notify") // recording_finished
	avail := b.want(ctx, "notify")
	require.Equal(t, "recording_available", avail["type"])
	dest, _ := avail["destination"].(string)
	require.True(t, strings.HasPrefix(dest, "s3://calls/2026/"), "destination %q", dest)
	wav := get(strings.TrimPrefix(dest, "s3://calls/"))
	pcm := decodeMonoWAV(t, wav)
	assert.GreaterOrEqual(t, toneTime(pcm, 700), 700*time.Millisecond, "the caller's tone is in the recording")
}

// decodeMonoWAV returns the samples of a 16-bit 8 kHz mono WAV.
func decodeMonoWAV(t *testing.T, b []byte) []int16 {
	t.Helper()
	require.Greater(t, len(b), 44)
	require.Equal(t, "RIFF", string(b[:4]))
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		if id == "fmt " {
			require.Equal(t, uint16(1), binary.LittleEndian.Uint16(b[p+10:]), "mono")
		}
		if id == "data" {
			body := b[p+8 : p+8+min(size, len(b)-p-8)]
			out := make([]int16, len(body)/2)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return out
		}
		p += 8 + size + size%2
	}
	t.Fatal("no data chunk")
	return nil
}

// SVAML asking for what cannot be played or stored ends the call with
// INVALIDSVAMLACTION, after a clear log line, instead of a silent fallback.
func TestUnplayablePromptsAndBadDestinations(t *testing.T) {
	for name, ins := range map[string]string{
		"unknown locale":  `{"name":"say","text":"Hej","locale":"xx-YY"}`,
		"malformed ssml":  `{"name":"playFiles","ids":["#ssml[<speak>Hello <break></speak>]"]}`,
		"azure recording": `{"name":"startRecording","options":{"destinationUrl":"azure://container/x"}}`,
		"bad credentials": `{"name":"startRecording","options":{"destinationUrl":"s3://bucket/","credentials":"only-a-key"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			b := newBackend(t)
			b.on("ice", `{"instructions":[{"name":"answer"},`+ins+`],"action":{"name":"hangup"}}`)
			n := node(t, b, "")
			caller := phone.New(t, phone.Options{User: "alice"})
			c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
			require.NoError(t, err)
			ended(ctx, t, c)
			assert.Equal(t, "INVALIDSVAMLACTION", b.want(ctx, "dice")["reason"])
		})
	}
}
