package cluster

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// testTTL is the heartbeat TTL of the tests: heartbeats every 200 ms.
const testTTL = 600 * time.Millisecond

// newClient returns a client of addr, closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deadCall is one OnDead call.
type deadCall struct {
	by string // node that ran OnDead
	m  Member
	at time.Time
}

// recorder records the OnDead calls of every node of a test.
type recorder struct {
	mu    sync.Mutex
	calls []deadCall
	// fail, if set, decides whether a call fails (before it is recorded
	// as a success or not: every call is recorded).
	fail func(m Member) error
}

// onDead returns the OnDead of node by.
func (r *recorder) onDead(by string) func(context.Context, Member) error {
	return func(_ context.Context, m Member) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, deadCall{by: by, m: m, at: time.Now()})
		if r.fail != nil {
			return r.fail(m)
		}
		return nil
	}
}

// of returns the calls about node.
func (r *recorder) of(node string) []deadCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []deadCall
	for _, c := range r.calls {
		if c.m.Node == node {
			out = append(out, c)
		}
	}
	return out
}

// count returns the number of calls.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// logRecord is one captured log line.
type logRecord struct {
	at    time.Time
	level slog.Level
	msg   string
}

// captureHandler is a slog.Handler that keeps the records.
type captureHandler struct {
	mu   *sync.Mutex
	recs *[]logRecord
}

func newCaptureHandler() captureHandler {
	return captureHandler{mu: new(sync.Mutex), recs: new([]logRecord)}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, logRecord{at: r.Time, level: r.Level, msg: r.Message})
	return nil
}

func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// count returns how many records have level and msg.
func (h captureHandler) count(level slog.Level, msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if r.level == level && r.msg == msg {
			n++
		}
	}
	return n
}

// node is one member of a test cluster.
type node struct {
	*Membership
	name   string
	log    captureHandler
	fenced chan struct{} // one value per OnFenced
}

// cfg tunes joinNode.
type cfg struct {
	prefix string
	boot   string
	rec    *recorder
	lease  time.Duration
	// onDead, if set, replaces rec: it returns the OnDead of node by.
	onDead func(by string) func(context.Context, Member) error
}

// joinNode joins name to the cluster of addr with its own client, and
// closes it at the end of the test.
func joinNode(t *testing.T, addr, name string, c cfg) (*node, *Member) {
	t.Helper()
	if c.prefix == "" {
		c.prefix = "test"
	}
	if c.boot == "" {
		c.boot = NewBootID()
	}
	n := &node{name: name, log: newCaptureHandler(), fenced: make(chan struct{}, 16)}
	o := Options{
		Self:     Member{Node: name, Boot: c.boot, APIURL: "http://" + name + ":8080", SIPAddr: name + ":5060"},
		TTL:      testTTL,
		LeaseTTL: c.lease,
		OnFenced: func(ctx context.Context) {
			if ctx == nil {
				panic("nil ctx")
			}
			n.fenced <- struct{}{}
		},
		Logger: slog.New(n.log),
	}
	switch {
	case c.onDead != nil:
		o.OnDead = c.onDead(name)
	case c.rec != nil:
		o.OnDead = c.rec.onDead(name)
	}
	m, prev, err := Join(context.Background(), newClient(t, addr), c.prefix, o)
	require.NoError(t, err)
	n.Membership = m
	t.Cleanup(func() { _ = m.Close() })
	diagnose(t, n)
	return n, prev
}

// newRecorder returns a recorder that logs its calls if the test fails.
func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.calls {
			t.Logf("OnDead by %s of %s/%s at %s", c.by, c.m.Node, c.m.Boot, c.at.Format("15:04:05.000"))
		}
	})
	return r
}

// diagnose logs the metrics and logs of n if the test fails.
func diagnose(t *testing.T, n *node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("node %s: heartbeat failures %v, reap errors %v", n.name,
			testutil.ToFloat64(n.met.failures), testutil.ToFloat64(n.met.reapErrors))
		n.log.mu.Lock()
		defer n.log.mu.Unlock()
		for _, r := range *n.log.recs {
			t.Logf("  %s %s %s: %s", r.at.Format("15:04:05.000"), n.name, r.level, r.msg)
		}
	})
}

// leaders returns the names of the nodes that think they lead.
func leaders(nodes ...*node) []string {
	var out []string
	for _, n := range nodes {
		if n.IsLeader() {
			out = append(out, n.name)
		}
	}
	return out
}

// waitOneLeader waits until exactly one of nodes leads and returns it.
func waitOneLeader(t *testing.T, nodes ...*node) *node {
	t.Helper()
	var l *node
	require.Eventually(t, func() bool {
		ls := leaders(nodes...)
		if len(ls) != 1 {
			return false
		}
		i := slices.IndexFunc(nodes, func(n *node) bool { return n.name == ls[0] })
		l = nodes[i]
		return true
	}, 5*testTTL, 10*time.Millisecond, "no single leader")
	return l
}

// memberNodes returns the node ids of ms.
func memberNodes(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Node
	}
	return out
}

// reapedTotal sums callcore_cluster_reaped_total{cause} over nodes.
func reapedTotal(cause string, nodes ...*node) float64 {
	var sum float64
	for _, n := range nodes {
		sum += testutil.ToFloat64(n.met.reaped.WithLabelValues(cause))
	}
	return sum
}
