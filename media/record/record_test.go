package record

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const (
	callerHz = 600.0
	calleeHz = 1500.0
)

func startT(t *testing.T, spec Spec) *Recorder {
	t.Helper()
	if spec.TempDir == "" {
		spec.TempDir = t.TempDir()
	}
	r, err := Start(spec, nil)
	require.NoError(t, err)
	return r
}

func stopT(t *testing.T, r *Recorder) (*File, []byte) {
	t.Helper()
	f, err := r.Stop(context.Background())
	require.NoError(t, err)
	b, err := os.ReadFile(f.Path)
	require.NoError(t, err)
	require.EqualValues(t, len(b), f.Bytes)
	return f, b
}

func TestRecordWAV(t *testing.T) {
	for _, c := range []struct {
		channels Channels
		n        int
	}{{Mono, 1}, {Split, 2}} {
		t.Run(string(c.channels), func(t *testing.T) {
			r := startT(t, Spec{Format: FormatWAV, Channels: c.channels})
			feed(r, callerHz, calleeHz, 50)
			f, b := stopT(t, r)
			require.Equal(t, FormatWAV, f.Format)
			require.Equal(t, c.channels, f.Channels)
			require.Equal(t, time.Second, f.Duration)
			require.Zero(t, f.Dropped)
			require.Equal(t, ".wav", filepath.Ext(f.Path))
			require.EqualValues(t, 44+SampleRate*2*c.n, f.Bytes)

			w := parseTestWAV(t, b)
			require.Equal(t, SampleRate, w.rate)
			require.Equal(t, c.n, w.channels)
			if c.channels == Mono {
				require.InDelta(t, 8000, amplitude(w.samples[0], w.rate, callerHz), 80)
				require.InDelta(t, 6000, amplitude(w.samples[0], w.rate, calleeHz), 60)
				return
			}
			require.InDelta(t, 8000, amplitude(w.samples[0], w.rate, callerHz), 80)
			require.Less(t, amplitude(w.samples[0], w.rate, calleeHz), 10.0)
			require.InDelta(t, 6000, amplitude(w.samples[1], w.rate, calleeHz), 60)
			require.Less(t, amplitude(w.samples[1], w.rate, callerHz), 10.0)
		})
	}
}

func TestRecordMP3(t *testing.T) {
	for _, c := range []struct {
		channels Channels
	}{{Mono}, {Split}} {
		t.Run(string(c.channels), func(t *testing.T) {
			r := startT(t, Spec{Channels: c.channels}) // default format: mp3
			feed(r, callerHz, calleeHz, 100)
			f, b := stopT(t, r)
			require.Equal(t, FormatMP3, f.Format)
			require.Equal(t, 2*time.Second, f.Duration)
			require.Equal(t, ".mp3", filepath.Ext(f.Path))
			// 32 kbit/s per channel: about 8 kB per channel for 2 s, plus the
			// flush frames.
			kbps := float64(f.Bytes*8) / 1000 / f.Duration.Seconds()
			require.InDelta(t, 32*c.channels.count(), kbps, 4)

			rate, pcm := decodeTestMP3(t, b)
			require.Equal(t, 24000, rate)
			require.GreaterOrEqual(t, len(pcm[0]), 2*24000, "decoded audio is shorter than recorded")
			left, right := pcm[0], pcm[1]
			// shine's decoded level is within ±2 dB of the input.
			if c.channels == Mono {
				require.InEpsilon(t, 8000, amplitude(left, rate, callerHz), 0.25)
				require.InEpsilon(t, 6000, amplitude(left, rate, calleeHz), 0.25)
				require.Equal(t, left, right)
				return
			}
			require.InEpsilon(t, 8000, amplitude(left, rate, callerHz), 0.25)
			require.Less(t, amplitude(left, rate, calleeHz), 80.0)
			require.InEpsilon(t, 6000, amplitude(right, rate, calleeHz), 0.25)
			require.Less(t, amplitude(right, rate, callerHz), 80.0)
			// No image of the 8 kHz audio above 4 kHz.
			require.Less(t, amplitude(left, rate, 8000-callerHz), 80.0)
		})
	}
}

func TestRecordMonoMixSaturates(t *testing.T) {
	r := startT(t, Spec{Format: FormatWAV})
	loud := make([]int16, FrameSamples)
	quiet := make([]int16, FrameSamples)
	for i := range loud {
		loud[i], quiet[i] = 30000, 1000
	}
	neg := make([]int16, FrameSamples)
	for i := range neg {
		neg[i] = -30000
	}
	r.Write(loud, loud)
	r.Write(neg, neg)
	r.Write(loud, quiet)
	_, b := stopT(t, r)
	s := parseTestWAV(t, b).samples[0]
	require.Len(t, s, 3*FrameSamples)
	require.InDelta(t, 32767, s[0], 0)
	require.InDelta(t, -32768, s[FrameSamples], 0)
	require.InDelta(t, 31000, s[2*FrameSamples], 0)
}

func TestRecordUnevenFrames(t *testing.T) {
	r := startT(t, Spec{Format: FormatWAV, Channels: Split})
	long := tone(callerHz, 8000, 0, 400) // split into 160+160+80
	r.Write(long, long[:100])            // callee completed with silence
	r.Write(nil, long[:160])             // caller silent
	r.Write(nil, nil)                    // nothing
	f, b := stopT(t, r)
	require.Equal(t, 560*time.Second/SampleRate, f.Duration)
	w := parseTestWAV(t, b)
	require.Len(t, w.samples[0], 560)
	for i := range 400 {
		require.InDelta(t, float64(long[i]), w.samples[0][i], 0)
	}
	for i := range 160 {
		require.InDelta(t, 0, w.samples[0][400+i], 0)
		require.InDelta(t, float64(long[i]), w.samples[1][400+i], 0)
	}
	for i := 100; i < 400; i++ {
		require.InDelta(t, 0, w.samples[1][i], 0)
	}
}

func TestRecordEmpty(t *testing.T) {
	for _, fm := range []Format{FormatWAV, FormatMP3} {
		t.Run(string(fm), func(t *testing.T) {
			r := startT(t, Spec{Format: fm})
			f, b := stopT(t, r)
			require.Zero(t, f.Duration)
			if fm == FormatWAV {
				require.Len(t, parseTestWAV(t, b).samples[0], 0)
				return
			}
			_, pcm := decodeTestMP3(t, b) // one silent frame, still a valid MP3
			require.NotEmpty(t, pcm[0])
		})
	}
}

func TestStopIsIdempotentAndWriteAfterStopIsIgnored(t *testing.T) {
	r := startT(t, Spec{Format: FormatWAV})
	feed(r, callerHz, calleeHz, 5)
	f1, err := r.Stop(context.Background())
	require.NoError(t, err)
	feed(r, callerHz, calleeHz, 5)
	f2, err := r.Stop(context.Background())
	require.NoError(t, err)
	require.Same(t, f1, f2)
	require.Equal(t, 100*time.Millisecond, f2.Duration)
	st, err := os.Stat(f1.Path)
	require.NoError(t, err)
	require.EqualValues(t, 44+5*FrameSamples*2, st.Size())
}

func TestMaxDuration(t *testing.T) {
	for _, fm := range []Format{FormatWAV, FormatMP3} {
		t.Run(string(fm), func(t *testing.T) {
			r := startT(t, Spec{Format: fm, MaxDuration: 150 * time.Millisecond})
			require.NoError(t, r.Err())
			feed(r, callerHz, calleeHz, 50)
			<-r.Done()
			require.ErrorIs(t, r.Err(), ErrMaxDuration)
			f, b := stopT(t, r)
			require.Equal(t, 150*time.Millisecond, f.Duration)
			if fm == FormatWAV {
				require.Len(t, parseTestWAV(t, b).samples[0], 1200)
			}
		})
	}
}

// blockedRecorder returns a recorder whose writer is stuck on its first
// frame until release is closed.
func blockedRecorder(t *testing.T, spec Spec) (r *Recorder, release chan struct{}) {
	t.Helper()
	entered := make(chan struct{})
	release = make(chan struct{})
	first := true
	r, err := start(spec, nil, func() {
		if first {
			first = false
			close(entered)
			<-release
		}
	})
	require.NoError(t, err)
	r.Write(tone(callerHz, 8000, 0, FrameSamples), nil)
	<-entered
	return r, release
}

func TestWriteDropsWhenWriterFallsBehind(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r, release := blockedRecorder(t, Spec{Format: FormatWAV, TempDir: t.TempDir(), Metrics: m})
	feed(r, callerHz, calleeHz, Backlog+10)
	require.InDelta(t, 10, testutil.ToFloat64(m.dropped), 0)
	close(release)
	f, _ := stopT(t, r)
	require.Equal(t, 10, f.Dropped)
	require.Equal(t, time.Duration(1+Backlog)*20*time.Millisecond, f.Duration)
}

func TestStopHonoursContextThenFinishes(t *testing.T) {
	r, release := blockedRecorder(t, Spec{Format: FormatMP3, TempDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := r.Stop(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, f)
	close(release)
	f, err = r.Stop(context.Background())
	require.NoError(t, err)
	require.Equal(t, 20*time.Millisecond, f.Duration)
}

func TestWriteErrorEndsRecording(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r, release := blockedRecorder(t, Spec{Format: FormatWAV, TempDir: t.TempDir(), Metrics: m})
	// Close the file under the writer: its next flush fails.
	require.NoError(t, r.sink.(*wavSink).f.Close())
	close(release)
	for i := 0; ; i++ {
		feed(r, callerHz, calleeHz, 10)
		select {
		case <-r.Done():
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	require.Error(t, r.Err())
	require.NotErrorIs(t, r.Err(), ErrMaxDuration)
	f, err := r.Stop(context.Background())
	require.Error(t, err)
	require.Nil(t, f)
	_, statErr := os.Stat(r.path)
	require.ErrorIs(t, statErr, os.ErrNotExist, "the broken file is removed")
	require.InDelta(t, 1, testutil.ToFloat64(m.finished.WithLabelValues("wav", "error")), 0)
}

func TestStartErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		spec Spec
		msg  string
	}{
		{"format", Spec{Format: "ogg"}, `format "ogg" is not supported`},
		{"channels", Spec{Channels: "quad"}, `channels "quad" is not supported`},
		{"duration", Spec{MaxDuration: -time.Second}, "negative MaxDuration"},
		{"temp dir", Spec{TempDir: filepath.Join(t.TempDir(), "missing")}, "creating the recording file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Start(c.spec, nil)
			require.ErrorContains(t, err, c.msg)
		})
	}
}

func TestRecorderMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r := startT(t, Spec{Format: FormatWAV, Metrics: m})
	feed(r, callerHz, calleeHz, 3)
	f, _ := stopT(t, r)
	require.InDelta(t, 1, testutil.ToFloat64(m.started.WithLabelValues("wav")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.finished.WithLabelValues("wav", "ok")), 0)
	require.InDelta(t, float64(f.Bytes), testutil.ToFloat64(m.bytes), 0)
	require.InDelta(t, 0, testutil.ToFloat64(m.started.WithLabelValues("mp3")), 0)
}

func TestUpsamplerPassesVoiceBandAndRejectsImages(t *testing.T) {
	var u upsampler
	in := tone(1000, 10000, 0, 8000)
	out := make([]float64, 0, 3*len(in))
	var o [mp3Up]int16
	for _, x := range in {
		u.push(x, &o)
		for _, v := range o {
			out = append(out, float64(v))
		}
	}
	require.InEpsilon(t, 10000, amplitude(out, 24000, 1000), 0.02)
	require.Less(t, amplitude(out, 24000, 7000), 10.0) // image at 8000-1000
	require.Less(t, amplitude(out, 24000, 9000), 10.0) // image at 8000+1000
}

// TestMP3FramesWalk walks the file frame by frame as a demuxer does: every
// frame starts with an MPEG-2 Layer III header at 24 kHz with the expected
// bit rate and channel mode, and its length (72000 × kbps / 24000 +
// padding) lands exactly on the next header and, at the end, on the end of
// the file.
func TestMP3FramesWalk(t *testing.T) {
	for _, c := range []struct {
		channels Channels
		kbps     int
		mode     byte // 3 = single channel, 0 = stereo
	}{{Mono, 32, 3}, {Split, 64, 0}} {
		t.Run(string(c.channels), func(t *testing.T) {
			r := startT(t, Spec{Format: FormatMP3, Channels: c.channels})
			feed(r, callerHz, calleeHz, 37) // not a whole number of frames
			_, b := stopT(t, r)
			frames := 0
			for off := 0; off < len(b); frames++ {
				require.GreaterOrEqual(t, len(b)-off, 4, "truncated header at %d", off)
				h := b[off : off+4]
				require.Equal(t, byte(0xFF), h[0], "sync at %d", off)
				require.Equal(t, byte(0xE0), h[1]&0xE0, "sync at %d", off)
				require.Equal(t, byte(2), h[1]>>3&3, "MPEG-2 at %d", off)
				require.Equal(t, byte(1), h[1]>>1&3, "Layer III at %d", off)
				require.EqualValues(t, mp3BitrateIndex[c.kbps], h[2]>>4, "bitrate index at %d", off)
				require.Equal(t, byte(1), h[2]>>2&3, "24 kHz at %d", off)
				require.Equal(t, c.mode, h[3]>>6, "channel mode at %d", off)
				off += 72000*c.kbps/24000 + int(h[2]>>1&1)
				require.LessOrEqual(t, off, len(b), "frame %d runs past the end", frames)
			}
			// 37 × 160 samples at 8 kHz = 17760 at 24 kHz = 30.8 granules,
			// plus the flush granule.
			require.Equal(t, 32, frames)
		})
	}
}
