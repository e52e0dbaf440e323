package rooms_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/callcore/callcore/internal/conference/rooms"
	"github.com/callcore/callcore/internal/conference/rooms/roomstest"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// clock is a manual clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryConformance(t *testing.T) {
	roomstest.Run(t, func(t *testing.T) roomstest.Harness {
		c := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		m := rooms.NewMemory(rooms.Options{Now: c.Now})
		return roomstest.Harness{A: m, B: m, Wait: c.Advance, ShortTTL: time.Second}
	})
}

// redisHarness returns harnesses over two clients made by newClient, each
// harness under its own prefix; the two stores of a harness are two nodes.
func redisHarness(newClient func(t *testing.T) redis.UniversalClient) func(t *testing.T) roomstest.Harness {
	var n atomic.Int64
	return func(t *testing.T) roomstest.Harness {
		prefix := fmt.Sprintf("test%d:eu", n.Add(1))
		reg := prometheus.NewRegistry() // shared by both stores, as in one process
		return roomstest.Harness{
			A:        rooms.NewRedis(newClient(t), prefix, rooms.Options{Registerer: reg}),
			B:        rooms.NewRedis(newClient(t), prefix, rooms.Options{Registerer: reg}),
			Wait:     time.Sleep,
			ShortTTL: 50 * time.Millisecond,
		}
	}
}

func TestRedisConformance(t *testing.T) {
	addr := redisserver.Start(t)
	roomstest.Run(t, redisHarness(func(t *testing.T) redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}))
}

// TestRedisClusterConformance runs the suite on a three-master Redis
// Cluster (about 2 s to start): the keys of a prefix share a slot, so the
// multi-key scripts and transactions are legal there.
func TestRedisClusterConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	addrs := redisserver.StartCluster(t)
	roomstest.Run(t, redisHarness(func(t *testing.T) redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}))
}
