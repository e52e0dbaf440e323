package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/redisconn"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// BenchmarkHeartbeat measures one heartbeat: one heartbeatScript round trip
// (EVALSHA) refreshing the key, zset score and info and renewing the lease.
func BenchmarkHeartbeat(b *testing.B) {
	addr := redisserver.Start(b)
	client := newClient(b, addr)
	hook := redisconn.NewCounter(nil)
	hook.Instrument(client)
	// A long TTL keeps the loops quiet during the benchmark.
	m, _, err := Join(context.Background(), client, "bench", Options{
		Self: Member{Node: "a", Boot: NewBootID(), APIURL: "http://10.0.0.1:8080", SIPAddr: "10.0.0.1:5060"},
		TTL:  time.Hour,
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Close() })
	m.beat() // loads the script
	require.True(b, m.IsLeader())
	before := hook.Stats().RoundTrips
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.beat()
	}
	b.StopTimer()
	b.ReportMetric(float64(hook.Stats().RoundTrips-before)/float64(b.N), "round_trips/op")
	require.Equal(b, 0.0, testutil.ToFloat64(m.met.failures), "heartbeat failures")
}
