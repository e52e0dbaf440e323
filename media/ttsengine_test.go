package media

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeSynth returns a tone at rate and records the requests.
type fakeSynth struct {
	mu   sync.Mutex
	reqs []SynthesisRequest
	rate int
	freq float64
	err  error
}

func (f *fakeSynth) Synthesize(_ context.Context, req SynthesisRequest) ([]int16, int, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, 0, f.err
	}
	return sine(f.rate/2, f.freq, f.rate, 8000), f.rate, nil
}

func (f *fakeSynth) requests() []SynthesisRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SynthesisRequest(nil), f.reqs...)
}

func TestTTSCustomEngine(t *testing.T) {
	fs := &fakeSynth{rate: 16000, freq: 700}
	e, _ := newTestEngine(t, func(o *Options) { o.TTS.Engine = fs })
	ctx := context.Background()
	src, err := e.TTS(ctx, "Hello", "Joanna", false)
	require.NoError(t, err)
	pcm := readAll(t, src, 1e6)
	require.Len(t, pcm, SampleRate/2, "resampled from 16 kHz")
	require.InDelta(t, 700, dominantFreq(pcm, 300, 3500, 5), 5)

	_, err = e.TTS(ctx, `Hi <break time="1s"/>`, "sv-se/FEMALE", true)
	require.NoError(t, err)
	_, err = e.TTS(ctx, "Default", "", false)
	require.NoError(t, err)
	require.Equal(t, []SynthesisRequest{
		{Text: "Hello", Locale: "Joanna"},
		{Text: `<speak>Hi <break time="1s"/></speak>`, SSML: true, Locale: "sv-se/FEMALE"},
		{Text: "Default", Locale: "en-US"},
	}, fs.requests(), "locale as given, SSML normalized")

	// Cached by canonical locale: the case of the locale does not matter.
	_, err = e.TTS(ctx, "Hello", "joanna", false)
	require.NoError(t, err)
	require.Len(t, fs.requests(), 3)

	// The locale is checked whatever the engine.
	_, err = e.TTS(ctx, "Hello", "xx-YY", false)
	require.ErrorIs(t, err, ErrUnknownLocale)
	require.EqualError(t, err, `media: unknown TTS locale "xx-YY" (known: see media.Locales)`)
	_, err = e.TTS(ctx, "<speak>Hello", "en-US", true)
	require.ErrorIs(t, err, ErrInvalidSSML)
	require.Len(t, fs.requests(), 3, "bad requests never reach the engine")

	// Errors and bad audio from the engine.
	fs.err = errors.New("boom")
	_, err = e.TTS(ctx, "fails", "en-US", false)
	require.EqualError(t, err, "boom")
	fs.err, fs.rate = nil, 500
	_, err = e.TTS(ctx, "low rate", "en-US", false)
	require.ErrorIs(t, err, ErrTTSFailed)
	require.ErrorContains(t, err, "500 Hz")
}

// The engine's identity is part of the cache key: a prompt cached for one
// engine is synthesized again by another.
func TestTTSCacheKeyHasEngine(t *testing.T) {
	a := &fakeSynth{rate: 8000, freq: 500}
	b := &fakeSynth{rate: 8000, freq: 900}
	e, _ := newTestEngine(t, func(o *Options) { o.TTS.Engine = a })
	ctx := context.Background()
	_, err := e.TTS(ctx, "Hello", "en-US", false)
	require.NoError(t, err)
	e.synth, e.synthID = b, "other engine"
	src, err := e.TTS(ctx, "Hello", "en-US", false)
	require.NoError(t, err)
	require.InDelta(t, 900, dominantFreq(readAll(t, src, 1e6), 300, 3500, 5), 5)
	require.Len(t, b.requests(), 1)

	es1, err := NewEspeak(EspeakOptions{})
	require.NoError(t, err)
	es2, err := NewEspeak(EspeakOptions{WordsPerMinute: 120})
	require.NoError(t, err)
	h1, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: "http://tts.example/a", Header: http.Header{"Authorization": {"Bearer one"}}})
	require.NoError(t, err)
	h2, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: "http://tts.example/a", Header: http.Header{"Authorization": {"Bearer two"}}})
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, s := range []Synthesizer{es1, es2, h1, h2, a} {
		ids[synthIdentity(s)] = true
	}
	require.Len(t, ids, 5)
	require.NotContains(t, synthIdentity(h1), "Bearer", "credentials stay out of cache keys")
	require.Equal(t, "*media.fakeSynth", synthIdentity(a))
}

// ttsServer is a fake TTS service.
type ttsServer struct {
	*httptest.Server
	hits    atomic.Int64
	lastReq atomic.Pointer[httpSynthesisBody]
	lastHdr atomic.Pointer[http.Header]
}

func newTTSServer(t *testing.T, release chan struct{}) *ttsServer {
	t.Helper()
	s := &ttsServer{}
	wav := EncodeWAV(sine(11025/2, 1000, 11025, 12000), 11025)
	mp3 := readFixture(t, "tone1k_mono_44k.mp3")
	mux := http.NewServeMux()
	handle := func(path string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s.hits.Add(1)
			var body httpSynthesisBody
			if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
				s.lastReq.Store(&body)
			}
			hdr := r.Header.Clone()
			s.lastHdr.Store(&hdr)
			h(w, r)
		})
	}
	handle("/wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(wav)
	})
	handle("/mp3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(mp3)
	})
	handle("/mp3-octets", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(mp3)
	})
	handle("/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "voice model not loaded", http.StatusInternalServerError)
	})
	handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	handle("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write(make([]byte, 100000))
	})
	handle("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 20 {
			_, _ = w.Write(make([]byte, 5000))
			w.(http.Flusher).Flush()
		}
	})
	handle("/garbage", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	})
	handle("/bad-mp3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = io.WriteString(w, "not really mp3")
	})
	handle("/bad-wav", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(wav[:30])
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestHTTPSynthesizer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newTTSServer(t, release)
	newSynth := func(path string) *HTTPSynthesizer {
		s, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{
			URL:      srv.URL + path + "?key=s3cret",
			Header:   http.Header{"Authorization": {"Bearer tok"}, "X-Voice": {"neural"}},
			Timeout:  300 * time.Millisecond,
			MaxBytes: 50000,
		})
		require.NoError(t, err)
		return s
	}
	ctx := ctxTimeout(t, 20*time.Second)

	t.Run("wav", func(t *testing.T) {
		pcm, rate, err := newSynth("/wav").Synthesize(ctx, SynthesisRequest{Text: "Hi", Locale: "en-US/female"})
		require.NoError(t, err)
		require.Equal(t, 11025, rate)
		require.Len(t, pcm, 11025/2)
		require.Equal(t, &httpSynthesisBody{Text: "Hi", SSML: false, Locale: "en-US/female"}, srv.lastReq.Load())
		hdr := *srv.lastHdr.Load()
		require.Equal(t, "Bearer tok", hdr.Get("Authorization"))
		require.Equal(t, "neural", hdr.Get("X-Voice"))
		require.Equal(t, "application/json", hdr.Get("Content-Type"))
		require.Equal(t, "audio/wav, audio/mpeg", hdr.Get("Accept"))
	})
	for _, path := range []string{"/mp3", "/mp3-octets"} {
		t.Run(path, func(t *testing.T) {
			pcm, rate, err := newSynth(path).Synthesize(ctx, SynthesisRequest{Text: "<speak>Hi</speak>", SSML: true, Locale: "Joanna"})
			require.NoError(t, err)
			require.Equal(t, SampleRate, rate)
			require.InDelta(t, SampleRate, len(pcm), SampleRate/10)
			require.InDelta(t, 1000, dominantFreq(pcm[2000:6000], 300, 3500, 5), 5)
			require.Equal(t, &httpSynthesisBody{Text: "<speak>Hi</speak>", SSML: true, Locale: "Joanna"}, srv.lastReq.Load())
		})
	}

	tests := []struct {
		path string
		is   []error
		msg  string
	}{
		{"/500", []error{ErrTTSFailed}, "HTTP status 500 Internal Server Error: voice model not loaded"},
		{"/slow", []error{ErrTTSFailed}, "no complete reply within 300ms"},
		{"/big", []error{ErrTTSFailed, ErrTooLarge}, "Content-Length 100000, limit 50000"},
		{"/big-chunked", []error{ErrTTSFailed, ErrTooLarge}, "reply of more than 50000 bytes"},
		{"/garbage", []error{ErrTTSFailed, ErrUnsupportedAudio}, `reply is neither WAV nor MP3 (Content-Type "text/html", 18 bytes starting "<html>lo")`},
		{"/bad-mp3", []error{ErrTTSFailed, ErrInvalidMP3}, "no MPEG audio frame header"},
		{"/bad-wav", []error{ErrTTSFailed, ErrInvalidWAV}, "truncated"},
		{"/missing", []error{ErrTTSFailed}, "HTTP status 404 Not Found: 404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, _, err := newSynth(tt.path).Synthesize(ctx, SynthesisRequest{Text: "Hi", Locale: "en-US"})
			for _, is := range tt.is {
				require.ErrorIs(t, err, is)
			}
			require.ErrorContains(t, err, tt.msg)
			require.ErrorContains(t, err, "TTS service "+srv.URL+tt.path+":")
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		s, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: closed.URL + "/tts?key=s3cret"})
		require.NoError(t, err)
		_, _, err = s.Synthesize(ctx, SynthesisRequest{Text: "Hi", Locale: "en-US"})
		require.ErrorIs(t, err, ErrTTSUnavailable)
		require.ErrorContains(t, err, "cannot reach TTS service "+closed.URL+"/tts")
		require.NotContains(t, err.Error(), "s3cret")
	})
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://"} {
		_, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: u})
		require.Error(t, err, u)
	}
}

// Through the engine: the HTTP engine's audio is cached and resampled.
func TestTTSWithHTTPEngine(t *testing.T) {
	srv := newTTSServer(t, nil)
	s, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: srv.URL + "/wav"})
	require.NoError(t, err)
	e, _ := newTestEngine(t, func(o *Options) { o.TTS.Engine = s })
	ctx := ctxTimeout(t, 10*time.Second)
	for range 3 {
		src, err := e.TTS(ctx, "Welcome", "en-GB", false)
		require.NoError(t, err)
		pcm := readAll(t, src, 1e6)
		require.Len(t, pcm, SampleRate/2)
		require.InDelta(t, 1000, dominantFreq(pcm, 300, 3500, 5), 5)
	}
	require.Equal(t, int64(1), srv.hits.Load())
	_, err = e.TTS(ctx, strings.Repeat("x", 5000), "en-GB", false)
	require.ErrorIs(t, err, ErrTextTooLong)
}

func BenchmarkTTSHTTPEngineMiss(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(EncodeWAV(sine(22050, 440, 22050, 8000), 22050))
	}))
	defer srv.Close()
	s, err := NewHTTPSynthesizer(HTTPSynthesizerOptions{URL: srv.URL})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Synthesize(ctx, SynthesisRequest{Text: "one second", Locale: "en-US"}); err != nil {
			b.Fatal(err)
		}
	}
}
