package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

const (
	callerNumber = "+46708887777"
	calleeNumber = "+12025550123"
)

// The ICE answers connectPstn to a number with a cli and dtmf; the
// gateway (a test phone speaking only PCMA, while the caller speaks PCMU)
// rings, then answers. The ACE's continue bridges the legs: a 1 kHz tone
// from the caller and a 1.5 kHz tone from the callee each cross the node,
// transcoded. The callee hangs up; the DiCE says so.
func TestConnectPSTN(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Codec: phone.PCMA, OnlyCodec: true})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","cli":"+46700000001","dtmf":"1234#"}}`)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "sip:"+gw.Addr())

	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})

	ice := b.want(ctx, "ice")
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Contains(t, inc.RequestURI(), "sip:"+calleeNumber+"@", "the gateway's Request-URI carries the number")
	assert.Equal(t, calleeNumber, inc.ToUser())
	assert.Equal(t, "+46700000001", inc.FromUser(), "the SVAML cli is the caller id at the gateway")
	require.NoError(t, inc.Ring())
	select {
	case d := <-dial:
		t.Fatalf("the caller was answered or refused before the callee answered: %v", d.err)
	default:
	}
	answeredAt := time.Now()
	callee, err := inc.Answer()
	require.NoError(t, err)

	ace := b.want(ctx, "ace")
	assert.Equal(t, ice["callid"], ace["callid"])
	assert.Equal(t, appKey, ace["applicationKey"])
	assert.EqualValues(t, 1, ace["version"])
	assert.NotEmpty(t, ace["timestamp"])
	assert.NotContains(t, ace, "cookies")

	c := answered(ctx, t, dial)
	digits, err := callee.WaitDTMF(ctx, 5)
	require.NoError(t, err)
	assert.Equal(t, "1234#", digits, "the dtmf of connectPstn reaches the callee on answer")

	played := make(chan error, 2)
	go func() { played <- c.PlayTone(ctx, 1000, 1200*time.Millisecond) }()
	go func() { played <- callee.PlayTone(ctx, 1500, 1200*time.Millisecond) }()
	waitTone(ctx, t, callee, 1000, 800*time.Millisecond)
	waitTone(ctx, t, c, 1500, 800*time.Millisecond)
	require.NoError(t, <-played)
	require.NoError(t, <-played)
	assert.Zero(t, toneTime(callee.Recording(), 1500), "the callee hears its own tone")
	assert.Zero(t, toneTime(c.Recording(), 1000), "the caller hears its own tone")
	assert.Equal(t, phone.PCMU, c.Codec())
	assert.Equal(t, phone.PCMA, callee.Codec())

	require.NoError(t, callee.Hangup(ctx))
	talked := time.Since(answeredAt)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c), "the node hangs up the caller")
	dice := b.want(ctx, "dice")
	assert.Equal(t, ice["callid"], dice["callid"])
	assert.Equal(t, "CALLEEHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assertDuration(t, talked, dice["duration"])
	assert.Equal(t, callerNumber, dice["from"])
	assert.Equal(t, map[string]any{"type": "did", "endpoint": did}, dice["to"])
	assert.Equal(t, map[string]any{"currencyId": "EUR", "amount": 0.0}, dice["debit"])
	assert.Equal(t, map[string]any{"currencyId": "EUR", "amount": 0.0}, dice["userRate"])
}

// suppressCallbacks: the call connects without an ACE and ends without a
// DiCE.
func TestConnectPSTNSuppressCallbacks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerAuto})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","suppressCallbacks":true}}`)
	n := node(t, b, "sip:"+gw.Addr())

	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	b.want(ctx, "ice")
	callee, err := gw.NextCall(ctx)
	require.NoError(t, err)
	c := answered(ctx, t, dial)
	go func() { _ = callee.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, c, 1500, 500*time.Millisecond)

	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
	b.quiet(700 * time.Millisecond)
	assert.Equal(t, []string{"ice"}, b.kinds(), "no ACE and no DiCE with suppressCallbacks")
}

// maxDuration ends a connected call with reason TIMEOUT.
func TestConnectPSTNMaxDuration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw"})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","maxDuration":2}}`)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "sip:"+gw.Addr())

	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	start := time.Now() // the limit runs from the callee's answer
	callee, err := inc.Answer()
	require.NoError(t, err)
	c := answered(ctx, t, dial)
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 2*time.Second)
	assert.Less(t, took, 3500*time.Millisecond)

	dice := b.want(ctx, "dice")
	assert.Equal(t, "TIMEOUT", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
	assert.EqualValues(t, 2, dice["duration"])
}

// indications: while the callee rings, the caller hears the country's
// ring-back tone as early media (183); then the call connects.
func TestConnectPSTNIndicationsRingback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gw := phone.New(t, phone.Options{User: "gw"})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectPstn","number":"`+calleeNumber+`","indications":"se"}}`)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "sip:"+gw.Addr())

	caller := phone.New(t, phone.Options{User: "alice"})
	early := make(chan *phone.Call, 8)
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber, OnProgress: func(code int, c *phone.Call) {
		if code == 183 {
			early <- c
		}
	}})
	inc, err := gw.NextIncoming(ctx)
	require.NoError(t, err)
	require.NoError(t, inc.Ring())
	var ringing *phone.Call
	select {
	case ringing = <-early:
	case <-ctx.Done():
		t.Fatal("no 183 with early media while the callee rings")
	}
	waitTone(ctx, t, ringing, 425, 600*time.Millisecond) // Sweden: 425 Hz
	assert.Zero(t, toneTime(ringing.Recording(), 440), "not the default (US) ring-back")

	callee, err := inc.Answer()
	require.NoError(t, err)
	c := answered(ctx, t, dial)
	require.Same(t, ringing, c)
	mark := len(c.Recording())
	go func() { _ = callee.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, c, 1500, 500*time.Millisecond)
	assert.Zero(t, toneTime(c.Recording()[mark:], 425), "the ring-back stops on answer")

	require.NoError(t, c.Hangup(ctx))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// Dial failures: the caller is refused with a matching SIP status and the
// DiCE reports the result.
func TestConnectPSTNFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		gw             func(t *testing.T) string
		dialTimeout    int
		code           int
		result, reason string
		within         time.Duration
	}{
		{name: "busy", code: 486, result: "BUSY", reason: "BUSY", within: 2 * time.Second,
			gw: func(t *testing.T) string {
				return "sip:" + phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerReject, RejectCode: 486}).Addr()
			}},
		{name: "no answer", dialTimeout: 2, code: 480, result: "NOANSWER", reason: "TIMEOUT", within: 4 * time.Second,
			gw: func(t *testing.T) string {
				return "sip:" + phone.New(t, phone.Options{User: "gw", Answer: phone.AnswerNever}).Addr()
			}},
		{name: "gateway down", code: 503, result: "FAILED", reason: "CLIENTNETWORK", within: 2 * time.Second,
			gw: func(t *testing.T) string { return "sip:" + deadAddr(t) + ";transport=tcp" }},
		{name: "gateway down udp", dialTimeout: 2, code: 480, result: "NOANSWER", reason: "TIMEOUT", within: 4 * time.Second,
			gw: func(t *testing.T) string { return "sip:" + deadAddr(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			b := newBackend(t)
			svaml := `{"action":{"name":"connectPstn","number":"` + calleeNumber + `"}}`
			if tc.dialTimeout > 0 {
				svaml = fmt.Sprintf(`{"action":{"name":"connectPstn","number":"%s","dialTimeout":%d}}`, calleeNumber, tc.dialTimeout)
			}
			b.on("ice", svaml)
			n := node(t, b, tc.gw(t))
			caller := phone.New(t, phone.Options{User: "alice"})
			start := time.Now()
			dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
			assert.Equal(t, tc.code, refused(ctx, t, dial))
			assert.Less(t, time.Since(start), tc.within)
			if tc.dialTimeout > 0 {
				assert.GreaterOrEqual(t, time.Since(start), time.Duration(tc.dialTimeout)*time.Second)
			}
			dice := b.want(ctx, "dice")
			assert.Equal(t, tc.result, dice["result"])
			assert.Equal(t, tc.reason, dice["reason"])
			assert.EqualValues(t, 0, dice["duration"])
			assert.NotContains(t, b.kinds(), "ace")
		})
	}
}
