package bus

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// benchPayload is the 64-byte payload of the round-trip benchmarks.
var benchPayload = bytes.Repeat([]byte("p"), 64)

// benchReply answers with the payload.
func benchReply(_ context.Context, _ string, p []byte) ([]byte, error) { return p, nil }

// redisPair starts buses a and b on one redis-server.
func redisPair(b *testing.B) (Bus, Bus) {
	addr := redisserver.Start(b)
	ctx := context.Background()
	join := func(node string) Bus {
		bus, err := NewRedis(ctx, newClient(b, addr), "bench", Options{Node: node, Handler: benchReply, MaxInflight: 4096})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close(context.Background()) })
		return bus
	}
	return join("a"), join("b")
}

// hubPair joins a and b to a fresh Hub.
func hubPair(b *testing.B) (Bus, Bus) {
	h := NewHub()
	join := func(node string) Bus {
		bus, err := h.Join(Options{Node: node, Handler: benchReply, MaxInflight: 4096})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close(context.Background()) })
		return bus
	}
	return join("a"), join("b")
}

// roundTrips runs b.N serial requests from a to b and reports the p50 and
// p99 latencies in µs.
func roundTrips(b *testing.B, a Bus) {
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := a.Request(ctx, "b", "bench", benchPayload)
		durations = append(durations, time.Since(start))
		if err != nil || len(out) != len(benchPayload) {
			b.Fatalf("%d bytes, %v", len(out), err)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// parallel runs requests from a to b from GOMAXPROCS*4 goroutines.
func parallel(b *testing.B, a Bus) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Request(ctx, "b", "bench", benchPayload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkRedisRoundTrip(b *testing.B) {
	a, _ := redisPair(b)
	roundTrips(b, a)
}

func BenchmarkRedisParallel(b *testing.B) {
	a, _ := redisPair(b)
	parallel(b, a)
}

func BenchmarkHub(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		a, _ := hubPair(b)
		roundTrips(b, a)
	})
	b.Run("parallel", func(b *testing.B) {
		a, _ := hubPair(b)
		parallel(b, a)
	})
}

func BenchmarkWire(b *testing.B) {
	e := envelope{typ: typeRequest, id: reqID{1}, deadline: time.Now().UnixMilli(), from: "node-1", kind: "call.update", body: benchPayload}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = encode(&e)
		}
	})
	b.Run("decode", func(b *testing.B) {
		msg := string(encode(&e))
		b.ReportAllocs()
		for range b.N {
			if _, err := decode(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
