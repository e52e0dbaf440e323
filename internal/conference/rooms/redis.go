package rooms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// removeBatch is the number of rooms RemoveNode updates per script call,
// which bounds the time one call blocks Redis.
const removeBatch = 128

// Redis is a Store in Redis, shared by the nodes of a region. See the
// package documentation for the keys and the scripts.
type Redis struct {
	client redis.UniversalClient
	k      keys
	log    *slog.Logger
	m      *metrics
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client (standalone, Sentinel or Cluster)
// under prefix (DefaultPrefix if empty), e.g. "callcore:eu": every key is
// under the hash tag "{prefix}". It does not contact Redis. It panics if
// client is nil, if prefix contains a brace, or if opts.Registerer holds
// different collectors under the metric names (programming errors). For
// context deadlines to bound network waits, create client with
// ContextTimeoutEnabled.
func NewRedis(client redis.UniversalClient, prefix string, opts Options) *Redis {
	if client == nil {
		panic("rooms: NewRedis with a nil client")
	}
	k, err := newKeys(prefix)
	if err != nil {
		panic(err)
	}
	opts = opts.withDefaults()
	return &Redis{client: client, k: k, log: opts.Logger, m: mustMetrics(opts.Registerer)}
}

// ms returns d in whole milliseconds, at least 1.
func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }

// Join implements Store: one round trip (EVALSHA).
func (r *Redis) Join(ctx context.Context, app, id string, p Participant, node string, ttl time.Duration) (_ Room, err error) {
	defer r.m.observe(opJoin, time.Now(), &err)
	if err := checkJoin(app, id, p, node, ttl); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	js, err := encodeParticipant(p)
	if err != nil {
		return Room{}, err
	}
	ref := roomRef(rk)
	res, err := joinScript.Run(ctx, r.client,
		[]string{r.k.room(ref), r.k.host(ref), r.k.byNode, r.k.epoch},
		p.CallID, js, nodeRef(p.Node), ref, node, ms(ttl), ms(RecordTTL)).Result()
	if err != nil {
		return Room{}, fmt.Errorf("rooms: join %s: %w", rk, err)
	}
	room, err := r.snapshot(rk, res)
	if err != nil {
		return Room{}, fmt.Errorf("rooms: join %s: %w", rk, err)
	}
	return room, nil
}

// Leave implements Store: one round trip.
func (r *Redis) Leave(ctx context.Context, app, id, callID string) (_ int, err error) {
	defer r.m.observe(opLeave, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return 0, err
	}
	if err := checkName("call id", callID); err != nil {
		return 0, err
	}
	rk := RoomKey{App: app, ID: id}
	ref := roomRef(rk)
	n, err := leaveScript.Run(ctx, r.client,
		[]string{r.k.room(ref), r.k.host(ref), r.k.byNode},
		callID, ref, ms(RecordTTL)).Int()
	if err != nil {
		return 0, fmt.Errorf("rooms: leave %s: %w", rk, err)
	}
	return n, nil
}

// Get implements Store: one round trip (MULTI: HGETALL, GET).
func (r *Redis) Get(ctx context.Context, app, id string) (_ Room, err error) {
	defer r.m.observe(opGet, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	ref := roomRef(rk)
	var all *redis.MapStringStringCmd
	var host *redis.StringCmd
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, r.k.room(ref))
		host = p.Get(ctx, r.k.host(ref))
		return nil
	})
	if err := firstErr(err, all, host); err != nil {
		return Room{}, fmt.Errorf("rooms: get %s: %w", rk, err)
	}
	fields := all.Val()
	if len(fields) == 0 {
		return Room{}, fmt.Errorf("rooms: get %s: %w", rk, ErrNotFound)
	}
	return r.room(rk, host.Val(), fields["epoch"], func(yield func(string, string) bool) {
		for f, v := range fields {
			if !yield(f, v) {
				return
			}
		}
	}), nil
}

// SetFlags implements Store: one round trip.
func (r *Redis) SetFlags(ctx context.Context, app, id, callID string, muted, onhold bool) (err error) {
	defer r.m.observe(opSetFlags, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("call id", callID); err != nil {
		return err
	}
	rk := RoomKey{App: app, ID: id}
	res, err := setFlagsScript.Run(ctx, r.client, []string{r.k.room(roomRef(rk))},
		callID, flag(muted), flag(onhold), ms(RecordTTL)).Int()
	switch {
	case err != nil:
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, err)
	case res == flagsNotFound:
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, ErrNotFound)
	case res == flagsNoParticipant:
		return fmt.Errorf("rooms: set flags of %q in %s: %w", callID, rk, ErrNoParticipant)
	}
	return nil
}

// flag is the script argument of a boolean.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Renew implements Store: one round trip for all the rooms.
func (r *Redis) Renew(ctx context.Context, node string, rooms []RoomKey, ttl time.Duration) (_ []RoomKey, err error) {
	defer r.m.observe(opRenew, time.Now(), &err)
	if err := checkName("node", node); err != nil {
		return nil, err
	}
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	if err := checkKeys(rooms); err != nil {
		return nil, err
	}
	if len(rooms) == 0 {
		return nil, nil
	}
	ks := make([]string, 0, 1+2*len(rooms))
	ks = append(ks, r.k.byNode)
	for _, rk := range rooms {
		ref := roomRef(rk)
		ks = append(ks, r.k.room(ref), r.k.host(ref))
	}
	pos, err := renewScript.Run(ctx, r.client, ks, node, ms(ttl), ms(RecordTTL)).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("rooms: renew %d leases of %q: %w", len(rooms), node, err)
	}
	var lost []RoomKey
	for _, i := range pos {
		if i < 1 || int(i) > len(rooms) {
			return nil, fmt.Errorf("rooms: renew: script returned position %d of %d", i, len(rooms))
		}
		lost = append(lost, rooms[i-1])
	}
	return lost, nil
}

// Claim implements Store: one round trip.
func (r *Redis) Claim(ctx context.Context, app, id, node, dead string, ttl time.Duration) (_ Room, err error) {
	defer r.m.observe(opClaim, time.Now(), &err)
	if err := checkClaim(app, id, node, ttl); err != nil {
		return Room{}, err
	}
	rk := RoomKey{App: app, ID: id}
	ref := roomRef(rk)
	res, err := claimScript.Run(ctx, r.client,
		[]string{r.k.room(ref), r.k.host(ref), r.k.epoch},
		node, dead, ms(ttl), ms(RecordTTL)).Result()
	if errors.Is(err, redis.Nil) {
		return Room{}, fmt.Errorf("rooms: claim %s: %w", rk, ErrNotFound)
	}
	if err != nil {
		return Room{}, fmt.Errorf("rooms: claim %s: %w", rk, err)
	}
	room, err := r.snapshot(rk, res)
	if err != nil {
		return Room{}, fmt.Errorf("rooms: claim %s: %w", rk, err)
	}
	return room, nil
}

// Release implements Store: one round trip.
func (r *Redis) Release(ctx context.Context, app, id, node string) (err error) {
	defer r.m.observe(opRelease, time.Now(), &err)
	if err := checkRoom(app, id); err != nil {
		return err
	}
	if err := checkName("node", node); err != nil {
		return err
	}
	rk := RoomKey{App: app, ID: id}
	if err := releaseScript.Run(ctx, r.client, []string{r.k.host(roomRef(rk))}, node).Err(); err != nil {
		return fmt.Errorf("rooms: release %s: %w", rk, err)
	}
	return nil
}

// Hosts implements Store: one round trip (MULTI: GET and HGET per room).
func (r *Redis) Hosts(ctx context.Context, rooms []RoomKey) (_ []HostLease, err error) {
	defer r.m.observe(opHosts, time.Now(), &err)
	if err := checkKeys(rooms); err != nil {
		return nil, err
	}
	out := make([]HostLease, len(rooms))
	if len(rooms) == 0 {
		return out, nil
	}
	hosts := make([]*redis.StringCmd, len(rooms))
	epochs := make([]*redis.StringCmd, len(rooms))
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, rk := range rooms {
			ref := roomRef(rk)
			hosts[i] = p.Get(ctx, r.k.host(ref))
			epochs[i] = p.HGet(ctx, r.k.room(ref), "epoch")
		}
		return nil
	})
	for i := range rooms {
		if err := firstErr(err, hosts[i], epochs[i]); err != nil {
			return nil, fmt.Errorf("rooms: hosts of %d rooms: %w", len(rooms), err)
		}
	}
	for i := range rooms {
		out[i].Host = hosts[i].Val()
		if e := epochs[i].Val(); e != "" {
			if out[i].Epoch, err = strconv.ParseInt(e, 10, 64); err != nil {
				return nil, fmt.Errorf("rooms: hosts: epoch of %s: %w", rooms[i], err)
			}
		}
	}
	return out, nil
}

// RemoveNode implements Store: per batch of up to 128 rooms of the node's
// index, one ZRANGE BYLEX and one script, and a last ZRANGE that finds the
// index empty.
func (r *Redis) RemoveNode(ctx context.Context, node string) (_ []RoomKey, err error) {
	defer r.m.observe(opRemoveNode, time.Now(), &err)
	if err := checkName("node", node); err != nil {
		return nil, err
	}
	w := nodeRef(node)
	touched := []RoomKey{}
	for {
		members, err := r.client.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: r.k.byNode, Start: "[" + w + ":", Stop: "(" + w + ";", ByLex: true, Count: removeBatch,
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("rooms: remove node %q: index: %w", node, err)
		}
		if len(members) == 0 {
			break
		}
		ks := make([]string, 0, 1+2*len(members))
		ks = append(ks, r.k.byNode)
		args := make([]any, 0, 2+len(members))
		args = append(args, w, ms(RecordTTL))
		refs := make([]string, len(members))
		for i, m := range members {
			refs[i] = strings.TrimPrefix(m, w+":")
			ks = append(ks, r.k.room(refs[i]), r.k.host(refs[i]))
			args = append(args, refs[i])
		}
		removed, err := removeNodeScript.Run(ctx, r.client, ks, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("rooms: remove node %q: %w", node, err)
		}
		for i, n := range removed {
			if n == 0 || i >= len(refs) {
				continue
			}
			rk, err := parseRoomRef(refs[i])
			if err != nil {
				r.log.Warn("rooms: bad member in the node index", "node", node, "member", members[i], "err", err)
				continue
			}
			touched = append(touched, rk)
		}
	}
	sortKeys(touched)
	return touched, nil
}

// firstErr returns the error of a transaction (err, as TxPipelined
// returned it) other than a missing key: the first error of cmds that is
// not redis.Nil, else err unless it is redis.Nil.
func firstErr(err error, cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return e
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// snapshot decodes the reply of a script's snapshot:
// {host or "", epoch, HGETALL of the room}.
func (r *Redis) snapshot(rk RoomKey, res any) (Room, error) {
	a, ok := res.([]any)
	if !ok || len(a) != 3 {
		return Room{}, fmt.Errorf("unexpected script reply %T", res)
	}
	host, _ := a[0].(string)
	epoch, _ := a[1].(string)
	flat, ok := a[2].([]any)
	if !ok || len(flat)%2 != 0 {
		return Room{}, fmt.Errorf("unexpected room fields in script reply %T", a[2])
	}
	return r.room(rk, host, epoch, func(yield func(string, string) bool) {
		for i := 0; i+1 < len(flat); i += 2 {
			f, _ := flat[i].(string)
			v, _ := flat[i+1].(string)
			if !yield(f, v) {
				return
			}
		}
	}), nil
}

// room builds a Room from the fields of its hash (any order), skipping
// and counting participant records that do not decode. An unreadable epoch
// reads as 0.
func (r *Redis) room(rk RoomKey, host, epoch string, fields func(yield func(string, string) bool)) Room {
	room := Room{App: rk.App, ID: rk.ID, Host: host, Participants: []Participant{}}
	room.HostEpoch, _ = strconv.ParseInt(epoch, 10, 64)
	for f, v := range fields {
		callID, ok := strings.CutPrefix(f, "p:")
		if !ok {
			continue
		}
		p, err := decodeParticipant(callID, v)
		if err != nil {
			r.m.bad.Inc()
			r.log.Warn("rooms: skipping an unreadable participant", "app", rk.App, "room", rk.ID, "err", err)
			continue
		}
		room.Participants = append(room.Participants, p)
	}
	sortParticipants(room.Participants)
	return room
}
