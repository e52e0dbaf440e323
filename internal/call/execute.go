package call

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// execute runs a SVAML document that is not a callback's reply (a
// callout's, a PATCH's, an inline one): its instructions in order on a
// task, then exactly one action on the actor. hear selects who hears
// say/playFiles ("caller", "callee" or "both").
func (c *Call) execute(ctx context.Context, resp *svaml.Response, kind svaml.Context, hear string) {
	c.runSVAML(ctx, resp, kind, hear, false)
}

// executeReply runs a callback's reply, as execute. Its timeline entry
// names the instructions and the action without the document: the
// callback's entry holds the reply as it was received.
func (c *Call) executeReply(ctx context.Context, resp *svaml.Response, kind svaml.Context, hear string) {
	c.runSVAML(ctx, resp, kind, hear, true)
}

func (c *Call) runSVAML(ctx context.Context, resp *svaml.Response, kind svaml.Context, hear string, reply bool) {
	if !c.transition(ctx, InputReply) {
		return
	}
	c.parked = nil
	c.log.Debug("executing svaml", "context", kind, "instructions", len(resp.Instructions), "action", resp.Action.ActionName())
	c.tlSVAML(resp, kind, hear, reply)
	legs := c.hearing(hear)
	start := time.Now()
	var firstAudio sync.Once
	tctx0 := withFirstAudio(ctx, func() {
		firstAudio.Do(func() { c.m.metrics.firstAudio.Observe(time.Since(start).Seconds()) })
	})
	c.spawn(tctx0, "instructions", func(tctx context.Context) error {
		for i, in := range resp.Instructions {
			if err := c.instruction(tctx, in, legs); err != nil {
				return fmt.Errorf("instructions[%d] (%s): %w", i, in.InstructionName(), err)
			}
		}
		return nil
	}, func(err error) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			if errors.Is(err, errUnsupported) || errors.Is(err, ErrInvalidSVAML) {
				// SVAML the node cannot carry out: a clear end, never a
				// silent success.
				c.log.Error("svaml instruction cannot be carried out; ending the call", "err", err)
				c.tlError("svaml instruction cannot be carried out", err)
				c.m.metrics.svamlErrors.WithLabelValues("unsupported_instruction").Inc()
				c.end(ctx, c.answeredResult(), events.ReasonInvalidSVAMLAction)
				return
			}
			c.log.Error("svaml instruction failed", "err", err)
			c.tlError("svaml instruction failed", err)
			if c.rejectCode == 0 {
				// An unanswered caller is refused with 503: a node-local
				// failure (no RTP port, media engine error) that a load
				// balancer may retry on another node.
				c.rejectCode = 503
			}
			c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
			return
		}
		c.act(ctx, resp.Action, kind)
	})
}

// hearing returns the legs that hear prompts for a selector. Without a
// caller (callouts) prompts go to the callee.
func (c *Call) hearing(sel string) []*leg {
	var out []*leg
	add := func(l *leg) {
		if l != nil && !l.ended {
			out = append(out, l)
		}
	}
	switch sel {
	case roleCallee:
		add(c.callee)
	case "both":
		add(c.caller)
		add(c.callee)
	default:
		if c.caller != nil {
			add(c.caller)
		} else {
			add(c.callee)
		}
	}
	return out
}

// instruction runs one instruction on a task. State changes go through post.
func (c *Call) instruction(ctx context.Context, in svaml.Instruction, legs []*leg) error {
	switch in := in.(type) {
	case *svaml.Answer:
		if c.caller == nil || c.caller.in == nil || c.caller.isAnswered() {
			return nil // callouts and answered calls: nothing to answer
		}
		return c.answer(ctx, c.caller)
	case *svaml.Say:
		return c.forLegs(ctx, legs, func(l *leg) error {
			return c.playPrompts(ctx, l, []svaml.Prompt{{Kind: svaml.PromptTTS, Value: in.Text}}, in.Locale)
		})
	case *svaml.PlayFiles:
		var prompts []svaml.Prompt
		for _, id := range in.IDs {
			ps, err := svaml.ParsePrompts(id)
			if err != nil {
				return err
			}
			prompts = append(prompts, ps...)
		}
		return c.forLegs(ctx, legs, func(l *leg) error { return c.playPrompts(ctx, l, prompts, in.Locale) })
	case *svaml.SendDTMF:
		return c.forLegs(ctx, legs, func(l *leg) error {
			ms, err := c.ensureMedia(ctx, l)
			if err != nil {
				return err
			}
			return ms.SendDTMF(ctx, in.Value)
		})
	case *svaml.SetCookie:
		errc := make(chan error, 1)
		c.post(ctx, func() {
			err := c.snap.Cookies.Set(in.Key, in.Value)
			if err == nil {
				c.save(ctx)
			}
			errc <- err
		})
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	case *svaml.StartRecording:
		return c.startRecording(ctx, in)
	case *svaml.StopRecording:
		c.stopRecording("stopRecording")
		return nil
	default:
		return fmt.Errorf("%w: instruction %s is not supported on this node", errUnsupported, in.InstructionName())
	}
}

var errUnsupported = errors.New("unsupported")

// forLegs runs fn for each leg; several legs hear the same prompt at once.
func (c *Call) forLegs(ctx context.Context, legs []*leg, fn func(*leg) error) error {
	if len(legs) == 1 {
		return fn(legs[0])
	}
	errc := make(chan error, len(legs))
	for _, l := range legs {
		go func() { errc <- fn(l) }()
	}
	var first error
	for range legs {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// answer answers an inbound leg: media for its offer, 200 OK, ACK.
func (c *Call) answer(ctx context.Context, l *leg) error {
	l.mu.Lock()
	if wait := l.answering; wait != nil {
		// An earlier task is answering and waits for the ACK (a PATCH
		// came in between): wait for it rather than answer twice.
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !l.isAnswered() {
			return errors.New("answering: the answer in progress failed")
		}
		return nil
	}
	done := make(chan struct{})
	l.answering = done
	l.mu.Unlock()
	answered := false
	defer func() {
		l.mu.Lock()
		if !answered {
			l.answering = nil // a later task may try again
		}
		l.mu.Unlock()
		close(done)
	}()
	ms, sdp, err := c.openInboundMedia(ctx, l)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.okSent = true
	l.mu.Unlock()
	// The 200 OK is out: its ACK wait must not end with this task (a PATCH
	// may replace it). Signaling bounds the wait (its ACK timeout), and
	// the dialog ending ends it.
	ackSDP, err := l.in.Answer(context.WithoutCancel(ctx), sdp)
	if err != nil {
		return fmt.Errorf("answering: %w", err)
	}
	at := c.m.opts.Now()
	if len(l.offer) == 0 {
		// Offer-less INVITE: we offered in the 200, the ACK answers.
		if err := ms.SetRemote(ackSDP); err != nil {
			return fmt.Errorf("ACK SDP: %w", err)
		}
	}
	l.setAnswered()
	answered = true
	c.post(ctx, func() {
		c.markAnswered(ctx, at)
		c.armMaxDuration(0)
	})
	return nil
}

// ensureMedia returns a session through which audio reaches l: an inbound
// leg that is not answered gets early media (183 with SDP) first.
func (c *Call) ensureMedia(ctx context.Context, l *leg) (MediaSession, error) {
	l.mu.Lock()
	ms, ready := l.media, l.answered || l.okSent || l.early || l.in == nil
	l.mu.Unlock()
	if ms != nil && ready {
		return ms, nil
	}
	if l.in == nil {
		return nil, fmt.Errorf("leg %s has no media", l.role)
	}
	ms, sdp, err := c.openInboundMedia(ctx, l)
	if err != nil {
		return nil, err
	}
	if err := l.in.Ring(ctx, sdp); err != nil {
		return nil, fmt.Errorf("early media: %w", err)
	}
	l.mu.Lock()
	l.early = true
	l.mu.Unlock()
	return ms, nil
}

// openInboundMedia opens the RTP session of an inbound leg once and
// returns it with our SDP.
func (c *Call) openInboundMedia(ctx context.Context, l *leg) (MediaSession, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, fmt.Errorf("leg %s: media already released", l.role)
	}
	if l.media != nil {
		return l.media, l.sdp, nil
	}
	var (
		ms  MediaSession
		sdp []byte
		err error
	)
	if len(l.offer) == 0 {
		ms, sdp, err = c.m.deps.Media.Offer(ctx, c.snap.ID) // offer-less INVITE: we offer in the 200
	} else {
		ms, sdp, err = c.m.deps.Media.Answer(ctx, c.snap.ID, l.offer)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("media: %w", err)
	}
	l.media, l.sdp = ms, sdp
	c.attachRecording(l, ms)
	return ms, sdp, nil
}

// playPrompts resolves and plays prompts one by one on l, so the first
// audio leaves as soon as the first prompt is ready.
func (c *Call) playPrompts(ctx context.Context, l *leg, prompts []svaml.Prompt, locale string) error {
	ms, err := c.ensureMedia(ctx, l)
	if err != nil {
		return err
	}
	for _, p := range prompts {
		a, err := c.m.deps.Media.Prompt(ctx, p, locale)
		if err != nil {
			return fmt.Errorf("prompt %s: %w", p.Kind, err)
		}
		firstAudioFrom(ctx)()
		c.tlPrompt(ctx, l, p, true, nil)
		err = ms.Play(ctx, a)
		c.tlPrompt(ctx, l, p, false, err)
		if err != nil {
			return err
		}
	}
	return nil
}

// act runs the action of a SVAML document.
func (c *Call) act(ctx context.Context, a svaml.Action, kind svaml.Context) {
	c.lastAction = a.ActionName()
	switch a := a.(type) {
	case *svaml.Hangup:
		c.end(ctx, c.answeredResult(), events.ReasonManagerHangup)
	case *svaml.Continue:
		c.onContinue(ctx, kind)
	case *svaml.ConnectPSTN:
		endpoint := a.Number
		if endpoint == "" {
			endpoint = c.snap.To.Endpoint // the number the caller dialled
		}
		c.dial(ctx, DialRequest{Kind: DestNumber, Endpoint: endpoint, CLI: c.cli(a.CLI),
			DialTimeout: seconds(a.DialTimeout)}, dialOpts{
			maxDuration: seconds(a.MaxDuration), dtmf: a.DTMF, suppress: a.SuppressCallbacks,
			indications: a.Indications, ringback: true, amd: amdOf(a.AMD),
		})
	case *svaml.ConnectSIP:
		c.dial(ctx, DialRequest{Kind: DestSIP, Endpoint: a.Destination.Endpoint, CLI: c.cli(a.CLI),
			Headers: headers(a.CallHeaders), Transport: string(a.Transport)}, dialOpts{
			maxDuration: seconds(a.MaxDuration), suppress: a.SuppressCallbacks, moh: string(a.MOH),
		})
	case *svaml.ConnectMXP:
		endpoint := a.Destination.Endpoint
		if endpoint == "" {
			endpoint = c.snap.To.Endpoint
		}
		c.dial(ctx, DialRequest{Kind: DestUsername, Endpoint: endpoint, CLI: c.cli(""),
			Headers: headers(a.CallHeaders)}, dialOpts{})
	case *svaml.Park:
		c.park(ctx, a, true)
	case *svaml.RunMenu:
		c.runMenu(ctx, a)
	case *svaml.ConnectStream:
		c.connectStream(ctx, a)
	case *svaml.ConnectConf:
		c.connectConf(ctx, a)
	default:
		// An action this node does not run: a clear end, never a silent success.
		c.log.Error("svaml action not supported on this node yet; ending the call",
			"action", a.ActionName(), "context", kind)
		c.tlError("svaml action "+a.ActionName()+" is not supported on this node", nil)
		c.m.metrics.svamlErrors.WithLabelValues("unsupported_action").Inc()
		c.end(ctx, c.answeredResult(), events.ReasonInvalidSVAMLAction)
	}
}

type firstAudioKey struct{}

// withFirstAudio carries the hook that times a document's first prompt.
func withFirstAudio(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, firstAudioKey{}, fn)
}

// firstAudioFrom returns the hook of ctx, or a no-op. Media sends the first
// frame of a Play at once, so the hook runs just before it.
func firstAudioFrom(ctx context.Context) func() {
	if fn, ok := ctx.Value(firstAudioKey{}).(func()); ok {
		return fn
	}
	return func() {}
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func headers(hs []svaml.CallHeader) []events.KeyValue {
	if len(hs) == 0 {
		return nil
	}
	out := make([]events.KeyValue, len(hs))
	for i, h := range hs {
		out[i] = events.KeyValue{Key: h.Key, Value: h.Value}
	}
	return out
}

// cli is the caller id for an outbound leg: the action's, else the
// caller's number.
func (c *Call) cli(override string) string {
	if override != "" {
		return override
	}
	return c.snap.From.Endpoint
}

// onContinue: in an ACE reply it completes the connection; in a PATCH it
// returns to what the call was doing (bridged, parked, or idle). A park
// that interrupted connected legs returns to the bridge.
func (c *Call) onContinue(ctx context.Context, kind svaml.Context) {
	switch {
	case kind == svaml.ContextACE && c.callout != nil && c.callout.Method == MethodTTS:
		c.calloutAnswered(ctx) // ttsCallout: play its text, then hang up
	case kind == svaml.ContextACE && c.callout != nil && c.callout.Method == MethodConf:
		c.conferenceAnswered(ctx) // conferenceCallout: greeting, then the room
	case kind == svaml.ContextACE:
		c.connect(ctx)
	case c.base == StateParked && c.unparkToBridge && c.callee != nil && !c.callee.ended:
		c.unparkToBridge = false
		c.connect(ctx)
	case c.base == StateParked && c.lastPark != nil:
		c.park(ctx, c.lastPark, false)
	default:
		c.transition(ctx, InputConnected)
	}
}
