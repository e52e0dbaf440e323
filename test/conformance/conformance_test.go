package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// nodeTimeout bounds one run of conformance.mjs, which takes 30-45 s on
// a 2-core machine (the conference checks included): generous, for a
// loaded one.
const nodeTimeout = 120 * time.Second

// testApp is one application configured on the node under test.
type testApp struct {
	key, secret string
	// callbackPath and fallbackPath are paths on the callback forwarder
	// (fallbackPath "" = not configured); callbackURL, when set, is used
	// verbatim instead (an app whose callbacks nobody receives).
	callbackPath, fallbackPath string
	callbackURL                string
	numbers                    []string
}

// The two applications of the node under test. Keys look like Sinch keys
// (GUIDs); secrets are standard base64, as the Sinch dashboard shows them.
var (
	mainApp = testApp{
		key:          "0f6a1c52-3d4e-4b8a-9c1d-2e3f4a5b6c7d",
		secret:       "Y29uZm9ybWFuY2UtYXBwLXNlY3JldC0x", // base64("conformance-app-secret-1")
		callbackPath: "/sinch/callback",
		fallbackPath: "/sinch/fallback",
		numbers:      []string{"+12015550101", "+46701234501"},
	}
	otherApp = testApp{
		key:         "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
		secret:      "Y29uZm9ybWFuY2UtYXBwLXNlY3JldC0y", // base64("conformance-app-secret-2")
		callbackURL: "https://other.example.com/sinch/callback",
		numbers:     []string{"+12015550199"},
	}
)

// callback returns the app's callback and fallback URLs ("" = none) with
// the forwarder at base.
func (a testApp) callback(base string) (primary, fallback string) {
	if a.callbackURL != "" {
		return a.callbackURL, ""
	}
	if a.fallbackPath != "" {
		fallback = base + a.fallbackPath
	}
	return base + a.callbackPath, fallback
}

// TestSDKConformance runs conformance.mjs against a node backed by the
// in-memory store.
func TestSDKConformance(t *testing.T) {
	node := requireNode(t)
	gw := startGateway(t)
	fw := newForwarder(t)
	a := startNode(t, "", gw, fw)
	runConformance(t, node, a, fw)
	gw.stop(t)
}

// TestSDKConformanceRedis runs the same program against a node backed by a
// real Redis: the answers must be identical.
func TestSDKConformanceRedis(t *testing.T) {
	node := requireNode(t)
	addr := redisserver.Start(t)
	gw := startGateway(t)
	fw := newForwarder(t)
	a := startNode(t, "redis://"+addr, gw, fw)
	runConformance(t, node, a, fw)
	gw.stop(t)
}

// requireNode returns the path of the node binary. A missing node or missing
// node_modules is a failure, not a skip: CI must run this test.
func requireNode(t *testing.T) string {
	t.Helper()
	const hint = "run `npm ci --prefix test/conformance` (from the repository root) before `go test`"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): install Node.js >= 18 and %s", err, hint)
	}
	pkg := filepath.Join("node_modules", "@sinch", "sdk-core", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		t.Fatalf("the Sinch Node SDK is not installed (%v): %s", err, hint)
	}
	return node
}

// configYAML renders the node configuration: loopback listeners on free
// ports, both apps with their callbacks on the forwarder at callbackBase,
// numbers dialled through the gateway at gatewayPort, RTP on rtpMin and
// the 199 ports above it, and the given store (redisURL "" = in-memory).
func configYAML(redisURL, callbackBase string, gatewayPort, rtpMin int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `node:
  id: conformance-1
  region: local
api:
  listen: "127.0.0.1:0"
  base_url: "http://127.0.0.1:8080"
ops:
  listen: "127.0.0.1:0"
sip:
  listen: "127.0.0.1:0"
  public_host: "127.0.0.1"
media:
  rtp_ports: "%d-%d"
  rtp_timeout: 10s
pstn:
  gateway: "sip:127.0.0.1:%d"
calls:
  dial_timeout: 5s
store:
  redis_url: %q
log:
  level: debug
apps:
`, rtpMin, rtpMin+199, gatewayPort, redisURL)
	for _, a := range []testApp{mainApp, otherApp} {
		primary, fallback := a.callback(callbackBase)
		fmt.Fprintf(&b, "  - key: %q\n    secret: %q\n    callback_url: %q\n", a.key, a.secret, primary)
		if fallback != "" {
			fmt.Fprintf(&b, "    fallback_url: %q\n", fallback)
		}
		b.WriteString("    callback_timeout: 5s\n    callback_connect_timeout: 1s\n")
		b.WriteString("    numbers:\n")
		for _, n := range a.numbers {
			fmt.Fprintf(&b, "      - %q\n", n)
		}
	}
	return []byte(b.String())
}

// startNode starts a callcore node in-process, dialling numbers through gw
// and sending callbacks to fw, and stops it at cleanup.
func startNode(t *testing.T, redisURL string, gw *gateway, fw *forwarder) *app.App {
	t.Helper()
	cfg, err := config.Parse("conformance.yml", configYAML(redisURL, fw.url(), gw.port, freeRTPRange(t, 200)))
	require.NoError(t, err)

	logs := newTestWriter(t, "callcore: ")
	t.Cleanup(logs.close) // registered first, so it runs after Stop
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	a, err := app.New(cfg, app.Options{Logger: logger, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, a.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, a.Stop(ctx))
	})
	require.NotEmpty(t, a.APIAddr())
	require.NotEmpty(t, a.OpsAddr())
	return a
}

// summary is the last line conformance.mjs prints.
var summary = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// listening is the line conformance.mjs prints once its callback server
// accepts requests.
var listening = regexp.MustCompile(`^# callback server listening on (http://127\.0\.0\.1:\d+)$`)

// runConformance runs conformance.mjs against a, streams its output to the
// test log, points fw at the program's callback server as soon as it
// listens, and fails the test unless every check passed.
func runConformance(t *testing.T, node string, a *app.App, fw *forwarder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()

	primary, fallback := mainApp.callback(fw.url())
	otherPrimary, _ := otherApp.callback(fw.url())
	cmd := exec.CommandContext(ctx, node, "conformance.mjs")
	cmd.Env = append(os.Environ(),
		"CALLCORE_URL=http://"+a.APIAddr(),
		"CALLCORE_METRICS_URL=http://"+a.OpsAddr()+"/metrics",
		"CALLBACK_BASE_URL="+fw.url(),
		"APP_KEY="+mainApp.key,
		"APP_SECRET="+mainApp.secret,
		"APP_NUMBERS="+strings.Join(mainApp.numbers, ","),
		"APP_CALLBACK_URL="+primary,
		"APP_FALLBACK_URL="+fallback,
		"OTHER_APP_KEY="+otherApp.key,
		"OTHER_APP_SECRET="+otherApp.secret,
		"OTHER_APP_NUMBERS="+strings.Join(otherApp.numbers, ","),
		"OTHER_APP_CALLBACK_URL="+otherPrimary,
	)
	cmd.WaitDelay = 5 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			t.Log("node: " + line)
			lines = append(lines, line)
			if m := listening.FindStringSubmatch(line); m != nil {
				fw.setTarget(m[1])
			}
		}
		// Drain whatever a scanner error left so the writer never blocks.
		_, _ = io.Copy(io.Discard, pr)
	}()

	runErr := cmd.Run()
	_ = pw.Close() // after Run, nothing writes to pw any more
	<-done

	if ctx.Err() != nil {
		t.Fatalf("conformance.mjs did not finish within %s: %v", nodeTimeout, runErr)
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("running conformance.mjs: %v", runErr)
	}
	require.NotEmpty(t, lines, "conformance.mjs printed nothing")
	m := summary.FindStringSubmatch(lines[len(lines)-1])
	require.NotNil(t, m, "last line %q is not the summary %q", lines[len(lines)-1], "N passed, M failed")
	passed, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	var failures []string
	for _, l := range lines {
		if strings.HasPrefix(l, "not ok - ") || strings.HasPrefix(l, "Bail out!") {
			failures = append(failures, l)
		}
	}
	require.NoError(t, runErr, "conformance.mjs failed:\n%s", strings.Join(failures, "\n"))
	require.Zero(t, failed, "conformance.mjs reported failures:\n%s", strings.Join(failures, "\n"))
	require.Positive(t, passed, "conformance.mjs ran no checks")
	require.Zero(t, fw.unrouted.Load(), "callbacks arrived before conformance.mjs listened (see the log)")
}

// forwarder is the callback server the node's apps point to. It forwards
// every request verbatim (method, path and query, headers, raw body) to
// the callback server of conformance.mjs, which validates it with the SDK,
// and relays the answer back. Each exchange is logged.
type forwarder struct {
	t        *testing.T
	srv      *httptest.Server
	client   *http.Client
	target   atomic.Pointer[string]
	unrouted atomic.Int64 // requests that came before the target was known
	logs     *testWriter
}

func newForwarder(t *testing.T) *forwarder {
	f := &forwarder{
		t:      t,
		client: &http.Client{Timeout: 10 * time.Second},
		logs:   newTestWriter(t, "callback: "),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close() // waits for requests in flight
		f.client.CloseIdleConnections()
		f.logs.close()
	})
	return f
}

func (f *forwarder) url() string { return f.srv.URL }

func (f *forwarder) setTarget(u string) { f.target.Store(&u) }

func (f *forwarder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	in := fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), formatHeaders(r.Header), body)
	target := f.target.Load()
	if target == nil {
		f.unrouted.Add(1)
		_, _ = fmt.Fprintf(f.logs, "%s -> 503 (conformance.mjs is not listening yet)", in)
		http.Error(w, "conformance.mjs is not listening yet", http.StatusServiceUnavailable)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, *target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := f.client.Do(req)
	if err != nil {
		_, _ = fmt.Fprintf(f.logs, "%s -> 502 %v", in, err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		_, _ = fmt.Fprintf(f.logs, "%s -> 502 reading the reply: %v", in, err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = fmt.Fprintf(f.logs, "%s -> %d %s", in, resp.StatusCode, reply)
	for k, vs := range resp.Header {
		if k == "Content-Length" || k == "Date" || k == "Connection" || k == "Keep-Alive" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(reply)
}

// formatHeaders renders headers sorted by name, one "Name: value" each.
func formatHeaders(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		for _, v := range h[k] {
			parts = append(parts, k+": "+v)
		}
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// gateway is a sipp UAS standing in for the PSTN gateway: it answers every
// INVITE with SDP and echoes the RTP it receives (testdata/uas_echo.xml).
type gateway struct {
	port   int
	cmd    *exec.Cmd
	screen string        // file with sipp's screen output
	done   chan struct{} // closed when sipp exited
	err    error         // exit status, set before done closes
}

// sippTimeout bounds the lifetime of a sipp process.
const sippTimeout = 2 * nodeTimeout

// startGateway starts sipp on free UDP ports and waits until it listens;
// sipp is killed at cleanup, its screen and errors logged if the test
// failed. A missing sipp is a failure: CI installs it.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp is not on PATH (%v): install it (apt-get install sip-tester)", err)
	}
	dir := t.TempDir()
	g := &gateway{port: freeUDPPort(t, 1), screen: filepath.Join(dir, "screen.log"), done: make(chan struct{})}
	errFile := filepath.Join(dir, "errors.log")
	screen, err := os.Create(g.screen)
	require.NoError(t, err)
	args := []string{
		"-sf", filepath.Join("testdata", "uas_echo.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(g.port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t, 4)), "-rtp_echo",
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(sippTimeout.Seconds())),
		"-trace_err", "-error_file", errFile,
	}
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout+10*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	g.cmd = cmd
	cmd.Stdout, cmd.Stderr = screen, screen
	require.NoError(t, cmd.Start())
	go func() {
		g.err = cmd.Wait()
		_ = screen.Close()
		cancel()
		close(g.done)
	}()
	t.Cleanup(func() {
		select {
		case <-g.done:
		default:
			_ = cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			errs, _ := os.ReadFile(errFile)
			out, _ := os.ReadFile(g.screen)
			t.Logf("sipp gateway on port %d exited (%v)\nerrors:\n%s\nscreen (tail):\n%s",
				g.port, g.err, tail(errs, 4000), tail(out, 3000))
		}
	})
	g.waitListening(t)
	return g
}

// waitListening waits until sipp has bound its UDP port, reading the
// kernel's socket table: an external process gives no readiness signal.
func (g *gateway) waitListening(t *testing.T) {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X", g.port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		table, err := os.ReadFile("/proc/net/udp")
		require.NoError(t, err)
		for _, line := range strings.Split(string(table), "\n") {
			if fields := strings.Fields(line); len(fields) > 1 && fields[1] == want {
				return
			}
		}
		select {
		case <-g.done:
			t.Fatalf("sipp exited before listening: %v", g.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("sipp does not listen on udp 127.0.0.1:%d", g.port)
}

// sippCounter reads a cumulative counter of sipp's final statistics screen.
func sippCounter(screen []byte, name string) (int, bool) {
	re := regexp.MustCompile(regexp.QuoteMeta(name) + `\s*\|[^|]*\|\s*(\d+)`)
	m := re.FindSubmatch(screen)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

// stop ends sipp gracefully (SIGUSR1: it quits once no call is up and
// prints its statistics) and requires that every call it took succeeded:
// answered, then hung up by the node with a BYE. A call still up means the
// node left it hanging.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, g.cmd.Process.Signal(syscall.SIGUSR1))
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		t.Fatal("sipp did not stop within 5 s of SIGUSR1: a call to the gateway was still up (the node did not hang it up)")
	}
	screen, err := os.ReadFile(g.screen)
	require.NoError(t, err)
	created, ok1 := sippCounter(screen, "Incoming calls created")
	succeeded, ok2 := sippCounter(screen, "Successful call")
	failed, ok3 := sippCounter(screen, "Failed call")
	require.True(t, ok1 && ok2 && ok3, "no statistics in sipp's screen:\n%s", tail(screen, 3000))
	t.Logf("sipp gateway: %d calls, %d successful, %d failed", created, succeeded, failed)
	require.NoError(t, g.err, "sipp exit status (0 = every call succeeded)")
	require.Zero(t, failed, "calls failed at the gateway")
	require.Positive(t, created, "no call reached the gateway")
	require.Equal(t, created, succeeded, "calls at the gateway that did not complete")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// freeUDPPort returns an even port p such that p .. p+n-1 are free UDP
// ports on 127.0.0.1 now (sipp's media uses its -mp port and the one two
// above it).
func freeUDPPort(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = c.Close()
		if p < 1024 || p+n > 65535 {
			continue
		}
		ok := true
		for q := p; q < p+n && ok; q++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				continue
			}
			_ = c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// freeRTPRange returns the even start of a range of n UDP ports for the
// node's RTP whose first port is free now; the media engine skips a port
// of its range that another process holds.
func freeRTPRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		if p := freeUDPPort(t, 2); p+n <= 65535 {
			return p
		}
	}
	t.Fatal("no free RTP port range")
	return 0
}

// testWriter forwards log lines to t.Log until closed; after close it drops
// them, so that a late log line from a stopping node cannot panic the test.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	closed bool
}

func newTestWriter(t *testing.T, prefix string) *testWriter {
	return &testWriter{t: t, prefix: prefix}
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
