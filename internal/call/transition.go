package call

import "fmt"

// edges is the whole state machine: for each state, the inputs it accepts
// and where they lead. Everything not listed is refused.
//
// The path of an inbound call: initiated -ice_sent-> awaiting_ice -reply->
// executing; the action then dials (-dial-> dialing -answered-> awaiting_ace
// -reply-> executing, or -connected-> connected), parks, or hangs up. A
// callout starts with the callee: initiated -dial-> dialing. A PATCH is a
// reply in any established state. Every state but ended can be hung up.
var edges = map[State]map[Input]State{
	StateInitiated: {
		InputICESent: StateAwaitingICE,
		InputReply:   StateExecuting, // inline SVAML (customCallout ice) after answer
		InputDial:    StateDialing,   // callouts ring the callee first
		InputHangup:  StateEnding,
	},
	StateAwaitingICE: {
		InputReply:  StateExecuting,
		InputHangup: StateEnding,
	},
	StateExecuting: {
		InputReply:     StateExecuting, // PATCH while instructions run
		InputDial:      StateDialing,
		InputConnected: StateConnected,
		InputPark:      StateParked,
		InputICESent:   StateAwaitingICE, // customCallout with an ICE URL, after the callee answered
		InputHangup:    StateEnding,
	},
	StateDialing: {
		InputAnswered:  StateAwaitingACE,
		InputConnected: StateConnected,
		InputReply:     StateExecuting, // callout answered, inline/tts SVAML runs
		InputHangup:    StateEnding,
	},
	StateAwaitingACE: {
		InputReply:     StateExecuting,
		InputConnected: StateConnected,
		InputHangup:    StateEnding,
	},
	StateConnected: {
		InputReply:  StateExecuting, // PATCH
		InputHangup: StateEnding,
	},
	StateParked: {
		InputReply:  StateExecuting, // PATCH unparks
		InputHangup: StateEnding,
	},
	StateEnding: {
		InputTornDown: StateEnded,
		InputHangup:   StateEnding, // a second cause during teardown changes nothing
	},
}

// ErrInvalidTransition is wrapped by next when an input is not allowed in
// a state.
var ErrInvalidTransition = fmt.Errorf("call: invalid transition")

// next is the pure transition function.
func next(cur State, in Input) (State, error) {
	if to, ok := edges[cur][in]; ok {
		return to, nil
	}
	return cur, fmt.Errorf("%w: %s -(%s)->", ErrInvalidTransition, cur, in)
}
