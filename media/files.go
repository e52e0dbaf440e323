package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// unsupportedExt are audio file extensions that are recognised but not
// playable (only WAV is).
var unsupportedExt = map[string]string{
	".mp3": "mp3", ".ogg": "Ogg", ".oga": "Ogg", ".opus": "Opus", ".m4a": "AAC", ".aac": "AAC",
	".flac": "FLAC", ".gsm": "GSM", ".amr": "AMR", ".wma": "WMA", ".webm": "WebM",
}

// cleanFileID validates a local file id and returns the relative path to
// open inside the files directory, with ".wav" appended when the id has no
// extension of its own.
func cleanFileID(id string) (string, error) {
	switch {
	case id == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidFileID)
	case len(id) > 1024:
		return "", fmt.Errorf("%w: longer than 1024 bytes", ErrInvalidFileID)
	case strings.ContainsAny(id, "\x00\\:"):
		return "", fmt.Errorf("%w: %q holds a NUL, backslash or colon", ErrInvalidFileID, id)
	case strings.HasPrefix(id, "/"):
		return "", fmt.Errorf("%w: %q is an absolute path", ErrInvalidFileID, id)
	}
	for seg := range strings.SplitSeq(id, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%w: %q leaves the files directory", ErrInvalidFileID, id)
		}
	}
	name := path.Clean(id)
	if name == "." || strings.HasPrefix(name, "../") || name == ".." {
		return "", fmt.Errorf("%w: %q names no file", ErrInvalidFileID, id)
	}
	ext := strings.ToLower(path.Ext(name))
	if kind, bad := unsupportedExt[ext]; bad {
		return "", fmt.Errorf("%w: %q is %s; only WAV files are supported", ErrUnsupportedAudio, id, kind)
	}
	if ext != ".wav" {
		name += ".wav"
	}
	return name, nil
}

// File returns the local prompt file id, resolved inside the configured
// files directory (".wav" is appended when the id has no extension). Ids
// that are absolute, contain "..", or resolve outside the directory (also
// through symbolic links) fail with ErrInvalidFileID; missing files with
// ErrFileNotFound; files over the size limit with ErrTooLarge; bad WAV data
// with ErrInvalidWAV or ErrUnsupportedAudio. Decoded files are cached
// (keyed by name, size and modification time).
func (e *Engine) File(ctx context.Context, id string) (Source, error) {
	if e.root == nil {
		return nil, fmt.Errorf("%w: %q: no files directory is configured", ErrFileNotFound, id)
	}
	name, err := cleanFileID(id)
	if err != nil {
		return nil, err
	}
	st, err := e.root.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %q", ErrFileNotFound, name)
	case err != nil:
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidFileID, name, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrFileNotFound, name)
	case st.Size() > e.opts.Fetch.MaxBytes:
		return nil, fmt.Errorf("%w: %q is %d bytes, limit %d", ErrTooLarge, name, st.Size(), e.opts.Fetch.MaxBytes)
	}
	key := "file\x00" + name + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	pcm, _, err := e.cache.get(ctx, key, func(context.Context) ([]int16, error) {
		f, err := e.root.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrFileNotFound, name, err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, e.opts.Fetch.MaxBytes+1))
		if err != nil {
			return nil, fmt.Errorf("media: read %q: %w", name, err)
		}
		if int64(len(data)) > e.opts.Fetch.MaxBytes {
			return nil, fmt.Errorf("%w: %q grew over %d bytes", ErrTooLarge, name, e.opts.Fetch.MaxBytes)
		}
		pcm, _, err := DecodeWAV(data)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
		return pcm, nil
	})
	if err != nil {
		return nil, err
	}
	return PCM(pcm), nil
}

// redactURL drops user information, query and fragment.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// Fetch downloads an http(s) WAV file and returns it as 8 kHz audio. The
// download is bounded by FetchOptions.Timeout and MaxBytes; the decoded
// audio is cached by URL and concurrent requests download once. The body
// decides: a RIFF/WAVE body is played whatever its Content-Type; anything
// else fails, as ErrUnsupportedAudio when the Content-Type, the extension
// or the bytes say mp3 (or another compressed format). Errors other than
// ErrInvalidURL are *FetchError (errors.Is ErrFetch) wrapping ErrTooLarge,
// ErrUnsupportedAudio or ErrInvalidWAV where they apply.
func (e *Engine) Fetch(ctx context.Context, rawURL string) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.metrics.fetchErrors.WithLabelValues("invalid_url").Inc()
		return nil, fmt.Errorf("%w: want an absolute http or https URL", ErrInvalidURL)
	}
	pcm, _, err := e.cache.get(ctx, "url\x00"+u.String(), func(ctx context.Context) ([]int16, error) {
		return e.download(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	return PCM(pcm), nil
}

func (e *Engine) download(ctx context.Context, u *url.URL) ([]int16, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Fetch.Timeout)
	defer cancel()
	ferr := func(status int, reason string, err error) error {
		e.metrics.fetchErrors.WithLabelValues(reason).Inc()
		return &FetchError{URL: redactURL(u), Status: status, Reason: reason, Err: err}
	}
	netErr := func(err error) error {
		if ctx.Err() != nil {
			return ferr(0, "timeout", fmt.Errorf("no complete response within %v", e.opts.Fetch.Timeout))
		}
		return ferr(0, "network", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, ferr(0, "invalid_url", err)
	}
	req.Header.Set("Accept", "audio/wav, audio/x-wav, audio/wave, audio/*;q=0.5, */*;q=0.1")
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, netErr(err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, ferr(resp.StatusCode, "status", fmt.Errorf("HTTP status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	limit := e.opts.Fetch.MaxBytes
	if resp.ContentLength > limit {
		return nil, ferr(resp.StatusCode, "too_large", fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, resp.ContentLength, limit))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, netErr(fmt.Errorf("read body: %w", err))
	}
	if int64(len(body)) > limit {
		return nil, ferr(resp.StatusCode, "too_large", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit))
	}
	ctype := resp.Header.Get("Content-Type")
	if !isWAV(body) {
		if kind := compressedKind(ctype, u.Path, body); kind != "" {
			return nil, ferr(resp.StatusCode, "unsupported", fmt.Errorf("%w: %s is not supported; serve a WAV file", ErrUnsupportedAudio, kind))
		}
		return nil, ferr(resp.StatusCode, "not_wav", fmt.Errorf("%w: not a WAV file (Content-Type %q)", ErrInvalidWAV, ctype))
	}
	pcm, _, err := DecodeWAV(body)
	if err != nil {
		reason := "bad_wav"
		if errors.Is(err, ErrUnsupportedAudio) {
			reason = "unsupported"
		}
		return nil, ferr(resp.StatusCode, reason, err)
	}
	return pcm, nil
}

func isWAV(b []byte) bool {
	return len(b) >= 12 && (string(b[0:4]) == "RIFF" || string(b[0:4]) == "RF64") && string(b[8:12]) == "WAVE"
}

// compressedKind names a compressed audio format recognised from the
// Content-Type, the URL extension or the first bytes, or returns "".
func compressedKind(ctype, urlPath string, body []byte) string {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch mt {
	case "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3":
		return "mp3"
	case "audio/ogg", "audio/opus", "audio/aac", "audio/mp4", "audio/flac", "audio/webm", "audio/amr":
		return strings.TrimPrefix(mt, "audio/")
	}
	if kind, ok := unsupportedExt[strings.ToLower(path.Ext(urlPath))]; ok {
		return kind
	}
	switch {
	case bytes.HasPrefix(body, []byte("ID3")), len(body) >= 2 && body[0] == 0xFF && body[1]&0xE0 == 0xE0:
		return "mp3"
	case bytes.HasPrefix(body, []byte("OggS")):
		return "Ogg"
	case bytes.HasPrefix(body, []byte("fLaC")):
		return "FLAC"
	}
	return ""
}
