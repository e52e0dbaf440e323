// Package conformance runs the official Sinch Node SDK (@sinch/sdk-core,
// pinned in package.json) against a callcore node started in-process.
//
// The Node program conformance.mjs drives every application-management method
// of sinch.voice.applications and the authentication edge cases (wrong
// secret, stale and future x-timestamp, another app's key) and checks the
// answers strictly. The Go tests start a node backed by the in-memory store
// and one backed by a real Redis, and run the program against each.
//
// The Node dependencies must be installed first:
//
//	npm ci --prefix test/conformance
package conformance
