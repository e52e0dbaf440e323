package outbox

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// item is one entry held by this process.
//
// An item is in exactly one of these states: ready (in the heap), waiting
// (behind an earlier item of the same key, see engine.keys), running (handed
// to a worker) or taken (out of the heap while a spill flush writes it to
// the stream).
type item struct {
	e        Entry
	stream   string    // outbox stream key of streamID; "" for Memory and spilled entries
	streamID string    // id in the outbox stream; "" for Memory and spilled entries
	spilled  bool      // held only in memory because Redis was unreachable
	due      time.Time // next attempt (real clock)
	index    int       // in the heap; -1 when not in it
	seq      uint64    // arrival order in the engine
	next     *item     // next item of the same key, waiting behind this one
	running  bool      // handed to a worker
	taken    bool      // taken by takeSpilled, not dispatched until finishFlush
}

// keyQueue is the FIFO of the items of one key (CallID): head is ready,
// running or taken, the items linked from it wait.
type keyQueue struct{ head, tail *item }

// itemHeap orders items by due time.
type itemHeap []*item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *itemHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	it.index = -1
	*h = old[:n-1]
	return it
}

// sink is told what became of an item: delivered or given up on. It runs
// on a worker goroutine and must not block for long.
type sink interface {
	delivered(it *item)
	dead(it *item, reason string, cause error)
}

// engine is the local scheduler shared by Memory and Redis: a timer heap of
// the entries this process holds, one dispatcher goroutine and a pool of
// workers that call Deliver.
//
// Entries with the same non-empty CallID (the key) are delivered one at a
// time in arrival order: only the oldest entry of a key is in the heap (or
// running); the later ones wait in keys, linked from it, without an attempt,
// and the next one becomes ready when the oldest is delivered or
// dead-lettered. The waiting entries are counted in pending, so that the
// bounds of the callers (Options.MaxLocal, Options.SpillLimit) cover them:
// a key costs one map entry and a pointer per waiting item.
type engine struct {
	o    Options
	log  *slog.Logger
	m    *metrics
	sink sink

	mu       sync.Mutex
	queue    itemHeap
	pending  map[*item]struct{}
	keys     map[string]keyQueue // keys with an entry held; its FIFO
	seq      uint64
	spilled  int
	inFlight int
	closing  bool

	wake         chan struct{}
	work         chan *item
	stop         chan struct{}
	dispatchDone chan struct{}
	workers      sync.WaitGroup
	runCtx       context.Context
	cancelRun    context.CancelFunc
}

// newEngine starts the dispatcher and the workers. o has its defaults.
func newEngine(o Options, m *metrics, s sink) *engine {
	g := &engine{
		o:            o,
		log:          o.Logger,
		m:            m,
		sink:         s,
		pending:      make(map[*item]struct{}),
		keys:         make(map[string]keyQueue),
		wake:         make(chan struct{}, 1),
		work:         make(chan *item),
		stop:         make(chan struct{}),
		dispatchDone: make(chan struct{}),
	}
	g.runCtx, g.cancelRun = context.WithCancel(context.Background())
	g.workers.Add(o.Workers)
	for range o.Workers {
		go g.worker()
	}
	go g.dispatch()
	return g
}

// add takes it over and schedules it now, or after the entries of its key
// held already. A spilled item is refused beyond limit.
func (g *engine) add(it *item, limit int) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return ErrClosed
	}
	if it.spilled {
		if g.spilled >= limit {
			g.mu.Unlock()
			return ErrSpillFull
		}
		g.spilled++
	}
	g.seq++
	it.seq = g.seq
	it.next = nil
	g.pending[it] = struct{}{}
	ready := true
	if key := it.e.CallID; key != "" {
		if kq, ok := g.keys[key]; ok {
			kq.tail.next = it
			kq.tail = it
			g.keys[key] = kq
			ready = false
		} else {
			g.keys[key] = keyQueue{head: it, tail: it}
		}
	}
	if ready {
		it.due = time.Now()
		heap.Push(&g.queue, it)
	}
	g.mu.Unlock()
	if ready {
		g.signal()
	}
	return nil
}

func (g *engine) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// isHead reports whether it is the oldest entry of its key (or has no
// key). g.mu is held.
func (g *engine) isHead(it *item) bool {
	key := it.e.CallID
	return key == "" || g.keys[key].head == it
}

// finish forgets it (delivered or dead-lettered) and makes the next entry
// of its key ready. g.mu is held; it reports whether an item became ready.
func (g *engine) finish(it *item) bool {
	delete(g.pending, it)
	if it.spilled {
		g.spilled--
	}
	key := it.e.CallID
	if key == "" {
		return false
	}
	kq, ok := g.keys[key]
	if !ok || kq.head != it {
		return false // not reached: only the head of a key runs
	}
	next := it.next
	it.next = nil
	if next == nil {
		delete(g.keys, key)
		return false
	}
	kq.head = next
	g.keys[key] = kq
	if next.taken {
		return false // finishFlush makes it ready
	}
	next.due = time.Now()
	heap.Push(&g.queue, next)
	return true
}

// takeSpilled removes up to max spilled items that are not running from
// scheduling, oldest first, and returns them: the caller writes them to the
// stream and hands them back to finishFlush. An item waiting behind a
// running spilled item of its key is left for a later call, so that the
// entries of a key reach the stream in their order.
func (g *engine) takeSpilled(max int) []*item {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spilled == 0 || g.closing {
		return nil
	}
	var out []*item
	for it := range g.pending {
		if !it.spilled || it.running || it.taken {
			continue
		}
		if key := it.e.CallID; key != "" {
			if h := g.keys[key].head; h != nil && h != it && h.running && h.spilled {
				continue
			}
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
	if len(out) > max {
		clear(out[max:])
		out = out[:max]
	}
	for _, it := range out {
		it.taken = true
		if it.index >= 0 {
			heap.Remove(&g.queue, it.index)
		}
	}
	return out
}

// finishFlush hands back the items of takeSpilled: those with a non-empty
// ids[i] were written to stream with that id and are stream entries from now
// on, in the same place of their key's FIFO; the others stay spilled. Each is
// scheduled again if it is the head of its key (at its earlier due time: a
// backoff is kept).
func (g *engine) finishFlush(its []*item, stream string, ids []string) {
	g.mu.Lock()
	ready := false
	for i, it := range its {
		it.taken = false
		if i < len(ids) && ids[i] != "" && it.spilled {
			it.stream, it.streamID, it.spilled = stream, ids[i], false
			g.spilled--
		}
		if _, ok := g.pending[it]; ok && it.index < 0 && !it.running && g.isHead(it) {
			if it.due.IsZero() {
				it.due = time.Now()
			}
			heap.Push(&g.queue, it)
			ready = true
		}
	}
	g.mu.Unlock()
	if ready {
		g.signal()
	}
}

// pendingSpilled returns the spilled items not delivered yet, oldest first,
// for a last flush at Close (the engine must be shut down).
func (g *engine) pendingSpilled() []*item {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*item
	for it := range g.pending {
		if it.spilled && !it.taken {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// stats returns the engine's part of Stats.
func (g *engine) stats() Stats {
	now := g.o.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Stats{Pending: len(g.pending), Spilled: g.spilled, InFlight: g.inFlight}
	var oldest time.Time
	for it := range g.pending {
		if oldest.IsZero() || it.e.EnqueuedAt.Before(oldest) {
			oldest = it.e.EnqueuedAt
		}
	}
	if !oldest.IsZero() {
		if s.OldestPendingAge = now.Sub(oldest); s.OldestPendingAge < 0 {
			s.OldestPendingAge = 0
		}
	}
	return s
}

// dispatch hands due items to the workers.
func (g *engine) dispatch() {
	defer close(g.dispatchDone)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		g.mu.Lock()
		var next *item
		wait := time.Hour
		if len(g.queue) > 0 {
			if d := time.Until(g.queue[0].due); d <= 0 {
				next = heap.Pop(&g.queue).(*item)
				next.running = true
				g.inFlight++
			} else {
				wait = d
			}
		}
		g.mu.Unlock()
		if next != nil {
			select {
			case g.work <- next:
				continue
			case <-g.stop:
				g.mu.Lock()
				g.inFlight--
				next.running = false
				heap.Push(&g.queue, next)
				g.mu.Unlock()
				return
			}
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-g.wake:
		case <-g.stop:
			return
		}
	}
}

func (g *engine) worker() {
	defer g.workers.Done()
	for it := range g.work {
		g.attempt(it)
	}
}

// attempt makes one delivery attempt of it and decides what comes next.
// Metrics and the sink are updated before the entry stops being pending, so
// that an observer who sees nothing pending sees the outcome complete.
func (g *engine) attempt(it *item) {
	it.e.Attempts++
	e := it.e // it belongs to another worker once back in the heap
	err := g.call(it)
	now := g.o.Now()
	log := g.log.With("call_id", e.CallID, "event_id", e.ID, "kind", e.Kind, "attempt", e.Attempts)

	g.mu.Lock()
	closing := g.closing
	g.mu.Unlock()
	var reason string
	switch {
	case err == nil:
	case IsPermanent(err):
		reason = ReasonPermanent
	case closing:
		// Left as it is: pending for this consumer in Redis, dropped by
		// Memory.
		g.m.attempt(e.Kind, outcomeRetry)
		g.mu.Lock()
		g.inFlight--
		it.running = false
		g.mu.Unlock()
		return
	case !now.Before(e.EnqueuedAt.Add(g.o.Retention)):
		reason = ReasonExpired
	default:
		g.m.attempt(e.Kind, outcomeRetry)
		backoff := g.backoff(e.Attempts)
		due := time.Now().Add(backoff)
		if deadline := time.Now().Add(e.EnqueuedAt.Add(g.o.Retention).Sub(now)); due.After(deadline) {
			due = deadline // one last attempt when the retention ends
		}
		lvl := slog.LevelDebug
		if e.Attempts == 1 {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "outbox: delivery failed, will retry",
			"error", err, "retry_in", backoff)
		g.mu.Lock()
		g.inFlight--
		it.running = false
		it.due = due // the later entries of its key keep waiting meanwhile
		heap.Push(&g.queue, it)
		g.mu.Unlock()
		g.signal()
		return
	}

	if err == nil {
		g.m.attempt(e.Kind, outcomeOK)
		g.m.deliveredAfter(e.Kind, now.Sub(e.EnqueuedAt))
		log.Debug("outbox: delivered")
		g.sink.delivered(it)
	} else {
		if reason == ReasonPermanent {
			g.m.attempt(e.Kind, outcomePermanent)
		} else {
			g.m.attempt(e.Kind, outcomeRetry)
		}
		g.m.deadLettered(e.Kind, reason)
		log.Error("outbox: event dead-lettered", "reason", reason, "error", err,
			"age", now.Sub(e.EnqueuedAt), "url_host", urlHost(e.URL))
		g.sink.dead(it, reason, err)
	}
	g.mu.Lock()
	g.inFlight--
	it.running = false
	ready := g.finish(it)
	g.mu.Unlock()
	if ready {
		g.signal()
	}
}

// call runs Deliver with a timeout, turning a panic into an error.
func (g *engine) call(it *item) (err error) {
	ctx, cancel := context.WithTimeout(g.runCtx, g.o.AttemptTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("outbox: DeliverFunc panicked", "call_id", it.e.CallID, "event_id", it.e.ID,
				"panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("outbox: DeliverFunc panicked: %v", p)
		}
	}()
	return g.o.Deliver(ctx, it.e)
}

// backoff returns the delay before attempt n+1: full jitter over an
// exponential ceiling.
func (g *engine) backoff(n int) time.Duration {
	return fullJitter(g.o.MinBackoff, g.o.MaxBackoff, n)
}

// fullJitter returns a uniformly random duration in [0, min(max, min·2^(n-1))].
func fullJitter(min, max time.Duration, n int) time.Duration {
	ceil := min
	for i := 1; i < n && ceil < max; i++ {
		ceil *= 2
	}
	if ceil > max {
		ceil = max
	}
	return rand.N(ceil + 1)
}

// shutdown stops dispatching, waits for the running attempts (cancelling
// them when ctx ends, then still waiting) and returns ctx's error if it
// ended first. Items not delivered stay pending.
func (g *engine) shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	g.mu.Unlock()
	close(g.stop)
	<-g.dispatchDone
	close(g.work)
	done := make(chan struct{})
	go func() {
		g.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("outbox: close: deliveries still running: %w", ctx.Err())
		g.cancelRun()
		<-done
	}
	g.cancelRun()
	return err
}

// urlHost returns the host of a callback URL for logs (never its path,
// query or credentials).
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Host
}
