package call

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

const (
	roleCaller = "caller"
	roleCallee = "callee"
)

// leg is one party of a call. role, sip, in, out, kind and offer never
// change; ended belongs to the actor; the media state is shared with the
// tasks that answer and play, under mu.
type leg struct {
	role  string
	sip   Leg
	in    InboundLeg  // set for the inbound caller
	out   OutboundLeg // set for dialled legs
	kind  DestinationKind
	offer []byte // inbound: the INVITE's SDP
	ended bool   // Done fired (actor only)
	held  bool   // the party put the call on hold (actor only)

	mu       sync.Mutex
	media    MediaSession
	sdp      []byte // our SDP for this leg (answer or offer)
	answered bool
	okSent   bool // 200 OK sent (inbound), even if its ACK never came
	// answering is set while a task answers the leg (inbound) and closed
	// when that answer is over; a second task waits on it instead of
	// answering twice.
	answering chan struct{}
	early     bool // 183 with SDP sent (inbound)
	closed    bool // media released by teardown: no new session may open
}

func (l *leg) isAnswered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered
}

func (l *leg) setAnswered() {
	l.mu.Lock()
	l.answered = true
	l.mu.Unlock()
}

func (l *leg) session() MediaSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.media
}

// closeMedia releases the session once; later opens fail.
func (l *leg) closeMedia() error {
	l.mu.Lock()
	ms := l.media
	l.closed = true
	l.mu.Unlock()
	if ms == nil {
		return nil
	}
	return ms.Close()
}

func (l *leg) done() <-chan struct{} {
	if l == nil || l.ended {
		return nil
	}
	return l.sip.Done()
}

func (l *leg) events() <-chan LegEvent {
	if l == nil || l.ended {
		return nil
	}
	return l.sip.Events()
}

func (l *leg) timeout() <-chan struct{} {
	if l == nil || l.ended {
		return nil
	}
	if ms := l.session(); ms != nil {
		return ms.Timeout()
	}
	return nil
}

// command is a request from the manager to the actor.
type command struct {
	patch    *svaml.Response
	leg      string
	result   chan error
	snapshot chan Snapshot
	drain    bool
}

// Call is one call's actor. Every field is owned by the actor goroutine;
// tasks it spawns hand results back through inbox.
type Call struct {
	m      *Manager
	log    *slog.Logger
	snap   Snapshot
	target CallbackTarget
	origin string // originationType of the ICE: PSTN or MXP

	inbound *Inbound
	callout *Callout
	caller  *leg // the inbound caller, or a customCallout's first party; nil otherwise
	callee  *leg // the dialled party

	inbox    chan func()
	commands chan command
	done     chan struct{}
	saves    chan Snapshot // to saveLoop; one slot, newest wins
	saved    chan struct{} // closed when saveLoop has written the last one

	taskGen       int
	taskCancel    context.CancelFunc
	connectCancel context.CancelFunc // the running connect, see connect
	bridgeStop    func()
	maxDur        *time.Timer
	maxDurC       <-chan time.Time

	// suppressed is set by a connect action with suppressCallbacks: no ACE
	// and no DiCE for the call.
	suppressed bool
	parked     *svaml.Park // the running park, nil when not parked
	lastPark   *svaml.Park // what a PATCH continue returns to
	// unparkToBridge: the park interrupted connected legs; a PATCH
	// continue bridges them again instead of resuming the park.
	unparkToBridge bool
	// base is what a PATCH with continue returns to.
	base       State
	rejectCode int // SIP status for an unanswered caller when the call ends
	// menuAt is the id of the menu a runMenu task is in (nil when none):
	// written by the task, read by end for the PIE of a hangup.
	menuAt   atomic.Pointer[string]
	diceSent bool
	// eventSeq numbers the call's events for their ids (tasks send
	// Notify events, hence atomic).
	eventSeq   atomic.Int64
	lastAction string

	rec recorder // startRecording; its own lock, used by tasks
	// extras are background helpers (async AMD, streams, hold music) that
	// end with the call.
	extras extras
	// amdResult goes into the ACE: a synchronous result, or "inprogress".
	amdResult *events.AMD
	holdMusic string             // MOH class of the connect action, "" for none
	holdStop  context.CancelFunc // stops the hold music playing, nil when none
}

// run is the actor loop. It returns when the call has ended.
func (c *Call) run(ctx context.Context) {
	go c.saveLoop(ctx)
	defer func() {
		close(c.saves)
		<-c.saved // the final state is stored before the call counts as gone
		if c.maxDur != nil {
			c.maxDur.Stop()
		}
		c.m.unregister(c)
		c.m.metrics.active.WithLabelValues(string(c.snap.Direction)).Dec()
		close(c.done)
	}()
	c.log.Info("call started", "direction", c.snap.Direction, "app_key", c.snap.AppKey, "to_type", c.snap.To.Type)
	c.tlStarted()
	c.begin(ctx)
	for c.snap.State != StateEnded {
		select {
		case fn := <-c.inbox:
			fn()
		case cmd := <-c.commands:
			c.onCommand(ctx, cmd)
		case <-c.caller.done():
			c.caller.ended = true
			c.legEnded(ctx, c.caller)
		case <-c.callee.done():
			c.callee.ended = true
			c.legEnded(ctx, c.callee)
		case ev := <-c.caller.events():
			c.onLegEvent(c.caller, ev)
		case ev := <-c.callee.events():
			c.onLegEvent(c.callee, ev)
		case <-c.caller.timeout():
			c.log.Warn("no RTP from the caller; ending the call")
			c.tlError("no RTP from the caller; ending the call", nil)
			c.end(ctx, c.answeredResult(), events.ReasonClientNetwork)
		case <-c.callee.timeout():
			c.log.Warn("no RTP from the callee; ending the call")
			c.tlError("no RTP from the callee; ending the call", nil)
			c.end(ctx, c.answeredResult(), events.ReasonClientNetwork)
		case <-c.maxDurC:
			c.maxDurC = nil
			c.onMaxDuration(ctx)
		}
	}
	c.log.Info("call ended", "result", c.snap.Result, "reason", c.snap.Reason, "duration_s", c.snap.Duration(c.snap.EndedAt))
}

// begin starts the call's first step by direction.
func (c *Call) begin(ctx context.Context) {
	if c.callout != nil {
		c.beginCallout(ctx)
		return
	}
	c.sendICE(ctx)
}

// transition applies the pure transition function and persists the new
// state. A refused input is logged and reported false.
func (c *Call) transition(ctx context.Context, in Input) bool {
	to, err := next(c.snap.State, in)
	if err != nil {
		c.log.Warn("input ignored", "state", c.snap.State, "input", in, "err", err)
		return false
	}
	if to != c.snap.State {
		c.log.Debug("state", "from", c.snap.State, "to", to, "input", in)
		from := c.snap.State
		c.snap.State = to
		c.tlTransition(from, to, in)
		c.save(ctx)
	}
	return true
}

// spawn runs work on its own goroutine with a context the actor cancels
// when the call moves on; then runs on the actor with work's error unless
// a newer task replaced this one. Only one task runs at a time.
func (c *Call) spawn(ctx context.Context, name string, work func(ctx context.Context) error, then func(err error)) {
	c.cancelTask()
	c.taskGen++
	gen := c.taskGen
	tctx, cancel := context.WithCancel(ctx)
	c.taskCancel = cancel
	go func() {
		err := work(tctx)
		c.post(tctx, func() {
			if gen != c.taskGen {
				return // replaced: its result no longer matters
			}
			c.taskCancel = nil
			cancel()
			if then != nil {
				then(err)
			}
		})
	}()
	c.log.Debug("task started", "task", name)
}

func (c *Call) cancelTask() {
	if c.taskCancel != nil {
		c.taskCancel()
		c.taskCancel = nil
	}
	c.taskGen++
}

// post hands fn to the actor. Tasks use it to change call state in order.
func (c *Call) post(ctx context.Context, fn func()) {
	select {
	case c.inbox <- fn:
	case <-c.done:
	case <-ctx.Done():
		// The task was cancelled; deliver anyway if the actor is alive so
		// that state changes are not lost, but never block forever.
		select {
		case c.inbox <- fn:
		case <-c.done:
		case <-time.After(time.Second):
		}
	}
}

// answeredResult is the DiCE result of a call that ends for a reason that
// is not a dial failure.
func (c *Call) answeredResult() string {
	if !c.snap.AnsweredAt.IsZero() {
		return events.ResultAnswered
	}
	return events.ResultNA
}

// legEnded handles a BYE/CANCEL or a transport failure of a leg.
func (c *Call) legEnded(ctx context.Context, l *leg) {
	if c.snap.State == StateEnding {
		return
	}
	if l.out != nil && !l.isAnswered() {
		// A dialled leg ends before its answer was taken: its dial task
		// owns the outcome. A failed attempt (486, ring timeout, ...)
		// reaches it through WaitAnswer with the right result and reason;
		// a leg that answered and then hung up at once is caught by the
		// task's completion, which sees l.ended.
		c.log.Debug("dialled leg ended before its answer was taken", "leg", l.role)
		return
	}
	reason := events.ReasonCalleeHangup
	if l.role == roleCaller {
		reason = events.ReasonCallerHangup
		l.mu.Lock()
		abandoned := !l.answered && !l.okSent // CANCEL, or BYE on the early dialog
		okSent := l.okSent
		l.mu.Unlock()
		if okSent {
			// Our 200 OK went out: the call was answered, even if the
			// caller's BYE reached us before the answer task reported.
			c.markAnswered(ctx, c.m.opts.Now())
		}
		if abandoned && l.sip.RemoteEnded() {
			// Not after our 200 OK: a caller may BYE at once after its
			// ACK, and the BYE can overtake the ACK.
			reason = events.ReasonCancel
		}
	}
	if !l.sip.RemoteEnded() {
		reason = events.ReasonClientNetwork
	}
	c.log.Info("leg ended", "leg", l.role, "remote", l.sip.RemoteEnded())
	c.end(ctx, c.answeredResult(), reason)
}

// onLegEvent answers re-INVITE offers (hold, unhold, new address) and takes
// SIP INFO digits (used by menus in a later issue).
func (c *Call) onLegEvent(l *leg, ev LegEvent) {
	switch {
	case ev.Offer != nil:
		ms := l.session()
		if ms == nil {
			ev.Respond(nil, ErrInvalidCommand)
			return
		}
		ans, err := ms.Reoffer(ev.Offer)
		if err != nil {
			c.log.Warn("re-INVITE offer refused", "leg", l.role, "err", err)
			c.tlError("re-INVITE offer of the "+l.role+" refused", err)
		}
		ev.Respond(ans, err)
		if err == nil {
			c.onHoldChange(context.Background(), l, ms.OnHold())
		}
	case ev.Digit != 0:
		// SIP INFO digits join the RTP ones, so a menu sees one stream.
		if ms := l.session(); ms != nil {
			if err := ms.InjectDigit(ev.Digit); err != nil {
				c.log.Warn("dtmf via SIP INFO dropped", "leg", l.role, "err", err)
			}
		}
	}
}

func (c *Call) onCommand(ctx context.Context, cmd command) {
	switch {
	case cmd.snapshot != nil:
		s := c.snap
		s.Cookies = *c.snap.Cookies.Clone()
		cmd.snapshot <- s
	case cmd.drain:
		c.log.Warn("node draining; hanging up")
		c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
	case cmd.patch != nil:
		cmd.result <- c.onPatch(ctx, cmd.patch, cmd.leg)
	}
}

func (c *Call) onMaxDuration(ctx context.Context) {
	if c.snap.State == StateParked {
		// "If the max duration is reached, the last prompt will be fully
		// played until the call ends": the hold loop stops after the
		// prompt that is playing.
		c.parked = nil
		return
	}
	c.log.Info("max duration reached")
	c.end(ctx, c.answeredResult(), events.ReasonTimeout)
}

// armMaxDuration starts the call's duration limit. d <= 0 arms the node's
// default unless a limit is already running (an action's own limit wins).
func (c *Call) armMaxDuration(d time.Duration) {
	if d <= 0 {
		if c.maxDur != nil {
			return
		}
		d = c.m.opts.MaxDuration
	}
	if c.maxDur != nil {
		c.maxDur.Stop()
	}
	c.maxDur = time.NewTimer(d)
	c.maxDurC = c.maxDur.C
}

// markAnswered records the first answer of the call: at is when the leg
// answered (its 200 OK), not when the task that saw it finished, so that
// dtmf sent on answer counts toward the duration.
func (c *Call) markAnswered(ctx context.Context, at time.Time) {
	if c.snap.AnsweredAt.IsZero() {
		c.snap.AnsweredAt = at
		c.save(ctx)
	}
}
