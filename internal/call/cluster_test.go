package call

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/regions"
)

// fakeQueue records queued events.
type fakeQueue struct {
	mu  sync.Mutex
	ids []string
	evs []events.Event
	err error
}

func (q *fakeQueue) Enqueue(_ context.Context, _ CallbackTarget, id string, ev events.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.ids = append(q.ids, id)
	q.evs = append(q.evs, ev)
	return nil
}

// fakePeers records forwarded commands.
type fakePeers struct {
	mu    sync.Mutex
	nodes []string
	err   error
}

func (p *fakePeers) Update(_ context.Context, node, _, _ string, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes = append(p.nodes, node)
	return p.err
}

// A dead node's live calls are ended once, with GENERALERROR and the
// duration up to its last heartbeat, and their DiCE queued with the
// call's DiCE event id; ended calls and calls without DiCE are left alone.
func TestTakeOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		q := &fakeQueue{}
		e.m.deps.Events = q
		ctx := context.Background()
		start := time.Now()
		answered := &Snapshot{ID: "a", Node: "node-x", AppKey: "app", State: StateConnected, StartedAt: start,
			AnsweredAt: start.Add(2 * time.Second), WantDiCE: true, Callback: CallbackRef{URL: "http://backend/cb"},
			CallHeaders: []events.KeyValue{{Key: "X-A", Value: "1"}}, From: events.Destination{Type: "number", Endpoint: "+1"}}
		ringing := &Snapshot{ID: "b", Node: "node-x", AppKey: "app", State: StateDialing, StartedAt: start, WantDiCE: true}
		quiet := &Snapshot{ID: "c", Node: "node-x", AppKey: "app", State: StateConnected, StartedAt: start}
		done := &Snapshot{ID: "d", Node: "node-x", AppKey: "app", State: StateEnded, StartedAt: start, WantDiCE: true}
		for _, s := range []*Snapshot{answered, ringing, quiet, done} {
			require.NoError(t, e.store.Create(ctx, s))
		}
		lastSeen := start.Add(32 * time.Second)
		n, err := e.m.TakeOver(ctx, "node-x", lastSeen)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		synctest.Wait()
		require.ElementsMatch(t, []string{"a:dice", "b:dice"}, q.ids)
		for _, ev := range q.evs {
			d := ev.(*events.DiCE)
			require.Equal(t, events.ReasonGeneralError, d.Reason)
			if d.ID == "a" {
				require.Equal(t, events.ResultAnswered, d.Result)
				require.Equal(t, 30, d.Duration, "answered to last heartbeat")
				require.Equal(t, []events.KeyValue{{Key: "X-A", Value: "1"}}, d.CallHeaders)
			} else {
				require.Equal(t, events.ResultFailed, d.Result)
				require.Equal(t, 0, d.Duration)
			}
		}
		s, err := e.store.Load(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, StateEnded, s.State)
		require.True(t, s.EndedAt.Equal(lastSeen))

		// Idempotent: a second survivor (or a retry) sends nothing more.
		n, err = e.m.TakeOver(ctx, "node-x", lastSeen)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Len(t, q.ids, 2)
		require.InDelta(t, 3, testutil.ToFloat64(e.m.metrics.takenOver), 0)
	})
}

// A command for a call of another node is forwarded to it; one for a call
// of another region names that region's base URL; ended calls answer
// ErrCallEnded without forwarding.
func TestUpdateRouting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		p := &fakePeers{}
		e.m.deps.Peers = p
		hangup := []byte(`{"action":{"name":"hangup"}}`)

		require.NoError(t, e.store.Create(ctx, &Snapshot{ID: "remote", Node: "node-b", State: StateConnected}))
		require.NoError(t, e.m.Update(ctx, "remote", "", hangup))
		require.Equal(t, []string{"node-b"}, p.nodes)

		p.err = ErrOwnerUnreachable
		require.ErrorIs(t, e.m.Update(ctx, "remote", "", hangup), ErrOwnerUnreachable)

		require.NoError(t, e.store.Create(ctx, &Snapshot{ID: "over", Node: "node-b", State: StateEnded}))
		require.ErrorIs(t, e.m.Update(ctx, "over", "", hangup), ErrCallEnded)
		require.ErrorIs(t, e.m.Update(ctx, "nope", "", hangup), ErrCallNotFound)
		require.Len(t, p.nodes, 2)

		// Invalid SVAML is refused here, before any forwarding.
		var ve interface{ Error() string }
		err := e.m.Update(ctx, "remote", "", []byte(`{"action":{"name":"fly"}}`))
		require.Error(t, err)
		require.True(t, errors.As(err, &ve))
		require.Len(t, p.nodes, 2)

		// UpdateLocal never forwards.
		require.ErrorIs(t, e.m.UpdateLocal(ctx, "remote", "", hangup), ErrCallNotFound)
		require.ErrorIs(t, e.m.UpdateLocal(ctx, "over", "", hangup), ErrCallEnded)

		// Regions.
		dir, err := regions.NewDirectory("euc1", "dev")
		require.NoError(t, err)
		e.m.opts.Directory = dir
		e.m.opts.RegionURLs = map[string]string{"use1": "https://calling-use1.example.com"}
		var wr *WrongRegionError
		_, err = e.m.Get(ctx, string(regions.NewCallID(regions.USE1, "node-z")))
		require.ErrorAs(t, err, &wr)
		require.Equal(t, "use1", wr.Region)
		require.Contains(t, err.Error(), "https://calling-use1.example.com")
		err = e.m.Update(ctx, string(regions.NewCallID("dev", "node-z")), "", hangup)
		require.ErrorAs(t, err, &wr)
		require.Equal(t, "dev", wr.Region)
		_, err = e.m.Get(ctx, string(regions.NewCallID(regions.EUC1, "node-z")))
		require.ErrorIs(t, err, ErrCallNotFound, "own region: looked up")
	})
}

// While the store is down new calls are refused with 503 and callouts with
// ErrUnavailable; they are taken again once it is back.
func TestStoreDownRefusesNewCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.m.SetStoreDown(true)
		l := e.inbound("+46701234567")
		synctest.Wait()
		require.Equal(t, 503, l.rejected)
		_, err := e.m.Callout(context.Background(), Callout{Method: MethodTTS, AppKey: "app",
			Destination: &events.Destination{Type: "number", Endpoint: "+46701234567"}})
		require.ErrorIs(t, err, ErrUnavailable)
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.rejected.WithLabelValues("store_down")), 0)

		e.m.SetStoreDown(false)
		e.backend.on(events.KindICE, `{"action":{"name":"hangup"}}`)
		e.inbound("+46701234567")
		require.Equal(t, StateEnded, e.final("call-2").State)
	})
}

// A call whose record another node took over (fenced) is hung up here
// without a second DiCE.
func TestFencedCallEndsWithoutEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		q := &fakeQueue{}
		e.m.deps.Events = q
		e.backend.on(events.KindICE, `{"instructions":[{"name":"answer"}],"action":{"name":"park","introPrompt":"#tts[hold]","holdPrompt":"#tts[music]","maxDuration":600}}`)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		e.store.mu.Lock()
		e.store.saveErr = ErrFenced
		e.store.mu.Unlock()
		// The next state change hits the fence.
		require.NoError(t, e.m.Update(context.Background(), "call-1", "", []byte(`{"action":{"name":"continue"},"instructions":[{"name":"say","text":"x"}]}`)))
		for range 100 {
			synctest.Wait()
			if e.m.Active() == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		require.Zero(t, e.m.Active())
		<-caller.Done()
		require.Empty(t, q.ids, "the survivor sent the DiCE, not this node")
		require.InDelta(t, 1, testutil.ToFloat64(e.m.metrics.fenced), 0)
	})
}
