// Package redisstore implements store.Store over Redis with go-redis v9, so
// that every node of a region shares numbers, callbacks and call records.
//
// Key layout (see New): the number inventory and the callbacks are one hash
// each under a hash tag of the prefix; each call record is a hash of its own,
// hash-tagged by the call ID, with a PEXPIRE TTL that every write resets.
// Every operation touches one key, so the store works unchanged on
// standalone, Sentinel or Cluster deployments (redis.UniversalClient).
//
// Writes that depend on what was read are optimistic: the store reads with
// plain commands, decides in Go (or lets the caller's function decide, for
// UpdateCall), and commits with a Lua script that writes only if the read
// values are unchanged: the version field for call records, the previous
// JSON value of every touched number for the inventory. A lost race is
// retried with jittered exponential backoff, at most 32 times, then reported
// as store.ErrConflict. Scripts run with EVALSHA, falling back to EVAL.
package redisstore
