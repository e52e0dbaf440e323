package bus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// logEvery is the sampling of repetitive warnings (dropped messages): the
// first occurrence is logged, then every logEvery-th.
const logEvery = 100

// transport delivers encoded messages to the nodes of a region.
type transport interface {
	// publish delivers msg to every process listening for node and returns
	// how many there were.
	publish(ctx context.Context, node string, msg []byte) (int64, error)
	// ready returns nil when replies can be received, or why they cannot.
	ready() error
}

// result is what a waiting Request gets: a reply or ErrClosed.
type result struct {
	typ    byte // typeReply or typeErrReply; 0 when closed
	body   []byte
	closed bool
}

// core is the transport-independent half of a bus: request correlation,
// handler dispatch, deadlines, metrics. Its transport calls receive for
// every message to this node.
type core struct {
	node        string
	handler     Handler
	timeout     time.Duration
	sem         chan struct{} // one slot per running handler
	log         *slog.Logger
	m           *metrics
	tr          transport
	handlersCtx context.Context // parent of handler contexts; cancelled by close
	cancel      context.CancelFunc

	mu       sync.Mutex
	closed   bool
	pending  map[reqID]chan result
	handlers sync.WaitGroup

	closeOnce sync.Once
	idle      chan struct{} // closed when the handlers returned after close

	dropLogs  [len(dropReasons)]atomic.Uint64
	multiLogs atomic.Uint64
	replyLogs atomic.Uint64
}

// newCore returns a core for validated options o.
func newCore(o Options, tr transport) *core {
	ctx, cancel := context.WithCancel(context.Background())
	return &core{
		node:        o.Node,
		handler:     o.Handler,
		timeout:     o.Timeout,
		sem:         make(chan struct{}, o.MaxInflight),
		log:         o.Logger,
		m:           newMetrics(o.Registerer),
		tr:          tr,
		handlersCtx: ctx,
		cancel:      cancel,
		pending:     make(map[reqID]chan result),
		idle:        make(chan struct{}),
	}
}

// request implements Bus.Request.
func (c *core) request(ctx context.Context, node, kind string, payload []byte) ([]byte, error) {
	start := time.Now()
	out, outcome, err := c.do(ctx, start, node, kind, payload)
	c.m.request(outcome, time.Since(start))
	return out, err
}

// do sends one request and waits for its reply; it returns the outcome label.
func (c *core) do(ctx context.Context, start time.Time, node, kind string, payload []byte) ([]byte, string, error) {
	if err := checkName("node", node); err != nil {
		return nil, outcomeError, fmt.Errorf("bus: request %q: %w", kind, err)
	}
	if err := checkName("kind", kind); err != nil {
		return nil, outcomeError, fmt.Errorf("bus: request to node %q: %w", node, err)
	}
	deadline := start.Add(c.timeout)
	ctxSooner := false // ctx's deadline is the request's
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		deadline, ctxSooner = d, true
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if rctx.Err() != nil {
		return c.ctxFailure(ctx, ctxSooner, start, node, kind)
	}

	e := envelope{typ: typeRequest, from: c.node, kind: kind, body: payload, deadline: deadline.UnixMilli()}
	_, _ = rand.Read(e.id[:]) // never fails (crypto/rand)
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, outcomeClosed, fmt.Errorf("bus: request %q to node %q: %w", kind, node, ErrClosed)
	}
	c.pending[e.id] = ch
	c.mu.Unlock()
	if err := c.tr.ready(); err != nil {
		c.forget(e.id)
		return nil, outcomeError, fmt.Errorf("bus: request %q to node %q: %w: %w", kind, node, ErrUnavailable, err)
	}

	n, err := c.tr.publish(rctx, node, encode(&e))
	if err != nil {
		c.forget(e.id)
		if errors.Is(ctx.Err(), context.Canceled) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return c.ctxFailure(ctx, ctxSooner, start, node, kind)
		}
		return nil, outcomeError, fmt.Errorf("bus: request %q to node %q: publish: %w: %w", kind, node, ErrUnavailable, err)
	}
	if n == 0 {
		c.forget(e.id)
		return nil, outcomeNoResponder, fmt.Errorf("bus: request %q to node %q: %w", kind, node, ErrNoResponder)
	}
	if n > 1 {
		if k := c.multiLogs.Add(1); k == 1 || k%logEvery == 0 {
			c.log.Warn("bus: several processes listen as one node", "node", node, "listeners", n, "count", k)
		}
	}

	var r result
	select {
	case r = <-ch:
	case <-rctx.Done():
		c.forget(e.id)
		select {
		case r = <-ch: // the reply won the race
		default:
			return c.ctxFailure(ctx, ctxSooner, start, node, kind)
		}
	}
	switch {
	case r.closed:
		return nil, outcomeClosed, fmt.Errorf("bus: request %q to node %q: %w", kind, node, ErrClosed)
	case r.typ == typeErrReply:
		return nil, outcomeRemoteError, &RemoteError{Node: node, Message: string(r.body)}
	}
	return r.body, outcomeOK, nil
}

// ctxFailure is the result of a request whose context, or its derived
// request deadline, ended: cancelled if ctx was, a timeout otherwise (also
// matching context.DeadlineExceeded when ctx's deadline was the request's).
func (c *core) ctxFailure(ctx context.Context, ctxSooner bool, start time.Time, node, kind string) ([]byte, string, error) {
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return nil, outcomeCanceled, fmt.Errorf("bus: request %q to node %q: %w", kind, node, err)
	}
	waited := time.Since(start).Round(time.Millisecond)
	if ctxSooner {
		return nil, outcomeTimeout, fmt.Errorf("bus: request %q to node %q: no reply after %v: %w (%w)",
			kind, node, waited, ErrTimeout, context.DeadlineExceeded)
	}
	return nil, outcomeTimeout, fmt.Errorf("bus: request %q to node %q: no reply after %v: %w", kind, node, waited, ErrTimeout)
}

// forget removes a pending request.
func (c *core) forget(id reqID) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// receive handles one message from the transport. It never blocks for long:
// handlers run on their own goroutines.
func (c *core) receive(msg string) {
	e, err := decode(msg)
	if err != nil {
		c.drop(dropMalformed, "bus: malformed message dropped", "error", err, "bytes", len(msg))
		return
	}
	if e.typ != typeRequest {
		c.reply(&e)
		return
	}
	deadline := time.UnixMilli(e.deadline)
	if !time.Now().Before(deadline) {
		c.drop(dropExpired, "bus: expired request dropped", "from", e.from, "kind", e.kind,
			"late", time.Since(deadline).Round(time.Millisecond))
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return // not listening any more
	}
	select {
	case c.sem <- struct{}{}:
	default:
		c.mu.Unlock()
		c.drop(dropBusy, "bus: request refused: too many handlers", "from", e.from, "kind", e.kind, "max_inflight", cap(c.sem))
		// Answered inline, not on a goroutine: under overload the receiving
		// loop slows down instead of piling up goroutines.
		c.send(deadline, &envelope{typ: typeErrReply, id: e.id, from: c.node, body: []byte(MsgBusy)}, e.from)
		return
	}
	c.handlers.Add(1)
	c.mu.Unlock()
	c.m.inflight.Inc()
	go c.serve(e, deadline)
}

// reply hands a reply to its waiting request.
func (c *core) reply(e *envelope) {
	c.mu.Lock()
	ch, ok := c.pending[e.id]
	delete(c.pending, e.id)
	c.mu.Unlock()
	if !ok {
		c.drop(dropUnknownReply, "bus: reply to unknown request dropped", "from", e.from)
		return
	}
	ch <- result{typ: e.typ, body: e.body} // buffered, and only one sender
}

// serve runs the handler for request e and publishes its reply.
func (c *core) serve(e envelope, deadline time.Time) {
	defer c.handlers.Done()
	ctx, cancel := context.WithDeadline(c.handlersCtx, deadline)
	out, panicked, err := c.call(ctx, &e)
	cancel()
	c.m.inflight.Dec()
	<-c.sem // the handler is done: its reply must not make the next request busy
	rep := envelope{typ: typeReply, id: e.id, from: c.node, body: out}
	outcome := handledOK
	switch {
	case panicked:
		outcome = handledPanic
		rep = envelope{typ: typeErrReply, id: e.id, from: c.node, body: []byte(MsgInternal)}
	case err != nil:
		outcome = handledError
		rep = envelope{typ: typeErrReply, id: e.id, from: c.node, body: []byte(err.Error())}
	}
	if !time.Now().Before(deadline) {
		c.m.handled.WithLabelValues(handledLate).Inc()
		c.log.Debug("bus: handler finished after the deadline; no reply sent",
			"from", e.from, "kind", e.kind, "late", time.Since(deadline).Round(time.Millisecond))
		return
	}
	c.m.handled.WithLabelValues(outcome).Inc()
	c.send(deadline, &rep, e.from)
}

// call runs the handler, recovering a panic.
func (c *core) call(ctx context.Context, e *envelope) (out []byte, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			c.log.Error("bus: handler panicked", "from", e.from, "kind", e.kind,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	out, err = c.handler(ctx, e.kind, e.body)
	return out, false, err
}

// send publishes a reply to node before deadline; failures are counted and
// logged (sampled): the requester will time out.
func (c *core) send(deadline time.Time, e *envelope, node string) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	n, err := c.tr.publish(ctx, node, encode(e))
	if err == nil {
		if n == 0 {
			c.log.Debug("bus: requester gone; reply lost", "to", node)
		}
		return
	}
	c.m.replyErrors.Inc()
	if k := c.replyLogs.Add(1); k == 1 || k%logEvery == 0 {
		c.log.Warn("bus: cannot publish reply", "to", node, "error", err, "count", k)
	}
}

// drop counts a dropped message and logs it, sampled per reason.
func (c *core) drop(reason, msg string, attrs ...any) {
	c.m.dropped.WithLabelValues(reason).Inc()
	i := 0
	for i < len(dropReasons) && dropReasons[i] != reason {
		i++
	}
	k := c.dropLogs[i].Add(1)
	if k != 1 && k%logEvery != 0 {
		return
	}
	level := slog.LevelWarn
	if reason == dropUnknownReply || reason == dropExpired {
		level = slog.LevelDebug // normal after timeouts
	}
	c.log.Log(context.Background(), level, msg, append(attrs, "node", c.node, "count", k)...)
}

// close fails the waiting requests with ErrClosed, cancels the handlers'
// contexts and waits for the handlers to return, or for ctx. The transport
// must have stopped listening first.
func (c *core) close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, ch := range pending {
			ch <- result{closed: true}
		}
		c.cancel()
		go func() {
			c.handlers.Wait()
			close(c.idle)
		}()
	})
	select {
	case <-c.idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: close node %q: waiting for handlers: %w", c.node, ctx.Err())
	}
}
