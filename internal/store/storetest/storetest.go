package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/store"
)

// Clocked is a store under test together with the means to move its clock.
type Clocked struct {
	// Store is the store under test.
	Store store.Store
	// Advance moves the clock of Store forward by d.
	Advance func(d time.Duration)
	// Now reads the clock of Store.
	Now func() time.Time
}

// Clock is a manual clock for stores that accept one. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called; the suite closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}
	t.Run("Ping", func(t *testing.T) { require.NoError(t, open(t).Ping(context.Background())) })
	t.Run("Numbers", func(t *testing.T) { testNumbers(t, open) })
	t.Run("Callbacks", func(t *testing.T) { testCallbacks(t, open) })
	t.Run("Calls", func(t *testing.T) { testCalls(t, open) })
	t.Run("OwnerIndex", func(t *testing.T) { testOwnerIndex(t, open(t)) })
	t.Run("ReplaceCall", func(t *testing.T) { testReplaceCall(t, open(t)) })
	t.Run("RouteNumber", func(t *testing.T) { testRouteNumber(t, open(t)) })
	t.Run("RealTimeExpiry", func(t *testing.T) { testRealTimeExpiry(t, open) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, open(t)) })
}

// RunClocked runs the expiry tests that need a controllable clock. It is
// meant in addition to Run.
func RunClocked(t *testing.T, newStore func(t *testing.T) Clocked) {
	open := func(t *testing.T) Clocked {
		t.Helper()
		c := newStore(t)
		t.Cleanup(func() { require.NoError(t, c.Store.Close()) })
		return c
	}
	testClockedExpiry(t, open)
}

var bg = context.Background()

// numbersOf lists the inventory.
func numbersOf(t *testing.T, s store.Store) []store.Number {
	t.Helper()
	ns, err := s.ListNumbers(bg)
	require.NoError(t, err)
	return ns
}

func testNumbers(t *testing.T, open func(*testing.T) store.Store) {
	const (
		n1 = "+12025550101"
		n2 = "+12025550102"
		n3 = "+12025550103"
		n4 = "+12025550104"
	)
	voice, sms := store.CapabilityVoice, store.CapabilitySMS

	t.Run("EmptyInventory", func(t *testing.T) {
		s := open(t)
		ns := numbersOf(t, s)
		require.NotNil(t, ns, "an empty inventory is an empty slice")
		require.Empty(t, ns)
		_, err := s.GetNumber(bg, n1)
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("AssignAddsUnknownNumbersSorted", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{"+46701234567", n2}))
		require.NoError(t, s.AssignNumbers(bg, "app-b", sms, []string{"+33612345678", n1}))
		require.Equal(t, []store.Number{
			{Number: n1, AppKey: "app-b", Capability: sms},
			{Number: n2, AppKey: "app-a", Capability: voice},
			{Number: "+33612345678", AppKey: "app-b", Capability: sms},
			{Number: "+46701234567", AppKey: "app-a", Capability: voice},
		}, numbersOf(t, s))
		got, err := s.GetNumber(bg, n2)
		require.NoError(t, err)
		require.Equal(t, store.Number{Number: n2, AppKey: "app-a", Capability: voice}, got)
	})

	t.Run("AssignIsIdempotent", func(t *testing.T) {
		s := open(t)
		for range 3 {
			require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1, n2, n1}))
		}
		require.Equal(t, []store.Number{
			{Number: n1, AppKey: "app-a", Capability: voice},
			{Number: n2, AppKey: "app-a", Capability: voice},
		}, numbersOf(t, s))
	})

	t.Run("ReassignChangesCapability", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1}))
		require.NoError(t, s.AssignNumbers(bg, "app-a", sms, []string{n1}))
		got, err := s.GetNumber(bg, n1)
		require.NoError(t, err)
		require.Equal(t, store.Number{Number: n1, AppKey: "app-a", Capability: sms}, got)
	})

	t.Run("AssignTakenIsAllOrNothing", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1, n2}))
		before := numbersOf(t, s)

		err := s.AssignNumbers(bg, "app-b", sms, []string{n3, n2, n4})
		require.ErrorIs(t, err, store.ErrNumberTaken)
		require.Contains(t, err.Error(), n2, "the error names the taken number")
		require.NotContains(t, err.Error(), "app-a", "the error does not reveal the holder")

		require.Equal(t, before, numbersOf(t, s), "a failed assignment changes nothing")
		for _, n := range []string{n3, n4} {
			_, err := s.GetNumber(bg, n)
			require.ErrorIs(t, err, store.ErrNotFound, "%s must not be added", n)
		}
	})

	t.Run("UnassignKeepsNumberInInventory", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", sms, []string{n1, n2}))
		require.NoError(t, s.UnassignNumber(bg, "app-a", sms, n1))
		require.Equal(t, []store.Number{
			{Number: n1, AppKey: "", Capability: sms},
			{Number: n2, AppKey: "app-a", Capability: sms},
		}, numbersOf(t, s))
		err := s.UnassignNumber(bg, "app-a", sms, n1)
		require.ErrorIs(t, err, store.ErrNotFound, "an unassigned number cannot be unassigned again")
	})

	t.Run("UnassignedNumberCanBeTaken", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1}))
		require.ErrorIs(t, s.AssignNumbers(bg, "app-b", voice, []string{n1}), store.ErrNumberTaken)
		require.NoError(t, s.UnassignNumber(bg, "app-a", "", n1))
		require.NoError(t, s.AssignNumbers(bg, "app-b", voice, []string{n1}))
		got, err := s.GetNumber(bg, n1)
		require.NoError(t, err)
		require.Equal(t, store.Number{Number: n1, AppKey: "app-b", Capability: voice}, got)
	})

	t.Run("UnassignRefusals", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1}))
		before := numbersOf(t, s)
		for _, tc := range []struct {
			name, app, capability, number string
		}{
			{"other app", "app-b", voice, n1},
			{"other app any capability", "app-b", "", n1},
			{"other capability", "app-a", sms, n1},
			{"unknown number", "app-a", voice, n3},
		} {
			err := s.UnassignNumber(bg, tc.app, tc.capability, tc.number)
			require.ErrorIs(t, err, store.ErrNotFound, tc.name)
			require.Equal(t, before, numbersOf(t, s), "%s: nothing changes", tc.name)
		}
		_, err := s.GetNumber(bg, n3)
		require.ErrorIs(t, err, store.ErrNotFound, "unassigning an unknown number does not add it")
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AssignNumbers(bg, "app-a", voice, []string{n1}))
		before := numbersOf(t, s)
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"assign empty app", func() error { return s.AssignNumbers(bg, "", voice, []string{n2}) }},
			{"assign empty capability", func() error { return s.AssignNumbers(bg, "app-a", "", []string{n2}) }},
			{"assign bad capability", func() error { return s.AssignNumbers(bg, "app-a", "fax", []string{n2}) }},
			{"assign upper-case capability", func() error { return s.AssignNumbers(bg, "app-a", "Voice", []string{n2}) }},
			{"assign no numbers", func() error { return s.AssignNumbers(bg, "app-a", voice, nil) }},
			{"assign empty number", func() error { return s.AssignNumbers(bg, "app-a", voice, []string{n2, ""}) }},
			{"unassign empty app", func() error { return s.UnassignNumber(bg, "", voice, n1) }},
			{"unassign bad capability", func() error { return s.UnassignNumber(bg, "app-a", "fax", n1) }},
			{"unassign empty number", func() error { return s.UnassignNumber(bg, "app-a", voice, "") }},
			{"get empty number", func() error { _, err := s.GetNumber(bg, ""); return err }},
		} {
			require.ErrorIs(t, tc.call(), store.ErrInvalid, tc.name)
			require.Equal(t, before, numbersOf(t, s), "%s: nothing changes", tc.name)
		}
	})

	t.Run("ConcurrentOverlappingAssignments", func(t *testing.T) {
		// Two apps race for overlapping sets: exactly one wins and the
		// inventory holds its numbers only, never a mix.
		s := open(t)
		for round := range 20 {
			a, b, c := fmt.Sprintf("+1300%06d1", round), fmt.Sprintf("+1300%06d2", round), fmt.Sprintf("+1300%06d3", round)
			var errA, errB error
			var wg sync.WaitGroup
			wg.Go(func() { errA = s.AssignNumbers(bg, "app-a", voice, []string{a, b}) })
			wg.Go(func() { errB = s.AssignNumbers(bg, "app-b", voice, []string{b, c}) })
			wg.Wait()
			require.True(t, (errA == nil) != (errB == nil), "round %d: exactly one wins: a=%v b=%v", round, errA, errB)
			winner, loserOnly, winnerNums := "app-a", c, []string{a, b}
			loserErr := errB
			if errA != nil {
				winner, loserOnly, winnerNums, loserErr = "app-b", a, []string{b, c}, errA
			}
			require.ErrorIs(t, loserErr, store.ErrNumberTaken)
			for _, n := range winnerNums {
				got, err := s.GetNumber(bg, n)
				require.NoError(t, err)
				require.Equal(t, winner, got.AppKey, "round %d number %s", round, n)
			}
			_, err := s.GetNumber(bg, loserOnly)
			require.ErrorIs(t, err, store.ErrNotFound, "round %d: the loser added nothing", round)
		}
	})
}

func testCallbacks(t *testing.T, open func(*testing.T) store.Store) {
	cbA := store.Callbacks{Primary: "https://a.example/cb", Fallback: "https://a-fallback.example/cb"}
	cbB := store.Callbacks{Primary: "https://b.example/cb"}

	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).GetCallbacks(bg, "app-a")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SetReplaces", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.SetCallbacks(bg, "app-a", cbA))
		got, err := s.GetCallbacks(bg, "app-a")
		require.NoError(t, err)
		require.Equal(t, cbA, got)

		require.NoError(t, s.SetCallbacks(bg, "app-a", cbB))
		got, err = s.GetCallbacks(bg, "app-a")
		require.NoError(t, err)
		require.Equal(t, cbB, got, "a missing fallback replaces the old one")

		_, err = s.GetCallbacks(bg, "app-b")
		require.ErrorIs(t, err, store.ErrNotFound, "callbacks are per application")
	})

	t.Run("SeedOnlyIfAbsent", func(t *testing.T) {
		s := open(t)
		set, err := s.SeedCallbacks(bg, "app-a", cbA)
		require.NoError(t, err)
		require.True(t, set)
		set, err = s.SeedCallbacks(bg, "app-a", cbB)
		require.NoError(t, err)
		require.False(t, set)
		got, err := s.GetCallbacks(bg, "app-a")
		require.NoError(t, err)
		require.Equal(t, cbA, got, "seeding does not overwrite")

		require.NoError(t, s.SetCallbacks(bg, "app-b", cbB))
		set, err = s.SeedCallbacks(bg, "app-b", cbA)
		require.NoError(t, err)
		require.False(t, set, "seeding does not overwrite what Set stored")
	})

	t.Run("ConcurrentSeedHasOneWinner", func(t *testing.T) {
		s := open(t)
		const n = 8
		var wins atomic.Int32
		var winner atomic.Value
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				cb := store.Callbacks{Primary: fmt.Sprintf("https://%d.example/", i)}
				set, err := s.SeedCallbacks(bg, "app-a", cb)
				errs[i] = err
				if set {
					wins.Add(1)
					winner.Store(cb)
				}
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		require.EqualValues(t, 1, wins.Load())
		got, err := s.GetCallbacks(bg, "app-a")
		require.NoError(t, err)
		require.Equal(t, winner.Load(), got)
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		s := open(t)
		_, err := s.GetCallbacks(bg, "")
		require.ErrorIs(t, err, store.ErrInvalid)
		require.ErrorIs(t, s.SetCallbacks(bg, "", cbA), store.ErrInvalid)
		_, err = s.SeedCallbacks(bg, "", cbA)
		require.ErrorIs(t, err, store.ErrInvalid)
	})
}

// requireRecord checks got against want field by field (times with Equal).
func requireRecord(t *testing.T, want, got store.CallRecord, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.ID, got.ID, msgAndArgs...)
	require.Equal(t, want.Owner, got.Owner, msgAndArgs...)
	require.Equal(t, want.Version, got.Version, msgAndArgs...)
	require.Equal(t, want.Data, got.Data, msgAndArgs...)
	require.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "UpdatedAt: want %v, got %v", want.UpdatedAt, got.UpdatedAt)
}

func getCall(t *testing.T, s store.Store, id string) store.CallRecord {
	t.Helper()
	rec, err := s.GetCall(bg, id)
	require.NoError(t, err)
	return rec
}

// counter reads and writes a decimal counter kept in a record's Data.
func counter(t *testing.T, data []byte) int {
	t.Helper()
	if len(data) == 0 {
		return 0
	}
	n, err := strconv.Atoi(string(data))
	require.NoError(t, err)
	return n
}

func nodeCalls(t *testing.T, s store.Store, node string) []string {
	t.Helper()
	ids, err := s.NodeCalls(bg, node)
	require.NoError(t, err)
	slices.Sort(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// testOwnerIndex: live records are listed under their owner until they
// are written not live, move owner, are deleted or unindexed.
func testOwnerIndex(t *testing.T, s store.Store) {
	require.Equal(t, []string{}, nodeCalls(t, s, "n1"))
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: id, Owner: "n1", Live: true}, time.Minute))
	}
	require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "ended", Owner: "n1"}, time.Minute))
	require.Equal(t, []string{"a", "b", "c"}, nodeCalls(t, s, "n1"))
	require.True(t, getCall(t, s, "a").Live)
	require.False(t, getCall(t, s, "ended").Live)

	// Ended through UpdateCall.
	rec, err := s.UpdateCall(bg, "a", time.Minute, func(r *store.CallRecord) error { r.Live = false; return nil })
	require.NoError(t, err)
	require.False(t, rec.Live)
	require.Equal(t, []string{"b", "c"}, nodeCalls(t, s, "n1"))
	// Moved to another owner.
	_, err = s.UpdateCall(bg, "b", time.Minute, func(r *store.CallRecord) error { r.Owner = "n2"; return nil })
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, nodeCalls(t, s, "n1"))
	require.Equal(t, []string{"b"}, nodeCalls(t, s, "n2"))
	// Unindexed by a survivor; the record itself stays.
	require.NoError(t, s.UnindexCalls(bg, "n1", "c", "unknown"))
	require.NoError(t, s.UnindexCalls(bg, "n1"))
	require.Equal(t, []string{}, nodeCalls(t, s, "n1"))
	require.True(t, getCall(t, s, "c").Live)

	_, err = s.NodeCalls(bg, "")
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorIs(t, s.UnindexCalls(bg, "", "x"), store.ErrInvalid)
}

// testReplaceCall: the owner's one-round-trip write succeeds on the
// version it wrote last and fails with ErrConflict once anybody else wrote.
func testReplaceCall(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "r", Owner: "n1", Data: []byte("1"), Live: true}, time.Minute))
	v, err := s.ReplaceCall(bg, store.CallRecord{ID: "r", Owner: "n1", Version: 1, Data: []byte("2"), Live: true}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, int64(2), v)
	rec := getCall(t, s, "r")
	require.Equal(t, int64(2), rec.Version)
	require.Equal(t, []byte("2"), rec.Data)
	require.Equal(t, []string{"r"}, nodeCalls(t, s, "n1"))

	// A stale version is a conflict, not retried, and changes nothing.
	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "r", Owner: "n1", Version: 1, Data: []byte("x"), Live: true}, time.Minute)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, []byte("2"), getCall(t, s, "r").Data)

	// Somebody else (a survivor finalizing the call) wrote it.
	_, err = s.UpdateCall(bg, "r", time.Minute, func(r *store.CallRecord) error { r.Data = []byte("final"); r.Live = false; return nil })
	require.NoError(t, err)
	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "r", Owner: "n1", Version: 2, Data: []byte("3"), Live: true}, time.Minute)
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, []byte("final"), getCall(t, s, "r").Data)

	// Written not live: out of the index.
	require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "q", Owner: "n1", Live: true}, time.Minute))
	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "q", Owner: "n1", Version: 1, Data: []byte("end")}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{}, nodeCalls(t, s, "n1"))
	require.False(t, getCall(t, s, "q").Live)

	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "absent", Owner: "n1", Version: 1}, time.Minute)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "", Version: 1}, time.Minute)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.ReplaceCall(bg, store.CallRecord{ID: "q", Version: 2}, 0)
	require.ErrorIs(t, err, store.ErrInvalid)
}

// testRouteNumber: number and callbacks in one look-up.
func testRouteNumber(t *testing.T, s store.Store) {
	_, _, _, err := s.RouteNumber(bg, "+15550001")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.AssignNumbers(bg, "app", store.CapabilityVoice, []string{"+15550001", "+15550002"}))
	n, cb, found, err := s.RouteNumber(bg, "+15550001")
	require.NoError(t, err)
	require.Equal(t, store.Number{Number: "+15550001", AppKey: "app", Capability: store.CapabilityVoice}, n)
	require.False(t, found)
	require.Equal(t, store.Callbacks{}, cb)

	want := store.Callbacks{Primary: "https://p.example/cb", Fallback: "https://f.example/cb"}
	require.NoError(t, s.SetCallbacks(bg, "app", want))
	n, cb, found, err = s.RouteNumber(bg, "+15550002")
	require.NoError(t, err)
	require.Equal(t, "app", n.AppKey)
	require.True(t, found)
	require.Equal(t, want, cb)

	require.NoError(t, s.UnassignNumber(bg, "app", "", "+15550002"))
	n, _, found, err = s.RouteNumber(bg, "+15550002")
	require.NoError(t, err)
	require.Equal(t, "", n.AppKey)
	require.False(t, found)
	_, _, _, err = s.RouteNumber(bg, "")
	require.ErrorIs(t, err, store.ErrInvalid)
}

func testCalls(t *testing.T, open func(*testing.T) store.Store) {
	const ttl = time.Hour

	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		require.NoError(t, s.CreateCall(bg, store.CallRecord{
			ID: "call-1", Owner: "node-1", Version: 42, Data: []byte(`{"state":"ringing"}`),
			UpdatedAt: time.Unix(1, 0),
		}, ttl))
		rec := getCall(t, s, "call-1")
		require.Equal(t, "call-1", rec.ID)
		require.Equal(t, "node-1", rec.Owner)
		require.EqualValues(t, 1, rec.Version, "Version starts at 1 whatever is passed")
		require.Equal(t, []byte(`{"state":"ringing"}`), rec.Data)
		require.Equal(t, time.UTC, rec.UpdatedAt.Location())
		require.WithinRange(t, rec.UpdatedAt, before.Add(-time.Minute), time.Now().Add(time.Minute),
			"UpdatedAt is set by the store")
	})

	t.Run("CreateExisting", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Owner: "node-1", Data: []byte("a")}, ttl))
		want := getCall(t, s, "call-1")
		err := s.CreateCall(bg, store.CallRecord{ID: "call-1", Owner: "node-2", Data: []byte("b")}, ttl)
		require.ErrorIs(t, err, store.ErrExists)
		requireRecord(t, want, getCall(t, s, "call-1"), "a failed create changes nothing")
	})

	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).GetCall(bg, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("EmptyAndBinaryData", func(t *testing.T) {
		s := open(t)
		binary := []byte{0, 1, 2, 0xff, 0xfe, '\r', '\n', 0}
		for id, data := range map[string][]byte{"nil": nil, "empty": {}, "binary": binary} {
			require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: id, Data: data}, ttl))
		}
		require.Nil(t, getCall(t, s, "nil").Data)
		require.Nil(t, getCall(t, s, "empty").Data, "empty Data comes back nil")
		require.Equal(t, binary, getCall(t, s, "binary").Data)
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Owner: "node-1", Data: []byte("v1")}, ttl))
		created := getCall(t, s, "call-1")
		calls := 0
		got, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
			calls++
			requireRecord(t, created, *r, "fn sees the stored record")
			r.Owner = "node-2"
			r.Data = append(r.Data, "+v2"...)
			// The store owns these fields.
			r.ID, r.Version, r.UpdatedAt = "other", 99, time.Unix(1, 0)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 1, calls)
		require.Equal(t, "call-1", got.ID)
		require.Equal(t, "node-2", got.Owner)
		require.EqualValues(t, 2, got.Version)
		require.Equal(t, []byte("v1+v2"), got.Data)
		require.False(t, got.UpdatedAt.Before(created.UpdatedAt))
		requireRecord(t, got, getCall(t, s, "call-1"), "Update returns what it stored")
		_, err = s.GetCall(bg, "other")
		require.ErrorIs(t, err, store.ErrNotFound, "fn cannot rename a record")

		got, err = s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error { r.Data = nil; return nil })
		require.NoError(t, err)
		require.EqualValues(t, 3, got.Version)
		require.Nil(t, got.Data)
		require.Nil(t, getCall(t, s, "call-1").Data)
	})

	t.Run("UpdateFnErrorChangesNothing", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Owner: "node-1", Data: []byte("v1")}, ttl))
		want := getCall(t, s, "call-1")
		errBoom := errors.New("boom")
		_, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
			r.Owner = "node-2"
			r.Data[0] = 'X' // mutating the copy in place must not leak
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		requireRecord(t, want, getCall(t, s, "call-1"))
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		s := open(t)
		_, err := s.UpdateCall(bg, "nope", ttl, func(*store.CallRecord) error {
			t.Error("fn called for a missing record")
			return nil
		})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetCall(bg, "nope")
		require.ErrorIs(t, err, store.ErrNotFound, "update does not create")
	})

	t.Run("UpdateGivesUpWithConflict", func(t *testing.T) {
		// fn itself updates the record every time, so the outer write always
		// loses: the store must retry a bounded number of times and give up.
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Data: []byte("0")}, ttl))
		outer := 0
		_, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
			outer++
			_, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
				r.Data = strconv.AppendInt(nil, int64(counter(t, r.Data)+1), 10)
				return nil
			})
			r.Data = []byte("outer")
			return err
		})
		require.ErrorIs(t, err, store.ErrConflict)
		require.Greater(t, outer, 1, "the store retries before giving up")
		require.Less(t, outer, 1000, "the retries are bounded")
		rec := getCall(t, s, "call-1")
		require.Equal(t, outer, counter(t, rec.Data), "only the inner updates were written")
		require.EqualValues(t, 1+outer, rec.Version)
	})

	t.Run("ConcurrentUpdatesAreSerialised", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, ttl))
		const workers, each = 8, 25
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					_, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
						n := 0
						if len(r.Data) > 0 {
							var err error
							if n, err = strconv.Atoi(string(r.Data)); err != nil {
								return err
							}
						}
						runtime.Gosched() // widen the read-write window
						r.Data = strconv.AppendInt(r.Data[:0], int64(n+1), 10)
						return nil
					})
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		rec := getCall(t, s, "call-1")
		require.Equal(t, workers*each, counter(t, rec.Data), "no update is lost")
		require.EqualValues(t, 1+workers*each, rec.Version)
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Data: []byte("a")}, ttl))
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-2", Data: []byte("b")}, ttl))
		require.NoError(t, s.DeleteCall(bg, "call-1"))
		_, err := s.GetCall(bg, "call-1")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, []byte("b"), getCall(t, s, "call-2").Data, "delete removes one record only")
		require.NoError(t, s.DeleteCall(bg, "call-1"), "deleting again is fine")
		require.NoError(t, s.DeleteCall(bg, "never"), "deleting a missing record is fine")

		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Data: []byte("c")}, ttl))
		rec := getCall(t, s, "call-1")
		require.EqualValues(t, 1, rec.Version, "a recreated record starts over")
		require.Equal(t, []byte("c"), rec.Data)
	})

	t.Run("CopiesAreIsolated", func(t *testing.T) {
		s := open(t)
		in := []byte("original")
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1", Data: in}, ttl))
		copy(in, "XXXXXXXX")
		require.Equal(t, []byte("original"), getCall(t, s, "call-1").Data, "the caller's slice is not kept")

		got := getCall(t, s, "call-1")
		copy(got.Data, "YYYYYYYY")
		require.Equal(t, []byte("original"), getCall(t, s, "call-1").Data, "GetCall returns a copy")

		var kept []byte
		upd, err := s.UpdateCall(bg, "call-1", ttl, func(r *store.CallRecord) error {
			r.Data = []byte("updated!")
			kept = r.Data
			return nil
		})
		require.NoError(t, err)
		copy(kept, "ZZZZZZZZ")
		require.Equal(t, []byte("updated!"), getCall(t, s, "call-1").Data, "fn's slice is not kept")
		require.Equal(t, []byte("updated!"), upd.Data, "the result does not share fn's slice")
		copy(upd.Data, "WWWWWWWW")
		require.Equal(t, []byte("updated!"), getCall(t, s, "call-1").Data, "UpdateCall returns a copy")
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, ttl))
		nop := func(*store.CallRecord) error { return nil }
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"create empty id", func() error { return s.CreateCall(bg, store.CallRecord{}, ttl) }},
			{"create zero ttl", func() error { return s.CreateCall(bg, store.CallRecord{ID: "call-2"}, 0) }},
			{"create negative ttl", func() error { return s.CreateCall(bg, store.CallRecord{ID: "call-2"}, -time.Second) }},
			{"get empty id", func() error { _, err := s.GetCall(bg, ""); return err }},
			{"update empty id", func() error { _, err := s.UpdateCall(bg, "", ttl, nop); return err }},
			{"update zero ttl", func() error { _, err := s.UpdateCall(bg, "call-1", 0, nop); return err }},
			{"update nil fn", func() error { _, err := s.UpdateCall(bg, "call-1", ttl, nil); return err }},
			{"delete empty id", func() error { return s.DeleteCall(bg, "") }},
		} {
			require.ErrorIs(t, tc.call(), store.ErrInvalid, tc.name)
		}
		_, err := s.GetCall(bg, "call-2")
		require.ErrorIs(t, err, store.ErrNotFound, "invalid creates store nothing")
		require.EqualValues(t, 1, getCall(t, s, "call-1").Version, "invalid updates change nothing")
	})
}

// waitGone polls GetCall until the record is gone, for at most 5 s, and
// returns when that happened.
func waitGone(t *testing.T, s store.Store, id string) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.GetCall(bg, id)
		if errors.Is(err, store.ErrNotFound) {
			return time.Now()
		}
		require.NoError(t, err)
		require.True(t, time.Now().Before(deadline), "record %s did not expire within 5s", id)
		time.Sleep(20 * time.Millisecond)
	}
}

func testRealTimeExpiry(t *testing.T, open func(*testing.T) store.Store) {
	const short = 500 * time.Millisecond

	t.Run("Expires", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		start := time.Now()
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, short))
		_, err := s.GetCall(bg, "call-1")
		if time.Since(start) < short {
			require.NoError(t, err, "the record lives until its TTL")
		}
		gone := waitGone(t, s, "call-1")
		require.GreaterOrEqual(t, gone.Sub(start), short*9/10, "the record expired early")

		_, err = s.UpdateCall(bg, "call-1", time.Hour, func(*store.CallRecord) error { return nil })
		require.ErrorIs(t, err, store.ErrNotFound, "an expired record cannot be updated")
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, time.Hour), "an expired ID can be reused")
		require.EqualValues(t, 1, getCall(t, s, "call-1").Version)
	})

	t.Run("UpdateRefreshesTTL", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, short))
		_, err := s.UpdateCall(bg, "call-1", time.Hour, func(*store.CallRecord) error { return nil })
		require.NoError(t, err)
		time.Sleep(short + 300*time.Millisecond)
		require.EqualValues(t, 2, getCall(t, s, "call-1").Version, "the update extended the TTL")

		start := time.Now()
		_, err = s.UpdateCall(bg, "call-1", short, func(*store.CallRecord) error { return nil })
		require.NoError(t, err)
		gone := waitGone(t, s, "call-1")
		require.GreaterOrEqual(t, gone.Sub(start), short*9/10, "the update shortened the TTL")
	})
}

func testClockedExpiry(t *testing.T, open func(*testing.T) Clocked) {
	const ttl = 10 * time.Second

	t.Run("ExpiresExactlyAtTTL", func(t *testing.T) {
		c := open(t)
		require.NoError(t, c.Store.CreateCall(bg, store.CallRecord{ID: "call-1"}, ttl))
		c.Advance(ttl - time.Nanosecond)
		getCall(t, c.Store, "call-1")
		c.Advance(time.Nanosecond)
		_, err := c.Store.GetCall(bg, "call-1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = c.Store.UpdateCall(bg, "call-1", ttl, func(*store.CallRecord) error { return nil })
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, c.Store.CreateCall(bg, store.CallRecord{ID: "call-1", Data: []byte("new")}, ttl),
			"an expired ID can be reused")
		rec := getCall(t, c.Store, "call-1")
		require.EqualValues(t, 1, rec.Version)
		require.Equal(t, []byte("new"), rec.Data)
	})

	t.Run("UpdateRefreshesTTL", func(t *testing.T) {
		c := open(t)
		require.NoError(t, c.Store.CreateCall(bg, store.CallRecord{ID: "call-1"}, ttl))
		c.Advance(8 * time.Second)
		_, err := c.Store.UpdateCall(bg, "call-1", ttl, func(*store.CallRecord) error { return nil })
		require.NoError(t, err)
		c.Advance(8 * time.Second) // 16 s after creation, 8 s after the update
		require.EqualValues(t, 2, getCall(t, c.Store, "call-1").Version)
		c.Advance(2 * time.Second)
		_, err = c.Store.GetCall(bg, "call-1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("UpdatedAtFollowsClock", func(t *testing.T) {
		c := open(t)
		t0 := c.Now()
		require.NoError(t, c.Store.CreateCall(bg, store.CallRecord{ID: "call-1"}, ttl))
		require.True(t, t0.Equal(getCall(t, c.Store, "call-1").UpdatedAt))
		c.Advance(5 * time.Second)
		rec, err := c.Store.UpdateCall(bg, "call-1", ttl, func(*store.CallRecord) error { return nil })
		require.NoError(t, err)
		require.True(t, t0.Add(5*time.Second).Equal(rec.UpdatedAt))
		require.Equal(t, time.UTC, rec.UpdatedAt.Location())
	})
}

func testCanceled(t *testing.T, s store.Store) {
	require.NoError(t, s.CreateCall(bg, store.CallRecord{ID: "call-1"}, time.Hour))
	require.NoError(t, s.AssignNumbers(bg, "app-a", store.CapabilityVoice, []string{"+12025550101"}))
	ctx, cancel := context.WithCancel(bg)
	cancel()
	fnCalled := false
	fn := func(*store.CallRecord) error { fnCalled = true; return nil }
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"ListNumbers", func() error { _, err := s.ListNumbers(ctx); return err }},
		{"GetNumber", func() error { _, err := s.GetNumber(ctx, "+12025550101"); return err }},
		{"AssignNumbers", func() error {
			return s.AssignNumbers(ctx, "app-a", store.CapabilitySMS, []string{"+12025550101", "+12025550102"})
		}},
		{"UnassignNumber", func() error { return s.UnassignNumber(ctx, "app-a", "", "+12025550101") }},
		{"GetCallbacks", func() error { _, err := s.GetCallbacks(ctx, "app-a"); return err }},
		{"SetCallbacks", func() error { return s.SetCallbacks(ctx, "app-a", store.Callbacks{Primary: "x"}) }},
		{"SeedCallbacks", func() error { _, err := s.SeedCallbacks(ctx, "app-a", store.Callbacks{Primary: "x"}); return err }},
		{"CreateCall", func() error { return s.CreateCall(ctx, store.CallRecord{ID: "call-2"}, time.Hour) }},
		{"GetCall", func() error { _, err := s.GetCall(ctx, "call-1"); return err }},
		{"UpdateCall", func() error { _, err := s.UpdateCall(ctx, "call-1", time.Hour, fn); return err }},
		{"DeleteCall", func() error { return s.DeleteCall(ctx, "call-1") }},
	} {
		require.ErrorIs(t, tc.call(), context.Canceled, tc.name)
	}
	require.False(t, fnCalled, "UpdateCall does not run fn with a canceled context")

	// Nothing changed.
	rec := getCall(t, s, "call-1")
	require.EqualValues(t, 1, rec.Version)
	require.Equal(t, []store.Number{{Number: "+12025550101", AppKey: "app-a", Capability: store.CapabilityVoice}}, numbersOf(t, s))
	_, err := s.GetCallbacks(bg, "app-a")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetCall(bg, "call-2")
	require.ErrorIs(t, err, store.ErrNotFound)
}
