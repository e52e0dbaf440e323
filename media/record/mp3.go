package record

import (
	"bufio"
	"errors"
	"math"
	"os"

	"github.com/braheezy/shine-mp3/pkg/mp3"

	"github.com/callcore/callcore/media/internal/dsp"
)

// MP3 output. The recorder's 8 kHz audio is upsampled ×3 to 24 kHz and
// encoded as MPEG-2 Layer III (ISO/IEC 13818-3 "LSF") at 32 kbit/s per
// channel, constant bit rate. MPEG-2 at 24 kHz is decoded by every MP3
// player, unlike MPEG-2.5 (the only way to keep 8 kHz), which is a
// non-standard extension; and shine's MPEG-2 16 kHz scalefactor table has
// typos that break decoding, so 24 kHz it is.
const (
	mp3Rate        = 24000
	mp3Up          = mp3Rate / SampleRate // 3
	mp3Granule     = 576                  // samples per channel per MPEG-2 frame
	mp3KbpsPerChan = 32
)

// mp3BitrateIndex maps MPEG-2 Layer III bit rates (kbit/s) to the header's
// bitrate_index (ISO/IEC 13818-3 table 2.4.2.3).
var mp3BitrateIndex = map[int]int64{8: 1, 16: 2, 24: 3, 32: 4, 40: 5, 48: 6, 56: 7, 64: 8, 80: 9, 96: 10, 112: 11, 128: 12, 144: 13, 160: 14}

type mp3Sink struct {
	f        *os.File
	w        *bufio.Writer
	enc      *mp3.Encoder
	channels int
	up       [2]upsampler
	pcm      []int16 // one granule of interleaved 24 kHz samples (see encode)
	fill     int     // samples per channel in pcm
}

func newMP3Sink(f *os.File, channels int) (*mp3Sink, error) {
	enc, err := newShine(channels)
	if err != nil {
		return nil, err
	}
	return &mp3Sink{
		f:        f,
		w:        bufio.NewWriterSize(f, 16<<10),
		enc:      enc,
		channels: channels,
		pcm:      make([]int16, mp3Granule*channels, (mp3Granule+2)*channels),
	}, nil
}

// newShine returns a shine encoder for 24 kHz at mp3KbpsPerChan per
// channel. shine.NewEncoder always picks 128 kbit/s; its exported MPEG
// fields are the ones it derives from the bit rate, recomputed here the way
// it computes them.
func newShine(channels int) (*mp3.Encoder, error) {
	kbps := mp3KbpsPerChan * channels
	idx, ok := mp3BitrateIndex[kbps]
	if !ok || mp3.CheckConfig(mp3Rate, kbps) < 0 {
		return nil, errors.New("mp3: unsupported bit rate")
	}
	enc := mp3.NewEncoder(mp3Rate, channels)
	enc.Mpeg.Bitrate = int64(kbps)
	enc.Mpeg.BitrateIndex = idx
	slots := float64(enc.Mpeg.GranulesPerFrame) * mp3.GRANULE_SIZE / mp3Rate * float64(kbps) * 1000 / float64(enc.Mpeg.BitsPerSlot)
	enc.Mpeg.WholeSlotsPerFrame = int64(slots)
	enc.Mpeg.FracSlotsPerFrame = slots - float64(enc.Mpeg.WholeSlotsPerFrame)
	enc.Mpeg.Slot_lag = -enc.Mpeg.FracSlotsPerFrame
	enc.Mpeg.Padding = 0
	return enc, nil
}

func (s *mp3Sink) write(pcm []int16) error {
	ch := s.channels
	for i := 0; i < len(pcm); i += ch {
		for c := range ch {
			var out [mp3Up]int16
			s.up[c].push(pcm[i+c], &out)
			for k, v := range out {
				s.pcm[(s.fill+k)*ch+c] = v
			}
		}
		s.fill += mp3Up
		if s.fill == mp3Granule {
			if err := s.encode(); err != nil {
				return err
			}
		}
	}
	return nil
}

// encode writes one MP3 frame from a full granule. shine's Write is given
// exactly one frame: with more, it skips audio (mono) or reads past the
// slice (stereo). Its unsafe pointer walk ends one sample per channel past
// the granule, so pcm has spare capacity there: the pointer stays inside
// the allocation, as -race's checkptr demands.
func (s *mp3Sink) encode() error {
	s.fill = 0
	return s.enc.Write(s.w, s.pcm)
}

func (s *mp3Sink) finish() error {
	// One granule of silence pushes the end of the audio through the
	// upsampler and the encoder's filter bank (their delay is well under a
	// granule), then the last granule is completed with silence. An empty
	// recording thus still is a valid MP3 of one frame.
	silence := make([]int16, mp3Granule/mp3Up*s.channels)
	err := s.write(silence)
	if err == nil && s.fill > 0 {
		clear(s.pcm[s.fill*s.channels:])
		err = s.encode()
	}
	if err == nil {
		err = s.w.Flush()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *mp3Sink) abort() { _ = s.f.Close() }

// upsampler interpolates 8 kHz to 24 kHz with a 72-tap Kaiser-windowed
// sinc low-pass (cut-off 3.8 kHz, β = 7) in polyphase form: each input
// sample yields three output samples.
type upsampler struct {
	hist [2 * upTaps]float32 // the last upTaps inputs, twice, newest at pos
	pos  int
}

const upTaps = 24 // taps per phase

// upCoef[p][k] is tap p + 3k of the prototype filter, scaled by 3 for the
// energy the zero-stuffing removes.
var upCoef = func() (c [mp3Up][upTaps]float32) {
	const (
		n    = mp3Up * upTaps
		fc   = 3800.0 / mp3Rate
		beta = 7.0
	)
	mid := float64(n-1) / 2
	for i := range n {
		x := float64(i) - mid
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := dsp.Kaiser(x/mid, beta)
		c[i%mp3Up][i/mp3Up] = float32(mp3Up * sinc * w)
	}
	return c
}()

func (u *upsampler) push(x int16, out *[mp3Up]int16) {
	u.pos--
	if u.pos < 0 {
		u.pos = upTaps - 1
	}
	v := float32(x)
	u.hist[u.pos] = v
	u.hist[u.pos+upTaps] = v
	h := u.hist[u.pos : u.pos+upTaps]
	for p := range mp3Up {
		var acc float32
		for k, c := range upCoef[p] {
			acc += c * h[k]
		}
		out[p] = int16(max(-32768, min(32767, math.Round(float64(acc)))))
	}
}
