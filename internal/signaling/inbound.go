package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Inbound is a call received by INVITE. Its methods are safe for
// concurrent use; the goroutine running Handler.OnInvite owns it.
type Inbound struct {
	*dialog

	req        *sip.Request
	tx         sip.ServerTransaction
	offer      []byte
	from, to   Party
	requestURI string
	source     netip.AddrPort
	transport  string

	respMu      sync.Mutex // serialises responses to the INVITE
	finalOnce   sync.Once
	finalSent   chan struct{} // closed when the INVITE has its final response
	outcomeOnce sync.Once

	ackDone chan struct{} // closed when the 200 OK was ACKed or given up
	ackErr  error         // set before ackDone closes
	ackSDP  []byte        // set before ackDone closes
}

// handleInitialInvite admits a new call and hands it to the Handler. The
// sipgo handler goroutine stays here until the INVITE has a final response,
// because sipgo terminates the transaction when the handler returns.
func (s *Server) handleInitialInvite(req *sip.Request, tx sip.ServerTransaction) {
	callID, from, to, cseq, contact := req.CallID(), req.From(), req.To(), req.CSeq(), req.Contact()
	reject := func(outcome string, code int, reason string, hdrs ...sip.Header) {
		s.metrics.inbound.WithLabelValues(outcome).Inc()
		s.respond(tx, req, code, reason, hdrs...)
	}
	if callID == nil || from == nil || to == nil || cseq == nil || callID.Value() == "" {
		reject(inBadRequest, 400, "Missing Mandatory Header")
		return
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		reject(inBadRequest, 400, "Missing From Tag")
		return
	}
	if contact == nil {
		reject(inBadRequest, 400, "Missing Contact")
		return
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		reject(inBadRequest, 400, "Bad Source")
		return
	}
	log := s.log.With("call_id", callID.Value())
	internal := false
	if s.opts.Internal != nil && s.opts.InternalHeader != "" {
		if h := req.GetHeader(s.opts.InternalHeader); h != nil {
			if !s.opts.Internal(h.Value()) {
				log.Warn("sip INVITE with an invalid internal token", slog.String("source", src.Addr().String()))
				reject(inACLDenied, 403, "Forbidden")
				return
			}
			internal = true
		}
	}
	if !internal && !s.aclAllows(src.Addr()) {
		log.Warn("sip INVITE from a source outside the trunk ACL", slog.String("source", src.Addr().String()))
		reject(inACLDenied, 403, "Forbidden")
		return
	}
	if tags := requiredOptions(req); tags != "" {
		reject(inBadRequest, 420, "Bad Extension", sip.NewHeader("Unsupported", tags))
		return
	}
	offer, err := sdpBody(req)
	if err != nil {
		log.Debug("sip INVITE with unsupported body", slog.Any("err", err))
		reject(inBadRequest, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp, multipart/mixed"))
		return
	}

	localTag := randomToken(8)
	d := newDialog(s, false, callID.Value(), localTag)
	in := &Inbound{
		dialog:     d,
		req:        req.Clone(),
		tx:         tx,
		offer:      offer,
		from:       partyOf(from.DisplayName, &from.Address),
		to:         partyOf(to.DisplayName, &to.Address),
		requestURI: req.Recipient.String(),
		source:     src,
		transport:  strings.ToLower(req.Transport()),
		finalSent:  make(chan struct{}),
		ackDone:    make(chan struct{}),
	}
	d.owner = in

	// Our responses are built from a copy that carries our To tag: the
	// transaction owns the original, which its timers read concurrently
	// (sipgo's own advice). The 487 sipgo sends on CANCEL is built from the
	// original and so carries another tag; UACs match it by transaction.
	to = in.req.To()
	to.Params.Add("tag", localTag)
	d.remoteTag = fromTag
	d.localHdr = &sip.FromHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
	d.remoteHdr = &sip.ToHeader{DisplayName: from.DisplayName, Address: *from.Address.Clone(), Params: from.Params.Clone()}
	d.remoteTarget = *contact.Address.Clone()
	for _, h := range req.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			d.routeSet = append(d.routeSet, *rr.Address.Clone())
		}
	}
	d.transport = req.Transport()
	if sip.IsReliable(d.transport) {
		// Reuse the caller's connection for our requests.
		d.forceDest = req.Source()
	}
	d.contact = s.contactFor(d.transport, s.listenPort(d.transport))
	d.localSeq = uint32(time.Now().UnixNano()&0x7fff) + 1
	d.remoteSeq = cseq.SeqNo

	if outcome, retry := s.admit(d, internal); outcome != "" {
		if outcome == inOverloaded {
			log.Warn("sip INVITE refused: not accepting calls", slog.Int("max_calls", s.opts.MaxCalls))
		}
		var hdrs []sip.Header
		if retry {
			hdrs = append(hdrs, sip.NewHeader("Retry-After", strconv.Itoa(defaultRetryAfter503)))
		}
		reject(outcome, 503, "Service Unavailable", hdrs...)
		return
	}
	s.register(d, d.key())
	d.traceMsg(false, in.req)

	trying := sip.NewResponseFromRequest(req, 100, "Trying", nil)
	if err := tx.Respond(trying); err != nil {
		log.Debug("sip 100 Trying not sent", slog.Any("err", err))
	} else {
		d.traceMsg(true, trying)
	}
	if !tx.OnCancel(in.onCancel) || !tx.OnTerminate(in.onTxTerminate) {
		// The transaction ended (CANCEL, transport) before we could watch it.
		in.setOutcome(inCanceled)
		in.finalize()
		d.finish(EndRemoteCancel, 487, tx.Err())
		return
	}
	log.Info("sip inbound call", slog.String("transport", in.transport), slog.String("source", src.Addr().String()),
		slog.Bool("offer", len(offer) > 0))
	log.Debug("sip inbound call parties", slog.String("from", in.from.URI), slog.String("to", in.to.URI))

	go s.runHandler(in)
	select {
	case <-in.finalSent:
	case <-d.done:
	}
}

// runHandler calls the Handler, turning a panic into a 500 or a hangup.
func (s *Server) runHandler(in *Inbound) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		in.log().Error("signaling Handler panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		if err := in.reject(ctx, RejectOptions{Code: 500, Reason: "Server Internal Error"}, EndLocalReject, inNoHandler); err != nil {
			if err := in.Hangup(ctx); err != nil {
				in.log().Warn("sip hangup after Handler panic failed", slog.Any("err", err))
			}
		}
	}()
	s.opts.Handler.OnInvite(in)
}

// requiredOptions lists the option tags of Require headers (RFC 3261
// §8.2.2.3): we support none.
func requiredOptions(req *sip.Request) string {
	var tags []string
	for _, h := range req.GetHeaders("Require") {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return strings.Join(tags, ", ")
}

// finalize records that the INVITE got its final response.
func (in *Inbound) finalize() {
	in.finalOnce.Do(func() { close(in.finalSent) })
}

func (in *Inbound) finalized() bool {
	select {
	case <-in.finalSent:
		return true
	default:
		return false
	}
}

func (in *Inbound) setOutcome(o string) {
	in.outcomeOnce.Do(func() { in.srv.metrics.inbound.WithLabelValues(o).Inc() })
}

// onCancel runs inside sipgo's transaction (which then sends 487): it must
// not call transaction methods.
func (in *Inbound) onCancel(req *sip.Request) {
	in.traceMsg(false, req)
	in.mu.Lock()
	answered := in.answered
	in.mu.Unlock()
	if answered {
		return // too late: the 200 OK won, the caller will ACK and BYE
	}
	in.traceStatus(in.req, 487, "Request Terminated") // sipgo sends it
	in.setOutcome(inCanceled)
	in.finalize()
	in.finish(EndRemoteCancel, 487, nil)
}

// onTxTerminate runs inside sipgo's transaction: a transaction that ends
// before any final response means a transport failure or shutdown.
func (in *Inbound) onTxTerminate(_ string, err error) {
	if in.finalized() {
		return
	}
	in.setOutcome(inFailed)
	in.finalize()
	in.finish(EndTransportError, CodeTransportError, err)
}

// onEarlyBye handles a BYE on the early dialog (RFC 3261 §15: the caller
// may BYE instead of CANCEL): the INVITE gets 487.
func (in *Inbound) onEarlyBye() {
	in.respMu.Lock()
	defer in.respMu.Unlock()
	in.mu.Lock()
	answered := in.answered
	in.mu.Unlock()
	if answered || in.finalized() {
		return
	}
	in.setOutcome(inCanceled)
	res := in.response(487, "Request Terminated", nil)
	if err := in.tx.Respond(res); err != nil {
		in.log().Debug("sip 487 not sent", slog.Any("err", err))
	} else {
		in.traceMsg(true, res)
	}
	in.finalize()
}

// Party is one end of a call as a From, To or P-Asserted-Identity header
// names it.
type Party struct {
	User    string // user part of the URI, e.g. "+46708000000" or "alice"
	Display string // display name, may be empty
	URI     string // the whole URI, e.g. "sip:+46708000000@gw.example.com"
}

func partyOf(display string, u *sip.Uri) Party {
	return Party{User: u.User, Display: display, URI: u.String()}
}

// From is the caller (From header).
func (in *Inbound) From() Party { return in.from }

// To is the callee (To header, without our tag).
func (in *Inbound) To() Party { return in.to }

// RequestURI is the Request-URI of the INVITE.
func (in *Inbound) RequestURI() string { return in.requestURI }

// Offer is the SDP offer of the INVITE (the application/sdp part of a
// multipart body). It is empty for an offer-less INVITE: the SDP passed to
// Answer is then our offer, and the caller's answer comes with the ACK
// (AckSDP). The slice must not be modified.
func (in *Inbound) Offer() []byte { return in.offer }

// Source is the address the INVITE came from.
func (in *Inbound) Source() netip.AddrPort { return in.source }

// Transport is "udp" or "tcp".
func (in *Inbound) Transport() string { return in.transport }

// XHeaders returns the headers whose name starts with "X-" (any case), in
// order, with their name as received: Sinch callHeaders.
func (in *Inbound) XHeaders() []Header {
	var out []Header
	for _, h := range in.req.Headers() {
		n := h.Name()
		if len(n) > 2 && (n[0] == 'X' || n[0] == 'x') && n[1] == '-' {
			out = append(out, Header{Key: n, Value: h.Value()})
		}
	}
	return out
}

// Header returns the values of every header with that name (any case).
func (in *Inbound) Header(name string) []string {
	hs := in.req.GetHeaders(name)
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Value())
	}
	return out
}

// AssertedIdentity is the first P-Asserted-Identity (RFC 3325), if any.
func (in *Inbound) AssertedIdentity() (Party, bool) {
	return firstAddressHeader(in.req, "P-Asserted-Identity")
}

// RedirectingNumber is the user part of the first Diversion header (RFC
// 5806), the ICE rdnis; empty if there is none.
func (in *Inbound) RedirectingNumber() string {
	p, _ := firstAddressHeader(in.req, "Diversion")
	return p.User
}

func firstAddressHeader(req *sip.Request, name string) (Party, bool) {
	h := req.GetHeader(name)
	if h == nil {
		return Party{}, false
	}
	v := h.Value()
	if i := commaOutsideQuotes(v); i >= 0 {
		v = v[:i]
	}
	var u sip.Uri
	params := sip.NewParams()
	display, err := sip.ParseAddressValue(strings.TrimSpace(v), &u, &params)
	if err != nil {
		return Party{}, false
	}
	return partyOf(display, &u), true
}

// commaOutsideQuotes finds the first comma that separates header values.
func commaOutsideQuotes(s string) int {
	quoted, angle := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			angle = true
		case c == '>' && !quoted:
			angle = false
		case c == ',' && !quoted && !angle:
			return i
		}
	}
	return -1
}

// AckSDP is the SDP carried by the ACK of our 200 OK (the answer to our
// offer when the INVITE had none); valid once Answer returned nil.
func (in *Inbound) AckSDP() []byte {
	select {
	case <-in.ackDone:
		return in.ackSDP
	default:
		return nil
	}
}

// response builds a response to the INVITE with our Contact.
func (in *Inbound) response(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(in.req, code, reason, body)
	if code > 100 && code < 300 {
		res.AppendHeader(in.contactHeader())
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	res.AppendHeader(sip.NewHeader("Server", in.srv.opts.UserAgent))
	if len(body) > 0 {
		ct := sip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
	}
	return res
}

// checkEarly reports whether the INVITE can still get a response.
func (in *Inbound) checkEarlyLocked() error {
	switch {
	case in.ended:
		return ErrCallEnded
	case in.answered:
		return ErrAlreadyAnswered
	case in.finalized():
		return ErrCallEnded
	}
	return nil
}

// respondErr maps a failed tx.Respond: a canceled or terminated INVITE
// means the call is over.
func (in *Inbound) respondErr(err error) error {
	if errors.Is(err, sip.ErrTransactionCanceled) || errors.Is(err, sip.ErrTransactionTerminated) || in.isEnded() {
		return fmt.Errorf("%w: %w", ErrCallEnded, err)
	}
	return fmt.Errorf("signaling: response not sent: %w", err)
}

// Ring sends 180 Ringing, or 183 Session Progress with earlySDP when it is
// not nil (early media).
func (in *Inbound) Ring(ctx context.Context, earlySDP []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in.respMu.Lock()
	defer in.respMu.Unlock()
	in.mu.Lock()
	err := in.checkEarlyLocked()
	in.mu.Unlock()
	if err != nil {
		return err
	}
	code, reason := 180, "Ringing"
	if earlySDP != nil {
		code, reason = 183, "Session Progress"
	}
	res := in.response(code, reason, earlySDP)
	if err := in.tx.Respond(res); err != nil {
		return in.respondErr(err)
	}
	in.traceMsg(true, res)
	return nil
}

// Answer sends 200 OK with sdp, retransmitted over UDP (RFC 3261
// §13.3.1.4) until the ACK arrives. It returns nil once the ACK arrived,
// ErrAckTimeout after Options.AckTimeout (the call is then ended with a
// BYE), or ctx's error if ctx ends first (the ACK wait goes on: Done and
// End tell the outcome).
func (in *Inbound) Answer(ctx context.Context, sdp []byte) error {
	if len(sdp) == 0 {
		return errors.New("signaling: Answer needs an SDP body")
	}
	if err := in.sendAnswer(sdp); err != nil {
		return err
	}
	select {
	case <-in.ackDone:
		return in.ackErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Inbound) sendAnswer(sdp []byte) error {
	in.respMu.Lock()
	defer in.respMu.Unlock()
	in.mu.Lock()
	if err := in.checkEarlyLocked(); err != nil {
		in.mu.Unlock()
		return err
	}
	in.answered = true
	in.mu.Unlock()

	cseq := in.req.CSeq().SeqNo
	ch, err := in.addAckWaiter(cseq)
	if err != nil {
		return err
	}
	res := in.srv.sdpResponse(in.req, sdp, in.contactHeader())
	if err := in.tx.Respond(res); err != nil {
		in.removeAckWaiter(cseq)
		if errors.Is(err, sip.ErrTransactionCanceled) {
			// CANCEL won the race against our 200 OK; sipgo sent 487.
			in.setOutcome(inCanceled)
			in.finish(EndRemoteCancel, 487, nil)
		} else {
			in.setOutcome(inFailed)
			in.finish(EndTransportError, CodeTransportError, err)
		}
		in.finalize()
		in.ackErr = ErrCallEnded
		close(in.ackDone)
		return in.respondErr(err)
	}
	in.traceMsg(true, res)
	in.finalize()
	go in.waitAck(res, ch, cseq)
	return nil
}

// waitAck completes Answer: confirmation on ACK, BYE on timeout.
func (in *Inbound) waitAck(res *sip.Response, ch <-chan *sip.Request, cseq uint32) {
	defer in.removeAckWaiter(cseq)
	ack, err := in.awaitAck(in.tx, res, ch)
	switch {
	case err == nil:
		in.traceMsg(false, ack)
		if body, berr := sdpBody(ack); berr == nil {
			in.ackSDP = body
		}
		in.mu.Lock()
		in.confirmed = true
		in.mu.Unlock()
		in.setOutcome(inAnswered)
		in.log().Info("sip inbound call answered")
	case errors.Is(err, ErrAckTimeout):
		in.setOutcome(inAckTimeout)
		in.log().Warn("sip 200 OK never ACKed, ending the call", slog.Duration("ack_timeout", in.srv.opts.AckTimeout))
		in.byeLater(EndAckTimeout)
	case in.End().Cause == EndRemoteBye:
		// The caller's BYE overtook its ACK (UDP reorders): the call was
		// answered and is now over; Answer succeeds and Done is closed.
		in.setOutcome(inAnswered)
		err = nil
	default:
		// The dialog ended while waiting (shutdown, transport failure).
		in.setOutcome(inFailed)
	}
	in.ackErr = err
	close(in.ackDone)
}

// RejectOptions is a final non-2xx response to an INVITE.
type RejectOptions struct {
	Code       int           // 300-699
	Reason     string        // reason phrase; default a standard one for Code
	RetryAfter time.Duration // adds Retry-After (whole seconds) when > 0, e.g. with 503
}

// Reject sends a final response code (300-699) with reason (empty: the
// standard phrase) and ends the call.
func (in *Inbound) Reject(ctx context.Context, code int, reason string) error {
	return in.RejectOptions(ctx, RejectOptions{Code: code, Reason: reason})
}

// RejectOptions is Reject with every option.
func (in *Inbound) RejectOptions(ctx context.Context, o RejectOptions) error {
	return in.reject(ctx, o, EndLocalReject, inRejected)
}

func (in *Inbound) reject(ctx context.Context, o RejectOptions, cause EndCause, outcome string) error {
	if o.Code < 300 || o.Code > 699 {
		return fmt.Errorf("signaling: reject code %d not in 300-699", o.Code)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.Reason == "" {
		o.Reason = statusText(o.Code)
	}
	in.respMu.Lock()
	defer in.respMu.Unlock()
	in.mu.Lock()
	err := in.checkEarlyLocked()
	in.mu.Unlock()
	if err != nil {
		return err
	}
	res := in.response(o.Code, o.Reason, nil)
	if o.RetryAfter > 0 {
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int((o.RetryAfter+time.Second-1)/time.Second))))
	}
	if err := in.tx.Respond(res); err != nil {
		return in.respondErr(err)
	}
	in.traceMsg(true, res)
	in.setOutcome(outcome)
	in.finalize()
	in.finish(cause, o.Code, nil)
	return nil
}

// Hangup ends the call: BYE when answered (after the ACK, RFC 3261 §15),
// 603 Decline when not yet answered. It returns nil if the call already
// ended.
func (in *Inbound) Hangup(ctx context.Context) error {
	return in.hangup(ctx, EndLocalHangup, 603)
}

func (in *Inbound) terminate(ctx context.Context, cause EndCause) {
	if err := in.hangup(ctx, cause, 503); err != nil {
		in.log().Debug("sip hangup on shutdown", slog.Any("err", err))
	}
}

func (in *Inbound) hangup(ctx context.Context, cause EndCause, code int) error {
	in.mu.Lock()
	ended, answered := in.ended, in.answered
	in.mu.Unlock()
	if ended {
		return nil
	}
	if !answered {
		outcome := inRejected
		if cause == EndShutdown {
			outcome = inFailed
		}
		err := in.reject(ctx, RejectOptions{Code: code}, cause, outcome)
		if errors.Is(err, ErrAlreadyAnswered) {
			return in.hangup(ctx, cause, code)
		}
		if errors.Is(err, ErrCallEnded) {
			return nil
		}
		return err
	}
	// The callee must not BYE before the ACK (or its timeout).
	select {
	case <-in.ackDone:
	case <-in.done:
		return nil
	case <-ctx.Done():
		// Out of patience for the ACK: end now, BYE in the background.
		in.byeLater(cause)
		return ctx.Err()
	}
	if in.isEnded() {
		return nil
	}
	return in.bye(ctx, cause)
}

// statusText is the standard reason phrase of a final response code.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	case 606:
		return "Not Acceptable"
	}
	switch code / 100 {
	case 3:
		return "Redirection"
	case 4:
		return "Request Failure"
	case 5:
		return "Server Failure"
	}
	return "Global Failure"
}
