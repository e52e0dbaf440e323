package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Event kinds. Kind is free-form (a short token, see Entry) but only these
// values appear as the kind label of the metrics; any other is counted as
// "other".
const (
	KindDiCE   = "dice"
	KindNotify = "notify"
)

// Dead-letter reasons (the reason label of callcore_outbox_dead_lettered_total
// and DeadLetter.Reason).
const (
	ReasonExpired   = "expired"   // still failing Retention after EnqueuedAt
	ReasonPermanent = "permanent" // DeliverFunc returned a Permanent error
	ReasonMalformed = "malformed" // a stream entry that is not an outbox entry
)

// Limits of Entry fields checked by Enqueue.
const (
	MaxIDLen   = 128
	MaxKindLen = 32
)

// Defaults of Options.
const (
	DefaultRetention      = 24 * time.Hour
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultWorkers        = 64
	DefaultAttemptTimeout = 30 * time.Second
	DefaultSpillLimit     = 100000
	DefaultMaxLocal       = 100000
	DefaultReadBlock      = 2 * time.Second
	DefaultReadCount      = 256
	DefaultEnqueueTimeout = time.Second
)

var (
	// ErrClosed is returned by Enqueue after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrSpillFull is returned by Enqueue when Redis is unreachable and the
	// in-memory spill already holds Options.SpillLimit entries: the event
	// was NOT accepted.
	ErrSpillFull = errors.New("outbox: redis unreachable and the in-memory spill is full")
	// ErrInvalidEntry is returned (wrapped, naming the field) by Enqueue for
	// an entry that cannot be delivered.
	ErrInvalidEntry = errors.New("outbox: invalid entry")
	// ErrInvalidOptions is returned (wrapped) by NewRedis for bad Options.
	ErrInvalidOptions = errors.New("outbox: invalid options")
)

// Entry is one event to deliver.
type Entry struct {
	// ID is the stable event id, sent as the x-callcore-event-id header so
	// that a backend can drop duplicates. The caller sets it: 1 to MaxIDLen
	// bytes of visible ASCII (0x21-0x7e).
	ID string
	// CallID is the call the event is about (logged as call_id). The
	// entries of one CallID are delivered one at a time, in the order they
	// were enqueued (see the package documentation); may be empty: no
	// ordering.
	CallID string
	// AppKey names the application whose secret signs the event. The secret
	// itself is never stored.
	AppKey string
	// Kind is the event kind, KindDiCE or KindNotify: a token of 1 to
	// MaxKindLen bytes of [a-z0-9_-]. It is a metric label; kinds other than
	// the known ones are labelled "other".
	Kind string
	// URL is the callback URL (required); FallbackURL is tried by the
	// DeliverFunc when URL fails, as the caller sees fit.
	URL, FallbackURL string
	// Body is the event JSON, as sent. DeliverFunc must not modify it.
	Body []byte
	// EnqueuedAt is when the event was created; Enqueue sets it (from
	// Options.Now) if zero. Retention counts from it.
	EnqueuedAt time.Time
	// Attempts counts the delivery attempts made by this process, including
	// the one in progress when DeliverFunc sees it (1 on the first call).
	// It is informational and starts again from 0 on another node.
	Attempts int
}

// validate checks e as Enqueue accepts it.
func (e *Entry) validate() error {
	if err := checkID(e.ID); err != nil {
		return err
	}
	if err := checkKind(e.Kind); err != nil {
		return err
	}
	if e.URL == "" {
		return fmt.Errorf("%w: empty URL (event %s)", ErrInvalidEntry, e.ID)
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidEntry)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: ID longer than %d bytes", ErrInvalidEntry, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: ID byte %d is not visible ASCII", ErrInvalidEntry, i)
		}
	}
	return nil
}

func checkKind(k string) error {
	if k == "" || len(k) > MaxKindLen {
		return fmt.Errorf("%w: kind must have 1 to %d bytes", ErrInvalidEntry, MaxKindLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return fmt.Errorf("%w: kind %q is not a lower-case token", ErrInvalidEntry, k)
		}
	}
	return nil
}

// kindLabel bounds the kind metric label.
func kindLabel(k string) string {
	switch k {
	case KindDiCE, KindNotify:
		return k
	}
	return "other"
}

// DeliverFunc delivers one entry (signs it with the secret of e.AppKey and
// POSTs e.Body with the x-callcore-event-id header). nil means the backend
// acknowledged it (2xx). Wrap an error with Permanent to dead-letter the
// entry at once (e.g. the app no longer exists); any other error is retried.
//
// It runs on several goroutines at once and must honour ctx: it is
// cancelled after Options.AttemptTimeout and when Close runs out of time.
type DeliverFunc func(ctx context.Context, e Entry) error

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that the outbox dead-letters the entry instead of
// retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) came from
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Options configures an outbox. Zero values take the defaults.
type Options struct {
	// Consumer names this process incarnation in the consumer group:
	// "<node>/<boot id>", unique per process start. The part before the
	// first "/" is the node id: it names the node's stream and is what
	// ClaimNode matches; it must not be ReservedNode. Required by NewRedis
	// (ignored by NewMemory).
	Consumer string
	// Deliver delivers one entry. Required.
	Deliver DeliverFunc
	// Retention is how long after EnqueuedAt a failing entry is retried
	// before it is dead-lettered. Default 24h.
	Retention time.Duration
	// MinBackoff and MaxBackoff bound the retry delay: attempt n waits a
	// uniformly random time in [0, min(MaxBackoff, MinBackoff·2^(n-1))]
	// ("full jitter"). Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Workers is the number of deliveries run at once. Default 64.
	Workers int
	// AttemptTimeout bounds one Deliver call. Default 30s.
	AttemptTimeout time.Duration
	// EnqueueTimeout bounds the XADD of Enqueue (Redis only): past it the
	// entry is spilled to memory, so that an unreachable Redis does not
	// stall the caller for the client's whole dial/retry budget. (An XADD
	// that timed out may still have been applied: the event may then be
	// delivered twice.) It only bounds network waits if the client has
	// ContextTimeoutEnabled. Default 1s.
	EnqueueTimeout time.Duration
	// SpillLimit bounds the entries kept only in memory while Redis is
	// unreachable (Redis only). Default 100000.
	SpillLimit int
	// MaxLocal bounds the stream entries this process holds at once
	// (scheduled, retrying, waiting behind an earlier entry of their call,
	// in flight or awaiting their XACK); beyond it the reader stops reading
	// and the rest waits in the stream (Redis only; a ClaimNode running at
	// the same time as a read may exceed it by one read). Default 100000.
	MaxLocal int
	// ReadBlock is the BLOCK time of XREADGROUP; Close may wait for it. It
	// also paces the consumer's liveness (see the package documentation).
	// Default 2s (Redis only).
	ReadBlock time.Duration
	// ReadCount is the COUNT of XREADGROUP. Default 256 (Redis only).
	ReadCount int
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers them on a private
	// registry. Two outboxes need two registries.
	Registerer prometheus.Registerer
	// Now is the clock of EnqueuedAt, Retention and ages; default time.Now.
	// Timers (backoff) always use the real clock.
	Now func() time.Time
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.EnqueueTimeout <= 0 {
		o.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if o.SpillLimit <= 0 {
		o.SpillLimit = DefaultSpillLimit
	}
	if o.MaxLocal <= 0 {
		o.MaxLocal = DefaultMaxLocal
	}
	if o.ReadBlock <= 0 {
		o.ReadBlock = DefaultReadBlock
	}
	if o.ReadCount <= 0 {
		o.ReadCount = DefaultReadCount
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
	return o
}

// nodeOf returns the node id of a consumer name ("<node>/<boot>"), and
// whether the name has that form.
func nodeOf(consumer string) (string, bool) {
	node, boot, ok := strings.Cut(consumer, "/")
	return node, ok && node != "" && boot != ""
}

// Outbox queues events for at-least-once delivery.
type Outbox interface {
	// Enqueue makes e durable (for Redis: XADD acknowledged, or the
	// in-memory spill while Redis is unreachable) and schedules its
	// delivery, after the entries of the same CallID enqueued before it. It
	// does not wait for delivery.
	Enqueue(ctx context.Context, e Entry) error
	// Close stops reading new entries, waits for running deliveries
	// (bounded by ctx, after which their contexts are cancelled and Close
	// still waits for them to return) and leaves undelivered entries pending
	// for this consumer (to be resumed by ClaimNode). Idempotent.
	Close(ctx context.Context) error
}

var (
	_ Outbox = (*Redis)(nil)
	_ Outbox = (*Memory)(nil)
)

// Stats is a snapshot of what one process holds.
type Stats struct {
	// Pending counts the entries this process holds that are not delivered
	// yet: scheduled, waiting to retry, in flight or spilled.
	Pending int
	// Spilled counts the Pending entries that exist only in this process's
	// memory because Redis was unreachable when they were enqueued.
	Spilled int
	// InFlight counts the Deliver calls running (or about to).
	InFlight int
	// Unacked counts delivered (or dead-lettered) stream entries whose XACK
	// is not written yet. Always 0 for Memory.
	Unacked int
	// OldestPendingAge is now minus the oldest EnqueuedAt among Pending; 0
	// when nothing is pending.
	OldestPendingAge time.Duration
}

// DeadLetter is one entry given up on.
type DeadLetter struct {
	// Entry is the entry as far as it could be decoded (empty fields for a
	// malformed one; Attempts as counted by the process that gave up).
	Entry Entry
	// Reason is ReasonExpired, ReasonPermanent or ReasonMalformed.
	Reason string
	// Error is the last delivery error (or what is wrong with a malformed
	// entry).
	Error string
	// At is when it was dead-lettered.
	At time.Time
	// Consumer is the consumer that gave up (Redis only).
	Consumer string
	// StreamID is the id the entry had in the outbox stream ("" for an
	// entry that never reached it).
	StreamID string
	// Raw holds the fields of a malformed stream entry, as read.
	Raw map[string]string
}
