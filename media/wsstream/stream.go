package wsstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callcore/callcore/media"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and limits.
const (
	// DefaultSampleRate is the stream's rate when Options.SampleRate is 0.
	DefaultSampleRate = 8000
	// DefaultVersion is the start message's version when Options.Version
	// is 0.
	DefaultVersion = 1
	// DefaultHandshakeTimeout bounds the connection, the upgrade and the
	// start message when Options.HandshakeTimeout is 0.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxQueue is the playback queue's capacity when
	// Options.MaxQueue is 0.
	DefaultMaxQueue = 30 * time.Second
	// SendQueue is how much audio waits for a slow server before the oldest
	// is dropped.
	SendQueue = time.Second
	// MaxMessageBytes is the largest message accepted from the server; a
	// larger one ends the stream (close status 1009).
	MaxMessageBytes = 1 << 20

	frameDuration = 20 * time.Millisecond
	writeTimeout  = 10 * time.Second
	textQueue     = 64
)

// Options configures Dial.
type Options struct {
	// URL is connectStream.destination.endpoint: ws:// or wss://.
	URL string
	// Headers are added to the HTTP upgrade request (for example an
	// Authorization header). Optional.
	Headers http.Header
	// SampleRate is streamingOptions.sampleRate: 8000 or 16000; 0 means
	// DefaultSampleRate. Any other value fails Dial with ErrInvalidOptions.
	SampleRate int
	// Version is streamingOptions.version, echoed in the start message; 0
	// means DefaultVersion. Every version gets the same protocol.
	Version int
	// Start holds the call fields of the start message.
	Start StartMessage
	// HandshakeTimeout bounds the TCP (and TLS) connection, the WebSocket
	// upgrade and the start message; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxQueue is the most server audio waiting to be played; beyond it the
	// oldest audio is dropped and counted. 0 means DefaultMaxQueue.
	MaxQueue time.Duration
	// Logger receives the stream's log lines; it should carry the call_id.
	// nil discards them.
	Logger *slog.Logger
	// HTTPClient makes the upgrade request (its Transport matters, for
	// example the TLS roots of a test server); nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Registerer receives the package's metrics; Dial can be called any
	// number of times with the same registerer. nil leaves the metrics
	// unregistered.
	Registerer prometheus.Registerer
}

// Stats counts one stream's traffic.
type Stats struct {
	// FramesSent is the binary messages sent to the server.
	FramesSent uint64
	// FramesReceived is the binary messages received from the server.
	FramesReceived uint64
	// SendDropped is the messages dropped because the server read too
	// slowly.
	SendDropped uint64
	// PlayDropped is the 8 kHz samples of server audio dropped because the
	// playback queue was full (a clear message does not count).
	PlayDropped uint64
}

// Stream is one connectStream WebSocket connection. Its methods are safe
// for concurrent use, except that WriteFrame must be called by one
// goroutine at a time (the media tap) and the Source by one player at a
// time.
type Stream struct {
	conn   *websocket.Conn
	log    *slog.Logger
	callID string
	rate   int

	ctx    context.Context
	cancel context.CancelFunc

	// caller to server
	send     *sendRing
	wake     chan struct{}
	up       *upsampler
	upBuf    []int16
	text     chan []byte
	stopReq  chan struct{}
	stopOnce sync.Once
	closing  atomic.Bool

	// server to caller
	play       *playQueue
	down       *downsampler
	inBuf      []int16
	decBuf     []int16
	src        *source
	hangup     chan struct{}
	hangupOnce sync.Once

	done  chan struct{}
	errMu sync.Mutex
	err   error

	sent, received, sendDropped, playDropped atomic.Uint64
	mFramesSent, mFramesReceived             prometheus.Counter
	mSendDropped, mPlayDropped               prometheus.Counter
}

// Dial connects to o.URL, sends the start message and starts the stream's
// reader and writer goroutines. ctx bounds only the connection set-up; the
// stream lives until Close, a server close or a network error.
func Dial(ctx context.Context, o Options) (*Stream, error) {
	m := newMetrics(o.Registerer)
	s, err := dial(ctx, o, m)
	if err != nil {
		m.failures.WithLabelValues(classify(err)).Inc()
		return nil, err
	}
	return s, nil
}

// redact returns u without user information, query and fragment, for
// errors and logs.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

func dial(ctx context.Context, o Options, m *metrics) (*Stream, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("%w: empty url", ErrInvalidOptions)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text would hold the whole URL
		}
		return nil, fmt.Errorf("%w: malformed url: %w", ErrInvalidOptions, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("%w: url scheme %q, want ws or wss", ErrInvalidOptions, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: url without a host", ErrInvalidOptions)
	}
	rate := o.SampleRate
	if rate == 0 {
		rate = DefaultSampleRate
	}
	if rate != 8000 && rate != 16000 {
		return nil, fmt.Errorf("%w: sample rate %d, want 8000 or 16000", ErrInvalidOptions, o.SampleRate)
	}
	version := o.Version
	if version <= 0 {
		version = DefaultVersion
	}
	timeout := o.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	maxQueue := o.MaxQueue
	if maxQueue <= 0 {
		maxQueue = DefaultMaxQueue
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	where := redact(u)

	hctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrHandshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(hctx, o.URL, &websocket.DialOptions{
		HTTPClient: o.HTTPClient,
		HTTPHeader: o.Headers.Clone(),
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("wsstream: connect to %s: %w", where, &StatusError{Code: resp.StatusCode})
		}
		return nil, fmt.Errorf("wsstream: connect to %s: %w", where, handshakeErr(hctx, err))
	}
	conn.SetReadLimit(MaxMessageBytes)

	hdrs := o.Start.CallHeaders
	if hdrs == nil {
		hdrs = []CallHeader{}
	}
	start, err := json.Marshal(startWire{
		Event:          eventStart,
		Version:        version,
		CallID:         o.Start.CallID,
		ApplicationKey: o.Start.ApplicationKey,
		CLI:            o.Start.CLI,
		To:             o.Start.To,
		Custom:         o.Start.Custom,
		CallHeaders:    hdrs,
		MediaFormat: MediaFormat{
			Encoding: "audio/l16", SampleRate: rate, Channels: 1,
			FrameMs: int(frameDuration / time.Millisecond), ByteOrder: "little-endian",
		},
	})
	if err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("wsstream: encode start message: %w", err)
	}
	if err := conn.Write(hctx, websocket.MessageText, start); err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("wsstream: send start message to %s: %w", where, handshakeErr(hctx, err))
	}

	frameSamples := rate * int(frameDuration/time.Millisecond) / 1000
	sctx, scancel := context.WithCancel(context.Background())
	s := &Stream{
		conn:            conn,
		log:             log,
		callID:          o.Start.CallID,
		rate:            rate,
		ctx:             sctx,
		cancel:          scancel,
		send:            newSendRing(int(SendQueue/frameDuration), 2*frameSamples),
		wake:            make(chan struct{}, 1),
		text:            make(chan []byte, textQueue),
		stopReq:         make(chan struct{}),
		play:            newPlayQueue(int(maxQueue * media.SampleRate / time.Second)),
		hangup:          make(chan struct{}),
		done:            make(chan struct{}),
		mFramesSent:     m.frames.WithLabelValues("sent"),
		mFramesReceived: m.frames.WithLabelValues("received"),
		mSendDropped:    m.dropped.WithLabelValues("send"),
		mPlayDropped:    m.dropped.WithLabelValues("play"),
	}
	if rate == 16000 {
		s.up = newUpsampler()
		s.down = newDownsampler()
	}
	s.src = &source{s: s}

	// The gauge goes down before Done is closed, so that it is exact once
	// Close (or Done) has returned.
	m.active.Inc()
	var wg sync.WaitGroup
	wg.Go(s.readLoop)
	wg.Go(s.writeLoop)
	go func() {
		wg.Wait()
		_ = conn.CloseNow()
		s.play.end()
		m.active.Dec()
		close(s.done)
	}()
	log.Info("wsstream connected", "sample_rate", rate, "version", version)
	log.Debug("wsstream endpoint", "url", where)
	return s, nil
}

// handshakeErr turns a set-up error into ErrHandshakeTimeout when the
// handshake deadline (not the caller's context) expired. An HTTP client
// error is replaced by its cause, since its text holds the whole URL (whose
// query may carry a token).
func handshakeErr(hctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	if errors.Is(context.Cause(hctx), ErrHandshakeTimeout) {
		return ErrHandshakeTimeout
	}
	return err
}

// WriteFrame queues one frame of the caller's audio (8 kHz, normally 160
// samples from the media tap) as one binary message, upsampled to 16 kHz
// when the stream runs at 16 kHz. It never blocks: when the server has not
// read the last SendQueue of audio, the oldest message is dropped and
// counted. After Close or the end of the stream it does nothing.
func (s *Stream) WriteFrame(pcm8k []int16) {
	if s.closing.Load() || s.ctx.Err() != nil || len(pcm8k) == 0 {
		return
	}
	out := pcm8k
	if s.up != nil {
		if cap(s.upBuf) < 2*len(pcm8k) {
			s.upBuf = make([]int16, 2*len(pcm8k))
		}
		out = s.upBuf[:2*len(pcm8k)]
		s.up.process(pcm8k, out)
	}
	if s.send.push(out) {
		s.sendDropped.Add(1)
		s.mSendDropped.Inc()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Source returns the server's audio at 8 kHz (decimated from 16 kHz with a
// half-band low-pass when the stream runs at 16 kHz). It reads silence
// while the playback queue is empty, so it always fills the buffer, and
// io.EOF once the stream has ended and the queued audio has been played.
// Every call returns the same Source.
func (s *Stream) Source() media.Source { return s.src }

// SendDigit reports a DTMF digit from the caller to the server
// ({"event":"dtmf","digit":"5"}). Digits are 0-9, *, # and A-D.
func (s *Stream) SendDigit(d rune) error {
	if !validDigit(d) {
		return fmt.Errorf("%w: %q", ErrInvalidDigit, d)
	}
	return s.sendText(dtmfMessage(s.callID, d))
}

// HangupRequested is closed when the server sent {"event":"hangup"}: the
// call core should end the call (and then Close the stream).
func (s *Stream) HangupRequested() <-chan struct{} { return s.hangup }

// Done is closed when the stream has ended: after Close, a close from the
// server or a network error.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended: nil while it runs and after Close, an
// error wrapping ErrRemoteClosed when the server closed it, or the network
// or protocol error that broke it.
func (s *Stream) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	return Stats{
		FramesSent:     s.sent.Load(),
		FramesReceived: s.received.Load(),
		SendDropped:    s.sendDropped.Load(),
		PlayDropped:    s.playDropped.Load(),
	}
}

// Close ends the stream: it sends {"event":"stop"} and closes the
// WebSocket with status 1000 (normal closure), waiting for the server's
// close frame until ctx ends (and at most 5 s), then drops the connection.
// Audio still queued for the server is not sent. Close is idempotent and
// returns nil, or ctx's error when ctx ended first.
func (s *Stream) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.closing.Store(true)
		close(s.stopReq)
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		_ = s.conn.CloseNow()
		<-s.done
		return ctx.Err()
	}
}

// fail records why the stream ended (unless Close ended it) and stops the
// goroutines.
func (s *Stream) fail(err error) {
	s.errMu.Lock()
	if s.err == nil && !s.closing.Load() {
		s.err = err
	}
	s.errMu.Unlock()
	s.cancel()
}

// sendText queues a text message for the writer without blocking.
func (s *Stream) sendText(b []byte) error {
	if s.closing.Load() || s.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case s.text <- b:
		return nil
	default:
		return ErrQueueFull
	}
}

// readLoop receives the server's messages until the connection ends.
func (s *Stream) readLoop() {
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			s.fail(s.readErr(err))
			return
		}
		switch typ {
		case websocket.MessageBinary:
			s.onAudio(data)
		case websocket.MessageText:
			s.onText(data)
		}
	}
}

// readErr explains a read error.
func (s *Stream) readErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		s.log.Info("wsstream closed by server", "status", int(ce.Code), "reason", ce.Reason)
		return fmt.Errorf("%w: status %d %q", ErrRemoteClosed, int(ce.Code), ce.Reason)
	}
	if s.ctx.Err() == nil && !s.closing.Load() {
		s.log.Warn("wsstream connection lost", "err", err)
	}
	return fmt.Errorf("wsstream: read: %w", err)
}

// onAudio queues a binary message of the server's audio for playback. An
// odd trailing byte is ignored.
func (s *Stream) onAudio(data []byte) {
	s.received.Add(1)
	s.mFramesReceived.Inc()
	n := len(data) / 2
	if cap(s.inBuf) < n {
		s.inBuf = make([]int16, n)
	}
	pcm := s.inBuf[:n]
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	if s.down != nil {
		s.decBuf = s.down.process(pcm, s.decBuf[:0])
		pcm = s.decBuf
	}
	dropped, reached := s.play.push(pcm)
	if dropped > 0 {
		s.playDropped.Add(uint64(dropped))
		s.mPlayDropped.Add(float64(dropped) / float64(media.FrameSamples))
	}
	s.echoMarks(reached)
}

// onText handles a text message from the server.
func (s *Stream) onText(data []byte) {
	msg, err := parseServerMessage(data)
	if err != nil {
		s.log.Warn("wsstream ignored a message", "err", err)
		return
	}
	switch msg.Event {
	case eventClear:
		s.echoMarks(s.play.clear())
	case eventMark:
		s.echoMarks(s.play.addMark(msg.Name))
	case eventHangup:
		s.hangupOnce.Do(func() {
			s.log.Info("wsstream server asked to hang up")
			close(s.hangup)
		})
	}
}

// echoMarks sends the mark messages for names.
func (s *Stream) echoMarks(names []string) {
	for _, n := range names {
		if err := s.sendText(markMessage(n)); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Warn("wsstream could not echo a mark", "err", err)
		}
	}
}

// writeLoop sends queued text and audio until the stream ends; on Close it
// sends the stop message and closes the WebSocket.
func (s *Stream) writeLoop() {
	buf := make([]byte, 0, 2*s.rate/50)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.stopReq:
			s.stop()
			return
		case b := <-s.text:
			if !s.write(websocket.MessageText, b) {
				return
			}
		case <-s.wake:
			for {
				// Text (DTMF, marks) and stop go before the next frame.
				select {
				case <-s.stopReq:
					s.stop()
					return
				case b := <-s.text:
					if !s.write(websocket.MessageText, b) {
						return
					}
					continue
				default:
				}
				var ok bool
				if buf, ok = s.send.pop(buf); !ok {
					break
				}
				if !s.write(websocket.MessageBinary, buf) {
					return
				}
				s.sent.Add(1)
				s.mFramesSent.Inc()
			}
		}
	}
}

// write sends one message with writeTimeout and reports success; a
// failure ends the stream.
func (s *Stream) write(typ websocket.MessageType, b []byte) bool {
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	if err := s.conn.Write(ctx, typ, b); err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("wsstream write failed", "err", err)
		}
		s.fail(fmt.Errorf("wsstream: write: %w", err))
		return false
	}
	return true
}

// stop sends the stop message and performs the closing handshake.
func (s *Stream) stop() {
	if s.write(websocket.MessageText, stopMessage(s.callID)) {
		if err := s.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			s.log.Debug("wsstream close handshake", "err", err)
		}
	}
	s.log.Info("wsstream closed")
	s.cancel()
}

// source is the playback side of a Stream.
type source struct {
	s     *Stream
	marks []string
}

func (r *source) ReadSamples(p []int16) (int, error) {
	n, marks, ended := r.s.play.readInto(p, r.marks[:0])
	r.marks = marks[:0]
	if len(marks) > 0 {
		r.s.echoMarks(marks)
	}
	if ended {
		return n, io.EOF
	}
	clear(p[n:])
	return len(p), nil
}
