package phone

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const (
	loopback        = "127.0.0.1"
	incomingBuffer  = 64
	cleanupTimeout  = 2 * time.Second
	readyTimeout    = 5 * time.Second
	defaultUser     = "phone"
	defaultReject   = 486
	allowMethods    = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
	userAgentHeader = "callcore-test-phone"
)

// Options configure a Phone. The zero value is a UDP phone named "phone"
// that prefers PCMU, sends DTMF as RFC 4733 events and leaves incoming calls
// to the test (AnswerManual).
type Options struct {
	// User is the user part of the phone's URI and Contact. Default "phone".
	User string
	// Codec is the preferred codec, listed first in this phone's offers.
	// As answerer the phone takes the first codec of the offer that it
	// allows (the offerer's preference wins, RFC 3264 §6.1). Default PCMU.
	Codec Codec
	// OnlyCodec restricts offers and answers to Codec; an offer without it
	// is refused with 488.
	OnlyCodec bool
	// Transport is "udp" (default) or "tcp".
	Transport string
	// DTMFMode is how Call.SendDTMF sends digits. Default RFC 4733.
	DTMFMode DTMFMode
	// Answer is what the phone does with incoming calls by itself.
	Answer AnswerMode
	// AnswerDelay is how long AnswerAuto and AnswerReject ring first.
	AnswerDelay time.Duration
	// RejectCode is the final status of AnswerReject. Default 486.
	RejectCode int
	// NoRinging stops AnswerAuto and AnswerReject from sending 180 Ringing.
	NoRinging bool
	// Logger receives the phone's and the SIP stack's logs. Default: t.Log
	// at Info level.
	Logger *slog.Logger
}

// Phone is a SIP user agent with its own RTP, for end-to-end tests. It is
// safe for concurrent use.
type Phone struct {
	t         testing.TB
	opts      Options
	log       *slog.Logger
	logw      *testLogWriter
	codecs    []Codec
	transport string // "UDP" or "TCP"
	addr      netip.AddrPort

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	dua     *sipgo.DialogUA
	contact sip.ContactHeader
	closeLn func() error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	incoming chan *Incoming

	mu    sync.Mutex
	calls map[string]*Call

	regMu     sync.Mutex
	regCallID string
	regCSeq   uint32
}

// New starts a phone listening on 127.0.0.1 on a free port. It must be
// called from the test goroutine; it fails the test if the phone cannot
// start. t.Cleanup hangs up its calls and stops it.
func New(t testing.TB, opts Options) *Phone {
	t.Helper()
	p, err := newPhone(t, opts)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	t.Cleanup(p.close)
	return p
}

func newPhone(t testing.TB, opts Options) (*Phone, error) {
	if opts.User == "" {
		opts.User = defaultUser
	}
	if opts.RejectCode == 0 {
		opts.RejectCode = defaultReject
	}
	if opts.RejectCode < 300 || opts.RejectCode > 699 {
		return nil, fmt.Errorf("reject code %d is not a final error status", opts.RejectCode)
	}
	if opts.AnswerDelay < 0 {
		return nil, fmt.Errorf("negative answer delay %s", opts.AnswerDelay)
	}
	switch opts.Codec {
	case CodecDefault:
		opts.Codec = PCMU
	case PCMU, PCMA:
	default:
		return nil, fmt.Errorf("unknown codec %d", int(opts.Codec))
	}
	switch opts.DTMFMode {
	case DTMFDefault:
		opts.DTMFMode = DTMFRFC4733
	case DTMFRFC4733, DTMFInfo, DTMFInfoPlain, DTMFInBand:
	default:
		return nil, fmt.Errorf("unknown DTMF mode %d", int(opts.DTMFMode))
	}
	switch opts.Answer {
	case AnswerManual, AnswerAuto, AnswerReject, AnswerNever:
	default:
		return nil, fmt.Errorf("unknown answer mode %d", int(opts.Answer))
	}
	transport := strings.ToUpper(opts.Transport)
	switch transport {
	case "":
		transport = "UDP"
	case "UDP", "TCP":
	default:
		return nil, fmt.Errorf("unsupported transport %q", opts.Transport)
	}

	p := &Phone{
		t:         t,
		opts:      opts,
		transport: transport,
		incoming:  make(chan *Incoming, incomingBuffer),
		calls:     make(map[string]*Call),
		codecs:    []Codec{opts.Codec},
	}
	if !opts.OnlyCodec {
		p.codecs = append(p.codecs, opts.Codec.other())
	}
	p.log = opts.Logger
	if p.log == nil {
		p.log, p.logw = newTestLogger(t, slog.LevelInfo)
	}
	p.log = p.log.With("phone", opts.User)
	p.ctx, p.cancel = context.WithCancel(context.Background())

	if err := p.listen(); err != nil {
		p.cancel()
		return nil, err
	}
	return p, nil
}

// readyPacketConn reports when the SIP transport first reads from it: by
// then sipgo has put the socket into its connection pool, so requests the
// client sends go out from the listening port.
type readyPacketConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

// ReadFrom implements net.PacketConn.
func (c *readyPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

func (p *Phone) listen() error {
	stackLog := p.log.With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(userAgentHeader),
		sipgo.WithUserAgentHostname(loopback),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(stackLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(stackLog),
			// Retransmitted 2xx of a finished transaction end up here.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				stackLog.Debug("unmatched sip response", "call_id", callIDOf(r), "status", r.StatusCode)
			}),
		),
	)
	if err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(stackLog))
	if err != nil {
		_ = ua.Close() // nothing was started yet
		return fmt.Errorf("sip server: %w", err)
	}
	p.ua, p.srv = ua, srv

	var (
		serve     func() error
		clientOpt []sipgo.ClientOption
		ready     chan struct{}
	)
	switch p.transport {
	case "UDP":
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("listen udp: %w", err)
		}
		p.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // a UDPConn's address is a UDPAddr
		rc := &readyPacketConn{PacketConn: conn, ready: make(chan struct{})}
		ready = rc.ready
		serve = func() error { return srv.ServeUDP(rc) }
		p.closeLn = conn.Close
		clientOpt = append(clientOpt, sipgo.WithClientConnectionAddr(p.addr.String()))
	case "TCP":
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("listen tcp: %w", err)
		}
		p.addr = ln.Addr().(*net.TCPAddr).AddrPort() //nolint:forcetypeassert // a TCPListener's address is a TCPAddr
		serve = func() error { return srv.ServeTCP(ln) }
		p.closeLn = ln.Close
	}
	clientOpt = append(clientOpt, sipgo.WithClientHostname(loopback), sipgo.WithClientLogger(stackLog))
	cli, err := sipgo.NewClient(ua, clientOpt...)
	if err != nil {
		_ = p.closeLn()
		_ = ua.Close()
		return fmt.Errorf("sip client: %w", err)
	}
	p.cli = cli

	p.contact = sip.ContactHeader{Address: sip.Uri{
		Scheme: "sip", User: p.opts.User, Host: loopback, Port: int(p.addr.Port()),
		UriParams: sip.NewParams(), Headers: sip.NewParams(),
	}}
	if p.transport == "TCP" {
		p.contact.Address.UriParams.Add("transport", "tcp")
	}
	p.dua = &sipgo.DialogUA{Client: cli, ContactHDR: p.contact}

	srv.OnInvite(p.onInvite)
	srv.OnAck(p.onAck)
	srv.OnBye(p.onBye)
	srv.OnCancel(p.onStrayCancel)
	srv.OnInfo(p.onInfo)
	srv.OnUpdate(p.onUpdate)
	srv.OnOptions(p.onOptions)

	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.log.Warn("sip transport stopped", "err", err)
		}
	}()
	if ready != nil {
		select {
		case <-ready:
		case <-time.After(readyTimeout):
			p.shutdownStack()
			return errors.New("sip transport did not start")
		}
	}
	p.log.Info("phone started", "addr", p.addr.String(), "transport", p.transport)
	return nil
}

// Addr returns the SIP listening address, host:port.
func (p *Phone) Addr() string { return p.addr.String() }

// URI returns the phone's SIP URI, e.g. sip:alice@127.0.0.1:5062 (with
// ;transport=tcp for a TCP phone).
func (p *Phone) URI() string { return p.contact.Address.String() }

// User returns the configured user name.
func (p *Phone) User() string { return p.opts.User }

// Incoming returns the channel on which every incoming call (INVITE outside
// a dialog) is delivered, in every answer mode. It holds the latest 64 calls
// not yet received; older ones are dropped with a warning.
func (p *Phone) Incoming() <-chan *Incoming { return p.incoming }

// NextIncoming waits for the next incoming call.
func (p *Phone) NextIncoming(ctx context.Context) (*Incoming, error) {
	select {
	case inc := <-p.incoming:
		return inc, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for an incoming call: %w", ctx.Err())
	}
}

// NextCall waits for the next incoming call and then for it to be answered
// (by AnswerAuto or by another goroutine calling Incoming.Answer).
func (p *Phone) NextCall(ctx context.Context) (*Call, error) {
	inc, err := p.NextIncoming(ctx)
	if err != nil {
		return nil, err
	}
	return inc.Call(ctx)
}

// ActiveCalls returns the number of calls not yet ended (ringing included).
func (p *Phone) ActiveCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func dialogKey(callID, localTag string) string { return callID + "\x00" + localTag }

func (p *Phone) addCall(c *Call) {
	p.mu.Lock()
	p.calls[c.key] = c
	p.mu.Unlock()
}

func (p *Phone) removeCall(c *Call) {
	p.mu.Lock()
	if p.calls[c.key] == c {
		delete(p.calls, c.key)
	}
	p.mu.Unlock()
}

// lookup finds the call of an in-dialog request: its To tag is our tag.
func (p *Phone) lookup(req *sip.Request) *Call {
	cid, to := req.CallID(), req.To()
	if cid == nil || to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	if tag == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[dialogKey(cid.Value(), tag)]
}

func (p *Phone) respond(req *sip.Request, tx sip.ServerTransaction, code int, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		p.log.Warn("sip response failed", "call_id", callIDOf(req), "method", req.Method.String(), "code", code, "err", err)
	}
}

func callIDOf(m interface{ CallID() *sip.CallIDHeader }) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.log.Debug("ack outside a known dialog", "call_id", callIDOf(req))
		return
	}
	c.onAck(req, tx)
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists)
		return
	}
	c.onBye(req, tx)
}

func (p *Phone) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matches a pending INVITE is answered by the transaction
	// layer; this one matched nothing (RFC 3261 §9.2).
	p.respond(req, tx, sip.StatusCallTransactionDoesNotExists)
}

func (p *Phone) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists)
		return
	}
	c.onInfo(req, tx)
}

func (p *Phone) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists)
		return
	}
	c.onOffer(req, tx)
}

func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	p.respond(req, tx, sip.StatusOK,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"))
}

// Register sends REGISTER for user to registrar ("host:port" or a SIP URI)
// with this phone's Contact, answering a 401/407 challenge with digest
// credentials (RFC 3261 §10, §22). expires 0 unregisters. A final non-2xx
// status is returned as *StatusError.
func (p *Phone) Register(ctx context.Context, registrar, user, password string, expires time.Duration) error {
	if expires < 0 {
		return fmt.Errorf("register: negative expiry %s", expires)
	}
	var reg sip.Uri
	if err := sip.ParseUri(sipURI(registrar), &reg); err != nil {
		return fmt.Errorf("register: registrar %q: %w", registrar, err)
	}
	reg.User = ""
	aor := sip.Uri{Scheme: "sip", User: user, Host: reg.Host}

	p.regMu.Lock()
	defer p.regMu.Unlock()
	if p.regCallID == "" {
		p.regCallID = randomToken(12)
		p.regCSeq = randomUint32() & 0xFFFF
	}
	p.regCSeq++

	req := sip.NewRequest(sip.REGISTER, reg)
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	cid := sip.CallIDHeader(p.regCallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.regCSeq, MethodName: sip.REGISTER})
	contact := p.contact.Clone()
	contact.Address.User = user
	req.AppendHeader(contact)
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", userAgentHeader))
	if p.transport == "TCP" {
		req.SetTransport("TCP")
	}

	res, err := p.cli.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
		if err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}
	if cs := req.CSeq(); cs != nil {
		p.regCSeq = cs.SeqNo
	}
	if !res.IsSuccess() {
		return fmt.Errorf("register %s: %w", user, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	p.log.Info("registered", "user", user, "expires", expires)
	return nil
}

// sipURI adds the sip: scheme to a bare host:port or user@host.
func sipURI(s string) string {
	if strings.HasPrefix(s, "sip:") || strings.HasPrefix(s, "sips:") {
		return s
	}
	return "sip:" + s
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return binary.BigEndian.Uint32(b[:])
}

// close is the test cleanup: hang up answered calls, drop pending ones,
// stop the SIP stack and stop logging to t.
func (p *Phone) close() {
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range calls {
		if !c.answering.Load() {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			if err := c.Hangup(ctx); err != nil && !errors.Is(err, ErrCallEnded) {
				p.log.Debug("hangup at cleanup failed", "call_id", c.callID, "err", err)
			}
		})
	}
	wg.Wait()
	p.cancel() // pending INVITE handlers give up
	for _, c := range calls {
		c.end(EndError)
	}
	p.shutdownStack()
	if p.logw != nil {
		p.logw.close()
	}
}

func (p *Phone) shutdownStack() {
	p.cancel()
	if err := p.closeLn(); err != nil && !errors.Is(err, net.ErrClosed) {
		p.log.Debug("closing listener", "err", err)
	}
	if err := p.ua.Close(); err != nil {
		p.log.Debug("closing sip stack", "err", err)
	}
	p.wg.Wait()
}

// reasonPhrase returns the RFC 3261 §21 reason phrase of code.
func reasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 415:
		return "Unsupported Media Type"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	return "Status " + strconv.Itoa(code)
}
