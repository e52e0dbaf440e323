package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// RTCP (RFC 3550 §6) on the odd port above each RTP port.
//
// Each session opens the RTCP socket with its RTP socket (Options.
// RTCPInterval < 0 disables RTCP) and sends, to the peer's RTP port + 1
// (the default without a=rtcp; to the source of its RTCP with
// Options.SymmetricRTP, and on the RTP port once the peer multiplexes RTCP
// there), a compound packet of
//
//   - an SR when the session sent RTP since its previous report, an RR
//     otherwise, with one report block about the peer's SSRC once RTP was
//     received from it (fraction and cumulative number lost, extended
//     highest sequence number, interarrival jitter, LSR and DLSR);
//   - an SDES with our CNAME;
//   - and, when the session closes, a BYE.
//
// Reports go out every Options.RTCPInterval (5 s), randomised to 0.5-1.5
// times the interval, the first after a fifth of it (about 1 s): RFC 3550
// §6.2 simplified for two participants (no bandwidth share, no
// reconsideration). Received SRs and RRs (on the RTCP port, or multiplexed
// on the RTP port per RFC 5761) give the peer's view of our stream — its
// fraction lost and jitter — and the round-trip time from the LSR and DLSR
// of a report block about us (§6.4.1).

// DefaultRTCPInterval is the mean interval between RTCP reports.
const DefaultRTCPInterval = 5 * time.Second

// rtcpBufSize is the RTCP receive buffer.
const rtcpBufSize = 1500

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// rtcpState is a session's RTCP state, guarded by mu (conn and done are
// set once before the RTCP goroutine starts).
type rtcpState struct {
	mu       sync.Mutex
	conn     *net.UDPConn // nil when RTCP is disabled
	done     chan struct{}
	interval time.Duration
	cname    string

	sent, received uint64
	lastPackets    uint64 // RTP packets sent at our previous report

	// The peer's last SR, for LSR and DLSR.
	lsr     uint32
	lsrAt   time.Duration
	haveLSR bool

	// The peer's view of our stream.
	haveRemote     bool
	remoteFraction float64
	remoteJitter   time.Duration
	rtt            time.Duration

	peer  netip.AddrPort // source of the peer's RTCP (symmetric RTP)
	muxed bool           // the peer sends RTCP on the RTP port
}

// startRTCP starts the RTCP goroutine on conn.
func (s *Session) startRTCP(conn *net.UDPConn) {
	s.rtcp.conn = conn
	s.rtcp.done = make(chan struct{})
	s.rtcp.interval = s.e.opts.RTCPInterval
	s.rtcp.cname = fmt.Sprintf("%08x%08x@callcore", random32(), random32())
	go s.rtcpLoop()
}

// jitterInterval returns the interval d randomised to [0.5, 1.5)·d (at
// least a millisecond).
func jitterInterval(d time.Duration) time.Duration {
	d = max(d, time.Millisecond)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// rtcpLoop reads RTCP and sends the periodic reports: the read deadline is
// the time of the next report.
func (s *Session) rtcpLoop() {
	defer close(s.rtcp.done)
	conn := s.rtcp.conn
	buf := make([]byte, rtcpBufSize)
	next := s.now() + jitterInterval(s.rtcp.interval/5)
	for {
		_ = conn.SetReadDeadline(s.epoch.Add(next))
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.sendRTCP(false)
				next = s.now() + jitterInterval(s.rtcp.interval)
			case errors.Is(err, net.ErrClosed) || s.isClosed():
				return
			default:
				time.Sleep(time.Millisecond) // do not spin on a persistent error
			}
			continue
		}
		s.handleRTCP(buf[:n], from, false)
	}
}

// ntpTime returns the NTP timestamp of session time now.
func (s *Session) ntpTime(now time.Duration) uint64 {
	t := s.epoch.Add(now)
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of now (the
// format of LSR and of RTT arithmetic).
func (s *Session) ntpMiddle(now time.Duration) uint32 { return uint32(s.ntpTime(now) >> 16) }

// rtcpTarget returns where to send RTCP and whether it goes on the RTP
// socket. s.rtcp.mu is held.
func (s *Session) rtcpTarget() (netip.AddrPort, bool) {
	n := s.neg.Load()
	if n == nil || !n.Remote.Addr().IsValid() || n.Remote.Addr().IsUnspecified() || n.Remote.Port() == 0 {
		return netip.AddrPort{}, false
	}
	switch {
	case s.rtcp.muxed:
		return n.Remote, true
	case s.rtcp.peer.IsValid():
		return s.rtcp.peer, false
	case n.Remote.Port() == 65535:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(n.Remote.Addr(), n.Remote.Port()+1), false
}

// sendRTCP sends a report (SR or RR, SDES), with a BYE when bye is set.
// Nothing is sent without RTCP, before the remote description is known or
// to a held 0.0.0.0 address.
func (s *Session) sendRTCP(bye bool) {
	if s.rtcp.conn == nil {
		return
	}
	s.rtcp.mu.Lock()
	defer s.rtcp.mu.Unlock()
	to, muxed := s.rtcpTarget()
	if !to.IsValid() {
		return
	}
	now := s.now()
	pkts := []rtcp.Packet{s.reportLocked(now), rtcp.NewCNAMESourceDescription(s.tx.ssrc, s.rtcp.cname)}
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.tx.ssrc}})
	}
	data, err := rtcp.Marshal(pkts)
	if err != nil {
		s.log.Debug("rtcp marshal failed", "err", err)
		return
	}
	conn := s.rtcp.conn
	if muxed {
		conn = s.conn
	}
	if _, err := conn.WriteToUDPAddrPort(data, to); err != nil {
		s.log.Debug("rtcp send failed", "remote", to, "err", err)
		return
	}
	s.rtcp.sent++
	s.e.metrics.rtcpSent.Inc()
}

// reportLocked builds our SR or RR at now. s.rtcp.mu is held.
func (s *Session) reportLocked(now time.Duration) rtcp.Packet {
	var blocks []rtcp.ReceptionReport
	s.rxMu.Lock()
	if r := &s.rxs; r.started {
		expected := r.maxSeq - r.baseSeq + 1
		expInterval := expected - r.expectedPrior
		recvInterval := r.count - r.receivedPrior
		r.expectedPrior, r.receivedPrior = expected, r.count
		var fraction uint8
		if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
			fraction = uint8(min(lostInterval<<8/int64(expInterval), 255))
		}
		r.fraction = fraction
		lost := min(max(r.lost(), -0x800000), 0x7FFFFF)
		b := rtcp.ReceptionReport{
			SSRC: r.ssrc, FractionLost: fraction, TotalLost: uint32(lost) & 0xFFFFFF,
			LastSequenceNumber: r.maxSeq, Jitter: uint32(r.jitter),
		}
		if s.rtcp.haveLSR {
			b.LastSenderReport = s.rtcp.lsr
			b.Delay = uint32((now - s.rtcp.lsrAt) * 65536 / time.Second)
		}
		blocks = append(blocks, b)
	}
	s.rxMu.Unlock()

	packets := s.stats.packetsSent.Load()
	sender := packets != s.rtcp.lastPackets
	s.rtcp.lastPackets = packets
	if !sender {
		return &rtcp.ReceiverReport{SSRC: s.tx.ssrc, Reports: blocks}
	}
	s.txMu.Lock()
	ts := s.tx.ts
	if s.tx.started {
		ts += uint32(toSamples(now - s.tx.lastAt))
	}
	s.txMu.Unlock()
	octets := s.stats.bytesSent.Load() - 12*packets // payload octets: every header is 12 bytes
	return &rtcp.SenderReport{
		SSRC: s.tx.ssrc, NTPTime: s.ntpTime(now), RTPTime: ts,
		PacketCount: uint32(packets), OctetCount: uint32(octets), Reports: blocks,
	}
}

// handleRTCP parses one received RTCP compound packet (from the RTCP
// socket, or the RTP socket when muxed) and keeps the peer's view of our
// stream. Malformed packets are ignored.
func (s *Session) handleRTCP(b []byte, from netip.AddrPort, muxed bool) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil || len(pkts) == 0 {
		return
	}
	now := s.now()
	s.rtcp.mu.Lock()
	defer s.rtcp.mu.Unlock()
	s.rtcp.received++
	s.e.metrics.rtcpReceived.Inc()
	if muxed {
		s.rtcp.muxed = true
	} else if s.e.opts.SymmetricRTP {
		s.rtcp.peer = from
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			s.rtcp.lsr, s.rtcp.lsrAt, s.rtcp.haveLSR = uint32(p.NTPTime>>16), now, true
			s.reportBlocksLocked(p.Reports, now)
		case *rtcp.ReceiverReport:
			s.reportBlocksLocked(p.Reports, now)
		case *rtcp.Goodbye:
			s.log.Debug("rtcp bye received", "reason", p.Reason)
		}
	}
}

// reportBlocksLocked takes the report block about our SSRC. s.rtcp.mu is
// held.
func (s *Session) reportBlocksLocked(blocks []rtcp.ReceptionReport, now time.Duration) {
	for _, b := range blocks {
		if b.SSRC != s.tx.ssrc {
			continue
		}
		s.rtcp.haveRemote = true
		s.rtcp.remoteFraction = float64(b.FractionLost) / 256
		s.rtcp.remoteJitter = time.Duration(b.Jitter) * time.Second / SampleRate
		if b.LastSenderReport != 0 {
			// RTT = A - LSR - DLSR, in 1/65536 s (RFC 3550 §6.4.1).
			rtt := s.ntpMiddle(now) - b.LastSenderReport - b.Delay
			if int32(rtt) >= 0 && rtt < 60*65536 {
				s.rtcp.rtt = max(time.Duration(rtt)*time.Second/65536, time.Microsecond)
			}
		}
	}
}
