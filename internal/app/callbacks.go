package app

import (
	"context"
	"fmt"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/config"
)

// callbacks signs and delivers the call core's events with the app's
// secret and its configured timeouts.
type callbacks struct {
	c   *events.Client
	cfg *config.Config
}

var _ call.Callbacks = (*callbacks)(nil)

func (cb *callbacks) Deliver(ctx context.Context, t call.CallbackTarget, id string, ev events.Event, accept func([]byte) error) ([]byte, error) {
	app, ok := cb.cfg.App(t.AppKey)
	if !ok {
		return nil, fmt.Errorf("callbacks: unknown application %q", t.AppKey)
	}
	reply, err := cb.c.Deliver(ctx, events.Target{
		URL:            t.URL,
		FallbackURL:    t.FallbackURL,
		AppKey:         app.Key,
		Secret:         app.Secret.Reveal(),
		ConnectTimeout: app.CallbackConnectTimeout,
		TotalTimeout:   app.CallbackTimeout,
		EventID:        id,
	}, ev, accept)
	if err != nil {
		return nil, err
	}
	return reply.Body, nil
}
