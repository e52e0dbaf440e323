package conference

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callcore/callcore/internal/call"
)

// metrics of the conference service. Labels are bounded: no room or call
// ids.
type metrics struct {
	rooms        prometheus.Gauge     // rooms hosted here
	participants prometheus.Gauge     // participants whose calls run here
	roomSize     prometheus.Histogram // participants in the room after each join
	joins        *prometheus.CounterVec
	legs         *prometheus.CounterVec // direction in|out, outcome ok|failed|refused
	rehosts      prometheus.Counter
	commands     *prometheus.CounterVec // command, outcome
}

// newMetrics registers:
//   - callcore_conference_rooms: rooms whose mixer runs on this node;
//   - callcore_conference_participants: participants whose calls run here;
//   - callcore_conference_room_participants: participants in the room
//     after each join (histogram);
//   - callcore_conference_joins_total{outcome}: joined, failed;
//   - callcore_conference_internal_legs_total{direction,outcome}: legs
//     between nodes (in: answered here as host; out: placed to a host) —
//     ok, failed, refused (bad token, not the host);
//   - callcore_conference_reconnects_total: participants that reached the
//     room again after its host changed or their leg broke;
//   - callcore_conference_commands_total{command,outcome}: mute, unmute,
//     onhold, resume, kick, kick_all — ok, not_found, invalid, error.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	const ns, sub = "callcore", "conference"
	m := &metrics{
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "rooms",
			Help: "Conference rooms whose mixer runs on this node."}),
		participants: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "participants",
			Help: "Conference participants whose calls run on this node."}),
		roomSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "room_participants",
			Help:    "Participants in the room after each join.",
			Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 100, 200, 500}}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "joins_total",
			Help: "Joins of calls of this node by outcome (joined, failed)."}, []string{"outcome"}),
		legs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "internal_legs_total",
			Help: "Internal SIP legs between nodes by direction (in, out) and outcome (ok, failed, refused)."}, []string{"direction", "outcome"}),
		rehosts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reconnects_total",
			Help: "Participants that reached their room again after its host changed or their internal leg broke."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "commands_total",
			Help: "Conference commands by command and outcome (ok, not_found, invalid, error)."}, []string{"command", "outcome"}),
	}
	reg.MustRegister(m.rooms, m.participants, m.roomSize, m.joins, m.legs, m.rehosts, m.commands)
	return m
}

func (m *metrics) command(cmd string, err error) {
	switch cmd {
	case CmdMute, CmdUnmute, CmdOnHold, CmdResume, "kick", "kick_all":
	default:
		cmd = "other"
	}
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, call.ErrParticipantNotFound), errors.Is(err, call.ErrConferenceNotFound):
		outcome = "not_found"
	case errors.Is(err, call.ErrInvalidCommand):
		outcome = "invalid"
	default:
		outcome = "error"
	}
	m.commands.WithLabelValues(cmd, outcome).Inc()
}
