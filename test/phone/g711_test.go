package phone

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMulawKnownValues(t *testing.T) {
	tests := []struct {
		code byte
		want int16
	}{
		{0xFF, 0},
		{0x7F, 0}, // negative zero
		{0x00, -32124},
		{0x80, 32124},
		{0xFE, 8},     // smallest positive step: 2·4
		{0x7E, -8},    // smallest negative step
		{0xF0, 120},   // end of segment 0: (2·15+33−33)·4
		{0xEF, 132},   // start of segment 1: ((0+33)·2−33)·4
		{0x8F, 16764}, // segment 7 step 0 is 33·128−33 = 4191 → ·4
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, MulawDecode(tt.code), "code %#02x", tt.code)
	}
}

func TestAlawKnownValues(t *testing.T) {
	tests := []struct {
		code byte
		want int16
	}{
		{0xD5, 8},
		{0x55, -8},
		{0xAA, 32256},  // segment 7 step 15: 63·64 → ·8
		{0x2A, -32256}, // its negative
		{0xD4, 24},     // segment 0 step 1: 3 → ·8
		{0xC5, 264},    // segment 1 step 0: 33 → ·8
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, AlawDecode(tt.code), "code %#02x", tt.code)
	}
}

func TestG711CodeRoundTrip(t *testing.T) {
	for c := range 256 {
		code := byte(c)
		want := code
		if code == 0x7F { // µ-law negative zero encodes as positive zero
			want = 0xFF
		}
		require.Equal(t, want, MulawEncode(MulawDecode(code)), "µ-law %#02x", code)
		require.Equal(t, code, AlawEncode(AlawDecode(code)), "A-law %#02x", code)
	}
}

// TestG711QuantisationError checks every 16-bit input: decoding its code
// lands within half a step of the segment it falls in, and the laws are
// monotonic.
func TestG711QuantisationError(t *testing.T) {
	prevU, prevA := int16(math.MinInt16), int16(math.MinInt16)
	for v := math.MinInt16; v <= math.MaxInt16; v++ {
		s := int16(v)
		u := MulawDecode(MulawEncode(s))
		a := AlawDecode(AlawEncode(s))
		require.GreaterOrEqual(t, u, prevU, "µ-law not monotonic at %d", v)
		require.GreaterOrEqual(t, a, prevA, "A-law not monotonic at %d", v)
		prevU, prevA = u, a

		mag := math.Abs(float64(v))
		// µ-law segment s holds 14-bit magnitudes m with m+33 in
		// [32·2^s, 64·2^s), step 2^(s+1); in 16-bit units the step is 8·2^s.
		// A-law segment s ≥ 1 holds 13-bit magnitudes in [16·2^s, 32·2^s),
		// step 2^s (segment 0 steps by 2); in 16-bit units 8·2^max(s,1).
		// The segment is taken from the decoded value, which lies inside it.
		um, am := math.Abs(float64(u)), math.Abs(float64(a))
		uStep := 8 * math.Exp2(math.Floor(math.Log2((um/4+33)/32)))
		aStep := 8 * math.Exp2(math.Max(1, math.Floor(math.Log2(am/8/16))))
		if mag < 32124 { // above the top decision value the µ-law clips
			require.LessOrEqual(t, math.Abs(float64(u)-float64(v)), uStep/2+4, "µ-law error at %d", v)
		}
		if mag < 32256 {
			require.LessOrEqual(t, math.Abs(float64(a)-float64(v)), aStep/2+8, "A-law error at %d", v)
		}
	}
}

func TestG711Silence(t *testing.T) {
	assert.Equal(t, byte(ulawSilence), MulawEncode(0))
	assert.Equal(t, byte(alawSilence), AlawEncode(0))
	assert.Equal(t, byte(ulawSilence), PCMU.silence())
	assert.Equal(t, byte(alawSilence), PCMA.silence())
}

func BenchmarkMulawEncodeFrame(b *testing.B) {
	pcm := Tone(1000, frameDuration, 8000)
	out := make([]byte, frameSamples)
	b.ReportAllocs()
	for b.Loop() {
		encodeFrame(PCMU, out, pcm)
	}
}

func BenchmarkAlawDecodeFrame(b *testing.B) {
	pcm := Tone(1000, frameDuration, 8000)
	payload := make([]byte, frameSamples)
	encodeFrame(PCMA, payload, pcm)
	out := make([]int16, frameSamples)
	b.ReportAllocs()
	for b.Loop() {
		decodeFrame(PCMA, out, payload)
	}
}

// The reference below is the classic bias-and-segment-table formulation
// (as in CCITT's and Sun's public-domain g711.c), an independent derivation
// used as an oracle for all 65536 inputs and 256 codes.

func refSegment(v int32, ends [8]int32) int {
	for i, e := range ends {
		if v <= e {
			return i
		}
	}
	return 8
}

func refLinearToUlaw(pcm int16) byte {
	v := int32(pcm) >> 2
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	v = min(v, 8159) + 33
	seg := refSegment(v, [8]int32{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF})
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return (byte(seg<<4) | byte(v>>(seg+1))&0x0F) ^ mask
}

func refUlawToLinear(u byte) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

func refLinearToAlaw(pcm int16) byte {
	v := int32(pcm) >> 3
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := refSegment(v, [8]int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF})
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

func refAlawToLinear(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

func TestG711MatchesReference(t *testing.T) {
	for v := math.MinInt16; v <= math.MaxInt16; v++ {
		s := int16(v)
		require.Equal(t, refLinearToUlaw(s), MulawEncode(s), "µ-law encode %d", v)
		require.Equal(t, refLinearToAlaw(s), AlawEncode(s), "A-law encode %d", v)
	}
	for c := range 256 {
		require.Equal(t, refUlawToLinear(byte(c)), MulawDecode(byte(c)), "µ-law decode %#02x", c)
		require.Equal(t, refAlawToLinear(byte(c)), AlawDecode(byte(c)), "A-law decode %#02x", c)
	}
}
