package timeline

import (
	"bytes"
	"math"
)

// maxJSONDepth bounds the nesting the rewriter follows; deeper input is
// copied as text.
const maxJSONDepth = 64

// Contexts of a JSON value for the rewriter.
type valueCtx uint8

const (
	ctxPlain  valueCtx = iota
	ctxNumber          // the value of a number key (cli, to, ...)
	ctxCookie          // a cookie's value
)

// Kinds of arrays whose elements the rewriter treats specially.
type arrayKind uint8

const (
	arrPlain        arrayKind = iota
	arrCookies                // "cookies": [{key, value}]
	arrInstructions           // "instructions": [{name: setCookie, key, value}, ...]
)

// jsonRewriter copies a JSON document while masking numbers and cookie
// values, in one pass and without decoding it: it keeps the document's
// order and spacing, stops once its output reaches limit bytes, and
// tolerates truncated or malformed input (the rest is copied as text with
// its E.164-looking numbers masked).
type jsonRewriter struct {
	in    []byte
	i     int
	out   []byte
	limit int
	r     *redactor
	depth int
	full  bool // output reached limit
	bad   bool // malformed input at i
}

// redactJSON appends in rewritten (see jsonRewriter) to dst, at most
// about limit bytes; complete reports whether all of in was rewritten.
func redactJSON(dst, in []byte, limit int, r *redactor) (out []byte, complete bool) {
	if dst == nil {
		dst = make([]byte, 0, min(len(in), limit)+16)
	}
	w := jsonRewriter{in: in, limit: len(dst) + min(limit, math.MaxInt-len(dst)), r: r, out: dst}
	w.ws()
	if w.value(arrPlain, ctxPlain, arrPlain) {
		w.ws()
	}
	if w.full {
		return w.out, false
	}
	if w.i < len(w.in) {
		// Malformed, or data after the value: the rest as text.
		end := min(len(w.in), w.i+max(w.limit-len(w.out), 0)+16)
		w.out = append(w.out, r.text(string(w.in[w.i:end]))...)
		return w.out, end == len(w.in)
	}
	return w.out, true
}

// ws copies whitespace.
func (w *jsonRewriter) ws() {
	for w.i < len(w.in) {
		switch w.in[w.i] {
		case ' ', '\t', '\r', '\n':
			w.out = append(w.out, w.in[w.i])
			w.i++
		default:
			return
		}
	}
}

// more reports whether the rewriter may go on: not full, not malformed.
func (w *jsonRewriter) more() bool {
	if len(w.out) >= w.limit {
		w.full = true
	}
	return !w.full && !w.bad
}

// value rewrites one value. asArray is the kind it has if it is an array
// (from its member name; an element's is its array's), elemOf the kind of
// array it is an element of.
func (w *jsonRewriter) value(asArray arrayKind, c valueCtx, elemOf arrayKind) bool {
	if w.i >= len(w.in) {
		w.bad = true
		return false
	}
	switch w.in[w.i] {
	case '{':
		cookie := elemOf == arrCookies || (elemOf == arrInstructions && w.isSetCookie())
		return w.object(cookie)
	case '[':
		return w.array(asArray, c)
	case '"':
		return w.str(c)
	}
	return w.literal()
}

// object rewrites an object; cookie marks a cookie (its "value" is masked).
func (w *jsonRewriter) object(cookie bool) bool {
	return w.container('{', '}', func() bool {
		key, ok := w.key()
		if !ok {
			return false
		}
		c := ctxPlain
		switch {
		case cookie && string(key) == "value" && !w.r.revealCookies:
			c = ctxCookie
		case isNumberKey(string(key)):
			c = ctxNumber
		}
		w.ws()
		return w.value(arrayKindOf(key), c, arrPlain)
	})
}

// container rewrites the object or array opening at i, up to its closing
// bracket; member rewrites one member or element.
func (w *jsonRewriter) container(open, closing byte, member func() bool) bool {
	if w.depth >= maxJSONDepth {
		w.bad = true
		return false
	}
	w.depth++
	defer func() { w.depth-- }()
	w.out = append(w.out, open)
	w.i++
	for first := true; ; first = false {
		w.ws()
		if w.i >= len(w.in) {
			w.bad = true
			return false
		}
		if w.in[w.i] == closing && first {
			w.out = append(w.out, closing)
			w.i++
			return w.more()
		}
		if !member() {
			return false
		}
		if done, ok := w.separator(closing); done || !ok {
			return ok
		}
	}
}

// separator rewrites what follows a member or element: a comma (done
// false: another one follows) or the closing bracket (done true). ok is
// false for anything else or a failed continuation.
func (w *jsonRewriter) separator(closing byte) (done, ok bool) {
	w.ws()
	if w.i >= len(w.in) {
		w.bad = true
		return true, false
	}
	switch w.in[w.i] {
	case ',':
		w.out = append(w.out, ',')
		w.i++
		return false, w.more()
	case closing:
		w.out = append(w.out, closing)
		w.i++
		return true, w.more()
	}
	w.bad = true
	return true, false
}

// arrayKindOf is the kind of an array that is the value of key.
func arrayKindOf(key []byte) arrayKind {
	switch string(key) {
	case "cookies":
		return arrCookies
	case "instructions":
		return arrInstructions
	}
	return arrPlain
}

// key rewrites a member name and its colon and returns the name as
// written (escapes left as they are).
func (w *jsonRewriter) key() ([]byte, bool) {
	end := w.stringEnd(w.i)
	if end < 0 {
		w.bad = true
		return nil, false
	}
	key := w.in[w.i+1 : end]
	w.out = append(w.out, w.in[w.i:end+1]...)
	w.i = end + 1
	w.ws()
	if w.i >= len(w.in) || w.in[w.i] != ':' {
		w.bad = true
		return nil, false
	}
	w.out = append(w.out, ':')
	w.i++
	return key, true
}

// array rewrites an array of kind; its elements take c.
func (w *jsonRewriter) array(kind arrayKind, c valueCtx) bool {
	return w.container('[', ']', func() bool { return w.value(kind, c, kind) })
}

// str rewrites a string value in context c.
func (w *jsonRewriter) str(c valueCtx) bool {
	end := w.stringEnd(w.i)
	if end < 0 {
		w.bad = true
		return false
	}
	seg := w.in[w.i+1 : end]
	if c == ctxPlain && (w.r.revealNumbers || bytes.IndexByte(seg, '+') < 0) {
		// Nothing to mask: copied as it is.
		w.out = append(w.out, w.in[w.i:end+1]...)
		w.i = end + 1
		return w.more()
	}
	raw := string(seg)
	switch {
	case c == ctxCookie:
		raw = cookieMask
	case c == ctxNumber && !bytes.ContainsRune(w.in[w.i+1:end], '\\'):
		raw = w.r.numberField(raw)
	default:
		raw = w.r.text(raw)
	}
	w.out = append(w.out, '"')
	w.out = append(w.out, raw...)
	w.out = append(w.out, '"')
	w.i = end + 1
	return w.more()
}

// literal copies a number, true, false or null.
func (w *jsonRewriter) literal() bool {
	start := w.i
	for w.i < len(w.in) {
		switch w.in[w.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if w.i == start {
				w.bad = true
				return false
			}
			w.out = append(w.out, w.in[start:w.i]...)
			return w.more()
		case '{', '[', '"', ':':
			w.bad = true
			w.i = start
			return false
		}
		w.i++
	}
	// The input ends inside a top-level literal: copy it.
	w.out = append(w.out, w.in[start:w.i]...)
	return w.more()
}

// stringEnd returns the index of the quote that closes the string opening
// at i, or -1.
func (w *jsonRewriter) stringEnd(i int) int {
	if i >= len(w.in) || w.in[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(w.in); j++ {
		switch w.in[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// isSetCookie looks ahead at the object opening at i: whether one of its
// own members is "name": "setCookie".
func (w *jsonRewriter) isSetCookie() bool {
	i := w.i + 1
	for depth := 0; i < len(w.in); {
		switch w.in[i] {
		case '"':
			end := w.stringEnd(i)
			if end < 0 {
				return false
			}
			if depth == 0 && string(w.in[i+1:end]) == "name" {
				j := end + 1
				for j < len(w.in) && (w.in[j] == ' ' || w.in[j] == '\t' || w.in[j] == '\r' || w.in[j] == '\n' || w.in[j] == ':') {
					j++
				}
				if vEnd := w.stringEnd(j); vEnd > 0 {
					return string(w.in[j+1:vEnd]) == "setCookie"
				}
			}
			i = end + 1
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			i++
		default:
			i++
		}
	}
	return false
}
