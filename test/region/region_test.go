package region_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/regions"
	"github.com/callcore/callcore/test/internal/kamailio"
	sipprun "github.com/callcore/callcore/test/internal/sipp"
	"github.com/callcore/callcore/test/phone"
)

// parkICE answers, sets a cookie and parks the caller: a call that stays
// up until a command ends it.
func parkICE(map[string]any) string {
	return `{"instructions":[{"name":"answer"},{"name":"setCookie","key":"step","value":"parked"}],
		"action":{"name":"park","introPrompt":"#tts[Please hold]","holdPrompt":"#tts[Still holding]","maxDuration":300}}`
}

// dialNode calls the region's number on a node and waits for the answer.
func dialNode(ctx context.Context, t *testing.T, p *phone.Phone, n *node) *phone.Call {
	t.Helper()
	c, err := p.Dial(ctx, "sip:"+did+"@"+n.sip, phone.DialOptions{})
	require.NoError(t, err, "calling node %s", n.id)
	return c
}

// callIDOf waits for the ICE of the phone call and returns the call id.
func callIDOf(ctx context.Context, t *testing.T, b *backend, before int) string {
	t.Helper()
	b.waitFor(ctx, "an ICE", func() bool { return len(b.events("ice")) > before })
	return b.events("ice")[before].CallID
}

func getCall(ctx context.Context, t *testing.T, n *node, id string) (int, map[string]any) {
	t.Helper()
	code, raw := n.rest(ctx, http.MethodGet, "/calling/v1/calls/id/"+id, "")
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return code, m
}

func cookiesOf(v any) map[string]string {
	out := map[string]string{}
	list, _ := v.([]any)
	for _, kv := range list {
		m, _ := kv.(map[string]any)
		k, _ := m["key"].(string)
		val, _ := m["value"].(string)
		out[k] = val
	}
	return out
}

// A call on node A is read, updated and hung up through REST on nodes B
// and C; cookies set on A are seen from B and in the events.
func TestThreeNodesShareCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	redis := redisserver.Start(t)
	b := newBackend(t, parkICE)
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url()})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url()})
	nc := startNode(t, nodeOptions{ID: "node-c", Redis: redis, Callback: b.url()})

	p := phone.New(t, phone.Options{User: "alice"})
	pc := dialNode(ctx, t, p, a)
	id := callIDOf(ctx, t, b, 0)
	loc, ok := regions.ParseCallID(id)
	require.True(t, ok, "a callcore call id: %s", id)
	require.True(t, loc.On("node-a"), "the id names the node that runs the call")
	ice := b.events("ice")[0].Body
	assert.Equal(t, "http://calling-euc1.test/calling/v1/calls/id/"+id, ice["callResourceUrl"], "the region's base URL")

	// Read from B and C: the record A keeps in Redis, cookies included.
	for _, n := range []*node{nb, nc} {
		var info map[string]any
		require.Eventually(t, func() bool {
			var code int
			code, info = getCall(ctx, t, n, id)
			return code == http.StatusOK && cookiesOf(info["cookies"])["step"] == "parked"
		}, 10*time.Second, 50*time.Millisecond, "GET from %s", n.id)
		assert.Equal(t, "ONGOING", info["status"])
		assert.Equal(t, id, info["callId"])
	}

	// Update through B: forwarded to A, which runs the SVAML.
	code, body := nb.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id,
		`{"instructions":[{"name":"setCookie","key":"patched","value":"through-b"},{"name":"say","text":"Updated","locale":"en-US"}],"action":{"name":"continue"}}`)
	require.Equal(t, http.StatusNoContent, code, "%s", body)
	require.Eventually(t, func() bool {
		_, info := getCall(ctx, t, nc, id)
		return cookiesOf(info["cookies"])["patched"] == "through-b"
	}, 10*time.Second, 50*time.Millisecond, "the cookie set through B, read on C")
	assert.Positive(t, nb.metric(ctx, "callcore_calls_commands_forwarded_total"))

	// Invalid SVAML is refused by the node that got it, with the path.
	code, body = nc.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"fly"}}`)
	assert.Equal(t, http.StatusBadRequest, code, "%s", body)

	// A call id of another region: 421 naming that region's API.
	other := string(regions.NewCallID(regions.USE1, "node-x"))
	code, body = nc.rest(ctx, http.MethodGet, "/calling/v1/calls/id/"+other, "")
	assert.Equal(t, http.StatusMisdirectedRequest, code)
	assert.Contains(t, string(body), "http://calling-use1.test")

	// Hang up through C.
	code, body = nc.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
	require.Equal(t, http.StatusNoContent, code, "%s", body)
	_, err := pc.WaitEnd(ctx)
	require.NoError(t, err)
	b.waitFor(ctx, "the DiCE", func() bool { return len(b.events("dice")) == 1 })
	dice := b.events("dice")[0]
	assert.Equal(t, id+":dice", dice.EventID)
	assert.Equal(t, "MANAGERHANGUP", dice.Body["reason"])
	assert.Equal(t, map[string]string{"step": "parked", "patched": "through-b"}, cookiesOf(dice.Body["cookies"]))

	// Ended: every node reads FINAL; commands answer 409.
	for _, n := range []*node{a, nb, nc} {
		require.Eventually(t, func() bool {
			_, info := getCall(ctx, t, n, id)
			return info["status"] == "FINAL"
		}, 10*time.Second, 50*time.Millisecond)
	}
	code, _ = nb.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
	assert.Equal(t, http.StatusConflict, code)
	code, _ = nb.rest(ctx, http.MethodGet, "/calling/v1/calls/id/"+fmt.Sprint(regions.NewCallID(region, "node-a")), "")
	assert.Equal(t, http.StatusNotFound, code)
}

// Node A dies (kill -9) with calls up: within two heartbeat TTLs another
// node ends them and their DiCE arrive, once each; a command for one of
// them meanwhile gets a clear 504; A restarted with the same id does not
// bring them back.
func TestKilledNodeCallsEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ttl = 2 * time.Second
	redis := redisserver.Start(t)
	b := newBackend(t, parkICE)
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url(), HeartbeatTTL: ttl})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url(), HeartbeatTTL: ttl})
	nc := startNode(t, nodeOptions{ID: "node-c", Redis: redis, Callback: b.url(), HeartbeatTTL: ttl})

	const calls = 3
	ids := map[string]bool{}
	for i := range calls {
		p := phone.New(t, phone.Options{User: fmt.Sprintf("caller%d", i)})
		dialNode(ctx, t, p, a)
		ids[callIDOf(ctx, t, b, i)] = true
	}
	var some string
	for id := range ids {
		some = id
	}
	time.Sleep(300 * time.Millisecond) // answered and saved

	a.kill9()
	killed := time.Now()
	code, body := nb.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+some, `{"action":{"name":"hangup"}}`)
	if code != http.StatusConflict { // unless the survivor was faster
		assert.Equal(t, http.StatusGatewayTimeout, code, "%s", body)
		assert.Contains(t, string(body), "node-a")
	}

	b.waitFor(ctx, "the DiCE of every call of the dead node", func() bool { return len(b.diceByCall()) == calls })
	took := time.Since(killed)
	t.Logf("DiCE of %d calls of the killed node arrived %v after kill -9 (heartbeat TTL %v)", calls, took, ttl)
	assert.Less(t, took, 2*ttl+time.Second, "within two heartbeat TTLs (plus delivery)")
	time.Sleep(ttl) // room for duplicates to show up
	for id, ds := range b.diceByCall() {
		require.True(t, ids[id], "a DiCE for an unknown call %s", id)
		require.Len(t, ds, 1, "one DiCE per call")
		assert.Equal(t, id+":dice", ds[0].EventID)
		assert.Equal(t, "GENERALERROR", ds[0].Body["reason"])
		assert.Equal(t, "ANSWERED", ds[0].Body["result"])
	}
	assert.Equal(t, float64(calls), nb.metric(ctx, "callcore_calls_taken_over_total")+nc.metric(ctx, "callcore_calls_taken_over_total"),
		"one survivor ended them")
	code, _ = nc.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+some, `{"action":{"name":"hangup"}}`)
	assert.Equal(t, http.StatusConflict, code, "ended")

	// A comes back with the same id: the old calls stay ended.
	startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url(), HeartbeatTTL: ttl, Keep: a})
	time.Sleep(ttl)
	for id := range ids {
		_, info := getCall(ctx, t, nb, id)
		assert.Equal(t, "FINAL", info["status"])
	}
	assert.Len(t, b.events("dice"), calls, "no DiCE again after the restart")
}

// The backend is down for 30 s while calls end: every DiCE arrives once it
// is back, none twice (by event id), none lost.
func TestBackendDownThirtySeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s outage")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	redis := redisserver.Start(t)
	b := newBackend(t, parkICE)
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url()})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url()})

	const perNode = 3
	var ids []string
	for i := range 2 * perNode {
		n := a
		if i%2 == 1 {
			n = nb
		}
		p := phone.New(t, phone.Options{User: fmt.Sprintf("caller%d", i)})
		dialNode(ctx, t, p, n)
		ids = append(ids, callIDOf(ctx, t, b, i))
	}
	time.Sleep(300 * time.Millisecond)

	b.stop()
	down := time.Now()
	for i, id := range ids {
		via := nb // each call hung up through the node that does not run it
		if i%2 == 1 {
			via = a
		}
		code, body := via.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
		require.Equal(t, http.StatusNoContent, code, "%s", body)
		time.Sleep(time.Second)
	}
	require.Eventually(t, func() bool {
		return a.metric(ctx, `callcore_outbox_attempts_total{kind="dice",outcome="retry"}`)+
			nb.metric(ctx, `callcore_outbox_attempts_total{kind="dice",outcome="retry"}`) >= float64(len(ids))
	}, 20*time.Second, 100*time.Millisecond, "the DiCE are being retried")
	time.Sleep(30*time.Second - time.Since(down))
	require.Empty(t, b.events("dice"))
	b.start()
	back := time.Now()

	b.waitFor(ctx, "every DiCE", func() bool { return len(b.diceByCall()) == len(ids) })
	t.Logf("all %d DiCE delivered %v after the backend came back", len(ids), time.Since(back))
	time.Sleep(3 * time.Second) // duplicates, if any, would show up now
	seen := map[string]bool{}
	for _, d := range b.events("dice") {
		require.False(t, seen[d.EventID], "duplicate event id %s", d.EventID)
		seen[d.EventID] = true
	}
	for _, id := range ids {
		require.True(t, seen[id+":dice"], "DiCE of %s", id)
	}
}

// sayOrPark answers sipp's calls (cli +46708880000) with a prompt and a
// hangup, and parks the others.
func sayOrPark(ev map[string]any) string {
	if ev["cli"] == "+46708880000" {
		return `{"instructions":[{"name":"answer"},{"name":"say","text":"Hello","locale":"en-US"}],"action":{"name":"hangup"}}`
	}
	return parkICE(ev)
}

// Redis restarts (losing its data) while sipp keeps calling two nodes:
// no node crashes, the calls in progress go on and end with their DiCE,
// new calls are taken again within seconds.
func TestRedisRestartUnderLoad(t *testing.T) {
	sipprun.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	srv := redisserver.StartServer(t)
	b := newBackend(t, sayOrPark)
	a := startNode(t, nodeOptions{ID: "node-a", Redis: srv.Addr(), Callback: b.url()})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: srv.Addr(), Callback: b.url()})

	// Calls in progress through the restart, on both nodes.
	var held []string
	var phones []*phone.Call
	for i, n := range []*node{a, nb, a, nb} {
		p := phone.New(t, phone.Options{User: fmt.Sprintf("held%d", i)})
		phones = append(phones, dialNode(ctx, t, p, n))
		held = append(held, callIDOf(ctx, t, b, i))
	}

	// Load: sipp calls node A throughout.
	load := make(chan sipprun.Result, 1)
	go func() {
		load <- sipprun.Run(t, sipprun.Options{Scenario: "../load/testdata/uac_say.xml", Target: a.sip, Service: did,
			Rate: 10, Total: 200, Limit: 50, Timeout: 100 * time.Second})
	}()
	time.Sleep(4 * time.Second)
	require.NoError(t, srv.Stop())
	time.Sleep(4 * time.Second) // longer than the two failed pings that mark the store down
	srv.Restart(t)
	restarted := time.Now()

	// New calls are taken again within seconds.
	p := phone.New(t, phone.Options{User: "after"})
	var resumed time.Duration
	for {
		dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := p.Dial(dctx, "sip:"+did+"@"+nb.sip, phone.DialOptions{})
		dcancel()
		if err == nil {
			resumed = time.Since(restarted)
			phones = append(phones, c)
			break
		}
		require.Less(t, time.Since(restarted), 30*time.Second, "no new call taken after the restart: %v", err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("a new call was answered %v after Redis came back", resumed)

	res := <-load
	t.Logf("sipp through the restart: %d calls completed, %d failed (refused with 503 while the store was away)", res.Successful, res.Failed)
	require.Positive(t, res.Successful)
	require.Less(t, res.Failed, 100, "only calls placed during the outage may fail\n%s", res.Output)

	// Nobody crashed.
	for _, n := range []*node{a, nb} {
		select {
		case <-n.exited:
			t.Fatalf("node %s exited: %v", n.id, n.exitErr)
		default:
		}
		require.True(t, n.ready(ctx), "node %s ready again", n.id)
	}

	// The held calls went on and were written back: any node ends them,
	// and their DiCE arrive.
	for i, id := range held {
		via := []*node{nb, a}[i%2]
		require.Eventually(t, func() bool {
			code, _ := via.rest(ctx, http.MethodPatch, "/calling/v1/calls/id/"+id, `{"action":{"name":"hangup"}}`)
			return code == http.StatusNoContent
		}, 15*time.Second, 200*time.Millisecond, "hang up call %d (%s) through node %s", i, id, via.id)
	}
	for _, c := range phones[:len(held)] {
		_, err := c.WaitEnd(ctx)
		require.NoError(t, err)
	}
	b.waitFor(ctx, "the DiCE of the held calls", func() bool {
		d := b.diceByCall()
		for _, id := range held {
			if len(d[id]) == 0 {
				return false
			}
		}
		return true
	})
}

// A node drains while sipp keeps calling through Kamailio's dispatcher in
// front of two nodes: no new call fails (the draining node answers OPTIONS
// and INVITEs with 503, the balancer moves on), its calls in progress
// finish with their own hangup, and it exits by itself once they have.
func TestDrainBehindKamailio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	redis := redisserver.Start(t)
	b := newBackend(t, func(map[string]any) string {
		return `{"instructions":[{"name":"answer"},{"name":"say","text":"Thank you for calling. This message takes a few seconds to play.","locale":"en-US"}],"action":{"name":"hangup"}}`
	})
	a := startNode(t, nodeOptions{ID: "node-a", Redis: redis, Callback: b.url(), DrainTimeout: 60 * time.Second})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: redis, Callback: b.url()})
	uriA, uriB := "sip:"+a.sip, "sip:"+nb.sip
	lb := kamailio.Start(t, []string{uriA, uriB})
	require.NoError(t, lb.WaitActive(ctx, uriA, uriB))

	const calls = 80
	run := lb.StartCalls(t, kamailio.Calls{Count: calls, Rate: 6, Service: did, NodeHangsUp: true, Timeout: 90 * time.Second})
	time.Sleep(5 * time.Second)
	activeOnA := a.metric(ctx, `callcore_calls_active{direction="inbound"}`)
	require.Positive(t, activeOnA, "node A has calls when it is told to drain")
	a.term()
	drainStart := time.Now()
	require.NoError(t, lb.WaitActive(ctx, uriB), "the balancer takes the draining node out")
	t.Logf("balancer took node A out %v after SIGTERM (it had %v calls)", time.Since(drainStart).Round(time.Millisecond), activeOnA)
	// What the dashboards and the no-ready-nodes alert read: A is draining
	// and not ready, B ready.
	require.Equal(t, 1.0, a.metric(ctx, "callcore_node_draining"), "node A says it drains")
	require.Equal(t, 0.0, a.metric(ctx, "callcore_node_ready"))
	require.Equal(t, 1.0, nb.metric(ctx, "callcore_node_ready"), "node B says it is ready")
	require.Equal(t, 0.0, nb.metric(ctx, "callcore_node_draining"))

	stats, err := run.Wait(ctx)
	require.NoError(t, err, "no failed call while a node drains\n%s", run.Output())
	t.Logf("sipp through the drain: %+v", stats)
	require.Equal(t, calls, stats.Successful)

	require.NoError(t, a.waitExit(ctx), "node A exits cleanly once drained")
	t.Logf("node A exited %v after SIGTERM", a.exitedAt.Sub(drainStart).Round(time.Millisecond))
	if os.Getenv("CALLCORE_REGION_LOGS") != "" {
		t.Logf("node A:\n%s", a.out.Tail(6000))
	}
	require.Contains(t, a.out.String(), "drained: no calls left")

	// Every call ended by its own hangup: none cut by the drain.
	b.waitFor(ctx, "a DiCE per call", func() bool { return len(b.diceByCall()) == calls })
	for id, ds := range b.diceByCall() {
		require.Len(t, ds, 1, id)
		require.Equal(t, "MANAGERHANGUP", ds[0].Body["reason"], "call %s", id)
	}
}
