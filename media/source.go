package media

import (
	"io"
	"math"
	"strings"
	"time"
)

// Audio format of every Source and of the RTP streams: 8 kHz mono, 20 ms
// frames.
const (
	SampleRate    = 8000
	FrameSamples  = 160
	FrameDuration = 20 * time.Millisecond
)

// Source produces 8 kHz mono signed 16-bit PCM. Sources are single-use and
// not safe for concurrent use; the engine returns a fresh Source on every
// call, sharing the immutable cached samples.
type Source interface {
	// ReadSamples fills p with up to len(p) samples and returns how many it
	// wrote. At the end of the audio it returns io.EOF, possibly together
	// with a final partial read. Any other error aborts playback.
	ReadSamples(p []int16) (int, error)
}

// samplesFor returns the number of 8 kHz samples in d, rounded down.
func samplesFor(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(d * SampleRate / time.Second)
}

// pcmSource plays a shared, immutable sample slice.
type pcmSource struct {
	pcm []int16
	pos int
}

// PCM returns a Source that plays samples (8 kHz mono). The slice is not
// copied and must not be modified while the Source is in use.
func PCM(samples []int16) Source { return &pcmSource{pcm: samples} }

func (s *pcmSource) ReadSamples(p []int16) (int, error) {
	if s.pos >= len(s.pcm) {
		return 0, io.EOF
	}
	n := copy(p, s.pcm[s.pos:])
	s.pos += n
	return n, nil
}

// Len returns the total number of samples.
func (s *pcmSource) Len() int { return len(s.pcm) }

// Silence returns a Source of d of digital silence.
func Silence(d time.Duration) Source {
	return &toneSource{segs: []toneSegment{{n: samplesFor(d)}}, once: true}
}

// Tone returns a Source of d of the sum of sine waves at freqs (Hz). Each
// component is at about -12 dBFS (two components peak at -6 dBFS).
// Frequencies outside 0-4000 Hz are ignored.
func Tone(freqs []float64, d time.Duration) Source {
	return &toneSource{segs: []toneSegment{{freqs: validFreqs(freqs), n: samplesFor(d)}}, once: true}
}

// toneSegment is one step of a cadence: freqs for n samples (silence when
// freqs is empty).
type toneSegment struct {
	freqs []float64
	n     int
}

// toneSource generates a cadence of tone segments, once or forever.
type toneSource struct {
	segs  []toneSegment
	once  bool
	seg   int
	pos   int       // sample within the current segment
	phase []float64 // running phase per component of the current segment, radians
}

func validFreqs(freqs []float64) []float64 {
	out := make([]float64, 0, len(freqs))
	for _, f := range freqs {
		if f > 0 && f < SampleRate/2 && !math.IsNaN(f) {
			out = append(out, f)
		}
	}
	return out
}

func (t *toneSource) ReadSamples(p []int16) (int, error) {
	n := 0
	for n < len(p) {
		if t.seg >= len(t.segs) {
			if t.once {
				return n, io.EOF
			}
			t.seg = 0
		}
		s := &t.segs[t.seg]
		if t.pos >= s.n {
			t.seg++
			t.pos = 0
			if !t.once && t.seg >= len(t.segs) && totalSamples(t.segs) == 0 {
				return n, io.EOF // an empty endless cadence would spin
			}
			continue
		}
		if len(t.phase) != len(s.freqs) {
			t.phase = make([]float64, len(s.freqs))
		}
		m := min(len(p)-n, s.n-t.pos)
		amp := 0.0
		if len(s.freqs) > 0 {
			amp = math.Min(8000, 16000/float64(len(s.freqs)))
		}
		for i := range m {
			v := 0.0
			for k, f := range s.freqs {
				v += math.Sin(t.phase[k])
				t.phase[k] += 2 * math.Pi * f / SampleRate
			}
			p[n+i] = int16(math.Round(v * amp))
		}
		for k := range t.phase {
			t.phase[k] = math.Mod(t.phase[k], 2*math.Pi)
		}
		n += m
		t.pos += m
		if t.pos >= s.n {
			t.phase = t.phase[:0]
		}
	}
	return n, nil
}

func totalSamples(segs []toneSegment) int {
	n := 0
	for _, s := range segs {
		n += s.n
	}
	return n
}

// Concat returns a Source that plays srcs one after the other.
func Concat(srcs ...Source) Source { return &concatSource{srcs: srcs} }

type concatSource struct {
	srcs []Source
}

func (c *concatSource) ReadSamples(p []int16) (int, error) {
	n := 0
	for n < len(p) && len(c.srcs) > 0 {
		m, err := c.srcs[0].ReadSamples(p[n:])
		n += m
		if err == io.EOF {
			c.srcs = c.srcs[1:]
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break // a source that returns nothing without EOF: give the player a short read
		}
	}
	if len(c.srcs) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// DefaultIndication is the ring-back country used for an empty or unknown
// connectPstn.indications value.
const DefaultIndication = "us"

// ringback is one country's ring-back tone: frequencies and an on/off
// cadence in milliseconds. Amplitude-modulated tones (f1*f2 in ITU-T E.180
// notation) are written as the two side bands f1-f2 and f1+f2, which is the
// same signal with its carrier suppressed.
type ringback struct {
	freqs   []float64
	cadence []int // on, off, on, off... in ms
}

// ringbacks covers every value of connectPstn.indications in the Sinch
// reference (ITU-T E.180 supplement, as also used by common PBXs).
var ringbacks = map[string]ringback{
	"at": {[]float64{420}, []int{1000, 5000}},
	"au": {[]float64{413, 438}, []int{400, 200, 400, 2000}},
	"be": {[]float64{425}, []int{1000, 3000}},
	"bg": {[]float64{425}, []int{1000, 4000}},
	"br": {[]float64{425}, []int{1000, 4000}},
	"ch": {[]float64{425}, []int{1000, 4000}},
	"cl": {[]float64{400}, []int{1000, 3000}},
	"cn": {[]float64{450}, []int{1000, 4000}},
	"cz": {[]float64{425}, []int{1000, 4000}},
	"de": {[]float64{425}, []int{1000, 4000}},
	"dk": {[]float64{425}, []int{1000, 4000}},
	"ee": {[]float64{425}, []int{1000, 4000}},
	"es": {[]float64{425}, []int{1500, 3000}},
	"fi": {[]float64{425}, []int{1000, 4000}},
	"fr": {[]float64{440}, []int{1500, 3500}},
	"gr": {[]float64{425}, []int{1000, 4000}},
	"hu": {[]float64{425}, []int{1250, 3750}},
	"il": {[]float64{414}, []int{1000, 3000}},
	"in": {[]float64{375, 425}, []int{400, 200, 400, 2000}},
	"it": {[]float64{425}, []int{1000, 4000}},
	"jp": {[]float64{385, 415}, []int{1000, 2000}},
	"lt": {[]float64{425}, []int{1000, 4000}},
	"mx": {[]float64{425}, []int{1000, 4000}},
	"my": {[]float64{425}, []int{400, 200, 400, 2000}},
	"nl": {[]float64{425}, []int{1000, 4000}},
	"no": {[]float64{425}, []int{1000, 4000}},
	"nz": {[]float64{400, 450}, []int{400, 200, 400, 2000}},
	"ph": {[]float64{425, 480}, []int{1000, 4000}},
	"pl": {[]float64{425}, []int{1000, 4000}},
	"pt": {[]float64{425}, []int{1000, 5000}},
	"ru": {[]float64{425}, []int{1000, 4000}},
	"se": {[]float64{425}, []int{1000, 5000}},
	"sg": {[]float64{401, 449}, []int{400, 200, 400, 2000}},
	"th": {[]float64{420}, []int{1000, 5000}},
	"tw": {[]float64{440, 480}, []int{1000, 2000}},
	"uk": {[]float64{400, 450}, []int{400, 200, 400, 2000}},
	"us": {[]float64{440, 480}, []int{2000, 4000}},
	"ve": {[]float64{425}, []int{1000, 4000}},
	"za": {[]float64{383, 417}, []int{400, 200, 400, 2000}},
}

// Ringback returns an endless ring-back tone for a connectPstn.indications
// country code (case-insensitive; "gb" is accepted for "uk"). For an empty or
// unknown code it returns the DefaultIndication tone and false. Stop it by
// cancelling the Play context.
func Ringback(country string) (Source, bool) {
	c := strings.ToLower(strings.TrimSpace(country))
	if c == "gb" {
		c = "uk"
	}
	rb, ok := ringbacks[c]
	if !ok {
		rb = ringbacks[DefaultIndication]
	}
	segs := make([]toneSegment, len(rb.cadence))
	for i, ms := range rb.cadence {
		segs[i].n = ms * SampleRate / 1000
		if i%2 == 0 {
			segs[i].freqs = rb.freqs
		}
	}
	return &toneSource{segs: segs}, ok
}

// RingbackCountries returns the supported indications codes.
func RingbackCountries() []string {
	out := make([]string, 0, len(ringbacks))
	for c := range ringbacks {
		out = append(out, c)
	}
	return out
}
