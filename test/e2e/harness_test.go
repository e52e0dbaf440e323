package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
)

const (
	appKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	appSecret = "BeIukql3pTKJ8RGL5zo0DA=="
	did       = "+46701234567"
)

// backend is a customer backend: it verifies every callback's signature
// like an SDK would, records the events and answers with scripted SVAML.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	events []map[string]any
	script map[string]func(ev map[string]any) (int, string)
	got    chan map[string]any
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t, script: map[string]func(map[string]any) (int, string){}, got: make(chan map[string]any, 64)}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return appSecret, k == appKey }}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			t.Errorf("callback with a bad signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("callback body is not JSON: %v", err)
			return
		}
		b.mu.Lock()
		b.events = append(b.events, ev)
		fn := b.script[ev["event"].(string)]
		b.mu.Unlock()
		b.got <- ev
		if fn == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		code, reply := fn(ev)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) on(event, svaml string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.script[event] = func(map[string]any) (int, string) { return http.StatusOK, svaml }
}

// want waits for the next event of kind.
func (b *backend) want(ctx context.Context, kind string) map[string]any {
	b.t.Helper()
	for {
		select {
		case ev := <-b.got:
			if ev["event"] == kind {
				return ev
			}
		case <-ctx.Done():
			b.t.Fatalf("no %s event: %v", kind, ctx.Err())
			return nil
		}
	}
}

// node starts a callcore node on free ports with its callbacks going to b
// and phone numbers to gateway ("" for none).
func node(t *testing.T, b *backend, gateway string) *app.App {
	t.Helper()
	if gateway == "" {
		gateway = "sip:127.0.0.1:9"
	}
	rtp := freeEvenPortRange(t, 200)
	y := fmt.Sprintf(`
node:  {id: e2e, region: euc1}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: "127.0.0.1:0"}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "%d-%d", rtp_timeout: 10s}
pstn:  {gateway: %q}
calls: {dial_timeout: 10s}
log:   {level: debug}
apps:
  - key: %s
    secret: %s
    callback_url: %s/callbacks
    callback_timeout: 2s
    callback_connect_timeout: 1s
    numbers: [%q]
`, rtp, rtp+199, gateway, appKey, appSecret, b.srv.URL, did)
	cfg, err := config.Parse("e2e.yml", []byte(y))
	require.NoError(t, err)
	a, err := app.New(cfg, app.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a
}

// freeEvenPortRange finds a start port for n UDP ports that are free now.
func freeEvenPortRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = c.Close()
		if p < 1024 || p+n > 65535 {
			continue
		}
		return p
	}
	t.Fatal("no free port range")
	return 0
}
