package amd

import (
	"math"
	"slices"
	"time"
)

// Status is the amd.status value of the Sinch ACE and Notify events.
type Status string

// The AMD statuses.
const (
	// StatusHuman means a person answered.
	StatusHuman Status = "human"
	// StatusMachine means an answering machine or voicemail answered.
	StatusMachine Status = "machine"
	// StatusNotSure means the analysis time ran out without a decision.
	StatusNotSure Status = "notsure"
	// StatusHangup means the call ended before a decision.
	StatusHangup Status = "hangup"
)

// Reason is the amd.reason value of the Sinch ACE and Notify events.
type Reason string

// The AMD reasons.
const (
	// ReasonLongGreeting: the greeting held too much voice (machine).
	ReasonLongGreeting Reason = "longgreeting"
	// ReasonInitialSilence: nobody spoke after the answer (machine).
	ReasonInitialSilence Reason = "initialsilence"
	// ReasonGreeting: machine when the greeting had too many words, human
	// when a short greeting was followed by silence.
	ReasonGreeting Reason = "greeting"
	// ReasonBeep: a voicemail beep was heard before any other rule decided
	// (machine).
	ReasonBeep Reason = "beep"
	// ReasonNA: no specific reason (notsure and hangup).
	ReasonNA Reason = "n/a"
)

// Result is the outcome of the analysis.
type Result struct {
	// Status is who answered.
	Status Status
	// Reason is the rule that decided.
	Reason Reason
	// Duration is the audio analysed until the decision.
	Duration time.Duration
}

// Config holds the detector's thresholds. Durations are rounded up to whole
// 20 ms blocks. See the package documentation for how each one is used.
type Config struct {
	// InitialSilence is how long the line may stay without a word after the
	// answer before it is a machine (machine/initialsilence).
	InitialSilence time.Duration
	// Greeting is the total voice after which the greeting is a machine's
	// (machine/longgreeting).
	Greeting time.Duration
	// AfterGreetingSilence is the silence after the greeting started that
	// makes it a human (human/greeting).
	AfterGreetingSilence time.Duration
	// MinWordLength is the shortest run of voice that counts as a word.
	MinWordLength time.Duration
	// BetweenWordsSilence is the silence that ends a word.
	BetweenWordsSilence time.Duration
	// MaxWords is the number of words that makes the greeting a machine's
	// (machine/greeting).
	MaxWords int
	// TotalAnalysisTime is the audio analysed before giving up
	// (notsure/n/a).
	TotalAnalysisTime time.Duration
	// SilenceThreshold is the lowest mean absolute amplitude (0-32768) of a
	// voice block.
	SilenceThreshold int
	// NoiseMargin is how far above the noise floor (as an amplitude ratio) a
	// block must be to start voice; voice continues while blocks stay above
	// its square root times the floor. A value below 1 (such as 0.01) leaves
	// only SilenceThreshold in effect, which disables the adaptation.
	NoiseMargin float64
	// BeepMinFreq and BeepMaxFreq bound the beep frequency, in Hz.
	BeepMinFreq, BeepMaxFreq float64
	// BeepMinDuration is the shortest beep.
	BeepMinDuration time.Duration
	// BeepTonality is the smallest share of a block's energy (0-1) that a
	// Goertzel filter at the estimated frequency must hold for the block to
	// count as part of a beep.
	BeepTonality float64
}

// DefaultConfig returns the defaults listed in the package documentation.
func DefaultConfig() Config {
	return Config{
		InitialSilence:       2500 * time.Millisecond,
		Greeting:             1500 * time.Millisecond,
		AfterGreetingSilence: 800 * time.Millisecond,
		MinWordLength:        100 * time.Millisecond,
		BetweenWordsSilence:  50 * time.Millisecond,
		MaxWords:             6,
		TotalAnalysisTime:    5 * time.Second,
		SilenceThreshold:     256,
		NoiseMargin:          2,
		BeepMinFreq:          400,
		BeepMaxFreq:          2000,
		BeepMinDuration:      150 * time.Millisecond,
		BeepTonality:         0.8,
	}
}

const (
	sampleRate   = 8000
	blockSamples = 160 // 20 ms
	blockDur     = 20 * time.Millisecond
	// floorBlocks is the noise floor window: 2 s of blocks.
	floorBlocks = 100
	// beepTolerance is the relative frequency deviation allowed within a
	// beep, with beepToleranceMin Hz as the lower bound.
	beepTolerance    = 0.03
	beepToleranceMin = 20.0
	// maxKeep is the longest frame remembered for the Process/Beep
	// de-duplication; longer frames are split and never de-duplicated.
	maxKeep = 4 * blockSamples
)

// caller identifies which method fed the last frame.
type caller uint8

const (
	byNone caller = iota
	byProcess
	byBeep
)

// Detector analyses one call's answered audio. Create it with New.
type Detector struct {
	// limits in blocks
	initialSilence, greeting, afterGreeting, minWord, betweenWords, total, beepMin int
	maxWords                                                                       int
	silenceThr                                                                     int64
	margin                                                                         float64
	beepLo, beepHi, tonality                                                       float64

	block    [blockSamples]int16
	blockLen int
	wasVoice bool
	blocks   int // blocks analysed

	floor    [floorBlocks]int64 // mean |x| of the last blocks, ring
	floorLen int

	// decision state
	words       int
	inWord      bool
	voiceRun    int // consecutive voice blocks
	silenceRun  int // consecutive silence blocks
	voiceTotal  int // voice blocks since the greeting started
	greetingOn  bool
	decided     bool // a rule matched
	reported    bool // Process returned it
	result      Result
	beepRun     int
	beepStart   int // block index of the first tonal block of the run
	beepFreq    float64
	beepFound   bool
	beepAt      time.Duration
	beepTold    bool
	lastBy      caller
	last        [maxKeep]int16
	lastLen     int
	lastTooLong bool
}

// New returns a Detector with c, where every zero or negative field is
// replaced by its DefaultConfig value.
func New(c Config) *Detector {
	def := DefaultConfig()
	dur := func(v, d time.Duration) int {
		if v <= 0 {
			v = d
		}
		return int((v + blockDur - 1) / blockDur)
	}
	pos := func(v, d float64) float64 {
		if v <= 0 || math.IsNaN(v) {
			return d
		}
		return v
	}
	d := &Detector{
		initialSilence: dur(c.InitialSilence, def.InitialSilence),
		greeting:       dur(c.Greeting, def.Greeting),
		afterGreeting:  dur(c.AfterGreetingSilence, def.AfterGreetingSilence),
		minWord:        dur(c.MinWordLength, def.MinWordLength),
		betweenWords:   dur(c.BetweenWordsSilence, def.BetweenWordsSilence),
		total:          dur(c.TotalAnalysisTime, def.TotalAnalysisTime),
		beepMin:        dur(c.BeepMinDuration, def.BeepMinDuration),
		maxWords:       c.MaxWords,
		silenceThr:     int64(c.SilenceThreshold),
		margin:         pos(c.NoiseMargin, def.NoiseMargin),
		beepLo:         pos(c.BeepMinFreq, def.BeepMinFreq),
		beepHi:         pos(c.BeepMaxFreq, def.BeepMaxFreq),
		tonality:       pos(c.BeepTonality, def.BeepTonality),
	}
	if d.maxWords <= 0 {
		d.maxWords = def.MaxWords
	}
	if d.silenceThr <= 0 {
		d.silenceThr = int64(def.SilenceThreshold)
	}
	return d
}

// Process analyses the next frame of the answered audio and returns the
// result the first time a rule decides (decided is true exactly once,
// possibly for a decision reached while Beep analysed a frame). After that
// it keeps analysing for Beep and returns false.
func (d *Detector) Process(frame []int16) (r Result, decided bool) {
	d.feedFrom(byProcess, frame)
	if d.decided && !d.reported {
		d.reported = true
		return d.result, true
	}
	return Result{}, false
}

// Beep analyses the next frame (unless Process just analysed the same
// samples) and reports the first beep once, with its onset measured from
// the start of the audio. A beep found while Process analysed earlier
// frames is reported by the next call.
func (d *Detector) Beep(frame []int16) (at time.Duration, ok bool) {
	d.feedFrom(byBeep, frame)
	if d.beepFound && !d.beepTold {
		d.beepTold = true
		return d.beepAt, true
	}
	return 0, false
}

// Hangup ends the analysis because the call ended: it returns
// hangup/n/a with the audio analysed so far, and Process never decides
// afterwards. When a rule already decided, it returns that result instead.
func (d *Detector) Hangup() Result {
	if !d.decided {
		d.decide(StatusHangup, ReasonNA)
	}
	d.reported = true
	return d.result
}

// feedFrom analyses frame unless it repeats the samples the other method
// has just analysed.
func (d *Detector) feedFrom(by caller, frame []int16) {
	if d.lastBy != byNone && d.lastBy != by && !d.lastTooLong && len(frame) == d.lastLen &&
		slices.Equal(frame, d.last[:d.lastLen]) {
		d.lastBy = byNone // the next call by either method is a new frame
		return
	}
	d.lastBy = by
	d.lastTooLong = len(frame) > maxKeep
	if !d.lastTooLong {
		d.lastLen = copy(d.last[:], frame)
	}
	d.feed(frame)
}

// feed cuts frame into 20 ms blocks.
func (d *Detector) feed(frame []int16) {
	for len(frame) > 0 {
		n := copy(d.block[d.blockLen:], frame)
		d.blockLen += n
		frame = frame[n:]
		if d.blockLen == blockSamples {
			d.blockLen = 0
			d.analyse()
		}
	}
}

// analyse runs one full block through the voice, decision and beep logic.
func (d *Detector) analyse() {
	b := &d.block
	var sumAbs int64
	for _, v := range b {
		x := int64(v)
		sumAbs += max(x, -x)
	}
	level := sumAbs / blockSamples
	floor := float64(d.noiseFloor(level))
	thr := max(d.silenceThr, int64(floor*d.margin))
	if d.wasVoice {
		thr = max(d.silenceThr, int64(floor*math.Sqrt(d.margin)))
	}
	voice := level > thr
	d.wasVoice = voice
	idx := d.blocks
	d.blocks++

	if voice {
		d.trackBeep(idx)
	} else {
		d.beepRun = 0
	}
	if !d.decided {
		d.rules(voice)
	}
}

// noiseFloor adds level to the window and returns the window's minimum.
func (d *Detector) noiseFloor(level int64) int64 {
	d.floor[d.blocks%floorBlocks] = level
	if d.floorLen < floorBlocks {
		d.floorLen++
	}
	m := level
	for _, v := range d.floor[:d.floorLen] {
		m = min(m, v)
	}
	return m
}

// rules applies the decision rules to the block just analysed.
func (d *Detector) rules(voice bool) {
	if voice {
		d.silenceRun = 0
		d.voiceRun++
		if d.greetingOn {
			d.voiceTotal++
		}
		if !d.inWord && d.voiceRun >= d.minWord {
			d.inWord = true
			d.words++
			if !d.greetingOn {
				d.greetingOn = true
				d.voiceTotal = d.voiceRun
			}
		}
	} else {
		d.silenceRun++
		if d.silenceRun >= d.betweenWords {
			d.voiceRun = 0
			d.inWord = false
		}
	}
	switch {
	case d.beepFound:
		d.decide(StatusMachine, ReasonBeep)
	case !d.greetingOn && d.blocks >= d.initialSilence:
		d.decide(StatusMachine, ReasonInitialSilence)
	case d.words >= d.maxWords:
		d.decide(StatusMachine, ReasonGreeting)
	case d.greetingOn && d.voiceTotal >= d.greeting:
		d.decide(StatusMachine, ReasonLongGreeting)
	case d.greetingOn && d.silenceRun >= d.afterGreeting:
		d.decide(StatusHuman, ReasonGreeting)
	case d.blocks >= d.total:
		d.decide(StatusNotSure, ReasonNA)
	}
}

func (d *Detector) decide(s Status, r Reason) {
	d.decided = true
	d.result = Result{Status: s, Reason: r, Duration: d.elapsed()}
}

// elapsed is the audio analysed so far, including a partial block.
func (d *Detector) elapsed() time.Duration {
	return time.Duration(d.blocks)*blockDur + time.Duration(d.blockLen)*time.Second/sampleRate
}

// trackBeep extends or restarts the run of tonal blocks with block idx.
func (d *Detector) trackBeep(idx int) {
	if d.beepFound {
		return
	}
	f, ok := d.tone()
	if !ok {
		d.beepRun = 0
		return
	}
	if d.beepRun > 0 && math.Abs(f-d.beepFreq) <= max(beepToleranceMin, beepTolerance*d.beepFreq) {
		d.beepRun++
		d.beepFreq += (f - d.beepFreq) / float64(d.beepRun)
	} else {
		d.beepRun, d.beepStart, d.beepFreq = 1, idx, f
	}
	if d.beepRun >= d.beepMin {
		d.beepFound = true
		d.beepAt = time.Duration(d.beepStart) * blockDur
	}
}

// tone estimates the block's frequency from its zero crossings and
// returns it when a Goertzel filter at that frequency holds at least the
// configured share of the block's energy.
func (d *Detector) tone() (float64, bool) {
	b := &d.block
	var (
		crossings   int
		first, last float64
	)
	prev := b[0]
	for i := 1; i < blockSamples; i++ {
		cur := b[i]
		if (prev < 0) != (cur < 0) {
			t := float64(i-1) + float64(prev)/float64(int32(prev)-int32(cur))
			if crossings == 0 {
				first = t
			}
			last = t
			crossings++
		}
		prev = cur
	}
	if crossings < 3 || last <= first {
		return 0, false
	}
	f := float64(crossings-1) * sampleRate / (2 * (last - first))
	if f < d.beepLo || f > d.beepHi {
		return 0, false
	}
	coeff := 2 * math.Cos(2*math.Pi*f/sampleRate)
	var s1, s2, energy float64
	for _, v := range b {
		x := float64(v)
		s1, s2 = x+coeff*s1-s2, s1
		energy += x * x
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if energy == 0 {
		return 0, false
	}
	return f, 2*power/(blockSamples*energy) >= d.tonality
}
