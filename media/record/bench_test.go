package record

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkWrite is the media tap's side: one 20 ms frame of each side per
// op. It must not allocate in steady state. Every 100 frames the clock stops
// until the writer has caught up, so that frames are queued, not dropped
// (run it with a fixed count, e.g. -benchtime 1000000x: the pauses make the
// automatic scaling slow).
func BenchmarkWrite(b *testing.B) {
	r, err := Start(Spec{Format: FormatWAV, Channels: Split, TempDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	caller, callee := tone(callerHz, 8000, 0, FrameSamples), tone(calleeHz, 6000, 0, FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%100 == 0 {
			b.StopTimer()
			for len(r.work) > 0 {
				runtime.Gosched()
			}
			b.StartTimer()
		}
		r.Write(caller, callee)
	}
	b.StopTimer()
	f, err := r.Stop(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(f.Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkEncode is the writer's side: mixing or interleaving and encoding
// one 20 ms frame. 20 ms / (ns/op) is how many calls one core records in
// real time.
func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"wav/mono", Spec{Format: FormatWAV, Channels: Mono}},
		{"wav/split", Spec{Format: FormatWAV, Channels: Split}},
		{"mp3/mono", Spec{Format: FormatMP3, Channels: Mono}},
		{"mp3/split", Spec{Format: FormatMP3, Channels: Split}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.spec.TempDir = b.TempDir()
			r, err := Start(c.spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			// Drive the sink directly, as the writer goroutine does, without
			// the goroutine hand-off.
			ch := c.spec.Channels.count()
			pcm := make([]int16, FrameSamples*ch)
			copy(pcm, tone(callerHz, 8000, 0, len(pcm)))
			b.SetBytes(int64(2 * len(pcm)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.sink.write(pcm); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if _, err := r.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
