package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/test/internal/tlsteps"
	"github.com/callcore/callcore/test/phone"
)

// timelineOf reads a call's timeline from a node; raw is the body as sent.
func timelineOf(ctx context.Context, t *testing.T, n *app.App, id string) (entries []tlsteps.Entry, raw string) {
	t.Helper()
	code, body := rest(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/"+id+"/timeline", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	entries, err := tlsteps.Decode(body, id)
	require.NoError(t, err)
	return entries, string(body)
}

// waitTimeline polls a call's timeline until it holds want in order.
func waitTimeline(ctx context.Context, t *testing.T, n *app.App, id string, want []step) []tlsteps.Entry {
	t.Helper()
	found, err := tlsteps.Wait(ctx, func() ([]tlsteps.Entry, error) {
		entries, _ := timelineOf(ctx, t, n, id)
		return entries, nil
	}, want)
	require.NoError(t, err, "timeline of %s", id)
	return found
}

type step = tlsteps.Step

// The timeline of a call whose ICE primary URL fails and whose fallback
// answers (say, runMenu), with a digit from the phone, a PIE and a hangup:
// every step in order, readable while the call runs, numbers and cookie
// values masked.
func TestTimelineOfACall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "primary is broken", http.StatusInternalServerError)
	}))
	t.Cleanup(primary.Close)
	fallback := newBackend(t)
	fallback.on("ice", `{"instructions":[{"name":"answer"},{"name":"setCookie","key":"pin","value":"s3cr3t-cookie"},
		{"name":"say","text":"Welcome.","locale":"en-US"}],
		"action":{"name":"runMenu","locale":"en-US","menus":[{"id":"main","mainPrompt":"#tts[Press one now, please. Press one now.]",
		"timeoutMills":8000,"options":[{"dtmf":"1","action":"return(one)"}]}]}}`)
	fallback.on("pie", `{"instructions":[{"name":"say","text":"Thank you.","locale":"en-US"}],"action":{"name":"hangup"}}`)
	n := nodeWith(t, fallback, nodeOptions{CallbackURL: primary.URL + "/callbacks", FallbackURL: fallback.url()})

	caller := phone.New(t, phone.Options{User: "alice"})
	calls := dialDID(ctx, caller, n, phone.DialOptions{})
	ice := fallback.want(ctx, "ice")
	id, _ := ice["callid"].(string)
	require.NotEmpty(t, id)
	c := answered(ctx, t, calls)

	// While the call runs: the steps so far, up to the menu's prompt.
	running := waitTimeline(ctx, t, n, id, []step{
		{Kind: "sip", Summary: "received INVITE"},
		{Kind: "svaml", Summary: "svaml (ice): answer, setCookie, say → runMenu"},
		{Kind: "media", Summary: "prompt started: tts"}, // say
		{Kind: "media", Summary: "prompt started: tts"}, // the menu
	})
	require.NotEmpty(t, running)
	entries, _ := timelineOf(ctx, t, n, id)
	for _, e := range entries {
		require.NotEqual(t, "state ending → ended (torn_down)", e.Summary, "the call is still running")
	}
	require.NoError(t, c.SendDTMF(ctx, "1"))
	fallback.want(ctx, "pie")
	fallback.want(ctx, "dice")
	ended(ctx, t, c)

	want := []step{
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
		{Kind: "svaml", Summary: "svaml (pie): say → hangup"},
		{Kind: "media", Summary: "prompt started: tts to the caller"},
		{Kind: "state", Summary: "state executing → ending (hangup): ANSWERED/MANAGERHANGUP"},
		{Kind: "sip", Summary: "sent BYE"},
		{Kind: "sip", Summary: "received 200 OK to BYE"},
		{Kind: "state", Summary: "state ending → ended (torn_down)"},
	}
	got := waitTimeline(ctx, t, n, id, want)
	waitTimeline(ctx, t, n, id, []step{{Kind: "state", Summary: "state executing → ending"}, {Kind: "callback", Summary: "dice callback: HTTP 200 in "}})
	entries, raw := timelineOf(ctx, t, n, id)

	// Times are ordered, in ms, and the node names itself.
	for i, e := range entries {
		assert.Equal(t, "e2e", e.Node)
		assert.Len(t, e.T, len("2026-11-21T10:00:00.123Z"), e.T)
		if i > 0 {
			assert.LessOrEqual(t, entries[i-1].T, e.T, "ordered by time")
		}
	}
	// The ICE went to the fallback after the primary failed.
	iceEntry := got[4]
	assert.Contains(t, iceEntry.Summary, "fallback URL after the primary failed")
	assert.Equal(t, true, iceEntry.Data["fallback"])
	assert.EqualValues(t, 2, iceEntry.Data["attempts"])
	assert.EqualValues(t, 200, iceEntry.Data["status"])
	assert.Equal(t, fallback.url(), iceEntry.Data["url"])
	assert.Equal(t, "application", iceEntry.Data["signature"])
	assert.Contains(t, iceEntry.Data["request"], `"event":"ice"`)
	assert.Contains(t, iceEntry.Data["reply"], `"name":"runMenu"`)
	svamlEntry := got[6]
	assert.Equal(t, []any{"answer", "setCookie", "say"}, svamlEntry.Data["instructions"])
	assert.Equal(t, "runMenu", svamlEntry.Data["action"])
	assert.Equal(t, "ice callback reply", svamlEntry.Data["source"])
	assert.NotContains(t, svamlEntry.Data, "document", "the reply is stored once, in the callback's entry")
	assert.Contains(t, iceEntry.Data["reply"], `"name":"setCookie","key":"pin","value":"***"`)
	assert.Equal(t, "1", got[12].Data["digit"])
	assert.Contains(t, got[14].Data["request"], `"value":"***"`, "cookie values masked in the PIE")
	dice, _ := tlsteps.InOrder(entries, []step{{Kind: "callback", Summary: "dice callback: HTTP 200 in "}})
	require.Len(t, dice, 1)
	assert.Equal(t, true, dice[0].Data["fallback"])

	// The dialled number is masked everywhere; the cookie value is nowhere.
	assert.NotContains(t, raw, "46701234567")
	assert.NotContains(t, raw, "s3cr3t-cookie")
	assert.Contains(t, raw, "+467******67")
	invite := got[0]
	assert.Equal(t, "+467******67", invite.Data["to"])
	assert.Equal(t, "alice", invite.Data["from"])
	assert.Equal(t, "in", invite.Data["dir"])
	assert.Contains(t, invite.Summary, "(sdp: audio ")
}

// The route's answers besides the timeline: another app's call and an
// unknown one are 404.
func TestTimelineNotFound(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	n := node(t, b, "")
	code, body := rest(ctx, t, n, http.MethodGet, "/calling/v1/calls/id/euc1-e2e-0000/timeline", "")
	require.Equal(t, http.StatusNotFound, code, "%s", body)
	require.Contains(t, string(body), "Call not found")
}
