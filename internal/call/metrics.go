package call

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/callcore/callcore/events"
)

// Metrics of the call core. Labels are bounded enums: direction, event
// kind, Sinch result and reason, callout method, outcome.
type Metrics struct {
	active          *prometheus.GaugeVec
	ended           *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	callouts        *prometheus.CounterVec
	callbacks       *prometheus.CounterVec
	callbackLatency *prometheus.HistogramVec
	svamlErrors     *prometheus.CounterVec
	dials           *prometheus.CounterVec
	postDial        prometheus.Histogram
	iceDelay        prometheus.Histogram
	firstAudio      prometheus.Histogram
	storeErrors     prometheus.Counter
	recordings      *prometheus.CounterVec
	amd             *prometheus.CounterVec
	streams         *prometheus.CounterVec
	conferences     *prometheus.CounterVec
	forwarded       prometheus.Counter
	takenOver       prometheus.Counter
	fenced          prometheus.Counter
	unsaved         prometheus.Gauge
}

// NewMetrics registers the call metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		active: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "callcore", Subsystem: "calls", Name: "active",
			Help: "Calls running on this node by direction."}, []string{"direction"}),
		ended: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "ended_total",
			Help: "Ended calls by DiCE result and reason."}, []string{"result", "reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "rejected_total",
			Help: "Inbound calls rejected before an ICE, by reason."}, []string{"reason"}),
		callouts: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "callouts_total",
			Help: "Callouts started, by method."}, []string{"method"}),
		callbacks: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "callbacks_total",
			Help: "Callback events by kind and outcome (ok, failed, invalid_svaml)."}, []string{"event", "outcome"}),
		callbackLatency: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: "callcore", Subsystem: "calls", Name: "callback_duration_seconds",
			Help:    "Time from sending an event to having its reply, by event kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"event"}),
		svamlErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "svaml_errors_total",
			Help: "SVAML documents refused, by where they came from (ice, ace, patch, unsupported_action)."}, []string{"source"}),
		dials: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "dials_total",
			Help: "Outbound legs by result."}, []string{"result"}),
		postDial: f.NewHistogram(prometheus.HistogramOpts{Namespace: "callcore", Subsystem: "calls", Name: "post_dial_delay_seconds",
			Help:    "Time from placing an outbound leg to its answer or failure.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60}}),
		iceDelay: f.NewHistogram(prometheus.HistogramOpts{Namespace: "callcore", Subsystem: "calls", Name: "ice_delay_seconds",
			Help:    "The node's own share of INVITE to ICE: from the INVITE reaching the call core to the ICE going to the callback client.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .00075, .001, .0015, .002, .003, .005, .01, .025, .05, .1}}),
		firstAudio: f.NewHistogram(prometheus.HistogramOpts{Namespace: "callcore", Subsystem: "calls", Name: "first_audio_seconds",
			Help:    "From a SVAML reply arriving to its first prompt's first RTP packet (answer and early media included).",
			Buckets: []float64{.00025, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}),
		storeErrors: f.NewCounter(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "store_errors_total",
			Help: "Failed writes of call records."}),
		recordings: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "recordings_total",
			Help: "Call recordings by outcome (stored, failed)."}, []string{"outcome"}),
		amd: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "amd_results_total",
			Help: "Answering-machine detection results by status (human, machine, notsure, hangup)."}, []string{"status"}),
		streams: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "streams_total",
			Help: "connectStream connections by outcome (connected, failed)."}, []string{"outcome"}),
		conferences: f.NewCounterVec(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "conference_joins_total",
			Help: "connectConf and conferenceCallout joins by outcome (joined, failed)."}, []string{"outcome"}),
		forwarded: f.NewCounter(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "commands_forwarded_total",
			Help: "REST commands for calls of other nodes, forwarded to them."}),
		takenOver: f.NewCounter(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "taken_over_total",
			Help: "Calls of dead nodes (or of an earlier incarnation of this one) ended by this node."}),
		fenced: f.NewCounter(prometheus.CounterOpts{Namespace: "callcore", Subsystem: "calls", Name: "fenced_total",
			Help: "Calls this node stopped because another node had taken them over while it was cut off from the store."}),
		unsaved: f.NewGauge(prometheus.GaugeOpts{Namespace: "callcore", Subsystem: "calls", Name: "unsaved_records",
			Help: "Ended calls whose final record waits for the store to come back."}),
	}
	for _, o := range []string{"stored", "failed"} {
		m.recordings.WithLabelValues(o)
	}
	for _, s := range []string{"human", "machine", "notsure", "hangup"} {
		m.amd.WithLabelValues(s)
	}
	for _, o := range []string{"connected", "failed"} {
		m.streams.WithLabelValues(o)
	}
	for _, o := range []string{"joined", "failed"} {
		m.conferences.WithLabelValues(o)
	}
	for _, d := range []Direction{DirectionInbound, DirectionCallout} {
		m.active.WithLabelValues(string(d))
	}
	for _, k := range []string{"ice", "ace", "dice"} {
		for _, o := range []string{"ok", "failed", "invalid_svaml"} {
			m.callbacks.WithLabelValues(k, o)
		}
		m.callbackLatency.WithLabelValues(k)
	}
	for _, r := range []string{events.ResultAnswered, events.ResultBusy, events.ResultNoAnswer, events.ResultFailed} {
		m.dials.WithLabelValues(r)
	}
	return m
}
