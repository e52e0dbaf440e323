package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxTTSOutput bounds what espeak-ng may write (about 25 minutes of 22 kHz
// audio), far above what MaxChars allows.
const maxTTSOutput = 64 << 20

// TTS synthesizes text with espeak-ng in the voice for locale (see
// EspeakVoice; SSML markup when ssml is true, passed with -m) and returns it
// as 8 kHz audio. The result is cached by (text, voice, ssml) within the
// engine's byte budget, and concurrent requests for the same prompt
// synthesize once. Errors: ErrEmptyText, ErrTextTooLong, ErrTTSUnavailable
// (espeak-ng not found) and ErrTTSFailed (non-zero exit, timeout, bad
// output).
func (e *Engine) TTS(ctx context.Context, text, locale string, ssml bool) (Source, error) {
	if strings.TrimSpace(text) == "" {
		return nil, ErrEmptyText
	}
	if n := utf8.RuneCountInString(text); n > e.opts.TTS.MaxChars {
		return nil, fmt.Errorf("%w: %d characters, limit %d", ErrTextTooLong, n, e.opts.TTS.MaxChars)
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	voice, _ := EspeakVoice(locale)
	mode := "text"
	if ssml {
		mode = "ssml"
	}
	key := "tts\x00" + voice + "\x00" + mode + "\x00" + strconv.Itoa(e.opts.TTS.WordsPerMinute) + "\x00" + text
	pcm, hit, err := e.cache.get(ctx, key, func(ctx context.Context) ([]int16, error) {
		return e.synthesize(ctx, text, voice, ssml)
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

// limitedBuffer collects up to max bytes and then fails the write.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

var errOutputTooLarge = errors.New("output too large")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}

// synthesize runs espeak-ng once. The text goes through stdin so that it is
// never parsed as options.
func (e *Engine) synthesize(ctx context.Context, text, voice string, ssml bool) ([]int16, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.opts.TTS.Timeout)
	defer cancel()
	select {
	case e.ttsSem <- struct{}{}:
		defer func() { <-e.ttsSem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a free synthesis slot: %w", ErrTTSFailed, context.Cause(ctx))
	}
	args := []string{"--stdout", "-b", "1", "-v", voice}
	if ssml {
		args = append(args, "-m")
	}
	if wpm := e.opts.TTS.WordsPerMinute; wpm > 0 {
		args = append(args, "-s", strconv.Itoa(wpm))
	}
	cmd := exec.CommandContext(ctx, e.opts.TTS.Binary, args...)
	cmd.Stdin = strings.NewReader(text)
	stdout := &limitedBuffer{max: maxTTSOutput}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%w: cannot run %q (install espeak-ng or set the TTS binary path): %w", ErrTTSUnavailable, e.opts.TTS.Binary, err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: espeak-ng did not finish within %v", ErrTTSFailed, e.opts.TTS.Timeout)
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no error output"
		}
		return nil, fmt.Errorf("%w: espeak-ng (voice %s): %w: %s", ErrTTSFailed, voice, err, msg)
	}
	pcm, _, err := DecodeWAV(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: espeak-ng output: %w", ErrTTSFailed, err)
	}
	e.metrics.ttsSeconds.Observe(time.Since(start).Seconds())
	return pcm, nil
}
