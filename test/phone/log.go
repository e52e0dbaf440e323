package phone

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testLogWriter forwards log lines to t.Log until it is closed. Closing
// happens in the phone's cleanup, before the test is marked complete, so
// goroutines of the SIP stack that log late never call t.Log on a finished
// test.
type testLogWriter struct {
	mu     sync.RWMutex
	t      testing.TB
	closed bool
}

// Write implements io.Writer; slog handlers write one record per call.
func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func newTestLogger(t testing.TB, level slog.Leveler) (*slog.Logger, *testLogWriter) {
	w := &testLogWriter{t: t}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), w
}
