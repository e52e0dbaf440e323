package cluster

import (
	"context"
	"sync"
	"time"
)

// Local is the single-process Group, for the memory store: there is no
// previous incarnation to hand over (nothing survives the process), Live is
// true for self only (until Leave or Close), Members is self, and the process
// is always its own leader, with no reaper.
type Local struct {
	mu      sync.Mutex
	self    Member
	stopped bool
}

// NewLocal returns the Group of a process alone in its region. StartedAt
// defaults to now.
func NewLocal(self Member) *Local {
	if self.StartedAt.IsZero() {
		self.StartedAt = time.Now()
	}
	self.Left = false
	return &Local{self: self}
}

// Self returns the member, with LastSeen = now while it has not stopped.
func (l *Local) Self() Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.self.LastSeen = time.Now()
	}
	return l.self
}

// Live reports whether node is this process's node and it has not stopped.
func (l *Local) Live(_ context.Context, node string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.stopped && node == l.self.Node, nil
}

// Members returns self, or nothing once stopped.
func (l *Local) Members(context.Context) ([]Member, error) {
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return nil, nil
	}
	return []Member{l.Self()}, nil
}

// IsLeader reports true until Leave or Close: the process is alone.
func (l *Local) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.stopped
}

// Leave marks the member Left. Idempotent.
func (l *Local) Leave(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.self.LastSeen = time.Now()
	}
	l.stopped = true
	l.self.Left = true
	return nil
}

// Close stops the member without leaving. Idempotent.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.self.LastSeen = time.Now()
	}
	l.stopped = true
	return nil
}
