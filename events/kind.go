package events

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Kind identifies a callback event type.
type Kind int

// Event kinds. The zero value is KindUnknown.
const (
	KindUnknown Kind = iota // not a known event
	KindICE                 // Incoming Call Event, "ice"
	KindACE                 // Answered Call Event, "ace"
	KindPIE                 // Prompt Input Event, "pie"
	KindDiCE                // Disconnected Call Event, "dice"
	KindNotify              // notification, "notify"
)

// String returns the wire name of the kind ("ice", "ace", "pie", "dice",
// "notify") or "unknown".
func (k Kind) String() string {
	switch k {
	case KindICE:
		return "ice"
	case KindACE:
		return "ace"
	case KindPIE:
		return "pie"
	case KindDiCE:
		return "dice"
	case KindNotify:
		return "notify"
	default:
		return "unknown"
	}
}

// ParseKind parses an event name case-insensitively ("ice", "ACE", "DiCE",
// ...). It returns KindUnknown and an error wrapping [ErrMissingEvent] for an
// empty name or [ErrUnknownEvent] for any other name.
func ParseKind(s string) (Kind, error) {
	switch {
	case s == "":
		return KindUnknown, ErrMissingEvent
	case strings.EqualFold(s, "ice"):
		return KindICE, nil
	case strings.EqualFold(s, "ace"):
		return KindACE, nil
	case strings.EqualFold(s, "pie"):
		return KindPIE, nil
	case strings.EqualFold(s, "dice"):
		return KindDiCE, nil
	case strings.EqualFold(s, "notify"):
		return KindNotify, nil
	default:
		return KindUnknown, fmt.Errorf("%w %q", ErrUnknownEvent, truncate(s, maxQuoted))
	}
}

// maxQuoted bounds how much of an untrusted value is quoted in an error.
const maxQuoted = 64

// truncate shortens s to at most n bytes (on a rune boundary) and marks the
// cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
