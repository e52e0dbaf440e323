package call

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
)

// Persistence of a call's record. The actor never waits on the store: it
// hands snapshots to the call's saver, which writes them in order, newest
// wins. When the store is unreachable the call goes on from memory; the
// saver retries with backoff (a newer snapshot replaces the one it was
// retrying) and, once the call has ended, hands its final record to the
// manager's write-back, which keeps trying until the store is back.

const (
	// saveCoalesce is how long the saver waits for a newer snapshot
	// before writing: a burst of changes (ICE reply → answered →
	// executing; hangup → torn down) costs one write. Other nodes see a
	// call's state at most this late.
	saveCoalesce   = 20 * time.Millisecond
	saveTimeout    = 2 * time.Second
	saveBackoffMin = 100 * time.Millisecond
	saveBackoffMax = 5 * time.Second
)

// save hands a copy of the snapshot to the call's saver and returns at
// once. A burst of changes costs one write and the record always ends on
// the latest state.
func (c *Call) save(context.Context) {
	s := c.snap
	s.Cookies = *c.snap.Cookies.Clone()
	for {
		select {
		case c.saves <- s:
			return
		default:
			select { // a newer state supersedes the unwritten one
			case <-c.saves:
			default:
			}
		}
	}
}

// saveLoop is the saver: the only writer of the call's record after
// Create. It ends when run closes saves, after the last write (or after
// handing an unwritten last record to the write-back).
func (c *Call) saveLoop(ctx context.Context) {
	defer close(c.saved)
	var pending *Snapshot
	backoff := saveBackoffMin
	failing := false
	closed := false
	for {
		if pending == nil {
			s, ok := <-c.saves
			if !ok {
				return
			}
			pending = &s
			// Coalesce: the newest snapshot of a burst wins. The last one
			// (the channel closes once the call ended) is written at once.
			timer := time.NewTimer(saveCoalesce)
		coalesce:
			for {
				select {
				case s, ok := <-c.saves:
					if !ok {
						closed = true
						break coalesce
					}
					pending = &s
				case <-timer.C:
					break coalesce
				}
			}
			timer.Stop()
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		err := c.m.deps.Store.Save(sctx, pending)
		cancel()
		switch {
		case err == nil:
			if failing {
				c.log.Info("call record written again", "state", pending.State)
			}
			pending, failing, backoff = nil, false, saveBackoffMin
			if closed {
				return
			}
			continue
		case errors.Is(err, ErrFenced):
			c.post(ctx, func() { c.onFenced(ctx) })
			return
		}
		c.m.metrics.storeErrors.Inc()
		if !failing {
			c.log.Error("saving call record failed; the call goes on and the record is written when the store answers", "state", pending.State, "err", err)
			failing = true
		}
		if closed {
			c.m.writeBack.add(pending)
			return
		}
		select {
		case s, ok := <-c.saves:
			if !ok {
				c.m.writeBack.add(pending)
				return
			}
			pending = &s
		case <-time.After(backoff):
			backoff = min(2*backoff, saveBackoffMax)
		}
	}
}

// onFenced stops a call that another node finalized (and sent the DiCE
// of) while this node was cut off from the store: the legs are hung up,
// and no event is sent again.
func (c *Call) onFenced(ctx context.Context) {
	if c.snap.State == StateEnding || c.snap.State == StateEnded {
		return
	}
	c.log.Error("call was taken over by another node while this node was cut off from the store; hanging up without events")
	c.m.metrics.fenced.Inc()
	c.suppressed = true
	c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
}

// writeBack holds the final records of ended calls that the store did not
// take, and writes them when it answers again.
type writeBack struct {
	m       *Manager
	mu      sync.Mutex
	pending map[string]*Snapshot
	running bool
	wake    chan struct{}
}

func (w *writeBack) add(s *Snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[string]*Snapshot{}
		w.wake = make(chan struct{}, 1)
	}
	w.pending[s.ID] = s
	w.m.metrics.unsaved.Set(float64(len(w.pending)))
	if !w.running {
		w.running = true
		go w.loop()
	}
}

// kick makes the loop try at once (the store is back).
func (w *writeBack) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wake != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *writeBack) loop() {
	backoff := saveBackoffMin
	for {
		w.mu.Lock()
		batch := make([]*Snapshot, 0, len(w.pending))
		for _, s := range w.pending {
			batch = append(batch, s)
		}
		w.mu.Unlock()
		failed := false
		for _, s := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
			err := w.m.deps.Store.Save(ctx, s)
			cancel()
			if err != nil && !errors.Is(err, ErrFenced) && !errors.Is(err, ErrCallNotFound) {
				failed = true
				break
			}
			w.mu.Lock()
			if w.pending[s.ID] == s {
				delete(w.pending, s.ID)
			}
			w.m.metrics.unsaved.Set(float64(len(w.pending)))
			w.mu.Unlock()
			if err != nil {
				w.m.log.Warn("final call record not written back", "call_id", s.ID, "err", err)
			}
		}
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.running = false
			w.mu.Unlock()
			if len(batch) > 0 {
				w.m.log.Info("final call records written back", "records", len(batch))
			}
			return
		}
		w.mu.Unlock()
		if !failed {
			backoff = saveBackoffMin
		}
		select {
		case <-w.wake:
		case <-time.After(backoff):
			backoff = min(2*backoff, saveBackoffMax)
		}
	}
}
