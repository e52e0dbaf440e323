package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// answer, playFiles (TTS and a WAV from a URL), sendDtmf, hangup: the
// caller hears the words, then the 1 kHz tone of the file, then gets the
// digits.
func TestPlayFilesAndSendDTMF(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tone := toneWAV(t, 1000, 800*time.Millisecond)
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},
		{"name":"playFiles","ids":["#tts[Hello there, listen to this.]","`+tone+`"],"locale":"en-US"},
		{"name":"sendDtmf","value":"12#"}],"action":{"name":"hangup"}}`)
	n := node(t, b, "")

	caller := phone.New(t, phone.Options{User: "alice"})
	c := answered(ctx, t, dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber}))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))

	rec := c.Recording()
	first := firstTone(rec, 1000)
	require.Positive(t, first, "no 1 kHz tone from the WAV (tone time %s)", toneTime(rec, 1000))
	assert.GreaterOrEqual(t, toneTime(rec, 1000), 600*time.Millisecond)
	assert.True(t, phone.SpeechLike(rec[:first]), "the TTS is heard before the file")
	assert.Equal(t, "12#", c.ReceivedDTMF())

	dice := b.want(ctx, "dice")
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.NotContains(t, dice, "cookies")
}

// say before any answer goes out as early media (183); the hangup then
// refuses the never-answered caller.
func TestSayAsEarlyMedia(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"say","text":"This number is not in service.","locale":"en-US"}],"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	early := make(chan *phone.Call, 4)
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber, OnProgress: func(code int, c *phone.Call) {
		if code == 183 {
			early <- c
		}
	}})
	code := refused(ctx, t, dial)
	assert.Equal(t, 480, code)
	select {
	case c := <-early:
		assert.True(t, phone.SpeechLike(c.Recording()), "the caller hears the say as early media")
	default:
		t.Fatal("no 183 with early media")
	}
	dice := b.want(ctx, "dice")
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "N/A", dice["result"])
	assert.EqualValues(t, 0, dice["duration"])
}

// setCookie in the ICE reply shows up in the ACE; setCookie in the ACE
// reply adds and overwrites; the DiCE carries them all.
func TestSetCookie(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"setCookie","key":"lang","value":"sv"},{"name":"setCookie","key":"step","value":"ice"}],
		"action":{"name":"connectPstn","number":"`+calleeNumber+`"}}`)
	b.on("ace", `{"instructions":[{"name":"setCookie","key":"step","value":"ace"},{"name":"setCookie","key":"agent","value":"7"}],
		"action":{"name":"continue"}}`)
	n := node(t, b, "sip:"+gw.Addr())
	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	ice := b.want(ctx, "ice")
	assert.NotContains(t, ice, "cookies", "no cookies before the first setCookie")
	callee, err := gw.NextCall(ctx)
	require.NoError(t, err)
	ace := b.want(ctx, "ace")
	assert.Equal(t, []any{kv("lang", "sv"), kv("step", "ice")}, ace["cookies"])
	c := answered(ctx, t, dial)
	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
	dice := b.want(ctx, "dice")
	assert.Equal(t, []any{kv("lang", "sv"), kv("step", "ace"), kv("agent", "7")}, dice["cookies"])
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
}

func kv(k, v string) map[string]any { return map[string]any{"key": k, "value": v} }

// firstTone returns the index of the first 50 ms window of rec that is a
// tone at freq, or -1.
func firstTone(rec []int16, freq float64) int {
	const win = 400
	for i := 0; i+win <= len(rec); i += win {
		if toneTime(rec[i:i+win], freq) > 0 {
			return i
		}
	}
	return -1
}
