package call

import "fmt"

// State is where a call is in its life. States are data: they are persisted
// in the call's snapshot so that any node can answer GET /calls/id/{id}.
type State int

// The states of a call. StateUnknown is the zero value and never a real state.
const (
	StateUnknown State = iota
	// StateInitiated: the call exists (INVITE received or callout accepted);
	// nothing has been sent yet.
	StateInitiated
	// StateAwaitingICE: the ICE was sent; the actor waits for its SVAML.
	StateAwaitingICE
	// StateExecuting: a SVAML document runs (instructions, then the action).
	StateExecuting
	// StateDialing: an outbound leg rings (a connect action, or the
	// callee of a callout).
	StateDialing
	// StateAwaitingACE: the far leg answered and the ACE was sent.
	StateAwaitingACE
	// StateConnected: the call is established: two legs bridged, or a
	// callout's callee answered with nothing left to execute.
	StateConnected
	// StateParked: the caller hears the hold prompt until a PATCH or
	// maxDuration.
	StateParked
	// StateEnding: teardown runs (hangups, media release, DiCE).
	StateEnding
	// StateEnded: final. Nothing happens to the call any more.
	StateEnded
)

var stateNames = [...]string{"unknown", "initiated", "awaiting_ice", "executing", "dialing",
	"awaiting_ace", "connected", "parked", "ending", "ended"}

// String returns the state's snake_case name, also used as a metric label.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int(s))
	}
	return stateNames[s]
}

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name && i != 0 {
			return State(i), nil
		}
	}
	return StateUnknown, fmt.Errorf("call: unknown state %q", name)
}

// Terminal reports whether nothing can follow s.
func (s State) Terminal() bool { return s == StateEnded }

// Ongoing reports whether s counts as ONGOING for the REST API.
func (s State) Ongoing() bool { return s > StateUnknown && s < StateEnded }

// MarshalText encodes the state by name (snapshots stay readable).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Input is something that happened to a call: the actor turns every
// callback reply, SIP event, timer and API command into one Input and asks
// next for the new state.
type Input int

// The inputs of the state machine.
const (
	InputUnknown Input = iota
	// InputICESent: the ICE went out.
	InputICESent
	// InputReply: a valid SVAML document arrived (ICE/ACE reply, PATCH, inline SVAML).
	InputReply
	// InputDial: the running action places an outbound leg.
	InputDial
	// InputAnswered: the outbound leg answered and an ACE was sent.
	InputAnswered
	// InputConnected: the call is established without an ACE round trip
	// (ACE suppressed or not applicable), or an ACE reply said continue.
	InputConnected
	// InputPark: the park action started.
	InputPark
	// InputHangup: the call must end — SVAML or PATCH hangup, a leg hung
	// up or failed, a callback failed, max duration, media timeout, drain.
	InputHangup
	// InputTornDown: teardown finished and the DiCE was handed over.
	InputTornDown
)

var inputNames = [...]string{"unknown", "ice_sent", "reply", "dial", "answered", "connected",
	"park", "hangup", "torn_down"}

// String returns the input's snake_case name.
func (i Input) String() string {
	if i < 0 || int(i) >= len(inputNames) {
		return fmt.Sprintf("input(%d)", int(i))
	}
	return inputNames[i]
}
