// Package storetest is the conformance suite of store.Store: every
// implementation runs it from its own tests, so they all behave alike.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
//	}
//
// Run observes call record expiry in real time (about two seconds, in
// parallel subtests). Implementations with an injectable clock also run
// RunClocked, which moves the clock instead of sleeping and checks expiry
// to the nanosecond.
package storetest
