package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript moves up to ARGV[4] entries pending for consumer ARGV[2] to
// consumer ARGV[3], atomically, so that two nodes claiming the same dead
// consumer at once never both get an entry.
//
// KEYS[1] is the stream, ARGV[1] the group. Returns {n, entries}: n is the
// number of entries that were pending for ARGV[2] (0 when done), entries the
// XCLAIM reply (Redis 7 drops deleted entries from the PEL and the reply).
var claimScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
if #p == 0 then return {0, {}} end
local ids = {}
for i, e in ipairs(p) do ids[i] = e[1] end
return {#ids, redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))}
`)

// delConsumerScript deletes consumer ARGV[2] of group ARGV[1] of stream
// KEYS[1] only if it holds no pending entry. Returns -1 if it holds some,
// else the XGROUP DELCONSUMER reply (0).
var delConsumerScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`)

// Replies of adoptScript.
const (
	adoptGoOn    = 0  // entries left: keep reading the stream
	adoptDone    = 1  // the stream is gone (deleted now or before)
	adoptOwnerUp = -1 // its node is back: stop reading it
)

// adoptScript decides, atomically, what becomes of an adopted stream
// KEYS[1] (KEYS[2] is NodesKey, ARGV[1] the group, ARGV[2] "<owner node>/",
// ARGV[3] the live window in ms, ARGV[4] the owner node id):
//
//   - adoptOwnerUp if a consumer of the owner node was seen less than
//     ARGV[3] ms ago (XINFO CONSUMERS idle; the claimer deleted those of the
//     dead incarnation, so this is a new one), or if the stream exists
//     without the group (an XADD of the owner recreated it);
//   - adoptGoOn while the stream holds entries (unread, or pending for any
//     consumer: XLEN counts the entries not acknowledged yet, since an
//     acknowledgement deletes the entry);
//   - else it deletes the stream, removes the owner from NodesKey and
//     returns adoptDone (also when the stream does not exist).
var adoptScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
local ok, cs = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return -1 end
local window = tonumber(ARGV[3])
for _, c in ipairs(cs) do
  local name, idle = '', -1
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if string.sub(name, 1, #ARGV[2]) == ARGV[2] and idle >= 0 and idle < window then return -1 end
end
if redis.call('XLEN', KEYS[1]) > 0 then return 0 end
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
if p[1] > 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[4])
return 1
`)

// adoption is the stream of a dead node that this process reads too.
type adoption struct {
	node    string    // the node whose stream it is
	ready   bool      // ClaimNode read what it could; the reader reads the rest
	checked time.Time // last adoptScript run (reader goroutine only)
}

// ClaimNode takes over what node left, from the node that found it dead
// (or that it left); NewRedis calls it for its own node id, so that a
// restarted node resumes what its earlier incarnations left.
//
// In every outbox stream of the region (NodesKey, and node's own), it
// moves the entries pending for the consumers of node ("<node>/…") other
// than this one to this consumer, in stream order, and deletes each such
// consumer once it holds nothing (atomically: a consumer that still holds
// entries is never deleted). Then, unless node is this node, it adopts
// node's stream: it reads the entries nobody read yet (as many as
// Options.MaxLocal leaves room for, before returning; the reader reads the
// rest) and the reader goes on reading that stream next to this node's own
// until it is empty, then deletes it. It also adopts the streams node was
// adopting itself, unless their node is alive. Reading an adopted stream
// stops when a consumer of its node shows up (the node is back).
//
// It returns how many entries were taken (claimed or read); they are
// delivered by this process, the claimed ones before the unread ones. Two
// nodes claiming the same node at once split its entries.
func (r *Redis) ClaimNode(ctx context.Context, node string) (int, error) {
	if err := checkNode(node); err != nil {
		return 0, err
	}
	r.claimMu.Lock()
	defer r.claimMu.Unlock()
	nodes, err := r.client.SMembers(ctx, r.nodesKey).Result()
	if err != nil {
		r.redisFailed("smembers", err)
		return 0, fmt.Errorf("outbox: claim node %s: list streams: %w", node, err)
	}
	if !slices.Contains(nodes, node) {
		nodes = append(nodes, node)
	}
	slices.Sort(nodes)
	pipe := r.client.Pipeline()
	cmds := make([]*redis.XInfoConsumersCmd, len(nodes))
	for i, n := range nodes {
		cmds[i] = pipe.XInfoConsumers(ctx, StreamKey(r.prefix, n), GroupName)
	}
	_, _ = pipe.Exec(ctx)

	total := 0
	for i, owner := range nodes {
		consumers, err := cmds[i].Result()
		if isNoGroup(err) || isNoKey(err) {
			continue // no such stream (any more)
		}
		if err != nil {
			r.redisFailed("xinfo consumers", err)
			return total, fmt.Errorf("outbox: claim node %s: list consumers of %s: %w", node, owner, err)
		}
		var from []string
		ownerAlive := false
		for _, c := range consumers {
			cn, _ := nodeOf(c.Name)
			if cn == node && c.Name != r.consumer {
				from = append(from, c.Name)
			}
			if cn == owner && c.Idle < r.liveWindow {
				ownerAlive = true
			}
		}
		if owner != node && len(from) == 0 {
			continue // node was not reading this stream
		}
		stream := StreamKey(r.prefix, owner)
		n, err := r.claimStream(ctx, stream, from)
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox: claim node %s: %w", node, err)
		}
		// node's own stream is adopted even if a consumer of node looks
		// alive (the caller knows it is not; if it is back, the reader
		// notices it soon); a stream node was adopting only if its owner
		// looks dead.
		if owner == r.node || (owner != node && ownerAlive) {
			continue
		}
		n, err = r.adopt(ctx, owner, stream)
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox: claim node %s: adopt the stream of %s: %w", node, owner, err)
		}
	}
	return total, nil
}

// claimStream claims every entry of stream pending for the consumers from,
// schedules them in stream order and deletes the consumers that hold
// nothing any more.
func (r *Redis) claimStream(ctx context.Context, stream string, from []string) (int, error) {
	var msgs []redis.XMessage
	var claimErr error
claim:
	for _, c := range from {
		for {
			reply, err := claimScript.Run(ctx, r.client, []string{stream},
				GroupName, c, r.consumer, claimBatch).Slice()
			if err != nil {
				r.redisFailed("claim", err)
				claimErr = fmt.Errorf("claim %s in %s: %w", c, stream, err)
				break claim
			}
			if len(reply) != 2 {
				claimErr = fmt.Errorf("claim %s in %s: unexpected reply of %d elements", c, stream, len(reply))
				break claim
			}
			if n, _ := reply[0].(int64); n == 0 {
				break
			}
			got, err := parseMessages(reply[1])
			if err != nil {
				claimErr = fmt.Errorf("claim %s in %s: %w", c, stream, err)
				break claim
			}
			msgs = append(msgs, got...)
		}
	}
	// Whatever was claimed is pending for this consumer now: schedule it
	// even after an error, oldest first so that a call's events keep their
	// order across the consumers of the dead node.
	slices.SortStableFunc(msgs, func(a, b redis.XMessage) int { return compareStreamIDs(a.ID, b.ID) })
	r.accept(stream, msgs)
	if len(msgs) > 0 {
		r.log.Info("outbox: claimed pending events", "stream", stream, "claimed", from, "count", len(msgs))
	}
	if claimErr != nil {
		return len(msgs), claimErr
	}
	for _, c := range from {
		res, err := delConsumerScript.Run(ctx, r.client, []string{stream}, GroupName, c).Int64()
		if err != nil {
			r.redisFailed("delconsumer", err)
			return len(msgs), fmt.Errorf("delete consumer %s of %s: %w", c, stream, err)
		}
		if res < 0 {
			r.log.Warn("outbox: claimed consumer got new entries meanwhile; not deleted", "stream", stream, "claimed", c)
		}
	}
	return len(msgs), nil
}

// adopt starts reading the stream of owner: it creates this consumer there
// (so that a node claiming this one finds the adoption), reads the unread
// entries as far as MaxLocal allows, then hands the stream to the reader.
func (r *Redis) adopt(ctx context.Context, owner, stream string) (int, error) {
	r.mu.Lock()
	if _, ok := r.adopted[stream]; ok {
		r.mu.Unlock()
		return 0, nil
	}
	a := &adoption{node: owner}
	r.adopted[stream] = a
	r.mu.Unlock()
	ready := func() {
		r.mu.Lock()
		a.ready = true
		r.mu.Unlock()
	}

	read := 0
	for first := true; ; first = false {
		count := r.room()
		if count <= 0 && !first {
			break
		}
		pipe := r.client.Pipeline()
		if first {
			pipe.XGroupCreateConsumer(ctx, stream, GroupName, r.consumer)
		}
		cmd := pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: GroupName, Consumer: r.consumer, Streams: []string{stream, ">"},
			Count: int64(max(1, count)), Block: -1,
		})
		_, _ = pipe.Exec(ctx)
		res, err := cmd.Result()
		if isNoGroup(err) {
			r.dropAdoption(stream, "") // deleted meanwhile: nothing to adopt
			return read, nil
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			r.redisFailed("adopt", err)
			ready() // the reader reads it
			return read, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(res) == 0 || len(res[0].Messages) == 0 {
			break
		}
		r.accept(stream, res[0].Messages)
		read += len(res[0].Messages)
	}
	ready()
	r.log.Info("outbox: reading the stream of a dead node", "node", owner, "stream", stream, "read", read)
	return read, nil
}

// dropAdoption stops reading an adopted stream (logging why if not "").
// The entries of it held here are still delivered and acknowledged.
func (r *Redis) dropAdoption(stream, why string) {
	r.mu.Lock()
	a, ok := r.adopted[stream]
	delete(r.adopted, stream)
	r.mu.Unlock()
	if ok && why != "" {
		r.log.Info(why, "node", a.node, "stream", stream)
	}
}

// readStreams returns the streams the reader reads: the adopted ones
// (first, so that in one reply the entries of a dead node come before this
// node's) and this node's.
func (r *Redis) readStreams() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.adopted)+1)
	for s, a := range r.adopted {
		if a.ready {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return append(out, r.stream)
}

// checkAdoptions runs adoptScript on each adopted stream at most once per
// ReadBlock (reader goroutine only): the stream is deleted once empty, and
// no longer read once its node is back.
func (r *Redis) checkAdoptions(ctx context.Context) {
	type due struct {
		stream string
		a      *adoption
	}
	var todo []due
	now := time.Now()
	r.mu.Lock()
	for s, a := range r.adopted {
		if a.ready && now.Sub(a.checked) >= r.o.ReadBlock {
			a.checked = now
			todo = append(todo, due{s, a})
		}
	}
	r.mu.Unlock()
	for _, d := range todo {
		res, err := adoptScript.Run(ctx, r.client, []string{d.stream, r.nodesKey},
			GroupName, d.a.node+"/", r.liveWindow.Milliseconds(), d.a.node).Int64()
		if err != nil {
			if ctx.Err() == nil {
				r.redisFailed("adopt check", err)
			}
			return
		}
		switch res {
		case adoptDone:
			r.dropAdoption(d.stream, "outbox: the stream of a dead node is drained and deleted")
		case adoptOwnerUp:
			r.dropAdoption(d.stream, "outbox: a node whose stream was adopted is back; no longer reading it")
			// Leave no idle consumer behind (refused while it holds entries,
			// which this process still delivers and acknowledges).
			if _, err := delConsumerScript.Run(ctx, r.client, []string{d.stream}, GroupName, r.consumer).Result(); err != nil && ctx.Err() == nil {
				r.log.Debug("outbox: could not delete the adopting consumer", "stream", d.stream, "error", err)
			}
		}
	}
}

// parseStreamID parses a stream entry id "<ms>-<seq>".
func parseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	seq, err = strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return ms, seq, true
}

// compareStreamIDs orders stream ids as Redis does; an id that does not
// parse sorts after the valid ones, by its text.
func compareStreamIDs(a, b string) int {
	am, as, aok := parseStreamID(a)
	bm, bs, bok := parseStreamID(b)
	switch {
	case aok && bok:
		if am != bm {
			return cmp.Compare(am, bm)
		}
		return cmp.Compare(as, bs)
	case aok:
		return -1
	case bok:
		return 1
	}
	return strings.Compare(a, b)
}
