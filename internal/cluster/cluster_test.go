package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

func TestMembersAndLive(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	ctx := context.Background()
	b, prev := joinNode(t, addr, "b", cfg{})
	require.Nil(t, prev)
	a, prev := joinNode(t, addr, "a", cfg{})
	require.Nil(t, prev)

	ms, err := b.Members(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, memberNodes(ms))
	assert.Equal(t, a.Self().Boot, ms[0].Boot)
	assert.Equal(t, "http://a:8080", ms[0].APIURL)
	assert.Equal(t, "a:5060", ms[0].SIPAddr)
	assert.False(t, ms[0].StartedAt.IsZero())
	assert.WithinDuration(t, time.Now(), ms[0].LastSeen, testTTL)
	assert.Equal(t, 2.0, testutil.ToFloat64(b.met.members))

	for _, tc := range []struct {
		node string
		live bool
	}{{"a", true}, {"b", true}, {"c", false}, {"", false}} {
		live, err := a.Live(ctx, tc.node)
		require.NoError(t, err)
		assert.Equal(t, tc.live, live, tc.node)
	}

	// Heartbeats keep LastSeen moving and the reaper scans count members.
	first := a.Self().LastSeen
	require.Eventually(t, func() bool { return a.Self().LastSeen.After(first) }, 5*testTTL, 10*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(a.met.members) == 2 }, 5*testTTL, 10*time.Millisecond)
	assert.Equal(t, 1.0, testutil.ToFloat64(a.met.redisUp))
}

func TestSingleLeader(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	a, _ := joinNode(t, addr, "a", cfg{})
	b, _ := joinNode(t, addr, "b", cfg{})
	c, _ := joinNode(t, addr, "c", cfg{})
	l := waitOneLeader(t, a, b, c)
	require.Never(t, func() bool { return len(leaders(a, b, c)) > 1 }, 2*testTTL, 5*time.Millisecond)
	assert.Equal(t, []string{l.name}, leaders(a, b, c), "leadership is stable while the leader lives")
	assert.Equal(t, 1.0, testutil.ToFloat64(l.met.leader))
}

// TestCrashReapedOnce is the test target: a member crashes during
// calls; within 2 TTLs one survivor runs OnDead for it, once.
func TestCrashReapedOnce(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	a, _ := joinNode(t, addr, "a", cfg{rec: rec})
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	c, _ := joinNode(t, addr, "c", cfg{rec: rec})
	waitOneLeader(t, a, b, c)
	// Let c heartbeat a few times so that its last heartbeat is not Join.
	joined := c.Self().LastSeen
	require.Eventually(t, func() bool { return c.Self().LastSeen.Sub(joined) > testTTL/2 }, 5*testTTL, 10*time.Millisecond)

	closed := time.Now()
	require.NoError(t, c.Close())
	last := c.Self()
	require.Eventually(t, func() bool { return len(rec.of("c")) == 1 }, 4*testTTL, 5*time.Millisecond,
		"no OnDead for the crashed member")
	d := rec.of("c")[0]
	latency := d.at.Sub(closed)
	t.Logf("crash -> OnDead: %v (TTL %v)", latency, testTTL)
	assert.Less(t, latency, 2*testTTL, "OnDead within 2 TTLs")
	assert.Contains(t, []string{"a", "b"}, d.by)
	assert.Equal(t, last.Boot, d.m.Boot)
	assert.False(t, d.m.Left)
	assert.Equal(t, "http://c:8080", d.m.APIURL)
	// LastSeen is c's last heartbeat (one in flight when Close cancelled it
	// may have landed: at most one interval later).
	assert.False(t, d.m.LastSeen.Before(last.LastSeen), "%v < %v", d.m.LastSeen, last.LastSeen)
	assert.LessOrEqual(t, d.m.LastSeen.Sub(last.LastSeen), testTTL/3+50*time.Millisecond)

	require.Never(t, func() bool { return rec.count() > 1 }, 2*testTTL, 10*time.Millisecond, "OnDead repeated")
	assert.Equal(t, 1.0, reapedTotal(causeDied, a, b))
	assert.Equal(t, 0.0, reapedTotal(causeLeft, a, b))

	ms, err := a.Members(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, memberNodes(ms))
	// Forgotten: neither in the zset nor in info; fenced.
	rc := newClient(t, addr)
	k, _ := newKeys("test")
	ctx := context.Background()
	assert.False(t, rc.HExists(ctx, k.info, "c").Val())
	assert.Equal(t, redis.Nil, rc.ZScore(ctx, k.nodes, "c").Err())
	assert.True(t, rc.SIsMember(ctx, k.fenced("c"), last.Boot).Val())
	ttl := rc.PTTL(ctx, k.fenced("c")).Val()
	assert.InDelta(t, float64(24*time.Hour), float64(ttl), float64(time.Minute))
}

func TestLeave(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	a, _ := joinNode(t, addr, "a", cfg{rec: rec})
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	waitOneLeader(t, a, b)
	ctx := context.Background()

	boot := b.Self().Boot
	left := time.Now()
	require.NoError(t, b.Leave(ctx))
	live, err := a.Live(ctx, "b")
	require.NoError(t, err)
	assert.False(t, live, "the heartbeat is removed at once")
	assert.False(t, b.IsLeader())

	require.Eventually(t, func() bool { return len(rec.of("b")) == 1 }, 2*testTTL, 5*time.Millisecond)
	d := rec.of("b")[0]
	t.Logf("leave -> OnDead: %v", d.at.Sub(left))
	assert.Less(t, d.at.Sub(left), testTTL, "OnDead quickly after Leave")
	assert.Equal(t, "a", d.by)
	assert.True(t, d.m.Left)
	assert.Equal(t, boot, d.m.Boot)
	assert.WithinDuration(t, left, d.m.LastSeen, testTTL)

	require.NoError(t, b.Leave(ctx), "idempotent")
	require.NoError(t, b.Close())
	require.Never(t, func() bool { return rec.count() > 1 }, testTTL, 10*time.Millisecond)
	assert.Equal(t, 1.0, reapedTotal(causeLeft, a))
	assert.Equal(t, 0.0, reapedTotal(causeDied, a))
	assert.Equal(t, []string{"a"}, leaders(a, b))
}

func TestLeaderCrashTakeover(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	a, _ := joinNode(t, addr, "a", cfg{rec: rec})
	require.Eventually(t, a.IsLeader, 5*testTTL, 5*time.Millisecond)
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	c, _ := joinNode(t, addr, "c", cfg{rec: rec})
	require.Eventually(t, func() bool { return b.Self().LastSeen.After(b.Self().StartedAt) }, 5*testTTL, 5*time.Millisecond)
	require.Equal(t, []string{"a"}, leaders(a, b, c))

	crashed := time.Now()
	a.crash() // kill -9: the lease is not released
	l := waitOneLeader(t, b, c)
	t.Logf("leader crash -> new leader %s: %v", l.name, time.Since(crashed))
	require.Eventually(t, func() bool { return len(rec.of("a")) == 1 }, 4*testTTL, 5*time.Millisecond)
	d := rec.of("a")[0]
	t.Logf("leader crash -> OnDead: %v", d.at.Sub(crashed))
	assert.Less(t, d.at.Sub(crashed), 2*testTTL)
	assert.Equal(t, l.name, d.by)
	require.Never(t, func() bool { return rec.count() > 1 }, testTTL, 10*time.Millisecond)
}

func TestRestartSameNodeID(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a1, prev := joinNode(t, addr, "a", cfg{rec: rec})
	require.Nil(t, prev)
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	waitOneLeader(t, a1, b)

	old := a1.Self()
	a1.crash() // kill -9 and a quick restart
	a2, prev := joinNode(t, addr, "a", cfg{rec: rec})
	require.NotNil(t, prev, "the previous incarnation is returned")
	assert.Equal(t, old.Boot, prev.Boot)
	assert.Equal(t, "a", prev.Node)
	assert.False(t, prev.Left)
	assert.False(t, prev.LastSeen.Before(old.LastSeen))
	assert.NotEqual(t, old.Boot, a2.Self().Boot)

	// Peers do not reap the old incarnation: the restarted process does.
	require.Never(t, func() bool { return rec.count() > 0 }, 3*testTTL, 10*time.Millisecond)
	ms, err := b.Members(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, memberNodes(ms))
	assert.Equal(t, a2.Self().Boot, ms[0].Boot)

	// A Join retried with the same boot (after an ambiguous failure)
	// returns the same previous incarnation.
	a2.crash()
	a3, prev3 := joinNode(t, addr, "a", cfg{rec: rec, boot: a2.Self().Boot})
	require.NotNil(t, prev3)
	assert.Equal(t, old.Boot, prev3.Boot)
	_ = a3
}

// TestZombieFencedByRestart: the old process was only cut off when its
// replacement joined; when it comes back it is fenced and does not take the
// node id back.
func TestZombieFencedByRestart(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a1, _ := joinNode(t, addr, "a", cfg{rec: rec})
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	waitOneLeader(t, a1, b)

	a1.pause(true)
	a2, prev := joinNode(t, addr, "a", cfg{rec: rec})
	require.NotNil(t, prev)
	a1.pause(false)
	select {
	case <-a1.fenced:
	case <-time.After(5 * testTTL):
		t.Fatal("the old process was not fenced")
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(a1.met.fenced))
	require.Never(t, func() bool {
		ms, err := b.Members(ctx)
		return err != nil || len(ms) != 2 || ms[0].Boot != a2.Self().Boot
	}, 2*testTTL, 20*time.Millisecond, "the zombie took the node id back")
	assert.Zero(t, rec.count())
	assert.Equal(t, 1, a1.log.count(slog.LevelWarn,
		"cluster: fenced; waiting for the node id's record to be released before registering again"))
	assert.Empty(t, a1.fenced, "OnFenced once")
}

func TestOnDeadErrorRetried(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	var failures atomic.Int32
	rec := newRecorder(t)
	rec.fail = func(m Member) error {
		if m.Node == "c" && failures.Add(1) <= 2 {
			return errors.New("store unavailable")
		}
		return nil
	}
	a, _ := joinNode(t, addr, "a", cfg{rec: rec})
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	c, _ := joinNode(t, addr, "c", cfg{rec: rec})
	waitOneLeader(t, a, b, c)
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return len(rec.of("c")) >= 3 }, 6*testTTL, 5*time.Millisecond)
	require.Never(t, func() bool { return len(rec.of("c")) > 3 }, 2*testTTL, 10*time.Millisecond)
	boot := c.Self().Boot
	for _, d := range rec.of("c") {
		assert.Equal(t, boot, d.m.Boot)
	}
	var errs float64
	for _, n := range []*node{a, b} {
		errs += testutil.ToFloat64(n.met.reapErrors)
	}
	assert.Equal(t, 2.0, errs)
	assert.Equal(t, 1.0, reapedTotal(causeDied, a, b))
}

func TestFencing(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a, _ := joinNode(t, addr, "a", cfg{rec: rec})
	b, _ := joinNode(t, addr, "b", cfg{rec: rec})
	waitOneLeader(t, a, b)

	old := b.Self()
	b.pause(true) // cut off from Redis long enough to be reaped
	require.Eventually(t, func() bool { return len(rec.of("b")) == 1 }, 5*testTTL, 5*time.Millisecond)
	d := rec.of("b")[0]
	assert.Equal(t, "a", d.by)
	assert.Equal(t, old.Boot, d.m.Boot)
	assert.Empty(t, b.fenced)

	b.pause(false)
	select {
	case <-b.fenced:
	case <-time.After(5 * testTTL):
		t.Fatal("no OnFenced")
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(b.met.fenced))
	// b registers again under a new boot and is not reaped again.
	require.Eventually(t, func() bool {
		ms, err := a.Members(ctx)
		return err == nil && len(ms) == 2 && ms[1].Boot == b.Self().Boot
	}, 5*testTTL, 10*time.Millisecond)
	assert.NotEqual(t, old.Boot, b.Self().Boot)
	require.Never(t, func() bool { return rec.count() > 1 }, 2*testTTL, 10*time.Millisecond)
	assert.Empty(t, b.fenced, "OnFenced once")
	// The new incarnation can leave and be handed over normally.
	require.NoError(t, b.Leave(ctx))
	require.Eventually(t, func() bool { return len(rec.of("b")) == 2 }, 3*testTTL, 5*time.Millisecond)
	assert.True(t, rec.of("b")[1].m.Left)
	assert.NotEqual(t, old.Boot, rec.of("b")[1].m.Boot)
}

// TestRedisRestart: after a restart without persistence every key is gone;
// live members register again and nobody is reaped.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redisserver.StartServer(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a, _ := joinNode(t, srv.Addr(), "a", cfg{rec: rec})
	b, _ := joinNode(t, srv.Addr(), "b", cfg{rec: rec})
	c, _ := joinNode(t, srv.Addr(), "c", cfg{rec: rec})
	nodes := []*node{a, b, c}
	waitOneLeader(t, nodes...)

	require.NoError(t, srv.Stop())
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if testutil.ToFloat64(n.met.redisUp) != 0 {
				return false
			}
		}
		return true
	}, 3*testTTL, 5*time.Millisecond)
	_, err := a.Members(ctx)
	require.Error(t, err)
	time.Sleep(testTTL) // an outage longer than the TTL (not an assertion)
	require.Len(t, leaders(nodes...), 0, "the lease lapses when heartbeats fail")
	srv.Restart(t)

	require.Eventually(t, func() bool {
		ms, err := a.Members(ctx)
		return err == nil && len(ms) == 3
	}, 5*testTTL, 10*time.Millisecond)
	waitOneLeader(t, nodes...)
	require.Never(t, func() bool { return rec.count() > 0 }, 3*testTTL, 10*time.Millisecond, "OnDead after a Redis restart")
	for _, n := range nodes {
		assert.Equal(t, 1.0, testutil.ToFloat64(n.met.redisUp), n.name)
		assert.GreaterOrEqual(t, testutil.ToFloat64(n.met.failures), 1.0, n.name)
		assert.Equal(t, 1, n.log.count(slog.LevelWarn, "cluster: heartbeat failed; Redis unreachable"), n.name)
		assert.Equal(t, 1, n.log.count(slog.LevelInfo, "cluster: heartbeat recovered; Redis reachable again"), n.name)
		assert.Equal(t, 1, n.log.count(slog.LevelWarn,
			"cluster: membership record was missing in Redis (restart or data loss); registered again"), n.name)
	}
}

// TestRedisRestartStaleData: Redis comes back with membership data older
// than the TTL (a restart from an old snapshot, a failover to a lagging
// replica): the zset says every member is stale and no heartbeat key
// exists. Live members must get a heartbeat in before anyone is reaped.
func TestRedisRestartStaleData(t *testing.T) {
	t.Parallel()
	srv := redisserver.StartServer(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a, _ := joinNode(t, srv.Addr(), "a", cfg{rec: rec})
	b, _ := joinNode(t, srv.Addr(), "b", cfg{rec: rec})
	c, _ := joinNode(t, srv.Addr(), "c", cfg{rec: rec})
	nodes := []*node{a, b, c}
	l := waitOneLeader(t, nodes...)
	var others []*node
	for _, n := range nodes {
		if n != l {
			others = append(others, n)
		}
	}

	rc := newClient(t, srv.Addr())
	k, _ := newKeys("test")
	// Everyone is cut off during the outage (so that the snapshot is loaded
	// before anybody reconnects), and the followers come back after the
	// leader has scanned the stale data.
	for _, n := range nodes {
		n.pause(true)
	}
	zdump, err := rc.Dump(ctx, k.nodes).Result()
	require.NoError(t, err)
	idump, err := rc.Dump(ctx, k.info).Result()
	require.NoError(t, err)
	require.NoError(t, srv.Stop())
	time.Sleep(testTTL + testTTL/3) // older than the TTL (not an assertion)
	srv.Restart(t)
	require.NoError(t, rc.RestoreReplace(ctx, k.nodes, 0, zdump).Err())
	require.NoError(t, rc.RestoreReplace(ctx, k.info, 0, idump).Err())
	l.pause(false)
	require.Eventually(t, l.IsLeader, 3*testTTL, 2*time.Millisecond) // and it scans at once
	for _, n := range others {
		n.pause(false)
	}

	require.Never(t, func() bool { return rec.count() > 0 }, 3*testTTL, 10*time.Millisecond, "OnDead after stale data")
	ms, err := a.Members(ctx)
	require.NoError(t, err)
	assert.Len(t, ms, 3)
}

// TestLeaseVanished: the leader finds its lease gone (or taken by the
// follower) before its expiry, i.e. data went back in time, and drops its
// observations.
func TestLeaseVanished(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	a, _ := joinNode(t, addr, "a", cfg{})
	b, _ := joinNode(t, addr, "b", cfg{})
	l := waitOneLeader(t, a, b)
	k, _ := newKeys("test")
	gen := l.resetGen.Load()
	require.NoError(t, newClient(t, addr).Del(context.Background(), k.reaper).Err())
	const msg = "cluster: the reaper lease vanished before its expiry (Redis restart or data loss)"
	require.Eventually(t, func() bool { return l.log.count(slog.LevelWarn, msg) == 1 }, 3*testTTL, 5*time.Millisecond)
	assert.Greater(t, l.resetGen.Load(), gen)
	waitOneLeader(t, a, b)
	assert.Equal(t, 1, a.log.count(slog.LevelWarn, msg)+b.log.count(slog.LevelWarn, msg), "only the old leader noticed")
}

func TestPrefixesIsolated(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec1, rec2 := newRecorder(t), newRecorder(t)
	ctx := context.Background()
	a1, _ := joinNode(t, addr, "a", cfg{prefix: "eu", rec: rec1})
	b1, _ := joinNode(t, addr, "b", cfg{prefix: "eu", rec: rec1})
	a2, prev := joinNode(t, addr, "a", cfg{prefix: "us", rec: rec2})
	require.Nil(t, prev, "same node id under another prefix is another member")
	c2, _ := joinNode(t, addr, "c", cfg{prefix: "us", rec: rec2})
	waitOneLeader(t, a1, b1)
	waitOneLeader(t, a2, c2)

	require.NoError(t, b1.Close())
	require.Eventually(t, func() bool { return len(rec1.of("b")) == 1 }, 4*testTTL, 5*time.Millisecond)
	require.Never(t, func() bool { return rec2.count() > 0 }, testTTL, 10*time.Millisecond)
	ms, err := a2.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, memberNodes(ms))
	ms, err = a1.Members(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, memberNodes(ms))
	live, err := a2.Live(ctx, "b")
	require.NoError(t, err)
	assert.False(t, live)

	// Every key is under its prefix's hash tag.
	keys, err := newClient(t, addr).Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, key := range keys {
		assert.True(t, strings.HasPrefix(key, "{eu}:cluster:") || strings.HasPrefix(key, "{us}:cluster:"), key)
	}
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	// Validation happens before any network access.
	bogus := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = bogus.Close() })
	ok := Options{Self: Member{Node: "a", Boot: "b"}}
	for name, tc := range map[string]struct {
		prefix string
		mod    func(*Options)
	}{
		"no node":        {mod: func(o *Options) { o.Self.Node = "" }},
		"no boot":        {mod: func(o *Options) { o.Self.Boot = "" }},
		"long node":      {mod: func(o *Options) { o.Self.Node = strings.Repeat("n", MaxNameLen+1) }},
		"short ttl":      {mod: func(o *Options) { o.TTL = MinTTL - 1 }},
		"negative ttl":   {mod: func(o *Options) { o.TTL = -time.Second }},
		"short lease":    {mod: func(o *Options) { o.TTL = 3 * time.Second; o.LeaseTTL = time.Second }},
		"brace prefix":   {prefix: "a{b", mod: func(*Options) {}},
		"closing prefix": {prefix: "a}", mod: func(*Options) {}},
	} {
		o := ok
		tc.mod(&o)
		_, _, err := Join(context.Background(), bogus, tc.prefix, o)
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	_, _, err := Join(context.Background(), bogus, "", ok)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), `cluster: join as node "a"`)
}

func TestSharedRegisterer(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	reg := prometheus.NewRegistry()
	var ms []*Membership
	for _, n := range []string{"a", "b"} {
		m, _, err := Join(context.Background(), newClient(t, addr), "", Options{
			Self: Member{Node: n, Boot: NewBootID()}, TTL: testTTL, Registerer: reg,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		ms = append(ms, m)
	}
	assert.Same(t, ms[0].met.failures, ms[1].met.failures)
	n, err := testutil.GatherAndCount(reg,
		"callcore_cluster_members", "callcore_cluster_leader", "callcore_cluster_redis_up",
		"callcore_cluster_heartbeat_failures_total", "callcore_cluster_reaped_total",
		"callcore_cluster_reap_errors_total", "callcore_cluster_fenced_total")
	require.NoError(t, err)
	assert.Equal(t, 8, n, "7 metrics, reaped_total with 2 causes")
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := Options{Self: Member{Node: "a", Boot: "b"}}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultTTL, o.TTL)
	assert.Equal(t, DefaultTTL, o.LeaseTTL)
	assert.NotNil(t, o.Logger)
	assert.NotNil(t, o.Registerer)
	assert.NotNil(t, o.Now)
	k, err := newKeys("")
	require.NoError(t, err)
	assert.Equal(t, "{callcore}:cluster:nodes", k.nodes)
	assert.Equal(t, "{callcore}:cluster:hb:x", k.heartbeat("x"))
	assert.Equal(t, "{callcore}:cluster:fenced:x", k.fenced("x"))
	assert.Len(t, k.member("x"), 6)
}

func TestNewBootID(t *testing.T) {
	t.Parallel()
	a, b := NewBootID(), NewBootID()
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
}

func TestLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLocal(Member{Node: "solo", Boot: "x"})
	var g Group = l
	live, err := g.Live(ctx, "solo")
	require.NoError(t, err)
	assert.True(t, live)
	live, err = g.Live(ctx, "other")
	require.NoError(t, err)
	assert.False(t, live)
	ms, err := g.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, "solo", ms[0].Node)
	assert.False(t, ms[0].StartedAt.IsZero())
	assert.WithinDuration(t, time.Now(), ms[0].LastSeen, time.Second)
	assert.True(t, g.IsLeader())

	require.NoError(t, g.Leave(ctx))
	require.NoError(t, g.Leave(ctx))
	require.NoError(t, g.Close())
	assert.True(t, g.Self().Left)
	live, err = g.Live(ctx, "solo")
	require.NoError(t, err)
	assert.False(t, live)
	ms, err = g.Members(ctx)
	require.NoError(t, err)
	assert.Empty(t, ms)
	assert.False(t, g.IsLeader())

	c := NewLocal(Member{Node: "n", Boot: "y"})
	require.NoError(t, c.Close())
	assert.False(t, c.Self().Left, "Close is not Leave")
	assert.False(t, c.IsLeader())
}

// TestCloseCancelsOnDead: Close cancels a running OnDead and waits for it;
// the failed reaping is then done by the next leader.
func TestCloseCancelsOnDead(t *testing.T) {
	t.Parallel()
	addr := redisserver.Start(t)
	rec := newRecorder(t)
	var blocked atomic.Bool
	started := make(chan string, 1)
	returned := make(chan error, 1)
	onDead := func(by string) func(context.Context, Member) error {
		record := rec.onDead(by)
		return func(ctx context.Context, m Member) error {
			if blocked.CompareAndSwap(false, true) {
				started <- by
				<-ctx.Done()
				returned <- ctx.Err()
				return ctx.Err()
			}
			return record(ctx, m)
		}
	}
	a, _ := joinNode(t, addr, "a", cfg{onDead: onDead})
	b, _ := joinNode(t, addr, "b", cfg{onDead: onDead})
	c, _ := joinNode(t, addr, "c", cfg{onDead: onDead})
	waitOneLeader(t, a, b, c)
	require.NoError(t, c.Close())

	var by string
	select {
	case by = <-started:
	case <-time.After(5 * testTTL):
		t.Fatal("OnDead not called")
	}
	leader, other := a, b
	if by == "b" {
		leader, other = b, a
	}
	require.NoError(t, leader.Close())
	select {
	case err := <-returned:
		require.ErrorIs(t, err, context.Canceled)
	default:
		t.Fatal("Close returned before OnDead")
	}
	require.Eventually(t, func() bool { return len(rec.of("c")) == 1 }, 5*testTTL, 5*time.Millisecond)
	assert.Equal(t, other.name, rec.of("c")[0].by)
	assert.Equal(t, 1.0, testutil.ToFloat64(leader.met.reapErrors))
}

// TestLeaveDuringOutage: Leave fails while Redis is down and can be
// retried; after a restart that lost everything the Left record is written
// anew and handed over.
func TestLeaveDuringOutage(t *testing.T) {
	t.Parallel()
	srv := redisserver.StartServer(t)
	rec := newRecorder(t)
	ctx := context.Background()
	a, _ := joinNode(t, srv.Addr(), "a", cfg{rec: rec})
	b, _ := joinNode(t, srv.Addr(), "b", cfg{rec: rec})
	waitOneLeader(t, a, b)

	require.NoError(t, srv.Stop())
	err := b.Leave(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cluster: leave as node "b"`)
	srv.Restart(t)
	require.NoError(t, b.Leave(ctx))
	require.Eventually(t, func() bool { return len(rec.of("b")) == 1 }, 5*testTTL, 5*time.Millisecond)
	d := rec.of("b")[0]
	assert.True(t, d.m.Left)
	assert.Equal(t, "a", d.by)
	require.NoError(t, b.Leave(ctx))
	require.Never(t, func() bool { return rec.count() > 1 }, testTTL, 10*time.Millisecond)
}
