package rooms

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is a Store in process memory, for a single node: the same
// semantics as Redis, with leases and the RecordTTL safety net on the
// Options.Now clock (lazily: an expired room disappears when next looked
// at).
type Memory struct {
	now func() time.Time
	m   *metrics

	mu     sync.Mutex
	rooms  map[RoomKey]*memRoom
	byNode map[string]map[RoomKey]struct{} // rooms with participants on a node
	epoch  int64                           // last HostEpoch given
}

// memRoom is one room of a Memory.
type memRoom struct {
	parts      map[string]Participant // by CallID
	host       string                 // "" when no lease was taken or it was dropped
	leaseUntil time.Time              // the lease is live before it
	epoch      int64
	expires    time.Time // RecordTTL after the last write
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory. It panics if opts.Registerer holds
// different collectors under the metric names (a programming error).
func NewMemory(opts Options) *Memory {
	opts = opts.withDefaults()
	return &Memory{
		now:    opts.Now,
		m:      mustMetrics(opts.Registerer),
		rooms:  make(map[RoomKey]*memRoom),
		byNode: make(map[string]map[RoomKey]struct{}),
	}
}

// lookup returns the room rk, deleting it first if its record expired;
// nil if none. Call with mu held.
func (s *Memory) lookup(rk RoomKey, now time.Time) *memRoom {
	r := s.rooms[rk]
	if r != nil && !now.Before(r.expires) {
		s.drop(rk, r)
		return nil
	}
	return r
}

// drop deletes room rk and its index entries. Call with mu held.
func (s *Memory) drop(rk RoomKey, r *memRoom) {
	for _, p := range r.parts {
		s.unindex(p.Node, rk)
	}
	delete(s.rooms, rk)
}

// unindex removes rk from the index of node. Call with mu held.
func (s *Memory) unindex(node string, rk RoomKey) {
	if set := s.byNode[node]; set != nil {
		delete(set, rk)
		if len(set) == 0 {
			delete(s.byNode, node)
		}
	}
}

// hasNode reports whether r has a participant on node.
func (r *memRoom) hasNode(node string) bool {
	for _, p := range r.parts {
		if p.Node == node {
			return true
		}
	}
	return false
}

// liveHost returns the holder of a live lease, or "".
func (r *memRoom) liveHost(now time.Time) string {
	if r.host != "" && now.Before(r.leaseUntil) {
		return r.host
	}
	return ""
}

// take gives a new lease to node. Call with mu held.
func (s *Memory) take(r *memRoom, node string, ttl time.Duration, now time.Time) {
	s.epoch++
	r.host, r.leaseUntil, r.epoch = node, now.Add(ttl), s.epoch
}

// snapshot copies r. Call with mu held.
func (r *memRoom) snapshot(rk RoomKey, now time.Time) Room {
	room := Room{App: rk.App, ID: rk.ID, Host: r.liveHost(now), HostEpoch: r.epoch,
		Participants: make([]Participant, 0, len(r.parts))}
	for _, p := range r.parts {
		room.Participants = append(room.Participants, p)
	}
	sortParticipants(room.Participants)
	return room
}

// Join implements Store.
func (s *Memory) Join(ctx context.Context, app, id string, p Participant, node string, ttl time.Duration) (_ Room, err error) {
	defer s.m.observe(opJoin, time.Now(), &err)
	if err := checkJoin(app, id, p, node, ttl); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return Room{}, fmt.Errorf("rooms: join %s: %w", rk, err)
	}
	p.JoinedAt = p.JoinedAt.Round(0) // as a JSON round trip leaves it
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.lookup(rk, now)
	if r == nil {
		r = &memRoom{parts: make(map[string]Participant)}
		s.rooms[rk] = r
	}
	if old, ok := r.parts[p.CallID]; ok && old.Node != p.Node {
		delete(r.parts, p.CallID)
		if !r.hasNode(old.Node) {
			s.unindex(old.Node, rk)
		}
	}
	r.parts[p.CallID] = p
	if s.byNode[p.Node] == nil {
		s.byNode[p.Node] = make(map[RoomKey]struct{})
	}
	s.byNode[p.Node][rk] = struct{}{}
	if r.liveHost(now) == "" {
		s.take(r, node, ttl, now)
	}
	r.expires = now.Add(RecordTTL)
	return r.snapshot(rk, now), nil
}

// Leave implements Store.
func (s *Memory) Leave(ctx context.Context, app, id, callID string) (_ int, err error) {
	defer s.m.observe(opLeave, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return 0, err
	}
	if err := checkName("call id", callID); err != nil {
		return 0, err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("rooms: leave %s: %w", rk, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.lookup(rk, now)
	if r == nil {
		return 0, nil
	}
	p, ok := r.parts[callID]
	if !ok {
		return len(r.parts), nil
	}
	delete(r.parts, callID)
	if !r.hasNode(p.Node) {
		s.unindex(p.Node, rk)
	}
	if len(r.parts) == 0 {
		s.drop(rk, r)
		return 0, nil
	}
	r.expires = now.Add(RecordTTL)
	return len(r.parts), nil
}

// Get implements Store.
func (s *Memory) Get(ctx context.Context, app, id string) (_ Room, err error) {
	defer s.m.observe(opGet, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return Room{}, fmt.Errorf("rooms: get %s: %w", rk, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.lookup(rk, now)
	if r == nil {
		return Room{}, fmt.Errorf("rooms: get %s: %w", rk, ErrNotFound)
	}
	return r.snapshot(rk, now), nil
}

// SetFlags implements Store.
func (s *Memory) SetFlags(ctx context.Context, app, id, callID string, muted, onhold bool) (err error) {
	defer s.m.observe(opSetFlags, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("call id", callID); err != nil {
		return err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.lookup(rk, now)
	if r == nil {
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, ErrNotFound)
	}
	p, ok := r.parts[callID]
	if !ok {
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, ErrNoParticipant)
	}
	p.Muted, p.OnHold = muted, onhold
	r.parts[callID] = p
	r.expires = now.Add(RecordTTL)
	return nil
}

// Renew implements Store.
func (s *Memory) Renew(ctx context.Context, node string, rooms []RoomKey, ttl time.Duration) (_ []RoomKey, err error) {
	defer s.m.observe(opRenew, time.Now(), &err)
	if err := checkName("node", node); err != nil {
		return nil, err
	}
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	if err := checkKeys(rooms); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rooms: renew %d leases of %q: %w", len(rooms), node, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var lost []RoomKey
	for _, rk := range rooms {
		r := s.lookup(rk, now)
		if r == nil || r.liveHost(now) != node {
			lost = append(lost, rk)
			continue
		}
		r.leaseUntil = now.Add(ttl)
		r.expires = now.Add(RecordTTL)
	}
	return lost, nil
}

// Claim implements Store.
func (s *Memory) Claim(ctx context.Context, app, id, node, dead string, ttl time.Duration) (_ Room, err error) {
	defer s.m.observe(opClaim, time.Now(), &err)
	if err := checkClaim(app, id, node, ttl); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return Room{}, fmt.Errorf("rooms: claim %s: %w", rk, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.lookup(rk, now)
	if r == nil {
		return Room{}, fmt.Errorf("rooms: claim %s: %w", rk, ErrNotFound)
	}
	switch cur := r.liveHost(now); {
	case cur == node:
		r.leaseUntil = now.Add(ttl)
	case cur == "" || (dead != "" && cur == dead):
		s.take(r, node, ttl, now)
	}
	r.expires = now.Add(RecordTTL)
	return r.snapshot(rk, now), nil
}

// Release implements Store.
func (s *Memory) Release(ctx context.Context, app, id, node string) (err error) {
	defer s.m.observe(opRelease, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("node", node); err != nil {
		return err
	}
	rk := RoomKey{App: app, ID: id}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rooms: release %s: %w", rk, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if r := s.lookup(rk, now); r != nil && r.liveHost(now) == node {
		r.host, r.leaseUntil = "", time.Time{}
	}
	return nil
}

// Hosts implements Store.
func (s *Memory) Hosts(ctx context.Context, rooms []RoomKey) (_ []HostLease, err error) {
	defer s.m.observe(opHosts, time.Now(), &err)
	if err := checkKeys(rooms); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rooms: hosts of %d rooms: %w", len(rooms), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]HostLease, len(rooms))
	for i, rk := range rooms {
		if r := s.lookup(rk, now); r != nil {
			out[i] = HostLease{Host: r.liveHost(now), Epoch: r.epoch}
		}
	}
	return out, nil
}

// RemoveNode implements Store.
func (s *Memory) RemoveNode(ctx context.Context, node string) (_ []RoomKey, err error) {
	defer s.m.observe(opRemoveNode, time.Now(), &err)
	if err := checkName("node", node); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rooms: remove node %q: %w", node, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	touched := []RoomKey{}
	for rk := range s.byNode[node] {
		r := s.lookup(rk, now)
		if r == nil {
			continue
		}
		for id, p := range r.parts {
			if p.Node == node {
				delete(r.parts, id)
			}
		}
		touched = append(touched, rk)
		if len(r.parts) == 0 {
			s.drop(rk, r)
		} else {
			r.expires = now.Add(RecordTTL)
		}
	}
	delete(s.byNode, node)
	sortKeys(touched)
	return touched, nil
}
