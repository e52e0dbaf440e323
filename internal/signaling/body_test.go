package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDTMFInfo(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		digit    string
		dur      time.Duration
		err      bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5", 160 * time.Millisecond, false},
		{"application/dtmf-relay", "signal= *\nduration=100", "*", 100 * time.Millisecond, false},
		{"Application/DTMF-Relay; charset=utf-8", "Signal=#", "#", 0, false},
		{"application/dtmf-relay", "Signal=11\r\n", "#", 0, false},
		{"application/dtmf-relay", "Signal=10\r\n", "*", 0, false},
		{"application/dtmf-relay", "Signal=12\r\n", "A", 0, false},
		{"application/dtmf-relay", "Signal=15\r\n", "D", 0, false},
		{"application/dtmf-relay", "Signal=d\r\n", "D", 0, false},
		{"application/dtmf-relay", "\r\nSignal=0\r\n\r\n", "0", 0, false},
		{"application/dtmf", "7", "7", 0, false},
		{"application/dtmf", " 9\r\n", "9", 0, false},
		{"application/dtmf-relay", "Duration=160", "", 0, true},
		{"application/dtmf-relay", "Signal=E", "", 0, true},
		{"application/dtmf-relay", "Signal=55", "", 0, true},
		{"application/dtmf-relay", "Signal=1\r\nDuration=-5", "", 0, true},
		{"application/dtmf-relay", "Signal=1\r\nDuration=abc", "", 0, true},
		{"application/dtmf-relay", "garbage", "", 0, true},
		{"application/dtmf", "", "", 0, true},
		{"application/dtmf", "12", "A", 0, false},
		{"application/dtmf", "16", "", 0, true},
		{"text/plain", "Signal=5", "", 0, true},
		{"", "Signal=5", "", 0, true},
	} {
		digit, dur, err := ParseDTMFInfo(tc.ct, []byte(tc.body))
		if tc.err {
			assert.Error(t, err, "%q %q", tc.ct, tc.body)
			continue
		}
		require.NoError(t, err, "%q %q", tc.ct, tc.body)
		assert.Equal(t, tc.digit, digit)
		assert.Equal(t, tc.dur, dur)
	}
	_, _, err := ParseDTMFInfo("text/plain", []byte("x"))
	require.ErrorIs(t, err, errNotDTMF)
}

const multipartBody = "--unique-boundary-1\r\n" +
	"Content-Type: application/isup;version=itu-t92+\r\n\r\n" +
	"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\r\n" +
	"--unique-boundary-1\r\n" +
	"Content-Type: application/sdp\r\n\r\n" +
	offerSDP +
	"\r\n--unique-boundary-1--\r\n"

func TestExtractSDP(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body, want string
		err                  bool
	}{
		{"sdp", "application/sdp", offerSDP, offerSDP, false},
		{"sdp params", "application/SDP; charset=x", offerSDP, offerSDP, false},
		{"no content type", "", offerSDP, offerSDP, false},
		{"empty", "application/sdp", "", "", false},
		{"multipart", `multipart/mixed; boundary="unique-boundary-1"`, multipartBody, offerSDP, false},
		{"multipart without sdp", "multipart/mixed;boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n", "", true},
		{"multipart without boundary", "multipart/mixed", multipartBody, "", true},
		{"broken multipart", "multipart/mixed;boundary=b", "garbage", "", true},
		{"other type", "text/plain", "hello", "", true},
		{"bad type", "a/b/c;;", "x", "", true},
		{"too large", "application/sdp", strings.Repeat("a", maxSDP+1), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractSDP(tc.ct, []byte(tc.body))
			if tc.err {
				require.ErrorIs(t, err, errUnsupportedBody)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestParseSIPTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		secure   bool
		err      bool
	}{
		{"46708000000@sip.foo.com", "sip:46708000000@sip.foo.com", false, false},
		{"sip:alice@10.0.0.1:5070", "sip:alice@10.0.0.1:5070", false, false},
		{"SIP:alice@example.com;transport=tcp;user=phone", "sip:alice@example.com;user=phone", false, false},
		{"sips:bob@example.com", "sip:bob@example.com", true, false},
		{"example.com", "sip:example.com", false, false},
		{"  carol@example.com ", "sip:carol@example.com", false, false},
		{"sip:", "", false, true},
		{"a@", "", false, true},
		{"a b@host", "", false, true},
		{"a@ho st", "", false, true},
		{"", "", false, true},
		{"@@", "", false, true},
		{"a@-bad.com", "", false, true},
		{"a@[::1]:5060", "sip:a@[::1]:5060", false, false},
		{"a@::1", "", false, true},
	} {
		u, secure, err := parseSIPTarget(tc.in)
		if tc.err {
			require.ErrorIs(t, err, ErrInvalidDial, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, u.String(), tc.in)
		assert.Equal(t, tc.secure, secure, tc.in)
	}
}

func TestHeaderAndUserValidation(t *testing.T) {
	require.NoError(t, validateHeaders([]Header{{"X-Foo", "bar baz"}, {"P-Asserted-Identity", "<sip:+1@x>"}, {"User-to-User", "abc;encoding=hex"}}))
	for _, h := range []Header{{"", "x"}, {"X Foo", "x"}, {"X:Foo", "x"}, {"Call-ID", "x"}, {"i", "x"}, {"X-A", "a\nb"},
		{"X-A", "a\x00"}, {"X-A", strings.Repeat("a", maxHeaderValue+1)}} {
		require.ErrorIs(t, validateHeaders([]Header{h}), ErrInvalidDial, h.Key)
	}
	for s, ok := range map[string]bool{"alice": true, "+4670": true, "a%20b": true, "a%2": false, "a b": false, "": false, "a@b": false, "a;b=c": true} {
		assert.Equal(t, ok, isUserPart(s), s)
	}
	for s, want := range map[string]string{"+46708000000": "+46708000000", "46708000000": "+46708000000", "1": "+1"} {
		got, ok := e164User(s)
		assert.True(t, ok, s)
		assert.Equal(t, want, got)
	}
	for _, s := range []string{"", "+", "12a", "1234567890123456", "++1"} {
		_, ok := e164User(s)
		assert.False(t, ok, s)
	}
	assert.Equal(t, -1, commaOutsideQuotes(`"a,b" <sip:x@y;p=1,2>`))
	assert.Equal(t, 9, commaOutsideQuotes(`<sip:x@y>, <sip:z@w>`))
}
