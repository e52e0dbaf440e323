package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// nodeTimeout bounds one run of conformance.mjs.
const nodeTimeout = 60 * time.Second

// testApp is one application configured on the node under test.
type testApp struct {
	key, secret        string
	callback, fallback string // fallback "" = not configured
	numbers            []string
}

// The two applications of the node under test. Keys look like Sinch keys
// (GUIDs); secrets are standard base64, as the Sinch dashboard shows them.
var (
	mainApp = testApp{
		key:      "0f6a1c52-3d4e-4b8a-9c1d-2e3f4a5b6c7d",
		secret:   "Y29uZm9ybWFuY2UtYXBwLXNlY3JldC0x", // base64("conformance-app-secret-1")
		callback: "https://app.example.com/sinch/callback",
		fallback: "https://fallback.app.example.com/sinch/callback",
		numbers:  []string{"+12015550101", "+46701234501"},
	}
	otherApp = testApp{
		key:      "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
		secret:   "Y29uZm9ybWFuY2UtYXBwLXNlY3JldC0y", // base64("conformance-app-secret-2")
		callback: "https://other.example.com/sinch/callback",
		numbers:  []string{"+12015550199"},
	}
)

// TestSDKConformance runs conformance.mjs against a node backed by the
// in-memory store.
func TestSDKConformance(t *testing.T) {
	node := requireNode(t)
	a := startNode(t, "")
	runConformance(t, node, a)
}

// TestSDKConformanceRedis runs the same program against a node backed by a
// real Redis: the answers must be identical.
func TestSDKConformanceRedis(t *testing.T) {
	node := requireNode(t)
	addr := redisserver.Start(t)
	a := startNode(t, "redis://"+addr)
	runConformance(t, node, a)
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
// ports, both apps, and the given store (redisURL "" = in-memory).
func configYAML(redisURL string) []byte {
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
pstn:
  gateway: "sip:127.0.0.1:5070"
calls:
  dial_timeout: 2s
store:
  redis_url: %q
log:
  level: debug
apps:
`, redisURL)
	for _, a := range []testApp{mainApp, otherApp} {
		fmt.Fprintf(&b, "  - key: %q\n    secret: %q\n    callback_url: %q\n", a.key, a.secret, a.callback)
		if a.fallback != "" {
			fmt.Fprintf(&b, "    fallback_url: %q\n", a.fallback)
		}
		b.WriteString("    numbers:\n")
		for _, n := range a.numbers {
			fmt.Fprintf(&b, "      - %q\n", n)
		}
	}
	return []byte(b.String())
}

// startNode starts a callcore node in-process and stops it at cleanup.
func startNode(t *testing.T, redisURL string) *app.App {
	t.Helper()
	cfg, err := config.Parse("conformance.yml", configYAML(redisURL))
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
	return a
}

// summary is the last line conformance.mjs prints.
var summary = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// runConformance runs conformance.mjs against a, streams its output to the
// test log and fails the test unless every check passed.
func runConformance(t *testing.T, node string, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, node, "conformance.mjs")
	cmd.Env = append(os.Environ(),
		"CALLCORE_URL=http://"+a.APIAddr(),
		"APP_KEY="+mainApp.key,
		"APP_SECRET="+mainApp.secret,
		"APP_NUMBERS="+strings.Join(mainApp.numbers, ","),
		"APP_CALLBACK_URL="+mainApp.callback,
		"APP_FALLBACK_URL="+mainApp.fallback,
		"OTHER_APP_KEY="+otherApp.key,
		"OTHER_APP_SECRET="+otherApp.secret,
		"OTHER_APP_NUMBERS="+strings.Join(otherApp.numbers, ","),
		"OTHER_APP_CALLBACK_URL="+otherApp.callback,
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
