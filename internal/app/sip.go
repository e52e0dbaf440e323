package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/e164"
	"github.com/callcore/callcore/internal/signaling"
)

// legEvents turns a dialog's in-dialog events into the call core's. It
// runs until the dialog is done; the returned channel is never closed.
func legEvents(done <-chan struct{}, in <-chan signaling.Event) <-chan call.LegEvent {
	out := make(chan call.LegEvent)
	go func() {
		for {
			select {
			case <-done:
				return
			case ev := <-in:
				var le call.LegEvent
				switch ev.Kind {
				case signaling.EventOffer:
					le = call.LegEvent{Offer: ev.SDP, Respond: ev.Respond}
					if le.Offer == nil {
						le.Offer = []byte{} // offer-less re-INVITE: still an offer to answer
					}
				case signaling.EventDTMF:
					r, _ := utf8.DecodeRuneInString(ev.Digit)
					le = call.LegEvent{Digit: r}
				default:
					continue
				}
				select {
				case out <- le:
				case <-done:
					return
				}
			}
		}
	}()
	return out
}

// sipInbound adapts *signaling.Inbound to call.InboundLeg.
type sipInbound struct {
	in     *signaling.Inbound
	log    *slog.Logger
	events <-chan call.LegEvent
}

var _ call.InboundLeg = (*sipInbound)(nil)

func newSIPInbound(in *signaling.Inbound, log *slog.Logger) *sipInbound {
	return &sipInbound{in: in, log: log, events: legEvents(in.Done(), in.Events())}
}

// SetCallID makes the dialog's log lines carry the callcore call id (the
// SIP Call-ID stays as sip_call_id).
func (l *sipInbound) SetCallID(id string) { l.in.SetLogger(l.log.With("call_id", id)) }

// SetTraceID puts the dialog's SIP messages, those since the INVITE
// included, into the call's timeline (the call core calls it once the
// call exists).
func (l *sipInbound) SetTraceID(id string) { l.in.SetTraceID(id) }

func (l *sipInbound) Ring(ctx context.Context, early []byte) error { return l.in.Ring(ctx, early) }
func (l *sipInbound) Answer(ctx context.Context, sdp []byte) ([]byte, error) {
	if err := l.in.Answer(ctx, sdp); err != nil {
		return nil, err
	}
	return l.in.AckSDP(), nil
}
func (l *sipInbound) Reject(ctx context.Context, code int, reason string) error {
	return l.in.Reject(ctx, code, reason)
}
func (l *sipInbound) Hangup(ctx context.Context) error { return l.in.Hangup(ctx) }
func (l *sipInbound) Done() <-chan struct{}            { return l.in.Done() }
func (l *sipInbound) RemoteEnded() bool                { return l.in.End().Cause.Remote() }
func (l *sipInbound) Events() <-chan call.LegEvent     { return l.events }

// sipOutbound adapts *signaling.Outbound to call.OutboundLeg.
type sipOutbound struct {
	out    *signaling.Outbound
	events <-chan call.LegEvent
}

var _ call.OutboundLeg = (*sipOutbound)(nil)

func (l *sipOutbound) WaitAnswer(ctx context.Context) ([]byte, error) {
	sdp, err := l.out.WaitAnswer(ctx)
	var de *signaling.DialError
	if errors.As(err, &de) {
		return nil, &call.DialError{Code: de.Code, Result: de.Result, Reason: de.Reason, Err: err}
	}
	return sdp, err
}
func (l *sipOutbound) Hangup(ctx context.Context) error { return l.out.Hangup(ctx) }
func (l *sipOutbound) Done() <-chan struct{}            { return l.out.Done() }
func (l *sipOutbound) RemoteEnded() bool                { return l.out.End().Cause.Remote() }
func (l *sipOutbound) Events() <-chan call.LegEvent     { return l.events }

// sipDialer adapts the signaling server to call.Dialer.
type sipDialer struct {
	s   *signaling.Server
	log *slog.Logger
}

var _ call.Dialer = sipDialer{}

func (d sipDialer) Dial(ctx context.Context, r call.DialRequest) (call.OutboundLeg, error) {
	kind := signaling.TargetNumber
	switch r.Kind {
	case call.DestSIP:
		kind = signaling.TargetSIP
	case call.DestUsername:
		kind = signaling.TargetUser
	}
	hs := make([]signaling.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = signaling.Header{Key: h.Key, Value: h.Value}
	}
	out, err := d.s.Dial(ctx, signaling.DialRequest{
		To:          signaling.Target{Kind: kind, Value: r.Endpoint, Transport: r.Transport},
		CLI:         r.CLI,
		Headers:     hs,
		SDP:         r.Offer,
		DialTimeout: r.DialTimeout,
		TraceID:     r.CallID,
	})
	var de *signaling.DialError
	if errors.As(err, &de) {
		return nil, &call.DialError{Code: de.Code, Result: de.Result, Reason: de.Reason, Err: err}
	}
	if err != nil {
		return nil, err
	}
	if d.log != nil && r.CallID != "" {
		out.SetLogger(d.log.With("call_id", r.CallID))
	}
	return &sipOutbound{out: out, events: legEvents(out.Done(), out.Events())}, nil
}

// inboundCall describes an INVITE for the call core: who calls, and what
// was dialled — a number (did), an in-app user (username) or a SIP
// address (sip).
func inboundCall(cfg *config.Config, in *signaling.Inbound, log *slog.Logger) call.Inbound {
	from := in.From().User
	_, _, fromUser := cfg.User(from)
	c := call.Inbound{
		Leg:      newSIPInbound(in, log),
		From:     from,
		FromUser: fromUser,
		Offer:    in.Offer(),
		To:       dialled(cfg, in),
		RDNIS:    in.RedirectingNumber(),
	}
	for _, h := range in.XHeaders() {
		c.Headers = append(c.Headers, events.KeyValue{Key: h.Key, Value: h.Value})
	}
	return c
}

func dialled(cfg *config.Config, in *signaling.Inbound) events.Destination {
	user := in.To().User
	if ru := in.RequestURI(); ru != "" {
		if u := uriUser(ru); u != "" {
			user = u
		}
	}
	if n, err := dialledNumber(user); err == nil {
		return events.Destination{Type: "did", Endpoint: n}
	}
	if _, _, ok := cfg.User(user); ok {
		return events.Destination{Type: "username", Endpoint: user}
	}
	return events.Destination{Type: "sip", Endpoint: strings.TrimPrefix(strings.TrimPrefix(in.To().URI, "sips:"), "sip:")}
}

// dialledNumber reads the user part of a Request-URI as a phone number in
// E.164. Trunks often send the number without its "+"; a leading "00" is
// the international prefix (e164.Parse takes it).
func dialledNumber(user string) (string, error) {
	if user != "" && user[0] >= '0' && user[0] <= '9' && !strings.HasPrefix(user, "00") {
		user = "+" + user
	}
	n, err := e164.Parse(user)
	if err != nil {
		return "", err
	}
	return n.E164, nil
}

// uriUser returns the user part of a sip: URI.
func uriUser(uri string) string {
	uri = strings.TrimPrefix(strings.TrimPrefix(uri, "sips:"), "sip:")
	user, _, ok := strings.Cut(uri, "@")
	if !ok {
		return ""
	}
	user, _, _ = strings.Cut(user, ";")
	return user
}
