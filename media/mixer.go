package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Conference mixing.
//
// A Mixer is one conference room on this node: one clock goroutine that,
// every 20 ms, takes one frame out of each member session's jitter buffer,
// sums the frames of the members the room hears in 32-bit integers, and
// sends every member that hears the room the total minus its own frame
// (N-1 mixing), saturated to 16 bits. The member's session keeps its read
// goroutine, which decodes the received audio into the session's own
// JitterBuffer (the one taps use); the session's own media clock does not
// run while it is mixed, so that the mixer is the only consumer of that
// buffer, and the mixer calls the session's taps itself.
//
// The mix runs at 8 kHz, the rate of every member: callcore negotiates only
// G.711 (PCMU and PCMA), which is narrow-band, so mixing at 16 kHz would
// only resample in and out without adding any audio. A wide-band codec
// would need a wider internal rate and per-member resampling.
//
// In steady state a tick does not allocate: each member has fixed frame
// buffers, the member list is a copy-on-write snapshot replaced only when
// members come and go, and the tick uses no maps, closures or timers of its
// own. Only state changes (a hold or alone source starting or looping, a
// member leaving) may allocate.

// ErrMixed means a session cannot join a Mixer because it is already in
// one, or because it is bridged (the error then also matches ErrBridged).
var ErrMixed = errors.New("media: session already in a conference mixer")

const (
	// mixerOwner owns a session's outgoing stream while a mixer sends to it
	// (see txState.owner): a Play that ends hands back to the mix with a
	// new talkspurt. It cannot collide with job ids (small counters) or the
	// relay owners (relayOwner|ssrc, jitterRelayOwner).
	mixerOwner = relayOwner | 1<<61

	// talkLevel is the RMS level of a talking member's frame: -45 dBFS
	// (32768 × 10^(-45/20) ≈ 184); talkEnergy is the matching sum of
	// squares over a frame.
	talkLevel  = 184
	talkEnergy = talkLevel * talkLevel * FrameSamples
	// talkHangover is how many frames a member still counts as talking
	// after its last loud frame (200 ms), so that the short pauses of
	// speech do not flap the count.
	talkHangover = 10

	// forwardQueue bounds the digits waiting to be forwarded to one member.
	forwardQueue = 16
)

// MixerOptions configure a Mixer.
type MixerOptions struct {
	// Room names the conference in the mixer's log lines (as room). It is
	// never a metric label.
	Room string
	// Logger receives the mixer's logs. Default: the engine's logger.
	Logger *slog.Logger
}

// MemberOptions configure one member of a Mixer.
type MemberOptions struct {
	// Muted starts the member muted (see Member.SetMuted).
	Muted bool
	// Alone, when not nil, gives the audio the member hears while it is
	// the only member that hears the room (no other member, or every
	// other one held or detached): it is called for a fresh Source when
	// the member becomes alone and again whenever the previous Source
	// ends (io.EOF), so a finite Source loops. A nil Source means silence.
	// When the member stops being alone the Source is dropped; the next
	// time it is alone a fresh one starts from its beginning. Alone runs
	// on the mixer's clock goroutine and must return at once (a prepared
	// Source such as MOH or PCM over cached samples, not a synthesis or a
	// download). Without Alone a lone member hears silence.
	Alone func() Source
}

// MixerStats are the figures of one mixer.
type MixerStats struct {
	Ticks uint64 // ticks run
	// LateTicks counts ticks that started more than 20 ms after their
	// slot or whose work ended after the next slot, plus the ticks skipped
	// when the clock fell more than 100 ms behind and restarted its
	// schedule.
	LateTicks uint64
	LastTick  time.Duration // work time of the last tick
	PeakTick  time.Duration // longest tick work time so far
	Members   int           // members now
	// Talkers are the members heard by the room (not muted, held or
	// detached) whose received audio was above -45 dBFS RMS in the last
	// 200 ms.
	Talkers int
}

// Mixer mixes the audio of a conference room: every member hears the sum
// of the others (N-1 mixing) on one 20 ms clock per room. See Add for how
// a session takes part and Member for the per-member controls.
//
// Each tick, on an absolute 20 ms schedule of the monotonic clock (more
// than 100 ms behind, it restarts from now and counts the skipped ticks as
// late):
//
//   - one frame is taken from each member session's jitter buffer (the
//     read goroutine keeps feeding it: reordering, loss concealment and
//     the adaptive delay of JitterBuffer apply);
//   - the frames of the members the room hears (not muted, held or
//     detached) are summed in 32 bits;
//   - every member that hears the room (not held or detached) is sent the
//     sum minus its own frame, saturated to 16 bits (a hard clip, never a
//     wrap-around); a member alone hears its MemberOptions.Alone source, a
//     held member its hold music, a detached member silence;
//   - a frame is sent to every member each tick, silence included, so that
//     the far end's RTP inactivity timer never fires; the frame is encoded
//     in the member's own codec and sent in its own RTP stream. While a
//     Play or SendDTMF runs on a member's session, what was played wins:
//     the mixer sends that member nothing (its voice is still mixed for
//     the others) and resumes with a new talkspurt when the Play ends;
//   - the taps of each member's session are called with rx = the frame
//     taken from that member (its voice) and tx = what the session sent
//     (what it hears), with the timing Session.Tap describes. A session
//     closed by its owner is removed from the mixer within a tick.
//
// A member whose peer put the session on hold (SDP sendonly or inactive)
// is still mixed but sent nothing, as with Play.
//
// Metrics (no per-room labels): callcore_conference_mixer_tick_seconds
// (work time of each tick), callcore_conference_mixer_late_ticks_total,
// and the gauges callcore_conference_mixers, _mixer_members and _talkers.
//
// All methods are safe for concurrent use, but Close and Member.Remove
// wait for a tick in progress and must not be called from a tap of a
// member's session or from an Alone or hold-music function (Session.Close
// may be: the session leaves at the next tick).
type Mixer struct {
	e     *Engine
	log   *slog.Logger
	epoch time.Time // monotonic reference of the mixer's slot times

	// members is the copy-on-write snapshot the clock reads; it is
	// replaced (never modified) under mu.
	members atomic.Pointer[[]*Member]

	mu      sync.Mutex // guards the fields below and Member.removed
	closed  bool
	running bool          // a clock goroutine runs
	done    chan struct{} // closed when the running clock goroutine ends
	stop    chan struct{} // closed by Close
	noClock bool          // tests: Add does not start the clock goroutine

	tickMu sync.Mutex // held by the clock goroutine during a tick
	timer  *time.Timer
	sum    [FrameSamples]int32 // owned by the clock

	ticks    atomic.Uint64
	late     atomic.Uint64
	lastTick atomic.Int64 // time.Duration
	peakTick atomic.Int64 // time.Duration
	talkers  atomic.Int64
}

// NewMixer returns an empty mixer. Its clock goroutine starts with the
// first member and ends when the last member leaves or on Close. The mixer
// counts in callcore_conference_mixers until Close, which its owner must
// call.
func (e *Engine) NewMixer(o MixerOptions) *Mixer {
	log := o.Logger
	if log == nil {
		log = e.log
	}
	if o.Room != "" {
		log = log.With("room", o.Room)
	}
	m := &Mixer{e: e, log: log, epoch: time.Now(), stop: make(chan struct{}), timer: time.NewTimer(time.Hour)}
	m.timer.Stop()
	empty := []*Member{}
	m.members.Store(&empty)
	e.metrics.mixers.Inc()
	return m
}

// Member is one session's membership of a Mixer, returned by Mixer.Add.
// Its methods are safe for concurrent use; the setters take effect at the
// next tick and do nothing once the member was removed.
type Member struct {
	m      *Mixer
	s      *Session
	off    time.Duration // mixer slot time + off = session time
	alone  func() Source
	ctx    context.Context // cancelled when the member is removed (forwarded digits)
	cancel context.CancelFunc

	muted    atomic.Bool
	detached atomic.Bool
	hold     atomic.Pointer[holdMusic]
	talking  atomic.Bool
	removed  bool // guarded by m.mu

	fwdMu      sync.Mutex // guards fwdQ and fwdRunning
	fwdQ       []rune
	fwdRunning bool

	// Owned by the clock goroutine.
	in, out, tx [FrameSamples]int16
	gone        bool       // the session closed: skipped, then removed
	hears       bool       // hears the room: not held, not detached
	contrib     bool       // in is part of the sum
	curHold     *holdMusic // hold as read at the start of the tick
	play        playKind   // what src plays
	playHold    *holdMusic // the hold src comes from
	src         Source
	hang        int           // talking hangover, frames
	busy        bool          // a Play or SendDTMF owned the output at the last tick
	jobSeen     uint64        // the session's jobSeq at the last tick
	resumeAt    time.Duration // session time before which nothing is sent after a Play
	capturing   bool          // the session's tx capture is active for its taps
}

// holdMusic is one SetHold call's music; a new pointer per call, so that
// the clock notices a change of music.
type holdMusic struct{ music func() Source }

type playKind uint8

const (
	playNone playKind = iota
	playAlone
	playHold
)

// Add makes s a member of the mixer. The session keeps its read goroutine,
// its taps and its Play and SendDTMF; its own media clock stops (Add waits
// for that, at most one frame) and the mixer's clock serves its jitter
// buffer and taps until the member is removed.
//
// Add fails with ErrMixed when s is already in a mixer (this one or
// another) or bridged (the error then matches ErrBridged too), and with
// ErrClosed when s or the mixer is closed. While s is a member,
// Engine.Bridge refuses it.
func (m *Mixer) Add(s *Session, o MemberOptions) (*Member, error) {
	if s == nil {
		return nil, errors.New("media: mixer add: nil session")
	}
	if s.e != m.e {
		return nil, errors.New("media: mixer add: session of another engine")
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("media: mixer add: mixer closed: %w", ErrClosed)
	}
	mb := &Member{m: m, s: s, off: m.epoch.Sub(s.epoch), alone: o.Alone}
	mb.ctx, mb.cancel = context.WithCancel(context.Background())
	mb.muted.Store(o.Muted)
	if err := s.joinMixer(mb); err != nil {
		mb.cancel()
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		mb.detach()
		return nil, fmt.Errorf("media: mixer add: mixer closed: %w", ErrClosed)
	}
	old := *m.members.Load()
	list := make([]*Member, len(old)+1)
	copy(list, old)
	list[len(old)] = mb
	m.members.Store(&list)
	m.e.metrics.mixerMembers.Inc()
	m.startClockLocked()
	m.mu.Unlock()
	m.log.Debug("conference member added", "rtp_port", s.port, "members", len(list), "muted", o.Muted)
	return mb, nil
}

// joinMixer makes mb the session's mixer membership, stops the session's
// own clock and turns the jitter buffer feed on.
func (s *Session) joinMixer(mb *Member) error {
	s.tapMu.Lock()
	if s.isClosed() {
		s.tapMu.Unlock()
		return fmt.Errorf("media: mixer add: %w", ErrClosed)
	}
	if !s.mixer.CompareAndSwap(nil, mb) {
		s.tapMu.Unlock()
		return fmt.Errorf("%w: the session is in a mixer", ErrMixed)
	}
	if s.bridge.Load() != nil { // Engine.Bridge sets bridge, then checks mixer
		s.mixer.Store(nil)
		s.tapMu.Unlock()
		return fmt.Errorf("%w: the session is bridged (%w)", ErrMixed, ErrBridged)
	}
	c := s.mediaClockLocked()
	var wait chan struct{}
	if s.clockRunning {
		wait = c.done // the clock sees the mixer at its next tick and ends
	}
	s.tapMu.Unlock()
	if wait != nil {
		<-wait
	}
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	s.jbMu.Lock()
	c.jb.Reset()
	s.jbMu.Unlock()
	s.txMu.Lock()
	if s.tx.capture == nil {
		s.tx.capture = &txCapture{}
	}
	s.tx.capture.active = false // the mixer activates it while taps exist
	s.txMu.Unlock()
	s.jbOn.Store(true)
	return nil
}

// leaveMixer ends mb's membership of the session: the session's own clock
// restarts when its taps need it, else the jitter buffer feed stops.
func (s *Session) leaveMixer(mb *Member) {
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	if !s.mixer.CompareAndSwap(mb, nil) {
		return
	}
	if s.needClockLocked() {
		s.startClockLocked()
		return
	}
	s.jbOn.Store(false)
	s.txMu.Lock()
	if s.tx.capture != nil {
		s.tx.capture.active = false
	}
	s.txMu.Unlock()
}

// Members returns the number of members.
func (m *Mixer) Members() int { return len(*m.members.Load()) }

// Stats returns the mixer's figures.
func (m *Mixer) Stats() MixerStats {
	return MixerStats{
		Ticks:     m.ticks.Load(),
		LateTicks: m.late.Load(),
		LastTick:  time.Duration(m.lastTick.Load()),
		PeakTick:  time.Duration(m.peakTick.Load()),
		Members:   m.Members(),
		Talkers:   int(m.talkers.Load()),
	}
}

// Close removes every member (their sessions stay open, see
// Member.Remove), stops the clock and ends the mixer's count in
// callcore_conference_mixers. Add fails afterwards. It is idempotent.
func (m *Mixer) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	list := *m.members.Load()
	empty := []*Member{}
	m.members.Store(&empty)
	for _, mb := range list {
		mb.removed = true
	}
	close(m.stop)
	var done chan struct{}
	if m.running {
		done = m.done
	}
	m.mu.Unlock()
	if done != nil {
		<-done
	}
	for _, mb := range list {
		mb.detach()
	}
	m.e.metrics.mixerMembers.Sub(float64(len(list)))
	m.e.metrics.mixers.Dec()
	m.log.Debug("conference mixer closed", "members", len(list), "ticks", m.ticks.Load(), "late_ticks", m.late.Load())
}

// ForwardDTMF sends digit as an RFC 4733 event (SendDTMF: in band to a
// peer without telephone-event) to every member except from (which may be
// nil) that is not held or detached. It does not block: each member has a
// queue of up to 16 digits (further ones are dropped and logged) sent one
// after the other by a goroutine that ends when the queue is empty or the
// member is removed. Like any SendDTMF, a forwarded digit preempts a Play
// running on that member's session. Characters other than 0-9 * # A-D (a-d
// are upper-cased) are ignored.
func (m *Mixer) ForwardDTMF(from *Member, digit rune) {
	d, ok := normalizeDigit(digit)
	if !ok || d == 'w' {
		return
	}
	for _, mb := range *m.members.Load() {
		if mb == from || mb.hold.Load() != nil || mb.detached.Load() {
			continue
		}
		mb.forward(d)
	}
}

// forward queues d for the member and starts its sender when idle.
func (mb *Member) forward(d rune) {
	mb.fwdMu.Lock()
	if len(mb.fwdQ) >= forwardQueue {
		mb.fwdMu.Unlock()
		mb.m.log.Warn("conference dtmf forward dropped: queue full", "rtp_port", mb.s.port, "digit", string(d))
		return
	}
	mb.fwdQ = append(mb.fwdQ, d)
	if mb.fwdRunning {
		mb.fwdMu.Unlock()
		return
	}
	mb.fwdRunning = true
	mb.fwdMu.Unlock()
	go mb.forwardLoop()
}

// forwardLoop sends the queued digits one by one.
func (mb *Member) forwardLoop() {
	for {
		mb.fwdMu.Lock()
		if len(mb.fwdQ) == 0 || mb.ctx.Err() != nil {
			mb.fwdQ = mb.fwdQ[:0]
			mb.fwdRunning = false
			mb.fwdMu.Unlock()
			return
		}
		d := mb.fwdQ[0]
		mb.fwdQ = append(mb.fwdQ[:0], mb.fwdQ[1:]...)
		mb.fwdMu.Unlock()
		if err := mb.s.SendDTMF(mb.ctx, string(d)); err != nil {
			mb.m.log.Debug("conference dtmf forward failed", "rtp_port", mb.s.port, "digit", string(d), "err", err)
		}
	}
}

// Session returns the member's session.
func (mb *Member) Session() *Session { return mb.s }

// SetMuted mutes or unmutes the member. A muted member is left out of what
// the others hear but still hears the room.
func (mb *Member) SetMuted(muted bool) { mb.muted.Store(muted) }

// Muted reports whether the member is muted.
func (mb *Member) Muted() bool { return mb.muted.Load() }

// SetHold puts the member on hold (music not nil) or resumes it (nil). A
// held member is left out both ways: the others do not hear it and it
// hears music instead of the room. music is called for a fresh Source when
// the hold starts and whenever the previous one ends (io.EOF), so a finite
// Source loops; a nil Source means silence. It runs on the mixer's clock
// goroutine and must return at once (MOH(class) does). Calling SetHold
// again with another function changes the music.
func (mb *Member) SetHold(music func() Source) {
	if music == nil {
		mb.hold.Store(nil)
		return
	}
	mb.hold.Store(&holdMusic{music: music})
}

// Held reports whether the member is on hold.
func (mb *Member) Held() bool { return mb.hold.Load() != nil }

// SetDetached detaches the member from the room (true) or reattaches it:
// a detached member is not heard and hears silence, e.g. while the call
// core collects DTMF digits from it. Forwarded digits skip it.
func (mb *Member) SetDetached(detached bool) { mb.detached.Store(detached) }

// Detached reports whether the member is detached.
func (mb *Member) Detached() bool { return mb.detached.Load() }

// Talking reports whether the room hears the member talk: not muted, held
// or detached, and its received audio was above -45 dBFS RMS in the last
// 200 ms.
func (mb *Member) Talking() bool { return mb.talking.Load() }

// Remove takes the member out of the mixer; the mixer sends it nothing
// more, and its session is free for another mixer or a bridge, with its
// own media clock again when it has taps. It waits for a tick in progress
// (see Mixer). It is idempotent and also happens, within a tick, when the
// session closes, and on Mixer.Close.
func (mb *Member) Remove() {
	m := mb.m
	m.mu.Lock()
	if mb.removed {
		m.mu.Unlock()
		return
	}
	mb.removed = true
	n := m.pruneLocked()
	m.mu.Unlock()
	m.tickMu.Lock() // after the tick in progress, which may still use mb
	mb.detach()
	m.tickMu.Unlock()
	m.log.Debug("conference member removed", "rtp_port", mb.s.port, "members", n)
}

// pruneLocked replaces the snapshot by the members not removed and returns
// their number. m.mu is held.
func (m *Mixer) pruneLocked() int {
	old := *m.members.Load()
	list := make([]*Member, 0, len(old))
	for _, mb := range old {
		if !mb.removed {
			list = append(list, mb)
		}
	}
	m.members.Store(&list)
	m.e.metrics.mixerMembers.Sub(float64(len(old) - len(list)))
	return len(list)
}

// detach releases a removed member's session and stops its forwards.
func (mb *Member) detach() {
	mb.cancel()
	mb.talking.Store(false)
	mb.s.leaveMixer(mb)
}

// reap removes the members whose session closed. It runs on the clock
// goroutine between ticks.
func (m *Mixer) reap() {
	var gone []*Member
	m.mu.Lock()
	for _, mb := range *m.members.Load() {
		if !mb.removed && mb.s.isClosed() {
			mb.removed = true
			gone = append(gone, mb)
		}
	}
	n := len(*m.members.Load())
	if len(gone) > 0 {
		n = m.pruneLocked()
	}
	m.mu.Unlock()
	for _, mb := range gone {
		mb.detach()
		m.log.Debug("conference member removed: session closed", "rtp_port", mb.s.port, "members", n)
	}
}

func (m *Mixer) now() time.Duration { return time.Since(m.epoch) }

// startClockLocked starts the clock goroutine unless it runs. m.mu is
// held.
func (m *Mixer) startClockLocked() {
	if m.running || m.closed || m.noClock {
		return
	}
	m.running = true
	m.done = make(chan struct{})
	go m.clockLoop(m.done)
}

// clockLoop is the mixer's clock goroutine. It ends when the mixer closes
// or has no member, and closes done.
func (m *Mixer) clockLoop(done chan struct{}) {
	defer close(done)
	var talkers int // what this goroutine added to the talkers gauge
	next := m.now() + FrameDuration
	for {
		if d := next - m.now(); d > 0 {
			m.timer.Reset(d)
			select {
			case <-m.timer.C:
			case <-m.stop:
				m.timer.Stop()
			}
		}
		if len(*m.members.Load()) == 0 || m.isClosed() {
			m.mu.Lock()
			if m.closed || len(*m.members.Load()) == 0 {
				m.e.metrics.talkers.Sub(float64(talkers))
				m.talkers.Store(0)
				m.running = false
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
		}
		start := m.now()
		m.tickMu.Lock()
		gone, n := m.tick(next)
		m.tickMu.Unlock()
		end := m.now()
		m.observe(next, start, end)
		if n != talkers {
			m.e.metrics.talkers.Add(float64(n - talkers))
			m.talkers.Store(int64(n))
			talkers = n
		}
		if gone {
			m.reap()
		}
		next += FrameDuration
		if now := m.now(); now-next > maxLag {
			skipped := uint64((now - next) / FrameDuration)
			m.late.Add(skipped)
			m.e.metrics.mixerLate.Add(float64(skipped))
			m.log.Warn("conference mixer fell behind: schedule restarted", "behind", now-next, "skipped_ticks", skipped)
			next = now
		}
	}
}

func (m *Mixer) isClosed() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// observe records one tick for slot at that ran from start to end.
func (m *Mixer) observe(at, start, end time.Duration) {
	work := end - start
	m.e.metrics.mixerTick.Observe(work.Seconds())
	m.ticks.Add(1)
	m.lastTick.Store(int64(work))
	if int64(work) > m.peakTick.Load() {
		m.peakTick.Store(int64(work))
	}
	if start-at > FrameDuration || end > at+FrameDuration {
		m.late.Add(1)
		m.e.metrics.mixerLate.Inc()
	}
}

// tick runs one 20 ms step for slot time at (mixer time): pop, mix, send,
// taps. It reports whether a member's session closed and how many members
// talk. It runs on the clock goroutine under tickMu and does not allocate.
func (m *Mixer) tick(at time.Duration) (gone bool, talkers int) {
	list := *m.members.Load()
	sum := &m.sum
	clear(sum[:])
	listeners := 0
	for _, mb := range list {
		s := mb.s
		if s.isClosed() {
			mb.gone, gone = true, true
			continue
		}
		mb.gone = false
		s.jbMu.Lock()
		st := s.clk.jb.Pop(mb.in[:], at+mb.off)
		s.jbMu.Unlock()
		mb.curHold = mb.hold.Load()
		mb.hears = mb.curHold == nil && !mb.detached.Load()
		heard := mb.hears && !mb.muted.Load()
		mb.contrib = heard && st != FrameSilence
		if mb.hears {
			listeners++
		}
		var energy int64
		if mb.contrib {
			for i, v := range mb.in {
				sum[i] += int32(v)
				energy += int64(v) * int64(v)
			}
		}
		switch {
		case !heard:
			mb.hang = 0
		case energy > talkEnergy:
			mb.hang = talkHangover
		case mb.hang > 0:
			mb.hang--
		}
		talking := mb.hang > 0
		if talking {
			talkers++
		}
		if mb.talking.Load() != talking {
			mb.talking.Store(talking)
		}
	}
	for _, mb := range list {
		if mb.gone {
			continue
		}
		switch {
		case mb.curHold != nil:
			mb.fill(playHold, mb.curHold, mb.curHold.music)
		case !mb.hears: // detached
			mb.stopPlay()
			clear(mb.out[:])
		case listeners == 1 && mb.alone != nil:
			mb.fill(playAlone, nil, mb.alone)
		default:
			mb.stopPlay()
			mixOut(&mb.out, sum, &mb.in, mb.contrib)
		}
		mb.send(at + mb.off)
	}
	return gone, talkers
}

// send sends the member's frame for session time at, unless a Play or
// SendDTMF owns the session's output, and calls the session's taps.
func (mb *Member) send(at time.Duration) {
	s := mb.s
	if s.outBusy.Load() {
		mb.busy = true
	} else {
		if seq := s.jobSeq.Load(); mb.busy || seq != mb.jobSeen {
			// A Play or SendDTMF ran since the last tick (or before the
			// session joined): start after its last frame.
			mb.busy, mb.jobSeen = false, seq
			s.txMu.Lock()
			mb.resumeAt = s.tx.lastEnd
			s.txMu.Unlock()
		}
		if at >= mb.resumeAt {
			s.sendAudio(mb.out[:], at, mixerOwner)
		}
	}
	l := s.taps.Load()
	if l == nil || len(*l) == 0 {
		if mb.capturing {
			mb.capturing = false
			s.txMu.Lock()
			s.tx.capture.active = false
			s.txMu.Unlock()
		}
		return
	}
	pos := toSamples(at) - txCaptureLag
	s.txMu.Lock()
	if !mb.capturing {
		mb.capturing = true
		s.tx.capture.reset(pos)
	}
	s.tx.capture.read(mb.tx[:], pos)
	s.txMu.Unlock()
	for _, t := range *l {
		if !t.removed.Load() && !s.isClosed() {
			t.fn(mb.in[:], mb.tx[:])
		}
	}
}

// fill reads one frame of the member's alone or hold source into out,
// getting a fresh Source from fn when none plays, the kind or the hold
// music changed, or the previous one ended. Missing samples are silent.
func (mb *Member) fill(kind playKind, hold *holdMusic, fn func() Source) {
	if mb.play != kind || mb.playHold != hold {
		mb.play, mb.playHold, mb.src = kind, hold, nil
	}
	n := 0
	for try := 0; n < FrameSamples && try < 2; try++ { // a source ending mid-frame is followed by a fresh one
		if mb.src == nil {
			if fn != nil {
				mb.src = fn()
			}
			if mb.src == nil {
				break
			}
		}
		k, err := readFrame(mb.src, mb.out[n:])
		n += k
		if err != nil {
			if !errors.Is(err, io.EOF) {
				mb.m.log.Warn("conference member audio source failed", "rtp_port", mb.s.port, "err", err)
			}
			mb.src = nil
			continue
		}
		if k == 0 {
			break // a source that gave nothing without EOF
		}
	}
	clear(mb.out[n:])
}

// stopPlay drops the member's alone or hold source.
func (mb *Member) stopPlay() {
	if mb.play != playNone {
		mb.play, mb.playHold, mb.src = playNone, nil, nil
	}
}

// mixOut writes sum minus own (when sub) into out, saturated to 16 bits.
func mixOut(out *[FrameSamples]int16, sum *[FrameSamples]int32, own *[FrameSamples]int16, sub bool) {
	if sub {
		for i := range out {
			out[i] = saturate16(sum[i] - int32(own[i]))
		}
		return
	}
	for i := range out {
		out[i] = saturate16(sum[i])
	}
}

// saturate16 clips v to the int16 range.
func saturate16(v int32) int16 {
	switch {
	case v > 32767:
		return 32767
	case v < -32768:
		return -32768
	}
	return int16(v)
}
