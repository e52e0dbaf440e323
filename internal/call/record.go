package call

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// Recording (startRecording / stopRecording, reference §5.4).
//
// A call records one thing at a time: the first party (the caller of an
// inbound call, else the callee) and what that party hears, which once the
// legs are bridged is the other party. The recording taps that leg's media
// session as soon as it exists, so a startRecording placed before the
// connecting action (as the reference advises) records from the first
// audio. A second startRecording while one runs is ignored with a warning;
// stopRecording without a running recording does nothing. The call's end
// stops a running recording.
//
// After the stop, off the call's actor: the file is finished (Notify
// recording_finished), stored at its destination (Notify
// recording_available with the destination), and, when
// transcriptionOptions.enabled, transcribed (Notify transcription_available,
// or, without a recognizer on the node, a Notify of type callingerror whose
// errorMsg says transcription is not available — never silence). Notify
// events are sent only when notificationEvents is true (the default), to
// the app's callback URL; a failed store is logged, counted and reported
// as a callingerror Notify. A startRecording whose destination is invalid
// fails the instruction: the call ends with INVALIDSVAMLACTION, as for
// any SVAML the node cannot carry out.

// recordingTimeout bounds finishing, storing and transcribing a recording
// after it stopped.
const recordingTimeout = 5 * time.Minute

// Notify error codes callcore uses (the reference leaves the codes open).
const (
	notifyErrRecording     = 50001 // storing a recording failed
	notifyErrTranscription = 50002 // transcription not available or failed
)

type recorder struct {
	mu     sync.Mutex
	seq    int
	active *activeRecording
}

type activeRecording struct {
	rec    Recording
	opts   svaml.RecordingOptions
	leg    *leg
	remove func() // the media tap, nil until attached
}

// recordingLeg is the leg whose party is recorded.
func (c *Call) recordingLeg() *leg {
	if c.caller != nil {
		return c.caller
	}
	return c.callee
}

// startRecording runs the instruction on a task.
func (c *Call) startRecording(ctx context.Context, in *svaml.StartRecording) error {
	if c.m.deps.Recordings == nil {
		return fmt.Errorf("%w: recording is not configured on this node", errUnsupported)
	}
	opts := svaml.RecordingOptions{Format: "mp3", NotificationEvents: true}
	if in.Options != nil {
		opts = *in.Options
	}
	legc := make(chan *leg, 1)
	c.post(ctx, func() { legc <- c.recordingLeg() })
	var l *leg
	select {
	case l = <-legc:
	case <-ctx.Done():
		return ctx.Err()
	}
	if l == nil {
		return errors.New("startRecording: the call has no party to record")
	}
	c.rec.mu.Lock()
	if c.rec.active != nil {
		c.rec.mu.Unlock()
		c.log.Warn("startRecording ignored: a recording is already running")
		return nil
	}
	c.rec.seq++
	seq := c.rec.seq
	c.rec.mu.Unlock()

	rec, err := c.m.deps.Recordings.Start(ctx, RecordingRequest{CallID: c.snap.ID, AppKey: c.snap.AppKey, Seq: seq, Options: opts})
	if err != nil {
		return fmt.Errorf("startRecording: %w", err)
	}
	a := &activeRecording{rec: rec, opts: opts, leg: l}
	c.rec.mu.Lock()
	c.rec.active = a
	c.rec.mu.Unlock()
	c.log.Info("recording started", "seq", seq, "format", opts.Format, "channels", opts.Channels)
	c.tlMedia("recording started", map[string]any{"seq": seq, "format": opts.Format, "channels": opts.Channels, "leg": l.role})
	if ms := l.session(); ms != nil {
		c.attachRecording(l, ms)
	}
	return nil
}

// attachRecording taps ms for a recording of l that waits for its media.
// Called when a leg's media session comes into being.
func (c *Call) attachRecording(l *leg, ms MediaSession) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	a := c.rec.active
	if a == nil || a.leg != l || a.remove != nil {
		return
	}
	a.remove = ms.Tap(a.rec.Write)
}

// stopRecording stops the running recording, if any, and finishes it in
// the background.
func (c *Call) stopRecording(why string) {
	c.rec.mu.Lock()
	a := c.rec.active
	c.rec.active = nil
	c.rec.mu.Unlock()
	if a == nil {
		return
	}
	if a.remove != nil {
		a.remove()
	}
	c.log.Info("recording stopped", "why", why)
	c.tlMedia("recording stopped: "+why, map[string]any{"why": why})
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), recordingTimeout)
		defer cancel()
		c.finishRecording(ctx, a)
	}()
}

func (c *Call) finishRecording(ctx context.Context, a *activeRecording) {
	notify := func(n *events.Notify) {
		if a.opts.NotificationEvents {
			c.sendNotify(ctx, n)
		}
	}
	if err := a.rec.Stop(ctx); err != nil {
		c.log.Error("recording could not be finished", "err", err)
		c.tlError("recording could not be finished", err)
		c.m.metrics.recordings.WithLabelValues("failed").Inc()
		notify(&events.Notify{Type: "callingerror", ErrorCode: notifyErrRecording, ErrorMsg: "recording failed: " + err.Error()})
		return
	}
	notify(&events.Notify{Type: "recording_finished"})
	loc, err := a.rec.Store(ctx)
	if err != nil {
		c.log.Error("recording could not be stored", "err", err)
		c.tlError("recording could not be stored", err)
		c.m.metrics.recordings.WithLabelValues("failed").Inc()
		notify(&events.Notify{Type: "callingerror", ErrorCode: notifyErrRecording, ErrorMsg: "storing the recording failed: " + err.Error()})
		return
	}
	c.m.metrics.recordings.WithLabelValues("stored").Inc()
	c.log.Info("recording available", "destination", loc)
	c.tlMedia("recording stored", map[string]any{"url": loc})
	notify(&events.Notify{Type: "recording_available", Destination: loc})
	if t := a.opts.Transcription; t != nil && t.Enabled {
		loc, err := a.rec.Transcribe(ctx, t.Locale)
		switch {
		case err != nil:
			c.log.Warn("recording not transcribed", "err", err)
			notify(&events.Notify{Type: "callingerror", ErrorCode: notifyErrTranscription, ErrorMsg: err.Error()})
		default:
			notify(&events.Notify{Type: "transcription_available", Destination: loc})
		}
	}
}
