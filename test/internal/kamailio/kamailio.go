package kamailio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/testutil/syncbuf"
)

const (
	// modulePath identifies the repository's go.mod when walking up.
	modulePath = "github.com/callcore/callcore"
	// configPath is the balancer configuration, relative to the module root.
	configPath = "deploy/kamailio/kamailio.cfg"
	// dsSet is the dispatcher set of the nodes (DS_SET in the config).
	dsSet = 1

	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	// kamcmdTimeout bounds one kamcmd call (kamailio stuck or gone).
	kamcmdTimeout = 5 * time.Second
	// maxSocketPath keeps the unix control socket under sun_path's limit.
	maxSocketPath = 100
)

// Proxy is a running Kamailio load balancer; see Start.
type Proxy struct {
	addr    string // 127.0.0.1:port, UDP and TCP
	ctl     string // unix:/path of the control socket
	kamcmd  string
	out     *syncbuf.Buffer
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returns
	waitErr error         // valid after exited is closed
}

// Option changes how Start runs kamailio.
type Option func(*options)

type options struct {
	defines map[string]string // NAME -> value
}

// WithDefine overrides a define of kamailio.cfg (kamailio -A NAME=value),
// e.g. WithDefine("FR_TIMER", "2000"). String defines keep their double
// quotes in value, as on kamailio's command line. LISTEN_IP, SIP_PORT,
// DISPATCHER_LIST and CTL_SOCKET belong to the harness.
func WithDefine(name, value string) Option {
	return func(o *options) { o.defines[name] = value }
}

// DefaultFRTimer is the FR_TIMER Start sets unless overridden: longer than
// the config's production 2 s so that a node starved of CPU on a loaded
// test machine is not taken for dead (a late 200 after a failover would
// then answer the caller twice).
const DefaultFRTimer = 5 * time.Second

// Start runs kamailio in the foreground (-DD -E, two workers per
// listener) with deploy/kamailio/kamailio.cfg (found by walking up from the
// working directory to the module's go.mod), a dispatcher list of nodes
// (set 1, e.g. "sip:127.0.0.1:5071"), its run dir and control socket in a
// temporary directory, on a free UDP+TCP port of 127.0.0.1, FR_TIMER set to
// DefaultFRTimer, and the defines of opts. It returns once the proxy answers
// an OPTIONS to itself, accepts TCP and its control socket answers.
// kamailio is stopped (SIGTERM, then SIGKILL) when the test ends; its output
// is logged if the test failed.
//
// Without kamailio installed the test fails with an apt-get hint, or is
// skipped when CALLCORE_SKIP_KAMAILIO=1.
func Start(t testing.TB, nodes []string, opts ...Option) *Proxy {
	t.Helper()
	o := options{defines: map[string]string{
		"FR_TIMER":     strconv.FormatInt(DefaultFRTimer.Milliseconds(), 10),
		"CHILDREN":     "2",
		"TCP_CHILDREN": "2",
	}}
	for _, opt := range opts {
		opt(&o)
	}
	for _, name := range []string{"LISTEN_IP", "SIP_PORT", "DISPATCHER_LIST", "CTL_SOCKET"} {
		if _, ok := o.defines[name]; ok {
			t.Fatalf("kamailio: %s is set by the harness", name)
		}
	}
	var defines []string
	for name, value := range o.defines {
		defines = append(defines, name+"="+value)
	}
	slices.Sort(defines)
	kamailio := lookBinary(t, "kamailio")
	kamcmd := lookBinary(t, "kamcmd")
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	cfg := filepath.Join(root, configPath)
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("kamailio: config: %v", err)
	}
	dir := runDir(t)
	list := filepath.Join(dir, "dispatcher.list")
	if err := writeDispatcherList(list, nodes); err != nil {
		t.Fatalf("kamailio: %v", err)
	}

	var lastErr error
	for range 3 {
		p, err := start(t, kamailio, kamcmd, cfg, dir, list, defines)
		if err == nil {
			return p
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
		// Another test took the port between our probe and kamailio's
		// bind: try another one.
	}
	t.Fatalf("kamailio: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func start(t testing.TB, kamailio, kamcmd, cfg, dir, list string, defines []string) (*Proxy, error) {
	port, err := freeSIPPort()
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		ctl:    "unix:" + filepath.Join(dir, "kamailio_ctl"),
		kamcmd: kamcmd,
		out:    &syncbuf.Buffer{},
		exited: make(chan struct{}),
	}
	args := []string{
		"-DD", "-E", // foreground, log to stderr
		"-f", cfg,
		"-Y", dir, // runtime dir
		"-w", dir, // working dir (core files...)
		"-m", "32", "-M", "4", // shared / private memory, MB
		"-A", "LISTEN_IP=127.0.0.1",
		"-A", "SIP_PORT=" + strconv.Itoa(port),
		"-A", `DISPATCHER_LIST="` + list + `"`,
		"-A", `CTL_SOCKET="` + p.ctl + `"`,
	}
	for _, d := range defines {
		args = append(args, "-A", d)
	}
	p.cmd = exec.Command(kamailio, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kamailio, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.waitReady(ctx); err != nil {
		p.stop()
		out := p.out.String()
		if strings.Contains(out, "Address already in use") {
			return nil, fmt.Errorf("port %d: %w", port, errAddrInUse)
		}
		return nil, fmt.Errorf("not ready: %w\nkamailio output:\n%s", err, out)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("kamailio output (%s):\n%s", p.addr, p.out.String())
		}
	})
	return p, nil
}

// waitReady polls until the proxy answers OPTIONS over UDP, accepts TCP
// and its control socket lists the destinations.
func (p *Proxy) waitReady(ctx context.Context) error {
	var err error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("kamailio exited: %v", p.waitErr)
		default:
		}
		err = p.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-p.exited:
			return fmt.Errorf("kamailio exited: %v", p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Proxy) ready(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := p.Ping(pctx); err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(pctx, "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	_ = c.Close()
	_, err = p.Destinations()
	return err
}

// stop sends SIGTERM (kamailio's main process stops its children), then
// SIGKILL to the whole process group if it does not exit in time.
func (p *Proxy) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(stopTimeout):
	}
	killGroup(p.cmd.Process.Pid)
	<-p.exited
}

// Addr is the proxy's SIP address, "127.0.0.1:port", for UDP and TCP.
func (p *Proxy) Addr() string { return p.addr }

// Output is what kamailio logged so far.
func (p *Proxy) Output() string { return p.out.String() }

// Destinations reads the dispatcher state over the control socket (kamcmd
// dispatcher.list): node URI -> flags of set 1 (the nodes), where the first letter is the state
// (A active, I inactive, T trying: failing but still selected, D disabled)
// and the second P when the node is probed with OPTIONS (X when not).
func (p *Proxy) Destinations() (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kamcmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, p.kamcmd, "-s", p.ctl, "dispatcher.list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kamcmd dispatcher.list: %w: %s", err, bytes.TrimSpace(out))
	}
	return parseDispatcherList(string(out), dsSet)
}

// WaitActive waits until exactly uris are active (state A) and every other
// destination is out of the rotation (I inactive or D disabled; a T
// "trying" destination is still selected, so it does not count as out).
func (p *Proxy) WaitActive(ctx context.Context, uris ...string) error {
	var last map[string]string
	var lastErr error
	for {
		last, lastErr = p.Destinations()
		if lastErr == nil && activeExactly(last, uris) {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("kamailio: waiting for active %v: %w (last: %v)", uris, ctx.Err(), lastErr)
			}
			return fmt.Errorf("kamailio: waiting for active %v: %w (destinations: %v)", uris, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func activeExactly(dests map[string]string, uris []string) bool {
	for _, u := range uris {
		if _, ok := dests[u]; !ok {
			return false
		}
	}
	for u, flags := range dests {
		if slices.Contains(uris, u) {
			if !strings.HasPrefix(flags, "A") {
				return false
			}
		} else if !strings.HasPrefix(flags, "I") && !strings.HasPrefix(flags, "D") {
			return false
		}
	}
	return true
}

// Ping sends an OPTIONS to the proxy itself over UDP and returns the status
// code: 200 while at least one node is active, 503 when none is.
func (p *Proxy) Ping(ctx context.Context) (int, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	dst, err := net.ResolveUDPAddr("udp", p.addr)
	if err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	local := conn.LocalAddr().String()
	id := strconv.FormatUint(rand.Uint64(), 36)
	req := "OPTIONS sip:" + p.addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:harness@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:" + p.addr + ">\r\n" +
		"Call-ID: " + id + "@harness\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.WriteTo([]byte(req), dst); err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("ping %s: %w", p.addr, err)
		}
		code, err := statusCode(buf[:n])
		if err != nil {
			return 0, fmt.Errorf("ping %s: %w", p.addr, err)
		}
		if code >= 200 {
			return code, nil
		}
	}
}

// statusCode is the code of a SIP response's status line.
func statusCode(msg []byte) (int, error) {
	line, _, _ := bytes.Cut(msg, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "SIP/2.0" || len(f[1]) != 3 {
		return 0, fmt.Errorf("not a SIP response: %q", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	return code, nil
}

// lookBinary finds name in PATH or /usr/sbin (Debian's place for kamailio,
// often not in a non-root PATH).
func lookBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CALLCORE_SKIP_KAMAILIO") == "1" {
		t.Skipf("%s is not installed (CALLCORE_SKIP_KAMAILIO=1)", name)
	}
	t.Fatalf("%s is required: apt-get install kamailio (or set CALLCORE_SKIP_KAMAILIO=1 to skip these tests)", name)
	return ""
}

// moduleRoot walks up from the working directory to the callcore go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isModule(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isModule(gomod []byte) bool {
	for l := range strings.SplitSeq(string(gomod), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == modulePath {
			return true
		}
	}
	return false
}

// runDir is t.TempDir(), or a shorter temporary directory when the control
// socket path would not fit a unix socket address.
func runDir(t testing.TB) string {
	dir := t.TempDir()
	if len(filepath.Join(dir, "kamailio_ctl")) <= maxSocketPath {
		return dir
	}
	dir, err := os.MkdirTemp("", "kam")
	if err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// writeDispatcherList writes set 1 with flag 8 (probing) per node.
func writeDispatcherList(path string, nodes []string) error {
	var b strings.Builder
	b.WriteString("# written by test/internal/kamailio\n")
	for _, n := range nodes {
		if n == "" || strings.ContainsAny(n, " \t\r\n") {
			return fmt.Errorf("bad node URI %q", n)
		}
		fmt.Fprintf(&b, "%d %s 8\n", dsSet, n)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// freeSIPPort returns a port of 127.0.0.1 free for both UDP and TCP.
func freeSIPPort() (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = u.Close()
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, errors.New("no port free for both UDP and TCP")
}

// freeUDPRange returns p such that UDP ports p..p+n-1 of 127.0.0.1 are
// free (sipp binds its media ports at start even without media).
func freeUDPRange(n int) (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		conns := []net.PacketConn{u}
		ok := port+n-1 <= 65535
		for i := 1; ok && i < n; i++ {
			c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i)))
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free UDP ports", n)
}
