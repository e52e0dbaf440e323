package call

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// dialOpts are the connect action's settings beyond the dial request.
type dialOpts struct {
	maxDuration time.Duration
	dtmf        string // sent to the callee when it answers
	suppress    bool   // suppressCallbacks: no ACE, no DiCE
	indications string // ring-back country for the caller
	ringback    bool   // play ring-back to the caller while dialling
	amd         *svaml.AMD
	moh         string // hold music when the callee holds (connectSip)
}

// dial places the callee leg of a connect action and waits for its answer
// on a task. The caller, if not answered yet, hears ringing: a 180, or the
// ring-back tone of indications over early media.
func (c *Call) dial(ctx context.Context, req DialRequest, o dialOpts) {
	if !c.transition(ctx, InputDial) {
		return
	}
	req.CallID = c.snap.ID
	if req.DialTimeout <= 0 {
		req.DialTimeout = c.m.opts.DialTimeout
	}
	if c.snap.To.Type == "" {
		// A custom callout without a destination: the party its ICE dials
		// is the call's "to" in DiCE and GET /calls.
		c.snap.To = events.Destination{Type: string(req.Kind), Endpoint: req.Endpoint}
	}
	c.suppressed = c.suppressed || o.suppress
	c.snap.WantDiCE = c.snap.WantDiCE && !c.suppressed
	caller := c.caller
	start := time.Now()
	var (
		callee     *leg
		answeredAt time.Time
		amd        *events.AMD
	)
	c.spawn(ctx, "dial", func(tctx context.Context) (err error) {
		ringing := func() func() {
			if caller != nil && caller.in != nil && !caller.isAnswered() {
				return c.ringCaller(tctx, caller, o)
			}
			return func() {}
		}
		callee, answeredAt, err = c.placeLeg(tctx, req, roleCallee, func(l *leg) { c.callee = l }, ringing, o.dtmf)
		if err == nil && o.amd != nil && !o.amd.Async {
			amd = c.amdSync(tctx, callee)
		}
		return err
	}, func(err error) {
		c.m.metrics.postDial.Observe(time.Since(start).Seconds())
		if err != nil {
			c.dialFailed(ctx, err)
			return
		}
		c.m.metrics.dials.WithLabelValues(events.ResultAnswered).Inc()
		c.log.Info("callee answered", "kind", req.Kind, "post_dial_ms", time.Since(start).Milliseconds())
		if !c.tookAnswer(ctx, callee, answeredAt) {
			return
		}
		c.armMaxDuration(o.maxDuration)
		c.amdResult = amd
		if o.amd != nil && o.amd.Async {
			c.amdAsync(callee)
			c.amdResult = &events.AMD{Status: amdStatusInProgress, Reason: "n/a"}
		}
		c.holdMusic = o.moh
		c.calleeAnswered(ctx)
	})
}

// placeLeg places an outbound leg on the running task: a media offer, the
// INVITE, then the answer. install hands the leg to the actor as soon as it
// exists, so that a hangup while it rings tears it down too; ringing (may
// be nil) starts what the caller hears meanwhile and returns its stop. On
// answer the leg's SDP is applied and dtmf sent. It returns the leg and
// the time of its 200 OK.
func (c *Call) placeLeg(ctx context.Context, req DialRequest, role string, install func(*leg),
	ringing func() func(), dtmf string) (*leg, time.Time, error) {
	ms, offer, err := c.m.deps.Media.Offer(ctx, c.snap.ID)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("media: %w", err)
	}
	req.Offer = offer
	out, err := c.m.deps.Dialer.Dial(ctx, req)
	if err != nil {
		_ = ms.Close()
		return nil, time.Time{}, err
	}
	l := &leg{role: role, sip: out, out: out, kind: req.Kind, media: ms, sdp: offer}
	c.post(ctx, func() {
		install(l)
		c.attachRecording(l, ms)
	})
	stop := func() {}
	if ringing != nil {
		stop = ringing()
	}
	answer, err := out.WaitAnswer(ctx)
	answeredAt := c.m.opts.Now()
	stop()
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := ms.SetRemote(answer); err != nil {
		_ = out.Hangup(context.WithoutCancel(ctx))
		return nil, time.Time{}, fmt.Errorf("%s answer SDP: %w", role, err)
	}
	if dtmf != "" {
		if err := ms.SendDTMF(ctx, dtmf); err != nil {
			c.log.Warn("sending dtmf on answer failed", "leg", role, "err", err)
		}
	}
	return l, answeredAt, nil
}

// tookAnswer records that a placed leg answered at at. It reports false
// when the leg hung up meanwhile (e.g. while the dtmf went out): the call
// is then ending.
func (c *Call) tookAnswer(ctx context.Context, l *leg, at time.Time) bool {
	l.setAnswered()
	c.markAnswered(ctx, at)
	if l.ended {
		c.legEnded(ctx, l)
		return false
	}
	return true
}

// ringCaller lets the caller hear ringing while the callee rings; the
// returned func stops the tone.
func (c *Call) ringCaller(ctx context.Context, caller *leg, o dialOpts) func() {
	if !o.ringback || o.indications == "" {
		caller.mu.Lock()
		early := caller.early
		caller.mu.Unlock()
		if !early {
			if err := caller.in.Ring(ctx, nil); err != nil {
				c.log.Warn("sending 180 to the caller failed", "err", err)
			}
		}
		return func() {}
	}
	ms, err := c.ensureMedia(ctx, caller)
	if err != nil {
		c.log.Warn("ring-back early media failed", "err", err)
		return func() {}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	tone := c.m.deps.Media.Ringback(o.indications)
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			if err := ms.Play(rctx, tone); err != nil {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// dialFailed ends the call with the dial's result and reason, and rejects
// an unanswered caller with a matching SIP status.
func (c *Call) dialFailed(ctx context.Context, err error) {
	var de *DialError
	if !errors.As(err, &de) {
		de = &DialError{Result: events.ResultFailed, Reason: events.ReasonGeneralError, Err: err}
		if errors.Is(err, context.Canceled) {
			return // the call moved on (hangup during dial)
		}
	}
	c.m.metrics.dials.WithLabelValues(de.Result).Inc()
	c.log.Info("dial failed", "result", de.Result, "reason", de.Reason, "sip_code", de.Code, "err", err)
	if tl := c.tl(); tl != nil {
		tl.Record(c.snap.ID, tlError, "dial failed: "+de.Result+"/"+de.Reason, map[string]any{
			"code": de.Code, "result": de.Result, "reason": de.Reason, "error": err.Error()})
	}
	c.rejectCode = rejectCodeFor(de)
	c.end(ctx, de.Result, de.Reason)
}

// rejectCodeFor is the SIP status an unanswered caller gets when the
// callee could not be reached.
func rejectCodeFor(de *DialError) int {
	switch de.Result {
	case events.ResultBusy:
		return 486
	case events.ResultNoAnswer:
		return 480
	}
	if de.Reason == events.ReasonUserNotFound {
		return 404
	}
	if de.Code >= 400 && de.Code < 700 && de.Code != 401 && de.Code != 407 {
		return de.Code
	}
	return 503
}

// calleeAnswered continues after the callee answered: answer the caller,
// then ACE (unless suppressed, or an in-app destination) or connect.
func (c *Call) calleeAnswered(ctx context.Context) {
	if c.wantACE() {
		if !c.transition(ctx, InputAnswered) {
			return
		}
		c.sendACE(ctx)
		return
	}
	if c.callout != nil && c.callout.Method == MethodTTS {
		c.calloutAnswered(ctx)
		return
	}
	if c.callout != nil && c.callout.Method == MethodConf {
		c.conferenceAnswered(ctx)
		return
	}
	c.connect(ctx)
}

func (c *Call) wantACE() bool {
	if c.suppressed || c.callee == nil || c.callee.kind == DestUsername {
		return false
	}
	if c.callout != nil {
		return c.callout.wantACE()
	}
	return true
}

// sendACE delivers the ACE and runs its reply, heard by the callee.
func (c *Call) sendACE(ctx context.Context) {
	t := c.target
	var inline *svaml.Response
	if c.callout != nil {
		t, inline = c.callout.aceTarget(c.target)
	}
	if inline != nil {
		c.execute(ctx, inline, svaml.ContextACE, roleCallee)
		return
	}
	c.ask(ctx, t, c.ace(), svaml.ContextACE, roleCallee, nil, c.endWith(ctx))
}

// connect establishes the call: the caller is answered if needed and the
// two legs are bridged. A call with only a callee is simply connected.
//
// Answering waits for the caller's ACK, so it runs off the actor. It is not
// a replaceable task: a PATCH that arrives meanwhile (legal once the ACE
// said continue) runs its own document without undoing the connection.
func (c *Call) connect(ctx context.Context) {
	caller, callee := c.caller, c.callee
	if caller == nil || callee == nil {
		c.transition(ctx, InputConnected)
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	c.connectCancel = cancel
	go func() {
		var err error
		if caller.in != nil && !caller.isAnswered() {
			err = c.answer(cctx, caller)
		}
		c.post(cctx, func() {
			cancel()
			c.connectCancel = nil
			c.bridge(ctx, caller, callee, err)
		})
	}()
	c.log.Debug("connecting the legs")
}

// bridge completes connect on the actor once the caller is answered.
func (c *Call) bridge(ctx context.Context, caller, callee *leg, err error) {
	if c.snap.State == StateEnding || c.snap.State == StateEnded {
		return
	}
	if err != nil {
		c.log.Error("answering the caller failed", "err", err)
		c.tlError("answering the caller failed", err)
		c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
		return
	}
	if c.snap.State == StateParked {
		c.log.Info("not bridging yet: a PATCH parked the call while it connected")
		c.unparkToBridge = true
		return
	}
	stop, err := caller.session().Bridge(callee.session())
	if err != nil {
		c.log.Error("bridging failed", "err", err)
		c.tlError("bridging the legs failed", err)
		c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
		return
	}
	c.tlMedia("bridge up: caller ⇄ callee", map[string]any{"bridge": "up"})
	c.bridgeStop = stop
	c.base = StateConnected
	if c.taskCancel == nil {
		// Nothing else runs: the call is established. Otherwise a PATCH's
		// document runs, and its action decides what comes next.
		c.transition(ctx, InputConnected)
	}
}

// park answers the caller, plays the intro prompt once and loops the hold
// prompt until a PATCH or maxDuration (reference §5.3).
func (c *Call) park(ctx context.Context, p *svaml.Park, intro bool) {
	if !c.transition(ctx, InputPark) {
		return
	}
	c.parked, c.lastPark, c.base = p, p, StateParked
	if c.bridgeStop != nil {
		// A parked caller is no longer heard by the callee, nor hears it;
		// a PATCH continue bridges them again.
		c.bridgeStop()
		c.bridgeStop = nil
		c.unparkToBridge = true
		c.tlMedia("bridge down: the call is parked", map[string]any{"bridge": "down", "why": "park"})
	}
	if p.MaxDuration > 0 && intro {
		c.armMaxDuration(seconds(p.MaxDuration))
	}
	l := c.caller
	if l == nil {
		l = c.callee
	}
	introPrompts, _ := svaml.ParsePrompts(p.IntroPrompt)
	holdPrompts, _ := svaml.ParsePrompts(p.HoldPrompt)
	c.spawn(ctx, "park", func(tctx context.Context) error {
		if l.in != nil && !l.isAnswered() {
			if err := c.answer(tctx, l); err != nil {
				return err
			}
		}
		if intro && len(introPrompts) > 0 {
			if err := c.playPrompts(tctx, l, introPrompts, p.Locale); err != nil {
				return err
			}
		}
		for n := 0; ; n++ {
			if !c.stillParked(tctx, p) {
				return nil
			}
			if len(holdPrompts) == 0 {
				<-tctx.Done()
				return tctx.Err()
			}
			pctx := tctx
			if n > 0 {
				// The timeline shows the hold prompt once, not every
				// round of a park that may last hours.
				pctx = withQuietPrompts(tctx)
			}
			if err := c.playPrompts(pctx, l, holdPrompts, p.Locale); err != nil {
				return err
			}
		}
	}, func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("park failed", "err", err)
			c.tlError("park failed", err)
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		// The hold loop stopped because maxDuration passed.
		c.log.Info("park max duration reached")
		c.end(ctx, c.answeredResult(), events.ReasonTimeout)
	})
}

// stillParked asks the actor whether park p is still on: maxDuration, a
// PATCH and the end of the call clear it.
func (c *Call) stillParked(ctx context.Context, p *svaml.Park) bool {
	r := make(chan bool, 1)
	c.post(ctx, func() { r <- c.parked == p })
	select {
	case ok := <-r:
		return ok
	case <-ctx.Done():
		return false
	}
}

// onPatch applies PATCH /calls/id/{id}: it interrupts what plays (a parked
// call's hold prompt stops at once) and runs the document.
func (c *Call) onPatch(ctx context.Context, resp *svaml.Response, legSel string) error {
	switch c.snap.State {
	case StateExecuting, StateConnected, StateParked:
	case StateEnding, StateEnded:
		return ErrCallEnded
	default:
		return fmt.Errorf("%w: the call is %s; updates apply once it is answered and running", ErrInvalidCommand, c.snap.State)
	}
	if c.callout != nil {
		legSel = "" // "ignored for calls initiated using the Callout API"
	}
	c.log.Info("call updated", "action", resp.Action.ActionName(), "instructions", len(resp.Instructions), "leg", legSel)
	c.execute(ctx, resp, svaml.ContextPatchCall, legSel)
	return nil
}

// end moves the call to Ending with the first cause that ended it, then
// tears it down on a task.
func (c *Call) end(ctx context.Context, result, reason string) {
	if c.snap.State == StateEnding || c.snap.State == StateEnded {
		return
	}
	c.snap.Result, c.snap.Reason = result, reason
	if !c.transition(ctx, InputHangup) {
		return
	}
	inMenu := c.menuAt.Load() // before the menu task is cancelled and clears it
	c.cancelTask()
	if c.connectCancel != nil {
		c.connectCancel()
		c.connectCancel = nil
	}
	c.parked = nil
	if c.bridgeStop != nil {
		c.bridgeStop()
		c.bridgeStop = nil
		c.tlMedia("bridge down: the call ends", map[string]any{"bridge": "down", "why": "end"})
	}
	c.stopRecording("call ended")
	c.stopExtras()
	// ended belongs to the actor, which keeps watching the legs during
	// teardown: the task works on a copy (a leg that ends meanwhile makes
	// its Hangup a no-op).
	type party struct {
		l     *leg
		ended bool
	}
	var parties []party
	for _, l := range []*leg{c.callee, c.caller} {
		if l != nil {
			parties = append(parties, party{l, l.ended})
		}
	}
	code := c.rejectCode
	// A party who hangs up inside a menu gets a PIE of type hangup before
	// the DiCE; its reply is not executed.
	var pie *events.PIE
	pieTarget, inlinePIE, pieOK := c.pieTarget()
	if inMenu != nil && pieOK && inlinePIE == nil && (reason == events.ReasonCallerHangup || reason == events.ReasonCalleeHangup) {
		pie = c.pie(menuOutcome{menuID: *inMenu, typ: menuHangup})
	}
	c.spawn(ctx, "teardown", func(tctx context.Context) error {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(tctx), c.m.opts.TeardownTimeout)
		defer cancel()
		if pie != nil {
			if _, err := c.m.deps.Callbacks.Deliver(tctx, pieTarget, c.eventID("pie"), pie, nil); err != nil {
				c.log.Warn("PIE of the hangup not delivered", "err", err)
			}
		}
		var errs []error
		for _, p := range parties {
			l := p.l
			if !p.ended {
				var err error
				if l.in != nil && !l.isAnswered() {
					if code == 0 {
						code = 480
					}
					err = l.in.Reject(tctx, code, "")
				} else {
					err = l.sip.Hangup(tctx)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s hangup: %w", l.role, err))
				}
			}
			if err := l.closeMedia(); err != nil {
				errs = append(errs, fmt.Errorf("%s media: %w", l.role, err))
			}
		}
		return errors.Join(errs...)
	}, func(err error) {
		if err != nil {
			c.log.Warn("teardown incomplete", "err", err)
			c.tlError("teardown incomplete", err)
		}
		c.snap.EndedAt = c.m.opts.Now()
		c.sendDiCE(ctx) // queued before the final state is written
		c.transition(ctx, InputTornDown)
		c.m.metrics.ended.WithLabelValues(c.snap.Result, c.snap.Reason).Inc()
	})
}
