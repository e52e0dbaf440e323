package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
type callStore struct {
	s                 store.Store
	node              string
	liveTTL, endedTTL time.Duration
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
	return cs.s.CreateCall(ctx, store.CallRecord{ID: s.ID, Owner: cs.node, Data: data}, cs.ttl(s))
}

func (cs *callStore) Save(ctx context.Context, s *call.Snapshot) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = cs.s.UpdateCall(ctx, s.ID, cs.ttl(s), func(r *store.CallRecord) error {
		r.Data = data
		return nil
	})
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
	return &s, nil
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
		num, err := r.s.GetNumber(ctx, number)
		if errors.Is(err, store.ErrNotFound) || err == nil && num.AppKey == "" {
			return call.CallbackTarget{}, fmt.Errorf("%w: number not assigned", call.ErrNoRoute)
		}
		if err != nil {
			return call.CallbackTarget{}, err
		}
		return r.Target(ctx, num.AppKey)
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
	app, ok := r.cfg.App(appKey)
	if !ok {
		return call.CallbackTarget{}, fmt.Errorf("%w: unknown application", call.ErrNoRoute)
	}
	return call.CallbackTarget{AppKey: appKey, URL: app.CallbackURL, FallbackURL: app.FallbackURL}, nil
}
