package load

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/phone"
)

// startTimelineNode starts a node like startNodePorts (with 10 000 RTP
// ports from rtp), with the timeline on or off (see startNodeConfig).
func startTimelineNode(tb testing.TB, reg *prometheus.Registry, callbackURL, redisURL, id string, rtp int, timeline bool) (n *app.App, stop func()) {
	return startNodeConfig(tb, reg, callbackURL, redisURL, id, rtp, 10000, fmt.Sprintf("timeline: {enabled: %v}", timeline))
}

// progress prints a line of a long benchmark as it happens (b.Logf
// output is cut after a few lines).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// cpuNow is the CPU time (user + system) this process has used: the node
// and the test's backend, not sipp.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// counterSum sums a counter family of reg (0 if absent).
func counterSum(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// BenchmarkTimelineCost is the cost of the per-call timeline on the sipp
// call-rate scenario of BenchmarkSippInboundSayHangup (INVITE → ICE →
// answer, say "Hello" → hangup, memory store; here with 10 000 RTP ports,
// so that ports are not the limit), timeline off and on:
//
//   - the highest rate without a failed call and with the run ending at
//     most 1.5 s after its last call started (steps of 50 calls/s from
//     800, 5 s each, a failed step tried once more), off and on
//     alternating at each step, in three passes; and their ratio;
//   - the process CPU time per call (the node and the test's backend, not
//     sipp) at 600 calls/s in pairs of runs, off and on in alternating
//     order: the median of the pairs' ratios (this machine's CPU per call
//     drifts by ±15 % between runs a minute apart, so only pairs are
//     compared).
//
// CALLCORE_TIMELINE_PASSES and CALLCORE_TIMELINE_PAIRS change the number
// of passes (3) and pairs (8); CALLCORE_TIMELINE_REDIS=1 runs the node on
// a redis-server (started once, flushed before each step; its CPU is not
// counted). Target: the timeline costs under 10 % of the rate.
func BenchmarkTimelineCost(b *testing.B) {
	requireSipp(b)
	passes, pairs := envInt("CALLCORE_TIMELINE_PASSES", 3), envInt("CALLCORE_TIMELINE_PAIRS", 8)
	cb := backend(b)
	redisURL := ""
	var flush func()
	if os.Getenv("CALLCORE_TIMELINE_REDIS") == "1" {
		addr := redisserver.Start(b)
		redisURL = "redis://" + addr
		client := redis.NewClient(&redis.Options{Addr: addr})
		b.Cleanup(func() { _ = client.Close() })
		flush = func() { _ = client.FlushAll(context.Background()).Err() }
	}
	for b.Loop() {
		step := func(on bool, rate, calls int) (ok bool, cpu time.Duration) {
			if flush != nil {
				flush()
			}
			reg := prometheus.NewRegistry()
			n, stop := startTimelineNode(b, reg, cb.URL, redisURL, "tl"+onOff(on), 20000, on)
			defer stop()
			runtime.GC() // what the last step left is not this one's cost
			before := cpuNow()
			nfail, took := sipp(b, "testdata/uac_say.xml", n.SIPAddr(), sayDID, rate, calls, 8000)
			// The last flush of the timeline is part of its cost.
			time.Sleep(300 * time.Millisecond)
			cpu = cpuNow() - before
			late := took > time.Duration(calls)*time.Second/time.Duration(rate)+1500*time.Millisecond
			progress("timeline %s, rate %d/s: %d calls in %v (late %v), %d failed, CPU %v (%.0f µs/call); timeline entries %.0f written, %.0f dropped",
				onOff(on), rate, calls, took.Round(time.Millisecond), late, nfail, cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(calls),
				counterSum(reg, "callcore_timeline_entries_written_total"), counterSum(reg, "callcore_timeline_entries_dropped_total"))
			return nfail == 0 && !late, cpu
		}
		total := map[bool]int{}
		for pass := range passes {
			best := map[bool]int{}
			failed := map[bool]bool{}
			order := []bool{pass%2 == 1, pass%2 == 0}
			for rate := 800; rate <= 2500 && !(failed[false] && failed[true]); rate += 50 {
				for _, on := range order {
					if failed[on] {
						continue
					}
					if ok, _ := step(on, rate, rate*5); !ok {
						if ok, _ = step(on, rate, rate*5); !ok {
							failed[on] = true
							continue
						}
					}
					best[on] = rate
				}
				order[0], order[1] = order[1], order[0]
			}
			progress("pass %d: highest rate off %d/s, on %d/s", pass+1, best[false], best[true])
			total[false] += best[false]
			total[true] += best[true]
		}
		if passes > 0 {
			b.ReportMetric(float64(total[false])/float64(passes), "calls/s-off")
			b.ReportMetric(float64(total[true])/float64(passes), "calls/s-on")
		}
		if total[false] > 0 {
			b.ReportMetric(float64(total[true])/float64(total[false]), "rate-on/off")
		}

		const rate, calls = 600, 3000
		var off, on, ratio []float64
		for i := range pairs {
			got := map[bool]float64{}
			for _, o := range []bool{i%2 == 1, i%2 == 0} {
				_, used := step(o, rate, calls)
				got[o] = float64(used.Microseconds()) / calls
			}
			off, on, ratio = append(off, got[false]), append(on, got[true]), append(ratio, got[true]/got[false])
			progress("pair %d: CPU per call off %.0f µs, on %.0f µs, on/off %.3f", i+1, got[false], got[true], got[true]/got[false])
		}
		if pairs > 0 {
			b.ReportMetric(median(off), "cpu-µs/call-off")
			b.ReportMetric(median(on), "cpu-µs/call-on")
			b.ReportMetric(median(ratio), "cpu-on/off")
		}
	}
}

// median of v (sorted in place); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// envInt is the integer in the environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

// BenchmarkTimelineRedisPerCall is what the timeline adds to a
// Redis-backed node per call (BenchmarkRedisPerCall's call: INVITE → ICE →
// answer, say → hangup → DiCE through the outbox), timeline off and on:
// Redis round trips and bytes on the wire, and with it on the entries per
// call, their stored bytes and the list's Redis memory (MEMORY USAGE).
func BenchmarkTimelineRedisPerCall(b *testing.B) {
	const calls = 20
	for b.Loop() {
		type result struct {
			roundTrips, sent, recv float64
			entries, stored, mem   float64
		}
		res := map[bool]result{}
		for _, on := range []bool{false, true} {
			addr := redisserver.Start(b)
			eb := newEventBackend(b)
			reg := prometheus.NewRegistry()
			n, stop := startTimelineNode(b, reg, eb.srv.URL, "redis://"+addr, "rt"+onOff(on), 50000, on)
			p := phone.New(b, phone.Options{User: "rt", Logger: quietLogger()})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			var ids []string
			one := func() {
				ids = append(ids, sayCall(ctx, b, p, n, eb))
				time.Sleep(200 * time.Millisecond) // the last entries flushed
			}
			for range 3 {
				one()
			}
			idleStart, s0 := time.Now(), n.RedisStats()
			time.Sleep(3 * time.Second)
			idle, idleFor := n.RedisStats().Sub(s0), time.Since(idleStart)
			ids = nil
			start, s1, w1, by1 := time.Now(), n.RedisStats(), counterSum(reg, "callcore_timeline_entries_written_total"),
				counterSum(reg, "callcore_timeline_bytes_written_total")
			for range calls {
				one()
			}
			took, d := time.Since(start), n.RedisStats().Sub(s1)
			scale := float64(took) / float64(idleFor)
			per := func(total, idle int64) float64 { return (float64(total) - float64(idle)*scale) / calls }
			r := result{roundTrips: per(d.RoundTrips, idle.RoundTrips), sent: per(d.BytesSent, idle.BytesSent), recv: per(d.BytesReceived, idle.BytesReceived),
				entries: (counterSum(reg, "callcore_timeline_entries_written_total") - w1) / calls,
				stored:  (counterSum(reg, "callcore_timeline_bytes_written_total") - by1) / calls}
			client := redis.NewClient(&redis.Options{Addr: addr})
			for _, id := range ids {
				if m, err := client.MemoryUsage(ctx, "callcore:euc1:tl:{"+id+"}", 0).Result(); err == nil {
					r.mem += float64(m) / calls
				}
			}
			_ = client.Close()
			cancel()
			stop()
			res[on] = r
			progress("timeline %s: %.1f round trips, %.0f B sent, %.0f B received per call; %.1f entries, %.0f B stored, %.0f B of Redis memory per call",
				onOff(on), r.roundTrips, r.sent, r.recv, r.entries, r.stored, r.mem)
		}
		b.ReportMetric(res[true].roundTrips-res[false].roundTrips, "added-roundtrips/call")
		b.ReportMetric(res[true].sent-res[false].sent, "added-bytes_sent/call")
		b.ReportMetric(res[true].entries, "entries/call")
		b.ReportMetric(res[true].stored, "stored-bytes/call")
		b.ReportMetric(res[true].mem, "redis-memory-bytes/call")
		b.ReportMetric(0, "ns/op")
	}
}
