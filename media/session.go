package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

type role int

const (
	roleAnswerer role = iota + 1
	roleOfferer
)

// digitBuffer is the capacity of the Digits channel.
const digitBuffer = 64

// rtpBufSize is the receive buffer: an Ethernet MTU with room to spare.
const rtpBufSize = 2048

// Session is one RTP stream on one UDP socket, with one read goroutine.
//
// Outgoing audio: at most one Play or SendDTMF runs at a time. A new one
// preempts the running one, which returns ErrPreempted within one frame.
// When nothing plays and no bridge or mixer relays, nothing is sent (no
// comfort noise). While the session is on hold (the peer's SDP makes us
// sendonly, recvonly or inactive, or gives 0.0.0.0) Play keeps its 20 ms
// pace but the frames are not sent.
//
// All methods are safe for concurrent use.
type Session struct {
	e     *Engine
	log   *slog.Logger
	conn  *net.UDPConn
	port  int
	role  role
	epoch time.Time // monotonic reference of every internal time

	mu        sync.Mutex // guards the fields below and the read deadline
	local     localSDP
	remoteSet bool
	armedAt   time.Duration // when the inactivity clock last (re)started
	timedOut  bool

	neg atomic.Pointer[Negotiation] // nil until the remote description is known

	txMu sync.Mutex
	tx   txState

	outMu   sync.Mutex
	out     *outputJob
	outBusy atomic.Bool
	jobSeq  atomic.Uint64

	bridge atomic.Pointer[Bridge]

	digits    chan rune
	timeout   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	readDone  chan struct{}

	lastRx  atomic.Int64 // time.Duration since epoch of the last accepted packet, 0 if none
	stats   sessionStats
	rx      rxState // owned by the read goroutine
	warnedW atomic.Bool

	rxMu  sync.Mutex // guards rxs
	rxs   rxStats    // reception statistics, for Stats and RTCP
	rtcp  rtcpState
	start time.Duration // creation, for the duration in the closing log line

	// Taps and the 20 ms media clock (tap.go).
	tapMu        sync.Mutex // guards clockRunning, clk creation, tapSeq
	taps         atomic.Pointer[[]*tapEntry]
	clockRunning bool
	clk          *mediaClock // created with the first clock, never reset
	tapSeq       uint64
	jbOn         atomic.Bool // the read goroutine feeds clk.jb
	jbMu         sync.Mutex  // guards clk.jb

	// mixer is the session's membership of a conference Mixer (mixer.go),
	// nil when it is in none; set and cleared under tapMu.
	mixer atomic.Pointer[Member]

	// rxTap, when set (tests only), sees every accepted audio and event
	// packet in the read goroutine.
	rxTap atomic.Pointer[func(h *rtp.Header, payload []byte)]
}

type sessionStats struct {
	packetsSent, bytesSent         atomic.Uint64
	packetsReceived, bytesReceived atomic.Uint64
}

// Stats are the counters and quality figures of a session.
type Stats struct {
	PacketsSent     uint64
	BytesSent       uint64 // RTP header and payload bytes
	PacketsReceived uint64
	BytesReceived   uint64
	PacketsLost     uint64    // from sequence number gaps (RFC 3550 §A.3)
	LastReceived    time.Time // zero if nothing was received
	// Jitter is the interarrival jitter of the peer's audio as we measure
	// it (RFC 3550 §6.4.1 and §A.8, audio packets only).
	Jitter time.Duration
	// FractionLost is the fraction (0-1) of the peer's packets lost in the
	// last RTCP reporting interval: the value of our last report block.
	FractionLost float64
	// RemoteFractionLost and RemoteJitter are the peer's view of our
	// stream, from the last report block about it in its SR or RR.
	RemoteFractionLost float64
	RemoteJitter       time.Duration
	// RTT is the round-trip time from the peer's last report that echoed
	// one of our SRs (RFC 3550 §6.4.1); zero while unknown.
	RTT time.Duration
	// RTCPSent and RTCPReceived count RTCP compound packets.
	RTCPSent, RTCPReceived uint64
}

func newSession(e *Engine, r role, conn, rtcpConn *net.UDPConn, port int, so SessionOptions) *Session {
	log := so.Logger
	if log == nil {
		log = e.log
	}
	if so.CallID != "" {
		log = log.With("call_id", so.CallID)
	}
	log = log.With("rtp_port", port)
	s := &Session{
		e:        e,
		log:      log,
		conn:     conn,
		port:     port,
		role:     r,
		epoch:    time.Now(),
		local:    localSDP{sessionID: uint64(random32())<<16 | uint64(random32()&0xFFFF), version: 1, addr: e.opts.AdvertisedIP, port: port},
		digits:   make(chan rune, digitBuffer),
		timeout:  make(chan struct{}),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
	}
	s.tx.ssrc = random32()
	s.tx.seq = uint16(random32())
	s.tx.ts = random32()
	s.start = s.now()
	e.active.Add(1)
	e.metrics.sessionsActive.Inc()
	go s.readLoop()
	if rtcpConn != nil {
		s.startRTCP(rtcpConn)
	}
	return s
}

func (s *Session) now() time.Duration { return time.Since(s.epoch) }

// Port returns the local RTP port.
func (s *Session) Port() int { return s.port }

// LocalAddr returns the advertised address and port written into our SDP.
func (s *Session) LocalAddr() netip.AddrPort {
	return netip.AddrPortFrom(s.e.opts.AdvertisedIP, uint16(s.port))
}

// Negotiation returns the current negotiated parameters; ok is false until
// the remote description is known.
func (s *Session) Negotiation() (n Negotiation, ok bool) {
	p := s.neg.Load()
	if p == nil {
		return Negotiation{}, false
	}
	return *p, true
}

// Digits returns the channel of received DTMF digits ('0'-'9', '*', '#',
// 'A'-'D'): RFC 4733 events, each reported once; in-band tones found in the
// received audio (Options.InbandDTMF), until the peer sends its first
// RFC 4733 event; and digits passed to InjectDigit. A key that a phone
// sends both ways is reported once (see dtmf.go for the exact rule). It
// has a buffer of 64 digits; when it is full, further digits are dropped
// and logged. It is never closed.
func (s *Session) Digits() <-chan rune { return s.digits }

// Timeout returns a channel closed when no RTP arrived for the engine's
// RTPTimeout while the session had its remote description and was not on
// hold. The clock starts when the remote description is set, restarts on
// every received packet, on unhold and on ResetTimeout. It never closes when
// the timeout is disabled.
func (s *Session) Timeout() <-chan struct{} { return s.timeout }

// ResetTimeout restarts the inactivity clock, e.g. when an outbound leg is
// answered after ringing without early media.
func (s *Session) ResetTimeout() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armedAt = s.now()
	s.armDeadlineLocked()
}

// Stats returns the session's counters and quality figures.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsSent:     s.stats.packetsSent.Load(),
		BytesSent:       s.stats.bytesSent.Load(),
		PacketsReceived: s.stats.packetsReceived.Load(),
		BytesReceived:   s.stats.bytesReceived.Load(),
	}
	if d := s.lastRx.Load(); d != 0 {
		st.LastReceived = s.epoch.Add(time.Duration(d))
	}
	s.rxMu.Lock()
	st.PacketsLost = s.rxs.lostTotal()
	st.Jitter = time.Duration(s.rxs.jitter * float64(time.Second) / SampleRate)
	st.FractionLost = float64(s.rxs.fraction) / 256
	s.rxMu.Unlock()
	s.rtcp.mu.Lock()
	st.RemoteFractionLost = s.rtcp.remoteFraction
	st.RemoteJitter = s.rtcp.remoteJitter
	st.RTT = s.rtcp.rtt
	st.RTCPSent, st.RTCPReceived = s.rtcp.sent, s.rtcp.received
	s.rtcp.mu.Unlock()
	return st
}

// SetRemote applies the remote SDP answer to our offer (sessions created by
// Engine.Offer). It may be called again for a later answer (a 200 OK after
// a 183, or a forked answer); the last one wins.
func (s *Session) SetRemote(answer []byte) error {
	if s.role != roleOfferer {
		return fmt.Errorf("%w: SetRemote on a session that answered an offer (use Reoffer for a new remote offer)", ErrWrongState)
	}
	sd, err := ParseSDP(answer)
	if err != nil {
		return err
	}
	n, err := negotiateAnswer(sd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	s.setNegotiationLocked(&n)
	s.log.Debug("rtp remote answer applied", "codec", n.Codec.Name, "remote", n.Remote, "direction", n.Local, "events", n.Events)
	return nil
}

// Reoffer handles a new remote offer in an established session (re-INVITE
// or UPDATE): new address or port, codec, and hold (sendonly, inactive or
// c=0.0.0.0: we stop sending) or unhold (we resume). It returns our answer.
// On ErrBadSDP or ErrNoCommonCodec the session keeps its previous state and
// the caller rejects the offer (SIP 488).
func (s *Session) Reoffer(offer []byte) ([]byte, error) {
	sd, err := ParseSDP(offer)
	if err != nil {
		return nil, err
	}
	n, err := negotiateOffer(sd)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	if !s.remoteSet {
		return nil, fmt.Errorf("%w: a new offer arrived before the answer to ours", ErrNoRemote)
	}
	old := s.neg.Load()
	s.local.version++
	answer := s.local.answer(sd, n)
	s.setNegotiationLocked(&n)
	if old != nil && old.Held() != n.Held() {
		if n.Held() {
			s.log.Info("rtp session on hold", "direction", n.Local, "remote", n.Remote)
		} else {
			s.log.Info("rtp session resumed", "remote", n.Remote)
		}
	}
	return answer, nil
}

// setNegotiationLocked installs n and restarts the inactivity clock when the
// remote description first arrives or the session leaves hold.
func (s *Session) setNegotiationLocked(n *Negotiation) {
	old := s.neg.Load()
	if !s.remoteSet || (old != nil && old.Held() && !n.Held()) {
		s.armedAt = s.now()
	}
	s.remoteSet = true
	s.neg.Store(n)
	s.armDeadlineLocked()
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Close stops the session: an RTCP BYE is sent, running Play and SendDTMF
// return ErrClosed, a bridge is stopped, taps are no longer called, the
// goroutines end, the sockets are closed and the port goes back to the
// allocator. The session's quality figures go to the metrics and to one
// INFO log line. It is idempotent; only the first call can return an
// error.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.sendRTCP(true)
		s.mu.Lock()
		close(s.closed)
		s.mu.Unlock()
		if b := s.bridge.Load(); b != nil {
			b.Stop()
		}
		err = s.conn.Close()
		<-s.readDone
		if c := s.rtcp.conn; c != nil {
			_ = c.Close()
			<-s.rtcp.done
		}
		s.e.ports.Release(s.port)
		s.e.active.Add(-1)
		s.e.metrics.sessionsActive.Dec()
		s.reportQuality()
	})
	if err != nil {
		return fmt.Errorf("media: close RTP socket: %w", err)
	}
	return nil
}

// reportQuality observes the session's quality histograms and logs them.
func (s *Session) reportQuality() {
	st := s.Stats()
	m := s.e.metrics
	attrs := []any{"duration", (s.now() - s.start).Round(time.Millisecond),
		"packets_sent", st.PacketsSent, "packets_received", st.PacketsReceived, "packets_lost", st.PacketsLost}
	if expected := st.PacketsReceived + st.PacketsLost; expected > 0 {
		ratio := float64(st.PacketsLost) / float64(expected)
		m.sessionLoss.Observe(ratio)
		attrs = append(attrs, "loss_ratio", float64(int(ratio*1e4))/1e4)
	}
	s.rxMu.Lock()
	jitterKnown := s.rxs.jitterPackets > 1
	s.rxMu.Unlock()
	if jitterKnown {
		m.sessionJitter.Observe(st.Jitter.Seconds())
		attrs = append(attrs, "jitter_ms", msRound(st.Jitter))
	}
	if st.RTT > 0 {
		m.sessionRTT.Observe(st.RTT.Seconds())
		attrs = append(attrs, "rtt_ms", msRound(st.RTT))
	}
	s.rtcp.mu.Lock()
	remote := s.rtcp.haveRemote
	s.rtcp.mu.Unlock()
	if remote {
		attrs = append(attrs, "remote_fraction_lost", st.RemoteFractionLost, "remote_jitter_ms", msRound(st.RemoteJitter))
	}
	attrs = append(attrs, "rtcp_sent", st.RTCPSent, "rtcp_received", st.RTCPReceived)
	s.log.Info("rtp session closed", attrs...)
}

// msRound returns d in milliseconds with one decimal.
func msRound(d time.Duration) float64 { return float64(d.Round(100*time.Microsecond)) / 1e6 }

// ---- inactivity timeout ----

// armDeadlineLocked sets the socket read deadline to the moment the
// inactivity timeout would expire, or clears it when the timeout cannot
// fire. The read goroutine re-evaluates on every deadline. s.mu is held.
func (s *Session) armDeadlineLocked() {
	if s.isClosed() {
		return
	}
	timeout := s.e.opts.RTPTimeout
	n := s.neg.Load()
	if timeout <= 0 || s.timedOut || !s.remoteSet || n == nil || n.Held() {
		_ = s.conn.SetReadDeadline(time.Time{})
		return
	}
	last := max(s.armedAt, time.Duration(s.lastRx.Load()))
	_ = s.conn.SetReadDeadline(s.epoch.Add(last + timeout))
}

// onDeadline runs in the read goroutine when the read deadline passed.
func (s *Session) onDeadline() {
	s.mu.Lock()
	defer s.mu.Unlock()
	timeout := s.e.opts.RTPTimeout
	n := s.neg.Load()
	if timeout > 0 && !s.timedOut && s.remoteSet && n != nil && !n.Held() {
		last := max(s.armedAt, time.Duration(s.lastRx.Load()))
		if s.now() >= last+timeout {
			s.timedOut = true
			close(s.timeout)
			s.log.Info("rtp inactivity timeout", "timeout", timeout, "packets_received", s.stats.packetsReceived.Load())
		}
	}
	s.armDeadlineLocked()
}

// ---- receive path ----

// rxState is the read goroutine's own state.
type rxState struct {
	pkt  rtp.Packet
	dtmf dtmfReceiver
	pcm  [FrameSamples]int16 // decoded audio scratch

	// In-band DTMF (Options.InbandDTMF).
	det         DTMFDetector
	detStarted  bool
	detSSRC     uint32
	detSeq      uint16
	eventsSeen  bool          // an RFC 4733 event arrived: in-band detection is off
	inbandDigit rune          // the last digit reported in band...
	inbandAt    time.Duration // ... and when
}

// inOrder reports whether an audio packet is newer than the last one given
// to the in-band detector (late and repeated packets are skipped; a new
// SSRC restarts the detector).
func (r *rxState) inOrder(ssrc uint32, seq uint16) bool {
	if !r.detStarted || ssrc != r.detSSRC {
		r.det.Reset()
		r.detStarted, r.detSSRC, r.detSeq = true, ssrc, seq
		return true
	}
	if int16(seq-r.detSeq) <= 0 {
		return false
	}
	r.detSeq = seq
	return true
}

// rxStats are the reception statistics of the peer's stream (RFC 3550
// §A.3 and §A.8), guarded by Session.rxMu.
type rxStats struct {
	ssrc     uint32
	started  bool
	baseSeq  uint32
	maxSeq   uint32 // extended highest sequence number
	count    uint64 // packets received in the current SSRC
	lostPrev uint64 // lost in earlier SSRCs

	expectedPrior uint32 // at our last report
	receivedPrior uint64
	fraction      uint8 // fraction lost of our last report block

	jitter        float64 // timestamp units
	jitterPackets uint64  // audio packets behind the estimate
	lastArrival   int64   // samples
	lastTS        uint32
}

// lost returns the packets lost in the current SSRC (negative with
// duplicates).
func (r *rxStats) lost() int64 {
	if !r.started {
		return 0
	}
	return int64(r.maxSeq-r.baseSeq) + 1 - int64(r.count)
}

func (r *rxStats) lostTotal() uint64 { return r.lostPrev + uint64(max(r.lost(), 0)) }

// track counts one packet of any payload type.
func (r *rxStats) track(ssrc uint32, seq uint16) {
	if !r.started || ssrc != r.ssrc {
		r.lostPrev = r.lostTotal()
		r.started, r.ssrc = true, ssrc
		r.baseSeq, r.maxSeq, r.count = uint32(seq), uint32(seq), 0
		r.expectedPrior, r.receivedPrior = 0, 0
		r.jitter, r.jitterPackets = 0, 0
	}
	r.count++
	cycles := r.maxSeq &^ 0xFFFF
	hi := uint16(r.maxSeq)
	if d := seq - hi; d != 0 && d < 0x8000 { // ahead, with wrap-around
		if seq < hi {
			cycles += 0x10000
		}
		r.maxSeq = cycles | uint32(seq)
	}
}

// audio updates the interarrival jitter with an audio packet of timestamp
// ts that arrived at now (RFC 3550 §A.8).
func (r *rxStats) audio(ts uint32, now time.Duration) {
	arrival := toSamples(now)
	if r.jitterPackets > 0 {
		d := (arrival - r.lastArrival) - int64(int32(ts-r.lastTS))
		if d < 0 {
			d = -d
		}
		if d < 10*SampleRate { // a timestamp jump is not jitter
			r.jitter += (float64(d) - r.jitter) / 16
		}
	}
	r.jitterPackets++
	r.lastArrival, r.lastTS = arrival, ts
}

func (s *Session) readLoop() {
	defer close(s.readDone)
	buf := make([]byte, rtpBufSize)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.onDeadline()
				continue
			}
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			s.log.Debug("rtp read error", "err", err)
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		s.handlePacket(buf[:n], from)
	}
}

// handlePacket processes one datagram. It runs in the read goroutine.
func (s *Session) handlePacket(b []byte, from netip.AddrPort) {
	if len(b) < 8 || b[0]>>6 != 2 {
		return // not RTP or RTCP version 2
	}
	if pt := b[1] & 0x7F; pt >= 72 && pt <= 76 {
		s.handleRTCP(b, from, true) // RTCP multiplexed on the RTP port (RFC 5761 §4)
		return
	}
	if len(b) < 12 {
		return
	}
	p := &s.rx.pkt
	if err := p.Unmarshal(b); err != nil {
		return
	}
	n := s.neg.Load()
	if n != nil && s.e.opts.SymmetricRTP && from != n.Remote && n.CanSend() {
		s.latch(from)
		n = s.neg.Load()
	}
	now := s.now()
	s.lastRx.Store(int64(max(now, 1)))
	s.stats.packetsReceived.Add(1)
	s.stats.bytesReceived.Add(uint64(len(b)))
	s.e.metrics.packetsReceived.Inc()
	kind, codec := classify(n, s.role, p.PayloadType)
	s.rxMu.Lock()
	s.rxs.track(p.SSRC, p.SequenceNumber)
	if kind == kindAudio {
		s.rxs.audio(p.Timestamp, now)
	}
	s.rxMu.Unlock()
	if kind == kindOther {
		return
	}
	if tap := s.rxTap.Load(); tap != nil {
		(*tap)(&p.Header, p.Payload)
	}
	br := s.bridge.Load()
	switch kind {
	case kindEvent:
		if len(p.Payload) >= 4 {
			s.rx.eventsSeen = true
		}
		if d, ok := s.rx.dtmf.handle(p.SSRC, p.Timestamp, p.Payload); ok {
			s.eventDigit(d, now)
		}
	case kindAudio:
		s.receiveAudio(p, codec, now)
		if br != nil && br.jitter {
			return // played out by this session's media clock
		}
	}
	if br != nil {
		br.relay(s, kind, codec, &p.Header, p.Payload, now)
	}
}

// receiveAudio decodes an audio packet for the jitter buffer of the media
// clock (when taps or a jitter-buffered bridge need it) and for in-band
// DTMF detection, 20 ms at a time.
func (s *Session) receiveAudio(p *rtp.Packet, codec string, now time.Duration) {
	jb := s.jbOn.Load()
	inband := s.e.opts.InbandDTMF && !s.rx.eventsSeen && s.rx.inOrder(p.SSRC, p.SequenceNumber)
	if !jb && !inband {
		return
	}
	payload := p.Payload
	for off := 0; off < len(payload); off += FrameSamples {
		chunk := payload[off:min(off+FrameSamples, len(payload))]
		pcm := s.rx.pcm[:len(chunk)]
		if codec == codecPCMA {
			DecodeALaw(pcm, chunk)
		} else {
			DecodeULaw(pcm, chunk)
		}
		if jb {
			s.jbMu.Lock()
			s.clk.jb.Push(p.SSRC, p.Timestamp+uint32(off), p.Marker && off == 0, pcm, now)
			s.jbMu.Unlock()
		}
		if inband {
			if d, ok := s.rx.det.Process(pcm); ok {
				s.inbandDigit(d, now)
			}
		}
	}
}

// latch re-targets sending to the observed source address (symmetric RTP).
func (s *Session) latch(from netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.neg.Load()
	if n == nil || n.Remote == from {
		return
	}
	c := *n
	c.Remote = from
	s.neg.Store(&c)
	s.log.Info("rtp symmetric latching", "remote", from)
}

type packetKind int

const (
	kindOther packetKind = iota
	kindAudio
	kindEvent
)

// classify maps a payload type to audio (with its G.711 law) or
// telephone-event. Static PCMU and PCMA are always understood; before an
// answer arrives an offering session knows the payload types it offered.
func classify(n *Negotiation, r role, pt uint8) (packetKind, string) {
	switch {
	case n != nil && n.Events && pt == n.EventPT:
		return kindEvent, ""
	case n == nil && r == roleOfferer && pt == DefaultEventPayload:
		return kindEvent, ""
	case n != nil && pt == n.Codec.PT:
		return kindAudio, n.Codec.Name
	case pt == PayloadPCMU:
		return kindAudio, codecPCMU
	case pt == PayloadPCMA:
		return kindAudio, codecPCMA
	}
	return kindOther, ""
}

func (s *Session) deliverDigit(d rune, source string) {
	s.e.metrics.dtmfDigit(source)
	select {
	case s.digits <- d:
		s.log.Debug("dtmf digit received", "digit", string(d), "source", source)
	default:
		s.log.Warn("dtmf digit dropped: buffer full", "digit", string(d), "source", source)
	}
}

// InjectDigit feeds a digit from signalling (SIP INFO) into Digits. It
// accepts 0-9 * # A-D (a-d are upper-cased).
func (s *Session) InjectDigit(r rune) error {
	d, ok := normalizeDigit(r)
	if !ok || d == 'w' {
		return fmt.Errorf("%w: %q", ErrInvalidDigit, r)
	}
	s.deliverDigit(d, "signaling")
	return nil
}

// ---- send path ----

// txState is the outgoing RTP stream: one SSRC, sequence and timestamp
// space shared by played audio, DTMF and bridged packets. Timestamps follow
// the wall clock across gaps (RFC 3550 §5.1); a change of producer starts a
// new talkspurt with the marker bit.
type txState struct {
	ssrc    uint32
	seq     uint16
	ts      uint32
	started bool
	owner   uint64        // job id, or relayOwner|ssrc
	lastAt  time.Duration // slot time of the last timestamp
	lastEnd time.Duration // end of the media of the last packet
	offset  uint32        // relay: our timestamp minus the source's
	hdr     rtp.Header
	buf     [rtpBufSize]byte
	capture *txCapture // what was sent, for taps; nil without taps
}

const relayOwner = 1 << 63

// stamp returns the timestamp for new media at slot time at from owner and
// whether it starts a talkspurt.
func (t *txState) stamp(at time.Duration, owner uint64) (uint32, bool) {
	if !t.started {
		t.started = true
	} else {
		elapsed := max(at-t.lastAt, 0)
		t.ts += uint32((elapsed*SampleRate + time.Second/2) / time.Second)
	}
	marker := owner != t.owner
	t.owner = owner
	t.lastAt = at
	return t.ts, marker
}

// writeLocked marshals the header and payload in t.buf and sends it. s.txMu
// is held.
func (s *Session) writeLocked(pt uint8, ts uint32, marker bool, payloadLen int, to netip.AddrPort) {
	t := &s.tx
	t.seq++
	t.hdr = rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: t.seq, Timestamp: ts, SSRC: t.ssrc}
	if _, err := t.hdr.MarshalTo(t.buf[:12]); err != nil {
		return // cannot happen: 12 bytes hold a header without CSRC or extension
	}
	n := 12 + payloadLen
	if _, err := s.conn.WriteToUDPAddrPort(t.buf[:n], to); err != nil {
		if !s.isClosed() && s.warnedW.CompareAndSwap(false, true) {
			s.log.Warn("rtp send failed (further failures not logged)", "remote", to, "err", err)
		}
		return
	}
	s.stats.packetsSent.Add(1)
	s.stats.bytesSent.Add(uint64(n))
	s.e.metrics.packetsSent.Inc()
}

// sendAudio encodes one 20 ms frame and sends it at slot time at (paced
// audio: Play, in-band DTMF, the jitter-buffered bridge); the lateness of
// the packet against its slot goes to the send lateness histogram.
func (s *Session) sendAudio(pcm []int16, at time.Duration, owner uint64) {
	n := s.neg.Load()
	if n == nil || !n.CanSend() {
		return
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	ts, marker := s.tx.stamp(at, owner)
	payload := s.tx.buf[12 : 12+len(pcm)]
	if n.Codec.Name == codecPCMA {
		EncodeALaw(payload, pcm)
	} else {
		EncodeULaw(payload, pcm)
	}
	s.writeLocked(n.Codec.PT, ts, marker, len(pcm), n.Remote)
	s.tx.lastEnd = at + time.Duration(len(pcm))*time.Second/SampleRate
	if c := s.tx.capture; c != nil {
		c.write(toSamples(at), pcm)
	}
	s.e.metrics.sendLateness.Observe(max(s.now()-at, 0).Seconds())
}

// firstSlot is when a new Play or SendDTMF may send its first packet: now,
// but never before the media of the last packet has ended.
func (s *Session) firstSlot() time.Duration {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	return max(s.now(), s.tx.lastEnd)
}

// relayOut sends a bridged packet from the other leg, re-stamped into our
// stream: a new source starts a talkspurt at the wall-clock position, later
// packets keep the source's timestamp spacing. dur is the media duration of
// the packet.
func (s *Session) relayOut(n *Negotiation, srcSSRC, srcTS uint32, marker bool, pt uint8, payload []byte, conv *[256]uint8, now, dur time.Duration) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	t := &s.tx
	owner := relayOwner | uint64(srcSSRC)
	if owner != t.owner || !t.started {
		ts, _ := t.stamp(max(now, t.lastEnd), owner)
		t.offset = ts - srcTS
		marker = true
	}
	ts := srcTS + t.offset
	if int32(ts-t.ts) > 0 { // repeated event packets keep their start time
		t.ts, t.lastAt = ts, now
	}
	out := t.buf[12 : 12+len(payload)]
	if conv != nil {
		for i, b := range payload {
			out[i] = conv[b]
		}
	} else {
		copy(out, payload)
	}
	s.writeLocked(pt, ts, marker, len(payload), n.Remote)
	t.lastEnd = max(t.lastEnd, now+dur)
	if c := t.capture; c != nil && pt == n.Codec.PT {
		c.writeRelay(out, n.Codec.Name == codecPCMA, ts, marker, now)
	}
}

// ---- output jobs (Play, SendDTMF) ----

type outputJob struct {
	id      uint64
	preempt chan struct{}
	done    chan struct{}
	pcm     [FrameSamples]int16
	timer   *time.Timer
}

// beginOutput makes a new job the owner of the outgoing audio, preempting
// and waiting for the previous one.
// beginOutput makes a new output job the session's current one, preempting
// the previous. ctx is checked under the lock: a caller that gave up (a
// replaced task whose cancel happened before its successor started) can
// never preempt the successor's output.
func (s *Session) beginOutput(ctx context.Context) (*outputJob, error) {
	job := &outputJob{id: s.jobSeq.Add(1), preempt: make(chan struct{}), done: make(chan struct{})}
	s.outMu.Lock()
	if s.isClosed() {
		s.outMu.Unlock()
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.outMu.Unlock()
		return nil, err
	}
	prev := s.out
	s.out = job
	s.outBusy.Store(true)
	s.outMu.Unlock()
	if prev != nil {
		close(prev.preempt)
		<-prev.done
	}
	job.timer = time.NewTimer(time.Hour)
	job.timer.Stop()
	return job, nil
}

func (s *Session) endOutput(job *outputJob) {
	job.timer.Stop()
	s.outMu.Lock()
	if s.out == job {
		s.out = nil
		s.outBusy.Store(false)
	}
	s.outMu.Unlock()
	close(job.done)
}

// waitSlot blocks until slot time at, or returns why the job must stop.
func (s *Session) waitSlot(ctx context.Context, job *outputJob, at time.Duration) error {
	if d := at - s.now(); d > 0 {
		job.timer.Reset(d)
		select {
		case <-job.timer.C:
		case <-ctx.Done():
			job.timer.Stop()
			return context.Cause(ctx)
		case <-job.preempt:
			job.timer.Stop()
			return ErrPreempted
		case <-s.closed:
			job.timer.Stop()
			return ErrClosed
		}
		return nil
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-job.preempt:
		return ErrPreempted
	case <-s.closed:
		return ErrClosed
	default:
		return nil
	}
}

// maxLag is how far the pacer may fall behind (GC pause, overloaded host)
// before it gives up catching up and restarts its schedule from now.
const maxLag = 100 * time.Millisecond

// nextSlot advances the schedule by one frame, resynchronizing when late.
func (s *Session) nextSlot(slot time.Duration) time.Duration {
	slot += FrameDuration
	if now := s.now(); now-slot > maxLag {
		return now
	}
	return slot
}

// Play sends src to the peer, paced at one 20 ms frame per packet, and
// blocks until src is exhausted (nil), ctx is cancelled (the context's
// error, within one frame), a newer Play or SendDTMF preempts it
// (ErrPreempted), the session closes (ErrClosed) or src fails. The first
// frame leaves at once. On a bridged session the played audio replaces what
// the peer hears from the other leg until Play returns. Play fails with
// ErrNoRemote before an offering session has its answer.
func (s *Session) Play(ctx context.Context, src Source) error {
	if s.neg.Load() == nil {
		return ErrNoRemote
	}
	job, err := s.beginOutput(ctx)
	if err != nil {
		return err
	}
	defer s.endOutput(job)
	slot := s.firstSlot()
	frame := job.pcm[:]
	for {
		n, rerr := readFrame(src, frame)
		if n > 0 {
			clear(frame[n:])
			if err := s.waitSlot(ctx, job, slot); err != nil {
				return err
			}
			s.sendAudio(frame, slot, job.id)
			slot = s.nextSlot(slot)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("media: play: read audio: %w", rerr)
		}
		if n == 0 { // a source that gave nothing without EOF: do not spin
			if err := s.waitSlot(ctx, job, slot); err != nil {
				return err
			}
			slot = s.nextSlot(slot)
		}
	}
}

// readFrame fills frame from src until it is full, src ends or src returns
// no samples.
func readFrame(src Source, frame []int16) (int, error) {
	n := 0
	for n < len(frame) {
		m, err := src.ReadSamples(frame[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
	}
	return n, nil
}
