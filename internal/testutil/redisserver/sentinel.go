package redisserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name under which the Sentinel of StartSentinel
// monitors its master.
const MasterName = "mymaster"

// StartSentinel starts a Sentinel (redis-server --sentinel) monitoring the
// master at masterAddr ("ip:port", e.g. from Start) under the
// name MasterName, with a quorum of 1, and returns its "127.0.0.1:port"
// address once it answers for the master. It is stopped when t and its
// subtests finish. It fails t if redis-server is not on PATH (skips it if
// CALLCORE_SKIP_REDIS=1), like Start.
func StartSentinel(t testing.TB, masterAddr string) string {
	t.Helper()
	bin := binary(t)
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("redisserver: master address %q: %v", masterAddr, err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	ports := startProcess(t, bin, 1, func(ports []int) ([]string, error) {
		// Sentinel rewrites its configuration file: it must be writable.
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\nlogfile \"\"\nloglevel warning\ndir %s\n"+
			"sentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %s 60000\n",
			ports[0], strconv.Quote(dir), MasterName, host, port, MasterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("write sentinel.conf: %w", err)
		}
		return []string{conf, "--sentinel"}, nil
	}, nil)
	sentinelAddr := addr(ports[0])

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr})
	defer func() { _ = sc.Close() }()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
		cancel()
		if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == net.JoinHostPort(host, port) {
			return sentinelAddr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redisserver: sentinel %s does not report master %s after %v: %v %v", sentinelAddr, masterAddr, readyTimeout, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
