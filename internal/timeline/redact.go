package timeline

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// isNumberKey reports a data key that holds a phone number, a username or
// a SIP address (see Recorder.Record).
func isNumberKey(k string) bool {
	switch k {
	case "from", "to", "cli", "number", "endpoint", "rdnis":
		return true
	}
	return false
}

// isBodyKey reports a data key that holds a request, reply or SVAML body.
func isBodyKey(k string) bool {
	switch k {
	case "request", "reply", "document":
		return true
	}
	return false
}

// cookieMask replaces a cookie value.
const cookieMask = "***"

// redactor masks phone numbers and cookie values and truncates bodies.
type redactor struct {
	revealNumbers bool
	revealCookies bool
	maxBody       int
}

// text masks every E.164-looking number in s: "+" and 7 to 15 digits,
// not followed by another digit.
func (r *redactor) text(s string) string {
	if r.revealNumbers || strings.IndexByte(s, '+') < 0 {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if n := j - i - 1; n < 7 || n > 15 {
			i = j - 1
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		maskDigits(b[i:j])
		i = j - 1
	}
	if b == nil {
		return s
	}
	return string(b)
}

// numberField masks the value of a number key (cli, to, from, ...): a
// phone number as such, or as the user part of a sip:/tel: URI. Other
// values (usernames, "private", SIP addresses with a name) only have their
// E.164-looking numbers masked.
func (r *redactor) numberField(s string) string {
	if r.revealNumbers {
		return s
	}
	start, end := 0, len(s)
	for _, p := range []string{"sip:", "sips:", "tel:"} {
		if strings.HasPrefix(s, p) {
			start = len(p)
			break
		}
	}
	if i := strings.IndexAny(s[start:], "@;"); i >= 0 {
		end = start + i
	}
	if !phoneLike(s[start:end]) {
		return r.text(s)
	}
	b := []byte(s)
	maskDigits(b[start:end])
	return string(b)
}

// phoneLike reports whether s is a phone number: an optional "+" and at
// least 5 digits, nothing else.
func phoneLike(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maskDigits masks a number in place: a leading "+" and the first three
// digits stay, as do the last two; a short number keeps only its last two.
func maskDigits(b []byte) {
	keepHead := 3
	if len(b) > 0 && b[0] == '+' {
		keepHead = 4
	}
	if len(b) < keepHead+4 {
		keepHead = 0
		if len(b) > 0 && b[0] == '+' {
			keepHead = 1
		}
	}
	for i := keepHead; i < len(b)-2; i++ {
		b[i] = '*'
	}
}

// MaskNumber masks a phone number the way stored timelines show it:
// "+46708000012" becomes "+467******12". Anything that is not a phone
// number has only its E.164-looking numbers masked.
func MaskNumber(s string) string { return (&redactor{}).numberField(s) }

// url drops a URL's userinfo and query values (either may carry a
// secret): "https://u:p@host/cb?token=x" becomes
// "https://***@host/cb?token=***". Numbers in its path are masked.
func (r *redactor) url(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return r.text(s)
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			parts[i] = k + "=***"
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return r.text(strings.Replace(u.String(), "%2A%2A%2A@", "***@", 1))
}

// body renders a body (string, []byte, json.RawMessage or any value
// encoding/json can marshal) as redacted text of at most maxBody bytes
// plus a note of the full size; nil for nil.
func (r *redactor) body(v any) any {
	if v == nil {
		return nil
	}
	out, _ := r.appendBody(nil, v)
	return string(out)
}

// appendBody appends what body renders of v (not nil) to dst. isJSON is
// true when what it appended is a JSON object or array, whole: v was
// known to be valid JSON (a json.RawMessage, or a value it marshalled),
// nothing was cut, no space around it.
func (r *redactor) appendBody(dst []byte, v any) (out []byte, isJSON bool) {
	var raw []byte
	valid := false
	switch v := v.(type) {
	case string:
		// Read only: a view, not a copy.
		raw = unsafe.Slice(unsafe.StringData(v), len(v))
	case []byte:
		raw = v
	case json.RawMessage:
		raw, valid = v, true
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return append(dst, "(not encodable: "+err.Error()+")"...), false
		}
		raw, valid = b, true
	}
	start := len(dst)
	dst, whole := r.appendRedactedBody(dst, raw)
	body := dst[start:]
	return dst, valid && whole && len(body) >= 2 &&
		(body[0] == '{' && body[len(body)-1] == '}' || body[0] == '[' && body[len(body)-1] == ']')
}

// redactBody is appendRedactedBody as a string.
func (r *redactor) redactBody(raw []byte) string {
	out, _ := r.appendRedactedBody(nil, raw)
	return string(out)
}

// appendRedactedBody appends a JSON body redacted (or any other text with
// its numbers masked) to dst, truncated to maxBody bytes at a character
// boundary with a note of the full size; whole reports that nothing was
// cut.
func (r *redactor) appendRedactedBody(dst, raw []byte) (out []byte, whole bool) {
	limit := r.maxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	start := len(dst)
	complete := false
	trimmed := bytes.TrimLeft(raw[:min(len(raw), 64)], " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && !(r.revealNumbers && r.revealCookies) {
		dst, complete = redactJSON(dst, raw, limit+1, r)
	} else {
		// A little beyond the limit, so that a number across it is
		// masked whole.
		end := min(len(raw), limit+16)
		dst, complete = append(dst, r.text(string(raw[:end]))...), end == len(raw)
	}
	body := dst[start:]
	if complete && len(body) <= limit {
		return dst, true
	}
	cut := min(limit, len(body))
	for cut < len(body) && cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	dst = dst[:start+cut]
	dst = append(dst, "…[truncated, "...)
	dst = strconv.AppendInt(dst, int64(len(raw)), 10)
	return append(dst, " bytes]"...), false
}
