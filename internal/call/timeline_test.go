package call

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

// fakeTimeline records what the call core tells the timeline.
type fakeTimeline struct {
	mu      sync.Mutex
	entries []tlEntry
	ended   []string
}

type tlEntry struct {
	callID, kind, summary string
	data                  map[string]any
}

func (f *fakeTimeline) Record(callID, kind, summary string, data map[string]any) {
	f.mu.Lock()
	f.entries = append(f.entries, tlEntry{callID, kind, summary, data})
	f.mu.Unlock()
}

func (f *fakeTimeline) End(callID string) {
	f.mu.Lock()
	f.ended = append(f.ended, callID)
	f.mu.Unlock()
}

func (f *fakeTimeline) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.entries))
	for i, e := range f.entries {
		out[i] = e.kind + ": " + e.summary
	}
	return out
}

func (f *fakeTimeline) find(kind, summary string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		if e.kind == kind && e.summary == summary {
			return e.data
		}
	}
	return nil
}

// A menu call's timeline: its start, every transition, the SVAML of ICE
// and PIE, the prompts, the digit, the menu's result and the end.
func TestTimelineOfAMenuCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		tl := &fakeTimeline{}
		e.m.deps.Timeline = tl
		caller := menuCall(t, e, `{"instructions":[{"name":"answer"}],"action":{"name":"runMenu","locale":"en-US","menus":[
			{"id":"main","mainPrompt":"#tts[Press 1]","timeoutMills":3000,"options":[{"dtmf":"1","action":"return(one)"}]}]}}`)
		time.Sleep(3 * time.Second) // the prompt plays out
		caller.press("1")
		e.final("call-1")

		assert.Equal(t, []string{
			"state: call started (inbound), state initiated",
			"state: state initiated → awaiting_ice (ice_sent)",
			"state: state awaiting_ice → executing (reply)",
			"svaml: svaml (ice): answer → runMenu",
			"media: prompt started: tts to the caller",
			"media: prompt finished: tts",
			"media: digit 1 received",
			"media: menu main result: return",
			"svaml: svaml (pie): say → hangup",
			"media: prompt started: tts to the caller",
			"media: prompt finished: tts",
			"state: state executing → ending (hangup): ANSWERED/MANAGERHANGUP",
			"state: state ending → ended (torn_down)",
		}, tl.lines())
		assert.Equal(t, []string{"call-1"}, tl.ended)
		for _, en := range tl.entries {
			assert.Equal(t, "call-1", en.callID)
		}

		start := tl.find("state", "call started (inbound), state initiated")
		assert.Equal(t, "+46701111111", start["cli"], "raw: the timeline redacts")
		ice := tl.find("svaml", "svaml (ice): answer → runMenu")
		assert.Equal(t, "ice", ice["context"])
		assert.Equal(t, []string{"answer"}, ice["instructions"])
		assert.Equal(t, "ice callback reply", ice["source"])
		assert.NotContains(t, ice, "document", "a callback's reply is in the callback's entry, not stored twice")
		assert.Equal(t, map[string]any{"digit": "1", "menu": "main", "duringPrompt": false}, tl.find("media", "digit 1 received"))
		assert.Equal(t, map[string]any{"kind": "tts", "leg": "caller", "prompt": "Press 1"},
			tl.find("media", "prompt started: tts to the caller"))
		ending := tl.find("state", "state executing → ending (hangup): ANSWERED/MANAGERHANGUP")
		assert.Equal(t, events.ReasonManagerHangup, ending["reason"])
	})
}

// Failures are error entries: a busy callee, an unsupported action.
func TestTimelineErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		tl := &fakeTimeline{}
		e.m.deps.Timeline = tl
		e.backend.on(events.KindICE, `{"action":{"name":"connectPstn","number":"+12025550100"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{err: &DialError{Code: 486, Result: events.ResultBusy, Reason: events.ReasonBusy}}
		e.dialer.legs <- callee
		e.inbound("+46701234567")
		e.final("call-1")
		data := tl.find("error", "dial failed: BUSY/BUSY")
		require.NotNil(t, data, "%q", tl.lines())
		assert.Equal(t, 486, data["code"])
	})
}

// A parked call's looping hold prompt is one entry pair, not one per round.
func TestTimelineParkHoldPromptOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, tl := parkedWithTimeline(t, 60)
		e.final("call-1")
		require.Greater(t, len(e.media.plays()), 3, "the hold prompt looped")
		n := 0
		for _, l := range tl.lines() {
			if l == "media: prompt started: tts to the caller" {
				n++
			}
		}
		assert.Equal(t, 1, n, "%q", tl.lines())
	})
}

func TestClip(t *testing.T) {
	assert.Equal(t, "abc", clip("abc", 5))
	assert.Equal(t, "ab…", clip("abcdef", 2))
	assert.Equal(t, "…", clip("éa", 1), "never half a character")
}

// tracedLeg is a fake inbound leg that can join the SIP trace.
type tracedLeg struct {
	*fakeLeg
	mu      sync.Mutex
	traceID string
}

func (l *tracedLeg) SetTraceID(id string) {
	l.mu.Lock()
	l.traceID = id
	l.mu.Unlock()
}

func (l *tracedLeg) id() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.traceID
}

// A caller's SIP messages join the timeline once its call exists; an
// INVITE turned away before that leaves none behind.
func TestTimelineTracesOnlyStartedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.m.deps.Timeline = &fakeTimeline{}
		e.backend.on(events.KindICE, `{"action":{"name":"hangup"}}`)
		routed := &tracedLeg{fakeLeg: newFakeLeg()}
		e.m.HandleInbound(context.Background(), Inbound{Leg: routed, From: "+46701111111", To: events.Destination{Type: "did", Endpoint: "+46701234567"}})
		unrouted := &tracedLeg{fakeLeg: newFakeLeg()}
		e.m.HandleInbound(context.Background(), Inbound{Leg: unrouted, From: "+46701111111", To: events.Destination{Type: "did", Endpoint: "+46700000000"}})
		e.final("call-1")
		assert.Equal(t, "call-1", routed.id())
		assert.Equal(t, 404, unrouted.rejected)
		assert.Empty(t, unrouted.id())
	})
}

// A call a survivor ends for its dead node gets a last entry and its end.
func TestTimelineOfATakenOverCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		tl := &fakeTimeline{}
		e.m.deps.Timeline = tl
		e.m.deps.Events = &fakeQueue{}
		ctx := context.Background()
		require.NoError(t, e.store.Create(ctx, &Snapshot{ID: "x", Node: "node-x", AppKey: "app", State: StateConnected,
			StartedAt: time.Now(), WantDiCE: true, Callback: CallbackRef{URL: "http://backend/cb"}}))
		n, err := e.m.TakeOver(ctx, "node-x", time.Now())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		assert.Equal(t, []string{"error: call ended by node node-a: node node-x is gone"}, tl.lines())
		assert.Equal(t, []string{"x"}, tl.ended)
	})
}

// SVAML that comes with a request (here a PATCH) is stored in its entry:
// nothing else in the timeline holds it.
func TestTimelineKeepsRequestSVAML(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, tl := parkedWithTimeline(t, 600)
		synctest.Wait()
		time.Sleep(time.Second)
		require.NoError(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"instructions":[{"name":"say","text":"Bye"}],"action":{"name":"hangup"}}`)))
		e.final("call-1")

		ice := tl.find("svaml", "svaml (ice): park")
		require.NotNil(t, ice)
		assert.Equal(t, "ice callback reply", ice["source"])
		assert.NotContains(t, ice, "document")
		patch := tl.find("svaml", "svaml (patch): say → hangup")
		require.NotNil(t, patch, "%q", tl.lines())
		assert.Equal(t, "api", patch["source"])
		doc, err := json.Marshal(patch["document"])
		require.NoError(t, err)
		assert.Contains(t, string(doc), `"text":"Bye"`)
	})
}

// parkedWithTimeline starts an inbound call whose ICE reply parks it
// with a looping "Hold on" for maxDuration seconds, its timeline recorded.
func parkedWithTimeline(t *testing.T, maxDuration int) (*env, *fakeTimeline) {
	e := newEnv(t)
	tl := &fakeTimeline{}
	e.m.deps.Timeline = tl
	e.backend.on(events.KindICE, `{"action":{"name":"park","holdPrompt":"#tts[Hold on]","maxDuration":`+strconv.Itoa(maxDuration)+`}}`)
	e.inbound("+46701234567")
	return e, tl
}
