package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SampleRate is the rate of the audio the recorder takes: 8 kHz.
const SampleRate = 8000

// FrameSamples is the size of one media-tap frame: 20 ms at 8 kHz.
const FrameSamples = 160

// Backlog is how many 20 ms frames a recorder buffers between Write and its
// writer goroutine (5 s). Beyond it Write drops frames and counts them.
const Backlog = 250

// Channels is the channel layout of a recording.
type Channels string

// The channel layouts.
const (
	// Mono mixes caller and callee into one channel. The mix is a saturating
	// sum: each side keeps its level, and a sum beyond the 16-bit range is
	// clamped instead of wrapping around.
	Mono Channels = "mono"
	// Split is stereo: the caller on the left channel, the callee on the right.
	Split Channels = "split"
)

func (c Channels) count() int {
	if c == Split {
		return 2
	}
	return 1
}

// Spec describes a recording.
type Spec struct {
	// Format is FormatWAV or FormatMP3; "" means DefaultFormat.
	Format Format
	// Channels is Mono or Split; "" means Mono.
	Channels Channels
	// TempDir holds the file while it is being recorded; "" means os.TempDir().
	TempDir string
	// MaxDuration stops taking audio once that much was recorded (Done is
	// closed then); 0 means no limit other than the format's own (a WAV file
	// stops short of 4 GiB, about 37 hours of split audio).
	MaxDuration time.Duration
	// Metrics receives the recording metrics; nil records none.
	Metrics *Metrics
}

// File is a finished recording, still in Spec.TempDir: the caller stores it
// (Destination.Store) and removes Path when it no longer needs it.
type File struct {
	// Path is the local file.
	Path string
	// Format and Channels are those of the Spec.
	Format   Format
	Channels Channels
	// Duration is the recorded audio time (frames written × 20 ms, or the
	// exact sample count for other frame sizes), not wall-clock time.
	Duration time.Duration
	// Bytes is the file size.
	Bytes int64
	// Dropped counts the frames Write dropped because the writer was more
	// than Backlog frames behind.
	Dropped int
}

// ErrMaxDuration is the cause Done reports when Spec.MaxDuration was reached.
var ErrMaxDuration = errors.New("record: maximum recording duration reached")

// frame is one chunk of audio on its way to the writer: up to FrameSamples
// samples of each side.
type frame struct {
	n              int
	caller, callee [FrameSamples]int16
}

// framePool is shared by every recorder: memory follows the frames in
// flight, not the number of recordings.
var framePool = sync.Pool{New: func() any { return new(frame) }}

// sink encodes interleaved 8 kHz 16-bit audio into a file.
type sink interface {
	// write takes n frames of interleaved samples (len(pcm) = n × channels).
	write(pcm []int16) error
	// finish flushes, finalizes headers and closes the file.
	finish() error
	// abort closes the file without finalizing it.
	abort()
}

// Recorder records one call's audio into a temporary file. Write is called
// by the media tap; Stop by the call core. Write never blocks: frames go to
// a writer goroutine through a buffer of Backlog frames.
type Recorder struct {
	spec   Spec
	log    *slog.Logger
	path   string
	sink   sink
	work   chan *frame
	stop   chan struct{}
	done   chan struct{} // closed when the writer stops taking audio on its own
	ended  chan struct{} // closed when the file is final
	maxLen int64         // samples per channel; 0 = no limit

	stopping atomic.Bool
	full     atomic.Bool // the writer takes no more audio (limit or error)
	dropped  atomic.Int64
	stopOnce sync.Once

	// Owned by the writer goroutine until ended is closed.
	samples  int64
	scratch  []int16
	cause    error // why done was closed
	doneOnce sync.Once
	file     *File
	err      error

	beforeConsume func() // test hook, called by the writer before each frame
}

// Start creates the temporary file and the writer goroutine. log should be
// the call's logger (it carries call_id); nil discards. The only errors are
// an invalid Spec and a temporary file that cannot be created.
func Start(spec Spec, log *slog.Logger) (*Recorder, error) {
	return start(spec, log, nil)
}

func start(spec Spec, log *slog.Logger, hook func()) (*Recorder, error) {
	if spec.Format == "" {
		spec.Format = DefaultFormat
	}
	if !spec.Format.valid() {
		return nil, fmt.Errorf("record: format %q is not supported (use \"mp3\" or \"wav\")", spec.Format)
	}
	if spec.Channels == "" {
		spec.Channels = Mono
	}
	if spec.Channels != Mono && spec.Channels != Split {
		return nil, fmt.Errorf("record: channels %q is not supported (use \"mono\" or \"split\")", spec.Channels)
	}
	if spec.MaxDuration < 0 {
		return nil, fmt.Errorf("record: negative MaxDuration %v", spec.MaxDuration)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.CreateTemp(spec.TempDir, "callcore-rec-*."+spec.Format.Ext())
	if err != nil {
		return nil, fmt.Errorf("record: creating the recording file: %w", err)
	}
	ch := spec.Channels.count()
	var s sink
	if spec.Format == FormatWAV {
		s, err = newWAVSink(f, ch)
	} else {
		s, err = newMP3Sink(f, ch)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &Recorder{
		spec:          spec,
		log:           log,
		path:          f.Name(),
		sink:          s,
		work:          make(chan *frame, Backlog),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		ended:         make(chan struct{}),
		scratch:       make([]int16, FrameSamples*ch),
		beforeConsume: hook,
	}
	limit := int64(maxWAVData) / int64(2*ch)
	if spec.MaxDuration > 0 {
		limit = min(limit, int64(spec.MaxDuration.Seconds()*SampleRate))
	}
	if spec.Format == FormatWAV || spec.MaxDuration > 0 {
		r.maxLen = limit
	}
	spec.Metrics.recordStarted(spec.Format)
	log.Debug("recording started", "format", spec.Format, "channels", spec.Channels, "path", r.path)
	go r.run()
	return r, nil
}

// Write queues one frame of each side: caller and callee are 8 kHz mono
// 16-bit samples of the same instant (normally FrameSamples each). A side
// that is shorter than the other, or nil, is completed with silence. Write
// copies the samples, never blocks and does not allocate in steady state; it
// drops the frame (and counts it in File.Dropped) when the writer is Backlog
// frames behind. Frames longer than FrameSamples are split. Write after
// Stop, or once Done is closed, does nothing. It is safe for concurrent use,
// though frames from concurrent writers interleave in arrival order.
func (r *Recorder) Write(caller, callee []int16) {
	if r.stopping.Load() || r.full.Load() {
		return
	}
	n := max(len(caller), len(callee))
	for off := 0; off < n; off += FrameSamples {
		m := min(FrameSamples, n-off)
		f := framePool.Get().(*frame)
		f.n = m
		fill(f.caller[:m], caller, off)
		fill(f.callee[:m], callee, off)
		select {
		case r.work <- f:
		default:
			framePool.Put(f)
			r.dropped.Add(1)
			r.spec.Metrics.frameDropped()
		}
	}
}

// fill copies src[off:off+len(dst)] into dst and zeroes what src lacks.
func fill(dst, src []int16, off int) {
	c := 0
	if off < len(src) {
		c = copy(dst, src[off:])
	}
	clear(dst[c:])
}

// Done is closed when the recorder stopped taking audio on its own: the
// maximum duration was reached or the file could not be written (Err says
// which). The call core then calls Stop as if stopRecording had run.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Err is nil until Done is closed, then ErrMaxDuration or the write error.
func (r *Recorder) Err() error {
	select {
	case <-r.done:
		return r.cause
	default:
		return nil
	}
}

// Stop stops taking audio, writes what is queued, finalizes the file (RIFF
// sizes, last MP3 frames) and returns it. It is idempotent: every call
// returns the same File and error. When ctx ends first Stop returns
// ctx.Err() and the file is still finalized in the background; a later Stop
// returns the result. Frames written concurrently with Stop may be left out.
// On error the temporary file is removed.
func (r *Recorder) Stop(ctx context.Context) (*File, error) {
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		close(r.stop)
	})
	select {
	case <-r.ended:
		return r.file, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run is the writer goroutine.
func (r *Recorder) run() {
	defer close(r.ended)
	for {
		select {
		case f := <-r.work:
			r.consume(f)
		case <-r.stop:
			for {
				select {
				case f := <-r.work:
					r.consume(f)
				default:
					r.finish()
					return
				}
			}
		}
	}
}

func (r *Recorder) consume(f *frame) {
	if r.beforeConsume != nil {
		r.beforeConsume()
	}
	defer framePool.Put(f)
	if r.cause != nil {
		return
	}
	n := int64(f.n)
	if r.maxLen > 0 && r.samples+n > r.maxLen {
		n = r.maxLen - r.samples
	}
	pcm := r.scratch
	if r.spec.Channels == Split {
		pcm = pcm[:2*n]
		for i := range n {
			pcm[2*i] = f.caller[i]
			pcm[2*i+1] = f.callee[i]
		}
	} else {
		pcm = pcm[:n]
		for i := range n {
			s := int32(f.caller[i]) + int32(f.callee[i])
			pcm[i] = int16(max(-32768, min(32767, s)))
		}
	}
	if n > 0 {
		if err := r.sink.write(pcm); err != nil {
			r.halt(fmt.Errorf("record: writing %s: %w", r.path, err))
			return
		}
		r.samples += n
	}
	if r.maxLen > 0 && r.samples >= r.maxLen {
		r.halt(ErrMaxDuration)
	}
}

// halt stops taking audio for cause and closes Done.
func (r *Recorder) halt(cause error) {
	r.doneOnce.Do(func() {
		r.cause = cause
		r.full.Store(true)
		if errors.Is(cause, ErrMaxDuration) {
			r.log.Info("recording reached its maximum duration", "max_duration", r.spec.MaxDuration)
		} else {
			r.log.Error("recording failed", "err", cause)
		}
		close(r.done)
	})
}

func (r *Recorder) finish() {
	dropped := int(r.dropped.Load())
	var err error
	if r.cause != nil && !errors.Is(r.cause, ErrMaxDuration) {
		r.sink.abort()
		err = r.cause
	} else if err = r.sink.finish(); err != nil {
		err = fmt.Errorf("record: finalizing %s: %w", r.path, err)
	}
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(r.path); err == nil {
			size = st.Size()
		}
	}
	r.spec.Metrics.recordFinished(r.spec.Format, size, err)
	if err != nil {
		_ = os.Remove(r.path)
		r.err = err
		r.log.Error("recording could not be finalized", "err", err)
		return
	}
	r.file = &File{
		Path:     r.path,
		Format:   r.spec.Format,
		Channels: r.spec.Channels,
		Duration: time.Duration(r.samples) * time.Second / SampleRate,
		Bytes:    size,
		Dropped:  dropped,
	}
	attrs := []any{"format", r.spec.Format, "duration", r.file.Duration, "bytes", size}
	if dropped > 0 {
		r.log.Warn("recording finished with dropped frames", append(attrs, "dropped", dropped)...)
	} else {
		r.log.Debug("recording finished", attrs...)
	}
}
