package redisconn

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

func TestCounterRoundTripsAndBytes(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	ctr := NewCounter(nil)
	c := open(t, "redis://"+addr, Options{Counter: ctr})
	require.NoError(t, c.Set(ctx, "k", strings.Repeat("x", 100), 0).Err())

	const n, m = 20, 15
	pipeline := func() {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range m {
				p.Set(ctx, fmt.Sprintf("p%d", i), strings.Repeat("y", 50), 0)
			}
			return nil
		})
		require.NoError(t, err)
	}
	// Warm up: the pool and the pipeline pool dial their connections,
	// whose handshakes (HELLO) are round trips too.
	require.NoError(t, c.Get(ctx, "k").Err())
	pipeline()

	start := ctr.Stats()
	prev := start
	for range n {
		require.NoError(t, c.Get(ctx, "k").Err())
		cur := ctr.Stats()
		assert.Greater(t, cur.BytesSent, prev.BytesSent, "each GET sends bytes")
		assert.GreaterOrEqual(t, cur.BytesReceived-prev.BytesReceived, int64(100), "each GET receives the value")
		prev = cur
	}
	pipeline()
	end := ctr.Stats()
	assert.GreaterOrEqual(t, end.BytesSent-prev.BytesSent, int64(m*50), "the pipeline sends every value")
	assert.Greater(t, end.BytesReceived, prev.BytesReceived)

	d := end.Sub(start)
	assert.Equal(t, int64(n+1), d.RoundTrips, "N GETs and one pipeline of M commands")
	assert.Zero(t, d.Errors)
}

func TestCounterConcurrent(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	ctr := &Counter{}
	const workers, each, pool = 8, 50, 8
	c := open(t, "redis://"+addr, Options{Counter: ctr, PoolSize: pool})
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	// The handshake of a connection, in round trips: the first command
	// dialed one.
	handshake := ctr.Stats().RoundTrips - 1
	require.Positive(t, handshake, "HELLO at least")

	before := ctr.Stats()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				assert.NoError(t, c.Get(ctx, "k").Err())
			}
		})
	}
	wg.Wait()
	d := ctr.Stats().Sub(before)
	// Every GET is counted; the pool may have dialed up to pool-1 more
	// connections, each with its handshake.
	assert.GreaterOrEqual(t, d.RoundTrips, int64(workers*each))
	assert.LessOrEqual(t, d.RoundTrips, int64(workers*each)+handshake*(pool-1))
	assert.GreaterOrEqual(t, d.BytesReceived, int64(workers*each*len("$1\r\nv\r\n")))
	assert.Zero(t, d.Errors)
}

func TestCounterErrors(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	ctr := &Counter{}
	c := open(t, "redis://"+addr, Options{Counter: ctr})
	require.NoError(t, c.LPush(ctx, "list", "a").Err())

	// A missing key is not an error.
	require.ErrorIs(t, c.Get(ctx, "missing").Err(), redis.Nil)
	assert.Zero(t, ctr.Stats().Errors)

	// A command error is.
	require.Error(t, c.Get(ctx, "list").Err()) // WRONGTYPE
	assert.Equal(t, int64(1), ctr.Stats().Errors)

	// Each failed command of a pipeline is.
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "list")
		p.Get(ctx, "missing")
		p.Incr(ctx, "list")
		p.Set(ctx, "ok", 1, 0)
		return nil
	})
	require.Error(t, err)
	assert.Equal(t, int64(3), ctr.Stats().Errors)

	// NOSCRIPT, which go-redis answers by sending the script: two round
	// trips, no error.
	before := ctr.Stats()
	require.NoError(t, redis.NewScript(`return 1`).Run(ctx, c, nil).Err())
	d := ctr.Stats().Sub(before)
	assert.Equal(t, int64(2), d.RoundTrips, "EVALSHA then EVAL")
	assert.Zero(t, d.Errors)

	// A blocking command counts once, when it is issued.
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	before = ctr.Stats()
	done := make(chan error, 1)
	go func() {
		done <- c.XRead(ctx, &redis.XReadArgs{Streams: []string{"stream", "$"}, Block: 0}).Err()
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(admin.Info(ctx, "clients").Val(), "blocked_clients:1\r")
	}, 10*time.Second, 5*time.Millisecond, "XREAD blocks")
	assert.Equal(t, int64(1), ctr.Stats().Sub(before).RoundTrips, "counted while it waits")
	require.NoError(t, admin.XAdd(ctx, &redis.XAddArgs{Stream: "stream", Values: []string{"f", "v"}}).Err())
	require.NoError(t, <-done)
	d = ctr.Stats().Sub(before)
	assert.Equal(t, int64(1), d.RoundTrips)
	assert.Zero(t, d.Errors)

	// A timeout is a failure; a cancellation is not.
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	before = ctr.Stats()
	err = c.XRead(tctx, &redis.XReadArgs{Streams: []string{"stream", "$"}, Block: 0}).Err()
	require.Error(t, err)
	assert.Equal(t, int64(1), ctr.Stats().Sub(before).Errors)

	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	before = ctr.Stats()
	require.Error(t, c.Get(cctx, "ok").Err())
	assert.Zero(t, ctr.Stats().Sub(before).Errors)
}

func TestCounterPubSubBytes(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	ctr := &Counter{}
	c := open(t, "redis://"+addr, Options{Counter: ctr})
	publisher := redis.NewClient(&redis.Options{Addr: addr})
	defer publisher.Close()

	before := ctr.Stats()
	sub := c.Subscribe(ctx, "events")
	defer sub.Close()
	_, err := sub.Receive(ctx) // the subscription confirmation
	require.NoError(t, err)
	afterSub := ctr.Stats()
	assert.Greater(t, afterSub.BytesSent, before.BytesSent, "SUBSCRIBE is counted")

	payload := strings.Repeat("z", 64<<10)
	require.NoError(t, publisher.Publish(ctx, "events", payload).Err())
	msg, err := sub.ReceiveMessage(ctx)
	require.NoError(t, err)
	require.Len(t, msg.Payload, len(payload))
	assert.GreaterOrEqual(t, ctr.Stats().BytesReceived-afterSub.BytesReceived, int64(len(payload)),
		"the message is counted")
}

func TestCounterMetrics(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	reg := prometheus.NewRegistry()
	ctr := NewCounter(reg)
	c := open(t, "redis://"+addr, Options{Counter: ctr})
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Error(t, c.Incr(ctx, "k").Err())

	s := ctr.Stats()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		require.Equal(t, dto.MetricType_COUNTER, mf.GetType(), mf.GetName())
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	assert.Equal(t, map[string]float64{
		"callcore_redis_round_trips_total":               float64(s.RoundTrips),
		"callcore_redis_bytes_total{direction=sent}":     float64(s.BytesSent),
		"callcore_redis_bytes_total{direction=received}": float64(s.BytesReceived),
		"callcore_redis_errors_total":                    float64(s.Errors),
	}, got)
	assert.Equal(t, int64(1), s.Errors)
	assert.GreaterOrEqual(t, s.RoundTrips, int64(2))

	assert.Panics(t, func() { NewCounter(reg) }, "one Counter per registry")
}

func TestCounterInstrument(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	ctr := &Counter{}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctr.Instrument(c)

	require.NoError(t, c.Set(ctx, "k", strings.Repeat("v", 1000), 0).Err())
	before := ctr.Stats()
	for range 5 {
		require.NoError(t, c.Get(ctx, "k").Err())
	}
	d := ctr.Stats().Sub(before)
	assert.Equal(t, int64(5), d.RoundTrips)
	assert.GreaterOrEqual(t, d.BytesReceived, int64(5000), "the dial hook counts bytes")
	assert.Positive(t, d.BytesSent)
}

func TestCounterNil(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	var ctr *Counter
	assert.Equal(t, Stats{}, ctr.Stats())
	c := open(t, "redis://"+addr, Options{Counter: ctr})
	ctr.Instrument(c)
	ctr.Instrument(nil)
	require.NoError(t, c.Ping(ctx).Err())
	assert.Equal(t, Stats{}, ctr.Stats())
}

// TestCountingConnSyscall: the wrapper keeps syscall.Conn exactly when the
// wrapped connection has it, for go-redis's health check of idle
// connections.
func TestCountingConnSyscall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer tcp.Close()

	ctr := &Counter{}
	w := ctr.wrap(tcp)
	_, ok := w.(syscall.Conn)
	assert.True(t, ok, "a TCP connection keeps syscall.Conn")
	assert.Same(t, tcp, w.(interface{ NetConn() net.Conn }).NetConn())

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w = ctr.wrap(a)
	_, ok = w.(syscall.Conn)
	assert.False(t, ok, "a connection without a descriptor does not gain one")

	go func() {
		buf := make([]byte, 3)
		_, _ = b.Read(buf)
		_, _ = b.Write([]byte("hello"))
	}()
	n, err := w.Write([]byte("abc"))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	buf := make([]byte, 5)
	n, err = w.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, Stats{BytesSent: 3, BytesReceived: int64(n)}, ctr.Stats())
}
