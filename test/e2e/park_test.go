package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// park: the caller hears the intro and the looped hold prompt; GET shows
// the live call; a PATCH on the caller leg plays a WAV tone and returns to
// the park; a PATCH with say and hangup ends it, heard by the caller; GET
// then shows the final record. Unknown and ended calls are refused.
func TestParkAndLiveCallControl(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tone := toneWAV(t, 1000, 800*time.Millisecond)
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"setCookie","key":"queue","value":"sales"}],
		"action":{"name":"park","locale":"en-US","introPrompt":"#tts[Please hold.]","holdPrompt":"#tts[Your call matters.]","maxDuration":60}}`)
	n := node(t, b, "")

	caller := phone.New(t, phone.Options{User: "alice"})
	start := time.Now()
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	ice := b.want(ctx, "ice")
	id := ice["callid"].(string)
	c := answered(ctx, t, dial)

	// Intro and at least one round of the hold prompt.
	require.NoError(t, c.WaitAudio(ctx, 1500*time.Millisecond, 300))
	assert.True(t, phone.SpeechLike(c.Recording()), "the caller hears the park prompts")

	code, info := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	require.Equal(t, http.StatusOK, code, "%v", info)
	assert.Equal(t, id, info["callId"])
	assert.Equal(t, "ONGOING", info["status"])
	assert.Equal(t, "N/A", info["result"])
	assert.Equal(t, "N/A", info["reason"])
	assert.Equal(t, map[string]any{"type": "number", "endpoint": callerNumber}, info["from"])
	assert.Equal(t, map[string]any{"type": "did", "endpoint": did}, info["to"])
	assert.Equal(t, "pstn", info["domain"])
	assert.Equal(t, map[string]any{"currencyId": "EUR", "amount": 0.0}, info["userRate"])
	assert.Equal(t, map[string]any{"currencyId": "EUR", "amount": 0.0}, info["debit"])
	assert.NotEmpty(t, info["timestamp"])
	ts, err := time.Parse(time.RFC3339, info["timestamp"].(string))
	require.NoError(t, err, "timestamp %v", info["timestamp"])
	assert.WithinDuration(t, start, ts, 2*time.Second)
	assert.Contains(t, info, "duration")

	// A leg update interrupts the hold prompt with a tone, then the park
	// goes on.
	code, body := rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id+"/leg/caller",
		`{"instructions":[{"name":"playFiles","ids":["`+tone+`"]}],"action":{"name":"continue"}}`)
	require.Equal(t, http.StatusNoContent, code, "%s", body)
	waitTone(ctx, t, c, 1000, 600*time.Millisecond)
	mark := len(c.Recording())
	require.NoError(t, c.WaitAudio(ctx, c.AudioDuration(300)+time.Second, 300))
	assert.True(t, phone.SpeechLike(c.Recording()[mark:]), "the hold prompt resumes after continue")

	// Say and hang up.
	mark = len(c.Recording())
	code, body = rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id,
		`{"instructions":[{"name":"say","text":"Thank you for waiting, goodbye.","locale":"en-US"}],"action":{"name":"hangup"}}`)
	require.Equal(t, http.StatusNoContent, code, "%s", body)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	talked := time.Since(start)
	assert.True(t, phone.SpeechLike(c.Recording()[mark:]), "the caller hears the PATCH's say")

	dice := b.want(ctx, "dice")
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.Equal(t, []any{map[string]any{"key": "queue", "value": "sales"}}, dice["cookies"])
	assertDuration(t, talked, dice["duration"])

	code, info = restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	require.Equal(t, http.StatusOK, code, "%v", info)
	assert.Equal(t, "FINAL", info["status"])
	assert.Equal(t, "ANSWERED", info["result"])
	assert.Equal(t, "MANAGERHANGUP", info["reason"])
	assert.Equal(t, dice["duration"], info["duration"])

	code, info = restJSON(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
	assert.Equal(t, http.StatusConflict, code, "an ended call cannot be updated: %v", info)

	code, info = restJSON(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/no-such-call", `{"action":{"name":"hangup"}}`)
	assert.Equal(t, http.StatusNotFound, code)
	assert.EqualValues(t, 40400, info["errorCode"])
	assert.Equal(t, "Call not found", info["message"])
	code, info = restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/no-such-call", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.EqualValues(t, 40400, info["errorCode"])
}

// park's maxDuration: the hold prompt playing when it passes is finished,
// then the call ends with TIMEOUT.
func TestParkMaxDuration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"park","holdPrompt":"#tts[Please keep holding the line.]","maxDuration":1}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	c := answered(ctx, t, dial)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	assert.True(t, phone.SpeechLike(c.Recording()))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "TIMEOUT", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// Rapid PATCH continues on a parked call each restart the park; none may
// end the call (an older park task once preempted the newer one's audio,
// and the call ended with GENERALERROR).
func TestParkSurvivesRapidContinues(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"park","holdPrompt":"#tts[Please hold]","maxDuration":60}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "rapid"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	id := b.want(ctx, "ice")["callid"].(string)
	c := answered(ctx, t, dial)
	require.NoError(t, c.WaitAudio(ctx, 300*time.Millisecond, 300))
	for i := range 150 {
		code, body := rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"continue"}}`)
		require.Equal(t, http.StatusNoContent, code, "continue %d: %s", i, body)
		time.Sleep(time.Duration(i%7) * time.Millisecond)
	}
	code, info := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ONGOING", info["status"], "%v", info)
	code, _ = rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
	require.Equal(t, http.StatusNoContent, code)
	ended(ctx, t, c)
	assert.Equal(t, "MANAGERHANGUP", b.want(ctx, "dice")["reason"])
}
