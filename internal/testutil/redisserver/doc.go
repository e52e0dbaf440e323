// Package redisserver starts real redis-server processes for tests.
//
// Each Start (or StartServer) call runs its own redis-server on a free
// loopback port with persistence off and a t.TempDir() working directory,
// and stops it in t.Cleanup. A server starts in a few milliseconds, so the
// simplest pattern is one server per top-level test, shared by its subtests
// through distinct key prefixes:
//
//	func TestX(t *testing.T) {
//		addr := redisserver.Start(t)
//		...
//	}
//
// If redis-server is not on PATH the test fails with installation hints,
// unless CALLCORE_SKIP_REDIS=1, in which case it is skipped.
package redisserver
