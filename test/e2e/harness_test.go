package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/test/phone"
)

const (
	appKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	appSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	did       = "+46701234567"
)

// backend is a customer backend: it verifies every callback's signature
// like an SDK would, records the events and answers with scripted SVAML.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	events []map[string]any
	script map[string]func(r *http.Request, ev map[string]any) (int, string)
	got    chan map[string]any
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t, script: map[string]func(*http.Request, map[string]any) (int, string){}, got: make(chan map[string]any, 64)}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			t.Errorf("callback with a bad signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("callback body is not JSON: %v", err)
			return
		}
		kind, _ := ev["event"].(string)
		b.mu.Lock()
		b.events = append(b.events, ev)
		fn := b.script[kind]
		b.mu.Unlock()
		select {
		case b.got <- ev:
		default:
			t.Errorf("backend: event channel full, %s dropped", kind)
		}
		if fn == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		code, reply := fn(r, ev)
		if code == 0 {
			return // the handler gave up (the node went away)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// url is the callback URL the node is configured with.
func (b *backend) url() string { return b.srv.URL + "/callbacks" }

// on answers event with svaml (HTTP 200).
func (b *backend) on(event, svaml string) {
	b.onFunc(event, func(*http.Request, map[string]any) (int, string) { return http.StatusOK, svaml })
}

// onFunc answers event with fn; a zero status writes nothing.
func (b *backend) onFunc(event string, fn func(r *http.Request, ev map[string]any) (int, string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.script[event] = fn
}

// want waits for the next event of kind; events of other kinds before it
// are skipped (they stay in kinds()).
func (b *backend) want(ctx context.Context, kind string) map[string]any {
	b.t.Helper()
	for {
		select {
		case ev := <-b.got:
			if ev["event"] == kind {
				return ev
			}
		case <-ctx.Done():
			b.t.Fatalf("no %s event (events so far: %v): %v", kind, b.kinds(), ctx.Err())
			return nil
		}
	}
}

// kinds lists the events received so far, in order.
func (b *backend) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.events))
	for i, ev := range b.events {
		out[i], _ = ev["event"].(string)
	}
	return out
}

// quiet asserts that for d no further event arrives: the node sends what
// it sends right after a call ends, so a short window is enough to see a
// wrong ACE or DiCE.
func (b *backend) quiet(d time.Duration) {
	b.t.Helper()
	select {
	case ev := <-b.got:
		b.t.Fatalf("unexpected %v event: %v", ev["event"], ev)
	case <-time.After(d):
	}
}

// sleepFor makes a script that holds the reply for d (or until the node
// gives up on the request), then answers svaml.
func sleepFor(d time.Duration, svaml string, gaveUp chan<- struct{}) func(*http.Request, map[string]any) (int, string) {
	var once sync.Once
	return func(r *http.Request, _ map[string]any) (int, string) {
		select {
		case <-time.After(d):
			return http.StatusOK, svaml
		case <-r.Context().Done():
			if gaveUp != nil {
				once.Do(func() { close(gaveUp) })
			}
			return 0, ""
		}
	}
}

// nodeOptions adjust the node a test runs against.
type nodeOptions struct {
	// Gateway is the PSTN gateway SIP URI ("" for a black hole).
	Gateway string
	// CallbackURL replaces the backend's URL (e.g. a dead one).
	CallbackURL string
	// FallbackURL is the app's fallback callback URL.
	FallbackURL string
	// CallbackTimeout is the app's callback_timeout; default 2s.
	CallbackTimeout time.Duration
	// Users are in-app users, username → password.
	Users map[string]string
	// RTPTimeout is media.rtp_timeout; default 10s.
	RTPTimeout time.Duration
	// TrunkACL is sip.trunk_acl; default empty (any source).
	TrunkACL []string
	// S3Endpoint is recordings.s3_endpoint (path style); default none.
	S3Endpoint string
}

// node starts a callcore node on free ports with its callbacks going to b
// and phone numbers to gateway ("" for none).
func node(t *testing.T, b *backend, gateway string) *app.App {
	t.Helper()
	return nodeWith(t, b, nodeOptions{Gateway: gateway})
}

func nodeWith(t *testing.T, b *backend, o nodeOptions) *app.App {
	t.Helper()
	if o.Gateway == "" {
		o.Gateway = "sip:127.0.0.1:9"
	}
	if o.CallbackURL == "" {
		o.CallbackURL = b.url()
	}
	if o.CallbackTimeout == 0 {
		o.CallbackTimeout = 2 * time.Second
	}
	if o.RTPTimeout == 0 {
		o.RTPTimeout = 10 * time.Second
	}
	var users strings.Builder
	for u, p := range o.Users {
		fmt.Fprintf(&users, "\n      - {username: %q, password: %q}", u, p)
	}
	usersYAML := "[]"
	if users.Len() > 0 {
		usersYAML = users.String()
	}
	rtp := freeEvenPortRange(t, 200)
	y := fmt.Sprintf(`
node:  {id: e2e, region: euc1}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: "127.0.0.1:0"}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1", trunk_acl: %s}
media: {rtp_ports: "%d-%d", rtp_timeout: %s}
pstn:  {gateway: %q}
calls: {dial_timeout: 10s}
recordings: {dir: %q, s3_endpoint: %q, s3_path_style: true}
billing: {currency: EUR}
events: {min_backoff: 200ms, max_backoff: 2s}
log:   {level: debug}
apps:
  - key: %s
    secret: %s
    callback_url: %s
    fallback_url: %q
    callback_timeout: %s
    callback_connect_timeout: 1s
    numbers: [%q]
    users: %s
`, yamlList(o.TrunkACL), rtp, rtp+199, o.RTPTimeout, o.Gateway, t.TempDir(), o.S3Endpoint, appKey, appSecret, o.CallbackURL, o.FallbackURL, o.CallbackTimeout, did, usersYAML)
	cfg, err := config.Parse("e2e.yml", []byte(y))
	require.NoError(t, err)
	a, err := app.New(cfg, app.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a
}

// yamlList renders strings as a YAML flow sequence.
func yamlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// freeEvenPortRange finds a start port for n UDP ports that are free now.
func freeEvenPortRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = c.Close()
		if p < 1024 || p+n > 65535 {
			continue
		}
		return p
	}
	t.Fatal("no free port range")
	return 0
}

// deadAddr returns a loopback TCP address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// dialed is the outcome of a caller's Dial that runs in the background.
type dialed struct {
	call *phone.Call
	err  error
}

// dialDID calls the node's DID from p in the background; the result
// arrives once the node answers or refuses the call.
func dialDID(ctx context.Context, p *phone.Phone, n *app.App, o phone.DialOptions) <-chan dialed {
	ch := make(chan dialed, 1)
	go func() {
		c, err := p.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), o)
		ch <- dialed{c, err}
	}()
	return ch
}

// answered waits for a background Dial to succeed.
func answered(ctx context.Context, t *testing.T, ch <-chan dialed) *phone.Call {
	t.Helper()
	select {
	case d := <-ch:
		require.NoError(t, d.err, "the node did not answer the caller")
		return d.call
	case <-ctx.Done():
		t.Fatalf("the node did not answer the caller: %v", ctx.Err())
		return nil
	}
}

// refused waits for a background Dial to fail with a SIP status and
// returns it.
func refused(ctx context.Context, t *testing.T, ch <-chan dialed) int {
	t.Helper()
	select {
	case d := <-ch:
		require.Error(t, d.err, "the node answered the caller")
		var se *phone.StatusError
		require.ErrorAs(t, d.err, &se)
		return se.Code
	case <-ctx.Done():
		t.Fatalf("the node did not refuse the caller: %v", ctx.Err())
		return 0
	}
}

// ended waits until the call is over and returns who ended it.
func ended(ctx context.Context, t *testing.T, c *phone.Call) phone.EndReason {
	t.Helper()
	r, err := c.WaitEnd(ctx)
	require.NoError(t, err)
	return r
}

// rest sends a signed REST request to the node and returns the status and
// the body.
func rest(ctx context.Context, t *testing.T, n *app.App, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.APIAddr()+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	s, err := events.NewSigner(appKey, appSecret)
	require.NoError(t, err)
	s.SignRequest(req, []byte(body), time.Now())
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, out
}

// restJSON is rest with a JSON reply decoded into a map.
func restJSON(ctx context.Context, t *testing.T, n *app.App, method, path, body string) (int, map[string]any) {
	t.Helper()
	code, raw := rest(ctx, t, n, method, path, body)
	var m map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &m), "reply is not JSON: %s", raw)
	}
	return code, m
}

// metric reads one sample of the node's /metrics, e.g.
// `callcore_calls_ended_total{reason="CALLBACKERROR",result="N/A"}`
// (labels in the exposition's sorted order); 0 if absent.
func metric(ctx context.Context, t *testing.T, n *app.App, sample string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.OpsAddr()+"/metrics", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			require.NoError(t, err)
			return f
		}
	}
	require.NoError(t, sc.Err())
	return 0
}

// toneTime returns how much of rec (8 kHz) is a tone at freq: 50 ms
// windows with audible energy of which at least 70 % is at freq.
func toneTime(rec []int16, freq float64) time.Duration {
	const win = 400 // 50 ms
	var n int
	for i := 0; i+win <= len(rec); i += win {
		w := rec[i : i+win]
		r := phone.RMS(w)
		if r < 300 {
			continue
		}
		if phone.Goertzel(w, 8000, freq)/(r*r) >= 0.7 {
			n++
		}
	}
	return time.Duration(n) * 50 * time.Millisecond
}

// waitTone waits until c has received at least d of a tone at freq.
func waitTone(ctx context.Context, t *testing.T, c *phone.Call, freq float64, d time.Duration) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for toneTime(c.Recording(), freq) < d {
		select {
		case <-tick.C:
		case <-c.Done():
			require.GreaterOrEqual(t, toneTime(c.Recording(), freq), d, "the call ended before %s of a %.0f Hz tone arrived", d, freq)
			return
		case <-ctx.Done():
			t.Fatalf("no %s of a %.0f Hz tone (have %s, %d samples): %v", d, freq, toneTime(c.Recording(), freq), len(c.Recording()), ctx.Err())
		}
	}
}

// toneWAV serves a WAV file of a tone and returns its URL.
func toneWAV(t *testing.T, freq float64, d time.Duration) string {
	t.Helper()
	pcm := phone.Tone(freq, d, 12000)
	var buf bytes.Buffer
	writeWAV(&buf, pcm)
	wav := buf.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(wav)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/tone.wav"
}

// writeWAV writes 8 kHz 16-bit mono PCM as a RIFF/WAVE file.
func writeWAV(w *bytes.Buffer, pcm []int16) {
	le := func(v any) { _ = binary.Write(w, binary.LittleEndian, v) }
	w.WriteString("RIFF")
	le(uint32(36 + 2*len(pcm)))
	w.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(8000))
	le(uint32(16000))
	le(uint16(2))
	le(uint16(16))
	w.WriteString("data")
	le(uint32(2 * len(pcm)))
	le(pcm)
}

// svamlJSON quotes a SVAML document as a JSON string, the way callouts
// carry inline ice and ace.
func svamlJSON(t *testing.T, doc string) string {
	t.Helper()
	require.True(t, json.Valid([]byte(doc)), "not JSON: %s", doc)
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return string(b)
}

// assertDuration checks an event's duration (whole seconds, rounded down)
// against the time the test measured from answer to hangup.
func assertDuration(t *testing.T, measured time.Duration, got any) {
	t.Helper()
	d, ok := got.(float64)
	require.True(t, ok, "duration %v is not a number", got)
	assert.LessOrEqual(t, d, measured.Seconds()+0.1, "duration longer than the call")
	assert.Greater(t, d, measured.Seconds()-1.1, "duration shorter than the call")
}
