// Package roomstest is the conformance suite of rooms.Store: every
// implementation runs it from its own tests, so that they all behave alike.
//
//	func TestConformance(t *testing.T) {
//		roomstest.Run(t, func(t *testing.T) roomstest.Harness { ... })
//	}
//
// Lease expiry is observed through Harness.Wait: an implementation with an
// injectable clock moves it, one on a server's clock sleeps (ShortTTL
// should then be short). Leases meant to stay live use an hour.
package roomstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/conference/rooms"
)

// Harness is a store under test, seen from two nodes.
type Harness struct {
	// A and B are two views of one shared state, as two nodes of a region
	// see it (separate clients of one Redis, or the same Memory).
	A, B rooms.Store
	// Wait lets d pass on the clock the store's leases expire on.
	Wait func(d time.Duration)
	// ShortTTL is the lease TTL of the tests that let a lease expire; they
	// call Wait with twice as much, and never need a short lease to
	// survive anything, so a slow machine cannot fail them.
	ShortTTL time.Duration
}

// long is the TTL of leases that must stay live during a test.
const long = time.Hour

// Node names of the tests.
const (
	nodeA = "node-a"
	nodeB = "node-b"
	nodeC = "node-c"
)

// app is the application key of the tests.
const app = "4f1c2a9e-1b7d-4c51-9a0e-6f3c1d2e8b70"

// t0 is the JoinedAt of the first participant of each test.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)

var bg = context.Background()

// part returns a participant of call cid on node, joined at t0+sec.
func part(cid, node string, sec int) rooms.Participant {
	return rooms.Participant{CallID: cid, Node: node, CLI: "+4670" + cid, JoinedAt: t0.Add(time.Duration(sec) * time.Second)}
}

// Run runs the conformance suite; open returns a fresh harness (an empty
// store) for each subtest. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"JoinCreatesRoomAndHost", testJoinCreates},
		{"SecondJoinerSeesFirstHost", testSecondJoiner},
		{"RejoinReplaces", testRejoin},
		{"ParticipantOrder", testOrder},
		{"LeaveLastDeletesRoomAndLease", testLeaveLast},
		{"LeaveIdempotent", testLeaveIdempotent},
		{"GetUnknown", testGetUnknown},
		{"SetFlags", testSetFlags},
		{"LeaseExpiryThenClaim", testLeaseExpiry},
		{"ClaimWhileLeaseLive", testClaimLive},
		{"ClaimDeadHolder", testClaimDead},
		{"ClaimOwnLease", testClaimOwn},
		{"Release", testRelease},
		{"ClaimUnknownRoom", testClaimUnknown},
		{"Renew", testRenew},
		{"RenewSetsTTL", testRenewTTL},
		{"Hosts", testHosts},
		{"RemoveNode", testRemoveNode},
		{"RemoveNodeManyRooms", testRemoveNodeMany},
		{"AppScoping", testAppScoping},
		{"OddIDs", testOddIDs},
		{"InvalidArguments", testInvalid},
		{"ConcurrentJoin", testConcurrentJoin},
		{"CanceledContext", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// join joins p into room id of app through s as node, with a long lease.
func join(t *testing.T, s rooms.Store, id string, p rooms.Participant, node string) rooms.Room {
	t.Helper()
	r, err := s.Join(bg, app, id, p, node, long)
	require.NoError(t, err)
	return r
}

// get returns room id of app.
func get(t *testing.T, s rooms.Store, id string) rooms.Room {
	t.Helper()
	r, err := s.Get(bg, app, id)
	require.NoError(t, err)
	return r
}

// callIDs lists the call ids of r in order.
func callIDs(r rooms.Room) []string {
	ids := make([]string, len(r.Participants))
	for i, p := range r.Participants {
		ids[i] = p.CallID
	}
	return ids
}

// hostOf returns the host lease of room id of app.
func hostOf(t *testing.T, s rooms.Store, id string) rooms.HostLease {
	t.Helper()
	hs, err := s.Hosts(bg, []rooms.RoomKey{{App: app, ID: id}})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	return hs[0]
}

func testJoinCreates(t *testing.T, h Harness) {
	p := part("c1", nodeA, 0)
	r := join(t, h.A, "room", p, nodeA)
	assert.Equal(t, app, r.App)
	assert.Equal(t, "room", r.ID)
	assert.Equal(t, nodeA, r.Host, "the first joiner's node hosts")
	assert.Positive(t, r.HostEpoch)
	assert.Equal(t, []rooms.Participant{p}, r.Participants)

	got := get(t, h.B, "room")
	assert.Equal(t, r, got, "Get from another node sees the same room")
	assert.Equal(t, rooms.HostLease{Host: nodeA, Epoch: r.HostEpoch}, hostOf(t, h.B, "room"))
}

func testSecondJoiner(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	second := join(t, h.B, "room", part("c2", nodeB, 1), nodeB)
	assert.Equal(t, nodeA, second.Host, "the second joiner sees the first host")
	assert.Equal(t, first.HostEpoch, second.HostEpoch, "no new lease")
	assert.Equal(t, []string{"c1", "c2"}, callIDs(second))
	assert.Equal(t, second, get(t, h.A, "room"))
}

func testRejoin(t *testing.T, h Harness) {
	join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	join(t, h.A, "room", part("c2", nodeA, 1), nodeA)
	moved := part("c1", nodeB, 2)
	moved.CLI, moved.Muted = "+46709999999", true
	r := join(t, h.B, "room", moved, nodeB)
	assert.Equal(t, nodeA, r.Host)
	assert.Equal(t, []rooms.Participant{part("c2", nodeA, 1), moved}, r.Participants, "c1 replaced, not added")

	n, err := h.A.Leave(bg, app, "room", "c2")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a re-join does not count twice")

	// The node index follows the move: node A has no call left there.
	touched, err := h.A.RemoveNode(bg, nodeA)
	require.NoError(t, err)
	assert.Empty(t, touched)
	touched, err = h.A.RemoveNode(bg, nodeB)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{{App: app, ID: "room"}}, touched)
	_, err = h.A.Get(bg, app, "room")
	require.ErrorIs(t, err, rooms.ErrNotFound)
}

func testOrder(t *testing.T, h Harness) {
	join(t, h.A, "room", part("c3", nodeA, 5), nodeA)
	join(t, h.A, "room", part("c2", nodeA, 1), nodeA)
	join(t, h.B, "room", part("c1", nodeB, 5), nodeB)
	local := part("c0", nodeB, 9)
	local.JoinedAt = local.JoinedAt.In(time.FixedZone("X", 3600))
	join(t, h.B, "room", local, nodeB)
	r := get(t, h.A, "room")
	assert.Equal(t, []string{"c2", "c1", "c3", "c0"}, callIDs(r), "by JoinedAt, then CallID")
	assert.True(t, local.JoinedAt.Equal(r.Participants[3].JoinedAt))
}

func testLeaveLast(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	join(t, h.B, "room", part("c2", nodeB, 1), nodeB)

	n, err := h.A.Leave(bg, app, "room", "c1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	r := get(t, h.B, "room")
	assert.Equal(t, nodeA, r.Host, "the host keeps its lease when its own call leaves")
	assert.Equal(t, []string{"c2"}, callIDs(r))

	n, err = h.B.Leave(bg, app, "room", "c2")
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = h.A.Get(bg, app, "room")
	require.ErrorIs(t, err, rooms.ErrNotFound)
	assert.Equal(t, rooms.HostLease{}, hostOf(t, h.A, "room"), "the lease went with the room")

	// A new room of the same name: the joiner hosts, with a greater epoch.
	again := join(t, h.B, "room", part("c3", nodeB, 2), nodeB)
	assert.Equal(t, nodeB, again.Host)
	assert.Greater(t, again.HostEpoch, first.HostEpoch, "epochs never repeat for a room name")
	assert.Equal(t, []string{"c3"}, callIDs(again))
}

func testLeaveIdempotent(t *testing.T, h Harness) {
	n, err := h.A.Leave(bg, app, "nowhere", "c1")
	require.NoError(t, err)
	assert.Zero(t, n, "unknown room")

	join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	join(t, h.A, "room", part("c2", nodeA, 1), nodeA)
	n, err = h.A.Leave(bg, app, "room", "c9")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "unknown participant")
	for range 2 {
		n, err = h.B.Leave(bg, app, "room", "c1")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "leaving twice")
	}
}

func testGetUnknown(t *testing.T, h Harness) {
	_, err := h.A.Get(bg, app, "nowhere")
	require.ErrorIs(t, err, rooms.ErrNotFound)
}

func testSetFlags(t *testing.T, h Harness) {
	p1, p2 := part("c1", nodeA, 0), part("c2", nodeB, 1)
	join(t, h.A, "room", p1, nodeA)
	join(t, h.B, "room", p2, nodeB)

	require.NoError(t, h.B.SetFlags(bg, app, "room", "c1", true, false))
	p1.Muted = true
	assert.Equal(t, []rooms.Participant{p1, p2}, get(t, h.A, "room").Participants)

	require.NoError(t, h.A.SetFlags(bg, app, "room", "c1", false, true))
	require.NoError(t, h.A.SetFlags(bg, app, "room", "c2", true, true))
	p1.Muted, p1.OnHold = false, true
	p2.Muted, p2.OnHold = true, true
	assert.Equal(t, []rooms.Participant{p1, p2}, get(t, h.B, "room").Participants, "the other fields are kept")

	require.ErrorIs(t, h.A.SetFlags(bg, app, "room", "c9", true, true), rooms.ErrNoParticipant)
	require.ErrorIs(t, h.A.SetFlags(bg, app, "nowhere", "c1", true, true), rooms.ErrNotFound)

	// A re-join replaces the flags with the participant's.
	join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	assert.False(t, get(t, h.A, "room").Participants[0].OnHold)
}

func testLeaseExpiry(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	join(t, h.B, "room", part("c2", nodeB, 1), nodeB)
	// The host's last renewal is a short one (a host that stopped).
	lost, err := h.A.Renew(bg, nodeA, []rooms.RoomKey{{App: app, ID: "room"}}, h.ShortTTL)
	require.NoError(t, err)
	require.Empty(t, lost)

	h.Wait(2 * h.ShortTTL)
	r := get(t, h.B, "room")
	assert.Empty(t, r.Host, "the lease expired")
	assert.Equal(t, first.HostEpoch, r.HostEpoch, "the epoch stays until a new lease")
	assert.Equal(t, rooms.HostLease{Epoch: first.HostEpoch}, hostOf(t, h.B, "room"))

	claimed, err := h.B.Claim(bg, app, "room", nodeB, "", long)
	require.NoError(t, err)
	assert.Equal(t, nodeB, claimed.Host)
	assert.Greater(t, claimed.HostEpoch, first.HostEpoch)
	assert.Equal(t, []string{"c1", "c2"}, callIDs(claimed))

	lost, err = h.A.Renew(bg, nodeA, []rooms.RoomKey{{App: app, ID: "room"}}, long)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{{App: app, ID: "room"}}, lost, "the old host learns it lost the room")
	assert.Equal(t, rooms.HostLease{Host: nodeB, Epoch: claimed.HostEpoch}, hostOf(t, h.A, "room"))

	// A join after an expiry takes the lease too.
	_, err = h.A.Join(bg, app, "other", part("c3", nodeA, 0), nodeA, h.ShortTTL)
	require.NoError(t, err)
	h.Wait(2 * h.ShortTTL)
	r = join(t, h.B, "other", part("c4", nodeB, 1), nodeB)
	assert.Equal(t, nodeB, r.Host)
}

func testClaimLive(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	for _, dead := range []string{"", nodeC, nodeB} {
		r, err := h.B.Claim(bg, app, "room", nodeB, dead, long)
		require.NoError(t, err)
		assert.Equal(t, nodeA, r.Host, "dead=%q: the live holder keeps the room", dead)
		assert.Equal(t, first.HostEpoch, r.HostEpoch)
		assert.Equal(t, []string{"c1"}, callIDs(r))
	}
}

func testClaimDead(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	r, err := h.B.Claim(bg, app, "room", nodeB, nodeA, long)
	require.NoError(t, err)
	assert.Equal(t, nodeB, r.Host, "the dead holder's lease is taken at once")
	assert.Greater(t, r.HostEpoch, first.HostEpoch)

	// A second claimer declaring the same node dead finds the new host.
	again, err := h.A.Claim(bg, app, "room", nodeC, nodeA, long)
	require.NoError(t, err)
	assert.Equal(t, nodeB, again.Host)
	assert.Equal(t, r.HostEpoch, again.HostEpoch)
}

func testRelease(t *testing.T, h Harness) {
	join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	// Only the holder's release counts.
	require.NoError(t, h.B.Release(bg, app, "room", nodeB))
	assert.Equal(t, nodeA, hostOf(t, h.B, "room").Host)
	require.NoError(t, h.A.Release(bg, app, "room", nodeA))
	assert.Equal(t, "", hostOf(t, h.B, "room").Host, "released")
	r, err := h.B.Claim(bg, app, "room", nodeB, "", long)
	require.NoError(t, err)
	assert.Equal(t, nodeB, r.Host, "another node claims a released room at once")
	require.NoError(t, h.A.Release(bg, app, "nowhere", nodeA), "unknown room")
}

func testClaimOwn(t *testing.T, h Harness) {
	first := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	r, err := h.A.Claim(bg, app, "room", nodeA, "", long)
	require.NoError(t, err)
	assert.Equal(t, nodeA, r.Host)
	assert.Equal(t, first.HostEpoch, r.HostEpoch, "the holder's claim renews its lease")

	// The renewal sets the TTL: a short one then expires.
	_, err = h.A.Claim(bg, app, "room", nodeA, nodeA, h.ShortTTL)
	require.NoError(t, err)
	h.Wait(2 * h.ShortTTL)
	assert.Equal(t, rooms.HostLease{Epoch: first.HostEpoch}, hostOf(t, h.B, "room"))
}

func testClaimUnknown(t *testing.T, h Harness) {
	_, err := h.A.Claim(bg, app, "nowhere", nodeA, "", long)
	require.ErrorIs(t, err, rooms.ErrNotFound)
	n, err := h.A.Leave(bg, app, "nowhere", "c1")
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = h.A.Claim(bg, app, "nowhere", nodeA, "", long)
	require.ErrorIs(t, err, rooms.ErrNotFound, "a claim creates no room")
}

func testRenew(t *testing.T, h Harness) {
	k := func(id string) rooms.RoomKey { return rooms.RoomKey{App: app, ID: id} }
	r1 := join(t, h.A, "r1", part("c1", nodeA, 0), nodeA)
	join(t, h.A, "r2", part("c2", nodeA, 0), nodeA)
	r3 := join(t, h.B, "r3", part("c3", nodeB, 0), nodeB)
	join(t, h.A, "r4", part("c4", nodeA, 0), nodeA)
	_, err := h.A.Leave(bg, app, "r2", "c2")
	require.NoError(t, err)

	lost, err := h.A.Renew(bg, nodeA, []rooms.RoomKey{k("r1"), k("r2"), k("r3"), k("nowhere"), k("r4")}, long)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{k("r2"), k("r3"), k("nowhere")}, lost, "deleted, another's, unknown; in order")
	assert.Equal(t, rooms.HostLease{Host: nodeA, Epoch: r1.HostEpoch}, hostOf(t, h.B, "r1"), "renewing keeps the epoch")
	assert.Equal(t, rooms.HostLease{Host: nodeB, Epoch: r3.HostEpoch}, hostOf(t, h.B, "r3"), "another's lease is untouched")

	lost, err = h.A.Renew(bg, nodeA, nil, long)
	require.NoError(t, err)
	assert.Empty(t, lost)
}

// testRenewTTL: Renew sets the lease TTL (here shortens it), so a lease
// stays live exactly as long as its holder renews it.
func testRenewTTL(t *testing.T, h Harness) {
	k := rooms.RoomKey{App: app, ID: "room"}
	r := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	lost, err := h.A.Renew(bg, nodeA, []rooms.RoomKey{k}, h.ShortTTL)
	require.NoError(t, err)
	require.Empty(t, lost)
	h.Wait(2 * h.ShortTTL)
	assert.Equal(t, rooms.HostLease{Epoch: r.HostEpoch}, hostOf(t, h.B, "room"))
	lost, err = h.A.Renew(bg, nodeA, []rooms.RoomKey{k}, long)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{k}, lost, "an expired lease is lost even if nobody took it")
	assert.Equal(t, rooms.HostLease{Epoch: r.HostEpoch}, hostOf(t, h.B, "room"), "and is not taken back by Renew")

	again, err := h.A.Claim(bg, app, "room", nodeA, "", long)
	require.NoError(t, err)
	assert.Equal(t, nodeA, again.Host)
	assert.Greater(t, again.HostEpoch, r.HostEpoch, "a fresh lease of the same node is a new epoch")
}

func testHosts(t *testing.T, h Harness) {
	r1 := join(t, h.A, "r1", part("c1", nodeA, 0), nodeA)
	r2 := join(t, h.B, "r2", part("c2", nodeB, 0), nodeB)
	hs, err := h.A.Hosts(bg, []rooms.RoomKey{{App: app, ID: "r2"}, {App: app, ID: "nowhere"}, {App: app, ID: "r1"}, {App: "other", ID: "r1"}})
	require.NoError(t, err)
	assert.Equal(t, []rooms.HostLease{
		{Host: nodeB, Epoch: r2.HostEpoch}, {}, {Host: nodeA, Epoch: r1.HostEpoch}, {},
	}, hs)
	assert.NotEqual(t, r1.HostEpoch, r2.HostEpoch)

	hs, err = h.A.Hosts(bg, nil)
	require.NoError(t, err)
	assert.Empty(t, hs)
}

func testRemoveNode(t *testing.T, h Harness) {
	k := func(id string) rooms.RoomKey { return rooms.RoomKey{App: app, ID: id} }
	// mixed: A hosts, calls on A and B; onlyB: B's calls only; onlyA:
	// A's calls only; hostedB: B hosts, A's call only.
	join(t, h.A, "mixed", part("a1", nodeA, 0), nodeA)
	join(t, h.B, "mixed", part("b1", nodeB, 1), nodeB)
	join(t, h.B, "mixed", part("b2", nodeB, 2), nodeB)
	join(t, h.B, "onlyB", part("b3", nodeB, 0), nodeB)
	join(t, h.B, "onlyB", part("b4", nodeB, 1), nodeB)
	join(t, h.A, "onlyA", part("a2", nodeA, 0), nodeA)
	hostedB := join(t, h.B, "hostedB", part("a3", nodeA, 0), nodeB)
	join(t, h.B, "hostedB", part("b5", nodeB, 1), nodeB)
	_, err := h.B.Leave(bg, app, "hostedB", "b5")
	require.NoError(t, err)
	join(t, h.B, "other-app", part("b6", nodeB, 0), nodeB)
	_, err = h.B.Join(bg, "other-app", "mixed", part("b7", nodeB, 0), nodeB, long)
	require.NoError(t, err)

	touched, err := h.A.RemoveNode(bg, nodeB)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{k("mixed"), k("onlyB"), k("other-app"), {App: "other-app", ID: "mixed"}}, touched, "sorted by app, then id")

	assert.Equal(t, []string{"a1"}, callIDs(get(t, h.A, "mixed")))
	for _, rk := range []rooms.RoomKey{k("onlyB"), k("other-app"), {App: "other-app", ID: "mixed"}} {
		_, err := h.A.Get(bg, rk.App, rk.ID)
		require.ErrorIs(t, err, rooms.ErrNotFound, "%v emptied and deleted", rk)
	}
	assert.Equal(t, []string{"a2"}, callIDs(get(t, h.A, "onlyA")))
	r := get(t, h.A, "hostedB")
	assert.Equal(t, []string{"a3"}, callIDs(r))
	assert.Equal(t, nodeB, r.Host, "RemoveNode leaves leases to Claim")
	assert.Equal(t, hostedB.HostEpoch, r.HostEpoch)

	touched, err = h.A.RemoveNode(bg, nodeB)
	require.NoError(t, err)
	assert.Empty(t, touched, "idempotent")
	touched, err = h.A.RemoveNode(bg, nodeC)
	require.NoError(t, err)
	assert.Empty(t, touched, "unknown node")

	// Left rooms leave the index: A's remaining calls are exactly these.
	_, err = h.A.Leave(bg, app, "onlyA", "a2")
	require.NoError(t, err)
	touched, err = h.B.RemoveNode(bg, nodeA)
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{k("hostedB"), k("mixed")}, touched)
	for _, id := range []string{"hostedB", "mixed", "onlyA"} {
		_, err := h.A.Get(bg, app, id)
		require.ErrorIs(t, err, rooms.ErrNotFound, id)
	}
}

// testRemoveNodeMany: a node in more rooms than one batch of an
// implementation (Redis: 128).
func testRemoveNodeMany(t *testing.T, h Harness) {
	const n = 300
	var want []rooms.RoomKey
	for i := range n {
		id := fmt.Sprintf("r%03d", i)
		join(t, h.A, id, part("b"+id, nodeB, 0), nodeA)
		if i%3 == 0 {
			join(t, h.A, id, part("a"+id, nodeA, 1), nodeA)
		}
		want = append(want, rooms.RoomKey{App: app, ID: id})
	}
	touched, err := h.B.RemoveNode(bg, nodeB)
	require.NoError(t, err)
	require.Equal(t, want, touched)
	for i, k := range want {
		r, err := h.B.Get(bg, k.App, k.ID)
		if i%3 == 0 {
			require.NoError(t, err)
			assert.Equal(t, []string{"a" + k.ID}, callIDs(r))
		} else {
			require.ErrorIs(t, err, rooms.ErrNotFound)
		}
	}
}

func testAppScoping(t *testing.T, h Harness) {
	const other = "9d2b7c1e-0000-4000-8000-000000000001"
	a := join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	b, err := h.B.Join(bg, other, "room", part("c1", nodeB, 0), nodeB, long)
	require.NoError(t, err)
	assert.Equal(t, nodeA, a.Host)
	assert.Equal(t, nodeB, b.Host, "another app's room of the same id is another room")
	assert.Equal(t, other, b.App)

	require.NoError(t, h.A.SetFlags(bg, other, "room", "c1", true, false))
	assert.False(t, get(t, h.A, "room").Participants[0].Muted)
	n, err := h.A.Leave(bg, app, "room", "c1")
	require.NoError(t, err)
	assert.Zero(t, n)
	r, err := h.A.Get(bg, other, "room")
	require.NoError(t, err)
	assert.Equal(t, []string{"c1"}, callIDs(r))
	assert.True(t, r.Participants[0].Muted)
}

func testOddIDs(t *testing.T, h Harness) {
	ids := []string{
		"a:b", "a", "b", "{a}", "}{", "{", ":", "::", "a:b:c", "conf:room:x",
		"héllo wörld", "会议室", "🎉🎉", " ", "a\x00b", "line\nbreak",
		strings.Repeat("é", rooms.MaxIDLen), strings.Repeat("x", rooms.MaxIDLen),
	}
	for i, id := range ids {
		node := fmt.Sprintf("node:{%d}:é", i)
		r, err := h.A.Join(bg, app, id, part(fmt.Sprintf("c{%d}:x", i), node, i), node, long)
		require.NoError(t, err, "%q", id)
		assert.Equal(t, id, r.ID)
		assert.Equal(t, node, r.Host)
	}
	// Names that a naive "app:id" key would confuse.
	_, err := h.A.Join(bg, "x:y", "z", part("c1", nodeA, 0), nodeA, long)
	require.NoError(t, err)
	r, err := h.A.Join(bg, "x", "y:z", part("c2", nodeA, 0), nodeA, long)
	require.NoError(t, err)
	assert.Equal(t, []string{"c2"}, callIDs(r))

	for i, id := range ids {
		r := get(t, h.B, id)
		assert.Equal(t, []string{fmt.Sprintf("c{%d}:x", i)}, callIDs(r), "%q", id)
		assert.Equal(t, fmt.Sprintf("node:{%d}:é", i), r.Participants[0].Node)
	}
	touched, err := h.B.RemoveNode(bg, "node:{3}:é")
	require.NoError(t, err)
	assert.Equal(t, []rooms.RoomKey{{App: app, ID: "{a}"}}, touched)
}

func testInvalid(t *testing.T, h Harness) {
	s := h.A
	p := part("c1", nodeA, 0)
	add := func(name string, err error) {
		t.Helper()
		require.ErrorIs(t, err, rooms.ErrInvalid, name)
	}
	_, err := s.Join(bg, "", "room", p, nodeA, long)
	add("empty app", err)
	_, err = s.Join(bg, app, "", p, nodeA, long)
	add("empty id", err)
	_, err = s.Join(bg, app, strings.Repeat("é", rooms.MaxIDLen+1), p, nodeA, long)
	add("long id", err)
	_, err = s.Join(bg, app, "a\xffb", p, nodeA, long)
	add("invalid UTF-8 id", err)
	_, err = s.Join(bg, app, "room", rooms.Participant{Node: nodeA}, nodeA, long)
	add("no call id", err)
	_, err = s.Join(bg, app, "room", rooms.Participant{CallID: "c1"}, nodeA, long)
	add("no participant node", err)
	_, err = s.Join(bg, app, "room", p, "", long)
	add("no node", err)
	_, err = s.Join(bg, app, "room", p, nodeA, 0)
	add("zero ttl", err)
	_, err = s.Join(bg, app, "room", p, nodeA, rooms.RecordTTL+time.Second)
	add("ttl over RecordTTL", err)
	_, err = s.Leave(bg, app, "room", "")
	add("leave without call id", err)
	add("set flags without call id", s.SetFlags(bg, app, "room", "", true, true))
	_, err = s.Claim(bg, app, "room", "", "", long)
	add("claim without node", err)
	_, err = s.Renew(bg, nodeA, []rooms.RoomKey{{App: app}}, long)
	add("renew of a room without id", err)
	_, err = s.Renew(bg, nodeA, nil, -time.Second)
	add("renew with a negative ttl", err)
	_, err = s.Hosts(bg, []rooms.RoomKey{{ID: "room"}})
	add("hosts of a room without app", err)
	_, err = s.RemoveNode(bg, "")
	add("remove no node", err)
	_, err = s.Get(bg, app, "room")
	require.ErrorIs(t, err, rooms.ErrNotFound, "nothing was written")
}

func testConcurrentJoin(t *testing.T, h Harness) {
	const n = 20
	var wg sync.WaitGroup
	results := make([]rooms.Room, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, node := h.A, nodeA
			if i%2 == 1 {
				s, node = h.B, nodeB
			}
			results[i], errs[i] = s.Join(bg, app, "room", part(fmt.Sprintf("c%02d", i), node, 0), node, long)
		}()
	}
	wg.Wait()
	hosts := map[string]bool{}
	epochs := map[int64]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		hosts[results[i].Host] = true
		epochs[results[i].HostEpoch] = true
		assert.Contains(t, callIDs(results[i]), fmt.Sprintf("c%02d", i), "a join sees its own participant")
	}
	require.Len(t, hosts, 1, "exactly one host: %v", hosts)
	require.Len(t, epochs, 1, "one lease: %v", epochs)
	r := get(t, h.B, "room")
	assert.True(t, hosts[r.Host])
	require.Len(t, r.Participants, n)
	for i, p := range r.Participants {
		assert.Equal(t, fmt.Sprintf("c%02d", i), p.CallID)
	}
}

func testCanceled(t *testing.T, h Harness) {
	join(t, h.A, "room", part("c1", nodeA, 0), nodeA)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	k := []rooms.RoomKey{{App: app, ID: "room"}}
	_, err := h.A.Join(ctx, app, "room", part("c2", nodeA, 1), nodeA, long)
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.A.Leave(ctx, app, "room", "c1")
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.A.Get(ctx, app, "room")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, h.A.SetFlags(ctx, app, "room", "c1", true, true), context.Canceled)
	_, err = h.A.Renew(ctx, nodeA, k, long)
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.A.Claim(ctx, app, "room", nodeB, nodeA, long)
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.A.Hosts(ctx, k)
	require.ErrorIs(t, err, context.Canceled)
	_, err = h.A.RemoveNode(ctx, nodeA)
	require.ErrorIs(t, err, context.Canceled)

	r := get(t, h.A, "room")
	assert.Equal(t, []rooms.Participant{part("c1", nodeA, 0)}, r.Participants, "nothing changed")
	assert.Equal(t, nodeA, r.Host)
}
