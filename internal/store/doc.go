// Package store defines the shared state of a callcore region: the number
// inventory, the callback URLs of each application and the call records that
// every node of the region can read and update.
//
// The Store interface has two implementations that pass the same conformance
// suite (package storetest):
//
//   - memstore keeps everything in process memory. It is the default for a
//     single node and for unit tests.
//   - redisstore keeps everything in Redis so that several nodes behind a load
//     balancer act as one region.
//
// Call records are updated under optimistic concurrency: UpdateCall reads the
// record, hands a copy to a caller-supplied function and writes the result
// only if nobody wrote the record in between, retrying a bounded number of
// times otherwise. Records expire after a TTL that every write refreshes, so
// the record of a call whose node died disappears on its own.
package store
