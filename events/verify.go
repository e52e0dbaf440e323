package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWindow is the x-timestamp freshness window used when
// [Verifier.Window] is zero. The reference leaves Sinch's real window
// UNCONFIRMED; ten minutes either way tolerates ordinary clock skew.
const DefaultWindow = 10 * time.Minute

// maxCachedKeys bounds the decoded-key cache of a Verifier; when it is
// exceeded the cache is emptied and refilled on demand.
const maxCachedKeys = 1024

// Verifier authenticates incoming requests (reference §4). It accepts
//
//   - "Basic base64(key:secret)", comparing the secret in constant time with
//     the configured secret string;
//   - "Application key:signature" (scheme in any case, exactly one space
//     after it) with an x-timestamp header, as signed by every official SDK.
//
// Set the fields before first use; a Verifier is safe for concurrent use and
// must not be copied after first use. Decoded secrets are cached (keyed by
// the secret string, so rotated secrets take effect immediately).
type Verifier struct {
	// Lookup returns the configured secret (base64 form) of an application
	// key. It is called concurrently. A nil Lookup knows no keys.
	Lookup func(appKey string) (secret string, ok bool)
	// Window is how far x-timestamp may lie in the past or the future (the
	// bound itself is accepted). Zero or negative means DefaultWindow.
	Window time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	keys  sync.Map // secret string → *macKey
	nkeys atomic.Int64
}

// Verify authenticates r, whose body has already been read into body (the
// raw bytes; do not re-encode). It returns the application key on success.
// Errors wrap one of the package sentinels (see [FailureReason]) and never
// contain secrets.
//
// For the Application scheme the string to sign is built from r.Method
// (ASCII upper-cased), body, the Content-Type header verbatim ("" if absent), the
// x-timestamp header verbatim and the resource. The resource is tried as
// r.URL.Path (the decoded path: what Java signs, and what the others sign
// for ordinary paths), then r.URL.EscapedPath() if different (Node signs its
// literal, possibly escaped, path), then r.URL.RequestURI() if a query is
// present (.NET signs PathAndQuery). For Basic, the secret is compared with
// the configured secret string as is (not base64-decoded). x-timestamp is required, must parse as
// RFC 3339 (any number of fractional digits, "Z" or a numeric offset), and
// is checked against the window after the signature, so only genuinely signed
// requests are reported as stale or future.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", ErrMissingAuth
	}
	scheme, rest, ok := strings.Cut(auth, " ")
	if !ok {
		return "", fmt.Errorf("%w: no credentials after scheme", ErrMalformedAuth)
	}
	switch {
	case equalFoldASCII(scheme, "application"):
		return v.verifyApplication(r, body, rest)
	case equalFoldASCII(scheme, "basic"):
		return v.verifyBasic(rest)
	default:
		// The scheme is not quoted: a misconfigured client could have put
		// credentials there.
		return "", fmt.Errorf("%w: unsupported scheme", ErrMalformedAuth)
	}
}

func (v *Verifier) verifyApplication(r *http.Request, body []byte, rest string) (string, error) {
	appKey, sig, ok := strings.Cut(rest, ":")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: no colon in application credentials", ErrMalformedAuth)
	case appKey == "" || sig == "":
		return "", fmt.Errorf("%w: empty application key or signature", ErrMalformedAuth)
	case appKey[0] == ' ' || appKey[0] == '\t':
		return "", fmt.Errorf("%w: more than one space after scheme", ErrMalformedAuth)
	case strings.IndexByte(sig, ':') >= 0:
		return "", fmt.Errorf("%w: more than one colon in application credentials", ErrMalformedAuth)
	}
	secret, ok := v.lookup(appKey)
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownKey, truncate(appKey, maxQuoted))
	}
	xts := r.Header.Get(HeaderTimestamp)
	if xts == "" {
		return "", fmt.Errorf("%w: header absent", ErrBadTimestamp)
	}
	ts, err := time.Parse(time.RFC3339Nano, xts)
	if err != nil {
		return "", fmt.Errorf("%w: not RFC 3339", ErrBadTimestamp)
	}
	key, err := v.macKey(secret)
	if err != nil {
		return "", fmt.Errorf("application key %q: configured secret: %w", truncate(appKey, maxQuoted), err)
	}

	// The received signature is copied into a fixed array so the constant
	// time comparison needs no allocation; a valid one is sigB64Len long.
	if len(sig) != sigB64Len || r.URL == nil {
		return "", ErrBadSignature
	}
	var got, want [sigB64Len]byte
	copy(got[:], sig)
	ct := r.Header.Get("Content-Type")
	matched := false
	for _, res := range resources(r) {
		if res == "" {
			continue
		}
		key.sign(&want, r.Method, body, ct, xts, res)
		if hmac.Equal(got[:], want[:]) {
			matched = true
			break
		}
	}
	if !matched {
		return "", ErrBadSignature
	}

	window := v.Window
	if window <= 0 {
		window = DefaultWindow
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	switch age := now().Sub(ts); {
	case age > window:
		return "", fmt.Errorf("%w: %s old", ErrStaleTimestamp, age.Round(time.Second))
	case age < -window:
		return "", fmt.Errorf("%w: %s ahead", ErrFutureTimestamp, (-age).Round(time.Second))
	}
	return appKey, nil
}

// resources returns the candidate canonicalized resources of r, in order:
// the decoded path, the escaped path when it differs, and path plus query
// when a query is present. Entries that do not apply are "".
func resources(r *http.Request) [3]string {
	var res [3]string
	res[0] = r.URL.Path
	if r.URL.RawPath != "" || needsEscape(r.URL.Path) {
		if esc := r.URL.EscapedPath(); esc != res[0] {
			res[1] = esc
		}
	}
	if r.URL.RawQuery != "" {
		res[2] = r.URL.RequestURI()
	}
	return res
}

// needsEscape reports whether EscapedPath could differ from p. It is a
// cheap conservative filter (any byte outside [A-Za-z0-9/._~-] says yes) that
// spares the EscapedPath call for ordinary paths.
func needsEscape(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/', c == '-', c == '.', c == '_', c == '~':
		default:
			return true
		}
	}
	return false
}

func (v *Verifier) verifyBasic(rest string) (string, error) {
	if rest == "" || rest[0] == ' ' || rest[0] == '\t' {
		return "", fmt.Errorf("%w: malformed basic credentials", ErrMalformedAuth)
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("%w: basic credentials are not base64", ErrMalformedAuth)
	}
	appKey, gotSecret, ok := strings.Cut(string(raw), ":")
	if !ok || appKey == "" {
		return "", fmt.Errorf("%w: basic credentials without key", ErrMalformedAuth)
	}
	secret, ok := v.lookup(appKey)
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownKey, truncate(appKey, maxQuoted))
	}
	// Compare digests so neither the content nor the length of the secret
	// leaks through timing.
	g, w := sha256.Sum256([]byte(gotSecret)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return "", ErrBadCredentials
	}
	return appKey, nil
}

func (v *Verifier) lookup(appKey string) (string, bool) {
	if v.Lookup == nil {
		return "", false
	}
	return v.Lookup(appKey)
}

// macKey returns the cached decoded key for secret, decoding it on first use.
func (v *Verifier) macKey(secret string) (*macKey, error) {
	if k, ok := v.keys.Load(secret); ok {
		return k.(*macKey), nil //nolint:forcetypeassert // the map only holds *macKey.
	}
	raw, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	if v.nkeys.Add(1) > maxCachedKeys {
		v.keys.Clear()
		v.nkeys.Store(1)
	}
	k, _ := v.keys.LoadOrStore(secret, newMACKey(raw))
	return k.(*macKey), nil //nolint:forcetypeassert // the map only holds *macKey.
}

// equalFoldASCII reports whether s equals the lower-case ASCII word lower,
// ignoring ASCII case only (no Unicode folding).
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
