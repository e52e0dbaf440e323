package redisserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the server lifecycle.
const (
	readyTimeout = 5 * time.Second
	stopTimeout  = 5 * time.Second
	// startAttempts bounds retries when another process grabs the chosen port
	// between choosing it and redis-server binding it.
	startAttempts = 5
)

// SkipEnv is the environment variable that turns a missing redis-server into
// a skipped test instead of a failure.
const SkipEnv = "CALLCORE_SKIP_REDIS"

// Server is a running redis-server.
type Server struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *process // nil when stopped
}

// process is one redis-server process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when cmd.Wait returned
}

// Start starts a redis-server and returns its "127.0.0.1:port" address. It
// is stopped when t and its subtests finish.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).Addr()
}

// StartServer is Start returning the Server, for tests that stop or restart
// it.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("redis-server not found on PATH (%s=1): skipping", SkipEnv)
		}
		t.Fatalf("redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; "+
			"macOS: brew install redis) or set %s=1 to skip the tests that need it", SkipEnv)
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redisserver: %v", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			t.Cleanup(func() {
				if err := s.Stop(); err != nil {
					t.Errorf("redisserver: %v", err)
				}
			})
			return s
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redisserver: %v", lastErr)
	return nil
}

// Addr returns the "127.0.0.1:port" address of the server.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s) and waits
// for it to exit. The data is lost. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	return p.stop()
}

// Restart stops the server and starts a fresh, empty one on the same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("redisserver: restart: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("redisserver: restart: %v", err)
	}
}

var errAddrInUse = errors.New("address already in use")

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	out := &syncBuffer{}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
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
				return fmt.Errorf("port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("redis-server exited before it was ready (%v); output:\n%s", cmd.ProcessState, log)
		default:
		}
		if ping(s.Addr()) == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			err := p.stop()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v (stop: %v); output:\n%s",
				s.port, readyTimeout, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop terminates the process and waits for it.
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

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
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

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; StartServer retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and the
// test goroutine reading it.
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
