package phone

import "math/bits"

// G.711 companding written from ITU-T Recommendation G.711 (11/88), tables
// 1a/1b (A-law) and 2a/2b (µ-law). The recommendation defines the µ-law on a
// 14-bit (±8159) and the A-law on a 13-bit (±4096) uniform scale. This file
// maps those scales onto signed 16-bit PCM by a left shift of 2 (µ-law) and 3
// (A-law), which is the convention every 16-bit implementation uses, so
// decoded values line up with the figures in the usual reference tables
// (µ-law 0x00 → -32124, A-law 0xD5 → 8).
//
// A code word is P S2 S1 S0 Q3 Q2 Q1 Q0: P the polarity, S the segment (the
// exponent of the piecewise-linear curve) and Q the quantisation step inside
// the segment.
//
//   - µ-law: all eight bits are inverted on the line. Inside segment s the
//     decision values are spaced 2^(s+1) apart, starting at 33·2^s − 33, and
//     step q is reconstructed at the middle of its interval:
//     (2q + 33)·2^s − 33. P = 0 (before inversion) means a positive value.
//   - A-law: the even bits are inverted on the line (XOR 0x55). Segment 0
//     covers 0..31 in steps of 2 (reconstructed at 2q + 1); segment s ≥ 1
//     covers 2^(s+4)..2^(s+5)−1 in steps of 2^s, reconstructed at
//     (2q + 33)·2^(s−1). P = 1 (after removing the inversion) means positive.

const (
	// ulawClip is the largest 14-bit magnitude the µ-law can code: adding
	// the bias of 33 must stay below 2^13.
	ulawClip = 8158
	ulawBias = 33

	// ulawSilence and alawSilence are the codes of a zero sample.
	ulawSilence = 0xFF
	alawSilence = 0xD5
)

// MulawDecode returns the 16-bit linear value of one µ-law code word.
func MulawDecode(code byte) int16 {
	u := ^code
	seg := (u >> 4) & 0x07
	q := int32(u & 0x0F)
	mag := ((2*q + ulawBias) << seg) - ulawBias // 14-bit scale, 0..8031
	if u&0x80 != 0 {
		return int16(-mag * 4)
	}
	return int16(mag * 4)
}

// MulawEncode returns the µ-law code word of a 16-bit linear sample.
func MulawEncode(sample int16) byte {
	v := int32(sample) >> 2 // 14-bit scale
	var sign byte
	if v < 0 {
		sign = 0x80
		v = -v
	}
	v = min(v, ulawClip) + ulawBias // 33..8191: the highest set bit is 5..12
	seg := byte(highBit(uint32(v)) - 5)
	q := byte(v>>(seg+1)) & 0x0F
	return ^(sign | seg<<4 | q)
}

// AlawDecode returns the 16-bit linear value of one A-law code word.
func AlawDecode(code byte) int16 {
	a := code ^ 0x55
	seg := (a >> 4) & 0x07
	q := int32(a & 0x0F)
	var mag int32 // 13-bit scale, 1..4032
	if seg == 0 {
		mag = 2*q + 1
	} else {
		mag = (2*q + 33) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(mag * 8)
	}
	return int16(-mag * 8)
}

// AlawEncode returns the A-law code word of a 16-bit linear sample.
func AlawEncode(sample int16) byte {
	v := int32(sample) >> 3 // 13-bit scale, -4096..4095
	sign := byte(0x80)
	if v < 0 {
		sign = 0
		// The negative half of the scale is the mirror image of the
		// positive half shifted by one step: -1 codes like 0.
		v = -v - 1
	}
	var seg, q byte
	if v < 32 {
		q = byte(v >> 1)
	} else {
		seg = byte(highBit(uint32(v)) - 4) // v is 32..4095: seg 1..7
		q = byte(v>>seg) & 0x0F
	}
	return (sign | seg<<4 | q) ^ 0x55
}

// highBit returns the index of the most significant set bit of v (v > 0).
func highBit(v uint32) int {
	return bits.Len32(v) - 1
}

// encodeFrame encodes samples with codec into dst, which must be at least
// len(samples) long, and returns the number of bytes written.
func encodeFrame(codec Codec, dst []byte, samples []int16) int {
	switch codec {
	case PCMA:
		for i, s := range samples {
			dst[i] = AlawEncode(s)
		}
	default:
		for i, s := range samples {
			dst[i] = MulawEncode(s)
		}
	}
	return len(samples)
}

// decodeFrame decodes payload with codec into dst, which must be at least
// len(payload) long.
func decodeFrame(codec Codec, dst []int16, payload []byte) {
	switch codec {
	case PCMA:
		for i, b := range payload {
			dst[i] = AlawDecode(b)
		}
	default:
		for i, b := range payload {
			dst[i] = MulawDecode(b)
		}
	}
}
