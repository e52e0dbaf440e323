package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/memstore"
)

func TestCallStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := &callStore{s: memstore.New(), node: "node-a", liveTTL: time.Hour, endedTTL: time.Minute}
	snap := &call.Snapshot{ID: "c1", Node: "node-a", AppKey: "app", State: call.StateAwaitingICE, Direction: call.DirectionInbound,
		StartedAt: time.Unix(1700000000, 0).UTC()}
	require.NoError(t, snap.Cookies.Set("k", "v"))
	require.NoError(t, cs.Create(ctx, snap))
	require.Error(t, cs.Create(ctx, snap), "ids are unique")
	snap.State = call.StateEnded
	require.NoError(t, cs.Save(ctx, snap))
	got, err := cs.Load(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, snap, got)
	_, err = cs.Load(ctx, "nope")
	require.ErrorIs(t, err, call.ErrCallNotFound)
}

// A survivor finalizes a dead node's live call once; the dead node's
// writes are then fenced.
func TestCallStoreTakeOver(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	dead := &callStore{s: st, node: "node-a", liveTTL: time.Hour, endedTTL: time.Minute}
	survivor := &callStore{s: st, node: "node-b", liveTTL: time.Hour, endedTTL: time.Minute}
	snap := &call.Snapshot{ID: "c1", Node: "node-a", State: call.StateConnected, StartedAt: time.Unix(1700000000, 0).UTC()}
	require.NoError(t, dead.Create(ctx, snap))
	require.NoError(t, dead.Save(ctx, snap))
	ids, err := survivor.Orphans(ctx, "node-a")
	require.NoError(t, err)
	require.Equal(t, []string{"c1"}, ids)

	end := func(s *call.Snapshot) bool {
		if !s.State.Ongoing() {
			return false
		}
		s.State = call.StateEnded
		return true
	}
	got, changed, err := survivor.Finalize(ctx, "c1", end)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, call.StateEnded, got.State)
	_, changed, err = survivor.Finalize(ctx, "c1", end)
	require.NoError(t, err)
	require.False(t, changed, "once")
	ids, err = survivor.Orphans(ctx, "node-a")
	require.NoError(t, err)
	require.Empty(t, ids)

	// The node that was cut off comes back and writes: fenced.
	snap.State = call.StateParked
	require.ErrorIs(t, dead.Save(ctx, snap), call.ErrFenced)
	_, _, err = survivor.Finalize(ctx, "gone", end)
	require.ErrorIs(t, err, call.ErrCallNotFound)
}

func TestAppRouter(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	cfg := testConfig(t, "")
	r := &appRouter{s: st, cfg: cfg}
	require.NoError(t, st.AssignNumbers(ctx, testKey, "voice", []string{"+46701234567"}))

	// No callbacks in the store yet: the config's.
	tgt, err := r.RouteInbound(ctx, events.Destination{Type: "did", Endpoint: "46701234567"})
	require.NoError(t, err)
	require.Equal(t, call.CallbackTarget{AppKey: testKey, URL: "http://127.0.0.1:9000/callbacks"}, tgt)

	require.NoError(t, st.SetCallbacks(ctx, testKey, store.Callbacks{Primary: "https://a.example/cb", Fallback: "https://b.example/cb"}))
	tgt, err = r.RouteInbound(ctx, events.Destination{Type: "did", Endpoint: "+46701234567"})
	require.NoError(t, err)
	require.Equal(t, "https://b.example/cb", tgt.FallbackURL)

	for _, to := range []events.Destination{
		{Type: "did", Endpoint: "+46709999999"}, // unknown
		{Type: "did", Endpoint: "garbage"},
		{Type: "username", Endpoint: "bob"}, // not a user of any app
		{Type: "sip", Endpoint: "bob@example.com"},
	} {
		_, err := r.RouteInbound(ctx, to)
		require.ErrorIs(t, err, call.ErrNoRoute, to.Endpoint)
	}
	require.NoError(t, st.UnassignNumber(ctx, testKey, "", "+46701234567"))
	_, err = r.RouteInbound(ctx, events.Destination{Type: "did", Endpoint: "+46701234567"})
	require.ErrorIs(t, err, call.ErrNoRoute, "unassigned numbers route nowhere")
}

func TestAppRouterUsernames(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "")
	cfg.Apps[0].Users = []config.User{{Username: "carol", Password: "pw"}}
	r := &appRouter{s: memstore.New(), cfg: cfg}
	tgt, err := r.RouteInbound(ctx, events.Destination{Type: "username", Endpoint: "carol"})
	require.NoError(t, err)
	require.Equal(t, call.CallbackTarget{AppKey: testKey, URL: "http://127.0.0.1:9000/callbacks"}, tgt)
	_, err = r.RouteInbound(ctx, events.Destination{Type: "username", Endpoint: "dave"})
	require.ErrorIs(t, err, call.ErrNoRoute)
}
