package signaling

import "github.com/callcore/callcore/events"

// Local conditions that end an outbound attempt without a SIP final
// response. They are negative so that they can share Classify's table with
// SIP status codes; DialError.Code carries them.
const (
	// CodeRingTimeout: DialRequest.DialTimeout elapsed before an answer; the
	// INVITE was CANCELed.
	CodeRingTimeout = -1
	// CodeNoResponse: the INVITE got no response at all (RFC 3261 Timer B,
	// 64*T1): the destination is unreachable or silent.
	CodeNoResponse = -2
	// CodeTransportError: the request could not be sent or the connection
	// broke (DNS failure, TCP/TLS connect or handshake failure).
	CodeTransportError = -3
	// CodeUserNotFound: a username destination has no registered contact.
	CodeUserNotFound = -4
	// CodeAckTimeout: our 2xx was never ACKed (RFC 3261 §13.3.1.4).
	CodeAckTimeout = -5
	// CodeLocalCancel: the call core abandoned the attempt (Cancel/Hangup
	// before answer).
	CodeLocalCancel = -6
)

type outcome struct{ result, reason string }

// classTable maps SIP final responses and local conditions to the call
// result and the DiCE reason (reference §3.6). It is the only place where
// that mapping is decided; every row says why.
//
// Codes without a row take the default of their class (classDefault).
var classTable = map[int]outcome{
	// 402 Payment Required: the carrier refuses for lack of credit, which
	// is exactly what NOCREDITPARTNER reports.
	402: {events.ResultFailed, events.ReasonNoCreditPartner},
	// 403 Forbidden: the destination or the trunk refuses us (barred number,
	// CLI not allowed, ACL): BLOCKED.
	403: {events.ResultFailed, events.ReasonBlocked},
	// 404 Not Found, 410 Gone, 484 Address Incomplete, 604 Does Not Exist
	// Anywhere: the dialled number or user does not exist as dialled, which
	// Sinch reports as USERNOTFOUND.
	404: {events.ResultFailed, events.ReasonUserNotFound},
	410: {events.ResultFailed, events.ReasonUserNotFound},
	484: {events.ResultFailed, events.ReasonUserNotFound},
	604: {events.ResultFailed, events.ReasonUserNotFound},
	// 408 Request Timeout: the far end gave up waiting (typically the
	// carrier's own ring timer): NOANSWER with reason TIMEOUT.
	408: {events.ResultNoAnswer, events.ReasonTimeout},
	// 480 Temporarily Unavailable: the callee did not pick up or is not
	// reachable right now: NOANSWER/NOANSWER.
	480: {events.ResultNoAnswer, events.ReasonNoAnswer},
	// 486 Busy Here and 600 Busy Everywhere: BUSY/BUSY. Reference §3.6 lists
	// BUSY among the reasons (SKILL) and events.ReasonBusy exists, so the
	// result and reason agree instead of reporting a CALLEEHANGUP that
	// never happened.
	486: {events.ResultBusy, events.ReasonBusy},
	600: {events.ResultBusy, events.ReasonBusy},
	// 603 Decline: the callee actively rejected the call; to the caller this
	// is indistinguishable from busy, so BUSY/BUSY as well.
	603: {events.ResultBusy, events.ReasonBusy},
	// 487 Request Terminated: the INVITE was CANCELed before an answer:
	// NOANSWER with reason CANCEL.
	487: {events.ResultNoAnswer, events.ReasonCancel},
	// 503 Service Unavailable: the trunk or the far end is overloaded or
	// out of capacity: CONGESTION.
	503: {events.ResultFailed, events.ReasonCongestion},

	// Local conditions.
	// Ring timeout: NOANSWER with reason TIMEOUT (issue 3: "ringing timeout
	// → CANCEL → NOANSWER/TIMEOUT").
	CodeRingTimeout: {events.ResultNoAnswer, events.ReasonTimeout},
	// No response at all and transport errors: nothing on the far side
	// could be reached, a network failure: FAILED/CLIENTNETWORK.
	CodeNoResponse:     {events.ResultFailed, events.ReasonClientNetwork},
	CodeTransportError: {events.ResultFailed, events.ReasonClientNetwork},
	// A username without a registered contact: FAILED/USERNOTFOUND.
	CodeUserNotFound: {events.ResultFailed, events.ReasonUserNotFound},
	// Our 2xx was never ACKed: the peer or the path to it is broken, media
	// never started: FAILED/CLIENTNETWORK.
	CodeAckTimeout: {events.ResultFailed, events.ReasonClientNetwork},
	// Abandoned by the call core before answer: like a 487, NOANSWER/CANCEL.
	CodeLocalCancel: {events.ResultNoAnswer, events.ReasonCancel},
}

// classDefault is the outcome of a code that has no row in classTable,
// by class (index code/100).
var classDefault = [7]outcome{
	// 0xx: not a status code (0 = nothing happened yet): N/A.
	{events.ResultNA, events.ReasonNA},
	// 1xx: provisional, not an outcome: N/A.
	{events.ResultNA, events.ReasonNA},
	// 2xx: answered; the reason is set when the call ends (hangup side).
	{events.ResultAnswered, events.ReasonNA},
	// 3xx: redirects are not followed: FAILED/GENERALERROR.
	{events.ResultFailed, events.ReasonGeneralError},
	// Other 4xx (400, 401/407 after our one auth retry, 405, 415, 420, 488
	// ...): a request or configuration problem: FAILED/GENERALERROR.
	{events.ResultFailed, events.ReasonGeneralError},
	// Other 5xx (500, 501, 502, 504 ...): FAILED/GENERALERROR; only 503
	// means capacity (row above).
	{events.ResultFailed, events.ReasonGeneralError},
	// Other 6xx (606 Not Acceptable ...): FAILED/GENERALERROR.
	{events.ResultFailed, events.ReasonGeneralError},
}

// Classify maps a SIP final response code (100-699) or a local condition
// (Code* constants) to the call result and DiCE reason, as the
// events.Result* and events.Reason* constants. Unknown codes outside
// 0-699 are FAILED/GENERALERROR.
func Classify(code int) (result, reason string) {
	if o, ok := classTable[code]; ok {
		return o.result, o.reason
	}
	if code >= 0 && code < 700 {
		o := classDefault[code/100]
		return o.result, o.reason
	}
	return events.ResultFailed, events.ReasonGeneralError
}
