package signaling

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

const phoneSDP = "v=0\r\no=phone 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"

// answering makes the phone ring and answer, handing the session and the
// INVITE to the test. With a gate, the phone answers only once the gate is
// closed: sipgo handles responses concurrently, so a 200 sent right after
// a 180 may be processed first and the 180 dropped.
func answering(p *phone, gate ...chan struct{}) (invites chan *sip.Request, sessions chan *sipgo.DialogServerSession) {
	invites = make(chan *sip.Request, 4)
	sessions = make(chan *sipgo.DialogServerSession, 4)
	p.setOnInvite(func(s *sipgo.DialogServerSession, req *sip.Request) {
		invites <- req
		if err := s.Respond(180, "Ringing", nil); err != nil {
			return
		}
		for _, g := range gate {
			select {
			case <-g:
			case <-s.Context().Done():
				return
			}
		}
		if err := s.RespondSDP([]byte(phoneSDP)); err != nil {
			return
		}
		sessions <- s
	})
	return invites, sessions
}

// ringing makes the phone ring forever.
func ringing(p *phone) chan *sip.Request {
	invites := make(chan *sip.Request, 4)
	p.setOnInvite(func(s *sipgo.DialogServerSession, req *sip.Request) {
		invites <- req
		if err := s.Respond(180, "Ringing", nil); err != nil {
			return
		}
		<-s.Context().Done()
	})
	return invites
}

func TestDialSIP(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		for _, who := range []string{"callee hangs up", "caller hangs up"} {
			t.Run(tp+"/"+who, func(t *testing.T) {
				ts := newTestServer(t, Options{})
				p := newPhone(t, phoneOpts{transport: tp})
				gate := make(chan struct{})
				invites, sessions := answering(p, gate)
				ctx := ctxT(t)
				o, err := ts.Dial(ctx, DialRequest{
					To:      Target{Kind: TargetSIP, Value: "sip:" + p.endpoint(), Transport: strings.ToUpper(tp)},
					CLI:     "46708000000",
					Headers: []Header{{"X-Foo", "bar"}, {"P-Custom", "a b"}},
					SDP:     []byte(ourSDP),
				})
				require.NoError(t, err)
				pr := recvTimeout(t, o.Progress(), wait, "180")
				assert.Equal(t, 180, pr.Code)
				assert.Nil(t, pr.SDP)
				close(gate)
				answer, err := o.WaitAnswer(ctx)
				require.NoError(t, err)
				assert.Equal(t, phoneSDP, string(answer))

				req := recvTimeout(t, invites, wait, "INVITE at phone")
				assert.Equal(t, "+46708000000", req.From().Address.User)
				assert.Equal(t, "phone", req.Recipient.User)
				assert.Equal(t, "bar", req.GetHeader("X-Foo").Value())
				assert.Equal(t, "a b", req.GetHeader("P-Custom").Value())
				assert.Nil(t, req.GetHeader("Privacy"))
				assert.Equal(t, ourSDP, string(req.Body()))
				assert.Equal(t, o.CallID(), req.CallID().Value())
				if tp == "tcp" {
					v, _ := req.Recipient.UriParams.Get("transport")
					assert.Equal(t, "tcp", v)
				}
				s := recvTimeout(t, sessions, wait, "phone session")
				if who == "callee hangs up" {
					require.NoError(t, s.Bye(ctx))
					waitDone(t, o.Done(), "end")
					end := o.End()
					assert.Equal(t, EndRemoteBye, end.Cause)
					assert.Equal(t, events.ResultAnswered, end.Result)
					assert.Equal(t, events.ReasonCalleeHangup, end.Reason)
				} else {
					require.NoError(t, o.Hangup(ctx))
					recvTimeout(t, p.byes, wait, "BYE at phone")
					end := o.End()
					assert.Equal(t, EndLocalHangup, end.Cause)
					assert.Equal(t, events.ReasonCallerHangup, end.Reason)
					require.NoError(t, o.Hangup(ctx), "idempotent")
				}
				assert.InDelta(t, 1, counter(ts.metrics.outbound.WithLabelValues("answered")), 0)
				assert.Equal(t, 0, ts.ActiveCalls())
			})
		}
	}
}

func TestDialInDialogEvents(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	_, sessions := answering(p)
	ctx := ctxT(t)
	o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint()}, SDP: []byte(ourSDP)})
	require.NoError(t, err)
	_, err = o.WaitAnswer(ctx)
	require.NoError(t, err)
	s := recvTimeout(t, sessions, wait, "session")

	req := sip.NewRequest(sip.INFO, s.InviteRequest.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte("Signal=9\r\nDuration=100\r\n"))
	res, err := s.Do(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	ev := recvTimeout(t, o.Events(), wait, "dtmf")
	assert.Equal(t, "9", ev.Digit)

	got := make(chan *sip.Response, 1)
	go func() {
		req := sip.NewRequest(sip.INVITE, s.InviteRequest.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(phoneSDP))
		res, err := s.Do(ctx, req)
		if err == nil && res.StatusCode == 200 {
			err = s.WriteRequest(sip.NewRequest(sip.ACK, s.InviteRequest.Contact().Address))
		}
		if err != nil {
			res = nil
		}
		got <- res
	}()
	ev = recvTimeout(t, o.Events(), wait, "re-INVITE from the callee")
	assert.Equal(t, EventOffer, ev.Kind)
	ev.Respond([]byte(ourSDP), nil)
	r := recvTimeout(t, got, wait, "200 to re-INVITE")
	require.NotNil(t, r)
	assert.Equal(t, 200, r.StatusCode)
	require.NoError(t, o.Hangup(ctx))
}

func TestDialFailures(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := ctxT(t)

	t.Run("busy", func(t *testing.T) {
		p := newPhone(t, phoneOpts{})
		p.setOnInvite(func(s *sipgo.DialogServerSession, _ *sip.Request) { _ = s.Respond(486, "Busy Here", nil) })
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint()}, SDP: []byte(ourSDP)})
		require.NoError(t, err)
		_, err = o.WaitAnswer(ctx)
		var de *DialError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, 486, de.Code)
		assert.Equal(t, events.ResultBusy, de.Result)
		assert.Equal(t, events.ReasonBusy, de.Reason)
		waitDone(t, o.Done(), "end")
		assert.Equal(t, EndRemoteReject, o.End().Cause)
		assert.Equal(t, events.ReasonBusy, o.End().Reason)
		require.NoError(t, o.Hangup(ctx), "hangup after failure")
	})

	t.Run("ring timeout", func(t *testing.T) {
		p := newPhone(t, phoneOpts{})
		invites := ringing(p)
		start := time.Now()
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint()}, SDP: []byte(ourSDP), DialTimeout: 400 * time.Millisecond})
		require.NoError(t, err)
		recvTimeout(t, invites, wait, "INVITE")
		_, err = o.WaitAnswer(ctx)
		assert.Less(t, time.Since(start), 3*time.Second)
		var de *DialError
		require.ErrorAs(t, err, &de)
		require.ErrorIs(t, err, ErrRingTimeout)
		assert.Equal(t, CodeRingTimeout, de.Code)
		assert.Equal(t, events.ResultNoAnswer, de.Result)
		assert.Equal(t, events.ReasonTimeout, de.Reason)
		recvTimeout(t, p.cancels, wait, "CANCEL at the phone")
		assert.Equal(t, EndRingTimeout, o.End().Cause)
	})

	t.Run("cancel", func(t *testing.T) {
		p := newPhone(t, phoneOpts{transport: "tcp"})
		ringing(p)
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint(), Transport: "tcp"}, SDP: []byte(ourSDP)})
		require.NoError(t, err)
		recvTimeout(t, o.Progress(), wait, "ringing")
		require.NoError(t, o.Cancel(ctx))
		_, err = o.WaitAnswer(ctx)
		require.ErrorIs(t, err, ErrCanceled)
		var de *DialError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, events.ReasonCancel, de.Reason)
		recvTimeout(t, p.cancels, wait, "CANCEL at the phone")
		assert.Equal(t, EndLocalHangup, o.End().Cause)
	})

	t.Run("unreachable tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
		_, err = ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: "x@127.0.0.1:" + strconv.Itoa(port), Transport: "tcp"}, SDP: []byte(ourSDP)})
		var de *DialError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, CodeTransportError, de.Code)
		assert.Equal(t, events.ReasonClientNetwork, de.Reason)
	})

	assert.InDelta(t, 1, counter(ts.metrics.outbound.WithLabelValues("busy")), 0)
	assert.InDelta(t, 2, counter(ts.metrics.outbound.WithLabelValues("noanswer")), 0)
	assert.InDelta(t, 1, counter(ts.metrics.outbound.WithLabelValues("failed")), 0)
	require.Eventually(t, func() bool { return ts.ActiveCalls() == 0 }, wait, 10*time.Millisecond)
}

func TestDialValidation(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := ctxT(t)
	sdp := []byte(ourSDP)
	for name, r := range map[string]DialRequest{
		"no sdp":          {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}},
		"unknown kind":    {To: Target{Value: "a@127.0.0.1"}, SDP: sdp},
		"bad number":      {To: Target{Kind: TargetNumber, Value: "12ab"}, SDP: sdp},
		"no host":         {To: Target{Kind: TargetSIP, Value: "sip:a@"}, SDP: sdp},
		"bad transport":   {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1", Transport: "sctp"}, SDP: sdp},
		"sips over udp":   {To: Target{Kind: TargetSIP, Value: "sips:a@127.0.0.1", Transport: "udp"}, SDP: sdp},
		"reserved header": {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: sdp, Headers: []Header{{"Via", "x"}}},
		"bad header name": {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: sdp, Headers: []Header{{"X Bad", "x"}}},
		"crlf in value":   {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: sdp, Headers: []Header{{"X-A", "x\r\nVia: evil"}}},
		"bad cli":         {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: sdp, CLI: "a b<c>"},
		"bad user":        {To: Target{Kind: TargetUser, Value: "a b"}, SDP: sdp},
		"negative ring":   {To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: sdp, DialTimeout: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ts.Dial(ctx, r)
			require.ErrorIs(t, err, ErrInvalidDial)
		})
	}
	_, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetNumber, Value: "+15551234567"}, SDP: sdp})
	require.ErrorIs(t, err, ErrNoGateway)
	_, err = ts.Dial(ctx, DialRequest{To: Target{Kind: TargetUser, Value: "nobody"}, SDP: sdp})
	require.ErrorIs(t, err, ErrUserNotFound)
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, events.ReasonUserNotFound, de.Reason)
	assert.Equal(t, events.ResultFailed, de.Result)
	assert.Equal(t, 0, ts.ActiveCalls())
}

func TestDialNumberWithDigestAuth(t *testing.T) {
	for _, status := range []int{401, 407} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			p := newPhone(t, phoneOpts{user: "gw"})
			invites := make(chan *sip.Request, 4)
			authOK := make(chan bool, 1)
			p.setOnInvite(func(s *sipgo.DialogServerSession, req *sip.Request) {
				invites <- req
				chalHdr, credHdr := "WWW-Authenticate", "Authorization"
				if status == 407 {
					chalHdr, credHdr = "Proxy-Authenticate", "Proxy-Authorization"
				}
				h := req.GetHeader(credHdr)
				if h == nil {
					_ = s.Respond(status, "Auth Required", nil, sip.NewHeader(chalHdr, `Digest realm="gw.test", nonce="n0nce", qop="auth", algorithm=MD5`))
					return
				}
				cred, err := digest.ParseCredentials(h.Value())
				ok := err == nil
				if ok {
					want, err := digest.Digest(&digest.Challenge{Realm: "gw.test", Nonce: "n0nce", QOP: []string{"auth"}, Algorithm: "MD5"},
						digest.Options{Method: "INVITE", URI: cred.URI, Username: "trunk", Password: "s3cret", Cnonce: cred.Cnonce, Count: cred.Nc})
					ok = err == nil && want.Response == cred.Response && cred.Username == "trunk"
				}
				authOK <- ok
				if !ok {
					_ = s.Respond(403, "Forbidden", nil)
					return
				}
				_ = s.RespondSDP([]byte(phoneSDP))
			})
			ts := newTestServer(t, Options{Gateway: Gateway{URI: "sip:127.0.0.1:" + strconv.Itoa(p.port), Username: "trunk", Password: "s3cret"}})
			ctx := ctxT(t)
			o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetNumber, Value: "15551234567"}, CLI: "private", SDP: []byte(ourSDP)})
			require.NoError(t, err)
			answer, err := o.WaitAnswer(ctx)
			require.NoError(t, err)
			assert.Equal(t, phoneSDP, string(answer))
			assert.True(t, recvTimeout(t, authOK, wait, "auth check"))
			first := recvTimeout(t, invites, wait, "first INVITE")
			second := recvTimeout(t, invites, wait, "second INVITE")
			assert.Equal(t, "+15551234567", first.Recipient.User)
			assert.Equal(t, "anonymous", first.From().Address.User)
			assert.Equal(t, "anonymous.invalid", first.From().Address.Host)
			assert.Equal(t, "id", first.GetHeader("Privacy").Value())
			assert.Equal(t, first.CallID().Value(), second.CallID().Value())
			assert.Equal(t, first.CSeq().SeqNo+1, second.CSeq().SeqNo)
			require.NoError(t, o.Hangup(ctx))
		})
	}

	t.Run("wrong password fails once", func(t *testing.T) {
		p := newPhone(t, phoneOpts{user: "gw"})
		count := make(chan struct{}, 8)
		p.setOnInvite(func(s *sipgo.DialogServerSession, req *sip.Request) {
			count <- struct{}{}
			_ = s.Respond(401, "Unauthorized", nil, sip.NewHeader("WWW-Authenticate", `Digest realm="gw.test", nonce="n", algorithm=MD5`))
		})
		ts := newTestServer(t, Options{Gateway: Gateway{URI: "sip:127.0.0.1:" + strconv.Itoa(p.port), Username: "trunk", Password: "bad"}})
		ctx := ctxT(t)
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetNumber, Value: "+15551234567"}, SDP: []byte(ourSDP)})
		require.NoError(t, err)
		_, err = o.WaitAnswer(ctx)
		var de *DialError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, 401, de.Code)
		assert.Equal(t, events.ReasonGeneralError, de.Reason)
		assert.Len(t, count, 2, "one retry with credentials, no more")
	})
}

// selfSigned returns a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "phone.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestDialTLS(t *testing.T) {
	cert := selfSigned(t)
	p := newPhone(t, phoneOpts{transport: "tls", tlsCert: &cert})
	invites, sessions := answering(p)
	ctx := ctxT(t)

	t.Run("certificate verified", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		_, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint(), Transport: "tls"}, SDP: []byte(ourSDP)})
		var de *DialError
		require.ErrorAs(t, err, &de, "a self-signed certificate fails verification; no fallback to another transport")
		assert.Equal(t, CodeTransportError, de.Code)
		var uerr x509.UnknownAuthorityError
		assert.True(t, errors.As(err, &uerr) || strings.Contains(err.Error(), "certificate"), err.Error())
	})

	t.Run("insecure skip verify", func(t *testing.T) {
		ts := newTestServer(t, Options{TLSInsecureSkipVerify: true})
		o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint(), Transport: "TLS"}, SDP: []byte(ourSDP)})
		require.NoError(t, err)
		answer, err := o.WaitAnswer(ctx)
		require.NoError(t, err)
		assert.Equal(t, phoneSDP, string(answer))
		req := recvTimeout(t, invites, wait, "INVITE")
		v, _ := req.Recipient.UriParams.Get("transport")
		assert.Equal(t, "tls", v)
		assert.Equal(t, "TLS", strings.ToUpper(req.Via().Transport))
		c, _ := req.Contact().Address.UriParams.Get("transport")
		assert.Equal(t, "tls", c)
		s := recvTimeout(t, sessions, wait, "session")
		require.NoError(t, s.Bye(ctx), "the phone reaches us over the TLS connection")
		waitDone(t, o.Done(), "end")
		assert.Equal(t, EndRemoteBye, o.End().Cause)
	})
}

func TestDialLateAnswerAfterCancelIsHungUp(t *testing.T) {
	ts := newTestServer(t, Options{})
	// A bare socket as callee: it sends no provisional response, so our
	// CANCEL must wait for one (RFC 3261 §9.1) and the late 200 wins.
	r := newRawUDP(t, ts.UDPAddr())
	ctx := ctxT(t)
	o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: "late@127.0.0.1:" + strconv.Itoa(r.port())}, SDP: []byte(ourSDP), DialTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	invite := r.recv(wait)
	require.True(t, strings.HasPrefix(invite, "INVITE "), firstLine(invite))
	_, err = o.WaitAnswer(ctx)
	require.ErrorIs(t, err, ErrRingTimeout)

	var hdrs []string
	for _, name := range []string{"Via", "From", "Call-ID", "CSeq"} {
		hdrs = append(hdrs, name+": "+headerValue(invite, name))
	}
	hdrs = append(hdrs, "To: "+headerValue(invite, "To")+";tag=late", "Contact: <sip:late@127.0.0.1:"+strconv.Itoa(r.port())+">",
		"Content-Type: application/sdp", "Content-Length: "+strconv.Itoa(len(phoneSDP)))
	r.send("SIP/2.0 200 OK\r\n" + strings.Join(hdrs, "\r\n") + "\r\n\r\n" + phoneSDP)
	var got []string
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && !slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "BYE ") }) {
		if m := r.recv(time.Until(deadline)); m != "" {
			got = append(got, firstLine(m))
		}
	}
	assert.True(t, slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "ACK ") }), "ACK for the late 200: %q", got)
	assert.True(t, slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "BYE ") }), "BYE for the late 200: %q", got)
}
