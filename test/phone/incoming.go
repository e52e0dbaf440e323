package phone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrCanceled is the error of an incoming call the caller canceled.
var ErrCanceled = errors.New("call canceled by the caller")

type incomingState int

const (
	incomingPending incomingState = iota
	incomingAnswered
	incomingRejected
	incomingCanceled
	incomingFailed
)

// Incoming is an incoming call (an INVITE outside a dialog) until it is
// answered, rejected or canceled. It is safe for concurrent use.
type Incoming struct {
	p      *Phone
	req    *sip.Request // the INVITE as received
	dlg    *sipgo.DialogServerSession
	call   *Call
	offer  *sessionDesc
	params mediaParams

	respMu  sync.Mutex // one response at a time
	early   []byte     // SDP sent in 183, repeated in the 200
	mu      sync.Mutex
	state   incomingState
	err     error
	settled chan struct{} // closed on answer, reject, cancel or failure
}

// Request returns the INVITE as received. Do not modify it.
func (i *Incoming) Request() *sip.Request { return i.req }

// CallID returns the SIP Call-ID.
func (i *Incoming) CallID() string { return i.call.callID }

// From returns the From URI, e.g. sip:+15551234@127.0.0.1.
func (i *Incoming) From() string { return i.req.From().Address.String() }

// FromUser returns the user part of the From URI.
func (i *Incoming) FromUser() string { return i.req.From().Address.User }

// FromDisplay returns the display name of the From header.
func (i *Incoming) FromDisplay() string { return i.req.From().DisplayName }

// To returns the To URI.
func (i *Incoming) To() string { return i.req.To().Address.String() }

// ToUser returns the user part of the To URI.
func (i *Incoming) ToUser() string { return i.req.To().Address.User }

// RequestURI returns the Request-URI.
func (i *Incoming) RequestURI() string { return i.req.Recipient.String() }

// Header returns the value of the first header called name, or "".
func (i *Incoming) Header(name string) string {
	if h := i.req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// RemoteSDP returns the SDP offer of the INVITE.
func (i *Incoming) RemoteSDP() string { return string(i.req.Body()) }

// Ring sends 180 Ringing.
func (i *Incoming) Ring() error {
	return i.provisional(sip.StatusRinging, nil)
}

// Progress sends 183 Session Progress with the SDP answer and starts media,
// so the returned call can Play early media before Answer. Answer later
// returns the same call and repeats the same SDP.
func (i *Incoming) Progress() (*Call, error) {
	i.respMu.Lock()
	defer i.respMu.Unlock()
	if err := i.finalErr(); err != nil {
		return nil, err
	}
	c := i.call
	dir := answerDirection(i.offer.direction, SendRecv)
	c.mu.Lock()
	if i.early == nil {
		i.early = c.sdp.answer(i.params, dir)
	}
	c.params, c.localDir, c.localSDP, c.remoteSDP = i.params, dir, i.early, i.req.Body()
	c.mu.Unlock()
	c.media.configure(i.params, dir)
	c.media.start()
	if err := i.respondLocked(sip.StatusSessionInProgress, i.early); err != nil {
		return nil, err
	}
	return c, nil
}

func (i *Incoming) provisional(code int, body []byte) error {
	i.respMu.Lock()
	defer i.respMu.Unlock()
	return i.respondLocked(code, body)
}

func (i *Incoming) respondLocked(code int, body []byte) error {
	if err := i.finalErr(); err != nil {
		return err
	}
	var hdrs []sip.Header
	if body != nil {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := i.dlg.Respond(code, reasonPhrase(code), body, hdrs...); err != nil {
		return fmt.Errorf("respond %d: %w", code, err)
	}
	return nil
}

// finalErr returns an error if a final outcome is already known.
func (i *Incoming) finalErr() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch i.state {
	case incomingPending:
		return nil
	case incomingAnswered:
		return errors.New("call already answered")
	default:
		return i.err
	}
}

// settle records the final outcome once and reports whether it did. If
// end is not EndNone it ends the call first, so that whoever waits on the
// outcome sees the call already gone.
func (i *Incoming) settle(s incomingState, err error, end EndReason) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state != incomingPending {
		return false
	}
	if end != EndNone {
		i.call.end(end)
	}
	i.state, i.err = s, err
	close(i.settled)
	return true
}

// Answer sends 200 OK with the SDP answer, waits for the ACK and returns
// the call. Answering an answered call returns it again.
func (i *Incoming) Answer() (*Call, error) {
	i.respMu.Lock()
	defer i.respMu.Unlock()
	i.mu.Lock()
	state, err := i.state, i.err
	i.mu.Unlock()
	switch state {
	case incomingPending:
	case incomingAnswered:
		return i.call, nil
	default:
		return nil, err
	}
	c := i.call
	dir := answerDirection(i.offer.direction, SendRecv)
	c.mu.Lock()
	body := i.early
	if body == nil {
		body = c.sdp.answer(i.params, dir)
	}
	c.params, c.localDir, c.localSDP, c.remoteSDP = i.params, dir, body, i.req.Body()
	c.mu.Unlock()
	c.media.configure(i.params, dir)
	c.media.start()

	res := sip.NewSDPResponseFromRequest(i.dlg.InviteRequest, body)
	c.answering.Store(true)
	if err := i.dlg.WriteResponse(res); err != nil {
		state, reason, err := incomingFailed, EndError, fmt.Errorf("answer: %w", err)
		if errors.Is(context.Cause(i.dlg.Context()), sip.ErrTransactionCanceled) {
			state, reason, err = incomingCanceled, EndRemote, ErrCanceled
		}
		if !i.settle(state, err, reason) {
			err = i.finalErr()
		}
		c.end(reason)
		return nil, err
	}
	c.confirm()
	if !i.settle(incomingAnswered, nil, EndNone) {
		c.end(EndError)
		return nil, i.finalErr()
	}
	c.log.Info("answered", "codec", i.params.codec)
	go c.watch(i.dlg.Context())
	return c, nil
}

// Reject sends a final error status (300-699) and waits for its ACK.
func (i *Incoming) Reject(code int) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("reject: %d is not a final error status", code)
	}
	i.respMu.Lock()
	defer i.respMu.Unlock()
	if err := i.respondLocked(code, nil); err != nil {
		return err
	}
	if !i.settle(incomingRejected, &StatusError{Code: code, Reason: reasonPhrase(code)}, EndLocal) {
		return i.finalErr()
	}
	return nil
}

// WaitCancel blocks until the caller cancels the call (nil), the call gets
// another outcome (an error) or ctx ends.
func (i *Incoming) WaitCancel(ctx context.Context) error {
	select {
	case <-i.settled:
	case <-ctx.Done():
		return fmt.Errorf("waiting for cancel: %w", ctx.Err())
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state == incomingCanceled {
		return nil
	}
	if i.state == incomingAnswered {
		return errors.New("call was answered, not canceled")
	}
	return fmt.Errorf("call was not canceled: %w", i.err)
}

// Call waits until the call is answered (by AnswerAuto or Answer) and
// returns it; it fails if the call was rejected or canceled.
func (i *Incoming) Call(ctx context.Context) (*Call, error) {
	select {
	case <-i.settled:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for answer: %w", ctx.Err())
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state == incomingAnswered {
		return i.call, nil
	}
	return nil, i.err
}

// onInvite handles an INVITE: in a dialog it is a re-offer, otherwise a new
// incoming call. The handler goroutine must live until the final response
// is sent, since sipgo terminates the transaction when it returns.
func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		c := p.lookup(req)
		if c == nil {
			p.respond(req, tx, sip.StatusCallTransactionDoesNotExists)
			return
		}
		c.onOffer(req, tx)
		return
	}
	log := p.log.With("call_id", callIDOf(req))
	offer, err := parseSDP(req.Body())
	if err != nil {
		// Late offer (an INVITE without SDP) is not supported by this phone.
		log.Warn("incoming invite refused", "err", err)
		p.respond(req, tx, sip.StatusNotAcceptableHere)
		return
	}
	params, err := negotiate(offer, p.codecs)
	if err != nil {
		log.Warn("incoming invite refused", "err", err)
		p.respond(req, tx, sip.StatusNotAcceptableHere)
		return
	}
	dlg, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		log.Warn("incoming invite refused", "err", err)
		p.respond(req, tx, sip.StatusBadRequest)
		return
	}
	tag, _ := dlg.InviteRequest.To().Params.Get("tag")
	c, err := p.newCall(callIDOf(req), tag, false)
	if err != nil {
		log.Error("incoming invite failed", "err", err)
		p.respond(req, tx, sip.StatusInternalServerError)
		return
	}
	c.uas = dlg
	p.addCall(c)
	inc := &Incoming{
		p: p, req: req, dlg: dlg, call: c, offer: offer, params: params,
		settled: make(chan struct{}),
	}
	if err := dlg.Respond(sip.StatusTrying, reasonPhrase(sip.StatusTrying), nil); err != nil {
		log.Warn("100 trying failed", "err", err)
	}
	log.Info("incoming call", "from", req.From().Address.User, "to", req.To().Address.User,
		"codec", params.codec, "mode", p.opts.Answer)
	select {
	case p.incoming <- inc:
	default:
		log.Warn("incoming channel full, call not delivered")
	}

	if p.opts.Answer != AnswerManual {
		p.autoAnswer(inc)
	}
	select {
	case <-inc.settled:
	case <-dlg.Context().Done():
		// sipgo ends the dialog when the caller cancels, when the
		// transaction dies before a final response, and after a final
		// error response: a Reject in progress holds respMu and settles
		// first, so waiting for respMu tells these apart.
		inc.respMu.Lock()
		if inc.settle(incomingCanceled, ErrCanceled, EndRemote) {
			log.Info("incoming call canceled", "cause", context.Cause(dlg.Context()))
		}
		inc.respMu.Unlock()
	case <-p.ctx.Done():
		inc.settle(incomingFailed, errors.New("phone closed"), EndError)
	}
}

func (p *Phone) autoAnswer(inc *Incoming) {
	log := inc.call.log
	if !p.opts.NoRinging {
		if err := inc.Ring(); err != nil {
			log.Warn("auto ring failed", "err", err)
			return
		}
	}
	if p.opts.Answer == AnswerNever {
		return
	}
	if d := p.opts.AnswerDelay; d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-inc.settled:
			return
		case <-inc.dlg.Context().Done():
			return
		case <-p.ctx.Done():
			return
		}
	}
	switch p.opts.Answer {
	case AnswerAuto:
		if _, err := inc.Answer(); err != nil {
			log.Warn("auto answer failed", "err", err)
		}
	case AnswerReject:
		if err := inc.Reject(p.opts.RejectCode); err != nil {
			log.Warn("auto reject failed", "err", err)
		}
	}
}
