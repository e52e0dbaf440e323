package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// RecordTTL is the safety net of a room record: a room (and, in Redis, the
// index of rooms per node) expires this long after its last write (Join,
// Leave, SetFlags, Claim, Renew, RemoveNode), so that a crash can never
// leave a room forever. A host lease longer than RecordTTL is refused.
const RecordTTL = 24 * time.Hour

// Limits of the names a Store accepts; longer ones are ErrInvalid.
const (
	// MaxIDLen is the longest room id, in Unicode code points.
	MaxIDLen = 64
	// MaxNameLen is the longest app key, node id or call id, in bytes.
	MaxNameLen = 256
)

// Errors of the Store methods. Errors of the backend (Redis) are wrapped
// with context and match none of them.
var (
	// ErrNotFound is returned for a room that does not exist (never
	// created, deleted when its last participant left, or expired).
	ErrNotFound = errors.New("rooms: room not found")
	// ErrNoParticipant is returned by SetFlags for a call that is not in
	// the room (or whose record is unreadable).
	ErrNoParticipant = errors.New("rooms: participant not found")
	// ErrInvalid is wrapped by the errors returned for invalid arguments:
	// an empty or too long name, a room id that is not valid UTF-8, a
	// lease TTL below a millisecond or above RecordTTL.
	ErrInvalid = errors.New("rooms: invalid argument")
)

// Participant is one call in a room.
type Participant struct {
	// CallID identifies the call; unique within a room.
	CallID string `json:"id"`
	// Node is the node running the call (RemoveNode removes by it).
	Node string `json:"node"`
	// CLI is the caller's number as shown to the room.
	CLI string `json:"cli"`
	// Muted and OnHold are the flags SetFlags changes.
	Muted  bool `json:"muted"`
	OnHold bool `json:"onhold"`
	// JoinedAt is set by the caller of Join; the store keeps it as given
	// (to the nanosecond, without its monotonic clock reading).
	JoinedAt time.Time `json:"joined"`
}

// Room is a snapshot of a room.
type Room struct {
	// App and ID name the room: rooms are scoped per application key, so
	// the same ID under two apps names two rooms.
	App, ID string
	// Host is the node holding the host lease (running the mixer); ""
	// when no live lease.
	Host string
	// HostEpoch is a fencing token of the host lease: it grows every time
	// a lease is taken (a new host, or a host taking a fresh lease after
	// its own expired) and stays while a lease is renewed. It comes from
	// one counter per store (per region in Redis), so it never repeats for
	// a room name, even after the room is deleted and created again; it is
	// not contiguous. It is 0 before the first lease and keeps its last
	// value after the lease expired (Host "").
	HostEpoch int64
	// Participants are sorted by JoinedAt, then CallID.
	Participants []Participant
}

// RoomKey names a room.
type RoomKey struct{ App, ID string }

// String returns the room as "app"/"id" (both quoted), for messages.
func (k RoomKey) String() string { return strconv.Quote(k.App) + "/" + strconv.Quote(k.ID) }

// HostLease is the host of a room as Hosts reports it.
type HostLease struct {
	// Host is the node holding a live lease, "" if none (or no room).
	Host string
	// Epoch is the room's HostEpoch, 0 for an unknown room.
	Epoch int64
}

// Store holds the conference rooms of a region. Implementations are safe
// for concurrent use; Redis shares the rooms between the nodes of a region,
// Memory within one process. A lease TTL must be between a millisecond and
// RecordTTL.
type Store interface {
	// Join adds (or replaces, same CallID) p in room (app, id), creating the
	// room. If the room has no live host lease, node becomes the host with
	// a lease of ttl (and a new HostEpoch); a live lease is left as it is,
	// whoever holds it. Returns the room after the join (its host may be
	// another node). p.CallID and p.Node must not be empty.
	Join(ctx context.Context, app, id string, p Participant, node string, ttl time.Duration) (Room, error)
	// Leave removes callID; when the last participant leaves, the room is
	// deleted (host lease too). Returns the participants left (0: room
	// gone). Unknown room or participant: (0 or n, nil), so it is
	// idempotent.
	Leave(ctx context.Context, app, id, callID string) (left int, err error)
	// Get returns the room or ErrNotFound.
	Get(ctx context.Context, app, id string) (Room, error)
	// SetFlags sets muted and onhold of one participant; ErrNotFound for an
	// unknown room, ErrNoParticipant for an unknown call.
	SetFlags(ctx context.Context, app, id, callID string, muted, onhold bool) error
	// Renew extends node's host leases of the given rooms to ttl (and their
	// records' safety net), in one round trip; it returns, in the order
	// given, the rooms whose lease node no longer holds: expired (even if
	// nobody took it since: Claim takes a fresh one), taken by another
	// node, or the room deleted. No rooms: (nil, nil).
	Renew(ctx context.Context, node string, rooms []RoomKey, ttl time.Duration) (lost []RoomKey, err error)
	// Claim makes node the host if the room has no live lease, or if the
	// current holder is dead (a node the caller declared dead: its lease is
	// taken at once; "" declares none). If node already holds the lease, it
	// is renewed to ttl and the epoch kept. Returns the room after (Host
	// may be another node that won). ErrNotFound if the room no longer
	// exists.
	Claim(ctx context.Context, app, id, node, dead string, ttl time.Duration) (Room, error)
	// Release drops node's host lease of a room (a node shutting down), so
	// that another node can Claim it at once. A lease node does not hold,
	// or an unknown room, is left alone: nil.
	Release(ctx context.Context, app, id, node string) error
	// Hosts returns, for many rooms at once (one round trip), the current
	// host ("" if none) and epoch, in the order given; an unknown room
	// gives a zero HostLease.
	Hosts(ctx context.Context, rooms []RoomKey) ([]HostLease, error)
	// RemoveNode removes every participant whose Node is node from every
	// room (a node died; its calls are ended elsewhere), deleting rooms
	// left empty, and returns the rooms it removed participants from,
	// sorted by App then ID. Host leases are left alone (see Claim). It
	// uses an index of rooms per node kept by Join and Leave, so it does
	// not scan the keyspace; each room is updated atomically.
	RemoveNode(ctx context.Context, node string) ([]RoomKey, error)
}

// Options configure a Redis or Memory store. Zero values take defaults.
type Options struct {
	// Registerer receives the metrics (callcore_conference_store_*); nil
	// keeps them in a private registry. Stores sharing a Registerer share
	// the collectors.
	Registerer prometheus.Registerer
	// Logger receives the warnings (unreadable participant records); nil
	// discards them.
	Logger *slog.Logger
	// Now is Memory's clock (lease and record expiry); nil is time.Now.
	// Redis ignores it: its leases expire on the Redis server's clock.
	Now func() time.Time
}

// withDefaults returns o with defaults filled in.
func (o Options) withDefaults() Options {
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// checkName validates a non-empty name of at most MaxNameLen bytes.
func checkName(what, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s of %d bytes (want 1 to %d)", ErrInvalid, what, len(s), MaxNameLen)
	}
	return nil
}

// checkRoom validates an app key and a room id.
func checkRoom(app, id string) error {
	if err := checkName("app key", app); err != nil {
		return err
	}
	if id == "" || !utf8.ValidString(id) || utf8.RuneCountInString(id) > MaxIDLen {
		return fmt.Errorf("%w: room id %q (want 1 to %d characters of valid UTF-8)", ErrInvalid, id, MaxIDLen)
	}
	return nil
}

// checkTTL validates a lease TTL.
// checkClaim checks the arguments of a claim: a room, a node and a lease.
func checkClaim(app, id, node string, ttl time.Duration) error {
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("node", node); err != nil {
		return err
	}
	return checkTTL(ttl)
}

func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond || ttl > RecordTTL {
		return fmt.Errorf("%w: lease ttl %v (want 1ms to %v)", ErrInvalid, ttl, RecordTTL)
	}
	return nil
}

// checkJoin validates the arguments of Join.
func checkJoin(app, id string, p Participant, node string, ttl time.Duration) error {
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("call id", p.CallID); err != nil {
		return err
	}
	if err := checkName("participant node", p.Node); err != nil {
		return err
	}
	if err := checkName("node", node); err != nil {
		return err
	}
	return checkTTL(ttl)
}

// checkKeys validates a list of rooms.
func checkKeys(rooms []RoomKey) error {
	for _, k := range rooms {
		if err := checkRoom(k.App, k.ID); err != nil {
			return err
		}
	}
	return nil
}

// sortParticipants sorts ps by JoinedAt, then CallID.
func sortParticipants(ps []Participant) {
	slices.SortFunc(ps, func(a, b Participant) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.CallID, b.CallID)
	})
}

// sortKeys sorts ks by App, then ID.
func sortKeys(ks []RoomKey) {
	slices.SortFunc(ks, func(a, b RoomKey) int {
		if c := cmp.Compare(a.App, b.App); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// errBadParticipant is returned by decodeParticipant for an unreadable
// record.
var errBadParticipant = errors.New("rooms: bad participant record")

// encodeParticipant returns the JSON record of p.
func encodeParticipant(p Participant) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode participant %q: %w", p.CallID, err)
	}
	return string(b), nil
}

// decodeParticipant decodes the record of callID (the hash field it was
// read from). The record must be a JSON object whose id is callID and whose
// node is a valid name; anything else wraps errBadParticipant.
func decodeParticipant(callID, s string) (Participant, error) {
	if err := checkName("call id", callID); err != nil {
		return Participant{}, fmt.Errorf("%w: %v", errBadParticipant, err)
	}
	var p Participant
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return Participant{}, fmt.Errorf("%w: %q: %v", errBadParticipant, callID, err)
	}
	if p.CallID != callID {
		return Participant{}, fmt.Errorf("%w: %q: record names call %q", errBadParticipant, callID, p.CallID)
	}
	if err := checkName("node", p.Node); err != nil {
		return Participant{}, fmt.Errorf("%w: %q: %v", errBadParticipant, callID, err)
	}
	return p, nil
}
