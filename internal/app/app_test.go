package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

const (
	testKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	testSecret = "BeIukql3pTKJ8RGL5zo0DA=="
)

func testConfig(t *testing.T, redisURL string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`
node:  {id: node-a, region: euc1}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: "127.0.0.1:0"}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "20000-20999"}
store: {redis_url: %q}
pstn:  {gateway: "sip:127.0.0.1:5070"}
apps:
  - key: %s
    secret: %s
    callback_url: http://127.0.0.1:9000/callbacks
    fallback_url: ""
    numbers: ["+46701234567"]
`, redisURL, testKey, testSecret)
	cfg, err := config.Parse("test.yml", []byte(y))
	require.NoError(t, err)
	return cfg
}

func startNode(t *testing.T, cfg *config.Config) *App {
	t.Helper()
	a, err := New(cfg, Options{})
	require.NoError(t, err)
	require.NoError(t, a.Start(t.Context()))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func signedGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	s, err := events.NewSigner(testKey, testSecret)
	require.NoError(t, err)
	s.SignRequest(req, nil, time.Now())
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestNodeServesOpsAndSeedsStore(t *testing.T) {
	a := startNode(t, testConfig(t, ""))
	ops := "http://" + a.OpsAddr()

	code, body := get(t, ops+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, _ = get(t, ops+"/readyz")
	require.Equal(t, http.StatusOK, code)

	// The configured number and callback URL are in the store.
	code, body = signedGet(t, "http://"+a.APIAddr()+"/v1/configuration/numbers")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"numbers":[{"number":"+46701234567","applicationkey":"`+testKey+`","capability":"voice"}]}`, body)
	code, body = signedGet(t, "http://"+a.APIAddr()+"/v1/configuration/callbacks/applications/"+testKey)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"url":{"primary":"http://127.0.0.1:9000/callbacks"}}`, body)

	code, body = get(t, ops+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{
		`callcore_api_requests_total{code="200",method="GET",route="/v1/configuration/numbers"} 1`,
		`callcore_api_auth_failures_total{reason="bad_signature"} 0`,
		"callcore_node_ready 1",
		"callcore_node_draining 0",
		"callcore_store_up 1",
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		require.Contains(t, body, m)
	}
	require.NotContains(t, body, testSecret)

	require.NoError(t, a.Stop(t.Context()))
	require.NoError(t, a.Stop(t.Context()), "Stop is idempotent")
	require.Equal(t, 0.0, gaugeValue(t, a, "callcore_node_ready"), "a stopped node is not ready")
	require.Equal(t, 1.0, gaugeValue(t, a, "callcore_node_draining"), "the stop drained the node")
	_, err := http.Get(ops + "/healthz")
	require.Error(t, err, "listeners are closed after Stop")
}

func TestNodeOnRedisReportsStoreOutage(t *testing.T) {
	addr := redisserver.Start(t)
	a := startNode(t, testConfig(t, "redis://"+addr))
	ops := "http://" + a.OpsAddr()

	code, _ := get(t, ops+"/readyz")
	require.Equal(t, http.StatusOK, code)

	// A second node on the same Redis sees the seeded state and the changes of the first.
	b := startNode(t, testConfig(t, "redis://"+addr))
	code, body := signedGet(t, "http://"+b.APIAddr()+"/v1/configuration/numbers")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "+46701234567")

	// Take Redis away: the node turns not-ready and says why.
	require.Equal(t, 1.0, gaugeValue(t, a, "callcore_node_ready"))
	stopRedis(t, addr)
	code, body = get(t, ops+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, strings.Contains(body, "store unreachable"), body)
	// The store watcher's verdict (two failed pings a second apart) turns
	// the gauges the alerts read.
	require.Eventually(t, func() bool { return gaugeValue(t, a, "callcore_node_ready") == 0 }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 0.0, gaugeValue(t, a, "callcore_store_up"))
	require.Equal(t, 0.0, gaugeValue(t, a, "callcore_node_draining"))
}

// gaugeValue reads an unlabelled gauge of a's registry.
func gaugeValue(t *testing.T, a *App, name string) float64 {
	t.Helper()
	mfs, err := a.registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1, name)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// stopRedis shuts the server at addr down the way an outage looks to a node.
func stopRedis(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("SHUTDOWN NOSAVE\r\n"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Read(make([]byte, 64)) // returns when the server closes the connection
}
