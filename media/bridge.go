package media

import (
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// Bridge relays RTP between two sessions of one engine: audio is
// transcoded PCMU<->PCMA when the legs negotiated different codecs (one
// table lookup per byte, same packet size), telephone-events pass through
// with the receiving leg's payload type (and are dropped towards a leg that
// negotiated none; the digits still appear on the sending leg's Digits).
// Packets are relayed as they arrive, re-stamped into the receiving leg's
// own SSRC, sequence and timestamp space. While a Play or SendDTMF runs on a
// leg, what that leg hears is the played audio: packets from the other leg
// are dropped until Play returns. A held leg receives nothing.
//
// With Options.BridgeJitterBuffer, audio is not relayed as it arrives:
// each leg's received audio goes through its jitter buffer and is played
// out to the other leg on the receiving leg's 20 ms media clock (encoded
// in the other leg's codec; concealed frames are sent, silence is not);
// telephone-events are still relayed at once.
type Bridge struct {
	a, b     *Session
	jitter   bool // Options.BridgeJitterBuffer
	stopOnce sync.Once
	done     chan struct{}
}

// Bridge connects a and b. Each session can be in one bridge at a time
// and not in a Mixer; Bridge fails with ErrBridged otherwise, and with
// ErrClosed for a closed session. (A method on Engine because the
// package's Bridge type takes the name.)
func (e *Engine) Bridge(a, b *Session) (*Bridge, error) {
	if a == nil || b == nil || a == b {
		return nil, fmt.Errorf("%w: a bridge needs two different sessions", ErrBridged)
	}
	if a.e != e || b.e != e {
		return nil, fmt.Errorf("media: bridge sessions of another engine")
	}
	if a.isClosed() || b.isClosed() {
		return nil, ErrClosed
	}
	br := &Bridge{a: a, b: b, jitter: e.opts.BridgeJitterBuffer, done: make(chan struct{})}
	if !a.bridge.CompareAndSwap(nil, br) {
		return nil, fmt.Errorf("%w: first session", ErrBridged)
	}
	if !b.bridge.CompareAndSwap(nil, br) {
		a.bridge.CompareAndSwap(br, nil)
		return nil, fmt.Errorf("%w: second session", ErrBridged)
	}
	if a.mixer.Load() != nil || b.mixer.Load() != nil { // Mixer.Add sets mixer, then checks bridge
		a.bridge.CompareAndSwap(br, nil)
		b.bridge.CompareAndSwap(br, nil)
		return nil, fmt.Errorf("%w: a session is in a conference mixer", ErrBridged)
	}
	if br.jitter {
		for _, s := range []*Session{a, b} {
			s.tapMu.Lock()
			s.startClockLocked()
			s.tapMu.Unlock()
		}
	}
	a.log.Debug("rtp bridge started", "peer_port", b.port, "jitter_buffer", br.jitter)
	b.log.Debug("rtp bridge started", "peer_port", a.port, "jitter_buffer", br.jitter)
	return br, nil
}

// Stop ends the relay in both directions. It is idempotent and also runs
// when either session closes. (With a jitter buffer, each leg's media clock
// stops at its next tick unless taps still need it.)
func (br *Bridge) Stop() {
	br.stopOnce.Do(func() {
		br.a.bridge.CompareAndSwap(br, nil)
		br.b.bridge.CompareAndSwap(br, nil)
		close(br.done)
	})
}

// Done is closed when the bridge stops.
func (br *Bridge) Done() <-chan struct{} { return br.done }

// jitterRelayOwner owns the outgoing stream while a jitter-buffered bridge
// plays out (see txState.owner).
const jitterRelayOwner = relayOwner | 1<<62

// relay forwards one packet received by from to the other leg. It runs in
// from's read goroutine.
func (br *Bridge) relay(from *Session, kind packetKind, codec string, h *rtp.Header, payload []byte, now time.Duration) {
	to := br.b
	if from == br.b {
		to = br.a
	}
	if to.outBusy.Load() || len(payload) == 0 || len(payload) > rtpBufSize-12 {
		return
	}
	n := to.neg.Load()
	if n == nil || !n.CanSend() {
		return
	}
	var (
		pt   uint8
		conv *[256]uint8
		dur  = FrameDuration
	)
	switch kind {
	case kindAudio:
		pt = n.Codec.PT
		dur = time.Duration(len(payload)) * time.Second / SampleRate
		switch {
		case codec == codecPCMU && n.Codec.Name == codecPCMA:
			conv = &ulawToALawTable
		case codec == codecPCMA && n.Codec.Name == codecPCMU:
			conv = &alawToULawTable
		}
	case kindEvent:
		if !n.Events {
			return
		}
		pt = n.EventPT
	default:
		return
	}
	// The receiving leg's clock runs on its own time base.
	to.relayOut(n, h.SSRC, h.Timestamp, h.Marker, pt, payload, conv, now+from.epoch.Sub(to.epoch), dur)
}

// playOut sends one frame of from's jitter-buffered audio, played out at
// from's tick at, to the other leg. It runs on from's media clock.
func (br *Bridge) playOut(from *Session, pcm []int16, at time.Duration) {
	to := br.b
	if from == br.b {
		to = br.a
	}
	if to.outBusy.Load() {
		return
	}
	// The receiving leg's clock runs on its own time base.
	to.sendAudio(pcm, at+from.epoch.Sub(to.epoch), jitterRelayOwner)
}
