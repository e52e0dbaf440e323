package media

import (
	"context"
	"fmt"
	"math"
	"time"
)

// DTMF per RFC 4733 (telephone-event) with an in-band fallback.
//
// Sending: each digit is one event of 100 ms. The first packet has the
// marker bit; updates follow every 20 ms with the growing duration, all with
// the timestamp of the event start (RFC 4733 §2.5.1.2); then three end
// packets with the E bit and the final duration 800 (§2.5.1.4). Digits are
// 60 ms apart; 'w' pauses 500 ms. When the peer negotiated no
// telephone-event the digits are sent in band as ITU-T Q.23 dual tones
// (100 ms tone, 60 ms silence, silence frames for 'w') in the audio codec.
//
// Receiving: a digit is reported on the first packet of an event, whatever
// its flags, and never again for the same (SSRC, timestamp): lost start or
// end packets and retransmitted end packets yield exactly one digit.
//
// In-band digits (Options.InbandDTMF) are found by a DTMFDetector in the
// decoded received audio, in sequence order (late and repeated packets are
// skipped). Many phones send a key both as RFC 4733 events and as audio;
// the exact rule that reports it once is:
//
//  1. from the first telephone-event packet the session receives (any
//     SSRC), in-band detection is off for the rest of the session: the
//     peer signals its digits out of band;
//  2. an RFC 4733 digit that arrives within 1 s (inbandEventWindow) of an
//     in-band report of the same digit is the same key press heard in band
//     first (its first event packets were lost or late) and is not
//     reported again.

const (
	// inbandEventWindow is how long after an in-band digit an RFC 4733
	// event of the same digit counts as the same key press.
	inbandEventWindow = time.Second

	dtmfToneDuration = 100 * time.Millisecond
	dtmfGap          = 60 * time.Millisecond
	dtmfPause        = 500 * time.Millisecond
	dtmfEndPackets   = 3
	dtmfVolume       = 10 // -10 dBm0, RFC 4733 §2.3.4
)

// normalizeDigit maps a DTMF character to its canonical form ('0'-'9', '*',
// '#', 'A'-'D', 'w' for a pause).
func normalizeDigit(r rune) (rune, bool) {
	switch {
	case r >= '0' && r <= '9', r == '*', r == '#', r >= 'A' && r <= 'D':
		return r, true
	case r >= 'a' && r <= 'd':
		return r - 'a' + 'A', true
	case r == 'w' || r == 'W':
		return 'w', true
	}
	return 0, false
}

// eventCode is the RFC 4733 §3.2 event code of a digit.
func eventCode(d rune) uint8 {
	switch {
	case d >= '0' && d <= '9':
		return uint8(d - '0')
	case d == '*':
		return 10
	case d == '#':
		return 11
	default:
		return uint8(d-'A') + 12
	}
}

// eventDigit is the inverse of eventCode; ok is false for events that are
// not DTMF digits (flash and others).
func eventDigit(code uint8) (rune, bool) {
	switch {
	case code <= 9:
		return rune('0' + code), true
	case code == 10:
		return '*', true
	case code == 11:
		return '#', true
	case code <= 15:
		return rune('A' + code - 12), true
	}
	return 0, false
}

// dtmfFreqs are the Q.23 row and column frequencies of a digit.
func dtmfFreqs(d rune) (float64, float64) {
	rows := [4]float64{697, 770, 852, 941}
	cols := [4]float64{1209, 1336, 1477, 1633}
	var r, c int
	switch d {
	case '1', '2', '3', 'A':
		r = 0
	case '4', '5', '6', 'B':
		r = 1
	case '7', '8', '9', 'C':
		r = 2
	default: // * 0 # D
		r = 3
	}
	switch d {
	case '1', '4', '7', '*':
		c = 0
	case '2', '5', '8', '0':
		c = 1
	case '3', '6', '9', '#':
		c = 2
	default:
		c = 3
	}
	return rows[r], cols[c]
}

// ValidateDTMF checks a DTMF string for SendDTMF and returns it normalized
// (upper-case A-D, 'w' for pauses).
func ValidateDTMF(digits string) (string, error) {
	out := make([]rune, 0, len(digits))
	for i, r := range digits {
		d, ok := normalizeDigit(r)
		if !ok {
			return "", fmt.Errorf("%w: %q at position %d (want 0-9 * # A-D w)", ErrInvalidDigit, r, i)
		}
		out = append(out, d)
	}
	return string(out), nil
}

// SendDTMF sends digits (0-9 * # A-D, w = 500 ms pause) as RFC 4733 events,
// or in band when the peer negotiated no telephone-event, and blocks until
// they are sent. Like Play it takes over the outgoing audio (preempting a
// running Play or SendDTMF) and returns the context's error, ErrPreempted or
// ErrClosed when stopped. Invalid digits fail with ErrInvalidDigit before
// anything is sent.
func (s *Session) SendDTMF(ctx context.Context, digits string) error {
	norm, err := ValidateDTMF(digits)
	if err != nil {
		return err
	}
	if s.neg.Load() == nil {
		return ErrNoRemote
	}
	job, err := s.beginOutput(ctx)
	if err != nil {
		return err
	}
	defer s.endOutput(job)
	slot := s.firstSlot()
	for _, d := range norm {
		n := s.neg.Load()
		switch {
		case d == 'w' && n.Events:
			slot += dtmfPause
			if err := s.waitSlot(ctx, job, slot); err != nil {
				return err
			}
		case d == 'w':
			if slot, err = s.sendSilence(ctx, job, slot, dtmfPause); err != nil {
				return err
			}
		case n.Events:
			if slot, err = s.sendEvent(ctx, job, slot, eventCode(d)); err != nil {
				return err
			}
		default:
			if slot, err = s.sendToneDigit(ctx, job, slot, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendEvent sends one RFC 4733 event starting at slot and returns the slot
// of the next digit.
func (s *Session) sendEvent(ctx context.Context, job *outputJob, slot time.Duration, code uint8) (time.Duration, error) {
	start := slot
	frames := int(dtmfToneDuration / FrameDuration)
	var ts uint32
	for k := range frames {
		if err := s.waitSlot(ctx, job, slot); err != nil {
			return slot, err
		}
		dur := uint16((k + 1) * FrameSamples)
		if k == 0 {
			ts = s.eventPacket(code, false, dur, start, job.id, true, 0)
		} else {
			s.eventPacket(code, false, dur, start, job.id, false, ts)
		}
		slot += FrameDuration
	}
	if err := s.waitSlot(ctx, job, slot); err != nil {
		return slot, err
	}
	for range dtmfEndPackets {
		s.eventPacket(code, true, uint16(frames*FrameSamples), start, job.id, false, ts)
	}
	return start + dtmfToneDuration + dtmfGap, nil
}

// eventPacket sends one telephone-event packet. For the first packet of an
// event it stamps a new timestamp (returned); later packets reuse ts.
func (s *Session) eventPacket(code uint8, end bool, duration uint16, start time.Duration, owner uint64, first bool, ts uint32) uint32 {
	n := s.neg.Load()
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if first {
		ts, _ = s.tx.stamp(start, owner)
	}
	s.tx.lastEnd = start + time.Duration(duration)*time.Second/SampleRate
	if n == nil || !n.CanSend() || !n.Events {
		return ts
	}
	p := s.tx.buf[12:16]
	p[0] = code
	p[1] = dtmfVolume
	if end {
		p[1] |= 0x80
	}
	p[2], p[3] = byte(duration>>8), byte(duration)
	s.writeLocked(n.EventPT, ts, first, 4, n.Remote)
	return ts
}

// sendToneDigit sends one in-band DTMF digit: 100 ms of the dual tone and
// 60 ms of silence.
func (s *Session) sendToneDigit(ctx context.Context, job *outputJob, slot time.Duration, d rune) (time.Duration, error) {
	lo, hi := dtmfFreqs(d)
	frame := job.pcm[:]
	var phLo, phHi float64
	for range int(dtmfToneDuration / FrameDuration) {
		for i := range frame {
			frame[i] = int16(math.Round(7000*math.Sin(phLo) + 7000*math.Sin(phHi)))
			phLo += 2 * math.Pi * lo / SampleRate
			phHi += 2 * math.Pi * hi / SampleRate
		}
		if err := s.waitSlot(ctx, job, slot); err != nil {
			return slot, err
		}
		s.sendAudio(frame, slot, job.id)
		slot = s.nextSlot(slot)
	}
	return s.sendSilence(ctx, job, slot, dtmfGap)
}

// sendSilence sends d of silence frames from slot.
func (s *Session) sendSilence(ctx context.Context, job *outputJob, slot, d time.Duration) (time.Duration, error) {
	frame := job.pcm[:]
	clear(frame)
	for range int(d / FrameDuration) {
		if err := s.waitSlot(ctx, job, slot); err != nil {
			return slot, err
		}
		s.sendAudio(frame, slot, job.id)
		slot = s.nextSlot(slot)
	}
	return slot, nil
}

// dtmfReceiver turns telephone-event packets into digits, once per event.
type dtmfReceiver struct {
	seen [16]eventKey
	next int
}

type eventKey struct {
	ssrc, ts uint32
	valid    bool
}

// handle returns the digit of a telephone-event payload the first time its
// event (SSRC and timestamp) is seen.
func (r *dtmfReceiver) handle(ssrc, ts uint32, payload []byte) (rune, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	d, ok := eventDigit(payload[0])
	if !ok {
		return 0, false
	}
	k := eventKey{ssrc: ssrc, ts: ts, valid: true}
	for _, e := range r.seen {
		if e == k {
			return 0, false
		}
	}
	r.seen[r.next] = k
	r.next = (r.next + 1) % len(r.seen)
	return d, true
}

// eventDigit reports a digit received as an RFC 4733 event, unless the
// same key press was just reported in band. It runs in the read goroutine.
func (s *Session) eventDigit(d rune, now time.Duration) {
	if s.rx.inbandDigit == d && now-s.rx.inbandAt < inbandEventWindow {
		s.rx.inbandDigit = 0
		s.log.Debug("dtmf event ignored: the digit was already detected in band", "digit", string(d))
		return
	}
	s.deliverDigit(d, "rfc4733")
}

// inbandDigit reports a digit detected in the received audio. It runs in
// the read goroutine.
func (s *Session) inbandDigit(d rune, now time.Duration) {
	s.rx.inbandDigit, s.rx.inbandAt = d, now
	s.deliverDigit(d, "inband")
}
