package wsstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callcore/callcore/media"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// wsServer is a real WebSocket server for the tests. Its handler reads the
// start message, publishes it and then runs behave. Nothing in the handler
// calls require (it runs off the test goroutine): it reports through
// channels and fields.
type wsServer struct {
	srv    *httptest.Server
	starts chan startWire
	texts  chan string
	closed chan websocket.StatusCode // the status the client closed with

	mu    sync.Mutex
	audio []int16 // every binary message received, decoded
	conns []*websocket.Conn
}

// behaviour runs after the start message; it owns the connection until
// it returns (the server then waits for the client to go away).
type behaviour func(ctx context.Context, s *wsServer, c *websocket.Conn, start startWire)

func newServer(t *testing.T, tlsServer bool, behave behaviour) *wsServer {
	t.Helper()
	s := &wsServer{
		starts: make(chan startWire, 4),
		texts:  make(chan string, 1024),
		closed: make(chan websocket.StatusCode, 4),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(MaxMessageBytes)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		ctx := r.Context()
		typ, b, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText {
			_ = c.Close(websocket.StatusProtocolError, "start expected")
			return
		}
		var start startWire
		if err := json.Unmarshal(b, &start); err != nil {
			_ = c.Close(websocket.StatusProtocolError, "bad start")
			return
		}
		s.starts <- start
		behave(ctx, s, c, start)
	})
	s.srv = httptest.NewUnstartedServer(h)
	// The untrusted-certificate test makes the TLS server log a handshake
	// error; keep the test output clean.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(func() {
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.CloseNow()
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

// url is the server's ws:// or wss:// address.
func (s *wsServer) url() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http")
}

// received returns a copy of the audio received so far.
func (s *wsServer) received() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.audio...)
}

// serve reads messages until the connection ends: binary messages are
// recorded (and echoed when echo is set), text messages published on
// s.texts, the client's close status on s.closed.
func (s *wsServer) serve(ctx context.Context, c *websocket.Conn, echo bool) {
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			s.closed <- websocket.CloseStatus(err)
			return
		}
		switch typ {
		case websocket.MessageText:
			s.texts <- string(b)
		case websocket.MessageBinary:
			s.mu.Lock()
			s.audio = append(s.audio, decode(b)...)
			s.mu.Unlock()
			if echo {
				if err := c.Write(ctx, websocket.MessageBinary, b); err != nil {
					return
				}
			}
		}
	}
}

// echoServer echoes audio and records everything.
func echoServer(ctx context.Context, s *wsServer, c *websocket.Conn, _ startWire) {
	s.serve(ctx, c, true)
}

// dialTest connects to s with o (URL, HTTP client and a short handshake
// timeout filled in) and closes the stream at the end of the test.
func dialTest(t *testing.T, s *wsServer, o Options) *Stream {
	t.Helper()
	o.URL = s.url()
	if s.srv.TLS != nil {
		o.HTTPClient = s.srv.Client()
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	st, err := Dial(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.Close(ctx)
	})
	return st
}

// encode returns pcm as little-endian bytes.
func encode(pcm []int16) []byte {
	b := make([]byte, 0, 2*len(pcm))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// decode is the inverse of encode.
func decode(b []byte) []int16 {
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// toneAt returns d of a sine at f Hz, amplitude 8000, at rate.
func toneAt(f float64, rate int, d time.Duration) []int16 {
	out := make([]int16, int(d)*rate/int(time.Second))
	for i := range out {
		out[i] = int16(math.Round(8000 * math.Sin(2*math.Pi*f*float64(i)/float64(rate))))
	}
	return out
}

// tone8k reads d of a 1 kHz media.Tone.
func tone8k(t testing.TB, f float64, d time.Duration) []int16 {
	t.Helper()
	var out []int16
	src := media.Tone([]float64{f}, d)
	buf := make([]int16, 160)
	for {
		n, err := src.ReadSamples(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
}

// power is the Goertzel power of x at f Hz (rate), normalised by the
// length (a sine of amplitude A at f gives about A²/4).
func power(x []int16, f float64, rate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*f/float64(rate))
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+coeff*s1-s2, s1
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(x))
	return p / (n * n)
}

// db is 10·log10(a/b).
func db(a, b float64) float64 { return 10 * math.Log10(a/b) }

// rms is the root mean square of x.
func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// readSource reads n samples from src in 20 ms frames.
func readSource(t testing.TB, src media.Source, n int) []int16 {
	t.Helper()
	out := make([]int16, 0, n)
	buf := make([]int16, 160)
	for len(out) < n {
		k, err := src.ReadSamples(buf)
		out = append(out, buf[:k]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
	return out
}

// waitFor polls cond (the deadline only bounds a broken test; no timing is
// asserted).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 2*time.Millisecond, what)
}

// recv takes one value from ch or fails after 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		var zero T
		return zero
	}
}
