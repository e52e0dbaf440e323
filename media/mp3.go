package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// ErrInvalidMP3 means audio that looks like MP3 (by its bytes, its
// Content-Type or its name) does not decode.
var ErrInvalidMP3 = errors.New("media: invalid MP3 data")

// DefaultMP3MaxSamples bounds DecodeMP3 when it is given no limit: 30
// minutes at 8 kHz.
const DefaultMP3MaxSamples = 30 * 60 * SampleRate

// MP3Info describes a decoded MP3 stream as it was stored, from its first
// frame.
type MP3Info struct {
	SampleRate int // 16000, 22050, 24000, 32000, 44100 or 48000
	Channels   int // 1 or 2
	Samples    int // decoded samples per channel, at SampleRate
}

// mp3ChunkBytes is how much decoded audio (16-bit stereo) one read takes
// from the decoder: four MPEG-1 frames.
const mp3ChunkBytes = 4 * 1152 * 4

// DecodeMP3 decodes MPEG-1 and MPEG-2 Layer III audio (the github.com/
// hajimehoshi/go-mp3 decoder, pure Go) into 8 kHz mono 16-bit PCM: stereo
// is mixed down by averaging the channels, and the audio is resampled with
// the same windowed-sinc filter as WAV files, while it is decoded, so that
// nothing is held at the original rate. ID3v2 tags at the start and an
// ID3v1 tag at the end are skipped.
//
// maxSamples bounds the 8 kHz output (DefaultMP3MaxSamples when <= 0):
// decoding stops with ErrTooLarge as soon as the audio would be longer, so
// a small file cannot expand into unbounded memory. A truncated last frame
// ends the audio; any other damage fails with ErrInvalidMP3; MPEG-2.5
// (8-12 kHz), Layer I and II and free-format bit rates fail with
// ErrUnsupportedAudio. A panic inside the decoder on hostile input is
// turned into ErrInvalidMP3.
func DecodeMP3(data []byte, maxSamples int) (pcm []int16, info MP3Info, err error) {
	if maxSamples <= 0 {
		maxSamples = DefaultMP3MaxSamples
	}
	body, err := stripID3(data)
	if err != nil {
		return nil, info, err
	}
	off, h, err := firstMP3Frame(body)
	if err != nil {
		return nil, info, err
	}
	info = MP3Info{SampleRate: h.rate, Channels: h.channels}
	defer func() {
		if r := recover(); r != nil {
			pcm, err = nil, fmt.Errorf("%w: decoder failure: %v", ErrInvalidMP3, r)
		}
	}()
	dec, err := mp3.NewDecoder(onlyReader{bytes.NewReader(body[off:])})
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, info, fmt.Errorf("%w: no complete MPEG audio frame", ErrInvalidMP3)
	}
	if err != nil {
		return nil, info, fmt.Errorf("%w: %v", ErrInvalidMP3, err)
	}
	if dec.SampleRate() != h.rate {
		return nil, info, fmt.Errorf("%w: decoder reports %d Hz, frame header %d Hz", ErrInvalidMP3, dec.SampleRate(), h.rate)
	}
	rs := newStreamResampler(h.rate)
	raw := make([]byte, mp3ChunkBytes)
	mono := make([]float32, mp3ChunkBytes/4)
	for {
		n, rerr := io.ReadFull(dec, raw)
		frames := n / 4
		for i := range frames {
			l := int16(uint16(raw[4*i]) | uint16(raw[4*i+1])<<8)
			r := int16(uint16(raw[4*i+2]) | uint16(raw[4*i+3])<<8)
			mono[i] = (float32(l) + float32(r)) / 65536
		}
		info.Samples += frames
		if rs.outputs(info.Samples) > maxSamples {
			return nil, info, fmt.Errorf("%w: decoded MP3 audio is longer than %d samples at 8 kHz", ErrTooLarge, maxSamples)
		}
		rs.write(mono[:frames])
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, info, fmt.Errorf("%w: %v", ErrInvalidMP3, rerr)
		}
	}
	if info.Samples == 0 {
		return nil, info, fmt.Errorf("%w: no decodable audio frames", ErrInvalidMP3)
	}
	return rs.finish(), info, nil
}

// onlyReader hides io.Seeker: given a seeker, the decoder scans the whole
// stream up front to compute its length, which is not needed here.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// stripID3 removes ID3v2 tags from the start (the decoder would allocate a
// tag's declared size, up to 256 MiB, before checking it against the data)
// and an ID3v1 tag from the end.
func stripID3(b []byte) ([]byte, error) {
	for len(b) >= 3 && string(b[:3]) == "ID3" {
		if len(b) < 10 {
			return nil, fmt.Errorf("%w: truncated ID3v2 tag header", ErrInvalidMP3)
		}
		var size int
		for _, c := range b[6:10] {
			if c >= 0x80 {
				return nil, fmt.Errorf("%w: ID3v2 tag size is not sync-safe", ErrInvalidMP3)
			}
			size = size<<7 | int(c)
		}
		size += 10
		if b[5]&0x10 != 0 {
			size += 10 // footer
		}
		if size > len(b) {
			return nil, fmt.Errorf("%w: ID3v2 tag of %d bytes in %d bytes of data", ErrInvalidMP3, size, len(b))
		}
		b = b[size:]
	}
	if len(b) >= 128 && string(b[len(b)-128:len(b)-125]) == "TAG" {
		b = b[:len(b)-128]
	}
	return b, nil
}

// mp3Header is what DecodeMP3 needs from a frame header.
type mp3Header struct {
	version  int // 1, 2 or 25 (MPEG-2.5)
	layer    int // 1, 2 or 3
	rate     int
	channels int
	size     int // frame length in bytes, 0 for free format
}

var (
	mp3Rates    = [3]int{44100, 48000, 32000}
	mp3Bitrates = [2][16]int{ // Layer III, kbit/s; [0] MPEG-1, [1] MPEG-2 and 2.5
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, -1},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1},
	}
)

// parseMP3Header decodes the 4-byte frame header at b, reporting false when
// it is not one (no sync word, a reserved field or emphasis value).
func parseMP3Header(b []byte) (mp3Header, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mp3Header{}, false
	}
	var h mp3Header
	switch (b[1] >> 3) & 3 {
	case 0:
		h.version = 25
	case 2:
		h.version = 2
	case 3:
		h.version = 1
	default:
		return h, false
	}
	h.layer = 4 - int((b[1]>>1)&3)
	bri, sri := int(b[2]>>4), int((b[2]>>2)&3)
	if h.layer == 4 || bri == 15 || sri == 3 || b[3]&3 == 2 {
		return h, false
	}
	h.rate = mp3Rates[sri]
	switch h.version {
	case 2:
		h.rate /= 2
	case 25:
		h.rate /= 4
	}
	h.channels = 2
	if b[3]>>6 == 3 {
		h.channels = 1
	}
	if h.layer == 3 && bri != 0 {
		pad := int(b[2]>>1) & 1
		if h.version == 1 {
			h.size = 144000*mp3Bitrates[0][bri]/h.rate + pad
		} else {
			h.size = 72000*mp3Bitrates[1][bri]/h.rate + pad
		}
	}
	return h, true
}

// firstMP3Frame finds the first frame header that the next header
// confirms (or that ends the data), so that a stray 0xFF in leading junk is
// not taken for one, and rejects the formats the decoder cannot play.
func firstMP3Frame(b []byte) (int, mp3Header, error) {
	var found *mp3Header
	for i := 0; i+4 <= len(b); i++ {
		h, ok := parseMP3Header(b[i:])
		if !ok {
			continue
		}
		if h.layer == 3 && h.version != 25 && h.size > 0 {
			if next := i + h.size; next+4 > len(b) {
				if i == 0 || found == nil {
					return i, h, nil // a single frame
				}
			} else if nh, ok := parseMP3Header(b[next:]); ok && nh.version == h.version && nh.rate == h.rate {
				return i, h, nil
			}
		}
		if found == nil {
			found = &h
		}
	}
	if found == nil {
		return 0, mp3Header{}, fmt.Errorf("%w: no MPEG audio frame header", ErrInvalidMP3)
	}
	switch h := *found; {
	case h.layer != 3:
		return 0, h, fmt.Errorf("%w: MPEG audio Layer %d; only Layer III (mp3) is supported", ErrUnsupportedAudio, h.layer)
	case h.version == 25:
		return 0, h, fmt.Errorf("%w: MPEG-2.5 mp3 (%d Hz) is not supported; use 16 kHz or more", ErrUnsupportedAudio, h.rate)
	case h.size == 0:
		return 0, h, fmt.Errorf("%w: free-format mp3 bit rate is not supported", ErrUnsupportedAudio)
	}
	return 0, *found, fmt.Errorf("%w: no two consecutive MPEG audio frames", ErrInvalidMP3)
}

// isMP3 reports whether b starts like an MP3 stream: an ID3v2 tag or an
// MPEG audio frame header.
func isMP3(b []byte) bool {
	if bytes.HasPrefix(b, []byte("ID3")) {
		return true
	}
	_, ok := parseMP3Header(b)
	return ok
}
