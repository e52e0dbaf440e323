package call

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// Callout methods of POST /calling/v1/callouts.
const (
	MethodTTS    = "ttsCallout"
	MethodCustom = "customCallout"
	MethodConf   = "conferenceCallout"
)

// Script is a customCallout's ice, ace or pie: inline SVAML, or a URL
// whose callback answers with SVAML. Both empty means not given.
type Script struct {
	Doc *svaml.Response
	URL string
}

func (s Script) given() bool { return s.Doc != nil || s.URL != "" }

// Callout is a validated POST /calling/v1/callouts request.
//
// ttsCallout dials Destination and, once it answers, plays Prompts (or
// Text) and hangs up. ACE and DiCE go to the app's callback URL only with
// EnableACE/EnableDiCE; never for username destinations.
//
// customCallout: the reference leaves open what happens when both a
// destination and inline ICE are given. callcore's choice, which serves
// click-to-call: with a Destination, that party is dialled first and,
// once it answers, ICE runs for it as if it had called in (its connect
// action dials the second party and bridges the two). Without a
// Destination, ICE runs at once with no first party: its connect action
// dials the only party. ACE goes to ACE (inline or URL) when given, else
// no ACE; DiCE always goes to the app's callback URL, so a backend learns
// how every call it started ended.
type Callout struct {
	AppKey      string
	Method      string
	Destination *events.Destination // number, username or sip
	CLI         string
	DTMF        string
	Custom      string
	Domain      string
	Locale      string
	Text        string
	Prompts     []svaml.Prompt
	EnableACE   bool
	EnableDiCE  bool
	EnablePIE   bool
	MaxDuration time.Duration
	ICE, ACE    Script
	PIE         Script
	// Conference is the room of a conferenceCallout (its conferenceId,
	// conferenceDtmfOptions and mohClass); Greeting (spoken with Locale)
	// is played to the callee before it joins.
	Conference *svaml.ConnectConf
	Greeting   string
}

// pieTarget says where the PIE of a runMenu goes (reference §2.5, §3.5).
// A customCallout's pie takes it: inline SVAML is executed as the reply
// without a callback, a URL receives the PIE. A customCallout without pie
// sends its PIEs to the app's callback URL: the reference leaves this open,
// and the backend that wrote the menu is the one that can act on its
// result. A ttsCallout (or conferenceCallout) sends PIEs to the app's
// callback URL only with enablePie; without it, ok is false and the call
// core ends the call after the menu, since nobody asked for its result.
func (o *Callout) pieTarget(app CallbackTarget) (t CallbackTarget, inline *svaml.Response, ok bool) {
	if o.Method == MethodCustom {
		if o.PIE.Doc != nil {
			return app, o.PIE.Doc, true
		}
		if o.PIE.URL != "" {
			return CallbackTarget{AppKey: app.AppKey, URL: o.PIE.URL}, nil, true
		}
		return app, nil, true
	}
	return app, nil, o.EnablePIE
}

func (o *Callout) wantACE() bool {
	if o.Method == MethodCustom {
		return o.ACE.given()
	}
	return o.EnableACE
}

func (o *Callout) wantDiCE() bool {
	if o.Method == MethodCustom {
		return true
	}
	return o.EnableDiCE
}

// aceTarget returns where the ACE goes: the custom callout's inline
// document (returned as inline) or its URL, else the app's callback.
func (o *Callout) aceTarget(app CallbackTarget) (CallbackTarget, *svaml.Response) {
	if o.ACE.Doc != nil {
		return app, o.ACE.Doc
	}
	if o.ACE.URL != "" {
		return CallbackTarget{AppKey: app.AppKey, URL: o.ACE.URL}, nil
	}
	return app, nil
}

func destKind(t string) (DestinationKind, error) {
	switch t {
	case "number", "Number":
		return DestNumber, nil
	case "username", "Username":
		return DestUsername, nil
	case "sip", "Sip", "SIP":
		return DestSIP, nil
	}
	return "", fmt.Errorf("%w: destination type %q is not number, username or sip", ErrInvalidCommand, t)
}

// Callout starts an outbound call and returns its id at once; the call
// runs on its own actor.
func (m *Manager) Callout(ctx context.Context, o Callout) (string, error) {
	if m.draining.Load() {
		return "", ErrDraining
	}
	if m.storeDown.Load() {
		return "", ErrUnavailable
	}
	if o.Destination == nil && !(o.Method == MethodCustom && o.ICE.given()) {
		return "", fmt.Errorf("%w: destination is required", ErrInvalidCommand)
	}
	if o.Destination != nil {
		if _, err := destKind(o.Destination.Type); err != nil {
			return "", err
		}
	}
	target, err := m.deps.Apps.Target(ctx, o.AppKey)
	if err != nil {
		if !errors.Is(err, ErrNoRoute) {
			err = fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return "", fmt.Errorf("callback target of app: %w", err)
	}
	id := m.opts.NewID()
	log := m.log.With("call_id", id)
	domain := o.Domain
	if domain == "" {
		domain = "pstn"
	}
	var to events.Destination
	if o.Destination != nil {
		to = *o.Destination
	}
	c := m.newCall(id, log, Snapshot{
		ID: id, Region: m.opts.Region, Node: m.opts.Node, AppKey: o.AppKey,
		Direction: DirectionCallout, State: StateInitiated,
		From: events.Destination{Type: "number", Endpoint: o.CLI}, To: to,
		Domain: domain, Custom: o.Custom, Currency: m.opts.Currency,
		Result: events.ResultNA, Reason: events.ReasonNA, StartedAt: m.opts.Now(),
	})
	c.target = target
	c.callout = &o
	c.origin = "PSTN"
	if err := m.start(ctx, c); err != nil {
		return "", err
	}
	m.metrics.callouts.WithLabelValues(o.Method).Inc()
	return id, nil
}

// beginCallout dials the first party, or runs a destination-less custom
// callout's ICE at once.
func (c *Call) beginCallout(ctx context.Context) {
	o := c.callout
	if o.Destination == nil {
		c.runCalloutICE(ctx)
		return
	}
	kind, _ := destKind(o.Destination.Type)
	req := DialRequest{Kind: kind, Endpoint: o.Destination.Endpoint, CLI: o.CLI}
	if o.Method == MethodCustom {
		c.dialFirstParty(ctx, req)
		return
	}
	c.dial(ctx, req, dialOpts{maxDuration: o.MaxDuration, dtmf: o.DTMF})
}

// dialFirstParty dials a custom callout's destination as the call's first
// party (the "caller" of the ICE that runs when it answers).
func (c *Call) dialFirstParty(ctx context.Context, req DialRequest) {
	if !c.transition(ctx, InputDial) {
		return
	}
	req.CallID = c.snap.ID
	req.DialTimeout = c.m.opts.DialTimeout
	o := c.callout
	var (
		first      *leg
		answeredAt time.Time
	)
	c.spawn(ctx, "dial_first_party", func(tctx context.Context) (err error) {
		first, answeredAt, err = c.placeLeg(tctx, req, roleCaller, func(l *leg) { c.caller = l }, nil, o.DTMF)
		return err
	}, func(err error) {
		if err != nil {
			c.dialFailed(ctx, err)
			return
		}
		if !c.tookAnswer(ctx, first, answeredAt) {
			return
		}
		c.armMaxDuration(o.MaxDuration)
		c.transition(ctx, InputReply) // dialing -> executing
		c.runCalloutICE(ctx)
	})
}

// runCalloutICE runs a custom callout's ICE: inline, or fetched from its
// URL with an ICE event.
func (c *Call) runCalloutICE(ctx context.Context) {
	o := c.callout
	if o.ICE.Doc != nil {
		c.execute(ctx, o.ICE.Doc, svaml.ContextICE, roleCaller)
		return
	}
	t := c.target
	if o.ICE.URL != "" {
		t = CallbackTarget{AppKey: c.target.AppKey, URL: o.ICE.URL}
	}
	if !c.transition(ctx, InputICESent) {
		return
	}
	c.ask(ctx, t, c.ice(), svaml.ContextICE, roleCaller, nil, c.endWith(ctx))
}

// calloutAnswered runs a ttsCallout's program once its callee answered
// (and the ACE, if any, said continue): the prompts (or the text), then the
// platform hangs up (DiCE reason MANAGERHANGUP).
func (c *Call) calloutAnswered(ctx context.Context) {
	o := c.callout
	prompts := o.Prompts
	if len(prompts) == 0 && o.Text != "" {
		prompts = []svaml.Prompt{{Kind: svaml.PromptTTS, Value: o.Text}}
	}
	if !c.transition(ctx, InputReply) {
		return
	}
	l := c.callee
	c.spawn(ctx, "tts_callout", func(tctx context.Context) error {
		return c.playPrompts(tctx, l, prompts, o.Locale)
	}, func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("tts callout prompt failed", "err", err)
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		c.end(ctx, c.answeredResult(), events.ReasonManagerHangup)
	})
}
