package call

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// The seams of the call core. They are defined here, where they are
// consumed, and kept small; internal/app adapts signaling, media, the
// callback client and the store to them. All methods may be called from the
// call's actor goroutine and from the tasks it spawns, never concurrently
// for the same leg or media session unless stated.

// Leg is one SIP dialog of a call.
type Leg interface {
	// Hangup ends the dialog: BYE once answered; before that CANCEL for an
	// outbound leg or a final response for an inbound one. Idempotent.
	Hangup(ctx context.Context) error
	// Done is closed when the dialog has ended, for whatever reason.
	Done() <-chan struct{}
	// RemoteEnded reports, once Done is closed, whether the far end ended
	// the dialog (BYE, CANCEL) rather than this node.
	RemoteEnded() bool
	// Events delivers in-dialog requests the call must act on: DTMF from
	// SIP INFO and re-INVITE/UPDATE offers. It is never closed.
	Events() <-chan LegEvent
}

// InboundLeg is the dialog of a call that reached the node.
type InboundLeg interface {
	Leg
	// Ring sends 180 Ringing, or 183 Session Progress with early media
	// when early is not nil.
	Ring(ctx context.Context, early []byte) error
	// Answer sends 200 OK with the SDP and waits for the ACK. It returns
	// the ACK's SDP: the answer to our offer when the INVITE had none.
	Answer(ctx context.Context, sdp []byte) ([]byte, error)
	// Reject sends a final failure response to the INVITE.
	Reject(ctx context.Context, code int, reason string) error
}

// OutboundLeg is a dialog the node placed.
type OutboundLeg interface {
	Leg
	// WaitAnswer blocks until the callee answers (returning its SDP), or
	// the attempt fails with a *DialError, or ctx ends.
	WaitAnswer(ctx context.Context) ([]byte, error)
}

// LegEvent is an in-dialog event. Exactly one of Digit and Offer is set.
type LegEvent struct {
	// Digit is a DTMF digit received with SIP INFO.
	Digit rune
	// Offer is the SDP of a re-INVITE or UPDATE; the call answers it with
	// Respond (once).
	Offer   []byte
	Respond func(answer []byte, err error)
}

// DialError is why an outbound leg did not answer, already mapped to the
// Sinch result and reason (signaling owns the one mapping table).
type DialError struct {
	Code   int    // SIP status, 0 for local conditions (timeout, transport)
	Result string // events.Result*
	Reason string // events.Reason*
	Err    error  // optional underlying cause
}

func (e *DialError) Error() string {
	s := fmt.Sprintf("dial failed: %d %s/%s", e.Code, e.Result, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DialError) Unwrap() error { return e.Err }

// DestinationKind is the kind of an outbound destination.
type DestinationKind string

// Destination kinds, as their Sinch destination types.
const (
	DestNumber   DestinationKind = "number"
	DestSIP      DestinationKind = "sip"
	DestUsername DestinationKind = "username"
)

// DialRequest describes an outbound leg.
type DialRequest struct {
	CallID      string // the callcore call id, for logs
	Kind        DestinationKind
	Endpoint    string // E.164 number, SIP address user@host[:port], or username
	CLI         string // caller id shown to the callee; "private" withholds it
	Headers     []events.KeyValue
	Transport   string // udp, tcp or tls (SIP destinations)
	Offer       []byte
	DialTimeout time.Duration // ringing timeout; 0 means the dialer's default
}

// Dialer places outbound legs.
type Dialer interface {
	Dial(ctx context.Context, req DialRequest) (OutboundLeg, error)
}

// Audio is a playable, resolved prompt. It is opaque to the call core: the
// media adapter produces it and consumes it.
type Audio any

// Media allocates RTP sessions and resolves prompts.
type Media interface {
	// Answer opens a session for a remote offer and returns the local
	// answer. callID labels the session's logs.
	Answer(ctx context.Context, callID string, offer []byte) (MediaSession, []byte, error)
	// Offer opens a session and returns the local offer for an outbound leg.
	Offer(ctx context.Context, callID string) (MediaSession, []byte, error)
	// Prompt resolves one prompt (TTS, SSML, URL or file id) to audio.
	Prompt(ctx context.Context, p svaml.Prompt, locale string) (Audio, error)
	// Ringback returns the ring-back tone of a country code of
	// connectPstn.indications ("" means the default).
	Ringback(country string) Audio
	// MOH returns the hold music of a class (ring, music1, music2,
	// music3), or nil for an unknown class. Callers loop it.
	MOH(class string) Audio
	// AMD returns a fresh answering-machine detector.
	AMD() AMDDetector
}

// AMDDetector classifies the first seconds of what a callee says (reference
// §7 AMD). It is fed 20 ms frames of 8 kHz audio from a media tap.
type AMDDetector interface {
	// Process analyses one frame; decided is true exactly once, with the
	// result.
	Process(frame []int16) (r events.AMD, decided bool)
	// Beep reports, once, a voicemail beep in the frame.
	Beep(frame []int16) (r events.AMD, ok bool)
	// Hangup is the result when the call ended before a decision.
	Hangup() events.AMD
}

// MediaSession is the RTP session of one leg.
type MediaSession interface {
	// SetRemote applies the answer to our offer (the leg answered).
	SetRemote(answer []byte) error
	// Reoffer answers a re-INVITE/UPDATE offer (hold, unhold, new address).
	Reoffer(offer []byte) ([]byte, error)
	// Play blocks until the audio has been sent or ctx ends.
	Play(ctx context.Context, a Audio) error
	// SendDTMF sends digits (0-9 * # A-D, w = 500 ms pause) as RFC 4733.
	SendDTMF(ctx context.Context, digits string) error
	// Digits delivers the DTMF digits received (RFC 4733, and those given
	// to InjectDigit), each once. It is never closed.
	Digits() <-chan rune
	// InjectDigit adds a digit received another way (SIP INFO).
	InjectDigit(d rune) error
	// Timeout is closed when no RTP arrived for the inactivity window.
	Timeout() <-chan struct{}
	// Bridge relays media between this session and other until stop.
	Bridge(other MediaSession) (stop func(), err error)
	// Tap calls fn every 20 ms with 160 samples (8 kHz) of what the leg's
	// party sent (rx) and of what it was sent (tx), silence where there was
	// none. fn runs on a media goroutine and must not block or keep the
	// slices. remove is idempotent.
	Tap(fn func(rx, tx []int16)) (remove func())
	// OnHold reports whether the party has put the call on hold (its last
	// offer was sendonly or inactive).
	OnHold() bool
	// Close releases the session. Idempotent.
	Close() error
}

// Recordings starts call recordings (startRecording).
type Recordings interface {
	// Start validates the options (destination, credentials, format) and
	// opens a recording; it fails at once on a bad destination.
	Start(ctx context.Context, r RecordingRequest) (Recording, error)
}

// RecordingRequest describes one recording of a call.
type RecordingRequest struct {
	CallID, AppKey string
	Seq            int // 1 for the call's first recording
	Options        svaml.RecordingOptions
}

// Recording is an open recording. Write is fed from a media tap; Stop
// closes the file, Store puts it at its destination.
type Recording interface {
	// Write adds 20 ms of the first party (near) and of what it hears
	// (far). It never blocks.
	Write(near, far []int16)
	// Stop finishes the file. Idempotent.
	Stop(ctx context.Context) error
	// Store uploads or moves the file to its destination and returns where
	// it is (a URL of the node's download route, or s3://bucket/key).
	Store(ctx context.Context) (location string, err error)
	// Transcribe transcribes the stored recording and returns where the
	// transcript is; ErrTranscriptionUnavailable without a recognizer.
	Transcribe(ctx context.Context, locale string) (location string, err error)
}

// ErrInvalidSVAML wraps an adapter error caused by the SVAML itself (an
// unknown locale, malformed SSML, audio in an unsupported format, a
// recording destination that is not supported or credentials that do not
// parse): the call ends with INVALIDSVAMLACTION rather than GENERALERROR.
var ErrInvalidSVAML = errors.New("invalid SVAML")

// ErrTranscriptionUnavailable: the node has no speech recognizer.
var ErrTranscriptionUnavailable = errors.New("transcription is not available: no speech recognizer is configured on this node")

// Streams opens connectStream WebSocket connections.
type Streams interface {
	Dial(ctx context.Context, r StreamRequest) (Stream, error)
}

// StreamRequest describes a connectStream.
type StreamRequest struct {
	CallID, AppKey, CLI, To, Custom string
	URL                             string
	Headers                         []events.KeyValue
	SampleRate, Version             int
}

// Stream is an open audio stream to a WebSocket server.
type Stream interface {
	// WriteFrame sends 20 ms of the caller's audio (8 kHz). Never blocks.
	WriteFrame(pcm []int16)
	// Audio is what the server sends back, playable on the caller's
	// session until the stream ends.
	Audio() Audio
	// SendDigit tells the server about a DTMF digit from the caller.
	SendDigit(d rune) error
	// HangupRequested is closed when the server asks to end the call.
	HangupRequested() <-chan struct{}
	// Done is closed when the connection has ended.
	Done() <-chan struct{}
	// Close stops the stream cleanly. Idempotent.
	Close(ctx context.Context) error
}

// CallbackTarget is where the events of a call go.
type CallbackTarget struct {
	AppKey      string
	URL         string
	FallbackURL string
}

// Callbacks delivers signed events. accept validates a reply (nil: any 2xx
// is fine); a reply it rejects counts as a failure of that URL, and the
// fallback URL is tried. It returns the accepted reply body. id is the
// event's stable id (header x-callcore-event-id).
type Callbacks interface {
	Deliver(ctx context.Context, t CallbackTarget, id string, ev events.Event, accept func([]byte) error) ([]byte, error)
}

// EventQueue takes the events that expect no SVAML (DiCE, Notify) and
// delivers them durably: retried while the backend is down, by any node of
// the region if this one dies, each with its stable id so that a backend
// can drop a duplicate.
type EventQueue interface {
	// Enqueue returns once the event is queued (durably, or in memory
	// while the store is unreachable), not when it is delivered.
	Enqueue(ctx context.Context, t CallbackTarget, id string, ev events.Event) error
}

// Peers reaches the other nodes of the region: a REST command for a call
// that runs on another node is forwarded to it.
type Peers interface {
	// Update runs Manager.Update for the call on node. Errors the remote
	// manager returned come back as the same sentinel errors
	// (ErrCallNotFound, ErrCallEnded, ErrInvalidCommand); a node that does
	// not answer is ErrOwnerUnreachable.
	Update(ctx context.Context, node, id, leg string, doc []byte) error
}

// Conferences puts calls into the region's conference rooms
// (internal/conference). Rooms are scoped per application: two apps using
// the same conferenceId have two rooms.
type Conferences interface {
	// Join adds the call's media to the room, creating the room on first
	// join, and returns once the participant hears the room.
	Join(ctx context.Context, r JoinRequest) (Participant, error)
}

// JoinRequest describes one participant joining a room.
type JoinRequest struct {
	AppKey, ConferenceID, CallID string
	CLI                          string // shown in the participant list
	Media                        MediaSession
	// MOH is the hold music class played to the participant while it is
	// alone in the room; "" is silence.
	MOH string
	// DTMF is the room's conferenceDtmfOptions for this participant.
	DTMF svaml.ConferenceDTMFOptions
}

// Participant is a call's membership of a room.
type Participant interface {
	// Detach takes the participant out of the mix both ways (it hears
	// nothing from the room and the room does not hear it), or back in;
	// conferenceDtmfOptions detect mode collects digits meanwhile.
	Detach(ctx context.Context, detached bool) error
	// Forward sends a digit the participant pressed to the others of the
	// room as RFC 4733 (conferenceDtmfOptions forward mode).
	Forward(ctx context.Context, d rune) error
	// Lost is closed when the participant dropped out of the room for a
	// reason of the room's: its host node was lost and no node could host
	// it again. The call then ends.
	Lost() <-chan struct{}
	// Leave takes the participant out of the room (the call ended); the
	// room closes with its last participant. Idempotent.
	Leave(ctx context.Context) error
}

// Errors of conference commands; the API maps them to HTTP statuses.
var (
	// ErrConferenceNotFound: no such room of the application (404).
	ErrConferenceNotFound = errors.New("conference not found")
	// ErrParticipantNotFound: the call is not in the room (404).
	ErrParticipantNotFound = errors.New("participant not found in the conference")
)

// Apps routes inbound calls to applications.
type Apps interface {
	// RouteInbound returns the application that owns the dialled
	// destination, or ErrNoRoute.
	RouteInbound(ctx context.Context, to events.Destination) (CallbackTarget, error)
	// Target returns the callback URLs of an application.
	Target(ctx context.Context, appKey string) (CallbackTarget, error)
}

// Store persists call snapshots so that every node can read them.
type Store interface {
	// Create stores a new call; the owner is this node.
	Create(ctx context.Context, s *Snapshot) error
	// Save overwrites the call's snapshot (only the owning actor writes).
	// It fails with ErrFenced if another node took the call over (its
	// owner was declared dead while it was cut off from the store).
	Save(ctx context.Context, s *Snapshot) error
	// Load returns a call's snapshot or ErrCallNotFound.
	Load(ctx context.Context, id string) (*Snapshot, error)
	// Orphans lists the calls a node was running (its live calls).
	Orphans(ctx context.Context, node string) ([]string, error)
	// Finalize ends the record of a call whose node is gone: fn gets the
	// stored snapshot and reports whether it ended it (false: it had
	// ended already, nothing is written). Safe against concurrent writers.
	// The record is no longer listed by Orphans afterwards.
	Finalize(ctx context.Context, id string, fn func(*Snapshot) bool) (*Snapshot, bool, error)
	// Unindex drops ids from node's Orphans list.
	Unindex(ctx context.Context, node string, ids ...string) error
}

// Errors the manager returns; the API maps them to HTTP statuses.
var (
	// ErrCallNotFound: no such call (404).
	ErrCallNotFound = errors.New("call not found")
	// ErrCallEnded: the call exists but has ended (409 for commands).
	ErrCallEnded = errors.New("call has ended")
	// ErrOwnerUnreachable: the call runs on another node, which did not
	// answer the forwarded command (504).
	ErrOwnerUnreachable = errors.New("the node running the call did not answer")
	// ErrFenced: another node took the call over (see Store.Save).
	ErrFenced = errors.New("call was taken over by another node")
	// ErrUnavailable: the shared store is unreachable; new calls are
	// refused until it is back (503).
	ErrUnavailable = errors.New("the region's store is unreachable")
	// ErrNoRoute: no application owns the dialled destination.
	ErrNoRoute = errors.New("no application for the dialled destination")
	// ErrDraining: the node takes no new calls.
	ErrDraining = errors.New("node is draining")
	// ErrInvalidCommand: the command does not apply to the call now.
	ErrInvalidCommand = errors.New("invalid command for the call")
)

// WrongRegionError: the call id names another region of the deployment.
// The API answers 421 naming the base URL of that region.
type WrongRegionError struct {
	Region  string // the call's region
	BaseURL string // its API base URL ("" if not configured)
}

func (e *WrongRegionError) Error() string {
	if e.BaseURL == "" {
		return fmt.Sprintf("the call belongs to region %s, not this one; send requests about it to that region's API", e.Region)
	}
	return fmt.Sprintf("the call belongs to region %s, not this one; send requests about it to %s", e.Region, e.BaseURL)
}
