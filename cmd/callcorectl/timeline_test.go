package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// timelineEntries is a call's timeline as the node serves it; entries 2
// and 3 are identical (two steps in the same millisecond) and must both
// be printed.
var timelineEntries = []string{
	`{"t":"2026-03-01T12:00:00.000Z","node":"node-a","kind":"sip.in","summary":"INVITE sip:+46701234567 from +46700000001","data":{"method":"INVITE"}}`,
	`{"t":"2026-03-01T12:00:00.152Z","node":"node-a","kind":"callback","summary":"ICE → 200 in 12 ms","data":{"event":"ice","status":200,"latencyMs":12}}`,
	`{"t":"2026-03-01T12:00:01.004Z","node":"node-b","kind":"svaml","summary":"say, then runMenu","data":{}}`,
	`{"t":"2026-03-01T12:00:01.004Z","node":"node-b","kind":"svaml","summary":"say, then runMenu","data":{}}`,
	`{"t":"2026-03-01T12:00:03.500Z","node":"node-a","kind":"state","summary":"ONGOING → ENDED (callee hung up)"}`,
	`{"t":"2026-03-01T12:00:03.620Z","node":"node-a","kind":"callback","summary":"DiCE → 200\u001b[2J in 8 ms","data":{"event":"dice"}}`,
}

// wantTimeline is the table of all of timelineEntries.
const wantTimeline = `call call-1, first entry at 2026-03-01T12:00:00.000Z (TIME is milliseconds after it)
     TIME  NODE    KIND      SUMMARY
     +0ms  node-a  sip.in    INVITE sip:+46701234567 from +46700000001
   +152ms  node-a  callback  ICE → 200 in 12 ms
  +1004ms  node-b  svaml     say, then runMenu
  +1004ms  node-b  svaml     say, then runMenu
  +3500ms  node-a  state     ONGOING → ENDED (callee hung up)
  +3620ms  node-a  callback  DiCE → 200` + "\uFFFD" + `[2J in 8 ms
`

// timelineBody is the answer with the first n entries.
func timelineBody(n int) string {
	return `{"callId":"call-1","entries":[` + strings.Join(timelineEntries[:n], ",\n") + `]}`
}

// growingTimeline is a fake node whose timeline of call-1 grows by one
// entry per GET (starting with two) and whose call is FINAL from the
// fourth timeline GET on; the last entry (the DiCE) only appears in the
// GET after that.
type growingTimeline struct {
	mu       sync.Mutex
	fetches  int
	status   []string // the status answered to each call GET
	onStatus func()
}

func (g *growingTimeline) handle(w http.ResponseWriter, r *http.Request) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/calling/v1/calls/id/call-1/timeline":
		g.fetches++
		_, _ = w.Write([]byte(timelineBody(min(g.fetches+1, len(timelineEntries)))))
	case "/calling/v1/calls/id/call-1":
		if g.onStatus != nil {
			g.onStatus()
		}
		status := "ONGOING"
		if g.fetches >= 4 {
			status = "FINAL"
		}
		g.status = append(g.status, status)
		_, _ = w.Write([]byte(`{"callId":"call-1","status":"` + status + `","from":"+46700000001","to":{"type":"number","endpoint":"+46701234567"}}`))
	default:
		return false
	}
	return true
}

// call timeline renders the node's JSON as a table: time relative to the
// first entry in ms, node, kind, summary; --json prints it raw; --wide
// adds the data.
func TestTimeline(t *testing.T) {
	t.Parallel()
	srv := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/calling/v1/calls/id/call-1/timeline":
			_, _ = w.Write([]byte(timelineBody(len(timelineEntries))))
		case "/calling/v1/calls/id/empty/timeline":
			_, _ = w.Write([]byte(`{"callId":"empty","entries":[]}`))
		case "/calling/v1/calls/id/broken/timeline":
			_, _ = w.Write([]byte(`{"callId":"broken","entries":[1]}`))
		default:
			return false
		}
		return true
	})
	e := srv.env(t)

	assert.Equal(t, wantTimeline, ok(t, e, "call", "timeline", "call-1"))
	assert.Equal(t, timelineBody(len(timelineEntries))+"\n", ok(t, e, "call", "timeline", "call-1", "--json"))
	wide := ok(t, e, "call", "timeline", "call-1", "--wide")
	assert.Contains(t, wide, `ICE → 200 in 12 ms  {"event":"ice","status":200,"latencyMs":12}`+"\n")
	assert.Contains(t, wide, "say, then runMenu\n", "empty data is left out")

	assert.Equal(t, "call empty: no timeline entries\n", ok(t, e, "call", "timeline", "empty"))
	msg := fails(t, exitInvalid, e, "call", "timeline", "broken")
	assert.Contains(t, msg, "timeline: entries[0]: ")
	msg = fails(t, exitInvalid, e, "call", "timeline", "nope")
	assert.Equal(t, "callcorectl: HTTP 404: Call not found (reference r-404)\n", msg)
}

// --follow polls while the call is ONGOING, prints each entry once (the
// duplicate pair included), polls once more after the call is FINAL (the
// DiCE entry) and exits 0; its table equals the one-shot table.
func TestTimelineFollow(t *testing.T) {
	t.Parallel()
	g := &growingTimeline{}
	srv := newFakeNode(t, g.handle)
	e := srv.env(t)

	out := ok(t, e, "call", "timeline", "call-1", "--follow", "--interval", "5ms")
	assert.Equal(t, wantTimeline, out)
	g.mu.Lock()
	assert.Equal(t, 5, g.fetches, "four polls until FINAL, then one more")
	assert.Equal(t, []string{"ONGOING", "ONGOING", "ONGOING", "FINAL"}, g.status)
	g.mu.Unlock()

	// --json: one compact entry per line, each once.
	g2 := &growingTimeline{}
	srv2 := newFakeNode(t, g2.handle)
	out = ok(t, srv2.env(t), "call", "timeline", "call-1", "-f", "--interval", "5ms", "--json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, len(timelineEntries))
	for i, line := range lines {
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, []byte(timelineEntries[i])))
		assert.Equal(t, compact.String(), line)
	}
}

// --follow of a call the node no longer knows stops after one poll; a
// cancelled context (Ctrl-C) ends it with exit 0.
func TestTimelineFollowStops(t *testing.T) {
	t.Parallel()
	srv := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/calling/v1/calls/id/gone/timeline" {
			return false // the call itself: 404
		}
		_, _ = w.Write([]byte(`{"callId":"gone","entries":[` + timelineEntries[0] + `]}`))
		return true
	})
	out := ok(t, srv.env(t), "call", "timeline", "gone", "--follow", "--interval", "5ms")
	assert.Contains(t, out, "     +0ms  node-a  sip.in    INVITE")
	assert.Equal(t, []string{
		"/calling/v1/calls/id/gone/timeline", "/calling/v1/calls/id/gone", "/calling/v1/calls/id/gone/timeline",
	}, srv.paths())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &growingTimeline{onStatus: cancel}
	srv2 := newFakeNode(t, g.handle)
	var stdout, stderr bytes.Buffer
	c := newCLI(ctx, strings.NewReader(""), &stdout, &stderr, srv2.env(t).get)
	code := c.main([]string{"call", "timeline", "call-1", "--follow", "--interval", "1h"})
	assert.Equal(t, exitOK, code, stderr.String())
	assert.Empty(t, stderr.String())
	assert.Contains(t, stdout.String(), "ICE → 200 in 12 ms")
}
