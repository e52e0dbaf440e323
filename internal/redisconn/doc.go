// Package redisconn makes the one go-redis client a callcore process uses
// for the Redis its region shares (store, node bus, event outbox,
// membership), from the configured URL (store.redis_url): a standalone
// server (redis://, rediss://, unix://), a Sentinel-managed master
// (redis+sentinel://, rediss+sentinel://) or a Cluster (redis+cluster://,
// rediss+cluster://). See Open for the URL forms.
//
// A Counter, given to Open (or added to a hand-made client with
// Instrument), counts round trips, bytes sent and received and failed
// commands, exported as Prometheus metrics and readable as Stats, e.g. to
// measure the Redis cost of a call lifecycle:
//
//	ctr := redisconn.NewCounter(reg)
//	client, err := redisconn.Open(cfg.Store.RedisURL.Reveal(), redisconn.Options{Counter: ctr})
//	...
//	before := ctr.Stats()
//	// one call
//	cost := ctr.Stats().Sub(before)
//
// The URL is a secret (it may hold a password): the errors of Open never
// quote it.
//
// Its tests run against a real standalone server, Sentinel, three-node
// Cluster and TLS-only server, started by internal/testutil/redisserver.
package redisconn
