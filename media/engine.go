package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by NewEngine to zero Options fields (RTPTimeout aside:
// zero disables it, DefaultOptions sets DefaultRTPTimeout, 60 s).
const (
	DefaultPortMin      = 20000
	DefaultPortMax      = 29999
	DefaultRTPTimeout   = 60 * time.Second
	DefaultCacheBytes   = 64 << 20
	DefaultTTSBinary    = "espeak-ng"
	DefaultTTSTimeout   = 10 * time.Second
	DefaultTTSMaxChars  = 4000
	DefaultFetchMax     = 10 << 20
	DefaultFetchTimeout = 10 * time.Second
	// DefaultFetchFreshness is how long a downloaded prompt is used without
	// asking the server again when its reply says nothing about caching.
	DefaultFetchFreshness = 60 * time.Second
)

// Options configure an Engine. Start from DefaultOptions.
type Options struct {
	// PortMin and PortMax bound the inclusive UDP port range for RTP. Only
	// even ports are used; the odd port above each is left for RTCP.
	// Default 20000-29999.
	PortMin, PortMax int
	// PortQuarantine is how long a released port rests before reuse.
	// 0 means DefaultPortQuarantine; negative reuses ports at once.
	PortQuarantine time.Duration
	// BindIP is the local address RTP sockets bind to. Default 0.0.0.0.
	BindIP netip.Addr
	// AdvertisedIP is the address written into SDP (c= and o=). Default
	// BindIP; required when BindIP is unspecified (0.0.0.0 or ::), because
	// 0.0.0.0 in SDP means "on hold".
	AdvertisedIP netip.Addr
	// RTPTimeout closes Session.Timeout when no RTP arrived for this long
	// (DefaultOptions: DefaultRTPTimeout, 60 s)
	// while the session is not on hold. Zero disables the check.
	RTPTimeout time.Duration
	// SymmetricRTP ("comedia") sends to the address RTP comes from when it
	// differs from the one in the remote SDP, for peers behind NAT.
	SymmetricRTP bool
	// RTCPInterval is the mean interval between RTCP reports (randomised
	// to 0.5-1.5 times it, the first after a fifth of it). 0 means
	// DefaultRTCPInterval (5 s); negative disables RTCP: no socket on the
	// odd port, no reports, no BYE.
	RTCPInterval time.Duration
	// InbandDTMF detects DTMF tones in the received audio and reports them
	// on Session.Digits until the peer sends RFC 4733 events
	// (DefaultOptions: true).
	InbandDTMF bool
	// BridgeJitterBuffer plays each direction of a bridge out through a
	// jitter buffer on the 20 ms media clock of the leg that received the
	// packets, re-encoding the audio, instead of relaying packets as they
	// arrive. Default false: a B2BUA relays as it receives and lets the
	// endpoints' own jitter buffers work; the option smooths the jitter of
	// one network leg for an endpoint that plays out naively, at the cost
	// of 40-200 ms of delay.
	BridgeJitterBuffer bool
	// JitterBuffer configures the jitter buffers of taps and of a
	// jitter-buffered bridge (default 40-200 ms).
	JitterBuffer JitterBufferOptions
	// CacheBytes is the byte budget of the decoded-audio cache shared by
	// TTS, local files and fetched URLs. Default 64 MiB.
	CacheBytes int64
	// FilesDir is the directory of local prompt files for Engine.File.
	// Empty disables local files.
	FilesDir string
	// TTS configures text-to-speech: the engine, espeak-ng by default.
	TTS TTSOptions
	// Fetch configures downloads of audio URLs.
	Fetch FetchOptions
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics (see NewMetrics). Default: none.
	Registerer prometheus.Registerer
}

// TTSOptions configure text-to-speech. Engine chooses the synthesizer;
// Binary, Timeout, WordsPerMinute and MaxConcurrent configure the default
// espeak-ng one (see Espeak) and are ignored when Engine is set.
type TTSOptions struct {
	// Engine synthesizes the prompts. Default (nil): espeak-ng, built from
	// the fields below. See also HTTPSynthesizer.
	Engine Synthesizer
	// Binary is the espeak-ng executable, a name looked up in PATH or a
	// path. Default "espeak-ng".
	Binary string
	// Timeout bounds one synthesis. Default 10 s.
	Timeout time.Duration
	// MaxChars rejects longer texts (characters, not bytes). Default 4000.
	MaxChars int
	// WordsPerMinute sets the speaking rate; 0 keeps espeak-ng's default
	// (175).
	WordsPerMinute int
	// MaxConcurrent bounds concurrent espeak-ng processes. Default
	// GOMAXPROCS.
	MaxConcurrent int
}

// FetchOptions configure downloads of http(s) audio files.
type FetchOptions struct {
	// MaxBytes rejects larger files (also applied to local files).
	// Default 10 MiB.
	MaxBytes int64
	// Timeout bounds one download, headers and body. Default 10 s.
	Timeout time.Duration
	// Client performs the requests. Default: a client with the default
	// transport; the timeout comes from Timeout.
	Client *http.Client
	// Freshness is how long a download is used without revalidation when
	// the server's reply has neither Cache-Control max-age nor Expires
	// (see Engine.Fetch). Default DefaultFetchFreshness (60 s); negative
	// revalidates on every use.
	Freshness time.Duration
}

// DefaultOptions returns the defaults, with RTPTimeout at 60 s and in-band
// DTMF detection on.
func DefaultOptions() Options {
	return Options{
		PortMin:        DefaultPortMin,
		PortMax:        DefaultPortMax,
		PortQuarantine: DefaultPortQuarantine,
		BindIP:         netip.IPv4Unspecified(),
		RTPTimeout:     DefaultRTPTimeout,
		InbandDTMF:     true,
		CacheBytes:     DefaultCacheBytes,
		TTS:            TTSOptions{Binary: DefaultTTSBinary, Timeout: DefaultTTSTimeout, MaxChars: DefaultTTSMaxChars},
		Fetch:          FetchOptions{MaxBytes: DefaultFetchMax, Timeout: DefaultFetchTimeout},
	}
}

// Engine creates RTP sessions and audio sources. It is safe for concurrent
// use. Sessions must be closed by their owner; Engine.Close only releases
// the engine's own resources.
type Engine struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	ports   *PortAllocator
	cache   *audioCache
	synth   Synthesizer
	synthID string
	now     func() time.Time
	root    *os.Root
	client  *http.Client
	active  atomic.Int64
}

// NewEngine validates opts, fills defaults and returns an Engine.
func NewEngine(opts Options) (*Engine, error) {
	if opts.PortMin == 0 && opts.PortMax == 0 {
		opts.PortMin, opts.PortMax = DefaultPortMin, DefaultPortMax
	}
	switch {
	case opts.PortQuarantine == 0:
		opts.PortQuarantine = DefaultPortQuarantine
	case opts.PortQuarantine < 0:
		opts.PortQuarantine = 0
	}
	if !opts.BindIP.IsValid() {
		opts.BindIP = netip.IPv4Unspecified()
	}
	if !opts.AdvertisedIP.IsValid() {
		if opts.BindIP.IsUnspecified() {
			return nil, errors.New("media: AdvertisedIP is required when BindIP is unspecified (0.0.0.0 in SDP means hold)")
		}
		opts.AdvertisedIP = opts.BindIP
	}
	if opts.AdvertisedIP.IsUnspecified() {
		return nil, errors.New("media: AdvertisedIP must not be unspecified (0.0.0.0 in SDP means hold)")
	}
	if opts.RTPTimeout < 0 {
		return nil, fmt.Errorf("media: negative RTPTimeout %v", opts.RTPTimeout)
	}
	if opts.RTCPInterval == 0 {
		opts.RTCPInterval = DefaultRTCPInterval
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.TTS.Binary == "" {
		opts.TTS.Binary = DefaultTTSBinary
	}
	if opts.TTS.Timeout <= 0 {
		opts.TTS.Timeout = DefaultTTSTimeout
	}
	if opts.TTS.MaxChars <= 0 {
		opts.TTS.MaxChars = DefaultTTSMaxChars
	}
	if opts.TTS.MaxConcurrent <= 0 {
		opts.TTS.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if opts.TTS.WordsPerMinute < 0 || opts.TTS.WordsPerMinute > 1000 {
		return nil, fmt.Errorf("media: TTS WordsPerMinute %d out of 0-1000", opts.TTS.WordsPerMinute)
	}
	if opts.Fetch.MaxBytes <= 0 {
		opts.Fetch.MaxBytes = DefaultFetchMax
	}
	if opts.Fetch.Timeout <= 0 {
		opts.Fetch.Timeout = DefaultFetchTimeout
	}
	switch {
	case opts.Fetch.Freshness == 0:
		opts.Fetch.Freshness = DefaultFetchFreshness
	case opts.Fetch.Freshness < 0:
		opts.Fetch.Freshness = 0
	}
	synth := opts.TTS.Engine
	if synth == nil {
		es, err := NewEspeak(EspeakOptions{Binary: opts.TTS.Binary, Timeout: opts.TTS.Timeout,
			WordsPerMinute: opts.TTS.WordsPerMinute, MaxConcurrent: opts.TTS.MaxConcurrent})
		if err != nil {
			return nil, err
		}
		synth = es
	}
	ports, err := NewPortAllocator(opts.PortMin, opts.PortMax, opts.PortQuarantine)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts:    opts,
		log:     opts.Logger,
		metrics: NewMetrics(opts.Registerer),
		ports:   ports,
		cache:   newAudioCache(opts.CacheBytes),
		synth:   synth,
		synthID: synthIdentity(synth),
		now:     time.Now,
		client:  opts.Fetch.Client,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.client == nil {
		e.client = &http.Client{}
	}
	if opts.FilesDir != "" {
		root, err := os.OpenRoot(opts.FilesDir)
		if err != nil {
			return nil, fmt.Errorf("media: files directory: %w", err)
		}
		e.root = root
	}
	return e, nil
}

// Close releases the engine's resources (the files directory handle). Open
// sessions keep working until they are closed.
func (e *Engine) Close() error {
	if e.root != nil {
		return e.root.Close()
	}
	return nil
}

// ActiveSessions returns the number of open sessions.
func (e *Engine) ActiveSessions() int { return int(e.active.Load()) }

// CacheStats returns the number of entries and the bytes held by the
// decoded-audio cache.
func (e *Engine) CacheStats() (entries int, bytes int64) { return e.cache.stats() }

// Ports returns the engine's port allocator (for monitoring).
func (e *Engine) Ports() *PortAllocator { return e.ports }

// SessionOptions are per-session settings of AnswerOptions and
// OfferOptions.
type SessionOptions struct {
	// CallID is added as call_id to every log line of the session.
	CallID string
	// Logger overrides the engine's logger for the session.
	Logger *slog.Logger
}

// Answer creates a session for a remote SDP offer and returns it with our
// SDP answer. It fails with ErrBadSDP or ErrNoCommonCodec before taking a
// port, and with ErrNoPorts when the range is exhausted.
func (e *Engine) Answer(ctx context.Context, offer []byte) (*Session, []byte, error) {
	return e.AnswerOptions(ctx, offer, SessionOptions{})
}

// AnswerOptions is Answer with per-session options.
func (e *Engine) AnswerOptions(ctx context.Context, offer []byte, so SessionOptions) (*Session, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	sd, err := ParseSDP(offer)
	if err != nil {
		return nil, nil, err
	}
	n, err := negotiateOffer(sd)
	if err != nil {
		return nil, nil, err
	}
	s, err := e.newSession(roleAnswerer, so)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	answer := s.local.answer(sd, n)
	s.setNegotiationLocked(&n)
	s.mu.Unlock()
	s.log.Debug("rtp session answered", "codec", n.Codec.Name, "remote", n.Remote, "direction", n.Local, "events", n.Events)
	return s, answer, nil
}

// Offer creates a session and returns it with our SDP offer (PCMU, PCMA,
// telephone-event 101, ptime 20). Pass the remote answer to
// Session.SetRemote.
func (e *Engine) Offer(ctx context.Context) (*Session, []byte, error) {
	return e.OfferOptions(ctx, SessionOptions{})
}

// OfferOptions is Offer with per-session options.
func (e *Engine) OfferOptions(ctx context.Context, so SessionOptions) (*Session, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s, err := e.newSession(roleOfferer, so)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	offer := s.local.offer(SendRecv)
	s.mu.Unlock()
	return s, offer, nil
}

// bindAttempts bounds how many ports are tried when binding fails because
// another process holds a port of the range (a failed bind costs one
// syscall; a range shared with other software may have many taken).
const bindAttempts = 64

func (e *Engine) newSession(r role, so SessionOptions) (*Session, error) {
	var lastErr error
	for range bindAttempts {
		port, err := e.ports.Acquire()
		if err != nil {
			e.metrics.portFailures.Inc()
			return nil, err
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.opts.BindIP, uint16(port))))
		if err != nil {
			e.ports.Release(port) // quarantined: not retried at once
			lastErr = err
			continue
		}
		var rtcpConn *net.UDPConn
		if e.opts.RTCPInterval > 0 {
			rtcpConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.opts.BindIP, uint16(port+1))))
			if err != nil {
				_ = conn.Close()
				e.ports.Release(port)
				lastErr = err
				continue
			}
		}
		return newSession(e, r, conn, rtcpConn, port, so), nil
	}
	e.metrics.portFailures.Inc()
	return nil, fmt.Errorf("media: bind an RTP port after %d attempts: %w", bindAttempts, lastErr)
}

// random32 returns a random 32-bit value for SSRCs, sequence numbers and
// timestamps (RFC 3550 §5.1).
func random32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint32(b[:])
}
