package media

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// tapRecorder collects the frames a tap sees.
type tapRecorder struct {
	mu     sync.Mutex
	rx, tx [][]int16
}

func (r *tapRecorder) fn(rx, tx []int16) {
	if len(rx) != FrameSamples || len(tx) != FrameSamples {
		panic("tap frame of the wrong size")
	}
	r.mu.Lock()
	r.rx = append(r.rx, append([]int16(nil), rx...))
	r.tx = append(r.tx, append([]int16(nil), tx...))
	r.mu.Unlock()
}

func (r *tapRecorder) frames() (rx, tx [][]int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int16(nil), r.rx...), append([][]int16(nil), r.tx...)
}

func (r *tapRecorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rx)
}

// loudFrames returns the frames whose RMS is above 500 and their dominant
// frequency (100 Hz steps).
func loudFrames(frames [][]int16) (n int, freqs map[float64]int) {
	freqs = map[float64]int{}
	for _, f := range frames {
		if rms(f) > 500 {
			n++
			freqs[dominantFreq(f, 300, 2000, 100)]++
		}
	}
	return n, freqs
}

// tapTestOptions turn in-band detection off and give the jitter buffer
// 100 ms, so that a loaded test machine's scheduling delays do not drop
// packets as late.
func tapTestOptions(o *Options) {
	o.InbandDTMF = false
	o.JitterBuffer.MinDelay = 100 * time.Millisecond
}

func TestTapSeesBothDirections(t *testing.T) {
	e, _ := newTestEngine(t, tapTestOptions)
	a, b := pair(t, e, e)
	rec := &tapRecorder{}
	remove := b.Tap(rec.fn)
	defer remove()
	ctx := ctxTimeout(t, 5*time.Second)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); require.NoError(t, a.Play(ctx, Tone([]float64{1000}, time.Second))) }()
	go func() { defer wg.Done(); require.NoError(t, b.Play(ctx, Tone([]float64{500}, 600*time.Millisecond))) }()
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	rx, tx := rec.frames()
	require.GreaterOrEqual(t, len(rx), 55, "a frame every 20 ms")
	nrx, frx := loudFrames(rx)
	ntx, ftx := loudFrames(tx)
	t.Logf("rx: %d loud frames %v; tx: %d loud frames %v", nrx, frx, ntx, ftx)
	// 1 s of the peer's tone, plus the two concealed frames that fade out
	// its end; 600 ms of our own prompt (a window may straddle each end).
	require.GreaterOrEqual(t, nrx, 50)
	require.LessOrEqual(t, nrx, 53)
	require.GreaterOrEqual(t, ntx, 29)
	require.LessOrEqual(t, ntx, 31)
	require.GreaterOrEqual(t, frx[1000], nrx-1)
	require.GreaterOrEqual(t, ftx[500], ntx-1)
	// The clock ran at 20 ms: about as many frames as elapsed time.
	require.Less(t, len(rx), 80)
}

func TestTapGoroutineLifecycle(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	r1, r2 := &tapRecorder{}, &tapRecorder{}
	rm1 := s.Tap(r1.fn)
	rm2 := s.Tap(r2.fn)
	require.Eventually(t, func() bool { return r1.len() >= 5 && r2.len() >= 5 }, 2*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, goroutinesIn("clockLoop"), "one clock goroutine for both taps")
	rx, tx := r1.frames()
	for i := range rx {
		require.Zero(t, rms(rx[i]), "silence when nothing is received")
		require.Zero(t, rms(tx[i]), "silence when nothing is sent")
	}
	rm1()
	rm1() // idempotent
	n2 := r2.len()
	n1 := r1.len()
	require.Eventually(t, func() bool { return r2.len() >= n2+5 }, 2*time.Second, 5*time.Millisecond)
	require.LessOrEqual(t, r1.len(), n1+1, "a removed tap is not called")
	rm2()
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 0 }, 2*time.Second, 5*time.Millisecond, "the clock stops with the last tap")
	// A tap can remove itself from its callback, and the clock restarts.
	var self atomic.Pointer[func()]
	calls := 0
	done := make(chan struct{})
	rm := s.Tap(func(rx, tx []int16) {
		calls++
		if f := self.Load(); f != nil && calls >= 3 {
			(*f)()
			close(done)
		}
	})
	self.Store(&rm)
	<-done
	require.Eventually(t, func() bool { return goroutinesIn("clockLoop") == 0 }, 2*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, calls, 3)
	c := calls
	time.Sleep(60 * time.Millisecond)
	require.Equal(t, c, calls, "not called after it removed itself")

	// After Close no tap is called, and Tap installs nothing.
	r3 := &tapRecorder{}
	s.Tap(r3.fn)
	require.Eventually(t, func() bool { return r3.len() > 0 }, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Close())
	n3 := r3.len()
	time.Sleep(60 * time.Millisecond)
	require.Equal(t, n3, r3.len())
	s.Tap(r3.fn)()
	require.Zero(t, goroutinesIn("clockLoop"))
	require.Zero(t, goroutinesIn("readLoop")+goroutinesIn("rtcpLoop"), "read and RTCP goroutines gone")
}

// goroutinesIn counts the goroutines running the Session method fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "media.(*Session)."+fn+"(")
}

func TestTapBridgedLegCarriesBothSides(t *testing.T) {
	e, _ := newTestEngine(t, tapTestOptions)
	ctx := context.Background()
	phoneA, s1 := pair(t, e, e)
	s2, offer2, err := e.Offer(ctx)
	require.NoError(t, err)
	defer s2.Close()
	phoneC, answer2, err := e.Answer(ctx, editSDP(offer2, swapToPCMA))
	require.NoError(t, err)
	defer phoneC.Close()
	require.NoError(t, s2.SetRemote(answer2))
	_, err = e.Bridge(s1, s2)
	require.NoError(t, err)

	rec := &tapRecorder{}
	defer s1.Tap(rec.fn)()
	pctx := ctxTimeout(t, 5*time.Second)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = phoneA.Play(pctx, Tone([]float64{1000}, time.Second)) }()
	go func() { defer wg.Done(); _ = phoneC.Play(pctx, Tone([]float64{700}, time.Second)) }()
	wg.Wait()
	time.Sleep(150 * time.Millisecond)
	rx, tx := rec.frames()
	nrx, frx := loudFrames(rx)
	ntx, ftx := loudFrames(tx)
	t.Logf("rx %d %v, tx %d %v", nrx, frx, ntx, ftx)
	require.GreaterOrEqual(t, nrx, 50, "the caller's voice")
	require.LessOrEqual(t, nrx, 53)
	require.GreaterOrEqual(t, ntx, 49, "the callee's voice relayed (PCMA in, PCMU out), decoded")
	require.LessOrEqual(t, ntx, 51)
	require.GreaterOrEqual(t, frx[1000], nrx-1)
	require.GreaterOrEqual(t, ftx[700], ntx-2)
}

func TestTapConcealsLoss(t *testing.T) {
	e, _ := newTestEngine(t, tapTestOptions)
	n := 0
	a, b := proxiedPair(t, e, func(h *rtp.Header, _ []byte) int {
		n++
		if n%10 == 5 {
			return 0 // 10% loss, isolated
		}
		return 1
	})
	rec := &tapRecorder{}
	defer b.Tap(rec.fn)()
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{1000}, time.Second)))
	time.Sleep(150 * time.Millisecond)
	rx, _ := rec.frames()
	// Between the first and the last loud frame, every frame has sound:
	// the lost ones are concealed, not silent.
	first, last := -1, -1
	for i, f := range rx {
		if rms(f) > 500 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	require.GreaterOrEqual(t, last-first+1, 49)
	quiet := 0
	for _, f := range rx[first : last+1] {
		if rms(f) < 100 {
			quiet++
		}
	}
	require.Zero(t, quiet, "no silent hole where a packet was lost")
}

func TestTapTickDoesNotAllocate(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(t, err)
	defer s.Close()
	var sum int
	defer s.Tap(func(rx, tx []int16) { sum += int(rx[0]) + int(tx[0]) })()
	s.tapMu.Lock()
	c := s.clk
	s.tapMu.Unlock()
	at := s.now()
	allocs := testing.AllocsPerRun(200, func() {
		s.tick(c, at)
		at += FrameDuration
	})
	require.Zero(t, allocs)
}

// BenchmarkReceivePath is the receive path of one 20 ms audio packet of
// speech-like audio: plain (no tap, no in-band detection), with in-band
// DTMF detection, with a tap installed (decode into the jitter buffer), and
// with both.
func BenchmarkReceivePath(b *testing.B) {
	audio := music(3, time.Second, []float64{1, 0.5, 0.3})
	payloads := make([][]byte, len(audio)/FrameSamples)
	for i := range payloads {
		payloads[i] = make([]byte, FrameSamples)
		EncodeULaw(payloads[i], audio[i*FrameSamples:(i+1)*FrameSamples])
	}
	for _, tc := range []struct {
		name        string
		inband, tap bool
	}{{"plain", false, false}, {"inband", true, false}, {"tap", false, true}, {"tap+inband", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			e, _ := newTestEngine(b, func(o *Options) { o.InbandDTMF = tc.inband })
			s, _, err := e.Answer(context.Background(), offerPCMUFirst)
			require.NoError(b, err)
			defer s.Close()
			if tc.tap {
				defer s.Tap(func(rx, tx []int16) {})()
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}}
			buf := make([]byte, 12+FrameSamples)
			from := netip.MustParseAddrPort("192.0.2.10:49170")
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				pkt.SequenceNumber++
				pkt.Timestamp += FrameSamples
				pkt.Payload = payloads[i%len(payloads)]
				i++
				n, _ := pkt.MarshalTo(buf)
				s.handlePacket(buf[:n], from)
			}
		})
	}
}

func TestReceivePathDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inband bool
		tap    bool
	}{{"plain", false, false}, {"inband", true, false}, {"tap", false, true}, {"tap+inband", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestEngine(t, func(o *Options) { o.InbandDTMF = tc.inband })
			s, _, err := e.Answer(context.Background(), offerPCMUFirst)
			require.NoError(t, err)
			defer s.Close()
			if tc.tap {
				defer s.Tap(func(rx, tx []int16) {})()
			}
			audio := dtmfAudio(t, '5', -10, -10, time.Second)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: make([]byte, FrameSamples)}
			buf := make([]byte, 12+FrameSamples)
			from := netip.MustParseAddrPort("192.0.2.10:49170")
			i := 0
			receive := func() {
				pkt.SequenceNumber++
				pkt.Timestamp += FrameSamples
				off := (i % 50) * FrameSamples
				EncodeULaw(pkt.Payload, audio[off:off+FrameSamples])
				i++
				n, _ := pkt.MarshalTo(buf)
				s.handlePacket(buf[:n], from)
			}
			// AllocsPerRun counts the whole process's allocations, so
			// goroutines left by earlier tests can add a few: a real
			// per-packet allocation shows in every attempt.
			allocs := testing.AllocsPerRun(200, receive)
			for attempt := 0; attempt < 3 && allocs > 0; attempt++ {
				allocs = testing.AllocsPerRun(200, receive)
			}
			require.Zero(t, allocs)
		})
	}
}

func TestBridgeJitterBuffer(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) {
		o.BridgeJitterBuffer = true
		o.InbandDTMF = false
		o.JitterBuffer.MinDelay = 100 * time.Millisecond // no adaptation losses at the start
	})
	ctx := context.Background()
	// Phone A's packets to S1 cross a proxy that delays them by 0-60 ms,
	// reordering them.
	phoneA, offer, err := e.Offer(ctx)
	require.NoError(t, err)
	defer phoneA.Close()
	s1, answer, err := e.Answer(ctx, offer)
	require.NoError(t, err)
	defer s1.Close()
	proxy := startJitterProxy(t, s1.LocalAddr(), 60*time.Millisecond)
	require.NoError(t, phoneA.SetRemote(setAudioPort(answer, proxy)))
	s2, phoneC := pair(t, e, e)
	br, err := e.Bridge(s1, s2)
	require.NoError(t, err)
	defer br.Stop()
	recC := record(phoneC)

	require.NoError(t, phoneA.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{1000}, time.Second)))
	recC.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 48 })
	time.Sleep(200 * time.Millisecond)
	pk := recC.snapshot()
	// C receives a clean stream: consecutive sequence numbers and
	// timestamps, in order, although A's packets reached S1 shuffled.
	audio := 0
	for i, p := range pk {
		if i > 0 {
			require.Equal(t, pk[i-1].hdr.SequenceNumber+1, p.hdr.SequenceNumber)
			require.Equal(t, pk[i-1].hdr.Timestamp+FrameSamples, p.hdr.Timestamp, "packet %d", i)
		}
		if rms(decodePayload(p)) > 500 {
			audio++
		}
	}
	require.GreaterOrEqual(t, audio, 45)
	require.InDelta(t, 1000, dominantFreq(audioByTimestamp(pk), 300, 3500, 2), 3)

	// Telephone-events are relayed at once.
	require.NoError(t, phoneA.SendDTMF(ctxTimeout(t, 5*time.Second), "7"))
	require.Equal(t, "7", collectDigits(t, phoneC, 1, 3*time.Second))
	require.Equal(t, "7", collectDigits(t, s1, 1, time.Second))
}

func decodePayload(p rxPacket) []int16 {
	out := make([]int16, len(p.payload))
	if p.hdr.PayloadType == PayloadPCMA {
		DecodeALaw(out, p.payload)
	} else {
		DecodeULaw(out, p.payload)
	}
	return out
}

// startJitterProxy forwards datagrams to a target after a random delay of
// up to maxDelay each, and returns its port.
func startJitterProxy(t *testing.T, to netip.AddrPort, maxDelay time.Duration) int {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(7, 8))
	var wg sync.WaitGroup
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			data := append([]byte(nil), buf[:n]...)
			d := time.Duration(r.Int64N(int64(maxDelay)))
			wg.Add(1)
			time.AfterFunc(d, func() {
				defer wg.Done()
				_, _ = conn.WriteToUDPAddrPort(data, to)
			})
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); wg.Wait() })
	return conn.LocalAddr().(*net.UDPAddr).Port
}
