package media

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// jbArrival is one packet of a synthetic arrival schedule.
type jbArrival struct {
	at     time.Duration
	ssrc   uint32
	ts     uint32
	marker bool
	id     int16 // every sample of the packet holds id
	n      int   // samples (FrameSamples when 0)
}

// jbOut is one frame taken from the buffer.
type jbOut struct {
	at     time.Duration
	status FrameStatus
	id     int16 // the first sample
}

// stream returns packets 1..count of 20 ms sent every 20 ms from start with
// RTP timestamps from ts0, arriving after delay(i) (i from 0).
func stream(count int, ts0 uint32, start time.Duration, delay func(i int) time.Duration) []jbArrival {
	out := make([]jbArrival, count)
	for i := range out {
		out[i] = jbArrival{
			at:   start + time.Duration(i)*FrameDuration + delay(i),
			ssrc: 0x1234, ts: ts0 + uint32(i*FrameSamples), id: int16(i + 1), marker: i == 0,
		}
	}
	return out
}

func constDelay(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

// runJB feeds the arrivals (sorted by time) and pops a frame at every tick
// from phase until until, with a fake clock.
func runJB(t *testing.T, j *JitterBuffer, arrivals []jbArrival, phase, until time.Duration) []jbOut {
	t.Helper()
	arrivals = slices.Clone(arrivals)
	slices.SortStableFunc(arrivals, func(a, b jbArrival) int { return int(a.at - b.at) })
	var out []jbOut
	frame := make([]int16, FrameSamples)
	k := 0
	for tick := phase; tick < until; tick += FrameDuration {
		for k < len(arrivals) && arrivals[k].at <= tick {
			a := arrivals[k]
			n := a.n
			if n == 0 {
				n = FrameSamples
			}
			pcm := make([]int16, n)
			for i := range pcm {
				pcm[i] = a.id
			}
			j.Push(a.ssrc, a.ts, a.marker, pcm, a.at)
			k++
		}
		st := j.Pop(frame, tick)
		if st == FrameAudio {
			require.Equal(t, frame[0], frame[FrameSamples-1], "a frame holds one packet at %v", tick)
		}
		out = append(out, jbOut{at: tick, status: st, id: frame[0]})
	}
	return out
}

// audioIDs returns the ids of the audio frames in order.
func audioIDs(out []jbOut) []int16 {
	var ids []int16
	for _, o := range out {
		if o.status == FrameAudio {
			ids = append(ids, o.id)
		}
	}
	return ids
}

func seqIDs(from, to int) []int16 {
	var ids []int16
	for i := from; i <= to; i++ {
		ids = append(ids, int16(i))
	}
	return ids
}

func TestJitterBufferSteadyStream(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	arr := stream(100, 1000, 0, constDelay(30*time.Millisecond))
	out := runJB(t, j, arr, 7*time.Millisecond, 3*time.Second)
	require.Equal(t, seqIDs(1, 100), audioIDs(out))
	st := j.Stats()
	require.Equal(t, uint64(100), st.Packets)
	require.Zero(t, st.Late+st.Duplicates+st.Stalls+st.Skips)
	require.Equal(t, uint64(2), st.Concealed, "the end of the stream fades out over two frames")
	require.Equal(t, 40*time.Millisecond, st.Delay)
	// The first frame plays 40-60 ms after it arrived (the next tick after
	// the delay).
	for _, o := range out {
		if o.status == FrameAudio {
			lag := o.at - arr[0].at
			require.GreaterOrEqual(t, lag, 40*time.Millisecond)
			require.Less(t, lag, 60*time.Millisecond)
			break
		}
	}
}

func TestJitterBufferReorderAndDuplicates(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	// Pairs arrive swapped: the even packet 15 ms late, after the odd one.
	arr := stream(100, 50, 0, func(i int) time.Duration {
		if i%2 == 0 {
			return 35 * time.Millisecond
		}
		return 10 * time.Millisecond
	})
	// Every packet also arrives a second time 13 ms later.
	for _, a := range slices.Clone(arr) {
		a.at += 13 * time.Millisecond
		arr = append(arr, a)
	}
	out := runJB(t, j, arr, 3*time.Millisecond, 3*time.Second)
	require.Equal(t, seqIDs(1, 100), audioIDs(out))
	st := j.Stats()
	require.Equal(t, uint64(100), st.Duplicates)
	require.Zero(t, st.Late)
}

func TestJitterBufferLossConcealment(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	lost := map[int16]bool{10: true, 20: true, 21: true, 30: true, 31: true, 32: true}
	var arr []jbArrival
	for _, a := range stream(40, 0, 0, constDelay(5*time.Millisecond)) {
		if !lost[a.id] {
			arr = append(arr, a)
		}
	}
	out := runJB(t, j, arr, 11*time.Millisecond, 2*time.Second)
	var got []jbOut
	for _, o := range out {
		if o.status != FrameSilence || (len(got) > 0 && len(got) < 40) {
			got = append(got, o)
		}
	}
	require.GreaterOrEqual(t, len(got), 40)
	for i, o := range got[:40] {
		id := int16(i + 1)
		switch id {
		case 10, 20, 30:
			require.Equal(t, FrameConcealed, o.status, "frame %d", id)
			require.Equal(t, (id-1)/2, o.id, "half of the previous frame")
		case 21, 31:
			require.Equal(t, FrameConcealed, o.status, "frame %d", id)
			require.Equal(t, (id-2)/4, o.id, "a quarter of the last good frame")
		case 32:
			require.Equal(t, FrameSilence, o.status, "frame %d", id)
			require.Zero(t, o.id)
		default:
			require.Equal(t, FrameAudio, o.status, "frame %d", id)
			require.Equal(t, id, o.id)
		}
	}
	require.Equal(t, uint64(5+2), j.Stats().Concealed, "5 lost, 2 after the end")
}

func TestJitterBufferAdaptsToJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	j := NewJitterBuffer(JitterBufferOptions{})
	const n = 1000 // 20 s
	arr := stream(n, 7, 0, func(int) time.Duration { return time.Duration(r.IntN(80)) * time.Millisecond })
	out := runJB(t, j, arr, 5*time.Millisecond, 25*time.Second)
	st := j.Stats()
	t.Logf("uniform 0-80 ms: %+v", st)
	require.GreaterOrEqual(t, st.Delay, 80*time.Millisecond)
	require.LessOrEqual(t, st.Delay, 140*time.Millisecond)
	require.Less(t, st.Late, uint64(10), "only packets before the delay grew are late")
	require.Greater(t, st.Jitter, 10*time.Millisecond)
	ids := audioIDs(out)
	require.True(t, slices.IsSorted(ids), "frames come out in order")
	require.Greater(t, len(ids), n*98/100)

	// Jitter beyond the cap: the delay stays at the cap and the latest
	// packets are dropped.
	j = NewJitterBuffer(JitterBufferOptions{MaxDelay: 200 * time.Millisecond})
	arr = stream(n, 7, 0, func(int) time.Duration { return time.Duration(r.IntN(400)) * time.Millisecond })
	out = runJB(t, j, arr, 5*time.Millisecond, 25*time.Second)
	st = j.Stats()
	require.Equal(t, 200*time.Millisecond, st.Delay)
	require.Greater(t, st.Late, uint64(50))
	require.True(t, slices.IsSorted(audioIDs(out)))
}

func TestJitterBufferBurstGrowsThenShrinksSlowly(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	// 150 ms stall at packet 100 (2 s): packets 100-107 arrive together.
	burst := func(at int) func(int) time.Duration {
		return func(i int) time.Duration {
			if i >= at && i < at+8 {
				return time.Duration(at+8-i)*FrameDuration - 10*time.Millisecond
			}
			return 0
		}
	}
	arr := stream(100, 0, 0, constDelay(0))
	arr = append(arr, stream(900, 100*FrameSamples, 100*FrameDuration, burst(0))...)
	for i := range arr {
		arr[i].id = int16(i + 1)
		arr[i].marker = i == 0
	}
	var delays []time.Duration
	var out []jbOut
	frame := make([]int16, FrameSamples)
	k := 0
	for tick := 3 * time.Millisecond; tick < 20*time.Second; tick += FrameDuration {
		for k < len(arr) && arr[k].at <= tick {
			pcm := slices.Repeat([]int16{arr[k].id}, FrameSamples)
			j.Push(arr[k].ssrc, arr[k].ts, arr[k].marker, pcm, arr[k].at)
			k++
		}
		st := j.Pop(frame, tick)
		out = append(out, jbOut{at: tick, status: st, id: frame[0]})
		delays = append(delays, j.Delay())
	}
	st := j.Stats()
	t.Logf("burst: %+v", st)
	require.LessOrEqual(t, st.Late, uint64(7), "the burst's first packets are late")
	maxDelay := slices.Max(delays)
	require.GreaterOrEqual(t, maxDelay, 140*time.Millisecond, "the delay grew to cover the burst")
	require.LessOrEqual(t, maxDelay, 200*time.Millisecond)
	// 3 s after the burst the delay is still up; by the end it is back.
	require.GreaterOrEqual(t, delays[int((2*time.Second+3*time.Second)/FrameDuration)], 140*time.Millisecond)
	require.Equal(t, 40*time.Millisecond, delays[len(delays)-1])
	require.Greater(t, st.Skips, uint64(0))
	require.LessOrEqual(t, st.Skips, uint64(20), "at most one frame per second is dropped")
	require.True(t, slices.IsSorted(audioIDs(out)))

	// A second identical burst while the delay is still large loses
	// nothing.
	j = NewJitterBuffer(JitterBufferOptions{})
	arr = stream(400, 0, 0, func(i int) time.Duration {
		switch {
		case i >= 100 && i < 108:
			return burst(100)(i)
		case i >= 200 && i < 208:
			return burst(200)(i)
		}
		return 0
	})
	runJB(t, j, arr, 3*time.Millisecond, 9*time.Second)
	lateAfterFirst := j.Stats().Late
	require.LessOrEqual(t, lateAfterFirst, uint64(7))
	j2 := NewJitterBuffer(JitterBufferOptions{})
	runJB(t, j2, arr[:200], 3*time.Millisecond, 9*time.Second)
	require.Equal(t, j2.Stats().Late, lateAfterFirst, "no packet of the second burst is late")
}

func TestJitterBufferSSRCChangeAndTimestampJump(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	a := stream(50, 1000, 0, constDelay(10*time.Millisecond))
	b := stream(50, 9_000_000, time.Second, constDelay(10*time.Millisecond))
	for i := range b {
		b[i].ssrc = 0x9999
		b[i].id += 50
	}
	c := stream(50, 9_000_000+50*FrameSamples+4_000_000, 2*time.Second, constDelay(10*time.Millisecond)) // same SSRC, jump with marker
	for i := range c {
		c[i].ssrc = 0x9999
		c[i].id += 100
	}
	out := runJB(t, j, slices.Concat(a, b, c), 1*time.Millisecond, 4*time.Second)
	require.Equal(t, seqIDs(1, 150), audioIDs(out))
	st := j.Stats()
	require.Equal(t, uint64(3), st.Resyncs)
	require.Zero(t, st.Late)
	// Each new stream plays within 40-60 ms of its first packet.
	for _, first := range []int16{51, 101} {
		for _, o := range out {
			if o.id == first && o.status == FrameAudio {
				start := time.Duration(first-1) / 50 * time.Second
				require.Less(t, o.at-start, 80*time.Millisecond)
			}
		}
	}
}

func TestJitterBufferTalkspurts(t *testing.T) {
	// 1 s of speech, 1 s of silence suppression (timestamps advance with
	// the clock), 1 s of speech with the marker bit.
	j := NewJitterBuffer(JitterBufferOptions{})
	a := stream(50, 0, 0, constDelay(20*time.Millisecond))
	b := stream(50, 100*FrameSamples, 2*time.Second, constDelay(20*time.Millisecond))
	for i := range b {
		b[i].id += 50
	}
	out := runJB(t, j, slices.Concat(a, b), 9*time.Millisecond, 4*time.Second)
	require.Equal(t, seqIDs(1, 100), audioIDs(out))
	concealed := 0
	for _, o := range out {
		if o.status == FrameAudio && o.id == 51 {
			break
		}
		if o.status == FrameConcealed {
			concealed++
		}
	}
	require.Equal(t, 2, concealed, "the end of the first talkspurt fades out over two frames")
	require.Zero(t, j.Stats().Late)
}

func TestJitterBufferClockDrift(t *testing.T) {
	for _, tc := range []struct {
		name   string
		period time.Duration // the sender's 20 ms
	}{{"sender fast", 19900 * time.Microsecond}, {"sender slow", 20100 * time.Microsecond}} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJitterBuffer(JitterBufferOptions{})
			const n = 3000 // 60 s
			arr := make([]jbArrival, n)
			for i := range arr {
				arr[i] = jbArrival{at: time.Duration(i) * tc.period, ssrc: 1, ts: uint32(i * FrameSamples), id: int16(i%30000 + 1)}
			}
			out := runJB(t, j, arr, 2*time.Millisecond, time.Duration(n)*tc.period+time.Second)
			st := j.Stats()
			t.Logf("%+v", st)
			require.Zero(t, st.Late)
			require.LessOrEqual(t, st.Delay, 60*time.Millisecond)
			// The latency stays bounded: the last frame plays within 100 ms
			// of its arrival.
			var last jbOut
			for _, o := range out {
				if o.status == FrameAudio {
					last = o
				}
			}
			require.Equal(t, int16(n), last.id)
			require.Less(t, last.at-arr[n-1].at, 100*time.Millisecond)
			if tc.period < FrameDuration {
				require.Greater(t, st.Skips, uint64(0))
			} else {
				require.Greater(t, st.Stalls+st.Concealed, uint64(0))
			}
		})
	}
}

func TestJitterBufferPacketSizes(t *testing.T) {
	// 10 ms and 30 ms packets make 20 ms frames.
	for _, size := range []int{80, 240} {
		j := NewJitterBuffer(JitterBufferOptions{})
		var arr []jbArrival
		for i := range 60 {
			arr = append(arr, jbArrival{at: time.Duration(i*size) * time.Second / SampleRate, ssrc: 5, ts: uint32(i * size), id: 1, n: size})
		}
		out := runJB(t, j, arr, 4*time.Millisecond, 3*time.Second)
		audio := 0
		for _, o := range out {
			if o.status == FrameAudio {
				audio++
			}
		}
		require.Equal(t, 60*size/FrameSamples, audio, "packets of %d samples", size)
		require.Equal(t, uint64(2), j.Stats().Concealed, "only the end of the stream")
	}
}

func TestJitterBufferPushPopDoNotAllocate(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{})
	pcm := make([]int16, FrameSamples)
	out := make([]int16, FrameSamples)
	var ts uint32
	var now time.Duration
	allocs := testing.AllocsPerRun(1000, func() {
		j.Push(1, ts, false, pcm, now)
		j.Pop(out, now)
		ts += FrameSamples
		now += FrameDuration
	})
	require.Zero(t, allocs)
}

func TestJitterBufferOptions(t *testing.T) {
	j := NewJitterBuffer(JitterBufferOptions{MinDelay: time.Millisecond, MaxDelay: time.Hour})
	require.Equal(t, FrameDuration, j.Delay(), "at least one frame")
	require.Equal(t, int64(300*SampleRate/1000), j.maxDelay, "at most 300 ms")
	// Garbage in: empty and oversized packets are ignored; Pop before any
	// packet is silence.
	out := make([]int16, FrameSamples)
	require.Equal(t, FrameSilence, j.Pop(out, 0))
	j.Push(1, 0, false, nil, 0)
	j.Push(1, 0, false, make([]int16, jbMaxPacket+1), 0)
	require.Zero(t, j.Stats().Packets)
	j.Push(1, 0, false, make([]int16, FrameSamples), 0)
	j.Reset()
	require.Equal(t, FrameSilence, j.Pop(out, time.Second))
}

// FuzzJitterBuffer drives the buffer with arbitrary packets (SSRC,
// timestamp, size, arrival) and ticks: it must not panic, and every frame
// it returns is a full frame of samples that were pushed (or concealment).
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x80, 0x10, 0x20, 0x30, 0xFF, 0, 0xFF, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		j := NewJitterBuffer(JitterBufferOptions{})
		out := make([]int16, FrameSamples)
		var now time.Duration
		for len(data) >= 6 {
			op, ts, size := data[0], uint32(data[1])<<24|uint32(data[2])<<16|uint32(data[3])<<8, int(data[4])*8
			data = data[6:]
			now += time.Duration(data0(data)) * time.Millisecond
			switch op % 4 {
			case 0, 1:
				pcm := make([]int16, size)
				for i := range pcm {
					pcm[i] = 1000
				}
				j.Push(uint32(op>>4), ts, op&8 != 0, pcm, now)
			default:
				st := j.Pop(out, now)
				for _, v := range out {
					switch st {
					case FrameAudio:
						if v != 0 && v != 1000 {
							t.Fatalf("audio sample %d", v)
						}
					case FrameSilence:
						if v != 0 {
							t.Fatalf("silence sample %d", v)
						}
					}
				}
			}
		}
		st := j.Stats()
		if st.Delay < DefaultJitterMinDelay || st.Delay > DefaultJitterMaxDelay {
			t.Fatalf("delay %v out of bounds", st.Delay)
		}
	})
}

func data0(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0] % 50
}

// BenchmarkJitterBuffer is one 20 ms packet in and one frame out.
func BenchmarkJitterBuffer(b *testing.B) {
	j := NewJitterBuffer(JitterBufferOptions{})
	pcm := make([]int16, FrameSamples)
	out := make([]int16, FrameSamples)
	var ts uint32
	var now time.Duration
	b.ReportAllocs()
	for b.Loop() {
		j.Push(1, ts, false, pcm, now)
		j.Pop(out, now)
		ts += FrameSamples
		now += FrameDuration
	}
}
