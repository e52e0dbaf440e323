package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestFileIDs(t *testing.T) {
	dir := t.TempDir()
	wav := toneWAV(WAVFormatPCM, 1, 8000, 16, 100)
	require.NoError(t, writeFile(dir, "greeting.wav", wav))
	require.NoError(t, writeFile(dir, "en/menu.WAV", wav))
	require.NoError(t, writeFile(dir, "bad.wav", []byte("not audio")))
	require.NoError(t, writeFile(dir, "bad.mp3", []byte("not audio")))
	require.NoError(t, writeFile(dir, "hold/tone.mp3", readFixture(t, "tone1k_mono_44k.mp3")))
	require.NoError(t, writeFile(dir, "both.wav", wav))
	require.NoError(t, writeFile(dir, "both.mp3", readFixture(t, "tone1k_mono_44k.mp3")))
	require.NoError(t, writeFile(dir, "big.wav", make([]byte, 40000)))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "folder.wav"), 0o755))
	outside := t.TempDir()
	require.NoError(t, writeFile(outside, "secret.wav", wav))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.wav"), filepath.Join(dir, "link.wav")))

	e, _ := newTestEngine(t, func(o *Options) { o.FilesDir = dir; o.Fetch.MaxBytes = 20000 })
	ctx := context.Background()
	for _, id := range []string{"greeting", "greeting.wav", "en/menu.WAV", "./greeting", "en/./menu.WAV"} {
		src, err := e.File(ctx, id)
		require.NoError(t, err, id)
		require.Len(t, readAll(t, src, 1e6), 800, id)
	}
	// MP3 files, named or found when the id has no extension and there is
	// no WAV file; the WAV file wins when both exist.
	for _, id := range []string{"hold/tone.mp3", "hold/tone", "both.mp3"} {
		src, err := e.File(ctx, id)
		require.NoError(t, err, id)
		pcm := readAll(t, src, 1e6)
		require.InDelta(t, SampleRate, len(pcm), SampleRate/10, id)
		require.InDelta(t, 1000, dominantFreq(pcm[2000:6000], 300, 3500, 5), 5, id)
	}
	src, err := e.File(ctx, "both")
	require.NoError(t, err)
	require.Len(t, readAll(t, src, 1e6), 800, "both.wav")

	tests := []struct {
		id   string
		want error
	}{
		{"", ErrInvalidFileID},
		{"../secret", ErrInvalidFileID},
		{"en/../../secret", ErrInvalidFileID},
		{"/etc/passwd", ErrInvalidFileID},
		{`..\secret`, ErrInvalidFileID},
		{"c:secret", ErrInvalidFileID},
		{"a\x00b", ErrInvalidFileID},
		{"link", ErrInvalidFileID}, // symlink out of the directory
		{"missing", ErrFileNotFound},
		{"folder", ErrFileNotFound},
		{"song.ogg", ErrUnsupportedAudio},
		{"bad.mp3", ErrInvalidMP3},
		{"bad", ErrInvalidWAV},
		{"big", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := e.File(ctx, tt.id)
			require.ErrorIs(t, err, tt.want)
		})
	}
	noDir, _ := newTestEngine(t, nil)
	_, err = noDir.File(ctx, "greeting")
	require.ErrorIs(t, err, ErrFileNotFound)
	require.ErrorContains(t, err, "no files directory")
}

func TestFetch(t *testing.T) {
	wav := toneWAV(WAVFormatPCM, 1, 16000, 16, 100)
	var hits atomic.Int64
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(wav)
	})
	mux.HandleFunc("/octet", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(wav)
	})
	mux.HandleFunc("/big.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", "5000")
		_, _ = w.Write(make([]byte, 5000))
	})
	mux.HandleFunc("/chunked.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		for range 10 {
			_, _ = w.Write(make([]byte, 500))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow.wav", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html>hello</html>")
	})
	mux.HandleFunc("/song", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write([]byte("ID3\x03\x00\x00\x00\x00\x00\x00"))
	})
	mux.HandleFunc("/song.mp3", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte{0xFF, 0xFB, 0x90, 0x00})
	})
	mux.HandleFunc("/notmp3.mp3", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain text"))
	})
	mux.HandleFunc("/song.ogg", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("OggS\x00\x02"))
	})
	mux.HandleFunc("/broken.wav", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(wav[:len(wav)-100])
	})
	mux.HandleFunc("/adpcm.wav", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write((&wavBuilder{}).chunk("fmt ", fmtChunk(0x0002, 1, 8000, 4)).chunk("data", make([]byte, 8)).bytes())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	e, _ := newTestEngine(t, func(o *Options) {
		o.Fetch.MaxBytes = 4096 + 44
		o.Fetch.Timeout = 300 * time.Millisecond
	})
	ctx := ctxTimeout(t, 20*time.Second)

	t.Run("ok and cached", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				src, err := e.Fetch(ctx, srv.URL+"/tone.wav?sig=abc")
				if err != nil {
					t.Error(err)
					return
				}
				pcm := readAll(t, src, 1e6)
				if len(pcm) != 800 {
					t.Errorf("got %d samples", len(pcm))
				}
			})
		}
		wg.Wait()
		_, err := e.Fetch(ctx, srv.URL+"/tone.wav?sig=abc")
		require.NoError(t, err)
		require.Equal(t, int64(1), hits.Load(), "one download for five requests")
		src, err := e.Fetch(ctx, srv.URL+"/octet")
		require.NoError(t, err, "a WAV body is played whatever its content type")
		require.InDelta(t, 1000, dominantFreq(readAll(t, src, 1e6)[200:600], 300, 3500, 5), 5)
	})

	tests := []struct {
		path    string
		status  int
		reason  string
		is      error
		message string
	}{
		{"/missing.wav", 404, "status", ErrFetch, "HTTP status 404 Not Found"},
		{"/big.wav", 200, "too_large", ErrTooLarge, "Content-Length 5000"},
		{"/chunked.wav", 200, "too_large", ErrTooLarge, "more than 4140 bytes"},
		{"/slow.wav", 0, "timeout", ErrFetch, "no complete response within 300ms"},
		{"/page", 200, "not_wav", ErrInvalidWAV, `neither a WAV nor an MP3 file (Content-Type "text/html; charset=utf-8")`},
		{"/song", 200, "bad_mp3", ErrInvalidMP3, "no MPEG audio frame header"},
		{"/song.mp3", 200, "bad_mp3", ErrInvalidMP3, "no complete MPEG audio frame"},
		{"/notmp3.mp3", 200, "bad_mp3", ErrInvalidMP3, "no MPEG audio frame header"},
		{"/song.ogg", 200, "unsupported", ErrUnsupportedAudio, "Ogg is not supported"},
		{"/broken.wav", 200, "bad_wav", ErrInvalidWAV, "truncated data chunk"},
		{"/adpcm.wav", 200, "unsupported", ErrUnsupportedAudio, "0x0002"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := testutil.ToFloat64(e.metrics.fetchErrors.WithLabelValues(tt.reason))
			_, err := e.Fetch(ctx, srv.URL+tt.path+"?token=secret")
			require.ErrorIs(t, err, ErrFetch)
			require.ErrorIs(t, err, tt.is)
			var fe *FetchError
			require.True(t, errors.As(err, &fe))
			require.Equal(t, tt.status, fe.Status)
			require.Equal(t, tt.reason, fe.Reason)
			require.Equal(t, srv.URL+tt.path, fe.URL, "query string redacted")
			require.NotContains(t, err.Error(), "secret")
			require.Contains(t, err.Error(), tt.message)
			require.Equal(t, before+1, testutil.ToFloat64(e.metrics.fetchErrors.WithLabelValues(tt.reason)))
		})
	}

	t.Run("network error", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		url := closed.URL
		closed.Close()
		_, err := e.Fetch(ctx, url+"/x.wav")
		var fe *FetchError
		require.True(t, errors.As(err, &fe))
		require.Equal(t, "network", fe.Reason)
	})

	for _, u := range []string{"ftp://example.com/a.wav", "/relative.wav", "http://", "file:///etc/passwd", "::"} {
		_, err := e.Fetch(ctx, u)
		require.ErrorIs(t, err, ErrInvalidURL, u)
	}
	require.Equal(t, 5.0, testutil.ToFloat64(e.metrics.fetchErrors.WithLabelValues("invalid_url")))
}

func TestCleanFileID(t *testing.T) {
	for in, want := range map[string]string{
		"a":           "a.wav",
		"a.wav":       "a.wav",
		"a.WAV":       "a.WAV",
		"a.mp3":       "a.mp3",
		"a.MP3":       "a.MP3",
		"dir/a.en":    "dir/a.en.wav",
		"./dir//a":    "dir/a.wav",
		"dir/./a.wav": "dir/a.wav",
	} {
		got, explicit, err := cleanFileID(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		require.Equal(t, got == path.Clean(in), explicit, in)
	}
	_, _, err := cleanFileID(strings.Repeat("a", 1025))
	require.ErrorIs(t, err, ErrInvalidFileID)
	_, _, err = cleanFileID(".")
	require.ErrorIs(t, err, ErrInvalidFileID)
	_, _, err = cleanFileID("x.ogg")
	require.ErrorIs(t, err, ErrUnsupportedAudio)
	require.ErrorContains(t, err, fmt.Sprintf("%q is Ogg", "x.ogg"))
}

func FuzzCleanFileID(f *testing.F) {
	for _, s := range []string{"greeting", "en/menu.wav", "../x", "/etc/passwd", "a/./b/../c", "x.mp3", "..", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name, _, err := cleanFileID(id)
		if err != nil {
			return
		}
		if !filepath.IsLocal(name) || strings.HasPrefix(name, "/") || strings.Contains(name, "\x00") {
			t.Fatalf("%q became %q, which is not local", id, name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if seg == ".." || seg == "" {
				t.Fatalf("%q became %q", id, name)
			}
		}
		if ext := strings.ToLower(path.Ext(name)); ext != ".wav" && ext != ".mp3" {
			t.Fatalf("%q became %q without .wav or .mp3", id, name)
		}
	})
}

// revalServer serves one resource whose body, validators, caching headers
// and failures a test changes as it goes, and records the conditional
// headers of each request.
type revalServer struct {
	mu      sync.Mutex
	body    []byte
	etag    string
	lastMod string
	headers map[string]string // extra reply headers
	status  int               // non-zero: fail with it
	hits    int
	inm     []string // If-None-Match of each request
	ims     []string // If-Modified-Since of each request
	ctype   string
}

func (s *revalServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	s.ims = append(s.ims, r.Header.Get("If-Modified-Since"))
	for k, v := range s.headers {
		w.Header().Set(k, v)
	}
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
	}
	if s.lastMod != "" {
		w.Header().Set("Last-Modified", s.lastMod)
	}
	if (s.etag != "" && r.Header.Get("If-None-Match") == s.etag) || (s.etag == "" && s.lastMod != "" && r.Header.Get("If-Modified-Since") == s.lastMod) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", s.ctype)
	_, _ = w.Write(s.body)
}

func (s *revalServer) set(f func(s *revalServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// last returns the request count and the conditional headers of the last
// request.
func (s *revalServer) last() (hits int, inm, ims string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hits == 0 {
		return 0, "", ""
	}
	return s.hits, s.inm[len(s.inm)-1], s.ims[len(s.ims)-1]
}

// testClock is the engine's clock in tests.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fetchPCM fetches u and returns the shared samples (not a copy).
func fetchPCM(t *testing.T, e *Engine, u string) []int16 {
	t.Helper()
	src, err := e.Fetch(context.Background(), u)
	require.NoError(t, err)
	return src.(*pcmSource).pcm
}

func TestFetchRevalidation(t *testing.T) {
	toneA := toneWAV(WAVFormatPCM, 1, 8000, 16, 100) // 1 kHz
	toneB := EncodeWAV(sine(800, 600, 8000, 8000), 8000)
	const lastMod = "Mon, 02 Jan 2006 15:04:05 GMT"
	rs := &revalServer{body: toneA, etag: `"v1"`, lastMod: lastMod, ctype: "audio/wav", headers: map[string]string{"Cache-Control": "max-age=30"}}
	srv := httptest.NewServer(rs)
	defer srv.Close()
	var logs safeBuffer
	clock := &testClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e, _ := newTestEngine(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	e.now = clock.Now
	reval := func(result string) float64 {
		return testutil.ToFloat64(e.metrics.fetchRevalidations.WithLabelValues(result))
	}
	u := srv.URL + "/prompt.wav?sig=1"

	first := fetchPCM(t, e, u)
	require.InDelta(t, 1000, dominantFreq(first[200:600], 300, 3500, 5), 5)
	hits, inm, ims := rs.last()
	require.Equal(t, 1, hits)
	require.Empty(t, inm, "a first download is unconditional")
	require.Empty(t, ims)

	// Fresh for max-age: no request.
	clock.Add(29 * time.Second)
	require.Same(t, &first[0], &fetchPCM(t, e, u)[0])
	hits, _, _ = rs.last()
	require.Equal(t, 1, hits)

	// Stale: revalidated with both validators; 304 keeps the decoded audio.
	clock.Add(2 * time.Second)
	require.Same(t, &first[0], &fetchPCM(t, e, u)[0], "304 keeps the samples, no decoding")
	hits, inm, ims = rs.last()
	require.Equal(t, 2, hits)
	require.Equal(t, `"v1"`, inm)
	require.Equal(t, lastMod, ims)
	require.Equal(t, 1.0, reval(revalNotModified))
	// ... and fresh again for the lifetime of the 304.
	clock.Add(20 * time.Second)
	fetchPCM(t, e, u)
	hits, _, _ = rs.last()
	require.Equal(t, 2, hits)

	// Changed on the server: 200 replaces the audio.
	rs.set(func(s *revalServer) { s.body, s.etag = toneB, `"v2"` })
	clock.Add(11 * time.Second)
	second := fetchPCM(t, e, u)
	require.InDelta(t, 600, dominantFreq(second[200:600], 300, 3500, 5), 5)
	hits, inm, _ = rs.last()
	require.Equal(t, 3, hits)
	require.Equal(t, `"v1"`, inm)
	require.Equal(t, 1.0, reval(revalModified))

	// Server trouble: the stale copy plays, with a warning, and the server
	// is left alone for the default freshness.
	rs.set(func(s *revalServer) { s.status = http.StatusServiceUnavailable })
	clock.Add(31 * time.Second)
	require.Same(t, &second[0], &fetchPCM(t, e, u)[0])
	require.Equal(t, 1.0, reval(revalStale))
	require.Contains(t, logs.String(), `level=WARN msg="audio URL revalidation failed; playing the cached copy" url=`+srv.URL+`/prompt.wav err=`)
	require.NotContains(t, logs.String(), "sig=1")
	clock.Add(DefaultFetchFreshness - time.Second)
	fetchPCM(t, e, u)
	hits, _, _ = rs.last()
	require.Equal(t, 4, hits)

	// Gone (4xx): an error, and the copy is dropped.
	rs.set(func(s *revalServer) { s.status = http.StatusNotFound })
	clock.Add(2 * time.Second)
	_, err := e.Fetch(context.Background(), u)
	require.ErrorIs(t, err, ErrFetch)
	require.ErrorContains(t, err, "HTTP status 404")
	require.Equal(t, 1.0, reval(revalFailed))
	rs.set(func(s *revalServer) { s.status = 0 })
	fetchPCM(t, e, u)
	hits, inm, _ = rs.last()
	require.Equal(t, 6, hits)
	require.Empty(t, inm, "the dropped copy is downloaded anew")

	// Concurrent uses of a stale copy revalidate once.
	clock.Add(31 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { fetchPCM(t, e, u) })
	}
	wg.Wait()
	hits, _, _ = rs.last()
	require.Equal(t, 7, hits)
}

func TestFetchCacheControl(t *testing.T) {
	wav := toneWAV(WAVFormatPCM, 1, 8000, 16, 100)
	clock := &testClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	tests := []struct {
		name     string
		headers  map[string]string
		etag     string
		freshFor time.Duration // 0: revalidated on every use
		stored   bool
	}{
		{"no headers: default freshness", nil, `"x"`, DefaultFetchFreshness, true},
		{"max-age", map[string]string{"Cache-Control": "public, max-age=300"}, `"x"`, 300 * time.Second, true},
		{"max-age less Age", map[string]string{"Cache-Control": "max-age=300", "Age": "100"}, `"x"`, 200 * time.Second, true},
		{"s-maxage wins", map[string]string{"Cache-Control": "max-age=300, s-maxage=20"}, `"x"`, 20 * time.Second, true},
		{"quoted max-age", map[string]string{"Cache-Control": `max-age="90"`}, `"x"`, 90 * time.Second, true},
		{"Expires against Date", map[string]string{"Date": "Tue, 01 Jan 2030 11:00:00 GMT", "Expires": "Tue, 01 Jan 2030 11:02:00 GMT"}, `"x"`, 120 * time.Second, true},
		{"bad Expires", map[string]string{"Expires": "0"}, `"x"`, 0, true},
		{"max-age over Expires", map[string]string{"Cache-Control": "max-age=10", "Expires": "Tue, 01 Jan 2030 13:00:00 GMT"}, `"x"`, 10 * time.Second, true},
		{"no-cache", map[string]string{"Cache-Control": "no-cache"}, `"x"`, 0, true},
		{"Pragma no-cache", map[string]string{"Pragma": "no-cache"}, `"x"`, 0, true},
		{"no-store", map[string]string{"Cache-Control": "max-age=60, no-store"}, `"x"`, 0, false},
		{"no validators", map[string]string{"Cache-Control": "max-age=5"}, "", 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &revalServer{body: wav, etag: tt.etag, ctype: "audio/wav", headers: tt.headers}
			srv := httptest.NewServer(rs)
			defer srv.Close()
			e, _ := newTestEngine(t, nil)
			e.now = clock.Now
			fetchPCM(t, e, srv.URL+"/a.wav")
			if tt.freshFor > 0 {
				clock.Add(tt.freshFor - time.Second)
				fetchPCM(t, e, srv.URL+"/a.wav")
				hits, _, _ := rs.last()
				require.Equal(t, 1, hits, "fresh just before %v", tt.freshFor)
				clock.Add(2 * time.Second)
			}
			fetchPCM(t, e, srv.URL+"/a.wav")
			hits, inm, _ := rs.last()
			require.Equal(t, 2, hits, "stale after %v", tt.freshFor)
			if tt.stored && tt.etag != "" {
				require.Equal(t, tt.etag, inm, "revalidated")
			} else {
				require.Empty(t, inm, "downloaded again")
			}
			entries, _ := e.CacheStats()
			require.Equal(t, map[bool]int{true: 1, false: 0}[tt.stored], entries)
		})
	}
}

// must-revalidate forbids playing a stale copy when the server fails, and a
// server that went away is like one that fails.
func TestFetchStaleOnError(t *testing.T) {
	wav := toneWAV(WAVFormatPCM, 1, 8000, 16, 100)
	clock := &testClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	for _, tt := range []struct {
		cc        string
		down      func(rs *revalServer, srv *httptest.Server)
		wantStale bool
	}{
		{"max-age=10", func(_ *revalServer, srv *httptest.Server) { srv.Close() }, true},
		{"max-age=10", func(rs *revalServer, _ *httptest.Server) { rs.set(func(s *revalServer) { s.status = 502 }) }, true},
		{"max-age=10, must-revalidate", func(rs *revalServer, _ *httptest.Server) { rs.set(func(s *revalServer) { s.status = 502 }) }, false},
		{"max-age=10, must-revalidate", func(_ *revalServer, srv *httptest.Server) { srv.Close() }, false},
	} {
		rs := &revalServer{body: wav, etag: `"e"`, ctype: "audio/wav", headers: map[string]string{"Cache-Control": tt.cc}}
		srv := httptest.NewServer(rs)
		e, _ := newTestEngine(t, nil)
		e.now = clock.Now
		want := fetchPCM(t, e, srv.URL+"/a.wav")
		tt.down(rs, srv)
		clock.Add(11 * time.Second)
		src, err := e.Fetch(context.Background(), srv.URL+"/a.wav")
		if tt.wantStale {
			require.NoError(t, err, tt.cc)
			require.Same(t, &want[0], &src.(*pcmSource).pcm[0])
			require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.fetchRevalidations.WithLabelValues(revalStale)))
		} else {
			require.ErrorIs(t, err, ErrFetch, tt.cc)
			require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.fetchRevalidations.WithLabelValues(revalFailed)))
			entries, _ := e.CacheStats()
			require.Equal(t, 1, entries, "kept for when the server is back")
		}
		srv.Close()
	}
}

// Fetch plays MP3 by Content-Type, extension or bytes, and WAV whatever
// the Content-Type says.
func TestFetchMP3(t *testing.T) {
	mp3 := readFixture(t, "tones_600_1500_stereo_48k.mp3")
	mux := http.NewServeMux()
	mux.HandleFunc("/typed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(mp3)
	})
	mux.HandleFunc("/untyped", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(mp3)
	})
	mux.HandleFunc("/tagged.mp3", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(append(id3v2(100), mp3...))
	})
	mux.HandleFunc("/wav-said-mpeg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(toneWAV(WAVFormatPCM, 1, 8000, 16, 100))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e, _ := newTestEngine(t, nil)
	for _, p := range []string{"/typed", "/untyped", "/tagged.mp3"} {
		pcm := fetchPCM(t, e, srv.URL+p)
		mid := pcm[2000:6000]
		require.InDelta(t, SampleRate, len(pcm), SampleRate/10, p)
		require.Greater(t, goertzel(mid, 600, SampleRate), 100*goertzel(mid, 1000, SampleRate), p)
		require.Greater(t, goertzel(mid, 1500, SampleRate), 100*goertzel(mid, 1000, SampleRate), p)
	}
	pcm := fetchPCM(t, e, srv.URL+"/wav-said-mpeg")
	require.Len(t, pcm, 800)
	// Decoded MP3 audio is bounded by MaxBytes samples (a 128 kbit/s file
	// always fits; a low bit rate would not).
	small, _ := newTestEngine(t, func(o *Options) { o.Fetch.MaxBytes = 5000 })
	_, err := small.decodeAudio(mp3, "audio/mpeg", "")
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "longer than 5000 samples")
}

// safeBuffer is a bytes.Buffer for concurrent log writes.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func BenchmarkFetchCacheHit(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(toneWAV(WAVFormatPCM, 1, 8000, 16, 1000))
	}))
	defer srv.Close()
	e, _ := newTestEngine(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Fetch(ctx, srv.URL+"/a.wav"); err != nil {
			b.Fatal(err)
		}
	}
}
