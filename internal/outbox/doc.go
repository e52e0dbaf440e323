// Package outbox delivers DiCE and Notify events to customer backends at
// least once: an event is made durable before delivery, retried with
// exponential backoff and full jitter while the backend fails (for
// Options.Retention, 24 h by default), and acknowledged when the backend
// answers 2xx. Every event carries a stable id (Entry.ID, sent by the
// DeliverFunc as the x-callcore-event-id header) so that a backend can drop
// the duplicates that at-least-once delivery implies. The HTTP delivery
// itself (signing, POST, fallback URL) is the caller's DeliverFunc.
//
// # Order
//
// The events of one call (same non-empty Entry.CallID) are delivered one
// at a time, in the order they were enqueued: a later event waits, without
// an attempt, while an earlier one is pending (in flight or waiting for its
// next retry), and starts once the earlier one is acknowledged or
// dead-lettered. Events of different calls, and events without a CallID,
// are delivered concurrently (Options.Workers). A call whose first event
// keeps failing holds its later events back as long (Retention at most);
// each still expires Retention after its own EnqueuedAt, so an event that
// waited that long gets one attempt before it is dead-lettered.
//
// The guarantee holds for the events enqueued on one node. Its limits:
//
//   - Events of one call enqueued on two nodes are not ordered between
//     them (e.g. the DiCE that the node taking over a dead node's calls
//     queues, relative to the dead node's events: ClaimNode schedules the
//     dead node's entries before it returns, up to Options.MaxLocal, so
//     call it before queueing such events).
//   - Across a takeover, an event that was in flight on the dead node (or
//     delivered but not acknowledged yet) is delivered again by the node
//     that took over, and thus may repeat after the backend saw it: the
//     event id dedups. The first deliveries of a call's events stay in
//     order.
//   - A node declared dead that is in fact alive, or that comes back while
//     its stream is adopted, shares its entries with the adopting node
//     until the latter notices (within about Options.ReadBlock): during
//     that window the events of one call may be delivered by both, out of
//     order.
//   - Memory gives the same order inside its process.
//
// # Redis
//
// Each node writes the events it enqueues to a stream of its own, which
// only that node reads while it lives (keys for prefix "callcore:use1"):
//
//	{callcore:use1}:outbox:<node>   entries enqueued on <node>; group "delivery"
//	{callcore:use1}:outbox:dead     dead letters of the region (XADD MAXLEN ~ 10000)
//	{callcore:use1}:outbox-nodes    set of the node ids that have a stream
//
// All of them carry the hash tag, so the transactions and scripts that
// touch several of them are legal on Redis Cluster. The node id "dead"
// (ReservedNode) is refused. Entry fields are listed in codec.go (v, id,
// call, app, kind, url, fb, body, at). The app's secret is never stored.
//
// Order within a stream is enqueue order and a single consumer (this
// process) reads it, so the entries of a call reach the engine in order,
// where the per-call FIFO keeps them so.
//
// Per event the happy path costs two round trips plus a share of one:
//
//  1. Enqueue: XADD to the node's stream (the event is durable when it
//     returns).
//  2. The reader goroutine's XREADGROUP GROUP delivery <consumer> COUNT n
//     BLOCK 2s STREAMS <adopted…> <own> > … (one reply carries up to n
//     entries per stream; a blocked read wakes as soon as the node XADDs,
//     so an idle system delivers within a millisecond or two).
//  3. After the DeliverFunc succeeded: MULTI XACK XDEL EXEC, one
//     transaction for every entry that completed at about the same time.
//
// An idle node adds one XREADGROUP of its own history (COUNT 1) per
// ReadBlock, so that its consumer looks alive (XINFO CONSUMERS idle;
// Redis 7.0 does not refresh it for a blocked read that got nothing).
//
// Entries read by a consumer are pending for it until acknowledged. A
// failing entry stays pending for its consumer and is retried by the same
// process from a local timer heap. An entry still failing Retention after
// EnqueuedAt, or failing with a Permanent error, is copied to the
// dead-letter stream with the reason and last error, acknowledged and
// deleted in one MULTI/EXEC, logged (call_id, event_id) and counted. A
// stream entry that does not decode is dead-lettered the same way with
// reason "malformed". Options.MaxLocal bounds the entries a process holds
// (the ones waiting behind an earlier event of their call included); the
// rest waits in the stream.
//
// # Takeover
//
// Consumers are named "<node>/<boot id>". Close leaves the undelivered
// entries pending for its consumer. ClaimNode(node), called by the node
// that found node dead (cluster membership's OnDead):
//
//  1. moves the entries pending for every other consumer of node, in every
//     outbox stream of the region (node's own, and those node was adopting),
//     to the caller's consumer, with a Lua script that reads XPENDING and
//     XCLAIMs in one step (two nodes claiming at once never both get an
//     entry), schedules them in stream order, then deletes those consumers
//     with a script that refuses to delete one that still holds entries;
//  2. adopts node's stream (and the streams node was adopting whose own
//     node looks dead): it creates its consumer there and reads the unread
//     entries (as many as MaxLocal allows) before returning, so a call's
//     claimed entries come before its unread ones; then its reader reads
//     the adopted streams next to its own (XREADGROUP … STREAMS adopted…
//     own > … >).
//
// About once per ReadBlock the reader runs a script on each adopted stream:
// once it holds no entry (XLEN 0, nothing pending) and no consumer of its
// node was seen in the last max(2s, 4·ReadBlock), it deletes the stream
// and removes the node from the set; if a consumer of its node was seen
// recently, the node is back (a new incarnation creates its consumer at
// start): the adopter stops reading the stream (the entries it holds are
// still delivered and acknowledged by it) and the stream stays its
// node's. A node dying while it adopts is handled by whoever claims it:
// its consumer in the adopted stream leads there.
//
// NewRedis calls ClaimNode for its own node id, so a restarted node (same
// node id, new boot id) resumes what its previous incarnation left: its
// pending entries, then its stream's unread ones. Nothing is reclaimed by
// idle time: a live node may legitimately retry an entry for hours.
//
// # Redis outages
//
// Enqueue does not lose an event because Redis is unreachable: the entry
// goes to a bounded in-memory spill (Options.SpillLimit, gauge
// callcore_outbox_spilled; a full spill makes Enqueue fail with
// ErrSpillFull), is delivered from memory with the same rules, and is
// written to the node's stream when Redis answers again if it is still
// undelivered; it then stays in its place in its call's order, as a stream
// entry held by this process. Acknowledgements that cannot be written are
// kept and retried. The reader reconnects by itself; the outage is logged
// once when it starts and once when it ends. After a reader error the
// reader re-reads the entries pending for its own consumer (XREADGROUP … 0),
// in case a reply was lost. A Redis restart without persistence loses the
// streams and groups: the reader creates its group again (from id 0, so
// that entries flushed from the spill first are not skipped) and drops the
// adopted streams, the entries this process held are still delivered from
// memory, and the rest is gone.
//
// # Memory
//
// Memory has the same order, retry, backoff, retention and dead-letter
// behaviour inside one process, without durability.
package outbox
