package call

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/callcore/callcore/svaml"
)

// Timeline records what happens to calls, for the per-call timeline (GET
// /calling/v1/calls/id/{id}/timeline). Implementations never block and
// redact what they store; internal/timeline's Recorder is one. Nil in
// Deps records nothing, at the cost of a nil check.
type Timeline interface {
	// Record adds an entry of kind (sip, callback, svaml, state, media or
	// error) to the call's timeline; data is handed over and must not be
	// modified afterwards.
	Record(callID, kind, summary string, data map[string]any)
	// End says the call has ended: its timeline keeps the ended record's
	// TTL from now.
	End(callID string)
}

// Timeline entry kinds, as internal/timeline names them.
const (
	tlState = "state"
	tlSVAML = "svaml"
	tlMedia = "media"
	tlError = "error"
)

// maxPromptText bounds the prompt text a media entry quotes.
const maxPromptText = 120

// tl is the call's timeline, nil when none is recorded.
func (c *Call) tl() Timeline { return c.m.deps.Timeline }

// tlStarted records the call's first state.
func (c *Call) tlStarted() {
	tl := c.tl()
	if tl == nil {
		return
	}
	s := &c.snap
	tl.Record(s.ID, tlState, "call started ("+string(s.Direction)+"), state "+s.State.String(), map[string]any{
		"state": s.State.String(), "direction": string(s.Direction), "node": s.Node,
		"cli": s.From.Endpoint, "destination": map[string]any{"type": s.To.Type, "endpoint": s.To.Endpoint},
	})
}

// tlTransition records a state change; the change to ending carries the
// result and reason, the change to ended closes the timeline.
func (c *Call) tlTransition(from, to State, in Input) {
	tl := c.tl()
	if tl == nil {
		return
	}
	data := map[string]any{"from": from.String(), "to": to.String(), "input": in.String()}
	summary := "state " + from.String() + " → " + to.String() + " (" + in.String() + ")"
	if to == StateEnding {
		data["result"], data["reason"] = c.snap.Result, c.snap.Reason
		summary += ": " + c.snap.Result + "/" + c.snap.Reason
	}
	tl.Record(c.snap.ID, tlState, summary, data)
	if to == StateEnded {
		tl.End(c.snap.ID)
	}
}

// tlSVAML records a document the call executes. A callback's reply
// (reply) is not stored again: the callback's entry just before holds it
// as received, and the entry says so ("source").
func (c *Call) tlSVAML(resp *svaml.Response, kind svaml.Context, hear string, reply bool) {
	tl := c.tl()
	if tl == nil {
		return
	}
	names := make([]string, len(resp.Instructions))
	for i, in := range resp.Instructions {
		names[i] = in.InstructionName()
	}
	action := resp.Action.ActionName()
	summary := "svaml (" + kind.String() + "): "
	if len(names) > 0 {
		summary += strings.Join(names, ", ") + " → "
	}
	summary += action
	data := map[string]any{"context": kind.String(), "action": action, "instructions": names}
	if reply {
		data["source"] = kind.String() + " callback reply"
	} else {
		data["source"] = "api" // a callout, a PATCH, or what a callout implies
		data["document"] = resp
	}
	if hear != "" {
		data["leg"] = hear
	}
	tl.Record(c.snap.ID, tlSVAML, summary, data)
}

// tlMedia records a media event.
func (c *Call) tlMedia(summary string, data map[string]any) {
	if tl := c.tl(); tl != nil {
		tl.Record(c.snap.ID, tlMedia, summary, data)
	}
}

// tlError records a failure worth a log line. A cancelled context (the
// call moved on) is not one.
func (c *Call) tlError(what string, err error) {
	tl := c.tl()
	if tl == nil || errors.Is(err, context.Canceled) {
		return
	}
	summary := what
	data := map[string]any{"what": what}
	if err != nil {
		summary += ": " + err.Error()
		data["error"] = err.Error()
	}
	tl.Record(c.snap.ID, tlError, summary, data)
}

type quietPromptsKey struct{}

// withQuietPrompts marks prompts played under ctx as not worth a timeline
// entry (the rounds of a looping hold prompt).
func withQuietPrompts(ctx context.Context) context.Context {
	return context.WithValue(ctx, quietPromptsKey{}, true)
}

// tlPrompt records a prompt starting or stopping on a leg; err is why a
// prompt stopped early (nil: it played to its end). Nothing is recorded
// under withQuietPrompts.
func (c *Call) tlPrompt(ctx context.Context, l *leg, p svaml.Prompt, started bool, err error) {
	if c.tl() == nil || ctx.Value(quietPromptsKey{}) != nil {
		return
	}
	data := map[string]any{"kind": p.Kind.String(), "leg": l.role}
	switch p.Kind {
	case svaml.PromptURL:
		data["url"] = p.Value
	default:
		data["prompt"] = clip(p.Value, maxPromptText)
	}
	switch {
	case started:
		c.tlMedia("prompt started: "+p.Kind.String()+" to the "+l.role, data)
	case err == nil:
		c.tlMedia("prompt finished: "+p.Kind.String(), data)
	case errors.Is(err, context.Canceled):
		data["interrupted"] = true
		c.tlMedia("prompt stopped: "+p.Kind.String()+" (interrupted)", data)
	default:
		data["error"] = err.Error()
		c.tlMedia("prompt stopped: "+p.Kind.String()+" (failed)", data)
	}
}

// clip shortens s to at most n bytes at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
