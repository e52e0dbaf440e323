package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// WAV format tags (the wFormatTag of the fmt chunk, or the first two bytes
// of the WAVE_FORMAT_EXTENSIBLE sub-format GUID).
const (
	WAVFormatPCM        = 0x0001
	WAVFormatIEEEFloat  = 0x0003
	WAVFormatALaw       = 0x0006
	WAVFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
	wavFormatMP3        = 0x0055
)

// Bounds on what a WAV header may declare.
const (
	wavMaxChannels = 32
	wavMinRate     = 1000
	wavMaxRate     = 384000
)

// WAVInfo describes a decoded WAV file as it was stored.
type WAVInfo struct {
	Format        uint16 // WAVFormatPCM, WAVFormatIEEEFloat, WAVFormatALaw or WAVFormatMuLaw
	Channels      int
	SampleRate    int
	BitsPerSample int
	Frames        int // samples per channel
}

// wavGUIDTail is the fixed tail of the KSDATAFORMAT_SUBTYPE_* GUIDs; the
// first two bytes carry the format tag.
var wavGUIDTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

func wavErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidWAV, fmt.Sprintf(format, args...))
}

// DecodeWAV decodes a RIFF/WAVE file into 8 kHz mono 16-bit PCM: integer
// PCM of 8, 16, 24 or 32 bits, IEEE float of 32 or 64 bits, A-law and µ-law,
// plain or WAVE_FORMAT_EXTENSIBLE, any channel count (mixed down to mono by
// averaging) and any sample rate from 1 to 384 kHz (resampled). Chunks other
// than fmt and data (LIST, fact, cue...) are skipped, with RIFF's odd-size
// padding. A data chunk size of 0xFFFFFFFF or at least 0x7FFF0000 is taken
// as "until the end of the file", as written by streaming encoders such as
// espeak-ng --stdout. Errors wrap ErrInvalidWAV (malformed or truncated) or
// ErrUnsupportedAudio (a valid file in an encoding that is not supported).
func DecodeWAV(data []byte) ([]int16, WAVInfo, error) {
	mono, info, err := parseWAV(data)
	if err != nil {
		return nil, info, err
	}
	return toInt16(resample(mono, info.SampleRate, SampleRate)), info, nil
}

// parseWAV returns the mono samples at the file's own rate.
func parseWAV(data []byte) ([]float32, WAVInfo, error) {
	var info WAVInfo
	if len(data) < 12 {
		return nil, info, wavErr("%d bytes is too short for a RIFF header", len(data))
	}
	switch string(data[0:4]) {
	case "RIFF":
	case "RIFX", "RF64", "BW64":
		return nil, info, fmt.Errorf("%w: %s WAV files are not supported", ErrUnsupportedAudio, data[0:4])
	default:
		return nil, info, wavErr("not a RIFF file (starts with %q)", printable(data[0:4]))
	}
	if string(data[8:12]) != "WAVE" {
		return nil, info, wavErr("RIFF file of type %q, not WAVE", printable(data[8:12]))
	}
	var (
		fmtSeen    bool
		blockAlign int
		payload    []byte
		dataSeen   bool
	)
	pos := 12
	for pos+8 <= len(data) && !dataSeen {
		id := string(data[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(data[pos+4 : pos+8]))
		pos += 8
		avail := int64(len(data) - pos)
		switch id {
		case "fmt ":
			if fmtSeen {
				return nil, info, wavErr("more than one fmt chunk")
			}
			if size < 16 {
				return nil, info, wavErr("fmt chunk of %d bytes, want at least 16", size)
			}
			if size > avail {
				return nil, info, wavErr("truncated fmt chunk (%d of %d bytes)", avail, size)
			}
			var err error
			info, blockAlign, err = parseFmt(data[pos : pos+int(size)])
			if err != nil {
				return nil, info, err
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, info, wavErr("data chunk before fmt chunk")
			}
			if size == 0xFFFFFFFF || size >= 0x7FFF0000 {
				size = avail // streaming writer: length unknown
			}
			if size > avail {
				return nil, info, wavErr("truncated data chunk (%d of %d bytes)", avail, size)
			}
			payload = data[pos : pos+int(size)]
			dataSeen = true
		default:
			if size > avail {
				return nil, info, wavErr("truncated %q chunk (%d of %d bytes) before the data chunk", printable([]byte(id)), avail, size)
			}
		}
		pos += int(size + size&1)
	}
	if !fmtSeen {
		return nil, info, wavErr("no fmt chunk")
	}
	if !dataSeen {
		return nil, info, wavErr("no data chunk")
	}
	frames := len(payload) / blockAlign
	info.Frames = frames
	mono := make([]float32, frames)
	decodeFrames(mono, payload, info, blockAlign)
	return mono, info, nil
}

func parseFmt(b []byte) (WAVInfo, int, error) {
	tag := binary.LittleEndian.Uint16(b[0:2])
	ch := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int64(binary.LittleEndian.Uint32(b[4:8]))
	blockAlign := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if tag == wavFormatExtensible {
		if len(b) < 40 {
			return WAVInfo{}, 0, wavErr("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", len(b))
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], wavGUIDTail) {
			return WAVInfo{}, 0, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE sub-format %x", ErrUnsupportedAudio, guid)
		}
		tag = binary.LittleEndian.Uint16(guid[0:2])
	}
	info := WAVInfo{Format: tag, Channels: ch, SampleRate: int(rate), BitsPerSample: bits}
	switch tag {
	case WAVFormatPCM:
		if bits != 8 && bits != 16 && bits != 24 && bits != 32 {
			return info, 0, fmt.Errorf("%w: %d-bit integer PCM (want 8, 16, 24 or 32)", ErrUnsupportedAudio, bits)
		}
	case WAVFormatIEEEFloat:
		if bits != 32 && bits != 64 {
			return info, 0, fmt.Errorf("%w: %d-bit float PCM (want 32 or 64)", ErrUnsupportedAudio, bits)
		}
	case WAVFormatALaw, WAVFormatMuLaw:
		if bits != 8 {
			return info, 0, wavErr("G.711 with %d bits per sample, want 8", bits)
		}
	case wavFormatMP3:
		return info, 0, fmt.Errorf("%w: MPEG audio (mp3) in a WAV container; only PCM, float and G.711 WAV files are supported", ErrUnsupportedAudio)
	default:
		return info, 0, fmt.Errorf("%w: WAV format tag 0x%04X; only PCM, float and G.711 WAV files are supported", ErrUnsupportedAudio, tag)
	}
	if ch < 1 || ch > wavMaxChannels {
		return info, 0, wavErr("%d channels (want 1-%d)", ch, wavMaxChannels)
	}
	if rate < wavMinRate || rate > wavMaxRate {
		return info, 0, wavErr("sample rate %d Hz (want %d-%d)", rate, wavMinRate, wavMaxRate)
	}
	need := ch * bits / 8
	if blockAlign < need {
		return info, 0, wavErr("block align %d is smaller than %d channels x %d bits", blockAlign, ch, bits)
	}
	return info, blockAlign, nil
}

// decodeFrames converts interleaved frames to mono floats in [-1, 1).
func decodeFrames(mono []float32, payload []byte, info WAVInfo, blockAlign int) {
	bps := info.BitsPerSample / 8
	inv := 1 / float32(info.Channels)
	for f := range mono {
		frame := payload[f*blockAlign:]
		var acc float32
		for c := range info.Channels {
			b := frame[c*bps:]
			var v float32
			switch info.Format {
			case WAVFormatPCM:
				switch bps {
				case 1:
					v = (float32(b[0]) - 128) / 128
				case 2:
					v = float32(int16(binary.LittleEndian.Uint16(b))) / 32768
				case 3:
					x := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
					v = float32(x) / 8388608
				case 4:
					v = float32(float64(int32(binary.LittleEndian.Uint32(b))) / 2147483648)
				}
			case WAVFormatIEEEFloat:
				var x float64
				if bps == 4 {
					x = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
				} else {
					x = math.Float64frombits(binary.LittleEndian.Uint64(b))
				}
				if math.IsNaN(x) || math.IsInf(x, 0) {
					x = 0
				}
				v = float32(max(-1, min(1, x)))
			case WAVFormatALaw:
				v = float32(alawDecodeTable[b[0]]) / 32768
			case WAVFormatMuLaw:
				v = float32(ulawDecodeTable[b[0]]) / 32768
			}
			acc += v
		}
		mono[f] = acc * inv
	}
}

// printable returns b with non-printable bytes replaced, for error messages.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// EncodeWAV returns a 16-bit PCM mono WAV file of samples at rate Hz. It is
// the inverse of DecodeWAV for tests and tools.
func EncodeWAV(samples []int16, rate int) []byte {
	b := make([]byte, 44+2*len(samples))
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(samples)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], WAVFormatPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(samples)))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}
