package timeline

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/testutil/redisserver"
)

// backendUnderTest is a Backend and a way to read a list's TTL.
type backendUnderTest struct {
	Backend
	ttl func(callID string) time.Duration
}

var testLimits = Limits{MaxEntries: 5, LiveTTL: 5 * time.Hour, EndedTTL: time.Hour}

// backends runs fn on both backends with testLimits.
func backends(t *testing.T, fn func(t *testing.T, b backendUnderTest)) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemory(testLimits, nil)
		fn(t, backendUnderTest{m, m.TTL})
	})
	t.Run("redis", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: redisserver.Start(t)})
		t.Cleanup(func() { _ = client.Close() })
		r := NewRedis(client, "callcore:test", testLimits)
		fn(t, backendUnderTest{r, func(id string) time.Duration {
			d, err := client.PTTL(context.Background(), r.Key(id)).Result()
			require.NoError(t, err)
			return max(d, 0)
		}})
	})
}

func entries(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func TestBackendAppendAndRead(t *testing.T) {
	backends(t, func(t *testing.T, b backendUnderTest) {
		ctx := context.Background()
		res, err := b.Append(ctx, []Batch{
			{CallID: "c1", Entries: entries("a", 2), Marker: []byte("M")},
			{CallID: "c2", Entries: entries("x", 1), Marker: []byte("M")},
		})
		require.NoError(t, err)
		assert.Equal(t, AppendResult{Written: 3, Bytes: 9}, res)
		res, err = b.Append(ctx, []Batch{{CallID: "c1", Entries: entries("b", 1), Marker: []byte("M")}})
		require.NoError(t, err)
		assert.Equal(t, 1, res.Written)

		got, err := b.Read(ctx, "c1")
		require.NoError(t, err)
		assert.Equal(t, []string{"a-0", "a-1", "b-0"}, strs(got))
		got, err = b.Read(ctx, "unknown")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func TestBackendMaxEntries(t *testing.T) {
	backends(t, func(t *testing.T, b backendUnderTest) {
		ctx := context.Background()
		res, err := b.Append(ctx, []Batch{{CallID: "c", Entries: entries("a", 3), Marker: []byte("M")}})
		require.NoError(t, err)
		assert.Equal(t, AppendResult{Written: 3, Bytes: 9}, res)
		// Max 5: one more entry fits, the next is replaced by the marker,
		// the rest are dropped.
		res, err = b.Append(ctx, []Batch{{CallID: "c", Entries: entries("b", 4), Marker: []byte("M")}})
		require.NoError(t, err)
		assert.Equal(t, AppendResult{Written: 1, Truncated: 3, Bytes: 4}, res)
		res, err = b.Append(ctx, []Batch{{CallID: "c", Entries: entries("c", 2), Marker: []byte("M")}})
		require.NoError(t, err)
		assert.Equal(t, AppendResult{Truncated: 2}, res)
		got, err := b.Read(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, []string{"a-0", "a-1", "a-2", "b-0", "M"}, strs(got))
	})
}

func TestBackendTTL(t *testing.T) {
	backends(t, func(t *testing.T, b backendUnderTest) {
		ctx := context.Background()
		near := func(want time.Duration, id string) {
			t.Helper()
			got := b.ttl(id)
			assert.LessOrEqual(t, got, want, id)
			assert.Greater(t, got, want-time.Minute, id)
		}
		_, err := b.Append(ctx, []Batch{{CallID: "live", Entries: entries("a", 1)}})
		require.NoError(t, err)
		near(testLimits.LiveTTL, "live")

		// The end sets the ended TTL; later entries keep it.
		_, err = b.Append(ctx, []Batch{{CallID: "live", Entries: entries("b", 1), Ended: true}})
		require.NoError(t, err)
		near(testLimits.EndedTTL, "live")
		_, err = b.Append(ctx, []Batch{{CallID: "live", Entries: entries("c", 1)}})
		require.NoError(t, err)
		near(testLimits.EndedTTL, "live")

		// An end with nothing stored stores nothing.
		_, err = b.Append(ctx, []Batch{{CallID: "empty", Ended: true}})
		require.NoError(t, err)
		assert.Zero(t, b.ttl("empty"))
		got, err := b.Read(ctx, "empty")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func TestMemoryExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := NewMemory(testLimits, func() time.Time { return now })
	ctx := context.Background()
	_, err := m.Append(ctx, []Batch{{CallID: "c", Entries: entries("a", 1), Ended: true}})
	require.NoError(t, err)
	now = now.Add(testLimits.EndedTTL - time.Second)
	got, _ := m.Read(ctx, "c")
	assert.Len(t, got, 1)
	now = now.Add(2 * time.Second)
	got, _ = m.Read(ctx, "c")
	assert.Empty(t, got, "expired")
	// A new entry after the expiry starts a new list.
	_, err = m.Append(ctx, []Batch{{CallID: "c", Entries: entries("b", 1)}})
	require.NoError(t, err)
	got, _ = m.Read(ctx, "c")
	assert.Equal(t, []string{"b-0"}, strs(got))
	// The sweep drops expired lists.
	_, _ = m.Append(ctx, []Batch{{CallID: "d", Entries: entries("d", 1), Ended: true}})
	now = now.Add(testLimits.LiveTTL + time.Minute)
	_, _ = m.Append(ctx, nil)
	m.mu.Lock()
	n := len(m.lists)
	m.mu.Unlock()
	assert.Zero(t, n)
}

// A script Redis forgot (SCRIPT FLUSH, a restart) is sent again.
func TestRedisScriptFlushed(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: redisserver.Start(t)})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client, "p", testLimits)
	ctx := context.Background()
	_, err := r.Append(ctx, []Batch{{CallID: "c", Entries: entries("a", 1)}})
	require.NoError(t, err)
	require.NoError(t, client.ScriptFlush(ctx).Err())
	res, err := r.Append(ctx, []Batch{{CallID: "c", Entries: entries("b", 1)}, {CallID: "d", Entries: entries("d", 1)}})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Written)
	assert.Equal(t, "p:tl:{c}", r.Key("c"))
	n, err := client.LLen(ctx, "p:tl:{c}").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
}

// A store that is down fails the batch, counted.
func TestRedisDown(t *testing.T) {
	srv := redisserver.StartServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client, "p", testLimits)
	require.NoError(t, srv.Stop())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.Append(ctx, []Batch{{CallID: "c", Entries: entries("a", 2)}})
	require.Error(t, err)
	assert.Equal(t, 2, res.Failed)
	_, err = r.Read(ctx, "c")
	require.Error(t, err)
}

// The memory backend bounds the process: beyond MaxCalls lists, the
// oldest go first.
func TestMemoryMaxCalls(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(testLimits, nil)
	m.MaxCalls = 3
	for i := range 5 {
		_, err := m.Append(ctx, []Batch{{CallID: fmt.Sprint("c", i), Entries: entries("a", 1)}})
		require.NoError(t, err)
	}
	for i, want := range []int{0, 0, 1, 1, 1} {
		got, _ := m.Read(ctx, fmt.Sprint("c", i))
		assert.Len(t, got, want, "c%d", i)
	}
	// An entry for a list still held does not make it new.
	_, err := m.Append(ctx, []Batch{{CallID: "c2", Entries: entries("b", 1)}, {CallID: "c5", Entries: entries("a", 1)}})
	require.NoError(t, err)
	got, _ := m.Read(ctx, "c2")
	assert.Empty(t, got, "c2 was the oldest")
	got, _ = m.Read(ctx, "c3")
	assert.Len(t, got, 1)
}

// And beyond MaxBytes of entries, the oldest lists go too; what is kept
// reads back whole.
func TestMemoryMaxBytes(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(testLimits, nil)
	m.MaxBytes = 100
	big := bytes.Repeat([]byte("x"), 30)
	for i := range 4 {
		_, err := m.Append(ctx, []Batch{{CallID: fmt.Sprint("c", i), Entries: [][]byte{big, []byte(fmt.Sprint("e", i))}}})
		require.NoError(t, err)
	}
	for i, want := range []int{0, 0, 2, 2} {
		got, _ := m.Read(ctx, fmt.Sprint("c", i))
		assert.Len(t, got, want, "c%d", i)
	}
	got, _ := m.Read(ctx, "c3")
	assert.Equal(t, []string{string(big), "e3"}, strs(got))
	m.mu.Lock()
	assert.LessOrEqual(t, m.bytes, int64(100))
	m.mu.Unlock()
	// One list larger than the bound is kept: it is the newest.
	_, err := m.Append(ctx, []Batch{{CallID: "huge", Entries: [][]byte{bytes.Repeat([]byte("y"), 300)}}})
	require.NoError(t, err)
	got, _ = m.Read(ctx, "huge")
	assert.Len(t, got, 1)
	got, _ = m.Read(ctx, "c3")
	assert.Empty(t, got)
}
