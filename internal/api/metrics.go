package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/callcore/callcore/events"
)

// Metrics are the API's Prometheus metrics. Labels are bounded: route is the
// route template (or "unmatched"), method an HTTP verb, code an HTTP status,
// reason one of events.FailureReason's labels.
type Metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
}

// authReasons are pre-initialised so dashboards see zeros before the first failure.
var authReasons = []string{"missing", "malformed", "unknown_key", "bad_signature", "bad_credentials",
	"bad_timestamp", "stale_timestamp", "future_timestamp", "forbidden", "other"}

// NewMetrics registers the API metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "api", Name: "requests_total",
			Help: "REST API requests by route template, method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "REST API request latency by route template, method and HTTP status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "code"}),
		authFailures: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "api", Name: "auth_failures_total",
			Help: "Rejected REST API requests by authentication failure reason.",
		}, []string{"reason"}),
	}
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) authFailed(err error) {
	m.authFailures.WithLabelValues(events.FailureReason(err)).Inc()
}
