package media

import (
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// toneLevelDBm0 is the level of each component of a two-frequency
// media.Tone: an amplitude of 8000 in 16-bit PCM.
var toneLevelDBm0 = 20 * math.Log10(8000/dtmfDBm0Amp)

// dtmfAudio returns d of the digit generated with media.Tone, each tone at
// lowDBm0 (row) and highDBm0 (column), passed through G.711 µ-law like
// audio received from a phone.
func dtmfAudio(t testing.TB, digit rune, lowDBm0, highDBm0 float64, d time.Duration) []int16 {
	t.Helper()
	lo, hi := dtmfFreqs(digit)
	a := readAll(t, Tone([]float64{lo}, d), math.MaxInt)
	b := readAll(t, Tone([]float64{hi}, d), math.MaxInt)
	// A single-frequency Tone has an amplitude of 8000 too.
	ga, gb := math.Pow(10, (lowDBm0-toneLevelDBm0)/20), math.Pow(10, (highDBm0-toneLevelDBm0)/20)
	out := make([]int16, len(a))
	for i := range out {
		out[i] = clip16(float64(a[i])*ga + float64(b[i])*gb)
	}
	return g711RoundTrip(out)
}

func clip16(v float64) int16 {
	return int16(math.Max(-32768, math.Min(32767, math.Round(v))))
}

func g711RoundTrip(pcm []int16) []int16 {
	enc := make([]byte, len(pcm))
	EncodeULaw(enc, pcm)
	out := make([]int16, len(pcm))
	DecodeULaw(out, enc)
	return out
}

func silence(d time.Duration) []int16 { return make([]int16, samplesFor(d)) }

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// addNoise adds white Gaussian noise at levelDBm0 (total power).
func addNoise(pcm []int16, levelDBm0 float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	sigma := dtmfDBm0Amp / math.Sqrt2 * math.Pow(10, levelDBm0/20)
	out := make([]int16, len(pcm))
	for i, v := range pcm {
		out[i] = clip16(float64(v) + r.NormFloat64()*sigma)
	}
	return out
}

// detectAll runs a fresh detector over pcm in frames of frame samples.
func detectAll(pcm []int16, frame int) string {
	var d DTMFDetector
	var out []rune
	for off := 0; off < len(pcm); off += frame {
		if r, ok := d.Process(pcm[off:min(off+frame, len(pcm))]); ok {
			out = append(out, r)
		}
	}
	if r, ok := d.Process(nil); ok {
		out = append(out, r)
	}
	return string(out)
}

func TestDTMFDetectorEveryDigitLevelAndDuration(t *testing.T) {
	digits := "0123456789*#ABCD"
	for _, level := range []float64{-3, -10, -20, -25} {
		for _, dur := range []time.Duration{40 * time.Millisecond, 60 * time.Millisecond, 100 * time.Millisecond, 700 * time.Millisecond} {
			for i, d := range digits {
				// Unaligned starts: the tone begins anywhere in a frame.
				lead := silence(time.Duration(30+7*i) * time.Millisecond)
				pcm := concat(lead, dtmfAudio(t, d, level, level, dur), silence(100*time.Millisecond))
				require.Equal(t, string(d), detectAll(pcm, FrameSamples), "digit %c at %v dBm0 for %v", d, level, dur)
			}
		}
	}
}

func TestDTMFDetectorFrameSizes(t *testing.T) {
	pcm := concat(silence(13*time.Millisecond), dtmfAudio(t, '7', -12, -10, 90*time.Millisecond), silence(60*time.Millisecond),
		dtmfAudio(t, '7', -12, -10, 90*time.Millisecond), silence(60*time.Millisecond))
	for _, frame := range []int{1, 37, 80, 160, 240, 480, len(pcm)} {
		require.Equal(t, "77", detectAll(pcm, frame), "frame of %d samples", frame)
	}
}

func TestDTMFDetectorRejects(t *testing.T) {
	cases := []struct {
		name string
		pcm  []int16
		want string
	}{
		{"20 ms tone", dtmfAudio(t, '5', -10, -10, 20*time.Millisecond), ""},
		{"21 ms tone", dtmfAudio(t, '5', -10, -10, 21*time.Millisecond), ""},
		{"-40 dBm0", dtmfAudio(t, '5', -40, -40, 200*time.Millisecond), ""},
		{"-30 dBm0", dtmfAudio(t, '5', -30, -30, 200*time.Millisecond), "5"},
		{"standard twist 6 dB", dtmfAudio(t, '9', -10, -16, 200*time.Millisecond), "9"},
		{"standard twist 10 dB", dtmfAudio(t, '9', -10, -20, 200*time.Millisecond), ""},
		{"reverse twist 3 dB", dtmfAudio(t, '9', -13, -10, 200*time.Millisecond), "9"},
		{"reverse twist 6 dB", dtmfAudio(t, '9', -16, -10, 200*time.Millisecond), ""},
		{"single tone 697 Hz", g711RoundTrip(readAll(t, Tone([]float64{697}, 300*time.Millisecond), math.MaxInt)), ""},
		{"single tone 1336 Hz", g711RoundTrip(readAll(t, Tone([]float64{1336}, 300*time.Millisecond), math.MaxInt)), ""},
		{"two rows", g711RoundTrip(readAll(t, Tone([]float64{697, 852}, 300*time.Millisecond), math.MaxInt)), ""},
		{"dial tone 350+440 Hz", g711RoundTrip(readAll(t, Tone([]float64{350, 440}, 300*time.Millisecond), math.MaxInt)), ""},
		{"1 kHz", g711RoundTrip(readAll(t, Tone([]float64{1000}, 300*time.Millisecond), math.MaxInt)), ""},
		{"noise", addNoise(silence(time.Second), -10, 3), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pcm := concat(silence(50*time.Millisecond), tc.pcm, silence(100*time.Millisecond))
			require.Equal(t, tc.want, detectAll(pcm, FrameSamples))
		})
	}
}

func TestDTMFDetectorFrequencyDeviation(t *testing.T) {
	for _, dev := range []float64{-0.015, 0.015} {
		for _, d := range "1590#D" {
			lo, hi := dtmfFreqs(d)
			pcm := g711RoundTrip(readAll(t, Tone([]float64{lo * (1 + dev), hi * (1 + dev)}, 80*time.Millisecond), math.MaxInt))
			require.Equal(t, string(d), detectAll(concat(silence(20*time.Millisecond), pcm, silence(60*time.Millisecond)), FrameSamples), "%c at %+.1f%%", d, dev*100)
		}
	}
}

func TestDTMFDetectorNoise(t *testing.T) {
	for i, tc := range []struct{ tone, noise float64 }{{-10, -30}, {-20, -38}, {-25, -42}} {
		var want strings.Builder
		var parts [][]int16
		for j, d := range "0123456789*#ABCD" {
			parts = append(parts, silence(time.Duration(40+3*j)*time.Millisecond), dtmfAudio(t, d, tc.tone, tc.tone, 60*time.Millisecond))
			want.WriteRune(d)
		}
		parts = append(parts, silence(100*time.Millisecond))
		pcm := addNoise(concat(parts...), tc.noise, uint64(i))
		require.Equal(t, want.String(), detectAll(pcm, FrameSamples), "tones at %v dBm0, noise at %v dBm0", tc.tone, tc.noise)
	}
}

func TestDTMFDetectorSequenceAndRepeats(t *testing.T) {
	seq := func(digits string, tone, gap time.Duration) []int16 {
		parts := [][]int16{silence(25 * time.Millisecond)}
		for _, d := range digits {
			parts = append(parts, dtmfAudio(t, d, -12, -10, tone), silence(gap))
		}
		return concat(parts...)
	}
	require.Equal(t, "1234#", detectAll(seq("1234#", 70*time.Millisecond, 50*time.Millisecond), FrameSamples))
	require.Equal(t, "1234#", detectAll(seq("1234#", 40*time.Millisecond, 50*time.Millisecond), FrameSamples))
	require.Equal(t, "113399", detectAll(seq("113399", 60*time.Millisecond, 50*time.Millisecond), FrameSamples))
	// Digits that follow each other without a pause are still two digits.
	require.Equal(t, "12", detectAll(concat(dtmfAudio(t, '1', -10, -10, 100*time.Millisecond), dtmfAudio(t, '2', -10, -10, 100*time.Millisecond)), FrameSamples))

	// A long key press is one digit, also across a 10 ms drop-out (a lost
	// packet half) and a 20 ms jump (a lost packet, no concealment).
	long := dtmfAudio(t, '8', -10, -10, 2*time.Second)
	require.Equal(t, "8", detectAll(long, FrameSamples))
	dropout := concat(long[:4000], silence(10*time.Millisecond), long[4080:])
	require.Equal(t, "8", detectAll(dropout, FrameSamples))
	jump := concat(long[:4000], long[4160+37:])
	require.Equal(t, "8", detectAll(jump, FrameSamples))
}

// espeakSpeech synthesises text with espeak-ng and returns it at 8 kHz.
func espeakSpeech(t *testing.T, voice, text string) []int16 {
	t.Helper()
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Skip("espeak-ng is not installed")
	}
	out, err := exec.Command(bin, "-v", voice, "--stdout", text).Output()
	require.NoError(t, err)
	pcm, _, err := DecodeWAV(out)
	require.NoError(t, err)
	return pcm
}

func scale(pcm []int16, gainDB float64) []int16 {
	g := math.Pow(10, gainDB/20)
	out := make([]int16, len(pcm))
	for i, v := range pcm {
		out[i] = clip16(float64(v) * g)
	}
	return out
}

func TestDTMFDetectorIgnoresSpeech(t *testing.T) {
	texts := []string{
		"Thank you for calling. Please enter your account number followed by the pound key.",
		"One two three four five six seven eight nine zero star hash. Press one for sales, two for support.",
		"Oh, hello! Hmm, mmm, aaah, eeee, oooo. The quick brown fox jumps over the lazy dog.",
		"Welcome to the conference. You are the first participant. Music will play until the host arrives.",
	}
	samples := 0
	for _, voice := range []string{"en-us", "en-us+f3", "en-gb+m3", "sv", "de+f2"} {
		for _, text := range texts {
			speech := espeakSpeech(t, voice, text)
			samples += len(speech)
			for _, gain := range []float64{0, 6, -12} {
				pcm := g711RoundTrip(scale(speech, gain))
				require.Empty(t, detectAll(pcm, FrameSamples), "voice %s gain %+v dB: %q", voice, gain, text)
				require.Empty(t, detectAll(addNoise(pcm, -45, 9), FrameSamples), "voice %s gain %+v dB with noise", voice, gain)
			}
		}
	}
	t.Logf("%.0f s of speech, no false digit", float64(samples)/SampleRate*6)
}

// music returns a synthetic two-voice piece: notes of the equal-tempered
// scale (several close to DTMF frequencies: F5 698.5 Hz, A#5 932.3 Hz, E6
// 1318.5 Hz, F#6 1480 Hz), with harmonics and an attack/decay envelope.
func music(seed uint64, d time.Duration, harmonics []float64) []int16 {
	r := rand.New(rand.NewPCG(seed, 2))
	n := samplesFor(d)
	out := make([]float64, n)
	for voice, octave := range []int{0, 12} {
		pos := 0
		for pos < n {
			noteLen := samplesFor(time.Duration(80+r.IntN(420)) * time.Millisecond)
			semitone := 55 + octave + r.IntN(14) // MIDI F5 (77) region for the upper voice
			if r.IntN(3) == 0 {
				semitone = []int{77, 82, 88, 90}[r.IntN(4)] // DTMF-like notes
			}
			f := 440 * math.Pow(2, float64(semitone-69)/12)
			amp := 3000 + 3000*r.Float64()
			for i := 0; i < noteLen && pos+i < n; i++ {
				env := math.Min(1, float64(i)/80) * math.Exp(-float64(i)/float64(SampleRate)*2)
				var v float64
				for h, ha := range harmonics {
					fh := f * float64(h+1)
					if fh < SampleRate/2 {
						v += ha * math.Sin(2*math.Pi*fh*float64(i)/SampleRate+float64(voice))
					}
				}
				out[pos+i] += amp * env * v
			}
			pos += noteLen
		}
	}
	pcm := make([]int16, n)
	for i, v := range out {
		pcm[i] = clip16(v)
	}
	return g711RoundTrip(pcm)
}

func TestDTMFDetectorIgnoresMusic(t *testing.T) {
	for seed := range uint64(6) {
		for _, h := range [][]float64{{1, 0.5, 0.3, 0.2}, {1, 0.7, 0.5, 0.4, 0.3}, {1, 0.3}} {
			pcm := music(seed, 20*time.Second, h)
			require.Empty(t, detectAll(pcm, FrameSamples), "seed %d harmonics %v", seed, h)
		}
	}
	// A sustained chord of F5 and F#6 (698.5 + 1480 Hz, a "3" within
	// 0.3%) played by an instrument with harmonics is not a digit.
	chord := make([]int16, samplesFor(time.Second))
	for i := range chord {
		var v float64
		for h, a := range []float64{1, 0.5, 0.25} {
			v += a * (math.Sin(2*math.Pi*698.46*float64(h+1)*float64(i)/SampleRate) + math.Sin(2*math.Pi*1479.98*float64(h+1)*float64(i)/SampleRate))
		}
		chord[i] = clip16(5000 * v)
	}
	require.Empty(t, detectAll(g711RoundTrip(chord), FrameSamples))
}

func TestDTMFDetectorResetAndPending(t *testing.T) {
	var d DTMFDetector
	pcm := concat(dtmfAudio(t, '4', -10, -10, 60*time.Millisecond), silence(50*time.Millisecond), dtmfAudio(t, '6', -10, -10, 60*time.Millisecond), silence(40*time.Millisecond))
	// One call with both digits: the second comes out of the next call.
	r, ok := d.Process(pcm)
	require.True(t, ok)
	require.Equal(t, '4', r)
	r, ok = d.Process(nil)
	require.True(t, ok)
	require.Equal(t, '6', r)
	_, ok = d.Process(nil)
	require.False(t, ok)
	// Reset forgets a half-heard tone.
	tone := dtmfAudio(t, '4', -10, -10, 100*time.Millisecond)
	_, ok = d.Process(tone[:200])
	require.False(t, ok)
	d.Reset()
	_, ok = d.Process(tone[200:400])
	require.False(t, ok, "200 samples after a reset are too short")
}

func BenchmarkDTMFDetector(b *testing.B) {
	for _, tc := range []struct {
		name string
		pcm  []int16
	}{
		{"silence", silence(time.Second)},
		{"speech-like", music(1, time.Second, []float64{1, 0.5, 0.3})},
		{"digit", dtmfAudio(b, '5', -10, -10, time.Second)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var d DTMFDetector
			frames := len(tc.pcm) / FrameSamples
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				off := (i % frames) * FrameSamples
				d.Process(tc.pcm[off : off+FrameSamples])
				i++
			}
		})
	}
}

func TestDTMFDetectorDoesNotAllocate(t *testing.T) {
	var d DTMFDetector
	pcm := concat(dtmfAudio(t, '5', -10, -10, 100*time.Millisecond), silence(100*time.Millisecond))
	allocs := testing.AllocsPerRun(100, func() {
		for off := 0; off+FrameSamples <= len(pcm); off += FrameSamples {
			d.Process(pcm[off : off+FrameSamples])
		}
	})
	require.Zero(t, allocs)
}

func TestDTMFDetectorDurationAtEveryOffset(t *testing.T) {
	for off := range 20 {
		lead := silence(time.Duration(off) * time.Millisecond / 2)
		for _, tc := range []struct {
			d    time.Duration
			want string
		}{{15 * time.Millisecond, ""}, {21 * time.Millisecond, ""}, {40 * time.Millisecond, "3"}, {45 * time.Millisecond, "3"}} {
			pcm := concat(silence(20*time.Millisecond), lead, dtmfAudio(t, '3', -15, -13, tc.d), silence(80*time.Millisecond))
			require.Equal(t, tc.want, detectAll(pcm, FrameSamples), "%v tone %.1f ms into a block", tc.d, float64(off)/2)
		}
	}
}
