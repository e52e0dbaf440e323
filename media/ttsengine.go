package media

import (
	"context"
	"fmt"
)

// Synthesizer turns text or SSML into audio. Implementations must be safe
// for concurrent use.
//
// Engine.TTS calls Synthesize once per uncached prompt, from a goroutine
// that does not stop when the caller gives up (concurrent requests for the
// same prompt share the result), so Synthesize must bound its own run time.
// By then the request has been checked: the text is not empty and within
// TTSOptions.MaxChars, the locale is one of Locales (LookupLocale resolves
// it again when needed), and SSML is well-formed with a <speak> root (see
// NormalizeSSML). The audio may have any sample rate from 1 kHz to 384 kHz;
// the engine resamples it to 8 kHz.
type Synthesizer interface {
	Synthesize(ctx context.Context, req SynthesisRequest) (pcm []int16, sampleRate int, err error)
}

// SynthesisRequest is one prompt to synthesize.
type SynthesisRequest struct {
	Text   string // plain text, or an SSML document when SSML is set
	SSML   bool
	Locale string // Sinch locale or voice name as given ("en-US", "en-US/female", "Joanna"); DefaultLocale when none was
}

// SynthesizerIdentity is implemented by Synthesizers that name themselves
// for the TTS cache: the name goes into every cache key, so that audio of
// one engine (or configuration of it) is never served for another. The
// name of a Synthesizer without it is its Go type.
type SynthesizerIdentity interface {
	Identity() string
}

// synthIdentity returns the cache name of s.
func synthIdentity(s Synthesizer) string {
	if id, ok := s.(SynthesizerIdentity); ok {
		return id.Identity()
	}
	return fmt.Sprintf("%T", s)
}
