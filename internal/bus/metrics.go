package bus

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of Request (label outcome of callcore_bus_requests_total and
// callcore_bus_request_duration_seconds).
const (
	outcomeOK          = "ok"
	outcomeRemoteError = "remote_error"
	outcomeNoResponder = "no_responder"
	outcomeTimeout     = "timeout"
	outcomeCanceled    = "canceled"
	outcomeClosed      = "closed"
	outcomeError       = "error"
)

var requestOutcomes = []string{
	outcomeOK, outcomeRemoteError, outcomeNoResponder, outcomeTimeout,
	outcomeCanceled, outcomeClosed, outcomeError,
}

// Outcomes of handled requests (label outcome of callcore_bus_handled_total).
const (
	handledOK    = "ok"
	handledError = "error"
	handledPanic = "panic"
	handledLate  = "late"
)

var handledOutcomes = []string{handledOK, handledError, handledPanic, handledLate}

// Reasons of dropped messages (label reason of
// callcore_bus_dropped_messages_total).
const (
	dropMalformed    = "malformed"
	dropExpired      = "expired"
	dropUnknownReply = "unknown_reply"
	dropBusy         = "busy"
)

var dropReasons = [...]string{dropMalformed, dropExpired, dropUnknownReply, dropBusy}

// metrics are the Prometheus metrics of one bus.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	handled       *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	inflight      prometheus.Gauge
	replyErrors   prometheus.Counter
	receiveErrors prometheus.Counter
}

// newMetrics registers the bus metrics (see the package documentation) on
// reg, reusing the collectors of another bus already registered there.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "requests_total",
			Help: "Requests sent to other nodes, by outcome.",
		}, []string{"outcome"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "request_duration_seconds",
			Help:    "Duration of requests sent to other nodes, by outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"})),
		handled: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "handled_total",
			Help: "Requests handled by this node, by outcome.",
		}, []string{"outcome"})),
		dropped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "dropped_messages_total",
			Help: "Received messages dropped, by reason.",
		}, []string{"reason"})),
		inflight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "handlers_in_flight",
			Help: "Handlers running.",
		})),
		replyErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "reply_errors_total",
			Help: "Replies that could not be published.",
		})),
		receiveErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "bus", Name: "receive_errors_total",
			Help: "Failures to receive from the transport (connection losses, failed reconnections).",
		})),
	}
	for _, o := range requestOutcomes {
		m.requests.WithLabelValues(o)
		m.duration.WithLabelValues(o)
	}
	for _, o := range handledOutcomes {
		m.handled.WithLabelValues(o)
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	return m
}

// register registers c on reg, or returns the equal collector registered
// before. Any other registration error is a programming error.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("bus: register metrics: " + err.Error())
	}
	return c
}

// request records one Request.
func (m *metrics) request(outcome string, d time.Duration) {
	m.requests.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
}
