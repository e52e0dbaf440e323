package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of a process lifecycle.
const (
	readyTimeout = 5 * time.Second
	stopTimeout  = 5 * time.Second
	// startAttempts bounds the retries when another process takes a port
	// between choosing it and redis-server binding it.
	startAttempts = 5
)

var errAddrInUse = errors.New("address already in use")

// redisServer returns the path of redis-server, or skips t.
func redisServer(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: skipping (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)")
	}
	return bin
}

// startProcess runs redis-server with the arguments args returns for
// nports free loopback ports, until ready (nil: ping) succeeds on the first
// port, retrying with other ports when one is taken. The process is
// stopped in t.Cleanup. It returns the ports.
func startProcess(t testing.TB, bin string, nports int, args func(ports []int) ([]string, error), ready func(addr string) error) []int {
	t.Helper()
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(nports)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		a, err := args(ports)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if ready == nil {
			ready = ping
		}
		p, err := start(bin, a, addr(ports[0]), ready)
		if err == nil {
			t.Cleanup(func() {
				if err := p.stop(); err != nil {
					t.Errorf("redistest: %v", err)
				}
			})
			return ports
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// process is one running redis-server.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when cmd.Wait returned
}

// start runs bin with args and waits until ready(addr) succeeds.
func start(bin string, args []string, addr string, ready func(string) error) (*process, error) {
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // reported through done and out
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
			_ = p.stop()
			return nil, fmt.Errorf("redis-server on %s not ready after %v; output:\n%s", addr, readyTimeout, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM, then SIGKILL after stopTimeout, and waits for the
// exit.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("redis-server (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
	}
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
// process may take one before redis-server binds it; startProcess retries
// then.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
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

// syncBuffer is a bytes.Buffer safe for exec's writer goroutine and the
// reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
