// Package cookies holds the per-call state that SVAML setCookie
// instructions store (reference §6.3).
//
// A [Jar] maps string keys to string values, keeps them in the order they
// were first set and enforces fixed limits, so that a call record that
// carries it, and every later callback event that repeats it as
// "cookies": [{"key": ..., "value": ...}], stays small:
//
//   - at most [MaxCookies] (50) cookies;
//   - a key is non-empty valid UTF-8 of at most [MaxKeyBytes] (256) bytes;
//   - a value is valid UTF-8 (possibly empty) of at most [MaxValueBytes]
//     (4096) bytes;
//   - the keys and values together hold at most [MaxTotalBytes] (16 KiB).
//
// Sizes are counted in bytes of the decoded strings, not of their JSON
// form. Valid UTF-8 is required because JSON would silently replace invalid
// bytes, changing a value (and its size) between two events.
//
// The JSON form of a Jar is the wire form of the cookies field:
// [{"key":"k","value":"v"}, ...] in insertion order, "[]" when empty.
// Unmarshalling enforces the same limits, so a stored jar that loads is a
// jar that Set could have built.
package cookies
