package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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
	require.NoError(t, writeFile(dir, "big.wav", make([]byte, 4096)))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "folder.wav"), 0o755))
	outside := t.TempDir()
	require.NoError(t, writeFile(outside, "secret.wav", wav))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.wav"), filepath.Join(dir, "link.wav")))

	e, _ := newTestEngine(t, func(o *Options) { o.FilesDir = dir; o.Fetch.MaxBytes = 2000 })
	ctx := context.Background()
	for _, id := range []string{"greeting", "greeting.wav", "en/menu.WAV", "./greeting", "en/./menu.WAV"} {
		src, err := e.File(ctx, id)
		require.NoError(t, err, id)
		require.Len(t, readAll(t, src, 1e6), 800, id)
	}
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
		{"song.mp3", ErrUnsupportedAudio},
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
	_, err := noDir.File(ctx, "greeting")
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
		{"/page", 200, "not_wav", ErrInvalidWAV, `not a WAV file (Content-Type "text/html; charset=utf-8")`},
		{"/song", 200, "unsupported", ErrUnsupportedAudio, "mp3 is not supported"},
		{"/song.mp3", 200, "unsupported", ErrUnsupportedAudio, "mp3 is not supported"},
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
		"dir/a.en":    "dir/a.en.wav",
		"./dir//a":    "dir/a.wav",
		"dir/./a.wav": "dir/a.wav",
	} {
		got, err := cleanFileID(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := cleanFileID(strings.Repeat("a", 1025))
	require.ErrorIs(t, err, ErrInvalidFileID)
	_, err = cleanFileID(".")
	require.ErrorIs(t, err, ErrInvalidFileID)
	_, err = cleanFileID("x.ogg")
	require.ErrorIs(t, err, ErrUnsupportedAudio)
	require.ErrorContains(t, err, fmt.Sprintf("%q is Ogg", "x.ogg"))
}

func FuzzCleanFileID(f *testing.F) {
	for _, s := range []string{"greeting", "en/menu.wav", "../x", "/etc/passwd", "a/./b/../c", "x.mp3", "..", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name, err := cleanFileID(id)
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
		if !strings.HasSuffix(strings.ToLower(name), ".wav") {
			t.Fatalf("%q became %q without .wav", id, name)
		}
	})
}
