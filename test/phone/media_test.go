package phone

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rtpPacket(t testing.TB, pt uint8, ssrc uint32, seq uint16, ts uint32, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{
		Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc,
	}, Payload: payload}).Marshal()
	require.NoError(t, err)
	return b
}

func ulawFrame(level int16) []byte {
	out := make([]byte, frameSamples)
	pcm := make([]int16, frameSamples)
	for i := range pcm {
		if i%2 == 0 {
			pcm[i] = level
		} else {
			pcm[i] = -level
		}
	}
	encodeFrame(PCMU, out, pcm)
	return out
}

func newTestReceiver() *receiver {
	return &receiver{codec: PCMU, pt: 0, dtmfPT: 101}
}

func TestReceiverInsertsSilenceForTimestampGaps(t *testing.T) {
	r := newTestReceiver()
	now := time.Unix(0, 0)
	loud := ulawFrame(8000)
	r.handle(rtpPacket(t, 0, 1, 10, 1000, loud), now)
	// Sequence 11 is lost; 12 arrives with the timestamp two frames on.
	r.handle(rtpPacket(t, 0, 1, 12, 1000+2*frameSamples, loud), now)
	require.Len(t, r.rec, 3*frameSamples)
	assert.InDelta(t, 8000, RMS(r.rec[:frameSamples]), 200)
	assert.Zero(t, RMS(r.rec[frameSamples:2*frameSamples]), "gap is silence")
	assert.InDelta(t, 8000, RMS(r.rec[2*frameSamples:]), 200)
	assert.Equal(t, 1, r.stats.Lost)

	// The late packet fills the gap.
	r.handle(rtpPacket(t, 0, 1, 11, 1000+frameSamples, loud), now)
	require.Len(t, r.rec, 3*frameSamples)
	r.handle(rtpPacket(t, 0, 1, 13, 1000+3*frameSamples, loud), now)
	assert.Equal(t, 1, r.stats.Lost, "a late packet does not make the next one look like a loss")
	assert.InDelta(t, 8000, RMS(r.rec[frameSamples:2*frameSamples]), 200)
	assert.Equal(t, 80*time.Millisecond, r.audioDuration(1000))
	assert.Equal(t, 4, r.stats.Audio)
}

func TestReceiverNewSSRCUsesWallClock(t *testing.T) {
	r := newTestReceiver()
	t0 := time.Unix(0, 0)
	r.handle(rtpPacket(t, 0, 1, 1, 5000, ulawFrame(4000)), t0)
	// A new source with an unrelated timestamp, 120 ms later: the previous
	// packet covered 20 ms, so 100 ms of silence go in between.
	r.handle(rtpPacket(t, 0, 2, 900, 123456789, ulawFrame(4000)), t0.Add(120*time.Millisecond))
	require.Len(t, r.rec, frameSamples+800+frameSamples)
	assert.Zero(t, RMS(r.rec[frameSamples:frameSamples+800]))
	assert.Equal(t, 2, r.stats.SSRCs)
}

func TestReceiverReanchorsTimestampJumps(t *testing.T) {
	r := newTestReceiver()
	t0 := time.Unix(0, 0)
	r.handle(rtpPacket(t, 0, 1, 1, 0, ulawFrame(4000)), t0)
	// Same SSRC, timestamp an hour ahead, 20 ms later: no hour of silence.
	r.handle(rtpPacket(t, 0, 1, 2, 3600*sampleRate, ulawFrame(4000)), t0.Add(20*time.Millisecond))
	assert.Len(t, r.rec, 2*frameSamples)
	// Backwards by a minute: appended too, not written over the past.
	r.handle(rtpPacket(t, 0, 1, 3, 0, ulawFrame(4000)), t0.Add(40*time.Millisecond))
	assert.Len(t, r.rec, 3*frameSamples)
}

func TestReceiverDTMFAndUnexpected(t *testing.T) {
	r := newTestReceiver()
	now := time.Unix(0, 0)
	for i, d := range []byte("1#") {
		ev, _ := digitEvent(d)
		ts := uint32(8000 * (i + 1))
		for k := range 7 {
			var p [4]byte
			telephoneEvent{event: ev, end: k >= 4, volume: 10, duration: uint16(160 * min(k+1, 5))}.marshal(p[:])
			r.handle(rtpPacket(t, 101, 1, uint16(10*i+k), ts, p[:]), now)
		}
	}
	assert.Equal(t, "1#", string(r.digits))
	assert.Equal(t, 14, r.stats.Events)

	assert.True(t, r.handle(rtpPacket(t, 8, 1, 99, 0, ulawFrame(100)), now), "first unexpected payload type is reported")
	assert.False(t, r.handle(rtpPacket(t, 8, 1, 100, 160, ulawFrame(100)), now), "later ones are only counted")
	assert.Equal(t, 2, r.stats.Unexpected)
	assert.Empty(t, r.rec, "a codec that was not negotiated is not decoded")

	r.handle([]byte{0x00, 0x01}, now)
	r.handle(make([]byte, 12), now) // version 0
	assert.Equal(t, 2, r.stats.Invalid)
}

func TestSenderDTMFPacketPattern(t *testing.T) {
	s := &sender{codec: PCMU, pt: 0, dtmfPT: 101, ssrc: 7, seq: 65534, ts: 1000}
	j := &sendJob{digit: '#', done: make(chan struct{})}
	s.queue = append(s.queue, j)
	var pkts []rtp.Packet
	for range dtmfToneTicks + dtmfEndPackets + dtmfGapTicks + 1 {
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(append([]byte(nil), s.tick()...)))
		pkts = append(pkts, p)
	}
	<-j.done
	require.NoError(t, j.err)
	for i, p := range pkts {
		assert.Equal(t, uint16(65534+i), p.SequenceNumber, "sequence wraps")
		assert.Equal(t, uint32(7), p.SSRC)
		if i >= dtmfToneTicks+dtmfEndPackets-1 {
			assert.Equal(t, uint8(0), p.PayloadType, "packet %d is audio", i)
			assert.Equal(t, uint32(1000+160*(i)), p.Timestamp)
			continue
		}
		require.Equal(t, uint8(101), p.PayloadType, "packet %d", i)
		assert.Equal(t, uint32(1000), p.Timestamp, "an event keeps its start timestamp")
		assert.Equal(t, i == 0, p.Marker)
		ev, err := parseTelephoneEvent(p.Payload)
		require.NoError(t, err)
		assert.Equal(t, uint8(11), ev.event)
		assert.Equal(t, i >= dtmfToneTicks-1, ev.end, "packet %d end bit", i)
		assert.Equal(t, uint16(160*min(i+1, dtmfToneTicks)), ev.duration)
	}
}

func TestSenderAudioAndCancel(t *testing.T) {
	s := &sender{codec: PCMA, pt: 8, dtmfPT: -1}
	pcm := Tone(1000, 50*time.Millisecond, 8000) // 2.5 frames
	j := &sendJob{pcm: pcm, done: make(chan struct{})}
	s.queue = []*sendJob{j}
	var got []int16
	for i := range 3 {
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(append([]byte(nil), s.tick()...)))
		assert.Equal(t, i == 0, p.Marker)
		frame := make([]int16, len(p.Payload))
		decodeFrame(PCMA, frame, p.Payload)
		got = append(got, frame...)
	}
	<-j.done
	assert.Equal(t, 1000.0, DominantFrequency(got[:400], []float64{500, 1000, 1500}))
	assert.LessOrEqual(t, RMS(got[400:]), 8.0, "the last frame is padded with silence (A-law has no zero: ±8)")

	dtmf := &sendJob{digit: '1', done: make(chan struct{})}
	s.queue = []*sendJob{dtmf}
	s.tick()
	<-dtmf.done
	require.ErrorContains(t, dtmf.err, "telephone-event")

	c := &sendJob{pcm: pcm, done: make(chan struct{}), cancel: true}
	s.queue = []*sendJob{c}
	s.tick()
	<-c.done
	require.ErrorIs(t, c.err, context.Canceled)
}

func FuzzReceiver(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xA0, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF}, int64(20))
	f.Add([]byte{0x80, 0x65, 0x00, 0x02, 0x00, 0x00, 0x01, 0x40, 0x00, 0x00, 0x00, 0x01, 0x0B, 0x8A, 0x03, 0x20}, int64(0))
	f.Add([]byte{0x90, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02, 0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00, 0xD5}, int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, stepMillis int64) {
		r := newTestReceiver()
		r.limit = 4 * maxGapSamples // keeps each input cheap; the logic is the same
		now := time.Unix(0, 0)
		// Feed the input as a stream of datagrams split at every 0xFF 0x00,
		// so one input exercises sequences of packets.
		for _, pkt := range splitFuzz(data) {
			r.handle(pkt, now)
			now = now.Add(time.Duration(stepMillis) * time.Millisecond)
		}
		if len(r.rec) > r.limit {
			t.Fatalf("recording grew to %d samples", len(r.rec))
		}
		if len(r.levels) > r.stats.Audio {
			t.Fatalf("%d levels for %d audio packets", len(r.levels), r.stats.Audio)
		}
		for _, d := range r.digits {
			if _, err := digitEvent(d); err != nil {
				t.Fatalf("digit %q", d)
			}
		}
	})
}

func splitFuzz(data []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+1 < len(data); i++ {
		if data[i] == 0xFF && data[i+1] == 0x00 {
			out = append(out, data[start:i])
			start = i + 2
		}
	}
	return append(out, data[start:])
}

func BenchmarkReceiverHandle(b *testing.B) {
	r := newTestReceiver()
	payload := ulawFrame(4000)
	pkt := rtpPacket(b, 0, 1, 0, 0, payload)
	now := time.Unix(0, 0)
	var seq uint16
	var ts uint32
	b.ReportAllocs()
	for b.Loop() {
		seq++
		ts += frameSamples
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		r.handle(pkt, now)
		if len(r.rec) > maxRecording-frameSamples {
			r.rec, r.levels, r.have = r.rec[:0], r.levels[:0], false
		}
	}
}

func BenchmarkSenderTick(b *testing.B) {
	s := &sender{codec: PCMU, pt: 0, dtmfPT: 101}
	pcm := Tone(1000, time.Second, 8000)
	b.ReportAllocs()
	for b.Loop() {
		if s.cur == nil && len(s.queue) == 0 {
			s.queue = append(s.queue, &sendJob{pcm: pcm, done: make(chan struct{})})
		}
		if s.tick() == nil {
			b.Fatal("no packet")
		}
	}
}
