package signaling

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Header is one SIP header as a key/value pair (Sinch callHeaders).
type Header struct {
	Key   string
	Value string
}

// reservedHeaders are built by the dialog layer; a DialRequest may not set
// them.
var reservedHeaders = map[string]bool{
	"via": true, "v": true, "from": true, "f": true, "to": true, "t": true, "call-id": true, "i": true,
	"cseq": true, "contact": true, "m": true, "max-forwards": true, "content-type": true, "c": true,
	"content-length": true, "l": true, "route": true, "record-route": true, "authorization": true,
	"proxy-authorization": true, "privacy": true, "require": true, "expires": true,
}

const maxHeaderValue = 1024

// validateHeaders checks DialRequest headers: a token name that the
// dialog layer does not own, and a value without control characters.
func validateHeaders(hs []Header) error {
	for _, h := range hs {
		if !isToken(h.Key) {
			return fmt.Errorf("%w: header name %q", ErrInvalidDial, truncate(h.Key))
		}
		if reservedHeaders[strings.ToLower(h.Key)] {
			return fmt.Errorf("%w: header %q is set by the SIP layer", ErrInvalidDial, h.Key)
		}
		if len(h.Value) > maxHeaderValue {
			return fmt.Errorf("%w: header %q longer than %d bytes", ErrInvalidDial, h.Key, maxHeaderValue)
		}
		for i := 0; i < len(h.Value); i++ {
			if c := h.Value[i]; c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Errorf("%w: header %q value has control characters", ErrInvalidDial, h.Key)
			}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isUserPart reports whether s is a valid SIP URI user (RFC 3261 §25.1:
// unreserved, escaped and user-unreserved characters).
func isUserPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// e164User turns "+46708000000" or "46708000000" into "+46708000000".
func e164User(s string) (string, bool) {
	digits := strings.TrimPrefix(s, "+")
	if len(digits) < 1 || len(digits) > 15 {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	return "+" + digits, true
}

// fromHeader builds the From of an outbound call from a CLI: an E.164
// number (From user "+E164"), "private", "anonymous" or "" (anonymous From
// per RFC 3323 plus Privacy: id), or any other valid SIP user part, used as
// is.
func (s *Server) fromHeader(cli string) (*sip.FromHeader, bool, error) {
	params := sip.NewParams()
	params.Add("tag", randomToken(8))
	switch strings.ToLower(strings.TrimSpace(cli)) {
	case "", "private", "anonymous":
		return &sip.FromHeader{
			DisplayName: "Anonymous",
			Address:     sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"},
			Params:      params,
		}, true, nil
	}
	user, ok := e164User(cli)
	if !ok {
		if !isUserPart(cli) {
			return nil, false, fmt.Errorf("%w: CLI %q", ErrInvalidDial, truncate(cli))
		}
		user = cli
	}
	return &sip.FromHeader{
		Address: sip.Uri{Scheme: "sip", User: user, Host: uriHost(s.opts.PublicHost)},
		Params:  params,
	}, false, nil
}

// parseSIPTarget parses a connectSip destination: "user@host[:port]", with
// or without a sip: scheme (sips: means TLS). Parameters are kept except
// transport, which the separate transport field decides.
func parseSIPTarget(endpoint string) (sip.Uri, bool, error) {
	s := strings.TrimSpace(endpoint)
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		s = "sip:" + s
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return sip.Uri{}, false, fmt.Errorf("%w: SIP destination %q: %w", ErrInvalidDial, truncate(endpoint), err)
	}
	secure := strings.EqualFold(u.Scheme, "sips")
	if u.Wildcard || !validHost(u.Host) {
		return sip.Uri{}, false, fmt.Errorf("%w: SIP destination %q has no valid host", ErrInvalidDial, truncate(endpoint))
	}
	if u.User != "" && !isUserPart(u.User) {
		return sip.Uri{}, false, fmt.Errorf("%w: SIP destination %q has an invalid user", ErrInvalidDial, truncate(endpoint))
	}
	if u.Port < 0 || u.Port > 65535 {
		return sip.Uri{}, false, fmt.Errorf("%w: SIP destination %q has an invalid port", ErrInvalidDial, truncate(endpoint))
	}
	out := sip.Uri{Scheme: "sip", User: u.User, Host: u.Host, Port: u.Port}
	if u.UriParams != nil {
		for _, k := range u.UriParams.Keys() {
			if strings.EqualFold(k, "transport") {
				continue
			}
			if out.UriParams == nil {
				out.UriParams = sip.NewParams()
			}
			v, _ := u.UriParams.Get(k)
			out.UriParams.Add(k, v)
		}
	}
	return out, secure, nil
}

// validHost reports whether h is a host name, an IPv4 address or a
// bracketed IPv6 address (RFC 3261 §25.1 hostport).
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		ip, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, ":") // IPv6 must be bracketed
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
