package redisserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

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
	t.Setenv("PATH", t.TempDir())

	t.Setenv(SkipEnv, "")
	ft := runFake(t)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "apt-get install redis-server")

	t.Setenv(SkipEnv, "1")
	ft = runFake(t)
	require.True(t, ft.skipped)
	require.False(t, ft.failed)
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

// runFake runs StartServer on a fakeTB and returns it once StartServer
// stopped it.
func runFake(t *testing.T) *fakeTB {
	ft := &fakeTB{TB: t}
	func() {
		defer func() { require.Equal(t, errStop, recover()) }()
		StartServer(ft)
	}()
	return ft
}
