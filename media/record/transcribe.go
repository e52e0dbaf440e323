package record

import (
	"context"
	"errors"
)

// Transcriber turns a finished recording into text, for startRecording's
// transcriptionOptions {enabled: true, locale}. callcore ships no speech
// recognizer: a node has a Transcriber only when one is plugged in.
//
// Without one, the call core answers an enabled transcription with a Notify
// event saying it is not available (reference §3.7 has no such type; the
// choice is callcore's), records and stores the audio as usual, and never
// sends transcription_available.
type Transcriber interface {
	// Transcribe returns the text spoken in f, in locale (e.g. "en-US").
	// It returns an error wrapping ErrTranscriptionUnavailable when it cannot
	// handle the locale or is not in service.
	Transcribe(ctx context.Context, f *File, locale string) (text string, err error)
}

// ErrTranscriptionUnavailable means no transcription can be made: no
// Transcriber is configured, or it does not serve the locale.
var ErrTranscriptionUnavailable = errors.New("record: transcription is not available on this node")
