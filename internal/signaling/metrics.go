package signaling

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/callcore/callcore/events"
)

// Inbound INVITE outcomes (label values of callcore_sip_inbound_invites_total).
const (
	inAnswered   = "answered"     // 200 OK sent and ACKed
	inRejected   = "rejected"     // the call core sent a final non-2xx (Reject, Hangup before answer)
	inCanceled   = "canceled"     // the caller CANCELed (or BYEd the early dialog)
	inACLDenied  = "acl_denied"   // 403, source not in TrunkACL
	inOverloaded = "overloaded"   // 503, MaxCalls reached or draining
	inBadRequest = "bad_request"  // 400/415/420, malformed or unsupported INVITE
	inAckTimeout = "ack_timeout"  // 200 OK never ACKed
	inFailed     = "failed"       // transport error, server closed before a final response
	inNoHandler  = "handler_fail" // the Handler panicked before answering
)

var inboundOutcomes = []string{inAnswered, inRejected, inCanceled, inACLDenied, inOverloaded, inBadRequest, inAckTimeout, inFailed, inNoHandler}

// Registration outcomes (label values of callcore_sip_registrations_total).
const (
	regRegistered   = "registered"   // bindings added or refreshed
	regUnregistered = "unregistered" // Expires: 0
	regQueried      = "queried"      // REGISTER without Contact
	regChallenged   = "challenged"   // 401 sent (no or stale credentials)
	regAuthFailed   = "auth_failed"  // 403, wrong user or password
	regTooBrief     = "too_brief"    // 423
	regBadRequest   = "bad_request"  // 400
	regError        = "error"        // registry failure, 500
	regDisabled     = "disabled"     // no Users function, 405
)

var registrationOutcomes = []string{regRegistered, regUnregistered, regQueried, regChallenged, regAuthFailed, regTooBrief, regBadRequest, regError, regDisabled}

// knownMethods bounds the method label; anything else is "other".
var knownMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "REGISTER", "PRACK", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH", "other"}

// Metrics are the signalling metrics, all under namespace callcore,
// subsystem sip, with bounded labels only.
type Metrics struct {
	inbound       *prometheus.CounterVec // outcome
	outbound      *prometheus.CounterVec // result
	requests      *prometheus.CounterVec // method
	active        *prometheus.GaugeVec   // direction
	registrations *prometheus.CounterVec // outcome
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered). Every label value is pre-initialised.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		inbound: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "sip", Name: "inbound_invites_total",
			Help: "Inbound initial INVITEs by outcome.",
		}, []string{"outcome"}),
		outbound: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "sip", Name: "outbound_dials_total",
			Help: "Outbound dials by call result (answered, busy, noanswer, failed).",
		}, []string{"result"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "sip", Name: "requests_total",
			Help: "SIP requests received, by method.",
		}, []string{"method"}),
		active: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "sip", Name: "active_dialogs",
			Help: "Dialogs in progress (ringing or answered), by direction.",
		}, []string{"direction"}),
		registrations: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "sip", Name: "registrations_total",
			Help: "REGISTER requests by outcome.",
		}, []string{"outcome"}),
	}
	for _, o := range inboundOutcomes {
		m.inbound.WithLabelValues(o)
	}
	for _, r := range []string{events.ResultAnswered, events.ResultBusy, events.ResultNoAnswer, events.ResultFailed} {
		m.outbound.WithLabelValues(strings.ToLower(r))
	}
	for _, meth := range knownMethods {
		m.requests.WithLabelValues(meth)
	}
	m.active.WithLabelValues("inbound")
	m.active.WithLabelValues("outbound")
	for _, o := range registrationOutcomes {
		m.registrations.WithLabelValues(o)
	}
	return m
}

func (m *Metrics) request(method string) {
	for _, k := range knownMethods {
		if k == method {
			m.requests.WithLabelValues(method).Inc()
			return
		}
	}
	m.requests.WithLabelValues("other").Inc()
}

func (m *Metrics) dialResult(result string) {
	m.outbound.WithLabelValues(strings.ToLower(result)).Inc()
}
