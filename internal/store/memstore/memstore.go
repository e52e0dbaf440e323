package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/internal/storeutil"
)

// sweepInterval is how often (on the store's clock) CreateCall drops expired
// call records from memory.
const sweepInterval = time.Minute

var _ store.Store = (*Store)(nil)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu        sync.Mutex
	numbers   map[string]store.Number
	callbacks map[string]store.Callbacks
	calls     map[string]entry
	// index lists the live calls of each owner (NodeCalls).
	index     map[string]map[string]struct{}
	lastSweep time.Time
}

type entry struct {
	rec     store.CallRecord
	expires time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now. It
// drives call record expiry and UpdatedAt, so tests can move time forward.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		numbers:   make(map[string]store.Number),
		callbacks: make(map[string]store.Callbacks),
		calls:     make(map[string]entry),
		index:     make(map[string]map[string]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.lastSweep = s.now()
	return s
}

// Ping returns ctx's error, if any.
func (s *Store) Ping(ctx context.Context) error {
	return ctx.Err()
}

// Close does nothing: the data stays readable until the Store is garbage.
func (s *Store) Close() error { return nil }

// ListNumbers implements store.Store.
func (s *Store) ListNumbers(ctx context.Context) ([]store.Number, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := slices.Collect(maps.Values(s.numbers))
	s.mu.Unlock()
	if out == nil {
		out = []store.Number{}
	}
	slices.SortFunc(out, func(a, b store.Number) int { return strings.Compare(a.Number, b.Number) })
	return out, nil
}

// GetNumber implements store.Store.
func (s *Store) GetNumber(ctx context.Context, number string) (store.Number, error) {
	if err := ctx.Err(); err != nil {
		return store.Number{}, err
	}
	if err := storeutil.CheckNonEmpty("get number", "number", number); err != nil {
		return store.Number{}, err
	}
	s.mu.Lock()
	n, ok := s.numbers[number]
	s.mu.Unlock()
	if !ok {
		return store.Number{}, fmt.Errorf("get number %s: %w", number, store.ErrNotFound)
	}
	return n, nil
}

// AssignNumbers implements store.Store.
func (s *Store) AssignNumbers(ctx context.Context, appKey, capability string, numbers []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckAssign(appKey, capability, numbers); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range numbers {
		cur, ok := s.numbers[n]
		if storeutil.TakenBy(cur, ok, appKey) {
			return storeutil.Taken(n)
		}
	}
	for _, n := range numbers {
		s.numbers[n] = store.Number{Number: n, AppKey: appKey, Capability: capability}
	}
	return nil
}

// UnassignNumber implements store.Store.
func (s *Store) UnassignNumber(ctx context.Context, appKey, capability, number string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckUnassign(appKey, capability, number); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.numbers[number]
	if !storeutil.Unassignable(cur, ok, appKey, capability) {
		return fmt.Errorf("unassign number %s: %w", number, store.ErrNotFound)
	}
	cur.AppKey = ""
	s.numbers[number] = cur
	return nil
}

// GetCallbacks implements store.Store.
func (s *Store) GetCallbacks(ctx context.Context, appKey string) (store.Callbacks, error) {
	if err := ctx.Err(); err != nil {
		return store.Callbacks{}, err
	}
	if err := storeutil.CheckNonEmpty("get callbacks", "application key", appKey); err != nil {
		return store.Callbacks{}, err
	}
	s.mu.Lock()
	cb, ok := s.callbacks[appKey]
	s.mu.Unlock()
	if !ok {
		return store.Callbacks{}, fmt.Errorf("get callbacks of %s: %w", appKey, store.ErrNotFound)
	}
	return cb, nil
}

// SetCallbacks implements store.Store.
func (s *Store) SetCallbacks(ctx context.Context, appKey string, cb store.Callbacks) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("set callbacks", "application key", appKey); err != nil {
		return err
	}
	s.mu.Lock()
	s.callbacks[appKey] = cb
	s.mu.Unlock()
	return nil
}

// SeedCallbacks implements store.Store.
func (s *Store) SeedCallbacks(ctx context.Context, appKey string, cb store.Callbacks) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := storeutil.CheckNonEmpty("seed callbacks", "application key", appKey); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.callbacks[appKey]; ok {
		return false, nil
	}
	s.callbacks[appKey] = cb
	return true, nil
}

// CreateCall implements store.Store.
func (s *Store) CreateCall(ctx context.Context, rec store.CallRecord, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("create call", "call id", rec.ID); err != nil {
		return err
	}
	if err := storeutil.CheckTTL("create call", ttl); err != nil {
		return err
	}
	rec = storeutil.CloneRecord(rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.lastSweep) >= sweepInterval {
		s.sweepLocked(now)
	}
	if _, ok := s.liveLocked(rec.ID, now); ok {
		return fmt.Errorf("create call %s: %w", rec.ID, store.ErrExists)
	}
	rec.Version = 1
	rec.UpdatedAt = now.UTC()
	s.calls[rec.ID] = entry{rec: rec, expires: now.Add(ttl)}
	s.reindexLocked(store.CallRecord{}, rec)
	return nil
}

// reindexLocked moves a call in the owners' index from what old said to
// what rec says. The caller holds s.mu.
func (s *Store) reindexLocked(old, rec store.CallRecord) {
	if old.Live && (!rec.Live || old.Owner != rec.Owner) {
		if ids := s.index[old.Owner]; ids != nil {
			delete(ids, old.ID)
			if len(ids) == 0 {
				delete(s.index, old.Owner)
			}
		}
	}
	if rec.Live {
		ids := s.index[rec.Owner]
		if ids == nil {
			ids = make(map[string]struct{})
			s.index[rec.Owner] = ids
		}
		ids[rec.ID] = struct{}{}
	}
}

// ReplaceCall implements store.Store.
func (s *Store) ReplaceCall(ctx context.Context, rec store.CallRecord, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := storeutil.CheckNonEmpty("replace call", "call id", rec.ID); err != nil {
		return 0, err
	}
	if err := storeutil.CheckTTL("replace call", ttl); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cur, ok := s.liveLocked(rec.ID, now)
	if !ok {
		return 0, fmt.Errorf("replace call %s: %w", rec.ID, store.ErrNotFound)
	}
	if cur.rec.Version != rec.Version {
		return 0, fmt.Errorf("replace call %s: version %d was written since %d: %w", rec.ID, cur.rec.Version, rec.Version, store.ErrConflict)
	}
	next := store.CallRecord{ID: rec.ID, Owner: rec.Owner, Data: storeutil.CloneData(rec.Data), Live: rec.Live,
		Version: rec.Version + 1, UpdatedAt: now.UTC()}
	s.calls[rec.ID] = entry{rec: next, expires: now.Add(ttl)}
	s.reindexLocked(cur.rec, next)
	return next.Version, nil
}

// NodeCalls implements store.Store.
func (s *Store) NodeCalls(ctx context.Context, node string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storeutil.CheckNonEmpty("node calls", "node", node); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.index[node]))
	for id := range s.index[node] {
		out = append(out, id)
	}
	return out, nil
}

// UnindexCalls implements store.Store.
func (s *Store) UnindexCalls(ctx context.Context, node string, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("unindex calls", "node", node); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.index[node], id)
	}
	if len(s.index[node]) == 0 {
		delete(s.index, node)
	}
	return nil
}

// RouteNumber implements store.Store.
func (s *Store) RouteNumber(ctx context.Context, number string) (store.Number, store.Callbacks, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Number{}, store.Callbacks{}, false, err
	}
	if err := storeutil.CheckNonEmpty("route number", "number", number); err != nil {
		return store.Number{}, store.Callbacks{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.numbers[number]
	if !ok {
		return store.Number{}, store.Callbacks{}, false, fmt.Errorf("route number %s: %w", number, store.ErrNotFound)
	}
	if n.AppKey == "" {
		return n, store.Callbacks{}, false, nil
	}
	cb, found := s.callbacks[n.AppKey]
	return n, cb, found, nil
}

// GetCall implements store.Store.
func (s *Store) GetCall(ctx context.Context, id string) (store.CallRecord, error) {
	if err := ctx.Err(); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckNonEmpty("get call", "call id", id); err != nil {
		return store.CallRecord{}, err
	}
	s.mu.Lock()
	e, ok := s.liveLocked(id, s.now())
	s.mu.Unlock()
	if !ok {
		return store.CallRecord{}, fmt.Errorf("get call %s: %w", id, store.ErrNotFound)
	}
	return storeutil.CloneRecord(e.rec), nil
}

// UpdateCall implements store.Store.
func (s *Store) UpdateCall(ctx context.Context, id string, ttl time.Duration, fn func(*store.CallRecord) error) (store.CallRecord, error) {
	if err := ctx.Err(); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckNonEmpty("update call", "call id", id); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckTTL("update call", ttl); err != nil {
		return store.CallRecord{}, err
	}
	if fn == nil {
		return store.CallRecord{}, fmt.Errorf("update call %s: nil function: %w", id, store.ErrInvalid)
	}
	for attempt := range storeutil.MaxAttempts {
		if attempt > 0 {
			if err := storeutil.Backoff(ctx, attempt); err != nil {
				return store.CallRecord{}, fmt.Errorf("update call %s: %w", id, err)
			}
		}
		s.mu.Lock()
		e, ok := s.liveLocked(id, s.now())
		s.mu.Unlock()
		if !ok {
			return store.CallRecord{}, fmt.Errorf("update call %s: %w", id, store.ErrNotFound)
		}
		read := e.rec.Version
		rec := storeutil.CloneRecord(e.rec)
		if err := fn(&rec); err != nil {
			return store.CallRecord{}, fmt.Errorf("update call %s: %w", id, err)
		}
		next := store.CallRecord{ID: id, Owner: rec.Owner, Data: storeutil.CloneData(rec.Data), Live: rec.Live}

		s.mu.Lock()
		now := s.now()
		cur, ok := s.liveLocked(id, now)
		if !ok {
			s.mu.Unlock()
			return store.CallRecord{}, fmt.Errorf("update call %s: %w", id, store.ErrNotFound)
		}
		if cur.rec.Version != read {
			s.mu.Unlock()
			continue
		}
		next.Version = read + 1
		next.UpdatedAt = now.UTC()
		s.calls[id] = entry{rec: next, expires: now.Add(ttl)}
		s.reindexLocked(cur.rec, next)
		s.mu.Unlock()
		return storeutil.CloneRecord(next), nil
	}
	return store.CallRecord{}, fmt.Errorf("update call %s: gave up after %d attempts: %w", id, storeutil.MaxAttempts, store.ErrConflict)
}

// DeleteCall implements store.Store.
func (s *Store) DeleteCall(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("delete call", "call id", id); err != nil {
		return err
	}
	s.mu.Lock()
	if e, ok := s.calls[id]; ok {
		s.reindexLocked(e.rec, store.CallRecord{})
	}
	delete(s.calls, id)
	s.mu.Unlock()
	return nil
}

// liveLocked returns the unexpired entry of id, dropping it if it expired.
// The caller holds s.mu.
func (s *Store) liveLocked(id string, now time.Time) (entry, bool) {
	e, ok := s.calls[id]
	if !ok {
		return entry{}, false
	}
	if !now.Before(e.expires) {
		delete(s.calls, id)
		return entry{}, false
	}
	return e, true
}

// sweepLocked drops every expired entry. The caller holds s.mu.
func (s *Store) sweepLocked(now time.Time) {
	for id, e := range s.calls {
		if !now.Before(e.expires) {
			delete(s.calls, id)
		}
	}
	s.lastSweep = now
}
