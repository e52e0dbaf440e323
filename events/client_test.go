package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/testutil/syncbuf"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const (
	cbAppKey = "669E367E-6BBA-48AB-AF15-266871C28135"
	cbSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	cbSVAML  = `{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`
)

// cbShort is the per-attempt total timeout of the timeout tests: short to
// keep the suite fast, long enough for loopback on a loaded machine.
const cbShort = 200 * time.Millisecond

func cbICE(id string) ICE {
	return ICE{
		ID: id, Timestamp: "2024-06-06T17:20:14Z", Version: APIVersion,
		UserRate: Money{CurrencyID: "USD"}, CLI: "46701234567",
		To: Destination{Type: "did", Endpoint: "+46700000000"}, Domain: "pstn",
		ApplicationKey: cbAppKey, OriginationType: "PSTN",
		Cookies: []KeyValue{{Key: "step", Value: "1"}},
	}
}

// acceptJSONAction is an accept func standing in for svaml.Parse: the reply
// must be a JSON object with an "action".
var errNoAction = errors.New("no action in reply")

func acceptJSONAction(b []byte) error {
	var v struct {
		Action *json.RawMessage `json:"action"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Action == nil {
		return errNoAction
	}
	return nil
}

// cbHarness is a Client with its own registry and a captured log.
type cbHarness struct {
	c   *Client
	reg *prometheus.Registry
	log *syncbuf.Buffer
}

// logLines returns the decoded JSON log lines of l.
func logLines(t *testing.T, l *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		out = append(out, m)
	}
	return out
}

func newHarness(t *testing.T, opts ClientOptions) *cbHarness {
	t.Helper()
	h := &cbHarness{reg: prometheus.NewPedanticRegistry(), log: &syncbuf.Buffer{}}
	opts.Metrics = NewMetrics(h.reg)
	opts.Logger = slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.c = NewClient(opts)
	t.Cleanup(h.c.CloseIdleConnections)
	return h
}

func (h *cbHarness) deliveries(ev, outcome string) float64 {
	return testutil.ToFloat64(h.c.metrics.deliveries.WithLabelValues(ev, outcome))
}

// attempts returns the sample count of the duration histogram.
func (h *cbHarness) attempts(ev, target string) uint64 {
	mfs, err := h.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "callcore_callback_duration_seconds" {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "event" && l.GetValue() != ev) || (l.GetName() == "target" && l.GetValue() != target) {
					continue metrics
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	panic("no histogram " + ev + "/" + target)
}

func (h *cbHarness) failures(ev, target, reason string) float64 {
	return testutil.ToFloat64(h.c.metrics.failures.WithLabelValues(ev, target, reason))
}

// newBackend starts a real HTTP server on 127.0.0.1:0, closed at cleanup.
func newBackend(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newSlowBackend starts a server whose handler reads the request, reports
// it on hit (if not nil) and then holds the reply until the client goes
// away or the test ends.
func newSlowBackend(t *testing.T, hit chan<- struct{}) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// Reading to EOF lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		if hit != nil {
			hit <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

// reply returns a handler answering status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// closedURL returns an http URL on a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func cbTarget(primary, fallback string) Target {
	return Target{URL: primary, FallbackURL: fallback, AppKey: cbAppKey, Secret: cbSecret, TotalTimeout: 2 * time.Second}
}

// captured is what a backend saw, checked on the test goroutine.
type captured struct {
	method, path, rawQuery, auth, ct, xts string
	idemSent                              bool
	body                                  []byte
	verifiedKey                           string
	verifyErr                             error
}

func TestDeliverSignatureVerifiedByteForByte(t *testing.T) {
	now := time.Date(2024, 1, 19, 9, 19, 28, 937219600, time.UTC)
	v := &Verifier{
		Lookup: func(k string) (string, bool) { return cbSecret, k == cbAppKey },
		Now:    func() time.Time { return now.Add(time.Second) },
	}
	got := make(chan captured, 1)
	srv := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, err := v.Verify(r, body)
		_, idemSent := r.Header["Idempotency-Key"]
		got <- captured{
			method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery,
			auth: r.Header.Get("Authorization"), ct: r.Header.Get("Content-Type"),
			xts: r.Header.Get("X-Timestamp"), idemSent: idemSent,
			body: body, verifiedKey: key, verifyErr: err,
		}
		_, _ = io.WriteString(w, cbSVAML)
	})
	h := newHarness(t, ClientOptions{Now: func() time.Time { return now }})

	ev := cbICE("1ce0ffee-ca11-ca11-ca11-abcdef000053")
	rep, err := h.c.Deliver(t.Context(), cbTarget(srv.URL+"/sinch/callback/ice?tenant=7", ""), ev, acceptJSONAction)
	require.NoError(t, err)
	require.Equal(t, cbSVAML, string(rep.Body))
	require.Equal(t, http.StatusOK, rep.Status)
	require.Equal(t, TargetPrimary, rep.URL)
	require.Equal(t, 1, rep.Attempts)
	require.Positive(t, rep.Latency)

	c := <-got
	want, err := json.Marshal(ev)
	require.NoError(t, err)
	require.Equal(t, string(want), string(c.body), "the exact marshalled bytes are sent")
	require.Equal(t, string(c.body), string(rep.Request), "the reply carries the body as sent")
	require.NotContains(t, string(c.body), "\n")
	require.Equal(t, http.MethodPost, c.method)
	require.Equal(t, "/sinch/callback/ice", c.path)
	require.Equal(t, "tenant=7", c.rawQuery, "the query is sent")
	require.Equal(t, "application/json; charset=utf-8", c.ct)
	require.Equal(t, "2024-01-19T09:19:28.9372196Z", c.xts)
	require.False(t, c.idemSent, "the idempotency marker is not sent on the wire")
	require.NoError(t, c.verifyErr)
	require.Equal(t, cbAppKey, c.verifiedKey)

	// Recompute the header independently (reference §4.5): lower-case
	// scheme, signature over the path only.
	key, err := DecodeSecret(cbSecret)
	require.NoError(t, err)
	sig := Sign(key, "POST", want, "application/json; charset=utf-8", "2024-01-19T09:19:28.9372196Z", "/sinch/callback/ice")
	require.Equal(t, "application "+cbAppKey+":"+sig, c.auth)

	require.InDelta(t, 1, h.deliveries("ice", OutcomeOK), 0)
	require.Empty(t, h.log.String(), "success logs nothing")
}

func TestDeliverPrimaryTimeoutFallsBack(t *testing.T) {
	primaryHit := make(chan struct{}, 1)
	primary := newSlowBackend(t, primaryHit)
	fallback := newBackend(t, reply(http.StatusOK, cbSVAML))
	h := newHarness(t, ClientOptions{})

	tg := cbTarget(primary.URL+"/cb", fallback.URL+"/cb")
	tg.TotalTimeout = cbShort
	start := time.Now()
	rep, err := h.c.Deliver(t.Context(), tg, cbICE("call-timeout"), acceptJSONAction)
	elapsed := time.Since(start)
	require.NoError(t, err)
	<-primaryHit
	require.Equal(t, TargetFallback, rep.URL)
	require.Equal(t, 2, rep.Attempts)
	require.Equal(t, cbSVAML, string(rep.Body))
	require.GreaterOrEqual(t, elapsed, cbShort, "the primary had its full total timeout")
	require.Less(t, elapsed, cbShort+time.Second, "the fallback follows the timeout at once")

	require.InDelta(t, 1, h.deliveries("ice", OutcomeOKFallback), 0)
	require.InDelta(t, 1, h.failures("ice", TargetPrimary, DeliveryTimeout), 0)
	require.Equal(t, uint64(1), h.attempts("ice", TargetPrimary))
	require.Equal(t, uint64(1), h.attempts("ice", TargetFallback))
	lines := logLines(t, h.log)
	require.Len(t, lines, 1)
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, "call-timeout", lines[0]["call_id"])
	require.Equal(t, "ice", lines[0]["event"])
	require.Equal(t, "primary", lines[0]["target"])
	require.Equal(t, DeliveryTimeout, lines[0]["reason"])
	require.InDelta(t, 1, lines[0]["attempt"], 0)
	require.Contains(t, lines[0], "latency")
}

func TestDeliverStatusFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		reason string
	}{
		{"500", http.StatusInternalServerError, DeliveryStatus5xx},
		{"503", http.StatusServiceUnavailable, DeliveryStatus5xx},
		{"404 also falls back", http.StatusNotFound, DeliveryStatus4xx},
		{"401 also falls back", http.StatusUnauthorized, DeliveryStatus4xx},
		{"302 is not followed", http.StatusFound, DeliveryStatusOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var redirected atomic.Bool
			primary := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					redirected.Store(true)
				}
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, `{"errorCode":1}`)
			})
			fallback := newBackend(t, reply(http.StatusOK, cbSVAML))
			h := newHarness(t, ClientOptions{})

			rep, err := h.c.Deliver(t.Context(), cbTarget(primary.URL+"/cb", fallback.URL+"/cb"), cbICE("c-"+tc.name), acceptJSONAction)
			require.NoError(t, err)
			require.Equal(t, TargetFallback, rep.URL)
			require.Equal(t, 2, rep.Attempts)
			require.Equal(t, http.StatusOK, rep.Status)
			require.False(t, redirected.Load())
			require.InDelta(t, 1, h.failures("ice", TargetPrimary, tc.reason), 0)
			require.InDelta(t, 1, h.deliveries("ice", OutcomeOKFallback), 0)
		})
	}
}

func TestDeliverInvalidReplyFallsBack(t *testing.T) {
	primary := newBackend(t, reply(http.StatusOK, `{"instructions":[]}`))
	fallback := newBackend(t, reply(http.StatusOK, cbSVAML))
	h := newHarness(t, ClientOptions{})

	rep, err := h.c.Deliver(t.Context(), cbTarget(primary.URL, fallback.URL), cbICE("c-invalid"), acceptJSONAction)
	require.NoError(t, err)
	require.Equal(t, TargetFallback, rep.URL)
	require.Equal(t, cbSVAML, string(rep.Body))
	require.InDelta(t, 1, h.failures("ice", TargetPrimary, DeliveryInvalidReply), 0)
	lines := logLines(t, h.log)
	require.Len(t, lines, 1)
	require.Contains(t, lines[0]["err"], errNoAction.Error())
}

func TestDeliverBothFail(t *testing.T) {
	t.Run("primary 503, fallback refused", func(t *testing.T) {
		primary := newBackend(t, reply(http.StatusServiceUnavailable, "down"))
		fallback := closedURL(t)
		h := newHarness(t, ClientOptions{})

		rep, err := h.c.Deliver(t.Context(), cbTarget(primary.URL+"/cb", fallback+"/cb"), cbICE("c-both"), acceptJSONAction)
		var de *DeliveryError
		require.ErrorAs(t, err, &de)
		require.Equal(t, KindICE, de.Kind)
		require.Equal(t, DeliveryConnect, de.Reason, "the reason is the last attempt's")
		require.ErrorContains(t, de.Primary, "status 503")
		require.Error(t, de.Fallback)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe, "Unwrap reaches the fallback's cause")
		require.Nil(t, rep.Body)
		require.Equal(t, 2, rep.Attempts)
		require.Equal(t, TargetFallback, rep.URL)
		require.InDelta(t, 1, h.deliveries("ice", OutcomeFailed), 0)
		require.InDelta(t, 1, h.failures("ice", TargetPrimary, DeliveryStatus5xx), 0)
		require.InDelta(t, 1, h.failures("ice", TargetFallback, DeliveryConnect), 0)
		lines := logLines(t, h.log)
		require.Len(t, lines, 2, "one line per failed attempt")
		require.Equal(t, "fallback", lines[1]["target"])
		require.InDelta(t, 2, lines[1]["attempt"], 0)
	})
	t.Run("both invalid replies", func(t *testing.T) {
		bad := newBackend(t, reply(http.StatusOK, `{}`))
		h := newHarness(t, ClientOptions{})
		_, err := h.c.Deliver(t.Context(), cbTarget(bad.URL, bad.URL), cbICE("c-bad"), acceptJSONAction)
		var de *DeliveryError
		require.ErrorAs(t, err, &de)
		require.Equal(t, DeliveryInvalidReply, de.Reason)
		require.ErrorIs(t, err, errNoAction, "the accept error is wrapped")
		require.ErrorIs(t, de.Primary, errNoAction)
		require.ErrorIs(t, de.Fallback, errNoAction)
		require.InDelta(t, 1, h.deliveries("ice", OutcomeInvalidReply), 0)
	})
	t.Run("no fallback configured", func(t *testing.T) {
		bad := newBackend(t, reply(http.StatusInternalServerError, ""))
		h := newHarness(t, ClientOptions{})
		rep, err := h.c.Deliver(t.Context(), cbTarget(bad.URL, ""), cbICE("c-nofb"), acceptJSONAction)
		var de *DeliveryError
		require.ErrorAs(t, err, &de)
		require.Equal(t, DeliveryStatus5xx, de.Reason)
		require.NoError(t, de.Fallback)
		require.Equal(t, 1, rep.Attempts)
		require.Equal(t, http.StatusInternalServerError, rep.Status)
	})
}

func TestDeliverConnectRefusedIsFast(t *testing.T) {
	h := newHarness(t, ClientOptions{})
	start := time.Now()
	_, err := h.c.Deliver(t.Context(), cbTarget(closedURL(t), ""), cbICE("c-refused"), acceptJSONAction)
	require.Less(t, time.Since(start), time.Second)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryConnect, de.Reason)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestDeliverConnectTimeout(t *testing.T) {
	// A dialer that never connects, standing in for a black-holed address
	// (which loopback cannot produce); the per-target timeout must end it.
	var dialed atomic.Int32
	h := newHarness(t, ClientOptions{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialed.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	tg := cbTarget("http://192.0.2.1/cb", "")
	tg.ConnectTimeout = 100 * time.Millisecond
	start := time.Now()
	_, err := h.c.Deliver(t.Context(), tg, cbICE("c-blackhole"), acceptJSONAction)
	elapsed := time.Since(start)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryConnect, de.Reason)
	require.GreaterOrEqual(t, elapsed, 100*time.Millisecond)
	require.Less(t, elapsed, time.Second, "the connect timeout, not the 2 s total, ended it")
	require.Equal(t, int32(1), dialed.Load())
}

func TestDeliverReplyTooLarge(t *testing.T) {
	big := `{"action":{"name":"hangup"},"pad":"` + strings.Repeat("x", 2048) + `"}`
	sized := newBackend(t, reply(http.StatusOK, big))
	chunked := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		for range 4 { // no Content-Length: chunked
			_, _ = io.WriteString(w, strings.Repeat(" ", 512))
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, cbSVAML)
	})
	for _, tc := range []struct {
		name string
		url  string
	}{{"content-length", sized.URL}, {"chunked", chunked.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, ClientOptions{MaxReplyBytes: 1024})
			rep, err := h.c.Deliver(t.Context(), cbTarget(tc.url, ""), cbICE("c-big"), acceptJSONAction)
			var de *DeliveryError
			require.ErrorAs(t, err, &de)
			require.Equal(t, DeliveryTooLarge, de.Reason)
			require.ErrorContains(t, err, "reply too large")
			require.Nil(t, rep.Body)
			require.InDelta(t, 1, h.failures("ice", TargetPrimary, DeliveryTooLarge), 0)

			// A reply the caller ignores (DiCE) may be any size.
			rep, err = h.c.Deliver(t.Context(), cbTarget(tc.url, ""), DiCE{ID: "c-big"}, nil)
			require.NoError(t, err)
			require.Nil(t, rep.Body)
			require.Equal(t, http.StatusOK, rep.Status)
		})
	}
	t.Run("exactly the limit is accepted", func(t *testing.T) {
		body := `{"action":{"name":"hangup"}}`
		srv := newBackend(t, reply(http.StatusOK, body))
		h := newHarness(t, ClientOptions{MaxReplyBytes: int64(len(body))})
		rep, err := h.c.Deliver(t.Context(), cbTarget(srv.URL, ""), cbICE("c-exact"), acceptJSONAction)
		require.NoError(t, err)
		require.Equal(t, body, string(rep.Body))
	})
}

func TestDeliverCancelStopsPromptly(t *testing.T) {
	hit := make(chan struct{}, 1)
	primary := newSlowBackend(t, hit)
	var fallbackHits atomic.Int32
	fallback := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fallbackHits.Add(1)
		_, _ = io.WriteString(w, cbSVAML)
	})
	h := newHarness(t, ClientOptions{})

	ctx, cancel := context.WithCancel(t.Context())
	type out struct {
		rep     Reply
		err     error
		elapsed time.Duration
	}
	done := make(chan out, 1)
	go func() {
		tg := cbTarget(primary.URL, fallback.URL)
		tg.TotalTimeout = 30 * time.Second
		rep, err := h.c.Deliver(ctx, tg, cbICE("c-hangup"), acceptJSONAction)
		done <- out{rep, err, 0}
	}()
	<-hit // the request is with the backend
	canceledAt := time.Now()
	cancel()
	var o out
	select {
	case o = <-done:
		o.elapsed = time.Since(canceledAt)
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver did not return after cancel")
	}
	require.Less(t, o.elapsed, 500*time.Millisecond)
	var de *DeliveryError
	require.ErrorAs(t, o.err, &de)
	require.Equal(t, DeliveryCanceled, de.Reason)
	require.ErrorIs(t, o.err, context.Canceled)
	require.NoError(t, de.Fallback)
	require.Equal(t, 1, o.rep.Attempts)
	require.Zero(t, fallbackHits.Load(), "no fallback after cancel")
	require.InDelta(t, 1, h.deliveries("ice", OutcomeCanceled), 0)
	require.InDelta(t, 0, h.failures("ice", TargetPrimary, DeliveryTimeout), 0)
	lines := logLines(t, h.log)
	require.Len(t, lines, 1)
	require.Equal(t, "INFO", lines[0]["level"])

	// Already canceled: nothing is sent.
	rep, err := h.c.Deliver(ctx, cbTarget(fallback.URL, ""), cbICE("c-late"), acceptJSONAction)
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryCanceled, de.Reason)
	require.Zero(t, rep.Attempts)
	require.Zero(t, fallbackHits.Load())
}

func TestDeliverRedactsURLs(t *testing.T) {
	h := newHarness(t, ClientOptions{})
	base := closedURL(t)
	withSecrets := strings.Replace(base, "http://", "http://user:hunter2@", 1) + "/hook/tok3n?token=s3cret#frag"
	_, err := h.c.Deliver(t.Context(), cbTarget(withSecrets, withSecrets), cbICE("c-redact"), acceptJSONAction)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, base, "scheme://host stays for operators")
	logs := h.log.String()
	for _, secret := range []string{"hunter2", "user", "tok3n", "s3cret", "token", "frag", "/hook"} {
		require.NotContains(t, msg, secret)
		require.NotContains(t, logs, secret)
	}
}

func TestDeliverInvalidTarget(t *testing.T) {
	srv := newBackend(t, reply(http.StatusOK, cbSVAML))
	for _, tc := range []struct {
		name string
		tg   Target
	}{
		{"not a URL", cbTarget("::nope?key=s3cret", "")},
		{"relative", cbTarget("/cb?key=s3cret", "")},
		{"ftp", cbTarget("ftp://example.com/cb?key=s3cret", "")},
		{"bad secret", Target{URL: srv.URL, AppKey: "k", Secret: "!!s3cret!!"}},
		{"empty key", Target{URL: srv.URL, Secret: cbSecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, ClientOptions{})
			_, err := h.c.Deliver(t.Context(), tc.tg, cbICE("c-target"), acceptJSONAction)
			var de *DeliveryError
			require.ErrorAs(t, err, &de)
			require.Equal(t, DeliveryInvalidTarget, de.Reason)
			require.NotContains(t, err.Error(), "s3cret")
			require.NotContains(t, h.log.String(), "s3cret")
		})
	}
	t.Run("invalid primary still falls back", func(t *testing.T) {
		h := newHarness(t, ClientOptions{})
		rep, err := h.c.Deliver(t.Context(), cbTarget("::nope", srv.URL), cbICE("c-target"), acceptJSONAction)
		require.NoError(t, err)
		require.Equal(t, TargetFallback, rep.URL)
	})
}

func TestDeliverInvalidEvent(t *testing.T) {
	h := newHarness(t, ClientOptions{})
	ev := DiCE{ID: "c-nan"}
	ev.Debit.Amount = nanFloat()
	_, err := h.c.Deliver(t.Context(), cbTarget("http://127.0.0.1:1", ""), ev, nil)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryInvalidEvent, de.Reason)
	require.InDelta(t, 1, h.deliveries("dice", OutcomeFailed), 0)
}

func nanFloat() float64 {
	zero := 0.0
	return zero / zero
}

func TestDeliverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(reply(http.StatusOK, cbSVAML))
	t.Cleanup(srv.Close)
	trusted := srv.Client().Transport.(*http.Transport).TLSClientConfig

	h := newHarness(t, ClientOptions{TLSClientConfig: trusted})
	rep, err := h.c.Deliver(t.Context(), cbTarget(srv.URL+"/cb", ""), cbICE("c-tls"), acceptJSONAction)
	require.NoError(t, err)
	require.Equal(t, cbSVAML, string(rep.Body))

	untrusting := newHarness(t, ClientOptions{})
	_, err = untrusting.c.Deliver(t.Context(), cbTarget(srv.URL+"/cb", ""), cbICE("c-tls"), acceptJSONAction)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryTLS, de.Reason)
}

func TestDeliverNetworkError(t *testing.T) {
	// The backend accepts and hangs up without a reply.
	srv := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	h := newHarness(t, ClientOptions{})
	_, err := h.c.Deliver(t.Context(), cbTarget(srv.URL, ""), cbICE("c-reset"), acceptJSONAction)
	var de *DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, DeliveryNetwork, de.Reason)
}

func TestDeliverReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(reply(http.StatusOK, cbSVAML))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	h := newHarness(t, ClientOptions{})
	for range 20 {
		_, err := h.c.Deliver(t.Context(), cbTarget(srv.URL, ""), cbICE("c-ka"), acceptJSONAction)
		require.NoError(t, err)
		// DiCE: body ignored but drained, so the connection survives.
		_, err = h.c.Deliver(t.Context(), cbTarget(srv.URL, ""), DiCE{ID: "c-ka"}, nil)
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), conns.Load())
}

func TestDeliverConcurrent(t *testing.T) {
	v := &Verifier{Lookup: func(k string) (string, bool) { return cbSecret, k == cbAppKey }}
	var bad atomic.Int32
	srv := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			CallID string `json:"callid"`
		}
		_ = json.Unmarshal(body, &ev)
		// Echo the call id so that replies cannot be mixed up unnoticed.
		_, _ = io.WriteString(w, `{"action":{"name":"hangup"},"id":"`+ev.CallID+`"}`)
	})
	h := newHarness(t, ClientOptions{})
	const workers, each = 32, 10
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := "c-" + string(rune('a'+w%26)) + "-" + string(rune('a'+i))
				rep, err := h.c.Deliver(t.Context(), cbTarget(srv.URL+"/cb", ""), cbICE(id), acceptJSONAction)
				if err == nil && !strings.Contains(string(rep.Body), `"id":"`+id+`"`) {
					err = errors.New("reply of another call: " + string(rep.Body))
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Zero(t, bad.Load())
	require.InDelta(t, workers*each, h.deliveries("ice", OutcomeOK), 0)
}

func TestDeliverNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}))
		defer slow.Close()
		ok := httptest.NewServer(reply(http.StatusOK, cbSVAML))
		defer ok.Close()
		c := NewClient(ClientOptions{})
		defer c.CloseIdleConnections()
		tg := cbTarget(slow.URL, ok.URL)
		tg.TotalTimeout = 50 * time.Millisecond
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, _ = c.Deliver(t.Context(), tg, cbICE("c-leak"), acceptJSONAction)
				_, _ = c.Deliver(t.Context(), cbTarget(closedURL(t), ""), DiCE{ID: "c-leak"}, nil)
			})
		}
		wg.Wait()
	}()
	// Goroutines of closed connections exit asynchronously: let them settle.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewMetricsPreinitialised(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewMetrics(reg)
	n, err := testutil.GatherAndCount(reg, "callcore_callbacks_total")
	require.NoError(t, err)
	require.Equal(t, len(metricKinds)*len(metricOutcomes), n)
	n, err = testutil.GatherAndCount(reg, "callcore_callback_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, len(metricKinds)*len(metricTargets), n)
	n, err = testutil.GatherAndCount(reg, "callcore_callback_failures_total")
	require.NoError(t, err)
	require.Equal(t, len(metricKinds)*len(metricTargets)*len(attemptReasons), n)
	require.Panics(t, func() { NewMetrics(reg) }, "double registration is a programming error")
}

func TestDeliveryErrorString(t *testing.T) {
	err := &DeliveryError{Kind: KindACE, Reason: DeliveryTimeout, Primary: errors.New("p"), Fallback: errors.New("f")}
	require.Equal(t, "deliver ace callback: timeout: primary: p; fallback: f", err.Error())
	require.Len(t, err.Unwrap(), 2)
	err.Fallback = nil
	require.Equal(t, "deliver ace callback: timeout: primary: p", err.Error())
	require.Len(t, err.Unwrap(), 1)
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host.example:8443/a/b?c=d#e": "https://host.example:8443",
		"http://127.0.0.1:9000/cb":                "http://127.0.0.1:9000",
		"::nope":                                  "<invalid url>",
		"/relative?x=1":                           "<invalid url>",
	} {
		require.Equal(t, want, redactURL(in), in)
	}
}

// BenchmarkDeliver delivers an ICE to a local backend over a keep-alive
// connection and accepts the SVAML reply: the client side of one callback.
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(reply(http.StatusOK, cbSVAML))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	defer c.CloseIdleConnections()
	tg := cbTarget(srv.URL+"/sinch/callback", "")
	ev := cbICE("1ce0ffee-ca11-ca11-ca11-abcdef000053")
	accept := func(b []byte) error {
		if !json.Valid(b) {
			return errNoAction
		}
		return nil
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Deliver(ctx, tg, ev, accept); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverParallel is BenchmarkDeliver from all Ps at once.
func BenchmarkDeliverParallel(b *testing.B) {
	srv := httptest.NewServer(reply(http.StatusOK, cbSVAML))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	defer c.CloseIdleConnections()
	tg := cbTarget(srv.URL+"/sinch/callback", "")
	ev := cbICE("1ce0ffee-ca11-ca11-ca11-abcdef000053")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Deliver(context.Background(), tg, ev, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The event id header is sent when set, the same on the fallback attempt,
// and a Raw event goes out byte for byte.
func TestDeliverEventIDAndRaw(t *testing.T) {
	var ids []string
	var bodies []string
	var mu sync.Mutex
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get(HeaderEventID))
		bodies = append(bodies, string(b))
		if fail {
			fail = false
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c := NewClient(ClientOptions{})
	body := []byte(`{"event":"dice","callid":"c1","reason":"CALLERHANGUP"}`)
	_, err := c.Deliver(context.Background(), Target{URL: srv.URL + "/a", FallbackURL: srv.URL + "/b",
		AppKey: "k", Secret: "c2VjcmV0", EventID: "c1:dice"}, Raw{K: KindDiCE, Call: "c1", Body: body}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"c1:dice", "c1:dice"}, ids)
	require.Equal(t, []string{string(body), string(body)}, bodies)

	_, err = c.Deliver(context.Background(), Target{URL: srv.URL, AppKey: "k", Secret: "c2VjcmV0"},
		Raw{K: KindDiCE, Call: "c1", Body: []byte("not json")}, nil)
	require.Error(t, err, "a raw body that is not JSON is refused before sending")
	_, err = c.Deliver(context.Background(), Target{URL: srv.URL, AppKey: "k", Secret: "c2VjcmV0"},
		Raw{K: KindDiCE, Call: "c1", Body: body}, nil)
	require.NoError(t, err)
	require.Len(t, ids, 3)
	require.Equal(t, "", ids[2], "no header without an id")
}
