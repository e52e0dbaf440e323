// Package events holds the wire types of the Sinch-compatible callback events
// (ICE, ACE, PIE, DiCE and Notify) and the request signing used both for
// outgoing callbacks and for authenticating incoming REST requests.
//
// # Events
//
// The platform POSTs one JSON event per callback to the application's
// callback URL; the "event" field discriminates (reference §3). [ICE], [ACE],
// [PIE], [DiCE] and [Notify] mirror those bodies field for field: call ids are
// sent as lower-case "callid", DiCE "from" is a plain string, money values are
// {currencyId, amount} objects and timestamps are RFC 3339 UTC strings with a
// "Z" suffix (see [Timestamp]). Marshalling any event with encoding/json
// produces compact JSON with a stable field order and injects the "event"
// discriminator, so callers never set it themselves. [Decode] parses a body
// of any kind and returns a pointer to the matching type.
//
// Which fields are always emitted and which are omitted when empty is
// documented on each type. The rule is: a field that every observed payload
// (SDK fixtures and test steps) carries is always written, even when it is the
// zero value; a field that the reference marks as optional is omitted when
// empty. Cookies (reference §6.3) are emitted only when a setCookie
// instruction stored at least one.
//
// # Signing
//
// Requests are signed with the "Application" scheme (reference §4.2):
//
//	StringToSign = UPPER(method) + "\n" + ContentMD5(body) + "\n" + Content-Type + "\n" +
//	               "x-timestamp:" + x-timestamp + "\n" + path
//	Signature    = base64(HMAC-SHA256(base64decode(secret), StringToSign))
//	Authorization: application <key>:<Signature>
//
// A [Signer] signs outgoing callbacks in the form every SDK validator accepts
// (lower-case scheme, .NET "O" style x-timestamp, explicit Content-Type). A
// [Verifier] authenticates incoming requests signed by any of the official
// SDKs (Node, Python, Java, .NET; reference §4.3) or sent with Basic
// credentials, enforces an x-timestamp freshness window and reports failures
// through sentinel errors that [FailureReason] maps to bounded metric labels.
// Secrets never appear in error messages.
//
// # Delivery
//
// A [Client] POSTs signed events to an application's callback URL with
// per-application connect and total timeouts, tries the fallback URL once
// when the primary fails, and reports failures as a [*DeliveryError] with a
// bounded reason (reference §3.1, §4.5).
package events
