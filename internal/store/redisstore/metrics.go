package redisstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Operation label values, one per Store method.
const (
	opPing           = "ping"
	opListNumbers    = "list_numbers"
	opGetNumber      = "get_number"
	opAssignNumbers  = "assign_numbers"
	opUnassignNumber = "unassign_number"
	opGetCallbacks   = "get_callbacks"
	opSetCallbacks   = "set_callbacks"
	opSeedCallbacks  = "seed_callbacks"
	opCreateCall     = "create_call"
	opGetCall        = "get_call"
	opUpdateCall     = "update_call"
	opDeleteCall     = "delete_call"
	opReplaceCall    = "replace_call"
	opNodeCalls      = "node_calls"
	opUnindexCalls   = "unindex_calls"
	opRouteNumber    = "route_number"
)

var allOps = []string{
	opPing, opListNumbers, opGetNumber, opAssignNumbers, opUnassignNumber,
	opGetCallbacks, opSetCallbacks, opSeedCallbacks,
	opCreateCall, opGetCall, opUpdateCall, opDeleteCall,
	opReplaceCall, opNodeCalls, opUnindexCalls, opRouteNumber,
}

// casOps are the operations that retry optimistic writes.
var casOps = []string{opAssignNumbers, opUnassignNumber, opUpdateCall}

// Metrics are the Prometheus metrics of a Store. A nil *Metrics records
// nothing.
type Metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// NewMetrics registers the store metrics on reg:
//
//   - callcore_store_operation_duration_seconds{op}: latency of each Store
//     method, whatever the outcome.
//   - callcore_store_operation_errors_total{op}: failed operations: Redis
//     errors, timeouts, cancellations and exhausted retries. Expected outcomes
//     (not found, exists, number taken, invalid argument, an error returned by
//     an UpdateCall function) are not failures.
//   - callcore_store_cas_retries_total{op}: optimistic writes that lost a race
//     and were retried.
//
// op is one of the snake_case method names (ping, list_numbers, …,
// delete_call).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore",
			Subsystem: "store",
			Name:      "operation_duration_seconds",
			Help:      "Latency of store operations.",
			Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore",
			Subsystem: "store",
			Name:      "operation_errors_total",
			Help:      "Store operations that failed (backend errors, timeouts, exhausted retries).",
		}, []string{"op"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore",
			Subsystem: "store",
			Name:      "cas_retries_total",
			Help:      "Optimistic store writes retried after losing a race.",
		}, []string{"op"}),
	}
	for _, op := range allOps {
		m.duration.WithLabelValues(op)
		m.errors.WithLabelValues(op)
	}
	for _, op := range casOps {
		m.retries.WithLabelValues(op)
	}
	return m
}

// observe records one operation; failed is true for an unexpected error.
func (m *Metrics) observe(op string, start time.Time, failed bool) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if failed {
		m.errors.WithLabelValues(op).Inc()
	}
}

// retried records one lost optimistic race of op.
func (m *Metrics) retried(op string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op).Inc()
}
