package phone

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

const (
	sampleRate     = 8000
	frameSamples   = 160 // 20 ms at 8 kHz
	frameDuration  = 20 * time.Millisecond
	maxRecording   = 10 * 60 * sampleRate // ten minutes
	maxGapSamples  = 10 * sampleRate      // larger timestamp jumps re-anchor the stream
	maxLateSamples = sampleRate           // packets older than this re-anchor too
	maxRTPPacket   = 1500

	// dtmfToneTicks is the number of 20 ms packets of an event before its
	// end packets; dtmfEndPackets is how often the end is sent
	// (RFC 4733 §2.5.1.4) and dtmfGapTicks the pause before the next digit.
	dtmfToneTicks  = 5
	dtmfEndPackets = 3
	dtmfGapTicks   = 3
)

// ErrCallEnded is returned by operations on a call that has ended.
var ErrCallEnded = errors.New("call ended")

// Stats are the RTP counters of one call.
type Stats struct {
	// Received counts every valid RTP packet received.
	Received int
	// Audio counts received packets of the negotiated codec.
	Audio int
	// Events counts received telephone-event packets.
	Events int
	// Unexpected counts received packets with a payload type that was not
	// negotiated; they are not decoded.
	Unexpected int
	// Invalid counts datagrams that are not RTP version 2.
	Invalid int
	// Lost counts sequence numbers skipped within one SSRC.
	Lost int
	// SSRCs counts the audio streams seen: 1, plus one per change of SSRC.
	SSRCs int
	// Sent counts packets sent.
	Sent int
}

// frameLevel is the RMS of one received audio packet.
type frameLevel struct {
	rms     float64
	samples int
}

// receiver turns received RTP datagrams into a recording, frame levels and
// DTMF digits. It does no locking; mediaSession serialises access.
type receiver struct {
	codec  Codec
	pt     uint8
	dtmfPT int

	pkt rtp.Packet
	// limit caps the recording in samples; 0 means maxRecording.
	limit int

	rec    []int16
	levels []frameLevel
	digits []byte

	have        bool
	ssrc        uint32
	refTS       uint32
	refPos      int
	lastSeq     uint16
	lastArrival time.Time
	lastLen     int

	haveEvent  bool
	eventSSRC  uint32
	eventTS    uint32
	stats      Stats
	warnedType bool
}

// handle processes one datagram received at now. It reports whether the
// datagram had a payload type that was not negotiated, for logging.
func (r *receiver) handle(buf []byte, now time.Time) (unexpected bool) {
	if err := r.pkt.Unmarshal(buf); err != nil || r.pkt.Version != 2 {
		r.stats.Invalid++
		return false
	}
	r.stats.Received++
	h := &r.pkt.Header
	switch {
	case r.dtmfPT >= 0 && h.PayloadType == uint8(r.dtmfPT):
		r.stats.Events++
		r.handleEvent(h.SSRC, h.Timestamp, r.pkt.Payload)
	case h.PayloadType == r.pt:
		r.stats.Audio++
		r.handleAudio(h.SSRC, h.SequenceNumber, h.Timestamp, r.pkt.Payload, now)
	default:
		r.stats.Unexpected++
		if !r.warnedType {
			r.warnedType = true
			return true
		}
	}
	return false
}

func (r *receiver) handleEvent(ssrc, ts uint32, payload []byte) {
	ev, err := parseTelephoneEvent(payload)
	if err != nil {
		return
	}
	// Every packet of one event carries the event's start timestamp
	// (RFC 4733 §2.5.1.2); the first packet seen of a new one counts.
	if r.haveEvent && r.eventSSRC == ssrc && r.eventTS == ts {
		return
	}
	r.haveEvent, r.eventSSRC, r.eventTS = true, ssrc, ts
	if d, ok := eventDigit(ev.event); ok {
		r.digits = append(r.digits, d)
	}
}

func (r *receiver) handleAudio(ssrc uint32, seq uint16, ts uint32, payload []byte, now time.Time) {
	n := len(payload)
	if n == 0 {
		return
	}
	pos := 0
	if r.have && r.ssrc == ssrc {
		if d := seq - r.lastSeq; d < 0x8000 {
			// Newer (modulo 2^16): count what was skipped. An older one
			// is late and leaves the sequence where it is.
			if d > 1 {
				r.stats.Lost += int(d - 1)
			}
			r.lastSeq = seq
		}
		pos = r.refPos + int(int32(ts-r.refTS))
		if pos < len(r.rec)-maxLateSamples || pos > len(r.rec)+maxGapSamples || pos < 0 {
			pos = r.anchor(ts, now)
		}
	} else {
		r.stats.SSRCs++
		pos = r.anchor(ts, now)
		r.have, r.ssrc, r.lastSeq = true, ssrc, seq
	}
	r.lastArrival = now
	r.lastLen = n
	limit := r.limit
	if limit == 0 {
		limit = maxRecording
	}
	if pos+n > limit {
		return
	}
	if end := pos + n; end > len(r.rec) {
		r.rec = growInt16(r.rec, end)
	}
	frame := r.rec[pos : pos+n]
	decodeFrame(r.codec, frame, payload)
	r.levels = append(r.levels, frameLevel{rms: RMS(frame), samples: n})
}

// anchor starts a new timeline for a stream whose timestamps cannot be
// related to what was recorded: it continues at the end of the recording
// plus the silence the wall clock says passed since the previous packet.
func (r *receiver) anchor(ts uint32, now time.Time) int {
	pos := len(r.rec)
	if r.have {
		gap := now.Sub(r.lastArrival) - time.Duration(r.lastLen)*time.Second/sampleRate
		if gap > 0 {
			pos += min(int(gap*sampleRate/time.Second), maxGapSamples)
		}
	}
	r.refTS, r.refPos = ts, pos
	return pos
}

// growInt16 extends s with zeros (silence) to length n.
func growInt16(s []int16, n int) []int16 {
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[old:])
		return s
	}
	ns := make([]int16, n, max(n, 2*cap(s)))
	copy(ns, s)
	return ns
}

// audioDuration sums the received frames with an RMS of at least minRMS.
func (r *receiver) audioDuration(minRMS float64) time.Duration {
	n := 0
	for _, l := range r.levels {
		if l.rms >= minRMS {
			n += l.samples
		}
	}
	return time.Duration(n) * time.Second / sampleRate
}

// sendJob is audio or a DTMF digit waiting for the sender.
type sendJob struct {
	pcm    []int16
	digit  byte // 0: audio
	done   chan struct{}
	err    error
	cancel bool
}

// sender builds the RTP packets of one call, one per 20 ms tick. It does no
// locking; mediaSession serialises access.
type sender struct {
	codec  Codec
	pt     uint8
	dtmfPT int

	ssrc uint32
	seq  uint16
	ts   uint32

	queue []*sendJob
	cur   *sendJob
	pos   int // samples of cur.pcm sent, or ticks of cur's event

	eventTS uint32

	hdr     rtp.Header
	payload [frameSamples]byte
	buf     [maxRTPPacket]byte
}

// tick returns the packet for the next 20 ms: the next frame of the current
// audio job, a telephone-event packet, or silence. The caller decides
// whether it goes on the wire (on hold jobs still advance at real pace).
func (s *sender) tick() []byte {
	ts := s.ts
	s.ts += frameSamples
	if s.cur == nil && len(s.queue) > 0 {
		s.cur, s.queue = s.queue[0], s.queue[1:]
		s.pos = 0
		if s.cur.digit != 0 {
			s.eventTS = ts
		}
	}
	job := s.cur
	switch {
	case job == nil:
		for i := range s.payload {
			s.payload[i] = s.codec.silence()
		}
		return s.packet(s.pt, false, ts, s.payload[:])
	case job.cancel:
		s.finish(context.Canceled)
		return s.tick2(ts)
	case job.digit != 0:
		return s.eventTick(ts)
	default:
		var frame [frameSamples]int16
		n := copy(frame[:], job.pcm[s.pos:])
		s.pos += n
		encodeFrame(s.codec, s.payload[:], frame[:])
		marker := s.pos == n // first packet of a talkspurt (RFC 3551 §4.1)
		if s.pos >= len(job.pcm) {
			s.finish(nil)
		}
		return s.packet(s.pt, marker, ts, s.payload[:])
	}
}

// tick2 re-runs tick for the same timestamp after dropping a canceled job.
func (s *sender) tick2(ts uint32) []byte {
	s.ts = ts
	return s.tick()
}

func (s *sender) eventTick(ts uint32) []byte {
	job := s.cur
	s.pos++
	if s.dtmfPT < 0 {
		s.finish(errors.New("peer did not negotiate telephone-event"))
		return s.tick2(ts)
	}
	ev, _ := digitEvent(job.digit)
	switch {
	case s.pos < dtmfToneTicks+dtmfEndPackets:
		ticks := min(s.pos, dtmfToneTicks)
		e := telephoneEvent{
			event:    ev,
			end:      s.pos >= dtmfToneTicks,
			volume:   dtmfVolume,
			duration: uint16(ticks * frameSamples),
		}
		e.marshal(s.payload[:telephoneEventSize])
		return s.packet(uint8(s.dtmfPT), s.pos == 1, s.eventTS, s.payload[:telephoneEventSize])
	default:
		if s.pos >= dtmfToneTicks+dtmfEndPackets+dtmfGapTicks {
			s.finish(nil)
		}
		for i := range s.payload {
			s.payload[i] = s.codec.silence()
		}
		return s.packet(s.pt, false, ts, s.payload[:])
	}
}

func (s *sender) finish(err error) {
	s.cur.err = err
	close(s.cur.done)
	s.cur = nil
}

// failAll ends every queued job with err.
func (s *sender) failAll(err error) {
	if s.cur != nil {
		s.finish(err)
	}
	for _, j := range s.queue {
		j.err = err
		close(j.done)
	}
	s.queue = nil
}

func (s *sender) packet(pt uint8, marker bool, ts uint32, payload []byte) []byte {
	s.hdr = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: s.seq,
		Timestamp:      ts,
		SSRC:           s.ssrc,
	}
	s.seq++
	n, err := s.hdr.MarshalTo(s.buf[:])
	if err != nil || n+len(payload) > len(s.buf) {
		return nil
	}
	n += copy(s.buf[n:], payload)
	return s.buf[:n]
}

// mediaSession is the RTP side of one call: a UDP socket on 127.0.0.1, a
// receive goroutine (running from creation, so early media is recorded) and
// a 20 ms send loop (running from start until close).
type mediaSession struct {
	conn *net.UDPConn
	log  *slog.Logger

	mu      sync.Mutex
	rx      receiver
	tx      sender
	remote  netip.AddrPort
	send    bool
	paused  bool          // PauseRTP: nothing is sent regardless of direction
	changed chan struct{} // closed and replaced whenever rx changes
	closed  bool

	startOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

func newMediaSession(log *slog.Logger) (*mediaSession, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	m := &mediaSession{
		conn:    conn,
		log:     log,
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	m.rx.dtmfPT = -1
	m.tx.dtmfPT = -1
	m.tx.ssrc = binary.BigEndian.Uint32(seed[:4])
	m.tx.seq = binary.BigEndian.Uint16(seed[4:6])
	m.tx.ts = uint32(binary.BigEndian.Uint16(seed[6:8])) << 8
	m.wg.Add(1)
	go m.readLoop()
	return m, nil
}

// port returns the local RTP port.
func (m *mediaSession) port() int {
	return m.conn.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDPConn's address is a UDPAddr
}

// configure applies a negotiation result and this side's direction.
func (m *mediaSession) configure(p mediaParams, local Direction) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rx.codec, m.rx.pt, m.rx.dtmfPT = p.codec, p.pt, p.dtmfPT
	m.tx.codec, m.tx.pt, m.tx.dtmfPT = p.codec, p.pt, p.dtmfPT
	m.remote = p.remote
	m.send = local.sends()
}

// start begins the 20 ms send loop; later calls do nothing.
func (m *mediaSession) start() {
	m.startOnce.Do(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed {
			return
		}
		m.wg.Add(1)
		go m.sendLoop()
	})
}

func (m *mediaSession) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.stop)
	m.tx.failAll(ErrCallEnded)
	m.notifyLocked()
	m.mu.Unlock()
	_ = m.conn.Close() // unblocks readLoop; a second close error is meaningless here
	m.wg.Wait()
}

func (m *mediaSession) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *mediaSession) readLoop() {
	defer m.wg.Done()
	buf := make([]byte, maxRTPPacket)
	for {
		n, _, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Warn("rtp read failed", "err", err)
			}
			return
		}
		now := time.Now()
		m.mu.Lock()
		if m.rx.handle(buf[:n], now) {
			m.log.Warn("rtp with a payload type that was not negotiated",
				"payload_type", m.rx.pkt.PayloadType, "want", m.rx.pt, "dtmf_pt", m.rx.dtmfPT)
		}
		m.notifyLocked()
		m.mu.Unlock()
	}
}

// sendLoop sends one packet per 20 ms of wall clock since the loop started.
// When the goroutine is scheduled late (a loaded machine) it sends the
// packets that fell due in a burst, so the stream keeps its rate and its
// timestamps keep matching real time; beyond maxBurst overdue packets the
// oldest are consumed without being sent.
func (m *mediaSession) sendLoop() {
	defer m.wg.Done()
	const maxBurst = 25 // half a second
	start := time.Now()
	var done int64 // packets processed; packet k is due at start + k·20 ms
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-timer.C:
		}
		due := int64(time.Since(start)/frameDuration) + 1
		for ; due-done > maxBurst; done++ {
			m.mu.Lock()
			m.tx.tick()
			m.mu.Unlock()
		}
		for ; done < due; done++ {
			m.sendOne()
		}
		timer.Reset(time.Until(start.Add(time.Duration(done) * frameDuration)))
	}
}

func (m *mediaSession) sendOne() {
	m.mu.Lock()
	pkt := m.tx.tick()
	remote, send := m.remote, m.send && !m.paused && m.remote.IsValid()
	var err error
	if send && pkt != nil {
		_, err = m.conn.WriteToUDPAddrPort(pkt, remote)
		if err == nil {
			m.rx.stats.Sent++
		}
	}
	m.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		m.log.Warn("rtp write failed", "err", err)
	}
}

// enqueue adds a job and waits for it to be sent, ctx to end or the
// session to close.
func (m *mediaSession) enqueue(ctx context.Context, j *sendJob) error {
	j.done = make(chan struct{})
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrCallEnded
	}
	m.tx.queue = append(m.tx.queue, j)
	m.mu.Unlock()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		m.mu.Lock()
		j.cancel = true
		m.mu.Unlock()
		<-j.done
		return ctx.Err()
	}
}

// waitFor blocks until cond (evaluated under the lock) holds, ctx ends or
// the session closes.
func (m *mediaSession) waitFor(ctx context.Context, cond func(*receiver) bool) error {
	for {
		m.mu.Lock()
		ok, closed, ch := cond(&m.rx), m.closed, m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		if closed {
			return ErrCallEnded
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (m *mediaSession) setPaused(p bool) {
	m.mu.Lock()
	m.paused = p
	m.mu.Unlock()
}

func (m *mediaSession) addDigit(d byte) {
	m.mu.Lock()
	m.rx.digits = append(m.rx.digits, d)
	m.notifyLocked()
	m.mu.Unlock()
}

func (m *mediaSession) recording() []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int16(nil), m.rx.rec...)
}

func (m *mediaSession) stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rx.stats
}

func (m *mediaSession) digits() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(m.rx.digits)
}

// Tone returns dur of a sine wave at freq Hz, 8 kHz, with peak amplitude
// amp (0..32767).
func Tone(freq float64, dur time.Duration, amp float64) []int16 {
	n := int(dur * sampleRate / time.Second)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/sampleRate))
	}
	return out
}

// dtmfRows and dtmfCols are the Q.23 frequencies of the keypad.
var (
	dtmfRows = [4]float64{697, 770, 852, 941}
	dtmfCols = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeys = [4]string{"123A", "456B", "789C", "*0#D"}
)

// DualTone returns the Q.23 dual tone of a keypad digit (0-9 * # A-D) for
// dur, each component at amp, or nil for another byte.
func DualTone(digit byte, dur time.Duration, amp float64) []int16 {
	for r, keys := range dtmfKeys {
		for c := range keys {
			if keys[c] != digit {
				continue
			}
			n := int(dur * sampleRate / time.Second)
			out := make([]int16, n)
			for i := range out {
				t := float64(i) / sampleRate
				out[i] = int16(amp * (math.Sin(2*math.Pi*dtmfRows[r]*t) + math.Sin(2*math.Pi*dtmfCols[c]*t)))
			}
			return out
		}
	}
	return nil
}
