package redisconn

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open opens rawURL and closes the client when the test ends.
func open(t *testing.T, rawURL string, o Options) redis.UniversalClient {
	t.Helper()
	c, err := Open(rawURL, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOpenStandalone(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)

	c := open(t, "redis://"+addr+"/2", Options{PoolSize: 3})
	cl, ok := c.(*redis.Client)
	require.True(t, ok, "a standalone URL gives a *redis.Client, got %T", c)
	assert.Equal(t, 3, cl.Options().PoolSize, "Options.PoolSize applies when the URL sets none")
	assert.True(t, cl.Options().ContextTimeoutEnabled)

	require.NoError(t, c.Set(ctx, "standalone", "v", 0).Err())
	got, err := c.Get(ctx, "standalone").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)

	// The path selected database 2.
	plain2 := redis.NewClient(&redis.Options{Addr: addr, DB: 2})
	defer plain2.Close()
	assert.Equal(t, "v", plain2.Get(ctx, "standalone").Val())
	plain0 := redis.NewClient(&redis.Options{Addr: addr})
	defer plain0.Close()
	assert.ErrorIs(t, plain0.Get(ctx, "standalone").Err(), redis.Nil)

	// The URL's pool_size wins over Options.PoolSize.
	c2 := open(t, "redis://"+addr+"?pool_size=5", Options{PoolSize: 3})
	assert.Equal(t, 5, c2.(*redis.Client).Options().PoolSize)
}

func TestOpenStandalonePassword(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.Start(t)
	const pw = "p@ss:w/rd?#%x"
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	require.NoError(t, admin.ConfigSet(ctx, "requirepass", pw).Err())

	for _, tt := range []struct{ name, userinfo string }{
		{"escaped", url.UserPassword("default", pw).String()},
		{"password only", ":" + url.PathEscape(pw)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, "redis://"+tt.userinfo+"@"+addr, Options{Counter: &Counter{}})
			require.NoError(t, c.Set(ctx, "k", tt.name, 0).Err())
			assert.Equal(t, tt.name, c.Get(ctx, "k").Val())
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		c := open(t, "redis://:nope@"+addr, Options{})
		err := c.Ping(ctx).Err()
		require.Error(t, err)
		assert.NotContains(t, err.Error(), pw)
	})
}

func TestOpenTLS(t *testing.T) {
	ctx := testContext(t)
	addr := redisserver.StartTLS(t)

	ctr := &Counter{}
	c := open(t, "rediss://"+addr+"?skip_verify=true", Options{Counter: ctr})
	value := strings.Repeat("t", 10000)
	require.NoError(t, c.Set(ctx, "tls", value, 0).Err())
	before := ctr.Stats()
	for range 3 { // the pooled TLS connection is reused
		require.Equal(t, value, c.Get(ctx, "tls").Val())
	}
	d := ctr.Stats().Sub(before)
	assert.Equal(t, int64(3), d.RoundTrips)
	assert.GreaterOrEqual(t, d.BytesReceived, int64(3*len(value)))

	// The self-signed certificate is refused unless skip_verify is set.
	strict := open(t, "rediss://"+addr+"?dial_timeout=2s", Options{Counter: &Counter{}})
	assert.Error(t, strict.Ping(ctx).Err())
}

func TestOpenOptions(t *testing.T) {
	_, err := Open("redis://h", Options{PoolSize: -1})
	require.Error(t, err)

	c, err := Open("redis+sentinel://s1,s2?master_name=m", Options{PoolSize: 4, Counter: &Counter{}})
	require.NoError(t, err)
	_, ok := c.(*redis.Client)
	assert.True(t, ok, "Sentinel gives a failover *redis.Client, got %T", c)
	require.NoError(t, c.Close())

	c, err = Open("redis+cluster://n1", Options{PoolSize: 4, Counter: &Counter{}})
	require.NoError(t, err)
	cc, ok := c.(*redis.ClusterClient)
	require.True(t, ok, "a cluster URL gives a *redis.ClusterClient even with one address, got %T", c)
	assert.Equal(t, 4, cc.Options().PoolSize)
	assert.True(t, cc.Options().ContextTimeoutEnabled)
	require.NoError(t, c.Close())
}

func TestOpenSentinel(t *testing.T) {
	ctx := testContext(t)
	master := redisserver.Start(t)
	sentinel := redisserver.StartSentinel(t, master)
	plain := redis.NewClient(&redis.Options{Addr: master})
	defer plain.Close()

	t.Run("set and get", func(t *testing.T) {
		ctr := &Counter{}
		c := open(t, "redis+sentinel://"+sentinel+"?master_name="+redisserver.MasterName, Options{Counter: ctr})
		require.NoError(t, c.Set(ctx, "sentinel:k", "v1", 0).Err())
		assert.Equal(t, "v1", c.Get(ctx, "sentinel:k").Val())
		// The write reached the master.
		assert.Equal(t, "v1", plain.Get(ctx, "sentinel:k").Val())
		s := ctr.Stats()
		assert.GreaterOrEqual(t, s.RoundTrips, int64(2))
		assert.Positive(t, s.BytesSent)
		assert.Positive(t, s.BytesReceived)
	})

	t.Run("unreachable sentinel listed first", func(t *testing.T) {
		// A dead sentinel in the list is skipped.
		dead := "127.0.0.1:1"
		c := open(t, "redis+sentinel://"+dead+","+sentinel+"/3?master_name="+redisserver.MasterName, Options{})
		require.NoError(t, c.Set(ctx, "sentinel:db3", "v3", 0).Err())
		plain3 := redis.NewClient(&redis.Options{Addr: master, DB: 3})
		defer plain3.Close()
		assert.Equal(t, "v3", plain3.Get(ctx, "sentinel:db3").Val())
	})

	t.Run("unknown master", func(t *testing.T) {
		c := open(t, "redis+sentinel://"+sentinel+"?master_name=nosuchmaster&dial_timeout=1s", Options{})
		assert.Error(t, c.Ping(ctx).Err())
	})
}

func TestOpenSentinelMasterPassword(t *testing.T) {
	ctx := testContext(t)
	master := redisserver.Start(t)
	sentinel := redisserver.StartSentinel(t, master)
	admin := redis.NewClient(&redis.Options{Addr: master})
	defer admin.Close()
	require.NoError(t, admin.ConfigSet(ctx, "requirepass", "m@ster").Err())

	// The user info is the master's password, not the Sentinel's.
	c := open(t, "redis+sentinel://:m%40ster@"+sentinel+"?master_name="+redisserver.MasterName, Options{})
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	assert.Equal(t, "v", c.Get(ctx, "k").Val())
}

func TestOpenCluster(t *testing.T) {
	ctx := testContext(t)
	start := time.Now()
	addrs := redisserver.StartCluster(t)
	t.Logf("cluster of %d nodes ready in %v", len(addrs), time.Since(start))
	require.Len(t, addrs, 3)

	ctr := &Counter{}
	c := open(t, "redis+cluster://"+strings.Join(addrs, ","), Options{Counter: ctr})
	cc, ok := c.(*redis.ClusterClient)
	require.True(t, ok, "got %T", c)

	// Keys in different slots, spread over every node.
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("cluster:key:%d", i)
		require.NoError(t, c.Set(ctx, keys[i], i, 0).Err())
	}
	for i, k := range keys {
		got, err := c.Get(ctx, k).Int()
		require.NoError(t, err)
		assert.Equal(t, i, got)
	}
	var mastersWithKeys int
	for _, a := range addrs {
		node := redis.NewClient(&redis.Options{Addr: a})
		n, err := node.DBSize(ctx).Result()
		_ = node.Close()
		require.NoError(t, err)
		if n > 0 {
			mastersWithKeys++
		}
	}
	assert.Equal(t, 3, mastersWithKeys, "the keys are spread over the three nodes")

	// A Lua script over keys sharing a hash tag runs on their node.
	script := redis.NewScript(`
		redis.call('SET', KEYS[1], ARGV[1])
		redis.call('SET', KEYS[2], ARGV[2])
		return redis.call('MGET', KEYS[1], KEYS[2])`)
	got, err := script.Run(ctx, c, []string{"{call:42}:state", "{call:42}:leg"}, "ringing", "a").StringSlice()
	require.NoError(t, err)
	assert.Equal(t, []string{"ringing", "a"}, got)
	assert.Zero(t, ctr.Stats().Errors, "NOSCRIPT on the first run is not an error")

	// Keys without a shared tag in one script: CROSSSLOT, counted.
	before := ctr.Stats()
	err = script.Run(ctx, c, []string{"a", "b"}, "1", "2").Err()
	require.Error(t, err)
	assert.Positive(t, ctr.Stats().Sub(before).Errors)

	// A pipeline over keys on the three nodes: one round trip per node.
	byNode := map[string]string{} // node address -> a key it serves
	for _, k := range keys {
		slot, err := cc.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		byNode[nodeOf(t, ctx, cc, slot)] = k
	}
	require.Len(t, byNode, 3)
	pipeline := func() {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range byNode {
				p.Get(ctx, k)
			}
			return nil
		})
		require.NoError(t, err)
	}
	pipeline() // warm the pipeline connections up (their handshakes count)
	before = ctr.Stats()
	pipeline()
	d := ctr.Stats().Sub(before)
	assert.Equal(t, int64(3), d.RoundTrips, "a pipeline fanning out to 3 shards is 3 round trips")
	assert.Positive(t, d.BytesSent)
	assert.Positive(t, d.BytesReceived)
	assert.Zero(t, d.Errors)

	// The addr parameter form reaches the same cluster.
	c2 := open(t, "redis+cluster://"+addrs[0]+"?addr="+addrs[1]+"&addr="+addrs[2], Options{})
	assert.Equal(t, "7", c2.Get(ctx, keys[7]).Val())

	// A hand-made cluster client, instrumented.
	ctr2 := &Counter{}
	hand := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer hand.Close()
	ctr2.Instrument(hand)
	require.NoError(t, hand.Get(ctx, keys[0]).Err())
	s := ctr2.Stats()
	assert.GreaterOrEqual(t, s.RoundTrips, int64(2), "CLUSTER SLOTS and GET")
	assert.Positive(t, s.BytesReceived)
}

// nodeOf returns the address of the master serving slot.
func nodeOf(t *testing.T, ctx context.Context, cc *redis.ClusterClient, slot int64) string {
	t.Helper()
	shards, err := cc.ClusterShards(ctx).Result()
	require.NoError(t, err)
	for _, s := range shards {
		for _, r := range s.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, n := range s.Nodes {
					if n.Role == "master" {
						return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
					}
				}
			}
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return ""
}
