package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/timeline"
)

// callbacks signs and delivers the call core's events with the app's
// secret and its configured timeouts, and records each delivery in the
// call's timeline (tl nil: none).
type callbacks struct {
	c   *events.Client
	cfg *config.Config
	tl  *timeline.Recorder
}

var _ call.Callbacks = (*callbacks)(nil)

func (cb *callbacks) Deliver(ctx context.Context, t call.CallbackTarget, id string, ev events.Event, accept func([]byte) error) ([]byte, error) {
	app, ok := cb.cfg.App(t.AppKey)
	if !ok {
		return nil, fmt.Errorf("callbacks: unknown application %q", t.AppKey)
	}
	target := events.Target{
		URL:            t.URL,
		FallbackURL:    t.FallbackURL,
		AppKey:         app.Key,
		Secret:         app.Secret.Reveal(),
		ConnectTimeout: app.CallbackConnectTimeout,
		TotalTimeout:   app.CallbackTimeout,
		EventID:        id,
	}
	if cb.tl == nil {
		reply, err := cb.c.Deliver(ctx, target, ev, accept)
		if err != nil {
			return nil, err
		}
		return reply.Body, nil
	}
	// The client drops a rejected reply's body; the timeline keeps the
	// last body accept saw (invalid SVAML is what one wants to see).
	var body []byte
	seen := accept
	if accept != nil {
		seen = func(b []byte) error { body = b; return accept(b) }
	}
	reply, err := cb.c.Deliver(ctx, target, ev, seen)
	var request any = json.RawMessage(reply.Request) // as marshalled: valid
	if reply.Request == nil {
		request = ev // not encodable: the timeline says why
	}
	recordDelivery(cb.tl, ev.CallID(), id, ev.Kind(), target, reply, request, body, err, 0)
	if err != nil {
		return nil, err
	}
	return reply.Body, nil
}
