package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/media/record"
)

// recordings adapts media/record to the call core: a recorder fed by the
// call's media tap, stored at the startRecording destination.
type recordings struct {
	log     *slog.Logger
	metrics *record.Metrics
	dest    record.DestinationOptions // AppKey and Logger set per recording
	tempDir string
	maxDur  time.Duration
	// channels is the layout when startRecording does not name one.
	channels record.Channels
}

var _ call.Recordings = (*recordings)(nil)

func (r *recordings) Start(_ context.Context, req call.RecordingRequest) (call.Recording, error) {
	o := req.Options
	format, err := record.ParseFormat(o.Format)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", call.ErrInvalidSVAML, err)
	}
	dopts := r.dest
	dopts.AppKey = req.AppKey
	log := r.log.With("call_id", req.CallID)
	dopts.Logger = log
	dest, err := record.ParseDestination(o.DestinationURL, o.Credentials, dopts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", call.ErrInvalidSVAML, err)
	}
	ch := r.channels
	if o.Channels != "" {
		ch = record.Channels(o.Channels)
	}
	rec, err := record.Start(record.Spec{Format: format, Channels: ch, TempDir: r.tempDir, MaxDuration: r.maxDur, Metrics: r.metrics}, log)
	if err != nil {
		return nil, err
	}
	return &recording{r: r, rec: rec, dest: dest, name: record.Name(req.CallID, req.Seq, format), log: log}, nil
}

type recording struct {
	r    *recordings
	rec  *record.Recorder
	dest record.Destination
	name string
	log  *slog.Logger

	mu   sync.Mutex
	file *record.File
}

func (x *recording) Write(near, far []int16) { x.rec.Write(near, far) }

func (x *recording) Stop(ctx context.Context) error {
	f, err := x.rec.Stop(ctx)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.file = f
	x.mu.Unlock()
	if f.Dropped > 0 {
		x.log.Warn("recording lost frames: the disk was too slow", "dropped", f.Dropped)
	}
	return nil
}

func (x *recording) stopped() (*record.File, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.file == nil {
		return nil, fmt.Errorf("recording %s is not stopped", x.name)
	}
	return x.file, nil
}

// Store puts the file at its destination and removes the temporary file.
func (x *recording) Store(ctx context.Context) (string, error) {
	f, err := x.stopped()
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Path)
	return x.dest.Store(ctx, f, x.name)
}

// Transcribe: callcore bundles no speech recognizer (media/record defines
// the Transcriber interface for one), so a transcription request gets
// call.ErrTranscriptionUnavailable and the call core sends a Notify saying
// so, never silence.
func (x *recording) Transcribe(context.Context, string) (string, error) {
	return "", call.ErrTranscriptionUnavailable
}
