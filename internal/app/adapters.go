package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/store"
)

// callStore keeps call snapshots in the shared store, as JSON in the call
// record. Live records live for liveTTL (the longest a call may last plus a
// margin); ended ones for endedTTL, so GET /calls answers for a while after
// the DiCE.
//
// The owning node is the only writer of a live call's record, so it
// remembers the version it wrote last and saves with ReplaceCall: one
// round trip, and a conflict means another node took the call over.
type callStore struct {
	s                 store.Store
	node              string
	liveTTL, endedTTL time.Duration

	mu       sync.Mutex
	versions map[string]int64 // live calls of this node: last version written
}

var _ call.Store = (*callStore)(nil)

func (cs *callStore) ttl(s *call.Snapshot) time.Duration {
	if s.State.Ongoing() {
		return cs.liveTTL
	}
	return cs.endedTTL
}

func (cs *callStore) Create(ctx context.Context, s *call.Snapshot) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := cs.s.CreateCall(ctx, store.CallRecord{ID: s.ID, Owner: cs.node, Data: data, Live: s.State.Ongoing()}, cs.ttl(s)); err != nil {
		return err
	}
	cs.mu.Lock()
	if cs.versions == nil {
		cs.versions = map[string]int64{}
	}
	cs.versions[s.ID] = 1
	cs.mu.Unlock()
	return nil
}

func (cs *callStore) Save(ctx context.Context, s *call.Snapshot) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	live := s.State.Ongoing()
	cs.mu.Lock()
	ver, ok := cs.versions[s.ID]
	cs.mu.Unlock()
	if !ok {
		// Not created by this process (a final record written back after
		// the version was dropped): an ordinary optimistic update.
		_, err := cs.s.UpdateCall(ctx, s.ID, cs.ttl(s), func(r *store.CallRecord) error {
			if r.Owner != cs.node {
				return call.ErrFenced
			}
			r.Data, r.Live = data, live
			return nil
		})
		return cs.mapErr(err)
	}
	rec := store.CallRecord{ID: s.ID, Owner: cs.node, Version: ver, Data: data, Live: live}
	v, err := cs.s.ReplaceCall(ctx, rec, cs.ttl(s))
	if errors.Is(err, store.ErrNotFound) {
		// The record is gone while the call runs: Redis restarted without
		// persistence (or was flushed). Write it again.
		if err = cs.s.CreateCall(ctx, rec, cs.ttl(s)); err == nil {
			v = 1
		}
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
			cs.forget(s.ID)
			err = fmt.Errorf("%w: %v", call.ErrFenced, err)
		}
		return cs.mapErr(err)
	}
	cs.mu.Lock()
	if live {
		cs.versions[s.ID] = v
	} else {
		delete(cs.versions, s.ID)
	}
	cs.mu.Unlock()
	return nil
}

func (cs *callStore) forget(id string) {
	cs.mu.Lock()
	delete(cs.versions, id)
	cs.mu.Unlock()
}

// mapErr turns a conflict on this node's own call into ErrFenced.
func (cs *callStore) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict), errors.Is(err, call.ErrFenced):
		return fmt.Errorf("%w: %v", call.ErrFenced, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", call.ErrCallNotFound, err)
	}
	return err
}

func (cs *callStore) Load(ctx context.Context, id string) (*call.Snapshot, error) {
	r, err := cs.s.GetCall(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, call.ErrCallNotFound
	}
	if err != nil {
		return nil, err
	}
	var s call.Snapshot
	if err := json.Unmarshal(r.Data, &s); err != nil {
		return nil, fmt.Errorf("call record %s: %w", id, err)
	}
	s.Node = r.Owner
	return &s, nil
}

func (cs *callStore) Orphans(ctx context.Context, node string) ([]string, error) {
	return cs.s.NodeCalls(ctx, node)
}

func (cs *callStore) Finalize(ctx context.Context, id string, fn func(*call.Snapshot) bool) (*call.Snapshot, bool, error) {
	var out call.Snapshot
	changed := false
	_, err := cs.s.UpdateCall(ctx, id, cs.endedTTL, func(r *store.CallRecord) error {
		changed = false
		var s call.Snapshot
		if err := json.Unmarshal(r.Data, &s); err != nil {
			return fmt.Errorf("call record %s: %w", id, err)
		}
		if !fn(&s) {
			out = s
			if r.Live && !s.State.Ongoing() {
				r.Live = false // ended but still indexed: just unindex
				return nil
			}
			return errUnchanged
		}
		data, err := json.Marshal(&s)
		if err != nil {
			return err
		}
		r.Data, r.Live = data, false
		out, changed = s, true
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return &out, false, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, false, call.ErrCallNotFound
	case err != nil:
		return nil, false, err
	}
	return &out, changed, nil
}

// errUnchanged aborts an UpdateCall that has nothing to write.
var errUnchanged = errors.New("unchanged")

func (cs *callStore) Unindex(ctx context.Context, node string, ids ...string) error {
	return cs.s.UnindexCalls(ctx, node, ids...)
}

// appRouter finds the application of an inbound call from the number
// dialled (numbers assigned through the management API or the config) or
// the in-app user called (the user's app), and the callback URLs of an
// application (store first, config as fallback).
type appRouter struct {
	s   store.Store
	cfg *config.Config
}

var _ call.Apps = (*appRouter)(nil)

func (r *appRouter) RouteInbound(ctx context.Context, to events.Destination) (call.CallbackTarget, error) {
	switch to.Type {
	case "did", "number":
		// The SIP adapter already normalizes; other callers may not.
		number, err := dialledNumber(to.Endpoint)
		if err != nil {
			return call.CallbackTarget{}, fmt.Errorf("%w: %v", call.ErrNoRoute, err)
		}
		// One round trip: the number and its app's callbacks.
		num, cb, found, err := r.s.RouteNumber(ctx, number)
		if errors.Is(err, store.ErrNotFound) || err == nil && num.AppKey == "" {
			return call.CallbackTarget{}, fmt.Errorf("%w: number not assigned", call.ErrNoRoute)
		}
		if err != nil {
			return call.CallbackTarget{}, err
		}
		if found && cb.Primary != "" {
			return call.CallbackTarget{AppKey: num.AppKey, URL: cb.Primary, FallbackURL: cb.Fallback}, nil
		}
		return r.configTarget(num.AppKey)
	case "username":
		// A call to an in-app user belongs to the user's application.
		_, app, ok := r.cfg.User(to.Endpoint)
		if !ok {
			return call.CallbackTarget{}, fmt.Errorf("%w: unknown user", call.ErrNoRoute)
		}
		return r.Target(ctx, app.Key)
	default:
		// Calls from in-app users to numbers and SIP addresses would route
		// by the caller's application, which needs INVITEs from users to
		// be authenticated first; until then they are refused.
		return call.CallbackTarget{}, fmt.Errorf("%w: destination type %q", call.ErrNoRoute, to.Type)
	}
}

func (r *appRouter) Target(ctx context.Context, appKey string) (call.CallbackTarget, error) {
	cb, err := r.s.GetCallbacks(ctx, appKey)
	if err == nil && cb.Primary != "" {
		return call.CallbackTarget{AppKey: appKey, URL: cb.Primary, FallbackURL: cb.Fallback}, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return call.CallbackTarget{}, err
	}
	return r.configTarget(appKey)
}

// configTarget is the application's configured callbacks.
func (r *appRouter) configTarget(appKey string) (call.CallbackTarget, error) {
	app, ok := r.cfg.App(appKey)
	if !ok {
		return call.CallbackTarget{}, fmt.Errorf("%w: unknown application", call.ErrNoRoute)
	}
	return call.CallbackTarget{AppKey: appKey, URL: app.CallbackURL, FallbackURL: app.FallbackURL}, nil
}
