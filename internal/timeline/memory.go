package timeline

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops expired lists (on an Append).
const sweepEvery = time.Minute

// Bounds of a Memory backend: how many calls' timelines it holds at most,
// and how many bytes of entries (a say-and-hangup call takes about 4 KB).
const (
	DefaultMemoryCalls = 50000
	DefaultMemoryBytes = 64 << 20
)

// Memory is the Backend of a node with the memory store: the Redis
// backend's rules (Limits) on lists held in the process. It also bounds
// the process's memory: beyond MaxCalls lists or MaxBytes of entries,
// the oldest lists are dropped before they expire. A list is a few byte
// slices (one per flush, each entry prefixed by its length), so that the
// garbage collector has a few objects to look at per call, not one per
// entry, and nothing is copied twice.
type Memory struct {
	limits Limits
	now    func() time.Time
	// MaxCalls caps the lists held (DefaultMemoryCalls), MaxBytes their
	// entries' bytes (DefaultMemoryBytes); set them before the first
	// Append.
	MaxCalls int
	MaxBytes int64

	mu        sync.Mutex
	lists     map[string]*memList
	order     []string // call ids in the order their lists were created
	bytes     int64    // size of every list
	lastSweep time.Time
}

type memList struct {
	// chunks hold the entries, each prefixed by its length as a uvarint;
	// one chunk per Append, allocated at its size.
	chunks  [][]byte
	n       int // entries
	size    int // bytes in chunks
	expires time.Time
}

// add appends the entries of one Append to l (each counted by the
// caller's rules: keep says which ones).
func (l *memList) add(entries [][]byte) {
	need := 0
	for _, e := range entries {
		need += binary.MaxVarintLen32 + len(e)
	}
	c := make([]byte, 0, need)
	for _, e := range entries {
		c = binary.AppendUvarint(c, uint64(len(e)))
		c = append(c, e...)
	}
	l.chunks = append(l.chunks, c)
	l.n += len(entries)
	l.size += len(c)
}

// split returns l's entries, each a copy.
func (l *memList) split() [][]byte {
	out := make([][]byte, 0, l.n)
	for _, data := range l.chunks {
		for len(data) > 0 {
			n, k := binary.Uvarint(data)
			if k <= 0 || uint64(len(data)-k) < n {
				break // cannot happen: chunks are only written by add
			}
			out = append(out, append([]byte(nil), data[k:k+int(n)]...))
			data = data[k+int(n):]
		}
	}
	return out
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty Memory backend. now is the clock (nil:
// time.Now).
func NewMemory(l Limits, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{limits: l.withDefaults(), now: now, MaxCalls: DefaultMemoryCalls, MaxBytes: DefaultMemoryBytes,
		lists: map[string]*memList{}, lastSweep: now()}
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
				m.drop(id, l)
			}
		}
		m.compact()
		m.lastSweep = now
	}
	for _, b := range batches {
		l := m.lists[b.CallID]
		if l != nil && !now.Before(l.expires) {
			m.drop(b.CallID, l) // expired
			l = nil
		}
		if l == nil {
			if len(b.Entries) == 0 {
				continue // an end with nothing stored
			}
			l = &memList{}
			m.lists[b.CallID] = l
			m.order = append(m.order, b.CallID)
		}
		kept := make([][]byte, 0, len(b.Entries))
		for _, e := range b.Entries {
			switch n := l.n + len(kept); {
			case n < m.limits.MaxEntries-1:
				kept = append(kept, e)
				res.Written++
				res.Bytes += int64(len(e))
			case n == m.limits.MaxEntries-1:
				kept = append(kept, b.Marker)
				res.Bytes += int64(len(b.Marker))
				res.Truncated++
			default:
				res.Truncated++
			}
		}
		if len(kept) > 0 {
			before := l.size
			l.add(kept)
			m.bytes += int64(l.size - before)
		}
		switch left := l.expires.Sub(now); {
		case b.Ended:
			l.expires = now.Add(m.limits.EndedTTL)
		case l.expires.IsZero() || left > m.limits.EndedTTL:
			l.expires = now.Add(m.limits.LiveTTL)
		}
	}
	m.evict()
	return res, nil
}

// drop forgets the list of id.
func (m *Memory) drop(id string, l *memList) {
	delete(m.lists, id)
	m.bytes -= int64(l.size)
}

// evict drops the oldest lists while there are more than MaxCalls, or
// more than MaxBytes of entries (the newest list is kept whatever its
// size).
func (m *Memory) evict() {
	maxCalls, maxBytes := m.MaxCalls, m.MaxBytes
	if maxCalls <= 0 {
		maxCalls = DefaultMemoryCalls
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryBytes
	}
	for (len(m.lists) > maxCalls || m.bytes > maxBytes) && len(m.order) > 1 {
		id := m.order[0]
		m.order = m.order[1:]
		if l, ok := m.lists[id]; ok {
			m.drop(id, l)
		}
	}
	if cap(m.order) > 2*maxCalls+1024 {
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
	return l.split(), nil
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
