package bus

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// joinRedis starts a bus on its own client to addr, closed at the end.
func joinRedis(t *testing.T, addr, prefix string, o Options, cfg redisConfig) *Redis {
	t.Helper()
	if cfg.health == 0 {
		cfg.health = defaultHealthInterval
	}
	b, err := newRedis(context.Background(), newClient(t, addr), prefix, o, cfg)
	require.NoError(t, err)
	closeAtEnd(t, b)
	return b
}

func TestChannelNames(t *testing.T) {
	assert.Equal(t, "callcore:use1:bus:node-7", Channel("callcore:use1", "node-7"))
	assert.Equal(t, "callcore:bus:n", Channel("", "n"))

	addr := redisserver.Start(t)
	client := newClient(t, addr)
	ctx := context.Background()
	b, err := NewRedis(ctx, newClient(t, addr), "callcore:use1", Options{Node: "node-7", Handler: echo("x")})
	require.NoError(t, err)
	subs, err := client.PubSubNumSub(ctx, "callcore:use1:bus:node-7").Result()
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"callcore:use1:bus:node-7": 1}, subs)

	require.NoError(t, b.Close(ctx))
	require.NoError(t, b.Close(ctx))
	require.Eventually(t, func() bool {
		subs, err := client.PubSubNumSub(ctx, "callcore:use1:bus:node-7").Result()
		return err == nil && subs["callcore:use1:bus:node-7"] == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRedisPrefixesIsolateRegions(t *testing.T) {
	addr := redisserver.Start(t)
	ctx := context.Background()
	// The same node ids in two regions on one Redis.
	eu := joinRedis(t, addr, "callcore:eu", Options{Node: "a", Handler: echo("eu-a")}, redisConfig{})
	joinRedis(t, addr, "callcore:eu", Options{Node: "b", Handler: echo("eu-b")}, redisConfig{})
	us := joinRedis(t, addr, "callcore:us", Options{Node: "a", Handler: echo("us-a")}, redisConfig{})

	out, err := eu.Request(ctx, "b", "k", nil)
	require.NoError(t, err)
	assert.Equal(t, "eu-b|k|", string(out))
	out, err = us.Request(ctx, "a", "k", nil)
	require.NoError(t, err)
	assert.Equal(t, "us-a|k|", string(out))
	out, err = eu.Request(ctx, "a", "k", nil)
	require.NoError(t, err)
	assert.Equal(t, "eu-a|k|", string(out))

	_, err = us.Request(ctx, "b", "k", nil) // b exists only in eu
	require.ErrorIs(t, err, ErrNoResponder)
}

func TestRedisRestart(t *testing.T) {
	srv := redisserver.StartServer(t)
	ctx := context.Background()
	a := joinRedis(t, srv.Addr(), "r", Options{Node: "a", Handler: echo("a"), Logger: testLogger(t)}, redisConfig{})
	b := joinRedis(t, srv.Addr(), "r", Options{Node: "b", Handler: echo("b"), Logger: testLogger(t)}, redisConfig{})
	_, err := a.Request(ctx, "b", "k", nil)
	require.NoError(t, err)

	require.NoError(t, srv.Stop())
	// Both notice at once (the server closed their connections); from then
	// on requests fail without waiting for a timeout.
	require.Eventually(t, func() bool { return !a.up.Load() && !b.up.Load() }, 5*time.Second, 5*time.Millisecond)
	for _, bus := range []*Redis{a, b} {
		start := time.Now()
		_, err = bus.Request(ctx, "b", "k", nil)
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.ErrorContains(t, err, "subscription r:bus:")
		assert.NotErrorIs(t, err, ErrTimeout)
		assert.Less(t, elapsed, 100*time.Millisecond, "fails fast")
	}
	assert.Equal(t, 2.0, counter(a.core.m.requests, outcomeError)+counter(b.core.m.requests, outcomeError))

	srv.Restart(t)
	for _, c := range []struct {
		from *Redis
		to   string
	}{{a, "b"}, {b, "a"}} {
		require.Eventually(t, func() bool {
			out, err := c.from.Request(ctx, c.to, "k", []byte("again"))
			return err == nil && string(out) == c.to+"|k|again"
		}, 10*time.Second, 20*time.Millisecond)
	}
	assert.Positive(t, counter(a.core.m.requests, outcomeOK))
	assert.Positive(t, testutilValue(a.core.m.receiveErrors))
}

func TestRedisHalfOpenSubscription(t *testing.T) {
	addr := redisserver.Start(t)
	px := startProxy(t, addr)
	ctx := context.Background()
	a := joinRedis(t, addr, "h", Options{Node: "a", Handler: echo("a"), Timeout: 200 * time.Millisecond}, redisConfig{})
	// b reaches Redis through the proxy; its only connection so far is the
	// subscription, which then goes silent without being closed.
	// The watchdog recreates a subscription silent for 3*health = 900 ms.
	b := joinRedis(t, px.Addr(), "h", Options{Node: "b", Handler: echo("b"), Logger: testLogger(t)},
		redisConfig{health: 300 * time.Millisecond})
	require.Equal(t, 1, px.freeze())

	_, err := a.Request(ctx, "b", "k", nil)
	require.ErrorIs(t, err, ErrTimeout, "Redis still counts the frozen subscriber")

	// The watchdog notices the silence and subscribes again on a new
	// connection.
	require.Eventually(t, func() bool {
		_, err := a.Request(ctx, "b", "k", nil)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	assert.Positive(t, testutilValue(b.core.m.receiveErrors))
}

func TestRedisHealthPingsKeepQuietSubscription(t *testing.T) {
	addr := redisserver.Start(t)
	// Pinged after 200 ms of silence, recreated after 600 ms.
	b := joinRedis(t, addr, "q", Options{Node: "b", Handler: echo("b")}, redisConfig{health: 200 * time.Millisecond})
	first := b.lastRecv.Load()
	// Without traffic, only the pongs keep the subscription from being
	// recreated.
	require.Eventually(t, func() bool { return b.lastRecv.Load() > first }, 5*time.Second, 5*time.Millisecond)
	a := joinRedis(t, addr, "q", Options{Node: "a", Handler: echo("a")}, redisConfig{})
	for range 5 {
		_, err := a.Request(context.Background(), "b", "k", nil)
		require.NoError(t, err)
	}
	assert.Zero(t, testutilValue(b.core.m.receiveErrors))
}

func TestRedisTwoProcessesOneNode(t *testing.T) {
	addr := redisserver.Start(t)
	a := joinRedis(t, addr, "d", Options{Node: "a", Handler: echo("a")}, redisConfig{})
	joinRedis(t, addr, "d", Options{Node: "b", Handler: echo("b1")}, redisConfig{})
	joinRedis(t, addr, "d", Options{Node: "b", Handler: echo("b2")}, redisConfig{})
	out, err := a.Request(context.Background(), "b", "k", nil)
	require.NoError(t, err) // the first reply wins, the second is dropped
	assert.Contains(t, []string{"b1|k|", "b2|k|"}, string(out))
	require.Eventually(t, func() bool { return counter(a.core.m.dropped, dropUnknownReply) == 1 },
		5*time.Second, 5*time.Millisecond)
}

func TestNewRedisFails(t *testing.T) {
	o := Options{Node: "a", Handler: echo("a")}
	// Nothing listens on the port of a stopped server.
	srv := redisserver.StartServer(t)
	require.NoError(t, srv.Stop())
	start := time.Now()
	_, err := NewRedis(context.Background(), newClient(t, srv.Addr()), "p", o)
	require.ErrorContains(t, err, "bus: subscribe p:bus:a")
	assert.Less(t, time.Since(start), 5*time.Second)

	// A cancelled context.
	addr := redisserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = NewRedis(ctx, newClient(t, addr), "p", o)
	require.ErrorIs(t, err, context.Canceled)
}

func TestShardedForClusterClients(t *testing.T) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = cc.Close() })
	assert.True(t, shardedFor(cc))
	assert.False(t, shardedFor(newClient(t, "127.0.0.1:1")))
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = fc.Close() })
	assert.False(t, shardedFor(fc))
}
