package signaling

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf-relay; x=y", []byte("Signal=11\nDuration=0"))
	f.Add("text/plain", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		digit, dur, err := ParseDTMFInfo(ct, body)
		if err != nil {
			if digit != "" {
				t.Fatalf("digit %q with error %v", digit, err)
			}
			return
		}
		if len(digit) != 1 || !strings.Contains("0123456789*#ABCD", digit) {
			t.Fatalf("bad digit %q", digit)
		}
		if dur < 0 {
			t.Fatalf("negative duration %v", dur)
		}
	})
}

func FuzzExtractSDP(f *testing.F) {
	f.Add("application/sdp", []byte(offerSDP))
	f.Add(`multipart/mixed; boundary="unique-boundary-1"`, []byte(multipartBody))
	f.Add("multipart/related;boundary=b", []byte("--b\r\n\r\n--b--"))
	f.Add("", []byte("v=0"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		sdp, err := ExtractSDP(ct, body)
		if err != nil {
			return
		}
		if len(sdp) > maxSDP {
			t.Fatalf("SDP of %d bytes", len(sdp))
		}
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/") && !bytes.Equal(sdp, body) && len(body) > 0 {
			t.Fatalf("single-part body altered")
		}
	})
}

func FuzzParseSIPTarget(f *testing.F) {
	for _, s := range []string{"46708000000@sip.foo.com", "sips:bob@example.com:5061;transport=tls", "sip:a@[::1]:5060", "a@b?x=y", "sip:@", "%41@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, _, err := parseSIPTarget(s)
		if err != nil {
			return
		}
		if u.Host == "" {
			t.Fatalf("accepted %q without host", s)
		}
		if v, ok := u.UriParams.Get("transport"); ok {
			t.Fatalf("transport param %q kept from %q", v, s)
		}
		// What we accept must survive a round trip through sipgo.
		var back sip.Uri
		if err := sip.ParseUri(u.String(), &back); err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, u.String(), err)
		}
		if back.User != u.User || back.Host != u.Host || back.Port != u.Port {
			t.Fatalf("%q -> %q -> %+v", s, u.String(), back)
		}
	})
}

func FuzzNonceCheck(f *testing.F) {
	n, err := newNonceSource()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(n.issue())
	f.Add("")
	f.Add(strings.Repeat("f", 48))
	f.Fuzz(func(t *testing.T, s string) {
		valid, fresh := n.check(s)
		if fresh && !valid {
			t.Fatal("fresh but not valid")
		}
	})
}

func FuzzAddressHeader(f *testing.F) {
	f.Add(`"Bob" <sip:+15557770000@gw;user=phone>;reason=unconditional, <sip:x@y>`)
	f.Add(`<tel:+1555>`)
	f.Add(`sip:a@b`)
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return
		}
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "h"})
		req.AppendHeader(sip.NewHeader("Diversion", v))
		in := &Inbound{req: req}
		_ = in.RedirectingNumber()
		if i := commaOutsideQuotes(v); i >= len(v) {
			t.Fatalf("comma index %d out of range", i)
		}
	})
}
