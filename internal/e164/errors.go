package e164

import "errors"

// Errors returned by [Parse], wrapped with the offending input:
//
//	e164: "abc": not a phone number
//
// Use errors.Is to branch on them.
var (
	// ErrNotNumber means the input holds something other than digits, one
	// leading "+" and the separators space, tab, "-", ".", "(" and ")", or no
	// digits at all, or breaks a numbering rule (for example a NANP area code
	// starting with 0 or 1).
	ErrNotNumber = errors.New("not a phone number")
	// ErrNoCallingCode means the input is in a national format: it starts
	// with neither "+" nor "00".
	ErrNoCallingCode = errors.New("missing country calling code (want +<code> or 00<code>)")
	// ErrUnknownCallingCode means no assigned country calling code is a
	// prefix of the digits.
	ErrUnknownCallingCode = errors.New("unknown country calling code")
	// ErrTooShort means there are fewer digits than any real number of that
	// calling code has.
	ErrTooShort = errors.New("too short")
	// ErrTooLong means there are more than 15 digits (the E.164 maximum), or
	// more than the calling code's fixed length.
	ErrTooLong = errors.New("too long")
)
