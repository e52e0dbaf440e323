package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/callcore/callcore/events"
)

// cancelWait bounds how long a CANCELed fork may take to send its final
// response before we give up on it (RFC 3261 §9.1: 64*T1).
const cancelWait = 64 * timerT1

// TargetKind is the kind of a dial destination.
type TargetKind int

// Target kinds.
const (
	// TargetUnknown is the zero value, refused by Dial.
	TargetUnknown TargetKind = iota
	// TargetNumber: a phone number, sent to the gateway as
	// sip:+E164@gateway-host[:port] with the gateway's transport and
	// credentials.
	TargetNumber
	// TargetSIP: a SIP URI "user@host[:port]" (connectSip), sent directly
	// with Target.Transport.
	TargetSIP
	// TargetUser: an in-app username, sent to every contact it registered
	// (parallel forking, first answer wins).
	TargetUser
)

// Target is where a Dial goes.
type Target struct {
	Kind TargetKind
	// Value is the E.164 number (with or without +), the SIP URI
	// "user@host[:port]" (with or without sip:; sips: requires tls) or the
	// username.
	Value string
	// Transport for TargetSIP: udp, tcp or tls in any case; "" is udp. tls
	// is TLS over TCP with certificate verification (Options.TLSConfig,
	// TLSInsecureSkipVerify); a transport is never downgraded.
	Transport string
}

// DialRequest describes an outbound call.
type DialRequest struct {
	To Target
	// CLI is the caller id: an E.164 number (From user +E164), "private"
	// or "" (anonymous From and Privacy: id, RFC 3323), or another SIP user
	// part used as is.
	CLI string
	// Headers are added to the INVITE unchanged, in order, without any
	// prefixing (Sinch callHeaders; for connectSip they are the private
	// SIP headers). Names must be tokens; the headers the SIP layer builds
	// (Via, From, To, Call-ID, CSeq, Contact, Route, Content-*,
	// Max-Forwards, Authorization, Privacy, Require, Expires) are refused.
	Headers []Header
	// SDP is the offer. Required.
	SDP []byte
	// DialTimeout is the ringing timeout, from Dial to answer; then the
	// INVITE is CANCELed and the dial fails NOANSWER/TIMEOUT. Zero means
	// Options.DefaultDialTimeout.
	DialTimeout time.Duration
	// TraceID names the call's messages for Options.Trace (the call
	// core's call id); "" traces nothing.
	TraceID string
}

// Progress is a provisional response: 180 Ringing or 183 Session Progress,
// with the early SDP if any.
type Progress struct {
	Code   int
	Reason string
	SDP    []byte
}

// Outbound is a call placed by Dial. Its methods are safe for concurrent
// use.
type Outbound struct {
	*dialog

	progress chan Progress
	result   chan struct{} // closed once answered or failed
	answer   []byte        // set before result closes
	err      error         // *DialError, set before result closes

	cancelOnce  sync.Once
	cancelCh    chan struct{}
	cancelCause EndCause // written before cancelCh closes

	// Run-loop state: only the run goroutine touches these after Dial.
	branches []*branch
	resCh    chan branchMsg
	stop     chan struct{}
	decided  bool
}

// branch is one INVITE of a dial: one per target (several for a username
// registered from several devices).
type branch struct {
	target      dialTarget
	req         *sip.Request
	tx          sip.ClientTransaction
	contact     *sip.ContactHeader
	cseq        uint32
	provisional bool
	cancelLater bool // CANCEL once a provisional response arrives
	final       bool
	authTried   bool
	code        int // final code or Code* condition
	err         error
}

type branchMsg struct {
	b   *branch
	tx  sip.ClientTransaction
	res *sip.Response
	err error
}

// dialTarget is one resolved destination.
type dialTarget struct {
	ruri      sip.Uri
	transport string // UDP, TCP or TLS
	dest      string // host:port to send to instead of resolving ruri ("" = resolve)
	username  string
	password  string
}

// Dial places an outbound call and returns once the INVITE is sent; follow
// it with Progress and WaitAnswer. ctx bounds only the sending (DNS,
// connection setup). Validation failures wrap ErrInvalidDial; a username
// without contacts and an INVITE that cannot be sent are *DialError
// (USERNOTFOUND, CLIENTNETWORK).
func (s *Server) Dial(ctx context.Context, r DialRequest) (*Outbound, error) {
	if len(r.SDP) == 0 {
		return nil, fmt.Errorf("%w: SDP offer required", ErrInvalidDial)
	}
	if r.DialTimeout < 0 {
		return nil, fmt.Errorf("%w: negative dial timeout", ErrInvalidDial)
	}
	if err := validateHeaders(r.Headers); err != nil {
		return nil, err
	}
	from, anonymous, err := s.fromHeader(r.CLI)
	if err != nil {
		return nil, err
	}
	targets, toURI, err := s.resolve(ctx, r.To)
	if err != nil {
		var de *DialError
		if errors.As(err, &de) {
			s.metrics.dialResult(de.Result)
		}
		return nil, err
	}
	callID := randomToken(16)
	tag, _ := from.Params.Get("tag")
	d := newDialog(s, true, callID, tag)
	d.SetTraceID(r.TraceID)
	d.localHdr = from
	o := &Outbound{
		dialog:   d,
		progress: make(chan Progress, 8),
		result:   make(chan struct{}),
		cancelCh: make(chan struct{}),
		resCh:    make(chan branchMsg),
		stop:     make(chan struct{}),
	}
	d.owner = o
	if err := s.track(d); err != nil {
		return nil, err
	}
	timeout := r.DialTimeout
	if timeout == 0 {
		timeout = s.opts.DefaultDialTimeout
	}
	var errs []error
	for _, t := range targets {
		b := &branch{target: t}
		if err := o.startBranch(ctx, b, r, toURI, anonymous); err != nil {
			errs = append(errs, err)
			continue
		}
		o.branches = append(o.branches, b)
	}
	if len(o.branches) == 0 {
		err := errors.Join(errs...)
		d.finish(EndTransportError, CodeTransportError, err)
		s.metrics.dialResult(events.ResultFailed)
		return nil, newDialError(CodeTransportError, err)
	}
	d.log().Info("sip outbound call", slog.String("kind", r.To.Kind.String()),
		slog.String("transport", o.branches[0].target.transport), slog.Int("forks", len(o.branches)))
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		for _, b := range o.branches {
			b.tx.Terminate()
		}
		d.finish(EndShutdown, 0, ErrServerClosed)
		return nil, ErrServerClosed
	}
	for _, b := range o.branches {
		go o.read(b, b.tx)
	}
	s.wg.Go(func() { o.run(timeout) })
	return o, nil
}

func (k TargetKind) String() string {
	switch k {
	case TargetNumber:
		return "number"
	case TargetSIP:
		return "sip"
	case TargetUser:
		return "user"
	}
	return "unknown"
}

// resolve turns a Target into the INVITEs to send and the To URI.
func (s *Server) resolve(ctx context.Context, t Target) ([]dialTarget, sip.Uri, error) {
	switch t.Kind {
	case TargetNumber:
		user, ok := e164User(t.Value)
		if !ok {
			return nil, sip.Uri{}, fmt.Errorf("%w: number %q is not E.164", ErrInvalidDial, truncate(t.Value))
		}
		if s.gw == nil {
			return nil, sip.Uri{}, ErrNoGateway
		}
		ruri := sip.Uri{Scheme: "sip", User: user, Host: s.gw.host, Port: s.gw.port}
		setTransportParam(&ruri, s.gw.transport)
		return []dialTarget{{ruri: ruri, transport: s.gw.transport, username: s.gw.username, password: s.gw.password}},
			sip.Uri{Scheme: "sip", User: user, Host: s.gw.host}, nil
	case TargetSIP:
		ruri, secure, err := parseSIPTarget(t.Value)
		if err != nil {
			return nil, sip.Uri{}, err
		}
		tp := t.Transport
		if tp == "" && secure {
			tp = "tls"
		}
		transport, err := parseTransport(tp)
		if err != nil {
			return nil, sip.Uri{}, err
		}
		if secure && transport != "TLS" {
			return nil, sip.Uri{}, fmt.Errorf("%w: sips destination needs transport tls", ErrInvalidDial)
		}
		to := sip.Uri{Scheme: "sip", User: ruri.User, Host: ruri.Host}
		setTransportParam(&ruri, transport)
		return []dialTarget{{ruri: ruri, transport: transport}}, to, nil
	case TargetUser:
		if !isUserPart(t.Value) {
			return nil, sip.Uri{}, fmt.Errorf("%w: username %q", ErrInvalidDial, truncate(t.Value))
		}
		contacts, err := s.registry.Get(ctx, t.Value)
		if err != nil {
			return nil, sip.Uri{}, fmt.Errorf("signaling: registry: %w", err)
		}
		var out []dialTarget
		for _, c := range contacts {
			var u sip.Uri
			if err := sip.ParseUri(c.URI, &u); err != nil {
				s.log.Warn("sip registered contact unusable", slog.Any("err", err))
				continue
			}
			transport, err := parseTransport(c.Transport)
			if err != nil {
				continue
			}
			out = append(out, dialTarget{ruri: u, transport: transport, dest: c.Source})
		}
		if len(out) == 0 {
			return nil, sip.Uri{}, newDialError(CodeUserNotFound, ErrUserNotFound)
		}
		return out, sip.Uri{Scheme: "sip", User: t.Value, Host: uriHost(s.opts.Realm)}, nil
	}
	return nil, sip.Uri{}, fmt.Errorf("%w: target kind %d", ErrInvalidDial, int(t.Kind))
}

func setTransportParam(u *sip.Uri, transport string) {
	if transport == "UDP" {
		return
	}
	if u.UriParams == nil {
		u.UriParams = sip.NewParams()
	}
	u.UriParams.Add("transport", sip.NetworkToLower(transport))
}

// startBranch builds and sends one INVITE.
func (o *Outbound) startBranch(ctx context.Context, b *branch, r DialRequest, toURI sip.Uri, anonymous bool) error {
	s := o.srv
	t := b.target
	req := sip.NewRequest(sip.INVITE, *t.ruri.Clone())
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.HeaderClone(o.localHdr))
	req.AppendHeader(&sip.ToHeader{Address: *toURI.Clone()})
	callID := sip.CallIDHeader(o.callID)
	req.AppendHeader(&callID)
	b.cseq = 1
	req.AppendHeader(&sip.CSeqHeader{SeqNo: b.cseq, MethodName: sip.INVITE})
	req.AppendHeader(sip.NewHeader("User-Agent", s.opts.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if anonymous {
		req.AppendHeader(sip.NewHeader("Privacy", "id"))
	}
	for _, h := range r.Headers {
		req.AppendHeader(sip.NewHeader(h.Key, h.Value))
	}
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(r.SDP)
	req.SetTransport(t.transport)
	if t.dest != "" {
		req.SetDestination(t.dest)
	}

	port := s.listenPort(t.transport)
	if t.transport == "TLS" {
		// We do not listen on TLS: the peer reaches us over this
		// connection, so our Via and Contact name its local port.
		req.PrependHeader(s.newVia("TLS"))
		conn, err := s.ua.TransportLayer().ClientRequestConnection(ctx, req)
		if err != nil {
			return fmt.Errorf("signaling: tls connection: %w", err)
		}
		_, p, err := net.SplitHostPort(conn.LocalAddr().String())
		if _, cerr := conn.TryClose(); cerr != nil {
			o.log().Debug("sip tls connection release", slog.Any("err", cerr))
		}
		if err != nil {
			return fmt.Errorf("signaling: tls local address: %w", err)
		}
		_, _ = fmt.Sscan(p, &port)
	}
	b.contact = s.contactFor(t.transport, port)
	req.AppendHeader(b.contact.Clone())
	b.req = req
	tx, err := s.client.TransactionRequest(ctx, req, s.prepare)
	if err != nil {
		return fmt.Errorf("signaling: INVITE not sent: %w", err)
	}
	o.traceMsg(true, req)
	b.tx = tx
	return nil
}

// read forwards the responses of one branch transaction to the run loop.
func (o *Outbound) read(b *branch, tx sip.ClientTransaction) {
	for {
		select {
		case res := <-tx.Responses():
			select {
			case o.resCh <- branchMsg{b: b, tx: tx, res: res}:
			case <-o.stop:
				return
			}
		case <-tx.Done():
			select {
			case o.resCh <- branchMsg{b: b, tx: tx, err: tx.Err()}:
			case <-o.stop:
			}
			return
		case <-o.stop:
			return
		}
	}
}

// run drives the dial: responses of every branch, ring timeout, Cancel,
// and the cleanup of CANCELed forks, until every branch has ended.
func (o *Outbound) run(ringTimeout time.Duration) {
	defer close(o.stop)
	defer func() {
		if r := recover(); r != nil {
			o.log().Error("sip dial loop panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			for _, b := range o.branches {
				b.tx.Terminate()
			}
			if !o.decided {
				o.stopAll(EndTransportError)
			}
		}
	}()
	ring := time.NewTimer(ringTimeout)
	defer ring.Stop()
	var giveUp <-chan time.Time
	cancelCh := o.cancelCh
	for o.pending() > 0 {
		select {
		case m := <-o.resCh:
			if m.b.final || m.tx != m.b.tx {
				continue // stale transaction (replaced after auth) or done
			}
			if m.res == nil {
				m.b.final = true
				m.b.err = m.err
				m.b.code = CodeTransportError
				if errors.Is(m.err, sip.ErrTransactionTimeout) {
					m.b.code = CodeNoResponse
				}
				continue
			}
			o.onResponse(m.b, m.res)
		case <-ring.C:
			if o.stopAll(EndRingTimeout) {
				giveUp = time.After(cancelWait)
			}
		case <-cancelCh:
			cancelCh = nil
			if o.stopAll(o.cancelCause) {
				giveUp = time.After(cancelWait)
			}
		case <-giveUp:
			for _, b := range o.branches {
				if !b.final {
					b.final = true
					b.code = CodeLocalCancel
					b.tx.Terminate()
				}
			}
		}
	}
	if !o.decided {
		o.fail()
	}
}

func (o *Outbound) pending() int {
	n := 0
	for _, b := range o.branches {
		if !b.final {
			n++
		}
	}
	return n
}

func (o *Outbound) onResponse(b *branch, res *sip.Response) {
	o.traceMsg(false, res)
	code := res.StatusCode
	switch {
	case code < 200:
		b.provisional = true
		if b.cancelLater {
			b.cancelLater = false
			o.sendCancel(b)
		}
		if code > 100 && !o.decided {
			p := Progress{Code: code, Reason: res.Reason}
			if body, err := sdpBody(res); err == nil && len(body) > 0 {
				p.SDP = body
			}
			select {
			case o.progress <- p:
			default:
				o.log().Debug("sip progress dropped: channel full", slog.Int("code", code))
			}
		}
	case code < 300:
		b.final = true
		b.code = code
		if res.To() == nil || res.CallID() == nil {
			b.code, b.err = CodeTransportError, errors.New("signaling: 2xx without To or Call-ID")
			return
		}
		if o.decided {
			// A fork answered after another one, or after the dial was
			// abandoned: take the call and end it at once.
			o.ackAndBye(b, res)
			return
		}
		o.answered(b, res)
	case (code == 401 || code == 407) && b.target.password != "" && !b.authTried:
		b.authTried = true
		if err := o.retryAuth(b, res); err != nil {
			o.log().Warn("sip digest authentication failed", slog.Any("err", err))
			b.final, b.code, b.err = true, code, err
		}
	default:
		b.final = true
		b.code = code
	}
}

// answered establishes the dialog with branch b, ACKs and ends the others.
func (o *Outbound) answered(b *branch, res *sip.Response) {
	o.decided = true
	d := o.dialog
	remoteTag, _ := res.To().Params.Get("tag")
	d.mu.Lock()
	d.remoteTag = remoteTag
	d.remoteHdr = sip.HeaderClone(res.To()).(*sip.ToHeader)
	d.remoteTarget = *b.req.Recipient.Clone()
	if c := res.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	}
	rrs := res.GetHeaders("Record-Route")
	d.routeSet = nil
	for i := len(rrs) - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*sip.RecordRouteHeader); ok {
			d.routeSet = append(d.routeSet, *rr.Address.Clone())
		}
	}
	d.transport = b.target.transport
	d.forceDest = b.target.dest
	if d.forceDest == "" && sip.IsReliable(d.transport) {
		d.forceDest = res.Source() // keep using the connection we opened
	}
	d.contact = b.contact
	d.localSeq = b.cseq
	d.answered = true
	d.confirmed = true
	d.mu.Unlock()
	o.srv.register(d, d.key())

	ack := d.newRequest(sip.ACK)
	tmpl := ack.Clone()
	b.tx.OnRetransmission(func(r *sip.Response) {
		if r.StatusCode/100 != 2 {
			return
		}
		if tag, _ := r.To().Params.Get("tag"); tag != remoteTag {
			o.ackAndBye(b, r) // a second answer from a forking proxy
			return
		}
		if err := o.srv.client.WriteRequest(tmpl.Clone(), o.srv.prepare); err != nil {
			o.log().Debug("sip ACK retransmission not sent", slog.Any("err", err))
		}
	})
	if err := o.srv.client.WriteRequest(ack, o.srv.prepare); err != nil {
		o.log().Warn("sip ACK not sent", slog.Any("err", err))
	} else {
		o.traceMsg(true, ack)
	}
	if body, err := sdpBody(res); err == nil {
		o.answer = body
	}
	for _, other := range o.branches {
		if other != b && !other.final {
			o.stopBranch(other)
		}
	}
	o.srv.metrics.dialResult(events.ResultAnswered)
	o.log().Info("sip outbound call answered")
	close(o.result)
}

// ackAndBye takes a 2xx we do not want (late or second answer) and ends
// that dialog (RFC 3261 §13.2.2.4).
func (o *Outbound) ackAndBye(b *branch, res *sip.Response) {
	tmp := newDialog(o.srv, true, o.callID, o.localTag)
	o.traceMu.Lock()
	tmp.traceID = o.traceID
	o.traceMu.Unlock()
	tag, _ := res.To().Params.Get("tag")
	tmp.remoteTag = tag
	tmp.localHdr = o.localHdr
	tmp.remoteHdr = sip.HeaderClone(res.To()).(*sip.ToHeader)
	tmp.remoteTarget = *b.req.Recipient.Clone()
	if c := res.Contact(); c != nil {
		tmp.remoteTarget = *c.Address.Clone()
	}
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*sip.RecordRouteHeader); ok {
			tmp.routeSet = append(tmp.routeSet, *rr.Address.Clone())
		}
	}
	tmp.transport = b.target.transport
	tmp.forceDest = b.target.dest
	tmp.contact = b.contact
	tmp.localSeq = b.cseq
	tmp.confirmed = true
	tmpAck := tmp.newRequest(sip.ACK)
	if err := o.srv.client.WriteRequest(tmpAck, o.srv.prepare); err != nil {
		o.log().Debug("sip ACK of unwanted answer not sent", slog.Any("err", err))
	} else {
		tmp.traceMsg(true, tmpAck)
	}
	tmp.byeLater(EndLocalHangup)
}

// stopAll abandons the dial (ring timeout, Cancel, shutdown): the result
// is decided at once, and every fork still ringing is CANCELed. It
// reports whether a CANCEL phase started.
func (o *Outbound) stopAll(cause EndCause) bool {
	if o.decided {
		return false
	}
	o.decided = true
	code, err := CodeLocalCancel, ErrCanceled
	if cause == EndRingTimeout {
		code, err = CodeRingTimeout, ErrRingTimeout
	}
	// CANCELs go out before the result is published, so that Close, which
	// waits for the result, cannot shut the transport before they leave.
	for _, b := range o.branches {
		if !b.final {
			o.stopBranch(b)
		}
	}
	de := newDialError(code, err)
	o.err = de
	o.finish(cause, code, nil)
	o.srv.metrics.dialResult(de.Result)
	close(o.result)
	return true
}

// stopBranch CANCELs a ringing fork, or arranges to once it rings (RFC
// 3261 §9.1: no CANCEL before a provisional response).
func (o *Outbound) stopBranch(b *branch) {
	if b.provisional {
		o.sendCancel(b)
		return
	}
	b.cancelLater = true
}

// sendCancel sends CANCEL for the branch's current INVITE in the
// background (RFC 3261 §9.1).
func (o *Outbound) sendCancel(b *branch) {
	inv := b.req
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	for _, h := range inv.GetHeaders("Route") {
		req.AppendHeader(sip.HeaderClone(h))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", o.srv.opts.UserAgent))
	req.SetTransport(inv.Transport())
	if b.target.dest != "" {
		req.SetDestination(b.target.dest)
	}
	req.SetBody(nil)
	// Sent now, answered in the background.
	tx, err := o.srv.client.TransactionRequest(o.srv.ctx, req, o.srv.prepare)
	if err != nil {
		o.log().Warn("sip CANCEL not sent", slog.Any("err", err))
		return
	}
	o.traceMsg(true, req)
	o.srv.goBackground(func(ctx context.Context) {
		defer tx.Terminate()
		ctx, cancel := context.WithTimeout(ctx, cancelWait)
		defer cancel()
		for {
			select {
			case res := <-tx.Responses():
				if res.IsProvisional() {
					continue
				}
				o.traceMsg(false, res)
				if res.StatusCode != 200 {
					o.log().Debug("sip CANCEL refused", slog.Int("code", res.StatusCode))
				}
				return
			case <-tx.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	})
}

// retryAuth resends the INVITE with digest credentials (RFC 3261 §22.2),
// once per branch.
func (o *Outbound) retryAuth(b *branch, res *sip.Response) error {
	chalHdr, credHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		chalHdr, credHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(chalHdr)
	if h == nil {
		return fmt.Errorf("signaling: %d without %s", res.StatusCode, chalHdr)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return fmt.Errorf("signaling: %s: %w", chalHdr, err)
	}
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{
		Method:   string(sip.INVITE),
		URI:      b.req.Recipient.String(),
		Username: b.target.username,
		Password: b.target.password,
	})
	if err != nil {
		return fmt.Errorf("signaling: digest: %w", err)
	}
	req := b.req.Clone()
	req.SetBody(b.req.Body())
	req.RemoveHeader("Via")
	req.RemoveHeader(credHdr)
	req.AppendHeader(sip.NewHeader(credHdr, cred.String()))
	b.cseq++
	req.CSeq().SeqNo = b.cseq
	if b.target.transport == "TLS" {
		req.PrependHeader(o.srv.newVia("TLS"))
	}
	tx, err := o.srv.client.TransactionRequest(o.srv.ctx, req, o.srv.prepare)
	if err != nil {
		return fmt.Errorf("signaling: INVITE with credentials not sent: %w", err)
	}
	o.traceMsg(true, req)
	b.req, b.tx = req, tx
	b.provisional = false
	go o.read(b, tx)
	return nil
}

// fail decides a dial that every branch refused: a 6xx wins, then busy,
// then the first other final response, then network conditions (RFC 3261
// §16.7 in spirit).
func (o *Outbound) fail() {
	o.decided = true
	best := o.branches[0]
	rank := func(b *branch) int {
		switch {
		case b.code >= 600:
			return 4
		case b.code == 486:
			return 3
		case b.code >= 300:
			return 2
		}
		return 1
	}
	for _, b := range o.branches[1:] {
		if rank(b) > rank(best) {
			best = b
		}
	}
	de := newDialError(best.code, best.err)
	o.err = de
	cause := EndRemoteReject
	if best.code < 0 {
		cause = EndTransportError
	}
	o.finish(cause, best.code, best.err)
	o.srv.metrics.dialResult(de.Result)
	close(o.result)
}

// Progress delivers 180/183 responses. The channel is buffered and never
// closed; select on WaitAnswer or Done as well.
func (o *Outbound) Progress() <-chan Progress { return o.progress }

// WaitAnswer waits for the outcome of the dial: the answer SDP, or a
// *DialError (busy, no answer, ring timeout, rejected, unreachable,
// canceled). It returns ctx's error if ctx ends first; the dial goes on.
func (o *Outbound) WaitAnswer(ctx context.Context) ([]byte, error) {
	select {
	case <-o.result:
		if o.err != nil {
			return nil, o.err
		}
		return o.answer, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Hangup ends the call: CANCEL before the answer, BYE after. It returns
// nil if the call already ended.
func (o *Outbound) Hangup(ctx context.Context) error {
	return o.hangup(ctx, EndLocalHangup)
}

// Cancel is Hangup; it reads better before the answer.
func (o *Outbound) Cancel(ctx context.Context) error {
	return o.hangup(ctx, EndLocalHangup)
}

func (o *Outbound) terminate(ctx context.Context, cause EndCause) {
	if err := o.hangup(ctx, cause); err != nil {
		o.log().Debug("sip hangup on shutdown", slog.Any("err", err))
	}
}

func (o *Outbound) hangup(ctx context.Context, cause EndCause) error {
	select {
	case <-o.result:
	default:
		o.cancelOnce.Do(func() {
			o.cancelCause = cause
			close(o.cancelCh)
		})
		select {
		case <-o.result:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if o.err != nil || o.isEnded() {
		return nil
	}
	return o.bye(ctx, cause)
}
