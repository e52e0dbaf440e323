package outbox

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/redisconn"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// benchEntry is a DiCE-sized event.
func benchEntry(i int64) Entry {
	return Entry{
		ID:     "evt-" + strconv.FormatInt(i, 10),
		CallID: "call-" + strconv.FormatInt(i, 10),
		AppKey: "bench-app",
		Kind:   KindDiCE,
		URL:    "https://backend.example/callbacks",
		Body:   benchBody,
	}
}

var benchBody = []byte(`{"event":"dice","callid":"4398599d1ba84ef3bde0a82dfb61abed","timestamp":"2026-11-21T10:00:00Z",` +
	`"version":1,"custom":"","applicationKey":"bench-app","result":"ANSWERED","reason":"CALLERHANGUP",` +
	`"from":{"type":"number","endpoint":"+12025550101"},"to":{"type":"number","endpoint":"+12025550102"},` +
	`"duration":42,"debit":{"currencyId":"USD","amount":0.042},"userRate":{"currencyId":"USD","amount":0.01}}`)

// BenchmarkRedisEnqueueDeliver measures end-to-end throughput: b.N events
// enqueued by 32 goroutines per CPU, each delivered (to a no-op backend) and
// acknowledged, against a real redis-server. It reports events/s and the
// Redis round trips per event (one per command, one per pipeline).
func BenchmarkRedisEnqueueDeliver(b *testing.B) {
	ctx := context.Background()
	client := newClient(b, redisserver.Start(b))
	hook := redisconn.NewCounter(nil)
	hook.Instrument(client)
	var delivered atomic.Int64
	r, err := NewRedis(ctx, client, "bench", Options{Consumer: "n/b", ReadBlock: time.Second,
		Deliver: func(context.Context, Entry) error { delivered.Add(1); return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Close(ctx) }()

	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	rt0 := hook.Stats().RoundTrips
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := r.Enqueue(ctx, benchEntry(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for delivered.Load() < int64(b.N) || r.Stats().Unacked > 0 {
		time.Sleep(200 * time.Microsecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(hook.Stats().RoundTrips-rt0)/float64(b.N), "roundtrips/event")
}

// BenchmarkRedisEnqueueDeliverSerial measures one event at a time:
// enqueue, wait for its delivery and acknowledgement. ns/op is the
// end-to-end latency on an idle system.
func BenchmarkRedisEnqueueDeliverSerial(b *testing.B) {
	ctx := context.Background()
	client := newClient(b, redisserver.Start(b))
	hook := redisconn.NewCounter(nil)
	hook.Instrument(client)
	done := make(chan struct{}, 1)
	r, err := NewRedis(ctx, client, "bench", Options{Consumer: "n/b", ReadBlock: time.Second,
		Deliver: func(context.Context, Entry) error { done <- struct{}{}; return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Close(ctx) }()
	b.ReportAllocs()
	rt0 := hook.Stats().RoundTrips
	b.ResetTimer()
	for i := range b.N {
		if err := r.Enqueue(ctx, benchEntry(int64(i))); err != nil {
			b.Fatal(err)
		}
		<-done
		for r.Stats().Unacked > 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(hook.Stats().RoundTrips-rt0)/float64(b.N), "roundtrips/event")
}

// BenchmarkMemoryEnqueueDeliver is the in-process baseline.
func BenchmarkMemoryEnqueueDeliver(b *testing.B) {
	ctx := context.Background()
	var delivered atomic.Int64
	mo := NewMemory(Options{Deliver: func(context.Context, Entry) error { delivered.Add(1); return nil }})
	defer func() { _ = mo.Close(ctx) }()
	var seq atomic.Int64
	b.ReportAllocs()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := mo.Enqueue(ctx, benchEntry(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for delivered.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkRedisEnqueueDeliverPerCall is BenchmarkRedisEnqueueDeliver with
// five events per call, so that the per-call FIFO holds events back: it
// reports events/s, round trips per event and the most entries held
// waiting behind an earlier event of their call.
func BenchmarkRedisEnqueueDeliverPerCall(b *testing.B) {
	ctx := context.Background()
	client := newClient(b, redisserver.Start(b))
	hook := redisconn.NewCounter(nil)
	hook.Instrument(client)
	var delivered atomic.Int64
	r, err := NewRedis(ctx, client, "bench", Options{Consumer: "n/b", ReadBlock: time.Second,
		Deliver: func(context.Context, Entry) error { delivered.Add(1); return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Close(ctx) }()

	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	rt0 := hook.Stats().RoundTrips
	start := time.Now()
	var waitingMax atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample how many entries wait behind their call
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			r.eng.mu.Lock()
			w := int64(len(r.eng.pending) - len(r.eng.queue) - r.eng.inFlight)
			r.eng.mu.Unlock()
			if w > waitingMax.Load() {
				waitingMax.Store(w)
			}
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			e := benchEntry(i)
			e.CallID = "call-" + strconv.FormatInt(i/5, 10)
			if err := r.Enqueue(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for delivered.Load() < int64(b.N) || r.Stats().Unacked > 0 {
		time.Sleep(200 * time.Microsecond)
	}
	b.StopTimer()
	close(stop)
	<-sampled
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(hook.Stats().RoundTrips-rt0)/float64(b.N), "roundtrips/event")
	b.ReportMetric(float64(waitingMax.Load()), "max-waiting")
}
