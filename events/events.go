package events

import (
	"encoding/json"
	"errors"
	"time"
)

// APIVersion is the value of the "version" field of every event.
const APIVersion = 1

// TimestampLayout is the layout of event "timestamp" fields: UTC, second
// precision, "Z" suffix, e.g. "2024-06-06T17:20:14Z".
const TimestampLayout = "2006-01-02T15:04:05Z"

// Timestamp formats t as an event timestamp (see [TimestampLayout]). The time
// is converted to UTC and truncated to whole seconds.
func Timestamp(t time.Time) string {
	return t.UTC().Format(TimestampLayout)
}

// Event is implemented by [ICE], [ACE], [PIE], [DiCE] and [Notify] (values
// and pointers).
type Event interface {
	// Kind returns the event kind.
	Kind() Kind
	// CallID returns the call id (JSON "callid").
	CallID() string
}

// Compile-time checks.
var (
	_ Event = ICE{}
	_ Event = ACE{}
	_ Event = PIE{}
	_ Event = DiCE{}
	_ Event = Notify{}
)

// Destination is a call party: {"type": ..., "endpoint": ...}. Type is e.g.
// "number", "did", "username" or "sip"; Endpoint is the number, user name or
// SIP URI. Both fields are always emitted.
type Destination struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// Money is an amount in a currency: {"currencyId": "USD", "amount": 0.0}.
// Both fields are always emitted.
type Money struct {
	CurrencyID string  `json:"currencyId"`
	Amount     float64 `json:"amount"`
}

// KeyValue is a {"key": ..., "value": ...} pair, used for callHeaders,
// cookies and menu addToContext entries. Both fields are always emitted.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AMD is an answering machine detection result (reference §7).
// Status is "machine", "human", "notsure", "hangup" (and, per the SKILL notes
// only, "inprogress" for the async ACE); Reason is "longgreeting",
// "initialsilence", "greeting", "beep" or "n/a"; Duration is in seconds. All
// three fields are always emitted.
type AMD struct {
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Duration int    `json:"duration"`
}

// MenuResult is the outcome of a runMenu action or of conference DTMF
// detection, carried by [PIE] (reference §3.5).
//
// MenuID, Type, Value and InputMethod are always emitted, even when empty
// (a "timeout" result has an empty value). AddToContext is omitted when
// empty; its semantics are UNCONFIRMED in the reference.
type MenuResult struct {
	// MenuID is the id of the menu, or the conferenceId for conference DTMF
	// "detect" mode.
	MenuID string `json:"menuId"`
	// Type is "return", "sequence", "timeout", "hangup", "invalidinput" or
	// "error".
	Type string `json:"type"`
	// Value is the returned value or the collected digits.
	Value string `json:"value"`
	// InputMethod is "dtmf" or "voice".
	InputMethod string `json:"inputMethod"`
	// AddToContext holds the "add" pairs of the chosen menu option.
	AddToContext []KeyValue `json:"addToContext,omitempty"`
}

// ICE is the Incoming Call Event (reference §3.3). The platform expects an
// SVAML reply.
//
// Always emitted: event, callid, timestamp, version, userRate, cli, to,
// domain, applicationKey, originationType and rdnis (every current SDK
// fixture carries rdnis, usually ""). Omitted when empty: conferenceId,
// callResourceUrl, custom, duration (only the LEGACY sample carries it, as
// 0), callHeaders and cookies.
type ICE struct {
	// ID is the call id (JSON "callid").
	ID string `json:"callid"`
	// ConferenceID is set when the call belongs to a conference.
	ConferenceID string `json:"conferenceId,omitempty"`
	// CallResourceURL is the URL of GET /calling/v1/calls/id/{callid} on this
	// platform.
	CallResourceURL string `json:"callResourceUrl,omitempty"`
	// Timestamp is the event time, formatted with [Timestamp].
	Timestamp string `json:"timestamp"`
	// Version is the API version, [APIVersion].
	Version int `json:"version"`
	// Custom is the custom string given when the call was created.
	Custom string `json:"custom,omitempty"`
	// UserRate is the rate for the original destination.
	UserRate Money `json:"userRate"`
	// CLI is the caller number (may lack the leading "+").
	CLI string `json:"cli"`
	// To is the callee.
	To Destination `json:"to"`
	// Domain is the destination domain: "pstn" or "mxp".
	Domain string `json:"domain"`
	// ApplicationKey is the application the call belongs to.
	ApplicationKey string `json:"applicationKey"`
	// OriginationType is the origin domain, observed as "PSTN" or "MXP".
	OriginationType string `json:"originationType"`
	// Duration is the call duration in seconds (0 at ICE time).
	Duration int `json:"duration,omitempty"`
	// RDNIS is the redirected dialled number, usually "".
	RDNIS string `json:"rdnis"`
	// CallHeaders are the headers set by the calling in-app client.
	CallHeaders []KeyValue `json:"callHeaders,omitempty"`
	// Cookies are the values stored by setCookie instructions so far.
	Cookies []KeyValue `json:"cookies,omitempty"`
}

// Kind returns KindICE.
func (ICE) Kind() Kind { return KindICE }

// CallID returns the call id.
func (e ICE) CallID() string { return e.ID }

// MarshalJSON encodes the event with "event":"ice" as its first field.
func (e ICE) MarshalJSON() ([]byte, error) {
	type plain ICE
	return json.Marshal(struct {
		Event string `json:"event"`
		plain
	}{"ice", plain(e)})
}

// ACE is the Answered Call Event (reference §3.4). The platform expects an
// SVAML reply.
//
// Always emitted: event, callid, timestamp, version and applicationKey.
// Omitted when empty: conferenceId, custom, amd and cookies.
type ACE struct {
	// ID is the call id (JSON "callid").
	ID string `json:"callid"`
	// ConferenceID is set when the call belongs to a conference.
	ConferenceID string `json:"conferenceId,omitempty"`
	// Timestamp is the event time, formatted with [Timestamp].
	Timestamp string `json:"timestamp"`
	// Version is the API version, [APIVersion].
	Version int `json:"version"`
	// Custom is the custom string given when the call was created.
	Custom string `json:"custom,omitempty"`
	// ApplicationKey is the application the call belongs to.
	ApplicationKey string `json:"applicationKey"`
	// AMD is the synchronous answering machine detection result.
	AMD *AMD `json:"amd,omitempty"`
	// Cookies are the values stored by setCookie instructions so far.
	Cookies []KeyValue `json:"cookies,omitempty"`
}

// Kind returns KindACE.
func (ACE) Kind() Kind { return KindACE }

// CallID returns the call id.
func (e ACE) CallID() string { return e.ID }

// MarshalJSON encodes the event with "event":"ace" as its first field.
func (e ACE) MarshalJSON() ([]byte, error) {
	type plain ACE
	return json.Marshal(struct {
		Event string `json:"event"`
		plain
	}{"ace", plain(e)})
}

// PIE is the Prompt Input Event (reference §3.5). The platform expects an
// SVAML reply (a plain 200 OK for conference DTMF "detect" mode).
//
// Always emitted: event, callid, timestamp, version, applicationKey and
// menuResult. Omitted when empty: conferenceId, custom and cookies.
type PIE struct {
	// ID is the call id (JSON "callid").
	ID string `json:"callid"`
	// ConferenceID is set when the call belongs to a conference.
	ConferenceID string `json:"conferenceId,omitempty"`
	// Timestamp is the event time, formatted with [Timestamp].
	Timestamp string `json:"timestamp"`
	// Version is the API version, [APIVersion].
	Version int `json:"version"`
	// Custom is the custom string given when the call was created.
	Custom string `json:"custom,omitempty"`
	// ApplicationKey is the application the call belongs to.
	ApplicationKey string `json:"applicationKey"`
	// MenuResult is the menu outcome.
	MenuResult MenuResult `json:"menuResult"`
	// Cookies are the values stored by setCookie instructions so far.
	Cookies []KeyValue `json:"cookies,omitempty"`
}

// Kind returns KindPIE.
func (PIE) Kind() Kind { return KindPIE }

// CallID returns the call id.
func (e PIE) CallID() string { return e.ID }

// MarshalJSON encodes the event with "event":"pie" as its first field.
func (e PIE) MarshalJSON() ([]byte, error) {
	type plain PIE
	return json.Marshal(struct {
		Event string `json:"event"`
		plain
	}{"pie", plain(e)})
}

// DiCE is the Disconnected Call Event (reference §3.6). The platform ignores
// the reply body.
//
// Always emitted: event, callid, timestamp, version, applicationKey, reason,
// result, debit, userRate, to, duration and from. Omitted when empty:
// conferenceId, custom, callHeaders and cookies.
type DiCE struct {
	// ID is the call id (JSON "callid").
	ID string `json:"callid"`
	// ConferenceID is set when the call belongs to a conference.
	ConferenceID string `json:"conferenceId,omitempty"`
	// Timestamp is the event time, formatted with [Timestamp].
	Timestamp string `json:"timestamp"`
	// Version is the API version, [APIVersion].
	Version int `json:"version"`
	// Custom is the custom string given when the call was created.
	Custom string `json:"custom,omitempty"`
	// ApplicationKey is the application the call belongs to.
	ApplicationKey string `json:"applicationKey"`
	// Reason is why the call ended: "N/A", "ESTABLISHED",
	// "OTHERPEERANSWERED", "TIMEOUT", "CALLERHANGUP", "CALLEEHANGUP",
	// "BLOCKED", "MANAGERHANGUP", "NOCREDITPARTNER", "CLIENTNETWORK",
	// "CONGESTION", "GENERALERROR", "CANCEL", "USERNOTFOUND", "CALLBACKERROR"
	// (open set).
	Reason string `json:"reason"`
	// Result is "N/A", "ANSWERED", "BUSY", "NOANSWER" or "FAILED".
	Result string `json:"result"`
	// Debit is the total amount charged.
	Debit Money `json:"debit"`
	// UserRate is the per-minute rate.
	UserRate Money `json:"userRate"`
	// To is the callee.
	To Destination `json:"to"`
	// Duration is the call duration in seconds.
	Duration int `json:"duration"`
	// From is the caller as a plain string (not a Destination), e.g.
	// "12015555555" or "private".
	From string `json:"from"`
	// CallHeaders are the headers set by the calling in-app client.
	CallHeaders []KeyValue `json:"callHeaders,omitempty"`
	// Cookies are the values stored by setCookie instructions so far.
	Cookies []KeyValue `json:"cookies,omitempty"`
}

// Kind returns KindDiCE.
func (DiCE) Kind() Kind { return KindDiCE }

// CallID returns the call id.
func (e DiCE) CallID() string { return e.ID }

// MarshalJSON encodes the event with "event":"dice" as its first field.
func (e DiCE) MarshalJSON() ([]byte, error) {
	type plain DiCE
	return json.Marshal(struct {
		Event string `json:"event"`
		plain
	}{"dice", plain(e)})
}

// Notify is a notification event (reference §3.7): recordings, transcriptions,
// asynchronous AMD results and calling errors. The platform ignores the reply
// body.
//
// Notify carries no timestamp or applicationKey in any SDK model or sample,
// so it has none. Always emitted: event, callid, version and type. Omitted
// when empty: conferenceId, custom, destination, amd and the "callingerror"
// fields errorCode, errorMsg and user.
type Notify struct {
	// ID is the call id (JSON "callid").
	ID string `json:"callid"`
	// ConferenceID is set when the call belongs to a conference.
	ConferenceID string `json:"conferenceId,omitempty"`
	// Version is the API version, [APIVersion].
	Version int `json:"version"`
	// Type is "recording_finished", "recording_available",
	// "transcription_available", "amd", "amd_beep" or "callingerror" (open
	// set).
	Type string `json:"type"`
	// Custom is notification-specific information.
	Custom string `json:"custom,omitempty"`
	// Destination is the URL where a recording or transcription is available.
	Destination string `json:"destination,omitempty"`
	// AMD is the asynchronous answering machine detection result.
	AMD *AMD `json:"amd,omitempty"`
	// ErrorCode is the error code of a "callingerror" notification.
	ErrorCode int `json:"errorCode,omitempty"`
	// ErrorMsg is the error message of a "callingerror" notification.
	ErrorMsg string `json:"errorMsg,omitempty"`
	// User is the user id that initiated the call ("callingerror").
	User string `json:"user,omitempty"`
}

// Kind returns KindNotify.
func (Notify) Kind() Kind { return KindNotify }

// CallID returns the call id.
func (e Notify) CallID() string { return e.ID }

// MarshalJSON encodes the event with "event":"notify" as its first field.
func (e Notify) MarshalJSON() ([]byte, error) {
	type plain Notify
	return json.Marshal(struct {
		Event string `json:"event"`
		plain
	}{"notify", plain(e)})
}

// Raw is an event already encoded as JSON, e.g. taken from a durable queue
// to be delivered again: it marshals to Body unchanged.
type Raw struct {
	K    Kind
	Call string
	Body []byte
}

var _ Event = Raw{}

// Kind returns the event kind.
func (r Raw) Kind() Kind { return r.K }

// CallID returns the call id.
func (r Raw) CallID() string { return r.Call }

// MarshalJSON returns Body, which must be a JSON object.
func (r Raw) MarshalJSON() ([]byte, error) {
	if !json.Valid(r.Body) {
		return nil, errors.New("events: raw event body is not valid JSON")
	}
	return r.Body, nil
}
