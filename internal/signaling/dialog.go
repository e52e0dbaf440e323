package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callcore/callcore/events"
)

// RFC 3261 §17.1.1.1 timer values used by the dialog layer (2xx
// retransmission). Kept here rather than in sipgo's package-level globals.
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	// byeTimeout bounds a BYE sent on our own initiative (ACK timeout,
	// late second answer, shutdown) when no caller context exists.
	byeTimeout = 5 * time.Second
)

// EndCause says who ended a dialog and how.
type EndCause int

// End causes.
const (
	// EndUnknown is the zero value: the dialog has not ended.
	EndUnknown EndCause = iota
	// EndRemoteBye: the peer sent BYE (on an inbound early dialog this is
	// the caller giving up, reported like a CANCEL).
	EndRemoteBye
	// EndRemoteCancel: the caller CANCELed the inbound INVITE.
	EndRemoteCancel
	// EndRemoteReject: the callee answered our INVITE with a final non-2xx
	// response (outbound only); Code holds it.
	EndRemoteReject
	// EndLocalHangup: Hangup or Cancel was called (BYE, CANCEL, or a 603
	// for an inbound call not yet answered).
	EndLocalHangup
	// EndLocalReject: Reject sent a final non-2xx response; Code holds it.
	EndLocalReject
	// EndRingTimeout: DialTimeout elapsed before an answer (outbound).
	EndRingTimeout
	// EndAckTimeout: our 200 OK was never ACKed; a BYE was sent.
	EndAckTimeout
	// EndTransportError: a request could not be delivered, got no
	// response, or the connection was lost.
	EndTransportError
	// EndShutdown: Server.Close ended the dialog.
	EndShutdown
)

var endCauseNames = [...]string{"unknown", "remote_bye", "remote_cancel", "remote_reject", "local_hangup",
	"local_reject", "ring_timeout", "ack_timeout", "transport_error", "shutdown"}

// String returns a snake_case name, e.g. "remote_bye".
func (c EndCause) String() string {
	if c < 0 || int(c) >= len(endCauseNames) {
		return fmt.Sprintf("EndCause(%d)", int(c))
	}
	return endCauseNames[c]
}

// Remote reports whether the peer ended the dialog.
func (c EndCause) Remote() bool {
	return c == EndRemoteBye || c == EndRemoteCancel || c == EndRemoteReject
}

// EndInfo tells who ended a dialog and why. Result and Reason are the
// signalling view as events.Result*/Reason* constants: an answered call
// ended by BYE is ANSWERED with CALLERHANGUP or CALLEEHANGUP depending on
// which side hung up (for an inbound call the platform is the callee); an
// unanswered one takes its result and reason from Classify. The call core
// may refine the reason (e.g. MANAGERHANGUP for a REST hangup).
type EndInfo struct {
	Cause  EndCause
	Code   int    // SIP status sent or received that ended the dialog, or a Code* condition; 0 if none
	Result string // events.Result*
	Reason string // events.Reason*
	Err    error  // the underlying error of a transport failure or timeout
	At     time.Time
}

// EventKind is the kind of an in-dialog Event.
type EventKind int

// Event kinds.
const (
	// EventUnknown is the zero value.
	EventUnknown EventKind = iota
	// EventOffer: a re-INVITE or UPDATE with a new SDP offer (hold,
	// unhold, codec or address change), or an offer-less re-INVITE (SDP
	// empty: respond with an offer). Call Respond.
	EventOffer
	// EventAnswer: the SDP answer carried by the ACK of an offer-less
	// re-INVITE that was answered with our offer.
	EventAnswer
	// EventDTMF: a DTMF digit received by SIP INFO.
	EventDTMF
)

func (k EventKind) String() string {
	switch k {
	case EventOffer:
		return "offer"
	case EventAnswer:
		return "answer"
	case EventDTMF:
		return "dtmf"
	}
	return "unknown"
}

// Event is an in-dialog request the call must act on. Events are
// delivered on the channel returned by Events, which is buffered and never
// closed: select on Done as well.
type Event struct {
	Kind EventKind
	// Method is the SIP method that carried the event: INVITE, UPDATE,
	// ACK or INFO.
	Method string
	// SDP is the offer (EventOffer; empty for an offer-less re-INVITE) or
	// the answer (EventAnswer).
	SDP []byte
	// Digit is 0-9, *, #, A-D (EventDTMF).
	Digit string
	// Duration is the tone duration when the INFO body gives one.
	Duration time.Duration

	reply *reply
}

type replyMsg struct {
	sdp []byte
	err error
}

type reply struct {
	once sync.Once
	ch   chan replyMsg
}

// Respond answers an EventOffer: answerSDP goes back in a 200 OK (for an
// offer-less re-INVITE it is our offer), or err refuses the offer (488 for
// ErrNotAcceptable, 500 otherwise). Only the first call counts; for other
// kinds Respond does nothing. If nothing responds within
// Options.OfferTimeout the peer gets 500.
func (e Event) Respond(answerSDP []byte, err error) {
	if e.reply == nil {
		return
	}
	e.reply.once.Do(func() { e.reply.ch <- replyMsg{sdp: answerSDP, err: err} })
}

type dialogKey struct{ callID, localTag, remoteTag string }

// dialogOwner is implemented by *Inbound and *Outbound for what differs.
type dialogOwner interface {
	// terminate ends the call for Server.Close with the given cause.
	terminate(ctx context.Context, cause EndCause)
}

// dialog is the state shared by inbound and outbound calls: identity,
// route, sequence numbers, the in-dialog request handling and teardown.
type dialog struct {
	srv      *Server
	owner    dialogOwner
	outbound bool
	callID   string
	localTag string
	logp     atomic.Pointer[slog.Logger]

	// Options.Trace: the dialog's trace id and the messages held until
	// it is set (see SetTraceID).
	traceMu      sync.Mutex
	traceID      string
	tracePending []TraceMessage

	events chan Event
	done   chan struct{}

	regKey *dialogKey // where srv.dialogs holds it; guarded by srv.mu

	mu           sync.Mutex
	remoteTag    string
	localHdr     *sip.FromHeader // our party, as From of the requests we send (with tag)
	remoteHdr    *sip.ToHeader   // the peer, as To of the requests we send
	remoteTarget sip.Uri
	routeSet     []sip.Uri
	transport    string // UDP, TCP or TLS
	forceDest    string // host:port in-dialog requests go to, overriding target and route
	contact      *sip.ContactHeader
	localSeq     uint32
	remoteSeq    uint32
	offerBusy    bool
	ackWaiters   map[uint32]chan *sip.Request
	answered     bool // 2xx sent (inbound) or received (outbound)
	confirmed    bool // 2xx ACKed
	ended        bool
	end          EndInfo
}

func newDialog(srv *Server, outbound bool, callID, localTag string) *dialog {
	d := &dialog{
		srv:        srv,
		outbound:   outbound,
		callID:     callID,
		localTag:   localTag,
		events:     make(chan Event, 16),
		done:       make(chan struct{}),
		ackWaiters: make(map[uint32]chan *sip.Request),
	}
	d.logp.Store(srv.log.With("call_id", callID))
	return d
}

func (d *dialog) log() *slog.Logger { return d.logp.Load() }

// CallID returns the SIP Call-ID of the dialog.
func (d *dialog) CallID() string { return d.callID }

// SetLogger replaces the logger of this call, e.g. with one carrying the
// call core's own call_id; the SIP Call-ID is kept as sip_call_id.
func (d *dialog) SetLogger(l *slog.Logger) {
	if l == nil {
		return
	}
	d.logp.Store(l.With("sip_call_id", d.callID))
}

// Done is closed when the dialog ends for any reason.
func (d *dialog) Done() <-chan struct{} { return d.done }

// End tells who ended the dialog and why; the zero EndInfo until Done is
// closed.
func (d *dialog) End() EndInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.end
}

// Events delivers in-dialog requests the call must act on. The channel is
// never closed; select on Done as well.
func (d *dialog) Events() <-chan Event { return d.events }

func (d *dialog) key() dialogKey {
	return dialogKey{callID: d.callID, localTag: d.localTag, remoteTag: d.remoteTag}
}

func (d *dialog) isEnded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ended
}

// finish ends the dialog once: records EndInfo, closes Done, removes it
// from the server. It never touches a transaction (it runs inside sipgo's
// transaction callbacks). It reports whether this call ended the dialog.
func (d *dialog) finish(cause EndCause, code int, err error) bool {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return false
	}
	d.ended = true
	result, reason := d.outcomeLocked(cause, code)
	d.end = EndInfo{Cause: cause, Code: code, Result: result, Reason: reason, Err: err, At: time.Now()}
	d.mu.Unlock()
	close(d.done)
	d.srv.forget(d)
	args := []any{slog.String("cause", cause.String()), slog.String("result", result), slog.String("reason", reason)}
	if code != 0 {
		args = append(args, slog.Int("code", code))
	}
	if err != nil {
		args = append(args, slog.Any("err", err))
	}
	d.log().Info("sip dialog ended", args...)
	return true
}

// outcomeLocked computes the result and reason of an ending dialog.
func (d *dialog) outcomeLocked(cause EndCause, code int) (result, reason string) {
	// A BYE after our 2xx ends an answered call even when it overtook the
	// ACK (RFC 3261 §12.1: the 2xx establishes the dialog); a 2xx never
	// ACKed stays a failed call.
	if d.confirmed || d.answered && cause == EndRemoteBye {
		result = events.ResultAnswered
		switch cause {
		case EndRemoteBye:
			reason = events.ReasonCallerHangup
			if d.outbound {
				reason = events.ReasonCalleeHangup
			}
		case EndLocalHangup:
			reason = events.ReasonCalleeHangup
			if d.outbound {
				reason = events.ReasonCallerHangup
			}
		case EndTransportError, EndAckTimeout:
			reason = events.ReasonClientNetwork
		default:
			reason = events.ReasonGeneralError
		}
		return result, reason
	}
	switch cause {
	case EndRemoteCancel, EndRemoteBye:
		return Classify(487)
	case EndRemoteReject, EndLocalReject:
		return Classify(code)
	case EndLocalHangup:
		if d.outbound {
			return Classify(CodeLocalCancel)
		}
		return events.ResultNoAnswer, events.ReasonCalleeHangup
	case EndRingTimeout:
		return Classify(CodeRingTimeout)
	case EndAckTimeout:
		return Classify(CodeAckTimeout)
	case EndTransportError:
		if code == CodeNoResponse {
			return Classify(CodeNoResponse)
		}
		return Classify(CodeTransportError)
	}
	return events.ResultFailed, events.ReasonGeneralError
}

// newRequest builds an in-dialog request (RFC 3261 §12.2.1.1).
func (d *dialog) newRequest(method sip.RequestMethod) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	if method != sip.ACK && method != sip.CANCEL {
		d.localSeq++
	}
	req := sip.NewRequest(method, *d.remoteTarget.Clone())
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	for i := range d.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: *d.routeSet[i].Clone()})
	}
	req.AppendHeader(sip.HeaderClone(d.localHdr))
	req.AppendHeader(sip.HeaderClone(d.remoteHdr))
	callID := sip.CallIDHeader(d.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.localSeq, MethodName: method})
	req.AppendHeader(d.contact.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", d.srv.opts.UserAgent))
	req.SetTransport(d.transport)
	if d.forceDest != "" {
		req.SetDestination(d.forceDest)
	}
	req.SetBody(nil)
	return req
}

// bye ends the dialog with cause and sends BYE, waiting for its final
// response within ctx. Ending first means no event is delivered after the
// call core decided to hang up; the BYE error is still returned.
func (d *dialog) bye(ctx context.Context, cause EndCause) error {
	req := d.newRequest(sip.BYE)
	d.finish(cause, 0, nil)
	return d.sendBye(ctx, req)
}

func (d *dialog) sendBye(ctx context.Context, req *sip.Request) error {
	d.traceMsg(true, req)
	res, err := d.srv.do(ctx, req)
	if err != nil {
		return fmt.Errorf("signaling: BYE: %w", err)
	}
	d.traceMsg(false, res)
	if res.StatusCode >= 300 && res.StatusCode != 481 && res.StatusCode != 408 {
		return fmt.Errorf("signaling: BYE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// byeLater ends the dialog now and sends BYE in the background with a
// bounded timeout, for teardowns nobody waits for.
func (d *dialog) byeLater(cause EndCause) {
	req := d.newRequest(sip.BYE)
	d.finish(cause, 0, nil)
	d.srv.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, byeTimeout)
		defer cancel()
		if err := d.sendBye(ctx, req); err != nil {
			d.log().Warn("sip BYE failed", slog.Any("err", err))
		}
	})
}

// addAckWaiter registers interest in the ACK for the 2xx to the INVITE
// with sequence number cseq. It must be called before the 2xx is sent.
func (d *dialog) addAckWaiter(cseq uint32) (chan *sip.Request, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return nil, ErrCallEnded
	}
	ch := make(chan *sip.Request, 1)
	d.ackWaiters[cseq] = ch
	return ch, nil
}

func (d *dialog) removeAckWaiter(cseq uint32) {
	d.mu.Lock()
	delete(d.ackWaiters, cseq)
	d.mu.Unlock()
}

// awaitAck retransmits a 2xx over unreliable transports (RFC 3261
// §13.3.1.4: T1 doubling to T2) until the ACK arrives, the dialog ends or
// AckTimeout elapses.
func (d *dialog) awaitAck(tx sip.ServerTransaction, res *sip.Response, ch <-chan *sip.Request) (*sip.Request, error) {
	var retransmit <-chan time.Time
	interval := timerT1
	var rt *time.Timer
	if !sip.IsReliable(res.Transport()) {
		rt = time.NewTimer(interval)
		defer rt.Stop()
		retransmit = rt.C
	}
	deadline := time.NewTimer(d.srv.opts.AckTimeout)
	defer deadline.Stop()
	for {
		select {
		case ack := <-ch:
			return ack, nil
		case ack := <-tx.Acks():
			return ack, nil
		case <-retransmit:
			if err := tx.Respond(res); err != nil {
				d.log().Debug("sip 2xx retransmission not sent", slog.Any("err", err))
			}
			interval = min(2*interval, timerT2)
			rt.Reset(interval)
		case <-deadline.C:
			return nil, ErrAckTimeout
		case <-d.done:
			return nil, ErrCallEnded
		}
	}
}

// onAck delivers an ACK to the waiter of its CSeq, if any.
func (d *dialog) onAck(req *sip.Request) {
	cseq := req.CSeq()
	if cseq == nil {
		return
	}
	d.mu.Lock()
	ch := d.ackWaiters[cseq.SeqNo]
	delete(d.ackWaiters, cseq.SeqNo)
	d.mu.Unlock()
	if ch != nil {
		ch <- req // buffered 1, one sender
	}
}

// checkRemoteSeq enforces RFC 3261 §12.2.2: in-dialog requests must have
// increasing CSeq numbers.
func (d *dialog) checkRemoteSeqLocked(req *sip.Request) bool {
	n := req.CSeq().SeqNo
	if d.remoteSeq != 0 && n <= d.remoteSeq {
		return false
	}
	d.remoteSeq = n
	return true
}

// onBye handles an in-dialog BYE.
func (d *dialog) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d.traceMsg(false, req)
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		d.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !d.checkRemoteSeqLocked(req) {
		d.mu.Unlock()
		d.respond(tx, req, 500, "CSeq Out Of Order")
		return
	}
	d.mu.Unlock()
	if in, ok := d.owner.(*Inbound); ok {
		in.onEarlyBye()
	}
	d.finish(EndRemoteBye, 0, nil)
	d.respond(tx, req, 200, "OK")
}

// onInfo handles an in-dialog INFO: DTMF bodies become events.
func (d *dialog) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	d.traceMsg(false, req)
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		d.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !d.checkRemoteSeqLocked(req) {
		d.mu.Unlock()
		d.respond(tx, req, 500, "CSeq Out Of Order")
		return
	}
	d.mu.Unlock()
	body := req.Body()
	if len(body) == 0 {
		// Keep-alive or capability probe.
		d.respond(tx, req, 200, "OK")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	digit, dur, err := ParseDTMFInfo(ct, body)
	switch {
	case errors.Is(err, errNotDTMF):
		d.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", acceptInfo))
		return
	case err != nil:
		d.log().Debug("sip INFO with bad DTMF body", slog.Any("err", err))
		d.respond(tx, req, 400, "Bad DTMF Body")
		return
	}
	// Delivered before the 200: a phone sends its next digit's INFO once
	// it has the 200 of the last, and sipgo handles each request on its
	// own goroutine, so a digit delivered after its 200 could be overtaken
	// by the next one.
	d.deliver(Event{Kind: EventDTMF, Method: string(sip.INFO), Digit: digit, Duration: dur})
	d.srv.respond(tx, req, 200, "OK")
	d.traceStatus(req, 200, "OK")
}

// deliverWait bounds how long an event waits for room in a dialog's
// events channel.
const deliverWait = 2 * time.Second

// deliver sends an event without a reply. When the channel is full (the
// call core is behind) the request's goroutine waits for room, up to
// deliverWait: an INFO digit's 200 waits with it, which slows a phone
// sending a burst of digits instead of losing them. After that, or once
// the dialog has ended, the event is dropped and logged.
func (d *dialog) deliver(ev Event) {
	select {
	case d.events <- ev:
		return
	default:
	}
	t := time.NewTimer(deliverWait)
	defer t.Stop()
	select {
	case d.events <- ev:
	case <-d.done:
	case <-t.C:
		d.log().Warn("sip event dropped: the call did not take it", slog.String("kind", ev.Kind.String()),
			slog.Duration("waited", deliverWait))
	}
}

// onOffer handles a re-INVITE or UPDATE: delivers the offer and answers
// with the call core's SDP (RFC 3261 §14.2, RFC 3311).
func (d *dialog) onOffer(req *sip.Request, tx sip.ServerTransaction) {
	d.traceMsg(false, req)
	isInvite := req.IsInvite()
	offer, bodyErr := sdpBody(req)
	d.mu.Lock()
	switch {
	case d.ended:
		d.mu.Unlock()
		d.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	case isInvite && !d.answered:
		// A re-INVITE needs an established dialog.
		d.mu.Unlock()
		d.respond(tx, req, 491, "Request Pending")
		return
	case !d.checkRemoteSeqLocked(req):
		d.mu.Unlock()
		d.respond(tx, req, 500, "CSeq Out Of Order", sip.NewHeader("Retry-After", "1"))
		return
	case bodyErr != nil:
		d.mu.Unlock()
		d.respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return
	case !isInvite && len(offer) == 0:
		// An UPDATE without an offer only refreshes the target (RFC 3311).
		if c := req.Contact(); c != nil {
			d.remoteTarget = *c.Address.Clone()
		}
		d.mu.Unlock()
		d.respond(tx, req, 200, "OK")
		return
	case d.offerBusy:
		d.mu.Unlock()
		d.respond(tx, req, 491, "Request Pending")
		return
	}
	d.offerBusy = true
	if c := req.Contact(); c != nil {
		// Target refresh (RFC 3261 §12.2.2).
		d.remoteTarget = *c.Address.Clone()
	}
	d.mu.Unlock()
	// The exchange is over when our answer is sent, or for an offer-less
	// re-INVITE when the ACK brings the answer (RFC 6337 §3.1).
	release := sync.OnceFunc(func() {
		d.mu.Lock()
		d.offerBusy = false
		d.mu.Unlock()
	})
	defer release()
	// Every final response releases the exchange before it is sent.
	final := func(code int, reason string, hdrs ...sip.Header) {
		release()
		d.respond(tx, req, code, reason, hdrs...)
	}

	ev := Event{Kind: EventOffer, Method: string(req.Method), SDP: offer, reply: &reply{ch: make(chan replyMsg, 1)}}
	timer := time.NewTimer(d.srv.opts.OfferTimeout)
	defer timer.Stop()
	select {
	case d.events <- ev:
	case <-timer.C:
		d.log().Warn("sip offer not read by the call core in time", slog.String("method", string(req.Method)))
		final(500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	case <-d.done:
		final(487, "Request Terminated")
		return
	}
	var r replyMsg
	select {
	case r = <-ev.reply.ch:
	case <-timer.C:
		d.log().Warn("sip offer not answered by the call core in time", slog.String("method", string(req.Method)))
		final(500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	case <-d.done:
		final(487, "Request Terminated")
		return
	}
	switch {
	case errors.Is(r.err, ErrNotAcceptable):
		final(488, "Not Acceptable Here")
		return
	case r.err != nil:
		d.log().Warn("sip offer refused by the call core", slog.Any("err", r.err))
		final(500, "Server Internal Error")
		return
	case len(r.sdp) == 0:
		d.log().Warn("sip offer answered without SDP")
		final(500, "Server Internal Error")
		return
	}
	res := d.srv.sdpResponse(req, r.sdp, d.contactHeader())
	if !isInvite {
		release()
		if err := tx.Respond(res); err != nil {
			d.log().Warn("sip UPDATE response not sent", slog.Any("err", err))
		} else {
			d.traceMsg(true, res)
		}
		return
	}
	cseq := req.CSeq().SeqNo
	ch, err := d.addAckWaiter(cseq)
	if err != nil {
		final(487, "Request Terminated")
		return
	}
	defer d.removeAckWaiter(cseq)
	if len(offer) > 0 {
		// Released before sending: the peer may offer again as soon as it
		// has our answer.
		release()
	}
	if err := tx.Respond(res); err != nil {
		d.log().Warn("sip re-INVITE response not sent", slog.Any("err", err))
		return
	}
	d.traceMsg(true, res)
	ack, err := d.awaitAck(tx, res, ch)
	if err == nil {
		d.traceMsg(false, ack)
	}
	switch {
	case errors.Is(err, ErrAckTimeout):
		d.log().Warn("sip re-INVITE 200 OK never ACKed, ending the call")
		d.byeLater(EndAckTimeout)
	case err != nil:
	case len(offer) == 0 && len(ack.Body()) > 0:
		if answer, err := sdpBody(ack); err == nil && len(answer) > 0 {
			d.deliver(Event{Kind: EventAnswer, Method: string(sip.ACK), SDP: answer})
		}
	}
}

func (d *dialog) contactHeader() *sip.ContactHeader {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.contact.Clone()
}
