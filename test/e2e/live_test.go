package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/test/phone"
)

// connected sets up caller ↔ gateway phone through connectPstn and the
// ACE's continue, and returns the call id and both ends.
func connected(ctx context.Context, t *testing.T, ace string) (n *app.App, b *backend, id string, caller, callee *phone.Call) {
	t.Helper()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b = newBackend(t)
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`"}}`)
	b.on("ace", ace)
	n = node(t, b, "sip:"+gw.Addr())
	p := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, p, n, phone.DialOptions{FromUser: callerNumber})
	id = b.want(ctx, "ice")["callid"].(string)
	callee, err := gw.NextCall(ctx)
	require.NoError(t, err)
	return n, b, id, answered(ctx, t, dial), callee
}

// PATCH .../leg/{callee,both,caller} plays on the chosen legs of a bridged
// call, continue keeps the bridge, PATCH hangup ends both legs.
func TestPatchLegsOfConnectedCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, b, id, caller, callee := connected(ctx, t, `{"action":{"name":"continue"}}`)
	patch := func(path, body string) {
		t.Helper()
		code, res := rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id+path, body)
		require.Equal(t, http.StatusNoContent, code, "%s", res)
	}
	play := func(url string) string {
		return `{"instructions":[{"name":"playFiles","ids":["` + url + `"]}],"action":{"name":"continue"}}`
	}

	patch("/leg/callee", play(toneWAV(t, 1000, 600*time.Millisecond)))
	waitTone(ctx, t, callee, 1000, 400*time.Millisecond)
	patch("/leg/both", play(toneWAV(t, 700, 600*time.Millisecond)))
	waitTone(ctx, t, callee, 700, 400*time.Millisecond)
	waitTone(ctx, t, caller, 700, 400*time.Millisecond)
	patch("/leg/caller", play(toneWAV(t, 1200, 600*time.Millisecond)))
	waitTone(ctx, t, caller, 1200, 400*time.Millisecond)
	assert.Zero(t, toneTime(caller.Recording(), 1000), "the caller hears the callee's prompt")
	assert.Zero(t, toneTime(callee.Recording(), 1200), "the callee hears the caller's prompt")

	// The bridge is still up.
	go func() { _ = caller.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, callee, 1500, 500*time.Millisecond)

	code, info := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ONGOING", info["status"])
	assert.Equal(t, map[string]any{"type": "did", "endpoint": did}, info["to"])

	patch("", `{"action":{"name":"hangup"}}`)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, caller))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// The ACE reply speaks to the callee before the legs are bridged; the
// caller does not hear it.
func TestACESayThenContinue(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, b, _, caller, callee := connected(ctx, t,
		`{"instructions":[{"name":"say","text":"You have a call from the shop.","locale":"en-US"}],"action":{"name":"continue"}}`)
	assert.True(t, phone.SpeechLike(callee.Recording()), "the callee hears the ACE's say before the bridge")
	assert.False(t, phone.SpeechLike(caller.Recording()), "the caller does not hear the callee's whisper")
	go func() { _ = caller.PlayTone(ctx, 1000, time.Second) }()
	waitTone(ctx, t, callee, 1000, 500*time.Millisecond)
	require.NoError(t, callee.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, caller))
	assert.Equal(t, "CALLEEHANGUP", b.want(ctx, "dice")["reason"])
}

// The ACE reply can refuse the call: the callee is hung up, the caller
// refused, and invalid or missing replies end the call with a reason.
func TestACERefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, reply, reason string
	}{
		{"hangup", `{"action":{"name":"hangup"}}`, "MANAGERHANGUP"},
		{"invalid", `{"action":{"name":"park"}}`, "INVALIDSVAMLACTION"},
		{"not JSON", `nope`, "INVALIDSVAMLACTION"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
			b := newBackend(t)
			b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`"}}`)
			b.on("ace", tc.reply)
			n := node(t, b, "sip:"+gw.Addr())
			p := phone.New(t, phone.Options{User: "alice"})
			dial := dialDID(ctx, p, n, phone.DialOptions{FromUser: callerNumber})
			inc, err := gw.NextIncoming(ctx)
			require.NoError(t, err)
			assert.Equal(t, 480, refused(ctx, t, dial))
			// The node's BYE follows its ACK so closely that the phone
			// may handle the BYE first and report its answer as failed.
			if callee, err := inc.Call(ctx); err == nil {
				assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
			}
			require.Eventually(t, func() bool { return gw.ActiveCalls() == 0 }, 5*time.Second, 20*time.Millisecond,
				"the callee is hung up")
			dice := b.want(ctx, "dice")
			assert.Equal(t, tc.reason, dice["reason"])
			assert.Equal(t, "ANSWERED", dice["result"], "the callee answered")
		})
	}
}

// Hold and unhold by re-INVITE on a bridged call: while the caller holds
// (sendonly) the node sends it nothing; after unhold the bridge carries
// audio again.
func TestHoldAndUnhold(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, b, _, caller, callee := connected(ctx, t, `{"action":{"name":"continue"}}`)
	require.NoError(t, caller.Hold(ctx))
	assert.Equal(t, phone.RecvOnly, caller.RemoteDirection(), "the node answers a hold with recvonly")
	held := caller.Packets()
	require.NoError(t, callee.PlayTone(ctx, 1500, 600*time.Millisecond))
	assert.LessOrEqual(t, caller.Packets()-held, 2, "the node keeps sending to a caller that holds")
	assert.Zero(t, toneTime(caller.Recording(), 1500))

	require.NoError(t, caller.Unhold(ctx))
	assert.Equal(t, phone.SendRecv, caller.RemoteDirection())
	go func() { _ = callee.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, caller, 1500, 500*time.Millisecond)
	require.NoError(t, caller.Hangup(ctx))
	assert.Equal(t, "CALLERHANGUP", b.want(ctx, "dice")["reason"])
}

// A caller whose RTP stops is hung up after media.rtp_timeout.
func TestRTPTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"park","holdPrompt":"#tts[Hold on.]","maxDuration":30}}`)
	n := nodeWith(t, b, nodeOptions{RTPTimeout: time.Second})
	p := phone.New(t, phone.Options{User: "alice"})
	c := answered(ctx, t, dialDID(ctx, p, n, phone.DialOptions{FromUser: callerNumber}))
	require.NoError(t, c.WaitAudio(ctx, 300*time.Millisecond, 300))
	c.PauseRTP()
	paused := time.Now()
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	assert.GreaterOrEqual(t, time.Since(paused), 900*time.Millisecond) // the last packet left up to 20 ms before the pause
	assert.Less(t, time.Since(paused), 3*time.Second)
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CLIENTNETWORK", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// PATCH park on a bridged call: the caller hears the hold prompt and the
// two parties no longer hear each other; PATCH continue bridges them
// again.
func TestParkConnectedCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, b, id, caller, callee := connected(ctx, t, `{"action":{"name":"continue"}}`)
	patch := func(body string) {
		t.Helper()
		code, res := rest(ctx, t, n, http.MethodPatch, "/calling/v1/calls/id/"+id, body)
		require.Equal(t, http.StatusNoContent, code, "%s", res)
	}
	patch(`{"action":{"name":"park","holdPrompt":"#tts[You are on hold.]","maxDuration":20}}`)
	mark := len(caller.Recording())
	require.NoError(t, caller.WaitAudio(ctx, caller.AudioDuration(300)+800*time.Millisecond, 300))
	assert.True(t, phone.SpeechLike(caller.Recording()[mark:]), "the parked caller hears the hold prompt")
	calleeMark := len(callee.Recording())
	require.NoError(t, caller.PlayTone(ctx, 1000, 600*time.Millisecond))
	assert.Zero(t, toneTime(callee.Recording()[calleeMark:], 1000), "the callee hears the parked caller")

	patch(`{"action":{"name":"continue"}}`)
	go func() { _ = caller.PlayTone(ctx, 700, time.Second) }()
	go func() { _ = callee.PlayTone(ctx, 1200, time.Second) }()
	waitTone(ctx, t, callee, 700, 500*time.Millisecond)
	waitTone(ctx, t, caller, 1200, 500*time.Millisecond)
	require.NoError(t, callee.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, caller))
	assert.Equal(t, "CALLEEHANGUP", b.want(ctx, "dice")["reason"])
}
