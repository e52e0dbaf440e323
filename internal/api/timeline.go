package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/internal/timeline"
)

// Timelines reads per-call timelines; *timeline.Recorder implements it.
type Timelines interface {
	// Read returns a call's timeline, ordered (see timeline.Recorder.Read);
	// an empty list for a call with no entries.
	Read(ctx context.Context, callID string) ([]timeline.Entry, error)
}

var _ Timelines = (*timeline.Recorder)(nil)

// timelineReply is the body of GET /calling/v1/calls/id/{callId}/timeline.
type timelineReply struct {
	CallID  string           `json:"callId"`
	Entries []timeline.Entry `json:"entries"`
}

// getTimeline answers GET /calling/v1/calls/id/{callId}/timeline, a
// callcore extension: what every node did with the call, ordered by time,
// readable while the call runs and as long as its record
// (calls.record_ttl after the end). Authentication and ownership are those
// of GET /calls/id/{callId}: another application's call is 404. 404
// "timeline disabled" when the node records none; 503 when the store
// cannot be read.
func (s *Server) getTimeline(c echo.Context) error {
	if s.timelines == nil {
		return errorf(http.StatusNotFound, "timeline disabled")
	}
	snap, err := s.ownCall(c)
	if err != nil {
		return err
	}
	entries, err := s.timelines.Read(c.Request().Context(), snap.ID)
	if err != nil {
		s.log.Warn("reading a call's timeline failed", "call_id", snap.ID, "err", err)
		e := errorf(http.StatusServiceUnavailable, "the call's timeline cannot be read now; retry later")
		e.RetryAfter = 1
		return e
	}
	if entries == nil {
		entries = []timeline.Entry{}
	}
	return c.JSON(http.StatusOK, timelineReply{CallID: snap.ID, Entries: entries})
}
