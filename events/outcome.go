package events

// Call results, as DiCE "result" and call information "result" carry them
// (reference §2.3 and §3.6).
const (
	ResultNA       = "N/A"
	ResultAnswered = "ANSWERED"
	ResultBusy     = "BUSY"
	ResultNoAnswer = "NOANSWER"
	ResultFailed   = "FAILED"
)

// Why a call ended, as DiCE "reason" and call information "reason" carry
// it (reference §2.3 and §3.6). The set is open on the wire; these are the
// values callcore emits.
const (
	ReasonNA                 = "N/A"
	ReasonTimeout            = "TIMEOUT"
	ReasonCallerHangup       = "CALLERHANGUP"
	ReasonCalleeHangup       = "CALLEEHANGUP"
	ReasonBlocked            = "BLOCKED"
	ReasonManagerHangup      = "MANAGERHANGUP"
	ReasonNoCreditPartner    = "NOCREDITPARTNER"
	ReasonClientNetwork      = "CLIENTNETWORK"
	ReasonCongestion         = "CONGESTION"
	ReasonGeneralError       = "GENERALERROR"
	ReasonCancel             = "CANCEL"
	ReasonUserNotFound       = "USERNOTFOUND"
	ReasonCallbackError      = "CALLBACKERROR"
	ReasonInvalidSVAMLAction = "INVALIDSVAMLACTION"
	ReasonBusy               = "BUSY"
	ReasonNoAnswer           = "NOANSWER"
)

// Call statuses of GET /calling/v1/calls/id/{callId}.
const (
	StatusOngoing = "ONGOING"
	StatusFinal   = "FINAL"
)
