package store

import (
	"context"
	"time"
)

// Capabilities a number can be assigned with (Sinch "capability").
const (
	CapabilityVoice = "voice"
	CapabilitySMS   = "sms"
)

// Number is one entry of the number inventory.
type Number struct {
	// Number is the phone number in E.164 form, e.g. "+12073091712". The
	// store does not parse it: callers normalise numbers before storing them.
	Number string
	// AppKey is the application the number is assigned to, "" when the
	// number is unassigned.
	AppKey string
	// Capability is CapabilityVoice or CapabilitySMS. An unassigned number
	// keeps the capability it was last assigned with.
	Capability string
}

// Callbacks are the callback URLs of an application.
type Callbacks struct {
	// Primary receives every callback event.
	Primary string
	// Fallback is used when Primary times out or fails; "" when not set.
	Fallback string
}

// CallRecord is the shared state of one call.
type CallRecord struct {
	// ID is the call ID, never empty.
	ID string
	// Owner is the ID of the node that runs the call.
	Owner string
	// Version counts writes: 1 after CreateCall, +1 for each UpdateCall.
	// It is set by the store; values passed in are ignored.
	Version int64
	// Data is the opaque serialised call state. The store copies it on the
	// way in and out, so callers never share the slice with the store. An
	// empty Data is returned as nil.
	Data []byte
	// UpdatedAt is the store's clock at the last write, in UTC. It is set by
	// the store; values passed in are ignored.
	UpdatedAt time.Time
	// Live is true while the call runs. A live record is listed in its
	// owner's index (NodeCalls), which is how a surviving node finds the
	// calls of a node that died; writing Live false (or another Owner)
	// takes it out.
	Live bool
}

// Store is the shared state of a region. Implementations are safe for
// concurrent use by multiple goroutines (and, for redisstore, by multiple
// nodes).
//
// Every method returns an error if ctx is already done, and wraps the
// sentinel errors of this package (ErrNotFound, ErrExists, ErrConflict,
// ErrNumberTaken, ErrInvalid) with context; test for them with errors.Is.
type Store interface {
	// Ping checks that the backing storage answers.
	Ping(ctx context.Context) error

	// Close releases the resources the store owns. It does not delete data.
	Close() error

	// ListNumbers returns the whole inventory, assigned and unassigned
	// numbers, sorted by Number (byte-wise). An empty inventory is an empty
	// slice.
	ListNumbers(ctx context.Context) ([]Number, error)

	// GetNumber returns one inventory entry, or ErrNotFound.
	GetNumber(ctx context.Context, number string) (Number, error)

	// AssignNumbers assigns numbers to appKey with capability, all or nothing:
	//   - If any number is assigned to another application, it fails with
	//     ErrNumberTaken (wrapped with that number) and changes nothing.
	//   - Numbers already assigned to appKey are (re)assigned with capability,
	//     so repeating a call is a no-op.
	//   - Numbers not in the inventory are added to it; unassigned numbers are
	//     taken.
	// appKey must not be empty, capability must be CapabilityVoice or
	// CapabilitySMS and numbers must be a non-empty list of non-empty
	// strings (duplicates are harmless), or it fails with ErrInvalid.
	AssignNumbers(ctx context.Context, appKey, capability string, numbers []string) error

	// UnassignNumber unassigns number from appKey. The number stays in the
	// inventory with AppKey "" and its capability, which is how Sinch lists
	// unassigned numbers. It fails with ErrNotFound, changing nothing, unless
	// the number is assigned to appKey and, when capability is not "", with
	// that capability. appKey and number must not be empty and capability
	// must be "", CapabilityVoice or CapabilitySMS, or it fails with
	// ErrInvalid.
	UnassignNumber(ctx context.Context, appKey, capability, number string) error

	// GetCallbacks returns the callback URLs of appKey, or ErrNotFound.
	GetCallbacks(ctx context.Context, appKey string) (Callbacks, error)

	// SetCallbacks sets (replaces) the callback URLs of appKey. An empty
	// appKey is ErrInvalid.
	SetCallbacks(ctx context.Context, appKey string, cb Callbacks) error

	// SeedCallbacks sets the callback URLs of appKey only if it has none,
	// atomically, and reports whether it set them. It is how configured
	// defaults are loaded without overwriting changes made through the API.
	// An empty appKey is ErrInvalid.
	SeedCallbacks(ctx context.Context, appKey string, cb Callbacks) (bool, error)

	// CreateCall stores a new call record with Version 1 and UpdatedAt now,
	// expiring after ttl, and lists it in its owner's index when rec.Live. It fails with ErrExists if a live record with the
	// same ID exists (an expired one is replaced). rec.ID must not be empty
	// and ttl must be positive, or it fails with ErrInvalid.
	CreateCall(ctx context.Context, rec CallRecord, ttl time.Duration) error

	// GetCall returns a copy of the call record, or ErrNotFound if it does not
	// exist or has expired.
	GetCall(ctx context.Context, id string) (CallRecord, error)

	// UpdateCall changes a call record under optimistic concurrency and
	// returns the record as written:
	//   - It reads the record (ErrNotFound if absent or expired) and calls fn
	//     with a private copy. fn may change Owner, Data and Live; changes to ID,
	//     Version and UpdatedAt are ignored.
	//   - If fn returns an error, UpdateCall returns it wrapped and changes
	//     nothing.
	//   - Otherwise it writes the record with Version+1, UpdatedAt now and its
	//     expiry reset to ttl, provided nobody wrote it since it was read;
	//     fn may change Live, which updates the owner's index. If
	//     somebody did, it starts over, so fn may run several times and must
	//     not have side effects beyond the record. After a bounded number of
	//     lost races it fails with ErrConflict.
	// fn may call the Store (it runs without any store lock held). id must
	// not be empty, ttl must be positive and fn non-nil, or it fails with
	// ErrInvalid.
	UpdateCall(ctx context.Context, id string, ttl time.Duration, fn func(*CallRecord) error) (CallRecord, error)

	// ReplaceCall writes rec's Owner, Data and Live over the stored record
	// if its version is still rec.Version, in one round trip, and returns
	// the new version. It is the write of a call's only writer (its owning
	// node), which knows the version it wrote last: no read first. It fails
	// with ErrNotFound if the record is absent or expired and with
	// ErrConflict, without retrying, if somebody else wrote it since (e.g. a
	// surviving node that took the call as its owner's node was declared
	// dead). The owner's index follows Live and Owner as with UpdateCall.
	ReplaceCall(ctx context.Context, rec CallRecord, ttl time.Duration) (int64, error)

	// NodeCalls returns the ids of the live calls whose Owner is node,
	// unordered. Records that expired without being written not live stay
	// listed until UnindexCalls; callers skip ids GetCall does not find.
	NodeCalls(ctx context.Context, node string) ([]string, error)

	// UnindexCalls removes ids from node's index of live calls.
	UnindexCalls(ctx context.Context, node string, ids ...string) error

	// RouteNumber returns a number's inventory entry and the callback URLs
	// of the application holding it in one round trip: the look-up of an
	// inbound call. cbFound is false when that application has no stored
	// callbacks (or the number is unassigned). ErrNotFound if the number is
	// not in the inventory.
	RouteNumber(ctx context.Context, number string) (n Number, cb Callbacks, cbFound bool, err error)

	// DeleteCall removes a call record. Deleting an absent or expired record
	// is not an error, so deferred cleanups may always call it. An empty id is
	// ErrInvalid.
	DeleteCall(ctx context.Context, id string) error
}
