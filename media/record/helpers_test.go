package record

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"testing"

	gomp3 "github.com/hajimehoshi/go-mp3"
	"github.com/stretchr/testify/require"
)

// tone is n samples of a sine at freq Hz and amplitude amp, 8 kHz, starting
// at sample offset off.
func tone(freq, amp float64, off, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(off+i)/SampleRate)))
	}
	return s
}

// feed writes seconds of caller and callee tones in 20 ms frames.
func feed(r *Recorder, callerHz, calleeHz float64, frames int) {
	for i := range frames {
		r.Write(tone(callerHz, 8000, i*FrameSamples, FrameSamples), tone(calleeHz, 6000, i*FrameSamples, FrameSamples))
	}
}

// wavFile is a parsed canonical WAV file.
type wavFile struct {
	channels, rate int
	samples        [][]float64 // per channel
}

// parseTestWAV checks a canonical 44-byte-header PCM16 file strictly,
// RIFF and data sizes included, and splits its channels.
func parseTestWAV(t *testing.T, b []byte) wavFile {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 44)
	require.Equal(t, "RIFF", string(b[0:4]))
	require.EqualValues(t, len(b)-8, binary.LittleEndian.Uint32(b[4:]), "RIFF size")
	require.Equal(t, "WAVEfmt ", string(b[8:16]))
	require.EqualValues(t, 16, binary.LittleEndian.Uint32(b[16:]))
	require.EqualValues(t, 1, binary.LittleEndian.Uint16(b[20:]), "PCM")
	ch := int(binary.LittleEndian.Uint16(b[22:]))
	rate := int(binary.LittleEndian.Uint32(b[24:]))
	require.EqualValues(t, rate*2*ch, binary.LittleEndian.Uint32(b[28:]), "byte rate")
	require.EqualValues(t, 2*ch, binary.LittleEndian.Uint16(b[32:]), "block align")
	require.EqualValues(t, 16, binary.LittleEndian.Uint16(b[34:]))
	require.Equal(t, "data", string(b[36:40]))
	require.EqualValues(t, len(b)-44, binary.LittleEndian.Uint32(b[40:]), "data size")
	w := wavFile{channels: ch, rate: rate, samples: make([][]float64, ch)}
	for i := 44; i+2*ch <= len(b); i += 2 * ch {
		for c := range ch {
			w.samples[c] = append(w.samples[c], float64(int16(binary.LittleEndian.Uint16(b[i+2*c:]))))
		}
	}
	return w
}

// decodeTestMP3 decodes with go-mp3 (always stereo 16-bit out) and returns
// the rate and both channels.
func decodeTestMP3(t *testing.T, b []byte) (int, [2][]float64) {
	t.Helper()
	d, err := gomp3.NewDecoder(bytes.NewReader(b))
	require.NoError(t, err)
	pcm, err := io.ReadAll(d)
	require.NoError(t, err)
	var out [2][]float64
	for i := 0; i+4 <= len(pcm); i += 4 {
		out[0] = append(out[0], float64(int16(binary.LittleEndian.Uint16(pcm[i:]))))
		out[1] = append(out[1], float64(int16(binary.LittleEndian.Uint16(pcm[i+2:]))))
	}
	return d.SampleRate(), out
}

// amplitude is the amplitude of the freq component of s (Goertzel over the
// middle half, away from start-up and tail effects).
func amplitude(s []float64, rate int, freq float64) float64 {
	s = s[len(s)/4 : 3*len(s)/4]
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range s {
		s1, s2 = x+k*s1-s2, s1
	}
	return 2 * math.Sqrt(max(0, s1*s1+s2*s2-k*s1*s2)) / float64(len(s))
}
