// Package region_test runs several callcore nodes as separate processes
// on one real redis-server, the way an operator runs a region: commands
// for a call reach it through any node, events survive dead backends and
// dead nodes, and a node drains behind a real SIP load balancer.
package region_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/testutil/syncbuf"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

const (
	appKey    = "5E0A3A4C-0D1B-4C2A-9C1E-7A2B3C4D5E6F"
	appSecret = "QmFja2VuZFNlY3JldEZvclRlc3Rz"
	did       = "+46705550100"
	region    = "euc1"
)

// binPath is the callcore binary built once for the package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callcore-region-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binPath = filepath.Join(dir, "callcore")
	// Without -race even under `go test -race`: three race-instrumented
	// nodes, Kamailio and sipp on two cores make timeouts (SIP probes,
	// heartbeats) fire that a real deployment would not see. The region
	// code is race-checked by its packages' own tests.
	cmd := exec.Command("go", "build", "-o", binPath, "github.com/callcore/callcore/cmd/callcore")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building callcore:", err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// received is one callback the backend got.
type received struct {
	Kind    string
	CallID  string
	EventID string
	Body    map[string]any
	At      time.Time
}

// backend is a customer backend: a real HTTP server that verifies the
// signature of every callback, records it and answers ICEs with svaml.
// It can be stopped and started again on the same port.
type backend struct {
	t    *testing.T
	addr string
	ice  func(ev map[string]any) string
	ver  *events.Verifier

	mu   sync.Mutex
	got  []received
	srv  *http.Server
	wake chan struct{}
}

func newBackend(t *testing.T, ice func(ev map[string]any) string) *backend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &backend{t: t, addr: ln.Addr().String(), ice: ice, wake: make(chan struct{}, 1),
		ver: &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}}
	b.serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) url() string { return "http://" + b.addr + "/callbacks" }

func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(b.handle), ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the server: connections are refused until start.
func (b *backend) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// start serves again on the same port.
func (b *backend) start() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(b.t, err)
	b.serve(ln)
}

func (b *backend) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if _, err := b.ver.Verify(r, body); err != nil {
		b.t.Errorf("callback with a bad signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		b.t.Errorf("callback is not JSON: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	kind, _ := ev["event"].(string)
	callID, _ := ev["callid"].(string)
	b.mu.Lock()
	b.got = append(b.got, received{Kind: kind, CallID: callID, EventID: r.Header.Get(events.HeaderEventID), Body: ev, At: time.Now()})
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	if kind == "ice" && b.ice != nil {
		_, _ = io.WriteString(w, b.ice(ev))
		return
	}
	_, _ = io.WriteString(w, `{"action":{"name":"continue"}}`)
}

// events returns the callbacks of kind received so far.
func (b *backend) events(kind string) []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []received
	for _, r := range b.got {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until cond holds over the received callbacks.
func (b *backend) waitFor(ctx context.Context, what string, cond func() bool) {
	b.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			b.t.Fatalf("timed out waiting for %s; got %d callbacks", what, len(b.events("")))
		case <-b.wake:
		case <-tick.C:
		}
	}
}

// diceByCall maps call id to its DiCE deliveries.
func (b *backend) diceByCall() map[string][]received {
	out := map[string][]received{}
	for _, r := range b.events("dice") {
		out[r.CallID] = append(out[r.CallID], r)
	}
	return out
}

// node is one callcore process.
type node struct {
	t                 *testing.T
	id                string
	api, ops, sip     string
	rtpMin            int
	cmd               *exec.Cmd
	out               *syncbuf.Buffer
	exited            chan struct{}
	exitErr           error
	exitedAt          time.Time
	configPath, redis string
}

type nodeOptions struct {
	ID           string
	Redis        string // host:port
	Callback     string
	HeartbeatTTL time.Duration
	DrainTimeout time.Duration
	TrunkACL     []string
	// Keep is a previous node whose ports and id this one reuses (restart).
	Keep *node
}

func startNode(t *testing.T, o nodeOptions) *node {
	t.Helper()
	if o.HeartbeatTTL == 0 {
		o.HeartbeatTTL = 2 * time.Second
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	n := &node{t: t, id: o.ID, redis: o.Redis}
	if o.Keep != nil {
		n.api, n.ops, n.sip, n.rtpMin = o.Keep.api, o.Keep.ops, o.Keep.sip, o.Keep.rtpMin
	} else {
		n.api, n.ops, n.sip = freeTCP(t), freeTCP(t), freeSIP(t)
		n.rtpMin = freeEvenPortRange(t, 400)
	}
	acl := "[]"
	if len(o.TrunkACL) > 0 {
		acl = `["` + strings.Join(o.TrunkACL, `", "`) + `"]`
	}
	cfg := fmt.Sprintf(`
node:  {id: %s, region: %s, drain_timeout: %s}
api:   {listen: %q, base_url: "http://%s"}
ops:   {listen: %q}
sip:   {listen: %q, public_host: "127.0.0.1", trunk_acl: %s}
media: {rtp_ports: "%d-%d", rtp_timeout: 20s}
store: {redis_url: "redis://%s/0"}
cluster: {heartbeat_ttl: %s, forward_timeout: 2s}
events: {min_backoff: 100ms, max_backoff: 2s}
pstn:  {gateway: "sip:127.0.0.1:9"}
regions:
  euc1: "http://calling-euc1.test"
  use1: "http://calling-use1.test"
log:   {level: info}
apps:
  - key: %s
    secret: %s
    callback_url: %s
    callback_timeout: 2s
    callback_connect_timeout: 1s
    numbers: [%q]
`, o.ID, region, o.DrainTimeout, n.api, n.api, n.ops, n.sip, acl, n.rtpMin, n.rtpMin+399, o.Redis, o.HeartbeatTTL, appKey, appSecret, o.Callback, did)
	n.configPath = filepath.Join(t.TempDir(), o.ID+".yml")
	require.NoError(t, os.WriteFile(n.configPath, []byte(cfg), 0o600))
	n.launch()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("--- node %s output (tail) ---\n%s", n.id, n.out.Tail(8000))
		}
	})
	return n
}

func (n *node) launch() {
	n.out = &syncbuf.Buffer{}
	n.exited = make(chan struct{})
	n.cmd = exec.Command(binPath, "-config", n.configPath)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(n.t, n.cmd.Start())
	go func() {
		n.exitErr = n.cmd.Wait()
		n.exitedAt = time.Now()
		close(n.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if n.ready(ctx) {
			return
		}
		select {
		case <-n.exited:
			n.t.Fatalf("node %s exited at start: %v\n%s", n.id, n.exitErr, n.out.Tail(4000))
		case <-ctx.Done():
			n.t.Fatalf("node %s not ready\n%s", n.id, n.out.Tail(4000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ready reports whether /readyz answers 200.
func (n *node) ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.ops+"/readyz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// kill9 kills the process at once, as a crash would.
func (n *node) kill9() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// kill stops a node that is still running (cleanup).
func (n *node) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// term sends SIGTERM (drain); wait with waitExit.
func (n *node) term() { _ = n.cmd.Process.Signal(syscall.SIGTERM) }

func (n *node) waitExit(ctx context.Context) error {
	select {
	case <-n.exited:
		return n.exitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rest sends a signed REST request to the node.
func (n *node) rest(ctx context.Context, method, path, body string) (int, []byte) {
	n.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.api+path, rd)
	require.NoError(n.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	s, err := events.NewSigner(appKey, appSecret)
	require.NoError(n.t, err)
	s.SignRequest(req, []byte(body), time.Now())
	res, err := http.DefaultClient.Do(req)
	require.NoError(n.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(n.t, err)
	return res.StatusCode, out
}

// metric reads one sample of the node's /metrics (0 if absent).
func (n *node) metric(ctx context.Context, sample string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.ops+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return f
		}
	}
	return 0
}

func freeTCP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// freeSIP finds a port free for both UDP and TCP.
func freeSIP(t *testing.T) string {
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return addr
		}
	}
	t.Fatal("no free SIP port")
	return ""
}

var (
	rtpMu sync.Mutex
	// Below the kernel's ephemeral ports (32768-60999 on Linux), which
	// other tests' sockets take at random.
	rtpNext = 20000 + 2*int(time.Now().UnixNano()%2000)
)

// freeEvenPortRange hands out distinct ranges of n UDP ports starting
// even, skipping ranges where a sampled port is taken.
func freeEvenPortRange(t *testing.T, n int) int {
	rtpMu.Lock()
	defer rtpMu.Unlock()
	for range 100 {
		base := rtpNext &^ 1
		rtpNext = base + n + 2
		if rtpNext > 32000 {
			rtpNext = 20000
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p += 50 {
			pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			_ = pc.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free RTP range")
	return 0
}
