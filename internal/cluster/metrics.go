package cluster

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the cause label of callcore_cluster_reaped_total.
const (
	causeDied = "died"
	causeLeft = "left"
)

// metrics are the Prometheus collectors of a Membership.
type metrics struct {
	members    prometheus.Gauge
	leader     prometheus.Gauge
	redisUp    prometheus.Gauge
	failures   prometheus.Counter
	reaped     *prometheus.CounterVec
	reapErrors prometheus.Counter
	fenced     prometheus.Counter
}

// newMetrics registers the metrics on reg. A collector that reg already
// holds (another Membership of the same process) is shared: counters then
// add up and gauges show the last value written.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "members",
			Help: "Live members (heartbeat present) seen by the last scan or Members call.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "leader",
			Help: "1 while this process holds the reaper lease.",
		}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "redis_up",
			Help: "1 if the last heartbeat reached Redis, 0 if it failed.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "heartbeat_failures_total",
			Help: "Heartbeats that failed (Redis errors and timeouts).",
		}),
		reaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "reaped_total",
			Help: "Members whose OnDead succeeded on this process, by cause (died, left).",
		}, []string{"cause"}),
		reapErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "reap_errors_total",
			Help: "Failed reaping attempts (OnDead errors and Redis errors while reaping), retried later.",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "cluster", Name: "fenced_total",
			Help: "Times this process found itself declared dead by another node (OnFenced).",
		}),
	}
	var err error
	m.members, err = register(reg, m.members)
	if err == nil {
		m.leader, err = register(reg, m.leader)
	}
	if err == nil {
		m.redisUp, err = register(reg, m.redisUp)
	}
	if err == nil {
		m.failures, err = register(reg, m.failures)
	}
	if err == nil {
		m.reaped, err = register(reg, m.reaped)
	}
	if err == nil {
		m.reapErrors, err = register(reg, m.reapErrors)
	}
	if err == nil {
		m.fenced, err = register(reg, m.fenced)
	}
	if err != nil {
		return nil, err
	}
	m.reaped.WithLabelValues(causeDied)
	m.reaped.WithLabelValues(causeLeft)
	return m, nil
}

// register registers c on reg, or returns the collector reg already holds
// under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// setBool sets g to 1 if b, else 0.
func setBool(g prometheus.Gauge, b bool) {
	if b {
		g.Set(1)
	} else {
		g.Set(0)
	}
}
