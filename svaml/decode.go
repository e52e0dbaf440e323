package svaml

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small single-pass JSON scanner. It exists because
// encoding/json with case-insensitive struct matching plus a second pass to
// dispatch on "name" costs several times the time and allocations budget of the
// callback path (see BenchmarkParse). It follows RFC 8259 strictly except for
// an optional leading UTF-8 byte order mark; strings must be valid UTF-8, lone
// UTF-16 surrogates in \u escapes decode to U+FFFD (as in encoding/json).
// Values are read straight into the typed model; strings without escapes are
// substrings of one copy of the input, so they cost no allocation.

const (
	// maxDepth bounds the nesting of objects and arrays.
	maxDepth = 64
	// maxErrors bounds the number of problems collected for one document.
	maxErrors = 20
	// keyBufLen is the longest key that can match a known SVAML key.
	keyBufLen = 32
)

// seg is one step of a JSON path: an object key or (idx >= 0) an array index.
type seg struct {
	key string
	idx int
}

// syntaxPanic carries a fatal syntax error from deep in the scanner to Parse.
type syntaxPanic struct{ err *ValidationError }

// decoder is the state of one Parse call.
type decoder struct {
	data    []byte
	src     string // string(data): unescaped strings are substrings of it
	pos     int
	depth   int
	ctx     Context
	maxTTS  int // < 0: no limit
	stack   []seg
	errs    ValidationErrors
	scratch []byte
	kb      [keyBufLen]byte
	// Initial backing arrays of stack and scratch, to save allocations.
	stackBuf   [8]seg
	scratchBuf [256]byte
}

// --- paths and errors -------------------------------------------------------

func (d *decoder) push(key string) { d.stack = append(d.stack, seg{key: key, idx: -1}) }
func (d *decoder) pushIdx(i int)   { d.stack = append(d.stack, seg{idx: i}) }
func (d *decoder) pop()            { d.stack = d.stack[:len(d.stack)-1] }

// path renders the current path followed by key (if not empty).
func (d *decoder) path(key string) string {
	var b []byte
	for _, s := range d.stack {
		if s.idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	if key != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, key...)
	}
	return string(b)
}

// add records a problem at the current path + key.
func (d *decoder) add(class error, key, reason string) {
	switch {
	case len(d.errs) < maxErrors:
		d.errs = append(d.errs, &ValidationError{Path: d.path(key), Reason: reason, Offset: -1, Err: class})
	case len(d.errs) == maxErrors:
		d.errs = append(d.errs, &ValidationError{Reason: "too many problems, giving up", Offset: -1, Err: class})
	}
}

// invalid records an ErrInvalid problem at the current path + key.
func (d *decoder) invalid(key, format string, args ...any) {
	d.add(ErrInvalid, key, fmt.Sprintf(format, args...))
}

// fail aborts the parse with a syntax error at byte offset off.
func (d *decoder) fail(off int, format string, args ...any) {
	reason := fmt.Sprintf("invalid JSON at offset %d: ", off) + fmt.Sprintf(format, args...)
	panic(syntaxPanic{&ValidationError{Path: d.path(""), Reason: reason, Offset: off, Err: ErrSyntax}})
}

// unexpected aborts the parse at d.pos with "unexpected ...".
func (d *decoder) unexpected(want string) {
	if d.pos >= len(d.data) {
		d.fail(d.pos, "unexpected end of input, want %s", want)
	}
	d.fail(d.pos, "unexpected %q, want %s", d.data[d.pos:d.pos+1], want)
}

// typeErr records that the value at d.pos is not of the wanted JSON type and
// skips it.
func (d *decoder) typeErr(key, want string) {
	got := kindName(d.next())
	d.skipValue()
	d.invalid(key, "expected %s, got %s", want, got)
}

// kindName names the JSON type of a value that starts with c.
func kindName(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// --- tokens -----------------------------------------------------------------

// next skips whitespace and returns the byte at d.pos (0 at the end).
func (d *decoder) next() byte {
	if d.pos < len(d.data) && d.data[d.pos] > ' ' {
		return d.data[d.pos]
	}
	return d.skipWS()
}

// skipWS is the slow path of next.
func (d *decoder) skipWS() byte {
	i := d.pos
	for i < len(d.data) && d.data[i] <= ' ' && space[d.data[i]] {
		i++
	}
	d.pos = i
	if i < len(d.data) {
		return d.data[i]
	}
	return 0
}

// space marks JSON whitespace.
var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (d *decoder) enter() {
	d.depth++
	if d.depth > maxDepth {
		d.fail(d.pos, "nesting deeper than %d levels", maxDepth)
	}
}

func (d *decoder) leave() { d.depth-- }

// more advances to the next member or element of an object or array whose
// opening bracket was consumed. It consumes ',' or the closer and reports
// whether a member or element follows.
func (d *decoder) more(first *bool, closer byte) bool {
	c := d.next()
	if *first {
		*first = false
		if c == closer {
			d.pos++
			return false
		}
		return true
	}
	switch c {
	case ',':
		d.pos++
		return true
	case closer:
		d.pos++
		return false
	}
	d.unexpected("',' or '" + string(closer) + "'")
	return false
}

// object iterates over the object at d.pos (which must be '{'). For each member
// it calls fn with the key lower-cased (nil when it is too long to be a SVAML
// key) and d.pos at the value; fn must consume the value.
func (d *decoder) object(fn func(key []byte)) {
	d.enter()
	d.pos++
	for first := true; d.more(&first, '}'); {
		if d.next() != '"' {
			d.unexpected("'\"' starting an object key")
		}
		k := d.readKey()
		if d.next() != ':' {
			d.unexpected("':'")
		}
		d.pos++
		d.next()
		fn(d.lower(k))
	}
	d.leave()
}

// array iterates over the array at d.pos (which must be '['), calling fn with
// each index and d.pos at the element; fn must consume the element.
func (d *decoder) array(fn func(i int)) {
	d.enter()
	d.pos++
	for i, first := 0, true; d.more(&first, ']'); i++ {
		d.next()
		fn(i)
	}
	d.leave()
}

// emptyArrayAhead reports whether the array at d.pos has no elements.
func (d *decoder) emptyArrayAhead() bool {
	i := d.pos + 1
	for i < len(d.data) && (d.data[i] == ' ' || d.data[i] == '\t' || d.data[i] == '\n' || d.data[i] == '\r') {
		i++
	}
	return i < len(d.data) && d.data[i] == ']'
}

// lower lower-cases ASCII letters of k into d.kb. Keys longer than the buffer
// cannot match a SVAML key and yield nil.
func (d *decoder) lower(k []byte) []byte {
	if len(k) > len(d.kb) {
		return nil
	}
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d.kb[i] = c
	}
	return d.kb[:len(k)]
}

// lowerStr is lower for a string.
func (d *decoder) lowerStr(s string) []byte {
	if len(s) > len(d.kb) {
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d.kb[i] = c
	}
	return d.kb[:len(s)]
}

// skipValue consumes one value of any type, checking its syntax.
func (d *decoder) skipValue() {
	switch c := d.next(); c {
	case '{':
		d.enter()
		d.pos++
		for first := true; d.more(&first, '}'); {
			if d.next() != '"' {
				d.unexpected("'\"' starting an object key")
			}
			d.scanString()
			if d.next() != ':' {
				d.unexpected("':'")
			}
			d.pos++
			d.skipValue()
		}
		d.leave()
	case '[':
		d.enter()
		d.pos++
		for first := true; d.more(&first, ']'); {
			d.skipValue()
		}
		d.leave()
	case '"':
		d.scanString()
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		if c == '-' || isDigit(c) {
			d.number()
			return
		}
		d.unexpected("a value")
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal consumes the literal word at d.pos.
func (d *decoder) literal(word string) {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		d.fail(d.pos, "invalid literal, want %s", word)
	}
	d.pos += len(word)
}

// number consumes a number at d.pos and returns its extent and whether it has
// neither fraction nor exponent.
func (d *decoder) number() (start, end int, integral bool) {
	start = d.pos
	i := d.pos
	if d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case i < len(d.data) && isDigit(d.data[i]):
		for i < len(d.data) && isDigit(d.data[i]) {
			i++
		}
	default:
		d.fail(i, "invalid number")
	}
	integral = true
	if i < len(d.data) && d.data[i] == '.' {
		integral = false
		i++
		if i >= len(d.data) || !isDigit(d.data[i]) {
			d.fail(i, "invalid number: digit expected after '.'")
		}
		for i < len(d.data) && isDigit(d.data[i]) {
			i++
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		integral = false
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if i >= len(d.data) || !isDigit(d.data[i]) {
			d.fail(i, "invalid number: digit expected in exponent")
		}
		for i < len(d.data) && isDigit(d.data[i]) {
			i++
		}
	}
	d.pos = i
	return start, i, integral
}

// plain marks the bytes that stand for themselves inside a JSON string:
// printable ASCII except '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString consumes the string at d.pos (which must be '"'). Without escapes
// it returns the content extent [start, end) and esc false; with escapes it
// decodes the content into d.scratch and returns esc true.
func (d *decoder) scanString() (start, end int, esc bool) {
	start = d.pos + 1
	for i := start; ; {
		for i < len(d.data) && plain[d.data[i]] {
			i++
		}
		if i >= len(d.data) {
			d.fail(d.pos, "unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return start, i, false
		case c == '\\':
			d.scratch = append(d.scratch[:0], d.data[start:i]...)
			d.unescape(i)
			return 0, 0, true
		case c < 0x20:
			d.fail(i, "control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.fail(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// unescape continues scanString at i (a backslash), appending the decoded rest
// of the string to d.scratch.
func (d *decoder) unescape(i int) {
	for {
		if i >= len(d.data) {
			d.fail(d.pos, "unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return
		case c == '\\':
			if i+1 >= len(d.data) {
				d.fail(d.pos, "unterminated string")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				d.scratch = append(d.scratch, e)
				i += 2
			case 'b':
				d.scratch = append(d.scratch, '\b')
				i += 2
			case 'f':
				d.scratch = append(d.scratch, '\f')
				i += 2
			case 'n':
				d.scratch = append(d.scratch, '\n')
				i += 2
			case 'r':
				d.scratch = append(d.scratch, '\r')
				i += 2
			case 't':
				d.scratch = append(d.scratch, '\t')
				i += 2
			case 'u':
				r := d.hex4(i + 2)
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						r2 = d.hex4(i + 2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				d.scratch = utf8.AppendRune(d.scratch, r)
			default:
				d.fail(i, "invalid escape %q in string", d.data[i:i+2])
			}
		case c < 0x20:
			d.fail(i, "control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			d.scratch = append(d.scratch, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.fail(i, "invalid UTF-8 in string")
			}
			d.scratch = append(d.scratch, d.data[i:i+size]...)
			i += size
		}
	}
}

// hex4 decodes the four hex digits at i.
func (d *decoder) hex4(i int) rune {
	if len(d.data)-i < 4 {
		d.fail(i-2, "invalid \\u escape in string")
	}
	var r rune
	for _, c := range d.data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			d.fail(i-2, "invalid \\u escape in string")
		}
		r = r<<4 | rune(c)
	}
	return r
}

// readString consumes a string and returns its value.
func (d *decoder) readString() string {
	start, end, esc := d.scanString()
	if esc {
		return string(d.scratch)
	}
	return d.src[start:end]
}

// readKey consumes a string and returns its bytes; they are valid until the
// next string is scanned.
func (d *decoder) readKey() []byte {
	start, end, esc := d.scanString()
	if esc {
		return d.scratch
	}
	return d.data[start:end]
}

// --- typed values -----------------------------------------------------------
// Each reader consumes the value at d.pos. null counts as absent (ok false, no
// problem recorded); a value of another type records a problem at key and
// also yields ok false.

// str reads a string.
func (d *decoder) str(key string) (string, bool) {
	switch d.next() {
	case '"':
		return d.readString(), true
	case 'n':
		d.literal("null")
	default:
		d.typeErr(key, "a string")
	}
	return "", false
}

// boolean reads true or false.
func (d *decoder) boolean(key string) (v, ok bool) {
	switch d.next() {
	case 't':
		d.literal("true")
		return true, true
	case 'f':
		d.literal("false")
		return false, true
	case 'n':
		d.literal("null")
	default:
		d.typeErr(key, "a boolean")
	}
	return false, false
}

// integer reads an integral number (1, -2, 3.0 and 4e2 are accepted).
func (d *decoder) integer(key string) (int, bool) {
	c := d.next()
	switch {
	case c == 'n':
		d.literal("null")
		return 0, false
	case c == '-' || isDigit(c):
	default:
		d.typeErr(key, "an integer")
		return 0, false
	}
	start, end, integral := d.number()
	tok := d.src[start:end]
	if integral {
		v, err := strconv.Atoi(tok)
		if err != nil {
			d.invalid(key, "%s is out of range", tok)
			return 0, false
		}
		return v, true
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		d.invalid(key, "expected an integer, got %s", tok)
		return 0, false
	}
	return int(f), true
}

// intRange reads an integer and checks lo <= v <= hi (hi < 0: no upper bound).
// Out-of-range values are reported and yield 0.
func (d *decoder) intRange(key string, lo, hi int) int {
	v, ok := d.integer(key)
	if !ok {
		return 0
	}
	if v < lo || (hi >= 0 && v > hi) {
		if hi < 0 {
			d.invalid(key, "must not be negative, got %d", v)
		} else {
			d.invalid(key, "must be between %d and %d, got %d", lo, hi, v)
		}
		return 0
	}
	return v
}

// nonNeg reads an integer >= 0.
func (d *decoder) nonNeg(key string) int { return d.intRange(key, 0, -1) }

// objectStart reports whether an object starts at d.pos; null is absent and any
// other type is recorded as a problem at key (and skipped).
func (d *decoder) objectStart(key string) bool {
	switch d.next() {
	case '{':
		return true
	case 'n':
		d.literal("null")
	default:
		d.typeErr(key, "an object")
	}
	return false
}

// arrayStart is objectStart for arrays.
func (d *decoder) arrayStart(key string) bool {
	switch d.next() {
	case '[':
		return true
	case 'n':
		d.literal("null")
	default:
		d.typeErr(key, "an array")
	}
	return false
}
