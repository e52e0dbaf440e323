package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the op label, one per Store method.
const (
	opJoin       = "join"
	opLeave      = "leave"
	opGet        = "get"
	opSetFlags   = "set_flags"
	opRenew      = "renew"
	opClaim      = "claim"
	opRelease    = "release"
	opHosts      = "hosts"
	opRemoveNode = "remove_node"
)

// Values of the outcome label.
const (
	outcomeOK            = "ok"
	outcomeNotFound      = "not_found"
	outcomeNoParticipant = "no_participant"
	outcomeInvalid       = "invalid"
	outcomeCanceled      = "canceled"
	outcomeError         = "error"
)

var (
	allOps = []string{opJoin, opLeave, opGet, opSetFlags, opRenew, opClaim, opRelease, opHosts, opRemoveNode}
	// outcomesOf lists the outcomes each op can have, so that they are
	// exported at 0 from the start.
	outcomesOf = map[string][]string{
		opGet:      {outcomeNotFound},
		opSetFlags: {outcomeNotFound, outcomeNoParticipant},
		opClaim:    {outcomeNotFound},
	}
	commonOutcomes = []string{outcomeOK, outcomeInvalid, outcomeCanceled, outcomeError}
)

// metrics are the Prometheus collectors of a store.
type metrics struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bad      prometheus.Counter
}

// newMetrics registers on reg:
//
//   - callcore_conference_store_ops_total{op,outcome}: Store calls by
//     outcome: ok, not_found, no_participant, invalid (ErrInvalid),
//     canceled (the context was canceled or its deadline passed) or error
//     (Redis errors).
//   - callcore_conference_store_op_duration_seconds{op}: their latency,
//     whatever the outcome.
//   - callcore_conference_store_bad_records_total: participant records that
//     could not be decoded and were skipped.
//
// op is the snake_case method name (join, leave, get, set_flags, renew,
// claim, hosts, remove_node). A collector reg already holds (another store
// of the process) is shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "conference_store", Name: "ops_total",
			Help: "Conference room store operations by outcome.",
		}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "conference_store", Name: "op_duration_seconds",
			Help:    "Latency of conference room store operations.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "conference_store", Name: "bad_records_total",
			Help: "Participant records that could not be decoded and were skipped.",
		}),
	}
	var err error
	m.ops, err = register(reg, m.ops)
	if err == nil {
		m.duration, err = register(reg, m.duration)
	}
	if err == nil {
		m.bad, err = register(reg, m.bad)
	}
	if err != nil {
		return nil, err
	}
	for _, op := range allOps {
		m.duration.WithLabelValues(op)
		for _, o := range slices.Concat(commonOutcomes, outcomesOf[op]) {
			m.ops.WithLabelValues(op, o)
		}
	}
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
	return c, fmt.Errorf("rooms: register metrics: %w", err)
}

// observe records one call of op that started at start and returned *err;
// it is meant to be deferred: defer m.observe(op, time.Now(), &err).
func (m *metrics) observe(op string, start time.Time, err *error) {
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	m.ops.WithLabelValues(op, outcome(*err)).Inc()
}

// outcome maps an error to its outcome label.
func outcome(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, ErrNoParticipant):
		return outcomeNoParticipant
	case errors.Is(err, ErrInvalid):
		return outcomeInvalid
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeCanceled
	default:
		return outcomeError
	}
}

// mustMetrics is newMetrics for the constructors, which return no error:
// registering fails only when reg holds different collectors under these
// names, a programming error.
func mustMetrics(reg prometheus.Registerer) *metrics {
	m, err := newMetrics(reg)
	if err != nil {
		panic(err)
	}
	return m
}
