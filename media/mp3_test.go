package media

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The MP3 fixtures come from testdata/mp3gen (tones made there, encoded
// with a pure-Go encoder that only the generator uses).
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// id3v2 returns an ID3v2.3 tag holding n bytes of padding.
func id3v2(n int) []byte {
	return append([]byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 0x7F), byte(n >> 14 & 0x7F), byte(n >> 7 & 0x7F), byte(n & 0x7F)}, make([]byte, n)...)
}

func TestDecodeMP3Tones(t *testing.T) {
	tests := []struct {
		file     string
		rate     int
		channels int
		freqs    []float64
	}{
		{"tone1k_mono_44k.mp3", 44100, 1, []float64{1000}},
		{"tone1k_mono_22k.mp3", 22050, 1, []float64{1000}},
		{"tones_600_1500_stereo_48k.mp3", 48000, 2, []float64{600, 1500}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readFixture(t, tt.file)
			pcm, info, err := DecodeMP3(data, 0)
			require.NoError(t, err)
			require.Equal(t, tt.rate, info.SampleRate)
			require.Equal(t, tt.channels, info.Channels)
			// One second of tone plus the codec's delay and padding.
			require.InDelta(t, SampleRate, len(pcm), 0.1*SampleRate)
			require.InDelta(t, len(pcm), info.Samples*SampleRate/tt.rate, 2)
			mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
			total := goertzelSum(mid, 100, 3900, 10)
			for _, f := range tt.freqs {
				// The tone holds most of the energy; half scale per channel
				// is about -6 dBFS mono, or -12 dBFS per tone once two
				// channels are averaged.
				p := goertzel(mid, f, SampleRate) + goertzel(mid, f-10, SampleRate) + goertzel(mid, f+10, SampleRate)
				require.Greater(t, p/total, 0.3/float64(len(tt.freqs)), "%v Hz", f)
			}
			if len(tt.freqs) == 1 {
				require.InDelta(t, tt.freqs[0], dominantFreq(mid, 300, 3500, 5), 5)
				require.InDelta(t, 16384/1.414, rms(mid), 16384*0.1)
			} else {
				require.InDelta(t, 8192, rms(mid), 8192*0.15, "each channel's tone at half amplitude")
			}
		})
	}
}

// goertzelSum adds the Goertzel power over lo..hi Hz in step.
func goertzelSum(samples []int16, lo, hi, step float64) float64 {
	var sum float64
	for f := lo; f <= hi; f += step {
		sum += goertzel(samples, f, SampleRate)
	}
	return sum
}

func TestDecodeMP3Tags(t *testing.T) {
	data := readFixture(t, "tone1k_mono_44k.mp3")
	want, _, err := DecodeMP3(data, 0)
	require.NoError(t, err)
	v1 := append([]byte("TAG"), make([]byte, 125)...)
	tagged := append(append(append(id3v2(300), id3v2(20)...), data...), v1...)
	got, _, err := DecodeMP3(tagged, 0)
	require.NoError(t, err)
	require.Equal(t, want, got)
	// Leading junk before the first frame is skipped.
	got, _, err = DecodeMP3(append([]byte("junk\xff\x00junk"), data...), 0)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestDecodeMP3Errors(t *testing.T) {
	data := readFixture(t, "tone1k_mono_44k.mp3")
	tests := []struct {
		name string
		data []byte
		max  int
		is   error
		msg  string
	}{
		{"empty", nil, 0, ErrInvalidMP3, "no MPEG audio frame header"},
		{"text", []byte("<html>not audio</html>"), 0, ErrInvalidMP3, "no MPEG audio frame header"},
		{"huge ID3 size", []byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7f"), 0, ErrInvalidMP3, "ID3v2 tag of 268435465 bytes in 10 bytes"},
		{"bad ID3 size", []byte("ID3\x03\x00\x00\x80\x00\x00\x00"), 0, ErrInvalidMP3, "not sync-safe"},
		{"short ID3", []byte("ID3\x03"), 0, ErrInvalidMP3, "truncated ID3v2 tag header"},
		{"MPEG-2.5", append([]byte{0xFF, 0xE3, 0x18, 0xC4}, make([]byte, 200)...), 0, ErrUnsupportedAudio, "MPEG-2.5 mp3 (8000 Hz)"},
		{"Layer II", append([]byte{0xFF, 0xFD, 0x90, 0x04}, make([]byte, 600)...), 0, ErrUnsupportedAudio, "Layer 2"},
		{"free format", append([]byte{0xFF, 0xFB, 0x00, 0xC4}, make([]byte, 600)...), 0, ErrUnsupportedAudio, "free-format"},
		{"too long", data, SampleRate / 2, ErrTooLarge, "longer than 4000 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeMP3(tt.data, tt.max)
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	// A truncated last frame ends the audio.
	pcm, _, err := DecodeMP3(data[:len(data)/2], 0)
	require.NoError(t, err)
	require.InDelta(t, SampleRate/2, len(pcm), SampleRate/10)
}

// The streaming resampler's output is the batch resampler's, whatever the
// chunking.
func TestStreamResamplerMatchesBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rate := range []int{8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 7919} {
		in := make([]float32, rate/3+rng.IntN(1000))
		for i := range in {
			in[i] = float32(rng.NormFloat64() * 0.2)
		}
		want := toInt16(resample(in, rate, SampleRate))
		rs := newStreamResampler(rate)
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(3000))
			rs.write(rest[:n])
			rest = rest[n:]
		}
		got := rs.finish()
		require.Equal(t, want, got, "rate %d", rate)
		require.Equal(t, rs.outputs(len(in)), len(got))
	}
}

func FuzzDecodeMP3(f *testing.F) {
	tone := readFixture(f, "tone1k_mono_44k.mp3")
	f.Add(tone[:2000])
	f.Add(readFixture(f, "tones_600_1500_stereo_48k.mp3")[:3000])
	f.Add(readFixture(f, "tone1k_mono_22k.mp3")[:1500])
	f.Add(append(id3v2(4), tone[:900]...))
	f.Add([]byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7f"))
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x64, 0x00})
	const limit = 2 * SampleRate
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, info, err := DecodeMP3(data, limit)
		if err != nil {
			if pcm != nil {
				t.Fatalf("samples with an error: %v", err)
			}
			return
		}
		if len(pcm) == 0 || len(pcm) > limit {
			t.Fatalf("%d samples (limit %d)", len(pcm), limit)
		}
		if info.SampleRate < 16000 || info.Channels < 1 || info.Channels > 2 {
			t.Fatalf("info %+v", info)
		}
		if !isMP3(data) && !bytes.Contains(data, []byte{0xFF}) {
			t.Fatalf("decoded data without a frame sync")
		}
	})
}

func BenchmarkDecodeMP3(b *testing.B) {
	data := readFixture(b, "tone1k_mono_44k.mp3")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := DecodeMP3(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}
