package outbox

import (
	"time"

	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Attempt outcomes (the outcome label of callcore_outbox_attempts_total).
const (
	outcomeOK        = "ok"
	outcomeRetry     = "retry"
	outcomePermanent = "permanent"
)

var (
	allKinds    = []string{KindDiCE, KindNotify, "other"}
	allOutcomes = []string{outcomeOK, outcomeRetry, outcomePermanent}
	allReasons  = []string{ReasonExpired, ReasonPermanent, ReasonMalformed}
)

// latencyBuckets span 1 ms to 24 h (seconds).
var latencyBuckets = []float64{
	.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60,
	300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
}

// metrics are the Prometheus metrics of one outbox.
type metrics struct {
	enqueued    *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	dead        *prometheus.CounterVec
	redisErrors prometheus.Counter
	latency     *prometheus.HistogramVec
	all         []prometheus.Collector
}

// newMetrics creates the metrics (register them with register):
//
//   - callcore_outbox_enqueued_total{kind}: entries accepted by Enqueue.
//   - callcore_outbox_delivered_total{kind}: entries acknowledged by the
//     backend (DeliverFunc returned nil).
//   - callcore_outbox_attempts_total{kind,outcome=ok|retry|permanent}.
//   - callcore_outbox_dead_lettered_total{kind,reason=expired|permanent|malformed}.
//   - callcore_outbox_pending: entries this process holds undelivered.
//   - callcore_outbox_oldest_pending_age_seconds: age of the oldest of them.
//   - callcore_outbox_spilled: entries held only in memory (Redis down).
//   - callcore_outbox_redis_errors_total: failed Redis commands/pipelines.
//   - callcore_outbox_delivery_latency_seconds{kind}: EnqueuedAt to backend
//     acknowledgement.
//
// kind is dice, notify or other. stats feeds the gauges at scrape time.
func newMetrics(stats func() Stats) *metrics {
	m := &metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "enqueued_total",
			Help: "Events accepted for delivery.",
		}, []string{"kind"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "delivered_total",
			Help: "Events acknowledged (2xx) by the customer backend.",
		}, []string{"kind"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "attempts_total",
			Help: "Delivery attempts by outcome.",
		}, []string{"kind", "outcome"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "dead_lettered_total",
			Help: "Events given up on, by reason.",
		}, []string{"kind", "reason"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "redis_errors_total",
			Help: "Failed Redis commands and pipelines of the outbox.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "delivery_latency_seconds",
			Help:    "Time from EnqueuedAt to the backend's acknowledgement.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
	}
	m.all = []prometheus.Collector{m.enqueued, m.delivered, m.attempts, m.dead, m.redisErrors, m.latency}
	m.all = append(m.all, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "callcore", Subsystem: "outbox", Name: "pending",
		Help: "Events this process holds that are not delivered yet.",
	}, func() float64 { return float64(stats().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "oldest_pending_age_seconds",
			Help: "Age of the oldest event this process holds undelivered.",
		}, func() float64 { return stats().OldestPendingAge.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "outbox", Name: "spilled",
			Help: "Events held only in memory because Redis was unreachable.",
		}, func() float64 { return float64(stats().Spilled) }))
	for _, k := range allKinds {
		m.enqueued.WithLabelValues(k)
		m.delivered.WithLabelValues(k)
		m.latency.WithLabelValues(k)
		for _, o := range allOutcomes {
			m.attempts.WithLabelValues(k, o)
		}
		for _, r := range allReasons {
			m.dead.WithLabelValues(k, r)
		}
	}
	return m
}

// register registers every metric on reg, or none.
func (m *metrics) register(reg prometheus.Registerer) error {
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) attempt(kind, outcome string) {
	m.attempts.WithLabelValues(kindLabel(kind), outcome).Inc()
}

func (m *metrics) deadLettered(kind, reason string) {
	m.dead.WithLabelValues(kindLabel(kind), reason).Inc()
}

func (m *metrics) deliveredAfter(kind string, d time.Duration) {
	k := kindLabel(kind)
	m.delivered.WithLabelValues(k).Inc()
	m.latency.WithLabelValues(k).Observe(d.Seconds())
}
