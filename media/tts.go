package media

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSynthesisTime bounds one synthesis by any engine, on top of the
// engine's own limit, so that a Synthesizer that never returns cannot hold
// a cache slot forever.
const maxSynthesisTime = 5 * time.Minute

// TTS synthesizes text (SSML markup when ssml is true) in the voice for
// locale and returns it as 8 kHz audio. The engine is TTSOptions.Engine,
// espeak-ng by default.
//
// The locale must be one of Locales (see LookupLocale; "" is en-US);
// another fails with ErrUnknownLocale rather than falling back to a default
// voice. SSML must be well-formed (see NormalizeSSML; a fragment without
// <speak> is wrapped in one), or the error is ErrInvalidSSML.
//
// The result is cached by (engine identity, locale, SSML or text, text)
// within the engine's byte budget, and concurrent requests for the same
// prompt synthesize once. Errors: ErrEmptyText, ErrTextTooLong,
// ErrUnknownLocale, ErrInvalidSSML, and the engine's: for espeak-ng
// ErrTTSUnavailable (not found) and ErrTTSFailed (non-zero exit, timeout,
// bad output).
func (e *Engine) TTS(ctx context.Context, text, locale string, ssml bool) (Source, error) {
	if strings.TrimSpace(text) == "" {
		return nil, ErrEmptyText
	}
	if n := utf8.RuneCountInString(text); n > e.opts.TTS.MaxChars {
		return nil, fmt.Errorf("%w: %d characters, limit %d", ErrTextTooLong, n, e.opts.TTS.MaxChars)
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	voice, err := LookupLocale(locale)
	if err != nil {
		return nil, err
	}
	mode := "text"
	if ssml {
		mode = "ssml"
		if text, err = NormalizeSSML(text); err != nil {
			return nil, err
		}
	}
	req := SynthesisRequest{Text: text, SSML: ssml, Locale: strings.TrimSpace(locale)}
	if req.Locale == "" {
		req.Locale = DefaultLocale
	}
	key := "tts\x00" + e.synthID + "\x00" + voice.key() + "\x00" + mode + "\x00" + text
	pcm, hit, err := e.cache.get(ctx, key, func(ctx context.Context) ([]int16, error) {
		return e.synthesize(ctx, req)
	})
	if hit {
		e.metrics.ttsCache.WithLabelValues("hit").Inc()
	} else {
		e.metrics.ttsCache.WithLabelValues("miss").Inc()
	}
	if err != nil {
		return nil, err
	}
	return PCM(pcm), nil
}

// synthesize runs the engine once and brings its audio to 8 kHz.
func (e *Engine) synthesize(ctx context.Context, req SynthesisRequest) ([]int16, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, maxSynthesisTime)
	defer cancel()
	pcm, rate, err := e.synth.Synthesize(ctx, req)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pcm) == 0:
		return nil, fmt.Errorf("%w: the engine returned no audio", ErrTTSFailed)
	case rate < wavMinRate || rate > wavMaxRate:
		return nil, fmt.Errorf("%w: the engine returned audio at %d Hz (want %d-%d)", ErrTTSFailed, rate, wavMinRate, wavMaxRate)
	case rate != SampleRate:
		pcm = ResampleTo8k(pcm, rate)
	}
	e.metrics.ttsSeconds.Observe(time.Since(start).Seconds())
	return pcm, nil
}
