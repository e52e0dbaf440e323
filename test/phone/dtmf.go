package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RFC 4733 §3.2 telephone-event payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Events 0-9 are the digits, 10 is '*', 11 is '#', 12-15 are A-D
// (RFC 4733 §3.2, table 7).

const (
	telephoneEventSize = 4
	// dtmfVolume is the power level sent, in -dBm0 (RFC 4733 §2.5.2.2).
	dtmfVolume = 10
)

var errNotDigit = errors.New("not a DTMF digit")

// telephoneEvent is one decoded RFC 4733 payload.
type telephoneEvent struct {
	event    uint8
	end      bool
	volume   uint8
	duration uint16
}

// parseTelephoneEvent decodes the first event of an RFC 4733 payload.
// Trailing bytes (redundant events, RFC 4733 §2.5.1.3 uses RFC 2198 for
// them, which this phone does not negotiate) are ignored.
func parseTelephoneEvent(b []byte) (telephoneEvent, error) {
	if len(b) < telephoneEventSize {
		return telephoneEvent{}, fmt.Errorf("telephone-event payload of %d bytes, want %d", len(b), telephoneEventSize)
	}
	return telephoneEvent{
		event:    b[0],
		end:      b[1]&0x80 != 0,
		volume:   b[1] & 0x3F,
		duration: uint16(b[2])<<8 | uint16(b[3]),
	}, nil
}

// marshal writes e into b (at least 4 bytes).
func (e telephoneEvent) marshal(b []byte) {
	b[0] = e.event
	b[1] = e.volume & 0x3F
	if e.end {
		b[1] |= 0x80
	}
	b[2] = byte(e.duration >> 8)
	b[3] = byte(e.duration)
}

// digitEvent maps a DTMF digit to its RFC 4733 event code.
func digitEvent(d byte) (uint8, error) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', nil
	case d == '*':
		return 10, nil
	case d == '#':
		return 11, nil
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', nil
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', nil
	}
	return 0, fmt.Errorf("%q: %w", d, errNotDigit)
}

// eventDigit maps an RFC 4733 event code to its digit.
func eventDigit(e uint8) (byte, bool) {
	switch {
	case e <= 9:
		return '0' + e, true
	case e == 10:
		return '*', true
	case e == 11:
		return '#', true
	case e >= 12 && e <= 15:
		return 'A' + e - 12, true
	}
	return 0, false
}

// validateDigits checks that every byte of digits is a DTMF digit.
func validateDigits(digits string) error {
	if digits == "" {
		return errors.New("no digits")
	}
	for i := 0; i < len(digits); i++ {
		if _, err := digitEvent(digits[i]); err != nil {
			return err
		}
	}
	return nil
}

// parseDTMFInfo extracts the digit of a SIP INFO body. It understands
// application/dtmf-relay ("Signal=5\r\nDuration=160") and application/dtmf
// (the digit alone, or its event number). The Signal value may be the digit
// or its RFC 4733 event number (10 for '*', 11 for '#').
func parseDTMFInfo(contentType string, body []byte) (byte, error) {
	ct, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	ct = strings.TrimSpace(ct)
	if len(body) > 1024 {
		return 0, fmt.Errorf("dtmf info body of %d bytes is too large", len(body))
	}
	switch ct {
	case "application/dtmf-relay":
		for line := range strings.Lines(string(body)) {
			k, v, ok := strings.Cut(line, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "signal") {
				continue
			}
			return signalDigit(strings.TrimSpace(v))
		}
		return 0, errors.New("dtmf-relay body without Signal")
	case "application/dtmf":
		return signalDigit(strings.TrimSpace(string(body)))
	}
	return 0, fmt.Errorf("content type %q does not carry DTMF", ct)
}

func signalDigit(v string) (byte, error) {
	if len(v) == 1 {
		if _, err := digitEvent(v[0]); err == nil {
			if v[0] >= 'a' && v[0] <= 'd' {
				return v[0] - 'a' + 'A', nil
			}
			return v[0], nil
		}
	}
	n, err := strconv.Atoi(v)
	if err == nil && n >= 0 && n <= 15 {
		d, _ := eventDigit(uint8(n))
		return d, nil
	}
	return 0, fmt.Errorf("signal %q: %w", truncate(v), errNotDigit)
}
