package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// HTTPSynthesizerOptions configure the HTTP Synthesizer.
type HTTPSynthesizerOptions struct {
	// URL receives the requests: an absolute http or https URL. Required.
	URL string
	// Header is added to every request, e.g. Authorization. Content-Type
	// and Accept are set by the synthesizer.
	Header http.Header
	// Timeout bounds one request, headers and body. Default 10 s.
	Timeout time.Duration
	// MaxBytes rejects larger replies; it also bounds decoded MP3 audio to
	// MaxBytes samples at 8 kHz, and at most DefaultMP3MaxSamples (see
	// DecodeMP3). Default 10 MiB.
	MaxBytes int64
	// Client performs the requests. Default: a client with the default
	// transport; the timeout comes from Timeout.
	Client *http.Client
}

// HTTPSynthesizer is a Synthesizer that delegates to a TTS service over
// HTTP, so that a local neural TTS or a cloud service can replace
// espeak-ng. Each prompt is one request:
//
//	POST URL
//	Content-Type: application/json
//	Accept: audio/wav, audio/mpeg
//	(the configured headers)
//
//	{"text": "Hello", "ssml": false, "locale": "en-US"}
//
// text is the prompt (the SSML document, normalized to a <speak> root, when
// ssml is true) and locale the Sinch locale or voice name as the
// application gave it (DefaultLocale when it gave none). The reply must be
// 200 with a WAV (any format DecodeWAV reads) or MP3 body, recognised by
// its Content-Type (audio/wav, audio/x-wav, audio/wave, audio/mpeg) or
// else by its first bytes.
//
// Errors: ErrTTSUnavailable when the service cannot be reached (connection
// refused, DNS), ErrTTSFailed for everything else: a status other than 200
// (with the start of the reply body), no complete reply within the
// timeout, a reply over MaxBytes (also ErrTooLarge), or a body that is
// neither WAV nor MP3 (also ErrUnsupportedAudio, ErrInvalidWAV or
// ErrInvalidMP3). Error messages show the URL without its query.
type HTTPSynthesizer struct {
	opts     HTTPSynthesizerOptions
	url      *url.URL
	client   *http.Client
	identity string
}

// NewHTTPSynthesizer checks the options and returns the synthesizer.
func NewHTTPSynthesizer(o HTTPSynthesizerOptions) (*HTTPSynthesizer, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("media: TTS service URL must be an absolute http or https URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTTSTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultFetchMax
	}
	o.Header = o.Header.Clone()
	s := &HTTPSynthesizer{opts: o, url: u, client: o.Client}
	if s.client == nil {
		s.client = &http.Client{}
	}
	// The headers can select a voice or an account: they are part of the
	// identity, hashed so that the cache keys hold no credentials.
	h := sha256.New()
	names := make([]string, 0, len(o.Header))
	for k := range o.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(h, "%s\x00%q\x00", k, o.Header[k])
	}
	s.identity = "http\x00" + u.String() + "\x00" + hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// Identity names the URL and the headers.
func (s *HTTPSynthesizer) Identity() string { return s.identity }

type httpSynthesisBody struct {
	Text   string `json:"text"`
	SSML   bool   `json:"ssml"`
	Locale string `json:"locale"`
}

// Synthesize posts the request and decodes the reply; see HTTPSynthesizer.
func (s *HTTPSynthesizer) Synthesize(ctx context.Context, req SynthesisRequest) ([]int16, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	where := redactURL(s.url)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: TTS service %s: %w", ErrTTSFailed, where, fmt.Errorf(format, args...))
	}
	netErr := func(err error) error {
		if ctx.Err() != nil {
			return fail("no complete reply within %v", s.opts.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a query
		}
		return fmt.Errorf("%w: cannot reach TTS service %s: %w", ErrTTSUnavailable, where, err)
	}
	body, err := json.Marshal(httpSynthesisBody(req))
	if err != nil {
		return nil, 0, fail("encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, fail("%w", err)
	}
	for k, v := range s.opts.Header {
		hreq.Header[k] = slices.Clone(v)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "audio/wav, audio/mpeg")
	resp, err := s.client.Do(hreq)
	if err != nil {
		return nil, 0, netErr(err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	limit := s.opts.MaxBytes
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		msg := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))
		if msg != "" {
			msg = ": " + printable([]byte(msg))
		}
		return nil, 0, fail("HTTP status %d %s%s", resp.StatusCode, http.StatusText(resp.StatusCode), msg)
	}
	if resp.ContentLength > limit {
		return nil, 0, fail("%w: Content-Length %d, limit %d", ErrTooLarge, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fail("no complete reply within %v", s.opts.Timeout)
		}
		return nil, 0, fail("read reply: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, 0, fail("%w: reply of more than %d bytes", ErrTooLarge, limit)
	}
	ctype := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ctype)
	switch {
	case mt == "audio/mpeg" || mt == "audio/mp3" || (!isWAV(data) && isMP3(data)):
		pcm, _, err := DecodeMP3(data, int(min(limit, int64(DefaultMP3MaxSamples))))
		if err != nil {
			return nil, 0, fail("%w", err)
		}
		return pcm, SampleRate, nil
	case isWAV(data):
		mono, info, err := parseWAV(data)
		if err != nil {
			return nil, 0, fail("%w", err)
		}
		return toInt16(mono), info.SampleRate, nil
	default:
		return nil, 0, fail("%w: reply is neither WAV nor MP3 (Content-Type %q, %d bytes starting %q)",
			ErrUnsupportedAudio, ctype, len(data), printable(data[:min(len(data), 8)]))
	}
}
