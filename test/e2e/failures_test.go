package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/test/phone"
)

const sayBye = `{"instructions":[{"name":"answer"},{"name":"say","text":"The fallback speaks now, goodbye.","locale":"en-US"}],"action":{"name":"hangup"}}`

// earlyCaller dials the DID and collects the call of the first 183, so
// that a test can listen to the early media of a call that is refused.
func earlyCaller(ctx context.Context, t *testing.T, n *app.App) (<-chan dialed, <-chan *phone.Call) {
	t.Helper()
	caller := phone.New(t, phone.Options{User: "alice"})
	early := make(chan *phone.Call, 4)
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber, OnProgress: func(code int, c *phone.Call) {
		if code == 183 {
			early <- c
		}
	}})
	return dial, early
}

// heardErrorPrompt checks that a refused caller heard the node's error
// prompt as early media.
func heardErrorPrompt(t *testing.T, early <-chan *phone.Call) {
	t.Helper()
	select {
	case c := <-early:
		assert.True(t, phone.SpeechLike(c.Recording()), "the caller hears the error prompt (%d samples, rms %.0f)",
			len(c.Recording()), phone.RMS(c.Recording()))
	default:
		t.Fatal("no early media: the caller heard no error prompt")
	}
}

// waitMetric polls a /metrics sample until it reaches want.
func waitMetric(ctx context.Context, t *testing.T, n *app.App, sample string, want float64) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for metric(ctx, t, n, sample) != want {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s is %v, want %v", sample, metric(context.Background(), t, n, sample), want)
		}
	}
}

// The primary callback URL refuses connections and there is no fallback:
// the caller hears the error prompt, the call ends CALLBACKERROR; the
// DiCE is queued and retried (the outbox counts the failed attempts).
func TestBackendDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	n := nodeWith(t, b, nodeOptions{CallbackURL: "http://" + deadAddr(t) + "/callbacks"})
	dial, early := earlyCaller(ctx, t, n)
	assert.Equal(t, 480, refused(ctx, t, dial))
	heardErrorPrompt(t, early)
	waitMetric(ctx, t, n, `callcore_calls_ended_total{reason="CALLBACKERROR",result="N/A"}`, 1)
	waitMetric(ctx, t, n, `callcore_calls_callbacks_total{event="ice",outcome="failed"}`, 1)
	waitMetric(ctx, t, n, `callcore_calls_callbacks_total{event="dice",outcome="queued"}`, 1)
	for metric(ctx, t, n, `callcore_outbox_attempts_total{kind="dice",outcome="retry"}`) < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("the DiCE was not retried")
		case <-time.After(50 * time.Millisecond):
		}
	}
	assert.Empty(t, b.kinds())
}

// Fallback URL: when the primary refuses connections, or is slower than
// callback_timeout, the fallback's SVAML runs; DiCE takes the same path.
func TestFallbackURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		primary func(t *testing.T) (url string, b *backend)
	}{
		{"primary down", func(t *testing.T) (string, *backend) { return "http://" + deadAddr(t) + "/callbacks", nil }},
		{"primary slow", func(t *testing.T) (string, *backend) {
			b := newBackend(t)
			b.onFunc("ice", sleepFor(5*time.Second, sayBye, nil))
			return b.url(), b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			primaryURL, primary := tc.primary(t)
			fallback := newBackend(t)
			fallback.on("ice", sayBye)
			n := nodeWith(t, fallback, nodeOptions{CallbackURL: primaryURL, FallbackURL: fallback.url(), CallbackTimeout: time.Second})
			caller := phone.New(t, phone.Options{User: "alice"})
			start := time.Now()
			c := answered(ctx, t, dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber}))
			answeredIn := time.Since(start)
			assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
			assert.True(t, phone.SpeechLike(c.Recording()), "the caller hears the fallback's say")
			fallback.want(ctx, "ice")
			if primary != nil {
				primary.want(ctx, "ice")
				assert.GreaterOrEqual(t, answeredIn, time.Second, "callback_timeout is 1s")
				assert.Less(t, answeredIn, 3*time.Second, "the slow primary is abandoned after callback_timeout")
				dice := primary.want(ctx, "dice") // the primary answers DiCE at once
				assert.Equal(t, "MANAGERHANGUP", dice["reason"])
				return
			}
			dice := fallback.want(ctx, "dice")
			assert.Equal(t, "MANAGERHANGUP", dice["reason"])
		})
	}
}

// ICE without a usable reply and no fallback: the caller hears the error
// prompt and is refused; the DiCE says why.
func TestICEFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		reply  func(r *http.Request, ev map[string]any) (int, string)
		reason string
	}{
		{"backend slow", sleepFor(5*time.Second, sayBye, nil), "CALLBACKERROR"},
		{"server error", func(*http.Request, map[string]any) (int, string) { return 500, `{"oops":true}` }, "CALLBACKERROR"},
		{"not JSON", func(*http.Request, map[string]any) (int, string) { return 200, `<html>hello</html>` }, "INVALIDSVAMLACTION"},
		{"unknown action", func(*http.Request, map[string]any) (int, string) {
			return 200, `{"action":{"name":"explode"}}`
		}, "INVALIDSVAMLACTION"},
		{"no action", func(*http.Request, map[string]any) (int, string) {
			return 200, `{"instructions":[{"name":"say","text":"hi"}]}`
		}, "INVALIDSVAMLACTION"},
		{"action not allowed in ICE", func(*http.Request, map[string]any) (int, string) {
			return 200, `{"action":{"name":"continue"}}`
		}, "INVALIDSVAMLACTION"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			b := newBackend(t)
			b.onFunc("ice", tc.reply)
			n := nodeWith(t, b, nodeOptions{CallbackTimeout: time.Second})
			dial, early := earlyCaller(ctx, t, n)
			b.want(ctx, "ice")
			assert.Equal(t, 480, refused(ctx, t, dial))
			heardErrorPrompt(t, early)
			dice := b.want(ctx, "dice")
			assert.Equal(t, tc.reason, dice["reason"])
			assert.Equal(t, "N/A", dice["result"])
		})
	}
}

// The caller gives up while the backend thinks: the node CANCELs its
// side, abandons the ICE request, never answers, and the DiCE says CANCEL.
func TestCallerHangsUpDuringICE(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	gaveUp := make(chan struct{})
	b.onFunc("ice", sleepFor(8*time.Second, sayBye, gaveUp))
	n := nodeWith(t, b, nodeOptions{CallbackTimeout: 10 * time.Second})
	caller := phone.New(t, phone.Options{User: "alice"})
	dialCtx, hangUp := context.WithCancel(ctx)
	// A CANCEL needs a provisional response first (RFC 3261 §9.1): the
	// phone gives up without one. Under load the 100 Trying can reach the
	// phone after the ICE reached the backend.
	progressed := make(chan struct{})
	var once sync.Once
	dial := dialDID(dialCtx, caller, n, phone.DialOptions{FromUser: callerNumber,
		OnProgress: func(int, *phone.Call) { once.Do(func() { close(progressed) }) }})
	b.want(ctx, "ice")
	select {
	case <-progressed:
	case <-ctx.Done():
		t.Fatal("no provisional response")
	}
	hangUp() // the phone CANCELs its INVITE
	select {
	case d := <-dial:
		require.Error(t, d.err, "the caller was answered")
		assert.ErrorIs(t, d.err, context.Canceled)
	case <-ctx.Done():
		t.Fatal("the CANCEL did not end the call")
	}
	select {
	case <-gaveUp:
	case <-ctx.Done():
		t.Fatal("the node did not abandon the ICE request")
	}
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CANCEL", dice["reason"])
	assert.Equal(t, "N/A", dice["result"])
	assert.EqualValues(t, 0, dice["duration"])
	assert.Equal(t, 0, caller.ActiveCalls())
}

// A caller that hangs up the moment it is answered: its BYE can overtake
// its ACK at the node, which must still call it a hangup, not a cancel.
func TestCallerHangsUpRightAfterAnswer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"park","holdPrompt":"#tts[Hold on.]"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	for range 5 {
		c := answered(ctx, t, dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber}))
		require.NoError(t, c.Hangup(ctx))
		dice := b.want(ctx, "dice")
		assert.Equal(t, "CALLERHANGUP", dice["reason"])
		assert.Equal(t, "ANSWERED", dice["result"], "the 200 OK was sent: the call was answered")
	}
}
