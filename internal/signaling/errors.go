package signaling

import (
	"errors"
	"fmt"
)

// Errors callers branch on.
var (
	// ErrCallEnded is returned by a call method when the dialog has already
	// ended (remote BYE or CANCEL, local hangup, timeout, server closed).
	ErrCallEnded = errors.New("signaling: call has ended")
	// ErrAlreadyAnswered is returned by Ring, Answer and Reject once a 2xx
	// has been sent for the INVITE.
	ErrAlreadyAnswered = errors.New("signaling: call already answered")
	// ErrAckTimeout is returned by Answer when the caller never ACKed the
	// 200 OK within Options.AckTimeout; the dialog is then ended with a BYE.
	ErrAckTimeout = errors.New("signaling: no ACK received for 200 OK")
	// ErrUserNotFound is wrapped by the *DialError of a Dial to a username
	// that has no registered contact.
	ErrUserNotFound = errors.New("signaling: user has no registered contact")
	// ErrNotAcceptable is passed to Event.Respond to refuse an in-dialog
	// offer; the peer gets 488 Not Acceptable Here. Any other error yields
	// 500 Server Internal Error.
	ErrNotAcceptable = errors.New("signaling: offer not acceptable")
	// ErrServerClosed is returned by Dial and Start after Close.
	ErrServerClosed = errors.New("signaling: server closed")
	// ErrNotStarted is returned by Dial before Start.
	ErrNotStarted = errors.New("signaling: server not started")
	// ErrNoGateway is returned by Dial to a number when Options.Gateway is
	// not configured.
	ErrNoGateway = errors.New("signaling: no PSTN gateway configured")
	// ErrInvalidDial wraps every validation failure of a DialRequest (bad
	// number, URI, transport, CLI or header).
	ErrInvalidDial = errors.New("signaling: invalid dial request")
	// ErrRingTimeout is wrapped by the *DialError of a dial whose
	// DialTimeout elapsed before an answer.
	ErrRingTimeout = errors.New("signaling: ring timeout")
	// ErrCanceled is wrapped by the *DialError of a dial abandoned by
	// Cancel or Hangup before an answer.
	ErrCanceled = errors.New("signaling: dial canceled")
)

// DialError is how an outbound call that was not answered failed: the SIP
// final response (Code 300-699) or a local condition (a negative Code*
// constant, see Classify), with the call result and DiCE reason from the
// one mapping table. Err, when set, is the underlying cause.
type DialError struct {
	Code   int
	Result string // events.Result*
	Reason string // events.Reason*
	Err    error
}

func newDialError(code int, err error) *DialError {
	result, reason := Classify(code)
	return &DialError{Code: code, Result: result, Reason: reason, Err: err}
}

// Error implements error.
func (e *DialError) Error() string {
	s := fmt.Sprintf("signaling: dial failed: %s (result %s, reason %s)", codeText(e.Code), e.Result, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *DialError) Unwrap() error { return e.Err }

// codeText names a status code or local condition for messages.
func codeText(code int) string {
	if code >= 0 {
		return fmt.Sprintf("SIP %d", code)
	}
	switch code {
	case CodeRingTimeout:
		return "ring timeout"
	case CodeNoResponse:
		return "no response"
	case CodeTransportError:
		return "transport error"
	case CodeUserNotFound:
		return "user not found"
	case CodeAckTimeout:
		return "ACK timeout"
	case CodeLocalCancel:
		return "canceled"
	}
	return fmt.Sprintf("condition %d", code)
}
