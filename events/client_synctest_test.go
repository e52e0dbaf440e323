package events

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// pipeNet is an in-memory network for synctest bubbles: dialling a host
// served by the listener returns one end of a net.Pipe and hands the other
// to the listener; dialling any other host blocks until the dial context
// ends, like a black-holed address.
type pipeNet struct {
	served string // host:port served by the listener
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
}

func newPipeNet(served string) *pipeNet {
	return &pipeNet{served: served, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeNet) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	if addr != p.served {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error   { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeNet) Addr() net.Addr { return pipeAddr(p.served) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// TestDeliverDefaultTimeoutsSynctest checks the default timeouts exactly,
// on a fake clock: a primary that never replies is abandoned after the 5 s
// total timeout, a fallback that never accepts the connection after the
// 2 s connect timeout.
func TestDeliverDefaultTimeoutsSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet("primary.test:80")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done() // never replies
		})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(pn) }()
		defer func() { _ = srv.Close() }() // also on a failed require

		h := newHarness(t, ClientOptions{DialContext: pn.DialContext})
		tg := Target{URL: "http://primary.test/cb", FallbackURL: "http://fallback.test/cb", AppKey: cbAppKey, Secret: cbSecret}
		start := time.Now()
		rep, err := h.c.Deliver(t.Context(), tg, cbICE("c-defaults"), acceptJSONAction)
		elapsed := time.Since(start)

		var de *DeliveryError
		require.ErrorAs(t, err, &de)
		require.Equal(t, DeliveryConnect, de.Reason)
		require.ErrorIs(t, de.Primary, context.DeadlineExceeded)
		require.ErrorContains(t, de.Primary, "no complete reply within 5s")
		require.Equal(t, DefaultTotalTimeout+DefaultConnectTimeout, elapsed)
		require.Equal(t, 2, rep.Attempts)
		require.InDelta(t, 1, h.failures("ice", TargetPrimary, DeliveryTimeout), 0)
		require.InDelta(t, 1, h.failures("ice", TargetFallback, DeliveryConnect), 0)

		require.NoError(t, srv.Close())
		h.c.CloseIdleConnections()
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		synctest.Wait()
	})
}
