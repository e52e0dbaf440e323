package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// The conference tests wire each member as a "phone" session (the
// participant's far end, with a recorder of what it receives) paired over
// loopback with the session that joins the mixer. Phones play tones; the
// assertions compare Goertzel powers over the last frames the phones
// received, waiting with require.Eventually for the state to settle.

const (
	fA, fB, fC = 440.0, 700.0, 1100.0
	// heardPower is the Goertzel power (see goertzel in helpers_test.go)
	// above which a frequency is present: a Tone component (amplitude 8000)
	// has about 16e6; a tenth of its amplitude would be 16e4.
	heardPower = 1e6
)

// confMember is one participant: phone is its far end, s the session in
// the mixer.
type confMember struct {
	phone, s *Session
	rec      *recorder
	mb       *Member
}

// mixerEngine is an engine for the conference tests: no in-band DTMF, a
// 100 ms jitter buffer so that a loaded machine's scheduling delays do not
// drop packets as late.
func mixerEngine(t testing.TB) (*Engine, *prometheus.Registry) {
	return newTestEngine(t, tapTestOptions)
}

// join pairs a phone with a session and adds the session to m.
func join(t testing.TB, e *Engine, m *Mixer, o MemberOptions) *confMember {
	t.Helper()
	phone, s := pair(t, e, e)
	c := &confMember{phone: phone, s: s, rec: record(phone)}
	mb, err := m.Add(s, o)
	require.NoError(t, err)
	c.mb = mb
	return c
}

// threeTalkers adds three members to m, talking fA, fB and fC.
func threeTalkers(t *testing.T, e *Engine, m *Mixer) (a, b, c *confMember) {
	t.Helper()
	a = join(t, e, m, MemberOptions{})
	b = join(t, e, m, MemberOptions{})
	c = join(t, e, m, MemberOptions{})
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	c.talk(t, Tone([]float64{fC}, 10*time.Second))
	return a, b, c
}

// talk makes the member's phone play src until the test ends.
func (c *confMember) talk(t testing.TB, src Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.phone.Play(ctx, src)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// heard returns the concatenated audio of the last n audio packets the
// phone received.
func (c *confMember) heard(n int) []int16 {
	var pk []rxPacket
	for _, p := range c.rec.snapshot() {
		if p.hdr.PayloadType == PayloadPCMU || p.hdr.PayloadType == PayloadPCMA {
			pk = append(pk, p)
		}
	}
	if len(pk) > n {
		pk = pk[len(pk)-n:]
	}
	var out []int16
	for _, p := range pk {
		out = append(out, decodePayload(p)...)
	}
	return out
}

// powers returns the Goertzel power of each frequency in audio.
func powers(audio []int16, freqs ...float64) []float64 {
	out := make([]float64, len(freqs))
	if len(audio) == 0 {
		return out
	}
	for i, f := range freqs {
		out[i] = goertzel(audio, f, SampleRate)
	}
	return out
}

// hearsOnly reports whether the last n frames the phone received contain
// every frequency of yes and, at a tenth of the weakest of them at most
// (100 times less power), none of no.
func (c *confMember) hearsOnly(n int, yes, no []float64) bool {
	audio := c.heard(n)
	if len(audio) < n*FrameSamples {
		return false
	}
	weakest := math.Inf(1)
	for _, p := range powers(audio, yes...) {
		weakest = min(weakest, p)
	}
	if weakest < heardPower {
		return false
	}
	for _, p := range powers(audio, no...) {
		if p*100 > weakest {
			return false
		}
	}
	return true
}

// describe is a failure message with the powers the phone hears.
func (c *confMember) describe(n int, freqs ...float64) string {
	audio := c.heard(n)
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples, rms %.0f:", len(audio), rms(audio))
	for i, p := range powers(audio, freqs...) {
		fmt.Fprintf(&b, " %.0f Hz %.3g", freqs[i], p)
	}
	return b.String()
}

// eventually waits (generously) until the phone hears yes and not no.
func (c *confMember) eventually(t *testing.T, name string, yes, no []float64) {
	t.Helper()
	all := append(append([]float64(nil), yes...), no...)
	require.Eventually(t, func() bool { return c.hearsOnly(15, yes, no) }, 8*time.Second, 20*time.Millisecond,
		"%s: want %v and not %v; %s", name, yes, no, c.describe(15, all...))
}

// goroutinesNamed counts goroutines whose stack holds fn (a qualified
// function name such as "media.(*Mixer).clockLoop(").
func goroutinesNamed(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

const mixerClockFn = "media.(*Mixer).clockLoop("

func TestMixerNMinusOne(t *testing.T) {
	e, reg := mixerEngine(t)
	m := e.NewMixer(MixerOptions{Room: "room-1"})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{})
	require.Equal(t, 3, m.Members())
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	c.talk(t, Tone([]float64{fC}, 10*time.Second))

	a.eventually(t, "A", []float64{fB, fC}, []float64{fA})
	b.eventually(t, "B", []float64{fA, fC}, []float64{fB})
	c.eventually(t, "C", []float64{fA, fB}, []float64{fC})
	// Over a full second too, with the ratios logged.
	time.Sleep(time.Second)
	for i, x := range []*confMember{a, b, c} {
		freqs := []float64{fA, fB, fC}
		own := freqs[i]
		others := append(append([]float64(nil), freqs[:i]...), freqs[i+1:]...)
		p := powers(x.heard(50), own, others[0], others[1])
		t.Logf("member %d: own %.3g, others %.3g %.3g", i, p[0], p[1], p[2])
		require.Greater(t, p[1], heardPower)
		require.Greater(t, p[2], heardPower)
		require.Less(t, p[0]*10, min(p[1], p[2]), "others at least 10 times own")
	}

	st := m.Stats()
	require.Equal(t, 3, st.Members)
	require.Positive(t, st.Ticks)
	require.Positive(t, st.PeakTick)
	require.Eventually(t, func() bool { return m.Stats().Talkers == 3 }, 5*time.Second, 20*time.Millisecond)
	require.True(t, a.mb.Talking())
	require.Equal(t, 1.0, gaugeValue(t, reg, "callcore_conference_mixers"))
	require.Equal(t, 3.0, gaugeValue(t, reg, "callcore_conference_mixer_members"))
	require.Equal(t, 3.0, gaugeValue(t, reg, "callcore_conference_talkers"))
	n, _ := histogram(t, reg, "callcore_conference_mixer_tick_seconds")
	require.Positive(t, n)

	// Every member's stream is continuous: one packet per tick with
	// consecutive sequence numbers, even in silence, and timestamps 160
	// apart (more only where a loaded machine made the clock skip ticks).
	pk := a.rec.snapshot()
	consecutive := 0
	for i := 1; i < len(pk); i++ {
		require.Equal(t, pk[i-1].hdr.SequenceNumber+1, pk[i].hdr.SequenceNumber)
		d := pk[i].hdr.Timestamp - pk[i-1].hdr.Timestamp
		require.GreaterOrEqual(t, d, uint32(FrameSamples), "packet %d", i)
		if d == FrameSamples {
			consecutive++
		}
	}
	require.Greater(t, consecutive, len(pk)*9/10)

	m.Close()
	require.Zero(t, m.Members())
	require.Zero(t, gaugeValue(t, reg, "callcore_conference_mixers"))
	require.Zero(t, gaugeValue(t, reg, "callcore_conference_mixer_members"))
	require.Zero(t, gaugeValue(t, reg, "callcore_conference_talkers"))
}

// gaugeValue reads a gauge without labels from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestMixerMute(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{Muted: true})
	require.True(t, c.mb.Muted())
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	c.talk(t, Tone([]float64{fC}, 10*time.Second))
	b.eventually(t, "B, C muted from the start", []float64{fA}, []float64{fB, fC})
	c.eventually(t, "C muted hears the room", []float64{fA, fB}, []float64{fC})

	c.mb.SetMuted(false)
	a.mb.SetMuted(true)
	require.True(t, a.mb.Muted())
	b.eventually(t, "B, A muted", []float64{fC}, []float64{fA, fB})
	c.eventually(t, "C, A muted", []float64{fB}, []float64{fA, fC})
	a.eventually(t, "A muted still hears", []float64{fB, fC}, []float64{fA})
	require.Eventually(t, func() bool { return m.Stats().Talkers == 2 && !a.mb.Talking() }, 5*time.Second, 20*time.Millisecond,
		"a muted member does not count as talking")

	a.mb.SetMuted(false)
	b.eventually(t, "B, A unmuted", []float64{fA, fC}, []float64{fB})
}

func TestMixerHold(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a, b, _ := threeTalkers(t, e, m)
	b.eventually(t, "B before hold", []float64{fA, fC}, []float64{fB})

	// A short music source: the mixer loops it.
	a.mb.SetHold(func() Source { return Tone([]float64{1500}, 130*time.Millisecond) })
	require.True(t, a.mb.Held())
	a.eventually(t, "A held hears the music", []float64{1500}, []float64{fA, fB, fC})
	b.eventually(t, "B does not hear A held", []float64{fC}, []float64{fA, fB, 1500})
	time.Sleep(500 * time.Millisecond)
	require.True(t, a.hearsOnly(25, []float64{1500}, []float64{fB, fC}), "the music loops: %s", a.describe(25, 1500, fB, fC))

	// Another music while held, then a nil source: silence.
	a.mb.SetHold(func() Source { return mohMusic1() })
	a.mb.SetHold(func() Source { return nil })
	require.Eventually(t, func() bool { return rms(a.heard(10)) == 0 }, 8*time.Second, 20*time.Millisecond, "nil music: silence")

	a.mb.SetHold(nil)
	require.False(t, a.mb.Held())
	a.eventually(t, "A resumed", []float64{fB, fC}, []float64{fA, 1500})
	b.eventually(t, "B hears A again", []float64{fA, fC}, []float64{fB})
}

// mohMusic1 is a hold music source (music1).
func mohMusic1() Source {
	src, _ := MOH(MOHMusic1)
	return src
}

func TestMixerDetached(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	a.eventually(t, "A before", []float64{fB}, []float64{fA})

	a.mb.SetDetached(true)
	require.True(t, a.mb.Detached())
	require.Eventually(t, func() bool { return len(a.heard(10)) == 10*FrameSamples && rms(a.heard(10)) == 0 }, 8*time.Second, 20*time.Millisecond,
		"detached hears silence: %s", a.describe(10, fB))
	require.Eventually(t, func() bool { return rms(b.heard(10)) == 0 }, 8*time.Second, 20*time.Millisecond, "detached is not heard")
	// Silence is still sent: the far end's RTP timeout does not fire.
	n := len(a.rec.snapshot())
	require.Eventually(t, func() bool { return len(a.rec.snapshot()) >= n+10 }, 5*time.Second, 20*time.Millisecond)

	a.mb.SetDetached(false)
	a.eventually(t, "A reattached", []float64{fB}, []float64{fA})
	b.eventually(t, "B hears A again", []float64{fA}, []float64{fB})
}

func TestMixerAlone(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	calls := 0
	var mu sync.Mutex
	alone := func() Source {
		mu.Lock()
		calls++
		mu.Unlock()
		return Tone([]float64{1300}, 150*time.Millisecond) // shorter than the waits: it loops
	}
	a := join(t, e, m, MemberOptions{Alone: alone})
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	a.eventually(t, "A alone", []float64{1300}, []float64{fA})
	time.Sleep(400 * time.Millisecond)
	require.True(t, a.hearsOnly(15, []float64{1300}, []float64{fA}), "still, looped: %s", a.describe(15, 1300))
	mu.Lock()
	require.GreaterOrEqual(t, calls, 2, "called again when the source ended")
	mu.Unlock()

	b := join(t, e, m, MemberOptions{Alone: alone})
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	a.eventually(t, "A with B", []float64{fB}, []float64{1300, fA})
	b.eventually(t, "B with A", []float64{fA}, []float64{1300, fB})

	// B on hold: A is the only one that hears the room again.
	b.mb.SetHold(func() Source { return Tone([]float64{1500}, time.Second) })
	a.eventually(t, "A alone with B held", []float64{1300}, []float64{fA, fB, 1500})
	b.mb.SetHold(nil)
	a.eventually(t, "A with B resumed", []float64{fB}, []float64{1300})

	b.mb.Remove()
	a.eventually(t, "A alone again", []float64{1300}, []float64{fB})
}

func TestMixerSaturates(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{})
	// Two loud members in the same phase: a constant near full scale. Their
	// sum, 60000, wraps to -5536 in 16 bits; saturated it is 32767.
	loud := make([]int16, 10*SampleRate)
	for i := range loud {
		loud[i] = 30000
	}
	a.talk(t, PCM(loud))
	b.talk(t, PCM(loud))
	// What one loud member alone decodes to, and full scale, through PCMU.
	var enc [1]byte
	var one, full [1]int16
	EncodeULaw(enc[:], []int16{30000})
	DecodeULaw(one[:], enc[:])
	EncodeULaw(enc[:], []int16{32767})
	DecodeULaw(full[:], enc[:])
	require.Less(t, one[0], full[0])
	require.Eventually(t, func() bool {
		h := c.heard(10)
		if len(h) < 10*FrameSamples {
			return false
		}
		for _, v := range h {
			if v != full[0] {
				return false
			}
		}
		return true
	}, 8*time.Second, 20*time.Millisecond, "C hears full scale")
	for i, v := range audioByTimestamp(c.rec.snapshot()) {
		require.GreaterOrEqual(t, v, int16(0), "sample %d: no wrap-around", i)
	}
	// A hears B only: not saturated.
	require.Eventually(t, func() bool {
		h := a.heard(10)
		return len(h) == 10*FrameSamples && h[0] == one[0] && h[len(h)-1] == one[0]
	}, 8*time.Second, 20*time.Millisecond)
}

func TestSaturate16(t *testing.T) {
	for _, tc := range []struct {
		in   int32
		want int16
	}{{0, 0}, {32767, 32767}, {32768, 32767}, {1 << 30, 32767}, {-32768, -32768}, {-32769, -32768}, {-1 << 30, -32768}, {-5, -5}} {
		require.Equal(t, tc.want, saturate16(tc.in), "%d", tc.in)
	}
}

// FuzzMixOut checks the N-1 mix against a plain reference: for any frames
// of up to 8 members, each output sample is the others' sum clipped to 16
// bits.
func FuzzMixOut(f *testing.F) {
	f.Add([]byte{0x7F, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF}, uint8(3))
	f.Add([]byte{0x80, 0x00, 0x80, 0x00, 0x12, 0x34, 0xFF, 0xFF}, uint8(4))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, members uint8) {
		n := int(members%8) + 1
		frames := make([][FrameSamples]int16, n)
		for k := range frames {
			for i := range frames[k] {
				j := 2 * (k*FrameSamples + i)
				if len(data) > 0 {
					frames[k][i] = int16(uint16(data[j%len(data)])<<8 | uint16(data[(j+1)%len(data)]))
				}
			}
		}
		var sum [FrameSamples]int32
		for k := range frames {
			for i, v := range frames[k] {
				sum[i] += int32(v)
			}
		}
		var out [FrameSamples]int16
		for k := range frames {
			mixOut(&out, &sum, &frames[k], true)
			for i := range out {
				ref := 0
				for o := range frames {
					if o != k {
						ref += int(frames[o][i])
					}
				}
				ref = max(min(ref, math.MaxInt16), math.MinInt16)
				if int(out[i]) != ref {
					t.Fatalf("member %d sample %d: got %d, want %d", k, i, out[i], ref)
				}
			}
		}
	})
}

func TestMixerForwardDTMF(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{})
	d := join(t, e, m, MemberOptions{})
	d.mb.SetDetached(true)
	m.ForwardDTMF(a.mb, '5')
	m.ForwardDTMF(a.mb, 'x') // ignored
	m.ForwardDTMF(a.mb, '#')
	require.Equal(t, "5#", collectDigits(t, b.phone, 2, 5*time.Second))
	require.Equal(t, "5#", collectDigits(t, c.phone, 2, 5*time.Second))
	for _, x := range []*confMember{b, c} {
		events := 0
		for _, p := range x.rec.snapshot() {
			if p.hdr.PayloadType == DefaultEventPayload {
				events++
			}
		}
		require.Positive(t, events, "RFC 4733 telephone-events")
	}
	select {
	case dg := <-a.phone.Digits():
		t.Fatalf("the sender got %q", dg)
	case dg := <-d.phone.Digits():
		t.Fatalf("a detached member got %q", dg)
	case <-time.After(300 * time.Millisecond):
	}
	// The mix resumes after the digits.
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.eventually(t, "B after the digits", []float64{fA}, nil)
	require.Eventually(t, func() bool { return goroutinesNamed("media.(*Member).forwardLoop(") == 0 }, 5*time.Second, 20*time.Millisecond)
}

func TestMixerTaps(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{})
	rec := &tapRecorder{}
	rm := a.s.Tap(rec.fn)
	defer rm()
	noOwnClock := func() bool { return goroutinesIn("clockLoop") == 0 }
	require.Eventually(t, noOwnClock, 5*time.Second, 10*time.Millisecond, "a mixed session runs no clock of its own")
	a.talk(t, Tone([]float64{fA}, 10*time.Second))
	b.talk(t, Tone([]float64{fB}, 10*time.Second))
	c.talk(t, Tone([]float64{fC}, 10*time.Second))
	a.eventually(t, "A", []float64{fB, fC}, []float64{fA})
	n0 := rec.len()
	require.Eventually(t, func() bool { return rec.len() >= n0+25 }, 5*time.Second, 20*time.Millisecond)
	rx, tx := rec.frames()
	var rxa, txa []int16
	for i := len(rx) - 25; i < len(rx); i++ {
		rxa = append(rxa, rx[i]...)
		txa = append(txa, tx[i]...)
	}
	prx := powers(rxa, fA, fB, fC)
	ptx := powers(txa, fA, fB, fC)
	t.Logf("tap rx %.3g, tx %.3g", prx, ptx)
	require.Greater(t, prx[0], heardPower, "rx: its own voice")
	require.Less(t, max(prx[1], prx[2])*100, prx[0])
	require.Greater(t, min(ptx[1], ptx[2]), heardPower, "tx: what it hears")
	require.Less(t, ptx[0]*100, min(ptx[1], ptx[2]))
	require.True(t, noOwnClock())

	// A tap installed while mixed works too, and a removed one stops.
	rec2 := &tapRecorder{}
	rm2 := b.s.Tap(rec2.fn)
	require.Eventually(t, func() bool { return rec2.len() >= 10 }, 5*time.Second, 20*time.Millisecond)
	rm2()
	n := rec2.len()
	time.Sleep(100 * time.Millisecond)
	require.LessOrEqual(t, rec2.len(), n+1)
	require.True(t, noOwnClock())
}

func TestMixerPlayPreempts(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a, b, _ := threeTalkers(t, e, m)
	a.eventually(t, "A before", []float64{fB, fC}, []float64{fA})

	ctx, cancel := context.WithCancel(context.Background())
	played := make(chan error, 1)
	go func() { played <- a.s.Play(ctx, Tone([]float64{1500}, 20*time.Second)) }()
	a.eventually(t, "A hears the prompt only", []float64{1500}, []float64{fA, fB, fC})
	b.eventually(t, "B still hears the room", []float64{fA, fC}, []float64{fB, 1500})
	cancel()
	require.ErrorIs(t, <-played, context.Canceled)
	a.eventually(t, "A back in the room", []float64{fB, fC}, []float64{fA, 1500})
	// The stream stays well-formed: consecutive sequence numbers, and the
	// mix restarted with a marker bit after the prompt.
	pk := a.rec.snapshot()
	markers := 0
	for i := 1; i < len(pk); i++ {
		require.Equal(t, pk[i-1].hdr.SequenceNumber+1, pk[i].hdr.SequenceNumber)
		require.GreaterOrEqual(t, int32(pk[i].hdr.Timestamp-pk[i-1].hdr.Timestamp), int32(FrameSamples), "packet %d: no overlap", i)
		if pk[i].hdr.Marker {
			markers++
		}
	}
	require.GreaterOrEqual(t, markers, 2, "the prompt and the mix after it start talkspurts")
}

func TestMixerMembershipLifecycle(t *testing.T) {
	e, reg := mixerEngine(t)
	m := e.NewMixer(MixerOptions{Room: "lifecycle"})
	require.Eventually(t, func() bool { return goroutinesNamed(mixerClockFn) == 0 }, 5*time.Second, 10*time.Millisecond, "no clock before the first member")
	a := join(t, e, m, MemberOptions{})
	// A tap installed before Add: the session's own clock stops while mixed.
	rec := &tapRecorder{}
	defer a.s.Tap(rec.fn)()
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 0 }, 5*time.Second, 10*time.Millisecond)
	b := join(t, e, m, MemberOptions{})
	c := join(t, e, m, MemberOptions{})
	require.Equal(t, 1, goroutinesNamed(mixerClockFn), "one clock per room")

	// Refusals.
	_, err := m.Add(a.s, MemberOptions{})
	require.ErrorIs(t, err, ErrMixed)
	m2 := e.NewMixer(MixerOptions{})
	defer m2.Close()
	_, err = m2.Add(a.s, MemberOptions{})
	require.ErrorIs(t, err, ErrMixed, "in another mixer")
	other, peer := pair(t, e, e)
	_, err = e.Bridge(a.s, other)
	require.ErrorIs(t, err, ErrBridged, "a mixed session cannot be bridged")
	_, err = e.Bridge(other, a.s)
	require.ErrorIs(t, err, ErrBridged)
	br, err := e.Bridge(other, peer)
	require.NoError(t, err)
	_, err = m.Add(other, MemberOptions{})
	require.ErrorIs(t, err, ErrMixed, "a bridged session cannot be mixed")
	require.ErrorIs(t, err, ErrBridged)
	br.Stop()

	// Remove: the session is free again and its taps run on its own clock.
	n := rec.len()
	require.Eventually(t, func() bool { return rec.len() >= n+5 }, 5*time.Second, 10*time.Millisecond, "taps called by the mixer")
	a.mb.Remove()
	a.mb.Remove() // idempotent
	require.Equal(t, 2, m.Members())
	require.Equal(t, 2.0, gaugeValue(t, reg, "callcore_conference_mixer_members"))
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 1 }, 5*time.Second, 10*time.Millisecond, "own clock back")
	n = rec.len()
	require.Eventually(t, func() bool { return rec.len() >= n+5 }, 5*time.Second, 10*time.Millisecond, "taps still called")
	a.mb.SetMuted(true) // no effect after Remove, no panic
	br, err = e.Bridge(a.s, other)
	require.NoError(t, err, "bridged after leaving the mixer")
	br.Stop()
	mb, err := m2.Add(a.s, MemberOptions{})
	require.NoError(t, err, "mixed again")
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 0 }, 5*time.Second, 10*time.Millisecond)
	n = rec.len()
	require.Eventually(t, func() bool { return rec.len() >= n+5 }, 5*time.Second, 10*time.Millisecond, "taps called by the second mixer")
	mb.Remove()
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 1 }, 5*time.Second, 10*time.Millisecond)

	// Closing a member's session removes it within a tick.
	require.NoError(t, b.s.Close())
	require.Eventually(t, func() bool { return m.Members() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, gaugeValue(t, reg, "callcore_conference_mixer_members"))
	b.mb.Remove() // after the session closed: harmless

	// The last member leaving stops the clock; a new one restarts it.
	c.mb.Remove()
	require.Zero(t, m.Members())
	require.Eventually(t, func() bool { return goroutinesNamed(mixerClockFn) == 0 }, 5*time.Second, 10*time.Millisecond)
	c2, err := m.Add(c.s, MemberOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return goroutinesNamed(mixerClockFn) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Close removes every member and stops the clock; the sessions stay
	// usable.
	m.Close()
	m.Close() // idempotent
	require.Zero(t, m.Members())
	require.Eventually(t, func() bool { return goroutinesNamed(mixerClockFn) == 0 }, 5*time.Second, 10*time.Millisecond)
	c2.Remove() // after Close: harmless
	_, err = m.Add(c.s, MemberOptions{})
	require.ErrorIs(t, err, ErrClosed)
	br, err = e.Bridge(c.s, other)
	require.NoError(t, err)
	br.Stop()
	m2.Close()
	require.Zero(t, gaugeValue(t, reg, "callcore_conference_mixer_members"))
	require.Zero(t, gaugeValue(t, reg, "callcore_conference_mixers"))
	require.Eventually(t, func() bool { return goroutinesNamed(mixerClockFn) == 0 }, 5*time.Second, 10*time.Millisecond)

	// A closed session cannot join.
	_, err = e.NewMixer(MixerOptions{}).Add(b.s, MemberOptions{})
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, 7, e.ActiveSessions(), "the sessions stay open")
}

func TestMixerTickDoesNotAllocate(t *testing.T) {
	e, _ := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	m.noClock = true // ticks are driven by the test
	defer m.Close()
	var members []*confMember
	for range 5 {
		c := join(t, e, m, MemberOptions{Alone: func() Source { return Tone([]float64{1300}, time.Second) }})
		c.phone.rxTap.Store(nil) // the recorder allocates for every packet the phone receives
		members = append(members, c)
	}
	members[1].mb.SetMuted(true)
	members[2].mb.SetHold(mohMusic1)
	members[3].mb.SetDetached(true)
	var sum int
	defer members[0].s.Tap(func(rx, tx []int16) { sum += int(rx[0]) + int(tx[0]) })()
	speech := music(3, time.Second, []float64{1, 0.5, 0.3})
	at := m.now()
	ts := uint32(0)
	i := 0
	tick := func() {
		for _, c := range members {
			s := c.s
			s.jbMu.Lock()
			s.clk.jb.Push(1, ts, false, speech[(i%50)*FrameSamples:(i%50+1)*FrameSamples], at+c.mb.off)
			s.jbMu.Unlock()
		}
		m.tick(at)
		i++
		ts += FrameSamples
		at += FrameDuration
	}
	for range 20 {
		tick() // the hold music and the tap capture start
	}
	allocs := testing.AllocsPerRun(200, tick)
	for attempt := 0; attempt < 3 && allocs > 0; attempt++ {
		allocs = testing.AllocsPerRun(200, tick) // other goroutines may allocate; a real per-tick allocation shows every time
	}
	require.Zero(t, allocs)
}

// TestMixerStatsLateTicks drives the clock through a stall: a tap that
// blocks for longer than the resynchronisation lag makes ticks late.
func TestMixerStatsLateTicks(t *testing.T) {
	e, reg := mixerEngine(t)
	m := e.NewMixer(MixerOptions{})
	defer m.Close()
	a := join(t, e, m, MemberOptions{})
	var once sync.Once
	defer a.s.Tap(func(rx, tx []int16) { once.Do(func() { time.Sleep(250 * time.Millisecond) }) })()
	require.Eventually(t, func() bool { return m.Stats().LateTicks >= 10 }, 5*time.Second, 20*time.Millisecond)
	st := m.Stats()
	require.GreaterOrEqual(t, st.PeakTick, 250*time.Millisecond)
	late, err := counterValue(reg, "callcore_conference_mixer_late_ticks_total")
	require.NoError(t, err)
	require.GreaterOrEqual(t, late, 10.0)
}

// counterValue reads a counter without labels from reg.
func counterValue(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue(), nil
		}
	}
	return 0, errors.New("metric not found: " + name)
}
