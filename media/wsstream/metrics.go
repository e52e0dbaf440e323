package wsstream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the package's Prometheus metrics (namespace callcore,
// subsystem wsstream). Labels are bounded: direction is sent or received,
// queue is send or play, reason one of connectReasons.
type metrics struct {
	active   prometheus.Gauge
	frames   *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// newMetrics registers the metrics on reg, or reuses the ones registered by
// an earlier Dial with the same registerer. A nil reg leaves them
// unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "wsstream", Name: "streams_active",
			Help: "Open connectStream WebSocket streams.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "wsstream", Name: "frames_total",
			Help: "Binary audio messages sent to or received from connectStream servers.",
		}, []string{"direction"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "wsstream", Name: "dropped_frames_total",
			Help: "Audio dropped because a queue was full, in 20 ms frames: send (the server reads too slowly) or play (the server sent more than the playback queue holds).",
		}, []string{"queue"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "wsstream", Name: "connect_failures_total",
			Help: "Failed connectStream connections by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		m.active = register(reg, m.active)
		m.frames = register(reg, m.frames)
		m.dropped = register(reg, m.dropped)
		m.failures = register(reg, m.failures)
	}
	for _, d := range []string{"sent", "received"} {
		m.frames.WithLabelValues(d)
	}
	for _, q := range []string{"send", "play"} {
		m.dropped.WithLabelValues(q)
	}
	for _, r := range connectReasons {
		m.failures.WithLabelValues(r)
	}
	return m
}

// register registers c on reg, returning the collector already registered
// under the same description if there is one. Any other registration error
// leaves c unregistered (the stream still works).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	return c
}
