package load

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/phone"
)

// eventBackend answers like backend and reports every event it gets.
type eventBackend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	ices []string // call ids
	dice chan string
}

func newEventBackend(tb testing.TB) *eventBackend {
	eb := &eventBackend{dice: make(chan string, 1024)}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}
	eb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev struct {
			Event  string `json:"event"`
			CallID string `json:"callid"`
		}
		_ = json.Unmarshal(body, &ev)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case ev.Event == "dice":
			eb.dice <- ev.CallID
		case ev.Event != "ice":
		case strings.Contains(string(body), holdDID):
			eb.mu.Lock()
			eb.ices = append(eb.ices, ev.CallID)
			eb.mu.Unlock()
			_, _ = io.WriteString(w, `{"instructions":[{"name":"answer"}],"action":{"name":"park","holdPrompt":"#tts[Please hold]","maxDuration":600}}`)
		default:
			_, _ = io.WriteString(w, `{"instructions":[{"name":"answer"},{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`)
		}
	}))
	tb.Cleanup(eb.srv.Close)
	return eb
}

// sayCall makes one call to the say-and-hangup number of n and waits for
// its end and its DiCE; it returns the call id the DiCE carried.
func sayCall(ctx context.Context, tb testing.TB, p *phone.Phone, n *app.App, eb *eventBackend) string {
	tb.Helper()
	c, err := p.Dial(ctx, "sip:"+sayDID+"@"+n.SIPAddr(), phone.DialOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.WaitEnd(ctx); err != nil {
		tb.Fatal(err)
	}
	select {
	case id := <-eb.dice:
		return id
	case <-ctx.Done():
		tb.Fatal("no DiCE")
	}
	return ""
}

// BenchmarkRedisPerCall counts the Redis round trips and bytes of one call
// lifecycle on a Redis-backed node: INVITE → ICE → answer, say → hangup →
// DiCE delivered through the outbox. The node's idle traffic (heartbeats,
// blocked stream reads, bus keep-alives) is measured first and subtracted.
func BenchmarkRedisPerCall(b *testing.B) {
	const calls = 20
	redis := redisserver.Start(b)
	eb := newEventBackend(b)
	n := startNodeAs(b, prometheus.NewRegistry(), eb.srv.URL, "redis://"+redis, "rt", 50000)
	p := phone.New(b, phone.Options{User: "rt", Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	one := func() { sayCall(ctx, b, p, n, eb) }
	for range 3 {
		one() // warm pools and connections
	}
	idleStart, s0 := time.Now(), n.RedisStats()
	time.Sleep(5 * time.Second)
	idle, idleFor := n.RedisStats().Sub(s0), time.Since(idleStart)

	b.ResetTimer()
	start, s1 := time.Now(), n.RedisStats()
	for range calls {
		one()
	}
	took, d := time.Since(start), n.RedisStats().Sub(s1)
	b.StopTimer()
	scale := float64(took) / float64(idleFor)
	per := func(total, idle int64) float64 { return (float64(total) - float64(idle)*scale) / calls }
	b.ReportMetric(per(d.RoundTrips, idle.RoundTrips), "roundtrips/call")
	b.ReportMetric(per(d.BytesSent, idle.BytesSent), "bytes_sent/call")
	b.ReportMetric(per(d.BytesReceived, idle.BytesReceived), "bytes_recv/call")
	b.ReportMetric(float64(idle.RoundTrips)/idleFor.Seconds(), "idle_roundtrips/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkForwardedCommand compares a REST command (PATCH continue on a
// parked call) sent to the node that runs the call with the same command
// sent to another node of the region, which forwards it over the bus.
func BenchmarkForwardedCommand(b *testing.B) {
	const rounds = 2000
	redis := redisserver.Start(b)
	eb := newEventBackend(b)
	owner := startNodeAs(b, prometheus.NewRegistry(), eb.srv.URL, "redis://"+redis, "owner", 56000)
	other := startNodeAs(b, prometheus.NewRegistry(), eb.srv.URL, "redis://"+redis, "other", 60000)
	p := phone.New(b, phone.Options{User: "fw", Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := p.Dial(ctx, "sip:"+holdDID+"@"+owner.SIPAddr(), phone.DialOptions{}); err != nil {
		b.Fatal(err)
	}
	var id string
	for id == "" {
		eb.mu.Lock()
		if len(eb.ices) > 0 {
			id = eb.ices[0]
		}
		eb.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	signer, err := events.NewSigner(appKey, appSecret)
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	patch := func(n *app.App) time.Duration {
		const body = `{"action":{"name":"continue"}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, "http://"+n.APIAddr()+"/calling/v1/calls/id/"+id, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		signer.SignRequest(req, []byte(body), time.Now())
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		took := time.Since(start)
		if res.StatusCode != http.StatusNoContent {
			greq, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+owner.APIAddr()+"/calling/v1/calls/id/"+id, nil)
			signer.SignRequest(greq, nil, time.Now())
			info := "?"
			if gres, err := client.Do(greq); err == nil {
				raw, _ := io.ReadAll(gres.Body)
				_ = gres.Body.Close()
				info = string(raw)
			}
			b.Fatalf("PATCH through %v: %d; the call: %s", n.APIAddr(), res.StatusCode, info)
		}
		return took
	}
	for range 20 {
		patch(owner)
		patch(other)
	}
	b.ResetTimer()
	var local, fwd []time.Duration
	for range rounds {
		local = append(local, patch(owner))
		fwd = append(fwd, patch(other))
	}
	b.StopTimer()
	q := func(d []time.Duration, f float64) float64 {
		slices.Sort(d)
		return float64(d[int(f*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(local, .5), "local_p50_ms")
	b.ReportMetric(q(local, .99), "local_p99_ms")
	b.ReportMetric(q(fwd, .5), "forwarded_p50_ms")
	b.ReportMetric(q(fwd, .99), "forwarded_p99_ms")
	b.ReportMetric(q(fwd, .99)-q(local, .99), "added_p99_ms")
	b.ReportMetric(0, "ns/op")
}

// quietLogger drops the test phone's logs below error.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
