package media

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the media engine's Prometheus metrics (namespace callcore,
// subsystem media). Labels are bounded: result is hit or miss, reason one of
// fetchReasons.
type Metrics struct {
	packetsSent     prometheus.Counter
	packetsReceived prometheus.Counter
	sessionsActive  prometheus.Gauge
	portFailures    prometheus.Counter
	ttsCache        *prometheus.CounterVec
	ttsSeconds      prometheus.Histogram
	fetchErrors     *prometheus.CounterVec
	// fetchRevalidations counts revalidations of stale downloads by
	// result, one of revalResults.
	fetchRevalidations *prometheus.CounterVec

	// Per-session quality, observed when a session closes, and RTCP, DTMF
	// and pacing (H1: session.go, rtcp.go, dtmf.go).
	sessionLoss   prometheus.Histogram
	sessionJitter prometheus.Histogram
	sessionRTT    prometheus.Histogram
	rtcpSent      prometheus.Counter
	rtcpReceived  prometheus.Counter
	dtmfDigits    [3]prometheus.Counter // by dtmfSources
	sendLateness  prometheus.Histogram

	// Conference mixers (mixer.go), over all the engine's mixers; no
	// per-room labels.
	mixerTick    prometheus.Histogram
	mixerLate    prometheus.Counter
	mixers       prometheus.Gauge
	mixerMembers prometheus.Gauge
	talkers      prometheus.Gauge
}

// mixerTickBuckets are the buckets of conference_mixer_tick_seconds: fine
// from 10 µs to the 20 ms budget of a tick, and a few beyond it.
var mixerTickBuckets = []float64{
	.00001, .00002, .00005, .0001, .0002, .0003, .0005, .00075,
	.001, .0015, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1,
}

// dtmfSources are the values of the source label of dtmf_digits_total.
var dtmfSources = [3]string{"rfc4733", "inband", "signaling"}

// dtmfDigit counts one received digit by source (one of dtmfSources).
func (m *Metrics) dtmfDigit(source string) {
	for i, s := range dtmfSources {
		if s == source {
			m.dtmfDigits[i].Inc()
		}
	}
}

// fetchReasons are the values of the reason label of fetch_errors_total.
// not_wav is a body that is neither WAV nor MP3.
var fetchReasons = []string{"invalid_url", "status", "timeout", "network", "too_large", "not_wav", "unsupported", "bad_wav", "bad_mp3"}

// NewMetrics registers the media metrics on reg. A nil reg leaves them
// unregistered (useful in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		packetsSent: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "rtp_packets_sent_total",
			Help: "RTP packets sent (played audio, DTMF events and bridged packets).",
		}),
		packetsReceived: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "rtp_packets_received_total",
			Help: "RTP packets received and accepted.",
		}),
		sessionsActive: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "callcore", Subsystem: "media", Name: "sessions_active",
			Help: "Open RTP sessions.",
		}),
		portFailures: f.NewCounter(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "port_allocation_failures_total",
			Help: "RTP sessions refused because no port of the range was free.",
		}),
		ttsCache: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "tts_cache_requests_total",
			Help: "Text-to-speech requests by cache result: hit (served from the cache) or miss (synthesized, or waited for a synthesis in flight).",
		}, []string{"result"}),
		ttsSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "callcore", Subsystem: "media", Name: "tts_synthesis_seconds",
			Help:    "Time to synthesize and resample one uncached TTS prompt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		fetchErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "callcore", Subsystem: "media", Name: "fetch_errors_total",
			Help: "Failed audio file downloads by reason.",
		}, []string{"reason"}),
	}
	m.fetchRevalidations = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "callcore", Subsystem: "media", Name: "fetch_revalidations_total",
		Help: "Revalidations of stale downloaded prompts by result: not_modified (304, cached audio kept), modified (200, replaced), stale (failed, the stale copy was played), failed (an error was returned).",
	}, []string{"result"})
	for _, r := range revalResults {
		m.fetchRevalidations.WithLabelValues(r)
	}
	m.ttsCache.WithLabelValues("hit")
	m.ttsCache.WithLabelValues("miss")
	for _, r := range fetchReasons {
		m.fetchErrors.WithLabelValues(r)
	}
	m.sessionLoss = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "callcore", Subsystem: "media", Name: "session_packet_loss_ratio",
		Help:    "Share of the peer's RTP packets lost over a whole session, observed when it closes (sessions that received nothing are not observed).",
		Buckets: []float64{0, .001, .0025, .005, .01, .02, .03, .05, .1, .2, .5, 1},
	})
	m.sessionJitter = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "callcore", Subsystem: "media", Name: "session_jitter_seconds",
		Help:    "Interarrival jitter of the peer's audio (RFC 3550) at the end of a session.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .03, .05, .1, .2, .5},
	})
	m.sessionRTT = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "callcore", Subsystem: "media", Name: "session_rtt_seconds",
		Help:    "Last RTCP round-trip time of a session, observed when it closes (sessions without one are not observed).",
		Buckets: []float64{.001, .005, .01, .02, .05, .1, .15, .2, .3, .5, 1, 2},
	})
	m.rtcpSent = f.NewCounter(prometheus.CounterOpts{
		Namespace: "callcore", Subsystem: "media", Name: "rtcp_packets_sent_total",
		Help: "RTCP compound packets sent (reports and BYEs).",
	})
	m.rtcpReceived = f.NewCounter(prometheus.CounterOpts{
		Namespace: "callcore", Subsystem: "media", Name: "rtcp_packets_received_total",
		Help: "RTCP compound packets received and parsed, on the RTCP port or multiplexed on the RTP port.",
	})
	digits := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "callcore", Subsystem: "media", Name: "dtmf_digits_total",
		Help: "DTMF digits received by source: rfc4733 (telephone-event), inband (tones in the audio) or signaling (SIP INFO).",
	}, []string{"source"})
	for i, src := range dtmfSources {
		m.dtmfDigits[i] = digits.WithLabelValues(src)
	}
	m.sendLateness = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "callcore", Subsystem: "media", Name: "send_lateness_seconds",
		Help:    "How late each paced audio packet (Play, in-band DTMF, jitter-buffered bridge) left after its 20 ms slot.",
		Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05},
	})
	m.mixerTick = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "callcore", Subsystem: "conference", Name: "mixer_tick_seconds",
		Help:    "Work time of one 20 ms conference mixer tick (pop, mix, send to every member, taps).",
		Buckets: mixerTickBuckets,
	})
	m.mixerLate = f.NewCounter(prometheus.CounterOpts{
		Namespace: "callcore", Subsystem: "conference", Name: "mixer_late_ticks_total",
		Help: "Conference mixer ticks that started more than 20 ms after their slot, ended after the next slot, or were skipped by a resynchronisation.",
	})
	m.mixers = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "callcore", Subsystem: "conference", Name: "mixers",
		Help: "Conference mixers created and not yet closed.",
	})
	m.mixerMembers = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "callcore", Subsystem: "conference", Name: "mixer_members",
		Help: "Sessions in a conference mixer, over all mixers.",
	})
	m.talkers = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "callcore", Subsystem: "conference", Name: "talkers",
		Help: "Conference members currently talking (heard by the room, received audio above -45 dBFS), over all mixers.",
	})
	return m
}
