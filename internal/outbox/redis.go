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

// GroupName is the consumer group of every outbox stream.
const GroupName = "delivery"

// DeadMaxLen is the approximate length (XADD MAXLEN ~) the dead-letter
// stream is trimmed to.
const DeadMaxLen = 10000

// ReservedNode is the node id that cannot have an outbox stream: its key
// would be the dead-letter stream's.
const ReservedNode = "dead"

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
	minLiveWindow    = 2 * time.Second
)

// StreamKey returns the outbox stream of node in a region prefix
// (DefaultPrefix if empty): "{prefix}:outbox:<node>". Every outbox key has
// the hash tag "{prefix}", so all of them live in one Redis Cluster slot and
// the multi-key transactions and scripts are legal.
func StreamKey(prefix, node string) string {
	return keyBase(prefix) + ":" + node
}

// DeadLetterKey returns the dead-letter stream of a region prefix, shared by
// its nodes: "{prefix}:outbox:dead".
func DeadLetterKey(prefix string) string {
	return keyBase(prefix) + ":" + ReservedNode
}

// NodesKey returns the set of the node ids that have an outbox stream in a
// region prefix: "{prefix}:outbox-nodes". ClaimNode looks there for the
// streams a dead node was reading.
func NodesKey(prefix string) string {
	return keyBase(prefix) + "-nodes"
}

func keyBase(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return "{" + prefix + "}:outbox"
}

// checkNode validates a node id for a stream key.
func checkNode(node string) error {
	if node == "" || strings.Contains(node, "/") || node == ReservedNode {
		return fmt.Errorf("%w: node id %q", ErrInvalidOptions, node)
	}
	return nil
}

// entryRef names one stream entry.
type entryRef struct{ stream, id string }

// ackReq is an entry whose fate is to be written to Redis: acknowledged
// (XACK+XDEL) and, for a dead letter, first copied to the dead-letter
// stream.
type ackReq struct {
	ref  entryRef // zero for a spilled entry: nothing to acknowledge
	dead []any    // dead-letter fields; nil for a plain acknowledgement
}

// Redis is an Outbox over Redis streams, one per node of a region. See the
// package documentation for the protocol.
type Redis struct {
	client     redis.UniversalClient
	o          Options
	log        *slog.Logger
	m          *metrics
	eng        *engine
	prefix     string
	stream     string // this node's stream
	deadKey    string
	nodesKey   string
	consumer   string
	node       string
	liveWindow time.Duration // a consumer seen this recently is alive

	up     atomic.Bool // the last Redis command succeeded
	closed atomic.Bool

	mu      sync.Mutex
	held    map[entryRef]struct{} // entries held: pending here or awaiting XACK
	acks    []ackReq
	unacked int
	adopted map[string]*adoption // streams of dead nodes read too, by key

	claimMu sync.Mutex // one ClaimNode at a time

	ackSig  chan struct{}
	capSig  chan struct{}
	hint    chan struct{}
	ackStop chan struct{}
	ackDone chan struct{}

	cancelRead  context.CancelFunc
	readDone    chan struct{}
	needRecover bool      // reader goroutine only
	seen        time.Time // reader goroutine only: last read that refreshed this consumer

	closeOnce sync.Once
	closeErr  error
}

// NewRedis creates this node's stream and its consumer group if needed
// (XGROUP CREATE … 0 MKSTREAM; BUSYGROUP is fine) and its consumer,
// registers the node in NodesKey, resumes what earlier consumers of the
// same node id left (ClaimNode of its own node: a restart), then starts
// reading. prefix scopes keys to a region (see StreamKey); it must not
// contain '{' or '}'. The node id (the part of Options.Consumer before "/")
// must not be ReservedNode. For context deadlines to bound network waits,
// create client with ContextTimeoutEnabled.
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
	if err := checkNode(node); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	r := &Redis{
		client:     client,
		o:          o,
		log:        o.Logger.With("consumer", o.Consumer),
		prefix:     prefix,
		stream:     StreamKey(prefix, node),
		deadKey:    DeadLetterKey(prefix),
		nodesKey:   NodesKey(prefix),
		consumer:   o.Consumer,
		node:       node,
		liveWindow: max(minLiveWindow, 4*o.ReadBlock),
		held:       make(map[entryRef]struct{}),
		adopted:    make(map[string]*adoption),
		ackSig:     make(chan struct{}, 1),
		capSig:     make(chan struct{}, 1),
		hint:       make(chan struct{}, 1),
		ackStop:    make(chan struct{}),
		ackDone:    make(chan struct{}),
		readDone:   make(chan struct{}),
	}
	r.m = newMetrics(r.Stats) // registered once the engine runs: the gauges read it
	if err := r.createGroup(ctx); err != nil {
		return nil, err
	}
	r.seen = time.Now()
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

// Enqueue validates e, sets e.EnqueuedAt if zero and XADDs it to this
// node's stream (one round trip, bounded by Options.EnqueueTimeout). If
// Redis is unreachable (or known to be) the entry goes to the in-memory
// spill instead: delivered from memory with the same rules and written to
// the stream when Redis is back if still undelivered. It fails only for an
// invalid entry, after Close, or when the spill is full (ErrSpillFull).
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

// read is the reader goroutine: XREADGROUP ">" on this node's stream and
// the adopted ones in a loop, reconnecting by itself.
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
		streams := r.readStreams()
		count := r.room()
		if count <= 0 {
			// Full: wait for acknowledgements to free room, looking after
			// the spill, recovery and adoptions every ReadBlock meanwhile.
			t := time.NewTimer(r.o.ReadBlock)
			select {
			case <-ctx.Done():
			case <-r.capSig:
			case <-t.C:
				r.touch(ctx)
				r.checkAdoptions(ctx)
			}
			t.Stop()
			continue
		}
		args := make([]string, 0, 2*len(streams))
		args = append(args, streams...)
		for range streams {
			args = append(args, ">")
		}
		res, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    GroupName,
			Consumer: r.consumer,
			Streams:  args,
			Count:    int64(max(1, count/len(streams))),
			Block:    r.o.ReadBlock,
		}).Result()
		if ctx.Err() != nil {
			return // what was just read stays pending for this consumer
		}
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			r.redisOK()
			backoff = readerMinBackoff
			for _, s := range res {
				if s.Stream == r.stream && len(s.Messages) > 0 {
					r.seen = time.Now()
				}
				r.accept(s.Stream, s.Messages)
			}
			r.touch(ctx)
		case isNoGroup(err):
			// Redis answered but a stream or its group is gone: a restart
			// without persistence, an adopted stream deleted by another
			// node, or someone deleted a key.
			r.redisOK()
			if err := r.lostGroups(ctx, streams); err != nil {
				r.pause(ctx, &backoff)
			}
		default:
			r.redisFailed("xreadgroup", err)
			r.needRecover = true // a lost reply leaves entries pending for us
			r.pause(ctx, &backoff)
		}
		r.checkAdoptions(ctx)
	}
}

// touch makes this consumer look alive to the nodes that consider adopting
// this node's stream (XINFO CONSUMERS idle): Redis 7.0 does not refresh it
// for a blocked XREADGROUP that got nothing. At most once per ReadBlock, one
// XREADGROUP of this consumer's own history (COUNT 1), which also recreates
// the consumer if another node deleted it.
func (r *Redis) touch(ctx context.Context) {
	if time.Since(r.seen) < r.o.ReadBlock || !r.up.Load() {
		return
	}
	res, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: GroupName, Consumer: r.consumer, Streams: []string{r.stream, "0"}, Count: 1, Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() == nil && !isNoGroup(err) {
			r.redisFailed("touch", err)
		}
		return
	}
	r.seen = time.Now()
	for _, s := range res {
		r.accept(s.Stream, s.Messages) // held already, unless a reply was lost
	}
}

// lostGroups finds out which of streams lost their group after a NOGROUP
// reply: this node's is created again, adopted ones are dropped.
func (r *Redis) lostGroups(ctx context.Context, streams []string) error {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.XInfoGroupsCmd, len(streams))
	for i, s := range streams {
		cmds[i] = pipe.XInfoGroups(ctx, s)
	}
	_, _ = pipe.Exec(ctx)
	for i, s := range streams {
		groups, err := cmds[i].Result()
		if err != nil && !isNoGroup(err) && !isNoKey(err) {
			r.redisFailed("xinfo groups", err)
			return fmt.Errorf("outbox: check groups: %w", err)
		}
		if slices.ContainsFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == GroupName }) {
			continue
		}
		if s != r.stream {
			r.dropAdoption(s, "outbox: adopted stream is gone; no longer reading it")
			continue
		}
		r.log.Warn("outbox: consumer group missing; creating it again", "stream", r.stream)
		if err := r.createGroup(ctx); err != nil {
			return err
		}
	}
	return nil
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

// accept schedules the entries of stream read or claimed, in their order,
// skipping those held already. Malformed ones are dead-lettered; deleted
// ones (nil fields) are only acknowledged.
func (r *Redis) accept(stream string, msgs []redis.XMessage) {
	for _, msg := range msgs {
		ref := entryRef{stream: stream, id: msg.ID}
		r.mu.Lock()
		if _, dup := r.held[ref]; dup {
			r.mu.Unlock()
			continue
		}
		r.held[ref] = struct{}{}
		r.mu.Unlock()
		if msg.Values == nil {
			r.pushAck(ackReq{ref: ref})
			continue
		}
		e, err := decodeEntry(msg.Values)
		if err != nil {
			r.malformed(ref, msg, err)
			continue
		}
		if err := r.eng.add(&item{e: e, stream: stream, streamID: msg.ID, index: -1}, 0); err != nil {
			// Closing: the entry stays pending for this consumer.
			r.unhold([]entryRef{ref})
		}
	}
}

// malformed dead-letters a stream entry that is not an outbox entry.
func (r *Redis) malformed(ref entryRef, msg redis.XMessage, cause error) {
	raw := rawFields(msg.Values)
	kind := raw[fKind]
	r.m.deadLettered(kind, ReasonMalformed)
	r.log.Error("outbox: malformed stream entry dead-lettered", "stream", ref.stream, "stream_id", msg.ID,
		"call_id", truncate(raw[fCall], 128), "event_id", truncate(raw[fID], 128), "error", cause)
	r.pushAck(ackReq{ref: ref, dead: encodeDead(DeadLetter{
		Reason:   ReasonMalformed,
		Error:    cause.Error(),
		At:       r.o.Now(),
		Consumer: r.consumer,
		StreamID: msg.ID,
		Raw:      raw,
	})})
}

// recoverOwn re-reads the entries pending for this consumer (XREADGROUP
// from id 0) in this node's stream and the adopted ones, and schedules
// those not held: after a reader error the reply of a successful
// XREADGROUP may have been lost.
func (r *Redis) recoverOwn(ctx context.Context) error {
	for _, stream := range r.readStreams() {
		if err := r.readHistory(ctx, stream); err != nil {
			return err
		}
	}
	return nil
}

// readHistory schedules the entries of stream pending for this consumer.
func (r *Redis) readHistory(ctx context.Context, stream string) error {
	last := "0"
	for {
		res, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    GroupName,
			Consumer: r.consumer,
			Streams:  []string{stream, last},
			Count:    recoverBatch,
			Block:    -1,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil) || isNoGroup(err):
			return nil
		case err != nil:
			return fmt.Errorf("outbox: read own pending entries of %s: %w", stream, err)
		}
		if len(res) == 0 || len(res[0].Messages) == 0 {
			return nil
		}
		msgs := res[0].Messages
		r.accept(stream, msgs)
		last = msgs[len(msgs)-1].ID
	}
}

// flushSpill writes the spilled entries waiting for a retry to this node's
// stream (pipelined XADDs); they stay scheduled here, as stream entries
// (see writeSpilled). Entries in flight are written on a later call.
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

// writeSpilled XADDs its (taken from the engine) in one pipeline, in their
// order, and hands them back: those written become stream entries held by
// this process, in the same place of their call's FIFO (the reader skips
// them when it reads them: they are held); the others stay spilled. It
// returns how many were written.
func (r *Redis) writeSpilled(ctx context.Context, its []*item) int {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(its))
	for i, it := range its {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: encodeEntry(it.e)})
	}
	_, err := pipe.Exec(ctx)
	ids := make([]string, len(its))
	done := 0
	r.mu.Lock()
	for i, c := range cmds {
		if id, cerr := c.Result(); cerr == nil {
			ids[i] = id
			r.held[entryRef{stream: r.stream, id: id}] = struct{}{}
			done++
		}
	}
	r.mu.Unlock()
	r.eng.finishFlush(its, r.stream, ids)
	if err != nil {
		r.redisFailed("flush spill", err)
	}
	return done
}

// delivered implements sink: acknowledge the stream entry.
func (r *Redis) delivered(it *item) {
	if it.streamID != "" {
		r.pushAck(ackReq{ref: entryRef{stream: it.stream, id: it.streamID}})
	}
}

// dead implements sink: copy to the dead-letter stream and acknowledge.
func (r *Redis) dead(it *item, reason string, cause error) {
	d := DeadLetter{Entry: it.e, Reason: reason, At: r.o.Now(), Consumer: r.consumer, StreamID: it.streamID}
	if cause != nil {
		d.Error = cause.Error()
	}
	a := ackReq{dead: encodeDead(d)}
	if it.streamID != "" {
		a.ref = entryRef{stream: it.stream, id: it.streamID}
	}
	r.pushAck(a)
}

func (r *Redis) pushAck(a ackReq) {
	r.mu.Lock()
	r.acks = append(r.acks, a)
	if a.ref.id != "" {
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

// unhold forgets entries whose fate is written (or that are left pending
// at Close) and lets the reader read more.
func (r *Redis) unhold(refs []entryRef) {
	if len(refs) == 0 {
		return
	}
	r.mu.Lock()
	for _, ref := range refs {
		delete(r.held, ref)
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
// XADDs, then XACK and XDEL of the entries of each stream (all the keys
// share one hash slot).
func (r *Redis) writeAcks(ctx context.Context, batch []ackReq) error {
	pipe := r.client.TxPipeline()
	var refs []entryRef
	byStream := make(map[string][]string, 1)
	var order []string
	for _, a := range batch {
		if a.dead != nil {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.deadKey, MaxLen: DeadMaxLen, Approx: true, Values: a.dead})
		}
		if a.ref.id != "" {
			refs = append(refs, a.ref)
			if _, ok := byStream[a.ref.stream]; !ok {
				order = append(order, a.ref.stream)
			}
			byStream[a.ref.stream] = append(byStream[a.ref.stream], a.ref.id)
		}
	}
	for _, s := range order {
		pipe.XAck(ctx, s, GroupName, byStream[s]...)
		pipe.XDel(ctx, s, byStream[s]...)
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
	r.unacked -= len(refs)
	r.mu.Unlock()
	r.unhold(refs)
	return nil
}

// createGroup creates this node's stream and group, reading from the start
// so that entries written while the group did not exist are delivered,
// creates this consumer (so that it is seen at once, see touch) and
// registers the node in NodesKey: one MULTI/EXEC, so that an adopter's
// check never sees the stream without this consumer.
func (r *Redis) createGroup(ctx context.Context) error {
	pipe := r.client.TxPipeline()
	create := pipe.XGroupCreateMkStream(ctx, r.stream, GroupName, "0")
	consumer := pipe.XGroupCreateConsumer(ctx, r.stream, GroupName, r.consumer)
	reg := pipe.SAdd(ctx, r.nodesKey, r.node)
	_, _ = pipe.Exec(ctx)
	err := create.Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		err = nil
	}
	if err == nil {
		err = consumer.Err()
	}
	if err == nil {
		err = reg.Err()
	}
	if err != nil {
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

// isNoKey reports the "no such key" reply of XINFO for a missing stream.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
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
