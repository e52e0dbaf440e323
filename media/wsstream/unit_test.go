package wsstream

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpsampler(t *testing.T) {
	for _, f := range []float64{300, 1000, 3000} {
		in := toneAt(f, 8000, time.Second)
		out := make([]int16, 2*len(in))
		u := newUpsampler()
		for i := 0; i < len(in); i += 160 {
			u.process(in[i:i+160], out[2*i:2*i+320])
		}
		mid := out[4000:12000]
		// The image of f is at 8000-f (and 8000+f).
		assert.Greater(t, db(power(mid, f, 16000), power(mid, 8000-f, 16000)), 55.0, "image of %v Hz", f)
		assert.InDelta(t, rms(in), rms(mid), rms(in)*0.02, "level at %v Hz", f)
		// The even output samples are the input, delayed by halfTaps.
		for j := halfTaps; j < 200; j++ {
			require.Equal(t, in[j-halfTaps], out[2*j])
		}
	}
}

func TestDownsampler(t *testing.T) {
	// 1 kHz passes at its level; 6 kHz (which would alias to 2 kHz) is
	// rejected.
	in := toneAt(1000, 16000, time.Second)
	hi := toneAt(6000, 16000, time.Second)
	for i := range in {
		in[i] = in[i]/2 + hi[i]/2
	}
	d := newDownsampler()
	var out []int16
	for i := 0; i < len(in); i += 320 {
		out = d.process(in[i:i+320], out)
	}
	require.Len(t, out, 8000)
	mid := out[2000:6000]
	assert.Greater(t, db(power(mid, 1000, 8000), power(mid, 2000, 8000)), 60.0, "alias of 6 kHz")
	// power ≈ A²/4: the 1 kHz half of the input has amplitude 4000.
	assert.InDelta(t, 4000, 2*math.Sqrt(power(mid, 1000, 8000)), 4000*0.02)

	// Chunking does not matter.
	d2 := newDownsampler()
	var out2 []int16
	for i := 0; i < len(in); {
		n := min(len(in)-i, 1+i%7)
		out2 = d2.process(in[i:i+n], out2)
		i += n
	}
	require.Equal(t, out, out2)
}

func TestUpDownRoundTrip(t *testing.T) {
	in := toneAt(800, 8000, 500*time.Millisecond)
	up := make([]int16, 2*len(in))
	newUpsampler().process(in, up)
	out := newDownsampler().process(up, nil)
	require.Len(t, out, len(in))
	// The two filters delay by 2×halfTaps-1 samples (at 8 kHz) in all.
	delay := 2*halfTaps - 1
	for i := 200; i < len(in)-delay; i++ {
		require.InDelta(t, in[i], out[i+delay], 80, "sample %d", i)
	}
}

func TestPlayQueue(t *testing.T) {
	seq := func(from, n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(from + i)
		}
		return s
	}
	read := func(q *playQueue, n int) []int16 {
		p := make([]int16, n)
		k, _, _ := q.readInto(p, nil)
		return p[:k]
	}

	t.Run("grows, wraps and keeps order", func(t *testing.T) {
		q := newPlayQueue(1 << 20)
		next, want := 0, 0
		for round := range 50 {
			n := 1000 + 997*round%9000
			dropped, _ := q.push(seq(next, n))
			require.Zero(t, dropped)
			next += n
			got := read(q, n/2+round)
			require.Equal(t, seq(want, len(got)), got)
			want += len(got)
		}
		got := read(q, 1<<20)
		require.Equal(t, seq(want, next-want), got)
	})
	t.Run("overflow drops the oldest", func(t *testing.T) {
		q := newPlayQueue(1000)
		dropped, _ := q.push(seq(0, 800))
		require.Zero(t, dropped)
		dropped, _ = q.push(seq(800, 400))
		require.Equal(t, 200, dropped)
		require.Equal(t, seq(200, 1000), read(q, 2000))
		dropped, _ = q.push(seq(0, 2500)) // more than the whole queue
		require.Equal(t, 1500, dropped)
		require.Equal(t, seq(1500, 1000), read(q, 2000))
	})
	t.Run("marks", func(t *testing.T) {
		q := newPlayQueue(1000)
		require.Equal(t, []string{"empty"}, q.addMark("empty"))
		q.push(seq(0, 100))
		require.Empty(t, q.addMark("a"))
		q.push(seq(100, 100))
		require.Empty(t, q.addMark("b"))
		_, names, _ := q.readInto(make([]int16, 99), nil)
		require.Empty(t, names)
		_, names, _ = q.readInto(make([]int16, 1), nil)
		require.Equal(t, []string{"a"}, names)
		_, reached := q.push(seq(0, 1000)) // the overflow drops past b
		require.Equal(t, []string{"b"}, reached)
		require.Empty(t, q.addMark("c"))
		require.Equal(t, []string{"c"}, q.clear())
		require.Equal(t, []string{"d"}, q.addMark("d"))
	})
	t.Run("too many marks", func(t *testing.T) {
		q := newPlayQueue(1000)
		q.push(seq(0, 10))
		for i := range maxMarks {
			require.Empty(t, q.addMark(string(rune('a'+i%26))))
		}
		require.Equal(t, []string{"a"}, q.addMark("overflow"))
	})
	t.Run("end", func(t *testing.T) {
		q := newPlayQueue(1000)
		q.push(seq(0, 300))
		q.end()
		n, _, ended := q.readInto(make([]int16, 160), nil)
		require.Equal(t, 160, n)
		require.False(t, ended, "audio left")
		n, _, ended = q.readInto(make([]int16, 160), nil)
		require.Equal(t, 140, n)
		require.True(t, ended)
	})
}

func TestParseServerMessage(t *testing.T) {
	tests := []struct {
		in   string
		want serverMessage
		ok   bool
	}{
		{`{"event":"clear"}`, serverMessage{Event: "clear"}, true},
		{`{"event":"hangup","reason":"done"}`, serverMessage{Event: "hangup"}, true},
		{`{"event":"mark","name":"x"}`, serverMessage{Event: "mark", Name: "x"}, true},
		{`{"name":"x","event":"mark","streamSid":"s"}`, serverMessage{Event: "mark", Name: "x"}, true},
		{`{"event":"mark","name":""}`, serverMessage{}, false},
		{`{"event":"mark"}`, serverMessage{}, false},
		{`{"event":"mark","name":"` + strings.Repeat("n", maxMarkName+1) + `"}`, serverMessage{}, false},
		{`{"event":"mark","name":"` + strings.Repeat("n", maxMarkName) + `"}`, serverMessage{Event: "mark", Name: strings.Repeat("n", maxMarkName)}, true},
		{`{"event":"Clear"}`, serverMessage{}, false},
		{`{"event":"media"}`, serverMessage{}, false},
		{`{"event":null}`, serverMessage{}, false},
		{`{"event":5}`, serverMessage{}, false},
		{`{}`, serverMessage{}, false},
		{`[]`, serverMessage{}, false},
		{`null`, serverMessage{}, false},
		{``, serverMessage{}, false},
		{`{"event":"clear"`, serverMessage{}, false},
	}
	for _, tt := range tests {
		got, err := parseServerMessage([]byte(tt.in))
		if !tt.ok {
			require.ErrorIs(t, err, ErrBadMessage, "%.60s", tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

func FuzzParseServerMessage(f *testing.F) {
	for _, s := range []string{
		`{"event":"clear"}`, `{"event":"hangup"}`, `{"event":"mark","name":"x"}`,
		`{"event":"mark","name":""}`, `{"event":"dtmf","digit":"5"}`, `{}`, `null`, `[1,2]`, `{"event":"mark","name":"\u00e9\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseServerMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			if m != (serverMessage{}) {
				t.Fatalf("message %+v with an error", m)
			}
			return
		}
		switch m.Event {
		case eventClear, eventHangup:
			if m.Name != "" {
				t.Fatalf("name on %q", m.Event)
			}
		case eventMark:
			if m.Name == "" || len(m.Name) > maxMarkName {
				t.Fatalf("bad mark name %q", m.Name)
			}
			// The echo of an accepted mark parses back to the same mark.
			back, err := parseServerMessage(markMessage(m.Name))
			if err != nil || back != m {
				t.Fatalf("echo of %q parses as %+v, %v", m.Name, back, err)
			}
		default:
			t.Fatalf("unexpected event %q", m.Event)
		}
	})
}

func BenchmarkWriteFrame(b *testing.B) {
	for _, rate := range []int{8000, 16000} {
		b.Run(map[int]string{8000: "8kHz", 16000: "16kHz"}[rate], func(b *testing.B) {
			// A stream without a connection: only WriteFrame's own work (the
			// ring drops the oldest when full).
			s := &Stream{
				send: newSendRing(50, 2*rate/50),
				wake: make(chan struct{}, 1),
			}
			s.ctx, s.cancel = context.WithCancel(context.Background())
			defer s.cancel()
			s.mSendDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
			if rate == 16000 {
				s.up = newUpsampler()
			}
			frame := toneAt(1000, 8000, 20*time.Millisecond)
			b.ReportAllocs()
			for b.Loop() {
				s.WriteFrame(frame)
			}
		})
	}
}

func BenchmarkSourceRead(b *testing.B) {
	s := &Stream{play: newPlayQueue(8000 * 30)}
	s.src = &source{s: s}
	frame := toneAt(1000, 8000, 20*time.Millisecond)
	buf := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		s.play.push(frame)
		_, _ = s.src.ReadSamples(buf)
	}
}

func BenchmarkDownsample(b *testing.B) {
	d := newDownsampler()
	in := toneAt(1000, 16000, 20*time.Millisecond)
	out := make([]int16, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		out = d.process(in, out[:0])
	}
}
