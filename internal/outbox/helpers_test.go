package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// Generous bounds for require.Eventually on a loaded 2-core machine.
const (
	waitFor = 15 * time.Second
	tick    = 5 * time.Millisecond
)

// testOutbox is what the shared table needs of Memory and Redis.
type testOutbox interface {
	Outbox
	Stats() Stats
	DeadLetters(ctx context.Context, n int) ([]DeadLetter, error)
}

// factory builds an outbox closed at the end of the test.
type factory func(t *testing.T, o Options) testOutbox

func memoryFactory(t *testing.T, o Options) testOutbox {
	mo := NewMemory(o)
	t.Cleanup(func() { _ = mo.Close(context.Background()) })
	return mo
}

// redisFactory returns a factory of Redis outboxes on one server, each
// with a prefix of its own.
func redisFactory(t *testing.T) factory {
	client := newClient(t, redisserver.Start(t))
	var n atomic.Int64
	return func(t *testing.T, o Options) testOutbox {
		id := n.Add(1)
		if o.Consumer == "" {
			o.Consumer = fmt.Sprintf("node%d/boot1", id)
		}
		if o.ReadBlock == 0 {
			o.ReadBlock = 100 * time.Millisecond
		}
		r, err := NewRedis(context.Background(), client, fmt.Sprintf("test%d", id), o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close(context.Background()) })
		return r
	}
}

// newClient returns a client for addr closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newFastFailClient is newClient without command retries and with one dial
// attempt: commands fail at once while the server is down.
func newFastFailClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// quietRedisLogger drops go-redis's own log lines (dial failures while a
// test has stopped the server).
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedisLogger{})
	os.Exit(m.Run())
}

// newRedis builds a Redis outbox on client closed at the end of the test.
func newRedis(t *testing.T, client redis.UniversalClient, prefix string, o Options) *Redis {
	t.Helper()
	if o.ReadBlock == 0 {
		o.ReadBlock = 100 * time.Millisecond
	}
	r, err := NewRedis(context.Background(), client, prefix, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// entry returns a valid test entry.
func entry(i int) Entry {
	return Entry{
		ID:     fmt.Sprintf("evt-%d", i),
		CallID: fmt.Sprintf("call-%d", i),
		AppKey: "app",
		Kind:   KindDiCE,
		URL:    "https://backend.example/callbacks",
		Body:   []byte(fmt.Sprintf(`{"event":"dice","callid":"call-%d"}`, i)),
	}
}

// recorder is a backend: it fails while fail is set, else records the
// delivery.
type recorder struct {
	fail  atomic.Bool
	calls atomic.Int64

	mu      sync.Mutex
	got     map[string]int
	entries []Entry
}

func newRecorder() *recorder { return &recorder{got: map[string]int{}} }

var errBackendDown = errors.New("backend down: 503")

func (r *recorder) deliver(_ context.Context, e Entry) error {
	r.calls.Add(1)
	if r.fail.Load() {
		return errBackendDown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[e.ID]++
	r.entries = append(r.entries, e)
	return nil
}

// distinct returns how many ids were delivered.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// count returns how many times id was delivered.
func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// dups returns the ids delivered more than once.
func (r *recorder) dups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, n := range r.got {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s×%d", id, n))
		}
	}
	return out
}

// requireAllOnce checks that ids evt-0..evt-(n-1) were each delivered once.
func (r *recorder) requireAllOnce(t *testing.T, n int) {
	t.Helper()
	require.Empty(t, r.dups())
	for i := range n {
		require.Equal(t, 1, r.count(entry(i).ID), "evt-%d", i)
	}
}

// metricValue sums the series of name whose labels include the given
// name=value pairs (counters, gauges; histograms give their sample count).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// logBuffer collects log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixedClock is a settable clock.
type fixedClock struct{ ns atomic.Int64 }

func newFixedClock(t time.Time) *fixedClock {
	c := &fixedClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fixedClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }
