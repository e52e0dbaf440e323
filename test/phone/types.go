package phone

import "fmt"

// Codec is an audio codec the phone can negotiate.
type Codec int

const (
	// CodecDefault selects PCMU in Options; a negotiated call never reports it.
	CodecDefault Codec = iota
	// PCMU is G.711 µ-law, static RTP payload type 0.
	PCMU
	// PCMA is G.711 A-law, static RTP payload type 8.
	PCMA
)

// String returns the SDP encoding name of c.
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	default:
		return "default"
	}
}

// staticPT returns the static RTP payload type of c (RFC 3551 §6).
func (c Codec) staticPT() uint8 {
	if c == PCMA {
		return 8
	}
	return 0
}

// other returns the other G.711 law.
func (c Codec) other() Codec {
	if c == PCMA {
		return PCMU
	}
	return PCMA
}

// silence returns the code word of a zero sample.
func (c Codec) silence() byte {
	if c == PCMA {
		return alawSilence
	}
	return ulawSilence
}

// Direction is an SDP media direction attribute (RFC 3264 §5.1).
type Direction int

const (
	// DirectionUnknown is the zero value; parsed SDP without an attribute is SendRecv.
	DirectionUnknown Direction = iota
	// SendRecv sends and receives.
	SendRecv
	// SendOnly only sends (the sender holds the call).
	SendOnly
	// RecvOnly only receives.
	RecvOnly
	// Inactive neither sends nor receives.
	Inactive
)

// String returns the SDP attribute name of d.
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "unknown"
	}
}

func (d Direction) sends() bool    { return d == SendRecv || d == SendOnly }
func (d Direction) receives() bool { return d == SendRecv || d == RecvOnly }

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	default:
		return Inactive
	}
}

// DTMFMode selects how SendDTMF transmits digits.
type DTMFMode int

const (
	// DTMFDefault is DTMFRFC4733.
	DTMFDefault DTMFMode = iota
	// DTMFRFC4733 sends RTP telephone-events (RFC 4733).
	DTMFRFC4733
	// DTMFInfo sends one SIP INFO per digit with an application/dtmf-relay body.
	DTMFInfo
	// DTMFInfoPlain sends one SIP INFO per digit with an application/dtmf
	// body (just the digit).
	DTMFInfoPlain
	// DTMFInBand plays each digit as its Q.23 dual tone in the audio
	// (100 ms at -9 dBFS per component, 60 ms of silence after), as an
	// analogue line or a gateway without telephone-event would.
	DTMFInBand
)

// String returns a short name of m.
func (m DTMFMode) String() string {
	switch m {
	case DTMFDefault, DTMFRFC4733:
		return "rfc4733"
	case DTMFInfo:
		return "info"
	case DTMFInfoPlain:
		return "info-plain"
	case DTMFInBand:
		return "inband"
	default:
		return fmt.Sprintf("DTMFMode(%d)", int(m))
	}
}

// AnswerMode is what the phone does by itself with an incoming INVITE.
// Every incoming call is also delivered on Phone.Incoming in every mode.
type AnswerMode int

const (
	// AnswerManual leaves the call ringing-less (100 Trying only) until the
	// test calls Incoming.Ring, Answer or Reject.
	AnswerManual AnswerMode = iota
	// AnswerAuto sends 180 Ringing and answers after Options.AnswerDelay.
	AnswerAuto
	// AnswerReject sends 180 Ringing and rejects with Options.RejectCode
	// (default 486) after Options.AnswerDelay.
	AnswerReject
	// AnswerNever sends 180 Ringing and never answers: the call rings until
	// the caller cancels it.
	AnswerNever
)

// String returns a short name of m.
func (m AnswerMode) String() string {
	switch m {
	case AnswerManual:
		return "manual"
	case AnswerAuto:
		return "auto"
	case AnswerReject:
		return "reject"
	case AnswerNever:
		return "never"
	default:
		return fmt.Sprintf("AnswerMode(%d)", int(m))
	}
}

// EndReason tells who ended a call.
type EndReason int

const (
	// EndNone means the call has not ended.
	EndNone EndReason = iota
	// EndLocal means this phone hung up (sent BYE).
	EndLocal
	// EndRemote means the peer hung up (this phone received BYE).
	EndRemote
	// EndError means the dialog failed, or the phone was closed by the test cleanup.
	EndError
)

// String returns a short name of r.
func (r EndReason) String() string {
	switch r {
	case EndNone:
		return "none"
	case EndLocal:
		return "local"
	case EndRemote:
		return "remote"
	case EndError:
		return "error"
	default:
		return fmt.Sprintf("EndReason(%d)", int(r))
	}
}

// StatusError is returned when a request gets a final non-2xx SIP response.
type StatusError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("sip status %d %s", e.Code, e.Reason)
}
