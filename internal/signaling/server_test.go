package signaling

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/testutil/syncbuf"
)

const (
	wait     = 5 * time.Second
	offerSDP = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
	ourSDP   = "v=0\r\no=callcore 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)

type testServer struct {
	*Server
	reg   *prometheus.Registry
	calls chan *Inbound
}

// newTestServer starts a Server on 127.0.0.1:0 whose Handler hands every
// inbound call to the test through ts.calls.
func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry(), calls: make(chan *Inbound, 8)}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t).With("who", "server")
	}
	opts.Registerer = ts.reg
	if opts.Handler == nil {
		opts.Handler = HandlerFunc(func(in *Inbound) { ts.calls <- in })
	}
	s, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	ts.Server = s
	return ts
}

// addr is the server address for a phone transport.
func (ts *testServer) addr(transport string) netip.AddrPort {
	if transport == "UDP" {
		return ts.UDPAddr()
	}
	return ts.TCPAddr()
}

func (ts *testServer) nextCall(t testing.TB) *Inbound {
	t.Helper()
	return recvTimeout(t, ts.calls, wait, "inbound call")
}

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func waitDone(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartBindsUDPAndTCP(t *testing.T) {
	ts := newTestServer(t, Options{})
	u, tc := ts.UDPAddr(), ts.TCPAddr()
	require.True(t, u.IsValid())
	require.True(t, tc.IsValid())
	assert.NotZero(t, u.Port())
	assert.Equal(t, u.Port(), tc.Port(), "port 0: TCP binds the UDP port number when free")
	require.Error(t, ts.Start(context.Background()), "second Start")
}

func TestNewValidates(t *testing.T) {
	h := HandlerFunc(func(*Inbound) {})
	for name, o := range map[string]Options{
		"no handler":      {Listen: "127.0.0.1:0"},
		"bad listen":      {Listen: "nope", Handler: h},
		"wildcard":        {Listen: ":5060", Handler: h},
		"bad gateway":     {Listen: "127.0.0.1:0", Handler: h, Gateway: Gateway{URI: "http://x"}},
		"gateway tp":      {Listen: "127.0.0.1:0", Handler: h, Gateway: Gateway{URI: "sip:gw;transport=sctp"}},
		"sips udp":        {Listen: "127.0.0.1:0", Handler: h, Gateway: Gateway{URI: "sips:gw;transport=udp"}},
		"negative":        {Listen: "127.0.0.1:0", Handler: h, AckTimeout: -1},
		"expires order":   {Listen: "127.0.0.1:0", Handler: h, MinExpires: time.Hour, DefaultExpires: time.Minute},
		"negative calls":  {Listen: "127.0.0.1:0", Handler: h, MaxCalls: -1},
		"port out of rng": {Listen: "127.0.0.1:70000", Handler: h},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(o)
			require.Error(t, err)
		})
	}
	s, err := New(Options{Listen: ":0", PublicHost: "sip.example.com", Handler: h, Gateway: Gateway{URI: "sips:gw.example.com"}})
	require.NoError(t, err)
	assert.Equal(t, "TLS", s.gw.transport)
	_, err = s.Dial(context.Background(), DialRequest{To: Target{Kind: TargetNumber, Value: "+1555"}, SDP: []byte(ourSDP)})
	require.ErrorIs(t, err, ErrNotStarted)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Start(context.Background()), ErrServerClosed)
}

func TestInboundCall(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			t.Run("caller hangs up", func(t *testing.T) { testInbound(t, tp, true) })
			t.Run("callee hangs up", func(t *testing.T) { testInbound(t, tp, false) })
		})
	}
}

func testInbound(t *testing.T, tp string, callerHangs bool) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{transport: tp})
	ctx := ctxT(t)

	type result struct {
		s    *sipgo.DialogClientSession
		resp []*sip.Response
		err  error
	}
	res := make(chan result, 1)
	watch := make(chan int, 8)
	go func() {
		s, r, err := p.callWatch(ctx, p.uriOf("+15550001111", ts.addr(p.transport)), []byte(offerSDP), watch,
			sip.NewHeader("X-Customer", "acme"), sip.NewHeader("x-trace", "t-1"), sip.NewHeader("Diversion", "<sip:+15557770000@gw>;reason=unconditional"))
		res <- result{s, r, err}
	}()

	in := ts.nextCall(t)
	assert.NotEmpty(t, in.CallID())
	assert.Equal(t, "testphone", in.From().User)
	assert.Equal(t, "testphone", in.From().Display)
	assert.Equal(t, "+15550001111", in.To().User)
	assert.Contains(t, in.RequestURI(), "+15550001111@127.0.0.1")
	assert.Equal(t, offerSDP, string(in.Offer()))
	assert.Equal(t, []Header{{"X-Customer", "acme"}, {"x-trace", "t-1"}}, in.XHeaders())
	assert.Equal(t, "+15557770000", in.RedirectingNumber())
	assert.Equal(t, tp, in.Transport())
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), in.Source().Addr())
	assert.InDelta(t, 1, counter(ts.metrics.active.WithLabelValues("inbound")), 0)

	require.NoError(t, in.Ring(ctx, nil))
	// The phone handles responses concurrently: let it see the 180 before
	// the 200 can overtake it.
	for recvTimeout(t, watch, wait, "180 at the phone") != 180 {
	}
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()

	r := recvTimeout(t, res, wait, "phone answer")
	require.ErrorIs(t, in.Ring(ctx, nil), ErrAlreadyAnswered)
	require.ErrorIs(t, in.Answer(ctx, []byte(ourSDP)), ErrAlreadyAnswered)
	require.NoError(t, r.err)
	codes := make([]int, 0, len(r.resp))
	for _, x := range r.resp {
		codes = append(codes, x.StatusCode)
	}
	assert.Contains(t, codes, 180)
	assert.Equal(t, 200, codes[len(codes)-1])
	final := r.resp[len(r.resp)-1]
	assert.Equal(t, ourSDP, string(final.Body()))
	require.NotNil(t, final.Contact())
	require.NoError(t, r.s.Ack(ctx))
	require.NoError(t, recvTimeout(t, answered, wait, "Answer after ACK"))

	if callerHangs {
		require.NoError(t, r.s.Bye(ctx))
		waitDone(t, in.Done(), "dialog end")
		end := in.End()
		assert.Equal(t, EndRemoteBye, end.Cause)
		assert.True(t, end.Cause.Remote())
		assert.Equal(t, events.ResultAnswered, end.Result)
		assert.Equal(t, events.ReasonCallerHangup, end.Reason)
	} else {
		require.NoError(t, in.Hangup(ctx))
		recvTimeout(t, p.byes, wait, "BYE at the phone")
		end := in.End()
		assert.Equal(t, EndLocalHangup, end.Cause)
		assert.Equal(t, events.ResultAnswered, end.Result)
		assert.Equal(t, events.ReasonCalleeHangup, end.Reason)
		require.NoError(t, in.Hangup(ctx), "idempotent")
	}
	assert.InDelta(t, 1, counter(ts.metrics.inbound.WithLabelValues(inAnswered)), 0)
	assert.InDelta(t, 0, counter(ts.metrics.active.WithLabelValues("inbound")), 0)
	assert.Equal(t, 0, ts.ActiveCalls())
	assert.InDelta(t, 1, counter(ts.metrics.requests.WithLabelValues("INVITE")), 0)
}

func TestInboundAnswerWaitsForAck(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	type result struct {
		s   *sipgo.DialogClientSession
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, _, err := p.call(ctx, p.uriOf("100", ts.UDPAddr()), []byte(offerSDP))
		res <- result{s, err}
	}()
	in := ts.nextCall(t)
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()
	r := recvTimeout(t, res, wait, "200 OK at phone")
	require.NoError(t, r.err)
	select {
	case err := <-answered:
		t.Fatalf("Answer returned %v before the ACK", err)
	default:
	}
	require.NoError(t, r.s.Ack(ctx))
	require.NoError(t, recvTimeout(t, answered, wait, "Answer"))
	require.NoError(t, r.s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

func TestInboundCancel(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	callCtx, cancelCall := context.WithCancel(ctx)
	defer cancelCall()
	errc := make(chan error, 1)
	var mu sync.Mutex
	var codes []int
	go func() {
		s, err := p.clients.Invite(callCtx, p.uriOf("200", ts.UDPAddr()), []byte(offerSDP), sip.NewHeader("Content-Type", "application/sdp"))
		if err != nil {
			errc <- err
			return
		}
		errc <- s.WaitAnswer(callCtx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
			mu.Lock()
			codes = append(codes, r.StatusCode)
			mu.Unlock()
			return nil
		}})
	}()
	in := ts.nextCall(t)
	require.NoError(t, in.Ring(ctx, []byte(ourSDP)))
	// Give the phone the 183 so that it may CANCEL (RFC 3261 §9.1).
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(codes, 183)
	}, wait, 10*time.Millisecond)
	cancelCall()
	require.ErrorIs(t, recvTimeout(t, errc, wait, "phone"), context.Canceled)
	waitDone(t, in.Done(), "cancel")
	end := in.End()
	assert.Equal(t, EndRemoteCancel, end.Cause)
	assert.Equal(t, 487, end.Code)
	assert.Equal(t, events.ReasonCancel, end.Reason)
	assert.Equal(t, events.ResultNoAnswer, end.Result)
	require.ErrorIs(t, in.Answer(ctx, []byte(ourSDP)), ErrCallEnded)
	require.NoError(t, in.Hangup(ctx))
	mu.Lock()
	assert.Contains(t, codes, 183)
	assert.NotContains(t, codes, 200)
	mu.Unlock()
	assert.InDelta(t, 1, counter(ts.metrics.inbound.WithLabelValues(inCanceled)), 0)
	assert.Equal(t, 0, ts.ActiveCalls())
}

func TestInboundReject(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{transport: "tcp"})
	ctx := ctxT(t)
	for _, tc := range []struct {
		name   string
		do     func(in *Inbound) error
		code   int
		cause  EndCause
		result string
		reason string
		retry  string
	}{
		{"busy", func(in *Inbound) error { return in.Reject(ctx, 486, "") }, 486, EndLocalReject, events.ResultBusy, events.ReasonBusy, ""},
		{"congestion", func(in *Inbound) error {
			return in.RejectOptions(ctx, RejectOptions{Code: 503, RetryAfter: 1500 * time.Millisecond})
		}, 503, EndLocalReject, events.ResultFailed, events.ReasonCongestion, "2"},
		{"hangup before answer", func(in *Inbound) error { return in.Hangup(ctx) }, 603, EndLocalHangup, events.ResultNoAnswer, events.ReasonCalleeHangup, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := make(chan []*sip.Response, 1)
			go func() {
				_, r, _ := p.call(ctx, p.uriOf("300", ts.TCPAddr()), []byte(offerSDP))
				res <- r
			}()
			in := ts.nextCall(t)
			require.Error(t, in.Reject(ctx, 200, "no"), "code range")
			require.NoError(t, tc.do(in))
			r := recvTimeout(t, res, wait, "final response")
			last := r[len(r)-1]
			assert.Equal(t, tc.code, last.StatusCode)
			if tc.retry != "" {
				h := last.GetHeader("Retry-After")
				require.NotNil(t, h)
				assert.Equal(t, tc.retry, h.Value())
			}
			waitDone(t, in.Done(), "end")
			end := in.End()
			assert.Equal(t, tc.cause, end.Cause)
			assert.Equal(t, tc.code, end.Code)
			assert.Equal(t, tc.result, end.Result)
			assert.Equal(t, tc.reason, end.Reason)
			require.ErrorIs(t, in.Ring(ctx, nil), ErrCallEnded)
		})
	}
}

func TestReinviteHoldUnholdAndUpdate(t *testing.T) {
	ts := newTestServer(t, Options{OfferTimeout: 300 * time.Millisecond})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)

	type reply struct {
		res *sip.Response
		err error
	}
	// reinvite runs off the test goroutine: it reports, never asserts.
	reinvite := func(sdp string) reply {
		req := sip.NewRequest(sip.INVITE, s.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(sdp))
		res, err := s.Do(ctx, req)
		if err == nil && res.StatusCode == 200 {
			err = s.WriteRequest(sip.NewRequest(sip.ACK, s.InviteResponse.Contact().Address))
		}
		return reply{res, err}
	}
	got := make(chan reply, 1)
	result := func(what string) *sip.Response {
		r := recvTimeout(t, got, wait, what)
		require.NoError(t, r.err)
		return r.res
	}
	held := strings.Replace(offerSDP, "a=sendrecv", "a=sendonly", 1)
	heldAnswer := strings.Replace(ourSDP, "a=sendrecv", "a=recvonly", 1)

	go func() { got <- reinvite(held) }()
	ev := recvTimeout(t, in.Events(), wait, "hold offer")
	assert.Equal(t, EventOffer, ev.Kind)
	assert.Equal(t, "INVITE", ev.Method)
	assert.Equal(t, held, string(ev.SDP))
	ev.Respond([]byte(heldAnswer), nil)
	ev.Respond(nil, errors.New("ignored: second respond"))
	res := result("hold 200")
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, heldAnswer, string(res.Body()))

	go func() { got <- reinvite(offerSDP) }()
	ev = recvTimeout(t, in.Events(), wait, "unhold offer")
	assert.Equal(t, offerSDP, string(ev.SDP))
	ev.Respond([]byte(ourSDP), nil)
	assert.Equal(t, 200, result("unhold 200").StatusCode)

	// Refused offer → 488; other error → 500; no response → 500.
	go func() { got <- reinvite(held) }()
	recvTimeout(t, in.Events(), wait, "offer").Respond(nil, ErrNotAcceptable)
	assert.Equal(t, 488, result("488").StatusCode)
	go func() { got <- reinvite(held) }()
	recvTimeout(t, in.Events(), wait, "offer").Respond(nil, errors.New("media down"))
	assert.Equal(t, 500, result("500").StatusCode)
	go func() { got <- reinvite(held) }()
	recvTimeout(t, in.Events(), wait, "offer") // never responded
	assert.Equal(t, 500, result("500 on offer timeout").StatusCode)

	// UPDATE with SDP is an offer too; without SDP it is just 200.
	go func() {
		req := sip.NewRequest(sip.UPDATE, s.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(held))
		r, err := s.Do(ctx, req)
		got <- reply{r, err}
	}()
	ev = recvTimeout(t, in.Events(), wait, "UPDATE offer")
	assert.Equal(t, "UPDATE", ev.Method)
	ev.Respond([]byte(heldAnswer), nil)
	r := result("UPDATE 200")
	assert.Equal(t, 200, r.StatusCode)
	assert.Equal(t, heldAnswer, string(r.Body()))
	r, err := s.Do(ctx, sip.NewRequest(sip.UPDATE, s.InviteResponse.Contact().Address))
	require.NoError(t, err)
	assert.Equal(t, 200, r.StatusCode)

	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

// establish runs an inbound call up to the ACK.
func establish(t *testing.T, ts *testServer, p *phone, ctx context.Context) (*sipgo.DialogClientSession, *Inbound) {
	t.Helper()
	type result struct {
		s   *sipgo.DialogClientSession
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, _, err := p.call(ctx, p.uriOf("500", ts.addr(p.transport)), []byte(offerSDP))
		res <- result{s, err}
	}()
	in := ts.nextCall(t)
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()
	r := recvTimeout(t, res, wait, "answer")
	require.NoError(t, r.err)
	require.NoError(t, r.s.Ack(ctx))
	require.NoError(t, recvTimeout(t, answered, wait, "ACK"))
	return r.s, in
}

func TestInfoDTMF(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{transport: "tcp"})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)
	info := func(ct, body string) int {
		req := sip.NewRequest(sip.INFO, s.InviteResponse.Contact().Address)
		if ct != "" {
			req.AppendHeader(sip.NewHeader("Content-Type", ct))
		}
		req.SetBody([]byte(body))
		res, err := s.Do(ctx, req)
		require.NoError(t, err)
		return res.StatusCode
	}
	assert.Equal(t, 200, info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"))
	ev := recvTimeout(t, in.Events(), wait, "dtmf")
	assert.Equal(t, EventDTMF, ev.Kind)
	assert.Equal(t, "5", ev.Digit)
	assert.Equal(t, 160*time.Millisecond, ev.Duration)
	assert.Equal(t, 200, info("application/dtmf", "#"))
	assert.Equal(t, "#", recvTimeout(t, in.Events(), wait, "dtmf #").Digit)
	assert.Equal(t, 400, info("application/dtmf-relay", "Signal=Z\r\n"))
	assert.Equal(t, 415, info("application/media_control+xml", "<x/>"))
	assert.Equal(t, 200, info("", ""))
	select {
	case ev := <-in.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

// Digits sent by INFO one after the other, each once the last one's 200
// has come, reach the call in the order they were sent: each is delivered
// before its 200 leaves, though sipgo handles every request on its own
// goroutine.
func TestInfoDTMFInOrder(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{transport: "tcp"})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)
	const digits = "0123456789*#ABCD"
	// Read as the call core does, while the digits come.
	gotc := make(chan string, 1)
	go func() {
		var got strings.Builder
		defer func() { gotc <- got.String() }()
		for got.Len() < 8*len(digits) {
			select {
			case ev := <-in.Events():
				got.WriteString(ev.Digit)
			case <-time.After(wait):
				return // what came so far; the comparison fails
			}
		}
	}()
	var want strings.Builder
	for range 8 {
		for i := range len(digits) {
			req := sip.NewRequest(sip.INFO, s.InviteResponse.Contact().Address)
			req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf"))
			req.SetBody([]byte{digits[i]})
			res, err := s.Do(ctx, req)
			require.NoError(t, err)
			require.Equal(t, 200, res.StatusCode)
			want.WriteByte(digits[i])
		}
	}
	assert.Equal(t, want.String(), <-gotc)
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

// A call that is behind (nobody reads its events for a while) holds the
// INFOs' 200s back instead of losing digits.
func TestInfoDTMFWaitsForTheCall(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{transport: "tcp"})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)
	const digits = "0123456789*#ABCD0123" // more than the events channel holds
	sent := make(chan error, 1)
	go func() {
		for i := range len(digits) {
			req := sip.NewRequest(sip.INFO, s.InviteResponse.Contact().Address)
			req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf"))
			req.SetBody([]byte{digits[i]})
			res, err := s.Do(ctx, req)
			if err == nil && res.StatusCode != 200 {
				err = fmt.Errorf("INFO %c: %d", digits[i], res.StatusCode)
			}
			if err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("all INFOs answered while the call read nothing: %v", err)
	default:
	}
	var got strings.Builder
	for got.Len() < len(digits) {
		got.WriteString(recvTimeout(t, in.Events(), wait, "dtmf").Digit)
	}
	assert.Equal(t, digits, got.String())
	require.NoError(t, <-sent)
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

func TestOptionsAndUnknownRequests(t *testing.T) {
	ts := newTestServer(t, Options{Users: func(string) (string, bool) { return "", false }})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	to := p.uriOf("", ts.UDPAddr())

	res, err := p.do(ctx, sip.NewRequest(sip.OPTIONS, to))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	require.NotNil(t, res.GetHeader("Allow"))
	assert.Contains(t, res.GetHeader("Allow").Value(), "INVITE")
	assert.Contains(t, res.GetHeader("Allow").Value(), "REGISTER")
	assert.Contains(t, res.GetHeader("Accept").Value(), "application/sdp")

	res, err = p.do(ctx, sip.NewRequest(sip.MESSAGE, to))
	require.NoError(t, err)
	assert.Equal(t, 405, res.StatusCode)
	require.NotNil(t, res.GetHeader("Allow"))

	// Requests inside a dialog nobody knows: 481.
	for _, m := range []sip.RequestMethod{sip.BYE, sip.INFO, sip.OPTIONS, sip.UPDATE, sip.REFER, sip.INVITE} {
		req := sip.NewRequest(m, to)
		req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.HeaderParams{{K: "tag", V: "nosuchtag"}}})
		res, err := p.do(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, 481, res.StatusCode, m)
	}
	// A CANCEL matching no INVITE.
	res, err = p.do(ctx, sip.NewRequest(sip.CANCEL, to))
	require.NoError(t, err)
	assert.Equal(t, 481, res.StatusCode)

	// Inside a real dialog: OPTIONS 200, REFER 501.
	s, in := establish(t, ts, p, ctx)
	res, err = s.Do(ctx, sip.NewRequest(sip.OPTIONS, s.InviteResponse.Contact().Address))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	res, err = s.Do(ctx, sip.NewRequest(sip.REFER, s.InviteResponse.Contact().Address))
	require.NoError(t, err)
	assert.Equal(t, 501, res.StatusCode)
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
	assert.InDelta(t, 3, counter(ts.metrics.requests.WithLabelValues("OPTIONS")), 0)
}

func TestTrunkACL(t *testing.T) {
	ts := newTestServer(t, Options{TrunkACL: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	p := newPhone(t, phoneOpts{})
	_, r, err := p.call(ctxT(t), p.uriOf("1", ts.UDPAddr()), []byte(offerSDP))
	require.Error(t, err)
	assert.Equal(t, 403, r[len(r)-1].StatusCode)
	assert.InDelta(t, 1, counter(ts.metrics.inbound.WithLabelValues(inACLDenied)), 0)
	select {
	case <-ts.calls:
		t.Fatal("handler called for a refused source")
	default:
	}

	allowed := newTestServer(t, Options{TrunkACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	done := goCall(t, p, p.uriOf("1", allowed.UDPAddr()))
	in := allowed.nextCall(t)
	require.NoError(t, in.Reject(ctxT(t), 486, ""))
	recvTimeout(t, done, wait, "phone call end")
}

func TestMaxCallsAndDraining(t *testing.T) {
	ts := newTestServer(t, Options{MaxCalls: 1})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	firstDone := goCall(t, p, p.uriOf("1", ts.UDPAddr()))
	first := ts.nextCall(t)
	require.NoError(t, first.Ring(ctx, nil))

	_, r, err := p.call(ctx, p.uriOf("2", ts.UDPAddr()), []byte(offerSDP))
	require.Error(t, err)
	last := r[len(r)-1]
	assert.Equal(t, 503, last.StatusCode)
	require.NotNil(t, last.GetHeader("Retry-After"))
	assert.InDelta(t, 1, counter(ts.metrics.inbound.WithLabelValues(inOverloaded)), 0)
	require.NoError(t, first.Reject(ctx, 486, ""))
	recvTimeout(t, firstDone, wait, "first call end")

	ts.SetDraining(true)
	_, r, err = p.call(ctx, p.uriOf("3", ts.UDPAddr()), []byte(offerSDP))
	require.Error(t, err)
	assert.Equal(t, 503, r[len(r)-1].StatusCode)
	// Load balancers probing with OPTIONS see the node leave...
	res, err := p.do(ctx, sip.NewRequest(sip.OPTIONS, p.uriOf("", ts.UDPAddr())))
	require.NoError(t, err)
	assert.Equal(t, 503, res.StatusCode)
	require.NotNil(t, res.GetHeader("Retry-After"))
	ts.SetDraining(false)
	// ...and come back.
	res, err = p.do(ctx, sip.NewRequest(sip.OPTIONS, p.uriOf("", ts.UDPAddr())))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	lastDone := goCall(t, p, p.uriOf("4", ts.UDPAddr()))
	require.NoError(t, ts.nextCall(t).Reject(ctx, 486, ""))
	recvTimeout(t, lastDone, wait, "last call end")
}

// goCall places a phone call in the background; the channel yields the
// final responses when the call attempt is over.
func goCall(t testing.TB, p *phone, to sip.Uri, hdrs ...sip.Header) <-chan []*sip.Response {
	done := make(chan []*sip.Response, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	go func() {
		defer cancel()
		_, r, _ := p.call(ctx, to, []byte(offerSDP), hdrs...)
		done <- r
	}()
	return done
}

// rawUDP is a bare socket for malformed and hand-written SIP.
type rawUDP struct {
	t    testing.TB
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawUDP(t testing.TB, to netip.AddrPort) *rawUDP {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawUDP{t: t, conn: conn, to: net.UDPAddrFromAddrPort(to)}
}

func (r *rawUDP) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *rawUDP) send(msg string) {
	_, err := r.conn.WriteToUDP([]byte(msg), r.to)
	require.NoError(r.t, err)
}

// recv returns the next datagram, or "" after d.
func (r *rawUDP) recv(d time.Duration) string {
	buf := make([]byte, 65535)
	require.NoError(r.t, r.conn.SetReadDeadline(time.Now().Add(d)))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// recvStatus skips 100 Trying and returns the first other message.
func (r *rawUDP) recvNot100(d time.Duration) string {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := r.recv(time.Until(deadline))
		if !strings.HasPrefix(m, "SIP/2.0 100") {
			return m
		}
	}
	return ""
}

func rawInvite(r *rawUDP, callID string, extra string, body string) string {
	ct := ""
	if body != "" && !strings.Contains(extra, "Content-Type") {
		ct = "Content-Type: application/sdp\r\n"
	}
	return "INVITE sip:+15550001111@" + r.to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + itoa(r.port()) + ";branch=z9hG4bK" + callID + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:raw@127.0.0.1>;tag=rawtag\r\n" +
		"To: <sip:+15550001111@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:raw@127.0.0.1:" + itoa(r.port()) + ">\r\n" +
		extra + ct +
		"Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMalformedInputNeverCrashes(t *testing.T) {
	ts := newTestServer(t, Options{})
	g := newRawUDP(t, ts.UDPAddr())
	// Garbage and half messages: dropped by the parser, or 400.
	for _, m := range []string{"\x00\x01garbage\xff", "INVITE\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", "\r\n\r\n",
		"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n\r\n",
		strings.Repeat("A", 3000)} {
		g.send(m)
	}
	for _, tc := range []struct {
		name string
		msg  func(r *rawUDP) string
		want string
	}{
		{"no contact", func(r *rawUDP) string {
			return strings.Replace(rawInvite(r, "c-nocontact", "", offerSDP), "Contact: <sip:raw@127.0.0.1:"+itoa(r.port())+">\r\n", "", 1)
		}, "SIP/2.0 400"},
		{"no from tag", func(r *rawUDP) string {
			return strings.Replace(rawInvite(r, "c-notag", "", offerSDP), ";tag=rawtag", "", 1)
		}, "SIP/2.0 400"},
		{"require 100rel", func(r *rawUDP) string { return rawInvite(r, "c-require", "Require: 100rel\r\n", offerSDP) }, "SIP/2.0 420"},
		{"bad body type", func(r *rawUDP) string {
			return rawInvite(r, "c-body", "Content-Type: text/plain\r\n", "hello")
		}, "SIP/2.0 415"},
		{"no call-id", func(r *rawUDP) string {
			return strings.Replace(rawInvite(r, "c-nocallid", "", offerSDP), "Call-ID: c-nocallid\r\n", "", 1)
		}, "SIP/2.0 400"},
		{"no to", func(r *rawUDP) string {
			return strings.Replace(rawInvite(r, "c-noto", "", offerSDP), "To: <sip:+15550001111@127.0.0.1>\r\n", "", 1)
		}, "SIP/2.0 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRawUDP(t, ts.UDPAddr())
			r.send(tc.msg(r))
			got := r.recvNot100(wait)
			assert.True(t, strings.HasPrefix(got, tc.want), "got %q", firstLine(got))
		})
	}
	require.Eventually(t, func() bool { return counter(ts.metrics.inbound.WithLabelValues(inBadRequest)) >= 5 }, wait, 10*time.Millisecond)

	r := newRawUDP(t, ts.UDPAddr())
	// An offer-less INVITE is accepted; our SDP is the offer, the ACK's
	// the answer.
	r.send(rawInvite(r, "c-offerless", "", ""))
	in := ts.nextCall(t)
	assert.Empty(t, in.Offer())
	ctx := ctxT(t)
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()
	ok := r.recvNot100(wait)
	require.True(t, strings.HasPrefix(ok, "SIP/2.0 200"), firstLine(ok))
	toTag := headerValue(ok, "To")
	r.send("ACK sip:" + ts.UDPAddr().String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + itoa(r.port()) + ";branch=z9hG4bKack1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=rawtag\r\nTo: " + toTag + "\r\n" +
		"Call-ID: c-offerless\r\nCSeq: 1 ACK\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: " + itoa(len(offerSDP)) + "\r\n\r\n" + offerSDP)
	require.NoError(t, recvTimeout(t, answered, wait, "ACK"))
	assert.Equal(t, offerSDP, string(in.AckSDP()))
	require.NoError(t, in.terminateNoWait())

	// Still serving.
	p := newPhone(t, phoneOpts{})
	res, err := p.do(ctx, sip.NewRequest(sip.OPTIONS, p.uriOf("", ts.UDPAddr())))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
}

// terminateNoWait ends an inbound call without waiting for the BYE answer.
func (in *Inbound) terminateNoWait() error {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := in.Hangup(ctx)
	if errors.Is(err, context.DeadlineExceeded) || err != nil && strings.Contains(err.Error(), "BYE") {
		return nil
	}
	return err
}

func firstLine(m string) string {
	line, _, _ := strings.Cut(m, "\r\n")
	return line
}

func headerValue(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestAckTimeoutRetransmitsThenByes(t *testing.T) {
	ts := newTestServer(t, Options{AckTimeout: 1200 * time.Millisecond})
	r := newRawUDP(t, ts.UDPAddr())
	r.send(rawInvite(r, "c-noack", "", offerSDP))
	in := ts.nextCall(t)
	ctx := ctxT(t)
	answered := make(chan error, 1)
	go func() { answered <- in.Answer(ctx, []byte(ourSDP)) }()
	oks, bye := 0, ""
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && bye == "" {
		m := r.recv(time.Until(deadline))
		switch {
		case strings.HasPrefix(m, "SIP/2.0 200"):
			oks++
		case strings.HasPrefix(m, "BYE "):
			bye = m
		}
	}
	require.ErrorIs(t, recvTimeout(t, answered, wait, "Answer"), ErrAckTimeout)
	assert.GreaterOrEqual(t, oks, 2, "200 OK retransmitted over UDP")
	require.NotEmpty(t, bye, "BYE after the ACK timeout")
	assert.Equal(t, "c-noack", headerValue(bye, "Call-ID"))
	waitDone(t, in.Done(), "end")
	end := in.End()
	assert.Equal(t, EndAckTimeout, end.Cause)
	assert.Equal(t, events.ResultFailed, end.Result)
	assert.Equal(t, events.ReasonClientNetwork, end.Reason)
	assert.InDelta(t, 1, counter(ts.metrics.inbound.WithLabelValues(inAckTimeout)), 0)
}

func TestHandlerPanicRejects500(t *testing.T) {
	ts := newTestServer(t, Options{Handler: HandlerFunc(func(*Inbound) { panic("boom") })})
	p := newPhone(t, phoneOpts{})
	_, r, err := p.call(ctxT(t), p.uriOf("1", ts.UDPAddr()), []byte(offerSDP))
	require.Error(t, err)
	assert.Equal(t, 500, r[len(r)-1].StatusCode)
	require.Eventually(t, func() bool { return counter(ts.metrics.inbound.WithLabelValues(inNoHandler)) == 1 }, wait, 10*time.Millisecond)
}

func TestCloseEndsCalls(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	_, answered := establish(t, ts, p, ctx)
	final := make(chan []*sip.Response, 1)
	go func() {
		_, r, _ := p.call(ctx, p.uriOf("2", ts.UDPAddr()), []byte(offerSDP))
		final <- r
	}()
	ringing := ts.nextCall(t)
	require.NoError(t, ringing.Ring(ctx, nil))
	require.NoError(t, ts.Close())
	recvTimeout(t, p.byes, wait, "BYE on close")
	r := recvTimeout(t, final, wait, "503 on close")
	assert.Equal(t, 503, r[len(r)-1].StatusCode)
	assert.Equal(t, EndShutdown, answered.End().Cause)
	assert.Equal(t, EndShutdown, ringing.End().Cause)
	require.NoError(t, ts.Close(), "idempotent")
	_, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: "a@127.0.0.1"}, SDP: []byte(ourSDP)})
	require.ErrorIs(t, err, ErrServerClosed)
}

func TestSetLogger(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)
	var buf syncbuf.Buffer
	in.SetLogger(slogJSON(&buf).With("call_id", "core-123"))
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
	out := buf.String()
	assert.Contains(t, out, `"call_id":"core-123"`)
	assert.Contains(t, out, `"sip_call_id":"`+in.CallID()+`"`)
}

func TestOfferlessReinviteAndGlare(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)
	s, in := establish(t, ts, p, ctx)
	target := s.InviteResponse.Contact().Address

	type reply struct {
		res *sip.Response
		err error
	}
	got := make(chan reply, 2)
	// Offer-less re-INVITE: our SDP goes in the 200 as an offer, the ACK
	// brings the answer as an EventAnswer.
	go func() {
		res, err := s.Do(ctx, sip.NewRequest(sip.INVITE, target))
		got <- reply{res, err}
	}()
	ev := recvTimeout(t, in.Events(), wait, "offer-less re-INVITE")
	assert.Equal(t, EventOffer, ev.Kind)
	assert.Empty(t, ev.SDP)

	// While that exchange is open, a second offer is refused with 491.
	res, err := s.Do(ctx, sip.NewRequest(sip.UPDATE, target))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode, "UPDATE without SDP is no offer")
	upd := sip.NewRequest(sip.UPDATE, target)
	upd.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	upd.SetBody([]byte(offerSDP))
	res, err = s.Do(ctx, upd)
	require.NoError(t, err)
	assert.Equal(t, 491, res.StatusCode)

	ev.Respond([]byte(ourSDP), nil)
	r := recvTimeout(t, got, wait, "200 with our offer")
	require.NoError(t, r.err)
	require.Equal(t, 200, r.res.StatusCode)
	assert.Equal(t, ourSDP, string(r.res.Body()))
	// The ACK repeats the re-INVITE's CSeq (RFC 3261 §13.2.2.4); built by
	// hand because sipgo's dialog would number it after the UPDATEs.
	ack := sip.NewRequest(sip.ACK, target)
	ack.AppendHeader(sip.HeaderClone(s.InviteRequest.From()))
	ack.AppendHeader(sip.HeaderClone(s.InviteResponse.To()))
	ack.AppendHeader(sip.HeaderClone(s.InviteRequest.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: r.res.CSeq().SeqNo, MethodName: sip.ACK})
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody([]byte(offerSDP))
	require.NoError(t, p.client.WriteRequest(ack))
	answer := recvTimeout(t, in.Events(), wait, "answer in the ACK")
	assert.Equal(t, EventAnswer, answer.Kind)
	assert.Equal(t, "ACK", answer.Method)
	assert.Equal(t, offerSDP, string(answer.SDP))
	require.NoError(t, s.Bye(ctx))
	waitDone(t, in.Done(), "end")
}

func TestEarlyByeFromCaller(t *testing.T) {
	ts := newTestServer(t, Options{})
	r := newRawUDP(t, ts.UDPAddr())
	r.send(rawInvite(r, "c-earlybye", "", offerSDP))
	in := ts.nextCall(t)
	require.NoError(t, in.Ring(ctxT(t), nil))
	ringing := r.recvNot100(wait)
	require.True(t, strings.HasPrefix(ringing, "SIP/2.0 180"), firstLine(ringing))
	r.send("BYE sip:" + ts.UDPAddr().String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + itoa(r.port()) + ";branch=z9hG4bKearlybye\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=rawtag\r\nTo: " + headerValue(ringing, "To") + "\r\n" +
		"Call-ID: c-earlybye\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
	var got []string
	for len(got) < 2 {
		m := r.recv(wait)
		require.NotEmpty(t, m, "got %q", got)
		got = append(got, firstLine(m)+" / "+headerValue(m, "CSeq"))
	}
	assert.ElementsMatch(t, []string{"SIP/2.0 200 OK / 2 BYE", "SIP/2.0 487 Request Terminated / 1 INVITE"}, got)
	waitDone(t, in.Done(), "end")
	assert.Equal(t, EndRemoteBye, in.End().Cause)
	assert.Equal(t, events.ReasonCancel, in.End().Reason)
}

func TestCloseCancelsDials(t *testing.T) {
	ts := newTestServer(t, Options{})
	p := newPhone(t, phoneOpts{})
	ringing(p)
	ctx := ctxT(t)
	o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetSIP, Value: p.endpoint()}, SDP: []byte(ourSDP)})
	require.NoError(t, err)
	recvTimeout(t, o.Progress(), wait, "ringing")
	require.NoError(t, ts.Close())
	_, err = o.WaitAnswer(ctx)
	require.ErrorIs(t, err, ErrCanceled)
	recvTimeout(t, p.cancels, wait, "CANCEL on close")
	assert.Equal(t, EndShutdown, o.End().Cause)
}

// An INVITE with the internal header passes the trunk ACL and draining
// when Internal accepts its value, and gets 403 when it refuses it.
func TestInternalInvite(t *testing.T) {
	ts := newTestServer(t, Options{
		TrunkACL:       []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		InternalHeader: "X-Internal",
		Internal:       func(v string) bool { return v == "good" },
	})
	ts.SetDraining(true)
	p := newPhone(t, phoneOpts{})
	ctx := ctxT(t)

	_, r, err := p.call(ctx, p.uriOf("1", ts.UDPAddr()), []byte(offerSDP), sip.NewHeader("X-Internal", "bad"))
	require.Error(t, err)
	assert.Equal(t, 403, r[len(r)-1].StatusCode, "a bad token")

	_, r, err = p.call(ctx, p.uriOf("1", ts.UDPAddr()), []byte(offerSDP))
	require.Error(t, err)
	assert.Equal(t, 403, r[len(r)-1].StatusCode, "no token: the trunk ACL applies")

	done := goCall(t, p, p.uriOf("1", ts.UDPAddr()), sip.NewHeader("X-Internal", "good"))
	in := ts.nextCall(t)
	assert.Equal(t, []string{"good"}, in.Header("X-Internal"))
	require.NoError(t, in.Reject(ctx, 486, ""))
	recvTimeout(t, done, wait, "internal call end")
}
