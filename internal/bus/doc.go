// Package bus carries requests and replies between the nodes of a region.
//
// A REST request can land on any node; when it concerns a call owned by
// another node, the API forwards it to the owner with Bus.Request and
// returns the owner's answer. The bus only moves opaque payloads tagged with
// a kind string; it knows nothing of calls.
//
// Two implementations share the same semantics (and the same wire
// encoding): Redis, over Redis Pub/Sub for the nodes of a region, and Hub,
// in process for tests and single-node memory mode.
//
// # Channels
//
// Each node listens on one Redis channel, which carries both the requests
// to the node and the replies to the node's own requests:
//
//	<prefix>:bus:<node>       e.g. callcore:use1:bus:node-7
//
// so a Redis bus holds exactly one Pub/Sub connection. The prefix scopes the
// channels to a region. PUBLISH returns how many subscribers got the
// message: 0 means no process of the target node listens, and Request
// fails at once with ErrNoResponder. With a Redis Cluster client the bus
// uses sharded Pub/Sub (SSUBSCRIBE/SPUBLISH), whose count is exact.
//
// # Wire format
//
// Messages are a small binary envelope, version 1:
//
//	offset  size  field
//	0       1     version (1)
//	1       1     type: 1 request, 2 reply, 3 error reply
//	2       16    request id (random)
//	18      8     deadline, Unix ms, big-endian int64 (requests; 0 in replies)
//	26      var   from: uvarint length + node id (1..255 bytes)
//	        var   kind: uvarint length + bytes (requests: 1..255; replies: empty)
//	        var   body: uvarint length + bytes: the payload (types 1 and 2)
//	                    or the error message (type 3, at most 1 KiB)
//
// A reply goes to the channel of the request's from node and carries the
// request id, which the requester correlates with its waiting Request. A
// reply to an unknown or expired id is dropped. Malformed messages
// (unknown version or type, bad lengths, trailing bytes) are dropped; both
// are counted, and logged once per 100.
//
// # Deadlines
//
// A request carries its absolute deadline: the sooner of ctx's deadline
// and Options.Timeout. The handler's context ends at that deadline (node
// clocks are assumed NTP-synchronised); a request already past it on
// arrival is dropped without running the handler, and a reply finished
// after it is not sent.
//
// # Failures
//
// Request returns ErrNoResponder at once when nobody listens for the node,
// ErrTimeout when the deadline passes, *RemoteError when the handler failed
// (or panicked: MsgInternal; or MaxInflight handlers were running: MsgBusy),
// ErrClosed after Close, and ErrUnavailable when this node's own Redis
// connection is down: while the subscription is lost no reply could arrive,
// so requests fail at once instead of timing out; a failed PUBLISH is
// wrapped the same way. go-redis reconnects and resubscribes by itself; the
// bus also pings a silent subscription and recreates it when the pings go
// unanswered (half-open connections).
//
// # Metrics
//
// Registered on Options.Registerer:
//
//   - callcore_bus_requests_total{outcome} and
//     callcore_bus_request_duration_seconds{outcome} (100 µs to 5 s): the
//     Requests of this node; outcome is ok, remote_error, no_responder,
//     timeout, canceled, closed or error (invalid arguments, transport
//     unavailable).
//   - callcore_bus_handled_total{outcome}: requests to this node whose
//     handler ran; outcome is ok, error, panic or late (finished after the
//     requester's deadline: no reply sent).
//   - callcore_bus_dropped_messages_total{reason}: received messages
//     dropped; reason is malformed, expired (request past its deadline on
//     arrival), unknown_reply (reply to an unknown or expired request) or
//     busy (request refused with MsgBusy).
//   - callcore_bus_handlers_in_flight: handlers running.
//   - callcore_bus_reply_errors_total: replies that could not be published.
//   - callcore_bus_receive_errors_total: subscription failures (connection
//     losses, failed reconnections, silent subscriptions recreated).
package bus
