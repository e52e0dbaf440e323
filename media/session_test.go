package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// setAudioPort rewrites the port of the audio m-line of an SDP body.
func setAudioPort(body []byte, port int) []byte {
	re := regexp.MustCompile(`(?m)^m=audio \d+ `)
	return re.ReplaceAll(body, []byte(fmt.Sprintf("m=audio %d ", port)))
}

// replaceLine replaces the first line starting with prefix (or appends when
// repl is set and no line matched). repl "" deletes the line.
func editSDP(body []byte, edits ...func(string) string) []byte {
	s := string(body)
	for _, e := range edits {
		s = e(s)
	}
	return []byte(s)
}

func swapToPCMA(s string) string {
	return regexp.MustCompile(`(?m)^(m=audio \d+ RTP/AVP) 0 8 101`).ReplaceAllString(s, "$1 8 0 101")
}

func dropEvents(s string) string {
	s = regexp.MustCompile(`(?m)^(m=audio \d+ RTP/AVP 0 8) 101`).ReplaceAllString(s, "$1")
	s = strings.Replace(s, "a=rtpmap:101 telephone-event/8000\r\n", "", 1)
	return strings.Replace(s, "a=fmtp:101 0-16\r\n", "", 1)
}

// udpProxy forwards datagrams to a target, letting a filter drop, pass or
// duplicate each RTP packet.
type udpProxy struct {
	conn *net.UDPConn
	port int
}

func startProxy(t *testing.T, to netip.AddrPort, copies func(h *rtp.Header, payload []byte) int) *udpProxy {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	p := &udpProxy{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		var pkt rtp.Packet
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c := 1
			if pkt.Unmarshal(buf[:n]) == nil {
				c = copies(&pkt.Header, pkt.Payload)
			}
			for range c {
				_, _ = conn.WriteToUDPAddrPort(buf[:n], to)
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return p
}

// proxiedPair is pair() with the offerer's packets to the answerer going
// through a proxy.
func proxiedPair(t *testing.T, e *Engine, copies func(h *rtp.Header, payload []byte) int) (offerer, answerer *Session) {
	t.Helper()
	ctx := context.Background()
	offerer, offer, err := e.Offer(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = offerer.Close() })
	answerer, answer, err := e.Answer(ctx, offer)
	require.NoError(t, err)
	t.Cleanup(func() { _ = answerer.Close() })
	proxy := startProxy(t, answerer.LocalAddr(), copies)
	require.NoError(t, offerer.SetRemote(setAudioPort(answer, proxy.port)))
	return offerer, answerer
}

func collectDigits(t *testing.T, s *Session, n int, timeout time.Duration) string {
	t.Helper()
	var got []rune
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case d := <-s.Digits():
			got = append(got, d)
		case <-deadline:
			t.Fatalf("got digits %q, want %d digits", string(got), n)
		}
	}
	select {
	case d := <-s.Digits():
		t.Fatalf("extra digit %q after %q", d, string(got))
	case <-time.After(150 * time.Millisecond):
	}
	return string(got)
}

func TestPlayWireFormatAndPacing(t *testing.T) {
	e, reg := newTestEngine(t, nil)
	a, b := pair(t, e, e)
	rec := record(b)

	start := time.Now()
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{1000}, 400*time.Millisecond)))
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, 380*time.Millisecond, "20 frames paced at 20 ms")
	require.Less(t, elapsed, 2*time.Second)

	pk := rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 20 })
	require.Len(t, pk, 20)
	for i, p := range pk {
		require.Equal(t, uint8(2), p.hdr.Version)
		require.Equal(t, uint8(PayloadPCMU), p.hdr.PayloadType, "the answerer takes the offerer's first codec")
		require.Len(t, p.payload, FrameSamples)
		require.Equal(t, pk[0].hdr.SSRC, p.hdr.SSRC)
		require.Equal(t, pk[0].hdr.SequenceNumber+uint16(i), p.hdr.SequenceNumber)
		require.Equal(t, pk[0].hdr.Timestamp+uint32(i*FrameSamples), p.hdr.Timestamp)
		require.Equal(t, i == 0, p.hdr.Marker, "marker on the first packet of the talkspurt only")
	}
	span := pk[19].at.Sub(pk[0].at)
	require.Greater(t, span, 300*time.Millisecond, "packets are paced, not burst")
	audio := audioByTimestamp(pk)
	require.InDelta(t, 1000, dominantFreq(audio, 300, 3500, 5), 5)

	st := a.Stats()
	require.Equal(t, uint64(20), st.PacketsSent)
	require.Equal(t, uint64(20*(12+FrameSamples)), st.BytesSent)
	rs := b.Stats()
	require.Equal(t, uint64(20), rs.PacketsReceived)
	require.Zero(t, rs.PacketsLost)
	require.WithinDuration(t, time.Now(), rs.LastReceived, 5*time.Second)
	require.Equal(t, 20.0, testutil.ToFloat64(e.metrics.packetsSent))
	require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.sessionsActive))
	n, err := testutil.GatherAndCount(reg, "callcore_media_rtp_packets_received_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// A second Play continues the stream: same SSRC, next sequence number,
	// a timestamp at least one frame later and a new talkspurt marker.
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{500}, 40*time.Millisecond)))
	pk = rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 22 })
	require.Equal(t, pk[19].hdr.SSRC, pk[20].hdr.SSRC)
	require.Equal(t, pk[19].hdr.SequenceNumber+1, pk[20].hdr.SequenceNumber)
	require.GreaterOrEqual(t, pk[20].hdr.Timestamp-pk[19].hdr.Timestamp, uint32(FrameSamples))
	require.True(t, pk[20].hdr.Marker)
	require.False(t, pk[21].hdr.Marker)
}

func TestPlayWAVFileToneFrequency(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, writeFile(dir, "prompts/tone.wav", toneWAV(WAVFormatPCM, 2, 44100, 16, 600)))
	e, _ := newTestEngine(t, func(o *Options) { o.FilesDir = dir })
	a, b := pair(t, e, e)
	rec := record(b)

	src, err := e.File(context.Background(), "prompts/tone")
	require.NoError(t, err)
	require.NoError(t, b.Play(ctxTimeout(t, 5*time.Second), Silence(20*time.Millisecond)), "b can play too")
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), src))
	pk := rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 30 })
	audio := audioByTimestamp(pk)
	require.InDelta(t, 4800, len(audio), FrameSamples)
	f := dominantFreq(audio[800:len(audio)-800], 200, 3800, 1)
	require.InDelta(t, 1000, f, 3, "Goertzel peak of the received tone")
	require.Greater(t, goertzel(audio, 1000, SampleRate), 1000*goertzel(audio, 1500, SampleRate))
}

func TestPlayStopsOnCancelPreemptAndClose(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	a, b := pair(t, e, e)
	rec := record(b)

	// Cancel: Play returns the context error within about one frame and
	// sending stops.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Play(ctx, Tone([]float64{800}, time.Minute)) }()
	rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 5 })
	cancel()
	cancelled := time.Now()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(cancelled), 200*time.Millisecond)
	case <-time.After(2 * time.Second):
		t.Fatal("Play did not return after cancel")
	}
	time.Sleep(60 * time.Millisecond) // let in-flight packets land
	n := len(rec.snapshot())
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, n, len(rec.snapshot()), "nothing is sent after Play returned")

	// Preempt: a new Play takes over; the old one returns ErrPreempted.
	go func() { errc <- a.Play(context.Background(), Tone([]float64{800}, time.Minute)) }()
	rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= n+3 })
	// A Play or SendDTMF whose caller already gave up does not take over.
	done, stop := context.WithCancel(context.Background())
	stop()
	require.ErrorIs(t, a.Play(done, Silence(time.Second)), context.Canceled)
	require.ErrorIs(t, a.SendDTMF(done, "1"), context.Canceled)
	select {
	case err := <-errc:
		t.Fatalf("the running Play was preempted by a cancelled caller: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), Silence(60*time.Millisecond)))
	require.ErrorIs(t, <-errc, ErrPreempted)

	// Close: a running Play returns ErrClosed; later calls fail the same way.
	go func() { errc <- a.Play(context.Background(), Tone([]float64{800}, time.Minute)) }()
	rec.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= n+8 })
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.ErrorIs(t, a.Play(context.Background(), Silence(time.Second)), ErrClosed)
	require.ErrorIs(t, a.SendDTMF(context.Background(), "1"), ErrClosed)
}

func TestPlayAndDTMFNeedRemote(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	s, _, err := e.Offer(context.Background())
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.Play(context.Background(), Silence(time.Second)), ErrNoRemote)
	require.ErrorIs(t, s.SendDTMF(context.Background(), "1"), ErrNoRemote)
	_, err = s.Reoffer(offerPCMUFirst)
	require.ErrorIs(t, err, ErrNoRemote)
	_, ok := s.Negotiation()
	require.False(t, ok)
}

type failAfter struct{ n int }

func (f *failAfter) ReadSamples(p []int16) (int, error) {
	if f.n == 0 {
		return 0, errors.New("decoder exploded")
	}
	f.n--
	clear(p)
	return len(p), nil
}

func TestPlaySourceError(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	a, _ := pair(t, e, e)
	err := a.Play(ctxTimeout(t, 5*time.Second), &failAfter{n: 2})
	require.ErrorContains(t, err, "decoder exploded")
}

func TestSendDTMFEvents(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	a, b := pair(t, e, e)
	rec := record(b)

	start := time.Now()
	require.NoError(t, a.SendDTMF(ctxTimeout(t, 10*time.Second), "123*#A0d"))
	require.GreaterOrEqual(t, time.Since(start), 7*160*time.Millisecond)
	require.Equal(t, "123*#A0D", collectDigits(t, b, 8, 3*time.Second))

	// Wire format of one event (RFC 4733): marker on the first packet, one
	// timestamp, growing durations, three end packets with duration 800.
	pk := rec.snapshot()
	var first []rxPacket
	for _, p := range pk {
		if len(first) > 0 && p.hdr.Timestamp != first[0].hdr.Timestamp {
			break
		}
		first = append(first, p)
	}
	require.Len(t, first, 8)
	for i, p := range first {
		require.Equal(t, uint8(DefaultEventPayload), p.hdr.PayloadType)
		require.Equal(t, i == 0, p.hdr.Marker)
		require.Equal(t, byte(1), p.payload[0], "event code of '1'")
		require.Equal(t, byte(dtmfVolume), p.payload[1]&0x3F)
		dur := int(p.payload[2])<<8 | int(p.payload[3])
		if i < 5 {
			require.Zero(t, p.payload[1]&0x80)
			require.Equal(t, (i+1)*FrameSamples, dur)
		} else {
			require.NotZero(t, p.payload[1]&0x80, "end bit")
			require.Equal(t, 800, dur)
		}
	}
	second := pk[8]
	require.Equal(t, uint32(1280), second.hdr.Timestamp-first[0].hdr.Timestamp, "160 ms between event starts")

	// A 'w' pauses 500 ms.
	start = time.Now()
	require.NoError(t, a.SendDTMF(ctxTimeout(t, 10*time.Second), "9w9"))
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond+260*time.Millisecond)
	require.Equal(t, "99", collectDigits(t, b, 2, 3*time.Second))

	err := a.SendDTMF(context.Background(), "12x")
	require.ErrorIs(t, err, ErrInvalidDigit)
	require.ErrorContains(t, err, "position 2")
}

func TestDTMFLossTolerance(t *testing.T) {
	isEvent := func(h *rtp.Header) bool { return h.PayloadType == DefaultEventPayload }
	isEnd := func(h *rtp.Header, p []byte) bool { return isEvent(h) && len(p) >= 2 && p[1]&0x80 != 0 }
	tests := []struct {
		name   string
		copies func(h *rtp.Header, p []byte) int
	}{
		{"all end packets lost", func(h *rtp.Header, p []byte) int {
			if isEnd(h, p) {
				return 0
			}
			return 1
		}},
		{"start packet lost", func(h *rtp.Header, _ []byte) int {
			if isEvent(h) && h.Marker {
				return 0
			}
			return 1
		}},
		{"only end packets arrive", func(h *rtp.Header, p []byte) int {
			if isEvent(h) && !isEnd(h, p) {
				return 0
			}
			return 1
		}},
		{"end packets retransmitted", func(h *rtp.Header, p []byte) int {
			if isEnd(h, p) {
				return 4
			}
			return 1
		}},
		{"every packet duplicated", func(*rtp.Header, []byte) int { return 2 }},
	}
	e, _ := newTestEngine(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := proxiedPair(t, e, tt.copies)
			require.NoError(t, a.SendDTMF(ctxTimeout(t, 10*time.Second), "5#5B"))
			require.Equal(t, "5#5B", collectDigits(t, b, 4, 3*time.Second))
		})
	}
}

func TestDTMFLostPacketsCounted(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	var mu sync.Mutex
	n := 0
	a, b := proxiedPair(t, e, func(*rtp.Header, []byte) int {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n%5 == 0 {
			return 0 // every fifth packet lost
		}
		return 1
	})
	require.NoError(t, a.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{400}, 400*time.Millisecond)))
	require.Eventually(t, func() bool { return b.Stats().PacketsReceived >= 16 }, 2*time.Second, 10*time.Millisecond)
	st := b.Stats()
	require.Equal(t, uint64(16), st.PacketsReceived)
	require.Equal(t, uint64(3), st.PacketsLost, "the 20th packet is the last: losses 5, 10, 15 are detectable")
}

// detectInbandDigits is a simple Q.23 detector: per 20 ms frame, the
// strongest row and column frequency when both clearly dominate.
func detectInbandDigits(audio []int16) string {
	rows := []float64{697, 770, 852, 941}
	cols := []float64{1209, 1336, 1477, 1633}
	keys := [4][4]rune{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
	var out []rune
	prev := rune(0)
	for off := 0; off+FrameSamples <= len(audio); off += FrameSamples {
		f := audio[off : off+FrameSamples]
		d := rune(0)
		if rms(f) > 1000 {
			bestR, bestC := 0, 0
			var pr, pc [4]float64
			for i := range 4 {
				pr[i], pc[i] = goertzel(f, rows[i], SampleRate), goertzel(f, cols[i], SampleRate)
				if pr[i] > pr[bestR] {
					bestR = i
				}
				if pc[i] > pc[bestC] {
					bestC = i
				}
			}
			ok := true
			for i := range 4 {
				if (i != bestR && pr[i]*10 > pr[bestR]) || (i != bestC && pc[i]*10 > pc[bestC]) {
					ok = false
				}
			}
			if ok {
				d = keys[bestR][bestC]
			}
		}
		if d != 0 && d != prev {
			out = append(out, d)
		}
		prev = d
	}
	return string(out)
}

func TestSendDTMFInBandFallback(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ctx := context.Background()
	a, offer, err := e.Offer(ctx)
	require.NoError(t, err)
	defer a.Close()
	b, answer, err := e.Answer(ctx, editSDP(offer, dropEvents))
	require.NoError(t, err)
	defer b.Close()
	require.NotContains(t, string(answer), "telephone-event")
	require.NoError(t, a.SetRemote(answer))
	n, _ := b.Negotiation()
	require.False(t, n.Events)
	rec := record(a)

	require.NoError(t, b.SendDTMF(ctxTimeout(t, 10*time.Second), "159#w0"))
	pk := rec.waitFor(t, 3*time.Second, func(p []rxPacket) bool { return len(p) >= 5*8+25 })
	for _, p := range pk {
		require.Equal(t, uint8(PayloadPCMU), p.hdr.PayloadType, "in-band digits travel as audio")
	}
	require.Equal(t, "159#0", detectInbandDigits(audioByTimestamp(pk)))
	// The receiving session detects the tones in band (Options.InbandDTMF).
	require.Equal(t, "159#0", collectDigits(t, a, 5, 2*time.Second))
}

func TestInjectDigit(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	s, _, err := e.Offer(context.Background())
	require.NoError(t, err)
	defer s.Close()
	for _, r := range "0123456789*#ABCDabcd" {
		require.NoError(t, s.InjectDigit(r))
	}
	require.Equal(t, "0123456789*#ABCDABCD", collectDigits(t, s, 20, time.Second))
	for _, r := range "xw E" {
		require.ErrorIs(t, s.InjectDigit(r), ErrInvalidDigit)
	}
	// A full buffer drops digits instead of blocking.
	for range digitBuffer + 5 {
		require.NoError(t, s.InjectDigit('1'))
	}
	require.Len(t, s.Digits(), digitBuffer)
}

func TestBridgeTranscodesAndPassesEvents(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ctx := context.Background()
	// Leg 1: phone A offers, S1 answers with PCMU.
	phoneA, s1 := pair(t, e, e)
	// Leg 2: S2 offers, phone C prefers PCMA.
	s2, offer2, err := e.Offer(ctx)
	require.NoError(t, err)
	defer s2.Close()
	phoneC, answer2, err := e.Answer(ctx, editSDP(offer2, swapToPCMA))
	require.NoError(t, err)
	defer phoneC.Close()
	require.NoError(t, s2.SetRemote(answer2))
	n1, _ := s1.Negotiation()
	n2, _ := s2.Negotiation()
	require.Equal(t, "PCMU", n1.Codec.Name)
	require.Equal(t, "PCMA", n2.Codec.Name)

	br, err := e.Bridge(s1, s2)
	require.NoError(t, err)
	_, err = e.Bridge(s1, phoneC)
	require.ErrorIs(t, err, ErrBridged)
	_, err = e.Bridge(phoneC, phoneC)
	require.ErrorIs(t, err, ErrBridged)

	recC, recA := record(phoneC), record(phoneA)

	// A -> C: PCMU in, PCMA out, frequency intact.
	require.NoError(t, phoneA.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{1000}, 500*time.Millisecond)))
	pk := recC.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 25 })
	for _, p := range pk {
		require.Equal(t, uint8(PayloadPCMA), p.hdr.PayloadType)
	}
	require.InDelta(t, 1000, dominantFreq(audioByTimestamp(pk), 300, 3500, 2), 3)
	require.True(t, pk[0].hdr.Marker)
	for i := 1; i < len(pk); i++ {
		require.Equal(t, pk[i-1].hdr.SequenceNumber+1, pk[i].hdr.SequenceNumber)
		require.Equal(t, pk[i-1].hdr.Timestamp+FrameSamples, pk[i].hdr.Timestamp)
	}

	// C -> A: PCMA in, PCMU out.
	require.NoError(t, phoneC.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{700}, 500*time.Millisecond)))
	pkA := recA.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= 25 })
	for _, p := range pkA {
		require.Equal(t, uint8(PayloadPCMU), p.hdr.PayloadType)
	}
	require.InDelta(t, 700, dominantFreq(audioByTimestamp(pkA), 300, 3500, 2), 3)

	// DTMF passes through as telephone-event; both S1 and C see the digits.
	require.NoError(t, phoneA.SendDTMF(ctxTimeout(t, 5*time.Second), "42"))
	require.Equal(t, "42", collectDigits(t, phoneC, 2, 3*time.Second))
	require.Equal(t, "42", collectDigits(t, s1, 2, time.Second))

	// A Play on S2 replaces what C hears, then the relay resumes.
	playCtx, stopA := context.WithCancel(ctx)
	defer stopA()
	errA := make(chan error, 1)
	go func() { errA <- phoneA.Play(playCtx, Tone([]float64{1000}, time.Minute)) }()
	before := len(recC.snapshot())
	recC.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= before+5 })
	require.NoError(t, s2.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{500}, 300*time.Millisecond)))
	mark := len(recC.snapshot())
	recC.waitFor(t, 2*time.Second, func(p []rxPacket) bool { return len(p) >= mark+10 })
	stopA()
	require.ErrorIs(t, <-errA, context.Canceled)
	var saw500, saw1000After bool
	for i, p := range recC.snapshot()[before:] {
		var f [FrameSamples]int16
		DecodeALaw(f[:], p.payload)
		switch dominantFreq(f[:], 300, 1500, 100) {
		case 500:
			saw500 = true
		case 1000:
			if saw500 && before+i >= mark {
				saw1000After = true
			}
		}
	}
	require.True(t, saw500, "C heard S2's prompt")
	require.True(t, saw1000After, "the relay resumed after the prompt")

	br.Stop()
	br.Stop()
	<-br.Done()
	before = len(recC.snapshot())
	require.NoError(t, phoneA.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{1000}, 100*time.Millisecond)))
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, before, len(recC.snapshot()), "nothing is relayed after Stop")
	br2, err := e.Bridge(s1, s2)
	require.NoError(t, err, "sessions can be bridged again")
	require.NoError(t, s1.Close())
	<-br2.Done()
}

func TestRTPTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e, _ := newTestEngine(t, func(o *Options) { o.RTPTimeout = timeout })
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	peerPort := silent.LocalAddr().(*net.UDPAddr).Port
	offer := func(dir string) []byte {
		return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
			fmt.Sprintf("m=audio %d RTP/AVP 0 101", peerPort), "a=rtpmap:101 telephone-event/8000", "a="+dir)
	}

	t.Run("fires without RTP", func(t *testing.T) {
		t.Parallel()
		s, _, err := e.Answer(context.Background(), offer("sendrecv"))
		require.NoError(t, err)
		defer s.Close()
		start := time.Now()
		select {
		case <-s.Timeout():
			require.GreaterOrEqual(t, time.Since(start), timeout-20*time.Millisecond)
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout")
		}
	})

	t.Run("does not fire while RTP flows", func(t *testing.T) {
		t.Parallel()
		a, b := pair(t, e, e)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Play(ctx, Tone([]float64{400}, time.Minute)) }()
		select {
		case <-b.Timeout():
			t.Fatal("timed out while receiving RTP")
		case <-time.After(3 * timeout):
		}
		cancel()
		<-done
		select {
		case <-b.Timeout():
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout after RTP stopped")
		}
	})

	t.Run("not while on hold", func(t *testing.T) {
		t.Parallel()
		s, _, err := e.Answer(context.Background(), offer("sendrecv"))
		require.NoError(t, err)
		defer s.Close()
		for _, dir := range []string{"sendonly", "inactive"} {
			ans, err := s.Reoffer(offer(dir))
			require.NoError(t, err)
			require.Contains(t, string(ans), "a="+Direction(map[string]Direction{"sendonly": RecvOnly, "inactive": Inactive}[dir]).String())
			select {
			case <-s.Timeout():
				t.Fatalf("timed out while on hold (%s)", dir)
			case <-time.After(3 * timeout):
			}
		}
		// Hold with c=0.0.0.0.
		_, err = s.Reoffer(sdp("v=0", "o=- 1 3 IN IP4 127.0.0.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", fmt.Sprintf("m=audio %d RTP/AVP 0", peerPort)))
		require.NoError(t, err)
		select {
		case <-s.Timeout():
			t.Fatal("timed out while on hold (0.0.0.0)")
		case <-time.After(2 * timeout):
		}
		// Unhold: the clock restarts and fires.
		_, err = s.Reoffer(offer("sendrecv"))
		require.NoError(t, err)
		start := time.Now()
		select {
		case <-s.Timeout():
			require.GreaterOrEqual(t, time.Since(start), timeout-20*time.Millisecond)
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout after unhold")
		}
	})

	t.Run("offer waits for the answer and ResetTimeout restarts", func(t *testing.T) {
		t.Parallel()
		s, _, err := e.Offer(context.Background())
		require.NoError(t, err)
		defer s.Close()
		select {
		case <-s.Timeout():
			t.Fatal("timed out before the answer")
		case <-time.After(2 * timeout):
		}
		require.NoError(t, s.SetRemote(sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", fmt.Sprintf("m=audio %d RTP/AVP 0", peerPort))))
		time.Sleep(timeout / 2)
		s.ResetTimeout()
		start := time.Now()
		select {
		case <-s.Timeout():
			require.GreaterOrEqual(t, time.Since(start), timeout-20*time.Millisecond)
		case <-time.After(3 * time.Second):
			t.Fatal("no timeout")
		}
	})

	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		e0, _ := newTestEngine(t, nil)
		s, _, err := e0.Answer(context.Background(), offer("sendrecv"))
		require.NoError(t, err)
		defer s.Close()
		select {
		case <-s.Timeout():
			t.Fatal("timeout fired although disabled")
		case <-time.After(2 * timeout):
		}
	})
}

// freePortPair finds an even port whose pair is free right now.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = c.Close()
		c1, err1 := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err1 == nil {
			_ = c1.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

func TestCloseIsIdempotentAndFreesThePort(t *testing.T) {
	port := freePortPair(t)
	e, reg := newTestEngine(t, func(o *Options) {
		o.PortMin, o.PortMax = port, port+1
		o.PortQuarantine = 200 * time.Millisecond
	})
	ctx := context.Background()
	s, offer, err := e.Offer(ctx)
	require.NoError(t, err)
	require.Equal(t, port, s.Port())
	require.Contains(t, string(offer), fmt.Sprintf("m=audio %d RTP/AVP 0 8 101", port))
	require.Contains(t, string(offer), "c=IN IP4 127.0.0.1")
	require.Equal(t, 1, e.ActiveSessions())

	_, _, err = e.Offer(ctx)
	require.ErrorIs(t, err, ErrNoPorts)
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.portFailures))

	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.Equal(t, 0, e.ActiveSessions())
	require.Equal(t, 0.0, testutil.ToFloat64(e.metrics.sessionsActive))
	// The socket is really closed: the port can be bound again.
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)
	require.NoError(t, c.Close())

	_, _, err = e.Offer(ctx)
	require.ErrorIs(t, err, ErrNoPorts, "the port is quarantined")
	require.Eventually(t, func() bool { return e.Ports().Available() == 1 }, 2*time.Second, 10*time.Millisecond)
	s2, _, err := e.Offer(ctx)
	require.NoError(t, err)
	require.Equal(t, port, s2.Port())
	require.NoError(t, s2.Close())
	n, err := testutil.GatherAndCount(reg, "callcore_media_port_allocation_failures_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestReofferRetargetsAndHolds(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	_, b := pair(t, e, e)
	raw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer raw.Close()
	rawPort := raw.LocalAddr().(*net.UDPAddr).Port
	got := make(chan rtp.Header, 256)
	go func() {
		buf := make([]byte, 2048)
		var p rtp.Packet
		for {
			n, err := raw.Read(buf)
			if err != nil {
				close(got)
				return
			}
			if p.Unmarshal(buf[:n]) == nil {
				got <- p.Header.Clone()
			}
		}
	}()
	reoffer := func(dir, addr string, pts string) []byte {
		return sdp("v=0", "o=peer 9 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 "+addr, "t=0 0",
			fmt.Sprintf("m=audio %d RTP/AVP %s", rawPort, pts), "a="+dir)
	}
	drain := func() int {
		n := 0
		for {
			select {
			case <-got:
				n++
			case <-time.After(80 * time.Millisecond):
				return n
			}
		}
	}

	ans, err := b.Reoffer(reoffer("sendrecv", "127.0.0.1", "8"))
	require.NoError(t, err)
	require.Contains(t, string(ans), " 2 IN IP4 127.0.0.1", "o= version incremented")
	require.Contains(t, string(ans), "m=audio "+fmt.Sprint(b.Port())+" RTP/AVP 8\r\n")
	require.NoError(t, b.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{600}, 100*time.Millisecond)))
	h := <-got
	require.Equal(t, uint8(PayloadPCMA), h.PayloadType, "the new offer switched to PCMA")
	require.Equal(t, 4, drain())

	for _, hold := range [][2]string{{"sendonly", "127.0.0.1"}, {"inactive", "127.0.0.1"}, {"sendrecv", "0.0.0.0"}} {
		_, err = b.Reoffer(reoffer(hold[0], hold[1], "0"))
		require.NoError(t, err)
		n, _ := b.Negotiation()
		require.True(t, n.Held())
		require.NoError(t, b.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{600}, 100*time.Millisecond)), "Play keeps its pace on hold")
		require.Zero(t, drain(), "nothing is sent on hold (%s %s)", hold[0], hold[1])
	}
	_, err = b.Reoffer(reoffer("sendrecv", "127.0.0.1", "0"))
	require.NoError(t, err)
	require.NoError(t, b.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{600}, 100*time.Millisecond)))
	require.Equal(t, 5, drain(), "sending resumes after unhold")

	// A bad re-offer leaves the session as it was.
	_, err = b.Reoffer(reoffer("sendrecv", "127.0.0.1", "18"))
	require.ErrorIs(t, err, ErrNoCommonCodec)
	n, _ := b.Negotiation()
	require.Equal(t, "PCMU", n.Codec.Name)
	_, err = b.Reoffer([]byte("garbage"))
	require.ErrorIs(t, err, ErrBadSDP)
	require.ErrorIs(t, b.SetRemote(ans), ErrWrongState)
}

func TestAnswerErrorsTakeNoPort(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	_, _, err := e.Answer(context.Background(), []byte("v=0\r\nm=audio 5 RTP/AVP 18\r\nc=IN IP4 1.2.3.4\r\n"))
	require.ErrorIs(t, err, ErrNoCommonCodec)
	_, _, err = e.Answer(context.Background(), []byte("nonsense"))
	require.ErrorIs(t, err, ErrBadSDP)
	require.Zero(t, e.Ports().InUse())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = e.Answer(ctx, offerPCMUFirst)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewEngineValidation(t *testing.T) {
	_, err := NewEngine(Options{})
	require.ErrorContains(t, err, "AdvertisedIP is required")
	_, err = NewEngine(Options{BindIP: loopback, PortMin: 10, PortMax: 5})
	require.ErrorContains(t, err, "invalid RTP port range")
	_, err = NewEngine(Options{BindIP: loopback, RTPTimeout: -1})
	require.ErrorContains(t, err, "negative RTPTimeout")
	_, err = NewEngine(Options{BindIP: loopback, FilesDir: "/nonexistent/prompts"})
	require.ErrorContains(t, err, "files directory")
	e, err := NewEngine(Options{BindIP: netip.IPv4Unspecified(), AdvertisedIP: netip.MustParseAddr("203.0.113.1")})
	require.NoError(t, err)
	require.NoError(t, e.Close())
}

func BenchmarkSendAudioFrame(b *testing.B) {
	e, _ := newTestEngine(b, nil)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(b, err)
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	s, _, err := e.Answer(context.Background(), sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", fmt.Sprintf("m=audio %d RTP/AVP 8", port)))
	require.NoError(b, err)
	defer s.Close()
	frame := sine(FrameSamples, 440, SampleRate, 8000)
	at := s.now()
	b.ReportAllocs()
	for b.Loop() {
		s.sendAudio(frame, at, 1)
		at += FrameDuration
	}
	require.Equal(b, uint64(b.N), s.Stats().PacketsSent)
}

func BenchmarkPlayFramePath(b *testing.B) {
	// One Play frame without the pacing wait: read the source, encode,
	// packetize, send.
	e, _ := newTestEngine(b, nil)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(b, err)
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	s, _, err := e.Answer(context.Background(), sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", fmt.Sprintf("m=audio %d RTP/AVP 0", port)))
	require.NoError(b, err)
	defer s.Close()
	pcm := sine(SampleRate*10, 440, SampleRate, 8000)
	src := &pcmSource{pcm: pcm}
	job, err := s.beginOutput(context.Background())
	require.NoError(b, err)
	defer s.endOutput(job)
	ctx := context.Background()
	frame := job.pcm[:]
	// Every slot is already due: no sleeping. (1000 h of 20 ms slots: b.Loop
	// predicts its iteration count from a fast start, and one hour of slots
	// ran out after 180 000 iterations, which then slept 20 ms each.)
	at := s.now() - 1000*time.Hour
	b.ReportAllocs()
	for b.Loop() {
		if src.pos >= len(src.pcm) {
			src.pos = 0
		}
		n, _ := readFrame(src, frame)
		clear(frame[n:])
		if err := s.waitSlot(ctx, job, at); err != nil {
			b.Fatal(err)
		}
		s.sendAudio(frame, at, job.id)
		at += FrameDuration
	}
}

func BenchmarkReceivePacket(b *testing.B) {
	e, _ := newTestEngine(b, nil)
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(b, err)
	defer s.Close()
	payload := make([]byte, FrameSamples)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: payload}
	buf := make([]byte, 12+FrameSamples)
	from := netip.MustParseAddrPort("192.0.2.10:49170")
	b.ReportAllocs()
	for b.Loop() {
		pkt.SequenceNumber++
		pkt.Timestamp += FrameSamples
		n, _ := pkt.MarshalTo(buf)
		s.handlePacket(buf[:n], from)
	}
}

func FuzzHandlePacket(f *testing.F) {
	// Two answered sessions whose peer is a silent sink, bridged: fuzzed
	// packets fed to a are decoded and relayed to the sink through b, and no
	// real packet ever reaches a's read goroutine.
	e, _ := newTestEngine(f, nil)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(f, err)
	f.Cleanup(func() { _ = sink.Close() })
	offer := sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 8 101", sink.LocalAddr().(*net.UDPAddr).Port), "a=rtpmap:101 telephone-event/8000")
	a, _, err := e.Answer(context.Background(), offer)
	require.NoError(f, err)
	f.Cleanup(func() { _ = a.Close() })
	b, _, err := e.Answer(context.Background(), editSDP(offer, swapToPCMA))
	require.NoError(f, err)
	f.Cleanup(func() { _ = b.Close() })
	_, err = e.Bridge(a, b)
	require.NoError(f, err)

	ev := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: 9, Timestamp: 1}, Payload: []byte{5, 0x8a, 3, 0x20}}
	evb, _ := ev.Marshal()
	au := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 9, CSRC: []uint32{1, 2}, Padding: true, PaddingSize: 3}, Payload: make([]byte, 160)}
	aub, _ := au.Marshal()
	f.Add(evb)
	f.Add(aub)
	f.Add([]byte{0x80, 0xC8, 0, 1})
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, data []byte) {
		a.handlePacket(data, from)
	})
}

// An idle answered session (socket, read goroutine, buffers) stays far
// below the 64 KiB per call budget of the issue.
func TestSessionMemory(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	const n = 90
	mem := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before := mem()
	sessions := make([]*Session, 0, n)
	for range n {
		s, _, err := e.Answer(context.Background(), offerPCMUFirst)
		require.NoError(t, err)
		sessions = append(sessions, s)
	}
	perSession := (int64(mem()) - int64(before)) / n
	t.Logf("%d bytes of Go heap and stack per idle session", perSession)
	require.Less(t, perSession, int64(32<<10))
	for _, s := range sessions {
		require.NoError(t, s.Close())
	}
}
