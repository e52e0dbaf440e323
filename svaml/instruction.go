package svaml

// Instruction is one entry of the instructions array of a SVAML document. The
// concrete types are *PlayFiles, *Say, *SendDTMF, *SetCookie, *Answer,
// *StartRecording and *StopRecording.
type Instruction interface {
	// InstructionName returns the canonical SVAML name, e.g. "setCookie".
	InstructionName() string
}

// Canonical instruction names.
const (
	NamePlayFiles      = "playFiles"
	NameSay            = "say"
	NameSendDTMF       = "sendDtmf"
	NameSetCookie      = "setCookie"
	NameAnswer         = "answer"
	NameStartRecording = "startRecording"
	NameStopRecording  = "stopRecording"
)

// PlayFiles plays prompts (file URLs, #tts[...], #ssml[...], #href[...], file ids).
type PlayFiles struct {
	// IDs are prompt strings (see ParsePrompts), at least one.
	IDs []string `json:"ids"`
	// Locale is the TTS voice for #tts/#ssml prompts.
	Locale string `json:"locale,omitempty"`
}

// Say speaks a text.
type Say struct {
	// Text is the text, 1..Limits.MaxTTSChars characters.
	Text string `json:"text"`
	// Locale is the TTS voice.
	Locale string `json:"locale,omitempty"`
}

// SendDTMF sends DTMF tones on the call.
type SendDTMF struct {
	// Value holds the tones: 0-9 # * and w (500 ms pause).
	Value string `json:"value"`
}

// SetCookie stores a key/value pair for the rest of the call.
type SetCookie struct {
	// Key is the cookie name, non-empty.
	Key string `json:"key"`
	// Value is the cookie value (may be empty).
	Value string `json:"value"`
}

// Answer answers the call (SIP 200 OK) before instructions that play audio.
type Answer struct{}

// StartRecording starts recording the call.
type StartRecording struct {
	// Options says where and how to record; nil when absent (platform defaults).
	Options *RecordingOptions `json:"options,omitempty"`
}

// StopRecording stops a recording started with StartRecording.
type StopRecording struct{}

// InstructionName returns "playFiles".
func (*PlayFiles) InstructionName() string { return NamePlayFiles }

// InstructionName returns "say".
func (*Say) InstructionName() string { return NameSay }

// InstructionName returns "sendDtmf".
func (*SendDTMF) InstructionName() string { return NameSendDTMF }

// InstructionName returns "setCookie".
func (*SetCookie) InstructionName() string { return NameSetCookie }

// InstructionName returns "answer".
func (*Answer) InstructionName() string { return NameAnswer }

// InstructionName returns "startRecording".
func (*StartRecording) InstructionName() string { return NameStartRecording }

// InstructionName returns "stopRecording".
func (*StopRecording) InstructionName() string { return NameStopRecording }

// MarshalJSON returns the canonical SVAML object.
func (i PlayFiles) MarshalJSON() ([]byte, error) {
	type fields PlayFiles
	return marshalNamed(NamePlayFiles, (*fields)(&i))
}

// MarshalJSON returns the canonical SVAML object.
func (i Say) MarshalJSON() ([]byte, error) {
	type fields Say
	return marshalNamed(NameSay, (*fields)(&i))
}

// MarshalJSON returns the canonical SVAML object.
func (i SendDTMF) MarshalJSON() ([]byte, error) {
	type fields SendDTMF
	return marshalNamed(NameSendDTMF, (*fields)(&i))
}

// MarshalJSON returns the canonical SVAML object.
func (i SetCookie) MarshalJSON() ([]byte, error) {
	type fields SetCookie
	return marshalNamed(NameSetCookie, (*fields)(&i))
}

// MarshalJSON returns {"name":"answer"}.
func (Answer) MarshalJSON() ([]byte, error) { return nameOnly(NameAnswer), nil }

// MarshalJSON returns the canonical SVAML object.
func (i StartRecording) MarshalJSON() ([]byte, error) {
	type fields StartRecording
	return marshalNamed(NameStartRecording, (*fields)(&i))
}

// MarshalJSON returns {"name":"stopRecording"}.
func (StopRecording) MarshalJSON() ([]byte, error) { return nameOnly(NameStopRecording), nil }
