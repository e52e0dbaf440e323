package cluster

import "github.com/redis/go-redis/v9"

// The per-member scripts declare the keys of keys.member, in this order:
//
//	KEYS[1] heartbeat   {p}:cluster:hb:<node>
//	KEYS[2] nodes       {p}:cluster:nodes
//	KEYS[3] info        {p}:cluster:info
//	KEYS[4] fenced      {p}:cluster:fenced:<node>
//	KEYS[5] reaper      {p}:cluster:reaper
//	KEYS[6] prev        {p}:cluster:prev
//
// Member JSON is decoded in Lua (cjson) only to read its boot id, and only
// with pcall, so that a corrupt record is overwritten rather than fatal.

// Results of heartbeatScript (first element).
const (
	beatFenced = 0 // this boot is in the fenced set: nothing written
	beatOK     = 1 // written
	beatWait   = 2 // register mode: another incarnation holds the record
)

// heartbeatScript refreshes a member: heartbeat key (PX ttl), zset score and
// info, unless its boot was fenced; and takes or renews the reaper lease if
// it is free or already held by this member.
//
// ARGV: node, boot, member JSON, ttl ms, score (last seen, Unix ms), lease
// token, lease ttl ms, mode ("beat" or "register"). In register mode (a
// fenced process coming back with a new boot) the member is written only if
// the info record is absent or already its own.
//
// Returns {status, had, leader}: status is beatFenced, beatOK or beatWait;
// had is 1 if the node had an info record before the call (0 after Redis
// lost its data); leader is 0 if another member holds the lease, 1 if this
// member renewed it, 2 if it took it free.
var heartbeatScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then return {0, 0, 0} end
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if ARGV[8] == 'register' and cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' and m.boot ~= ARGV[2] then return {2, 1, 0} end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local lead = 0
local holder = redis.call('GET', KEYS[5])
if holder == ARGV[6] then
  redis.call('PEXPIRE', KEYS[5], ARGV[7])
  lead = 1
elseif not holder then
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
  lead = 2
end
local had = 0
if cur then had = 1 end
return {1, had, lead}
`)

// joinScript registers a new incarnation. If the info record holds another
// boot of the same node, that boot is fenced and its record returned (and
// stashed in prev, so that a retried Join with the same boot returns it
// again); the new record replaces it, which removes the old incarnation from
// the reaper's view.
//
// ARGV: node, boot, member JSON, ttl ms, score (Unix ms), fenced ttl ms.
// Returns the previous member JSON or nil.
var joinScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[3], ARGV[1])
local prev = false
if cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' and type(m.boot) == 'string' then
    if m.boot == ARGV[2] then
      prev = redis.call('HGET', KEYS[6], ARGV[1])
    else
      prev = cur
      redis.call('SADD', KEYS[4], m.boot)
      redis.call('PEXPIRE', KEYS[4], ARGV[6])
    end
  end
end
if prev then
  redis.call('HSET', KEYS[6], ARGV[1], prev)
else
  redis.call('HDEL', KEYS[6], ARGV[1])
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return prev
`)

// Results of claimScript.
const (
	claimOK        = 1  // fenced: call OnDead
	claimNotLeader = 0  // the caller does not hold the lease
	claimChanged   = -1 // the info record changed (heartbeat, re-join, forgotten)
	claimAlive     = -2 // the heartbeat key exists
)

// claimScript fences a dead member before OnDead: only the lease holder may,
// only if the info record is still exactly the one the reaper judged dead,
// and only if its heartbeat key is gone.
//
// ARGV: node, member JSON as scanned, lease token, boot, fenced ttl ms.
// Returns claimOK, claimNotLeader, claimChanged or claimAlive.
var claimScript = redis.NewScript(`
if redis.call('GET', KEYS[5]) ~= ARGV[3] then return 0 end
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -2 end
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
return 1
`)

// forgetScript removes a reaped member from the zset and info (and its prev
// stash) if its info record is still the one reaped, i.e. the node did not
// re-register meanwhile.
//
// ARGV: node, member JSON as reaped. Returns 1 if removed, 0 if not.
var forgetScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
return 1
`)

// Results of leaveScript.
const (
	leaveOK     = 1  // marked Left
	leaveFenced = 0  // already fenced: the reaper has it
	leaveOther  = -1 // another incarnation holds the node id
)

// leaveScript releases the lease if held, deletes the heartbeat key and
// marks the member Left in info (the zset score becomes the leave time), so
// that the reaper processes it at its next scan.
//
// ARGV: node, boot, Left member JSON, lease token, score (Unix ms).
// Returns leaveOK, leaveFenced or leaveOther.
var leaveScript = redis.NewScript(`
if redis.call('GET', KEYS[5]) == ARGV[4] then redis.call('DEL', KEYS[5]) end
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then return 0 end
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' and type(m.boot) == 'string' and m.boot ~= ARGV[2] then return -1 end
end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
`)

// releaseScript deletes the reaper lease if ARGV[1] (the token) holds it.
// KEYS[1] is the lease. Returns 1 if deleted.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
