package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxSDP bounds the SDP we accept from a body (a multipart part included).
const maxSDP = 64 << 10

var errUnsupportedBody = errors.New("signaling: unsupported body")

// sdpBody returns the SDP of a message: the body when it is
// application/sdp (or has no Content-Type), the first application/sdp
// part of a multipart/mixed or multipart/related body (SIP-I carriers send
// SDP with ISUP), nil for an empty body.
func sdpBody(msg sip.Message) ([]byte, error) {
	body := msg.Body()
	if len(body) == 0 {
		return nil, nil
	}
	ct := ""
	if hs := msg.GetHeaders("Content-Type"); len(hs) > 0 {
		ct = hs[0].Value()
	}
	return ExtractSDP(ct, body)
}

// ExtractSDP returns the SDP carried by a SIP body of the given
// Content-Type: the body itself for application/sdp (or an empty
// Content-Type), the first application/sdp part of a multipart body, and
// an error for anything else. The result aliases body.
func ExtractSDP(contentType string, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if ct := strings.TrimSpace(contentType); ct == "" || strings.EqualFold(ct, "application/sdp") {
		return checkSDP(body) // the common case, without parsing
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: content type %q: %w", errUnsupportedBody, contentType, err)
	}
	switch {
	case mt == "application/sdp":
		return checkSDP(body)
	case strings.HasPrefix(mt, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return nil, fmt.Errorf("%w: multipart body without boundary", errUnsupportedBody)
		}
		r := multipart.NewReader(bytes.NewReader(body), boundary)
		for {
			p, err := r.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: multipart body without application/sdp part", errUnsupportedBody)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: multipart body: %w", errUnsupportedBody, err)
			}
			pmt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil || pmt != "application/sdp" {
				continue
			}
			part, err := io.ReadAll(io.LimitReader(p, maxSDP+1))
			if err != nil {
				return nil, fmt.Errorf("%w: multipart body: %w", errUnsupportedBody, err)
			}
			return checkSDP(part)
		}
	}
	return nil, fmt.Errorf("%w: content type %q", errUnsupportedBody, mt)
}

func checkSDP(b []byte) ([]byte, error) {
	if len(b) > maxSDP {
		return nil, fmt.Errorf("%w: SDP larger than %d bytes", errUnsupportedBody, maxSDP)
	}
	return b, nil
}

var errNotDTMF = errors.New("signaling: INFO body is not DTMF")

// ParseDTMFInfo decodes the body of a SIP INFO carrying a DTMF digit:
// application/dtmf-relay ("Signal=5\r\nDuration=160", keys in any case,
// Duration in milliseconds and optional) or application/dtmf (the digit
// alone). Digits are 0-9, *, #, A-D; the RFC 4733 event codes 10-15 are
// accepted for *, #, A-D. Another Content-Type yields an error wrapping
// errNotDTMF.
func ParseDTMFInfo(contentType string, body []byte) (digit string, duration time.Duration, err error) {
	mt, _, perr := mime.ParseMediaType(contentType)
	if perr != nil {
		return "", 0, fmt.Errorf("%w: content type %q", errNotDTMF, contentType)
	}
	switch mt {
	case "application/dtmf-relay":
		var signal string
		var haveSignal bool
		for line := range strings.Lines(string(body)) {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				if strings.TrimSpace(line) == "" {
					continue
				}
				return "", 0, fmt.Errorf("signaling: dtmf-relay line %q without '='", truncate(line))
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				signal, haveSignal = strings.TrimSpace(v), true
			case "duration":
				ms, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || ms < 0 || ms > 60000 {
					return "", 0, fmt.Errorf("signaling: dtmf-relay duration %q", truncate(v))
				}
				duration = time.Duration(ms) * time.Millisecond
			}
		}
		if !haveSignal {
			return "", 0, errors.New("signaling: dtmf-relay without Signal")
		}
		digit, err = dtmfDigit(signal)
		return digit, duration, err
	case "application/dtmf":
		digit, err = dtmfDigit(strings.TrimSpace(string(body)))
		return digit, 0, err
	}
	return "", 0, fmt.Errorf("%w: content type %q", errNotDTMF, mt)
}

// dtmfDigit normalises one DTMF signal.
func dtmfDigit(s string) (string, error) {
	switch s {
	case "10":
		return "*", nil
	case "11":
		return "#", nil
	case "12", "13", "14", "15":
		return string(rune('A' + s[1] - '2')), nil
	}
	if len(s) == 1 {
		c := s[0]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			return s, nil
		case c >= 'A' && c <= 'D':
			return s, nil
		case c >= 'a' && c <= 'd':
			return string(c - 'a' + 'A'), nil
		}
	}
	return "", fmt.Errorf("signaling: DTMF signal %q", truncate(s))
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
