package region_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/internal/tlsteps"
	"github.com/callcore/callcore/test/phone"
)

type tlStep = tlsteps.Step

func timelineFrom(ctx context.Context, t *testing.T, n *node, id string) ([]tlsteps.Entry, string) {
	t.Helper()
	code, body := n.rest(ctx, http.MethodGet, "/calling/v1/calls/id/"+id+"/timeline", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	entries, err := tlsteps.Decode(body, id)
	require.NoError(t, err)
	return entries, string(body)
}

// waitSteps polls a call's timeline on n until it holds want in order.
func waitSteps(ctx context.Context, t *testing.T, n *node, id string, want []tlStep) []tlsteps.Entry {
	t.Helper()
	found, err := tlsteps.Wait(ctx, func() ([]tlsteps.Entry, error) {
		entries, _ := timelineFrom(ctx, t, n, id)
		return entries, nil
	}, want)
	require.NoError(t, err, "timeline of %s on %s", id, n.id)
	return found
}

// A call runs on node A (its ICE primary URL down, the fallback
// answering with say and runMenu; a digit, a PIE, the caller hangs up):
// node B reads its whole timeline from the region's Redis, while it runs
// and after, and the list lives as long as the call record.
func TestTimelineFromAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := redisserver.Start(t)
	b := newBackend(t, func(map[string]any) string {
		return `{"instructions":[{"name":"answer"},{"name":"setCookie","key":"pin","value":"s3cr3t-cookie"},
			{"name":"say","text":"Welcome.","locale":"en-US"}],
			"action":{"name":"runMenu","locale":"en-US","menus":[{"id":"main","mainPrompt":"#tts[Press one now, please. Press one now.]",
			"timeoutMills":8000,"options":[{"dtmf":"1","action":"return(one)"}]}]}}`
	})
	a := startNode(t, nodeOptions{ID: "node-a", Redis: addr, Callback: b.url()})
	nb := startNode(t, nodeOptions{ID: "node-b", Redis: addr, Callback: b.url()})
	// The primary URL refuses connections; the backend is the fallback.
	dead := "http://" + freeTCP(t) + "/callbacks"
	code, body := nb.rest(ctx, http.MethodPost, "/v1/configuration/callbacks/applications/"+appKey,
		`{"url":{"primary":"`+dead+`","fallback":"`+b.url()+`"}}`)
	require.Equal(t, http.StatusNoContent, code, "%s", body)

	p := phone.New(t, phone.Options{User: "alice"})
	c := dialNode(ctx, t, p, a)
	id := callIDOf(ctx, t, b, 0)

	// While the call runs, node B already sees it up to the menu prompt.
	waitSteps(ctx, t, nb, id, []tlStep{
		{Kind: "sip", Summary: "received INVITE"},
		{Kind: "svaml", Summary: "svaml (ice): answer, setCookie, say → runMenu"},
		{Kind: "media", Summary: "prompt started: tts"},
		{Kind: "media", Summary: "prompt started: tts"},
	})
	require.NoError(t, c.SendDTMF(ctx, "1"))
	b.waitFor(ctx, "a PIE", func() bool { return len(b.events("pie")) == 1 })
	waitSteps(ctx, t, nb, id, []tlStep{{Kind: "state", Summary: "state executing → connected"}})
	require.NoError(t, c.Hangup(ctx))
	b.waitFor(ctx, "the DiCE", func() bool { return len(b.events("dice")) == 1 })

	got := waitSteps(ctx, t, nb, id, []tlStep{
		{Kind: "sip", Summary: "received INVITE"},
		{Kind: "sip", Summary: "sent 100 Trying to INVITE"},
		{Kind: "state", Summary: "call started (inbound)"},
		{Kind: "state", Summary: "state initiated → awaiting_ice (ice_sent)"},
		{Kind: "callback", Summary: "ice callback: HTTP 200 in "},
		{Kind: "state", Summary: "state awaiting_ice → executing (reply)"},
		{Kind: "svaml", Summary: "svaml (ice): answer, setCookie, say → runMenu"},
		{Kind: "sip", Summary: "sent 200 OK to INVITE"},
		{Kind: "sip", Summary: "received ACK"},
		{Kind: "media", Summary: "prompt started: tts to the caller"},
		{Kind: "media", Summary: "prompt finished: tts"},
		{Kind: "media", Summary: "prompt started: tts to the caller"},
		{Kind: "media", Summary: "digit 1 received"},
		{Kind: "media", Summary: "menu main result: return"},
		{Kind: "callback", Summary: "pie callback: HTTP 200 in "},
		{Kind: "svaml", Summary: "svaml (pie): continue"},
		{Kind: "state", Summary: "state executing → connected (connected)"},
		{Kind: "sip", Summary: "received BYE"},
		// The 200 OK to the BYE races with the call's reaction to it.
		{Kind: "state", Summary: "state connected → ending (hangup): ANSWERED/CALLERHANGUP"},
		{Kind: "state", Summary: "state ending → ended (torn_down)"},
	})
	waitSteps(ctx, t, nb, id, []tlStep{{Kind: "state", Summary: "state connected → ending"}, {Kind: "callback", Summary: "dice callback: HTTP 200 in "}})
	waitSteps(ctx, t, nb, id, []tlStep{{Kind: "sip", Summary: "received BYE"}, {Kind: "sip", Summary: "sent 200 OK to BYE"}})
	entries, raw := timelineFrom(ctx, t, nb, id)
	for _, e := range entries {
		assert.Equal(t, "node-a", e.Node, "%s: %s", e.Kind, e.Summary)
	}
	ice := got[4]
	assert.Equal(t, true, ice.Data["fallback"])
	assert.EqualValues(t, 2, ice.Data["attempts"])
	assert.Contains(t, ice.Summary, "fallback URL after the primary failed")
	assert.NotContains(t, raw, "46705550100", "the dialled number is masked")
	assert.Contains(t, raw, "+467******00")
	assert.NotContains(t, raw, "s3cr3t-cookie")

	// Node A serves the same timeline.
	fromA, _ := timelineFrom(ctx, t, a, id)
	assert.Equal(t, entries, fromA)

	// The list expires with the call record: record_ttl (24h) after the end.
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	ttl, err := client.PTTL(ctx, "callcore:"+region+":tl:{"+id+"}").Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, ttl, 24*time.Hour)
	assert.Greater(t, ttl, 23*time.Hour)
}
