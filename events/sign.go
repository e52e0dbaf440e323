package events

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // MD5 is mandated by the signing scheme (reference §4.2).
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Header names and values used by the signing scheme.
const (
	// HeaderTimestamp is the canonical form of the x-timestamp header.
	HeaderTimestamp = "X-Timestamp"
	// SchemeApplication is the scheme written by [Signer]: lower-case, as the
	// .NET validator requires and the official docs show (reference §4.5).
	SchemeApplication = "application"
	// CallbackContentType is the Content-Type set by [Signer.SignRequest]
	// when the request has none.
	CallbackContentType = "application/json; charset=utf-8"
	// XTimestampLayout is the x-timestamp layout written by [Signer]: UTC
	// with seven fractional digits and "Z", like .NET's "O" format.
	XTimestampLayout = "2006-01-02T15:04:05.0000000Z"
)

// md5B64Len is the length of a base64 encoded MD5 digest; sigB64Len that of a
// base64 encoded HMAC-SHA256.
const (
	md5B64Len = 24
	sigB64Len = 44
)

// ContentMD5 returns base64(MD5(body)), or "" for an empty body.
func ContentMD5(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var buf [md5B64Len]byte
	return string(contentMD5(&buf, body))
}

// contentMD5 writes base64(MD5(body)) into buf and returns the used part
// (empty for an empty body).
func contentMD5(buf *[md5B64Len]byte, body []byte) []byte {
	if len(body) == 0 {
		return buf[:0]
	}
	sum := md5.Sum(body) //nolint:gosec // mandated by the scheme.
	base64.StdEncoding.Encode(buf[:], sum[:])
	return buf[:]
}

// Errors of DecodeSecret. They say nothing about the secret itself.
var (
	errEmptySecret   = errors.New("secret decodes to an empty key")
	errInvalidSecret = errors.New("secret is not base64")
)

// secretEncodings are tried in order by DecodeSecret.
var secretEncodings = [...]*base64.Encoding{
	base64.StdEncoding,
	base64.RawStdEncoding,
	base64.URLEncoding,
	base64.RawURLEncoding,
}

// DecodeSecret decodes an application secret into the HMAC key. Real secrets
// are standard base64; to interoperate with SDKs whose base64 decoding is
// lenient (Node's Buffer.from(s, "base64"), reference §4.3), the standard,
// unpadded standard, URL-safe and unpadded URL-safe alphabets are tried in
// that order, then the secret with "+"→"-", "/"→"_" and trailing "="
// removed is decoded as unpadded URL-safe base64 (mixed alphabets,
// reference §4.8). It fails if nothing decodes or the key is empty. The error
// never contains the secret.
func DecodeSecret(secret string) ([]byte, error) {
	for _, enc := range secretEncodings {
		if b, err := enc.DecodeString(secret); err == nil {
			return nonEmpty(b)
		}
	}
	mixed := strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(secret), "=")
	b, err := base64.RawURLEncoding.DecodeString(mixed)
	if err != nil {
		return nil, errInvalidSecret
	}
	return nonEmpty(b)
}

func nonEmpty(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errEmptySecret
	}
	return b, nil
}

// StringToSign returns the canonical string of reference §4.2:
//
//	UPPER(method) "\n" ContentMD5(body) "\n" contentType "\n" "x-timestamp:" xTimestamp "\n" path
//
// contentType and xTimestamp are the header values verbatim ("" when
// absent); path is the canonicalized resource, e.g. "/calling/v1/callouts".
// Only ASCII letters of method are upper-cased.
func StringToSign(method string, body []byte, contentType, xTimestamp, path string) string {
	return string(appendStringToSign(nil, method, body, contentType, xTimestamp, path))
}

// appendStringToSign appends the canonical string to dst without
// intermediate allocations.
func appendStringToSign(dst []byte, method string, body []byte, contentType, xTimestamp, path string) []byte {
	var md [md5B64Len]byte
	dst = appendUpperASCII(dst, method)
	dst = append(dst, '\n')
	dst = append(dst, contentMD5(&md, body)...)
	dst = append(dst, '\n')
	dst = append(dst, contentType...)
	dst = append(dst, "\nx-timestamp:"...)
	dst = append(dst, xTimestamp...)
	dst = append(dst, '\n')
	dst = append(dst, path...)
	return dst
}

func appendUpperASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Sign returns base64(HMAC-SHA256(key, StringToSign(...))), the signature
// part of an Application Authorization header. key is the decoded secret
// (see [DecodeSecret]).
func Sign(key []byte, method string, body []byte, contentType, xTimestamp, path string) string {
	m := hmac.New(sha256.New, key)
	m.Write(appendStringToSign(nil, method, body, contentType, xTimestamp, path))
	var sig [sigB64Len]byte
	var sum [sha256.Size]byte
	base64.StdEncoding.Encode(sig[:], m.Sum(sum[:0]))
	return string(sig[:])
}

// macKey is a decoded HMAC key with a pool of keyed hashers and scratch
// buffers, so that signing and verifying allocate nothing per request.
type macKey struct {
	key  []byte
	pool sync.Pool // of *macState
}

type macState struct {
	mac hash.Hash
	buf []byte            // string to sign
	sum [sha256.Size]byte // MAC output; here rather than on the stack, where it would escape
}

func newMACKey(key []byte) *macKey {
	k := &macKey{key: key}
	k.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, k.key), buf: make([]byte, 0, 512)}
	}
	return k
}

// sign writes the base64 signature of the request components into out.
func (k *macKey) sign(out *[sigB64Len]byte, method string, body []byte, contentType, xTimestamp, path string) {
	st := k.pool.Get().(*macState) //nolint:forcetypeassert // the pool only holds *macState.
	st.buf = appendStringToSign(st.buf[:0], method, body, contentType, xTimestamp, path)
	st.mac.Reset()
	st.mac.Write(st.buf)
	base64.StdEncoding.Encode(out[:], st.mac.Sum(st.sum[:0]))
	if cap(st.buf) <= 64<<10 { // do not pin huge buffers in the pool
		k.pool.Put(st)
	}
}

// Signer signs outgoing requests (callbacks) for one application with the
// Application scheme, in the form every SDK validator accepts (reference
// §4.5). It is safe for concurrent use.
type Signer struct {
	appKey string
	key    *macKey
}

// NewSigner returns a Signer for appKey with the given secret as configured
// (base64; decoded with [DecodeSecret]).
func NewSigner(appKey, secret string) (*Signer, error) {
	if appKey == "" {
		return nil, errors.New("new signer: empty application key")
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("new signer: invalid application secret: %w", err)
	}
	return &Signer{appKey: appKey, key: newMACKey(key)}, nil
}

// AppKey returns the application key the Signer signs for.
func (s *Signer) AppKey() string { return s.appKey }

// SignRequest signs r, whose body is body (the exact bytes that will be sent),
// as of now:
//
//   - Content-Type is set to [CallbackContentType] if r has none;
//   - x-timestamp is set to now in UTC, formatted with [XTimestampLayout];
//   - Authorization is set to "application <key>:<signature>" computed over
//     r.Method, body, the Content-Type and x-timestamp values and r.URL.Path
//     ("/" when empty, as net/http sends it). The query is never signed.
func (s *Signer) SignRequest(r *http.Request, body []byte, now time.Time) {
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = CallbackContentType
		r.Header.Set("Content-Type", ct)
	}
	ts := now.UTC().Format(XTimestampLayout)
	r.Header.Set(HeaderTimestamp, ts)

	var sig [sigB64Len]byte
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	s.key.sign(&sig, r.Method, body, ct, ts, path)

	var auth strings.Builder
	auth.Grow(len(SchemeApplication) + 1 + len(s.appKey) + 1 + sigB64Len)
	auth.WriteString(SchemeApplication)
	auth.WriteByte(' ')
	auth.WriteString(s.appKey)
	auth.WriteByte(':')
	auth.Write(sig[:])
	r.Header.Set("Authorization", auth.String())
}
