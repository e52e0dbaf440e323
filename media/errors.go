package media

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is; the returned errors
// wrap them with the detail that explains the failure.
var (
	// ErrNoPorts means every RTP port of the configured range is in use or in
	// quarantine.
	ErrNoPorts = errors.New("media: no free RTP port in the configured range")
	// ErrBadSDP means a session description could not be parsed. SIP answers
	// 400 (or 488 for a re-INVITE).
	ErrBadSDP = errors.New("media: malformed SDP")
	// ErrNoCommonCodec means the remote description has no usable audio stream
	// with PCMU or PCMA over RTP/AVP. SIP answers 488 Not Acceptable Here.
	ErrNoCommonCodec = errors.New("media: no common audio codec (PCMU or PCMA over RTP/AVP)")
	// ErrNoRemote means the operation needs the remote description, which an
	// offering session only has after SetRemote.
	ErrNoRemote = errors.New("media: remote description not set")
	// ErrWrongState means the call does not fit the session's offer/answer
	// state, e.g. SetRemote on a session created by Engine.Answer.
	ErrWrongState = errors.New("media: operation not valid in this offer/answer state")
	// ErrClosed means the session was closed.
	ErrClosed = errors.New("media: session closed")
	// ErrPreempted is returned by Play or SendDTMF when a newer Play or
	// SendDTMF on the same session took over the outgoing audio.
	ErrPreempted = errors.New("media: outgoing audio preempted by a newer Play or SendDTMF")
	// ErrInvalidDigit means a DTMF string holds a character other than
	// 0-9 * # A-D (and w for a pause when sending).
	ErrInvalidDigit = errors.New("media: invalid DTMF digit")
	// ErrBridged means a session is already part of a bridge, or both sides
	// of a bridge are the same session.
	ErrBridged = errors.New("media: session already bridged")
	// ErrInvalidWAV means the audio data is not a well-formed RIFF/WAVE file.
	ErrInvalidWAV = errors.New("media: invalid WAV file")
	// ErrUnsupportedAudio means the audio is in a format the engine cannot
	// play (mp3, an unsupported WAV encoding...).
	ErrUnsupportedAudio = errors.New("media: unsupported audio format")
	// ErrTTSUnavailable means the espeak-ng binary could not be found.
	ErrTTSUnavailable = errors.New("media: text-to-speech unavailable")
	// ErrTTSFailed means espeak-ng ran but failed or timed out.
	ErrTTSFailed = errors.New("media: text-to-speech synthesis failed")
	// ErrTextTooLong means a TTS text exceeds the configured character cap.
	ErrTextTooLong = errors.New("media: text-to-speech text too long")
	// ErrEmptyText means a TTS text is empty or only white space.
	ErrEmptyText = errors.New("media: text-to-speech text is empty")
	// ErrInvalidFileID means a local file id is empty, absolute, escapes the
	// files directory or holds forbidden characters.
	ErrInvalidFileID = errors.New("media: invalid file id")
	// ErrFileNotFound means a local file id names no file.
	ErrFileNotFound = errors.New("media: file not found")
	// ErrInvalidURL means a URL to fetch is not an absolute http(s) URL.
	ErrInvalidURL = errors.New("media: invalid audio URL")
	// ErrTooLarge means an audio file or download exceeds the size limit.
	ErrTooLarge = errors.New("media: audio too large")
	// ErrFetch means an HTTP download failed (status, network, timeout). The
	// error is a *FetchError.
	ErrFetch = errors.New("media: audio download failed")
)

// FetchError describes a failed audio download. URL has its query and user
// information removed so that it can be logged.
type FetchError struct {
	URL    string // redacted URL
	Status int    // HTTP status code, 0 when no response arrived
	Reason string // bounded metric label: invalid_url, status, timeout, network, too_large, not_wav (neither WAV nor MP3), unsupported, bad_wav, bad_mp3
	Err    error  // underlying cause
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("media: fetch %s: %v", e.URL, e.Err)
}

// Unwrap returns the cause; errors.Is(err, ErrFetch) is true for every
// FetchError.
func (e *FetchError) Unwrap() []error { return []error{ErrFetch, e.Err} }
