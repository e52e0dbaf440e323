package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return New() })
}

func TestConformanceClocked(t *testing.T) {
	storetest.RunClocked(t, func(t *testing.T) storetest.Clocked {
		c := storetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600)))
		return storetest.Clocked{Store: New(WithClock(c.Now)), Advance: c.Advance, Now: c.Now}
	})
}

// TestSweepReclaimsMemory checks that records nobody reads again are dropped
// from memory by the sweep CreateCall runs once per sweepInterval.
func TestSweepReclaimsMemory(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock(time.Unix(1_700_000_000, 0))
	s := New(WithClock(c.Now))
	for i := range 100 {
		require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: fmt.Sprint("old-", i)}, time.Second))
	}
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "live"}, time.Hour))

	c.Advance(sweepInterval - time.Nanosecond)
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "a"}, time.Hour))
	require.Len(t, s.calls, 102, "no sweep before the interval")

	c.Advance(time.Nanosecond)
	require.NoError(t, s.CreateCall(ctx, store.CallRecord{ID: "b"}, time.Hour))
	require.Len(t, s.calls, 3, "the sweep keeps live records only")
	_, err := s.GetCall(ctx, "live")
	require.NoError(t, err)
}

func TestWithNilClockKeepsTimeNow(t *testing.T) {
	s := New(WithClock(nil))
	require.NoError(t, s.CreateCall(context.Background(), store.CallRecord{ID: "x"}, time.Hour))
	rec, err := s.GetCall(context.Background(), "x")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), rec.UpdatedAt, time.Minute)
}

func BenchmarkUpdateCall(b *testing.B) {
	ctx := context.Background()
	s := New()
	require.NoError(b, s.CreateCall(ctx, store.CallRecord{ID: "call-1", Data: make([]byte, 512)}, time.Hour))
	fn := func(r *store.CallRecord) error { r.Data[0]++; return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UpdateCall(ctx, "call-1", time.Hour, fn); err != nil {
			b.Fatal(err)
		}
	}
}
