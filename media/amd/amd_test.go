package amd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const machineGreeting = "Hi, you have reached the voicemail of John Smith. I can't take your call right now. Please leave a message after the tone."

// burst is a speech-like stand-in for the rule tests: white noise at
// 3000 RMS, which is loud and not tonal.
func burst(d time.Duration, seed uint64) []int16 { return noise(d, 3000, seed) }

func TestRules(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		cfg    func(*Config)
		audio  []int16
		status Status
		reason Reason
		at     time.Duration // the expected Result.Duration
	}{
		{
			name:   "digital silence is initial silence",
			audio:  silence(5 * time.Second),
			status: StatusMachine, reason: ReasonInitialSilence, at: 2500 * ms,
		},
		{
			name:   "steady line noise counts as silence",
			audio:  noise(5*time.Second, 800, 1),
			status: StatusMachine, reason: ReasonInitialSilence, at: 2500 * ms,
		},
		{
			name:   "without noise adaptation loud noise is one long word",
			cfg:    func(c *Config) { c.NoiseMargin = 0.01 },
			audio:  noise(5*time.Second, 800, 1),
			status: StatusMachine, reason: ReasonLongGreeting,
			// with only the fixed threshold, the first block is voice already
			at: 1500 * ms,
		},
		{
			name:   "short greeting then silence is a human",
			audio:  cat(silence(300*ms), burst(400*ms, 2), silence(3*time.Second)),
			status: StatusHuman, reason: ReasonGreeting, at: 300*ms + 400*ms + 800*ms,
		},
		{
			name:   "long greeting",
			audio:  cat(silence(200*ms), burst(3*time.Second, 3)),
			status: StatusMachine, reason: ReasonLongGreeting, at: 200*ms + 1500*ms,
		},
		{
			name: "many short words",
			audio: cat(silence(200*ms), burst(160*ms, 4), silence(200*ms), burst(160*ms, 5), silence(200*ms),
				burst(160*ms, 6), silence(200*ms), burst(160*ms, 7), silence(200*ms), burst(160*ms, 8), silence(200*ms), burst(160*ms, 18), silence(time.Second)),
			// the sixth word is counted after its first 100 ms
			status: StatusMachine, reason: ReasonGreeting, at: 200*ms + 5*360*ms + 100*ms,
		},
		{
			name: "clicks shorter than a word do not end the initial silence",
			audio: cat(silence(500*ms), burst(60*ms, 9), silence(500*ms), burst(60*ms, 10),
				silence(500*ms), burst(60*ms, 11), silence(3*time.Second)),
			status: StatusMachine, reason: ReasonInitialSilence, at: 2500 * ms,
		},
		{
			name: "no rule within the analysis time",
			audio: cat(silence(2400*ms), burst(300*ms, 12), silence(700*ms), burst(300*ms, 13), silence(700*ms),
				burst(300*ms, 14), silence(700*ms), burst(300*ms, 15), silence(time.Second)),
			status: StatusNotSure, reason: ReasonNA, at: 5 * time.Second,
		},
		{
			name:   "shorter analysis time",
			cfg:    func(c *Config) { c.TotalAnalysisTime = time.Second },
			audio:  cat(silence(300*ms), burst(200*ms, 16), silence(700*ms), burst(200*ms, 17), silence(time.Second)),
			status: StatusNotSure, reason: ReasonNA, at: time.Second,
		},
		{
			name:   "a beep before any greeting",
			audio:  cat(silence(500*ms), tone(t, 600*ms, 1000), silence(2*time.Second)),
			status: StatusMachine, reason: ReasonBeep, at: 500*ms + 160*ms,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			o := run(New(c), tt.audio, processThenBeep)
			require.Equal(t, 1, o.decided)
			assert.Equal(t, tt.status, o.result.Status)
			assert.Equal(t, tt.reason, o.result.Reason)
			assert.Equal(t, tt.at, o.result.Duration)
		})
	}
}

func TestZeroConfigUsesDefaults(t *testing.T) {
	a := run(New(Config{}), silence(5*time.Second), processThenBeep)
	b := run(New(DefaultConfig()), silence(5*time.Second), processThenBeep)
	require.Equal(t, b, a)
}

func TestOddFrameSizes(t *testing.T) {
	// 7-sample frames: the decision comes at the block boundary anyway.
	d := New(DefaultConfig())
	pcm := silence(3 * time.Second)
	var got Result
	n := 0
	for off := 0; off < len(pcm); off += 7 {
		if r, ok := d.Process(pcm[off:min(off+7, len(pcm))]); ok {
			got = r
			n++
		}
	}
	require.Equal(t, 1, n)
	require.Equal(t, Result{StatusMachine, ReasonInitialSilence, 2500 * time.Millisecond}, got)
}

func TestHangup(t *testing.T) {
	d := New(DefaultConfig())
	run(d, silence(time.Second+10*time.Millisecond), processThenBeep)
	r := d.Hangup()
	require.Equal(t, Result{StatusHangup, ReasonNA, time.Second + 10*time.Millisecond}, r)
	_, decided := d.Process(silence(5 * time.Second))
	require.False(t, decided, "Process never decides after Hangup")

	d = New(DefaultConfig())
	o := run(d, silence(3*time.Second), processThenBeep)
	require.Equal(t, StatusMachine, o.result.Status)
	require.Equal(t, o.result, d.Hangup(), "Hangup after a decision returns the decision")
}

func TestHuman(t *testing.T) {
	hello := speak(t, "Hello?")
	for _, tt := range []struct {
		name  string
		lead  time.Duration
		noisy bool
	}{
		{"300 ms lead", 300 * time.Millisecond, false},
		{"500 ms lead", 500 * time.Millisecond, false},
		{"300 ms lead, 20 dB SNR", 300 * time.Millisecond, true},
		{"500 ms lead, 20 dB SNR", 500 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			audio := cat(silence(tt.lead), hello, silence(3*time.Second))
			if tt.noisy {
				audio = withNoise(audio, 20, 42)
			}
			for _, mode := range []feedMode{processThenBeep, both, beepFirst} {
				o := run(New(DefaultConfig()), audio, mode)
				require.Equal(t, 1, o.decided)
				assert.Equal(t, StatusHuman, o.result.Status)
				assert.Equal(t, ReasonGreeting, o.result.Reason)
				assert.Zero(t, o.beeps, "speech is not a beep")
				t.Logf("mode %d: %+v", mode, o.result)
			}
		})
	}
}

func TestMachine(t *testing.T) {
	greeting := speak(t, machineGreeting)
	lead := 400 * time.Millisecond
	beepOnset := lead + time.Duration(len(greeting))*time.Second/8000 + 300*time.Millisecond
	clean := cat(silence(lead), greeting, silence(300*time.Millisecond), tone(t, 500*time.Millisecond, 1000), silence(time.Second))
	for _, tt := range []struct {
		name  string
		audio []int16
	}{
		{"clean", clean},
		{"20 dB SNR", withNoise(clean, 20, 7)},
	} {
		for _, mode := range []feedMode{processThenBeep, both, beepFirst} {
			o := run(New(DefaultConfig()), tt.audio, mode)
			require.Equal(t, 1, o.decided, tt.name)
			assert.Equal(t, StatusMachine, o.result.Status, tt.name)
			assert.Equal(t, ReasonLongGreeting, o.result.Reason, tt.name)
			require.Equal(t, 1, o.beeps, tt.name)
			assert.InDelta(t, beepOnset.Seconds(), o.beep.Seconds(), 0.1, tt.name)
			t.Logf("%s mode %d: %+v, beep at %v (onset %v)", tt.name, mode, o.result, o.beep, beepOnset)
		}
	}
}

func TestBeep(t *testing.T) {
	ms := time.Millisecond
	speech := speak(t, machineGreeting)
	tests := []struct {
		name  string
		audio []int16
		at    time.Duration // onset; <0 means no beep
	}{
		{"1 kHz 500 ms", cat(silence(300*ms), tone(t, 500*ms, 1000), silence(300*ms)), 300 * ms},
		{"440 Hz 200 ms", cat(silence(1000*ms), tone(t, 200*ms, 440), silence(300*ms)), 1000 * ms},
		{"1400 Hz 160 ms", cat(silence(1000*ms), tone(t, 160*ms, 1400), silence(300*ms)), 1000 * ms},
		{"1 kHz in 20 dB SNR", withNoise(cat(silence(1000*ms), tone(t, 500*ms, 1000), silence(300*ms)), 20, 3), 1000 * ms},
		{"too short", cat(silence(300*ms), tone(t, 100*ms, 1000), silence(300*ms)), -1},
		{"below the band", cat(silence(300*ms), tone(t, 500*ms, 300), silence(300*ms)), -1},
		{"above the band", cat(silence(300*ms), tone(t, 500*ms, 2500), silence(300*ms)), -1},
		{"DTMF 5", cat(silence(300*ms), tone(t, 500*ms, 770, 1336), silence(300*ms)), -1},
		{"DTMF 1", cat(silence(300*ms), tone(t, 500*ms, 697, 1209), silence(300*ms)), -1},
		{"DTMF #", cat(silence(300*ms), tone(t, 500*ms, 941, 1477), silence(300*ms)), -1},
		{"US ringback", cat(tone(t, 2000*ms, 440, 480), silence(300*ms)), -1},
		{"speech", speech, -1},
		{"speech in 20 dB SNR", withNoise(speech, 20, 5), -1},
		{"white noise", noise(3*time.Second, 3000, 4), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := run(New(DefaultConfig()), tt.audio, beepOnly)
			if tt.at < 0 {
				require.Zero(t, o.beeps)
				return
			}
			require.Equal(t, 1, o.beeps)
			assert.InDelta(t, tt.at.Seconds(), o.beep.Seconds(), 0.025)
		})
	}
}

func TestBeepReportedOnce(t *testing.T) {
	ms := time.Millisecond
	b := tone(t, 500*ms, 1000)
	o := run(New(DefaultConfig()), cat(silence(300*ms), b, silence(300*ms), b, silence(300*ms)), beepOnly)
	require.Equal(t, 1, o.beeps)
	require.Equal(t, 300*ms, o.beep)
}

func TestBeepFoundByProcessIsReportedByBeep(t *testing.T) {
	ms := time.Millisecond
	d := New(DefaultConfig())
	pcm := cat(silence(500*ms), tone(t, 600*ms, 1000))
	var r Result
	for off, ok := 0, false; !ok; off += 160 {
		require.Less(t, off, len(pcm))
		r, ok = d.Process(pcm[off : off+160])
	}
	require.Equal(t, ReasonBeep, r.Reason)
	at, ok := d.Beep(nil)
	require.True(t, ok)
	require.Equal(t, 500*ms, at)
	_, ok = d.Beep(nil)
	require.False(t, ok)
}

func BenchmarkProcess(b *testing.B) {
	pcm := withNoise(cat(silence(300*time.Millisecond), burst(time.Second, 1), tone(b, time.Second, 1000)), 20, 1)
	frames := len(pcm) / 160
	d := New(DefaultConfig())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := pcm[i*160 : i*160+160]
		d.Process(f)
		d.Beep(f)
		i++
		if i == frames {
			i = 0
		}
	}
}

func BenchmarkBeepOnly(b *testing.B) {
	pcm := withNoise(cat(burst(time.Second, 1), tone(b, time.Second, 1000)), 20, 1)
	frames := len(pcm) / 160
	d := New(DefaultConfig())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Beep(pcm[i*160 : i*160+160])
		i++
		if i == frames {
			i = 0
		}
	}
}

// FuzzDetector feeds arbitrary audio in arbitrary frame sizes: no panic,
// at most one decision, a decision no later than the analysis time and
// beeps reported at most once.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, uint8(160))
	f.Add(make([]byte, 4000), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		// Repeat the input so that the analysis time is reached.
		for len(pcm) > 0 && len(pcm) < 8000*6 {
			pcm = append(pcm, pcm...)
		}
		n := max(1, int(size))
		d := New(DefaultConfig())
		decisions, beeps := 0, 0
		for off := 0; off < len(pcm); off += n {
			fr := pcm[off:min(off+n, len(pcm))]
			if r, ok := d.Process(fr); ok {
				decisions++
				require.LessOrEqual(t, r.Duration, 5*time.Second)
			}
			if _, ok := d.Beep(fr); ok {
				beeps++
			}
		}
		require.LessOrEqual(t, beeps, 1)
		if len(pcm) >= 8000*5 {
			require.Equal(t, 1, decisions)
		}
	})
}
