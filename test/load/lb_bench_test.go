package load

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/redisconn"
	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/internal/kamailio"
)

// lbStep is how long sipp places calls at each rate of the ladder;
// CALLCORE_LB_STEP (a duration, whole seconds) replaces it. Steps of 5 s
// (the first-calls benchmark's) tell setups apart poorly: the load of a
// step's last second is absorbed while its calls end, and a fresh node's
// start-up costs weigh; 15 s measures a steady state.
const lbStep = 15 * time.Second

// lbMaxTail bounds sipp's run beyond the step: a call lasts about 1.2 s here
// (the prompt, then sipp's 500 ms timewait), so a run that ends later than
// step+lbMaxTail had calls queued (sipp holds new calls back at its limit
// of open calls): the setup did not keep the rate, and would fail calls
// over a longer step.
const lbMaxTail = 2 * time.Second

// lbRates is the coarse ladder of call rates (calls/s); CALLCORE_LB_RATES
// (e.g. "300,400") replaces it. Between the last rate kept and the first
// one not kept the ladder is then bisected lbRefinements times (to 25
// calls/s with the default ladder).
var lbRates = []int{400, 600, 800, 1000, 1200, 1400}

const lbRefinements = 3

// lbKamailioShmMB is the shared memory of the benchmark's Kamailio. The
// harness starts it with 32 MB, which holds the transactions of about
// 1,000 calls (INVITE and BYE, each kept for tm's 5 s wait timer after its
// final reply, about 30 KB per call): about 210 calls/s, for one node or
// ten. The benchmark measures the nodes, so it gives Kamailio room (see
// withKamailioShm).
const lbKamailioShmMB = 512

// lbRTPPorts is the size of each node's RTP range, from lbRTPBase up. A
// port pair stays in use for the call (about 1.2 s here) and 2 s of
// quarantine after it: startNodeAs's 4000 ports cap one node at about 600
// calls/s, below what the CPU allows, so these nodes get 14000 each (about
// 2,000 calls/s), below the kernel's ephemeral ports (32768 up).
const (
	lbRTPPorts = 14000
	lbRTPBase  = 4000
)

// lbSetup is one way of serving the calls behind the balancer.
type lbSetup struct {
	name  string
	redis bool
	nodes []string // node ids
}

var (
	oneMemory = lbSetup{name: "one_memory", nodes: []string{"mem"}}
	twoRedis  = lbSetup{name: "two_redis", redis: true, nodes: []string{"a", "b"}}
	// For telling the cost of Redis from the effect of a second node
	// (CALLCORE_LB_SETUPS): two memory-store nodes (each its own store,
	// fine for calls that stay on their node) and one Redis-backed node.
	twoMemory = lbSetup{name: "two_memory", nodes: []string{"m1", "m2"}}
	oneRedis  = lbSetup{name: "one_redis", redis: true, nodes: []string{"r"}}
)

// lbSetups parses CALLCORE_LB_SETUPS, e.g. "one_memory,two_memory" (""
// is one_memory and two_redis).
func lbSetups(env string) ([]lbSetup, error) {
	if env == "" {
		return []lbSetup{oneMemory, twoRedis}, nil
	}
	all := []lbSetup{oneMemory, twoRedis, twoMemory, oneRedis}
	var out []lbSetup
	for name := range strings.SplitSeq(env, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(s lbSetup) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("CALLCORE_LB_SETUPS: unknown setup %q (one_memory, two_redis, two_memory, one_redis)", name)
		}
		if !slices.ContainsFunc(out, func(s lbSetup) bool { return s.name == name }) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// BenchmarkSippTwoNodesBehindKamailio compares the call rate of two
// Redis-backed nodes of a region (one Redis, node ids a and b, distinct RTP
// ranges) behind the real Kamailio dispatcher with the rate of one
// memory-store node behind the same Kamailio with a single destination.
// Both run the same sipp scenario (INVITE → ICE → answer, say "Hello",
// node's BYE, through the proxy, the kamailio harness's NodeHangsUp
// scenario) up a ladder of rates, lbStep per step. A step keeps its rate
// when no call failed and sipp's run did not stretch (lbMaxTail); a rate
// not kept is run once more (more often when other processes loaded the
// machine, see rateLadder), and the setup stops at the first rate that
// fails for good, after bisecting below it. The two setups alternate rate
// by rate so that background load hits both alike. Every step starts its
// own nodes, Redis and Kamailio in a sub-benchmark of its own, so all of it
// is stopped (ports, processes) before the next step, and warms them with
// a few calls.
//
// Each step logs and reports its node-side INVITE→ICE delay, the Redis
// round trips and commands per call, Kamailio's shared memory, UDP drops
// and where the CPU went per call (the in-process nodes, kamailio, sipp,
// redis-server, interrupts, everything else on the machine, from /proc);
// the summary reports max_rate_one_memory, max_rate_two_redis, their ratio
// (the target is ≥ 0.85) and the ICE delay p99 at each maximum.
//
// It takes about ten minutes. CALLCORE_LB_RATES, CALLCORE_LB_STEP,
// CALLCORE_LB_SETUPS (adds two_memory and one_redis, to tell the cost of
// Redis from the effect of a second node) and CALLCORE_LB_REDIS_QUERY
// (options of the Redis URL, e.g. pool_size=100) change the run, e.g. for
// profiling one rate of one setup with -cpuprofile.
func BenchmarkSippTwoNodesBehindKamailio(b *testing.B) {
	requireLoadBalancer(b)
	rates, err := ladder(os.Getenv("CALLCORE_LB_RATES"))
	if err != nil {
		b.Fatal(err)
	}
	setups, err := lbSetups(os.Getenv("CALLCORE_LB_SETUPS"))
	if err != nil {
		b.Fatal(err)
	}
	step, err := lbStepFrom(os.Getenv("CALLCORE_LB_STEP"))
	if err != nil {
		b.Fatal(err)
	}
	ladders := map[string]*rateLadder{}
	attempts := map[string][]stepResult{}
	for _, s := range setups {
		ladders[s.name] = &rateLadder{rates: rates}
	}
	for progressed := true; progressed; {
		progressed = false
		for _, s := range setups {
			l := ladders[s.name]
			rate, ok := l.next()
			if !ok {
				continue
			}
			progressed = true
			var res stepResult
			ran := false
			b.Run(fmt.Sprintf("%s/rate=%d", s.name, rate), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					res = runLBStep(b, s, rate, step)
				}
				ran = true
				res.report(b)
			})
			if !ran { // filtered out by -bench: neither kept nor failed
				l.skip()
				continue
			}
			attempts[s.name] = append(attempts[s.name], res)
			l.record(rate, res.ok(), res.noisy())
		}
	}

	b.Run("summary", func(b *testing.B) {
		for b.Loop() {
		}
		for _, s := range setups {
			l := ladders[s.name]
			var steps []string
			for _, r := range attempts[s.name] {
				steps = append(steps, r.String())
			}
			b.Logf("%s: max %d calls/s%s\n\t%s", s.name, l.best, l.note(), strings.Join(steps, "\n\t"))
			if !l.ran {
				continue
			}
			b.ReportMetric(float64(l.best), "max_rate_"+s.name)
			if r, ok := kept(attempts[s.name], l.best); ok {
				b.ReportMetric(r.iceP99*1e6, "ice_p99_"+s.name+"_µs")
			}
		}
		if one, two := ladders[oneMemory.name], ladders[twoRedis.name]; one != nil && two != nil && one.ran && two.ran && one.best > 0 {
			b.ReportMetric(float64(two.best)/float64(one.best), "ratio")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// kept is the last attempt at rate that kept it.
func kept(attempts []stepResult, rate int) (stepResult, bool) {
	for i := len(attempts) - 1; i >= 0; i-- {
		if r := attempts[i]; r.rate == rate && r.ok() {
			return r, true
		}
	}
	return stepResult{}, false
}

// requireLoadBalancer skips the benchmark when sipp, kamailio or
// redis-server is missing.
func requireLoadBalancer(b *testing.B) {
	b.Helper()
	requireSipp(b)
	for _, bin := range []struct{ name, pkg string }{{"kamailio", "kamailio"}, {"kamcmd", "kamailio"}, {"redis-server", "redis-server"}} {
		if !haveBinary(bin.name) {
			b.Skipf("%s is not installed (apt-get install %s): the load-balancer benchmark needs sipp, kamailio and redis-server", bin.name, bin.pkg)
		}
	}
}

// haveBinary looks in PATH and in the sbin directories Debian puts
// kamailio in.
func haveBinary(name string) bool {
	return findBinary(name, os.Getenv("PATH")) != ""
}

// findBinary is the first executable name in path's directories, then in
// /usr/sbin and /usr/local/sbin, or "".
func findBinary(name, path string) string {
	for _, dir := range append(filepath.SplitList(path), "/usr/sbin", "/usr/local/sbin") {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// lbStepFrom parses CALLCORE_LB_STEP ("" is lbStep).
func lbStepFrom(env string) (time.Duration, error) {
	if env == "" {
		return lbStep, nil
	}
	d, err := time.ParseDuration(env)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("CALLCORE_LB_STEP: %q is not a whole number of seconds", env)
	}
	return d, nil
}

// ladder parses CALLCORE_LB_RATES ("" is the default ladder).
func ladder(env string) ([]int, error) {
	if env == "" {
		return lbRates, nil
	}
	var rates []int
	for f := range strings.SplitSeq(env, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("CALLCORE_LB_RATES: %q is not a call rate", f)
		}
		rates = append(rates, r)
	}
	slices.Sort(rates)
	return slices.Compact(rates), nil
}

// rateLadder walks the coarse rates up to the first one not kept, then
// bisects between the best rate and that one. A rate not kept is tried
// once more before it counts, and up to lbNoisyRetries more times when
// other processes took much of the machine during the step (the machine is
// shared with other tests).
type rateLadder struct {
	rates   []int
	i       int  // next coarse rate
	best    int  // highest rate kept
	failed  int  // lowest rate not kept (twice); 0: none yet
	refined int  // bisection steps done
	retry   int  // rate to try again; 0: none
	retried int  // last rate tried again
	noisy   int  // noisy failures of the current rate
	ran     bool // a step ran (not filtered out)
}

// lbNoisyRetries bounds the retries of a rate whose steps failed while
// other processes used more than lbNoisyShare of the CPU.
const (
	lbNoisyRetries = 3
	lbNoisyShare   = 0.10
)

func (l *rateLadder) next() (int, bool) {
	switch {
	case l.retry != 0:
		return l.retry, true
	case l.failed == 0 && l.i < len(l.rates):
		return l.rates[l.i], true
	case l.failed == 0 || l.refined >= lbRefinements || l.failed-l.best <= 10:
		return 0, false
	}
	return (l.best + l.failed) / 2, true
}

func (l *rateLadder) record(rate int, ok, noisy bool) {
	l.ran = true
	if !ok && noisy && l.noisy < lbNoisyRetries {
		l.noisy++
		l.retry = rate
		return
	}
	if !ok && l.retried != rate {
		l.retry, l.retried = rate, rate
		return
	}
	l.retry, l.noisy = 0, 0
	l.advance()
	switch {
	case ok && rate > l.best:
		l.best = rate
	case !ok && (l.failed == 0 || rate < l.failed):
		l.failed = rate
	}
}

// skip moves past a rate that did not run.
func (l *rateLadder) skip() {
	l.retry, l.noisy = 0, 0
	l.advance()
}

func (l *rateLadder) advance() {
	if l.failed == 0 {
		l.i++
	} else {
		l.refined++
	}
}

// note says what bounds the best rate.
func (l *rateLadder) note() string {
	switch {
	case !l.ran:
		return " (not run)"
	case l.failed == 0:
		return " (every step kept its rate: a lower bound)"
	}
	return fmt.Sprintf(" (%d calls/s not kept)", l.failed)
}

// stepResult is what one rate step of one setup did.
type stepResult struct {
	setup     string
	rate      int
	step      time.Duration // sipp placed calls for this long
	calls     int           // placed
	stats     kamailio.Stats
	err       error
	took      time.Duration // sipp's run, first INVITE to last call's end
	iceP50    float64       // seconds, node side, all nodes together
	iceP99    float64
	perNode   []int   // calls that reached each node's call core (ICEs)
	failovers int     // INVITEs Kamailio moved to another node (503/timeout)
	retrans   int     // INVITEs sipp sent again (no 100 Trying within 500 ms); -1 unknown
	peak      int     // most calls open at once in sipp; -1 unknown
	redisRT   float64 // Redis round trips per call, all nodes (idle traffic included)
	// redisCmds is redis-server's commands per call by name (INFO
	// commandstats), most frequent first; with redisUsec, its CPU per
	// call (µs) as it measures it.
	redisCmds []cmdCount
	redisUsec float64
	mallocs   float64 // heap allocations per call in the test process (nodes)
	// Kamailio's shared memory: peak use since start and pool size, bytes
	// (0 when kamcmd could not tell).
	shmMaxUsed, shmTotal int64
	cpu                  cpuSplit
	// udpDrops is the machine's UDP datagrams dropped for a full receive
	// buffer during the run (RcvbufErrors of /proc/net/snmp; -1 unknown),
	// of which nodeDrops at the nodes' SIP sockets and kamDrops at
	// Kamailio's (/proc/net/udp).
	udpDrops, nodeDrops, kamDrops int64
}

// noisy is whether other processes used more than lbNoisyShare of the
// machine during the step.
func (r stepResult) noisy() bool {
	return r.cpu.capacity > 0 && float64(r.cpu.ticks["other"]) > lbNoisyShare*float64(r.cpu.capacity)
}

// late is whether sipp's run stretched: calls were queued.
func (r stepResult) late() bool { return r.took > r.step+lbMaxTail }

func (r stepResult) ok() bool {
	return r.err == nil && r.stats.Failed == 0 && r.stats.Successful == r.calls && !r.late()
}

func (r stepResult) String() string {
	status := "kept"
	switch {
	case r.err != nil || r.stats.Failed > 0 || r.stats.Successful != r.calls:
		status = fmt.Sprintf("FAILED %d (%v)", r.calls-r.stats.Successful, firstLine(r.err))
	case r.late():
		status = "LATE (calls queued)"
	}
	if r.noisy() {
		status += fmt.Sprintf(" [noisy: other processes used %.0f%% of the CPU]", 100*float64(r.cpu.ticks["other"])/float64(r.cpu.capacity))
	}
	return fmt.Sprintf("%s rate %d/s: %d calls in %v, %d successful, %s; ICEs per node %v, %d failovers, "+
		"%d INVITE retransmissions, peak %d open calls; INVITE→ICE p50 %s p99 %s; %.1f Redis round trips/call; "+
		"%.0f allocs/call; kamailio shm peak %.0f of %.0f MB; CPU per call: %s",
		r.setup, r.rate, r.calls, r.took.Round(time.Millisecond), r.stats.Successful, status, r.perNode, r.failovers,
		r.retrans, r.peak, iceDelay(r.iceP50), iceDelay(r.iceP99), r.redisRT,
		r.mallocs, float64(r.shmMaxUsed)/(1<<20), float64(r.shmTotal)/(1<<20), r.cpu.perCall(r.stats.Successful)) +
		fmt.Sprintf("; UDP datagrams dropped (receive buffer full): %d, of which %d at the nodes' SIP sockets and %d at Kamailio's",
			r.udpDrops, r.nodeDrops, r.kamDrops) +
		r.redisCommands()
}

// iceDelay formats an INVITE→ICE quantile; the histogram ends at 100 ms.
func iceDelay(s float64) string {
	if s >= .1 {
		return "≥100 ms"
	}
	return fmt.Sprintf("%.0f µs", s*1e6)
}

func (r stepResult) report(b *testing.B) {
	b.Log(r.String())
	kept := 0.0
	if r.ok() {
		kept = 1
	}
	b.ReportMetric(kept, "kept")
	b.ReportMetric(float64(r.calls-r.stats.Successful), "failed")
	b.ReportMetric(r.took.Seconds(), "run_s")
	b.ReportMetric(r.iceP99*1e6, "ice_p99_µs")
	b.ReportMetric(r.redisRT, "redis_roundtrips/call")
	if n := r.stats.Successful; n > 0 {
		for _, c := range cpuGroups {
			b.ReportMetric(r.cpu.seconds(c)*1e3/float64(n), "cpu_ms_"+c+"/call")
		}
	}
	b.ReportMetric(0, "ns/op")
}

func firstLine(err error) string {
	if err == nil {
		return "no error"
	}
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}

// sippCounters reads, from sipp's final screen, the INVITE
// retransmissions and the peak of open calls (-1 when not found).
func sippCounters(out string) (retrans, peak int) {
	retrans, peak = -1, -1
	if i := strings.LastIndex(out, "INVITE ---------->"); i >= 0 {
		line, _, _ := strings.Cut(out[i+len("INVITE ---------->"):], "\n")
		if f := strings.Fields(line); len(f) >= 2 {
			if n, err := strconv.Atoi(f[1]); err == nil && n >= 0 {
				retrans = n
			}
		}
	}
	if i := strings.LastIndex(out, "Peak was "); i >= 0 {
		if f := strings.Fields(out[i+len("Peak was "):]); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
				peak = n
			}
		}
	}
	return retrans, peak
}

// runLBStep starts the setup's nodes (and Redis) behind a new Kamailio,
// warms them up, places rate×step calls through the proxy and measures the
// run. Everything it starts stops when b ends.
func runLBStep(b *testing.B, s lbSetup, rate int, step time.Duration) stepResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	be := newCountingBackend(b)
	redisURL, redisAddr := "", ""
	if s.redis {
		redisAddr = redisserver.Start(b)
		redisURL = "redis://" + redisAddr
		if q := os.Getenv("CALLCORE_LB_REDIS_QUERY"); q != "" {
			redisURL += "?" + q // e.g. pool_size=100
		}
	}
	var nodes []*app.App
	var regs []*prometheus.Registry
	var uris []string
	for i, id := range s.nodes {
		reg := prometheus.NewRegistry()
		n := startLBNode(b, reg, be.srv.URL, redisURL, id, lbRTPBase+lbRTPPorts*i)
		nodes, regs, uris = append(nodes, n), append(regs, reg), append(uris, "sip:"+n.SIPAddr())
	}
	argsFile := withKamailioShm(b, lbKamailioShmMB)
	p := kamailio.Start(b, uris)
	if err := p.WaitActive(ctx, uris...); err != nil {
		b.Fatal(err)
	}

	// Warm up the connections to Redis and to the backend, the pools and
	// the heap: every node gets some calls.
	const warm = 40
	if st, err := p.StartCalls(b, kamailio.Calls{Count: warm, Rate: 40, Service: sayDID, NodeHangsUp: true}).Wait(ctx); err != nil {
		b.Fatalf("%s: warm-up calls: %v (%+v)", s.name, err, st)
	}
	if err := settle(ctx, nodes, be, warm); err != nil {
		b.Fatalf("%s: warm-up: %v", s.name, err)
	}

	res := stepResult{setup: s.name, rate: rate, step: step, calls: rate * int(step/time.Second)}
	iceBefore := make([]*dto.Histogram, len(regs))
	for i, reg := range regs {
		iceBefore[i] = histogram(reg, "callcore_calls_ice_delay_seconds")
	}
	redisBefore := redisStats(nodes)
	cmdsBefore := commandStats(ctx, redisAddr)
	failoversBefore := strings.Count(p.Output(), "marked inactive")
	diceBefore := be.dice.Load()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	udpBefore, socksBefore := readUDPStats(), readUDPSockets()
	sampler := startCPUSampler(200 * time.Millisecond)

	start := time.Now()
	run := p.StartCalls(b, kamailio.Calls{Count: res.calls, Rate: float64(rate), Service: sayDID, NodeHangsUp: true,
		Timeout: step + 25*time.Second})
	res.stats, res.err = run.Wait(ctx)
	res.took = time.Since(start)
	res.retrans, res.peak = sippCounters(run.Output())
	// The node's part of a call ends after sipp's: its DiCE goes out
	// (through the outbox with Redis) once the BYE is answered.
	if err := settle(ctx, nodes, be, int(diceBefore)+res.stats.Successful); err != nil && res.err == nil {
		res.err = err
	}
	res.cpu = sampler.stop()
	res.udpDrops = -1
	if after := readUDPStats(); after != nil && udpBefore != nil {
		res.udpDrops = after["RcvbufErrors"] - udpBefore["RcvbufErrors"]
	}
	socksAfter := readUDPSockets()
	for _, n := range nodes {
		res.nodeDrops += socketDrops(socksBefore, socksAfter, portOf(n.SIPAddr()))
	}
	res.kamDrops = socketDrops(socksBefore, socksAfter, portOf(p.Addr()))
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)

	var merged *dto.Histogram
	for i, reg := range regs {
		d := histSub(histogram(reg, "callcore_calls_ice_delay_seconds"), iceBefore[i])
		res.perNode = append(res.perNode, int(d.GetSampleCount()))
		merged = histAdd(merged, d)
	}
	res.iceP50, res.iceP99 = histQuantile(merged, .5), histQuantile(merged, .99)
	res.failovers = strings.Count(p.Output(), "marked inactive") - failoversBefore
	res.shmMaxUsed, res.shmTotal = kamailioShm(argsFile)
	if !res.ok() {
		b.Logf("%s rate %d/s failed: %v\nkamailio errors:\n%s", s.name, rate, headLines(fmt.Sprint(res.err), 12),
			headLines(grepLines(p.Output(), "ERROR", "CRITICAL", "ALERT", "WARNING"), 12))
	}
	if n := res.stats.Successful; n > 0 {
		res.redisRT = float64(redisStats(nodes).Sub(redisBefore).RoundTrips) / float64(n)
		res.redisCmds, res.redisUsec = perCall(commandStats(ctx, redisAddr), cmdsBefore, n)
		res.mallocs = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	}
	return res
}

// startLBNode is startNodeAs with lbRTPPorts RTP ports from rtp.
func startLBNode(b *testing.B, reg *prometheus.Registry, callbackURL, redisURL, id string, rtp int) *app.App {
	return startNodePorts(b, reg, callbackURL, redisURL, id, rtp, lbRTPPorts)
}

// cmdCount is a command's count (per call once divided) and the
// microseconds redis-server spent on it.
type cmdCount struct {
	name  string
	calls float64
	usec  float64
}

// redisCommands formats the Redis commands per call ("" without Redis).
func (r stepResult) redisCommands() string {
	if len(r.redisCmds) == 0 {
		return ""
	}
	var parts []string
	for _, c := range r.redisCmds {
		parts = append(parts, fmt.Sprintf("%s %.2f", c.name, c.calls))
	}
	return fmt.Sprintf("; Redis commands/call: %s (redis-server %.0f µs/call)", strings.Join(parts, ", "), r.redisUsec)
}

// commandStats is redis-server's INFO commandstats at addr, nil without
// Redis or when it does not answer.
func commandStats(ctx context.Context, addr string) map[string]cmdCount {
	if addr == "" {
		return nil
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	return parseCommandStats(info)
}

// parseCommandStats reads INFO commandstats lines such as
// "cmdstat_get:calls=21,usec=175,usec_per_call=8.33,...".
func parseCommandStats(info string) map[string]cmdCount {
	out := map[string]cmdCount{}
	for l := range strings.SplitSeq(info, "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(l), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || name == "" {
			continue
		}
		c := cmdCount{name: name}
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
				continue
			}
			switch k {
			case "calls":
				c.calls = n
			case "usec":
				c.usec = n
			}
		}
		out[name] = c
	}
	return out
}

// perCall is (after - before) / calls by command, most frequent first,
// without the commands of this benchmark itself (info), and redis-server's
// microseconds per call.
func perCall(after, before map[string]cmdCount, calls int) ([]cmdCount, float64) {
	var out []cmdCount
	usec := 0.0
	for name, a := range after {
		if name == "info" {
			continue
		}
		d := cmdCount{name: name, calls: (a.calls - before[name].calls) / float64(calls), usec: (a.usec - before[name].usec) / float64(calls)}
		if d.calls <= 0 {
			continue
		}
		usec += d.usec
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b cmdCount) int {
		if c := cmp.Compare(b.calls, a.calls); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out, usec
}

// settle waits until no node has a call left and the backend has had dice
// DiCEs in all (with a bound: a lost DiCE is an error, not a hang).
func settle(ctx context.Context, nodes []*app.App, be *countingBackend, dice int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		active := 0
		for _, n := range nodes {
			active += n.ActiveCalls()
		}
		got := int(be.dice.Load())
		if active == 0 && got >= dice {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("calls did not settle: %d still active, %d of %d DiCEs: %w", active, got, dice, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func redisStats(nodes []*app.App) redisconn.Stats {
	var s redisconn.Stats
	for _, n := range nodes {
		x := n.RedisStats()
		s.RoundTrips += x.RoundTrips
		s.BytesSent += x.BytesSent
		s.BytesReceived += x.BytesReceived
		s.Errors += x.Errors
	}
	return s
}

// countingBackend answers like backend (ICE: answer, say "Hello", hangup)
// and counts the DiCEs it gets.
type countingBackend struct {
	srv  *httptest.Server
	dice atomic.Int64
}

func newCountingBackend(tb testing.TB) *countingBackend {
	cb := &countingBackend{}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch s := string(body); {
		case strings.Contains(s, `"event":"dice"`):
			cb.dice.Add(1)
		case strings.Contains(s, `"event":"ice"`):
			_, _ = io.WriteString(w, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`)
		}
	}))
	tb.Cleanup(cb.srv.Close)
	return cb
}

// histogram is the named histogram of reg (its only series), or an empty
// one.
func histogram(reg *prometheus.Registry, name string) *dto.Histogram {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}

// histSub is a - b for two snapshots of one histogram (same buckets).
func histSub(a, b *dto.Histogram) *dto.Histogram {
	return histCombine(a, b, -1)
}

// histAdd is a + b for histograms with the same buckets; a may be nil.
func histAdd(a, b *dto.Histogram) *dto.Histogram {
	if a == nil {
		return b
	}
	return histCombine(a, b, 1)
}

func histCombine(a, b *dto.Histogram, sign int64) *dto.Histogram {
	count := int64(a.GetSampleCount()) + sign*int64(b.GetSampleCount())
	out := &dto.Histogram{SampleCount: new(uint64(max(count, 0)))}
	for i, ba := range a.GetBucket() {
		c := int64(ba.GetCumulativeCount())
		if i < len(b.GetBucket()) {
			c += sign * int64(b.GetBucket()[i].GetCumulativeCount())
		}
		out.Bucket = append(out.Bucket, &dto.Bucket{UpperBound: new(ba.GetUpperBound()), CumulativeCount: new(uint64(max(c, 0)))})
	}
	return out
}

// cpuGroups are the consumers cpuSplit tells apart.
var cpuGroups = []string{"nodes", "kamailio", "sipp", "redis", "irq", "other"}

// cpuSplit is CPU time (clock ticks) per consumer during a run: this
// process (the in-process nodes, their callback backend and the test), its
// kamailio, sipp and redis-server children, the kernel's interrupt and
// softirq time (loopback packet delivery, mostly) and everything else on
// the machine (other tests...), with the machine's total capacity.
type cpuSplit struct {
	ticks    map[string]uint64
	busy     uint64 // ticks the machine's CPUs were not idle (/proc/stat)
	capacity uint64 // ticks of all CPUs during the run
	elapsed  time.Duration
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func (c cpuSplit) seconds(group string) float64 { return float64(c.ticks[group]) / clockTicks }

func (c cpuSplit) perCall(calls int) string {
	if c.capacity == 0 || calls == 0 {
		return "n/a (no /proc)"
	}
	var parts []string
	for _, g := range cpuGroups {
		parts = append(parts, fmt.Sprintf("%s %.2f ms", g, c.seconds(g)*1e3/float64(calls)))
	}
	return fmt.Sprintf("%s (machine %.0f%% busy over %v)", strings.Join(parts, ", "),
		100*float64(c.busy)/float64(c.capacity), c.elapsed.Round(100*time.Millisecond))
}

// cpuSampler follows this process and its descendants in /proc while a run
// goes: a process that exits between two samples loses its last interval.
type cpuSampler struct {
	start    time.Time
	base     map[int]procTicks // at start
	sysBase  sysTicks
	mu       sync.Mutex
	last     map[int]procTicks // latest sample of every process seen
	done     chan struct{}
	finished chan struct{}
}

type procTicks struct {
	group string
	ticks uint64
}

type sysTicks struct{ busy, irq, total uint64 }

func startCPUSampler(every time.Duration) *cpuSampler {
	s := &cpuSampler{start: time.Now(), base: sampleTree(), sysBase: sampleSys(), last: map[int]procTicks{},
		done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *cpuSampler) sample() {
	cur := sampleTree()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range cur {
		s.last[pid] = p
	}
}

// stop ends sampling and returns the split since start.
func (s *cpuSampler) stop() cpuSplit {
	close(s.done)
	<-s.finished
	s.sample()
	sys := sampleSys()
	out := cpuSplit{ticks: map[string]uint64{}, elapsed: time.Since(s.start)}
	if sys.total == 0 {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ours uint64
	for pid, p := range s.last {
		d := p.ticks
		if b, ok := s.base[pid]; ok && b.group == p.group {
			d -= min(b.ticks, d)
		}
		out.ticks[p.group] += d
		ours += d
	}
	busy, irq := sys.busy-s.sysBase.busy, sys.irq-s.sysBase.irq
	out.ticks["irq"] = irq
	ours += irq
	out.ticks["other"] += busy - min(busy, ours)
	out.busy, out.capacity = busy, sys.total-s.sysBase.total
	return out
}

// sampleTree reads utime+stime of this process and of its descendants.
func sampleTree() map[int]procTicks {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	type proc struct {
		comm  string
		ppid  int
		ticks uint64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ticks, ok := readProcStat(pid)
		if ok {
			procs[pid] = proc{comm, ppid, ticks}
		}
	}
	out := map[int]procTicks{}
	for pid, p := range procs {
		// Walk up to self (or init): a descendant of this process?
		mine := pid == self
		for q, hops := p.ppid, 0; !mine && q > 1 && hops < 32; hops++ {
			if q == self {
				mine = true
				break
			}
			q = procs[q].ppid
		}
		if !mine {
			continue
		}
		group := "nodes"
		switch {
		case pid == self:
		case strings.HasPrefix(p.comm, "kam"):
			group = "kamailio"
		case p.comm == "sipp":
			group = "sipp"
		case strings.HasPrefix(p.comm, "redis"):
			group = "redis"
		default:
			group = "other"
		}
		out[pid] = procTicks{group: group, ticks: p.ticks}
	}
	return out
}

// readProcStat parses /proc/pid/stat: "pid (comm) state ppid ... utime
// stime ...".
func readProcStat(pid int) (comm string, ppid int, ticks uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	return parseProcStat(string(b))
}

// parseProcStat reads the command name, parent and CPU ticks of a
// /proc/pid/stat line (the name may hold spaces and parentheses).
func parseProcStat(s string) (comm string, ppid int, ticks uint64, ok bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return s[open+1 : end], ppid, ut + st, true
}

// readUDPStats is the Udp counters of /proc/net/snmp, nil without it.
func readUDPStats() map[string]int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil
	}
	return parseUDPStats(string(b))
}

// parseUDPStats reads the "Udp:" header and value lines of /proc/net/snmp
// into name → value (nil when they are missing or do not match).
func parseUDPStats(s string) map[string]int64 {
	var head []string
	for l := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f[1:]
			continue
		}
		if len(f)-1 != len(head) {
			return nil
		}
		out := make(map[string]int64, len(head))
		for i, name := range head {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return nil
			}
			out[name] = n
		}
		return out
	}
	return nil
}

// udpSocket is a line of /proc/net/udp: the local port, the inode and the
// datagrams dropped so far.
type udpSocket struct {
	port  int
	inode uint64
	drops int64
}

// readUDPSockets is /proc/net/udp, nil without it.
func readUDPSockets() []udpSocket {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return nil
	}
	return parseProcNetUDP(string(b))
}

// parseProcNetUDP reads the lines of /proc/net/udp: "sl local_address
// rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
// ref pointer drops", addresses as hex "0100007F:1F90". Lines it cannot
// read are left out.
func parseProcNetUDP(s string) []udpSocket {
	var out []udpSocket
	for l := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 13 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		port, err1 := strconv.ParseUint(hexPort, 16, 16)
		inode, err2 := strconv.ParseUint(f[9], 10, 64)
		drops, err3 := strconv.ParseInt(f[12], 10, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || drops < 0 {
			continue
		}
		out = append(out, udpSocket{port: int(port), inode: inode, drops: drops})
	}
	return out
}

// socketDrops is what the sockets on port dropped between two readings (a
// socket new in after from zero).
func socketDrops(before, after []udpSocket, port int) int64 {
	var n int64
	for _, a := range after {
		if a.port != port {
			continue
		}
		n += a.drops
		for _, b := range before {
			if b.inode == a.inode {
				n -= min(b.drops, a.drops)
			}
		}
	}
	return n
}

// portOf is the port of "host:port", 0 if none.
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// sampleSys reads the machine's busy and total CPU ticks from /proc/stat.
func sampleSys() sysTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysTicks{}
	}
	return parseSysStat(string(b))
}

// parseSysStat reads the first line of /proc/stat: "cpu user nice system
// idle iowait irq softirq steal guest guest_nice".
func parseSysStat(s string) sysTicks {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return sysTicks{}
	}
	var t sysTicks
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return sysTicks{}
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
		if i == 5 || i == 6 { // irq, softirq
			t.irq += n
		}
	}
	return t
}

// grepLines keeps the lines of s that contain one of words.
func grepLines(s string, words ...string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// headLines is the first n lines of s.
func headLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
}

// withKamailioShm makes the next kamailio.Start run Kamailio with mb MB of
// shared memory: the harness has no option for it (it passes -m 32) and
// looks kamailio up in PATH first, so a wrapper first in PATH appends
// "-m mb" (the last -m wins) and saves the arguments for kamailioShm. It
// returns the arguments file. The real Kamailio runs with the same
// configuration; only its memory pool is larger.
func withKamailioShm(b *testing.B, mb int) string {
	b.Helper()
	bin := findBinary("kamailio", os.Getenv("PATH"))
	if bin == "" {
		b.Skip("kamailio is not installed (apt-get install kamailio)")
	}
	dir := b.TempDir()
	argsFile := filepath.Join(dir, "args")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %q\nexec %q \"$@\" -m %d\n", argsFile, bin, mb)
	if err := os.WriteFile(filepath.Join(dir, "kamailio"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return argsFile
}

// kamailioShm asks the Kamailio whose arguments withKamailioShm saved for
// its shared memory (kamcmd core.shmmem): peak use and pool size in bytes,
// zeros if it cannot.
func kamailioShm(argsFile string) (maxUsed, total int64) {
	args, err := os.ReadFile(argsFile)
	if err != nil {
		return 0, 0
	}
	ctl := ""
	for l := range strings.SplitSeq(string(args), "\n") {
		if v, ok := strings.CutPrefix(l, "CTL_SOCKET="); ok {
			ctl = strings.Trim(v, `"`)
		}
	}
	if ctl == "" {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, findBinary("kamcmd", os.Getenv("PATH")), "-s", ctl, "core.shmmem").Output()
	if err != nil {
		return 0, 0
	}
	return parseShmMem(string(out))
}

// parseShmMem reads "name: value" lines of kamcmd core.shmmem: max_used
// and total, in bytes (zeros when missing).
func parseShmMem(out string) (maxUsed, total int64) {
	for l := range strings.SplitSeq(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			continue
		}
		switch k {
		case "max_used":
			maxUsed = n
		case "total":
			total = n
		}
	}
	return maxUsed, total
}

// The ladder climbs the coarse rates, tries a rate not kept once more,
// bisects between the best rate and the first one not kept, and stops.
func TestRateLadder(t *testing.T) {
	capacity := 730 // rates above it are not kept
	flaky := map[int]bool{400: true}
	l := &rateLadder{rates: []int{200, 400, 600, 800, 1000}}
	var tried []int
	for {
		rate, ok := l.next()
		if !ok {
			break
		}
		require.Less(t, len(tried), 20, "the ladder does not end: %v", tried)
		tried = append(tried, rate)
		kept := rate <= capacity
		if flaky[rate] {
			kept, flaky[rate] = false, false // fails once, then holds
		}
		l.record(rate, kept, false)
	}
	assert.Equal(t, []int{200, 400, 400, 600, 800, 800, 700, 750, 750, 725}, tried)
	assert.Equal(t, 725, l.best)
	assert.Equal(t, 750, l.failed)
	assert.Equal(t, " (750 calls/s not kept)", l.note())

	// Every rate kept: the best is a lower bound.
	l = &rateLadder{rates: []int{100, 200}}
	for rate, ok := l.next(); ok; rate, ok = l.next() {
		l.record(rate, true, false)
	}
	assert.Equal(t, 200, l.best)
	assert.Contains(t, l.note(), "lower bound")

	// Failures on a busy machine are tried again, up to a bound, before
	// the one ordinary retry.
	l = &rateLadder{rates: []int{100, 200}}
	tried = nil
	for rate, ok := l.next(); ok; rate, ok = l.next() {
		require.Less(t, len(tried), 40, "the ladder does not end: %v", tried)
		tried = append(tried, rate)
		l.record(rate, rate <= 100, true)
	}
	assert.Equal(t, []int{100, 200, 200, 200, 200, 200, 150, 150, 150, 150, 150}, tried[:11])
	assert.Equal(t, 1+lbRefinements+1, len(slices.Compact(slices.Clone(tried))), "every rate not kept is tried 5 times: %v", tried)
	assert.Len(t, tried, 1+5*(1+lbRefinements))
	assert.Equal(t, 100, l.best)

	// Rates filtered out by -bench move the ladder on without counting.
	l = &rateLadder{rates: []int{100, 200}}
	for _, ok := l.next(); ok; _, ok = l.next() {
		l.skip()
	}
	assert.Zero(t, l.best)
	assert.Equal(t, " (not run)", l.note())
}

func TestSetupsFromEnv(t *testing.T) {
	setups, err := lbSetups("")
	require.NoError(t, err)
	assert.Equal(t, []lbSetup{oneMemory, twoRedis}, setups)
	setups, err = lbSetups("two_memory, one_redis,two_memory")
	require.NoError(t, err)
	assert.Equal(t, []lbSetup{twoMemory, oneRedis}, setups)
	_, err = lbSetups("three_redis")
	assert.ErrorContains(t, err, "three_redis")
}

func TestStepFromEnv(t *testing.T) {
	d, err := lbStepFrom("")
	require.NoError(t, err)
	assert.Equal(t, lbStep, d)
	d, err = lbStepFrom("15s")
	require.NoError(t, err)
	assert.Equal(t, 15*time.Second, d)
	for _, bad := range []string{"15", "1.5s", "500ms", "-2s"} {
		_, err := lbStepFrom(bad)
		assert.Error(t, err, bad)
	}
}

func TestLadderFromEnv(t *testing.T) {
	rates, err := ladder("")
	require.NoError(t, err)
	assert.Equal(t, lbRates, rates)
	rates, err = ladder(" 300,100, 300")
	require.NoError(t, err)
	assert.Equal(t, []int{100, 300}, rates)
	for _, bad := range []string{"x", "100,", "0", "-5"} {
		_, err := ladder(bad)
		assert.Error(t, err, bad)
	}
}

// Real outputs of the parsers' sources: /proc/pid/stat, /proc/stat, kamcmd
// core.shmmem and the end of sipp's screen.
const (
	procStatSample = "5356 (kam (worker) 1) S 5332 5332 19473 0 -1 4194304 101 0 0 0 37 12 0 0 20 0 1 0 379095 2998272 421 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	sysStatSample  = "cpu  277856 0 80441 379880 2095 10 6099 291 0 0\ncpu0 138928 0 40220 189940 1047 5 3049 145 0 0\n"
	shmMemSample   = "{\n\ttotal: 67108864\n\tfree: 64363952\n\tused: 2502376\n\treal_used: 2744912\n\tmax_used: 2745696\n\tfragments: 2\n}\n"
	udpStatsSample = "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 10279194 29959579 1035912 41280769 1035912 0 0 0 0\nUdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n"
	procNetUDPSample = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		" 7386: 0100007F:9663 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3224696 2 00000000294c96da 0\n" +
		" 7390: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3224700 2 00000000294c96db 17\n"
	sippSample = `  Call limit 500 hit, 0.0 s period        0 ms scheduler resolution
  0 calls (limit 300)                     Peak was 124 calls, after 2 s
                                 Messages  Retrans   Timeout   Unexpected-Msg
      INVITE ---------->         500       7         0
         100 <----------         500       0         0         0
         200 <----------  E-RTD1 500       0         0         0
`
)

func TestLBParsers(t *testing.T) {
	comm, ppid, ticks, ok := parseProcStat(procStatSample)
	require.True(t, ok)
	assert.Equal(t, "kam (worker) 1", comm)
	assert.Equal(t, 5332, ppid)
	assert.EqualValues(t, 37+12, ticks)
	_, _, _, ok = parseProcStat("5356 (head) R 5332")
	assert.False(t, ok)

	sys := parseSysStat(sysStatSample)
	assert.Equal(t, sysTicks{busy: 277856 + 80441 + 10 + 6099 + 291, irq: 10 + 6099,
		total: 277856 + 80441 + 379880 + 2095 + 10 + 6099 + 291}, sys)
	assert.Equal(t, sysTicks{}, parseSysStat("intr 1 2 3\n"))

	maxUsed, total := parseShmMem(shmMemSample)
	assert.EqualValues(t, 2745696, maxUsed)
	assert.EqualValues(t, 67108864, total)

	udp := parseUDPStats(udpStatsSample)
	assert.EqualValues(t, 1035912, udp["RcvbufErrors"])
	assert.EqualValues(t, 41280769, udp["OutDatagrams"])
	assert.Nil(t, parseUDPStats("Udp: InDatagrams NoPorts\nUdp: 1\n"))
	assert.Nil(t, parseUDPStats("Tcp: 1 2\n"))

	socks := parseProcNetUDP(procNetUDPSample)
	require.Equal(t, []udpSocket{{port: 0x9663, inode: 3224696, drops: 0}, {port: 0x13C4, inode: 3224700, drops: 17}}, socks)
	later := []udpSocket{{port: 0x13C4, inode: 3224700, drops: 20}, {port: 0x13C4, inode: 9, drops: 5}}
	assert.EqualValues(t, 3+5, socketDrops(socks, later, 0x13C4))
	assert.Zero(t, socketDrops(socks, later, 1))
	assert.Equal(t, 5060, portOf("127.0.0.1:5060"))
	assert.Zero(t, portOf("nowhere"))

	retrans, peak := sippCounters(sippSample)
	assert.Equal(t, 7, retrans)
	assert.Equal(t, 124, peak)
	retrans, peak = sippCounters("sipp: no screen")
	assert.Equal(t, -1, retrans)
	assert.Equal(t, -1, peak)
}

// The histogram arithmetic gives per-run quantiles from cumulative
// snapshots of several nodes.
func TestHistogramDelta(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: []float64{.001, .01, .1}})
	reg.MustRegister(h)
	for range 100 {
		h.Observe(.05) // before the run
	}
	before := histogram(reg, "h")
	for range 99 {
		h.Observe(.0005)
	}
	h.Observe(.005)
	d := histSub(histogram(reg, "h"), before)
	assert.EqualValues(t, 100, d.GetSampleCount())
	assert.InDelta(t, .001*(50.0/99), histQuantile(d, .5), 1e-9)
	both := histAdd(histAdd(nil, d), d)
	assert.EqualValues(t, 200, both.GetSampleCount())
	assert.InDelta(t, histQuantile(d, .99), histQuantile(both, .99), 1e-9)
	assert.Zero(t, histogram(reg, "missing").GetSampleCount())
}

func FuzzParseProcStat(f *testing.F) {
	f.Add(procStatSample)
	f.Add("1 () S 0")
	f.Add(") (")
	f.Fuzz(func(t *testing.T, s string) {
		comm, _, _, ok := parseProcStat(s)
		if ok && !strings.Contains(s, "("+comm+")") {
			t.Fatalf("comm %q is not between the parentheses of %q", comm, s)
		}
	})
}

func FuzzParseSysStat(f *testing.F) {
	f.Add(sysStatSample)
	f.Add("cpu 1 2 3")
	f.Fuzz(func(t *testing.T, s string) {
		if st := parseSysStat(s); st.busy > st.total || st.irq > st.busy {
			t.Fatalf("%+v: busy or irq above total", st)
		}
	})
}

func FuzzParseShmMem(f *testing.F) {
	f.Add(shmMemSample)
	f.Add("max_used: -1\ntotal: x")
	f.Fuzz(func(t *testing.T, s string) {
		maxUsed, total := parseShmMem(s)
		if maxUsed < 0 || total < 0 || maxUsed > 0 && !strings.Contains(s, "max_used") || total > 0 && !strings.Contains(s, "total") {
			t.Fatalf("max_used %d, total %d from %q", maxUsed, total, s)
		}
	})
}

func FuzzSippCounters(f *testing.F) {
	f.Add(sippSample)
	f.Add("INVITE ---------->")
	f.Add("Peak was ")
	f.Fuzz(func(t *testing.T, s string) {
		retrans, peak := sippCounters(s)
		if retrans < -1 || peak < -1 || retrans >= 0 && !strings.Contains(s, "INVITE ---------->") || peak >= 0 && !strings.Contains(s, "Peak was ") {
			t.Fatalf("retransmissions %d, peak %d from %q", retrans, peak, s)
		}
	})
}

const commandStatsSample = "# Commandstats\r\ncmdstat_evalsha:calls=40,usec=800,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_xadd:calls=20,usec=100,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=3,usec=90,usec_per_call=30.00\r\n"

func TestCommandStats(t *testing.T) {
	before := parseCommandStats("cmdstat_evalsha:calls=20,usec=400\r\ncmdstat_info:calls=1,usec=30\r\n")
	after := parseCommandStats(commandStatsSample)
	require.Len(t, after, 3)
	assert.Equal(t, cmdCount{name: "xadd", calls: 20, usec: 100}, after["xadd"])
	cmds, usec := perCall(after, before, 10)
	assert.Equal(t, []cmdCount{{name: "evalsha", calls: 2, usec: 40}, {name: "xadd", calls: 2, usec: 10}}, cmds)
	assert.InDelta(t, 50, usec, 1e-9)

	// Against a real redis-server: the benchmark's own INFO is left out.
	addr := redisserver.Start(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	before = commandStats(ctx, addr)
	for range 4 {
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	}
	cmds, _ = perCall(commandStats(ctx, addr), before, 2)
	require.NotEmpty(t, cmds)
	assert.Equal(t, "set", cmds[0].name)
	assert.InDelta(t, 2, cmds[0].calls, 1e-9)
	assert.Nil(t, commandStats(ctx, ""))
}

func FuzzParseCommandStats(f *testing.F) {
	f.Add(commandStatsSample)
	f.Add("cmdstat_:calls=1")
	f.Add("cmdstat_x:calls=NaN,usec=-1")
	f.Fuzz(func(t *testing.T, s string) {
		for name, c := range parseCommandStats(s) {
			if name == "" || c.name != name || c.calls < 0 || c.usec < 0 || !strings.Contains(s, "cmdstat_"+name) {
				t.Fatalf("%q: %+v from %q", name, c, s)
			}
		}
	})
}

func FuzzParseUDPStats(f *testing.F) {
	f.Add(udpStatsSample)
	f.Add("Udp: a\nUdp: 1")
	f.Add("Udp: a b\nUdp: 1")
	f.Fuzz(func(t *testing.T, s string) {
		m := parseUDPStats(s)
		if m != nil && !strings.Contains(s, "Udp:") {
			t.Fatalf("%v from %q without a Udp: line", m, s)
		}
	})
}

func FuzzParseProcNetUDP(f *testing.F) {
	f.Add(procNetUDPSample)
	f.Add(" 1: 0100007F:FFFFF 0:0 07 0:0 0:0 0 0 0 1 2 3 -4")
	f.Fuzz(func(t *testing.T, s string) {
		for _, sock := range parseProcNetUDP(s) {
			if sock.port < 0 || sock.port > 65535 || sock.drops < 0 {
				t.Fatalf("%+v from %q", sock, s)
			}
		}
	})
}
