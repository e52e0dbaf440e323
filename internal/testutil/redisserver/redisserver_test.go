package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestStartStopRestart(t *testing.T) {
	srv := StartServer(t)
	require.NoError(t, ping(srv.Addr()))
	require.True(t, strings.HasPrefix(srv.Addr(), "127.0.0.1:"))

	srv.Restart(t)
	require.NoError(t, ping(srv.Addr()), "answers after a restart on the same port")

	require.NoError(t, srv.Stop())
	require.Error(t, ping(srv.Addr()), "gone after Stop")
	require.NoError(t, srv.Stop(), "Stop is idempotent")
}

func TestStartGivesDistinctServers(t *testing.T) {
	a, b := Start(t), Start(t)
	require.NotEqual(t, a, b)
	require.NoError(t, ping(a))
	require.NoError(t, ping(b))
}

func TestStartOnTakenPortReportsAddrInUse(t *testing.T) {
	bin := requireBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	s := &Server{bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	err = s.start()
	require.ErrorIs(t, err, errAddrInUse)
}

func TestMissingBinary(t *testing.T) {
	starters := map[string]func(testing.TB){
		"StartServer":   func(tb testing.TB) { StartServer(tb) },
		"StartSentinel": func(tb testing.TB) { StartSentinel(tb, "127.0.0.1:6379") },
		"StartCluster":  func(tb testing.TB) { StartCluster(tb) },
		"StartTLS":      func(tb testing.TB) { StartTLS(tb) },
	}
	t.Setenv("PATH", t.TempDir())
	for name, start := range starters {
		t.Run(name, func(t *testing.T) {
			t.Setenv(SkipEnv, "")
			ft := runFake(t, start)
			require.True(t, ft.failed)
			require.Contains(t, ft.msg, "apt-get install redis-server")

			t.Setenv(SkipEnv, "1")
			ft = runFake(t, start)
			require.True(t, ft.skipped)
			require.False(t, ft.failed)
		})
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(8)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d twice in %v", p, ports)
		seen[p] = true
	}
}

func TestStartTLSServesTLSOnly(t *testing.T) {
	a := StartTLS(t)
	require.NoError(t, tlsPing(a))
	require.Error(t, ping(a), "plain-text PING must not get +PONG")
}

func TestStartSentinelMonitorsMaster(t *testing.T) {
	master := Start(t)
	sentinel := StartSentinel(t, master)
	require.NotEqual(t, master, sentinel)

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	require.NoError(t, err)
	require.Equal(t, master, net.JoinHostPort(got[0], got[1]))
}

func TestStartClusterServesAllSlots(t *testing.T) {
	addrs := StartCluster(t)
	require.Len(t, addrs, 3)

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Keys spread over the slots of all three masters.
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		require.NoError(t, c.Set(ctx, key, i, 0).Err())
		require.Equal(t, strconv.Itoa(i), c.Get(ctx, key).Val())
	}
	for _, a := range addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		size, err := n.DBSize(ctx).Result()
		_ = n.Close()
		require.NoError(t, err)
		require.Positive(t, size, "master %s holds some of the keys", a)
	}
}

// requireBinary finds redis-server, failing or skipping like StartServer.
func requireBinary(t *testing.T) string {
	t.Helper()
	return StartServer(t).bin
}

// fakeTB records how StartServer ends the test. Fatalf and Skipf stop the
// calling goroutine with a panic that runFake recovers.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

var errStop = errors.New("test stopped")

func (f *fakeTB) Helper()           {}
func (f *fakeTB) TempDir() string   { return os.TempDir() }
func (f *fakeTB) Cleanup(fn func()) {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(errStop)
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	panic(errStop)
}

// runFake runs start on a fakeTB and returns it once start stopped it.
func runFake(t *testing.T, start func(testing.TB)) *fakeTB {
	ft := &fakeTB{TB: t}
	func() {
		defer func() { require.Equal(t, errStop, recover()) }()
		start(ft)
	}()
	return ft
}
