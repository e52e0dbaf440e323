// Package cluster tracks which callcore nodes of a region are alive, elects
// one of them (with a lease) to reap the dead ones, and fences dead
// incarnations so that a node cut off from Redis learns, when it comes back,
// that its calls were finalized elsewhere.
//
// Each process joins with a node id (configuration) and a boot id (random
// per start, NewBootID); the pair is an incarnation. Join returns the
// previous incarnation of the same node id when one is still recorded, so
// that a process restarted after a kill -9 finalizes its own old calls. The
// elected node calls Options.OnDead for each incarnation whose heartbeat
// expired or that left; the caller ends that incarnation's calls there
// (FINAL, GENERALERROR, duration up to Member.LastSeen) and enqueues their
// DiCE. OnDead and the caller's handling of Join's previous incarnation
// must be idempotent (see Options.OnDead). Local is the single-process
// variant for the memory store.
//
// # Keys
//
// Every key is under the hash tag "{prefix}" and a "cluster:" namespace, so
// all of them share one Redis Cluster slot (the multi-key scripts are legal)
// and do not collide with the store's keys under the same prefix:
//
//	{p}:cluster:hb:<node>      string  member JSON; PX TTL; refreshed by each heartbeat
//	{p}:cluster:nodes          zset    node -> last seen (Unix ms, the member's own clock)
//	{p}:cluster:info           hash    node -> member JSON (the last written; Left after Leave)
//	{p}:cluster:reaper         string  lease: "<boot> <node>" of the holder; PX LeaseTTL
//	{p}:cluster:fenced:<node>  set     boot ids declared dead; PEXPIRE 1 day at each addition
//	{p}:cluster:prev           hash    node -> JSON of the incarnation its current one replaced
//
// A node id is in nodes and info from Join until the reaper forgets it
// after OnDead, or until Redis loses the data.
//
// # Scripts
//
// Each is one round trip (EVALSHA, EVAL once after a Redis restart):
//
//   - heartbeat: unless the boot is fenced (then it writes nothing and
//     answers "fenced"), sets the heartbeat key, the zset score and info, and
//     takes the lease if free or renews it if held (compare and PEXPIRE). It
//     says whether the node's info record existed (not after data loss).
//     After fencing, the same script in register mode writes the new boot
//     only once info no longer holds another boot.
//   - join: fences the boot recorded in info for the node id (if another)
//     and returns its record, then writes the new member: the old
//     incarnation leaves the reaper's view.
//   - claim (leader, before OnDead): only if the caller holds the lease, the
//     info record is byte-for-byte the one judged dead and the heartbeat key
//     is gone, adds the boot to the fenced set.
//   - forget (after OnDead succeeded): removes the node from nodes and info
//     only if info still holds the reaped record (no re-join meanwhile).
//   - leave: releases the lease, deletes the heartbeat key and writes the
//     Left record; release (Close): deletes the lease if held.
//
// # Election and reaping
//
// With I = TTL/3, every node heartbeats every I, and the heartbeat also
// takes or renews the lease: the leader is whoever holds it, and a node
// that cannot heartbeat cannot lead. IsLeader turns false by itself LeaseTTL
// after the last successful renewal, never later than Redis expires the
// lease.
//
// Every node scans the members every I (zset and info in one pipeline, the
// heartbeat keys in one MGET) and remembers since when it has seen each
// info record unchanged; the leader also scans at once when elected. The
// leader reaps a member whose heartbeat key is gone and which either left,
// or whose last seen is older than TTL by the leader's clock and whose
// record it has seen unchanged for at least W = TTL/2. It claims (fences)
// it, calls OnDead with the record (LastSeen = last heartbeat, by the dead
// member's clock; nodes are assumed NTP-synced), then forgets it. A failed
// OnDead is retried at the next scans, maybe by another leader. Members are
// processed one at a time on the reaper goroutine; heartbeats go on
// meanwhile, so a long OnDead does not lose the lease.
//
// Clock skew: the key's expiry (Redis's clock) is what proves the member
// silent, the last-seen comparison only adds the skew to the detection
// time of a member whose clock runs ahead.
//
// # Timing
//
// Let h be the start of the last successful heartbeat of a member that
// crashes (h is at most I before the crash), s the amount by which its
// clock runs ahead of the leader's (0 if behind), L = LeaseTTL. OnDead
// starts (plus Redis latency):
//
//   - crashed member, not the leader: by h + TTL + s + I (= h + 4/3·TTL + s),
//     since the record has been observed since h + I and TTL − I ≥ W;
//   - crashed leader (lease not released): another node takes the lease at
//     its first heartbeat after h + L and scans at once: by
//     h + max(L + I, TTL + s + I); with the default L = TTL, h + 4/3·TTL + s;
//   - Close (lease released) as a crashed member: h + TTL + s + I;
//   - Leave: by the leader's next scan, at most I after Leave (the next
//     heartbeat of another node takes a released lease and scans at once).
//
// Since h is before the crash, with NTP-synced clocks a crashed node's
// calls are handed over within 4/3·TTL of the crash (8 s with the default
// 6 s TTL), under the 2·TTL target; a leaving node's within I.
//
// # Fencing
//
// A node cut off from Redis for more than TTL is reaped like a dead one.
// Its boot is fenced before OnDead, so its first heartbeat after the
// partition answers "fenced": OnFenced runs (the caller stops its calls
// without sending their events, which the reaper's OnDead sent), and the
// membership registers again under a new boot (Self().Boot) as soon as the
// reaper has forgotten the old record. A process whose node id was taken
// over by a newer incarnation (Join) is fenced the same way and stays
// unregistered.
//
// # Redis outages and restarts
//
// While heartbeats fail, callcore_cluster_redis_up is 0, the first failure
// and the recovery are logged once each, the lease lapses and nothing is
// reaped (a node reaps only after its own heartbeat succeeded). After a
// failed heartbeat or scan, or when a heartbeat finds the node's record or
// its own lease missing (data lost), every node forgets its observations,
// so nobody is reaped before W = TTL/2 of healthy observation: live members
// heartbeat (every I) before that, which prevents a storm of OnDead after a
// restart from an old snapshot or a failover to a lagging replica.
//
// A Redis restart without persistence loses all these keys. Live members
// register again at their next heartbeat (and a leader is elected again);
// nothing is reaped since the zset is empty. What is lost: members that
// died shortly before or during the outage are never reaped (their calls
// must be cleaned up by other means, such as the store's record TTLs);
// fenced sets, so that a node reaped before the restart and coming back
// after it is not fenced; and the prev stash. Data restored from an old
// snapshot can resurrect records of members already reaped: they are then
// reaped again (OnDead must be idempotent).
package cluster
