package region_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
	"github.com/callcore/callcore/test/phone"
)

// tlEntry is one entry of GET /calling/v1/calls/id/{id}/timeline.
type tlEntry struct {
	T       string         `json:"t"`
	Node    string         `json:"node"`
	Kind    string         `json:"kind"`
	Summary string         `json:"summary"`
	Data    map[string]any `json:"data"`
}

// tlStep is an expected entry: its kind and the start of its summary.
type tlStep struct{ kind, summary string }

func timelineFrom(ctx context.Context, t *testing.T, n *node, id string) ([]tlEntry, string) {
	t.Helper()
	code, body := n.rest(ctx, http.MethodGet, "/calling/v1/calls/id/"+id+"/timeline", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	var reply struct {
		CallID  string    `json:"callId"`
		Entries []tlEntry `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(body, &reply), "%s", body)
	require.Equal(t, id, reply.CallID)
	return reply.Entries, string(body)
}

// matchSteps returns the entries matching want in order, and the first
// step not found.
func matchSteps(entries []tlEntry, want []tlStep) ([]tlEntry, *tlStep) {
	var found []tlEntry
	i := 0
	for _, w := range want {
		for i < len(entries) && (entries[i].Kind != w.kind || !strings.HasPrefix(entries[i].Summary, w.summary)) {
			i++
		}
		if i == len(entries) {
			return found, &w
		}
		found = append(found, entries[i])
		i++
	}
	return found, nil
}

// waitSteps polls a call's timeline on n until it holds want in order.
func waitSteps(ctx context.Context, t *testing.T, n *node, id string, want []tlStep) []tlEntry {
	t.Helper()
	for {
		entries, _ := timelineFrom(ctx, t, n, id)
		found, missing := matchSteps(entries, want)
		if missing == nil {
			return found
		}
		select {
		case <-ctx.Done():
			var lines []string
			for _, e := range entries {
				lines = append(lines, e.Node+" "+e.Kind+": "+e.Summary)
			}
			t.Fatalf("timeline of %s on %s lacks %q:\n%s", id, n.id, *missing, strings.Join(lines, "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
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
		{"sip", "received INVITE"},
		{"svaml", "svaml (ice): answer, setCookie, say → runMenu"},
		{"media", "prompt started: tts"},
		{"media", "prompt started: tts"},
	})
	require.NoError(t, c.SendDTMF(ctx, "1"))
	b.waitFor(ctx, "a PIE", func() bool { return len(b.events("pie")) == 1 })
	waitSteps(ctx, t, nb, id, []tlStep{{"state", "state executing → connected"}})
	require.NoError(t, c.Hangup(ctx))
	b.waitFor(ctx, "the DiCE", func() bool { return len(b.events("dice")) == 1 })

	got := waitSteps(ctx, t, nb, id, []tlStep{
		{"sip", "received INVITE"},
		{"sip", "sent 100 Trying to INVITE"},
		{"state", "call started (inbound)"},
		{"state", "state initiated → awaiting_ice (ice_sent)"},
		{"callback", "ice callback: HTTP 200 in "},
		{"state", "state awaiting_ice → executing (reply)"},
		{"svaml", "svaml (ice): answer, setCookie, say → runMenu"},
		{"sip", "sent 200 OK to INVITE"},
		{"sip", "received ACK"},
		{"media", "prompt started: tts to the caller"},
		{"media", "prompt finished: tts"},
		{"media", "prompt started: tts to the caller"},
		{"media", "digit 1 received"},
		{"media", "menu main result: return"},
		{"callback", "pie callback: HTTP 200 in "},
		{"svaml", "svaml (pie): continue"},
		{"state", "state executing → connected (connected)"},
		{"sip", "received BYE"},
		// The 200 OK to the BYE races with the call's reaction to it.
		{"state", "state connected → ending (hangup): ANSWERED/CALLERHANGUP"},
		{"state", "state ending → ended (torn_down)"},
	})
	waitSteps(ctx, t, nb, id, []tlStep{{"state", "state connected → ending"}, {"callback", "dice callback: HTTP 200 in "}})
	waitSteps(ctx, t, nb, id, []tlStep{{"sip", "received BYE"}, {"sip", "sent 200 OK to BYE"}})
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
