package redisserver

import (
	"strconv"
	"sync"
	"testing"
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
	s := &Server{bin: binary(t), dir: t.TempDir()}
	retryPorts(t, 1, func(ports []int) error {
		s.port = ports[0]
		return s.start()
	})
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("redisserver: %v", err)
		}
	})
	return s
}

// Addr returns the "127.0.0.1:port" address of the server.
func (s *Server) Addr() string {
	return addr(s.port)
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

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.port)}, baseArgs(s.dir)...)
	p, err := run(s.bin, args, s.Addr(), ping)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}
