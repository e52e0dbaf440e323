// Package timeline records, for each call, what every node did with it —
// the SIP messages it sent and received, each callback with its reply, the
// SVAML it executed, the state transitions, media events and errors — and
// serves it back, ordered, for GET /calling/v1/calls/id/{id}/timeline.
//
// # Recording
//
// A Recorder is the node's writer. Record and End never block and never
// fail: entries go into a bounded in-memory buffer shared by all calls of
// the node (an entry that finds it full is dropped and counted), and a
// background loop flushes the buffer every Options.FlushInterval in one
// call to the Backend (one Redis pipeline). Redaction and encoding happen
// in that loop, off the call's path.
//
// # Storage
//
// Entries are shared by the nodes of a region through a Backend: Redis
// (NewRedis, a list per call under "<prefix>:tl:{<call id>}", one Lua
// script per call and flush appending, capping and expiring it atomically)
// or memory (NewMemory, for a node with the memory store, which also holds
// at most MaxCalls timelines and MaxBytes of entries, dropping the oldest
// first). An entry is stored as compact JSON; a body known to be valid
// JSON and kept whole (an event as sent, an accepted reply) is embedded as
// JSON rather than as an escaped string, and read back as its text. Both
// backends keep the same rules:
//
//   - A call keeps at most MaxEntries entries: the first MaxEntries-1, then
//     a marker entry (kind error, data {"truncated": true}); later entries
//     are dropped and counted.
//   - The list lives as long as the call record: LiveTTL from every flush
//     while the call runs, EndedTTL from the call's end (Recorder.End). An
//     entry that arrives after the end (a DiCE delivered later, possibly by
//     another node) leaves the ended TTL as it is: a list whose TTL is at
//     most EndedTTL is taken for the list of an ended call.
//
// # Redaction
//
// Phone numbers and cookie values are masked before they are stored,
// unless Options.RevealNumbers / RevealCookies say otherwise. Record's data
// follows conventions on keys (see Recorder.Record): bodies under request,
// reply and document are redacted as JSON (cli, to, from, number, endpoint
// and rdnis values; cookie values and setCookie values) and truncated to
// Options.MaxBody bytes; URLs under url lose their userinfo and query
// values; every other string has E.164-looking numbers ("+" and 7 to 15
// digits) masked. A number keeps its first three digits and its last two:
// "+46708000012" becomes "+467******12".
package timeline
