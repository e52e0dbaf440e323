package media

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

func TestLookupLocale(t *testing.T) {
	tests := []struct {
		in     string
		locale string
		name   string
		gender Gender
		voice  string
	}{
		{"", "en-US", "", "", "en-us"},
		{"en-US", "en-US", "", "", "en-us"},
		{"en-us", "en-US", "", "", "en-us"},
		{" en_US ", "en-US", "", "", "en-us"},
		{"en-GB", "en-GB", "", "", "en-gb"},
		{"sv-SE", "sv-SE", "", "", "sv"},
		{"de-DE", "de-DE", "", "", "de"},
		{"fr-FR", "fr-FR", "", "", "fr-fr"},
		{"fr-CA", "fr-CA", "", "", "fr-fr"},
		{"es-ES", "es-ES", "", "", "es"},
		{"es-MX", "es-MX", "", "", "es-419"},
		{"pt-BR", "pt-BR", "", "", "pt-br"},
		{"nb-NO", "nb-NO", "", "", "nb"},
		{"cmn-CN", "cmn-CN", "", "", "cmn"},
		{"zh-HK", "zh-HK", "", "", "yue"},
		{"arb", "arb", "", "", "ar"},
		{"en-GB-WLS", "en-GB-WLS", "", "", "en-gb"},
		{"fil-PH", "fil-PH", "", "", "id"},
		{"uz-UZ/male", "uz-UZ", "", GenderMale, "uz+m3"},
		{"en-US/female", "en-US", "", GenderFemale, "en-us+f3"},
		{"en-US/male", "en-US", "", GenderMale, "en-us+m3"},
		{"sv-SE/female", "sv-SE", "", GenderFemale, "sv+f3"},
		{"sv-SE/male", "sv-SE", "", GenderMale, "sv+m3"},
		{"en-US/F", "en-US", "", GenderFemale, "en-us+f3"},
		{"Joanna", "en-US", "Joanna", GenderFemale, "en-us+f3"},
		{"joanna", "en-US", "Joanna", GenderFemale, "en-us+f3"},
		{"Kimberly", "en-US", "Kimberly", GenderFemale, "en-us+f3"},
		{"Matthew", "en-US", "Matthew", GenderMale, "en-us+m3"},
		{"Justin", "en-US", "Justin", GenderMale, "en-us+m3"},
		{"Amy", "en-GB", "Amy", GenderFemale, "en-gb+f3"},
		{"Brian", "en-GB", "Brian", GenderMale, "en-gb+m3"},
		{"Astrid", "sv-SE", "Astrid", GenderFemale, "sv+f3"},
		{"Hans", "de-DE", "Hans", GenderMale, "de+m3"},
		{"Céline", "fr-FR", "Céline", GenderFemale, "fr-fr+f3"},
		{"CÉLINE", "fr-FR", "Céline", GenderFemale, "fr-fr+f3"},
		{"Mia", "es-MX", "Mia", GenderFemale, "es-419+f3"},
		{"Vitória", "pt-BR", "Vitória", GenderFemale, "pt-br+f3"},
		{"Takumi", "ja-JP", "Takumi", GenderMale, "ja+m3"},
		{"Zhiyu", "cmn-CN", "Zhiyu", GenderFemale, "cmn+f3"},
		{"Aditi", "en-IN", "Aditi", GenderFemale, "en-gb-x-rp+f3"},
		{"Kalina", "bg-BG", "Kalina", GenderFemale, "bg+f3"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := LookupLocale(tt.in)
			require.NoError(t, err)
			require.Equal(t, TTSVoice{Locale: tt.locale, Name: tt.name, Gender: tt.gender, Espeak: tt.voice}, v)
			voice, known := EspeakVoice(tt.in)
			require.True(t, known)
			require.Equal(t, tt.voice, voice)
		})
	}
	for _, in := range []string{"xx-YY", "en", "it-CH", "en-XX", "Klingon/female", "en-US/robot", "Joanna/male", "/female", "en-US/", "en-US/female/x"} {
		_, err := LookupLocale(in)
		require.ErrorIs(t, err, ErrUnknownLocale, in)
		require.EqualError(t, err, fmt.Sprintf("media: unknown TTS locale %q (known: see media.Locales)", in))
		voice, known := EspeakVoice(in)
		require.False(t, known)
		require.Equal(t, DefaultVoice, voice)
	}
	_, err := LookupLocale(strings.Repeat("x", 500))
	require.Less(t, len(err.Error()), 150, "long values are cut in the message")
}

// sdkTtsVoice is the TtsVoice type of the Node SDK (@sinch/voice,
// packages/voice/src/models/v1/enums.ts), verbatim.
const sdkTtsVoice = `'arb' | 'arb/female' | 'Zeina'
  | 'az-AZ' | 'az-AZ/female' | 'az-AZ/male' |'Banu' | 'Babek'
  | 'ca-ES' | 'ca-ES/female' | 'Arlet'
  | 'zh-HK' | 'zh-HK/female' | 'zh-HK/male' | 'HiuGaai' | 'HiuMaan' | 'WanLung'
  | 'cmn-CN' | 'cmn-CN/female' | 'Zhiyu'
  | 'hr-HR' | 'hr-HR/female' | 'hr-HR/male' | 'Gabrijela' | 'Srecko'
  | 'cs-CZ' | 'cs-CZ/female' | 'cs-CZ/male' | 'Vlasta' | 'Antonin'
  | 'da-DK' | 'da-DK/female' | 'da-DK/male' | 'Naja' | 'Mads'
  | 'nl-NL' | 'nl-NL/female' | 'nl-NL/male' | 'Lotte' | 'Ruben'
  | 'en-AU' | 'en-AU/female' | 'en-AU/male' | 'Nicole' | 'Olivia' | 'Russell'
  | 'en-GB' | 'en-GB/female' | 'en-GB/male' | 'Amy' | 'Emma' | 'Brian' | 'Arthur'
  | 'en-IN' | 'en-IN/female' | 'Aditi' | 'Raveena' | 'Kajal'
  | 'en-NZ' | 'en-NZ/female' | 'Aria'
  | 'en-ZA' | 'en-ZA/female' | 'Ayanda'
  | 'en-US' | 'en-US/female' | 'en-US/male' | 'Ivy' | 'Joanna' | 'Kendra' | 'Kimberly'
            | 'Salli' | 'Joey' | 'Justin' | 'Kevin' | 'Matthew'
  | 'en-GB-WLS' | 'en-GB-WLS/male' | 'Geraint'
  | 'et-EE' | 'et-EE/female' | 'et-EE/male' | 'Anu' | 'Kert'
  | 'fil-PH' | 'fil-PH/female' | 'fil-PH/male' | 'Angelo' | 'Blessica'
  | 'fi-FI' | 'fi-FI/female' | 'Suvi'
  | 'fr-FR' | 'fr-FR/female' | 'fr-FR/male' | 'Céline' | 'Celine' | 'Léa' | 'Mathieu'
  | 'fr-CA' | 'fr-CA/female' | 'fr-CA/male' | 'Chantal' | 'Gabrielle' | 'Liam'
  | 'ka-GE' | 'ka-GE/female' | 'ka-GE/male' | 'Eka' | 'Giorgi'
  | 'de-DE' | 'de-DE/female' | 'de-DE/male' | 'Marlene' | 'Vicki' | 'Hans' | 'Daniel'
  | 'de-AT' | 'de-AT/female' | 'Hannah'
  | 'el-GR' | 'el-GR/female' | 'el-GR/male' | 'Athina' | 'Nestoras'
  | 'hi-IN' | 'hi-IN/female' | 'Aditi' | 'Kajal'
  | 'hu-HU' | 'hu-HU/female' | 'hu-HU/male' | 'Noemi' | 'Tamas'
  | 'is-IS' | 'is-IS/female' | 'is-IS/male' | 'Dóra' | 'Dora' | 'Karl'
  | 'id-ID' | 'id-ID/female' | 'id-ID/male' | 'Ardi' | 'Gadis'
  | 'it-IT' | 'it-IT/female' | 'it-IT/male' | 'Carla' | 'Bianca' | 'Giorgio'
  | 'ja-JP' | 'ja-JP/female' | 'ja-JP/male' | 'Mizuki' | 'Takumi'
  | 'ko-KR' | 'ko-KR/female' | 'Seoyeon'
  | 'mt-MT' | 'mt-MT/female' | 'mt-MT/male' | 'Grace' | 'Joseph'
  | 'ms-MY' | 'ms-MY/female' | 'ms-MY/male' | 'Osman' | 'Yasmin'
  | 'nb-NO' | 'nb-NO/female' | 'Liv'
  | 'lv-LV' | 'lv-LV/female' | 'lv-LV/male' | 'Everita' | 'Nils'
  | 'lt-LT' | 'lt-LT/female' | 'lt-LT/male' | 'Ona' | 'Leonas'
  | 'pl-PL' | 'pl-PL/female' | 'pl-PL/male' | 'Ewa' | 'Maja' | 'Jacek' | 'Jan'
  | 'pt-BR' | 'pt-BR/female' | 'pt-BR/male' | 'Camila' | 'Vitória' | 'Vitoria' | 'Ricardo'
  | 'pt-PT' | 'pt-PT/female' | 'pt-PT/male' | 'Inês' | 'Ines' | 'Cristiano'
  | 'ro-RO' | 'ro-RO/female' | 'Carmen'
  | 'ru-RU' | 'ru-RU/female' | 'ru-RU/male' | 'Tatyana' | 'Maxim'
  | 'es-ES' | 'es-ES/female' | 'es-ES/male' | 'Conchita' | 'Lucia' | 'Enrique'
  | 'es-MX' | 'es-MX/female' | 'Mia'
  | 'es-US' | 'es-US/female' | 'es-US/male' | 'Lupe' | 'Penélope' | 'Penelope' | 'Miguel' | 'Pedro'
  | 'sk-SK' | 'sk-SK/female' | 'sk-SK/male' | 'Viktoria' | 'Lukas'
  | 'sl-SI' | 'sl-SI/female' | 'sl-SI/male' | 'Petra' | 'Rok'
  | 'sv-SE' | 'sv-SE/female' | 'Astrid'
  | 'th-TH' | 'th-TH/female' | 'th-TH/male' | 'Achara' | 'Niwat' | 'Premwadee'
  | 'tr-TR' | 'tr-TR/male' | 'Filiz'
  | 'uk-UA' | 'uk-UA/female' | 'uk-UA/male' | 'Polina' | 'Ostap'
  | 'uz-UZ' | 'uz-UZ/female' | 'uz-UZ/male' | 'Madina' | 'Sardor'
  | 'vi-VN' | 'vi-VN/female' | 'vi-VN/male' | 'HoaiMy' | 'NamMinh'
  | 'cy-GB' | 'cy-GB/female' | 'Gwyneth'`

// Every value of the SDK's TtsVoice type resolves, and every voice name is
// listed under its locale.
func TestLocalesCoverSDK(t *testing.T) {
	values := strings.Split(sdkTtsVoice, "|")
	require.Greater(t, len(values), 250)
	locale := ""
	for _, raw := range values {
		v := strings.Trim(strings.TrimSpace(raw), "'")
		got, err := LookupLocale(v)
		require.NoError(t, err, v)
		if strings.Contains(v, "-") || v == "arb" || strings.HasPrefix(v, "arb/") {
			base, _, _ := strings.Cut(v, "/")
			require.Equal(t, base, got.Locale)
			locale = base
			continue
		}
		require.Equal(t, v, got.Name)
		// The name is listed under the locale it follows in the SDK (Aditi
		// and Kajal resolve to en-IN, their first locale, but are listed
		// under hi-IN too).
		row := slices.IndexFunc(Locales(), func(l LocaleInfo) bool { return l.Locale == locale })
		require.GreaterOrEqual(t, row, 0, locale)
		require.True(t, slices.ContainsFunc(Locales()[row].Voices, func(vi VoiceInfo) bool { return vi.Name == v }), "%s under %s", v, locale)
	}
}

func TestLocalesTable(t *testing.T) {
	ls := Locales()
	seen := map[string]bool{}
	for _, l := range ls {
		require.False(t, seen[strings.ToLower(l.Locale)], "duplicate %s", l.Locale)
		seen[strings.ToLower(l.Locale)] = true
		require.NotEmpty(t, l.Language, l.Locale)
		require.NotEmpty(t, l.Espeak, l.Locale)
		require.NotEmpty(t, l.Voices, l.Locale)
		for _, v := range l.Voices {
			require.Contains(t, []Gender{GenderFemale, GenderMale}, v.Gender, v.Name)
		}
	}
	// A copy: callers cannot change the table.
	ls[0].Voices[0].Name = "changed"
	ls[0].Espeak = "changed"
	require.Equal(t, "Zeina", Locales()[0].Voices[0].Name)
	require.Equal(t, "ar", Locales()[0].Espeak)
}

// Every voice of the table exists in the installed espeak-ng.
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
	for _, l := range Locales() {
		require.True(t, have[l.Espeak], "%s maps to %s, which espeak-ng lacks", l.Locale, l.Espeak)
	}
	variants, err := exec.Command(bin, "--voices=variant").Output()
	require.NoError(t, err)
	for _, v := range []string{"!v/f3", "!v/m3"} {
		require.Contains(t, string(variants), v)
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
	_, err = e.TTS(ctx, "hello", "xx-YY", false)
	require.ErrorIs(t, err, ErrUnknownLocale, "no silent fallback to a default voice")
	require.EqualError(t, err, `media: unknown TTS locale "xx-YY" (known: see media.Locales)`)
	_, err = e.TTS(ctx, "<speak>hello", "en-US", true)
	require.ErrorIs(t, err, ErrInvalidSSML)

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
