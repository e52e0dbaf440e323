package call

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

func (c *Call) timestamp() string { return events.Timestamp(c.m.opts.Now()) }

func (c *Call) cookies() []events.KeyValue { return c.snap.cookieList() }

func (c *Call) rate() events.Money { return events.Money{CurrencyID: c.snap.Currency} }

// ice builds the Incoming Call Event (reference §3.3).
func (c *Call) ice() *events.ICE {
	ev := &events.ICE{
		ID:              c.snap.ID,
		CallResourceURL: c.m.opts.BaseURL + "/calling/v1/calls/id/" + c.snap.ID,
		Timestamp:       c.timestamp(),
		Version:         events.APIVersion,
		Custom:          c.snap.Custom,
		UserRate:        c.rate(),
		CLI:             c.snap.From.Endpoint,
		To:              c.snap.To,
		Domain:          c.snap.Domain,
		ApplicationKey:  c.snap.AppKey,
		OriginationType: c.origin,
		Cookies:         c.cookies(),
		ConferenceID:    c.snap.ConferenceID,
	}
	if c.inbound != nil {
		ev.CallHeaders = c.inbound.Headers
		ev.RDNIS = c.inbound.RDNIS
	}
	if ev.OriginationType == "" {
		ev.OriginationType = "PSTN"
	}
	return ev
}

func (c *Call) ace() *events.ACE {
	return &events.ACE{
		ID: c.snap.ID, Timestamp: c.timestamp(), Version: events.APIVersion,
		Custom: c.snap.Custom, ApplicationKey: c.snap.AppKey, Cookies: c.cookies(),
		AMD: c.amdResult, ConferenceID: c.snap.ConferenceID,
	}
}

func (c *Call) dice() *events.DiCE { return diceOf(&c.snap, c.m.opts.Now()) }

// diceOf builds the Disconnected Call Event of an ended call from its
// snapshot alone, so that a surviving node can send it for a dead one.
func diceOf(s *Snapshot, now time.Time) *events.DiCE {
	from := s.From.Endpoint
	if from == "" {
		from = "private"
	}
	return &events.DiCE{
		ID: s.ID, Timestamp: events.Timestamp(now), Version: events.APIVersion,
		Custom: s.Custom, ApplicationKey: s.AppKey,
		Reason: s.Reason, Result: s.Result,
		Debit: events.Money{CurrencyID: s.Currency}, UserRate: events.Money{CurrencyID: s.Currency},
		To: s.To, Duration: s.Duration(s.EndedAt), From: from,
		Cookies: s.cookieList(), CallHeaders: s.CallHeaders, ConferenceID: s.ConferenceID,
	}
}

// replyError classifies why an event got no usable SVAML.
type replyError struct {
	invalid bool // the reply was not valid SVAML (INVALIDSVAMLACTION)
	err     error
}

func (e *replyError) Error() string { return e.err.Error() }
func (e *replyError) Unwrap() error { return e.err }

// request delivers an event that expects SVAML and parses the reply for
// ctxKind. Both URLs are tried (the callback client falls back when accept
// rejects a reply); the error says whether the failure was invalid SVAML.
func (c *Call) request(ctx context.Context, t CallbackTarget, ev events.Event, ctxKind svaml.Context) (*svaml.Response, error) {
	id := c.eventID(ev.Kind().String())
	var parsed *svaml.Response
	var lastParseErr error
	accept := func(body []byte) error {
		r, err := c.m.opts.Limits.Parse(ctxKind, body)
		if err != nil {
			lastParseErr = err
			return err
		}
		parsed = r
		return nil
	}
	start := time.Now()
	_, err := c.m.deps.Callbacks.Deliver(ctx, t, id, ev, accept)
	c.m.metrics.callbackLatency.WithLabelValues(ev.Kind().String()).Observe(time.Since(start).Seconds())
	if err != nil {
		outcome := "failed"
		if lastParseErr != nil {
			outcome = "invalid_svaml"
			c.m.metrics.svamlErrors.WithLabelValues(ev.Kind().String()).Inc()
			c.log.Warn("callback reply is not valid SVAML", "event", ev.Kind(), "err", lastParseErr)
		} else {
			c.log.Warn("callback failed", "event", ev.Kind(), "err", err)
		}
		c.m.metrics.callbacks.WithLabelValues(ev.Kind().String(), outcome).Inc()
		return nil, &replyError{invalid: lastParseErr != nil && !isCtxErr(err), err: err}
	}
	c.m.metrics.callbacks.WithLabelValues(ev.Kind().String(), "ok").Inc()
	return parsed, nil
}

// isCtxErr reports a delivery stopped because the call moved on.
func isCtxErr(err error) bool { return errors.Is(err, context.Canceled) }

// ask delivers an event that expects SVAML to t on a task, then runs the
// reply (heard by hear) or, when there is no valid reply, hands the Sinch
// reason (CALLBACKERROR, or INVALIDSVAMLACTION for invalid SVAML) to failed.
// before runs first on the task (metrics).
func (c *Call) ask(ctx context.Context, t CallbackTarget, ev events.Event, kind svaml.Context, hear string,
	before func(), failed func(reason string)) {
	var resp *svaml.Response
	c.spawn(ctx, ev.Kind().String(), func(tctx context.Context) (err error) {
		if before != nil {
			before()
		}
		resp, err = c.request(tctx, t, ev, kind)
		return err
	}, func(err error) {
		if err != nil {
			reason := events.ReasonCallbackError
			var re *replyError
			if errors.As(err, &re) && re.invalid {
				reason = events.ReasonInvalidSVAMLAction
			}
			failed(reason)
			return
		}
		c.executeReply(ctx, resp, kind, hear)
	})
}

// endWith returns a failure policy that ends the call with the reason.
func (c *Call) endWith(ctx context.Context) func(string) {
	return func(reason string) { c.end(ctx, c.answeredResult(), reason) }
}

// sendICE delivers the ICE of an inbound call and runs its reply. Without a
// valid reply the caller hears the error prompt before the call ends.
func (c *Call) sendICE(ctx context.Context) {
	if !c.transition(ctx, InputICESent) {
		return
	}
	received := c.inbound.ReceivedAt
	c.ask(ctx, c.target, c.ice(), svaml.ContextICE, roleCaller,
		func() { c.m.metrics.iceDelay.Observe(time.Since(received).Seconds()) },
		func(reason string) { c.playErrorThenEnd(ctx, reason) })
}

// playErrorThenEnd plays the error prompt to the caller (answering with
// early media if needed), then ends the call with reason.
func (c *Call) playErrorThenEnd(ctx context.Context, reason string) {
	l := c.caller
	if l == nil || l.ended {
		c.end(ctx, c.answeredResult(), reason)
		return
	}
	prompts, _ := svaml.ParsePrompts(c.m.opts.ErrorPrompt)
	c.spawn(ctx, "error_prompt", func(tctx context.Context) error {
		tctx, cancel := context.WithTimeout(tctx, 15*time.Second)
		defer cancel()
		return c.playPrompts(tctx, l, prompts, "en-US")
	}, func(err error) {
		if err != nil {
			c.log.Warn("error prompt not played", "err", err)
		}
		c.end(ctx, c.answeredResult(), reason)
	})
}

// sendDiCE queues the DiCE (durably, see EventQueue) before the call's
// final state is written, so that a node dying in between leaves a live
// record whose DiCE a survivor sends again, with the same event id. The
// call does not wait for the backend. Without an EventQueue it is
// delivered once, directly, on a goroutine the manager waits for on drain.
func (c *Call) sendDiCE(ctx context.Context) {
	if c.diceSent || c.suppressed || !c.wantDiCE() {
		return
	}
	c.diceSent = true
	c.m.sendEvent(ctx, c.log, c.target, DiCEEventID(c.snap.ID), c.dice(), false)
}

// DiCEEventID is the event id of a call's DiCE: the same whichever node
// sends it, so that a backend drops the second of two.
func DiCEEventID(callID string) string { return callID + ":dice" }

// eventID returns a new event id of the call: "<call id>:<kind>:<n>".
func (c *Call) eventID(kind string) string {
	if kind == "ice" {
		return c.snap.ID + ":ice"
	}
	return c.snap.ID + ":" + kind + ":" + strconv.FormatInt(c.eventSeq.Add(1), 10)
}

// sendEvent hands an event that expects no SVAML to the event queue.
// Without one it delivers it directly: on a goroutine the manager waits
// for on drain, or, with wait, before returning (Notify events from a
// call's tasks, which keeps them in order).
func (m *Manager) sendEvent(ctx context.Context, log *slog.Logger, t CallbackTarget, id string, ev events.Event, wait bool) {
	kind := ev.Kind().String()
	if m.deps.Events != nil {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.TeardownTimeout)
		defer cancel()
		if err := m.deps.Events.Enqueue(qctx, t, id, ev); err != nil {
			m.metrics.callbacks.WithLabelValues(kind, "failed").Inc()
			log.Error("event not queued; it is lost", "event", kind, "event_id", id, "err", err)
			return
		}
		m.metrics.callbacks.WithLabelValues(kind, "queued").Inc()
		return
	}
	deliver := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.TeardownTimeout)
		defer cancel()
		start := time.Now()
		_, err := m.deps.Callbacks.Deliver(dctx, t, id, ev, nil)
		m.metrics.callbackLatency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
		if err != nil {
			m.metrics.callbacks.WithLabelValues(kind, "failed").Inc()
			log.Warn("event delivery failed", "event", kind, "err", err)
			return
		}
		m.metrics.callbacks.WithLabelValues(kind, "ok").Inc()
	}
	if wait {
		deliver()
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		deliver()
	}()
}

// wantDiCE: inbound calls always send DiCE (unless suppressed); callouts
// per enableDice (customCallout: always, see Callout); never for username
// destinations.
func (c *Call) wantDiCE() bool {
	if c.snap.To.Type == "username" && c.callout != nil {
		return false
	}
	if c.callout != nil {
		return c.callout.wantDiCE()
	}
	return true
}

// sendNotify queues a Notify event (recording, AMD) for the app's callback
// URL; the reply is ignored. ID and Custom never change after the call was
// created, so tasks may call it.
func (c *Call) sendNotify(ctx context.Context, n *events.Notify) {
	n.ID, n.Version, n.Custom, n.ConferenceID = c.snap.ID, events.APIVersion, c.snap.Custom, c.snap.ConferenceID
	c.m.sendEvent(ctx, c.log, c.target, c.eventID("notify"), n, true)
}
