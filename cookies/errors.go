package cookies

import "errors"

// Errors of [Jar.Set] and [Jar.UnmarshalJSON], returned wrapped with
// details; test with [errors.Is]. The messages never contain values.
var (
	// ErrTooManyCookies means a new key would exceed MaxCookies.
	ErrTooManyCookies = errors.New("too many cookies")
	// ErrCookieTooLarge means a key longer than MaxKeyBytes, a value longer
	// than MaxValueBytes, a jar whose keys and values would exceed
	// MaxTotalBytes, or a JSON document longer than MaxJSONBytes.
	ErrCookieTooLarge = errors.New("cookie too large")
	// ErrInvalidKey means an empty (or, in JSON, missing or null) key, or a
	// key that is not valid UTF-8.
	ErrInvalidKey = errors.New("invalid cookie key")
	// ErrInvalidValue means a value that is not valid UTF-8, or, in JSON, a
	// value that is not a string.
	ErrInvalidValue = errors.New("invalid cookie value")
)
