package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// rawPeer is a phone made of two UDP sockets on an even port and the odd
// one above it, that sends and reads RTP and RTCP by hand.
type rawPeer struct {
	rtp, rtcp *net.UDPConn
	port      int
	rtcpIn    chan []rtcp.Packet
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	for range 100 {
		p := freePortPair(t)
		c1, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if err != nil {
			_ = c1.Close()
			continue
		}
		r := &rawPeer{rtp: c1, rtcp: c2, port: p, rtcpIn: make(chan []rtcp.Packet, 64)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 1500)
			for {
				n, err := c2.Read(buf)
				if err != nil {
					return
				}
				if pk, err := rtcp.Unmarshal(buf[:n]); err == nil {
					r.rtcpIn <- pk
				}
			}
		}()
		go func() { // drain RTP
			buf := make([]byte, 1500)
			for {
				if _, err := c1.Read(buf); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { _ = c1.Close(); _ = c2.Close(); <-done })
		return r
	}
	t.Fatal("no free port pair")
	return nil
}

func (r *rawPeer) offer() []byte {
	return sdp("v=0", "o=peer 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 101", r.port), "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
}

// sendRTP sends audio packets with the given sequence numbers, 20 ms apart
// (without waiting), from the RTP socket.
func (r *rawPeer) sendRTP(t *testing.T, to netip.AddrPort, ssrc uint32, seqs ...uint16) {
	t.Helper()
	for _, seq := range seqs {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples, SSRC: ssrc},
			Payload: make([]byte, FrameSamples)}
		b, err := p.Marshal()
		require.NoError(t, err)
		_, err = r.rtp.WriteToUDPAddrPort(b, to)
		require.NoError(t, err)
	}
}

func (r *rawPeer) sendRTCP(t *testing.T, conn *net.UDPConn, to netip.AddrPort, pkts ...rtcp.Packet) {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	require.NoError(t, err)
	_, err = conn.WriteToUDPAddrPort(b, to)
	require.NoError(t, err)
}

// nextReport waits for the next compound packet and returns its first
// packet (SR or RR) and the rest.
func (r *rawPeer) nextReport(t *testing.T, timeout time.Duration) (rtcp.Packet, []rtcp.Packet) {
	t.Helper()
	select {
	case pk := <-r.rtcpIn:
		return pk[0], pk[1:]
	case <-time.After(timeout):
		t.Fatal("no RTCP report")
		return nil, nil
	}
}

func rtcpAddr(s *Session) netip.AddrPort {
	return netip.AddrPortFrom(s.LocalAddr().Addr(), uint16(s.Port()+1))
}

func TestRTCPReportsToARawPeer(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.RTCPInterval = 150 * time.Millisecond })
	peer := newRawPeer(t)
	s, _, err := e.Answer(context.Background(), peer.offer())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	const peerSSRC = 0xCAFE
	// 50 packets with 2 lost (10 and 20).
	var seqs []uint16
	for i := uint16(65500); i != 14; i++ { // wraps around
		if i != 65510 && i != 4 {
			seqs = append(seqs, i)
		}
	}
	peer.sendRTP(t, s.LocalAddr(), peerSSRC, seqs...)
	require.Eventually(t, func() bool { return s.Stats().PacketsReceived == uint64(len(seqs)) }, 2*time.Second, 5*time.Millisecond)

	// Nothing sent yet: an RR with a block about the peer, then SDES. (A
	// report built before the first packet arrived has no block.)
	var (
		first, rest = peer.nextReport(t, 2*time.Second)
		rr          *rtcp.ReceiverReport
		ok          bool
	)
	for {
		rr, ok = first.(*rtcp.ReceiverReport)
		require.True(t, ok, "receiver report first, got %T", first)
		if len(rr.Reports) > 0 {
			break
		}
		first, rest = peer.nextReport(t, 2*time.Second)
	}
	require.Len(t, rr.Reports, 1)
	b := rr.Reports[0]
	require.Equal(t, uint32(peerSSRC), b.SSRC)
	require.Equal(t, uint32(2), b.TotalLost)
	require.Equal(t, uint8(2*256/50), b.FractionLost)
	require.Equal(t, uint32(1<<16|13), b.LastSequenceNumber, "extended: one wrap")
	require.Zero(t, b.LastSenderReport)
	require.Len(t, rest, 1)
	sd, ok := rest[0].(*rtcp.SourceDescription)
	require.True(t, ok)
	require.Equal(t, rr.SSRC, sd.Chunks[0].Source)
	require.Equal(t, rtcp.SDESCNAME, sd.Chunks[0].Items[0].Type)
	require.NotEmpty(t, sd.Chunks[0].Items[0].Text)
	require.InDelta(t, 2.0/50, s.Stats().FractionLost, 0.01)

	// The next interval: no loss, fraction 0, same cumulative count.
	first, _ = peer.nextReport(t, 2*time.Second)
	require.Zero(t, first.(*rtcp.ReceiverReport).Reports[0].FractionLost)
	require.Equal(t, uint32(2), first.(*rtcp.ReceiverReport).Reports[0].TotalLost)

	// The peer sends an SR: our next report echoes it in LSR, with DLSR.
	ntp := uint64(0x1234_5678_9ABC_DEF0)
	peer.sendRTCP(t, peer.rtcp, rtcpAddr(s), &rtcp.SenderReport{SSRC: peerSSRC, NTPTime: ntp, RTPTime: 1, PacketCount: 50})
	require.Eventually(t, func() bool { return s.Stats().RTCPReceived == 1 }, 2*time.Second, 5*time.Millisecond)
	sent := time.Now()
	first, _ = peer.nextReport(t, 2*time.Second)
	b = first.(*rtcp.ReceiverReport).Reports[0]
	require.Equal(t, uint32(0x5678_9ABC), b.LastSenderReport)
	dlsr := time.Duration(b.Delay) * time.Second / 65536
	require.Greater(t, dlsr, time.Duration(0))
	require.Less(t, dlsr, time.Since(sent)+50*time.Millisecond)

	// We play: the next report is an SR with our counts.
	require.NoError(t, s.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{440}, 100*time.Millisecond)))
	var sr *rtcp.SenderReport
	for sr == nil || sr.PacketCount < 5 { // an SR may go out while Play runs
		first, _ = peer.nextReport(t, 2*time.Second)
		sr, _ = first.(*rtcp.SenderReport)
	}
	require.Equal(t, uint32(5), sr.PacketCount)
	require.Equal(t, uint32(5*FrameSamples), sr.OctetCount)
	require.InDelta(t, float64(time.Now().Unix()+ntpEpochOffset), float64(sr.NTPTime>>32), 2)
	require.Len(t, sr.Reports, 1)

	// The peer reports about our stream, echoing that SR 30 ms ago with a
	// DLSR of 10 ms: RTT about 20 ms.
	lsr := uint32(sr.NTPTime >> 16)
	time.Sleep(30 * time.Millisecond)
	peer.sendRTCP(t, peer.rtcp, rtcpAddr(s), &rtcp.ReceiverReport{SSRC: peerSSRC, Reports: []rtcp.ReceptionReport{{
		SSRC: sr.SSRC, FractionLost: 64, TotalLost: 3, LastSequenceNumber: 100, Jitter: 80, LastSenderReport: lsr, Delay: 655, // 10 ms
	}}})
	require.Eventually(t, func() bool { return s.Stats().RTT > 0 }, 2*time.Second, 5*time.Millisecond)
	st := s.Stats()
	require.InDelta(t, 0.25, st.RemoteFractionLost, 1e-9)
	require.Equal(t, 10*time.Millisecond, st.RemoteJitter)
	require.Greater(t, st.RTT, 15*time.Millisecond)
	require.Less(t, st.RTT, 200*time.Millisecond)

	// Close sends a BYE.
	for len(peer.rtcpIn) > 0 {
		<-peer.rtcpIn
	}
	require.NoError(t, s.Close())
	var bye *rtcp.Goodbye
	for bye == nil {
		_, rest = peer.nextReport(t, 2*time.Second)
		for _, p := range rest {
			if g, ok := p.(*rtcp.Goodbye); ok {
				bye = g
			}
		}
	}
	require.Equal(t, []uint32{sr.SSRC}, bye.Sources)
	n := testutil.ToFloat64(e.metrics.rtcpSent)
	require.Equal(t, float64(s.Stats().RTCPSent), n)
	require.GreaterOrEqual(t, n, 5.0)
}

func TestRTCPBetweenTwoSessions(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.RTCPInterval = 100 * time.Millisecond; o.InbandDTMF = false })
	a, b := pair(t, e, e)
	ctx := ctxTimeout(t, 5*time.Second)
	done := make(chan error, 1)
	go func() { done <- b.Play(ctx, Tone([]float64{700}, 1500*time.Millisecond)) }()
	require.NoError(t, a.Play(ctx, Tone([]float64{500}, 1500*time.Millisecond)))
	require.NoError(t, <-done)
	require.Eventually(t, func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.RTT > 0 && sb.RTT > 0 && sa.RTCPReceived >= 3 && sb.RTCPReceived >= 3
	}, 3*time.Second, 10*time.Millisecond)
	for _, s := range []*Session{a, b} {
		st := s.Stats()
		t.Logf("%+v", st)
		require.Less(t, st.RTT, 100*time.Millisecond, "loopback")
		require.Less(t, st.Jitter, 20*time.Millisecond)
		require.Zero(t, st.FractionLost)
		require.Zero(t, st.RemoteFractionLost)
		require.Less(t, st.RemoteJitter, 20*time.Millisecond)
		require.GreaterOrEqual(t, st.RTCPSent, uint64(3))
	}
}

func TestRTCPMuxedOnTheRTPPort(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.RTCPInterval = 100 * time.Millisecond })
	peer := newRawPeer(t)
	s, _, err := e.Answer(context.Background(), peer.offer())
	require.NoError(t, err)
	defer s.Close()
	// An RR (8 bytes, shorter than any RTP header) on the RTP port.
	peer.sendRTCP(t, peer.rtp, s.LocalAddr(), &rtcp.ReceiverReport{SSRC: 77})
	require.Eventually(t, func() bool { return s.Stats().RTCPReceived == 1 }, 2*time.Second, 5*time.Millisecond)
	require.Zero(t, s.Stats().PacketsReceived, "not counted as RTP")
	// Our reports now go to the peer's RTP port.
	got := make(chan []rtcp.Packet, 8)
	_ = peer.rtp.Close() // replace the draining reader
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: peer.port})
	require.NoError(t, err)
	defer c.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if pk, err := rtcp.Unmarshal(buf[:n]); err == nil {
				got <- pk
			}
		}
	}()
	select {
	case pk := <-got:
		_, ok := pk[0].(*rtcp.ReceiverReport)
		require.True(t, ok)
	case <-time.After(2 * time.Second):
		t.Fatal("no multiplexed report")
	}
}

func TestRTCPDisabled(t *testing.T) {
	port := freePortPair(t)
	e, _ := newTestEngine(t, func(o *Options) {
		o.RTCPInterval = -1
		o.PortMin, o.PortMax = port, port+1
	})
	// The odd port is taken by someone else: with RTCP off it does not
	// matter.
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
	require.NoError(t, err)
	defer c.Close()
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Nil(t, s.rtcp.conn)
	require.Zero(t, goroutinesIn("rtcpLoop"))
	require.NoError(t, s.Close())
}

func TestRTCPPortTakenIsRetried(t *testing.T) {
	port := freePortPair(t)
	e, _ := newTestEngine(t, func(o *Options) { o.PortMin, o.PortMax = port, port+3 })
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
	if err != nil {
		t.Skip("odd port not free")
	}
	defer c.Close()
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	if err != nil {
		t.Skipf("port %d in use: %v", port+2, err)
	}
	defer s.Close()
	require.Equal(t, port+2, s.Port(), "the pair whose RTCP port was taken is skipped")
}

// TestHandleRTCPParsing feeds crafted compound packets straight to the
// parser.
func TestHandleRTCPParsing(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.RTCPInterval = time.Hour })
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(t, err)
	defer s.Close()
	from := netip.MustParseAddrPort("127.0.0.1:9")
	marshal := func(p ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(p)
		require.NoError(t, err)
		return b
	}
	me := s.tx.ssrc
	cases := []struct {
		name     string
		data     []byte
		counted  bool
		fraction float64
		jitter   time.Duration
		rtt      bool
	}{
		{"garbage", []byte{0x80, 0xC9, 0, 7, 1, 2}, false, 0, 0, false},
		{"empty", nil, false, 0, 0, false},
		{"RR about someone else", marshal(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: me + 1, FractionLost: 200}}}), true, 0, 0, false},
		{"RR about us", marshal(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: me, FractionLost: 128, Jitter: 160}}}), true, 0.5, 20 * time.Millisecond, false},
		{"SR about us with LSR", marshal(&rtcp.SenderReport{SSRC: 1, NTPTime: 5 << 32, Reports: []rtcp.ReceptionReport{{SSRC: me, FractionLost: 0, Jitter: 8,
			LastSenderReport: s.ntpMiddle(s.now() - 100*time.Millisecond), Delay: 65536 / 20}}}), true, 0, time.Millisecond, true},
		{"BYE", marshal(&rtcp.Goodbye{Sources: []uint32{1}, Reason: "bye"}), true, 0, time.Millisecond, true},
		{"LSR from the future is no RTT", marshal(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: me, LastSenderReport: s.ntpMiddle(s.now() + time.Second)}}}), true, 0, 0, true},
	}
	var received uint64
	for _, tc := range cases {
		s.handleRTCP(tc.data, from, false)
		if tc.counted {
			received++
		}
		st := s.Stats()
		require.Equal(t, received, st.RTCPReceived, tc.name)
		require.InDelta(t, tc.fraction, st.RemoteFractionLost, 1e-9, tc.name)
		require.Equal(t, tc.jitter, st.RemoteJitter, tc.name)
		require.Equal(t, tc.rtt, st.RTT > 0, tc.name)
		if tc.name == "SR about us with LSR" {
			require.InDelta(t, 50*time.Millisecond, st.RTT, float64(10*time.Millisecond), "100 ms since our SR minus 50 ms DLSR")
			s.rtcp.mu.Lock()
			require.True(t, s.rtcp.haveLSR)
			require.Equal(t, uint32(5<<16), s.rtcp.lsr)
			s.rtcp.mu.Unlock()
		}
	}
}

func FuzzHandleRTCP(f *testing.F) {
	e, _ := newTestEngine(f, func(o *Options) { o.RTCPInterval = time.Hour })
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(f, err)
	f.Cleanup(func() { _ = s.Close() })
	me := s.tx.ssrc
	for _, pk := range [][]rtcp.Packet{
		{&rtcp.SenderReport{SSRC: 1, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: me, LastSenderReport: 9, Delay: 3}}}, rtcp.NewCNAMESourceDescription(1, "x")},
		{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: me, FractionLost: 1, TotalLost: 0xFFFFFF}}}},
		{&rtcp.Goodbye{Sources: []uint32{1, 2}, Reason: "r"}},
	} {
		b, err := rtcp.Marshal(pk)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x80, 0xC8, 0, 0})
	f.Add([]byte{0x81, 0xC9, 0xFF, 0xFF, 0, 0, 0, 1})
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, data []byte) {
		s.handleRTCP(data, from, false)
		s.handlePacket(data, from) // RTCP-looking datagrams on the RTP port take the same path
		st := s.Stats()
		if st.RemoteFractionLost < 0 || st.RemoteFractionLost >= 1 || st.RTT < 0 || st.RTT > time.Minute {
			t.Fatalf("implausible remote view %+v", st)
		}
		s.rtcp.mu.Lock()
		_ = s.reportLocked(s.now())
		s.rtcp.mu.Unlock()
	})
}
