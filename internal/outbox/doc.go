// Package outbox delivers DiCE and Notify events to customer backends at
// least once: an event is made durable before delivery, retried with
// exponential backoff and full jitter while the backend fails (for
// Options.Retention, 24 h by default), and acknowledged when the backend
// answers 2xx. Every event carries a stable id (Entry.ID, sent by the
// DeliverFunc as the x-callcore-event-id header) so that a backend can drop
// the duplicates that at-least-once delivery implies. The HTTP delivery
// itself (signing, POST, fallback URL) is the caller's DeliverFunc.
//
// # Redis
//
// Redis keeps the events of a region in one stream read by every node
// through one consumer group (keys for prefix "callcore:use1"):
//
//	{callcore:use1}:outbox        stream of entries; consumer group "delivery"
//	{callcore:use1}:outbox:dead   dead letters (XADD MAXLEN ~ 10000)
//
// Entry fields are listed in codec.go (v, id, call, app, kind, url, fb,
// body, at). The app's secret is never stored.
//
// Per event the happy path costs two round trips plus a share of one:
//
//  1. Enqueue: XADD (the event is durable when it returns).
//  2. The reader goroutine's XREADGROUP GROUP delivery <consumer> COUNT n
//     BLOCK 2s STREAMS <stream> > (one reply carries up to n entries; a
//     blocked read wakes as soon as any node XADDs, so an idle system
//     delivers within a millisecond or two).
//  3. After the DeliverFunc succeeded: MULTI XACK XDEL EXEC, one pipeline
//     for every entry that completed at about the same time.
//
// Entries read by a consumer are pending for it until acknowledged. A
// failing entry stays pending for its consumer and is retried by the same
// process from a local timer heap. An entry still failing Retention after
// EnqueuedAt, or failing with a Permanent error, is copied to the
// dead-letter stream with the reason and last error, acknowledged and
// deleted in one MULTI/EXEC, logged (call_id, event_id) and counted. A
// stream entry that does not decode is dead-lettered the same way with
// reason "malformed".
//
// Consumers are named "<node>/<boot id>". Close leaves the undelivered
// entries pending for its consumer. ClaimNode(node) moves the entries
// pending for every other consumer of node to the caller, with a Lua script
// that reads XPENDING and XCLAIMs in one step (two nodes claiming at once
// never both get an entry), then deletes those consumers with a script that
// refuses to delete one that still holds entries. NewRedis calls it for its
// own node id, so a restarted node resumes what its previous incarnation
// left; the cluster membership's OnDead should call it for a dead node.
// Nothing is reclaimed by idle time: a live node may legitimately retry an
// entry for hours.
//
// # Redis outages
//
// Enqueue does not lose an event because Redis is unreachable: the entry
// goes to a bounded in-memory spill (Options.SpillLimit, gauge
// callcore_outbox_spilled; a full spill makes Enqueue fail with
// ErrSpillFull), is delivered from memory with the same rules, and is
// written to the stream when Redis answers again if it is still
// undelivered. Acknowledgements that cannot be written are kept and retried.
// The reader reconnects by itself; the outage is logged once when it starts
// and once when it ends. After a reader error the reader re-reads the
// entries pending for its own consumer (XREADGROUP … 0), in case a reply
// was lost. A Redis restart without persistence loses the stream and the
// group: the reader creates the group again (from id 0, so that entries
// flushed from the spill first are not skipped), the entries this process
// held are still delivered from memory, and the rest is gone.
//
// # Memory
//
// Memory has the same retry, backoff, retention and dead-letter behaviour
// inside one process, without durability.
package outbox
