package media

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testPortRange returns a random 200-port range in 20000-31999, below the
// Linux ephemeral range; bind conflicts with other processes are retried
// by the engine.
func testPortRange() (int, int) {
	base := 20000 + rand.IntN(60)*200
	return base, base + 199
}

// newTestEngine returns an engine on 127.0.0.1 with a fresh registry; mod
// adjusts the options.
func newTestEngine(t testing.TB, mod func(*Options)) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := DefaultOptions()
	o.PortMin, o.PortMax = testPortRange()
	o.BindIP = loopback
	o.PortQuarantine = -1
	o.Registerer = reg
	o.RTPTimeout = 0
	if mod != nil {
		mod(&o)
	}
	e, err := NewEngine(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e, reg
}

// pair creates an offering session on a and an answering one on b, wired to
// each other.
func pair(t testing.TB, a, b *Engine) (offerer, answerer *Session) {
	t.Helper()
	ctx := context.Background()
	offerer, offer, err := a.Offer(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = offerer.Close() })
	answerer, answer, err := b.Answer(ctx, offer)
	require.NoError(t, err)
	t.Cleanup(func() { _ = answerer.Close() })
	require.NoError(t, offerer.SetRemote(answer))
	return offerer, answerer
}

// rxPacket is one packet seen by a recorder.
type rxPacket struct {
	at      time.Time
	hdr     rtp.Header
	payload []byte
}

// recorder collects the packets a session receives (through the test tap).
type recorder struct {
	mu      sync.Mutex
	packets []rxPacket
	notify  chan struct{}
}

func record(s *Session) *recorder {
	r := &recorder{notify: make(chan struct{}, 1)}
	tap := func(h *rtp.Header, payload []byte) {
		p := rxPacket{at: time.Now(), hdr: h.Clone(), payload: append([]byte(nil), payload...)}
		r.mu.Lock()
		r.packets = append(r.packets, p)
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
	s.rxTap.Store(&tap)
	return r
}

func (r *recorder) snapshot() []rxPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rxPacket(nil), r.packets...)
}

// waitFor polls cond after every received packet (and every 10 ms) until it
// holds or the timeout passes.
func (r *recorder) waitFor(t testing.TB, timeout time.Duration, cond func([]rxPacket) bool) []rxPacket {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		p := r.snapshot()
		if cond(p) {
			return p
		}
		select {
		case <-r.notify:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("condition not met within %v (%d packets received)", timeout, len(p))
			return nil
		}
	}
}

// audioByTimestamp decodes the audio packets of the first SSRC into PCM laid
// out by RTP timestamp (gaps stay silent), relative to the first packet.
func audioByTimestamp(packets []rxPacket) []int16 {
	var (
		out   []int16
		base  uint32
		first = true
		ssrc  uint32
	)
	for _, p := range packets {
		if p.hdr.PayloadType != PayloadPCMU && p.hdr.PayloadType != PayloadPCMA {
			continue
		}
		if first {
			base, ssrc, first = p.hdr.Timestamp, p.hdr.SSRC, false
		}
		if p.hdr.SSRC != ssrc {
			continue
		}
		off := int(int32(p.hdr.Timestamp - base))
		if off < 0 || off > 10*60*SampleRate {
			continue
		}
		if need := off + len(p.payload); need > len(out) {
			out = append(out, make([]int16, need-len(out))...)
		}
		if p.hdr.PayloadType == PayloadPCMA {
			DecodeALaw(out[off:], p.payload)
		} else {
			DecodeULaw(out[off:], p.payload)
		}
	}
	return out
}

// goertzel returns the power of freq in samples (rate Hz), normalised by
// length.
func goertzel(samples []int16, freq float64, rate int) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	return p / float64(len(samples)*len(samples))
}

// dominantFreq scans lo..hi Hz in step and returns the frequency with the
// highest Goertzel power.
func dominantFreq(samples []int16, lo, hi, step float64) float64 {
	best, bestP := lo, -1.0
	for f := lo; f <= hi; f += step {
		if p := goertzel(samples, f, SampleRate); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// rms returns the root mean square of samples.
func rms(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var acc float64
	for _, s := range samples {
		acc += float64(s) * float64(s)
	}
	return math.Sqrt(acc / float64(len(samples)))
}

// readAll drains a source (bounded to max samples).
func readAll(t testing.TB, src Source, max int) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 317) // odd size on purpose
	for len(out) < max {
		n, err := src.ReadSamples(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			return out
		}
	}
	return out[:max]
}

// sine returns n samples of a sine at freq Hz and rate with amplitude amp.
func sine(n int, freq float64, rate int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func writeFile(dir, name string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
