package kamailio

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callcore/callcore/test/internal/sipp"

	"github.com/callcore/callcore/internal/testutil/syncbuf"
)

// uacScenario is a sipp UAC call that keeps the proxy's Record-Route, so
// its ACK and BYE go through the proxy to the node that answered.
//
//go:embed scenarios/uac.xml
var uacScenario []byte

// nodeByeScenario is uacScenario where the node sends the BYE (through the
// proxy) and sipp answers it.
//
//go:embed scenarios/uac_node_bye.xml
var nodeByeScenario []byte

// Calls describes a sipp UAC run through the proxy; zero fields take the
// defaults in brackets.
type Calls struct {
	Count   int           // calls to place, sipp -m [10]
	Rate    float64       // new calls per second, sipp -r [10]
	Hold    time.Duration // answered call length before sipp's BYE, sipp -d [100ms]
	TCP     bool          // TCP to the proxy instead of UDP
	Service string        // Request-URI user [callcore]
	Timeout time.Duration // the whole run, sipp -timeout [25s]
	// NodeHangsUp: the node ends each call (sipp waits for its BYE, through
	// the proxy, and answers 200); Hold is not used.
	NodeHangsUp bool
}

// CallRun is a sipp run started by StartCalls.
type CallRun struct {
	cmd     *exec.Cmd
	out     *syncbuf.Buffer
	stats   string // -trace_stat file
	errs    string // -trace_err file
	exited  chan struct{}
	waitErr error // valid after exited is closed
}

// StartCalls starts sipp in the background placing c.Count calls to the
// proxy (INVITE with SDP, 200, ACK, Hold, BYE through the proxy, or the
// node's BYE with NodeHangsUp); every other final reply to the INVITE fails
// the call. sipp is killed when the test ends if still running; its output
// is logged if the test failed. sipp (apt-get install sip-tester) is
// required.
func (p *Proxy) StartCalls(t testing.TB, c Calls) *CallRun {
	t.Helper()
	sipp := lookSipp(t)
	if c.Count <= 0 {
		c.Count = 10
	}
	if c.Rate <= 0 {
		c.Rate = 10
	}
	if c.Hold <= 0 {
		c.Hold = 100 * time.Millisecond
	}
	if c.Service == "" {
		c.Service = "callcore"
	}
	if c.Timeout <= 0 {
		c.Timeout = 25 * time.Second
	}
	dir := t.TempDir()
	scenario := filepath.Join(dir, "uac.xml")
	xml := uacScenario
	if c.NodeHangsUp {
		xml = nodeByeScenario
	}
	if err := os.WriteFile(scenario, xml, 0o644); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	// The ports are free when chosen but another process may take one
	// before sipp binds it: a sipp that cannot bind starts again.
	var r *CallRun
	for attempt := 1; ; attempt++ {
		var err error
		if r, err = launchSipp(sipp, p.addr, c, dir, scenario); err != nil {
			t.Fatalf("sipp: %v", err)
		}
		select {
		case <-r.exited:
			if attempt < 3 && strings.Contains(r.out.String(), "Unable to bind") {
				continue
			}
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("sipp output:\n%s", r.out.String())
		}
	})
	return r
}

// Wait waits for sipp to end and returns its final counters. The error is
// not nil when a call failed (with sipp's error log), sipp could not run,
// or ctx ended first (sipp is then killed).
func (r *CallRun) Wait(ctx context.Context) (Stats, error) {
	select {
	case <-r.exited:
	case <-ctx.Done():
		_ = r.cmd.Process.Kill()
		<-r.exited
		return Stats{}, fmt.Errorf("sipp: %w", ctx.Err())
	}
	b, err := os.ReadFile(r.stats)
	if err != nil {
		return Stats{}, fmt.Errorf("sipp (%v): no statistics: %w\n%s", r.waitErr, err, tail(r.out.String(), 2000))
	}
	st, err := sipp.ParseStats(string(b))
	if err != nil {
		return Stats{}, fmt.Errorf("sipp (%v): %w", r.waitErr, err)
	}
	if st.Failed > 0 || r.waitErr != nil {
		errs, _ := os.ReadFile(r.errs)
		return st, fmt.Errorf("sipp: %d of %d calls failed (%v):\n%s", st.Failed, st.Created, r.waitErr, excerpt(string(errs)))
	}
	return st, nil
}

// Output is what sipp printed so far.
func (r *CallRun) Output() string { return r.out.String() }

func lookSipp(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp is required (apt-get install sip-tester): %v", err)
	}
	return p
}

// excerpt keeps the start of sipp's error log (the first failures tell
// why) and its end.
func excerpt(s string) string {
	const head, end = 3000, 1000
	if len(s) <= head+end {
		return s
	}
	return s[:head] + "\n...\n" + s[len(s)-end:]
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// launchSipp starts one sipp run on freshly chosen ports.
func launchSipp(sipp, proxy string, c Calls, dir, scenario string) (*CallRun, error) {
	sigPort, err := freeUDPRange(1)
	if err != nil {
		return nil, err
	}
	mediaPort, err := freeUDPRange(4)
	if err != nil {
		return nil, err
	}
	transport := "u1"
	if c.TCP {
		transport = "t1"
	}
	r := &CallRun{
		out:    &syncbuf.Buffer{},
		stats:  filepath.Join(dir, "stats.csv"),
		errs:   filepath.Join(dir, "errors.log"),
		exited: make(chan struct{}),
	}
	r.cmd = exec.Command(sipp, proxy,
		"-sf", scenario,
		"-s", c.Service,
		"-t", transport,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(sigPort),
		"-mp", strconv.Itoa(mediaPort),
		"-m", strconv.Itoa(c.Count),
		"-r", strconv.FormatFloat(c.Rate, 'f', -1, 64),
		"-d", strconv.FormatInt(c.Hold.Milliseconds(), 10),
		"-timeout", strconv.Itoa(int(c.Timeout.Round(time.Second)/time.Second))+"s",
		"-timeout_error",
		"-nostdin",
		"-trace_stat", "-stf", r.stats,
		"-trace_err", "-error_file", r.errs,
	)
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}
