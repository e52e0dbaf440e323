package phone

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DialOptions adjust one outgoing call.
type DialOptions struct {
	// Headers are added to the INVITE, e.g. {"X-Foo": "bar"}.
	Headers map[string]string
	// FromUser is the user part of the From URI. Default: Options.User.
	FromUser string
	// FromDisplay is the From display name.
	FromDisplay string
	// Username and Password answer a 401/407 challenge to the INVITE.
	Username, Password string
	// OnProgress is called (on Dial's goroutine) for each provisional
	// response, with the call being set up: after a 183 with SDP its
	// Recording already holds early media.
	OnProgress func(code int, c *Call)
}

// Dial sends an INVITE to target (a SIP URI, or user@host:port) offering
// the phone's codecs and telephone-event/8000 on payload type 101, and
// waits for the answer. It sends the ACK and returns the call on 2xx. A
// final error response is returned as *StatusError (errors.As). When ctx
// ends before the answer the INVITE is canceled (CANCEL) and ctx's error is
// returned.
func (p *Phone) Dial(ctx context.Context, target string, opts DialOptions) (*Call, error) {
	var uri sip.Uri
	if err := sip.ParseUri(sipURI(target), &uri); err != nil {
		return nil, fmt.Errorf("dial %q: %w", target, err)
	}
	callID := randomToken(16)
	fromTag := sip.GenerateTagN(16)
	c, err := p.newCall(callID, fromTag, true)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}

	req := sip.NewRequest(sip.INVITE, uri)
	fromUser := opts.FromUser
	if fromUser == "" {
		fromUser = p.opts.User
	}
	from := &sip.FromHeader{
		DisplayName: opts.FromDisplay,
		Address:     sip.Uri{Scheme: "sip", User: fromUser, Host: loopback},
		Params:      sip.NewParams(),
	}
	from.Params.Add("tag", fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(p.contact.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", userAgentHeader))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	for _, k := range slices.Sorted(maps.Keys(opts.Headers)) {
		req.AppendHeader(sip.NewHeader(k, opts.Headers[k]))
	}
	c.mu.Lock()
	offer := c.sdp.offer(p.codecs, SendRecv)
	c.localSDP = offer
	c.mu.Unlock()
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	if t, ok := uri.UriParams.Get("transport"); ok && t != "" {
		req.SetTransport(t)
	} else if p.transport == "TCP" {
		req.SetTransport("TCP")
	}

	// What DialogUA.WriteInvite does, split so that the call is complete
	// before the phone can route requests of the dialog to it.
	dlg := &sipgo.DialogClientSession{Dialog: sipgo.Dialog{InviteRequest: req}, UA: p.dua}
	dlg.Init()
	c.uac = dlg
	p.addCall(c)
	fail := func(err error) (*Call, error) {
		c.end(EndError)
		return nil, err
	}
	c.log.Info("dialing", "to", uri.User)
	if err := dlg.Invite(ctx); err != nil {
		return fail(fmt.Errorf("dial %s: %w", target, err))
	}

	// sipgo sends CANCEL when the context of WaitAnswer ends, but CANCEL
	// needs a provisional response first (RFC 3261 §9.1) and without one it
	// waits for Timer B (32 s). If nothing came back, give up at once.
	var provisional atomic.Bool
	waitCtx, cancelWait := context.WithCancelCause(context.Background())
	defer cancelWait(nil)
	stop := context.AfterFunc(ctx, func() {
		if provisional.Load() {
			cancelWait(context.Cause(ctx))
			return
		}
		cancelWait(sipgo.WaitAnswerForceCancelErr)
	})
	defer stop()

	err = dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{
		Username: opts.Username,
		Password: opts.Password,
		OnResponse: func(res *sip.Response) error {
			if !res.IsProvisional() {
				return nil
			}
			provisional.Store(true)
			c.mu.Lock()
			c.progress = append(c.progress, res.StatusCode)
			c.mu.Unlock()
			if len(res.Body()) > 0 && res.StatusCode > 100 {
				if err := c.earlyMedia(res.Body()); err != nil {
					c.log.Warn("early media sdp ignored", "code", res.StatusCode, "err", err)
				}
			}
			if opts.OnProgress != nil {
				opts.OnProgress(res.StatusCode, c)
			}
			return nil
		},
	})
	if err != nil {
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			return fail(fmt.Errorf("dial %s: %w", target, &StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}))
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(fmt.Errorf("dial %s: %w", target, err))
	}

	res := dlg.InviteResponse
	desc, perr := parseSDP(res.Body())
	var params mediaParams
	if perr == nil {
		params, perr = negotiate(desc, p.codecs)
	}
	if err := dlg.Ack(ctx); err != nil {
		return fail(fmt.Errorf("dial %s: ack: %w", target, err))
	}
	if perr != nil {
		// An answer this phone cannot use: the dialog exists, so end it.
		c.pendingEnd.Store(int32(EndLocal))
		if err := dlg.Bye(ctx); err != nil {
			c.log.Warn("bye after a bad answer failed", "err", err)
		}
		return fail(fmt.Errorf("dial %s: unusable answer: %w", target, perr))
	}
	local := directionOf(desc.direction.receives(), desc.direction.sends())
	c.mu.Lock()
	c.params, c.localDir, c.remoteSDP = params, local, res.Body()
	c.mu.Unlock()
	c.confirm()
	c.media.configure(params, local)
	c.media.start()
	c.log.Info("answered", "codec", params.codec, "remote_direction", desc.direction)
	go c.watch(dlg.Context())
	return c, nil
}

// earlyMedia applies the SDP of a provisional response: the phone records
// what arrives but does not send before the answer.
func (c *Call) earlyMedia(body []byte) error {
	desc, err := parseSDP(body)
	if err != nil {
		return err
	}
	params, err := negotiate(desc, c.p.codecs)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.params, c.remoteSDP = params, body
	c.mu.Unlock()
	c.media.configure(params, RecvOnly)
	return nil
}
