package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/phone"
)

// The node the metric checks read: one Redis-backed node (a real
// redis-server), so the store, Redis, outbox and cluster metrics exist,
// which has run a conference call, a call whose backend answered invalid
// SVAML, a call to an unassigned number and a REST request.
const (
	nodeAppKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	nodeAppSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	nodeDID       = "+46701234567"
	// Callers: the backend answers each ICE by the caller's number.
	cliConference = "+46700000001"
	cliBadSVAML   = "+46700000002"
)

// nodeMetrics starts the node, drives the calls and returns what the node
// exposes on /metrics afterwards.
func nodeMetrics(t *testing.T) *exposition {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server and a node")
	}
	exp, err := runScenario(t)
	require.NoError(t, err)
	return exp
}

// runScenario starts the node and drives the calls. The node, Redis and
// the phones stop when t ends.
func runScenario(t *testing.T) (*exposition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	be := newBackend(t)
	n, err := startNode(t, "redis://"+redisserver.Start(t), be.url())
	if err != nil {
		return nil, err
	}

	// 1. A caller joins a conference, stays a moment (mixer ticks, RTP both
	// ways), hangs up.
	caller := phone.New(t, phone.Options{User: "conf"})
	c, err := caller.Dial(ctx, "sip:"+nodeDID+"@"+n.SIPAddr(), phone.DialOptions{FromUser: cliConference})
	if err != nil {
		return nil, fmt.Errorf("conference call: %w", err)
	}
	go func() { _ = c.PlayTone(ctx, 440, 3*time.Second) }()
	if err := c.WaitPackets(ctx, 50); err != nil {
		return nil, fmt.Errorf("conference call: no audio from the room: %w", err)
	}
	if err := c.Hangup(ctx); err != nil {
		return nil, fmt.Errorf("conference call: hangup: %w", err)
	}

	// 2. A call whose ICE reply is invalid SVAML.
	bad := phone.New(t, phone.Options{User: "bad"})
	if c, err := bad.Dial(ctx, "sip:"+nodeDID+"@"+n.SIPAddr(), phone.DialOptions{FromUser: cliBadSVAML}); err == nil {
		_ = c.Hangup(ctx)
	}

	// 3. A call to a number no application owns (rejected before an ICE).
	stray := phone.New(t, phone.Options{User: "stray"})
	if c, err := stray.Dial(ctx, "sip:+46709999999@"+n.SIPAddr(), phone.DialOptions{FromUser: "+46700000003"}); err == nil {
		_ = c.Hangup(ctx)
		return nil, fmt.Errorf("a call to an unassigned number was answered")
	}

	// 4. A REST request.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.APIAddr()+"/v1/calling/query/number/"+nodeDID, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(nodeAppKey, nodeAppSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("REST request: %w", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()

	// The DiCEs of both calls reach the backend through the outbox, and the
	// media sessions close (their quality histograms are observed then).
	var exp *exposition
	deadline := time.Now().Add(30 * time.Second)
	for {
		exp, err = scrape(ctx, "http://"+n.OpsAddr()+"/metrics")
		if err != nil {
			return nil, err
		}
		if be.count("dice") >= 2 && exp.value("callcore_calls_active", map[string]string{"direction": "inbound"}) == 0 &&
			exp.value("callcore_media_session_packet_loss_ratio_count", nil) > 0 &&
			exp.value("callcore_conference_mixer_tick_seconds_count", nil) > 0 &&
			exp.has("callcore_calls_svaml_errors_total") && exp.has("callcore_calls_rejected_total") {
			return exp, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the calls did not end with their DiCE and metrics (events %v)", be.kinds())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startNode starts a node on loopback with free ports, the given store
// (redisURL "" for the in-memory one) and callback URL; it stops when t
// ends.
func startNode(t *testing.T, redisURL, callbackURL string) (*app.App, error) {
	rtp, err := freeEvenPortRange(200)
	if err != nil {
		return nil, err
	}
	y := fmt.Sprintf(`
node:  {id: deploy-test, region: euc1, drain_timeout: 5s}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: "127.0.0.1:0"}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "%d-%d", rtp_timeout: 10s}
pstn:  {gateway: "sip:127.0.0.1:9"}
store: {redis_url: %q}
cluster: {heartbeat_ttl: 2s}
events: {min_backoff: 100ms, max_backoff: 1s}
apps:
  - key: %s
    secret: %s
    callback_url: %s
    callback_timeout: 5s
    callback_connect_timeout: 1s
    numbers: [%q]
`, rtp, rtp+199, redisURL, nodeAppKey, nodeAppSecret, callbackURL, nodeDID)
	cfg, err := config.Parse("deploy-test.yml", []byte(y))
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if os.Getenv("DEPLOY_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
	a, err := app.New(cfg, app.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := a.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a, nil
}

// logWriter sends the node's log lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freeEvenPortRange finds an even start port of n UDP ports free now.
func freeEvenPortRange(n int) (int, error) {
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = c.Close()
		if p >= 1024 && p+n <= 65535 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port range")
}

// backend answers callbacks: the ICE of cliConference with connectConf,
// that of cliBadSVAML with an unknown action, every other event with 200.
type backend struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []string
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Event string `json:"event"`
			CLI   string `json:"cli"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		b.mu.Lock()
		b.events = append(b.events, ev.Event)
		b.mu.Unlock()
		if ev.Event != "ice" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch ev.CLI {
		case cliConference:
			_, _ = io.WriteString(w, `{"action":{"name":"connectConf","conferenceId":"deploy-room"}}`)
		default:
			_, _ = io.WriteString(w, `{"action":{"name":"noSuchAction"}}`)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) url() string { return b.srv.URL + "/callbacks" }

func (b *backend) count(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.events {
		if e == kind {
			n++
		}
	}
	return n
}

func (b *backend) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.events...)
}
