package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/svaml"
)

// mediaAdapter lets the call core drive the media engine: prompts become
// sources, sessions carry the call id in their logs.
type mediaAdapter struct{ e *media.Engine }

var _ call.Media = mediaAdapter{}

func (m mediaAdapter) Answer(ctx context.Context, callID string, offer []byte) (call.MediaSession, []byte, error) {
	s, sdp, err := m.e.AnswerOptions(ctx, offer, media.SessionOptions{CallID: callID})
	if err != nil {
		return nil, nil, err
	}
	return &mediaSession{e: m.e, s: s}, sdp, nil
}

func (m mediaAdapter) Offer(ctx context.Context, callID string) (call.MediaSession, []byte, error) {
	s, sdp, err := m.e.OfferOptions(ctx, media.SessionOptions{CallID: callID})
	if err != nil {
		return nil, nil, err
	}
	return &mediaSession{e: m.e, s: s}, sdp, nil
}

// Prompt resolves a prompt to a fresh source: TTS and SSML through
// espeak-ng, URLs downloaded, other ids from the prompt directory. Sources
// come from the engine's cache, so a looped hold prompt costs little.
func (m mediaAdapter) Prompt(ctx context.Context, p svaml.Prompt, locale string) (call.Audio, error) {
	a, err := m.prompt(ctx, p, locale)
	if err != nil && (errors.Is(err, media.ErrUnknownLocale) || errors.Is(err, media.ErrInvalidSSML) ||
		errors.Is(err, media.ErrUnsupportedAudio) || errors.Is(err, media.ErrInvalidMP3)) {
		return nil, fmt.Errorf("%w: %w", call.ErrInvalidSVAML, err)
	}
	return a, err
}

func (m mediaAdapter) prompt(ctx context.Context, p svaml.Prompt, locale string) (call.Audio, error) {
	switch p.Kind {
	case svaml.PromptTTS:
		return m.e.TTS(ctx, p.Value, locale, false)
	case svaml.PromptSSML:
		return m.e.TTS(ctx, p.Value, locale, true)
	case svaml.PromptURL:
		return m.e.Fetch(ctx, p.Value)
	case svaml.PromptFile:
		return m.e.File(ctx, p.Value)
	}
	return nil, fmt.Errorf("unknown prompt kind %v", p.Kind)
}

func (m mediaAdapter) Ringback(country string) call.Audio {
	src, _ := media.Ringback(country) // unknown countries get the default tone
	return src
}

// mediaSession adapts *media.Session to call.MediaSession.
type mediaSession struct {
	e *media.Engine
	s *media.Session
}

func (ms *mediaSession) SetRemote(answer []byte) error {
	if err := ms.s.SetRemote(answer); err != nil {
		return err
	}
	ms.s.ResetTimeout() // ringing did not count against the RTP timeout
	return nil
}

func (ms *mediaSession) Reoffer(offer []byte) ([]byte, error) { return ms.s.Reoffer(offer) }

func (ms *mediaSession) Play(ctx context.Context, a call.Audio) error {
	src, ok := a.(media.Source)
	if !ok {
		return fmt.Errorf("not playable audio: %T", a)
	}
	return ms.s.Play(ctx, src)
}

func (ms *mediaSession) SendDTMF(ctx context.Context, digits string) error {
	return ms.s.SendDTMF(ctx, digits)
}

func (ms *mediaSession) Timeout() <-chan struct{} { return ms.s.Timeout() }

func (ms *mediaSession) Digits() <-chan rune { return ms.s.Digits() }

func (ms *mediaSession) InjectDigit(d rune) error { return ms.s.InjectDigit(d) }

func (ms *mediaSession) Bridge(other call.MediaSession) (func(), error) {
	o, ok := other.(*mediaSession)
	if !ok {
		return nil, fmt.Errorf("cannot bridge to %T", other)
	}
	b, err := ms.e.Bridge(ms.s, o.s)
	if err != nil {
		return nil, err
	}
	return b.Stop, nil
}

func (ms *mediaSession) Close() error { return ms.s.Close() }
