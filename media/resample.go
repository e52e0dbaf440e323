package media

import (
	"math"
	"sync"

	"github.com/callcore/callcore/media/internal/dsp"
)

// Resampling to 8 kHz uses a windowed-sinc low-pass interpolator: every
// output sample is the input convolved with a sinc kernel centred on its
// exact (fractional) input position, band-limited to 92% of the lower
// Nyquist frequency (3.68 kHz when going down to 8 kHz, which keeps the
// whole 300-3400 Hz telephone band and rejects aliases) and shaped by a
// Kaiser window (beta 8.6, 16 zero crossings on each side, about -80 dB
// stop band). The kernel is tabulated once (512 points per zero crossing,
// linearly interpolated), so no trigonometry runs per sample.

const (
	sincZeroCrossings = 16
	sincResolution    = 512
	kaiserBeta        = 8.6
	cutoffFraction    = 0.92
)

var (
	sincTableOnce sync.Once
	sincTable     []float32 // kernel(u) for u = i/sincResolution, u in [0, sincZeroCrossings]
)

func buildSincTable() {
	n := sincZeroCrossings*sincResolution + 2
	sincTable = make([]float32, n)
	for i := range n {
		u := float64(i) / sincResolution
		if u > sincZeroCrossings {
			continue
		}
		s := 1.0
		if u != 0 {
			s = math.Sin(math.Pi*u) / (math.Pi * u)
		}
		sincTable[i] = float32(s * dsp.Kaiser(u/sincZeroCrossings, kaiserBeta))
	}
}

// kernelAt returns the tabulated windowed sinc at u zero-crossing units.
func kernelAt(u float64) float32 {
	if u < 0 {
		u = -u
	}
	if u >= sincZeroCrossings {
		return 0
	}
	x := u * sincResolution
	i := int(x)
	f := float32(x - float64(i))
	return sincTable[i] + f*(sincTable[i+1]-sincTable[i])
}

// resample converts mono samples at inRate to outRate. The result has
// round(len(in) * outRate / inRate) samples.
func resample(in []float32, inRate, outRate int) []float32 {
	if inRate == outRate || len(in) == 0 {
		out := make([]float32, len(in))
		copy(out, in)
		return out
	}
	sincTableOnce.Do(buildSincTable)
	nOut := int(math.Round(float64(len(in)) * float64(outRate) / float64(inRate)))
	out := make([]float32, nOut)
	if pp := polyphaseFor(inRate, outRate); pp != nil {
		pp.run(in, out)
		return out
	}
	resampleDirect(in, out, inRate, outRate)
	return out
}

// resampleDirect evaluates the kernel at every tap; it serves ratios whose
// polyphase table would be too large.
func resampleDirect(in, out []float32, inRate, outRate int) {
	ratio := float64(outRate) / float64(inRate)
	scale, half, gain := kernelParams(ratio)
	last := len(in) - 1
	for k := range out {
		t := float64(k) / ratio // position in input samples
		lo := max(int(math.Ceil(t-half)), 0)
		hi := min(int(math.Floor(t+half)), last)
		var acc float32
		for i := lo; i <= hi; i++ {
			acc += in[i] * kernelAt((t-float64(i))*scale)
		}
		out[k] = acc * gain
	}
}

// kernelParams returns, for a rate ratio out/in, the kernel argument scale
// (zero crossings per input sample), its half-width in input samples and
// the gain that makes the DC response 1.
func kernelParams(ratio float64) (scale, half float64, gain float32) {
	fc := 0.5 * cutoffFraction // cutoff in cycles per input sample
	if ratio < 1 {
		fc *= ratio
	}
	return 2 * fc, sincZeroCrossings / (2 * fc), float32(2 * fc)
}

// polyphase is the resampler for a rational ratio L/M: output sample k sits
// at input position k*M/L, whose fractional part takes one of L values, so
// the kernel weights of every phase are computed once.
type polyphase struct {
	l, m    int
	start   []int       // per phase: offset of the first tap from floor(position)
	weights [][]float32 // per phase: tap weights, gain included
}

var polyphaseCache sync.Map // [2]int{inRate, outRate} -> *polyphase

// maxPolyphaseWeights bounds the size of one polyphase table.
const maxPolyphaseWeights = 1 << 20

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// polyphaseFor returns the cached table for the rates, or nil when the
// ratio needs too many phases (the direct path is used then).
func polyphaseFor(inRate, outRate int) *polyphase {
	key := [2]int{inRate, outRate}
	if v, ok := polyphaseCache.Load(key); ok {
		return v.(*polyphase)
	}
	g := gcd(inRate, outRate)
	l, m := outRate/g, inRate/g
	scale, half, gain := kernelParams(float64(outRate) / float64(inRate))
	if l*(2*int(half)+3) > maxPolyphaseWeights {
		return nil
	}
	pp := &polyphase{l: l, m: m, start: make([]int, l), weights: make([][]float32, l)}
	for p := range l {
		frac := float64(p) / float64(l)
		j0 := int(math.Ceil(frac - half))
		j1 := int(math.Floor(frac + half))
		w := make([]float32, j1-j0+1)
		for j := j0; j <= j1; j++ {
			w[j-j0] = gain * kernelAt((frac-float64(j))*scale)
		}
		pp.start[p], pp.weights[p] = j0, w
	}
	v, _ := polyphaseCache.LoadOrStore(key, pp)
	return v.(*polyphase)
}

func (pp *polyphase) run(in, out []float32) {
	last := len(in) - 1
	for k := range out {
		pos := k * pp.m
		i0, p := pos/pp.l, pos%pp.l
		w := pp.weights[p]
		first := i0 + pp.start[p]
		var acc float32
		if first >= 0 && first+len(w)-1 <= last {
			x := in[first : first+len(w)]
			for j, c := range w {
				acc += x[j] * c
			}
		} else {
			for j, c := range w {
				if i := first + j; i >= 0 && i <= last {
					acc += in[i] * c
				}
			}
		}
		out[k] = acc
	}
}

// toInt16 quantizes [-1, 1) floats to 16-bit PCM with rounding and clipping.
func toInt16(in []float32) []int16 {
	out := make([]int16, len(in))
	for i, v := range in {
		out[i] = quantize(v)
	}
	return out
}

// quantize converts one [-1, 1) float to 16-bit PCM with rounding and
// clipping.
func quantize(v float32) int16 {
	x := math.Round(float64(v) * 32768)
	switch {
	case math.IsNaN(x):
		x = 0
	case x > math.MaxInt16:
		x = math.MaxInt16
	case x < math.MinInt16:
		x = math.MinInt16
	}
	return int16(x)
}

// streamResampler converts a mono stream to 8 kHz chunk by chunk, so that a
// long decoded input never has to be held at its own rate. Its output is
// the same, sample for sample, as resample on the whole input followed by
// toInt16. Only the input window the filter still needs is kept. Ratios
// without a polyphase table (none of the standard audio rates) fall back to
// buffering the input and resampling it at the end.
type streamResampler struct {
	inRate int
	pp     *polyphase // nil: buffer everything (direct path)
	minOff int        // smallest tap offset of any phase (<= 0)
	buf    []float32  // input from absolute index base on
	base   int
	total  int     // input samples written
	next   int     // next output index
	out    []int16 // output so far
}

func newStreamResampler(inRate int) *streamResampler {
	sincTableOnce.Do(buildSincTable)
	r := &streamResampler{inRate: inRate}
	if inRate != SampleRate {
		r.pp = polyphaseFor(inRate, SampleRate)
	}
	if r.pp != nil {
		for _, s := range r.pp.start {
			r.minOff = min(r.minOff, s)
		}
	}
	return r
}

// outputs returns how many output samples n input samples make in total.
func (r *streamResampler) outputs(n int) int {
	return int(math.Round(float64(n) * SampleRate / float64(r.inRate)))
}

// write adds input samples and converts every output whose taps are all
// available.
func (r *streamResampler) write(in []float32) {
	r.buf = append(r.buf, in...)
	r.total += len(in)
	if r.inRate == SampleRate {
		for _, v := range r.buf {
			r.out = append(r.out, quantize(v))
		}
		r.base += len(r.buf)
		r.buf = r.buf[:0]
		return
	}
	if r.pp == nil {
		return
	}
	r.run(false)
}

// run converts outputs; with final set it converts all that remain, the
// input past the end counting as silence.
func (r *streamResampler) run(final bool) {
	pp := r.pp
	limit := r.outputs(r.total)
	for ; r.next < limit; r.next++ {
		pos := r.next * pp.m
		i0, p := pos/pp.l, pos%pp.l
		w := pp.weights[p]
		first := i0 + pp.start[p]
		if !final && first+len(w) > r.total {
			break
		}
		var acc float32
		if first >= r.base && first+len(w) <= r.base+len(r.buf) {
			x := r.buf[first-r.base : first-r.base+len(w)]
			for j, c := range w {
				acc += x[j] * c
			}
		} else {
			for j, c := range w {
				if i := first + j - r.base; i >= 0 && i < len(r.buf) {
					acc += r.buf[i] * c
				}
			}
		}
		r.out = append(r.out, quantize(acc))
	}
	// Drop the input no later output needs.
	if keep := (r.next*pp.m)/pp.l + r.minOff; keep > r.base+len(r.buf)/2 {
		drop := min(keep-r.base, len(r.buf))
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.base += drop
	}
}

// finish converts the rest and returns the whole output.
func (r *streamResampler) finish() []int16 {
	switch {
	case r.inRate == SampleRate:
	case r.pp == nil:
		r.out = toInt16(resample(r.buf, r.inRate, SampleRate))
		r.buf = nil
	default:
		r.run(true)
	}
	return r.out
}

// ResampleTo8k converts mono 16-bit PCM at rate Hz to 8 kHz with the
// windowed-sinc resampler.
func ResampleTo8k(pcm []int16, rate int) []int16 {
	f := make([]float32, len(pcm))
	for i, s := range pcm {
		f[i] = float32(s) / 32768
	}
	return toInt16(resample(f, rate, SampleRate))
}
