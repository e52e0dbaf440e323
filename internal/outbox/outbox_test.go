package outbox

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestMemory(t *testing.T) {
	runShared(t, memoryFactory)
}

func TestRedisShared(t *testing.T) {
	runShared(t, redisFactory(t))
}

func TestMemoryNilDeliverPanics(t *testing.T) {
	require.Panics(t, func() { NewMemory(Options{}) })
}

// runShared is the behaviour Memory and Redis share.
func runShared(t *testing.T, newOB factory) {
	ctx := context.Background()
	fast := func(o Options) Options {
		o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
		return o
	}

	t.Run("each entry delivered once", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		reg := prometheus.NewRegistry()
		ob := newOB(t, Options{Deliver: rec.deliver, Registerer: reg})
		const n = 200
		for i := range n {
			require.NoError(t, ob.Enqueue(ctx, entry(i)))
		}
		require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
		require.Eventually(t, func() bool { s := ob.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
		rec.requireAllOnce(t, n)
		require.EqualValues(t, n, metricValue(t, reg, "callcore_outbox_enqueued_total", "kind", "dice"))
		require.EqualValues(t, n, metricValue(t, reg, "callcore_outbox_delivered_total", "kind", "dice"))
		require.EqualValues(t, n, metricValue(t, reg, "callcore_outbox_attempts_total", "outcome", "ok"))
		require.EqualValues(t, n, metricValue(t, reg, "callcore_outbox_delivery_latency_seconds", "kind", "dice"))
		require.Zero(t, metricValue(t, reg, "callcore_outbox_pending"))
	})

	t.Run("entry reaches DeliverFunc intact", func(t *testing.T) {
		t.Parallel()
		clock := newFixedClock(time.Unix(1_800_000_000, 42))
		rec := newRecorder()
		ob := newOB(t, Options{Deliver: rec.deliver, Now: clock.Now})
		e := entry(1)
		e.Kind = KindNotify
		e.FallbackURL = "https://fallback.example/"
		e.Attempts = 9 // ignored
		require.NoError(t, ob.Enqueue(ctx, e))
		require.Eventually(t, func() bool { return rec.distinct() == 1 }, waitFor, tick)
		got := rec.entries[0]
		want := e
		want.EnqueuedAt = clock.Now()
		want.Attempts = 1
		require.True(t, want.EnqueuedAt.Equal(got.EnqueuedAt))
		got.EnqueuedAt = want.EnqueuedAt
		require.Equal(t, want, got)
	})

	t.Run("backend down then up: every entry delivered once", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		rec.fail.Store(true)
		reg := prometheus.NewRegistry()
		ob := newOB(t, fast(Options{Deliver: rec.deliver, Registerer: reg}))
		const n = 30
		for i := range n {
			require.NoError(t, ob.Enqueue(ctx, entry(i)))
		}
		require.Eventually(t, func() bool { return rec.calls.Load() >= 3*n && ob.Stats().Pending == n }, waitFor, tick)
		require.Zero(t, rec.distinct())
		rec.fail.Store(false)
		require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
		require.Eventually(t, func() bool { s := ob.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
		rec.requireAllOnce(t, n)
		require.GreaterOrEqual(t, metricValue(t, reg, "callcore_outbox_attempts_total", "outcome", "retry"), float64(2*n))
		require.Zero(t, metricValue(t, reg, "callcore_outbox_dead_lettered_total"))
	})

	t.Run("retention expiry dead-letters", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		rec.fail.Store(true)
		reg := prometheus.NewRegistry()
		logs := &logBuffer{}
		o := fast(Options{Deliver: rec.deliver, Registerer: reg, Retention: 200 * time.Millisecond, Logger: logs.logger()})
		ob := newOB(t, o)
		const n = 5
		for i := range n {
			require.NoError(t, ob.Enqueue(ctx, entry(i)))
		}
		var dead []DeadLetter
		require.Eventually(t, func() bool {
			var err error
			dead, err = ob.DeadLetters(ctx, 0)
			return err == nil && len(dead) == n
		}, waitFor, tick)
		ids := map[string]bool{}
		for _, d := range dead {
			require.Equal(t, ReasonExpired, d.Reason)
			require.Equal(t, errBackendDown.Error(), d.Error)
			require.GreaterOrEqual(t, d.Entry.Attempts, 2)
			require.Equal(t, "app", d.Entry.AppKey)
			require.False(t, d.At.IsZero())
			ids[d.Entry.ID] = true
		}
		require.Len(t, ids, n)
		require.Eventually(t, func() bool { s := ob.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
		require.EqualValues(t, n, metricValue(t, reg, "callcore_outbox_dead_lettered_total", "kind", "dice", "reason", "expired"))
		lines := strings.Split(strings.TrimSpace(filterLines(logs.String(), "outbox: event dead-lettered")), "\n")
		require.Len(t, lines, n)
		for _, line := range lines {
			require.Contains(t, line, "level=ERROR")
			require.Contains(t, line, "call_id=call-")
			require.Contains(t, line, "event_id=evt-")
			require.Contains(t, line, "reason=expired")
		}
	})

	t.Run("permanent error dead-letters at once", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int64
		reg := prometheus.NewRegistry()
		ob := newOB(t, fast(Options{Registerer: reg, Deliver: func(context.Context, Entry) error {
			calls.Add(1)
			return Permanent(errors.New("app no longer exists"))
		}}))
		for i := range 3 {
			require.NoError(t, ob.Enqueue(ctx, entry(i)))
		}
		var dead []DeadLetter
		require.Eventually(t, func() bool {
			var err error
			dead, err = ob.DeadLetters(ctx, 10)
			return err == nil && len(dead) == 3
		}, waitFor, tick)
		for _, d := range dead {
			require.Equal(t, ReasonPermanent, d.Reason)
			require.Equal(t, "app no longer exists", d.Error)
			require.Equal(t, 1, d.Entry.Attempts)
		}
		require.Eventually(t, func() bool { s := ob.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
		require.EqualValues(t, 3, calls.Load())
		require.EqualValues(t, 3, metricValue(t, reg, "callcore_outbox_attempts_total", "outcome", "permanent"))
		require.EqualValues(t, 3, metricValue(t, reg, "callcore_outbox_dead_lettered_total", "reason", "permanent"))
	})

	t.Run("a panicking DeliverFunc is retried", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		var calls atomic.Int64
		ob := newOB(t, fast(Options{Deliver: func(ctx context.Context, e Entry) error {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return rec.deliver(ctx, e)
		}}))
		require.NoError(t, ob.Enqueue(ctx, entry(0)))
		require.Eventually(t, func() bool { return rec.distinct() == 1 }, waitFor, tick)
		require.Equal(t, 2, rec.entries[0].Attempts)
	})

	t.Run("a failing event holds back the later events of its call only", func(t *testing.T) {
		t.Parallel()
		var release atomic.Bool
		var mu sync.Mutex
		var order []string
		calls := map[string]int{}
		attempts := map[string]int{}
		ob := newOB(t, fast(Options{Deliver: func(_ context.Context, e Entry) error {
			mu.Lock()
			defer mu.Unlock()
			calls[e.ID]++
			if (e.ID == "x0" || e.ID == "z0") && !release.Load() {
				return errBackendDown
			}
			order = append(order, e.ID)
			attempts[e.ID] = e.Attempts
			return nil
		}}))
		mk := func(id, call string) Entry {
			e := entry(0)
			e.ID, e.CallID = id, call
			return e
		}
		// x0 fails until released; y is another call; z0 and z1 have no
		// call id: no order between them.
		for _, e := range []Entry{mk("x0", "X"), mk("z0", ""), mk("x1", "X"), mk("y0", "Y"),
			mk("x2", "X"), mk("z1", ""), mk("y1", "Y")} {
			require.NoError(t, ob.Enqueue(ctx, e))
		}
		snapshot := func() ([]string, map[string]int) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(order), maps.Clone(calls)
		}
		require.Eventually(t, func() bool {
			o, c := snapshot()
			return len(o) == 3 && c["x0"] >= 3 && c["z0"] >= 3
		}, waitFor, tick)
		o, c := snapshot()
		require.ElementsMatch(t, []string{"y0", "y1", "z1"}, o)
		require.Less(t, slices.Index(o, "y0"), slices.Index(o, "y1"))
		require.Zero(t, c["x1"], "x1 must wait for x0")
		require.Zero(t, c["x2"], "x2 must wait for x0")
		require.Equal(t, 4, ob.Stats().Pending, "x0, x1, x2 and z0 pending")
		release.Store(true)
		require.Eventually(t, func() bool { o, _ := snapshot(); return len(o) == 7 }, waitFor, tick)
		o, c = snapshot()
		var xs []string
		for _, id := range o {
			if strings.HasPrefix(id, "x") {
				xs = append(xs, id)
			}
		}
		require.Equal(t, []string{"x0", "x1", "x2"}, xs)
		mu.Lock()
		defer mu.Unlock()
		for _, id := range []string{"x1", "x2", "y0", "y1", "z1"} {
			require.Equal(t, 1, c[id], id)
			require.Equal(t, 1, attempts[id], "%s: waiting is not an attempt", id)
		}
		require.Equal(t, c["x0"], attempts["x0"])
	})

	t.Run("a dead-lettered event lets the next of its call go", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		ob := newOB(t, fast(Options{Deliver: func(ctx context.Context, e Entry) error {
			if e.ID == "p0" {
				return Permanent(errors.New("gone"))
			}
			return rec.deliver(ctx, e)
		}}))
		for _, id := range []string{"p0", "p1", "p2"} {
			e := entry(0)
			e.ID, e.CallID = id, "P"
			require.NoError(t, ob.Enqueue(ctx, e))
		}
		require.Eventually(t, func() bool { return rec.distinct() == 2 }, waitFor, tick)
		require.Equal(t, []string{"p1", "p2"}, []string{rec.entries[0].ID, rec.entries[1].ID})
		dead, err := ob.DeadLetters(ctx, 0)
		require.NoError(t, err)
		require.Len(t, dead, 1)
		require.Equal(t, "p0", dead[0].Entry.ID)
	})

	t.Run("invalid entries are refused", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		ob := newOB(t, Options{Deliver: rec.deliver})
		for name, mut := range map[string]func(*Entry){
			"empty id":  func(e *Entry) { e.ID = "" },
			"long id":   func(e *Entry) { e.ID = strings.Repeat("x", 129) },
			"bad kind":  func(e *Entry) { e.Kind = "DiCE" },
			"empty url": func(e *Entry) { e.URL = "" },
		} {
			e := entry(0)
			mut(&e)
			require.ErrorIs(t, ob.Enqueue(ctx, e), ErrInvalidEntry, name)
		}
		require.Zero(t, ob.Stats().Pending)
	})

	t.Run("enqueue after close fails; close is idempotent", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder()
		ob := newOB(t, Options{Deliver: rec.deliver})
		require.NoError(t, ob.Close(ctx))
		require.ErrorIs(t, ob.Enqueue(ctx, entry(0)), ErrClosed)
		require.NoError(t, ob.Close(ctx))
	})

	t.Run("close waits for running deliveries", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		release := make(chan struct{})
		var finished atomic.Bool
		ob := newOB(t, Options{Deliver: func(context.Context, Entry) error {
			close(started)
			<-release
			finished.Store(true)
			return nil
		}})
		require.NoError(t, ob.Enqueue(ctx, entry(0)))
		<-started
		go func() {
			time.Sleep(20 * time.Millisecond) // let Close start waiting
			close(release)
		}()
		require.NoError(t, ob.Close(ctx))
		require.True(t, finished.Load(), "Close returned before the delivery finished")
		require.Zero(t, ob.Stats().InFlight)
	})

	t.Run("close bounded by ctx cancels deliveries", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		var sawCancel atomic.Bool
		ob := newOB(t, Options{Deliver: func(ctx context.Context, _ Entry) error {
			close(started)
			<-ctx.Done()
			sawCancel.Store(true)
			return ctx.Err()
		}})
		require.NoError(t, ob.Enqueue(ctx, entry(0)))
		<-started
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := ob.Close(cctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.True(t, sawCancel.Load())
		require.Equal(t, 1, ob.Stats().Pending, "the entry is left pending")
	})

	t.Run("stats and gauges", func(t *testing.T) {
		t.Parallel()
		clock := newFixedClock(time.Unix(1_800_000_000, 0))
		rec := newRecorder()
		rec.fail.Store(true)
		reg := prometheus.NewRegistry()
		ob := newOB(t, Options{Deliver: rec.deliver, Now: clock.Now, Registerer: reg, MinBackoff: time.Hour})
		e1, e2 := entry(1), entry(2)
		e1.EnqueuedAt = clock.Now().Add(-10 * time.Second)
		e2.EnqueuedAt = clock.Now().Add(-3 * time.Second)
		require.NoError(t, ob.Enqueue(ctx, e1))
		require.NoError(t, ob.Enqueue(ctx, e2))
		require.Eventually(t, func() bool { return rec.calls.Load() >= 2 && ob.Stats().InFlight == 0 }, waitFor, tick)
		s := ob.Stats()
		require.Equal(t, 2, s.Pending)
		require.Zero(t, s.Spilled)
		require.Equal(t, 10*time.Second, s.OldestPendingAge)
		require.EqualValues(t, 2, metricValue(t, reg, "callcore_outbox_pending"))
		require.EqualValues(t, 10, metricValue(t, reg, "callcore_outbox_oldest_pending_age_seconds"))
		require.Zero(t, metricValue(t, reg, "callcore_outbox_spilled"))
	})
}

// filterLines returns the lines of s that contain substr.
func filterLines(s, substr string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			b.WriteString(line)
		}
	}
	return b.String()
}
