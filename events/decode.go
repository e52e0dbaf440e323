package events

import (
	"encoding/json"
	"fmt"
)

// Decode parses a callback event body and returns a pointer to the matching
// type: *ICE, *ACE, *PIE, *DiCE or *Notify. The "event" field is matched
// case-insensitively. A missing, null or empty "event" yields an error
// wrapping [ErrMissingEvent]; an unrecognised one wraps [ErrUnknownEvent].
// Unknown fields are ignored and, as with encoding/json, field names match
// case-insensitively (so the "callId" spelling of some docs is accepted).
func Decode(data []byte) (Event, error) {
	var probe struct {
		Event *string `json:"event"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if probe.Event == nil {
		return nil, fmt.Errorf("decode event: %w", ErrMissingEvent)
	}
	kind, err := ParseKind(*probe.Event)
	if err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	var ev Event
	switch kind {
	case KindICE:
		ev, err = decodeAs[ICE](data)
	case KindACE:
		ev, err = decodeAs[ACE](data)
	case KindPIE:
		ev, err = decodeAs[PIE](data)
	case KindDiCE:
		ev, err = decodeAs[DiCE](data)
	case KindNotify:
		ev, err = decodeAs[Notify](data)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s event: %w", kind, err)
	}
	return ev, nil
}

// decodeAs unmarshals data into a new T. The event types have no
// UnmarshalJSON of their own, so the "event" key is simply ignored here.
func decodeAs[T ICE | ACE | PIE | DiCE | Notify, P interface {
	*T
	Event
}](data []byte) (Event, error) {
	p := P(new(T))
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	return p, nil
}
