package svaml

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Action is the single action of a SVAML document. The concrete types are
// *Hangup, *Continue, *ConnectPSTN, *ConnectMXP, *ConnectConf, *ConnectSIP,
// *ConnectStream, *RunMenu and *Park.
type Action interface {
	// ActionName returns the canonical SVAML name, e.g. "connectPstn".
	ActionName() string
}

// Canonical action names.
const (
	NameHangup        = "hangup"
	NameContinue      = "continue"
	NameConnectPSTN   = "connectPstn"
	NameConnectMXP    = "connectMxp"
	NameConnectConf   = "connectConf"
	NameConnectSIP    = "connectSip"
	NameConnectStream = "connectStream"
	NameRunMenu       = "runMenu"
	NamePark          = "park"
)

// MaxDuration is the largest maxDuration (seconds) Parse accepts (reference §6.2).
const MaxDuration = 14400

// MaxConferenceIDLen is the longest conferenceId (characters) Parse accepts.
const MaxConferenceIDLen = 64

// Hangup ends the call.
type Hangup struct{}

// Continue continues setting up the call (ACE, PIE, PATCH).
type Continue struct{}

// ConnectPSTN connects the call to a phone number.
type ConnectPSTN struct {
	// Number overrides the destination; default is the dialled number.
	Number string `json:"number,omitempty"`
	// Locale is the locale of platform prompts, default "en-US".
	Locale string `json:"locale"`
	// MaxDuration is the longest call in seconds, 0..14400; 0 means not set.
	MaxDuration int `json:"maxDuration,omitempty"`
	// DialTimeout is the ringing timeout in seconds; 0 means platform default.
	DialTimeout int `json:"dialTimeout,omitempty"`
	// CLI overrides the caller id; "private" withholds it.
	CLI string `json:"cli,omitempty"`
	// SuppressCallbacks suppresses ACE and DiCE for the call.
	SuppressCallbacks bool `json:"suppressCallbacks,omitempty"`
	// DTMF is played to the callee on answer (0-9 # * w).
	DTMF string `json:"dtmf,omitempty"`
	// Indications is the ring-back tone country, lower-case ("se", "us", ...).
	Indications string `json:"indications,omitempty"`
	// AMD requests answering-machine detection; nil when absent.
	AMD *AMD `json:"amd,omitempty"`
}

// ConnectMXP connects the call to an in-app (MXP) user.
type ConnectMXP struct {
	// Destination is the user ({"type":"username"}); nil means the dialled destination.
	Destination *Destination `json:"destination,omitempty"`
	// CallHeaders are delivered to the receiving SDK client (Java writes "callheaders").
	CallHeaders []CallHeader `json:"callHeaders,omitempty"`
}

// ConnectConf connects the call to a conference room.
type ConnectConf struct {
	// ConferenceID names the room, 1..64 characters.
	ConferenceID string `json:"conferenceId"`
	// DTMFOptions is conferenceDtmfOptions with defaults applied.
	DTMFOptions ConferenceDTMFOptions `json:"conferenceDtmfOptions"`
	// MOH is what the first participant hears while alone; "" is silence.
	// Parse also reads the callout spelling "mohClass".
	MOH MusicOnHold `json:"moh,omitempty"`
}

// ConnectSIP connects the call to a SIP endpoint.
type ConnectSIP struct {
	// Destination is the SIP address ({"type":"sip"}); required.
	Destination Destination `json:"destination"`
	// MaxDuration is the longest call in seconds, 0..14400; 0 means not set.
	MaxDuration int `json:"maxDuration,omitempty"`
	// CLI overrides the caller id.
	CLI string `json:"cli,omitempty"`
	// Transport is udp (default), tcp or tls.
	Transport Transport `json:"transport"`
	// SuppressCallbacks suppresses ACE and DiCE for the call.
	SuppressCallbacks bool `json:"suppressCallbacks,omitempty"`
	// CallHeaders are sent as private SIP headers.
	CallHeaders []CallHeader `json:"callHeaders,omitempty"`
	// MOH is played when the SIP leg puts the call on hold; "" is silence.
	MOH MusicOnHold `json:"moh,omitempty"`
}

// ConnectStream connects the call to a WebSocket server (closed beta).
type ConnectStream struct {
	// Destination is the WebSocket URL ({"type":"websocket"}); required.
	Destination Destination `json:"destination"`
	// MaxDuration is the longest call in seconds, 0..14400; 0 means not set.
	MaxDuration int `json:"maxDuration,omitempty"`
	// CallHeaders are sent to the server in the initial message.
	CallHeaders []CallHeader `json:"callHeaders,omitempty"`
	// StreamingOptions selects protocol version and sample rate; nil when absent.
	StreamingOptions *StreamingOptions `json:"streamingOptions,omitempty"`
}

// RunMenu plays an IVR menu and reports the input in a PIE.
type RunMenu struct {
	// Barge accepts input while a prompt plays; default true.
	Barge bool `json:"barge"`
	// Locale is the TTS voice; required when EnableVoice is set.
	Locale string `json:"locale,omitempty"`
	// MainMenu is the id of the first menu; Parse sets it to "main" when absent.
	MainMenu string `json:"mainMenu,omitempty"`
	// EnableVoice accepts speech input besides DTMF.
	EnableVoice bool `json:"enableVoice,omitempty"`
	// Menus are the menus, at least one, with unique ids.
	Menus []Menu `json:"menus"`
}

// Menu is one menu of RunMenu.
type Menu struct {
	// ID identifies the menu; unique and non-empty.
	ID string `json:"id"`
	// MainPrompt is played when the menu starts (prompt string, see ParsePrompts).
	MainPrompt string `json:"mainPrompt,omitempty"`
	// RepeatPrompt is played after invalid or no input.
	RepeatPrompt string `json:"repeatPrompt,omitempty"`
	// Repeats is how often RepeatPrompt is played.
	Repeats int `json:"repeats,omitempty"`
	// MaxDigits is the number of digits to collect (reported as PIE sequence).
	MaxDigits int `json:"maxDigits,omitempty"`
	// TimeoutMills is the input silence timeout in ms; default 5000.
	TimeoutMills int `json:"timeoutMills,omitempty"`
	// MaxTimeoutMills limits voice input in ms; 0 means not set.
	MaxTimeoutMills int `json:"maxTimeoutMills,omitempty"`
	// Options map single DTMF keys to actions.
	Options []MenuOption `json:"options,omitempty"`
}

// MenuOption maps one DTMF key to a menu action.
type MenuOption struct {
	// DTMF is a single key: 0-9, * or #. JSON numbers are accepted and stored as strings.
	DTMF string `json:"dtmf"`
	// Action is menu(<id>) or return(<value>).
	Action OptionAction `json:"action"`
}

// OptionKind is the kind of a menu option action.
type OptionKind int

// Option action kinds.
const (
	// OptionUnknown is the zero value; Parse never produces it.
	OptionUnknown OptionKind = iota
	// OptionMenu goes to another menu: menu(<id>).
	OptionMenu
	// OptionReturn ends the menu and reports <value> in a PIE: return(<value>).
	OptionReturn
)

// String returns "menu", "return" or "unknown".
func (k OptionKind) String() string {
	switch k {
	case OptionMenu:
		return "menu"
	case OptionReturn:
		return "return"
	default:
		return "unknown"
	}
}

// OptionAction is the parsed action of a menu option.
type OptionAction struct {
	// Kind is OptionMenu or OptionReturn.
	Kind OptionKind
	// Value is the menu id (OptionMenu) or the returned value (OptionReturn).
	Value string
}

// String returns the SVAML form, e.g. "menu(confirm)" or "return(cancel)".
func (a OptionAction) String() string { return a.Kind.String() + "(" + a.Value + ")" }

// MarshalText returns the SVAML form, see String.
func (a OptionAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// parseOptionAction parses "menu(x)" or "return(x)"; the keyword matches any case.
func parseOptionAction(s string) (OptionAction, bool) {
	open := strings.IndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") {
		return OptionAction{}, false
	}
	var kind OptionKind
	switch {
	case strings.EqualFold(s[:open], "menu"):
		kind = OptionMenu
	case strings.EqualFold(s[:open], "return"):
		kind = OptionReturn
	default:
		return OptionAction{}, false
	}
	return OptionAction{Kind: kind, Value: s[open+1 : len(s)-1]}, true
}

// Park puts the caller on hold until the call is updated or MaxDuration ends.
type Park struct {
	// Locale is the TTS voice of the prompts.
	Locale string `json:"locale,omitempty"`
	// IntroPrompt is played once (prompt string).
	IntroPrompt string `json:"introPrompt,omitempty"`
	// HoldPrompt is looped (prompt string).
	HoldPrompt string `json:"holdPrompt,omitempty"`
	// MaxDuration is how long the hold prompt plays in seconds, 0..14400; 0 means not set.
	MaxDuration int `json:"maxDuration,omitempty"`
}

// ActionName returns "hangup".
func (*Hangup) ActionName() string { return NameHangup }

// ActionName returns "continue".
func (*Continue) ActionName() string { return NameContinue }

// ActionName returns "connectPstn".
func (*ConnectPSTN) ActionName() string { return NameConnectPSTN }

// ActionName returns "connectMxp".
func (*ConnectMXP) ActionName() string { return NameConnectMXP }

// ActionName returns "connectConf".
func (*ConnectConf) ActionName() string { return NameConnectConf }

// ActionName returns "connectSip".
func (*ConnectSIP) ActionName() string { return NameConnectSIP }

// ActionName returns "connectStream".
func (*ConnectStream) ActionName() string { return NameConnectStream }

// ActionName returns "runMenu".
func (*RunMenu) ActionName() string { return NameRunMenu }

// ActionName returns "park".
func (*Park) ActionName() string { return NamePark }

// MarshalJSON returns {"name":"hangup"}.
func (Hangup) MarshalJSON() ([]byte, error) { return nameOnly(NameHangup), nil }

// MarshalJSON returns {"name":"continue"}.
func (Continue) MarshalJSON() ([]byte, error) { return nameOnly(NameContinue), nil }

// MarshalJSON returns the canonical SVAML object.
func (a ConnectPSTN) MarshalJSON() ([]byte, error) {
	type fields ConnectPSTN
	return marshalNamed(NameConnectPSTN, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a ConnectMXP) MarshalJSON() ([]byte, error) {
	type fields ConnectMXP
	return marshalNamed(NameConnectMXP, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a ConnectConf) MarshalJSON() ([]byte, error) {
	type fields ConnectConf
	return marshalNamed(NameConnectConf, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a ConnectSIP) MarshalJSON() ([]byte, error) {
	type fields ConnectSIP
	return marshalNamed(NameConnectSIP, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a ConnectStream) MarshalJSON() ([]byte, error) {
	type fields ConnectStream
	return marshalNamed(NameConnectStream, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a RunMenu) MarshalJSON() ([]byte, error) {
	type fields RunMenu
	return marshalNamed(NameRunMenu, (*fields)(&a))
}

// MarshalJSON returns the canonical SVAML object.
func (a Park) MarshalJSON() ([]byte, error) {
	type fields Park
	return marshalNamed(NamePark, (*fields)(&a))
}

// nameOnly returns {"name":"<name>"}.
func nameOnly(name string) []byte {
	return []byte(`{"name":` + strconv.Quote(name) + `}`)
}

// marshalNamed marshals fields (a pointer to a struct type without methods)
// as a JSON object with a leading "name" member.
func marshalNamed(name string, fields any) ([]byte, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(name)+10)
	out = append(out, `{"name":`...)
	out = strconv.AppendQuote(out, name)
	if len(b) > 2 { // not "{}"
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}
