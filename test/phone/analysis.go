package phone

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// RMS returns the root mean square of samples (0 for none). A full-scale
// sine has an RMS of about 23170.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		f := float64(s)
		sum += f * f
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// Goertzel returns the power of samples at freq Hz, computed with the
// Goertzel algorithm and normalised so that a sine of amplitude A at freq
// gives A²/2 — the same unit as RMS², so Goertzel(x, r, f)/RMS(x)² is the
// share of the signal's power at f (about 1 for a pure tone at f). The
// frequency resolution is about sampleRate/len(samples).
func Goertzel(samples []int16, sampleRate, freq float64) float64 {
	n := len(samples)
	if n == 0 || sampleRate <= 0 {
		return 0
	}
	w := 2 * math.Pi * freq / sampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	// |X(f)|² = s1² + s2² − coeff·s1·s2; a sine of amplitude A gives
	// |X| ≈ A·N/2, so 2|X|²/N² ≈ A²/2.
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * power / (float64(n) * float64(n))
}

// DominantFrequency returns the candidate with the highest Goertzel power
// in samples (8 kHz), or 0 if there are no candidates.
func DominantFrequency(samples []int16, candidates []float64) float64 {
	best, bestPower := 0.0, -1.0
	for _, f := range candidates {
		if p := Goertzel(samples, sampleRate, f); p > bestPower {
			best, bestPower = f, p
		}
	}
	return best
}

// Speech detection thresholds, see SpeechLike.
const (
	speechMinActiveFrames = 10    // 200 ms of signal
	speechMinFrameRMS     = 150.0 // about -47 dBFS
	speechBandShare       = 0.6
	speechMinEnvelopeCV   = 0.35
	speechMinZCRStdDev    = 0.02
)

// SpeechLike reports whether samples (8 kHz PCM) look like speech rather
// than silence, a steady tone, DTMF or steady noise. The test is simple and
// deliberately coarse; it works on 20 ms frames:
//
//  1. Active frames are those with an RMS of at least 150 and at least a
//     tenth of the loudest frame's. There must be at least 10 (200 ms).
//  2. Telephone band: at least 60 % of the active frames' energy must
//     survive a 300–3400 Hz band-pass (two second-order Butterworth
//     sections). Hum, rumble and hiss near Nyquist fail.
//  3. Syllabic envelope: the coefficient of variation (stddev/mean) of the
//     active frames' RMS must be at least 0.35. A tone, DTMF or steady noise
//     has a flat envelope (well under 0.1); speech rises and falls with
//     syllables.
//  4. Changing spectrum: the standard deviation across active frames of the
//     zero-crossing rate (crossings per sample) must be at least 0.02.
//     A tone or a beep sequence keeps one rate; speech moves between voiced
//     sounds (low rate) and fricatives (high rate).
func SpeechLike(samples []int16) bool {
	return speechScore(samples).speech()
}

type speechFeatures struct {
	active     int
	bandShare  float64
	envelopeCV float64
	zcrStdDev  float64
}

func (f speechFeatures) speech() bool {
	return f.active >= speechMinActiveFrames &&
		f.bandShare >= speechBandShare &&
		f.envelopeCV >= speechMinEnvelopeCV &&
		f.zcrStdDev >= speechMinZCRStdDev
}

// String formats the features for test failure messages.
func (f speechFeatures) String() string {
	return fmt.Sprintf("active=%d band=%.2f envelope_cv=%.2f zcr_sd=%.3f",
		f.active, f.bandShare, f.envelopeCV, f.zcrStdDev)
}

func speechScore(samples []int16) speechFeatures {
	nFrames := len(samples) / frameSamples
	if nFrames == 0 {
		return speechFeatures{}
	}
	band := bandPass(samples)
	rms := make([]float64, nFrames)
	peak := 0.0
	for i := range rms {
		rms[i] = RMS(samples[i*frameSamples : (i+1)*frameSamples])
		peak = max(peak, rms[i])
	}
	threshold := max(speechMinFrameRMS, peak/10)
	var (
		f               speechFeatures
		total, inBand   float64
		sumRMS, sumRMS2 float64
		sumZCR, sumZCR2 float64
	)
	for i, r := range rms {
		if r < threshold {
			continue
		}
		f.active++
		frame := samples[i*frameSamples : (i+1)*frameSamples]
		for j, s := range frame {
			total += float64(s) * float64(s)
			b := band[i*frameSamples+j]
			inBand += b * b
		}
		sumRMS += r
		sumRMS2 += r * r
		z := zeroCrossingRate(frame)
		sumZCR += z
		sumZCR2 += z * z
	}
	if f.active == 0 || total == 0 {
		return f
	}
	n := float64(f.active)
	f.bandShare = inBand / total
	mean := sumRMS / n
	f.envelopeCV = math.Sqrt(max(0, sumRMS2/n-mean*mean)) / mean
	zm := sumZCR / n
	f.zcrStdDev = math.Sqrt(max(0, sumZCR2/n-zm*zm))
	return f
}

func zeroCrossingRate(frame []int16) float64 {
	if len(frame) < 2 {
		return 0
	}
	n := 0
	for i := 1; i < len(frame); i++ {
		if (frame[i-1] < 0) != (frame[i] < 0) {
			n++
		}
	}
	return float64(n) / float64(len(frame)-1)
}

// biquad is a second-order IIR section (RBJ audio EQ cookbook form).
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func (q *biquad) step(x float64) float64 {
	y := q.b0*x + q.b1*q.x1 + q.b2*q.x2 - q.a1*q.y1 - q.a2*q.y2
	q.x2, q.x1 = q.x1, x
	q.y2, q.y1 = q.y1, y
	return y
}

// newBiquad returns a Butterworth (Q = 1/√2) high-pass or low-pass section
// at cutoff Hz for 8 kHz audio.
func newBiquad(cutoff float64, highPass bool) biquad {
	w := 2 * math.Pi * cutoff / sampleRate
	alpha := math.Sin(w) / math.Sqrt2 // sin(w)/(2Q) with Q = 1/√2
	cos := math.Cos(w)
	a0 := 1 + alpha
	var b0, b1, b2 float64
	if highPass {
		b0, b1, b2 = (1+cos)/2, -(1 + cos), (1+cos)/2
	} else {
		b0, b1, b2 = (1-cos)/2, 1-cos, (1-cos)/2
	}
	return biquad{b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: -2 * cos / a0, a2: (1 - alpha) / a0}
}

// bandPass filters samples through 300 Hz high-pass and 3400 Hz low-pass.
func bandPass(samples []int16) []float64 {
	hp, lp := newBiquad(300, true), newBiquad(3400, false)
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = lp.step(hp.step(float64(s)))
	}
	return out
}

// WriteWAV writes samples as a 16-bit mono 8 kHz WAV file, for looking at
// what a failed test received. Tests should only write into t.TempDir().
func WriteWAV(path string, samples []int16) error {
	const headerSize = 44
	dataSize := 2 * len(samples)
	buf := make([]byte, headerSize+dataSize)
	copy(buf[0:], "RIFF")
	binary.LittleEndian.PutUint32(buf[4:], uint32(36+dataSize))
	copy(buf[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(buf[16:], 16)           // fmt chunk size
	binary.LittleEndian.PutUint16(buf[20:], 1)            // PCM
	binary.LittleEndian.PutUint16(buf[22:], 1)            // mono
	binary.LittleEndian.PutUint32(buf[24:], sampleRate)   // sample rate
	binary.LittleEndian.PutUint32(buf[28:], 2*sampleRate) // byte rate
	binary.LittleEndian.PutUint16(buf[32:], 2)            // block align
	binary.LittleEndian.PutUint16(buf[34:], 16)           // bits per sample
	copy(buf[36:], "data")
	binary.LittleEndian.PutUint32(buf[40:], uint32(dataSize))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(buf[headerSize+2*i:], uint16(s))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}
