package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// maxTTSOutput bounds what espeak-ng may write (about 25 minutes of 22 kHz
// audio), far above what MaxChars allows.
const maxTTSOutput = 64 << 20

// EspeakOptions configure the espeak-ng Synthesizer.
type EspeakOptions struct {
	// Binary is the espeak-ng executable, a name looked up in PATH or a
	// path. Default "espeak-ng".
	Binary string
	// Timeout bounds one synthesis. Default 10 s.
	Timeout time.Duration
	// WordsPerMinute sets the speaking rate, 0-1000; 0 keeps espeak-ng's
	// default (175).
	WordsPerMinute int
	// MaxConcurrent bounds concurrent espeak-ng processes. Default
	// GOMAXPROCS.
	MaxConcurrent int
}

// Espeak is the espeak-ng Synthesizer, the engine's default. Each prompt
// runs espeak-ng once, with the text on stdin (so that it is never parsed
// as options) and -m for SSML, which first goes through a pre-pass that
// makes espeak-ng honour what Sinch prompts use (see NormalizeSSML and
// the package documentation); the 22.05 kHz WAV it writes is returned as
// is. The voice comes from LookupLocale.
type Espeak struct {
	opts EspeakOptions
	sem  chan struct{}
}

// NewEspeak returns an espeak-ng Synthesizer. Zero options take their
// defaults; it fails when WordsPerMinute is out of range. Whether the
// binary exists is only known at the first synthesis (ErrTTSUnavailable).
func NewEspeak(o EspeakOptions) (*Espeak, error) {
	if o.Binary == "" {
		o.Binary = DefaultTTSBinary
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTTSTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if o.WordsPerMinute < 0 || o.WordsPerMinute > 1000 {
		return nil, fmt.Errorf("media: TTS WordsPerMinute %d out of 0-1000", o.WordsPerMinute)
	}
	return &Espeak{opts: o, sem: make(chan struct{}, o.MaxConcurrent)}, nil
}

// Identity names the binary and the speaking rate, which both change the
// audio.
func (s *Espeak) Identity() string {
	return "espeak-ng\x00" + s.opts.Binary + "\x00" + strconv.Itoa(s.opts.WordsPerMinute)
}

// Synthesize runs espeak-ng. Errors: ErrUnknownLocale, ErrInvalidSSML,
// ErrTTSUnavailable (espeak-ng cannot be run) and ErrTTSFailed (non-zero
// exit, timeout, bad output).
func (s *Espeak) Synthesize(ctx context.Context, req SynthesisRequest) ([]int16, int, error) {
	voice, err := LookupLocale(req.Locale)
	if err != nil {
		return nil, 0, err
	}
	text := req.Text
	if req.SSML {
		if text, err = espeakSSML(text); err != nil {
			return nil, 0, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: waiting for a free synthesis slot: %w", ErrTTSFailed, context.Cause(ctx))
	}
	args := []string{"--stdout", "-b", "1", "-v", voice.Espeak}
	if req.SSML {
		args = append(args, "-m")
	}
	if wpm := s.opts.WordsPerMinute; wpm > 0 {
		args = append(args, "-s", strconv.Itoa(wpm))
	}
	cmd := exec.CommandContext(ctx, s.opts.Binary, args...)
	cmd.Stdin = strings.NewReader(text)
	stdout := &limitedBuffer{max: maxTTSOutput}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, 0, fmt.Errorf("%w: cannot run %q (install espeak-ng or set the TTS binary path): %w", ErrTTSUnavailable, s.opts.Binary, err)
	case ctx.Err() != nil:
		return nil, 0, fmt.Errorf("%w: espeak-ng did not finish within %v", ErrTTSFailed, s.opts.Timeout)
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no error output"
		}
		return nil, 0, fmt.Errorf("%w: espeak-ng (voice %s): %w: %s", ErrTTSFailed, voice.Espeak, err, msg)
	}
	mono, info, err := parseWAV(stdout.Bytes())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: espeak-ng output: %w", ErrTTSFailed, err)
	}
	return toInt16(mono), info.SampleRate, nil
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
