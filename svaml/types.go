package svaml

// Destination is where a connect action routes the call (reference §2.2).
// Type is stored lower-case ("sip", "username", "websocket").
type Destination struct {
	// Type is the destination type, lower-case.
	Type string `json:"type"`
	// Endpoint is the SIP address, user name or WebSocket URL.
	Endpoint string `json:"endpoint"`
}

// CallHeader is one key/value header of connectMxp, connectSip and
// connectStream (callHeaders).
type CallHeader struct {
	// Key is the header name.
	Key string `json:"key"`
	// Value is the header value.
	Value string `json:"value"`
}

// AMD asks connectPstn for answering-machine detection (reference §7).
type AMD struct {
	// Enabled turns detection on.
	Enabled bool `json:"enabled"`
	// Async reports the result in a Notify event instead of the ACE.
	Async bool `json:"async"`
}

// Transport is the SIP transport of connectSip, stored lower-case.
type Transport string

// SIP transports. Parse accepts any letter case.
const (
	TransportUDP Transport = "udp"
	TransportTCP Transport = "tcp"
	TransportTLS Transport = "tls"
)

// MusicOnHold is a music-on-hold class (moh of connectConf and connectSip),
// stored lower-case. The empty value means silence.
type MusicOnHold string

// Music-on-hold classes. Parse accepts any letter case.
const (
	MOHRing   MusicOnHold = "ring"
	MOHMusic1 MusicOnHold = "music1"
	MOHMusic2 MusicOnHold = "music2"
	MOHMusic3 MusicOnHold = "music3"
)

// DTMFMode says what a conference does with DTMF from a participant.
type DTMFMode string

// Conference DTMF modes. Parse accepts any letter case.
const (
	DTMFIgnore  DTMFMode = "ignore"
	DTMFForward DTMFMode = "forward"
	DTMFDetect  DTMFMode = "detect"
)

// ConferenceDTMFOptions is conferenceDtmfOptions of connectConf (reference §2.2).
// Parse applies the defaults: Mode "ignore", MaxDigits 1, TimeoutMills 3000
// (for absent or zero values).
type ConferenceDTMFOptions struct {
	// Mode is ignore, forward or detect.
	Mode DTMFMode `json:"mode"`
	// MaxDigits is the number of digits collected before a PIE is sent (detect).
	MaxDigits int `json:"maxDigits"`
	// TimeoutMills is the inter-digit timeout in milliseconds (detect).
	TimeoutMills int `json:"timeoutMills"`
}

// StreamingOptions is streamingOptions of connectStream.
type StreamingOptions struct {
	// Version is the streaming protocol version.
	Version int `json:"version"`
	// SampleRate is the audio sample rate in Hz.
	SampleRate int `json:"sampleRate"`
}

// RecordingOptions is the options object of startRecording. Parse applies the
// defaults Format "mp3" and NotificationEvents true.
type RecordingOptions struct {
	// DestinationURL is where the file is stored (s3://, azure://, gs://, ...); required.
	DestinationURL string `json:"destinationUrl"`
	// Credentials authenticates towards the destination, e.g. "KEY:SECRET:REGION".
	Credentials string `json:"credentials,omitempty"`
	// Format is the file format, default "mp3".
	Format string `json:"format"`
	// Channels is a callcore extension: "mono" (both parties mixed) or
	// "split" (a stereo file, the first party left, what it hears right).
	// Empty leaves the choice to the node's configuration (default mono).
	Channels string `json:"channels,omitempty"`
	// NotificationEvents sends Notify events about the recording, default true.
	NotificationEvents bool `json:"notificationEvents"`
	// Transcription asks for a transcription; nil when absent.
	Transcription *TranscriptionOptions `json:"transcriptionOptions,omitempty"`
}

// TranscriptionOptions is transcriptionOptions of startRecording.
type TranscriptionOptions struct {
	// Enabled turns transcription on.
	Enabled bool `json:"enabled"`
	// Locale is the transcription language, e.g. "en-US".
	Locale string `json:"locale,omitempty"`
}

// indications are the ring-back tone countries of connectPstn (reference §5.3;
// "false" comes from the Java SDK).
var indications = [...]string{
	"at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es",
	"fi", "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no",
	"nz", "ph", "pl", "pt", "ru", "se", "sg", "th", "uk", "us", "tw", "ve", "za",
	"false",
}
