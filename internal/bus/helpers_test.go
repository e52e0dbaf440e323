package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// env makes buses that share one medium: a redis-server (plain or sharded
// Pub/Sub) or a Hub. Buses are closed when the test ends.
type env struct {
	// join starts a bus for o (o.Registerer nil gets a private registry).
	join func(t *testing.T, o Options) Bus
	// raw delivers msg as is to node, returning the number of listeners.
	raw func(t *testing.T, node string, msg []byte) int64
}

// backends runs f once per implementation, each with a fresh medium.
func backends(t *testing.T, f func(t *testing.T, e env)) {
	t.Run("redis", func(t *testing.T) {
		f(t, redisEnv(t, redisserver.Start(t), redisConfig{health: defaultHealthInterval}))
	})
	t.Run("redis-sharded", func(t *testing.T) {
		f(t, redisEnv(t, redisserver.Start(t), redisConfig{sharded: true, health: defaultHealthInterval}))
	})
	t.Run("hub", func(t *testing.T) { f(t, hubEnv()) })
}

// newClient returns a client for addr, closed when the test ends.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixSeq atomic.Int64

// redisEnv is an env over the redis-server at addr, under a fresh prefix.
// Every bus gets its own client, like separate processes.
func redisEnv(t *testing.T, addr string, cfg redisConfig) env {
	prefix := fmt.Sprintf("test%d", prefixSeq.Add(1))
	rawClient := newClient(t, addr)
	return env{
		join: func(t *testing.T, o Options) Bus {
			t.Helper()
			b, err := newRedis(context.Background(), newClient(t, addr), prefix, o, cfg)
			require.NoError(t, err)
			closeAtEnd(t, b)
			return b
		},
		raw: func(t *testing.T, node string, msg []byte) int64 {
			t.Helper()
			ctx := context.Background()
			var n int64
			var err error
			if cfg.sharded {
				n, err = rawClient.SPublish(ctx, Channel(prefix, node), msg).Result()
			} else {
				n, err = rawClient.Publish(ctx, Channel(prefix, node), msg).Result()
			}
			require.NoError(t, err)
			return n
		},
	}
}

// hubEnv is an env over a fresh Hub.
func hubEnv() env {
	h := NewHub()
	return env{
		join: func(t *testing.T, o Options) Bus {
			t.Helper()
			b, err := h.Join(o)
			require.NoError(t, err)
			closeAtEnd(t, b)
			return b
		},
		raw: func(t *testing.T, node string, msg []byte) int64 {
			n, err := h.publish(context.Background(), node, msg)
			require.NoError(t, err)
			return n
		},
	}
}

// closeAtEnd closes b when the test ends; Close must succeed.
func closeAtEnd(t *testing.T, b Bus) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
}

// coreOf returns the core of a bus.
func coreOf(b Bus) *core {
	switch b := b.(type) {
	case *Redis:
		return b.core
	case *hubBus:
		return b.core
	}
	panic(fmt.Sprintf("unknown bus %T", b))
}

// echo is a handler that answers "<node>|<kind>|<payload>".
func echo(node string) Handler {
	return func(_ context.Context, kind string, payload []byte) ([]byte, error) {
		return fmt.Appendf(nil, "%s|%s|%s", node, kind, payload), nil
	}
}

// testLogger logs to the test output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// counter reads one child of a counter vector.
func counter(v *prometheus.CounterVec, label string) float64 {
	return testutil.ToFloat64(v.WithLabelValues(label))
}

// testutilValue reads a counter.
func testutilValue(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// histCount is the sample count of one child of a histogram vector.
func histCount(v *prometheus.HistogramVec, label string) uint64 {
	var m dto.Metric
	if err := v.WithLabelValues(label).(prometheus.Metric).Write(&m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// pendingLen is the number of requests waiting for a reply.
func pendingLen(c *core) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// proxy forwards TCP connections to a target and can black-hole the ones
// open at a given moment (a half-open connection: nothing is closed, nothing
// arrives any more).
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []*proxyConn
	closed bool
	wg     sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	frozen         atomic.Bool
}

// startProxy listens on a loopback port; it stops when the test ends.
func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.conns = append(p.conns, pc)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(pc, c, s)
		go p.pipe(pc, s, c)
	}
}

// pipe copies src to dst, discarding what arrives once pc is frozen.
func (p *proxy) pipe(pc *proxyConn, src, dst net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pc.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// freeze black-holes every connection open now; later ones work.
func (p *proxy) freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.frozen.Store(true)
	}
	return len(p.conns)
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.client.Close()
		_ = c.server.Close()
	}
	p.wg.Wait()
}
