// Package redistest starts real Redis deployments for tests that need
// more than the single server of internal/testutil/redisserver: a
// Sentinel monitoring a master (StartSentinel), a three-node Cluster
// (StartCluster) and a server speaking TLS only (StartTLS).
//
// Every process is a redis-server from PATH, on free loopback ports, with
// persistence off and a t.TempDir() working directory, and is stopped in
// t.Cleanup (on Linux it also dies with the test process). When
// redis-server is not on PATH the test is skipped.
//
//	master := redisserver.Start(t)
//	sentinel := redistest.StartSentinel(t, master)
//	url := "redis+sentinel://" + sentinel + "?master_name=" + redistest.MasterName
//
//	addrs := redistest.StartCluster(t) // about 2 s
//	url := "redis+cluster://" + strings.Join(addrs, ",")
package redistest
