package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// registerNodeState registers the node's lifecycle gauges, so that alerts
// and dashboards read readiness instead of inferring it:
//
//   - callcore_node_ready: 1 while the node takes new calls — started, not
//     stopping or draining, its store reachable by the store watcher's
//     last pings (what /readyz answers, without a ping per scrape);
//   - callcore_node_draining: 1 from the start of a drain (SIGTERM) until
//     the node exits — new calls refused, running ones finishing.
func (a *App) registerNodeState(reg prometheus.Registerer) {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "callcore", Subsystem: "node", Name: "ready",
		Help: "1 while the node takes new calls: started, not draining or stopping, store reachable."},
		func() float64 { return bool01(a.ready.Load() && !a.region.storeDown.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "callcore", Subsystem: "node", Name: "draining",
		Help: "1 from the start of a drain (SIGTERM) until the node exits."},
		func() float64 { return bool01(a.draining.Load()) })
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
