package wsstream

import (
	"math"

	"github.com/callcore/callcore/media/internal/dsp"
)

// The 8 kHz <-> 16 kHz conversions use one linear-phase half-band FIR
// low-pass (cut-off at 4 kHz, the Nyquist frequency of 8 kHz): 4×halfTaps-1
// = 47 taps, a windowed sinc with a Kaiser window (beta 6.76, about 70 dB
// of stop-band attenuation from 4.75 kHz). Every other coefficient of a
// half-band filter is zero except the centre one, so the polyphase forms
// below only multiply the odd taps. The delay is halfTaps samples at 8 kHz
// (1.5 ms) each way.

const (
	halfTaps   = 12 // non-zero odd taps on each side of the centre; even
	halfKaiser = 6.76
)

// oddTaps[i] is h[2i+1] of the half-band filter h (with h[0] = 0.5, so that
// the filter's DC gain is 1).
var oddTaps = func() [halfTaps]float32 {
	var t [halfTaps]float32
	k := float64(2*halfTaps - 1) // the outermost tap index
	var sum float64
	for i := range halfTaps {
		n := float64(2*i + 1)
		sinc := math.Sin(math.Pi*n/2) / (math.Pi * n / 2)
		w := dsp.Kaiser(n/(k+1), halfKaiser)
		t[i] = float32(0.5 * sinc * w)
		sum += 0.5 * sinc * w
	}
	// Normalise so that the odd taps sum to exactly 0.5 (unit DC gain).
	for i := range t {
		t[i] = float32(float64(t[i]) * 0.25 / sum)
	}
	return t
}()

// upsampler doubles the sample rate (8 -> 16 kHz): each input sample x[j]
// gives x[j] itself and the half-band interpolation between x[j] and
// x[j+1], halfTaps input samples later.
type upsampler struct {
	buf []float32 // the last 2×halfTaps-1 inputs, then the current block
}

func newUpsampler() *upsampler {
	return &upsampler{buf: make([]float32, 2*halfTaps-1, 2*halfTaps-1+320)}
}

// process writes 2×len(in) samples to out (which must be that long).
func (u *upsampler) process(in, out []int16) {
	const keep = 2*halfTaps - 1
	buf := u.buf[:keep]
	for _, x := range in {
		buf = append(buf, float32(x))
	}
	out = out[:2*len(in)]
	for j := range in {
		w := buf[j : j+2*halfTaps] // w[2*halfTaps-1] is in[j]; w[halfTaps-1] the centre
		// Two accumulators break the dependency chain of the sum.
		var a0, a1 float32
		for i := 0; i < halfTaps; i += 2 {
			a0 += oddTaps[i] * (w[halfTaps-1-i] + w[halfTaps+i])
			a1 += oddTaps[i+1] * (w[halfTaps-2-i] + w[halfTaps+1+i])
		}
		out[2*j] = int16(w[halfTaps-1])
		out[2*j+1] = clamp16(2 * (a0 + a1))
	}
	u.buf = buf[:copy(buf, buf[len(buf)-keep:])]
}

// downsampler halves the sample rate (16 -> 8 kHz): half-band low-pass,
// then every other sample.
type downsampler struct {
	buf []float32 // the last 4×halfTaps-2 inputs, then the current block
	odd bool      // the next input has an odd index
}

func newDownsampler() *downsampler {
	return &downsampler{buf: make([]float32, 4*halfTaps-2, 4*halfTaps-2+640)}
}

// process appends the 8 kHz samples for in to out and returns it. The
// phase carries over between calls, so any chunking of the input gives the
// same output. The outputs are those whose filter centre is an input of
// even index (counting from 0 at the start of the stream).
func (d *downsampler) process(in []int16, out []int16) []int16 {
	const (
		keep   = 4*halfTaps - 2
		centre = 2*halfTaps - 1
	)
	buf := d.buf[:keep]
	for _, x := range in {
		buf = append(buf, float32(x))
	}
	// Input j is the newest sample of window buf[j : j+keep+1]; its index
	// is odd when the centre, centre samples earlier, is even.
	j := 0
	if !d.odd {
		j = 1
	}
	for ; j < len(in); j += 2 {
		w := buf[j : j+keep+1]
		a0, a1 := 0.5*w[centre], float32(0)
		for i := 0; i < halfTaps; i += 2 {
			a0 += oddTaps[i] * (w[centre-1-2*i] + w[centre+1+2*i])
			a1 += oddTaps[i+1] * (w[centre-3-2*i] + w[centre+3+2*i])
		}
		out = append(out, clamp16(a0+a1))
	}
	if len(in)%2 == 1 {
		d.odd = !d.odd
	}
	d.buf = buf[:copy(buf, buf[len(buf)-keep:])]
	return out
}

func clamp16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}
