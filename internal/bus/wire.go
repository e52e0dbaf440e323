package bus

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Wire format version 1 (see the package documentation):
//
//	offset  size  field
//	0       1     version (1)
//	1       1     type: 1 request, 2 reply, 3 error reply
//	2       16    request id
//	18      8     deadline, Unix milliseconds, big-endian (requests; 0 in replies)
//	26      var   from: uvarint length + bytes (1..MaxNameLen)
//	        var   kind: uvarint length + bytes (requests: 1..MaxNameLen; replies: empty)
//	        var   body: uvarint length + bytes: payload (types 1, 2) or error message (3)
//
// Nothing may follow the body.
const (
	wireVersion = 1
	headerLen   = 1 + 1 + idLen + 8
	idLen       = 16
	// maxErrLen bounds the error message of an error reply; longer ones are
	// truncated (at a UTF-8 boundary) when encoded.
	maxErrLen = 1024
)

// Message types.
const (
	typeRequest  byte = 1
	typeReply    byte = 2
	typeErrReply byte = 3
)

// reqID identifies a request; replies carry it back.
type reqID [idLen]byte

// envelope is one decoded message.
type envelope struct {
	typ      byte
	id       reqID
	deadline int64 // Unix ms, requests only
	from     string
	kind     string // requests only
	body     []byte // payload, or the error message of an error reply
}

// errMalformed is the cause of every decoding failure.
var errMalformed = errors.New("malformed message")

// decodeError says why a message could not be decoded.
type decodeError struct{ reason string }

func (e *decodeError) Error() string { return "bus: malformed message: " + e.reason }

func (e *decodeError) Unwrap() error { return errMalformed }

func malformed(reason string) error { return &decodeError{reason: reason} }

// encode returns the wire form of e. The caller has validated from and
// kind; an error message longer than maxErrLen is truncated.
func encode(e *envelope) []byte {
	body := e.body
	if e.typ == typeErrReply && len(body) > maxErrLen {
		body = truncateUTF8(body, maxErrLen)
	}
	n := headerLen +
		uvarintLen(len(e.from)) + len(e.from) +
		uvarintLen(len(e.kind)) + len(e.kind) +
		uvarintLen(len(body)) + len(body)
	b := make([]byte, headerLen, n)
	b[0] = wireVersion
	b[1] = e.typ
	copy(b[2:], e.id[:])
	binary.BigEndian.PutUint64(b[2+idLen:], uint64(e.deadline))
	b = binary.AppendUvarint(b, uint64(len(e.from)))
	b = append(b, e.from...)
	b = binary.AppendUvarint(b, uint64(len(e.kind)))
	b = append(b, e.kind...)
	b = binary.AppendUvarint(b, uint64(len(body)))
	b = append(b, body...)
	return b
}

// decode parses one message. from and kind share the memory of s; body is
// a fresh copy (nil when empty). Any deviation from the format, including
// trailing bytes, is an error wrapping errMalformed.
func decode(s string) (envelope, error) {
	var e envelope
	if len(s) < headerLen {
		return e, malformed("short header")
	}
	if s[0] != wireVersion {
		return e, malformed("unsupported version")
	}
	e.typ = s[1]
	if e.typ != typeRequest && e.typ != typeReply && e.typ != typeErrReply {
		return e, malformed("unknown type")
	}
	copy(e.id[:], s[2:2+idLen])
	e.deadline = int64(binary.BigEndian.Uint64([]byte(s[2+idLen : headerLen])))
	rest := s[headerLen:]
	var err error
	if e.from, rest, err = field(rest, MaxNameLen, "from"); err != nil {
		return e, err
	}
	if e.kind, rest, err = field(rest, MaxNameLen, "kind"); err != nil {
		return e, err
	}
	body, rest, err := field(rest, len(rest), "body")
	if err != nil {
		return e, err
	}
	if rest != "" {
		return e, malformed("trailing bytes")
	}
	if e.from == "" {
		return e, malformed("empty from")
	}
	if e.typ == typeRequest {
		if e.kind == "" {
			return e, malformed("request without kind")
		}
		if e.deadline <= 0 {
			return e, malformed("request without deadline")
		}
	} else if e.kind != "" || e.deadline != 0 {
		return e, malformed("reply with kind or deadline")
	}
	if body != "" {
		e.body = []byte(body)
	}
	return e, nil
}

// field reads a uvarint length of at most max and that many bytes from s.
func field(s string, max int, name string) (v, rest string, err error) {
	n, k := uvarint(s)
	if k <= 0 {
		return "", "", malformed("bad " + name + " length")
	}
	s = s[k:]
	if n > uint64(max) || n > uint64(len(s)) {
		return "", "", malformed(name + " too long")
	}
	return s[:n], s[n:], nil
}

// uvarint is binary.Uvarint over a string, without converting it.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// uvarintLen is the encoded length of n.
func uvarintLen(n int) int {
	l := 1
	for u := uint64(n); u >= 0x80; u >>= 7 {
		l++
	}
	return l
}

// truncateUTF8 cuts b to at most n bytes without splitting a rune.
func truncateUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}
