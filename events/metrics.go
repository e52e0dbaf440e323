package events

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of one [Client.Deliver], the "outcome" label of
// callcore_callbacks_total.
const (
	// OutcomeOK means the primary URL gave an accepted reply.
	OutcomeOK = "ok"
	// OutcomeOKFallback means the primary failed and the fallback URL gave
	// an accepted reply.
	OutcomeOKFallback = "ok_fallback"
	// OutcomeFailed means no accepted reply, the last failure being
	// anything but a rejected reply body.
	OutcomeFailed = "failed"
	// OutcomeInvalidReply means no accepted reply, the last failure being a
	// 2xx reply that accept rejected (e.g. invalid SVAML).
	OutcomeInvalidReply = "invalid_reply"
	// OutcomeCanceled means the caller's context ended first (e.g. the
	// caller hung up during ICE).
	OutcomeCanceled = "canceled"
)

// Values of the "target" label and of [Reply.URL].
const (
	TargetPrimary  = "primary"
	TargetFallback = "fallback"
)

var (
	metricKinds    = []Kind{KindICE, KindACE, KindPIE, KindDiCE, KindNotify, KindUnknown}
	metricOutcomes = []string{OutcomeOK, OutcomeOKFallback, OutcomeFailed, OutcomeInvalidReply, OutcomeCanceled}
	metricTargets  = []string{TargetPrimary, TargetFallback}
	// attemptReasons are the reasons an HTTP attempt can fail with; the
	// others (invalid_event, canceled) never reach a target.
	attemptReasons = []string{
		DeliveryTimeout, DeliveryConnect, DeliveryTLS, DeliveryNetwork,
		DeliveryStatus5xx, DeliveryStatus4xx, DeliveryStatusOther,
		DeliveryTooLarge, DeliveryInvalidReply, DeliveryInvalidTarget,
	}
)

// Metrics are the callback delivery metrics of a [Client]. All labels are
// bounded: event is an event kind ("ice", "ace", "pie", "dice", "notify" or
// "unknown"), outcome one of the Outcome constants, target "primary" or
// "fallback", reason one of the Delivery constants.
//
//   - callcore_callbacks_total{event,outcome}: deliveries by final outcome.
//   - callcore_callback_duration_seconds{event,target}: latency of each HTTP
//     attempt, successful or not, from sending the request to having the
//     reply (and accept's verdict).
//   - callcore_callback_failures_total{event,target,reason}: failed attempts
//     by reason.
//
// Every label combination is initialised to zero.
type Metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	failures   *prometheus.CounterVec
}

// NewMetrics creates the delivery metrics and registers them on reg (a nil
// reg registers nothing). It panics if they are already registered on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		deliveries: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Name: "callbacks_total",
			Help: "Callback deliveries by event kind and final outcome (ok, ok_fallback, failed, invalid_reply, canceled).",
		}, []string{"event", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Name: "callback_duration_seconds",
			Help:    "Latency of each callback HTTP attempt by event kind and target (primary or fallback).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"event", "target"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Name: "callback_failures_total",
			Help: "Failed callback HTTP attempts by event kind, target and reason.",
		}, []string{"event", "target", "reason"}),
	}
	for _, k := range metricKinds {
		ev := k.String()
		for _, o := range metricOutcomes {
			m.deliveries.WithLabelValues(ev, o)
		}
		for _, t := range metricTargets {
			m.duration.WithLabelValues(ev, t)
			for _, r := range attemptReasons {
				m.failures.WithLabelValues(ev, t, r)
			}
		}
	}
	return m
}
