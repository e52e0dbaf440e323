package media

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestG711KnownValues(t *testing.T) {
	tests := []struct {
		name string
		pcm  int16
		ulaw uint8
		alaw uint8
	}{
		{"zero", 0, 0xFF, 0xD5},
		{"minus one", -1, 0x7E, 0x55},
		{"max", math.MaxInt16, 0x80, 0xAA},
		{"min", math.MinInt16, 0x00, 0x2A},
		{"1000", 1000, 0xCE, 0xFA},
		{"-1000", -1000, 0x4E, 0x7A},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u, a [1]byte
			EncodeULaw(u[:], []int16{tt.pcm})
			EncodeALaw(a[:], []int16{tt.pcm})
			require.Equal(t, tt.ulaw, u[0], "µ-law")
			require.Equal(t, tt.alaw, a[0], "A-law")
		})
	}
	var d [2]int16
	DecodeULaw(d[:], []byte{0xFF, 0x80})
	require.Equal(t, [2]int16{0, 32124}, d)
	DecodeALaw(d[:], []byte{0xD5, 0xAA})
	require.Equal(t, [2]int16{8, 32256}, d)
}

// The tables must reproduce the reference algorithm for every input.
func TestG711TablesMatchReference(t *testing.T) {
	var u, a [1]byte
	for i := math.MinInt16; i <= math.MaxInt16; i++ {
		s := int16(i)
		EncodeULaw(u[:], []int16{s})
		EncodeALaw(a[:], []int16{s})
		if u[0] != linearToULaw(s) || a[0] != linearToALaw(s) {
			t.Fatalf("sample %d: table µ=%#x a=%#x, reference µ=%#x a=%#x", s, u[0], a[0], linearToULaw(s), linearToALaw(s))
		}
	}
}

// Decoding a code and encoding it again gives the code back (except the
// two µ-law zeros, which both decode to 0).
func TestG711RoundTripCodes(t *testing.T) {
	for c := range 256 {
		code := uint8(c)
		var pcm [1]int16
		var back [1]byte
		DecodeULaw(pcm[:], []byte{code})
		EncodeULaw(back[:], pcm[:])
		if code != 0x7F {
			require.Equal(t, code, back[0], "µ-law code %#x", code)
		}
		DecodeALaw(pcm[:], []byte{code})
		EncodeALaw(back[:], pcm[:])
		require.Equal(t, code, back[0], "A-law code %#x", code)
	}
}

func TestG711Transcode(t *testing.T) {
	for c := range 256 {
		code := uint8(c)
		var u, a [1]byte
		ULawToALaw(a[:], []byte{code})
		var pu, pa [1]int16
		DecodeULaw(pu[:], []byte{code})
		DecodeALaw(pa[:], a[:])
		require.InDelta(t, float64(pu[0]), float64(pa[0]), math.Max(16, math.Abs(float64(pu[0]))*0.07), "µ %#x -> a %#x", code, a[0])
		ALawToULaw(u[:], []byte{code})
		DecodeALaw(pa[:], []byte{code})
		DecodeULaw(pu[:], u[:])
		require.InDelta(t, float64(pa[0]), float64(pu[0]), math.Max(16, math.Abs(float64(pa[0]))*0.07), "a %#x -> µ %#x", code, u[0])
	}
}

// A full-scale-ish sine survives both laws with the ~38 dB SNR G.711 is
// known for.
func TestG711SNR(t *testing.T) {
	src := sine(8000, 1013, SampleRate, 12000)
	enc := make([]byte, len(src))
	dec := make([]int16, len(src))
	for _, law := range []struct {
		name string
		enc  func([]byte, []int16) int
		dec  func([]int16, []byte) int
	}{{"ulaw", EncodeULaw, DecodeULaw}, {"alaw", EncodeALaw, DecodeALaw}} {
		require.Equal(t, len(src), law.enc(enc, src))
		require.Equal(t, len(src), law.dec(dec, enc))
		var sig, noise float64
		for i := range src {
			sig += float64(src[i]) * float64(src[i])
			d := float64(dec[i] - src[i])
			noise += d * d
		}
		snr := 10 * math.Log10(sig/noise)
		require.Greater(t, snr, 34.0, law.name)
	}
}

func TestG711ShortBuffers(t *testing.T) {
	require.Equal(t, 2, EncodeULaw(make([]byte, 2), make([]int16, 5)))
	require.Equal(t, 3, DecodeALaw(make([]int16, 5), make([]byte, 3)))
	require.Equal(t, 0, ULawToALaw(nil, []byte{1}))
}

func BenchmarkEncodeULawFrame(b *testing.B) {
	src := sine(FrameSamples, 440, SampleRate, 10000)
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples * 2)
	for b.Loop() {
		EncodeULaw(dst, src)
	}
}

func BenchmarkDecodeULawFrame(b *testing.B) {
	src := make([]byte, FrameSamples)
	EncodeULaw(src, sine(FrameSamples, 440, SampleRate, 10000))
	dst := make([]int16, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		DecodeULaw(dst, src)
	}
}

func BenchmarkEncodeALawFrame(b *testing.B) {
	src := sine(FrameSamples, 440, SampleRate, 10000)
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples * 2)
	for b.Loop() {
		EncodeALaw(dst, src)
	}
}

func BenchmarkDecodeALawFrame(b *testing.B) {
	src := make([]byte, FrameSamples)
	EncodeALaw(src, sine(FrameSamples, 440, SampleRate, 10000))
	dst := make([]int16, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		DecodeALaw(dst, src)
	}
}

func BenchmarkTranscodeULawToALawFrame(b *testing.B) {
	src := make([]byte, FrameSamples)
	EncodeULaw(src, sine(FrameSamples, 440, SampleRate, 10000))
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		ULawToALaw(dst, src)
	}
}
