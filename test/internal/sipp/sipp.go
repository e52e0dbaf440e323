// Package sipp runs the sipp SIP load generator (Debian: sip-tester) from
// tests and benchmarks and reads its statistics.
package sipp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Options describe one sipp UAC run.
type Options struct {
	// Scenario is the scenario XML file (relative to the test's directory
	// or absolute).
	Scenario string
	// Target is where the INVITEs go, host:port; Service the Request-URI
	// user (the dialled number).
	Target, Service string
	// Rate is new calls per second; Total the number of calls; Limit the
	// most calls at once.
	Rate, Total, Limit int
	// Timeout ends the run (sipp's -timeout); default 120 s.
	Timeout time.Duration
}

// Result is what a run did.
type Result struct {
	Successful, Failed int
	Elapsed            time.Duration
	// Output is the tail of sipp's output, for failure messages.
	Output string
}

// Require skips the test when sipp is not installed.
func Require(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		tb.Skip("sipp is not installed (apt-get install sip-tester)")
	}
}

// Run runs sipp to the end and returns its counts. A run with failed calls
// is not an error (sipp exits 1); sipp failing to run is fatal.
func Run(tb testing.TB, o Options) Result {
	tb.Helper()
	if o.Timeout == 0 {
		o.Timeout = 120 * time.Second
	}
	dir := tb.TempDir()
	scenario, err := filepath.Abs(o.Scenario)
	if err != nil {
		tb.Fatal(err)
	}
	stats := filepath.Join(dir, "stats.csv")
	var res Result
	// The ports are free when chosen but another process may take one
	// before sipp binds it: a sipp that cannot bind runs again.
	for attempt := 1; ; attempt++ {
		args := []string{o.Target, "-sf", scenario, "-s", o.Service, "-i", "127.0.0.1", "-p", strconv.Itoa(FreeUDP(tb)),
			"-mp", strconv.Itoa(FreeUDP(tb)), "-r", strconv.Itoa(o.Rate), "-m", strconv.Itoa(o.Total), "-l", strconv.Itoa(o.Limit),
			"-timeout", fmt.Sprintf("%ds", int(o.Timeout/time.Second)), "-timeout_error", "-nostdin", "-trace_stat", "-stf", stats, "-fd", "1",
			"-max_socket", "4096", "-watchdog_minor_threshold", "2000"}
		cmd := exec.Command("sipp", args...)
		cmd.Dir = dir
		start := time.Now()
		out, err := cmd.CombinedOutput()
		res = Result{Elapsed: time.Since(start), Output: tail(out)}
		if err != nil && attempt < 3 && strings.Contains(string(out), "Unable to bind") {
			continue
		}
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			tb.Fatalf("sipp: %v\n%s", err, res.Output)
		}
		break
	}
	res.Successful, res.Failed = counts(tb, stats)
	return res
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// counts reads sipp's final counters from its -trace_stat file.
func counts(tb testing.TB, path string) (ok, failed int) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("sipp stats: %v", err)
	}
	st, err := ParseStats(string(data))
	if err != nil {
		tb.Fatal(err)
	}
	return st.Successful, st.Failed
}

// FreeUDP returns a free UDP port on 127.0.0.1.
func FreeUDP(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Stats are sipp's final counters of a run.
type Stats struct {
	Created    int // calls started
	Successful int // calls that ended the scenario
	Failed     int // calls that did not (unexpected reply, timeout...)
}

// ParseStats reads the -trace_stat CSV sipp writes (a header line of
// ';'-separated counter names, then one line per period, the last one
// final) and returns the cumulative counters of the last line.
func ParseStats(csv string) (Stats, error) {
	var lines []string
	for l := range strings.SplitSeq(csv, "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		return Stats{}, fmt.Errorf("sipp stats: %d lines, want a header and a value line", len(lines))
	}
	header := strings.Split(lines[0], ";")
	values := strings.Split(lines[len(lines)-1], ";")
	if len(values) != len(header) {
		return Stats{}, fmt.Errorf("sipp stats: %d values for %d columns", len(values), len(header))
	}
	field := func(name string) (int, error) {
		for i, h := range header {
			if h == name {
				n, err := strconv.Atoi(strings.TrimSpace(values[i]))
				if err != nil || n < 0 {
					return 0, fmt.Errorf("sipp stats: %s = %q is not a count", name, values[i])
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("sipp stats: no %s column", name)
	}
	var s Stats
	var err error
	if s.Created, err = field("TotalCallCreated"); err != nil {
		return Stats{}, err
	}
	if s.Successful, err = field("SuccessfulCall(C)"); err != nil {
		return Stats{}, err
	}
	if s.Failed, err = field("FailedCall(C)"); err != nil {
		return Stats{}, err
	}
	return s, nil
}
