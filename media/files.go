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
	"time"
)

// unsupportedExt are audio file extensions that are recognised but not
// playable (only WAV and MP3 are).
var unsupportedExt = map[string]string{
	".ogg": "Ogg", ".oga": "Ogg", ".opus": "Opus", ".m4a": "AAC", ".aac": "AAC",
	".flac": "FLAC", ".gsm": "GSM", ".amr": "AMR", ".wma": "WMA", ".webm": "WebM",
}

// cleanFileID validates a local file id and returns the relative path to
// open inside the files directory, and whether the id named its extension
// (.wav or .mp3); without one, ".wav" is appended.
func cleanFileID(id string) (string, bool, error) {
	switch {
	case id == "":
		return "", false, fmt.Errorf("%w: empty", ErrInvalidFileID)
	case len(id) > 1024:
		return "", false, fmt.Errorf("%w: longer than 1024 bytes", ErrInvalidFileID)
	case strings.ContainsAny(id, "\x00\\:"):
		return "", false, fmt.Errorf("%w: %q holds a NUL, backslash or colon", ErrInvalidFileID, id)
	case strings.HasPrefix(id, "/"):
		return "", false, fmt.Errorf("%w: %q is an absolute path", ErrInvalidFileID, id)
	}
	for seg := range strings.SplitSeq(id, "/") {
		if seg == ".." {
			return "", false, fmt.Errorf("%w: %q leaves the files directory", ErrInvalidFileID, id)
		}
	}
	name := path.Clean(id)
	if name == "." || strings.HasPrefix(name, "../") || name == ".." {
		return "", false, fmt.Errorf("%w: %q names no file", ErrInvalidFileID, id)
	}
	ext := strings.ToLower(path.Ext(name))
	if kind, bad := unsupportedExt[ext]; bad {
		return "", false, fmt.Errorf("%w: %q is %s; only WAV and MP3 files are supported", ErrUnsupportedAudio, id, kind)
	}
	if ext == ".wav" || ext == ".mp3" {
		return name, true, nil
	}
	return name + ".wav", false, nil
}

// File returns the local prompt file id, resolved inside the configured
// files directory. An id without .wav or .mp3 names id.wav, or id.mp3 when
// there is no id.wav. Ids that are absolute, contain "..", or resolve
// outside the directory (also through symbolic links) fail with
// ErrInvalidFileID; missing files with ErrFileNotFound; files over the size
// limit with ErrTooLarge; bad data with ErrInvalidWAV, ErrInvalidMP3 or
// ErrUnsupportedAudio. WAV and MP3 are told apart by their first bytes
// (see DecodeMP3 for the MP3 limits). Decoded files are cached (keyed by
// name, size and modification time).
func (e *Engine) File(ctx context.Context, id string) (Source, error) {
	if e.root == nil {
		return nil, fmt.Errorf("%w: %q: no files directory is configured", ErrFileNotFound, id)
	}
	name, explicit, err := cleanFileID(id)
	if err != nil {
		return nil, err
	}
	st, err := e.root.Stat(name)
	if !explicit && errors.Is(err, fs.ErrNotExist) {
		if mp3St, mp3Err := e.root.Stat(strings.TrimSuffix(name, ".wav") + ".mp3"); !errors.Is(mp3Err, fs.ErrNotExist) {
			name, st, err = strings.TrimSuffix(name, ".wav")+".mp3", mp3St, mp3Err
		}
	}
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
		pcm, err := e.decodeAudio(data, "", name)
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

// decodeAudio decodes a WAV or MP3 file: WAV by its RIFF header, MP3 by its
// ID3 tag or frame sync, or else by a Content-Type or name that says mp3.
// Anything else fails with ErrUnsupportedAudio when it is another known
// compressed format, else with ErrInvalidWAV. MP3 audio is bounded to
// Fetch.MaxBytes samples at 8 kHz (21 minutes for the default 10 MiB).
func (e *Engine) decodeAudio(data []byte, ctype, name string) ([]int16, error) {
	if isWAV(data) {
		pcm, _, err := DecodeWAV(data)
		return pcm, err
	}
	if isMP3(data) || compressedKind(ctype, name, nil) == "mp3" {
		pcm, _, err := DecodeMP3(data, int(e.opts.Fetch.MaxBytes))
		return pcm, err
	}
	if kind := compressedKind(ctype, name, data); kind != "" {
		return nil, fmt.Errorf("%w: %s is not supported; serve a WAV or MP3 file", ErrUnsupportedAudio, kind)
	}
	return nil, fmt.Errorf("%w: neither a WAV nor an MP3 file (Content-Type %q)", ErrInvalidWAV, ctype)
}

// redactURL drops user information, query and fragment.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// urlMeta holds what a fetched URL's reply said about caching it.
type urlMeta struct {
	etag           string
	lastModified   string
	freshUntil     time.Time
	mustRevalidate bool
}

// Fetch downloads an http(s) WAV or MP3 file and returns it as 8 kHz
// audio. The download is bounded by FetchOptions.Timeout and MaxBytes. The
// body decides: a RIFF/WAVE body is played as WAV and an ID3 tag or MPEG
// frame sync as MP3 whatever the Content-Type; otherwise a Content-Type
// audio/mpeg or a .mp3 path means MP3. Errors other than ErrInvalidURL are
// *FetchError (errors.Is ErrFetch) wrapping ErrTooLarge,
// ErrUnsupportedAudio, ErrInvalidWAV or ErrInvalidMP3 where they apply.
//
// The decoded audio is cached by URL (query included), and concurrent
// requests download once. The cache follows the server's reply (RFC 9111,
// as a private cache): Cache-Control no-store is not kept; no-cache is
// kept but revalidated on every use; max-age (or s-maxage, less Age) sets
// how long it is used as is, else Expires (against Date), else
// FetchOptions.Freshness (60 s by default). Once stale, the next use
// revalidates with If-None-Match and If-Modified-Since when the reply had
// an ETag or Last-Modified (else downloads again): 304 Not Modified keeps
// the decoded audio, without decoding again, fresh for the new lifetime;
// 200 replaces it. When revalidation fails with a network error, a
// timeout or a 5xx status, the stale copy is played, a warning is logged,
// and the server is not asked again for FetchOptions.Freshness, unless the
// reply said must-revalidate, which makes it an error. A 4xx status drops
// the copy and is an error.
func (e *Engine) Fetch(ctx context.Context, rawURL string) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.metrics.fetchErrors.WithLabelValues("invalid_url").Inc()
		return nil, fmt.Errorf("%w: want an absolute http or https URL", ErrInvalidURL)
	}
	fresh := func(m *urlMeta) bool { return e.now().Before(m.freshUntil) }
	pcm, _, err := e.cache.getFresh(ctx, "url\x00"+u.String(), fresh, func(ctx context.Context, old *cached) (loaded, error) {
		return e.download(ctx, u, old)
	})
	if err != nil {
		return nil, err
	}
	return PCM(pcm), nil
}

// Revalidation results, the values of the result label of
// fetch_revalidations_total.
const (
	revalNotModified = "not_modified" // 304: the cached audio is kept
	revalModified    = "modified"     // 200: replaced
	revalStale       = "stale"        // failed; the stale copy was served
	revalFailed      = "failed"       // failed; an error was returned
)

var revalResults = []string{revalNotModified, revalModified, revalStale, revalFailed}

// download fetches u, or revalidates old when it is set.
func (e *Engine) download(ctx context.Context, u *url.URL, old *cached) (loaded, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Fetch.Timeout)
	defer cancel()
	where := redactURL(u)
	ferr := func(status int, reason string, err error) error {
		e.metrics.fetchErrors.WithLabelValues(reason).Inc()
		return &FetchError{URL: where, Status: status, Reason: reason, Err: err}
	}
	netErr := func(err error) error {
		if ctx.Err() != nil {
			return ferr(0, "timeout", fmt.Errorf("no complete response within %v", e.opts.Fetch.Timeout))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message holds the URL with its query
		}
		return ferr(0, "network", err)
	}
	// failed handles an error: during a revalidation that the server's
	// trouble caused, the stale copy is served.
	failed := func(err error, serverTrouble bool) (loaded, error) {
		if old == nil {
			return loaded{}, err
		}
		if serverTrouble && !old.meta.mustRevalidate {
			e.metrics.fetchRevalidations.WithLabelValues(revalStale).Inc()
			e.log.Warn("audio URL revalidation failed; playing the cached copy", "url", where, "err", err)
			meta := *old.meta
			meta.freshUntil = e.now().Add(e.opts.Fetch.Freshness)
			return loaded{pcm: old.pcm, meta: &meta, store: true}, nil
		}
		e.metrics.fetchRevalidations.WithLabelValues(revalFailed).Inc()
		return loaded{drop: !serverTrouble}, err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return failed(ferr(0, "invalid_url", err), false)
	}
	req.Header.Set("Accept", "audio/wav, audio/x-wav, audio/wave, audio/mpeg, audio/*;q=0.5, */*;q=0.1")
	if old != nil {
		if old.meta.etag != "" {
			req.Header.Set("If-None-Match", old.meta.etag)
		}
		if old.meta.lastModified != "" {
			req.Header.Set("If-Modified-Since", old.meta.lastModified)
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return failed(netErr(err), true)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	now := e.now()
	if resp.StatusCode == http.StatusNotModified && old != nil {
		meta, store := e.cachePolicy(resp.Header, now)
		meta.etag = orElse(resp.Header.Get("ETag"), old.meta.etag)
		meta.lastModified = orElse(resp.Header.Get("Last-Modified"), old.meta.lastModified)
		e.metrics.fetchRevalidations.WithLabelValues(revalNotModified).Inc()
		return loaded{pcm: old.pcm, meta: meta, store: store, drop: !store}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return failed(ferr(resp.StatusCode, "status", fmt.Errorf("HTTP status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))),
			resp.StatusCode >= 500)
	}
	limit := e.opts.Fetch.MaxBytes
	if resp.ContentLength > limit {
		return failed(ferr(resp.StatusCode, "too_large", fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, resp.ContentLength, limit)), false)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return failed(netErr(fmt.Errorf("read body: %w", err)), true)
	}
	if int64(len(body)) > limit {
		return failed(ferr(resp.StatusCode, "too_large", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)), false)
	}
	pcm, err := e.decodeAudio(body, resp.Header.Get("Content-Type"), u.Path)
	if err != nil {
		reason := "bad_wav"
		switch {
		case errors.Is(err, ErrUnsupportedAudio):
			reason = "unsupported"
		case errors.Is(err, ErrInvalidMP3):
			reason = "bad_mp3"
		case errors.Is(err, ErrTooLarge):
			reason = "too_large"
		case !isWAV(body):
			reason = "not_wav"
		}
		return failed(ferr(resp.StatusCode, reason, err), false)
	}
	meta, store := e.cachePolicy(resp.Header, now)
	meta.etag, meta.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if old != nil {
		e.metrics.fetchRevalidations.WithLabelValues(revalModified).Inc()
	}
	return loaded{pcm: pcm, meta: meta, store: store, drop: !store}, nil
}

// orElse returns a when it is not empty, else b.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// cachePolicy reads Cache-Control (or Pragma), Age, Expires and Date: how
// long the reply stays fresh, whether it may be stored at all and whether
// a stale copy may be served when the server fails.
func (e *Engine) cachePolicy(h http.Header, now time.Time) (*urlMeta, bool) {
	meta := &urlMeta{freshUntil: now.Add(e.opts.Fetch.Freshness)}
	var (
		maxAge, sMaxAge = -1, -1
		noCache         bool
	)
	cc := strings.Join(h.Values("Cache-Control"), ",")
	for d := range strings.SplitSeq(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store":
			return meta, false
		case "no-cache":
			noCache = true
		case "must-revalidate", "proxy-revalidate":
			meta.mustRevalidate = true
		case "max-age":
			maxAge = deltaSeconds(val)
		case "s-maxage":
			sMaxAge = deltaSeconds(val)
		}
	}
	if cc == "" && strings.Contains(strings.ToLower(h.Get("Pragma")), "no-cache") {
		noCache = true
	}
	age := max(deltaSeconds(h.Get("Age")), 0)
	switch {
	case noCache:
		meta.freshUntil = now
	case sMaxAge >= 0:
		meta.freshUntil = now.Add(time.Duration(sMaxAge-age) * time.Second)
	case maxAge >= 0:
		meta.freshUntil = now.Add(time.Duration(maxAge-age) * time.Second)
	case h.Get("Expires") != "":
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			meta.freshUntil = now // an invalid Expires means already expired
			break
		}
		date, err := http.ParseTime(h.Get("Date"))
		if err != nil {
			date = now
		}
		meta.freshUntil = now.Add(exp.Sub(date) - time.Duration(age)*time.Second)
	}
	return meta, true
}

// deltaSeconds parses a Cache-Control or Age number of seconds, capped at
// a year; -1 when it is not one.
func deltaSeconds(s string) int {
	s = strings.TrimSpace(s)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return -1
	}
	if len(s) > 9 {
		return 365 * 24 * 3600
	}
	n, _ := strconv.Atoi(s)
	return min(n, 365*24*3600)
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
	ext := strings.ToLower(path.Ext(urlPath))
	if ext == ".mp3" {
		return "mp3"
	}
	if kind, ok := unsupportedExt[ext]; ok {
		return kind
	}
	switch {
	case isMP3(body):
		return "mp3"
	case bytes.HasPrefix(body, []byte("OggS")):
		return "Ogg"
	case bytes.HasPrefix(body, []byte("fLaC")):
		return "FLAC"
	}
	return ""
}
