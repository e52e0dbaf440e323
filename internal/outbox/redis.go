package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix NewRedis uses when given an empty one.
const DefaultPrefix = "callcore"

// GroupName is the consumer group every node of a region reads the outbox
// stream with.
const GroupName = "delivery"

// DeadMaxLen is the approximate length (XADD MAXLEN ~) the dead-letter
// stream is trimmed to.
const DeadMaxLen = 10000

// Internal tuning.
const (
	claimBatch       = 500
	recoverBatch     = 512
	flushBatch       = 256
	ackBatch         = 512
	ackTimeout       = 5 * time.Second
	ackMinBackoff    = 50 * time.Millisecond
	ackMaxBackoff    = 2 * time.Second
	readerMinBackoff = 50 * time.Millisecond
	readerMaxBackoff = time.Second
	closeAckGrace    = time.Second
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

// StreamKeys returns the outbox stream and dead-letter stream keys of a
// region prefix (DefaultPrefix if empty): "{prefix}:outbox" and
// "{prefix}:outbox:dead". The hash tag keeps both in one Redis Cluster slot,
// so a dead-letter XADD and the XACK+XDEL of the same entry run in one
// MULTI/EXEC.
func StreamKeys(prefix string) (stream, dead string) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	stream = "{" + prefix + "}:outbox"
	return stream, stream + ":dead"
}

// ackReq is an entry whose fate is to be written to Redis: acknowledged
// (XACK+XDEL) and, for a dead letter, first copied to the dead-letter
// stream.
type ackReq struct {
	streamID string // "" for a spilled entry: nothing to acknowledge
	dead     []any  // dead-letter fields; nil for a plain acknowledgement
}

// Redis is an Outbox over a Redis stream shared by the nodes of a region.
// See the package documentation for the protocol.
type Redis struct {
	client   redis.UniversalClient
	o        Options
	log      *slog.Logger
	m        *metrics
	eng      *engine
	stream   string
	deadKey  string
	consumer string
	node     string

	up     atomic.Bool // the last Redis command succeeded
	closed atomic.Bool

	mu      sync.Mutex
	held    map[string]struct{} // stream ids held: pending here or awaiting XACK
	acks    []ackReq
	unacked int

	ackSig  chan struct{}
	capSig  chan struct{}
	hint    chan struct{}
	ackStop chan struct{}
	ackDone chan struct{}

	cancelRead  context.CancelFunc
	readDone    chan struct{}
	needRecover bool // reader goroutine only

	closeOnce sync.Once
	closeErr  error
}

// NewRedis creates the stream and consumer group if needed (XGROUP CREATE
// … 0 MKSTREAM; BUSYGROUP is fine), resumes the entries still pending for
// earlier consumers of the same node id (ClaimNode of its own node: a
// restart), then starts reading. prefix scopes keys to a region (see
// StreamKeys); it must not contain '{' or '}'. For context deadlines to
// bound network waits, create client with ContextTimeoutEnabled.
func NewRedis(ctx context.Context, client redis.UniversalClient, prefix string, o Options) (*Redis, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("%w: prefix %q contains a brace", ErrInvalidOptions, prefix)
	}
	if o.Deliver == nil {
		return nil, fmt.Errorf("%w: Deliver is required", ErrInvalidOptions)
	}
	node, ok := nodeOf(o.Consumer)
	if !ok {
		return nil, fmt.Errorf("%w: Consumer %q is not \"<node>/<boot id>\"", ErrInvalidOptions, o.Consumer)
	}
	o = o.withDefaults()
	r := &Redis{
		client:   client,
		o:        o,
		log:      o.Logger.With("consumer", o.Consumer),
		consumer: o.Consumer,
		node:     node,
		held:     make(map[string]struct{}),
		ackSig:   make(chan struct{}, 1),
		capSig:   make(chan struct{}, 1),
		hint:     make(chan struct{}, 1),
		ackStop:  make(chan struct{}),
		ackDone:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
	r.stream, r.deadKey = StreamKeys(prefix)
	r.m = newMetrics(r.Stats) // registered once the engine runs: the gauges read it
	if err := r.createGroup(ctx); err != nil {
		return nil, err
	}
	r.up.Store(true)
	r.eng = newEngine(o, r.m, r)
	go r.ackLoop()
	stop := func() {
		_ = r.eng.shutdown(ctx)
		close(r.ackStop)
		<-r.ackDone
		r.flushAcks(ctx)
	}
	if err := r.m.register(o.Registerer); err != nil {
		stop()
		return nil, err
	}
	n, err := r.ClaimNode(ctx, node)
	if err != nil {
		stop()
		for _, c := range r.m.all {
			o.Registerer.Unregister(c)
		}
		return nil, fmt.Errorf("outbox: resume earlier consumers of node %s: %w", node, err)
	}
	if n > 0 {
		r.log.Info("outbox: resumed events of an earlier incarnation", "count", n)
	}
	readCtx, cancel := context.WithCancel(context.Background())
	r.cancelRead = cancel
	go r.read(readCtx)
	return r, nil
}

// Enqueue validates e, sets e.EnqueuedAt if zero and XADDs it to the
// stream (one round trip, bounded by Options.EnqueueTimeout). If Redis is
// unreachable (or known to be) the entry goes to the in-memory spill
// instead: delivered from memory with the same rules and written to the
// stream when Redis is back if still undelivered. It fails only for an invalid entry, after Close, or when the
// spill is full (ErrSpillFull).
func (r *Redis) Enqueue(ctx context.Context, e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	if r.closed.Load() {
		return fmt.Errorf("outbox: enqueue %s: %w", e.ID, ErrClosed)
	}
	if e.EnqueuedAt.IsZero() {
		e.EnqueuedAt = r.o.Now()
	}
	e.Attempts = 0
	if r.up.Load() {
		xctx, cancel := context.WithTimeout(ctx, r.o.EnqueueTimeout)
		err := r.client.XAdd(xctx, &redis.XAddArgs{Stream: r.stream, Values: encodeEntry(e)}).Err()
		cancel()
		if err == nil {
			r.m.enqueued.WithLabelValues(kindLabel(e.Kind)).Inc()
			r.poke()
			return nil
		}
		if ctx.Err() == nil { // the caller's cancellation says nothing about Redis
			r.redisFailed("xadd", err)
		}
	}
	e.Body = slices.Clone(e.Body) // held in memory: not the caller's buffer
	if err := r.eng.add(&item{e: e, spilled: true, index: -1}, r.o.SpillLimit); err != nil {
		if errors.Is(err, ErrSpillFull) {
			r.log.Error("outbox: event refused: redis unreachable and spill full",
				"call_id", e.CallID, "event_id", e.ID, "kind", e.Kind, "limit", r.o.SpillLimit)
		}
		return fmt.Errorf("outbox: enqueue %s: %w", e.ID, err)
	}
	r.m.enqueued.WithLabelValues(kindLabel(e.Kind)).Inc()
	r.log.Debug("outbox: event spilled to memory", "call_id", e.CallID, "event_id", e.ID)
	return nil
}

// ClaimNode takes over the entries pending for every consumer of node
// (names "<node>/…") except this one, and deletes each such consumer once
// it holds nothing (atomically: a consumer that still holds entries is
// never deleted). It returns how many entries were taken; they are
// delivered by this process. Call it from the node that found node dead
// (or left); NewRedis calls it for its own node's earlier incarnations.
// Two nodes claiming the same node at once split its entries.
func (r *Redis) ClaimNode(ctx context.Context, node string) (int, error) {
	if node == "" || strings.Contains(node, "/") {
		return 0, fmt.Errorf("%w: node id %q", ErrInvalidOptions, node)
	}
	consumers, err := r.client.XInfoConsumers(ctx, r.stream, GroupName).Result()
	if err != nil {
		if isNoGroup(err) {
			return 0, nil // nothing was ever read (or Redis lost everything)
		}
		r.redisFailed("xinfo consumers", err)
		return 0, fmt.Errorf("outbox: claim node %s: list consumers: %w", node, err)
	}
	total := 0
	for _, c := range consumers {
		if c.Name == r.consumer || !strings.HasPrefix(c.Name, node+"/") {
			continue
		}
		n, err := r.claimConsumer(ctx, c.Name)
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox: claim node %s: consumer %s: %w", node, c.Name, err)
		}
	}
	return total, nil
}

// claimConsumer claims every entry pending for consumer from, then deletes
// it if it holds nothing.
func (r *Redis) claimConsumer(ctx context.Context, from string) (int, error) {
	total := 0
	for {
		reply, err := claimScript.Run(ctx, r.client, []string{r.stream},
			GroupName, from, r.consumer, claimBatch).Slice()
		if err != nil {
			r.redisFailed("claim", err)
			return total, fmt.Errorf("claim: %w", err)
		}
		if len(reply) != 2 {
			return total, fmt.Errorf("claim: unexpected reply of %d elements", len(reply))
		}
		if n, _ := reply[0].(int64); n == 0 {
			break
		}
		msgs, err := parseMessages(reply[1])
		if err != nil {
			return total, fmt.Errorf("claim: %w", err)
		}
		r.accept(msgs)
		total += len(msgs)
	}
	res, err := delConsumerScript.Run(ctx, r.client, []string{r.stream}, GroupName, from).Int64()
	if err != nil {
		r.redisFailed("delconsumer", err)
		return total, fmt.Errorf("delete consumer: %w", err)
	}
	if res < 0 {
		r.log.Warn("outbox: claimed consumer got new entries meanwhile; not deleted", "claimed", from)
	}
	if total > 0 {
		r.log.Info("outbox: claimed pending events", "claimed", from, "count", total)
	}
	return total, nil
}

// Stats returns what this process holds.
func (r *Redis) Stats() Stats {
	s := r.eng.stats()
	r.mu.Lock()
	s.Unacked = r.unacked
	r.mu.Unlock()
	return s
}

// DeadLetters returns up to n (default and at most DeadMaxLen) of the most
// recent dead letters of the region, newest first.
func (r *Redis) DeadLetters(ctx context.Context, n int) ([]DeadLetter, error) {
	if n <= 0 || n > DeadMaxLen {
		n = DeadMaxLen
	}
	msgs, err := r.client.XRevRangeN(ctx, r.deadKey, "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: read dead letters: %w", err)
	}
	out := make([]DeadLetter, len(msgs))
	for i, msg := range msgs {
		out[i] = decodeDead(msg.Values)
	}
	return out, nil
}

// Close stops reading (waiting up to ReadBlock for the blocked
// XREADGROUP), waits for the running deliveries (bounded by ctx), writes
// the pending acknowledgements and the spilled entries still undelivered to
// Redis (with at most a second more if ctx is over), and leaves everything
// else pending for this consumer, for ClaimNode. Idempotent.
func (r *Redis) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { r.closeErr = r.close(ctx) })
	return r.closeErr
}

func (r *Redis) close(ctx context.Context) error {
	r.closed.Store(true)
	r.cancelRead()
	<-r.readDone
	err := r.eng.shutdown(ctx)
	close(r.ackStop)
	<-r.ackDone

	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeAckGrace)
		defer cancel()
	}
	r.flushAcks(wctx)
	if spilled := r.eng.pendingSpilled(); len(spilled) > 0 {
		if done := r.writeSpilled(wctx, spilled); done < len(spilled) {
			r.log.Error("outbox: closed with spilled events that could not be written to redis; they are lost",
				"count", len(spilled)-done)
		}
	}
	return err
}

// read is the reader goroutine: XREADGROUP ">" in a loop, reconnecting by
// itself.
func (r *Redis) read(ctx context.Context) {
	defer close(r.readDone)
	backoff := readerMinBackoff
	for ctx.Err() == nil {
		if r.up.Load() {
			if r.needRecover {
				if err := r.recoverOwn(ctx); err != nil {
					if ctx.Err() != nil {
						return
					}
					r.redisFailed("recover", err)
					r.pause(ctx, &backoff)
					continue
				}
				r.needRecover = false
			}
			r.flushSpill(ctx)
		}
		count := r.room()
		if count <= 0 {
			// Full: wait for acknowledgements to free room, looking after
			// the spill and recovery every ReadBlock meanwhile.
			t := time.NewTimer(r.o.ReadBlock)
			select {
			case <-ctx.Done():
			case <-r.capSig:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		streams, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    GroupName,
			Consumer: r.consumer,
			Streams:  []string{r.stream, ">"},
			Count:    int64(count),
			Block:    r.o.ReadBlock,
		}).Result()
		if ctx.Err() != nil {
			return // what was just read stays pending for this consumer
		}
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			r.redisOK()
			backoff = readerMinBackoff
			for _, s := range streams {
				r.accept(s.Messages)
			}
		case isNoGroup(err):
			// Redis answered but lost the group: a restart without
			// persistence, or someone deleted the key.
			r.redisOK()
			r.log.Warn("outbox: consumer group missing; creating it again", "stream", r.stream)
			if err := r.createGroup(ctx); err != nil {
				r.pause(ctx, &backoff)
			}
		default:
			r.redisFailed("xreadgroup", err)
			r.needRecover = true // a lost reply leaves entries pending for us
			r.pause(ctx, &backoff)
		}
	}
}

// pause waits *backoff (doubled for next time) or until poked.
func (r *Redis) pause(ctx context.Context, backoff *time.Duration) {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-r.hint:
	}
	*backoff = min(*backoff*2, readerMaxBackoff)
}

// poke wakes the reader if it is waiting to retry.
func (r *Redis) poke() {
	select {
	case r.hint <- struct{}{}:
	default:
	}
}

// room is how many more stream entries this process may take.
func (r *Redis) room() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return min(r.o.ReadCount, r.o.MaxLocal-len(r.held))
}

// accept schedules the entries read or claimed, skipping those held
// already. Malformed ones are dead-lettered; deleted ones (nil fields) are
// only acknowledged.
func (r *Redis) accept(msgs []redis.XMessage) {
	for _, msg := range msgs {
		r.mu.Lock()
		if _, dup := r.held[msg.ID]; dup {
			r.mu.Unlock()
			continue
		}
		r.held[msg.ID] = struct{}{}
		r.mu.Unlock()
		if msg.Values == nil {
			r.pushAck(ackReq{streamID: msg.ID})
			continue
		}
		e, err := decodeEntry(msg.Values)
		if err != nil {
			r.malformed(msg, err)
			continue
		}
		if err := r.eng.add(&item{e: e, streamID: msg.ID, index: -1}, 0); err != nil {
			// Closing: the entry stays pending for this consumer.
			r.unhold([]string{msg.ID})
		}
	}
}

// malformed dead-letters a stream entry that is not an outbox entry.
func (r *Redis) malformed(msg redis.XMessage, cause error) {
	raw := rawFields(msg.Values)
	kind := raw[fKind]
	r.m.deadLettered(kind, ReasonMalformed)
	r.log.Error("outbox: malformed stream entry dead-lettered", "stream_id", msg.ID,
		"call_id", truncate(raw[fCall], 128), "event_id", truncate(raw[fID], 128), "error", cause)
	r.pushAck(ackReq{streamID: msg.ID, dead: encodeDead(DeadLetter{
		Reason:   ReasonMalformed,
		Error:    cause.Error(),
		At:       r.o.Now(),
		Consumer: r.consumer,
		StreamID: msg.ID,
		Raw:      raw,
	})})
}

// recoverOwn re-reads the entries pending for this consumer (XREADGROUP
// from id 0) and schedules those not held: after a reader error the reply
// of a successful XREADGROUP may have been lost.
func (r *Redis) recoverOwn(ctx context.Context) error {
	last := "0"
	for {
		streams, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    GroupName,
			Consumer: r.consumer,
			Streams:  []string{r.stream, last},
			Count:    recoverBatch,
			Block:    -1,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil) || isNoGroup(err):
			return nil
		case err != nil:
			return fmt.Errorf("outbox: read own pending entries: %w", err)
		}
		if len(streams) == 0 || len(streams[0].Messages) == 0 {
			return nil
		}
		msgs := streams[0].Messages
		r.accept(msgs)
		last = msgs[len(msgs)-1].ID
	}
}

// flushSpill writes the spilled entries waiting for a retry to the stream
// (pipelined XADDs) and forgets them: a reader (this one, most likely)
// reads them back. Entries in flight are written on a later call.
func (r *Redis) flushSpill(ctx context.Context) {
	for {
		its := r.eng.takeSpilled(flushBatch)
		if len(its) == 0 {
			return
		}
		if done := r.writeSpilled(ctx, its); done < len(its) {
			return
		}
		r.log.Info("outbox: spilled events written to the stream", "count", len(its))
	}
}

// writeSpilled XADDs its in one pipeline, releases those written and puts
// the others back. It returns how many were written.
func (r *Redis) writeSpilled(ctx context.Context, its []*item) int {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(its))
	for i, it := range its {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: encodeEntry(it.e)})
	}
	_, err := pipe.Exec(ctx)
	var done, back []*item
	for i, c := range cmds {
		if c.Err() == nil {
			done = append(done, its[i])
		} else {
			back = append(back, its[i])
		}
	}
	r.eng.release(done)
	if len(back) > 0 {
		r.eng.putBack(back)
	}
	if err != nil {
		r.redisFailed("flush spill", err)
	}
	return len(done)
}

// delivered implements sink: acknowledge the stream entry.
func (r *Redis) delivered(it *item) {
	if it.streamID != "" {
		r.pushAck(ackReq{streamID: it.streamID})
	}
}

// dead implements sink: copy to the dead-letter stream and acknowledge.
func (r *Redis) dead(it *item, reason string, cause error) {
	d := DeadLetter{Entry: it.e, Reason: reason, At: r.o.Now(), Consumer: r.consumer, StreamID: it.streamID}
	if cause != nil {
		d.Error = cause.Error()
	}
	r.pushAck(ackReq{streamID: it.streamID, dead: encodeDead(d)})
}

func (r *Redis) pushAck(a ackReq) {
	r.mu.Lock()
	r.acks = append(r.acks, a)
	if a.streamID != "" {
		r.unacked++
	}
	r.mu.Unlock()
	select {
	case r.ackSig <- struct{}{}:
	default:
	}
}

// takeAcks removes up to n acknowledgements from the queue.
func (r *Redis) takeAcks(n int) []ackReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, len(r.acks))
	if n == 0 {
		return nil
	}
	batch := make([]ackReq, n)
	copy(batch, r.acks)
	rest := copy(r.acks, r.acks[n:])
	clear(r.acks[rest:])
	r.acks = r.acks[:rest]
	return batch
}

// requeueAcks puts a failed batch back at the front of the queue.
func (r *Redis) requeueAcks(batch []ackReq) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(batch, r.acks...)
}

// unhold forgets stream ids whose fate is written (or that are left
// pending at Close) and lets the reader read more.
func (r *Redis) unhold(ids []string) {
	if len(ids) == 0 {
		return
	}
	r.mu.Lock()
	for _, id := range ids {
		delete(r.held, id)
	}
	r.mu.Unlock()
	select {
	case r.capSig <- struct{}{}:
	default:
	}
}

// ackLoop writes acknowledgements as they come, batching those that
// complete together, retrying with backoff while Redis is unreachable.
func (r *Redis) ackLoop() {
	defer close(r.ackDone)
	backoff := ackMinBackoff
	for {
		select {
		case <-r.ackSig:
		case <-r.ackStop:
			return
		}
		for {
			batch := r.takeAcks(ackBatch)
			if len(batch) == 0 {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
			err := r.writeAcks(ctx, batch)
			cancel()
			if err == nil {
				backoff = ackMinBackoff
				continue
			}
			r.requeueAcks(batch)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-r.ackStop:
				t.Stop()
				return
			}
			backoff = min(backoff*2, ackMaxBackoff)
		}
	}
}

// flushAcks writes what is left in the acknowledgement queue, at Close.
func (r *Redis) flushAcks(ctx context.Context) {
	for {
		batch := r.takeAcks(ackBatch)
		if len(batch) == 0 {
			return
		}
		if err := r.writeAcks(ctx, batch); err != nil {
			r.requeueAcks(batch)
			r.mu.Lock()
			n := len(r.acks)
			r.mu.Unlock()
			r.log.Warn("outbox: closed with acknowledgements not written; those events will be delivered again",
				"count", n, "error", err)
			return
		}
	}
}

// writeAcks writes one batch in one MULTI/EXEC round trip: the dead-letter
// XADDs, then XACK and XDEL of every stream id.
func (r *Redis) writeAcks(ctx context.Context, batch []ackReq) error {
	pipe := r.client.TxPipeline()
	ids := make([]string, 0, len(batch))
	for _, a := range batch {
		if a.dead != nil {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.deadKey, MaxLen: DeadMaxLen, Approx: true, Values: a.dead})
		}
		if a.streamID != "" {
			ids = append(ids, a.streamID)
		}
	}
	if len(ids) > 0 {
		pipe.XAck(ctx, r.stream, GroupName, ids...)
		pipe.XDel(ctx, r.stream, ids...)
	}
	_, err := pipe.Exec(ctx)
	switch {
	case err == nil:
	case isFinal(err):
		// The server refused a command (e.g. WRONGTYPE): retrying would not
		// help, and the rest of the transaction ran.
		r.m.redisErrors.Inc()
		r.log.Error("outbox: acknowledgement refused by redis", "count", len(batch), "error", err)
	default:
		r.redisFailed("ack", err)
		return fmt.Errorf("outbox: acknowledge %d entries: %w", len(batch), err)
	}
	r.mu.Lock()
	r.unacked -= len(ids)
	r.mu.Unlock()
	r.unhold(ids)
	return nil
}

// createGroup creates the stream and the group, reading from the start so
// that entries written while the group did not exist are delivered.
func (r *Redis) createGroup(ctx context.Context) error {
	err := r.client.XGroupCreateMkStream(ctx, r.stream, GroupName, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		r.redisFailed("xgroup create", err)
		return fmt.Errorf("outbox: create consumer group %s on %s: %w", GroupName, r.stream, err)
	}
	return nil
}

// redisFailed counts a Redis error and logs the first of an outage.
func (r *Redis) redisFailed(op string, err error) {
	r.m.redisErrors.Inc()
	if r.up.CompareAndSwap(true, false) {
		r.log.Warn("outbox: redis unreachable; events are spilled to memory and delivered from there",
			"op", op, "error", err)
		return
	}
	r.log.Debug("outbox: redis error", "op", op, "error", err)
}

// redisOK records a successful read (reader goroutine only) and, at the end
// of an outage, logs it and asks for a recovery of this consumer's entries.
func (r *Redis) redisOK() {
	if r.up.CompareAndSwap(false, true) {
		r.log.Info("outbox: redis reachable again")
		r.needRecover = true
	}
}

// isNoGroup reports a NOGROUP reply (missing stream or group).
func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// isFinal reports a server reply that retrying cannot change.
func isFinal(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "WRONGTYPE") || strings.HasPrefix(msg, "ERR")
}
