package app

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/signaling"
	"github.com/callcore/callcore/internal/timeline"
)

// timeline.enabled: false records nothing and the route says so.
func TestTimelineDisabled(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Timeline.Enabled = false
	a := startNode(t, cfg)
	require.Nil(t, a.timeline)
	code, body := signedGet(t, "http://"+a.APIAddr()+"/calling/v1/calls/id/euc1-node-a-x/timeline")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, "timeline disabled")
	_, metrics := get(t, "http://"+a.OpsAddr()+"/metrics")
	require.NotContains(t, metrics, "callcore_timeline_")
}

// With the timeline on (the default) its metrics are on /metrics.
func TestTimelineMetricsExposed(t *testing.T) {
	a := startNode(t, testConfig(t, ""))
	require.NotNil(t, a.timeline)
	_, metrics := get(t, "http://"+a.OpsAddr()+"/metrics")
	for _, name := range []string{
		"callcore_timeline_entries_written_total", `callcore_timeline_entries_dropped_total{reason="buffer_full"}`,
		"callcore_timeline_bytes_written_total", "callcore_timeline_flush_duration_seconds_bucket", "callcore_timeline_buffered_entries",
	} {
		require.Contains(t, metrics, name)
	}
}

func TestSIPTraceAndDeliveryEntries(t *testing.T) {
	ctx := context.Background()
	rec := timeline.New(timeline.NewMemory(timeline.Limits{}, nil), timeline.Options{Node: "n", FlushInterval: time.Hour})
	t.Cleanup(func() { _ = rec.Close(ctx) })
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	sipTrace(rec)(signaling.TraceMessage{At: at, TraceID: "c1", SIPCallID: "abc", Sent: true, Method: "INVITE", Code: 200, Reason: "OK",
		From: "46708000012", To: "+46701234567", CSeq: 7, SDP: "audio PCMU sendrecv"})
	target := events.Target{URL: "https://primary.example/cb?token=t", FallbackURL: "https://user:pw@fallback.example/cb"}
	recordDelivery(rec, "c1", "c1:dice", events.KindDiCE, target,
		events.Reply{Status: 503, URL: events.TargetFallback, Attempts: 2, Latency: 12 * time.Millisecond},
		[]byte(`{"event":"dice","from":"+46708000012"}`), nil, errors.New("status 503 Service Unavailable"), 3)
	require.NoError(t, rec.Flush(ctx))
	got, err := rec.Read(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, got, 3)

	sip := got[0]
	assert.Equal(t, at, sip.T.UTC())
	assert.Equal(t, "sent 200 OK to INVITE (sdp: audio PCMU sendrecv)", sip.Summary)
	assert.Equal(t, "out", sip.Data["dir"])
	assert.Equal(t, "467******12", sip.Data["from"])
	assert.Equal(t, "+467******67", sip.Data["to"])
	assert.Equal(t, "7 INVITE", sip.Data["cseq"])
	assert.Equal(t, "abc", sip.Data["sipCallId"])
	assert.Equal(t, "audio PCMU sendrecv", sip.Data["sdp"])

	dice := got[1]
	assert.Equal(t, timeline.KindCallback, dice.Kind)
	assert.Equal(t, "dice callback failed: HTTP 503 in 12 ms, fallback URL after the primary failed, queued delivery attempt 3", dice.Summary)
	assert.Equal(t, "https://***@fallback.example/cb", dice.Data["url"])
	assert.Equal(t, `{"event":"dice","from":"+467******12"}`, dice.Data["request"])
	assert.Equal(t, timeline.KindError, got[2].Kind)
}
