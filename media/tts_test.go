package media

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func requireEspeak(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Skip("espeak-ng is not installed")
	}
	return p
}

func TestEspeakVoice(t *testing.T) {
	tests := []struct {
		in    string
		voice string
		known bool
	}{
		{"", "en-us", true},
		{"en-US", "en-us", true},
		{"en-us", "en-us", true},
		{"en_US", "en-us", true},
		{"en-GB", "en-gb", true},
		{"sv-SE", "sv", true},
		{"de-DE", "de", true},
		{"fr-FR", "fr-fr", true},
		{"fr-CA", "fr-fr", true},
		{"es-ES", "es", true},
		{"es-MX", "es-419", true},
		{"pt-BR", "pt-br", true},
		{"nb-NO", "nb", true},
		{"cmn-CN", "cmn", true},
		{"zh-HK", "yue", true},
		{"arb", "ar", true},
		{"en-US/female", "en-us+f3", true},
		{"en-US/male", "en-us+m3", true},
		{"sv-SE/female", "sv+f3", true},
		{"Joanna", "en-us+f3", true},
		{"joanna", "en-us+f3", true},
		{"Kimberly", "en-us+f3", true},
		{"Matthew", "en-us+m3", true},
		{"Justin", "en-us+m3", true},
		{"Amy", "en-gb+f3", true},
		{"Brian", "en-gb+m3", true},
		{"Astrid", "sv+f3", true},
		{"Hans", "de+m3", true},
		{"Céline", "fr-fr+f3", true},
		{"Mia", "es-419+f3", true},
		{"Vitória", "pt-br+f3", true},
		{"Takumi", "ja+m3", true},
		{"Zhiyu", "cmn+f3", true},
		{"it-CH", "it", true},
		{"xx-YY", "en-us", false},
		{"Klingon/female", "en-us+f3", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, known := EspeakVoice(tt.in)
			require.Equal(t, tt.voice, v)
			require.Equal(t, tt.known, known)
		})
	}
}

// Every voice of the mapping tables must exist in the installed espeak-ng.
func TestEspeakVoicesExist(t *testing.T) {
	bin := requireEspeak(t)
	out, err := exec.Command(bin, "--voices").Output()
	require.NoError(t, err)
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 {
			have[f[1]] = true
		}
	}
	for _, m := range []map[string]string{espeakByLocale, espeakByLanguage} {
		for k, v := range m {
			require.True(t, have[v], "%s maps to %s, which espeak-ng lacks", k, v)
		}
	}
	for name, v := range pollyVoices {
		_, ok := espeakByLocale[v.locale]
		require.True(t, ok, "voice %s has unknown locale %s", name, v.locale)
	}
}

func TestTTSSynthesizesAndCaches(t *testing.T) {
	requireEspeak(t)
	e, reg := newTestEngine(t, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	src, err := e.TTS(ctx, "Hello, this is callcore.", "en-US", false)
	require.NoError(t, err)
	pcm := readAll(t, src, 1e7)
	require.Greater(t, len(pcm), SampleRate/2, "more than half a second of speech")
	require.Greater(t, rms(pcm), 500.0)
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.ttsCache.WithLabelValues("miss")))

	src2, err := e.TTS(ctx, "Hello, this is callcore.", "en-US", false)
	require.NoError(t, err)
	require.Equal(t, pcm, readAll(t, src2, 1e7))
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.ttsCache.WithLabelValues("hit")))

	// Another voice is another entry.
	src3, err := e.TTS(ctx, "Hello, this is callcore.", "Joanna", false)
	require.NoError(t, err)
	require.NotEqual(t, pcm, readAll(t, src3, 1e7))
	entries, bytes := e.CacheStats()
	require.Equal(t, 2, entries)
	require.Greater(t, bytes, int64(2*len(pcm)))

	// SSML: a 1 s break makes the prompt about one second longer.
	plain, err := e.TTS(ctx, "one two", "en-US", false)
	require.NoError(t, err)
	ssml, err := e.TTS(ctx, `<speak>one <break time="1s"/> two</speak>`, "en-US", true)
	require.NoError(t, err)
	dp, ds := len(readAll(t, plain, 1e7)), len(readAll(t, ssml, 1e7))
	require.InDelta(t, SampleRate, ds-dp, SampleRate/3)

	n, err := testutil.GatherAndCount(reg, "callcore_media_tts_synthesis_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestTTSErrors(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.TTS.MaxChars = 20 })
	ctx := context.Background()
	_, err := e.TTS(ctx, "  \n", "en-US", false)
	require.ErrorIs(t, err, ErrEmptyText)
	_, err = e.TTS(ctx, strings.Repeat("é", 21), "en-US", false)
	require.ErrorIs(t, err, ErrTextTooLong)
	require.ErrorContains(t, err, "21 characters, limit 20")

	missing, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = "/nonexistent/espeak-ng" })
	_, err = missing.TTS(ctx, "hello", "en-US", false)
	require.ErrorIs(t, err, ErrTTSUnavailable)
	require.ErrorContains(t, err, "/nonexistent/espeak-ng")
	notInPath, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = "espeak-ng-not-installed-here" })
	_, err = notInPath.TTS(ctx, "hello", "en-US", false)
	require.ErrorIs(t, err, ErrTTSUnavailable)

	dir := t.TempDir()
	slow := filepath.Join(dir, "slow-tts")
	require.NoError(t, os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 10\n"), 0o755))
	slowE, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = slow; o.TTS.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err = slowE.TTS(ctx, "hello", "en-US", false)
	require.ErrorIs(t, err, ErrTTSFailed)
	require.ErrorContains(t, err, "did not finish within 200ms")
	require.Less(t, time.Since(start), 3*time.Second)

	failing := filepath.Join(dir, "failing-tts")
	require.NoError(t, os.WriteFile(failing, []byte("#!/bin/sh\necho 'voice not found' >&2\nexit 3\n"), 0o755))
	failE, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = failing })
	_, err = failE.TTS(ctx, "hello", "en-US", false)
	require.ErrorIs(t, err, ErrTTSFailed)
	require.ErrorContains(t, err, "voice not found")

	garbage := filepath.Join(dir, "garbage-tts")
	require.NoError(t, os.WriteFile(garbage, []byte("#!/bin/sh\necho not a wav\n"), 0o755))
	garbageE, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = garbage })
	_, err = garbageE.TTS(ctx, "hello", "en-US", false)
	require.ErrorIs(t, err, ErrTTSFailed)
	require.ErrorIs(t, err, ErrInvalidWAV)
}

// Concurrent requests for one prompt run espeak-ng once.
func TestTTSSingleFlight(t *testing.T) {
	bin := requireEspeak(t)
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	wrapper := filepath.Join(dir, "espeak-counting")
	script := fmt.Sprintf("#!/bin/sh\necho x >> %q\nsleep 0.2\nexec %q \"$@\"\n", counter, bin)
	require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o755))
	e, _ := newTestEngine(t, func(o *Options) { o.TTS.Binary = wrapper })
	ctx := ctxTimeout(t, 30*time.Second)

	var wg sync.WaitGroup
	lens := make([]int, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() {
			src, err := e.TTS(ctx, "Please hold.", "en-GB", false)
			errs[i] = err
			if err == nil {
				lens[i] = len(src.(*pcmSource).pcm)
			}
		})
	}
	wg.Wait()
	for i := range 8 {
		require.NoError(t, errs[i])
		require.Equal(t, lens[0], lens[i])
	}
	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	require.Equal(t, "x\n", string(data), "espeak-ng ran once")

	// A caller that gives up does not fail the synthesis for the others.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := e.TTS(cctx, "Another prompt.", "en-GB", false)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	_, err = e.TTS(ctx, "Another prompt.", "en-GB", false)
	require.NoError(t, err)
}

func TestCacheEvictsByBudget(t *testing.T) {
	c := newAudioCache(3 * (2*1000 + entryOverhead + 1))
	ctx := context.Background()
	loads := 0
	load := func(context.Context) ([]int16, error) { loads++; return make([]int16, 1000), nil }
	for _, k := range []string{"a", "b", "c", "a", "d"} { // d evicts b, the least recently used
		_, _, err := c.get(ctx, k, load)
		require.NoError(t, err)
	}
	require.Equal(t, 4, loads)
	_, hit, _ := c.get(ctx, "a", load)
	require.True(t, hit)
	_, hit, _ = c.get(ctx, "b", load)
	require.False(t, hit, "b was evicted")
	n, used := c.stats()
	require.Equal(t, 3, n)
	require.LessOrEqual(t, used, c.budget)
	// An entry over the whole budget is returned but not kept.
	pcm, _, err := c.get(ctx, "huge", func(context.Context) ([]int16, error) { return make([]int16, 1e5), nil })
	require.NoError(t, err)
	require.Len(t, pcm, 1e5)
	_, hit, _ = c.get(ctx, "huge", func(context.Context) ([]int16, error) { return nil, fmt.Errorf("boom") })
	require.False(t, hit)
}

// A TTS prompt played over RTP arrives as G.711 whose energy envelope
// matches the synthesized speech, after the leading silence.
func TestPlayTTSOverRTP(t *testing.T) {
	requireEspeak(t)
	e, _ := newTestEngine(t, nil)
	a, b := pair(t, e, e)
	rec := record(b)
	ctx := ctxTimeout(t, 30*time.Second)
	src, err := e.TTS(ctx, "Welcome to callcore. Your call is important to us.", "en-US", false)
	require.NoError(t, err)
	speech := readAll(t, src, 1e7)
	src, err = e.TTS(ctx, "Welcome to callcore. Your call is important to us.", "en-US", false) // cache hit
	require.NoError(t, err)

	const lead = 300 * time.Millisecond
	require.NoError(t, a.Play(ctx, Concat(Silence(lead), src)))
	frames := (samplesFor(lead) + len(speech) + FrameSamples - 1) / FrameSamples
	pk := rec.waitFor(t, 3*time.Second, func(p []rxPacket) bool { return len(p) >= frames })
	got := audioByTimestamp(pk)
	require.Len(t, got, frames*FrameSamples)

	skip := samplesFor(lead)
	require.Less(t, rms(got[:skip]), 20.0, "silence before the prompt")
	recvSpeech := got[skip : skip+len(speech)]
	require.Greater(t, rms(recvSpeech), 500.0, "speech energy where the prompt is")

	// Frame energy envelopes of sent and received speech correlate.
	env := func(x []int16) []float64 {
		var out []float64
		for off := 0; off+FrameSamples <= len(x); off += FrameSamples {
			out = append(out, rms(x[off:off+FrameSamples]))
		}
		return out
	}
	require.Greater(t, correlation(env(speech), env(recvSpeech)), 0.99)
}

func correlation(a, b []float64) float64 {
	n := min(len(a), len(b))
	var ma, mb float64
	for i := range n {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(n)
	mb /= float64(n)
	var sab, saa, sbb float64
	for i := range n {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func BenchmarkTTSCacheHit(b *testing.B) {
	requireEspeak(b)
	e, _ := newTestEngine(b, nil)
	ctx := context.Background()
	_, err := e.TTS(ctx, "Thank you for calling.", "en-US", false)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.TTS(ctx, "Thank you for calling.", "en-US", false); err != nil {
			b.Fatal(err)
		}
	}
}
