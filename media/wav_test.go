package media

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// wavBuilder writes WAV files for tests, with arbitrary chunks.
type wavBuilder struct {
	chunks [][]byte
}

func (w *wavBuilder) chunk(id string, body []byte) *wavBuilder {
	c := make([]byte, 8, 8+len(body)+1)
	copy(c, id)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(body)))
	c = append(c, body...)
	if len(body)%2 == 1 {
		c = append(c, 0) // RIFF pad byte
	}
	w.chunks = append(w.chunks, c)
	return w
}

func (w *wavBuilder) bytes() []byte {
	body := []byte("WAVE")
	for _, c := range w.chunks {
		body = append(body, c...)
	}
	out := make([]byte, 8, 8+len(body))
	copy(out, "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

func fmtChunk(tag uint16, ch, rate, bits int) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], tag)
	binary.LittleEndian.PutUint16(b[2:], uint16(ch))
	binary.LittleEndian.PutUint32(b[4:], uint32(rate))
	binary.LittleEndian.PutUint32(b[8:], uint32(rate*ch*bits/8))
	binary.LittleEndian.PutUint16(b[12:], uint16(ch*bits/8))
	binary.LittleEndian.PutUint16(b[14:], uint16(bits))
	return b
}

func extensibleFmt(sub uint16, ch, rate, bits int) []byte {
	b := fmtChunk(wavFormatExtensible, ch, rate, bits)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[2:], uint16(bits))
	binary.LittleEndian.PutUint32(ext[4:], 3)
	binary.LittleEndian.PutUint16(ext[8:], sub)
	copy(ext[10:], wavGUIDTail)
	return append(b, ext...)
}

// encodeSamples writes float samples in [-1,1) (interleaved) in a format.
func encodeSamples(tag uint16, bits int, x []float64) []byte {
	var out []byte
	for _, v := range x {
		switch {
		case tag == WAVFormatPCM && bits == 8:
			out = append(out, byte(int(math.Round(v*127))+128))
		case tag == WAVFormatPCM && bits == 16:
			out = binary.LittleEndian.AppendUint16(out, uint16(int16(math.Round(v*32767))))
		case tag == WAVFormatPCM && bits == 24:
			s := int32(math.Round(v * 8388607))
			out = append(out, byte(s), byte(s>>8), byte(s>>16))
		case tag == WAVFormatPCM && bits == 32:
			out = binary.LittleEndian.AppendUint32(out, uint32(int32(math.Round(v*2147483647))))
		case tag == WAVFormatIEEEFloat && bits == 32:
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(v)))
		case tag == WAVFormatIEEEFloat && bits == 64:
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		case tag == WAVFormatMuLaw:
			var b [1]byte
			EncodeULaw(b[:], []int16{int16(v * 32767)})
			out = append(out, b[0])
		case tag == WAVFormatALaw:
			var b [1]byte
			EncodeALaw(b[:], []int16{int16(v * 32767)})
			out = append(out, b[0])
		}
	}
	return out
}

// toneWAV returns a WAV of a 1 kHz tone (ms long) in the given format; for
// stereo the right channel is silent, so the mono mix is at half level.
func toneWAV(tag uint16, ch, rate, bits, ms int) []byte {
	n := rate * ms / 1000
	x := make([]float64, 0, n*ch)
	for i := range n {
		v := 0.5 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate))
		x = append(x, v)
		for c := 1; c < ch; c++ {
			x = append(x, 0)
		}
	}
	w := &wavBuilder{}
	w.chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00test\x00")) // odd size: padded
	w.chunk("fmt ", fmtChunk(tag, ch, rate, bits))
	w.chunk("fact", []byte{1, 0, 0, 0})
	w.chunk("data", encodeSamples(tag, bits, x))
	return w.bytes()
}

func TestDecodeWAVFormats(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		format   uint16
		channels int
		rate     int
		level    float64 // expected RMS of the decoded tone
	}{
		{"pcm8 mono 8k", toneWAV(WAVFormatPCM, 1, 8000, 8, 500), WAVFormatPCM, 1, 8000, 0.5},
		{"pcm16 mono 8k", toneWAV(WAVFormatPCM, 1, 8000, 16, 500), WAVFormatPCM, 1, 8000, 0.5},
		{"pcm16 stereo 44.1k", toneWAV(WAVFormatPCM, 2, 44100, 16, 500), WAVFormatPCM, 2, 44100, 0.25},
		{"pcm24 mono 48k", toneWAV(WAVFormatPCM, 1, 48000, 24, 500), WAVFormatPCM, 1, 48000, 0.5},
		{"pcm32 mono 16k", toneWAV(WAVFormatPCM, 1, 16000, 32, 500), WAVFormatPCM, 1, 16000, 0.5},
		{"float32 stereo 22.05k", toneWAV(WAVFormatIEEEFloat, 2, 22050, 32, 500), WAVFormatIEEEFloat, 2, 22050, 0.25},
		{"float64 mono 11.025k", toneWAV(WAVFormatIEEEFloat, 1, 11025, 64, 500), WAVFormatIEEEFloat, 1, 11025, 0.5},
		{"ulaw mono 8k", toneWAV(WAVFormatMuLaw, 1, 8000, 8, 500), WAVFormatMuLaw, 1, 8000, 0.5},
		{"alaw mono 8k", toneWAV(WAVFormatALaw, 1, 8000, 8, 500), WAVFormatALaw, 1, 8000, 0.5},
		{"extensible pcm16 6ch 48k", (&wavBuilder{}).chunk("fmt ", extensibleFmt(WAVFormatPCM, 6, 48000, 16)).
			chunk("data", encodeSamples(WAVFormatPCM, 16, func() []float64 {
				x := make([]float64, 0, 24000*6)
				for i := range 24000 {
					v := 0.6 * math.Sin(2*math.Pi*1000*float64(i)/48000)
					x = append(x, v, v, v, v, v, v)
				}
				return x
			}())).bytes(), WAVFormatPCM, 6, 48000, 0.6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, info, err := DecodeWAV(tt.data)
			require.NoError(t, err)
			require.Equal(t, tt.format, info.Format)
			require.Equal(t, tt.channels, info.Channels)
			require.Equal(t, tt.rate, info.SampleRate)
			require.InDelta(t, 4000, len(pcm), 2, "500 ms at 8 kHz")
			mid := pcm[400 : len(pcm)-400] // skip resampler edges
			require.InDelta(t, 1000, dominantFreq(mid, 500, 3500, 5), 5)
			require.InDelta(t, tt.level*32768/math.Sqrt2, rms(mid), tt.level*32768*0.05)
		})
	}
}

func TestDecodeWAVStreamingSize(t *testing.T) {
	data := EncodeWAV(sine(2205, 700, 22050, 8000), 22050)
	binary.LittleEndian.PutUint32(data[4:], 0x7FFFF024)  // as espeak-ng --stdout writes
	binary.LittleEndian.PutUint32(data[40:], 0x7FFFF000) // data size unknown
	pcm, info, err := DecodeWAV(data)
	require.NoError(t, err)
	require.Equal(t, 2205, info.Frames)
	require.Len(t, pcm, 800)
}

func TestDecodeWAVErrors(t *testing.T) {
	good := toneWAV(WAVFormatPCM, 1, 8000, 16, 100)
	tests := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"empty", nil, ErrInvalidWAV, "too short"},
		{"html", []byte("<html><body>not found</body></html>"), ErrInvalidWAV, "not a RIFF file"},
		{"avi", append([]byte("RIFF\x04\x00\x00\x00AVI "), make([]byte, 8)...), ErrInvalidWAV, "not WAVE"},
		{"rf64", append([]byte("RF64\xff\xff\xff\xffWAVE"), make([]byte, 8)...), ErrUnsupportedAudio, "RF64"},
		{"no fmt", (&wavBuilder{}).chunk("data", make([]byte, 8)).bytes(), ErrInvalidWAV, "before fmt"},
		{"no data", (&wavBuilder{}).chunk("fmt ", fmtChunk(1, 1, 8000, 16)).bytes(), ErrInvalidWAV, "no data chunk"},
		{"truncated data", good[:len(good)-50], ErrInvalidWAV, "truncated data chunk"},
		{"truncated fmt", good[:60], ErrInvalidWAV, "truncated"},
		{"short fmt", (&wavBuilder{}).chunk("fmt ", make([]byte, 10)).bytes(), ErrInvalidWAV, "want at least 16"},
		{"two fmt", (&wavBuilder{}).chunk("fmt ", fmtChunk(1, 1, 8000, 16)).chunk("fmt ", fmtChunk(1, 1, 8000, 16)).bytes(), ErrInvalidWAV, "more than one fmt"},
		{"mp3 in wav", (&wavBuilder{}).chunk("fmt ", fmtChunk(wavFormatMP3, 1, 8000, 0)).chunk("data", make([]byte, 8)).bytes(), ErrUnsupportedAudio, "mp3"},
		{"adpcm", (&wavBuilder{}).chunk("fmt ", fmtChunk(0x0011, 1, 8000, 4)).chunk("data", make([]byte, 8)).bytes(), ErrUnsupportedAudio, "0x0011"},
		{"12-bit pcm", (&wavBuilder{}).chunk("fmt ", fmtChunk(1, 1, 8000, 12)).chunk("data", make([]byte, 8)).bytes(), ErrUnsupportedAudio, "12-bit"},
		{"zero channels", (&wavBuilder{}).chunk("fmt ", fmtChunk(1, 0, 8000, 16)).chunk("data", make([]byte, 8)).bytes(), ErrInvalidWAV, "0 channels"},
		{"rate too low", (&wavBuilder{}).chunk("fmt ", fmtChunk(1, 1, 10, 16)).chunk("data", make([]byte, 8)).bytes(), ErrInvalidWAV, "sample rate"},
		{"16-bit alaw", (&wavBuilder{}).chunk("fmt ", fmtChunk(WAVFormatALaw, 1, 8000, 16)).chunk("data", make([]byte, 8)).bytes(), ErrInvalidWAV, "G.711"},
		{"bad block align", func() []byte {
			f := fmtChunk(1, 2, 8000, 16)
			binary.LittleEndian.PutUint16(f[12:], 2)
			return (&wavBuilder{}).chunk("fmt ", f).chunk("data", make([]byte, 8)).bytes()
		}(), ErrInvalidWAV, "block align"},
		{"unknown extensible subformat", (&wavBuilder{}).chunk("fmt ", func() []byte {
			b := extensibleFmt(1, 1, 8000, 16)
			b[len(b)-1] ^= 0xFF
			return b
		}()).chunk("data", make([]byte, 8)).bytes(), ErrUnsupportedAudio, "sub-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeWAV(tt.data)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.message)
		})
	}
}

func TestDecodeWAVTestdata(t *testing.T) {
	// testdata/*.wav are small generated fixtures (see TestGenerateTestdata).
	files, err := filepath.Glob("testdata/*.wav")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		pcm, _, err := DecodeWAV(data)
		require.NoError(t, err, f)
		require.NotEmpty(t, pcm, f)
	}
}

func TestResampleAntiAliasing(t *testing.T) {
	// 1 kHz passes at unity gain; 5 kHz (above the 4 kHz Nyquist of the
	// output) must not alias to 3 kHz.
	in := sine(22050, 1000, 22050, 10000)
	out := ResampleTo8k(in, 22050)
	require.Len(t, out, 8000)
	mid := out[200:7800]
	require.InDelta(t, 10000/math.Sqrt2, rms(mid), 150)

	alias := ResampleTo8k(sine(22050, 5000, 22050, 10000), 22050)[200:7800]
	require.Less(t, rms(alias), 10000/math.Sqrt2*0.001, "5 kHz must be attenuated by more than 60 dB")

	up := ResampleTo8k(sine(4000, 1000, 4000, 10000), 4000)
	require.Len(t, up, 8000)
	require.InDelta(t, 1000, dominantFreq(up[200:7800], 500, 3500, 5), 5)
}

func TestResamplePolyphaseMatchesDirect(t *testing.T) {
	for _, rate := range []int{11025, 16000, 22050, 44100, 48000, 4000} {
		in := make([]float32, rate/2)
		for i := range in {
			in[i] = float32(0.3*math.Sin(float64(i)*0.05) + 0.2*math.Sin(float64(i)*1.3))
		}
		fast := resample(in, rate, SampleRate)
		sincTableOnce.Do(buildSincTable)
		slow := make([]float32, len(fast))
		resampleDirect(in, slow, rate, SampleRate)
		for i := range fast {
			require.InDelta(t, slow[i], fast[i], 1e-4, "rate %d sample %d", rate, i)
		}
	}
	// A ratio with too many phases takes the direct path.
	require.Nil(t, polyphaseFor(44099, SampleRate))
	out := ResampleTo8k(sine(44099, 1000, 44099, 10000), 44099)
	require.Len(t, out, 8000)
	require.InDelta(t, 1000, dominantFreq(out[200:7800], 500, 3500, 5), 5)
	require.InDelta(t, 10000/math.Sqrt2, rms(out[200:7800]), 150)
}

func BenchmarkResample22050To8k(b *testing.B) {
	in := sine(22050, 440, 22050, 10000)
	b.ReportAllocs()
	b.SetBytes(int64(len(in) * 2))
	for b.Loop() {
		ResampleTo8k(in, 22050)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(toneWAV(WAVFormatPCM, 1, 8000, 16, 20))
	f.Add(toneWAV(WAVFormatIEEEFloat, 2, 44100, 32, 5))
	f.Add(toneWAV(WAVFormatMuLaw, 1, 8000, 8, 10))
	f.Add((&wavBuilder{}).chunk("fmt ", extensibleFmt(WAVFormatPCM, 3, 16000, 24)).chunk("data", make([]byte, 90)).bytes())
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, info, err := DecodeWAV(data)
		if err != nil {
			return
		}
		want := int(math.Round(float64(info.Frames) * SampleRate / float64(info.SampleRate)))
		if len(pcm) != want {
			t.Fatalf("%d frames at %d Hz gave %d samples, want %d", info.Frames, info.SampleRate, len(pcm), want)
		}
	})
}
