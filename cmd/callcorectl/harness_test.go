package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
)

// The application of the node under test (the demo app's credentials).
const (
	testKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	testSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	testDID    = "+46701234567"
	// blackHole is a PSTN gateway nobody answers on: callouts ring there
	// until the node gives up.
	blackHole = "sip:127.0.0.1:9"
)

// backend is the application's callback server: it checks every
// callback's signature like an SDK would and answers ICE with hangup,
// ACE with continue and other events with an empty 200.
type backend struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // event kinds, in order
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return testSecret, k == testKey }}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			t.Errorf("callback with a bad signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			Event string `json:"event"`
		}
		_ = json.Unmarshal(body, &ev)
		b.mu.Lock()
		b.got = append(b.got, ev.Event)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch ev.Event {
		case "ice":
			_, _ = io.WriteString(w, `{"action":{"name":"hangup"}}`)
		case "ace":
			_, _ = io.WriteString(w, `{"action":{"name":"continue"}}`)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// startNode starts a callcore node in-process on loopback ports: the
// in-memory store, one application (testKey/testSecret, number testDID)
// with its callbacks on a backend, and numbers dialled through gateway.
func startNode(t *testing.T, gateway string) *app.App {
	t.Helper()
	b := newBackend(t)
	rtp := freeEvenPortRange(t, 200)
	y := fmt.Sprintf(`
node:  {id: ctl-1, region: euc1, drain_timeout: 1s}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: "127.0.0.1:0"}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "%d-%d", rtp_timeout: 20s}
pstn:  {gateway: %q}
calls: {dial_timeout: 60s}
log:   {level: debug}
apps:
  - key: %s
    secret: %s
    callback_url: %s
    callback_timeout: 2s
    callback_connect_timeout: 1s
    numbers: [%q]
`, rtp, rtp+199, gateway, testKey, testSecret, b.srv.URL+"/callbacks", testDID)
	cfg, err := config.Parse("callcorectl-test.yml", []byte(y))
	require.NoError(t, err)
	a, err := app.New(cfg, app.Options{Logger: testLogger(t), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, a.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a
}

// testLogger sends the node's logs to the test log.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter writes to t.Log until the test ends (late writes are dropped:
// t.Log after the test panics).
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// freeEvenPortRange finds a start port for n UDP ports that are free now.
func freeEvenPortRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
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

// deadURL returns a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// env is a fake environment: HOME is a fresh directory, so no profile file
// of the machine is read.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// nodeEnv is the environment that points callcorectl at node a.
func nodeEnv(t *testing.T, a *app.App) env {
	return env{
		"CALLCORE_URL":    "http://" + a.APIAddr(),
		"CALLCORE_KEY":    testKey,
		"CALLCORE_SECRET": testSecret,
		"HOME":            t.TempDir(),
	}
}

// result is one run of callcorectl.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs callcorectl in-process with args and the environment e.
func ctl(t *testing.T, e env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb, e.get)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs callcorectl and requires exit code 0 and nothing on stderr.
func ok(t *testing.T, e env, args ...string) string {
	t.Helper()
	r := ctl(t, e, args...)
	require.Equal(t, exitOK, r.code, "callcorectl %q:\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
	require.Empty(t, r.stderr)
	return r.stdout
}

// fails runs callcorectl and requires exit code code, nothing on stdout
// and one line on stderr, which it returns.
func fails(t *testing.T, code int, e env, args ...string) string {
	t.Helper()
	r := ctl(t, e, args...)
	require.Equal(t, code, r.code, "callcorectl %q:\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
	require.Empty(t, r.stdout)
	require.True(t, strings.HasPrefix(r.stderr, "callcorectl: "), "stderr: %q", r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line on stderr: %q", r.stderr)
	return r.stderr
}

// rows splits table output into rows of fields.
func rows(out string) [][]string {
	var rs [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rs = append(rs, strings.Fields(line))
	}
	return rs
}

// field returns the value of a key/value table row.
func field(t *testing.T, out, key string) string {
	t.Helper()
	for _, r := range rows(out) {
		if len(r) >= 2 && r[0] == key {
			return strings.Join(r[1:], " ")
		}
	}
	t.Fatalf("no %q row in:\n%s", key, out)
	return ""
}
