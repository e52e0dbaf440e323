// Package rooms holds the conference room records shared by the nodes of a
// region: for each room (an application key and a conference id), the node
// hosting the room's mixer and the participants (calls, each running on
// some node).
//
// The host is elected by a lease: the first joiner's node takes it (Join),
// renews it (Renew), and another node takes it only once it expired or
// when the caller declares its holder dead (Claim). Each lease taken gets a
// new HostEpoch, a fencing token that only grows. RemoveNode removes the
// participants of a dead node from every room, through an index of rooms
// per node.
//
// Redis shares the rooms between nodes (standalone, Sentinel or Cluster);
// Memory is the single-node variant with the same semantics. The
// conformance suite in package roomstest runs against both.
//
// # Keys
//
// Every key is under the hash tag of the region prefix and a "conf:"
// namespace, so all of them share one Redis Cluster slot and the multi-key
// scripts are legal. App keys, room ids and node ids are encoded with
// unpadded base64url (alphabet A-Z a-z 0-9 - _), so that no name (room ids
// are any Unicode up to 64 characters, ':' '{' '}' included) can collide
// with another or break the hash tag; <ref> is "<app>:<id>" encoded.
//
//	{p}:conf:room:<ref>  hash    participants and meta fields (see below); PEXPIRE RecordTTL at each write
//	{p}:conf:host:<ref>  string  host lease: the holder's node id; PX lease ttl
//	{p}:conf:bynode      zset    index, all scores 0, members "<node>:<ref>" (node encoded); PEXPIRE RecordTTL
//	{p}:conf:epoch       string  counter of the host epochs of the region (no expiry)
//
// Fields of a room hash:
//
//	p:<call id>  participant JSON {"id","node","cli","muted","onhold","joined"}
//	w:<call id>  encoded node of the participant
//	n:<node>     participants on that (encoded) node; the room is in the node's index while positive
//	count        participants
//	epoch        HostEpoch of the last lease taken
//
// A participant JSON that does not decode (or names another call) is
// skipped by Get, Join and Claim and counted in
// callcore_conference_store_bad_records_total; it never fails a call.
//
// # Round trips
//
// Join, Leave, SetFlags, Claim and Renew (for any number of rooms) are one
// Lua script each (EVALSHA; EVAL once more after a Redis restart); Get and
// Hosts (for any number of rooms) one MULTI/EXEC. RemoveNode reads the
// node's index by lex range (ZRANGE BYLEX) and runs one script per batch
// of 128 rooms, until the index range is empty: each room is updated
// atomically. A lease expires on the Redis server's clock; Renew compares
// the holder and extends it in the script (Redis 7.0 has no SET IFEQ).
//
// # Metrics
//
//	callcore_conference_store_ops_total{op,outcome}
//	callcore_conference_store_op_duration_seconds{op}
//	callcore_conference_store_bad_records_total
//
// op is join, leave, get, set_flags, renew, claim, hosts or remove_node;
// outcome is ok, not_found, no_participant, invalid, canceled or error.
package rooms
