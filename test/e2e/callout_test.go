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

// callout posts a signed callout request and returns the call id.
func callout(ctx context.Context, t *testing.T, n *app.App, body string) string {
	t.Helper()
	code, res := restJSON(ctx, t, n, http.MethodPost, "/calling/v1/callouts", body)
	require.Equal(t, http.StatusOK, code, "%v", res)
	id, _ := res["callId"].(string)
	require.NotEmpty(t, id, "%v", res)
	return id
}

// ttsCallout to a number: the gateway phone answers, gets the dtmf, the
// ACE is answered with continue, the phone hears the text, the node hangs
// up and the DiCE follows; no ICE.
func TestTTSCallout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto, AnswerDelay: 200 * time.Millisecond})
	b := newBackend(t)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "sip:"+gw.Addr())

	id := callout(ctx, t, n, `{"method":"ttsCallout","ttsCallout":{"cli":"+46700000003",
		"destination":{"type":"number","endpoint":"`+calleeNumber+`"},"text":"Your code is one two three four.","locale":"en-US",
		"dtmf":"12","enableAce":true,"enableDice":true,"custom":"order-7"}}`)
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc.RequestURI(), "sip:"+calleeNumber+"@")
	assert.Equal(t, "+46700000003", inc.FromUser())
	c, err := inc.Call(ctx)
	require.NoError(t, err)

	ace := b.want(ctx, "ace")
	assert.Equal(t, id, ace["callid"])
	assert.Equal(t, "order-7", ace["custom"])
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c), "the node hangs up after the text")
	assert.True(t, phone.SpeechLike(c.Recording()), "the callee hears the text")
	assert.Equal(t, "12", c.ReceivedDTMF())

	dice := b.want(ctx, "dice")
	assert.Equal(t, id, dice["callid"])
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.Equal(t, "order-7", dice["custom"])
	assert.Equal(t, map[string]any{"type": "number", "endpoint": calleeNumber}, dice["to"])
	assert.Equal(t, "+46700000003", dice["from"])
	assert.Equal(t, []string{"ace", "dice"}, b.kinds())

	code, info := restJSON(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "FINAL", info["status"])
	assert.Equal(t, "order-7", info["custom"])
	assert.Equal(t, map[string]any{"type": "number", "endpoint": calleeNumber}, info["to"])
}

// ttsCallout with prompts (TTS and a WAV) and no enableAce/enableDice: the
// callee hears both and the backend hears nothing.
func TestTTSCalloutPromptsWithoutEvents(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tone := toneWAV(t, 1000, 600*time.Millisecond)
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	n := node(t, b, "sip:"+gw.Addr())
	callout(ctx, t, n, `{"method":"ttsCallout","ttsCallout":{"cli":"+46700000003",
		"destination":{"type":"number","endpoint":"`+calleeNumber+`"},"prompts":"#tts[Hello, here is a tone.];`+tone+`"}}`)
	c, err := gw.NextCall(ctx)
	require.NoError(t, err)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	rec := c.Recording()
	first := firstTone(rec, 1000)
	require.Positive(t, first, "no tone from the WAV prompt")
	assert.True(t, phone.SpeechLike(rec[:first]))
	b.quiet(500 * time.Millisecond)
	assert.Empty(t, b.kinds(), "no ACE and no DiCE without enableAce/enableDice")
}

// A ttsCallout to a busy number: DiCE BUSY.
func TestTTSCalloutBusy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerReject, RejectCode: 486})
	b := newBackend(t)
	n := node(t, b, "sip:"+gw.Addr())
	id := callout(ctx, t, n, `{"method":"ttsCallout","ttsCallout":{"cli":"+46700000003",
		"destination":{"type":"number","endpoint":"`+calleeNumber+`"},"text":"Hello.","enableAce":true,"enableDice":true}}`)
	dice := b.want(ctx, "dice")
	assert.Equal(t, id, dice["callid"])
	assert.Equal(t, "BUSY", dice["result"])
	assert.Equal(t, "BUSY", dice["reason"])
	assert.EqualValues(t, 0, dice["duration"])
	assert.Equal(t, []string{"dice"}, b.kinds())
}

// customCallout without a destination: its inline ICE dials a number, its
// inline ACE speaks to the callee and hangs up. No ICE or ACE callback;
// the DiCE goes to the app.
func TestCustomCalloutInline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	n := node(t, b, "sip:"+gw.Addr())
	ice := svamlJSON(t, `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","cli":"+46700000004"}}`)
	ace := svamlJSON(t, `{"instructions":[{"name":"say","text":"This is a call from callcore.","locale":"en-US"}],"action":{"name":"hangup"}}`)
	id := callout(ctx, t, n, `{"method":"customCallout","customCallout":{"custom":"cc-1","ice":`+ice+`,"ace":`+ace+`}}`)
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc.RequestURI(), "sip:"+calleeNumber+"@")
	assert.Equal(t, "+46700000004", inc.FromUser())
	c, err := inc.Call(ctx)
	require.NoError(t, err)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	assert.True(t, phone.SpeechLike(c.Recording()), "the callee hears the inline ACE's say")
	dice := b.want(ctx, "dice")
	assert.Equal(t, id, dice["callid"])
	assert.Equal(t, "MANAGERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.Equal(t, "cc-1", dice["custom"])
	assert.Equal(t, []string{"dice"}, b.kinds())
}

// customCallout with a destination (click-to-call): the first party
// answers, the inline ICE dials the second, the two are bridged.
func TestCustomCalloutClickToCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const second = "+12025550199"
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	n := node(t, b, "sip:"+gw.Addr())
	ice := svamlJSON(t, `{"action":{"name":"connectPstn","number":"`+second+`"}}`)
	id := callout(ctx, t, n, `{"method":"customCallout","customCallout":{"cli":"+46700000005",
		"destination":{"type":"number","endpoint":"`+calleeNumber+`"},"ice":`+ice+`,"maxDuration":30}}`)
	inc1, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc1.RequestURI(), "sip:"+calleeNumber+"@")
	first, err := inc1.Call(ctx)
	require.NoError(t, err)
	inc2, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc2.RequestURI(), "sip:"+second+"@")
	other, err := inc2.Call(ctx)
	require.NoError(t, err)

	go func() { _ = first.PlayTone(ctx, 1000, time.Second) }()
	go func() { _ = other.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, other, 1000, 500*time.Millisecond)
	waitTone(ctx, t, first, 1500, 500*time.Millisecond)

	require.NoError(t, first.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, other))
	dice := b.want(ctx, "dice")
	assert.Equal(t, id, dice["callid"])
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}
