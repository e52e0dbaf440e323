package call

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

type fakeRecordings struct {
	mu      sync.Mutex
	started []RecordingRequest
	recs    []*fakeRecording
	err     error
}

func (f *fakeRecordings) Start(_ context.Context, r RecordingRequest) (Recording, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.started = append(f.started, r)
	rec := &fakeRecording{req: r}
	f.recs = append(f.recs, rec)
	return rec, nil
}

type fakeRecording struct {
	req     RecordingRequest
	frames  atomic.Int64
	stopped atomic.Bool
}

func (r *fakeRecording) Write(near, far []int16) { r.frames.Add(1) }
func (r *fakeRecording) Stop(context.Context) error {
	r.stopped.Store(true)
	return nil
}
func (r *fakeRecording) Store(context.Context) (string, error) {
	return "https://node-a.example/calling/v1/recordings/" + r.req.CallID + ".wav", nil
}
func (r *fakeRecording) Transcribe(context.Context, string) (string, error) {
	return "", ErrTranscriptionUnavailable
}

type fakeStreams struct {
	mu      sync.Mutex
	reqs    []StreamRequest
	streams []*fakeStream
}

func (f *fakeStreams) Dial(_ context.Context, r StreamRequest) (Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL == "ws://down.invalid/" {
		return nil, errors.New("dial: connection refused")
	}
	s := &fakeStream{hangup: make(chan struct{}), done: make(chan struct{})}
	f.reqs = append(f.reqs, r)
	f.streams = append(f.streams, s)
	return s, nil
}

type fakeStream struct {
	frames  atomic.Int64
	digits  []rune
	mu      sync.Mutex
	hangup  chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	endOnce sync.Once
}

func (s *fakeStream) WriteFrame([]int16) { s.frames.Add(1) }
func (s *fakeStream) Audio() Audio       { return "stream:audio" }
func (s *fakeStream) SendDigit(d rune) error {
	s.mu.Lock()
	s.digits = append(s.digits, d)
	s.mu.Unlock()
	return nil
}
func (s *fakeStream) HangupRequested() <-chan struct{} { return s.hangup }
func (s *fakeStream) Done() <-chan struct{}            { return s.done }
func (s *fakeStream) Close(context.Context) error {
	s.closed.Store(true)
	s.endOnce.Do(func() { close(s.done) })
	return nil
}

// tapped returns the one media session with a tap.
func tapped(t *testing.T, e *env) *fakeSession {
	t.Helper()
	var out *fakeSession
	for _, s := range e.media.sessions {
		if s.tapCount() > 0 {
			require.Nil(t, out, "two sessions are tapped")
			out = s
		}
	}
	require.NotNil(t, out, "no session is tapped")
	return out
}

func notifies(e *env) []*events.Notify {
	var out []*events.Notify
	for _, ev := range e.backend.events() {
		if n, ok := ev.(*events.Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

func TestRecordingFromICEUntilHangup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"startRecording","options":{"destinationUrl":"file://","format":"wav",
			"channels":"split","transcriptionOptions":{"enabled":true,"locale":"en-US"}}},{"name":"answer"},{"name":"say","text":"Hello"}],
			"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		synctest.Wait()
		require.Len(t, e.recs.started, 1)
		ms := e.media.sessions[0]
		require.Equal(t, 1, ms.tapCount(), "the caller's session is tapped once it exists")
		ms.feed(50)
		e.final("call-1")
		synctest.Wait()
		rec := e.recs.recs[0]
		require.Equal(t, int64(50), rec.frames.Load())
		require.True(t, rec.stopped.Load())
		require.Equal(t, 0, ms.tapCount(), "the tap is removed")
		require.Equal(t, "split", rec.req.Options.Channels)
		require.Equal(t, "wav", rec.req.Options.Format)
		require.Equal(t, 1, rec.req.Seq)
		ns := notifies(e)
		require.Len(t, ns, 3)
		require.Equal(t, "recording_finished", ns[0].Type)
		require.Equal(t, "recording_available", ns[1].Type)
		require.Equal(t, "https://node-a.example/calling/v1/recordings/call-1.wav", ns[1].Destination)
		require.Equal(t, "callingerror", ns[2].Type, "transcription without a recognizer is reported, not silent")
		require.Contains(t, ns[2].ErrorMsg, "not available")
		require.Equal(t, "call-1", ns[2].ID)
	})
}

func TestStopRecordingAndNoNotifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"startRecording","options":{"destinationUrl":"s3://bucket/",
			"notificationEvents":false}},{"name":"startRecording","options":{"destinationUrl":"s3://other/"}},
			{"name":"say","text":"Recorded"},{"name":"stopRecording"},{"name":"say","text":"Not recorded"}],"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		e.final("call-1")
		synctest.Wait()
		require.Len(t, e.recs.started, 1, "a second startRecording while one runs is ignored")
		require.Equal(t, "mp3", e.recs.started[0].Options.Format, "the reference's default format")
		require.True(t, e.recs.recs[0].stopped.Load())
		require.Empty(t, notifies(e), "notificationEvents false")
	})
}

func TestRecordingWithBadDestinationEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.recs.err = fmt.Errorf(`%w: destinationUrl "azure://x": scheme not supported`, ErrInvalidSVAML)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"startRecording","options":{"destinationUrl":"azure://x"}}],"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonInvalidSVAMLAction, s.Reason)
	})
}

func TestAMDSynchronousResultInACE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.media.amdFrames = 100
		e.media.amdResult = events.AMD{Status: "machine", Reason: "longgreeting", Duration: 2}
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100","cli":"+46700000000","amd":{"enabled":true}}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"hangup"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		e.inbound("+46701234567")
		synctest.Wait()
		require.Equal(t, []string{"ice"}, e.backend.kinds(), "no ACE before the detector decided")
		tapped(t, e).feed(100)
		e.final("call-1")
		var ace *events.ACE
		for _, ev := range e.backend.events() {
			if a, ok := ev.(*events.ACE); ok {
				ace = a
			}
		}
		require.NotNil(t, ace)
		require.Equal(t, &events.AMD{Status: "machine", Reason: "longgreeting", Duration: 2}, ace.AMD)
	})
}

func TestAMDAsynchronousNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.media.amdFrames, e.media.beepFrames = 100, 400
		e.media.amdResult = events.AMD{Status: "machine", Reason: "longgreeting", Duration: 2}
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100","cli":"+46700000000","amd":{"enabled":true,"async":true}}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		synctest.Wait()
		require.Equal(t, []string{"ice", "ace"}, e.backend.kinds(), "the ACE goes at once")
		ace := e.backend.events()[1].(*events.ACE)
		require.Equal(t, "inprogress", ace.AMD.Status)
		tapped(t, e).feed(400)
		synctest.Wait()
		ns := notifies(e)
		require.Len(t, ns, 2)
		require.Equal(t, "amd", ns[0].Type)
		require.Equal(t, "machine", ns[0].AMD.Status)
		require.Equal(t, "amd_beep", ns[1].Type)
		require.Equal(t, "beep", ns[1].AMD.Reason)
		caller.remoteHangup()
		e.final("call-1")
	})
}

func TestAMDAsyncHangupBeforeDecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.media.amdFrames = 1000
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100","cli":"+46700000000","amd":{"enabled":true,"async":true}}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		e.inbound("+46701234567")
		synctest.Wait()
		callee.remoteHangup()
		e.final("call-1")
		synctest.Wait()
		ns := notifies(e)
		require.Len(t, ns, 1)
		require.Equal(t, "hangup", ns[0].AMD.Status)
	})
}

func TestHoldPlaysConnectSipMusicToTheOtherParty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectSip","destination":{"type":"sip","endpoint":"bob@pbx.example"},"moh":"music2"}}`)
		e.backend.on(events.KindACE, `{"action":{"name":"continue"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		caller := e.inbound("+46701234567")
		synctest.Wait()
		reply := make(chan []byte, 1)
		callee.evs <- LegEvent{Offer: []byte("hold"), Respond: func(b []byte, err error) { reply <- b }}
		synctest.Wait()
		require.Equal(t, "reanswer", string(<-reply))
		time.Sleep(5 * time.Second) // two loops of the fake 2 s music and a bit
		synctest.Wait()
		require.Equal(t, []string{"moh:music2", "moh:music2", "moh:music2"}, e.media.plays())
		callee.evs <- LegEvent{Offer: []byte("unhold"), Respond: func([]byte, error) {}}
		synctest.Wait()
		time.Sleep(5 * time.Second)
		require.Len(t, e.media.plays(), 3, "the music stops on unhold")
		caller.remoteHangup()
		e.final("call-1")
	})
}

func TestConnectStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectStream","destination":{"type":"Websocket","endpoint":"wss://bot.example/ws?token=x"},
			"streamingOptions":{"version":2,"sampleRate":16000},"callHeaders":[{"key":"lang","value":"sv"}],"maxDuration":600}}`)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		require.Contains(t, caller.calls(), "200", "the caller is answered")
		require.Len(t, e.streams.reqs, 1)
		req := e.streams.reqs[0]
		require.Equal(t, "wss://bot.example/ws?token=x", req.URL)
		require.Equal(t, 16000, req.SampleRate)
		require.Equal(t, []events.KeyValue{{Key: "lang", Value: "sv"}}, req.Headers)
		require.Equal(t, "+46701111111", req.CLI)
		ms := e.media.sessions[0]
		ms.feed(25)
		ms.press("5")
		st := e.streams.streams[0]
		require.Equal(t, int64(25), st.frames.Load())
		close(st.hangup) // the bot is done
		s := e.final("call-1")
		require.Equal(t, events.ReasonCalleeHangup, s.Reason)
		require.True(t, st.closed.Load())
		require.Equal(t, []rune{'5'}, st.digits)
		require.Contains(t, e.media.plays(), "stream:audio")
	})
}

func TestConnectStreamCallerHangsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectStream","destination":{"type":"Websocket","endpoint":"ws://bot.example/"}}}`)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		caller.remoteHangup()
		s := e.final("call-1")
		require.Equal(t, events.ReasonCallerHangup, s.Reason)
		synctest.Wait()
		require.True(t, e.streams.streams[0].closed.Load(), "the stream is closed cleanly")
	})
}

func TestConnectStreamServerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, `{"action":{"name":"connectStream","destination":{"type":"Websocket","endpoint":"ws://down.invalid/"}}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonGeneralError, s.Reason)
	})
}

// A prompt the node cannot play because of the SVAML (unknown locale,
// malformed SSML) ends the call with INVALIDSVAMLACTION.
func TestInvalidPromptIsInvalidSVAML(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.media.promptErr = fmt.Errorf("%w: media: unknown TTS locale \"xx-YY\"", ErrInvalidSVAML)
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hej","locale":"xx-YY"}],"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		s := e.final("call-1")
		require.Equal(t, events.ReasonInvalidSVAMLAction, s.Reason)
	})
}
