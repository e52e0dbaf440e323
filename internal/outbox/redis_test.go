package outbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callcore/callcore/internal/redisconn"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

func TestRedisInvalidOptions(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	deliver := newRecorder().deliver
	for name, tc := range map[string]struct {
		client redis.UniversalClient
		prefix string
		o      Options
	}{
		"nil client":   {nil, "p", Options{Consumer: "n/b", Deliver: deliver}},
		"brace prefix": {client, "a{b}", Options{Consumer: "n/b", Deliver: deliver}},
		"no deliver":   {client, "p", Options{Consumer: "n/b"}},
		"no consumer":  {client, "p", Options{Deliver: deliver}},
		"no boot":      {client, "p", Options{Consumer: "n", Deliver: deliver}},
	} {
		_, err := NewRedis(ctx, tc.client, tc.prefix, tc.o)
		require.ErrorIs(t, err, ErrInvalidOptions, name)
	}
	_, err := NewRedis(ctx, client, "p", Options{Consumer: ReservedNode + "/b", Deliver: deliver})
	require.ErrorIs(t, err, ErrInvalidOptions, "the dead-letter stream's name")
	r := newRedis(t, client, "p", Options{Consumer: "n/b", Deliver: deliver})
	for _, bad := range []string{"a/b", "", ReservedNode} {
		_, err = r.ClaimNode(ctx, bad)
		require.ErrorIs(t, err, ErrInvalidOptions, bad)
	}

	// Redis unreachable at start: an error, not a hang.
	srv := redisserver.StartServer(t)
	down := newFastFailClient(t, srv.Addr())
	require.NoError(t, srv.Stop())
	_, err = NewRedis(ctx, down, "p", Options{Consumer: "n/b", Deliver: deliver})
	require.Error(t, err)
}

func TestRedisKeysAndFields(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	stream := StreamKey("callcore:use1", "n1")
	require.Equal(t, "{callcore:use1}:outbox:n1", stream)
	require.Equal(t, "{callcore:use1}:outbox:dead", DeadLetterKey("callcore:use1"))
	require.Equal(t, "{callcore:use1}:outbox-nodes", NodesKey("callcore:use1"))
	require.Equal(t, "{callcore}:outbox:n2", StreamKey("", "n2"))
	require.Equal(t, "{callcore}:outbox:dead", DeadLetterKey(""))

	release := make(chan struct{})
	rec := newRecorder()
	r := newRedis(t, client, "callcore:use1", Options{Consumer: "n1/b1", Deliver: func(ctx context.Context, e Entry) error {
		<-release
		return rec.deliver(ctx, e)
	}})
	groups, err := client.XInfoGroups(ctx, stream).Result()
	require.NoError(t, err)
	require.Len(t, groups, 1)
	require.Equal(t, GroupName, groups[0].Name)

	e := entry(7)
	e.EnqueuedAt = time.Unix(1_800_000_000, 5)
	require.NoError(t, r.Enqueue(ctx, e))
	msgs, err := client.XRange(ctx, stream, "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, map[string]any{
		"v": "1", "id": "evt-7", "call": "call-7", "app": "app", "kind": "dice",
		"url": "https://backend.example/callbacks", "fb": "", "body": string(e.Body),
		"at": "1800000000000000005",
	}, msgs[0].Values)
	// Read by this consumer, pending until delivered.
	require.Eventually(t, func() bool {
		p, err := client.XPending(ctx, stream, GroupName).Result()
		return err == nil && p.Count == 1 && p.Consumers["n1/b1"] == 1
	}, waitFor, tick)
	close(release)
	// Acknowledged and deleted.
	require.Eventually(t, func() bool {
		n, err := client.XLen(ctx, stream).Result()
		p, err2 := client.XPending(ctx, stream, GroupName).Result()
		return err == nil && err2 == nil && n == 0 && p.Count == 0
	}, waitFor, tick)
	require.Equal(t, 1, rec.distinct())
}

func TestRedisHappyPathLatency(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	got := make(chan time.Time, 1)
	r := newRedis(t, client, "lat", Options{Consumer: "n1/b1", ReadBlock: time.Second,
		Deliver: func(context.Context, Entry) error {
			got <- time.Now()
			return nil
		}})
	// Let the reader block in XREADGROUP: the system is idle.
	time.Sleep(50 * time.Millisecond)
	var lat []time.Duration
	for i := range 50 {
		start := time.Now()
		require.NoError(t, r.Enqueue(ctx, entry(i)))
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(waitFor):
			t.Fatalf("entry %d not delivered", i)
		}
	}
	slices.Sort(lat)
	p50, worst := lat[len(lat)/2], lat[len(lat)-1]
	t.Logf("enqueue→deliver latency on an idle system: p50 %v, max %v", p50, worst)
	// "Within a few ms"; generous for a loaded CI machine under -race.
	require.Less(t, p50, 50*time.Millisecond)
}

func TestRedisTwoNodesExactlyOnce(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	var mu sync.Mutex
	by := map[string]map[string]int{"a": {}, "b": {}}
	mk := func(node string) *Redis {
		// A small MaxLocal makes each node read its stream in many rounds.
		return newRedis(t, client, "region", Options{
			Consumer: node + "/boot", MaxLocal: 20, ReadCount: 10, Workers: 8,
			Deliver: func(ctx context.Context, e Entry) error {
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				by[node][e.ID]++
				mu.Unlock()
				return nil
			},
		})
	}
	a, b := mk("a"), mk("b")
	const n = 1000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ob := a
			if w%2 == 1 {
				ob = b
			}
			for i := w; i < n; i += 8 {
				require.NoError(t, ob.Enqueue(ctx, entry(i)))
			}
		}()
	}
	wg.Wait()
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(by["a"]) + len(by["b"])
	}
	require.Eventually(t, func() bool { return total() >= n }, waitFor, tick)
	require.Eventually(t, func() bool {
		return a.Stats().Unacked == 0 && b.Stats().Unacked == 0
	}, waitFor, tick)
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		id := entry(i).ID
		require.Equal(t, 1, by["a"][id]+by["b"][id], id)
		// Each node reads its own stream: it delivers what it enqueued.
		if i%8%2 == 0 {
			require.Equal(t, 1, by["a"][id], id)
		} else {
			require.Equal(t, 1, by["b"][id], id)
		}
	}
	for _, node := range []string{"a", "b"} {
		stream := StreamKey("region", node)
		require.Zero(t, client.XLen(ctx, stream).Val())
		require.Zero(t, client.XPending(ctx, stream, GroupName).Val().Count)
	}
}

// leavePending enqueues n entries on a consumer of node whose backend
// fails, waits until it holds them all and closes it: they stay pending
// for it.
func leavePending(t *testing.T, client redis.UniversalClient, prefix, consumer string, n int) {
	t.Helper()
	ctx := context.Background()
	rec := newRecorder()
	rec.fail.Store(true)
	r, err := NewRedis(ctx, client, prefix, Options{Consumer: consumer, Deliver: rec.deliver,
		ReadBlock: 100 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return r.Stats().Pending == n }, waitFor, tick)
	require.NoError(t, r.Close(ctx))
	node, _ := nodeOf(consumer)
	p, err := client.XPending(ctx, StreamKey(prefix, node), GroupName).Result()
	require.NoError(t, err)
	require.EqualValues(t, n, p.Consumers[consumer])
}

// consumerNames lists the consumers of the group of stream.
func consumerNames(t *testing.T, client redis.UniversalClient, stream string) []string {
	t.Helper()
	cs, err := client.XInfoConsumers(context.Background(), stream, GroupName).Result()
	require.NoError(t, err)
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestRedisClaimNode(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const n = 20
	leavePending(t, client, "claim", "a/boot1", n)

	rec := newRecorder()
	b := newRedis(t, client, "claim", Options{Consumer: "b/boot1", Deliver: rec.deliver})
	// b's start resumed only its own node's consumers.
	stream := StreamKey("claim", "a")
	require.EqualValues(t, n, client.XPending(ctx, stream, GroupName).Val().Consumers["a/boot1"])
	require.Zero(t, rec.distinct())

	got, err := b.ClaimNode(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, n, got)
	require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
	rec.requireAllOnce(t, n)
	// a's stream, adopted by b, is deleted once drained (with a's consumer).
	require.Eventually(t, func() bool { return client.Exists(ctx, stream).Val() == 0 }, waitFor, tick)
	require.Equal(t, []string{"b"}, client.SMembers(ctx, NodesKey("claim")).Val())

	// Claiming again finds nothing.
	got, err = b.ClaimNode(ctx, "a")
	require.NoError(t, err)
	require.Zero(t, got)
}

func TestRedisClaimNodeConcurrent(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const n = 300
	leavePending(t, client, "race", "a/boot1", n)

	rec := newRecorder()
	var nodes []*Redis
	for _, name := range []string{"b", "c", "d"} {
		nodes = append(nodes, newRedis(t, client, "race", Options{Consumer: name + "/boot1", Deliver: rec.deliver}))
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, r := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.ClaimNode(ctx, "a")
			require.NoError(t, err)
			total.Add(int64(got))
		}()
	}
	wg.Wait()
	require.EqualValues(t, n, total.Load())
	require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
	rec.requireAllOnce(t, n)
}

func TestRedisRestartResumes(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	const n = 25
	leavePending(t, client, "restart", "a/boot1", n)
	// An older incarnation that left nothing is cleaned up too.
	stream := StreamKey("restart", "a")
	require.NoError(t, client.XGroupCreateConsumer(ctx, stream, GroupName, "a/boot0").Err())
	// A consumer of another node is left alone.
	require.NoError(t, client.XGroupCreateConsumer(ctx, stream, GroupName, "ab/boot0").Err())

	rec := newRecorder()
	newRedis(t, client, "restart", Options{Consumer: "a/boot2", Deliver: rec.deliver})
	require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
	rec.requireAllOnce(t, n)
	names := consumerNames(t, client, stream)
	require.NotContains(t, names, "a/boot1")
	require.NotContains(t, names, "a/boot0")
	require.Contains(t, names, "ab/boot0")
	require.Contains(t, names, "a/boot2")
}

func TestRedisDelConsumerKeepsBusyConsumer(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	stream := StreamKey("del", "x")
	require.NoError(t, client.XGroupCreateMkStream(ctx, stream, GroupName, "0").Err())
	require.NoError(t, client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"a", "b"}}).Err())
	require.NoError(t, client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: GroupName, Consumer: "x/1", Streams: []string{stream, ">"}, Count: 1, Block: -1}).Err())
	res, err := delConsumerScript.Run(ctx, client, []string{stream}, GroupName, "x/1").Int64()
	require.NoError(t, err)
	require.EqualValues(t, -1, res)
	require.Contains(t, consumerNames(t, client, stream), "x/1")

	require.NoError(t, client.XGroupCreateConsumer(ctx, stream, GroupName, "x/2").Err())
	res, err = delConsumerScript.Run(ctx, client, []string{stream}, GroupName, "x/2").Int64()
	require.NoError(t, err)
	require.Zero(t, res)
	require.NotContains(t, consumerNames(t, client, stream), "x/2")
}

func TestRedisMalformedEntries(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	r := newRedis(t, client, "mal", Options{Consumer: "n/b", Deliver: rec.deliver, Registerer: reg})
	stream := StreamKey("mal", "n")
	bad := [][]any{
		{"foo", "bar"},
		{"v", "1", "id", "evt-x", "kind", "dice", "url", "u", "body", "{}"}, // no time
		{"v", "9", "id", "evt-y", "kind", "dice", "url", "u", "body", "{}", "at", "1"},
	}
	for _, fields := range bad {
		require.NoError(t, client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields}).Err())
	}
	require.NoError(t, r.Enqueue(ctx, entry(1)))
	require.Eventually(t, func() bool { return rec.distinct() == 1 }, waitFor, tick)
	var dead []DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dead, err = r.DeadLetters(ctx, 0)
		return err == nil && len(dead) == len(bad)
	}, waitFor, tick)
	for _, d := range dead {
		require.Equal(t, ReasonMalformed, d.Reason)
		require.NotEmpty(t, d.Error)
		require.NotEmpty(t, d.Raw)
		require.NotEmpty(t, d.StreamID)
		require.Equal(t, "n/b", d.Consumer)
	}
	require.Equal(t, map[string]string{"foo": "bar"}, dead[len(dead)-1].Raw)
	require.Eventually(t, func() bool { return client.XLen(ctx, stream).Val() == 0 }, waitFor, tick)
	require.EqualValues(t, len(bad), metricValue(t, reg, "callcore_outbox_dead_lettered_total", "reason", "malformed"))
}

func TestRedisRegionsIsolated(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	recEU, recUS := newRecorder(), newRecorder()
	eu := newRedis(t, client, "callcore:eu", Options{Consumer: "n1/b", Deliver: recEU.deliver})
	us := newRedis(t, client, "callcore:us", Options{Consumer: "n1/b", Deliver: recUS.deliver})
	for i := range 10 {
		require.NoError(t, eu.Enqueue(ctx, entry(i)))
	}
	for i := 10; i < 15; i++ {
		require.NoError(t, us.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return recEU.distinct() == 10 && recUS.distinct() == 5 }, waitFor, tick)
	for i := range 10 {
		require.Zero(t, recUS.count(entry(i).ID))
	}
	for i := 10; i < 15; i++ {
		require.Zero(t, recEU.count(entry(i).ID))
	}
	// Claims do not cross regions either.
	n, err := us.ClaimNode(ctx, "n1")
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestRedisOutageSpillThenFlush stops Redis, enqueues while the backend is
// also down (everything spills), restarts an empty Redis and checks that
// the spill is written to the new stream and every entry delivered once
// when the backend is back.
func TestRedisOutageSpillThenFlush(t *testing.T) {
	ctx := context.Background()
	srv := redisserver.StartServer(t)
	client := newClient(t, srv.Addr())
	rec := newRecorder()
	rec.fail.Store(true)
	logs := &logBuffer{}
	reg := prometheus.NewRegistry()
	r := newRedis(t, client, "outage", Options{Consumer: "n/b", Deliver: rec.deliver, Logger: logs.logger(),
		Registerer: reg, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	stream := StreamKey("outage", "n")

	// One entry goes through the stream before the outage and stays
	// pending here (backend down); it is delivered from memory later.
	require.NoError(t, r.Enqueue(ctx, entry(0)))
	require.Eventually(t, func() bool { return r.Stats().Pending == 1 }, waitFor, tick)

	require.NoError(t, srv.Stop())
	const n = 40
	for i := 1; i < n; i++ {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	s := r.Stats()
	require.Equal(t, n-1, s.Spilled)
	require.Equal(t, n, s.Pending)
	require.EqualValues(t, n-1, metricValue(t, reg, "callcore_outbox_spilled"))
	require.Greater(t, metricValue(t, reg, "callcore_outbox_redis_errors_total"), 0.0)
	// Delivery from memory is attempted meanwhile.
	require.Eventually(t, func() bool { return rec.calls.Load() >= 2*n }, waitFor, tick)

	srv.Restart(t)
	require.Eventually(t, func() bool { return r.Stats().Spilled == 0 }, waitFor, tick)
	require.Eventually(t, func() bool { return client.XLen(ctx, stream).Val() == n-1 }, waitFor, tick)
	rec.fail.Store(false)
	require.Eventually(t, func() bool { return rec.distinct() == n }, waitFor, tick)
	require.Eventually(t, func() bool { s := r.Stats(); return s.Pending == 0 && s.Unacked == 0 }, waitFor, tick)
	rec.requireAllOnce(t, n)
	require.Eventually(t, func() bool { return client.XLen(ctx, stream).Val() == 0 }, waitFor, tick)
	require.Equal(t, 1, logs.count("outbox: redis unreachable"), logs.String())
	require.Equal(t, 1, logs.count("outbox: redis reachable again"), logs.String())
}

// TestRedisOutageDeliversFromMemory: with the backend up, events enqueued
// while Redis is down are delivered at once from memory and never reach
// the stream.
func TestRedisOutageDeliversFromMemory(t *testing.T) {
	ctx := context.Background()
	srv := redisserver.StartServer(t)
	client := newFastFailClient(t, srv.Addr())
	rec := newRecorder()
	r := newRedis(t, client, "mem", Options{Consumer: "n/b", Deliver: rec.deliver, SpillLimit: 10})
	require.NoError(t, srv.Stop())
	for i := range 10 {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return rec.distinct() == 10 }, waitFor, tick)
	require.Eventually(t, func() bool { return r.Stats().Pending == 0 }, waitFor, tick)
	srv.Restart(t)
	// After the restart the reader recreates the group; nothing was left to write.
	stream := StreamKey("mem", "n")
	require.Eventually(t, func() bool {
		g, err := client.XInfoGroups(ctx, stream).Result()
		return err == nil && len(g) == 1
	}, waitFor, tick)
	require.Zero(t, client.XLen(ctx, stream).Val())
	rec.requireAllOnce(t, 10)
	// And it works again.
	require.NoError(t, r.Enqueue(ctx, entry(10)))
	require.Eventually(t, func() bool { return rec.distinct() == 11 }, waitFor, tick)
}

func TestRedisSpillFull(t *testing.T) {
	ctx := context.Background()
	srv := redisserver.StartServer(t)
	client := newFastFailClient(t, srv.Addr())
	rec := newRecorder()
	rec.fail.Store(true)
	r := newRedis(t, client, "full", Options{Consumer: "n/b", Deliver: rec.deliver, SpillLimit: 3})
	require.NoError(t, srv.Stop())
	for i := range 3 {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.ErrorIs(t, r.Enqueue(ctx, entry(3)), ErrSpillFull)
	require.Equal(t, 3, r.Stats().Spilled)
}

// TestRedisCloseWritesSpill: spilled entries still undelivered at Close are
// written to the stream if Redis is back, for another node to deliver.
func TestRedisCloseWritesSpill(t *testing.T) {
	ctx := context.Background()
	srv := redisserver.StartServer(t)
	client := newFastFailClient(t, srv.Addr())
	rec := newRecorder()
	rec.fail.Store(true)
	r, err := NewRedis(ctx, client, "cw", Options{Consumer: "n/b", Deliver: rec.deliver,
		ReadBlock: 100 * time.Millisecond, MinBackoff: time.Hour})
	require.NoError(t, err)
	require.NoError(t, srv.Stop())
	for i := range 5 {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return rec.calls.Load() >= 5 }, waitFor, tick)
	srv.Restart(t)
	require.NoError(t, r.Close(ctx))
	stream := StreamKey("cw", "n")
	require.EqualValues(t, 5, client.XLen(ctx, stream).Val())

	// Written by Close, or flushed by the reader earlier and left pending
	// for this consumer: either way the next incarnation delivers them.
	rec2 := newRecorder()
	newRedis(t, client, "cw", Options{Consumer: "n/b2", Deliver: rec2.deliver})
	require.Eventually(t, func() bool { return rec2.distinct() == 5 }, waitFor, tick)
}

// TestRedisRoundTrips counts Redis round trips per event with a go-redis
// hook (1 per command, 1 per pipeline).
func TestRedisRoundTrips(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	hook := redisconn.NewCounter(nil)
	hook.Instrument(client)
	var delivered atomic.Int64
	r := newRedis(t, client, "rt", Options{Consumer: "n/b", ReadBlock: time.Second,
		Deliver: func(context.Context, Entry) error { delivered.Add(1); return nil }})
	settled := func(want int64) func() bool {
		return func() bool { return delivered.Load() == want && r.Stats().Unacked == 0 }
	}

	// One at a time.
	const serial = 100
	start := hook.Stats().RoundTrips
	for i := range serial {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
		require.Eventually(t, settled(int64(i+1)), waitFor, time.Millisecond)
	}
	perSerial := float64(hook.Stats().RoundTrips-start) / serial

	// A burst.
	const burst = 2000
	start = hook.Stats().RoundTrips
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < burst; i += 16 {
				require.NoError(t, r.Enqueue(ctx, entry(serial+i)))
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, settled(serial+burst), waitFor, time.Millisecond)
	perBurst := float64(hook.Stats().RoundTrips-start) / burst
	t.Logf("redis round trips per event: %.2f one at a time, %.2f in a burst of %d", perSerial, perBurst, burst)
	// 1 XADD + 1 XREADGROUP + 1 MULTI{XACK,XDEL}; the read and the ack are
	// shared by the entries that travel together.
	require.LessOrEqual(t, perSerial, 3.1)
	require.LessOrEqual(t, perBurst, 2.6)
	require.GreaterOrEqual(t, perBurst, 1.0)
}

func TestRedisMetricsRegistration(t *testing.T) {
	client := newClient(t, redisserver.Start(t))
	reg := prometheus.NewRegistry()
	newRedis(t, client, "m", Options{Consumer: "n/b1", Deliver: newRecorder().deliver, Registerer: reg})
	// A second outbox on the same registry is refused cleanly.
	_, err := NewRedis(context.Background(), client, "m", Options{Consumer: "n/b2", Deliver: newRecorder().deliver, Registerer: reg})
	require.Error(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{
		"callcore_outbox_enqueued_total", "callcore_outbox_delivered_total", "callcore_outbox_attempts_total",
		"callcore_outbox_dead_lettered_total", "callcore_outbox_pending", "callcore_outbox_oldest_pending_age_seconds",
		"callcore_outbox_spilled", "callcore_outbox_redis_errors_total", "callcore_outbox_delivery_latency_seconds",
	} {
		require.Contains(t, names, want)
	}
	require.Len(t, names, 9)
}

// faultHook injects failures: acknowledgement pipelines fail while
// failPipelines is set (as if the connection dropped), and the next XREADGROUP ">" that returns
// entries reports an error instead while dropRead is set (a lost reply:
// the entries are pending for the consumer but it never saw them).
type faultHook struct {
	failPipelines atomic.Bool
	dropRead      atomic.Bool
}

var errSimulated = errors.New("simulated i/o timeout")

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		xs, ok := cmd.(*redis.XStreamSliceCmd)
		if err == nil && ok && cmd.Name() == "xreadgroup" && len(xs.Val()) > 0 &&
			cmd.Args()[len(cmd.Args())-1] == ">" && h.dropRead.CompareAndSwap(true, false) {
			cmd.SetErr(errSimulated)
			return errSimulated
		}
		return err
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ours := slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "xack" })
		if ours && h.failPipelines.Load() { // not the connection set-up pipelines
			for _, c := range cmds {
				c.SetErr(errSimulated)
			}
			return errSimulated
		}
		return next(ctx, cmds)
	}
}

// TestRedisAckRetried: acknowledgements that cannot be written are kept
// and written later; the entry is not delivered again.
func TestRedisAckRetried(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	hook := &faultHook{}
	client.AddHook(hook)
	rec := newRecorder()
	gate := make(chan struct{})
	r := newRedis(t, client, "ack", Options{Consumer: "n/b", Deliver: func(ctx context.Context, e Entry) error {
		<-gate
		return rec.deliver(ctx, e)
	}})
	stream := StreamKey("ack", "n")
	for i := range 5 {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return r.Stats().Pending == 5 }, waitFor, tick)
	hook.failPipelines.Store(true)
	close(gate)
	require.Eventually(t, func() bool {
		s := r.Stats()
		return rec.distinct() == 5 && s.Pending == 0 && s.Unacked == 5
	}, waitFor, tick)
	require.EqualValues(t, 5, client.XPending(ctx, stream, GroupName).Val().Count)
	hook.failPipelines.Store(false)
	require.Eventually(t, func() bool { return r.Stats().Unacked == 0 }, waitFor, tick)
	require.Zero(t, client.XLen(ctx, stream).Val())
	require.Zero(t, client.XPending(ctx, stream, GroupName).Val().Count)
	rec.requireAllOnce(t, 5)
}

// TestRedisRecoversLostRead: entries whose XREADGROUP reply was lost are
// found again in this consumer's pending list and delivered.
func TestRedisRecoversLostRead(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	hook := &faultHook{}
	client.AddHook(hook)
	rec := newRecorder()
	r := newRedis(t, client, "lost", Options{Consumer: "n/b", Deliver: rec.deliver})
	hook.dropRead.Store(true)
	for i := range 3 {
		require.NoError(t, r.Enqueue(ctx, entry(i)))
	}
	require.Eventually(t, func() bool { return rec.distinct() == 3 && r.Stats().Unacked == 0 }, waitFor, tick)
	require.False(t, hook.dropRead.Load(), "a read reply was dropped")
	rec.requireAllOnce(t, 3)
	stream := StreamKey("lost", "n")
	require.Zero(t, client.XPending(ctx, stream, GroupName).Val().Count)
}

// TestRedisCloseLeavesAcksPending: acknowledgements that still cannot be
// written at Close leave the entries pending; the next incarnation
// delivers them again (at least once).
func TestRedisCloseLeavesAcksPending(t *testing.T) {
	ctx := context.Background()
	client := newClient(t, redisserver.Start(t))
	hook := &faultHook{}
	client.AddHook(hook)
	rec := newRecorder()
	logs := &logBuffer{}
	r, err := NewRedis(ctx, client, "cl", Options{Consumer: "n/b1", Deliver: rec.deliver, ReadBlock: 100 * time.Millisecond, Logger: logs.logger()})
	require.NoError(t, err)
	hook.failPipelines.Store(true)
	require.NoError(t, r.Enqueue(ctx, entry(0)))
	require.Eventually(t, func() bool { return rec.distinct() == 1 }, waitFor, tick)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	require.NoError(t, r.Close(cctx))
	hook.failPipelines.Store(false)
	newRedis(t, client, "cl", Options{Consumer: "n/b2", Deliver: rec.deliver})
	require.Eventually(t, func() bool { return rec.count(entry(0).ID) == 2 }, waitFor, tick, logs.String())
}
