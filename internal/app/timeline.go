package app

import (
	"encoding/json"
	"strconv"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/api"
	"github.com/callcore/callcore/internal/signaling"
	"github.com/callcore/callcore/internal/timeline"
)

// newTimeline builds the per-call timeline recorder (timeline.enabled):
// on Redis with a Redis store, so that every node reads every call's
// timeline, in memory otherwise. Timelines live as long as call records.
// It runs after openStore and before the parts that record.
func (a *App) newTimeline() {
	cfg := a.cfg
	if !cfg.Timeline.Enabled {
		return
	}
	limits := timeline.Limits{
		MaxEntries: cfg.Timeline.MaxEntries,
		LiveTTL:    cfg.Calls.MaxDuration + cfg.Calls.RecordTTL,
		EndedTTL:   cfg.Calls.RecordTTL,
	}
	var b timeline.Backend = timeline.NewMemory(limits, nil)
	if a.region.client != nil {
		b = timeline.NewRedis(a.region.client, keyPrefix(cfg), limits)
	}
	rec := timeline.New(b, timeline.Options{
		Node:          cfg.Node.ID,
		MaxEntries:    cfg.Timeline.MaxEntries,
		MaxBody:       int(cfg.Timeline.MaxBody),
		RevealNumbers: cfg.Timeline.RevealNumbers,
		RevealCookies: cfg.Timeline.RevealCookies,
		Logger:        a.log.With("component", "timeline"),
		Registerer:    a.registry,
	})
	a.timeline = rec
	// Stops after the calls and the outbox (registered later, stopped
	// earlier), before the Redis client.
	a.addStop("timeline", rec.Close)
}

// timelineReader is what the API reads timelines from: nil (the route
// answers "timeline disabled") when none are recorded.
func (a *App) timelineReader() api.Timelines {
	if a.timeline == nil {
		return nil
	}
	return a.timeline
}

// sipTrace turns the SIP layer's messages into timeline entries.
func sipTrace(rec *timeline.Recorder) func(signaling.TraceMessage) {
	return func(m signaling.TraceMessage) {
		dir := "in"
		if m.Sent {
			dir = "out"
		}
		data := map[string]any{
			"dir": dir, "method": m.Method, "sipCallId": m.SIPCallID,
			"cseq": strconv.FormatUint(uint64(m.CSeq), 10) + " " + m.Method,
			"from": m.From, "to": m.To,
		}
		if !m.IsRequest() {
			data["code"], data["reason"] = m.Code, m.Reason
		}
		if m.ReasonHeader != "" {
			data["reasonHeader"] = m.ReasonHeader
		}
		if m.SDP != "" {
			data["sdp"] = m.SDP
		}
		rec.RecordAt(m.At, m.TraceID, timeline.KindSIP, m.Summary(), data)
	}
}

// recordDelivery records one callback delivery of the events client:
// which URL answered, the status, the bodies. queueAttempt is the
// outbox's attempt number (0 for a direct delivery).
func recordDelivery(rec *timeline.Recorder, callID, id string, kind events.Kind, t events.Target, rep events.Reply,
	request any, reply []byte, err error, queueAttempt int) {
	url := t.URL
	fallback := rep.URL == events.TargetFallback
	if fallback {
		url = t.FallbackURL
	}
	rec.RecordCallback(callID, timeline.Callback{
		Event: kind.String(), EventID: id, URL: url, Fallback: fallback, Status: rep.Status,
		Attempts: rep.Attempts, Latency: rep.Latency, Request: request, Reply: reply, Err: err,
		// Checked (replies are small): stored as JSON only if it is.
		ReplyJSON:    err == nil && json.Valid(reply),
		QueueAttempt: queueAttempt,
	})
}
