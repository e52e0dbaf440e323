package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and bounds of Options.
const (
	// DefaultTTL is the heartbeat TTL when Options.TTL is zero.
	DefaultTTL = 6 * time.Second
	// MinTTL is the smallest heartbeat TTL accepted.
	MinTTL = 30 * time.Millisecond
)

// Options configure a Membership. Zero values take the documented defaults.
type Options struct {
	// Self is this process. Node and Boot are required (Boot: NewBootID).
	// StartedAt defaults to the time of Join; LastSeen and Left are set by
	// the package.
	Self Member
	// TTL is the heartbeat TTL, default DefaultTTL (6 s), at least MinTTL.
	// Heartbeats and reaper scans run every TTL/3.
	TTL time.Duration
	// LeaseTTL is the reaper lease TTL, default TTL. It must exceed TTL/3
	// (the renewal interval); below 2·TTL/3 one slow heartbeat loses it.
	LeaseTTL time.Duration
	// OnDead is called on the elected node for each member whose heartbeat
	// expired (or who left), with the member's record (LastSeen = its last
	// heartbeat, or the time of Leave; Left set if it left). It is called at
	// most once per (node, boot) once it succeeds; an error makes it retry
	// at a later scan, maybe on another node. It runs on the reaper
	// goroutine, one member at a time; ctx is cancelled by Close and Leave.
	//
	// It must be idempotent: a leader that lost its lease while OnDead was
	// running, or a restarted process finalizing its previous incarnation
	// (see Join) while a peer reaps it, can make two calls overlap. After
	// it succeeds the member is forgotten. nil just fences and forgets.
	OnDead func(ctx context.Context, m Member) error
	// OnFenced is called (once per incarnation, on the heartbeat goroutine)
	// when this process finds that it was declared dead by another node
	// while it was cut off from Redis: its calls have been finalized
	// elsewhere, so the caller must stop them without sending their events
	// again. The Membership then re-registers under a new boot id (see
	// Membership.Self) once the reaper has forgotten the old one.
	OnFenced func(ctx context.Context)
	// Logger receives the package's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics (callcore_cluster_*); nil keeps them
	// in a private registry. Memberships sharing a Registerer share the
	// collectors.
	Registerer prometheus.Registerer
	// Now is the wall clock for LastSeen and the staleness cutoff; nil is
	// time.Now. Intervals (lease validity, observation windows) always use
	// the monotonic clock.
	Now func() time.Time
}

// withDefaults validates o and returns a copy with defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if err := checkName("node", o.Self.Node); err != nil {
		return o, fmt.Errorf("self: %w", err)
	}
	if err := checkName("boot", o.Self.Boot); err != nil {
		return o, fmt.Errorf("self: %w", err)
	}
	switch {
	case o.TTL == 0:
		o.TTL = DefaultTTL
	case o.TTL < MinTTL:
		return o, fmt.Errorf("ttl %v below %v", o.TTL, MinTTL)
	}
	switch {
	case o.LeaseTTL == 0:
		o.LeaseTTL = o.TTL
	case o.LeaseTTL <= o.TTL/3:
		return o, fmt.Errorf("lease ttl %v does not exceed the renewal interval ttl/3 = %v", o.LeaseTTL, o.TTL/3)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// ErrInvalid is wrapped by the errors Join returns for invalid arguments
// (options or prefix).
var ErrInvalid = errors.New("invalid argument")
