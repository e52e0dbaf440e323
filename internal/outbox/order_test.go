package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// callEntry is event j of call c.
func callEntry(c, j int) Entry {
	return Entry{
		ID:     fmt.Sprintf("c%03d-e%d", c, j),
		CallID: fmt.Sprintf("call-%03d", c),
		AppKey: "app",
		Kind:   KindNotify,
		URL:    "https://backend.example/callbacks",
		Body:   []byte(fmt.Sprintf(`{"call":%d,"event":%d}`, c, j)),
	}
}

var errTransient = errors.New("transient: 502")

// orderBackend records, per call, the events delivered in order, and
// checks that no call has two deliveries at once. It fails attempts at
// random with probability failRate, and fails every attempt while down.
type orderBackend struct {
	failRate float64

	mu       sync.Mutex
	down     bool
	seq      map[string][]string // call -> ids delivered, in order
	by       map[string]string   // id -> who delivered it (last time)
	calls    map[string]int      // id -> Deliver calls
	attempts map[string]int      // id -> Entry.Attempts when delivered
	active   map[string]int      // call -> deliveries running
	overlaps []string            // calls seen with two deliveries at once
	running  int
	maxRun   int
}

func newOrderBackend(failRate float64) *orderBackend {
	return &orderBackend{failRate: failRate, seq: map[string][]string{}, by: map[string]string{},
		calls: map[string]int{}, attempts: map[string]int{}, active: map[string]int{}}
}

func (b *orderBackend) setDown(down bool) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

// deliverAs returns a DeliverFunc that records who delivered.
func (b *orderBackend) deliverAs(who string) DeliverFunc {
	return func(_ context.Context, e Entry) error {
		b.mu.Lock()
		b.calls[e.ID]++
		b.active[e.CallID]++
		if b.active[e.CallID] > 1 {
			b.overlaps = append(b.overlaps, e.CallID)
		}
		b.running++
		b.maxRun = max(b.maxRun, b.running)
		fail := b.down || rand.Float64() < b.failRate
		b.mu.Unlock()
		// Widen the window in which a second delivery of the call would
		// overlap (not a timing assertion).
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		b.mu.Lock()
		defer b.mu.Unlock()
		b.active[e.CallID]--
		b.running--
		if fail {
			return errTransient
		}
		b.seq[e.CallID] = append(b.seq[e.CallID], e.ID)
		b.by[e.ID] = who
		b.attempts[e.ID] = e.Attempts
		return nil
	}
}

// distinct counts the events delivered at least once.
func (b *orderBackend) distinct() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.by)
}

// requireInOrder checks that call c (for c in calls) got events 0..events-1
// in order, each once, one at a time, and that waiting behind an earlier
// event was not counted as an attempt.
func (b *orderBackend) requireInOrder(t *testing.T, calls []int, events int) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range calls {
		require.NotContains(t, b.overlaps, callEntry(c, 0).CallID, "two deliveries at once")
		want := make([]string, events)
		for j := range events {
			want[j] = callEntry(c, j).ID
		}
		call := callEntry(c, 0).CallID
		require.Equal(t, want, b.seq[call], call)
		for _, id := range want {
			require.Equal(t, b.calls[id], b.attempts[id], "%s: attempts", id)
		}
	}
}

// enqueueCalls enqueues events 0..events-1 of calls on ob from workers
// goroutines, each owning some of the calls and enqueueing event j of all
// of them before event j+1, so that the events of different calls
// interleave.
func enqueueCalls(t *testing.T, ob Outbox, calls []int, events, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range events {
				for i := w; i < len(calls); i += workers {
					if err := ob.Enqueue(context.Background(), callEntry(calls[i], j)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func seqInts(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestMemoryPerCallOrder(t *testing.T) {
	const calls, events = 200, 5
	b := newOrderBackend(0.2)
	mo := NewMemory(Options{Deliver: b.deliverAs("mem"), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	t.Cleanup(func() { _ = mo.Close(context.Background()) })
	all := seqInts(0, calls)
	enqueueCalls(t, mo, all, events, 8)
	require.Eventually(t, func() bool { return b.distinct() == calls*events }, waitFor, tick)
	require.Eventually(t, func() bool { return mo.Stats().Pending == 0 }, waitFor, tick)
	b.requireInOrder(t, all, events)
	require.Greater(t, b.maxRun, 1, "different calls are delivered concurrently")
	// The per-call queues are gone with their entries.
	mo.eng.mu.Lock()
	defer mo.eng.mu.Unlock()
	require.Empty(t, mo.eng.keys)
	require.Empty(t, mo.eng.queue)
}

// TestRedisPerCallOrder: three nodes of a region, each enqueueing the
// events of its own calls while the others' consumers are blocked reading;
// every call sees its events in order, from its own node.
func TestRedisPerCallOrder(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const calls, events = 200, 5
	b := newOrderBackend(0.2)
	nodes := []string{"n0", "n1", "n2"}
	obs := make([]*Redis, len(nodes))
	for i, n := range nodes {
		obs[i] = newRedis(t, client, "order", Options{Consumer: n + "/boot1", Deliver: b.deliverAs(n),
			MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ReadCount: 16})
	}
	mine := make([][]int, len(nodes))
	for c := range calls {
		mine[c%len(nodes)] = append(mine[c%len(nodes)], c)
	}
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { enqueueCalls(t, obs[i], mine[i], events, 4) })
	}
	wg.Wait()
	require.Eventually(t, func() bool { return b.distinct() == calls*events }, waitFor, tick)
	for _, r := range obs {
		require.Eventually(t, func() bool { s := r.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
	}
	b.requireInOrder(t, seqInts(0, calls), events)
	b.mu.Lock()
	for c := range calls {
		for j := range events {
			id := callEntry(c, j).ID
			require.Equal(t, nodes[c%len(nodes)], b.by[id], "%s delivered by its own node", id)
		}
	}
	b.mu.Unlock()
	for i, n := range nodes {
		stream := StreamKey("order", n)
		require.Zero(t, client.XLen(ctx, stream).Val())
		require.Zero(t, client.XPending(ctx, stream, GroupName).Val().Count)
		obs[i].mu.Lock()
		require.Empty(t, obs[i].held)
		obs[i].mu.Unlock()
	}
	require.ElementsMatch(t, nodes, client.SMembers(ctx, NodesKey("order")).Val())
}

// leaveCalls runs node's outbox with a failing backend and MaxLocal
// holding: it enqueues the events of calls (event j of every call before
// event j+1), waits until it holds MaxLocal of them (pending in the group)
// with the rest unread in its stream, and closes it as a crash would leave
// it.
func leaveCalls(t *testing.T, client redis.UniversalClient, prefix, consumer string, calls []int, events, holding int) {
	t.Helper()
	ctx := context.Background()
	b := newOrderBackend(0)
	b.setDown(true)
	r, err := NewRedis(ctx, client, prefix, Options{Consumer: consumer, Deliver: b.deliverAs(consumer),
		MaxLocal: holding, ReadCount: holding, ReadBlock: 100 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	for j := range events {
		for _, c := range calls {
			require.NoError(t, r.Enqueue(ctx, callEntry(c, j)))
		}
	}
	require.Eventually(t, func() bool { return r.Stats().Pending == holding }, waitFor, tick)
	require.NoError(t, r.Close(ctx))
	node, _ := nodeOf(consumer)
	stream := StreamKey(prefix, node)
	require.EqualValues(t, holding, client.XPending(ctx, stream, GroupName).Val().Consumers[consumer])
	require.EqualValues(t, len(calls)*events, client.XLen(ctx, stream).Val())
}

// adoptedCount is how many streams r reads besides its own.
func adoptedCount(r *Redis) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.adopted)
}

// TestRedisTakeoverKeepsOrder: node a dies holding events (pending, some of
// them waiting behind an earlier event of their call) with more unread in
// its stream; b claims a: everything is delivered once, per call in order
// (claimed pending first), and a's stream is deleted when drained.
func TestRedisTakeoverKeepsOrder(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const events = 5
	calls := seqInts(0, 20)
	// a holds 30: event 0 of every call and event 1 of half of them.
	leaveCalls(t, client, "tk", "a/boot1", calls, events, 30)

	b := newOrderBackend(0.2)
	// b's MaxLocal makes ClaimNode read part of the unread entries and its
	// reader the rest.
	rb := newRedis(t, client, "tk", Options{Consumer: "b/boot1", Deliver: b.deliverAs("b"), MaxLocal: 50,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	require.Zero(t, adoptedCount(rb))
	n, err := rb.ClaimNode(ctx, "a")
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 50, "the 30 pending claimed and the unread read up to MaxLocal")
	require.Eventually(t, func() bool { return b.distinct() == len(calls)*events }, waitFor, tick)
	b.requireInOrder(t, calls, events)

	stream := StreamKey("tk", "a")
	require.Eventually(t, func() bool {
		return client.Exists(ctx, stream).Val() == 0 && adoptedCount(rb) == 0
	}, waitFor, tick)
	require.NotContains(t, client.SMembers(ctx, NodesKey("tk")).Val(), "a")
	require.Eventually(t, func() bool { s := rb.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)

	// b still works on its own stream, and claiming a again finds nothing.
	require.NoError(t, rb.Enqueue(ctx, callEntry(100, 0)))
	require.Eventually(t, func() bool { return b.distinct() == len(calls)*events+1 }, waitFor, tick)
	n, err = rb.ClaimNode(ctx, "a")
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestRedisTakeoverNodeBack: while b is still adopting a's stream (its
// backend stalls, so unread entries remain), a restarts: nothing is lost,
// b stops reading a's stream, a's stream is not deleted, and a resumes its
// own stream.
func TestRedisTakeoverNodeBack(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const events = 5
	calls := seqInts(0, 20)
	leaveCalls(t, client, "back", "a/boot1", calls, events, 30)

	backend := newOrderBackend(0)
	backend.setDown(true)
	rb := newRedis(t, client, "back", Options{Consumer: "b/boot1", Deliver: backend.deliverAs("b"), MaxLocal: 50,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	n, err := rb.ClaimNode(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 50, n)
	require.Equal(t, 1, adoptedCount(rb))

	// a is back, with a new boot id: it reads what b did not take.
	ra := newRedis(t, client, "back", Options{Consumer: "a/boot2", Deliver: backend.deliverAs("a"),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.Eventually(t, func() bool { return adoptedCount(rb) == 0 }, waitFor, tick, "b stops adopting")
	for c := 100; c < 105; c++ { // new calls of the new incarnation
		for j := range events {
			require.NoError(t, ra.Enqueue(ctx, callEntry(c, j)))
		}
	}
	backend.setDown(false)
	all := append(slices.Clone(calls), seqInts(100, 105)...)
	require.Eventually(t, func() bool { return backend.distinct() == len(all)*events }, waitFor, tick)
	for _, r := range []*Redis{ra, rb} {
		require.Eventually(t, func() bool { s := r.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
	}
	// The new calls are a's alone: in order. The old ones were split
	// between b (what it had taken) and a (the rest).
	backend.requireInOrder(t, seqInts(100, 105), events)
	backend.mu.Lock()
	var byA, byB int
	for _, c := range calls {
		for j := range events {
			switch backend.by[callEntry(c, j).ID] {
			case "a":
				byA++
			case "b":
				byB++
			}
		}
	}
	backend.mu.Unlock()
	require.Equal(t, 50, byB)
	require.Equal(t, len(calls)*events-50, byA)
	stream := StreamKey("back", "a")
	require.EqualValues(t, 1, client.Exists(ctx, stream).Val(), "a's stream is a's again")
	require.Zero(t, client.XLen(ctx, stream).Val())
	require.Contains(t, client.SMembers(ctx, NodesKey("back")).Val(), "a")
	names := consumerNames(t, client, stream)
	require.Contains(t, names, "a/boot2")
	require.NotContains(t, names, "a/boot1", "deleted by b's claim")
}

// TestRedisTakeoverChain: b dies while adopting a's stream; c, claiming b,
// takes over b's entries of both streams and a's stream too.
func TestRedisTakeoverChain(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const events = 3
	aCalls, bCalls := seqInts(0, 10), seqInts(10, 20)
	leaveCalls(t, client, "chain", "a/boot1", aCalls, events, 12)

	// b: backend down, claims a (holding about 20 of a's and its own), then
	// crashes.
	down := newOrderBackend(0)
	down.setDown(true)
	rb, err := NewRedis(ctx, client, "chain", Options{Consumer: "b/boot1", Deliver: down.deliverAs("b"),
		MaxLocal: 20, ReadBlock: 100 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	_, err = rb.ClaimNode(ctx, "a")
	require.NoError(t, err)
	for j := range events {
		for _, c := range bCalls {
			require.NoError(t, rb.Enqueue(ctx, callEntry(c, j)))
		}
	}
	require.Eventually(t, func() bool { return rb.Stats().Pending >= 20 }, waitFor, tick)
	require.NoError(t, rb.Close(ctx))
	require.Contains(t, consumerNames(t, client, StreamKey("chain", "a")), "b/boot1")

	b := newOrderBackend(0.1)
	rc := newRedis(t, client, "chain", Options{Consumer: "c/boot1", Deliver: b.deliverAs("c"),
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	_, err = rc.ClaimNode(ctx, "b")
	require.NoError(t, err)
	all := append(slices.Clone(aCalls), bCalls...)
	require.Eventually(t, func() bool { return b.distinct() == len(all)*events }, waitFor, tick)
	b.requireInOrder(t, all, events)
	for _, n := range []string{"a", "b"} {
		require.Eventually(t, func() bool { return client.Exists(ctx, StreamKey("chain", n)).Val() == 0 },
			waitFor, tick, "stream of %s deleted", n)
	}
	require.Eventually(t, func() bool { return adoptedCount(rc) == 0 }, waitFor, tick)
	require.Equal(t, []string{"c"}, client.SMembers(ctx, NodesKey("chain")).Val())
}

// TestRedisSpillKeepsOrder: the first events of a call spilled while Redis
// was down, the next ones written to the stream after it came back: the
// call still sees them in order, once each.
func TestRedisSpillKeepsOrder(t *testing.T) {
	ctx := context.Background()
	srv := redisserver.StartServer(t)
	client := newFastFailClient(t, srv.Addr())
	b := newOrderBackend(0)
	b.setDown(true)
	r := newRedis(t, client, "spill", Options{Consumer: "n/b", Deliver: b.deliverAs("n"),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	calls := seqInts(0, 10)
	require.NoError(t, srv.Stop())
	for j := range 2 {
		for _, c := range calls {
			require.NoError(t, r.Enqueue(ctx, callEntry(c, j)))
		}
	}
	require.Equal(t, 20, r.Stats().Spilled)
	srv.Restart(t)
	// Written to the stream, still held here in their place.
	require.Eventually(t, func() bool { return r.Stats().Spilled == 0 }, waitFor, tick)
	for j := 2; j < 4; j++ {
		for _, c := range calls {
			require.NoError(t, r.Enqueue(ctx, callEntry(c, j)))
		}
	}
	require.Eventually(t, func() bool { return r.Stats().Pending == 40 }, waitFor, tick)
	b.setDown(false)
	require.Eventually(t, func() bool { return b.distinct() == 40 }, waitFor, tick)
	require.Eventually(t, func() bool { s := r.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
	b.requireInOrder(t, calls, 4)
	stream := StreamKey("spill", "n")
	require.Zero(t, client.XLen(ctx, stream).Val())
	require.Zero(t, client.XPending(ctx, stream, GroupName).Val().Count)
}

func TestCompareStreamIDs(t *testing.T) {
	ids := []string{"10-0", "9-5", "9-10", "bad", "0-1", "18446744073709551615-0"}
	slices.SortFunc(ids, compareStreamIDs)
	require.Equal(t, []string{"0-1", "9-5", "9-10", "10-0", "18446744073709551615-0", "bad"}, ids)
	for _, bad := range []string{"", "1", "-1", "1-", "a-1", "1-b", "18446744073709551616-0", "+1-2"} {
		_, _, ok := parseStreamID(bad)
		require.False(t, ok, bad)
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-3", "18446744073709551615-18446744073709551615", "", "-", "1-", "x-1", "1-2-3"} {
		f.Add(s, "1-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ms, seq, ok := parseStreamID(a)
		if ok {
			if got := fmt.Sprintf("%d-%d", ms, seq); got != a {
				// Only leading zeros may differ.
				ms2, seq2, ok2 := parseStreamID(got)
				if !ok2 || ms2 != ms || seq2 != seq {
					t.Fatalf("%q parsed as %d-%d", a, ms, seq)
				}
			}
		}
		ab, ba := compareStreamIDs(a, b), compareStreamIDs(b, a)
		if ab != -ba {
			t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if compareStreamIDs(a, a) != 0 {
			t.Fatalf("compare(%q, %q) != 0", a, a)
		}
	})
}
