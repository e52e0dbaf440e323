// Package memstore is the in-process implementation of store.Store, for a
// single node and for tests.
//
// One mutex guards all state. Call records expire on the injected clock
// (WithClock): an expired record is invisible at once and its memory is
// reclaimed on access or by a sweep that CreateCall runs at most once per
// sweepInterval of that clock, so no background goroutine is needed.
// UpdateCall runs its function without the mutex held and commits with a
// version check, exactly like the Redis implementation.
package memstore
