package signaling

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Methods we implement, for Allow; Accept lists the bodies we understand.
const (
	allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
	acceptBodies = "application/sdp, multipart/mixed, application/dtmf-relay, application/dtmf"
	acceptInfo   = "application/dtmf-relay, application/dtmf"
	// shutdownTimeout bounds the BYEs, CANCELs and 503s Close sends.
	shutdownTimeout = 3 * time.Second
)

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// Server is the SIP adapter: a UDP and TCP listener, the inbound and
// outbound dialogs, and the registrar. Create it with New, then Start;
// Close ends every call and stops listening. All methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	gw       *gateway
	log      *slog.Logger
	metrics  *Metrics
	registry Registry
	nonces   *nonceSource

	ua     *sipgo.UserAgent
	sip    *sipgo.Server
	client *sipgo.Client

	// ctx is cancelled by Close; background work (BYE after ACK timeout,
	// CANCEL of forks) runs under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	state    int
	draining bool
	dialogs  map[dialogKey]*dialog // established and early dialogs, for in-dialog requests
	calls    map[*dialog]struct{}  // active calls, for MaxCalls, Close and the gauge
	udpConn  net.PacketConn
	tcpLn    net.Listener
	udpAddr  netip.AddrPort
	tcpAddr  netip.AddrPort
	udpLaddr sip.Addr

	bgMu     sync.Mutex
	bgClosed bool
	wg       sync.WaitGroup
}

// New validates opts and creates a Server. Nothing listens until Start.
func New(opts Options) (*Server, error) {
	opts, gw, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	nonces, err := newNonceSource()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		gw:       gw,
		log:      opts.Logger,
		metrics:  NewMetrics(opts.Registerer),
		registry: opts.Registry,
		nonces:   nonces,
		dialogs:  make(map[dialogKey]*dialog),
		calls:    make(map[*dialog]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	tlsConf := opts.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tlsConf = tlsConf.Clone()
	}
	if opts.TLSInsecureSkipVerify {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // explicit test-only option
	}
	sipLog := opts.Logger.With("component", "sipgo")
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(opts.UserAgent),
		sipgo.WithUserAgentHostname(opts.PublicHost),
		sipgo.WithUserAgenTLSConfig(tlsConf),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse),
			sip.WithTransactionLayerTerminateOnConnClose(),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
	)
	if err != nil {
		return nil, fmt.Errorf("signaling: sip user agent: %w", err)
	}
	s.sip, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		return nil, fmt.Errorf("signaling: sip server: %w", err)
	}
	s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(opts.PublicHost))
	if err != nil {
		return nil, fmt.Errorf("signaling: sip client: %w", err)
	}
	s.sip.OnInvite(s.handle(s.handleInvite))
	s.sip.OnAck(s.handle(s.handleAck))
	s.sip.OnBye(s.handle(s.handleBye))
	s.sip.OnCancel(s.handle(s.handleCancel))
	s.sip.OnOptions(s.handle(s.handleOptions))
	s.sip.OnInfo(s.handle(s.handleInfo))
	s.sip.OnUpdate(s.handle(s.handleUpdate))
	s.sip.OnRegister(s.handle(s.handleRegister))
	s.sip.OnNoRoute(s.handle(s.handleOther))
	return s, nil
}

// Start binds UDP and TCP on Options.Listen and serves in the background
// until Close. With port 0 it binds UDP first and TCP on the same port
// number when that port is free for TCP, else on another free port (see
// UDPAddr and TCPAddr). ctx bounds the start only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case stateStarted:
		s.mu.Unlock()
		return errors.New("signaling: already started")
	case stateClosed:
		s.mu.Unlock()
		return ErrServerClosed
	}
	udpConn, tcpLn, err := bind(ctx, s.opts.Listen)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	host, port, err := sip.ParseAddr(udpConn.LocalAddr().String())
	if err != nil {
		s.mu.Unlock()
		return errors.Join(fmt.Errorf("signaling: udp address: %w", err), udpConn.Close(), tcpLn.Close())
	}
	ready := &readyPacketConn{PacketConn: udpConn, ready: make(chan struct{})}
	s.udpConn, s.tcpLn = udpConn, tcpLn
	s.udpAddr = udpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.tcpAddr = tcpLn.Addr().(*net.TCPAddr).AddrPort()
	s.udpLaddr = sip.Addr{IP: net.ParseIP(host), Port: port, Hostname: host}
	s.state = stateStarted
	s.mu.Unlock()

	s.wg.Go(func() {
		if err := s.sip.ServeUDP(ready); err != nil && !s.closing() {
			s.log.Error("sip udp listener stopped", slog.Any("err", err))
		}
	})
	s.wg.Go(func() {
		if err := s.sip.ServeTCP(tcpLn); !s.closing() {
			s.log.Error("sip tcp listener stopped", slog.Any("err", err))
		}
	})
	if sw, ok := s.registry.(sweeper); ok {
		s.wg.Go(func() { s.sweepLoop(sw) })
	}
	// sipgo adds the UDP listener to its connection pool just before its
	// first read; requests sent before that would open a second socket.
	select {
	case <-ready.ready:
	case <-ctx.Done():
		return errors.Join(ctx.Err(), s.Close())
	}
	s.log.Info("sip listening", slog.String("udp", s.udpAddr.String()), slog.String("tcp", s.tcpAddr.String()))
	return nil
}

// readyPacketConn signals when sipgo starts reading, which is after it
// registered the listener in its connection pool.
type readyPacketConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *readyPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// bind listens on UDP and TCP at addr, on the same port when it is 0 if
// possible.
func bind(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("signaling: listen %q: %w", addr, err)
	}
	listenBoth := func(udpAddr, tcpAddrPort func(udpPort int) string) (net.PacketConn, net.Listener, error) {
		u, err := lc.ListenPacket(ctx, "udp", udpAddr(0))
		if err != nil {
			return nil, nil, fmt.Errorf("signaling: listen udp: %w", err)
		}
		t, err := lc.Listen(ctx, "tcp", tcpAddrPort(u.LocalAddr().(*net.UDPAddr).Port))
		if err != nil {
			_ = u.Close()
			return nil, nil, fmt.Errorf("signaling: listen tcp: %w", err)
		}
		return u, t, nil
	}
	if port != "0" {
		return listenBoth(func(int) string { return addr }, func(int) string { return addr })
	}
	for range 8 {
		u, t, err := listenBoth(
			func(int) string { return net.JoinHostPort(host, "0") },
			func(p int) string { return net.JoinHostPort(host, strconv.Itoa(p)) })
		if err == nil {
			return u, t, nil
		}
	}
	return listenBoth(
		func(int) string { return net.JoinHostPort(host, "0") },
		func(int) string { return net.JoinHostPort(host, "0") })
}

// UDPAddr is the bound UDP address (valid after Start).
func (s *Server) UDPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr
}

// TCPAddr is the bound TCP address (valid after Start).
func (s *Server) TCPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// SetDraining makes new INVITEs and out-of-dialog OPTIONS get 503 Service
// Unavailable with Retry-After (true) or be accepted again (false). Calls
// in progress and Dial are not affected.
func (s *Server) SetDraining(on bool) {
	s.mu.Lock()
	s.draining = on
	s.mu.Unlock()
}

// ActiveCalls returns the number of calls in progress (both directions).
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// Close ends every call (BYE for answered calls, CANCEL for outbound
// attempts, 503 for inbound calls not yet answered, within a few seconds),
// then stops listening. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil
	}
	started := s.state == stateStarted
	s.state = stateClosed
	calls := make([]*dialog, 0, len(s.calls))
	for d := range s.calls {
		calls = append(calls, d)
	}
	s.mu.Unlock()

	if started && len(calls) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		var wg sync.WaitGroup
		for _, d := range calls {
			wg.Go(func() {
				if d.owner != nil {
					d.owner.terminate(ctx, EndShutdown)
				}
				d.finish(EndShutdown, 0, ErrServerClosed)
			})
		}
		wg.Wait()
		cancel()
	}
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	s.cancel()
	var errs []error
	if started {
		if err := s.udpConn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("signaling: close udp: %w", err))
		}
		if err := s.tcpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("signaling: close tcp: %w", err))
		}
	}
	if err := s.ua.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("signaling: close sip stack: %w", err))
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// goBackground runs f on a tracked goroutine with the server context; after
// Close it does nothing.
func (s *Server) goBackground(f func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return
	}
	s.wg.Go(func() { f(s.ctx) })
}

// track adds a new call; it fails when the server is closed.
func (s *Server) track(d *dialog) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateStarted {
		if s.state == stateNew {
			return ErrNotStarted
		}
		return ErrServerClosed
	}
	s.calls[d] = struct{}{}
	s.metrics.active.WithLabelValues(direction(d)).Inc()
	return nil
}

// admit tracks a new inbound call unless the server is closed, draining
// or at MaxCalls; it returns the refusal outcome and whether a
// Retry-After applies.
func (s *Server) admit(d *dialog, internal bool) (outcome string, retryAfter bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state != stateStarted:
		return inOverloaded, false
	case s.draining && !internal:
		return inOverloaded, true
	case s.opts.MaxCalls > 0 && len(s.calls) >= s.opts.MaxCalls:
		return inOverloaded, true
	}
	s.calls[d] = struct{}{}
	s.metrics.active.WithLabelValues(direction(d)).Inc()
	return "", false
}

// register makes d reachable by in-dialog requests.
func (s *Server) register(d *dialog, k dialogKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.calls[d]; !ok {
		return // already ended
	}
	s.dialogs[k] = d
	d.regKey = &k
}

// forget removes an ended dialog.
func (s *Server) forget(d *dialog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.regKey != nil {
		delete(s.dialogs, *d.regKey)
		d.regKey = nil
	}
	if _, ok := s.calls[d]; ok {
		delete(s.calls, d)
		s.metrics.active.WithLabelValues(direction(d)).Dec()
	}
}

func direction(d *dialog) string {
	if d.outbound {
		return "outbound"
	}
	return "inbound"
}

// lookup finds the dialog of an in-dialog request: ours is the To tag.
func (s *Server) lookup(req *sip.Request) *dialog {
	callID, from, to := req.CallID(), req.From(), req.To()
	if callID == nil || from == nil || to == nil {
		return nil
	}
	toTag, _ := to.Params.Get("tag")
	fromTag, _ := from.Params.Get("tag")
	if toTag == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[dialogKey{callID: callID.Value(), localTag: toTag, remoteTag: fromTag}]
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	return tag != ""
}

// handle wraps a request handler with the request metric and panic
// recovery: a bug in one request never takes the server down.
func (s *Server) handle(h func(req *sip.Request, tx sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.metrics.request(string(req.Method))
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("sip request handler panicked", slog.String("method", string(req.Method)),
					slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
				if !req.IsAck() {
					s.respond(tx, req, 500, "Server Internal Error")
				}
			}
		}()
		h(req, tx)
	}
}

// respond sends a response built from req, logging a failure.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.opts.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip response not sent", slog.Int("code", code), slog.String("method", string(req.Method)), slog.Any("err", err))
	}
}

// sdpResponse is a 200 OK carrying an SDP body.
func (s *Server) sdpResponse(req *sip.Request, sdp []byte, contact *sip.ContactHeader) *sip.Response {
	res := sip.NewResponseFromRequest(req, 200, "OK", sdp)
	res.AppendHeader(contact)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Server", s.opts.UserAgent))
	ct := sip.ContentTypeHeader("application/sdp")
	res.AppendHeader(&ct)
	return res
}

// onStrayResponse sees responses matching no transaction (late
// retransmissions).
func (s *Server) onStrayResponse(res *sip.Response) {
	s.log.Debug("sip stray response", slog.Int("code", res.StatusCode))
}

func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if hasToTag(req) {
		d := s.lookup(req)
		if d == nil {
			s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
			return
		}
		d.onOffer(req, tx)
		return
	}
	s.handleInitialInvite(req, tx)
}

func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	if d := s.lookup(req); d != nil {
		d.onAck(req)
	}
}

func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	d := s.lookup(req)
	if d == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	d.onBye(req, tx)
}

// handleCancel sees only CANCELs that matched no INVITE transaction (sipgo
// answers matching ones and terminates the INVITE with 487).
func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	if hasToTag(req) && s.lookup(req) == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	// A draining node fails out-of-dialog OPTIONS, so that load balancers
	// probing with them (Kamailio's dispatcher) stop sending it calls.
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining && !hasToTag(req) {
		s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(defaultRetryAfter503)))
		return
	}
	s.respond(tx, req, 200, "OK",
		sip.NewHeader("Allow", s.allow()),
		sip.NewHeader("Accept", acceptBodies),
		sip.NewHeader("Accept-Encoding", "identity"),
		sip.NewHeader("Accept-Language", "en"))
}

func (s *Server) allow() string {
	if s.opts.Users != nil {
		return allowMethods + ", REGISTER"
	}
	return allowMethods
}

func (s *Server) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	d := s.lookup(req)
	if d == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	d.onInfo(req, tx)
}

func (s *Server) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	d := s.lookup(req)
	if d == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	d.onOffer(req, tx)
}

// handleOther answers methods we do not implement: 501 inside a dialog,
// 481 for an unknown dialog, 405 with Allow outside dialogs.
func (s *Server) handleOther(req *sip.Request, tx sip.ServerTransaction) {
	switch {
	case !hasToTag(req):
		s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", s.allow()))
	case s.lookup(req) != nil:
		s.respond(tx, req, 501, "Not Implemented", sip.NewHeader("Allow", s.allow()))
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
}

// aclAllows reports whether an INVITE from addr is accepted.
func (s *Server) aclAllows(addr netip.Addr) bool {
	if len(s.opts.TrunkACL) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range s.opts.TrunkACL {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// prepare is the sipgo request option for everything we send: our Via
// (with rport, RFC 3581) and, for UDP, the listening socket as source so
// that replies and NAT bindings use the advertised port.
func (s *Server) prepare(_ *sipgo.Client, req *sip.Request) error {
	if req.Via() == nil {
		req.PrependHeader(s.newVia(req.Transport()))
	}
	if req.Transport() == "UDP" {
		s.mu.Lock()
		s.udpLaddr.Copy(&req.Laddr)
		s.mu.Unlock()
	}
	return nil
}

func (s *Server) newVia(transport string) *sip.ViaHeader {
	params := sip.NewParams()
	params.Add("branch", sip.GenerateBranchN(16))
	params.Add("rport", "")
	return &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       transport,
		Host:            uriHost(s.opts.PublicHost),
		Port:            s.listenPort(transport),
		Params:          params,
	}
}

// listenPort is our port for a transport; 0 (filled by sipgo from the
// connection) for TLS, on which we do not listen.
func (s *Server) listenPort(transport string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch transport {
	case "UDP":
		return int(s.udpAddr.Port())
	case "TCP":
		return int(s.tcpAddr.Port())
	}
	return 0
}

// contactFor is our Contact for dialogs over transport (UDP or TCP).
func (s *Server) contactFor(transport string, port int) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", Host: uriHost(s.opts.PublicHost), Port: port}
	if transport != "UDP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", sip.NetworkToLower(transport))
	}
	return &sip.ContactHeader{Address: u}
}

// do sends a non-INVITE request and waits for its final response.
func (s *Server) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := s.client.TransactionRequest(ctx, req, s.prepare)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, sip.ErrTransactionTerminated
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// uriHost brackets an IPv6 literal for use in a SIP URI or Via.
func uriHost(h string) string {
	if ip, err := netip.ParseAddr(h); err == nil && ip.Is6() && !ip.Is4In6() {
		return "[" + h + "]"
	}
	return h
}

// randomToken returns n random bytes, hex encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// randRead fills b from crypto/rand.
func randRead(b []byte) (int, error) { return rand.Read(b) }
