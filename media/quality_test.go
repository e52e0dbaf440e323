package media

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// histogram returns the sample count and sum of a histogram of reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0, 0
}

func digitCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "callcore_media_dtmf_digits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelValue(m, "source")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestSessionQualityOnClose(t *testing.T) {
	e, reg := newTestEngine(t, func(o *Options) { o.RTCPInterval = 100 * time.Millisecond })
	var logs syncBuffer
	peer := newRawPeer(t)
	s, _, err := e.AnswerOptions(context.Background(), peer.offer(), SessionOptions{
		CallID: "call-42", Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	// 100 packets, 5 lost, paced at 20 ms.
	const ssrc = 0xBEEF
	for i := range uint16(100) {
		if i%20 != 7 {
			peer.sendRTP(t, s.LocalAddr(), ssrc, i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return s.Stats().PacketsReceived == 95 }, 2*time.Second, 5*time.Millisecond)
	// We play 10 frames: 10 paced packets, and an SR that the peer echoes.
	require.NoError(t, s.Play(ctxTimeout(t, 5*time.Second), Tone([]float64{440}, 200*time.Millisecond)))
	var sr *rtcp.SenderReport
	for sr == nil {
		first, _ := peer.nextReport(t, 2*time.Second)
		sr, _ = first.(*rtcp.SenderReport)
	}
	peer.sendRTCP(t, peer.rtcp, rtcpAddr(s), &rtcp.ReceiverReport{SSRC: ssrc, Reports: []rtcp.ReceptionReport{{
		SSRC: sr.SSRC, FractionLost: 26, Jitter: 40, LastSenderReport: uint32(sr.NTPTime >> 16), Delay: 0,
	}}})
	require.Eventually(t, func() bool { return s.Stats().RTT > 0 }, 2*time.Second, 5*time.Millisecond)
	n, _ := histogram(t, reg, "callcore_media_send_lateness_seconds")
	require.Equal(t, uint64(10), n, "one observation per paced packet")
	n, _ = histogram(t, reg, "callcore_media_session_packet_loss_ratio")
	require.Zero(t, n, "observed at close")

	require.NoError(t, s.Close())
	n, sum := histogram(t, reg, "callcore_media_session_packet_loss_ratio")
	require.Equal(t, uint64(1), n)
	require.InDelta(t, 0.05, sum, 1e-9)
	n, sum = histogram(t, reg, "callcore_media_session_jitter_seconds")
	require.Equal(t, uint64(1), n)
	require.Greater(t, sum, 0.0)
	n, sum = histogram(t, reg, "callcore_media_session_rtt_seconds")
	require.Equal(t, uint64(1), n)
	require.Greater(t, sum, 0.0)
	require.Less(t, sum, 1.0)
	require.GreaterOrEqual(t, testutil.ToFloat64(e.metrics.rtcpReceived), 1.0)
	require.GreaterOrEqual(t, testutil.ToFloat64(e.metrics.rtcpSent), 2.0)

	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"rtp session closed"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line, "closing line in %s", logs.String())
	require.Equal(t, "INFO", line["level"])
	require.Equal(t, "call-42", line["call_id"])
	require.EqualValues(t, 95, line["packets_received"])
	require.EqualValues(t, 5, line["packets_lost"])
	require.EqualValues(t, 0.05, line["loss_ratio"])
	require.Contains(t, line, "jitter_ms")
	require.Contains(t, line, "rtt_ms")
	require.InDelta(t, 26.0/256, line["remote_fraction_lost"], 1e-9)
	require.EqualValues(t, 5, line["remote_jitter_ms"])
}

func TestSessionQualityNothingReceived(t *testing.T) {
	e, reg := newTestEngine(t, nil)
	s, _, err := e.Answer(context.Background(), offerPCMUFirst)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Close())
	for _, h := range []string{"callcore_media_session_packet_loss_ratio", "callcore_media_session_jitter_seconds", "callcore_media_session_rtt_seconds"} {
		n, _ := histogram(t, reg, h)
		require.Zero(t, n, "%s: nothing to observe", h)
	}
}

// phone sends, from a raw peer, one key press as a phone that sends both
// RFC 4733 events and the tone in band: audio frames of the tone and event
// packets for each 20 ms, then silence. eventsFrom is the first frame
// whose event packet gets through (the earlier ones are lost).
type phone struct {
	t    *testing.T
	peer *rawPeer
	to   netip.AddrPort
	seq  uint16
	ts   uint32
}

func (p *phone) send(pt uint8, marker bool, ts uint32, payload []byte) {
	p.seq++
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: p.seq, Timestamp: ts, SSRC: 0x5150}, Payload: payload}
	b, err := pkt.Marshal()
	require.NoError(p.t, err)
	_, err = p.peer.rtp.WriteToUDPAddrPort(b, p.to)
	require.NoError(p.t, err)
	time.Sleep(time.Millisecond) // keep the socket buffers small
}

func (p *phone) key(d rune, events, audio bool, eventsFrom int) {
	tone := dtmfAudio(p.t, d, -8, -8, 120*time.Millisecond)
	start := p.ts
	for k := range 6 {
		if audio {
			payload := make([]byte, FrameSamples)
			EncodeULaw(payload, tone[k*FrameSamples:(k+1)*FrameSamples])
			p.send(0, false, p.ts, payload)
		}
		if events && k >= eventsFrom {
			dur := uint16((k + 1) * FrameSamples)
			p.send(101, k == eventsFrom, start, []byte{eventCode(d), 10, byte(dur >> 8), byte(dur)})
		}
		p.ts += FrameSamples
	}
	if events {
		for range 3 {
			p.send(101, false, start, []byte{eventCode(d), 0x80 | 10, 0x03, 0xC0})
		}
	}
	p.silence(5)
}

func (p *phone) silence(frames int) {
	for range frames {
		payload := make([]byte, FrameSamples)
		for i := range payload {
			payload[i] = 0xFF // µ-law silence
		}
		p.send(0, false, p.ts, payload)
		p.ts += FrameSamples
	}
}

func TestDTMFInBandAndRFC4733ReportedOnce(t *testing.T) {
	cases := []struct {
		name   string
		press  func(p *phone)
		want   string
		counts map[string]float64
	}{
		{"events and audio", func(p *phone) {
			p.key('5', true, true, 0)
			p.key('5', true, true, 0)
			p.key('#', true, true, 0)
		}, "55#", map[string]float64{"rfc4733": 3, "inband": 0}},
		{"first event packets lost", func(p *phone) {
			p.key('5', true, true, 3) // heard in band first
			p.key('7', true, true, 0) // in-band detection is off by now
			p.key('7', true, true, 2)
		}, "577", map[string]float64{"rfc4733": 2, "inband": 1}},
		{"in band only", func(p *phone) {
			for _, d := range "1234#" {
				p.key(d, false, true, 0)
			}
		}, "1234#", map[string]float64{"rfc4733": 0, "inband": 5}},
		{"events only", func(p *phone) {
			p.silence(3)
			p.key('9', true, false, 0)
			p.key('0', true, false, 1)
		}, "90", map[string]float64{"rfc4733": 2, "inband": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, reg := newTestEngine(t, nil)
			peer := newRawPeer(t)
			s, _, err := e.Answer(context.Background(), peer.offer())
			require.NoError(t, err)
			defer s.Close()
			p := &phone{t: t, peer: peer, to: s.LocalAddr(), seq: 100, ts: 5000}
			p.silence(3)
			tc.press(p)
			require.Equal(t, tc.want, collectDigits(t, s, len(tc.want), 3*time.Second))
			got := digitCounts(t, reg)
			for k, v := range tc.counts {
				require.Equal(t, v, got[k], "source %s", k)
			}
		})
	}
}

func TestDTMFDigitsCountedBySource(t *testing.T) {
	e, reg := newTestEngine(t, nil)
	s, _, err := e.Offer(context.Background())
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.InjectDigit('4'))
	require.Equal(t, "4", collectDigits(t, s, 1, time.Second))
	require.Equal(t, map[string]float64{"rfc4733": 0, "inband": 0, "signaling": 1}, digitCounts(t, reg))
}
