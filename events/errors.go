package events

import "errors"

// Sentinel errors returned (wrapped) by [Verifier.Verify]. Use [errors.Is] to
// test for them and [FailureReason] to turn them into a metric label.
var (
	// ErrMissingAuth means the request has no Authorization header.
	ErrMissingAuth = errors.New("missing authorization header")
	// ErrMalformedAuth means the Authorization header could not be parsed
	// (unknown scheme, wrong spacing, missing colon, empty key or signature,
	// invalid base64 in Basic credentials).
	ErrMalformedAuth = errors.New("malformed authorization header")
	// ErrUnknownKey means the application key is not known to the Verifier.
	ErrUnknownKey = errors.New("unknown application key")
	// ErrBadSignature means the Application signature does not match the
	// request.
	ErrBadSignature = errors.New("signature mismatch")
	// ErrBadCredentials means the Basic credentials carry a wrong secret.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrBadTimestamp means x-timestamp is missing or is not an RFC 3339
	// timestamp.
	ErrBadTimestamp = errors.New("missing or invalid x-timestamp")
	// ErrStaleTimestamp means x-timestamp is older than the Verifier window.
	ErrStaleTimestamp = errors.New("x-timestamp too old")
	// ErrFutureTimestamp means x-timestamp is further in the future than the
	// Verifier window.
	ErrFutureTimestamp = errors.New("x-timestamp in the future")
)

// Sentinel errors returned (wrapped) by [Decode] and [ParseKind].
var (
	// ErrMissingEvent means the body has no "event" field, or it is empty or
	// null.
	ErrMissingEvent = errors.New("missing event field")
	// ErrUnknownEvent means the "event" field names no known event kind.
	ErrUnknownEvent = errors.New("unknown event kind")
)

// FailureReason maps an error returned by [Verifier.Verify] to a bounded
// label suitable for a metric: "missing", "malformed", "unknown_key",
// "bad_signature", "bad_credentials", "bad_timestamp", "stale_timestamp",
// "future_timestamp" or "other". It returns "" for a nil error.
func FailureReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingAuth):
		return "missing"
	case errors.Is(err, ErrMalformedAuth):
		return "malformed"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrBadCredentials):
		return "bad_credentials"
	case errors.Is(err, ErrBadTimestamp):
		return "bad_timestamp"
	case errors.Is(err, ErrStaleTimestamp):
		return "stale_timestamp"
	case errors.Is(err, ErrFutureTimestamp):
		return "future_timestamp"
	default:
		return "other"
	}
}
