package redisserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds the wait for a new cluster to agree on its state.
const clusterTimeout = 15 * time.Second

// StartCluster starts a Redis Cluster of three masters (no replicas) on
// loopback, the 16384 slots split evenly among them, and returns their
// "127.0.0.1:port" addresses once every node reports cluster_state:ok and
// knows every slot. It is stopped when t and its subtests finish. It fails
// t if redis-server is not on PATH (skips it if CALLCORE_SKIP_REDIS=1),
// like Start.
//
// The slots are assigned with CLUSTER ADDSLOTSRANGE and the nodes joined
// with CLUSTER MEET, so no redis-cli is needed (Redis 7.0 or later). It
// takes about 2 s: a new master waits that long before it declares the
// cluster ok (CLUSTER_WRITABLE_DELAY).
func StartCluster(t testing.TB) []string {
	t.Helper()
	bin := binary(t)
	const n = 3
	addrs := make([]string, n)
	busPorts := make([]int, n)
	for i := range n {
		dir := t.TempDir()
		ports := startProcess(t, bin, 2, func(ports []int) ([]string, error) {
			return append([]string{
				"--port", strconv.Itoa(ports[0]),
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(ports[1]),
				"--cluster-announce-ip", "127.0.0.1",
				"--cluster-node-timeout", "5000",
			}, baseArgs(dir)...), nil
		}, nil)
		addrs[i] = addr(ports[0])
		busPorts[i] = ports[1]
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	clients := make([]*redis.Client, n)
	for i, a := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
	}
	for i, c := range clients {
		lo := i * 16384 / n
		hi := (i+1)*16384/n - 1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redisserver: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, addrs[i], err)
		}
	}
	for i := 1; i < n; i++ {
		port := strings.TrimPrefix(addrs[i], "127.0.0.1:")
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", port, busPorts[i]).Err(); err != nil {
			t.Fatalf("redisserver: CLUSTER MEET %s: %v", addrs[i], err)
		}
	}
	for i, c := range clients {
		if err := waitClusterOK(ctx, c, n); err != nil {
			t.Fatalf("redisserver: cluster node %s: %v", addrs[i], err)
		}
	}
	return addrs
}

// waitClusterOK polls a node until it reports cluster_state:ok, n known
// nodes, and n slot ranges each with an address.
func waitClusterOK(ctx context.Context, c *redis.Client, n int) error {
	var last string
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil {
			last = info
			if strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
				// go-redis loads its view of the cluster from CLUSTER SLOTS:
				// wait for that reply to be complete.
				//lint:ignore SA1019 CLUSTER SLOTS is what go-redis reads.
				slots, err := c.ClusterSlots(ctx).Result()
				if err == nil && slotsComplete(slots, n) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready after %v: %v; last CLUSTER INFO:\n%s", clusterTimeout, ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// slotsComplete reports whether CLUSTER SLOTS lists n ranges covering all
// 16384 slots, each served by a node with an address.
func slotsComplete(slots []redis.ClusterSlot, n int) bool {
	if len(slots) != n {
		return false
	}
	covered := 0
	for _, s := range slots {
		if len(s.Nodes) == 0 || s.Nodes[0].Addr == "" || strings.HasPrefix(s.Nodes[0].Addr, ":") {
			return false
		}
		covered += int(s.End - s.Start + 1)
	}
	return covered == 16384
}
