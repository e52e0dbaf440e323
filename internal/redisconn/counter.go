package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Counter counts what a client sends over the wire: round trips (commands
// and pipelines issued), bytes sent and received on every connection the
// client dials (pool, pipeline pool, pub/sub, and with Open also the
// Sentinel connections), and failed commands. Bytes are those of the Redis
// protocol: over TLS, the plaintext, not the TLS records. It is safe for
// concurrent use. A nil *Counter counts nothing; the zero Counter counts
// but exports no metrics (NewCounter registers them).
//
// What a round trip is:
//   - a command (Process) is 1, counted when it is issued, so a blocking
//     command (XREADGROUP BLOCK, BLPOP) counts once however long it waits;
//   - a pipeline or transaction pipeline (Pipelined, TxPipelined, Exec) is
//     1, however many commands it holds;
//   - on a Cluster client, counts are taken per node: a pipeline that fans
//     out to k shards is k, a command redirected by MOVED or ASK is counted
//     on each node it reaches, and the topology queries the client makes
//     itself (CLUSTER SLOTS) are counted too;
//   - the handshake of a new connection (HELLO, then CLIENT
//     MAINT_NOTIFICATIONS and a CLIENT SETINFO pipeline with go-redis
//     v9.23: 3 round trips) is counted like any command: it is paid once
//     per connection, which a pool keeps;
//   - pub/sub (SUBSCRIBE, receiving messages) and the Sentinel queries of a
//     failover client do not go through go-redis hooks, so they count no
//     round trips: only their bytes are counted.
//
// A failed command is one with an error other than redis.Nil (a missing
// key), a cancellation (the caller gave up), NOSCRIPT (go-redis loads the
// script and retries), redis.TxFailedErr (an optimistic transaction lost a
// race, retried by the caller) and the errors of the connection handshake
// (go-redis tolerates CLIENT SETINFO failing on an older server; an
// authentication failure fails the command that needed the connection,
// which is counted). On a Cluster client, errors are counted on the final
// outcome, after redirections.
type Counter struct {
	roundTrips atomic.Int64
	_          [56]byte // keep each counter on its own cache line
	sent       atomic.Int64
	_          [56]byte
	received   atomic.Int64
	_          [56]byte
	errors     atomic.Int64
}

// Stats is a snapshot of a Counter.
type Stats struct {
	RoundTrips    int64 // commands and pipelines issued (see Counter)
	BytesSent     int64 // bytes written to Redis connections
	BytesReceived int64 // bytes read from Redis connections
	Errors        int64 // failed commands (see Counter)
}

// Sub returns s - o, the traffic between two snapshots.
func (s Stats) Sub(o Stats) Stats {
	return Stats{
		RoundTrips:    s.RoundTrips - o.RoundTrips,
		BytesSent:     s.BytesSent - o.BytesSent,
		BytesReceived: s.BytesReceived - o.BytesReceived,
		Errors:        s.Errors - o.Errors,
	}
}

// NewCounter returns a Counter whose totals are exported on reg (nil: a
// private registry) as
//
//   - callcore_redis_round_trips_total
//   - callcore_redis_bytes_total{direction="sent"|"received"}
//   - callcore_redis_errors_total
//
// The metrics read the Counter's totals at scrape time, so counting costs
// no more than with the zero Counter. It panics if reg already holds these
// metrics (one Counter per process and registry).
func NewCounter(reg prometheus.Registerer) *Counter {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	c := &Counter{}
	reg.MustRegister(newCollector(c))
	return c
}

// Stats returns the totals so far. The four values are read one after the
// other, not atomically together. A nil Counter returns zeros.
func (c *Counter) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{
		RoundTrips:    c.roundTrips.Load(),
		BytesSent:     c.sent.Load(),
		BytesReceived: c.received.Load(),
		Errors:        c.errors.Load(),
	}
}

// Instrument adds the counting hooks to a client created elsewhere (by
// redis.NewClient, redis.NewFailoverClient or redis.NewClusterClient,
// typically in tests); Open does it itself, do not call Instrument on what
// Open returned. Bytes are counted by wrapping each connection the client
// dials from now on (a connection already in its pool is not counted); the
// Sentinel connections of a failover client are not counted (Open counts
// them through its dialer). Call it before the client is first used: on a
// Cluster client, only the node clients created afterwards are counted. A
// nil Counter or client does nothing.
func (c *Counter) Instrument(client redis.UniversalClient) {
	if c == nil || client == nil {
		return
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		c.instrumentCluster(cc, true)
		return
	}
	client.AddHook(hook{c: c, wrapDial: true, roundTrips: true, errors: true})
}

// instrumentCluster counts round trips (and bytes if wrapDial) on each node
// client, and errors on the cluster client, after redirections.
func (c *Counter) instrumentCluster(cc *redis.ClusterClient, wrapDial bool) {
	cc.AddHook(hook{c: c, errors: true})
	nodeHook := hook{c: c, wrapDial: wrapDial, roundTrips: true}
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(nodeHook) })
}

// dialer returns a go-redis Dialer that dials like go-redis's default one
// (TCP keep-alive, TLS when tlsConf is set) and counts the bytes of every
// connection.
func (c *Counter) dialer(timeout time.Duration, tlsConf *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	base := redis.NewDialer(&redis.Options{DialTimeout: timeout, TLSConfig: tlsConf})
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := base(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return c.wrap(conn), nil
	}
}

// wrap returns conn counting its bytes in c. The wrapper implements
// syscall.Conn exactly when conn does, so that go-redis's health check of
// pooled connections (a non-consuming MSG_PEEK on the socket) keeps working
// on plain TCP and Unix connections, and stays off TLS ones as go-redis
// intends; NetConn exposes the wrapped connection to go-redis's unwrapping.
func (c *Counter) wrap(conn net.Conn) net.Conn {
	cc := countingConn{Conn: conn, c: c}
	if sc, ok := conn.(syscall.Conn); ok {
		return &countingSysConn{countingConn: cc, sys: sc}
	}
	return &cc
}

// countingConn counts the bytes read and written through it.
type countingConn struct {
	net.Conn
	c *Counter
}

// Read reads from the connection and counts the bytes read.
func (cn *countingConn) Read(p []byte) (int, error) {
	n, err := cn.Conn.Read(p)
	if n > 0 {
		cn.c.received.Add(int64(n))
	}
	return n, err
}

// Write writes to the connection and counts the bytes written.
func (cn *countingConn) Write(p []byte) (int, error) {
	n, err := cn.Conn.Write(p)
	if n > 0 {
		cn.c.sent.Add(int64(n))
	}
	return n, err
}

// NetConn returns the wrapped connection.
func (cn *countingConn) NetConn() net.Conn { return cn.Conn }

// countingSysConn is a countingConn over a connection with a file
// descriptor.
type countingSysConn struct {
	countingConn
	sys syscall.Conn
}

// SyscallConn returns the raw connection of the wrapped one.
func (cn *countingSysConn) SyscallConn() (syscall.RawConn, error) { return cn.sys.SyscallConn() }

// hook is the go-redis hook of a Counter. Each part can be off, so that a
// Cluster client counts round trips on its nodes and errors on itself.
type hook struct {
	c          *Counter
	wrapDial   bool // wrap dialed connections (when no counting Dialer is set)
	roundTrips bool
	errors     bool
}

// DialHook wraps the dialed connection when wrapDial is set.
func (h hook) DialHook(next redis.DialHook) redis.DialHook {
	if !h.wrapDial {
		return next
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return h.c.wrap(conn), nil
	}
}

// ProcessHook counts one round trip when the command is issued, and its
// failure.
func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	if !h.roundTrips && !h.errors {
		return next
	}
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.roundTrips {
			h.c.roundTrips.Add(1)
		}
		err := next(ctx, cmd)
		if h.errors && countedError(ctx, cmd, err) {
			h.c.errors.Add(1)
		}
		return err
	}
}

// ProcessPipelineHook counts one round trip per pipeline, and each failed
// command in it.
func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	if !h.roundTrips && !h.errors {
		return next
	}
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.roundTrips {
			h.c.roundTrips.Add(1)
		}
		err := next(ctx, cmds)
		if h.errors {
			var n int64
			for _, cmd := range cmds {
				if countedError(ctx, cmd, cmd.Err()) {
					n++
				}
			}
			if n > 0 {
				h.c.errors.Add(n)
			}
		}
		return err
	}
}

// countedError reports whether cmd failed in a way worth counting (see
// Counter), err being its error.
func countedError(ctx context.Context, cmd redis.Cmder, err error) bool {
	switch {
	case err == nil,
		errors.Is(err, redis.Nil),
		errors.Is(err, context.Canceled),
		errors.Is(err, redis.TxFailedErr),
		redis.HasErrorPrefix(err, "NOSCRIPT"),
		errors.Is(ctx.Err(), context.Canceled),
		handshake(cmd):
		return false
	}
	return true
}

// handshake reports whether cmd is one go-redis sends when it sets up a
// connection. Their failures are either tolerated by go-redis (CLIENT
// SETINFO and CLIENT MAINT_NOTIFICATIONS on an older server) or fail the
// command that needed the connection, which is counted instead.
func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "readonly":
		return true
	case "client":
		args := cmd.Args()
		if len(args) < 2 {
			return false
		}
		sub, _ := args[1].(string)
		for _, h := range []string{"setinfo", "setname", "maint_notifications", "tracking"} {
			if strings.EqualFold(sub, h) {
				return true
			}
		}
	}
	return false
}

// collector exports a Counter's totals at scrape time.
type collector struct {
	c          *Counter
	roundTrips *prometheus.Desc
	bytes      *prometheus.Desc
	errors     *prometheus.Desc
}

func newCollector(c *Counter) *collector {
	return &collector{
		c: c,
		roundTrips: prometheus.NewDesc("callcore_redis_round_trips_total",
			"Redis round trips: commands and pipelines issued (per node on a cluster).", nil, nil),
		bytes: prometheus.NewDesc("callcore_redis_bytes_total",
			"Bytes exchanged with Redis, by direction (sent, received).", []string{"direction"}, nil),
		errors: prometheus.NewDesc("callcore_redis_errors_total",
			"Redis commands that failed (not counting nil replies, cancellations, NOSCRIPT and lost transactions).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.roundTrips
	ch <- m.bytes
	ch <- m.errors
}

// Collect implements prometheus.Collector.
func (m *collector) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Stats()
	ch <- prometheus.MustNewConstMetric(m.roundTrips, prometheus.CounterValue, float64(s.RoundTrips))
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.CounterValue, float64(s.BytesSent), "sent")
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.CounterValue, float64(s.BytesReceived), "received")
	ch <- prometheus.MustNewConstMetric(m.errors, prometheus.CounterValue, float64(s.Errors))
}
