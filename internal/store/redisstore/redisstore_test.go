package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/storetest"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// newClient returns a client for addr closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestConformance runs the suite against one redis-server; every store gets
// its own prefix, which also exercises prefix isolation.
func TestConformance(t *testing.T) {
	client := newClient(t, redisserver.Start(t))
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		return New(client, fmt.Sprintf("test%d", n.Add(1)))
	})
}

func TestConformanceOpen(t *testing.T) {
	addr := redisserver.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open("redis://"+addr+"/0", fmt.Sprintf("test%d", n.Add(1)))
		require.NoError(t, err)
		return s
	})
}

func TestPrefixIsolation(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	a, b := New(client, "callcore:eu"), New(client, "callcore:us")

	require.NoError(t, a.AssignNumbers(ctx, "app", store.CapabilityVoice, []string{"+12025550101"}))
	require.NoError(t, a.SetCallbacks(ctx, "app", store.Callbacks{Primary: "https://eu.example/"}))
	require.NoError(t, a.CreateCall(ctx, store.CallRecord{ID: "call-1", Data: []byte("eu")}, time.Hour))

	ns, err := b.ListNumbers(ctx)
	require.NoError(t, err)
	require.Empty(t, ns)
	_, err = b.GetCallbacks(ctx, "app")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.GetCall(ctx, "call-1")
	require.ErrorIs(t, err, store.ErrNotFound)

	// The same names live side by side.
	require.NoError(t, b.AssignNumbers(ctx, "other", store.CapabilitySMS, []string{"+12025550101"}))
	require.NoError(t, b.CreateCall(ctx, store.CallRecord{ID: "call-1", Data: []byte("us")}, time.Hour))
	rec, err := a.GetCall(ctx, "call-1")
	require.NoError(t, err)
	require.Equal(t, []byte("eu"), rec.Data)
	n, err := a.GetNumber(ctx, "+12025550101")
	require.NoError(t, err)
	require.Equal(t, "app", n.AppKey)
}

func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	s := New(client, "callcore:eu", WithClock(func() time.Time { return time.Unix(1_700_000_000, 5) }))
	require.NoError(t, s.AssignNumbers(ctx, "app", store.CapabilityVoice, []string{"+12025550101"}))
	require.NoError(t, s.SetCallbacks(ctx, "app", store.Callbacks{Primary: "https://p.example/"}))
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "c1", Owner: "node-1", Data: []byte("d"), Live: true}, time.Minute))

	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"{callcore:eu}:numbers", "{callcore:eu}:callbacks", "callcore:eu:call:{c1}", "{callcore:eu}:node:node-1:calls"}, keys)
	require.Equal(t, []string{"c1"}, client.SMembers(ctx, "{callcore:eu}:node:node-1:calls").Val())

	require.Equal(t, map[string]string{"+12025550101": `{"app":"app","cap":"voice"}`},
		client.HGetAll(ctx, "{callcore:eu}:numbers").Val())
	require.Equal(t, map[string]string{"app": `{"primary":"https://p.example/"}`},
		client.HGetAll(ctx, "{callcore:eu}:callbacks").Val())
	require.Equal(t, map[string]string{"ver": "1", "owner": "node-1", "data": "d", "updated": "1700000000000000005", "live": "1"},
		client.HGetAll(ctx, "callcore:eu:call:{c1}").Val())
	ttl := client.PTTL(ctx, "callcore:eu:call:{c1}").Val()
	require.Greater(t, ttl, 59*time.Second)
	require.LessOrEqual(t, ttl, time.Minute)

	// Sub-millisecond TTLs round up instead of deleting the key at once.
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "c2"}, time.Microsecond))
	require.Equal(t, int64(1), ttlMillis(time.Microsecond))
	require.Equal(t, int64(1500), ttlMillis(1500*time.Millisecond))
}

func TestCorruptValuesAreErrors(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	s := New(client, "p")
	require.NoError(t, client.HSet(ctx, "{p}:numbers", "+1", "not json").Err())
	require.NoError(t, client.HSet(ctx, "{p}:callbacks", "app", "not json").Err())
	require.NoError(t, client.HSet(ctx, "p:call:{c}", "ver", "x", "updated", "1").Err())

	_, err := s.ListNumbers(ctx)
	require.ErrorContains(t, err, "decode number +1")
	require.ErrorContains(t, s.AssignNumbers(ctx, "app", store.CapabilityVoice, []string{"+1"}), "decode number +1")
	_, err = s.GetCallbacks(ctx, "app")
	require.ErrorContains(t, err, "decode callbacks of app")
	_, err = s.GetCall(ctx, "c")
	require.ErrorContains(t, err, "corrupt version")
}

func TestOpen(t *testing.T) {
	addr := redisserver.Start(t)
	for _, tc := range []struct {
		name, url, prefix, wantErr string
	}{
		{"bad scheme", "http://" + addr, "p", "invalid URL scheme"},
		{"unparsable url keeps the password out", "redis://user:s3cret@[::1", "p", "invalid redis url"},
		{"bad db", "redis://" + addr + "/x", "p", "invalid database number"},
		{"unknown parameter", "redis://" + addr + "/?bogus=1", "p", "bogus"},
		{"brace in prefix", "redis://" + addr, "a{b}", "brace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.url, tc.prefix)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "s3cret")
		})
	}

	t.Run("CloseClosesOwnedClient", func(t *testing.T) {
		s, err := Open("redis://"+addr+"?dial_timeout=1s", "")
		require.NoError(t, err)
		require.Equal(t, time.Second, s.client.(*redis.Client).Options().DialTimeout)
		require.Equal(t, defaultReadTimeout, s.client.(*redis.Client).Options().ReadTimeout)
		require.NoError(t, s.Ping(context.Background()))
		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "Close is idempotent")
		require.ErrorIs(t, s.Ping(context.Background()), redis.ErrClosed)
	})

	t.Run("CloseLeavesForeignClientOpen", func(t *testing.T) {
		client := newClient(t, addr)
		s := New(client, "")
		require.NoError(t, s.Close())
		require.NoError(t, client.Ping(context.Background()).Err())
		require.NoError(t, s.Ping(context.Background()))
	})

	t.Run("DefaultPrefix", func(t *testing.T) {
		client := newClient(t, addr)
		s := New(client, "")
		require.NoError(t, s.SetCallbacks(context.Background(), "app", store.Callbacks{Primary: "x"}))
		require.Equal(t, int64(1), client.Exists(context.Background(), "{"+DefaultPrefix+"}:callbacks").Val())
	})
}

func TestServerDown(t *testing.T) {
	srv := redisserver.StartServer(t)
	s, err := Open("redis://"+srv.Addr(), "p")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "c"}, time.Hour))

	require.NoError(t, srv.Stop())
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	require.Error(t, s.Ping(ctx2))
	_, err = s.GetCall(ctx2, "c")
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrNotFound, "an unreachable server is not a missing record")

	srv.Restart(t)
	require.Eventually(t, func() bool { return s.Ping(ctx) == nil }, 5*time.Second, 20*time.Millisecond,
		"the store reconnects after a restart")
	_, err = s.GetCall(ctx, "c")
	require.ErrorIs(t, err, store.ErrNotFound, "the restarted server is empty (no persistence)")
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "c"}, time.Hour))
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	srv := redisserver.StartServer(t)
	s, err := Open("redis://"+srv.Addr(), "p", WithMetrics(NewMetrics(reg)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "c"}, time.Hour))
	_, err = s.GetCall(ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.UpdateCall(ctx, "c", time.Hour, func(*store.CallRecord) error { return fmt.Errorf("caller says no") })
	require.Error(t, err)
	// Force one lost race: fn bumps the version behind the store's back once.
	bumped := false
	_, err = s.UpdateCall(ctx, "c", time.Hour, func(*store.CallRecord) error {
		if !bumped {
			bumped = true
			_, err := s.UpdateCall(ctx, "c", time.Hour, func(*store.CallRecord) error { return nil })
			return err
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, srv.Stop())
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = s.GetCall(ctx2, "c")
	require.Error(t, err)

	got := gather(t, reg)
	require.Equal(t, 1.0, got[`callcore_store_operation_duration_seconds_count{op="create_call"}`])
	require.Equal(t, 2.0, got[`callcore_store_operation_duration_seconds_count{op="get_call"}`])
	require.Equal(t, 3.0, got[`callcore_store_operation_duration_seconds_count{op="update_call"}`])
	require.Equal(t, 0.0, got[`callcore_store_operation_errors_total{op="update_call"}`], "fn errors are the caller's")
	require.Equal(t, 1.0, got[`callcore_store_operation_errors_total{op="get_call"}`], "only the outage counts, not the miss")
	require.Equal(t, 1.0, got[`callcore_store_cas_retries_total{op="update_call"}`])
	require.Contains(t, got, `callcore_store_operation_errors_total{op="assign_numbers"}`, "labels are pre-initialised")
}

// gather flattens counters and histogram counts of reg to "name{labels}" →
// value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			ls := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()+ls] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[mf.GetName()+"_count"+ls] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func BenchmarkUpdateCall(b *testing.B) {
	ctx := context.Background()
	client := newClient(b, redisserver.Start(b))
	s := New(client, "bench")
	require.NoError(b, s.CreateCall(ctx, store.CallRecord{ID: "call-1", Data: make([]byte, 512)}, time.Hour))
	fn := func(r *store.CallRecord) error { r.Data[0]++; return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UpdateCall(ctx, "call-1", time.Hour, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// TestScriptsSurviveFlush: scripts run inside pipelines, where go-redis
// cannot fall back from EVALSHA to EVAL; a restarted or flushed server
// (NOSCRIPT) must not break call writes.
func TestScriptsSurviveFlush(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	s := New(client, "p")
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "a", Owner: "n", Live: true}, time.Minute))
	require.NoError(t, client.ScriptFlush(ctx).Err())
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "b", Owner: "n", Live: true}, time.Minute))
	require.NoError(t, client.ScriptFlush(ctx).Err())
	v, err := s.ReplaceCall(ctx, store.CallRecord{ID: "a", Owner: "n", Version: 1, Live: true}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, int64(2), v)
	require.NoError(t, client.ScriptFlush(ctx).Err())
	_, err = s.UpdateCall(ctx, "b", time.Minute, func(r *store.CallRecord) error { r.Live = false; return nil })
	require.NoError(t, err)
	ids, err := s.NodeCalls(ctx, "n")
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids)
}
