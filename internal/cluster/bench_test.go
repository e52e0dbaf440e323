package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// countHook counts the commands and pipelines sent: one round trip each.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkHeartbeat measures one heartbeat: one heartbeatScript round trip
// (EVALSHA) refreshing the key, zset score and info and renewing the lease.
func BenchmarkHeartbeat(b *testing.B) {
	addr := redisserver.Start(b)
	client := newClient(b, addr)
	hook := &countHook{}
	client.AddHook(hook)
	// A long TTL keeps the loops quiet during the benchmark.
	m, _, err := Join(context.Background(), client, "bench", Options{
		Self: Member{Node: "a", Boot: NewBootID(), APIURL: "http://10.0.0.1:8080", SIPAddr: "10.0.0.1:5060"},
		TTL:  time.Hour,
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Close() })
	m.beat() // loads the script
	require.True(b, m.IsLeader())
	before := hook.n.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.beat()
	}
	b.StopTimer()
	b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "round_trips/op")
	require.Equal(b, 0.0, testutil.ToFloat64(m.met.failures), "heartbeat failures")
}
