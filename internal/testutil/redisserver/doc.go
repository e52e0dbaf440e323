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
// For tests that need more than a single plain server it also starts a
// Sentinel monitoring a master (StartSentinel), a three-node Cluster
// (StartCluster) and a server speaking TLS only (StartTLS), with the same
// free-port choice, readiness wait and cleanup:
//
//	master := redisserver.Start(t)
//	sentinel := redisserver.StartSentinel(t, master)
//	url := "redis+sentinel://" + sentinel + "?master_name=" + redisserver.MasterName
//
//	addrs := redisserver.StartCluster(t) // about 2 s
//	url := "redis+cluster://" + strings.Join(addrs, ",")
//
// On Linux every redis-server also dies with the test process.
//
// If redis-server is not on PATH the test fails with installation hints,
// unless CALLCORE_SKIP_REDIS=1, in which case it is skipped.
package redisserver
