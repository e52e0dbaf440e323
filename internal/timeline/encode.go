package timeline

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// encoder writes entries in their stored form, redacting as it goes: one
// pass over the data, no intermediate maps. raw turns redaction off (an
// entry read back is encoded as it is).
type encoder struct {
	r   *redactor
	raw bool
	// repl are the number values of the entry's top-level data and their
	// masked form, for the summary.
	repl []string
	// scratch holds a body while it is redacted, before it is quoted.
	scratch []byte
}

// maxEncodeDepth bounds nested data; deeper values are written as null.
const maxEncodeDepth = 32

// appendEntry appends the stored form of an entry:
// {"t":µs,"n":node,"k":kind,"d":{...},"s":summary}. nodeJSON is the node
// id as a JSON string.
func (e *encoder) appendEntry(b []byte, at time.Time, nodeJSON []byte, kind, summary string, data map[string]any) []byte {
	e.repl = e.repl[:0]
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, at.UnixMicro(), 10)
	b = append(b, `,"n":`...)
	b = append(b, nodeJSON...)
	b = append(b, `,"k":`...)
	b = appendString(b, kind)
	if len(data) > 0 {
		b = append(b, `,"d":`...)
		b = appendObject(e, b, data, 0, true)
	}
	if !e.raw {
		for i := 0; i+1 < len(e.repl); i += 2 {
			if strings.Contains(summary, e.repl[i]) {
				summary = strings.ReplaceAll(summary, e.repl[i], e.repl[i+1])
			}
		}
		summary = e.r.text(summary)
	}
	b = append(b, `,"s":`...)
	b = appendString(b, summary)
	return append(b, '}')
}

// appendObject writes a map whose values take their key's redaction.
func appendObject[V any](e *encoder, b []byte, m map[string]V, depth int, top bool) []byte {
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = e.appendValue(b, k, v, depth+1, top)
	}
	return append(b, '}')
}

// appendValue writes v, the value of key, redacted by key (see
// Recorder.Record).
func (e *encoder) appendValue(b []byte, key string, v any, depth int, top bool) []byte {
	if depth > maxEncodeDepth {
		return append(b, "null"...)
	}
	if !e.raw {
		switch {
		case isBodyKey(key):
			if v == nil {
				return append(b, "null"...)
			}
			// Known-valid JSON, whole, is stored as JSON (decode turns it
			// back into the string the API shows): no escaping, and
			// smaller. Anything else is quoted from the scratch buffer.
			start := len(b)
			var isJSON bool
			b, isJSON = e.r.appendBody(b, v)
			if isJSON {
				return b
			}
			e.scratch = append(e.scratch[:0], b[start:]...)
			return appendString(b[:start], unsafe.String(unsafe.SliceData(e.scratch), len(e.scratch)))
		case key == "cookies" && !e.r.revealCookies:
			return e.appendCookies(b, v, depth)
		case key == "url" || key == "fallbackUrl":
			if s, ok := v.(string); ok {
				return appendString(b, e.r.url(s))
			}
		case isNumberKey(key):
			if s, ok := v.(string); ok {
				masked := e.r.numberField(s)
				if top && masked != s && len(s) >= 5 {
					e.repl = append(e.repl, s, masked)
				}
				return appendString(b, masked)
			}
		}
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		if !e.raw {
			v = e.r.text(v)
		}
		return appendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case json.Number:
		if !json.Valid([]byte(v)) {
			return appendString(b, string(v))
		}
		return append(b, v...)
	case map[string]any:
		return appendObject(e, b, v, depth, false)
	case map[string]string:
		return appendObject(e, b, v, depth, false)
	case []any:
		return appendList(e, b, key, v, depth)
	case []string:
		return appendList(e, b, key, v, depth)
	case error:
		return e.appendValue(b, "", v.Error(), depth, false)
	case fmt.Stringer:
		return e.appendValue(b, "", v.String(), depth, false)
	}
	// Anything else as encoding/json writes it, redacted as a JSON body
	// without a size limit.
	raw, err := json.Marshal(v)
	if err != nil {
		return appendString(b, "(not encodable: "+err.Error()+")")
	}
	if e.raw {
		return append(b, raw...)
	}
	out, complete := redactJSON(nil, raw, math.MaxInt, e.r)
	if !complete || !json.Valid(out) {
		return appendString(b, string(out))
	}
	return append(b, out...)
}

// appendCookies writes a cookie jar with its values masked: a map of key
// to value, or a list of {key, value} objects.
func (e *encoder) appendCookies(b []byte, v any, depth int) []byte {
	switch v := v.(type) {
	case map[string]string:
		return appendMaskedValues(b, v)
	case map[string]any:
		return appendMaskedValues(b, v)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			kv, ok := x.(map[string]any)
			if !ok {
				b = append(b, `"`+cookieMask+`"`...)
				continue
			}
			b = append(b, '{')
			first := true
			for k, y := range kv {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendString(b, k)
				b = append(b, ':')
				if k == "value" {
					b = append(b, `"`+cookieMask+`"`...)
				} else {
					b = e.appendValue(b, k, y, depth+2, false)
				}
			}
			b = append(b, '}')
		}
		return append(b, ']')
	}
	return append(b, `"`+cookieMask+`"`...)
}

// appendMaskedValues writes a map's keys with every value masked.
func appendMaskedValues[V any](b []byte, m map[string]V) []byte {
	b = append(b, '{')
	first := true
	for k := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, `:"`+cookieMask+`"`...)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON; they stay.
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendList writes a list whose elements take key's redaction.
func appendList[T any](e *encoder, b []byte, key string, xs []T, depth int) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.appendValue(b, key, x, depth+1, false)
	}
	return append(b, ']')
}
