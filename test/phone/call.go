package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Call is one established (or, for early media, establishing) call. It is
// safe for concurrent use.
type Call struct {
	p        *Phone
	log      *slog.Logger
	callID   string
	key      string
	outbound bool
	media    *mediaSession

	// Exactly one of uac and uas is set once the dialog exists.
	uac *sipgo.DialogClientSession
	uas *sipgo.DialogServerSession

	mu        sync.Mutex
	sdp       sdpWriter
	params    mediaParams
	want      Direction // SendRecv, or SendOnly while this phone holds
	localDir  Direction // what this phone last wrote or applied
	remoteSDP []byte
	localSDP  []byte
	progress  []int
	answered  bool // the dialog is confirmed: 2xx sent and ACKed, or 2xx received and ACK sent
	lateOffer bool // sent an offer in a 200 to a body-less re-INVITE

	answering atomic.Bool   // a 2xx was sent or received
	confirmed chan struct{} // closed when answered becomes true

	reqMu    sync.Mutex  // one outgoing in-dialog request at a time
	reinvite atomic.Bool // our re-INVITE is in flight: answer glare with 491

	pendingEnd atomic.Int32 // EndReason chosen before the dialog ends
	endOnce    sync.Once
	endedBy    atomic.Int32
	done       chan struct{}
}

func (p *Phone) newCall(callID, localTag string, outbound bool) (*Call, error) {
	m, err := newMediaSession(p.log.With("call_id", callID))
	if err != nil {
		return nil, err
	}
	c := &Call{
		p:         p,
		log:       p.log.With("call_id", callID),
		callID:    callID,
		key:       dialogKey(callID, localTag),
		outbound:  outbound,
		media:     m,
		want:      SendRecv,
		localDir:  SendRecv,
		done:      make(chan struct{}),
		confirmed: make(chan struct{}),
		sdp: sdpWriter{
			sessID: uint64(randomUint32()),
			addr:   netip.MustParseAddr(loopback),
			port:   m.port(),
		},
	}
	c.sdp.version = uint64(randomUint32() & 0xFFFF)
	return c, nil
}

// CallID returns the SIP Call-ID.
func (c *Call) CallID() string { return c.callID }

// Outbound reports whether this phone placed the call.
func (c *Call) Outbound() bool { return c.outbound }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndedBy tells who ended the call; EndNone while it lasts.
func (c *Call) EndedBy() EndReason { return EndReason(c.endedBy.Load()) }

// WaitEnd waits for the call to end and returns who ended it.
func (c *Call) WaitEnd(ctx context.Context) (EndReason, error) {
	select {
	case <-c.done:
		return c.EndedBy(), nil
	case <-ctx.Done():
		return EndNone, fmt.Errorf("waiting for the call to end: %w", ctx.Err())
	}
}

// Codec returns the negotiated codec.
func (c *Call) Codec() Codec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.params.codec
}

// RemoteSDP returns the latest SDP body received from the peer.
func (c *Call) RemoteSDP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.remoteSDP)
}

// LocalSDP returns the latest SDP body this phone sent.
func (c *Call) LocalSDP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.localSDP)
}

// LocalDirection is the direction this phone applies: SendOnly while it
// holds, RecvOnly while the peer holds, SendRecv otherwise.
func (c *Call) LocalDirection() Direction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localDir
}

// RemoteDirection is the direction attribute of the peer's latest SDP.
func (c *Call) RemoteDirection() Direction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.params.remoteDir
}

// Provisional returns the provisional status codes received while dialling.
func (c *Call) Provisional() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.progress...)
}

// Packets returns the number of RTP packets received.
func (c *Call) Packets() int { return c.media.stats().Received }

// Stats returns the RTP counters.
func (c *Call) Stats() Stats { return c.media.stats() }

// Recording returns all audio received so far, decoded to 8 kHz PCM, with
// silence inserted where RTP timestamps (or, across a change of SSRC, the
// wall clock) show a gap.
func (c *Call) Recording() []int16 { return c.media.recording() }

// AudioDuration returns how much received audio had an RMS level of at
// least minRMS, counted per packet.
func (c *Call) AudioDuration(minRMS float64) time.Duration {
	c.media.mu.Lock()
	defer c.media.mu.Unlock()
	return c.media.rx.audioDuration(minRMS)
}

// WaitAudio blocks until at least minDuration of received audio had an RMS
// level of at least minRMS (per 20 ms packet; 500 is quiet speech, a full
// scale sine is 23170), ctx ends or the call ends.
func (c *Call) WaitAudio(ctx context.Context, minDuration time.Duration, minRMS float64) error {
	err := c.media.waitFor(ctx, func(r *receiver) bool { return r.audioDuration(minRMS) >= minDuration })
	if err != nil {
		return fmt.Errorf("waiting for %s of audio above RMS %.0f (have %s): %w",
			minDuration, minRMS, c.AudioDuration(minRMS), err)
	}
	return nil
}

// WaitPackets blocks until n RTP packets have been received.
func (c *Call) WaitPackets(ctx context.Context, n int) error {
	err := c.media.waitFor(ctx, func(r *receiver) bool { return r.stats.Received >= n })
	if err != nil {
		return fmt.Errorf("waiting for %d rtp packets (have %d): %w", n, c.Packets(), err)
	}
	return nil
}

// ReceivedDTMF returns the digits received so far, by RTP events and INFO.
func (c *Call) ReceivedDTMF() string { return c.media.digits() }

// WaitDTMF blocks until n digits have been received and returns them all.
func (c *Call) WaitDTMF(ctx context.Context, n int) (string, error) {
	err := c.media.waitFor(ctx, func(r *receiver) bool { return len(r.digits) >= n })
	if err != nil {
		return c.ReceivedDTMF(), fmt.Errorf("waiting for %d dtmf digits (have %q): %w", n, c.ReceivedDTMF(), err)
	}
	return c.ReceivedDTMF(), nil
}

// Play sends samples (8 kHz PCM) in the negotiated codec, one 20 ms packet
// per 20 ms, after anything queued before. It returns when the last packet
// has been sent, ctx ends (the rest is dropped) or the call ends. While the
// call is held toward the peer the audio is consumed at the same pace but
// not sent. Between plays the phone sends silence.
func (c *Call) Play(ctx context.Context, samples []int16) error {
	if len(samples) == 0 {
		return nil
	}
	return c.media.enqueue(ctx, &sendJob{pcm: samples})
}

// PlayTone plays a sine at freq Hz for dur at -12 dBFS.
func (c *Call) PlayTone(ctx context.Context, freq float64, dur time.Duration) error {
	return c.Play(ctx, Tone(freq, dur, 8192))
}

// PauseRTP stops sending RTP without any signalling, as if the media path
// had died (for RTP timeout tests). Queued audio and DTMF still advance.
func (c *Call) PauseRTP() { c.media.setPaused(true) }

// ResumeRTP undoes PauseRTP.
func (c *Call) ResumeRTP() { c.media.setPaused(false) }

// SendDTMF sends digits (0-9, *, #, A-D) in the phone's DTMF mode: as
// RFC 4733 events (100 ms each, end packet sent three times, 60 ms apart),
// as one SIP INFO per digit (application/dtmf-relay or application/dtmf),
// or as in-band dual tones in the audio. It returns when all digits are
// sent (INFO: acknowledged with 2xx).
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	if err := validateDigits(digits); err != nil {
		return fmt.Errorf("send dtmf: %w", err)
	}
	switch c.p.opts.DTMFMode {
	case DTMFInBand:
		var pcm []int16
		for i := 0; i < len(digits); i++ {
			pcm = append(pcm, DualTone(digits[i], 100*time.Millisecond, 11600)...)
			pcm = append(pcm, make([]int16, 60*sampleRate/1000)...)
		}
		return c.Play(ctx, pcm)
	case DTMFInfo, DTMFInfoPlain:
		for i := 0; i < len(digits); i++ {
			if err := c.sendInfoDigit(ctx, digits[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < len(digits); i++ {
		if err := c.media.enqueue(ctx, &sendJob{digit: digits[i]}); err != nil {
			return fmt.Errorf("send dtmf %q: %w", digits[i], err)
		}
	}
	return nil
}

func (c *Call) sendInfoDigit(ctx context.Context, d byte) error {
	req := sip.NewRequest(sip.INFO, c.remoteTarget())
	if c.p.opts.DTMFMode == DTMFInfoPlain {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf"))
		req.SetBody([]byte{d})
	} else {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody(fmt.Appendf(nil, "Signal=%c\r\nDuration=100\r\n", d))
	}
	res, err := c.request(ctx, req, nil)
	if err != nil {
		return fmt.Errorf("send dtmf info %q: %w", d, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("send dtmf info %q: %w", d, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// Hold re-INVITEs with a=sendonly (RFC 3264 §8.4).
func (c *Call) Hold(ctx context.Context) error { return c.reoffer(ctx, SendOnly) }

// Unhold re-INVITEs with a=sendrecv.
func (c *Call) Unhold(ctx context.Context) error { return c.reoffer(ctx, SendRecv) }

// reoffer sends a re-INVITE offering the current codec with direction want,
// applies the answer and sends the ACK.
func (c *Call) reoffer(ctx context.Context, want Direction) error {
	c.reinvite.Store(true)
	defer c.reinvite.Store(false)

	c.mu.Lock()
	if !c.answered {
		c.mu.Unlock()
		return errors.New("re-invite: call not answered")
	}
	cur := c.params.codec
	body := c.sdp.offer([]Codec{cur}, want)
	c.mu.Unlock()

	req := sip.NewRequest(sip.INVITE, c.remoteTarget())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := c.request(ctx, req, nil)
	if err != nil {
		return fmt.Errorf("re-invite %s: %w", want, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("re-invite %s: %w", want, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	desc, err := parseSDP(res.Body())
	if err != nil {
		return fmt.Errorf("re-invite %s answer: %w", want, err)
	}
	params, err := negotiate(desc, []Codec{cur})
	if err != nil {
		return fmt.Errorf("re-invite %s answer: %w", want, err)
	}
	local := directionOf(want.sends() && desc.direction.receives(), want.receives() && desc.direction.sends())
	c.mu.Lock()
	c.want, c.localDir, c.params = want, local, params
	c.localSDP, c.remoteSDP = body, res.Body()
	c.mu.Unlock()
	c.media.configure(params, local)
	c.log.Info("re-invite done", "want", want, "remote", desc.direction)
	return nil
}

// Hangup sends BYE and ends the call. It returns ErrCallEnded if the call
// has already ended or is being ended.
func (c *Call) Hangup(ctx context.Context) error {
	if !c.answering.Load() {
		return errors.New("hangup: call not answered")
	}
	// A callee may be asked to hang up while its 200 still waits for the
	// ACK; a BYE must wait for it (RFC 3261 §15).
	select {
	case <-c.confirmed:
	case <-c.done:
		return ErrCallEnded
	case <-ctx.Done():
		return fmt.Errorf("hangup: waiting for ack: %w", ctx.Err())
	}
	if !c.pendingEnd.CompareAndSwap(int32(EndNone), int32(EndLocal)) {
		return ErrCallEnded
	}
	select {
	case <-c.done:
		return ErrCallEnded
	default:
	}
	c.reqMu.Lock()
	var err error
	switch {
	case c.uac != nil:
		err = c.uac.Bye(ctx)
	case c.uas != nil:
		err = c.uas.Bye(ctx)
	default:
		err = errors.New("no dialog")
	}
	c.reqMu.Unlock()
	c.end(EndLocal)
	if err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	return nil
}

// end releases the call once: media, phone registration, Done.
func (c *Call) end(r EndReason) {
	c.endOnce.Do(func() {
		if pr := EndReason(c.pendingEnd.Load()); pr != EndNone {
			r = pr
		}
		c.endedBy.Store(int32(r))
		c.media.close()
		c.p.removeCall(c)
		close(c.done)
		st := c.media.stats()
		c.log.Info("call ended", "by", r, "rx_packets", st.Received, "tx_packets", st.Sent)
	})
}

// watch ends the call when its dialog ends for any reason.
func (c *Call) watch(ctx context.Context) {
	select {
	case <-ctx.Done():
		c.end(EndError)
	case <-c.done:
	}
}

// confirm marks the dialog confirmed.
func (c *Call) confirm() {
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.answering.Store(true)
	close(c.confirmed)
}

// remoteTarget is the peer's Contact (RFC 3261 §12.1).
func (c *Call) remoteTarget() sip.Uri {
	if c.uac != nil {
		if ct := c.uac.InviteResponse.Contact(); ct != nil {
			return *ct.Address.Clone()
		}
		return *c.uac.InviteRequest.Recipient.Clone()
	}
	return *c.uas.InviteRequest.Contact().Address.Clone()
}

// request sends an in-dialog request and waits for its final response.
// For an INVITE that gets a 2xx it also sends the ACK, with the body
// ackBody returns (nil: no body), before another request can go out, and
// returns the ACK's error if the ACK could not be sent.
func (c *Call) request(ctx context.Context, req *sip.Request, ackBody func(*sip.Response) []byte) (*sip.Response, error) {
	select {
	case <-c.done:
		return nil, ErrCallEnded
	default:
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	var (
		res *sip.Response
		err error
	)
	if c.uac != nil {
		res, err = c.uac.Do(ctx, req)
	} else {
		res, err = c.uas.Do(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	if !req.IsInvite() || !res.IsSuccess() {
		return res, nil
	}
	// WriteRequest keeps the dialog's CSeq for an ACK (RFC 3261 §13.2.2.4).
	ack := sip.NewRequest(sip.ACK, c.remoteTarget())
	if ackBody != nil {
		if body := ackBody(res); body != nil {
			ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(body)
		}
	}
	if c.uac != nil {
		err = c.uac.WriteRequest(ack)
	} else {
		err = c.uas.WriteRequest(ack)
	}
	if err != nil {
		return res, fmt.Errorf("ack: %w", err)
	}
	return res, nil
}

// onAck handles an ACK in this dialog: the initial INVITE's or a
// re-INVITE's (which may carry the answer to a late offer).
func (c *Call) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c.uas != nil && req.CSeq().SeqNo == c.uas.InviteRequest.CSeq().SeqNo {
		if err := c.uas.ReadAck(req, tx); err != nil {
			c.log.Warn("ack rejected", "err", err)
		}
		return
	}
	c.mu.Lock()
	late := c.lateOffer
	c.lateOffer = false
	c.mu.Unlock()
	if late && len(req.Body()) > 0 {
		if err := c.applyAnswer(req.Body()); err != nil {
			c.log.Warn("answer in ack", "err", err)
		}
	}
}

// applyAnswer applies an SDP answer to this phone's latest offer.
func (c *Call) applyAnswer(body []byte) error {
	desc, err := parseSDP(body)
	if err != nil {
		return err
	}
	params, err := negotiate(desc, c.p.codecs)
	if err != nil {
		return err
	}
	c.mu.Lock()
	local := directionOf(c.want.sends() && desc.direction.receives(), c.want.receives() && desc.direction.sends())
	c.params, c.localDir, c.remoteSDP = params, local, body
	c.mu.Unlock()
	c.media.configure(params, local)
	return nil
}

// onBye handles the peer's BYE.
func (c *Call) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c.pendingEnd.CompareAndSwap(int32(EndNone), int32(EndRemote))
	var err error
	switch {
	case c.uac != nil:
		err = c.uac.ReadBye(req, tx)
	case c.uas != nil:
		err = c.uas.ReadBye(req, tx)
	}
	if err != nil {
		c.log.Warn("bye handling failed", "err", err)
		c.p.respond(req, tx, sip.StatusOK)
	}
	c.end(EndRemote)
}

// onInfo handles INFO: DTMF bodies are recorded, anything else is
// acknowledged and logged.
func (c *Call) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	d, err := parseDTMFInfo(ct, req.Body())
	if err != nil {
		c.log.Warn("info without dtmf", "content_type", ct, "err", err)
		c.p.respond(req, tx, sip.StatusOK)
		return
	}
	c.media.addDigit(d)
	c.p.respond(req, tx, sip.StatusOK)
}

// onOffer answers a re-INVITE or UPDATE (RFC 3311) from the peer.
func (c *Call) onOffer(req *sip.Request, tx sip.ServerTransaction) {
	if c.reinvite.Load() {
		c.p.respond(req, tx, sip.StatusRequestPending)
		return
	}
	body := req.Body()
	if len(body) == 0 {
		if !req.IsInvite() {
			c.p.respond(req, tx, sip.StatusOK, c.contactHeader())
			return
		}
		// Late offer: offer in the 200, answer in the ACK (RFC 3261 §14.2).
		c.mu.Lock()
		offer := c.sdp.offer(c.p.codecs, c.want)
		c.localSDP, c.lateOffer = offer, true
		c.mu.Unlock()
		c.respondSDP(req, tx, offer)
		return
	}
	desc, err := parseSDP(body)
	if err != nil {
		c.log.Warn("bad sdp offer", "method", req.Method.String(), "err", err)
		c.p.respond(req, tx, sip.StatusBadRequest)
		return
	}
	params, err := negotiate(desc, c.p.codecs)
	if err != nil {
		c.log.Warn("unacceptable sdp offer", "method", req.Method.String(), "err", err)
		c.p.respond(req, tx, sip.StatusNotAcceptableHere)
		return
	}
	c.mu.Lock()
	local := answerDirection(desc.direction, c.want)
	answer := c.sdp.answer(params, local)
	c.params, c.localDir, c.remoteSDP, c.localSDP = params, local, body, answer
	c.mu.Unlock()
	c.media.configure(params, local)
	c.log.Info("answered re-offer", "method", req.Method.String(), "remote", desc.direction, "local", local, "codec", params.codec)
	c.respondSDP(req, tx, answer)
}

func (c *Call) contactHeader() sip.Header {
	return c.p.contact.Clone()
}

func (c *Call) respondSDP(req *sip.Request, tx sip.ServerTransaction, body []byte) {
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(c.contactHeader())
	if err := tx.Respond(res); err != nil {
		c.log.Warn("sdp response failed", "method", req.Method.String(), "err", err)
	}
}
