package redisconn

import (
	"context"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// benchGet runs GETs of a 100-byte value against a real redis-server,
// through a client opened with o.
func benchGet(b *testing.B, o Options) {
	addr := redisserver.Start(b)
	c, err := Open("redis://"+addr, o)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "bench", string(make([]byte, 100)), 0).Err(); err != nil {
		b.Fatal(err)
	}
	if err := c.Get(ctx, "bench").Err(); err != nil { // dial before timing
		b.Fatal(err)
	}
	before := o.Counter.Stats()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Get(ctx, "bench").Err(); err != nil {
			b.Fatal(err)
		}
	}
	if o.Counter != nil {
		d := o.Counter.Stats().Sub(before)
		n := float64(b.N)
		b.ReportMetric(float64(d.RoundTrips)/n, "roundtrips/op")
		b.ReportMetric(float64(d.BytesSent)/n, "sent-B/op")
		b.ReportMetric(float64(d.BytesReceived)/n, "recv-B/op")
	}
}

// BenchmarkPlainGet is a GET through a client without a Counter.
func BenchmarkPlainGet(b *testing.B) { benchGet(b, Options{}) }

// BenchmarkCountedGet is a GET through a client with a Counter: compare
// with BenchmarkPlainGet for the cost of counting.
func BenchmarkCountedGet(b *testing.B) { benchGet(b, Options{Counter: NewCounter(nil)}) }

// BenchmarkHookOverhead is the counting hook around a command that does
// nothing: the cost of counting alone, without the network's noise.
func BenchmarkHookOverhead(b *testing.B) {
	ctr := &Counter{}
	h := hook{c: ctr, roundTrips: true, errors: true}.ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "k")
	b.ReportAllocs()
	for b.Loop() {
		_ = h(ctx, cmd)
	}
}

// BenchmarkHookOverheadParallel is BenchmarkHookOverhead from every CPU at
// once, sharing one Counter.
func BenchmarkHookOverheadParallel(b *testing.B) {
	ctr := &Counter{}
	h := hook{c: ctr, roundTrips: true, errors: true}.ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		cmd := redis.NewStringCmd(ctx, "get", "k")
		for pb.Next() {
			_ = h(ctx, cmd)
		}
	})
}

// nopConn is a net.Conn whose reads and writes do nothing.
type nopConn struct{ net.Conn }

func (nopConn) Read(p []byte) (int, error)  { return len(p), nil }
func (nopConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkCountingConn is one counted Write and Read of 64 bytes over a
// connection that does nothing.
func BenchmarkCountingConn(b *testing.B) {
	ctr := &Counter{}
	c := ctr.wrap(nopConn{})
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Write(buf)
		_, _ = c.Read(buf)
	}
}
