package timeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an entry was dropped (the reason label of
// callcore_timeline_entries_dropped_total).
const (
	// DropBufferFull: the node's buffer was full (the store is slow or
	// down, or the node records faster than it can write).
	DropBufferFull = "buffer_full"
	// DropMaxEntries: the call already had timeline.max_entries entries.
	DropMaxEntries = "max_entries"
	// DropStoreError: the write to the store failed.
	DropStoreError = "store_error"
)

// Metrics are the Prometheus metrics of a Recorder:
//
//   - callcore_timeline_entries_written_total: entries stored.
//   - callcore_timeline_entries_dropped_total{reason}: entries not stored,
//     reason buffer_full, max_entries or store_error.
//   - callcore_timeline_bytes_written_total: bytes of the entries stored.
//   - callcore_timeline_flush_duration_seconds: one flush (redaction,
//     encoding and the write).
//   - callcore_timeline_buffered_entries: entries (and call ends) the
//     last flush found waiting.
type Metrics struct {
	written  prometheus.Counter
	dropped  *prometheus.CounterVec
	bytes    prometheus.Counter
	duration prometheus.Histogram
	buffered prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered). It panics if they are registered already.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "timeline", Name: "entries_written_total",
			Help: "Timeline entries stored.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "timeline", Name: "entries_dropped_total",
			Help: "Timeline entries not stored, by reason (buffer_full, max_entries, store_error).",
		}, []string{"reason"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "timeline", Name: "bytes_written_total",
			Help: "Bytes of the timeline entries stored.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "timeline", Name: "flush_duration_seconds",
			Help:    "Time one flush of the timeline buffer took (redaction, encoding, write).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "timeline", Name: "buffered_entries",
			Help: "Timeline entries that were waiting in the node's buffer at the last flush.",
		}),
	}
	for _, r := range []string{DropBufferFull, DropMaxEntries, DropStoreError} {
		m.dropped.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.written, m.dropped, m.bytes, m.duration, m.buffered} {
			if err := reg.Register(c); err != nil {
				panic(fmt.Sprintf("timeline: registering metrics: %v", err))
			}
		}
	}
	return m
}
