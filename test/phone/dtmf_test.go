package phone

import (
	"time"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTelephoneEventRoundTrip(t *testing.T) {
	for _, d := range []byte("0123456789*#ABCD") {
		ev, err := digitEvent(d)
		require.NoError(t, err)
		var b [4]byte
		telephoneEvent{event: ev, end: true, volume: 10, duration: 800}.marshal(b[:])
		got, err := parseTelephoneEvent(b[:])
		require.NoError(t, err)
		assert.Equal(t, telephoneEvent{event: ev, end: true, volume: 10, duration: 800}, got)
		back, ok := eventDigit(got.event)
		require.True(t, ok)
		assert.Equal(t, d, back)
	}
	// RFC 4733 §3.2: '*' is 10, '#' is 11, A is 12.
	b := []byte{11, 0x8A, 0x03, 0x20}
	got, err := parseTelephoneEvent(b)
	require.NoError(t, err)
	assert.Equal(t, telephoneEvent{event: 11, end: true, volume: 10, duration: 800}, got)

	_, err = parseTelephoneEvent([]byte{1, 2, 3})
	require.Error(t, err)
	_, ok := eventDigit(16) // flash: not a digit
	assert.False(t, ok)
	_, err = digitEvent('x')
	require.ErrorIs(t, err, errNotDigit)
}

func TestParseDTMFInfo(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           byte
		wantErr        bool
	}{
		{"dtmf-relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', false},
		{"dtmf-relay star by number", "application/dtmf-relay", "Signal=10\r\nDuration=160\r\n", '*', false},
		{"dtmf-relay hash", "Application/DTMF-Relay; charset=x", "signal= #\nDuration=100", '#', false},
		{"dtmf-relay lower-case letter", "application/dtmf-relay", "Signal=b\r\n", 'B', false},
		{"dtmf body", "application/dtmf", "11", '#', false},
		{"dtmf body digit", "application/dtmf", "7\r\n", '7', false},
		{"no signal", "application/dtmf-relay", "Duration=160\r\n", 0, true},
		{"bad signal", "application/dtmf-relay", "Signal=x\r\n", 0, true},
		{"out of range", "application/dtmf", "16", 0, true},
		{"other content", "application/media_control+xml", "<x/>", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDTMFInfo(tt.ct, []byte(tt.body))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidateDigits(t *testing.T) {
	require.NoError(t, validateDigits("0123456789*#ABCDabcd"))
	require.Error(t, validateDigits(""))
	require.ErrorIs(t, validateDigits("12e"), errNotDigit)
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("11"))
	f.Add("application/dtmf-relay;x=y", []byte("signal=*\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, err := parseDTMFInfo(ct, body)
		if err != nil {
			return
		}
		if _, err := digitEvent(d); err != nil || (d >= 'a' && d <= 'd') {
			t.Fatalf("parsed %q, not a canonical digit", d)
		}
	})
}

func FuzzParseTelephoneEvent(f *testing.F) {
	f.Add([]byte{11, 0x8A, 0x03, 0x20})
	f.Add([]byte{1, 0x0A, 0x00, 0xA0, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseTelephoneEvent(b)
		if err != nil {
			if len(b) >= telephoneEventSize {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		var out [4]byte
		ev.marshal(out[:])
		// The reserved bit is dropped; everything else round-trips.
		if out[0] != b[0] || out[1] != b[1]&^0x40 || out[2] != b[2] || out[3] != b[3] {
			t.Fatalf("round trip %x → %x", b[:4], out)
		}
	})
}

func TestDualToneHasRowAndColumn(t *testing.T) {
	all := []float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}
	for _, tc := range []struct {
		digit    byte
		row, col float64
	}{{'1', 697, 1209}, {'5', 770, 1336}, {'9', 852, 1477}, {'#', 941, 1477}, {'0', 941, 1336}, {'D', 941, 1633}} {
		pcm := DualTone(tc.digit, 100*time.Millisecond, 11600)
		require.Len(t, pcm, 800)
		var rest []float64
		for _, f := range all {
			if f != tc.row && f != tc.col {
				rest = append(rest, f)
			}
		}
		for _, f := range rest {
			require.Less(t, Goertzel(pcm, 8000, f)*20, Goertzel(pcm, 8000, tc.row), "digit %c: %v Hz vs row", tc.digit, f)
			require.Less(t, Goertzel(pcm, 8000, f)*20, Goertzel(pcm, 8000, tc.col), "digit %c: %v Hz vs col", tc.digit, f)
		}
	}
	require.Nil(t, DualTone('x', time.Second, 1))
}
