package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Audio taps and the session's 20 ms media clock.
//
// While at least one tap is installed (or a bridge with
// Options.BridgeJitterBuffer needs it), a session runs one clock goroutine.
// Every 20 ms it takes one frame of received audio out of the session's
// jitter buffer (rx), plays it out to the other leg of a jitter-buffered
// bridge, takes the frame of audio the session sent (tx) and calls the
// taps. The goroutine ends at the first tick after the last tap is removed
// or when the session closes.
//
// Alignment: rx is the jitter buffer's output, i.e. the peer's audio
// delayed by the playout delay (40 ms at least, see JitterBuffer); tx is
// the audio whose send slot lies 60 to 40 ms before the tick: two frames
// behind, so that a frame sent up to 40 ms late is still complete when it
// is read, and about as far behind as rx. When a
// session is bridged its tx is the other leg's voice, so one tap on one
// leg carries both sides of the conversation.

// txCaptureSamples is the size of the ring of sent audio (256 ms), a power
// of two: positions (which may be negative just after the epoch) are
// masked.
const (
	txCaptureSamples = 2048
	txCaptureMask    = txCaptureSamples - 1
	txCaptureLag     = 3 * FrameSamples // start of the frame read at a tick, before the tick
)

// tapEntry is one installed tap.
type tapEntry struct {
	fn      func(rx, tx []int16)
	removed atomic.Bool
}

// mediaClock is the state of the clock goroutine, allocated with the first
// tap and kept for the session's life.
type mediaClock struct {
	jb     *JitterBuffer // guarded by Session.jbMu
	rx, tx [FrameSamples]int16
	timer  *time.Timer
	done   chan struct{} // closed when the current clock goroutine ends
}

// Tap calls fn every 20 ms with 160 samples (8 kHz, 16-bit mono) of audio
// received from the peer (rx) and of audio this session sent to the peer
// (tx) in the same 20 ms; silence where nothing was received or sent.
//
// rx comes out of a jitter buffer at a steady 20 ms clock: reordered
// packets are put back in order, lost and late ones are concealed (the
// previous frame at half level, then a quarter, then silence). tx is what
// Play, in-band SendDTMF and a bridge's relay actually sent, decoded
// (telephone-event packets are not audio; nothing is sent on hold). When
// the session is bridged, tx is the other leg's voice; in a Mixer, it is
// what the mixer sent (the room without the session's own voice), and the
// mixer's clock calls fn instead of the session's. Several taps may be
// installed; they are called in the order they were installed.
//
// fn runs on one media goroutine per session (in a Mixer, the room's: a
// slow fn delays every member), must not block and must not keep the
// slices. remove is idempotent and may be called from fn (so may
// Close: neither waits for the media goroutine). Once remove or Close has
// returned, fn is not called again, except that a call already in progress
// on the media goroutine when remove or Close ran on another goroutine
// completes. Tap on a closed session installs nothing.
func (s *Session) Tap(fn func(rx, tx []int16)) (remove func()) {
	t := &tapEntry{fn: fn}
	s.tapMu.Lock()
	if s.isClosed() {
		s.tapMu.Unlock()
		return func() {}
	}
	var list []*tapEntry
	if old := s.taps.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, t)
	s.taps.Store(&list)
	s.tapSeq++
	s.startClockLocked()
	s.tapMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.removed.Store(true)
			s.tapMu.Lock()
			defer s.tapMu.Unlock()
			old := *s.taps.Load()
			list := make([]*tapEntry, 0, len(old))
			for _, o := range old {
				if o != t {
					list = append(list, o)
				}
			}
			s.taps.Store(&list)
		})
	}
}

// needClockLocked reports whether the clock must run. s.tapMu is held.
// It never must while the session is in a Mixer: the mixer's clock pops
// the jitter buffer and calls the taps then.
func (s *Session) needClockLocked() bool {
	if s.isClosed() || s.mixer.Load() != nil {
		return false
	}
	if l := s.taps.Load(); l != nil && len(*l) > 0 {
		return true
	}
	br := s.bridge.Load()
	return br != nil && br.jitter
}

// mediaClockLocked returns the session's clock state, creating it on first
// use. s.tapMu is held.
func (s *Session) mediaClockLocked() *mediaClock {
	if s.clk == nil {
		s.clk = &mediaClock{jb: NewJitterBuffer(s.e.opts.JitterBuffer), timer: time.NewTimer(time.Hour)}
		s.clk.timer.Stop()
	}
	return s.clk
}

// startClockLocked starts the clock goroutine unless it runs or the
// session is in a Mixer. s.tapMu is held.
func (s *Session) startClockLocked() {
	if s.clockRunning || s.isClosed() || s.mixer.Load() != nil {
		return
	}
	s.clockRunning = true
	s.mediaClockLocked().done = make(chan struct{})
	start := s.now()
	s.jbMu.Lock()
	s.clk.jb.Reset()
	s.jbMu.Unlock()
	s.txMu.Lock()
	if s.tx.capture == nil {
		s.tx.capture = &txCapture{}
	}
	s.tx.capture.reset(toSamples(start) - 2*FrameSamples)
	s.txMu.Unlock()
	s.jbOn.Store(true)
	go s.clockLoop(start, s.clk.done)
}

// clockLoop is the media clock goroutine. It closes done when it ends.
func (s *Session) clockLoop(start time.Duration, done chan struct{}) {
	defer close(done)
	c := s.clk
	next := start + FrameDuration
	for {
		if d := next - s.now(); d > 0 {
			c.timer.Reset(d)
			select {
			case <-c.timer.C:
			case <-s.closed:
				c.timer.Stop()
			}
		}
		s.tapMu.Lock()
		if !s.needClockLocked() {
			s.clockRunning = false
			if s.mixer.Load() == nil { // a mixer keeps feeding the jitter buffer and capture
				s.jbOn.Store(false)
				s.txMu.Lock()
				s.tx.capture.active = false
				s.txMu.Unlock()
			}
			s.tapMu.Unlock()
			return
		}
		s.tapMu.Unlock()
		s.tick(c, next)
		next += FrameDuration
		if now := s.now(); now-next > maxLag {
			next = now // overloaded host: restart the schedule
		}
	}
}

// tick runs one 20 ms step of the media clock at time at.
func (s *Session) tick(c *mediaClock, at time.Duration) {
	s.jbMu.Lock()
	st := c.jb.Pop(c.rx[:], at)
	s.jbMu.Unlock()
	if st != FrameSilence {
		if br := s.bridge.Load(); br != nil && br.jitter {
			br.playOut(s, c.rx[:], at)
		}
	}
	s.txMu.Lock()
	s.tx.capture.read(c.tx[:], toSamples(at)-txCaptureLag)
	s.txMu.Unlock()
	if l := s.taps.Load(); l != nil {
		for _, t := range *l {
			if !t.removed.Load() && !s.isClosed() {
				t.fn(c.rx[:], c.tx[:])
			}
		}
	}
}

// txCapture keeps the audio a session sent, by send time, for taps. It is
// guarded by Session.txMu.
type txCapture struct {
	ring    [txCaptureSamples]int16
	readPos int64 // samples (since the session's epoch) read so far
	// Relayed packets are placed by their RTP timestamp from the start of
	// the relayed talkspurt, so that arrival jitter does not garble them.
	anchorPos int64
	anchorTS  uint32
	anchored  bool
	active    bool // the clock runs; nothing is stored otherwise
	pcm       [FrameSamples]int16
}

func (c *txCapture) reset(pos int64) {
	clear(c.ring[:])
	c.readPos = pos
	c.anchored = false
	c.active = true
}

// write stores pcm sent for the slot starting at sample pos. Audio outside
// the ring's window (older than what was read, or too far ahead) is
// dropped.
func (c *txCapture) write(pos int64, pcm []int16) {
	if !c.active {
		return
	}
	for i, v := range pcm {
		p := pos + int64(i)
		if p >= c.readPos && p < c.readPos+txCaptureSamples {
			c.ring[p&txCaptureMask] = v
		}
	}
}

// writeRelay stores one relayed G.711 payload with our timestamp ts, sent
// at now.
func (c *txCapture) writeRelay(payload []byte, alaw bool, ts uint32, talkspurt bool, now time.Duration) {
	if !c.active {
		return
	}
	at := toSamples(now)
	pos := c.anchorPos + int64(int32(ts-c.anchorTS))
	if talkspurt || !c.anchored || pos < at-3*FrameSamples || pos > at+3*FrameSamples {
		c.anchorPos, c.anchorTS, c.anchored = at, ts, true // re-anchor on drift or a new source
		pos = at
	}
	for off := 0; off < len(payload); off += FrameSamples {
		chunk := payload[off:min(off+FrameSamples, len(payload))]
		pcm := c.pcm[:len(chunk)]
		if alaw {
			DecodeALaw(pcm, chunk)
		} else {
			DecodeULaw(pcm, chunk)
		}
		c.write(pos+int64(off), pcm)
	}
}

// read fills out with the audio of the slots from sample pos and clears
// them. Slots skipped since the last read are cleared too.
func (c *txCapture) read(out []int16, pos int64) {
	if gap := pos - c.readPos; gap >= txCaptureSamples {
		clear(c.ring[:])
	} else {
		for p := c.readPos; p < pos; p++ {
			c.ring[p&txCaptureMask] = 0
		}
	}
	for i := range out {
		p := (pos + int64(i)) & txCaptureMask
		out[i] = c.ring[p]
		c.ring[p] = 0
	}
	c.readPos = pos + int64(len(out))
}
