package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/media/amd"
	"github.com/callcore/callcore/media/wsstream"
)

// MOH returns a fresh source of a hold-music class.
func (m mediaAdapter) MOH(class string) call.Audio {
	src, ok := media.MOH(class)
	if !ok {
		return nil
	}
	return src
}

// AMD returns a detector with callcore's defaults (media/amd).
func (m mediaAdapter) AMD() call.AMDDetector { return amdDetector{amd.New(amd.DefaultConfig())} }

// amdDetector maps media/amd results to the Sinch amd object: duration in
// whole seconds, rounded up (see internal/call's AMD notes).
type amdDetector struct{ d *amd.Detector }

func amdSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func toEvent(r amd.Result) events.AMD {
	return events.AMD{Status: string(r.Status), Reason: string(r.Reason), Duration: amdSeconds(r.Duration)}
}

func (a amdDetector) Process(frame []int16) (events.AMD, bool) {
	r, ok := a.d.Process(frame)
	if !ok {
		return events.AMD{}, false
	}
	return toEvent(r), true
}

func (a amdDetector) Beep(frame []int16) (events.AMD, bool) {
	at, ok := a.d.Beep(frame)
	if !ok {
		return events.AMD{}, false
	}
	return events.AMD{Status: string(amd.StatusMachine), Reason: string(amd.ReasonBeep), Duration: amdSeconds(at)}, true
}

func (a amdDetector) Hangup() events.AMD { return toEvent(a.d.Hangup()) }

// OnHold reports whether the peer's last SDP put the session on hold.
func (ms *mediaSession) OnHold() bool {
	n, ok := ms.s.Negotiation()
	if !ok {
		return false
	}
	return n.RemoteDir == media.SendOnly || n.RemoteDir == media.Inactive ||
		(n.Remote.Addr().IsValid() && n.Remote.Addr().IsUnspecified())
}

// Tap installs a tap on the session (see media.Session.Tap).
func (ms *mediaSession) Tap(fn func(rx, tx []int16)) func() { return ms.s.Tap(fn) }

// streamDialer opens connectStream connections with media/wsstream.
type streamDialer struct {
	log *slog.Logger
	reg prometheus.Registerer
}

func (d streamDialer) Dial(ctx context.Context, r call.StreamRequest) (call.Stream, error) {
	hs := make([]wsstream.CallHeader, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = wsstream.CallHeader{Key: h.Key, Value: h.Value}
	}
	s, err := wsstream.Dial(ctx, wsstream.Options{
		URL: r.URL, SampleRate: r.SampleRate, Version: r.Version,
		Start:  wsstream.StartMessage{CallID: r.CallID, ApplicationKey: r.AppKey, CLI: r.CLI, To: r.To, Custom: r.Custom, CallHeaders: hs},
		Logger: d.log.With("call_id", r.CallID), Registerer: d.reg,
	})
	if err != nil {
		return nil, err
	}
	return stream{s}, nil
}

type stream struct{ *wsstream.Stream }

func (s stream) Audio() call.Audio { return s.Source() }
