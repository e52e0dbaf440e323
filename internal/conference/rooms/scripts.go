package rooms

import "github.com/redis/go-redis/v9"

// Fields of a room hash ({p}:conf:room:<ref>). Participant data are under
// "p:", so that no call id can collide with a meta field.
//
//	p:<call id>  participant JSON (Participant)
//	w:<call id>  nodeRef of the participant's Node (where the call runs)
//	n:<nodeRef>  number of participants on that node
//	count        number of participants (those with a w: field)
//	epoch        HostEpoch of the last lease taken
//
// The w: and n: fields keep the index {p}:conf:bynode (members
// "<nodeRef>:<roomRef>") exact without decoding JSON in Lua: a room is in
// a node's index while n:<nodeRef> is positive. Only SetFlags decodes the
// JSON (cjson, under pcall: an unreadable record is "no participant").
//
// Every script declares every key it touches; all share the hash tag.

// luaPrelude holds the helpers of the room scripts.
const luaPrelude = `
local function addTo(h, idx, w, ref)
  redis.call('HINCRBY', h, 'n:' .. w, 1)
  redis.call('ZADD', idx, 0, w .. ':' .. ref)
end
local function dropFrom(h, idx, w, ref)
  if redis.call('HINCRBY', h, 'n:' .. w, -1) <= 0 then
    redis.call('HDEL', h, 'n:' .. w)
    redis.call('ZREM', idx, w .. ':' .. ref)
  end
end
local function deleteRoom(h, l, idx, ref)
  local f = redis.call('HKEYS', h)
  for i = 1, #f do
    if string.sub(f[i], 1, 2) == 'n:' then
      redis.call('ZREM', idx, string.sub(f[i], 3) .. ':' .. ref)
    end
  end
  redis.call('DEL', h, l)
end
local function take(h, l, ep, node, ttl)
  redis.call('SET', l, node, 'PX', ttl)
  redis.call('HSET', h, 'epoch', redis.call('INCR', ep))
end
local function snapshot(h, l)
  return {redis.call('GET', l) or '', redis.call('HGET', h, 'epoch') or '0', redis.call('HGETALL', h)}
end
`

// joinScript adds or replaces a participant, creating the room, and takes
// the host lease if none is live. A lease left by a room that no longer
// exists is dropped first.
//
// KEYS: room hash, host lease, bynode index, epoch counter.
// ARGV: call id, participant JSON, nodeRef of its node, roomRef, host
// node, lease ttl ms, record ttl ms.
// Returns the snapshot {host or "", epoch, HGETALL}.
var joinScript = redis.NewScript(luaPrelude + `
local h, l, idx, ep = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cid, w, ref = ARGV[1], ARGV[3], ARGV[4]
if redis.call('EXISTS', h) == 0 then redis.call('DEL', l) end
local old = redis.call('HGET', h, 'w:' .. cid)
if not old then
  redis.call('HINCRBY', h, 'count', 1)
  addTo(h, idx, w, ref)
elseif old ~= w then
  dropFrom(h, idx, old, ref)
  addTo(h, idx, w, ref)
else
  redis.call('ZADD', idx, 0, w .. ':' .. ref)
end
redis.call('HSET', h, 'p:' .. cid, ARGV[2], 'w:' .. cid, w)
if redis.call('EXISTS', l) == 0 then take(h, l, ep, ARGV[5], ARGV[6]) end
redis.call('PEXPIRE', h, ARGV[7])
redis.call('PEXPIRE', idx, ARGV[7])
return snapshot(h, l)
`)

// leaveScript removes a participant and deletes the room (and its lease)
// when none is left. A p: field without its w: field (not written by Join)
// is removed without changing the count.
//
// KEYS: room hash, host lease, bynode index.
// ARGV: call id, roomRef, record ttl ms.
// Returns the number of participants left (0: the room is gone).
var leaveScript = redis.NewScript(luaPrelude + `
local h, l, idx = KEYS[1], KEYS[2], KEYS[3]
local cid, ref = ARGV[1], ARGV[2]
if redis.call('EXISTS', h) == 0 then
  redis.call('DEL', l)
  return 0
end
local w = redis.call('HGET', h, 'w:' .. cid)
local gone = redis.call('HDEL', h, 'p:' .. cid, 'w:' .. cid)
local c = tonumber(redis.call('HGET', h, 'count') or '0')
if w then
  dropFrom(h, idx, w, ref)
  c = redis.call('HINCRBY', h, 'count', -1)
end
if c <= 0 then
  deleteRoom(h, l, idx, ref)
  return 0
end
if gone > 0 then redis.call('PEXPIRE', h, ARGV[3]) end
return c
`)

// Results of setFlagsScript.
const (
	flagsOK            = 1
	flagsNoParticipant = 0
	flagsNotFound      = -1
)

// setFlagsScript rewrites the muted and onhold members of a participant's
// JSON. A record that does not decode to an object naming the call (and a
// node) is reported as no participant and left alone.
//
// KEYS: room hash. ARGV: call id, muted ("1"/"0"), onhold ("1"/"0"),
// record ttl ms. Returns flagsOK, flagsNoParticipant or flagsNotFound.
var setFlagsScript = redis.NewScript(`
local h, f = KEYS[1], 'p:' .. ARGV[1]
if redis.call('EXISTS', h) == 0 then return -1 end
local v = redis.call('HGET', h, f)
if not v then return 0 end
local ok, m = pcall(cjson.decode, v)
if not ok or type(m) ~= 'table' or m.id ~= ARGV[1] or type(m.node) ~= 'string' then return 0 end
m.muted = ARGV[2] == '1'
m.onhold = ARGV[3] == '1'
local ok2, s = pcall(cjson.encode, m)
if not ok2 then return 0 end
redis.call('HSET', h, f, s)
redis.call('PEXPIRE', h, ARGV[4])
return 1
`)

// claimScript takes the host lease if it is free or held by the node
// declared dead, renews it if the caller holds it, and otherwise leaves it.
//
// KEYS: room hash, host lease, epoch counter.
// ARGV: node, dead node ("" for none), lease ttl ms, record ttl ms.
// Returns nil for an unknown room, else the snapshot (see joinScript).
var claimScript = redis.NewScript(luaPrelude + `
local h, l, ep = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', h) == 0 then return false end
local cur = redis.call('GET', l)
if cur == ARGV[1] then
  redis.call('PEXPIRE', l, ARGV[3])
elseif not cur or (ARGV[2] ~= '' and cur == ARGV[2]) then
  take(h, l, ep, ARGV[1], ARGV[3])
end
redis.call('PEXPIRE', h, ARGV[4])
return snapshot(h, l)
`)

// releaseScript drops a lease its holder gives up.
//
// KEYS: host lease. ARGV: node.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// renewScript extends the leases the node holds on existing rooms, and
// their records' safety net.
//
// KEYS: bynode index, then for each room its hash and its lease.
// ARGV: node, lease ttl ms, record ttl ms.
// Returns the 1-based positions of the rooms whose lease is lost.
var renewScript = redis.NewScript(`
local lost = {}
local kept = false
for i = 1, (#KEYS - 1) / 2 do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('GET', l) == ARGV[1] and redis.call('EXISTS', h) == 1 then
    redis.call('PEXPIRE', l, ARGV[2])
    redis.call('PEXPIRE', h, ARGV[3])
    kept = true
  else
    lost[#lost + 1] = i
  end
end
if kept then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return lost
`)

// removeNodeScript removes a node's participants from a batch of the rooms
// of its index, and those rooms from its index; rooms left empty are
// deleted.
//
// KEYS: bynode index, then for each room its hash and its lease.
// ARGV: nodeRef, record ttl ms, then the roomRef of each room.
// Returns, for each room, the number of participants removed.
var removeNodeScript = redis.NewScript(luaPrelude + `
local idx, w = KEYS[1], ARGV[1]
local out = {}
for i = 1, #ARGV - 2 do
  local h, l, ref = KEYS[2 * i], KEYS[2 * i + 1], ARGV[2 + i]
  redis.call('ZREM', idx, w .. ':' .. ref)
  local removed = 0
  local all = redis.call('HGETALL', h)
  for j = 1, #all, 2 do
    local f = all[j]
    if string.sub(f, 1, 2) == 'w:' and all[j + 1] == w then
      redis.call('HDEL', h, f, 'p:' .. string.sub(f, 3))
      removed = removed + 1
    end
  end
  redis.call('HDEL', h, 'n:' .. w)
  if removed > 0 then
    if redis.call('HINCRBY', h, 'count', -removed) <= 0 then
      deleteRoom(h, l, idx, ref)
    else
      redis.call('PEXPIRE', h, ARGV[2])
    end
  end
  out[i] = removed
end
return out
`)
