package media

import "math"

// In-band DTMF detection (ITU-T Q.23 signals, Q.24 receiver) with Goertzel
// filters.
//
// The detector looks at 20 ms windows (160 samples) that advance by 10 ms.
// For every 10 ms block it runs one Goertzel filter per DTMF frequency and
// keeps the complex results, so that a window is the sum of two blocks and
// costs no second pass. A window holds a digit when all of these hold:
//
//   - the strongest row and column frequencies are found at the nominal
//     frequencies; each tone's power is then the largest of the nominal one
//     and two probes at ±1.5% (the Q.24 "must accept" deviation), so that
//     an off-nominal tone loses at most 1 dB;
//   - each of the two tones is at least -32 dBm0 (dtmfMinLevelDBm0);
//   - twist: the high-group tone is at most 4 dB above the low-group tone
//     ("reverse twist") and at most 8 dB below it ("standard twist");
//   - relative peak: each tone is at least 8 dB above every other
//     frequency of its group;
//   - energy share: the two tones carry at least 72% of the window's energy
//     (speech and music spread theirs over many frequencies; a window that
//     the tone only partly covers fails too);
//   - balance: each half of the window holds at least 60% of the energy of
//     the other: the tone covers at least 16 of the window's 20 ms;
//   - second harmonic: the power around twice the column frequency
//     (measured over 10 ms blocks, whose wider band catches the harmonic
//     of an off-nominal tone) is at least 20 dB below the column tone:
//     voices and instruments have harmonics, a DTMF generator has none.
//     The row tones' harmonics (1394-1882 Hz) fall within 60-250 Hz of
//     column frequencies and cannot be told apart from their leakage in a
//     20 ms window, so they are not checked.
//
// A digit is reported when two consecutive windows hold the same digit
// (30 ms of tone analysed: every tone of 40 ms or more qualifies, none
// under 22 ms does), and the same digit is reported again only after a
// pause: four consecutive windows without it (about 40 ms of silence or
// other audio; shorter interruptions, e.g. a lost packet, do not split a
// digit). A different digit is reported as soon as it has its own two
// windows. The ±3.5% "must reject" deviation is not enforced beyond the
// selectivity of the 20 ms window.

const (
	dtmfBlock        = 80            // samples per analysis step (10 ms)
	dtmfWindow       = 2 * dtmfBlock // samples per analysis window (20 ms)
	dtmfMinHits      = 2             // consecutive windows for a digit
	dtmfPauseWindows = 4             // windows without the digit before it may repeat
	dtmfMinLevelDBm0 = -32.0         // minimum level of each tone
	dtmfDBm0Amp      = 22616.0       // peak amplitude of a 0 dBm0 sine in 16-bit G.711 PCM
	dtmfReverseTwist = 2.5118864315  // 4 dB: high group above low group
	dtmfStdTwist     = 6.3095734448  // 8 dB: low group above high group
	dtmfRelPeak      = 6.3095734448  // 8 dB over the other frequencies of the group
	dtmfEnergyRatio  = 0.72          // share of the window energy in the two tones
	dtmfHarmonic     = 0.01          // -20 dB: second harmonic limit
	dtmfBalance      = 0.6           // energy of the weaker half of a window vs the other
	dtmfDeviation    = 0.015         // frequency deviation of the probes
	dtmfMaxProbeGain = 2.6           // largest power gain of a probe over the nominal filter (+4.1 dB)
)

var (
	dtmfRowFreqs = [4]float64{697, 770, 852, 941}
	dtmfColFreqs = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeys     = [4][4]rune{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}

	// dtmfFund are the 8 fundamental filters (rows, then columns),
	// dtmfLow and dtmfHigh the probes 1.5% below and above them and
	// dtmfHarm their second harmonics (only the columns' are used).
	dtmfFund, dtmfLow, dtmfHigh, dtmfHarm [8]goertzelCoef

	// dtmfMinPower is the minimum window Goertzel power of one tone:
	// (N·A/2)² for a sine of amplitude A at dtmfMinLevelDBm0.
	dtmfMinPower float32
	// dtmfQuietBlock is the block energy below which no filter runs: a
	// block of a quarter of the energy of the weakest acceptable tone.
	dtmfQuietBlock float32
)

// goertzelCoef holds the constants of one Goertzel filter: k = 2cos ω,
// cos ω and sin ω for the complex output, and e^{-jω·80} to shift the
// second block of a window.
type goertzelCoef struct {
	k, cos, sin    float32
	shiftC, shiftS float32
}

func newGoertzelCoef(freq float64) goertzelCoef {
	w := 2 * math.Pi * freq / SampleRate
	return goertzelCoef{
		k: float32(2 * math.Cos(w)), cos: float32(math.Cos(w)), sin: float32(math.Sin(w)),
		shiftC: float32(math.Cos(w * dtmfBlock)), shiftS: float32(-math.Sin(w * dtmfBlock)),
	}
}

func init() {
	for i := range 8 {
		f := dtmfRowFreqs[i%4]
		if i >= 4 {
			f = dtmfColFreqs[i-4]
		}
		dtmfFund[i] = newGoertzelCoef(f)
		dtmfLow[i] = newGoertzelCoef(f * (1 - dtmfDeviation))
		dtmfHigh[i] = newGoertzelCoef(f * (1 + dtmfDeviation))
		dtmfHarm[i] = newGoertzelCoef(2 * f)
	}
	amp := dtmfDBm0Amp * math.Pow(10, dtmfMinLevelDBm0/20)
	dtmfMinPower = float32(math.Pow(dtmfWindow*amp/2, 2))
	dtmfQuietBlock = float32(dtmfBlock * amp * amp / 2 / 4)
}

// goertzelBlock runs one filter over x and returns its complex output
// y = s[N-1] - e^{-jω}·s[N-2] (the DFT at ω up to a phase factor).
func goertzelBlock(c *goertzelCoef, x []float32) (re, im float32) {
	var s1, s2 float32
	k := c.k
	for _, v := range x {
		s1, s2 = v+k*s1-s2, s1
	}
	return s1 - c.cos*s2, c.sin * s2
}

// goertzel8 runs the eight filters of c over x at once (eight independent
// recurrences keep the CPU's pipelines busy) and stores their complex
// outputs in y.
func goertzel8(c *[8]goertzelCoef, x []float32, y *[8][2]float32) {
	k0, k1, k2, k3, k4, k5, k6, k7 := c[0].k, c[1].k, c[2].k, c[3].k, c[4].k, c[5].k, c[6].k, c[7].k
	var a0, a1, a2, a3, a4, a5, a6, a7 float32 // s[n-1]
	var b0, b1, b2, b3, b4, b5, b6, b7 float32 // s[n-2]
	for _, v := range x {
		a0, b0 = v+k0*a0-b0, a0
		a1, b1 = v+k1*a1-b1, a1
		a2, b2 = v+k2*a2-b2, a2
		a3, b3 = v+k3*a3-b3, a3
		a4, b4 = v+k4*a4-b4, a4
		a5, b5 = v+k5*a5-b5, a5
		a6, b6 = v+k6*a6-b6, a6
		a7, b7 = v+k7*a7-b7, a7
	}
	for i, ab := range [8][2]float32{{a0, b0}, {a1, b1}, {a2, b2}, {a3, b3}, {a4, b4}, {a5, b5}, {a6, b6}, {a7, b7}} {
		y[i][0], y[i][1] = ab[0]-c[i].cos*ab[1], c[i].sin*ab[1]
	}
}

// goertzel4 runs four filters over x at once and returns their powers.
func goertzel4(c0, c1, c2, c3 *goertzelCoef, x []float32) [4]float32 {
	k0, k1, k2, k3 := c0.k, c1.k, c2.k, c3.k
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for _, v := range x {
		a0, b0 = v+k0*a0-b0, a0
		a1, b1 = v+k1*a1-b1, a1
		a2, b2 = v+k2*a2-b2, a2
		a3, b3 = v+k3*a3-b3, a3
	}
	var p [4]float32
	for i, t := range [4]struct {
		c    *goertzelCoef
		a, b float32
	}{{c0, a0, b0}, {c1, a1, b1}, {c2, a2, b2}, {c3, a3, b3}} {
		re, im := t.a-t.c.cos*t.b, t.c.sin*t.b
		p[i] = re*re + im*im
	}
	return p
}

// DTMFDetector finds ITU-T Q.23 DTMF digits in 8 kHz 16-bit mono PCM (the
// decoded audio of a call) with Goertzel filters and the Q.24 acceptance
// tests described at the top of goertzel.go: ±1.5% frequency tolerance,
// minimum level (-32 dBm0 per tone), twist (+4/-8 dB), relative peak
// (8 dB), energy share (72%), second-harmonic rejection (-20 dB, column
// tone), minimum duration (every tone of 40 ms, none under 22 ms) and
// inter-digit pause (about 40 ms). A tone that spans many frames is one
// digit.
//
// The zero value is ready to use. A detector is not safe for concurrent
// use; Process does not allocate.
type DTMFDetector struct {
	buf      [dtmfWindow]float32 // previous block, then the block being filled
	fill     int                 // samples in the block being filled
	prevE    float32             // energy of the previous block
	prevY    [8][2]float32       // filter outputs of the previous block
	prevLoud bool                // the previous block was loud enough to run the filters

	cand    rune // digit of the current run of windows (0: none)
	run     int  // length of that run
	latched rune // last reported digit, until a pause
	gap     int  // consecutive windows without the latched digit
	pending rune // a second digit found within one Process call
}

// Reset forgets the audio seen so far (e.g. on a new RTP stream).
func (d *DTMFDetector) Reset() { *d = DTMFDetector{} }

// Process feeds samples (any length; 20 ms frames of 160 samples in
// practice) and returns a digit ('0'-'9', '*', '#', 'A'-'D') when one has
// just been recognised. At most one digit is returned per call; a second
// one found in the same call is returned by the next call.
func (d *DTMFDetector) Process(frame []int16) (digit rune, ok bool) {
	if d.pending != 0 {
		digit, d.pending = d.pending, 0
		ok = true
	}
	for len(frame) > 0 {
		n := min(len(frame), dtmfBlock-d.fill)
		dst := d.buf[dtmfBlock+d.fill : dtmfBlock+d.fill+n]
		for i, v := range frame[:n] {
			dst[i] = float32(v)
		}
		d.fill += n
		frame = frame[n:]
		if d.fill < dtmfBlock {
			break
		}
		d.fill = 0
		if r := d.block(); r != 0 {
			if ok {
				d.pending = r
			} else {
				digit, ok = r, true
			}
		}
	}
	return digit, ok
}

// block analyses the window made of the previous block and the block just
// filled, updates the digit state and returns a newly recognised digit.
func (d *DTMFDetector) block() rune {
	cur := d.buf[dtmfBlock:]
	var e float32
	for _, v := range cur {
		e += v * v
	}
	var y [8][2]float32
	quiet := e < dtmfQuietBlock
	if !quiet {
		goertzel8(&dtmfFund, cur, &y)
	}
	// A window with a quiet block cannot pass the energy share test: a
	// tone that covers half of it holds at most half of its energy.
	hit := rune(0)
	if !quiet && d.prevLoud {
		hit = d.classify(&y, e)
	}
	d.prevY, d.prevE, d.prevLoud = y, e, !quiet
	copy(d.buf[:dtmfBlock], cur)
	return d.step(hit)
}

// classify returns the digit held by the window made of the previous block
// and the current one (filter outputs y, energy e), or 0.
func (d *DTMFDetector) classify(y *[8][2]float32, e float32) rune {
	if min(e, d.prevE) < dtmfBalance*max(e, d.prevE) {
		return 0
	}
	var p [8]float32
	for i := range p {
		c := &dtmfFund[i]
		// window DFT ∝ prev + e^{-jω·80}·cur
		re := d.prevY[i][0] + c.shiftC*y[i][0] - c.shiftS*y[i][1]
		im := d.prevY[i][1] + c.shiftC*y[i][1] + c.shiftS*y[i][0]
		p[i] = re*re + im*im
	}
	r, c := 0, 4
	for i := 1; i < 4; i++ {
		if p[i] > p[r] {
			r = i
		}
		if p[4+i] > p[c] {
			c = 4 + i
		}
	}
	// A sine's energy over the window is 2·P/N. Cheap rejections first,
	// allowing for what the probes may add.
	energy := e + d.prevE
	if p[r]*dtmfMaxProbeGain < dtmfMinPower || p[c]*dtmfMaxProbeGain < dtmfMinPower ||
		(p[r]+p[c])*dtmfMaxProbeGain*(2.0/dtmfWindow) < dtmfEnergyRatio*energy {
		return 0
	}
	probes := goertzel4(&dtmfLow[r], &dtmfHigh[r], &dtmfLow[c], &dtmfHigh[c], d.buf[:])
	pr, pc := max(p[r], probes[0], probes[1]), max(p[c], probes[2], probes[3])
	if pr < dtmfMinPower || pc < dtmfMinPower {
		return 0
	}
	if pc > pr*dtmfReverseTwist || pr > pc*dtmfStdTwist {
		return 0
	}
	for i := range 4 {
		if (i != r && p[i]*dtmfRelPeak > pr) || (4+i != c && p[4+i]*dtmfRelPeak > pc) {
			return 0
		}
	}
	if (pr+pc)*(2.0/dtmfWindow) < dtmfEnergyRatio*energy {
		return 0
	}
	// Two 10 ms blocks added incoherently: 2·(|y1|²+|y2|²) is on the scale
	// of the window power of a steady sine.
	r1, i1 := goertzelBlock(&dtmfHarm[c], d.buf[:dtmfBlock])
	r2, i2 := goertzelBlock(&dtmfHarm[c], d.buf[dtmfBlock:])
	if 2*(r1*r1+i1*i1+r2*r2+i2*i2) > pc*dtmfHarmonic {
		return 0
	}
	return dtmfKeys[r][c-4]
}

// step advances the duration and pause logic by one window.
func (d *DTMFDetector) step(hit rune) rune {
	if hit == d.cand {
		d.run++
	} else {
		d.cand, d.run = hit, 1
	}
	if hit != 0 && hit == d.latched {
		d.gap = 0
		return 0
	}
	if d.latched != 0 {
		d.gap++
		if d.gap >= dtmfPauseWindows {
			d.latched = 0
		}
	}
	if hit != 0 && d.run >= dtmfMinHits {
		d.latched, d.gap = hit, 0
		return hit
	}
	return 0
}
