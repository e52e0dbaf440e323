package media

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// offerFrom returns an SDP offer (PCMU first, telephone-event) of a peer at
// 127.0.0.1:port with direction dir ("sendrecv", or "sendonly" to put us on
// hold: we then send nothing).
func offerFrom(port int, dir string) []byte {
	o := strings.ReplaceAll(string(offerPCMUFirst), "192.0.2.10", "127.0.0.1")
	o = strings.Replace(o, "a=sendrecv", "a="+dir, 1)
	return setAudioPort([]byte(o), port)
}

// udpSink is a UDP socket that drains what it receives.
type udpSink struct {
	conn *net.UDPConn
	done chan struct{}
}

func newUDPSink(tb testing.TB) *udpSink {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(tb, err)
	_ = c.SetReadBuffer(4 << 20)
	s := &udpSink{conn: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() { _ = c.Close(); <-s.done })
	return s
}

func (s *udpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// wideEngine is an engine on 127.0.0.1 with room for n sessions (RTCP on
// when rtcp, in-band DTMF detection as in DefaultOptions).
func wideEngine(tb testing.TB, n int, rtcp bool) (*Engine, *prometheus.Registry) {
	tb.Helper()
	span := 2*n + 200
	return newTestEngine(tb, func(o *Options) {
		o.PortMin = 20000 + rand.IntN((12000-span)/2)*2
		o.PortMax = o.PortMin + span - 1
		if !rtcp {
			o.RTCPInterval = -1
		}
	})
}

// BenchmarkMixerTick measures one tick of a room of N members, all
// talking (the worst case of the sum): pop a frame from each member's
// jitter buffer, sum, N-1 and saturate, encode in PCMU and send each
// member its frame over real UDP (loopback, to one draining socket).
// Filling the jitter buffers (the read goroutines' work) is outside the
// timing. NoSend is the same with every member on hold (the peer offered
// sendonly), so that nothing is encoded or sent: the mix alone.
func BenchmarkMixerTick(b *testing.B) {
	for _, n := range []int{5, 50, 200} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchMixerTick(b, n, "sendrecv") })
	}
}

// BenchmarkMixerTickNoSend is BenchmarkMixerTick without encoding and
// sending (see there).
func BenchmarkMixerTickNoSend(b *testing.B) {
	for _, n := range []int{5, 50, 200} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchMixerTick(b, n, "sendonly") })
	}
}

func benchMixerTick(b *testing.B, n int, dir string) {
	e, _ := wideEngine(b, n, false)
	sink := newUDPSink(b)
	m := e.NewMixer(MixerOptions{})
	m.noClock = true // the benchmark drives the ticks
	defer m.Close()
	members := make([]*Member, n)
	for i := range members {
		s, _, err := e.Answer(context.Background(), offerFrom(sink.port(), dir))
		require.NoError(b, err)
		b.Cleanup(func() { _ = s.Close() })
		members[i], err = m.Add(s, MemberOptions{})
		require.NoError(b, err)
	}
	speech := music(3, time.Second, []float64{1, 0.5, 0.3})
	const batch = 15 // frames pushed ahead (300 ms: within the jitter buffer's 384 ms jump limit)
	at := m.now()
	var ts uint32
	fill := func() {
		for k := range batch {
			off := ((int(ts)/FrameSamples + k) % 50) * FrameSamples
			for _, mb := range members {
				s := mb.s
				s.jbMu.Lock()
				s.clk.jb.Push(1, ts+uint32(k*FrameSamples), false, speech[off:off+FrameSamples], at+mb.off+time.Duration(k)*FrameDuration)
				s.jbMu.Unlock()
			}
		}
	}
	fill()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%batch == 0 {
			b.StopTimer()
			ts += batch * FrameSamples
			fill()
			b.StartTimer()
		}
		m.tick(at)
		at += FrameDuration
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/participant")
}

// mixerLoadConfig is one load scenario: Rooms rooms of Members members.
// The peers of Talkers members per room send a tone; the others send
// digital silence (phones send RTP all the time).
type mixerLoadConfig struct {
	Rooms, Members, Talkers int
	Warmup, Measure         time.Duration
}

// mixerLoadResult are the figures of a load run (measurement window only,
// except Max).
type mixerLoadResult struct {
	Participants int
	Ticks, Late  uint64
	// P50 and P99 of the tick work time, interpolated in the buckets of
	// callcore_conference_mixer_tick_seconds; Max is the longest tick of
	// the whole run (warm-up included), from MixerStats.PeakTick.
	P50, P99, Max time.Duration
	// TickCores is the tick work time per wall second (cores busy in
	// ticks); ProcessCores the process CPU time per wall second, the peers
	// included.
	TickCores, ProcessCores float64
}

// String formats the figures on one line.
func (r mixerLoadResult) String() string {
	return fmt.Sprintf("%d participants: ticks %d, late %d, tick p50 %v p99 %v max %v, tick work %.3f cores, process CPU %.3f cores = %.3f%% of a core per participant (%.3f%% in ticks)",
		r.Participants, r.Ticks, r.Late, r.P50, r.P99, r.Max, r.TickCores, r.ProcessCores,
		100*r.ProcessCores/float64(r.Participants), 100*r.TickCores/float64(r.Participants))
}

// runMixerLoad runs a load scenario on e (whose metrics are registered on
// reg) with real sessions, answered for peers that are plain UDP sockets
// on loopback: each socket serves up to 50 sessions, sends them
// pre-encoded PCMU frames on a 20 ms schedule and drains what the mixers
// send back. It uses only the package's exported API (and the registry),
// so that test/load can run it on its own engine.
func runMixerLoad(tb testing.TB, e *Engine, reg prometheus.Gatherer, cfg mixerLoadConfig) mixerLoadResult {
	tb.Helper()
	const perPeer = 50
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	tone := make([][]byte, 50) // 1 s of a 440 Hz tone, PCMU
	for i, pcm := 0, sine(50*FrameSamples, 440, SampleRate, 8000); i < len(tone); i++ {
		tone[i] = make([]byte, FrameSamples)
		EncodeULaw(tone[i], pcm[i*FrameSamples:(i+1)*FrameSamples])
	}
	silence := make([]byte, FrameSamples)
	for i := range silence {
		silence[i] = 0xFF // PCMU zero
	}

	type stream struct {
		to    netip.AddrPort
		talk  bool
		seq   uint16
		ts    uint32
		ssrc  uint32
		frame int
	}
	var (
		peers   []*net.UDPConn
		streams [][]*stream
		mixers  []*Mixer
	)
	newPeer := func() {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(tb, err)
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
		peers = append(peers, c)
		streams = append(streams, nil)
		wg.Add(1)
		go func() { // drain
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, c := range peers {
			_ = c.Close()
		}
	}()
	for r := range cfg.Rooms {
		m := e.NewMixer(MixerOptions{Room: fmt.Sprintf("load-%d", r)})
		mixers = append(mixers, m)
		defer m.Close()
		for k := range cfg.Members {
			if len(peers) == 0 || len(streams[len(peers)-1]) == perPeer {
				newPeer()
			}
			p := len(peers) - 1
			s, _, err := e.Answer(ctx, offerFrom(peers[p].LocalAddr().(*net.UDPAddr).Port, "sendrecv"))
			require.NoError(tb, err)
			defer s.Close()
			_, err = m.Add(s, MemberOptions{})
			require.NoError(tb, err)
			streams[p] = append(streams[p], &stream{to: s.LocalAddr(), talk: k < cfg.Talkers, ssrc: rand.Uint32()})
		}
	}
	for p, c := range peers {
		wg.Add(1)
		go func() { // send a frame to each of the peer's sessions every 20 ms
			defer wg.Done()
			buf := make([]byte, 12+FrameSamples)
			buf[0] = 0x80 // V=2, PT 0 (PCMU)
			next := time.Now()
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				for _, st := range streams[p] {
					st.seq++
					st.ts += FrameSamples
					binary.BigEndian.PutUint16(buf[2:], st.seq)
					binary.BigEndian.PutUint32(buf[4:], st.ts)
					binary.BigEndian.PutUint32(buf[8:], st.ssrc)
					payload := silence
					if st.talk {
						payload = tone[st.frame%len(tone)]
						st.frame++
					}
					copy(buf[12:], payload)
					_, _ = c.WriteToUDPAddrPort(buf, st.to)
				}
				next = next.Add(FrameDuration)
				if d := time.Until(next); d < -maxLag {
					next = time.Now() // overloaded: restart the schedule
				}
				timer.Reset(time.Until(next))
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}()
	}

	sum := func() (ticks, late uint64) {
		for _, m := range mixers {
			st := m.Stats()
			ticks += st.Ticks
			late += st.LateTicks
		}
		return ticks, late
	}
	time.Sleep(cfg.Warmup)
	h0 := tickHistogram(tb, reg)
	t0, l0 := sum()
	r0 := rusage()
	start := time.Now()
	time.Sleep(cfg.Measure)
	wall := time.Since(start)
	r1 := rusage()
	t1, l1 := sum()
	h1 := tickHistogram(tb, reg)

	res := mixerLoadResult{Participants: cfg.Rooms * cfg.Members, Ticks: t1 - t0, Late: l1 - l0}
	delta := h1.minus(h0)
	res.P50 = delta.quantile(0.5)
	res.P99 = delta.quantile(0.99)
	res.TickCores = delta.sum / wall.Seconds()
	res.ProcessCores = (r1 - r0).Seconds() / wall.Seconds()
	for _, m := range mixers {
		res.Max = max(res.Max, m.Stats().PeakTick)
	}
	return res
}

// rusage returns the process's user and system CPU time.
func rusage() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// histSnapshot is a cumulative histogram: upper bounds, cumulative counts,
// total count and sum.
type histSnapshot struct {
	bounds []float64
	cum    []uint64
	count  uint64
	sum    float64
}

func tickHistogram(tb testing.TB, g prometheus.Gatherer) histSnapshot {
	tb.Helper()
	mfs, err := g.Gather()
	require.NoError(tb, err)
	for _, mf := range mfs {
		if mf.GetName() != "callcore_conference_mixer_tick_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		s := histSnapshot{count: h.GetSampleCount(), sum: h.GetSampleSum()}
		for _, bk := range h.GetBucket() {
			s.bounds = append(s.bounds, bk.GetUpperBound())
			s.cum = append(s.cum, bk.GetCumulativeCount())
		}
		return s
	}
	tb.Fatal("no callcore_conference_mixer_tick_seconds")
	return histSnapshot{}
}

func (h histSnapshot) minus(o histSnapshot) histSnapshot {
	d := histSnapshot{bounds: h.bounds, count: h.count - o.count, sum: h.sum - o.sum}
	for i := range h.cum {
		d.cum = append(d.cum, h.cum[i]-o.cum[i])
	}
	return d
}

// quantile interpolates linearly within the bucket holding q (as
// Prometheus's histogram_quantile does); beyond the last bound it returns
// that bound.
func (h histSnapshot) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := q * float64(h.count)
	lower, below := 0.0, uint64(0)
	for i, c := range h.cum {
		if float64(c) >= rank {
			in := float64(c - below)
			frac := 1.0
			if in > 0 {
				frac = (rank - float64(below)) / in
			}
			return time.Duration((lower + (h.bounds[i]-lower)*frac) * float64(time.Second))
		}
		lower, below = h.bounds[i], c
	}
	return time.Duration(lower * float64(time.Second))
}

// BenchmarkMixerLoad runs the load scenarios once each (b.N is ignored: a
// run takes about 7 s) and reports the tick figures and the CPU time per
// participant. In each room two members talk.
//
// CALLCORE_MIXER_LOAD="1x400,300x5" runs other scenarios (rooms x members)
// instead of the two targets of issue 6, to look for the limit.
func BenchmarkMixerLoad(b *testing.B) {
	type scenario struct{ rooms, members int }
	scenarios := []scenario{{1, 200}, {100, 5}}
	if env := os.Getenv("CALLCORE_MIXER_LOAD"); env != "" {
		scenarios = nil
		for _, f := range strings.Split(env, ",") {
			var sc scenario
			if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d", &sc.rooms, &sc.members); err != nil || sc.rooms < 1 || sc.members < 1 {
				b.Fatalf("CALLCORE_MIXER_LOAD: %q is not ROOMSxMEMBERS", f)
			}
			scenarios = append(scenarios, sc)
		}
	}
	for _, sc := range scenarios {
		b.Run(fmt.Sprintf("rooms=%d,members=%d", sc.rooms, sc.members), func(b *testing.B) {
			e, reg := wideEngine(b, sc.rooms*sc.members, true)
			var res mixerLoadResult
			for range b.N {
				res = runMixerLoad(b, e, reg, mixerLoadConfig{Rooms: sc.rooms, Members: sc.members, Talkers: 2, Warmup: 2 * time.Second, Measure: 5 * time.Second})
			}
			b.Log(res)
			b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(res.Max.Microseconds()), "max-µs")
			b.ReportMetric(float64(res.Late), "late-ticks")
			b.ReportMetric(100*res.ProcessCores/float64(res.Participants), "cpu%/participant")
			b.ReportMetric(math.Round(1e4*res.TickCores)/1e4, "tick-cores")
		})
	}
}
