package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	// DefaultTimeout is the request timeout when Options.Timeout is zero.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxInflight is the handler concurrency when
	// Options.MaxInflight is zero.
	DefaultMaxInflight = 256
	// MaxNameLen bounds the length in bytes of node ids and request kinds.
	MaxNameLen = 255
)

// Handler answers one request sent to this node. Its reply payload goes back
// to the requester. A returned error is sent back as a *RemoteError with the
// error's message (the requester gets it from Request). ctx is cancelled when
// the requester's deadline (carried in the message) passes or the bus closes.
//
// Handlers run concurrently, each on its own goroutine, at most
// Options.MaxInflight at once. payload belongs to the handler (nil when
// empty). A panic is recovered and answered as RemoteError MsgInternal. A
// reply finished after the deadline is not sent. Cancelling the requester's
// context does not reach the handler: only the deadline does.
type Handler func(ctx context.Context, kind string, payload []byte) ([]byte, error)

// Bus sends requests to other nodes of the region.
type Bus interface {
	// Request sends payload to node and waits for its reply. It returns
	// ErrNoResponder (wrapped, naming the node) at once when no process of
	// that node listens (for Redis: PUBLISH reached 0 subscribers),
	// ErrTimeout (wrapped, saying how long it waited) when no reply arrived
	// before the deadline (ctx's deadline or Options.Timeout, whichever is
	// sooner), ctx.Err() (wrapped) if ctx is cancelled, *RemoteError when
	// the handler failed, ErrClosed after Close. When ctx's own deadline is
	// the one that passed, the error matches both ErrTimeout and
	// context.DeadlineExceeded. ErrUnavailable (wrapping the transport's
	// error, e.g. the PUBLISH error) means this node's own connection to the
	// transport is down.
	Request(ctx context.Context, node, kind string, payload []byte) ([]byte, error)
	// Close stops listening, fails waiting requests with ErrClosed and waits
	// for running handlers (bounded by ctx). Idempotent.
	Close(ctx context.Context) error
}

// Errors of Request, to test with errors.Is. The errors returned wrap them
// with the kind and node of the request.
var (
	// ErrNoResponder means no process of the target node listens.
	ErrNoResponder = errors.New("no responder")
	// ErrTimeout means no reply arrived before the request's deadline.
	ErrTimeout = errors.New("timeout")
	// ErrClosed means the bus is closed (or closed while waiting).
	ErrClosed = errors.New("bus closed")
	// ErrUnavailable means this node cannot use the transport now: the
	// Redis subscription is down (no reply could arrive) or PUBLISH failed.
	// The error also wraps the transport's error.
	ErrUnavailable = errors.New("unavailable")
)

// Messages of the RemoteErrors the bus itself produces.
const (
	// MsgBusy answers a request that arrived while Options.MaxInflight
	// handlers were already running.
	MsgBusy = "node busy"
	// MsgInternal answers a request whose handler panicked.
	MsgInternal = "internal error"
)

// RemoteError is the failure of a request's handler on the remote node.
type RemoteError struct {
	// Node is the node that handled (or refused) the request.
	Node string
	// Message is the handler's error message, MsgBusy or MsgInternal.
	Message string
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("bus: node %q: %s", e.Node, e.Message)
}

// Options configure a Bus. Zero values take the documented defaults.
type Options struct {
	// Node is this node's id, 1 to MaxNameLen bytes. Required.
	Node string
	// Handler answers requests to this node. Required.
	Handler Handler
	// Timeout is the default request timeout. Default DefaultTimeout (2 s).
	Timeout time.Duration
	// MaxInflight caps the handlers running at once; a request beyond it is
	// answered at once with a RemoteError MsgBusy. Default
	// DefaultMaxInflight (256).
	MaxInflight int
	// Logger receives the package's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics (callcore_bus_*); nil keeps them in a
	// private registry. Several buses may share one Registerer: they then
	// share the collectors, whose figures add up.
	Registerer prometheus.Registerer
}

// withDefaults validates o and returns a copy with defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if err := checkName("node", o.Node); err != nil {
		return o, fmt.Errorf("bus: options: %w", err)
	}
	if o.Handler == nil {
		return o, errors.New("bus: options: handler required")
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("bus: options: negative timeout %v", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxInflight < 0 {
		return o, fmt.Errorf("bus: options: negative max inflight %d", o.MaxInflight)
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return o, nil
}

// checkName reports whether a node id or kind is 1 to MaxNameLen bytes.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%s longer than %d bytes", what, MaxNameLen)
	}
	return nil
}
