package kamailio_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
)

// node is a tiny SIP UAS standing in for a callcore node: OPTIONS 200 (503
// when draining), INVITE 200 with SDP (503 + Retry-After when draining),
// BYE 200 for its dialogs whatever the state.
type node struct {
	uri      string
	draining atomic.Bool

	invites   atomic.Int64 // every initial INVITE received
	rejected  atomic.Int64 // INVITEs answered 503 (draining)
	answered  atomic.Int64 // INVITEs answered 200
	byes      atomic.Int64 // BYEs of our dialogs answered 200
	drainByes atomic.Int64 // of which received while draining
	options   atomic.Int64
	// hangupAfter > 0: the node ends each answered call with a BYE this
	// long after the ACK; hangups counts the BYEs answered 200.
	hangupAfter atomic.Int64 // time.Duration
	hangups     atomic.Int64

	conn     net.PacketConn
	ua       *sipgo.UserAgent
	served   chan struct{}
	done     chan struct{} // closed by stop
	stopOnce sync.Once
}

const nodeSDP = "v=0\r\n" +
	"o=- 1 1 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 9 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

func startNode(t *testing.T) *node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-node"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(log),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	require.NoError(t, err)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "node", Host: "127.0.0.1", Port: port}}
	dialogs := sipgo.NewDialogServerCache(client, contact)
	n := &node{uri: "sip:127.0.0.1:" + strconv.Itoa(port), conn: conn, ua: ua,
		served: make(chan struct{}), done: make(chan struct{})}

	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		n.options.Add(1)
		if n.draining.Load() {
			_ = tx.Respond(unavailable(req))
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if to := req.To(); to != nil && to.Params.Has("tag") {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Here", nil))
			return
		}
		n.invites.Add(1)
		if n.draining.Load() {
			n.rejected.Add(1)
			_ = tx.Respond(unavailable(req))
			return
		}
		s, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, err.Error(), nil))
			return
		}
		n.answered.Add(1)
		// Blocks until the ACK (retransmitting the 200 meanwhile).
		if err := s.RespondSDP([]byte(nodeSDP)); err != nil {
			return
		}
		if d := time.Duration(n.hangupAfter.Load()); d > 0 {
			n.hangup(s, d)
		}
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = dialogs.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if _, err := dialogs.MatchDialogRequest(req); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
		// Counted before the 200: the caller may be done as soon as it has it.
		n.byes.Add(1)
		if n.draining.Load() {
			n.drainByes.Add(1)
		}
		if err := dialogs.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 500, err.Error(), nil))
		}
	})
	go func() {
		defer close(n.served)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(n.stop)
	return n
}

// hangup ends the call with a BYE (along the recorded route) after d.
func (n *node) hangup(s *sipgo.DialogServerSession, d time.Duration) {
	select {
	case <-time.After(d):
	case <-n.done:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-n.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.Bye(ctx); err == nil {
		n.hangups.Add(1)
	}
}

// unavailable is what a draining callcore node answers.
func unavailable(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", "5"))
	return res
}

// stop closes the node: it answers nothing any more (a dead node).
func (n *node) stop() {
	n.stopOnce.Do(func() {
		close(n.done)
		_ = n.ua.Close()
		_ = n.conn.Close()
		<-n.served
	})
}

// resetCounts zeroes the call counters (between sipp runs).
func (n *node) resetCounts() {
	for _, c := range []*atomic.Int64{&n.invites, &n.rejected, &n.answered, &n.byes, &n.drainByes, &n.hangups} {
		c.Store(0)
	}
}
