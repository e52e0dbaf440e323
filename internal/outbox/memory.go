package outbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// memDeadLimit bounds the dead letters a Memory keeps (like the MAXLEN of
// the Redis dead-letter stream).
const memDeadLimit = 10000

// Memory is an Outbox inside one process: the same retry, backoff,
// retention and dead-letter rules as Redis, without durability (entries
// still pending at Close or at a crash are lost). It is for single-node
// deployments on the memory store and for tests.
type Memory struct {
	o   Options
	eng *engine
	m   *metrics

	mu          sync.Mutex
	deadLetters []DeadLetter // oldest first; the last memDeadLimit count

	closeOnce sync.Once
	closeErr  error
}

// NewMemory starts a Memory outbox. It panics if o.Deliver is nil or its
// metrics are already registered on o.Registerer (programming errors).
func NewMemory(o Options) *Memory {
	if o.Deliver == nil {
		panic("outbox: NewMemory: Options.Deliver is required")
	}
	o = o.withDefaults()
	mo := &Memory{o: o}
	mo.m = newMetrics(mo.Stats)
	mo.eng = newEngine(o, mo.m, mo)
	if err := mo.m.register(o.Registerer); err != nil {
		_ = mo.eng.shutdown(context.Background())
		panic(err.Error()) // like promauto: a duplicate registration is a programming error
	}
	return mo
}

// Enqueue validates e, sets e.EnqueuedAt if zero and schedules e at once.
func (mo *Memory) Enqueue(ctx context.Context, e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", e.ID, err)
	}
	if e.EnqueuedAt.IsZero() {
		e.EnqueuedAt = mo.o.Now()
	}
	e.Attempts = 0
	e.Body = slices.Clone(e.Body) // held in memory: not the caller's buffer
	if err := mo.eng.add(&item{e: e, index: -1}, 0); err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", e.ID, err)
	}
	mo.m.enqueued.WithLabelValues(kindLabel(e.Kind)).Inc()
	return nil
}

// Close stops the workers (see Outbox.Close). The entries still undelivered
// are dropped, with a warning naming how many.
func (mo *Memory) Close(ctx context.Context) error {
	mo.closeOnce.Do(func() {
		err := mo.eng.shutdown(ctx)
		if n := mo.eng.stats().Pending; n > 0 {
			mo.o.Logger.Warn("outbox: closed with undelivered events; they are lost (memory outbox)", "count", n)
		}
		mo.closeErr = err
	})
	return mo.closeErr
}

// Stats returns what this outbox holds.
func (mo *Memory) Stats() Stats { return mo.eng.stats() }

// DeadLetters returns up to n of the most recent dead letters, newest
// first (n <= 0: all that are kept, at most 10000).
func (mo *Memory) DeadLetters(ctx context.Context, n int) ([]DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	mo.mu.Lock()
	defer mo.mu.Unlock()
	if n <= 0 || n > memDeadLimit {
		n = memDeadLimit
	}
	out := make([]DeadLetter, 0, min(n, len(mo.deadLetters)))
	for i := len(mo.deadLetters) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, mo.deadLetters[i])
	}
	return out, nil
}

// delivered implements sink: nothing to acknowledge.
func (mo *Memory) delivered(*item) {}

// dead implements sink: keep the dead letter.
func (mo *Memory) dead(it *item, reason string, cause error) {
	d := DeadLetter{Entry: it.e, Reason: reason, At: mo.o.Now()}
	if cause != nil {
		d.Error = truncate(cause.Error(), maxErrorLen)
	}
	mo.mu.Lock()
	defer mo.mu.Unlock()
	mo.deadLetters = append(mo.deadLetters, d)
	if len(mo.deadLetters) >= 2*memDeadLimit { // trim rarely: amortised O(1)
		mo.deadLetters = append(mo.deadLetters[:0], mo.deadLetters[len(mo.deadLetters)-memDeadLimit:]...)
	}
}
