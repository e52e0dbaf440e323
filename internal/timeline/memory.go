package timeline

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops expired lists (on an Append).
const sweepEvery = time.Minute

// DefaultMemoryCalls is how many calls' timelines a Memory backend holds
// at most (a say-and-hangup call takes about 5 KB).
const DefaultMemoryCalls = 50000

// Memory is the Backend of a node with the memory store: the Redis
// backend's rules (Limits) on lists held in the process. It also bounds
// the process's memory: beyond MaxCalls lists, the oldest are dropped
// before they expire.
type Memory struct {
	limits Limits
	now    func() time.Time
	// MaxCalls caps the lists held (DefaultMemoryCalls); set it before
	// the first Append.
	MaxCalls int

	mu        sync.Mutex
	lists     map[string]*memList
	order     []string // call ids in the order their lists were created
	lastSweep time.Time
}

type memList struct {
	entries [][]byte
	expires time.Time
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty Memory backend. now is the clock (nil:
// time.Now).
func NewMemory(l Limits, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{limits: l.withDefaults(), now: now, MaxCalls: DefaultMemoryCalls, lists: map[string]*memList{}, lastSweep: now()}
}

// Append implements Backend.
func (m *Memory) Append(_ context.Context, batches []Batch) (AppendResult, error) {
	var res AppendResult
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= sweepEvery {
		for id, l := range m.lists {
			if !now.Before(l.expires) {
				delete(m.lists, id)
			}
		}
		m.compact()
		m.lastSweep = now
	}
	for _, b := range batches {
		l := m.lists[b.CallID]
		if l != nil && !now.Before(l.expires) {
			l = nil // expired
		}
		if l == nil {
			if len(b.Entries) == 0 {
				continue // an end with nothing stored
			}
			l = &memList{}
			m.lists[b.CallID] = l
			m.order = append(m.order, b.CallID)
			m.evict()
		}
		for _, e := range b.Entries {
			switch n := len(l.entries); {
			case n < m.limits.MaxEntries-1:
				// A copy: e may share its array with a whole flush.
				l.entries = append(l.entries, append([]byte(nil), e...))
				res.Written++
				res.Bytes += int64(len(e))
			case n == m.limits.MaxEntries-1:
				l.entries = append(l.entries, b.Marker)
				res.Bytes += int64(len(b.Marker))
				res.Truncated++
			default:
				res.Truncated++
			}
		}
		switch left := l.expires.Sub(now); {
		case b.Ended:
			l.expires = now.Add(m.limits.EndedTTL)
		case l.expires.IsZero() || left > m.limits.EndedTTL:
			l.expires = now.Add(m.limits.LiveTTL)
		}
	}
	return res, nil
}

// evict drops the oldest lists while there are more than MaxCalls.
func (m *Memory) evict() {
	max := m.MaxCalls
	if max <= 0 {
		max = DefaultMemoryCalls
	}
	for len(m.lists) > max && len(m.order) > 0 {
		id := m.order[0]
		m.order = m.order[1:]
		delete(m.lists, id)
	}
	if cap(m.order) > 2*max+1024 {
		m.compact()
	}
}

// compact drops the ids of lists that are gone from order.
func (m *Memory) compact() {
	kept := make([]string, 0, len(m.lists))
	seen := make(map[string]bool, len(m.lists))
	for _, id := range m.order {
		if _, ok := m.lists[id]; ok && !seen[id] {
			seen[id] = true
			kept = append(kept, id)
		}
	}
	m.order = kept
}

// Read implements Backend.
func (m *Memory) Read(_ context.Context, callID string) ([][]byte, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[callID]
	if l == nil || !now.Before(l.expires) {
		return nil, nil
	}
	return append([][]byte(nil), l.entries...), nil
}

// TTL returns how long a call's list has left (0 if there is none); for
// tests and diagnostics.
func (m *Memory) TTL(callID string) time.Duration {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[callID]
	if l == nil || !now.Before(l.expires) {
		return 0
	}
	return l.expires.Sub(now)
}
