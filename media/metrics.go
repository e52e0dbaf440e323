package media

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the media engine's Prometheus metrics (namespace callcore,
// subsystem media). Labels are bounded: result is hit or miss, reason one of
// fetchReasons.
type Metrics struct {
	packetsSent     prometheus.Counter
	packetsReceived prometheus.Counter
	sessionsActive  prometheus.Gauge
	portFailures    prometheus.Counter
	ttsCache        *prometheus.CounterVec
	ttsSeconds      prometheus.Histogram
	fetchErrors     *prometheus.CounterVec
}

// fetchReasons are the values of the reason label of fetch_errors_total.
var fetchReasons = []string{"invalid_url", "status", "timeout", "network", "too_large", "not_wav", "unsupported", "bad_wav"}

// NewMetrics registers the media metrics on reg. A nil reg leaves them
// unregistered (useful in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		packetsSent: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "rtp_packets_sent_total",
			Help: "RTP packets sent (played audio, DTMF events and bridged packets).",
		}),
		packetsReceived: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "rtp_packets_received_total",
			Help: "RTP packets received and accepted.",
		}),
		sessionsActive: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "media", Name: "sessions_active",
			Help: "Open RTP sessions.",
		}),
		portFailures: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "port_allocation_failures_total",
			Help: "RTP sessions refused because no port of the range was free.",
		}),
		ttsCache: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "tts_cache_requests_total",
			Help: "Text-to-speech requests by cache result: hit (served from the cache) or miss (synthesized, or waited for a synthesis in flight).",
		}, []string{"result"}),
		ttsSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "media", Name: "tts_synthesis_seconds",
			Help:    "Time to synthesize and resample one uncached TTS prompt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		fetchErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "fetch_errors_total",
			Help: "Failed audio file downloads by reason.",
		}, []string{"reason"}),
	}
	m.ttsCache.WithLabelValues("hit")
	m.ttsCache.WithLabelValues("miss")
	for _, r := range fetchReasons {
		m.fetchErrors.WithLabelValues(r)
	}
	return m
}
