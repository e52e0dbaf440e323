package load

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/callcore/callcore/media"
)

// The media load scenario of `make bench`: N RTP sessions on one engine,
// each playing a cached prompt in a loop to a real UDP receiver, with a tap
// and in-band DTMF detection on, while the receivers send RTP back every
// 20 ms (so the receive path, the jitter buffers and the tap clocks are
// loaded too). It reports, per N, the lateness of the packets at the
// receivers against their ideal 20 ms schedule, the engine's own send
// lateness histogram and the CPU time per call and minute. It asserts no
// timing: the figures go to BENCHMARKS.md.

const (
	mediaWarmup         = 2 * time.Second
	mediaMeasure        = 8 * time.Second
	sessionsPerReceiver = 50
)

// mediaStream is what one receiver saw of one session's RTP stream.
type mediaStream struct {
	started bool
	ts0     uint32
	ext     int64   // extended timestamp of the last packet
	lastTS  uint32  //
	delays  []int64 // arrival minus media time, µs
}

// mediaReceiver is a UDP socket that receives the RTP of up to
// sessionsPerReceiver sessions and sends RTP to them every 20 ms.
type mediaReceiver struct {
	conn    *net.UDPConn
	epoch   time.Time
	measure atomic.Bool
	mu      sync.Mutex
	streams map[uint32]*mediaStream
	targets []netip.AddrPort
	packets atomic.Uint64
}

func newMediaReceiver(tb testing.TB, epoch time.Time) *mediaReceiver {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return &mediaReceiver{conn: c, epoch: epoch, streams: make(map[uint32]*mediaStream)}
}

func (r *mediaReceiver) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// read records the arrival of every RTP packet until the socket closes.
func (r *mediaReceiver) read() {
	buf := make([]byte, 2048)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 || buf[1]&0x7F >= 72 && buf[1]&0x7F <= 76 {
			continue // RTCP
		}
		at := time.Since(r.epoch)
		r.packets.Add(1)
		ts := binary.BigEndian.Uint32(buf[4:8])
		ssrc := binary.BigEndian.Uint32(buf[8:12])
		r.mu.Lock()
		st := r.streams[ssrc]
		if st == nil {
			st = &mediaStream{}
			r.streams[ssrc] = st
		}
		if !st.started {
			st.started, st.ts0, st.lastTS = true, ts, ts
		}
		st.ext += int64(int32(ts - st.lastTS))
		st.lastTS = ts
		if r.measure.Load() {
			mediaTime := st.ext * int64(time.Second) / media.SampleRate
			st.delays = append(st.delays, (int64(at)-mediaTime)/1000)
		}
		r.mu.Unlock()
	}
}

// send sends one 20 ms µ-law packet to every target every 20 ms until ctx
// ends, cycling through payload.
func (r *mediaReceiver) send(ctx context.Context, payload []byte) {
	hdr := make([]byte, 12+media.FrameSamples)
	seqs := make([]uint16, len(r.targets))
	next := time.Now()
	for k := 0; ; k++ {
		next = next.Add(media.FrameDuration)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		off := (k % (len(payload) / media.FrameSamples)) * media.FrameSamples
		copy(hdr[12:], payload[off:off+media.FrameSamples])
		for i, to := range r.targets {
			seqs[i]++
			hdr[0], hdr[1] = 0x80, 0
			binary.BigEndian.PutUint16(hdr[2:], seqs[i])
			binary.BigEndian.PutUint32(hdr[4:], uint32(k*media.FrameSamples))
			binary.BigEndian.PutUint32(hdr[8:], uint32(0x10000+i))
			_, _ = r.conn.WriteToUDPAddrPort(hdr, to)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mediaResult is one row of the report.
type mediaResult struct {
	sessions               int
	recvP50, recvP99, recv float64 // receiver-side lateness, ms
	sendP50, sendP99       float64 // engine send lateness histogram, ms
	cpuPerCallMin          float64 // CPU seconds per call per minute
	packetsPerSec          float64 // RTP packets received by the receivers
	tapFramesPerSec        float64 // tap calls per session and second
	digits                 int64   // false in-band digits
}

func runMediaLoad(b *testing.B, n int, dir string, peerAudio []byte) mediaResult {
	reg := prometheus.NewRegistry()
	o := media.DefaultOptions()
	o.PortMin, o.PortMax = 20000, 20000+4*n+200
	o.BindIP = netip.MustParseAddr("127.0.0.1")
	o.FilesDir = dir
	o.Registerer = reg
	o.RTPTimeout = 0
	e, err := media.NewEngine(o)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	epoch := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var receivers []*mediaReceiver
	var taps, digits atomic.Int64
	var sessions []*media.Session
	for i := range n {
		if i%sessionsPerReceiver == 0 {
			r := newMediaReceiver(b, epoch)
			receivers = append(receivers, r)
			wg.Add(1)
			go func() { defer wg.Done(); r.read() }()
		}
		r := receivers[len(receivers)-1]
		offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", r.addr().Port())
		s, _, err := e.Answer(ctx, []byte(offer))
		if err != nil {
			b.Fatal(err)
		}
		sessions = append(sessions, s)
		r.targets = append(r.targets, s.LocalAddr())
		var frame [2 * media.FrameSamples]int16 // what a recorder would copy
		s.Tap(func(rx, tx []int16) {
			copy(frame[:], rx)
			copy(frame[media.FrameSamples:], tx)
			taps.Add(1)
		})
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				src, err := e.File(ctx, "prompt.wav")
				if err != nil {
					b.Error(err)
					return
				}
				_ = s.Play(ctx, src)
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-s.Digits():
					digits.Add(1)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for _, r := range receivers {
		wg.Add(1)
		go func() { defer wg.Done(); r.send(ctx, peerAudio) }()
	}

	time.Sleep(mediaWarmup)
	sendBefore := histogramSnapshot(reg, "callcore_media_send_lateness_seconds")
	for _, r := range receivers {
		r.measure.Store(true)
	}
	cpu0, taps0, pk0, start := cpuTime(), taps.Load(), receivedPackets(receivers), time.Now()
	time.Sleep(mediaMeasure)
	cpu1, taps1, pk1, elapsed := cpuTime(), taps.Load(), receivedPackets(receivers), time.Since(start)
	for _, r := range receivers {
		r.measure.Store(false)
	}
	sendAfter := histogramSnapshot(reg, "callcore_media_send_lateness_seconds")
	cancel()
	for _, s := range sessions {
		_ = s.Close()
	}
	for _, r := range receivers {
		_ = r.conn.Close()
	}
	wg.Wait()

	var late []int64
	for _, r := range receivers {
		for _, st := range r.streams {
			if len(st.delays) == 0 {
				continue
			}
			base := slices.Min(st.delays)
			for _, d := range st.delays {
				late = append(late, d-base)
			}
		}
	}
	slices.Sort(late)
	pct := func(q float64) float64 {
		if len(late) == 0 {
			return math.NaN()
		}
		return float64(late[min(len(late)-1, int(q*float64(len(late))))]) / 1000
	}
	diff := diffHistogram(sendAfter, sendBefore)
	return mediaResult{
		sessions: n,
		recvP50:  pct(.5), recvP99: pct(.99), recv: pct(1),
		sendP50: histQuantile(diff, .5) * 1000, sendP99: histQuantile(diff, .99) * 1000,
		cpuPerCallMin:   (cpu1 - cpu0).Seconds() / float64(n) / elapsed.Minutes(),
		packetsPerSec:   float64(pk1-pk0) / elapsed.Seconds(),
		tapFramesPerSec: float64(taps1-taps0) / float64(n) / elapsed.Seconds(),
		digits:          digits.Load(),
	}
}

func receivedPackets(rs []*mediaReceiver) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.packets.Load()
	}
	return n
}

// BenchmarkMediaSessions runs the media load scenario for 250, 500 and
// 1000 concurrent sessions (about 45 s in all).
func BenchmarkMediaSessions(b *testing.B) {
	if testing.Short() {
		b.Skip("media load scenario skipped under -short")
	}
	dir := b.TempDir()
	// A 3 s prompt (a two-tone chime with a pause), served from the cache.
	prompt := make([]int16, 3*media.SampleRate)
	for i := range prompt[:5*len(prompt)/6] {
		t := float64(i) / media.SampleRate
		prompt[i] = int16(6000*math.Sin(2*math.Pi*523*t) + 3000*math.Sin(2*math.Pi*784*t))
	}
	if err := os.WriteFile(filepath.Join(dir, "prompt.wav"), media.EncodeWAV(prompt, media.SampleRate), 0o644); err != nil {
		b.Fatal(err)
	}
	// The phones' side: 1 s of non-DTMF audio (loud, so that the in-band
	// detector runs its filters), µ-law encoded.
	peer := make([]int16, media.SampleRate)
	for i := range peer {
		t := float64(i) / media.SampleRate
		peer[i] = int16(5000*math.Sin(2*math.Pi*330*t) + 2500*math.Sin(2*math.Pi*1100*t) + 1500*math.Sin(2*math.Pi*2300*t))
	}
	peerAudio := make([]byte, len(peer))
	media.EncodeULaw(peerAudio, peer)

	for b.Loop() {
		var rows []mediaResult
		for _, n := range []int{250, 500, 1000} {
			rows = append(rows, runMediaLoad(b, n, dir, peerAudio))
		}
		b.Logf("media load: %d s measured per row after %d s of warm-up; lateness at the receivers against each stream's ideal 20 ms schedule, and the engine's send lateness histogram; CPU includes the simulated phones (same process)", int(mediaMeasure.Seconds()), int(mediaWarmup.Seconds()))
		b.Logf("%8s %10s %10s %10s %10s %10s %14s %12s %12s %8s", "sessions", "recv p50", "recv p99", "recv max", "send p50", "send p99", "CPU s/call/min", "RTP pkt/s", "tap fr/s/call", "digits")
		for _, r := range rows {
			b.Logf("%8d %8.2fms %8.2fms %8.2fms %8.2fms %8.2fms %14.3f %12.0f %12.1f %8d",
				r.sessions, r.recvP50, r.recvP99, r.recv, r.sendP50, r.sendP99, r.cpuPerCallMin, r.packetsPerSec, r.tapFramesPerSec, r.digits)
		}
		last := rows[len(rows)-1]
		b.ReportMetric(last.recvP99, "recv-p99-ms@1000")
		b.ReportMetric(last.cpuPerCallMin, "cpu-s/call/min@1000")
	}
}

// histogramSnapshot returns the cumulative bucket counts of the histogram
// name of reg.
func histogramSnapshot(reg *prometheus.Registry, name string) *dto.Histogram {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}

// diffHistogram returns after minus before (same buckets).
func diffHistogram(after, before *dto.Histogram) *dto.Histogram {
	count := after.GetSampleCount() - before.GetSampleCount()
	out := &dto.Histogram{SampleCount: &count}
	for i, bk := range after.GetBucket() {
		c, ub := bk.GetCumulativeCount(), bk.GetUpperBound()
		if i < len(before.GetBucket()) {
			c -= before.GetBucket()[i].GetCumulativeCount()
		}
		out.Bucket = append(out.Bucket, &dto.Bucket{CumulativeCount: &c, UpperBound: &ub})
	}
	return out
}
