package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/store/memstore"
	"github.com/callcore/callcore/internal/timeline"
)

func newTimelineFixture(t *testing.T, tl Timelines) (*fixture, *fakeCalls) {
	t.Helper()
	fc := &fakeCalls{calls: map[string]*call.Snapshot{}}
	secrets := map[string]string{keyA: secretA, keyB: secretB}
	s, err := New(Options{
		Store: memstore.New(),
		Verifier: &events.Verifier{Lookup: func(k string) (string, bool) {
			v, ok := secrets[k]
			return v, ok
		}},
		Registerer: prometheus.NewRegistry(),
		Calls:      fc,
		Timelines:  tl,
	})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, http: hs}, fc
}

func TestGetTimeline(t *testing.T) {
	ctx := context.Background()
	backend := timeline.NewMemory(timeline.Limits{}, nil)
	at := time.Date(2026, 11, 21, 10, 0, 0, 123_456_000, time.UTC)
	b := timeline.New(backend, timeline.Options{Node: "node-b", Now: func() time.Time { return at.Add(time.Millisecond) }})
	a := timeline.New(backend, timeline.Options{Node: "node-a", Now: func() time.Time { return at }})
	t.Cleanup(func() { _ = a.Close(ctx); _ = b.Close(ctx) })
	b.Record("c1", timeline.KindCallback, "ice callback: HTTP 200 in 3 ms", map[string]any{"status": 200})
	a.Record("c1", timeline.KindSIP, "received INVITE", map[string]any{"from": "+46701111111"})
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, b.Flush(ctx))

	f, fc := newTimelineFixture(t, a)
	fc.calls["c1"] = &call.Snapshot{ID: "c1", AppKey: keyA, State: call.StateExecuting}
	fc.calls["c2"] = &call.Snapshot{ID: "c2", AppKey: keyA, State: call.StateEnded}

	r := f.do("GET", "/calling/v1/calls/id/c1/timeline", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"callId":"c1","entries":[
		{"t":"2026-11-21T10:00:00.123Z","node":"node-a","kind":"sip","summary":"received INVITE","data":{"from":"+467******11"}},
		{"t":"2026-11-21T10:00:00.124Z","node":"node-b","kind":"callback","summary":"ice callback: HTTP 200 in 3 ms","data":{"status":200}}]}`,
		string(r.body))

	r = f.do("GET", "/calling/v1/calls/id/c2/timeline", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"callId":"c2","entries":[]}`, string(r.body))

	requireError(t, f.do("GET", "/calling/v1/calls/id/c1/timeline", "", keyB, secretB), http.StatusNotFound, "Call not found")
	requireError(t, f.do("GET", "/calling/v1/calls/id/nope/timeline", "", keyA, secretA), http.StatusNotFound, "Call not found")
	r = f.do("GET", "/calling/v1/calls/id/c1/timeline", "", "", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
}

func TestGetTimelineDisabled(t *testing.T) {
	f, fc := newTimelineFixture(t, nil)
	fc.calls["c1"] = &call.Snapshot{ID: "c1", AppKey: keyA}
	requireError(t, f.do("GET", "/calling/v1/calls/id/c1/timeline", "", keyA, secretA), http.StatusNotFound, "timeline disabled")
}

type brokenTimelines struct{}

func (brokenTimelines) Read(context.Context, string) ([]timeline.Entry, error) {
	return nil, errors.New("redis: connection refused")
}

func TestGetTimelineStoreDown(t *testing.T) {
	f, fc := newTimelineFixture(t, brokenTimelines{})
	fc.calls["c1"] = &call.Snapshot{ID: "c1", AppKey: keyA}
	r := f.do("GET", "/calling/v1/calls/id/c1/timeline", "", keyA, secretA)
	requireError(t, r, http.StatusServiceUnavailable, "cannot be read now")
	require.Equal(t, "1", r.header.Get("Retry-After"))
}
