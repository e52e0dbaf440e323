package record

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the recorder's Prometheus metrics (namespace callcore,
// subsystem recording). Labels are bounded: format is wav or mp3, result ok
// or error, scheme file or s3. A nil *Metrics records nothing, so Spec and
// DestinationOptions may leave it unset.
type Metrics struct {
	started        *prometheus.CounterVec
	finished       *prometheus.CounterVec
	bytes          prometheus.Counter
	dropped        prometheus.Counter
	uploadSeconds  *prometheus.HistogramVec
	uploadFailures *prometheus.CounterVec
}

// NewMetrics registers the recording metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		started: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "started_total",
			Help: "Recordings started, by file format.",
		}, []string{"format"}),
		finished: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "finished_total",
			Help: "Recordings stopped and finalized, by file format and result (ok, or error when the file could not be written).",
		}, []string{"format", "result"}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "bytes_written_total",
			Help: "Bytes of finalized recording files (headers included).",
		}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "frames_dropped_total",
			Help: "Audio frames dropped because a recorder's writer fell more than its backlog behind the media tap.",
		}),
		uploadSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "upload_duration_seconds",
			Help:    "Time to store one recording at its destination, retries included, by scheme.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"scheme"}),
		uploadFailures: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "recording", Name: "upload_failures_total",
			Help: "Recordings that could not be stored at their destination after all attempts, by scheme.",
		}, []string{"scheme"}),
	}
	for _, fm := range []Format{FormatWAV, FormatMP3} {
		m.started.WithLabelValues(string(fm))
		m.finished.WithLabelValues(string(fm), "ok")
		m.finished.WithLabelValues(string(fm), "error")
	}
	for _, s := range []string{schemeFile, schemeS3} {
		m.uploadFailures.WithLabelValues(s)
	}
	return m
}

func (m *Metrics) recordStarted(f Format) {
	if m != nil {
		m.started.WithLabelValues(string(f)).Inc()
	}
}

func (m *Metrics) recordFinished(f Format, bytes int64, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.finished.WithLabelValues(string(f), result).Inc()
	if bytes > 0 {
		m.bytes.Add(float64(bytes))
	}
}

func (m *Metrics) frameDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

func (m *Metrics) uploaded(scheme string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.uploadSeconds.WithLabelValues(scheme).Observe(took.Seconds())
	if err != nil {
		m.uploadFailures.WithLabelValues(scheme).Inc()
	}
}
