package signaling

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
)

// testWriter forwards logs to the test output until the test ends (sipgo
// timers may log afterwards, which testing forbids).
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.t.Output().Write(p)
}

func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// phone is a tiny SIP user agent for tests, built on sipgo's dialog API:
// it calls the server (clients), answers the server's calls (uas) and
// registers.
type phone struct {
	t         testing.TB
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	clients   *sipgo.DialogClientCache
	servers   *sipgo.DialogServerCache
	transport string // UDP, TCP or TLS
	host      string
	port      int
	contact   sip.ContactHeader

	// onInvite handles an INVITE from the server on the sipgo handler
	// goroutine (it must not return before the final response).
	mu       sync.Mutex
	onInvite func(s *sipgo.DialogServerSession, req *sip.Request)
	byes     chan *sip.Request
	cancels  chan *sip.Request
	requests chan *sip.Request // INFO, OPTIONS, re-INVITE... any other request
}

type phoneOpts struct {
	transport string // udp (default), tcp, tls
	tlsCert   *tls.Certificate
	user      string
}

func newPhone(t testing.TB, o phoneOpts) *phone {
	t.Helper()
	if o.user == "" {
		o.user = "phone"
	}
	transport, err := parseTransport(o.transport)
	require.NoError(t, err)
	log := testLogger(t).With("who", "phone")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testphone"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	require.NoError(t, err)
	p := &phone{t: t, ua: ua, srv: srv, transport: transport, host: "127.0.0.1",
		byes: make(chan *sip.Request, 8), cancels: make(chan *sip.Request, 8), requests: make(chan *sip.Request, 8)}

	var clientOpts []sipgo.ClientOption
	clientOpts = append(clientOpts, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(log))
	switch transport {
	case "UDP":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		ready := &readyPacketConn{PacketConn: conn, ready: make(chan struct{})}
		go func() { _ = srv.ServeUDP(ready) }()
		<-ready.ready
		p.port = conn.LocalAddr().(*net.UDPAddr).Port
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
		t.Cleanup(func() { _ = conn.Close() })
	case "TCP":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		go func() { _ = srv.ServeTCP(ln) }()
		p.port = ln.Addr().(*net.TCPAddr).Port
		t.Cleanup(func() { _ = ln.Close() })
	case "TLS":
		require.NotNil(t, o.tlsCert, "TLS phone needs a certificate")
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*o.tlsCert}, MinVersion: tls.VersionTLS12})
		require.NoError(t, err)
		go func() { _ = srv.ServeTLS(ln) }()
		p.port = ln.Addr().(*net.TCPAddr).Port
		t.Cleanup(func() { _ = ln.Close() })
	}
	p.client, err = sipgo.NewClient(ua, clientOpts...)
	require.NoError(t, err)
	p.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: o.user, Host: "127.0.0.1", Port: p.port}}
	if transport != "UDP" {
		p.contact.Address.UriParams = sip.NewParams()
		p.contact.Address.UriParams.Add("transport", sip.NetworkToLower(transport))
	}
	p.clients = sipgo.NewDialogClientCache(p.client, p.contact)
	p.servers = sipgo.NewDialogServerCache(p.client, p.contact)

	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if hasToTag(req) {
			p.requests <- req
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			return
		}
		p.mu.Lock()
		h := p.onInvite
		p.mu.Unlock()
		if h == nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 480, "Not Expecting Calls", nil))
			return
		}
		tx.OnCancel(func(r *sip.Request) {
			select {
			case p.cancels <- r:
			default:
			}
		})
		s, err := p.servers.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, err.Error(), nil))
			return
		}
		// No Close here: the dialog must stay in the cache for the BYE
		// (ReadBye closes it).
		h(s, req)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = p.servers.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case p.byes <- req:
		default:
		}
		err := p.servers.ReadBye(req, tx)
		if errors.Is(err, sipgo.ErrDialogDoesNotExists) {
			err = p.clients.ReadBye(req, tx)
		}
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
		}
	})
	other := func(req *sip.Request, tx sip.ServerTransaction) {
		p.requests <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	srv.OnInfo(other)
	srv.OnOptions(other)
	srv.OnUpdate(other)
	t.Cleanup(func() { _ = ua.Close() })
	return p
}

func (p *phone) setOnInvite(h func(s *sipgo.DialogServerSession, req *sip.Request)) {
	p.mu.Lock()
	p.onInvite = h
	p.mu.Unlock()
}

// uri is sip:user@127.0.0.1:port of the server with the phone's transport.
func (p *phone) uriOf(user string, addr netip.AddrPort) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: addr.Addr().String(), Port: int(addr.Port())}
	if p.transport != "UDP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", sip.NetworkToLower(p.transport))
	}
	return u
}

// endpoint is "phone@127.0.0.1:port" for Dial targets.
func (p *phone) endpoint() string {
	return p.contact.Address.User + "@127.0.0.1:" + strconv.Itoa(p.port)
}

// call INVITEs the server and waits for the final response.
func (p *phone) call(ctx context.Context, to sip.Uri, sdp []byte, hdrs ...sip.Header) (*sipgo.DialogClientSession, []*sip.Response, error) {
	return p.callWatch(ctx, to, sdp, nil, hdrs...)
}

// callWatch is call with every response also sent to watch (if not nil).
func (p *phone) callWatch(ctx context.Context, to sip.Uri, sdp []byte, watch chan<- int, hdrs ...sip.Header) (*sipgo.DialogClientSession, []*sip.Response, error) {
	hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	s, err := p.clients.Invite(ctx, to, sdp, hdrs...)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var got []*sip.Response
	err = s.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		if watch != nil {
			select {
			case watch <- r.StatusCode:
			default:
			}
		}
		return nil
	}})
	mu.Lock()
	defer mu.Unlock()
	return s, got, err
}

// do sends an out-of-dialog request and returns the final response.
func (p *phone) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	req.SetTransport(p.transport)
	return p.client.Do(ctx, req)
}

func recvTimeout[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	var zero T
	return zero
}

var _ io.Writer = (*testWriter)(nil)
