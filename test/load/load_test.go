// Package load holds the sipp load scenarios of `make bench`: a real sipp
// UAC calls an in-process node whose callbacks go to a local backend, and
// the node's own histograms tell its share of the latency.
package load

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/testutil/redisserver"
	sipprun "github.com/callcore/callcore/test/internal/sipp"
)

const (
	appKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	appSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	sayDID    = "+46701234567" // ICE: answer, say, hangup
	holdDID   = "+46701234568" // ICE: park (held until the caller hangs up)
)

// backend answers ICEs per dialled number and accepts everything else.
// It verifies signatures, as a real backend would.
func backend(tb testing.TB) *httptest.Server {
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !strings.Contains(string(body), `"event":"ice"`):
		case strings.Contains(string(body), holdDID):
			_, _ = io.WriteString(w, `{"action":{"name":"park","holdPrompt":"#tts[Please hold]"}}`)
		default:
			_, _ = io.WriteString(w, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func startNode(tb testing.TB, reg *prometheus.Registry, callbackURL string) *app.App {
	return startNodeOn(tb, reg, callbackURL, "")
}

// startNodeOn starts the node on a store: "" for memory, else a Redis URL.
func startNodeOn(tb testing.TB, reg *prometheus.Registry, callbackURL, redisURL string) *app.App {
	return startNodeAs(tb, reg, callbackURL, redisURL, "load", 30000)
}

// startNodeAs starts a node with an id and its own 4 000 RTP ports from rtp
// (several nodes of a region in one process).
func startNodeAs(tb testing.TB, reg *prometheus.Registry, callbackURL, redisURL, id string, rtp int) *app.App {
	return startNodePorts(tb, reg, callbackURL, redisURL, id, rtp, 4000)
}

// startNodePorts is startNodeAs with ports RTP ports.
func startNodePorts(tb testing.TB, reg *prometheus.Registry, callbackURL, redisURL, id string, rtp, ports int) *app.App {
	a, _ := startNodeConfig(tb, reg, callbackURL, redisURL, id, rtp, ports, "")
	return a
}

// startNodeConfig starts a node like startNodePorts, with extra YAML
// sections (e.g. "timeline: {enabled: false}"). stop stops it and lets go
// of it (also done at cleanup): a benchmark that starts many nodes does
// not keep the stopped ones' calls for the garbage collector of every
// later step.
func startNodeConfig(tb testing.TB, reg *prometheus.Registry, callbackURL, redisURL, id string, rtp, ports int, extra string) (n *app.App, stop func()) {
	tb.Helper()
	y := fmt.Sprintf(`
node:  {id: %s, region: euc1}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: ""}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "%d-%d"}
pstn:  {gateway: "sip:127.0.0.1:9"}
store: {redis_url: %q}
log:   {level: error}
%s
apps:
  - key: %s
    secret: %s
    callback_url: %s/cb
    numbers: [%q, %q]
`, id, rtp, rtp+ports-1, redisURL, extra, appKey, appSecret, callbackURL, sayDID, holdDID)
	cfg, err := config.Parse("load.yml", []byte(y))
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{Registry: reg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	n = a
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.Stop(ctx); err != nil {
				tb.Logf("node %s: stop: %v", id, err)
			}
			a = nil
		})
	}
	tb.Cleanup(stop)
	return n, stop
}

// sipp runs one sipp UAC scenario and returns its count of failed calls.
func sipp(tb testing.TB, scenario, target, service string, rate, total, limit int) (failed int, elapsed time.Duration) {
	tb.Helper()
	r := sipprun.Run(tb, sipprun.Options{Scenario: scenario, Target: target, Service: service, Rate: rate, Total: total, Limit: limit})
	return r.Failed, r.Elapsed
}

// quantile estimates q from a histogram like PromQL's histogram_quantile.
func quantile(reg *prometheus.Registry, name string, q float64) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		return histQuantile(mf.GetMetric()[0].GetHistogram(), q)
	}
	return math.NaN()
}

func histQuantile(h *dto.Histogram, q float64) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			if c == prevCount {
				return b.GetUpperBound()
			}
			return prevBound + (b.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b.GetUpperBound(), c
	}
	return prevBound
}

func requireSipp(tb testing.TB) { sipprun.Require(tb) }

// BenchmarkSippInboundSayHangup steps the call rate of inbound calls
// answered by ICE → answer, say, hangup, and reports the highest rate with
// no failed call with the node's latency at that rate.
func BenchmarkSippInboundSayHangup(b *testing.B) {
	requireSipp(b)
	for b.Loop() {
		best := 0
		var iceP50, iceP99, audioP50, audioP99 float64
		for _, rate := range []int{100, 200, 400, 600, 800} {
			reg := prometheus.NewRegistry()
			n := startNode(b, reg, backend(b).URL)
			failed, took := sipp(b, "testdata/uac_say.xml", n.SIPAddr(), sayDID, rate, rate*5, 2000)
			i50, i99 := quantile(reg, "callcore_calls_ice_delay_seconds", .5), quantile(reg, "callcore_calls_ice_delay_seconds", .99)
			a50, a99 := quantile(reg, "callcore_calls_first_audio_seconds", .5), quantile(reg, "callcore_calls_first_audio_seconds", .99)
			b.Logf("rate %d/s: %d calls in %v, %d failed; INVITE→ICE p50 %.0f µs p99 %.0f µs; reply→first RTP p50 %.1f ms p99 %.1f ms",
				rate, rate*5, took.Round(time.Millisecond), failed, i50*1e6, i99*1e6, a50*1e3, a99*1e3)
			if failed > 0 {
				break
			}
			best, iceP50, iceP99, audioP50, audioP99 = rate, i50, i99, a50, a99
		}
		b.ReportMetric(float64(best), "calls/s")
		b.ReportMetric(iceP50*1e6, "ice-p50-µs")
		b.ReportMetric(iceP99*1e6, "ice-p99-µs")
		b.ReportMetric(audioP50*1e3, "audio-p50-ms")
		b.ReportMetric(audioP99*1e3, "audio-p99-ms")
	}
}

// BenchmarkSippInboundRedis runs 200 calls/s against a node whose call
// records live in a real Redis (started on a free port), as a region's
// nodes do: the store's round trips must stay off INVITE→ICE.
func BenchmarkSippInboundRedis(b *testing.B) {
	requireSipp(b)
	for b.Loop() {
		reg := prometheus.NewRegistry()
		n := startNodeOn(b, reg, backend(b).URL, "redis://"+redisserver.Start(b))
		const rate = 200
		failed, took := sipp(b, "testdata/uac_say.xml", n.SIPAddr(), sayDID, rate, rate*5, 2000)
		i50, i99 := quantile(reg, "callcore_calls_ice_delay_seconds", .5), quantile(reg, "callcore_calls_ice_delay_seconds", .99)
		a50, a99 := quantile(reg, "callcore_calls_first_audio_seconds", .5), quantile(reg, "callcore_calls_first_audio_seconds", .99)
		b.Logf("redis, rate %d/s: %d calls in %v, %d failed; INVITE→ICE p50 %.0f µs p99 %.0f µs; reply→first RTP p50 %.1f ms p99 %.1f ms",
			rate, rate*5, took.Round(time.Millisecond), failed, i50*1e6, i99*1e6, a50*1e3, a99*1e3)
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(i99*1e6, "ice-p99-µs")
		b.ReportMetric(a99*1e3, "audio-p99-ms")
	}
}

// BenchmarkSippHeldCallMemory holds parked calls (hold prompt looping) and
// reports the node's heap per active call.
func BenchmarkSippHeldCallMemory(b *testing.B) {
	requireSipp(b)
	for b.Loop() {
		reg := prometheus.NewRegistry()
		n := startNode(b, reg, backend(b).URL)
		before := heapInuse()
		const calls = 300
		done := make(chan int)
		go func() {
			failed, _ := sipp(b, "testdata/uac_hold.xml", n.SIPAddr(), holdDID, 100, calls, calls)
			done <- failed
		}()
		// All calls are up 3 s after the last one started (100/s) and held for 8 s.
		time.Sleep(5 * time.Second)
		during := heapInuse()
		active := activeCalls(reg)
		failed := <-done
		perCall := float64(during-before) / float64(max(active, 1))
		b.Logf("%d active calls held: heap in use %d → %d bytes, %.1f KiB per call, %d goroutines; %d failed",
			active, before, during, perCall/1024, runtime.NumGoroutine(), failed)
		b.ReportMetric(perCall, "B/call")
		b.ReportMetric(float64(active), "held-calls")
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func activeCalls(reg *prometheus.Registry) int {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "callcore_calls_active" {
			for _, m := range mf.GetMetric() {
				total += m.GetGauge().GetValue()
			}
		}
	}
	return int(total)
}
