package amd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/callcore/callcore/media"
	"github.com/stretchr/testify/require"
)

// speak synthesizes text with espeak-ng (skipping the test when it is not
// installed) and returns it as 8 kHz mono PCM.
func speak(t testing.TB, text string) []int16 {
	t.Helper()
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Skip("espeak-ng is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v", "en-us", "--stdout", text).Output()
	require.NoError(t, err)
	pcm, rate, err := parseWAV(out)
	require.NoError(t, err)
	return resampleTo8k(pcm, rate)
}

// parseWAV reads a 16-bit mono PCM RIFF/WAVE file as written by
// espeak-ng --stdout (whose data size is a streaming placeholder: the data
// runs to the end of the file).
func parseWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF/WAVE file")
	}
	rate := 0
	for pos := 12; pos+8 <= len(b); {
		id := string(b[pos : pos+4])
		size := int(binary.LittleEndian.Uint32(b[pos+4 : pos+8]))
		pos += 8
		switch id {
		case "fmt ":
			if size < 16 || pos+16 > len(b) {
				return nil, 0, errors.New("short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(b[pos:])
			channels := binary.LittleEndian.Uint16(b[pos+2:])
			bits := binary.LittleEndian.Uint16(b[pos+14:])
			if format != 1 || channels != 1 || bits != 16 {
				return nil, 0, errors.New("not 16-bit mono PCM")
			}
			rate = int(binary.LittleEndian.Uint32(b[pos+4:]))
		case "data":
			if rate == 0 {
				return nil, 0, errors.New("data before fmt")
			}
			data := b[pos:]
			if size < len(data) {
				data = data[:size]
			}
			pcm := make([]int16, len(data)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return pcm, rate, nil
		}
		if size > len(b)-pos {
			return nil, 0, errors.New("truncated chunk")
		}
		pos += size + size&1
	}
	return nil, 0, errors.New("no data chunk")
}

// resampleTo8k converts pcm at rate to 8 kHz with a Hann-windowed sinc
// low-pass interpolator (cut-off 3.6 kHz, 32 taps each side).
func resampleTo8k(pcm []int16, rate int) []int16 {
	const taps = 32
	step := float64(rate) / 8000
	fc := 3600 / float64(rate) // normalised cut-off
	out := make([]int16, int(float64(len(pcm))/step))
	for m := range out {
		t := float64(m) * step
		c := int(t)
		var acc float64
		for k := c - taps + 1; k <= c+taps; k++ {
			if k < 0 || k >= len(pcm) {
				continue
			}
			u := t - float64(k)
			w := 0.5 + 0.5*math.Cos(math.Pi*u/taps)
			s := 2 * fc
			if u != 0 {
				s = math.Sin(2*math.Pi*fc*u) / (math.Pi * u)
			}
			acc += float64(pcm[k]) * s * w
		}
		out[m] = int16(max(-32768, min(32767, math.Round(acc))))
	}
	return out
}

// read drains a media.Source.
func read(t testing.TB, src media.Source) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 160)
	for {
		n, err := src.ReadSamples(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
}

// silence returns d of digital silence.
func silence(d time.Duration) []int16 { return make([]int16, int(d*8000/time.Second)) }

// tone returns d of the sum of sines at freqs (media.Tone's levels).
func tone(t testing.TB, d time.Duration, freqs ...float64) []int16 {
	return read(t, media.Tone(freqs, d))
}

// cat concatenates sample slices.
func cat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// rms is the root mean square of the samples whose magnitude exceeds gate
// (the active part of speech when gate > 0).
func rms(pcm []int16, gate int16) float64 {
	var sum float64
	n := 0
	for _, v := range pcm {
		if v > gate || v < -gate {
			sum += float64(v) * float64(v)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}

// withNoise returns pcm plus Gaussian white noise snrDB below the RMS of
// pcm's active part (a fixed seed keeps the test deterministic).
func withNoise(pcm []int16, snrDB float64, seed uint64) []int16 {
	sigma := rms(pcm, 300) / math.Pow(10, snrDB/20)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]int16, len(pcm))
	for i, v := range pcm {
		x := float64(v) + r.NormFloat64()*sigma
		out[i] = int16(max(-32768, min(32767, math.Round(x))))
	}
	return out
}

// noise returns d of Gaussian white noise of the given RMS.
func noise(d time.Duration, level float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := silence(d)
	for i := range out {
		out[i] = int16(max(-32768, min(32767, math.Round(r.NormFloat64()*level))))
	}
	return out
}

// outcome is what a detector reported over a whole signal.
type outcome struct {
	result    Result
	decided   int // how many times Process said decided
	decidedAt int // sample offset of the frame that decided
	beep      time.Duration
	beeps     int
}

// feedMode is how the test hands frames to the detector.
type feedMode int

const (
	processThenBeep feedMode = iota // Process until decided, then Beep
	both                            // Process and Beep on every frame
	beepFirst                       // Beep then Process on every frame
	beepOnly                        // Beep only
)

// run feeds pcm to d in 20 ms frames through a reused buffer, as the media
// tap does.
func run(d *Detector, pcm []int16, mode feedMode) outcome {
	var o outcome
	buf := make([]int16, 160)
	decided := false
	for off := 0; off < len(pcm); off += 160 {
		n := copy(buf, pcm[off:])
		f := buf[:n]
		proc := func() {
			if r, ok := d.Process(f); ok {
				o.result, o.decidedAt = r, off
				o.decided++
				decided = true
			}
		}
		beep := func() {
			if at, ok := d.Beep(f); ok {
				o.beep = at
				o.beeps++
			}
		}
		switch mode {
		case processThenBeep:
			if decided {
				beep()
			} else {
				proc()
			}
		case both:
			proc()
			beep()
		case beepFirst:
			beep()
			proc()
		case beepOnly:
			beep()
		}
	}
	return o
}
