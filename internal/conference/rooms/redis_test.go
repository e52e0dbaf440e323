package rooms

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/redisconn"
	"github.com/callcore/callcore/internal/testutil/redisserver"
)

const testApp = "4f1c2a9e-1b7d-4c51-9a0e-6f3c1d2e8b70"

var (
	bg = context.Background()
	t0 = time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
)

// newClient returns a client of addr closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// part returns a participant of call cid on node, joined at t0+sec.
func part(cid, node string, sec int) Participant {
	return Participant{CallID: cid, Node: node, CLI: "+46701234567", JoinedAt: t0.Add(time.Duration(sec) * time.Second)}
}

func TestRedisKeyLayout(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	s := NewRedis(c, "callcore:eu", Options{})
	id := "a:{b}é"
	_, err := s.Join(bg, testApp, id, part("c1", "node:1", 0), "node:1", time.Minute)
	require.NoError(t, err)

	ref := enc.EncodeToString([]byte(testApp)) + ":" + enc.EncodeToString([]byte(id))
	w := enc.EncodeToString([]byte("node:1"))
	all, err := c.Keys(bg, "*").Result()
	require.NoError(t, err)
	sort.Strings(all)
	assert.Equal(t, []string{
		"{callcore:eu}:conf:bynode",
		"{callcore:eu}:conf:epoch",
		"{callcore:eu}:conf:host:" + ref,
		"{callcore:eu}:conf:room:" + ref,
	}, all)
	for _, k := range all {
		assert.Equal(t, 1, strings.Count(k, "{"), "%s: one hash tag", k)
		assert.Equal(t, 1, strings.Count(k, "}"), "%s: one hash tag", k)
	}

	fields, err := c.HGetAll(bg, "{callcore:eu}:conf:room:"+ref).Result()
	require.NoError(t, err)
	js := fields["p:c1"]
	delete(fields, "p:c1")
	assert.Equal(t, map[string]string{"w:c1": w, "n:" + w: "1", "count": "1", "epoch": "1"}, fields)
	assert.JSONEq(t, `{"id":"c1","node":"node:1","cli":"+46701234567","muted":false,"onhold":false,"joined":"2025-03-04T05:06:07.000000008Z"}`, js)
	assert.Equal(t, "node:1", c.Get(bg, "{callcore:eu}:conf:host:"+ref).Val())
	members, err := c.ZRange(bg, "{callcore:eu}:conf:bynode", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{w + ":" + ref}, members)

	lease := c.PTTL(bg, "{callcore:eu}:conf:host:"+ref).Val()
	assert.Positive(t, lease)
	assert.LessOrEqual(t, lease, time.Minute)
	for _, k := range []string{"{callcore:eu}:conf:room:" + ref, "{callcore:eu}:conf:bynode"} {
		ttl := c.PTTL(bg, k).Val()
		assert.Greater(t, ttl, RecordTTL-time.Hour, "%s: safety net", k)
		assert.LessOrEqual(t, ttl, RecordTTL, k)
	}
	assert.Equal(t, time.Duration(-1), c.PTTL(bg, "{callcore:eu}:conf:epoch").Val(), "the epoch counter never expires")

	// Renew extends the lease and the room's safety net.
	require.NoError(t, c.PExpire(bg, "{callcore:eu}:conf:room:"+ref, time.Hour).Err())
	lost, err := s.Renew(bg, "node:1", []RoomKey{{App: testApp, ID: id}}, 10*time.Minute)
	require.NoError(t, err)
	require.Empty(t, lost)
	assert.Greater(t, c.PTTL(bg, "{callcore:eu}:conf:host:"+ref).Val(), time.Minute)
	assert.Greater(t, c.PTTL(bg, "{callcore:eu}:conf:room:"+ref).Val(), RecordTTL-time.Hour)

	// Leaving deletes everything but the counter and the (empty) index.
	n, err := s.Leave(bg, testApp, id, "c1")
	require.NoError(t, err)
	assert.Zero(t, n)
	all, err = c.Keys(bg, "*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"{callcore:eu}:conf:epoch"}, all)
}

func TestRedisDefaultPrefixAndIsolation(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	def, eu := NewRedis(c, "", Options{}), NewRedis(c, "callcore:eu", Options{})
	_, err := def.Join(bg, testApp, "room", part("c1", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	_, err = eu.Get(bg, testApp, "room")
	require.ErrorIs(t, err, ErrNotFound)
	r, err := eu.Join(bg, testApp, "room", part("c2", "n2", 0), "n2", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "n2", r.Host)
	assert.Len(t, r.Participants, 1)
	keys, err := c.Keys(bg, "{callcore}:conf:*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 4)
}

func TestNewRedisPanics(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	assert.Panics(t, func() { NewRedis(nil, "p", Options{}) })
	assert.Panics(t, func() { NewRedis(c, "a{b", Options{}) })
	assert.Panics(t, func() { NewRedis(c, "a}b", Options{}) })

	reg := prometheus.NewRegistry()
	assert.NotPanics(t, func() {
		NewRedis(c, "p", Options{Registerer: reg})
		NewRedis(c, "q", Options{Registerer: reg})
		NewMemory(Options{Registerer: reg})
	}, "stores share the collectors of a registry")
	bad := prometheus.NewRegistry()
	bad.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "callcore_conference_store_bad_records_total", Help: "x"}))
	assert.Panics(t, func() { NewRedis(c, "p", Options{Registerer: bad}) })
}

// TestRedisBadRecords: unreadable participant records are skipped and
// counted, never fatal, and do not disturb the counts.
func TestRedisBadRecords(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	reg := prometheus.NewRegistry()
	s := NewRedis(c, "p", Options{Registerer: reg})
	good := part("c1", "n1", 0)
	_, err := s.Join(bg, testApp, "room", good, "n1", time.Minute)
	require.NoError(t, err)
	room := s.k.room(roomRef(RoomKey{App: testApp, ID: "room"}))
	require.NoError(t, c.HSet(bg, room,
		"p:bad", "{not json",
		"p:other", `{"id":"someone-else","node":"n1"}`,
		"p:nonode", `{"id":"nonode"}`,
		"p:array", `[1,2]`,
		"p:", `{"id":"","node":"n1"}`,
	).Err())

	r, err := s.Get(bg, testApp, "room")
	require.NoError(t, err)
	assert.Equal(t, []Participant{good}, r.Participants)
	assert.Equal(t, 5.0, testutil.ToFloat64(s.m.bad))

	r, err = s.Join(bg, testApp, "room", part("c2", "n2", 1), "n2", time.Minute)
	require.NoError(t, err)
	assert.Len(t, r.Participants, 2)
	assert.Equal(t, 10.0, testutil.ToFloat64(s.m.bad), "Join's snapshot skips them too")

	for _, cid := range []string{"bad", "other", "nonode", "array"} {
		require.ErrorIs(t, s.SetFlags(bg, testApp, "room", cid, true, true), ErrNoParticipant, cid)
	}
	require.Equal(t, "{not json", c.HGet(bg, room, "p:bad").Val(), "left alone")

	// A record was overwritten by a valid one: Join repairs it.
	_, err = s.Join(bg, testApp, "room", part("bad", "n1", 2), "n1", time.Minute)
	require.NoError(t, err)
	n, err := s.Leave(bg, testApp, "room", "other")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "removing junk does not change the count")
	for _, cid := range []string{"c1", "c2"} {
		_, err = s.Leave(bg, testApp, "room", cid)
		require.NoError(t, err)
	}
	n, err = s.Leave(bg, testApp, "room", "bad")
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Zero(t, c.Exists(bg, room).Val(), "the last real participant deletes the room with its junk")
}

// TestRedisSetFlagsKeepsJSON: the Lua rewrite of a record keeps every
// field, whatever its characters.
func TestRedisSetFlagsKeepsJSON(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	s := NewRedis(c, "p", Options{})
	p := Participant{CallID: "c/1 \"é\" <&>", Node: "n/é", CLI: "sip:alice@example.com\u2028", JoinedAt: time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("", 5*3600+1800))}
	_, err := s.Join(bg, testApp, "room", p, "n1", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.SetFlags(bg, testApp, "room", p.CallID, true, true))
	r, err := s.Get(bg, testApp, "room")
	require.NoError(t, err)
	require.Len(t, r.Participants, 1)
	got := r.Participants[0]
	assert.True(t, got.Muted)
	assert.True(t, got.OnHold)
	assert.Equal(t, p.CallID, got.CallID)
	assert.Equal(t, p.Node, got.Node)
	assert.Equal(t, p.CLI, got.CLI)
	assert.True(t, p.JoinedAt.Equal(got.JoinedAt))
}

// TestRedisRoundTrips measures the round trips of each operation with a
// redisconn.Counter, once the scripts are loaded and the connection is up.
func TestRedisRoundTrips(t *testing.T) {
	addr := redisserver.Start(t)
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 1})
	t.Cleanup(func() { _ = c.Close() })
	ctr := &redisconn.Counter{}
	ctr.Instrument(c)
	s := NewRedis(c, "p", Options{})

	const rooms = 50
	keys := make([]RoomKey, rooms)
	for i := range keys {
		keys[i] = RoomKey{App: testApp, ID: fmt.Sprintf("r%d", i)}
	}
	// Warm up: connection handshake, every script loaded.
	_, err := s.Join(bg, testApp, "warm", part("w", "n0", 0), "n0", time.Minute)
	require.NoError(t, err)
	_, err = s.Get(bg, testApp, "warm")
	require.NoError(t, err)
	_, err = s.Hosts(bg, keys[:1])
	require.NoError(t, err)
	_, err = s.Leave(bg, testApp, "warm", "x")
	require.NoError(t, err)
	_ = s.SetFlags(bg, testApp, "warm", "w", false, false)
	_, err = s.Claim(bg, testApp, "warm", "n0", "", time.Minute)
	require.NoError(t, err)
	_, err = s.Renew(bg, "n0", keys[:1], time.Minute)
	require.NoError(t, err)
	_, err = s.Join(bg, testApp, "warm2", part("x", "nx", 0), "nx", time.Minute)
	require.NoError(t, err)
	_, err = s.RemoveNode(bg, "nx")
	require.NoError(t, err)

	measure := func(name string, n int, f func(i int)) {
		t.Helper()
		before := ctr.Stats()
		for i := range n {
			f(i)
		}
		d := ctr.Stats().Sub(before)
		t.Logf("%-32s %.2f round trips per call, %d B sent, %d B received per call",
			name, float64(d.RoundTrips)/float64(n), d.BytesSent/int64(n), d.BytesReceived/int64(n))
		assert.Equal(t, int64(n), d.RoundTrips, "%s: one round trip per call", name)
		assert.Zero(t, d.Errors, name)
	}
	measure("Join (new rooms)", rooms, func(i int) {
		_, err := s.Join(bg, testApp, keys[i].ID, part("c1", "n1", 0), "n1", time.Minute)
		require.NoError(t, err)
	})
	measure("Join (second participant)", rooms, func(i int) {
		_, err := s.Join(bg, testApp, keys[i].ID, part("c2", "n2", 1), "n2", time.Minute)
		require.NoError(t, err)
	})
	measure("Get", rooms, func(i int) {
		_, err := s.Get(bg, testApp, keys[i].ID)
		require.NoError(t, err)
	})
	measure("SetFlags", rooms, func(i int) {
		require.NoError(t, s.SetFlags(bg, testApp, keys[i].ID, "c1", true, false))
	})
	measure("Claim", rooms, func(i int) {
		_, err := s.Claim(bg, testApp, keys[i].ID, "n2", "n1", time.Minute)
		require.NoError(t, err)
	})
	measure(fmt.Sprintf("Renew (%d rooms)", rooms), 1, func(int) {
		lost, err := s.Renew(bg, "n2", keys, time.Minute)
		require.NoError(t, err)
		require.Empty(t, lost)
	})
	measure(fmt.Sprintf("Hosts (%d rooms)", rooms), 1, func(int) {
		hs, err := s.Hosts(bg, keys)
		require.NoError(t, err)
		require.Equal(t, "n2", hs[rooms-1].Host)
	})
	measure("Leave", rooms, func(i int) {
		n, err := s.Leave(bg, testApp, keys[i].ID, "c2")
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
	before := ctr.Stats()
	touched, err := s.RemoveNode(bg, "n1")
	require.NoError(t, err)
	require.Len(t, touched, rooms)
	d := ctr.Stats().Sub(before)
	t.Logf("RemoveNode (%d rooms): %d round trips", rooms, d.RoundTrips)
	assert.Equal(t, int64(3), d.RoundTrips, "ZRANGE, script, ZRANGE")
}

func TestRedisMetrics(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	reg := prometheus.NewRegistry()
	s := NewRedis(c, "p", Options{Registerer: reg})
	_, err := s.Join(bg, testApp, "room", part("c1", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	_, err = s.Get(bg, testApp, "nowhere")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, s.SetFlags(bg, testApp, "room", "c9", true, true), ErrNoParticipant)
	_, err = s.Join(bg, "", "room", part("c1", "n1", 0), "n1", time.Minute)
	require.ErrorIs(t, err, ErrInvalid)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = s.Get(ctx, testApp, "room")
	require.Error(t, err)
	require.NoError(t, c.Close())
	_, err = s.Get(bg, testApp, "room")
	require.Error(t, err)

	ops := func(op, outcome string) float64 { return testutil.ToFloat64(s.m.ops.WithLabelValues(op, outcome)) }
	assert.Equal(t, 1.0, ops(opJoin, outcomeOK))
	assert.Equal(t, 1.0, ops(opJoin, outcomeInvalid))
	assert.Equal(t, 1.0, ops(opGet, outcomeNotFound))
	assert.Equal(t, 1.0, ops(opGet, outcomeCanceled))
	assert.Equal(t, 1.0, ops(opGet, outcomeError))
	assert.Equal(t, 1.0, ops(opSetFlags, outcomeNoParticipant))

	// Every series exists from the start, with bounded labels.
	n, err := testutil.GatherAndCount(reg, "callcore_conference_store_ops_total")
	require.NoError(t, err)
	assert.Equal(t, len(allOps)*len(commonOutcomes)+4, n)
	n, err = testutil.GatherAndCount(reg, "callcore_conference_store_op_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, len(allOps), n)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP callcore_conference_store_bad_records_total Participant records that could not be decoded and were skipped.
# TYPE callcore_conference_store_bad_records_total counter
callcore_conference_store_bad_records_total 0
`), "callcore_conference_store_bad_records_total"))
}

// TestRedisIndexExact: the node index holds exactly the (node, room) pairs
// with participants, through re-joins on another node, leaves and
// RemoveNode; a lease left without its room is not honoured.
func TestRedisIndexExact(t *testing.T) {
	c := newClient(t, redisserver.Start(t))
	s := NewRedis(c, "p", Options{})
	index := func() []string {
		t.Helper()
		var got []string
		members, err := c.ZRange(bg, s.k.byNode, 0, -1).Result()
		require.NoError(t, err)
		for _, m := range members {
			w, ref, ok := strings.Cut(m, ":")
			require.True(t, ok, m)
			node, err := enc.DecodeString(w)
			require.NoError(t, err)
			rk, err := parseRoomRef(ref)
			require.NoError(t, err)
			got = append(got, string(node)+" "+rk.ID)
		}
		sort.Strings(got)
		return got
	}
	join := func(id, cid, node string) {
		t.Helper()
		_, err := s.Join(bg, testApp, id, part(cid, node, 0), node, time.Minute)
		require.NoError(t, err)
	}
	leave := func(id, cid string) {
		t.Helper()
		_, err := s.Leave(bg, testApp, id, cid)
		require.NoError(t, err)
	}
	join("r1", "c1", "n1")
	join("r1", "c2", "n1")
	join("r1", "c3", "n2")
	join("r2", "c4", "n2")
	assert.Equal(t, []string{"n1 r1", "n2 r1", "n2 r2"}, index())
	join("r1", "c1", "n3") // moved
	assert.Equal(t, []string{"n1 r1", "n2 r1", "n2 r2", "n3 r1"}, index())
	leave("r1", "c2")
	assert.Equal(t, []string{"n2 r1", "n2 r2", "n3 r1"}, index())
	leave("r1", "c9")
	join("r1", "c3", "n2") // same node again
	assert.Equal(t, []string{"n2 r1", "n2 r2", "n3 r1"}, index())
	touched, err := s.RemoveNode(bg, "n2")
	require.NoError(t, err)
	assert.Equal(t, []RoomKey{{App: testApp, ID: "r1"}, {App: testApp, ID: "r2"}}, touched)
	assert.Equal(t, []string{"n3 r1"}, index())
	fields, err := c.HGetAll(bg, s.k.room(roomRef(RoomKey{App: testApp, ID: "r1"}))).Result()
	require.NoError(t, err)
	assert.Equal(t, "1", fields["count"])
	assert.Equal(t, "1", fields["n:"+nodeRef("n3")])
	assert.NotContains(t, fields, "n:"+nodeRef("n2"))
	leave("r1", "c1")
	assert.Empty(t, index())

	// A stale lease without its room (not written by this package).
	ref := roomRef(RoomKey{App: testApp, ID: "r3"})
	require.NoError(t, c.Set(bg, s.k.host(ref), "ghost", time.Minute).Err())
	r, err := s.Join(bg, testApp, "r3", part("c5", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "n1", r.Host)
}
