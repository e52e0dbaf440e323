package media

// G.711 µ-law (PCMU) and A-law (PCMA) codecs, ITU-T G.711. Encoding and
// decoding are table lookups: the encoders depend only on the top 14 (µ-law)
// or 13 (A-law) bits of a sample, so a 16 KiB and an 8 KiB table cover every
// input; decoding and PCMU<->PCMA transcoding use 256-entry tables. The
// tables are computed once at start-up from the reference algorithm and never
// written again.

var (
	ulawEncodeTable [1 << 14]uint8
	alawEncodeTable [1 << 13]uint8
	ulawDecodeTable [256]int16
	alawDecodeTable [256]int16
	ulawToALawTable [256]uint8
	alawToULawTable [256]uint8
)

func init() {
	for i := range ulawEncodeTable {
		ulawEncodeTable[i] = linearToULaw(int16(uint16(i << 2)))
	}
	for i := range alawEncodeTable {
		alawEncodeTable[i] = linearToALaw(int16(uint16(i << 3)))
	}
	for i := range 256 {
		ulawDecodeTable[i] = ulawToLinear(uint8(i))
		alawDecodeTable[i] = alawToLinear(uint8(i))
	}
	for i := range 256 {
		ulawToALawTable[i] = linearToALaw(ulawDecodeTable[i])
		alawToULawTable[i] = linearToULaw(alawDecodeTable[i])
	}
}

// segEnd returns the G.711 segment of a magnitude: the index of the first
// end value not below v, or len(ends) when v is above every segment.
func segEnd(v int, ends *[8]int) int {
	for i, e := range ends {
		if v <= e {
			return i
		}
	}
	return len(ends)
}

var (
	ulawSegEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	alawSegEnd = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

// linearToULaw is the reference µ-law encoder (G.711 Table 2, 14-bit input,
// bias 33, clipping at 8159).
func linearToULaw(s int16) uint8 {
	const clip = 8159
	v := int(s) >> 2
	mask := 0xFF
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += 0x84 >> 2
	seg := segEnd(v, &ulawSegEnd)
	if seg >= 8 {
		return uint8(0x7F ^ mask)
	}
	return uint8(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask)
}

// ulawToLinear is the reference µ-law decoder.
func ulawToLinear(u uint8) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// linearToALaw is the reference A-law encoder (G.711 Table 1, 13-bit input,
// even bits inverted with 0x55).
func linearToALaw(s int16) uint8 {
	v := int(s) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := segEnd(v, &alawSegEnd)
	if seg >= 8 {
		return uint8(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return uint8(a ^ mask)
}

// alawToLinear is the reference A-law decoder.
func alawToLinear(a uint8) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
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

// EncodeULaw encodes min(len(dst), len(src)) samples of 16-bit linear PCM
// into µ-law (PCMU) bytes and returns the number encoded. It does not
// allocate.
func EncodeULaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = ulawEncodeTable[uint16(s)>>2]
	}
	return n
}

// DecodeULaw decodes min(len(dst), len(src)) µ-law (PCMU) bytes into 16-bit
// linear PCM and returns the number decoded. It does not allocate.
func DecodeULaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawDecodeTable[b]
	}
	return n
}

// EncodeALaw encodes min(len(dst), len(src)) samples of 16-bit linear PCM
// into A-law (PCMA) bytes and returns the number encoded. It does not
// allocate.
func EncodeALaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = alawEncodeTable[uint16(s)>>3]
	}
	return n
}

// DecodeALaw decodes min(len(dst), len(src)) A-law (PCMA) bytes into 16-bit
// linear PCM and returns the number decoded. It does not allocate.
func DecodeALaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDecodeTable[b]
	}
	return n
}

// ULawToALaw transcodes PCMU bytes to PCMA bytes (decode then re-encode, as a
// single table lookup per byte) and returns the number transcoded. dst and
// src may be the same slice.
func ULawToALaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawToALawTable[b]
	}
	return n
}

// ALawToULaw transcodes PCMA bytes to PCMU bytes and returns the number
// transcoded. dst and src may be the same slice.
func ALawToULaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawToULawTable[b]
	}
	return n
}
