package wsstream

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEcho(t *testing.T) {
	for _, tt := range []struct {
		name string
		rate int // Options.SampleRate
		tls  bool
	}{
		{"default rate", 0, false},
		{"8 kHz", 8000, false},
		{"16 kHz", 16000, false},
		{"16 kHz over wss", 16000, true},
		{"8 kHz over wss", 8000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.tls, echoServer)
			reg := prometheus.NewRegistry()
			hdrs := []CallHeader{{Key: "customer", Value: "42"}, {Key: "lang", Value: "sv-SE"}}
			st := dialTest(t, srv, Options{
				SampleRate: tt.rate, Version: 2, Registerer: reg,
				Start: StartMessage{CallID: "call-1", ApplicationKey: "app", CLI: "+46701", To: "+46702", Custom: "c", CallHeaders: hdrs},
			})
			rate := max(tt.rate, 8000)

			start := recv(t, srv.starts, "start message")
			assert.Equal(t, startWire{
				Event: "start", Version: 2, CallID: "call-1", ApplicationKey: "app", CLI: "+46701", To: "+46702", Custom: "c",
				CallHeaders: hdrs,
				MediaFormat: MediaFormat{Encoding: "audio/l16", SampleRate: rate, Channels: 1, FrameMs: 20, ByteOrder: "little-endian"},
			}, start)

			const frames = 100 // 2 s
			tone := tone8k(t, 1000, frames*20*time.Millisecond)
			// Write in bursts smaller than the send queue (the tap writes in
			// real time; the test does not wait 20 ms per frame).
			for i := range frames {
				st.WriteFrame(tone[i*160 : (i+1)*160])
				if i%25 == 24 {
					waitFor(t, "the writer", func() bool { return st.Stats().FramesSent == uint64(i+1) })
				}
			}
			waitFor(t, "the echo", func() bool { return st.Stats().FramesReceived == frames })
			assert.Equal(t, uint64(frames), st.Stats().FramesSent)
			assert.Zero(t, st.Stats().SendDropped)

			// What the server got: 20 ms messages at the stream rate, 1 kHz,
			// and (at 16 kHz) no image of it at 7 kHz.
			got := srv.received()
			require.Len(t, got, frames*rate/50)
			mid := got[len(got)/4 : 3*len(got)/4]
			assert.Greater(t, db(power(mid, 1000, rate), power(mid, 2000, rate)), 50.0)
			if rate == 16000 {
				assert.Greater(t, db(power(mid, 1000, rate), power(mid, 7000, rate)), 55.0, "image at 7 kHz")
			}
			assert.InDelta(t, rms(tone), rms(mid), rms(tone)*0.02)

			// What the caller hears: the same 1 kHz at 8 kHz.
			heard := readSource(t, st.Source(), frames*160)
			mid = heard[len(heard)/4 : 3*len(heard)/4]
			for _, f := range []float64{500, 1500, 2000, 3000} {
				assert.Greater(t, db(power(mid, 1000, 8000), power(mid, f, 8000)), 50.0, "1 kHz over %v Hz", f)
			}
			assert.InDelta(t, rms(tone), rms(mid), rms(tone)*0.02)

			// The queue is empty now: silence, a full buffer, no error.
			buf := make([]int16, 160)
			for i := range buf {
				buf[i] = 1
			}
			n, err := st.Source().ReadSamples(buf)
			require.NoError(t, err)
			require.Equal(t, 160, n)
			require.Equal(t, make([]int16, 160), buf)

			assert.InDelta(t, 1, gaugeValue(t, reg, "callcore_wsstream_streams_active"), 0)
			assert.InDelta(t, frames, counterValue(t, reg, "callcore_wsstream_frames_total", "direction", "sent"), 0)
			assert.InDelta(t, frames, counterValue(t, reg, "callcore_wsstream_frames_total", "direction", "received"), 0)
		})
	}
}

func TestClearFlushesQueuedAudio(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		t.Run(map[int]string{8000: "8 kHz", 16000: "16 kHz"}[rate], func(t *testing.T) {
			srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, start startWire) {
				tone := encode(toneAt(1000, start.MediaFormat.SampleRate, 5*time.Second))
				step := len(tone) / 250
				for i := 0; i < len(tone); i += step {
					if c.Write(ctx, websocket.MessageBinary, tone[i:i+step]) != nil {
						return
					}
				}
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"mark","name":"before-clear"}`))
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"clear"}`))
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"mark","name":"after-clear"}`))
				s.serve(ctx, c, false)
			})
			st := dialTest(t, srv, Options{SampleRate: rate})
			// Both marks come back without anyone playing the audio: the
			// first because clear dropped what was before it, the second
			// because nothing was queued.
			assert.JSONEq(t, `{"event":"mark","name":"before-clear"}`, recv(t, srv.texts, "first mark"))
			assert.JSONEq(t, `{"event":"mark","name":"after-clear"}`, recv(t, srv.texts, "second mark"))
			assert.Equal(t, uint64(250), st.Stats().FramesReceived)
			heard := readSource(t, st.Source(), 8000)
			assert.Equal(t, make([]int16, 8000), heard, "clear left audio in the queue")
			assert.Zero(t, st.Stats().PlayDropped)
		})
	}
}

func TestMarkEchoedWhenPlayed(t *testing.T) {
	srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
		_ = c.Write(ctx, websocket.MessageBinary, encode(toneAt(500, 8000, time.Second)))
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"mark","name":"m1","extra":true}`))
		s.serve(ctx, c, false)
	})
	st := dialTest(t, srv, Options{})
	waitFor(t, "the audio and the mark", func() bool {
		n, marks := st.play.pending()
		return n == 8000 && marks == 1
	})
	readSource(t, st.Source(), 4000)
	_, marks := st.play.pending()
	require.Equal(t, 1, marks, "the mark is reached only when the audio before it was played")
	require.Empty(t, srv.texts)
	readSource(t, st.Source(), 4000)
	assert.JSONEq(t, `{"event":"mark","name":"m1"}`, recv(t, srv.texts, "mark echo"))
}

func TestSendDigit(t *testing.T) {
	srv := newServer(t, false, echoServer)
	st := dialTest(t, srv, Options{Start: StartMessage{CallID: "c9"}})
	for _, d := range "5#*A" {
		require.NoError(t, st.SendDigit(d))
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(recv(t, srv.texts, "dtmf")), &m))
		assert.Equal(t, map[string]string{"event": "dtmf", "callId": "c9", "digit": string(d)}, m)
	}
	for _, d := range "xE 9\x00" {
		if d == '9' {
			continue
		}
		require.ErrorIs(t, st.SendDigit(d), ErrInvalidDigit, "%q", d)
	}
}

func TestHangupRequested(t *testing.T) {
	srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"hangup"}`))
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"hangup"}`)) // twice is harmless
		s.serve(ctx, c, false)
	})
	st := dialTest(t, srv, Options{})
	recv(t, st.HangupRequested(), "hangup request")
	select {
	case <-st.Done():
		t.Fatal("a hangup request does not end the stream by itself")
	default:
	}
}

func TestBadServerMessagesAreIgnored(t *testing.T) {
	srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
		for _, m := range []string{`nonsense`, `{"event":"dance"}`, `{"name":"x"}`, `{"event":"mark"}`, `[]`} {
			_ = c.Write(ctx, websocket.MessageText, []byte(m))
		}
		_ = c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}) // odd length: 1 sample
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"event":"mark","name":"still-alive"}`))
		s.serve(ctx, c, false)
	})
	st := dialTest(t, srv, Options{})
	waitFor(t, "the mark", func() bool { _, marks := st.play.pending(); return marks == 1 })
	assert.Equal(t, []int16{0x0201, 0}, readSource(t, st.Source(), 160)[:2])
	assert.JSONEq(t, `{"event":"mark","name":"still-alive"}`, recv(t, srv.texts, "mark"))
	require.NoError(t, st.Err())
}

func TestServerClose(t *testing.T) {
	t.Run("normal closure", func(t *testing.T) {
		srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
			_ = c.Write(ctx, websocket.MessageBinary, encode(toneAt(1000, 8000, 100*time.Millisecond)))
			_ = c.Close(websocket.StatusNormalClosure, "bye")
		})
		st := dialTest(t, srv, Options{})
		recv(t, st.Done(), "done")
		err := st.Err()
		require.ErrorIs(t, err, ErrRemoteClosed)
		assert.Contains(t, err.Error(), "1000")
		assert.Contains(t, err.Error(), "bye")
		// The audio received before the close still plays, then EOF.
		heard := readSource(t, st.Source(), 2000)
		assert.Len(t, heard, 800)
		n, err := st.Source().ReadSamples(make([]int16, 160))
		assert.Zero(t, n)
		assert.ErrorIs(t, err, io.EOF)
		require.ErrorIs(t, st.SendDigit('1'), ErrClosed)
		st.WriteFrame(make([]int16, 160)) // no effect, no panic
		require.NoError(t, st.Close(context.Background()))
	})
	t.Run("connection dropped", func(t *testing.T) {
		srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
			_ = c.CloseNow()
		})
		st := dialTest(t, srv, Options{})
		recv(t, st.Done(), "done")
		require.Error(t, st.Err())
		assert.NotErrorIs(t, st.Err(), ErrRemoteClosed)
	})
}

func TestClose(t *testing.T) {
	srv := newServer(t, false, echoServer)
	reg := prometheus.NewRegistry()
	st := dialTest(t, srv, Options{Start: StartMessage{CallID: "c7"}, Registerer: reg})
	recv(t, srv.starts, "start")
	st.WriteFrame(make([]int16, 160))
	require.NoError(t, st.Close(context.Background()))
	select {
	case <-st.Done():
	default:
		t.Fatal("Done is closed when Close returns")
	}
	assert.JSONEq(t, `{"event":"stop","callId":"c7"}`, recv(t, srv.texts, "stop"))
	assert.Equal(t, websocket.StatusNormalClosure, recv(t, srv.closed, "close status"))
	require.NoError(t, st.Err())
	require.NoError(t, st.Close(context.Background()), "Close is idempotent")
	require.ErrorIs(t, st.SendDigit('1'), ErrClosed)
	st.WriteFrame(make([]int16, 160))
	assert.InDelta(t, 0, gaugeValue(t, reg, "callcore_wsstream_streams_active"), 0)
}

func TestCloseWithUnresponsiveServer(t *testing.T) {
	// The server never reads, so it never answers the close handshake;
	// Close gives up when its context ends.
	srv := newServer(t, false, func(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
		<-ctx.Done()
	})
	st := dialTest(t, srv, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, st.Close(ctx), context.DeadlineExceeded)
	recv(t, st.Done(), "done")
}

func TestDialErrors(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	t.Cleanup(plain.Close)
	plainWS := "ws" + strings.TrimPrefix(plain.URL, "http")

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusedURL := "ws://" + refused.Addr().String()
	require.NoError(t, refused.Close())

	// A TCP server that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()

	tlsSrv := newServer(t, true, echoServer)

	tests := []struct {
		name   string
		o      Options
		is     error
		status int
		reason string
	}{
		{name: "http scheme", o: Options{URL: "http://example.com/x"}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "no scheme", o: Options{URL: "example.com/x"}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "empty", o: Options{}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "no host", o: Options{URL: "ws:///path"}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "unparsable", o: Options{URL: "ws://[::1"}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "sample rate", o: Options{URL: plainWS, SampleRate: 44100}, is: ErrInvalidOptions, reason: reasonInvalid},
		{name: "connection refused", o: Options{URL: refusedURL}, is: syscall.ECONNREFUSED, reason: reasonRefused},
		{name: "not a WebSocket server", o: Options{URL: plainWS}, status: 200, reason: reasonStatus},
		{name: "404", o: Options{URL: plainWS + "/missing"}, status: 404, reason: reasonStatus},
		{name: "handshake timeout", o: Options{URL: "ws://" + silent.Addr().String(), HandshakeTimeout: 100 * time.Millisecond}, is: ErrHandshakeTimeout, reason: reasonTimeout},
		{name: "untrusted certificate", o: Options{URL: tlsSrv.url()}, reason: reasonTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tt.o.Registerer = reg
			st, err := Dial(context.Background(), tt.o)
			require.Error(t, err)
			require.Nil(t, st)
			t.Log(err)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			if tt.status != 0 {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tt.status, se.Code)
			}
			assert.InDelta(t, 1, counterValue(t, reg, "callcore_wsstream_connect_failures_total", "reason", tt.reason), 0)
		})
	}
}

func TestDialHonoursCallerContext(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c, err := silent.Accept()
		if err == nil {
			cancel()
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	_, err = Dial(ctx, Options{URL: "ws://" + silent.Addr().String()})
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrHandshakeTimeout)
}

func TestUpgradeHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, _ = c.Read(r.Context())
		_ = c.CloseNow()
	}))
	t.Cleanup(srv.Close)
	st, err := Dial(context.Background(), Options{
		URL:     "ws" + strings.TrimPrefix(srv.URL, "http") + "/bot?token=secret",
		Headers: http.Header{"Authorization": {"Bearer abc"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	h := recv(t, got, "upgrade request")
	assert.Equal(t, "Bearer abc", h.Get("Authorization"))
}

func TestSendQueueDropsOldestWhenServerIsSlow(t *testing.T) {
	r := newSendRing(50, 320)
	for i := range 60 {
		frame := make([]int16, 160)
		frame[0] = int16(i)
		require.Equal(t, i >= 50, r.push(frame), "frame %d", i)
	}
	var buf []byte
	for i := 10; i < 60; i++ {
		var ok bool
		buf, ok = r.pop(buf)
		require.True(t, ok)
		require.Len(t, buf, 320)
		require.Equal(t, int16(i), decode(buf)[0])
	}
	_, ok := r.pop(buf)
	require.False(t, ok)
}

func TestMetricsSharedAcrossDials(t *testing.T) {
	srv := newServer(t, false, echoServer)
	reg := prometheus.NewRegistry()
	a := dialTest(t, srv, Options{Registerer: reg})
	b := dialTest(t, srv, Options{Registerer: reg})
	assert.InDelta(t, 2, gaugeValue(t, reg, "callcore_wsstream_streams_active"), 0)
	require.NoError(t, a.Close(context.Background()))
	require.NoError(t, b.Close(context.Background()))
	assert.InDelta(t, 0, gaugeValue(t, reg, "callcore_wsstream_streams_active"), 0)
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 1+2+2+len(connectReasons), n)
}

// gaugeValue reads a gauge without labels from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	require.FailNow(t, "no metric "+name)
	return 0
}

// counterValue reads a counter with one label from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	require.FailNow(t, "no metric "+name+" with "+label+"="+value)
	return 0
}

func TestErrorsAreNotLeakingTheQuery(t *testing.T) {
	_, err := Dial(context.Background(), Options{URL: "ws://127.0.0.1:1/x?token=secret"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}
