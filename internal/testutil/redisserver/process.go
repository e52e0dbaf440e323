package redisserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/testutil/syncbuf"
)

// Timeouts of a process lifecycle.
const (
	readyTimeout = 5 * time.Second
	stopTimeout  = 5 * time.Second
	// startAttempts bounds retries when another process grabs a chosen port
	// between choosing it and redis-server binding it.
	startAttempts = 5
)

var errAddrInUse = errors.New("address already in use")

// binary returns the path of redis-server. If it is not on PATH it fails
// t with installation hints, or skips t when SkipEnv is "1".
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("redis-server not found on PATH (%s=1): skipping", SkipEnv)
		}
		t.Fatalf("redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; "+
			"macOS: brew install redis) or set %s=1 to skip the tests that need it", SkipEnv)
	}
	return bin
}

// baseArgs are the arguments every redis-server started from the command
// line gets: loopback only, no persistence, working directory dir, logs at
// warning level on stdout.
func baseArgs(dir string) []string {
	return []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	}
}

// retryPorts calls try with nports distinct free loopback ports until it
// succeeds, choosing other ports when try reports errAddrInUse, at most
// startAttempts times. It fails t if try does not succeed. It returns the
// ports of the successful try.
func retryPorts(t testing.TB, nports int, try func(ports []int) error) []int {
	t.Helper()
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(nports)
		if err != nil {
			t.Fatalf("redisserver: %v", err)
		}
		err = try(ports)
		if err == nil {
			return ports
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redisserver: %v", lastErr)
	return nil
}

// startProcess runs redis-server bin with the arguments args returns for
// nports free loopback ports, until ready (nil: PING) succeeds on the
// first port, retrying with other ports when one is taken. The process is
// stopped in t.Cleanup. It returns the ports.
func startProcess(t testing.TB, bin string, nports int, args func(ports []int) ([]string, error), ready func(addr string) error) []int {
	t.Helper()
	if ready == nil {
		ready = ping
	}
	var p *process
	ports := retryPorts(t, nports, func(ports []int) error {
		a, err := args(ports)
		if err != nil {
			return err
		}
		p, err = run(bin, a, addr(ports[0]), ready)
		return err
	})
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("redisserver: %v", err)
		}
	})
	return ports
}

// process is one redis-server process.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when cmd.Wait returned
}

// run starts bin with args and waits until ready(addr) succeeds. It
// returns an error wrapping errAddrInUse if redis-server could not bind its
// port.
func run(bin string, args []string, addr string, ready func(string) error) (*process, error) {
	out := &syncbuf.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status is reported through done and out
		close(p.done)
	}()

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			log := out.String()
			if strings.Contains(log, "Address already in use") {
				return nil, fmt.Errorf("%s: %w", addr, errAddrInUse)
			}
			return nil, fmt.Errorf("redis-server exited before it was ready (%v); output:\n%s", cmd.ProcessState, log)
		default:
		}
		if ready(addr) == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			err := p.stop()
			return nil, fmt.Errorf("redis-server on %s not ready within %v (stop: %v); output:\n%s",
				addr, readyTimeout, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop terminates the process (SIGTERM, then SIGKILL after stopTimeout)
// and waits for it.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal redis-server: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server: %w", err)
	}
	<-p.done
	return fmt.Errorf("redis-server ignored SIGTERM for %v and was killed; output:\n%s", stopTimeout, p.out.String())
}

// ping sends an inline PING to addr and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	return pingConn(c)
}

// pingConn sends an inline PING on c, expects +PONG, and closes c.
func pingConn(c net.Conn) error {
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// freePorts asks the kernel for n distinct free loopback ports. Another
// process may take one before redis-server binds it; retryPorts retries
// then.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// addr returns "127.0.0.1:port".
func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
