package svaml

import "github.com/callcore/callcore/events"

// Context says which callback or API request a SVAML document answers. It
// selects the validity matrix of reference §5.2.
type Context int

// Contexts a SVAML document can be parsed for.
const (
	// ContextUnknown skips the per-context validity check: every action and
	// every instruction is accepted (useful for tools and for re-parsing a
	// document that was already validated).
	ContextUnknown Context = iota
	// ContextICE is the reply to an Incoming Call Event.
	ContextICE
	// ContextACE is the reply to an Answered Call Event.
	ContextACE
	// ContextPIE is the reply to a Prompt Input Event.
	ContextPIE
	// ContextDiCE is the (ignored) reply to a Disconnected Call Event: only a
	// hangup action and no instructions.
	ContextDiCE
	// ContextPatchCall is the body of PATCH /calling/v1/calls/id/{callId} and
	// of PATCH .../leg/{callLeg}: hangup, continue or park, any instructions.
	ContextPatchCall
)

// String returns "ice", "ace", "pie", "dice", "patch" or "unknown".
func (c Context) String() string {
	switch c {
	case ContextICE:
		return "ice"
	case ContextACE:
		return "ace"
	case ContextPIE:
		return "pie"
	case ContextDiCE:
		return "dice"
	case ContextPatchCall:
		return "patch"
	default:
		return "unknown"
	}
}

// where names the context in error messages.
func (c Context) where() string {
	switch c {
	case ContextICE:
		return "a reply to ICE"
	case ContextACE:
		return "a reply to ACE"
	case ContextPIE:
		return "a reply to PIE"
	case ContextDiCE:
		return "a reply to DiCE"
	case ContextPatchCall:
		return "a call update (PATCH)"
	default:
		return "this context"
	}
}

// valid reports whether c is one of the defined contexts.
func (c Context) valid() bool { return c >= ContextUnknown && c <= ContextPatchCall }

// bit is c's bit in the allowed-context masks below.
func (c Context) bit() uint8 { return 1 << uint(c) }

const (
	inICE   = 1 << ContextICE
	inACE   = 1 << ContextACE
	inPIE   = 1 << ContextPIE
	inDiCE  = 1 << ContextDiCE
	inPatch = 1 << ContextPatchCall
)

// allowed reports whether something with the context mask m may appear in c.
// ContextUnknown allows everything.
func (c Context) allowed(m uint8) bool {
	return c == ContextUnknown || m&c.bit() != 0
}

// ContextFor returns the context of the reply to a callback event of kind k.
// Notify replies carry no SVAML and are ignored by the platform, so Notify —
// like an unknown kind — maps to ContextUnknown; callers must not execute
// such a reply.
func ContextFor(k events.Kind) Context {
	switch k {
	case events.KindICE:
		return ContextICE
	case events.KindACE:
		return ContextACE
	case events.KindPIE:
		return ContextPIE
	case events.KindDiCE:
		return ContextDiCE
	default:
		return ContextUnknown
	}
}
