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
// When nothing plays and no bridge relays, nothing is sent (no comfort
// noise). While the session is on hold (the peer's SDP makes us sendonly,
// recvonly or inactive, or gives 0.0.0.0) Play keeps its 20 ms pace but the
// frames are not sent.
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

	// rxTap, when set (tests only), sees every accepted audio and event
	// packet in the read goroutine.
	rxTap atomic.Pointer[func(h *rtp.Header, payload []byte)]
}

type sessionStats struct {
	packetsSent, bytesSent         atomic.Uint64
	packetsReceived, bytesReceived atomic.Uint64
	lost                           atomic.Uint64
}

// Stats are the counters of a session.
type Stats struct {
	PacketsSent     uint64
	BytesSent       uint64 // RTP header and payload bytes
	PacketsReceived uint64
	BytesReceived   uint64
	PacketsLost     uint64    // from sequence number gaps (RFC 3550 §A.3)
	LastReceived    time.Time // zero if nothing was received
}

func newSession(e *Engine, r role, conn *net.UDPConn, port int, so SessionOptions) *Session {
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
	e.active.Add(1)
	e.metrics.sessionsActive.Inc()
	go s.readLoop()
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
// 'A'-'D'): RFC 4733 events, each reported once, and digits passed to
// InjectDigit. It has a buffer of 64 digits; when it is full, further digits
// are dropped and logged. It is never closed.
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

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsSent:     s.stats.packetsSent.Load(),
		BytesSent:       s.stats.bytesSent.Load(),
		PacketsReceived: s.stats.packetsReceived.Load(),
		BytesReceived:   s.stats.bytesReceived.Load(),
		PacketsLost:     s.stats.lost.Load() + s.rx.pendingLost(),
	}
	if d := s.lastRx.Load(); d != 0 {
		st.LastReceived = s.epoch.Add(time.Duration(d))
	}
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

// Close stops the session: running Play and SendDTMF return ErrClosed, a
// bridge is stopped, the read goroutine ends, the socket is closed and the
// port goes back to the allocator. It is idempotent; only the first call can
// return an error.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closed)
		s.mu.Unlock()
		if b := s.bridge.Load(); b != nil {
			b.Stop()
		}
		err = s.conn.Close()
		<-s.readDone
		s.e.ports.Release(s.port)
		s.e.active.Add(-1)
		s.e.metrics.sessionsActive.Dec()
		st := s.Stats()
		s.log.Debug("rtp session closed", "packets_sent", st.PacketsSent, "packets_received", st.PacketsReceived, "packets_lost", st.PacketsLost)
	})
	if err != nil {
		return fmt.Errorf("media: close RTP socket: %w", err)
	}
	return nil
}

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

// rxState tracks the received stream for loss statistics and DTMF.
type rxState struct {
	pkt     rtp.Packet
	dtmf    dtmfReceiver
	ssrc    uint32
	started bool
	baseSeq uint32
	maxSeq  uint32 // extended highest sequence number
	count   uint64
	pending atomic.Uint64 // lost in the current SSRC, published for Stats
}

func (r *rxState) pendingLost() uint64 { return r.pending.Load() }

func (r *rxState) track(s *Session, ssrc uint32, seq uint16) {
	if !r.started || ssrc != r.ssrc {
		if r.started {
			s.stats.lost.Add(r.pending.Load())
		}
		r.started, r.ssrc = true, ssrc
		r.baseSeq, r.maxSeq, r.count = uint32(seq), uint32(seq), 0
		r.pending.Store(0)
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
	expected := uint64(r.maxSeq-r.baseSeq) + 1
	if expected > r.count {
		r.pending.Store(expected - r.count)
	} else {
		r.pending.Store(0)
	}
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
	if len(b) < 12 || b[0]>>6 != 2 {
		return // not RTP version 2
	}
	if pt := b[1] & 0x7F; pt >= 72 && pt <= 76 {
		return // RTCP multiplexed on the RTP port (RFC 5761 §4)
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
	s.rx.track(s, p.SSRC, p.SequenceNumber)

	kind, codec := classify(n, s.role, p.PayloadType)
	if kind == kindOther {
		return
	}
	if tap := s.rxTap.Load(); tap != nil {
		(*tap)(&p.Header, p.Payload)
	}
	if kind == kindEvent {
		if d, ok := s.rx.dtmf.handle(p.SSRC, p.Timestamp, p.Payload); ok {
			s.deliverDigit(d, "rfc4733")
		}
	}
	if br := s.bridge.Load(); br != nil {
		br.relay(s, kind, codec, &p.Header, p.Payload, now)
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

// sendAudio encodes one 20 ms frame and sends it at slot time at.
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
func (s *Session) beginOutput() (*outputJob, error) {
	job := &outputJob{id: s.jobSeq.Add(1), preempt: make(chan struct{}), done: make(chan struct{})}
	s.outMu.Lock()
	if s.isClosed() {
		s.outMu.Unlock()
		return nil, ErrClosed
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
	job, err := s.beginOutput()
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
