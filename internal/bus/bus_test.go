package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run against every backend (see backends).

func TestRequestBothWays(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		ctx := context.Background()
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		b := e.join(t, Options{Node: "b", Handler: echo("b")})

		out, err := a.Request(ctx, "b", "get", []byte("x1"))
		require.NoError(t, err)
		assert.Equal(t, "b|get|x1", string(out))

		out, err = b.Request(ctx, "a", "put", []byte("y2"))
		require.NoError(t, err)
		assert.Equal(t, "a|put|y2", string(out))

		out, err = a.Request(ctx, "a", "self", nil)
		require.NoError(t, err)
		assert.Equal(t, "a|self|", string(out))

		ca := coreOf(a)
		assert.Equal(t, 2.0, counter(ca.m.requests, outcomeOK))
		assert.Equal(t, uint64(2), histCount(ca.m.duration, outcomeOK))
		assert.Equal(t, 2.0, counter(ca.m.handled, handledOK)) // from b and from itself
		assert.Zero(t, pendingLen(ca))
	})
}

func TestThreeNodes(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		nodes := []string{"n1", "n2", "n3"}
		buses := map[string]Bus{}
		for _, n := range nodes {
			buses[n] = e.join(t, Options{Node: n, Handler: echo(n)})
		}
		var wg sync.WaitGroup
		for _, from := range nodes {
			for _, to := range nodes {
				if from == to {
					continue
				}
				wg.Go(func() {
					for i := range 20 {
						payload := fmt.Sprintf("%s->%s#%d", from, to, i)
						out, err := buses[from].Request(context.Background(), to, "k", []byte(payload))
						if assert.NoError(t, err) {
							assert.Equal(t, to+"|k|"+payload, string(out))
						}
					}
				})
			}
		}
		wg.Wait()
	})
}

func TestThousandInFlight(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		const n = 1000
		var arrived atomic.Int64
		all := make(chan struct{})
		handler := func(ctx context.Context, kind string, payload []byte) ([]byte, error) {
			if arrived.Add(1) == n {
				close(all)
			}
			select { // hold every request until all of them are in flight
			case <-all:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return append([]byte("re:"), payload...), nil
		}
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: 30 * time.Second})
		e.join(t, Options{Node: "b", Handler: handler, MaxInflight: n})

		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range n {
			wg.Go(func() {
				p := fmt.Sprintf("req-%d", i)
				out, err := a.Request(context.Background(), "b", "k", []byte(p))
				if err != nil || string(out) != "re:"+p {
					failed.Add(1)
					t.Errorf("request %d: %q, %v", i, out, err)
				}
			})
		}
		wg.Wait()
		require.Zero(t, failed.Load())
		assert.Equal(t, int64(n), arrived.Load())
		assert.Zero(t, pendingLen(coreOf(a)))
		assert.Equal(t, float64(n), counter(coreOf(a).m.requests, outcomeOK))
	})
}

func TestRemoteError(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		e.join(t, Options{Node: "b", Handler: func(_ context.Context, kind string, p []byte) ([]byte, error) {
			if kind == "fail" {
				return nil, fmt.Errorf("call %s: not found", p)
			}
			return []byte("fine"), nil
		}})
		_, err := a.Request(context.Background(), "b", "fail", []byte("c-1"))
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, &RemoteError{Node: "b", Message: "call c-1: not found"}, re)
		assert.Equal(t, `bus: node "b": call c-1: not found`, err.Error())

		out, err := a.Request(context.Background(), "b", "ok", nil)
		require.NoError(t, err)
		assert.Equal(t, "fine", string(out))
		assert.Equal(t, 1.0, counter(coreOf(a).m.requests, outcomeRemoteError))
	})
}

func TestNoResponder(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		start := time.Now()
		_, err := a.Request(context.Background(), "ghost", "k", nil)
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrNoResponder)
		assert.Contains(t, err.Error(), `"ghost"`)
		assert.Less(t, elapsed, 100*time.Millisecond)
		assert.Equal(t, 1.0, counter(coreOf(a).m.requests, outcomeNoResponder))
		assert.Zero(t, pendingLen(coreOf(a)))
	})
}

// slow is a handler that waits for its context and reports how it ended.
func slow(deadlines chan<- time.Time, errs chan<- error) Handler {
	return func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
		d, _ := ctx.Deadline()
		deadlines <- d
		<-ctx.Done()
		errs <- ctx.Err()
		return nil, ctx.Err()
	}
}

func TestTimeout(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		deadlines, errs := make(chan time.Time, 2), make(chan error, 2)
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: 150 * time.Millisecond})
		b := e.join(t, Options{Node: "b", Handler: slow(deadlines, errs)})

		// Options.Timeout is the sooner deadline.
		start := time.Now()
		_, err := a.Request(context.Background(), "b", "k", nil)
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrTimeout)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "no reply after")
		assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond)
		assert.Less(t, elapsed, 2*time.Second)
		<-deadlines
		assert.ErrorIs(t, <-errs, context.DeadlineExceeded)

		// ctx's deadline is the sooner one.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = b.Request(ctx, "a", "k", nil) // a answers at once: no timeout
		require.NoError(t, err)
		_, err = a.Request(ctx, "b", "k", nil)
		require.ErrorIs(t, err, ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		<-deadlines
		<-errs

		// An already expired ctx fails before sending anything.
		_, err = a.Request(ctx, "b", "k", nil)
		require.ErrorIs(t, err, ErrTimeout)
		assert.Equal(t, 3.0, counter(coreOf(a).m.requests, outcomeTimeout))
		assert.Zero(t, pendingLen(coreOf(a)))
		require.Eventually(t, func() bool { return counter(coreOf(b).m.handled, handledLate) == 2 },
			5*time.Second, 10*time.Millisecond)
	})
}

func TestDeadlinePropagation(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		deadlines, errs := make(chan time.Time, 1), make(chan error, 1)
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: time.Minute})
		e.join(t, Options{Node: "b", Handler: slow(deadlines, errs), Timeout: time.Minute})

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		want, _ := ctx.Deadline()
		_, err := a.Request(ctx, "b", "k", nil)
		require.ErrorIs(t, err, ErrTimeout)

		got := <-deadlines
		// The wire carries milliseconds, truncated: never later than the
		// requester's deadline.
		assert.False(t, got.After(want), "handler deadline %v after requester's %v", got, want)
		assert.Less(t, want.Sub(got), 2*time.Millisecond)
		assert.ErrorIs(t, <-errs, context.DeadlineExceeded)
	})
}

func TestCancel(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		deadlines, errs := make(chan time.Time, 1), make(chan error, 1)
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: 500 * time.Millisecond})
		e.join(t, Options{Node: "b", Handler: slow(deadlines, errs)})

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := a.Request(ctx, "b", "k", nil)
			done <- err
		}()
		<-deadlines // the handler runs: the request waits for its reply
		cancel()
		err := <-done
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrTimeout)
		assert.Equal(t, 1.0, counter(coreOf(a).m.requests, outcomeCanceled))
		<-errs
	})
}

func TestDroppedMessages(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		var calls atomic.Int64
		b := e.join(t, Options{Node: "b", Handler: func(context.Context, string, []byte) ([]byte, error) {
			calls.Add(1)
			return []byte("ok"), nil
		}})
		cb := coreOf(b)

		expired := envelope{typ: typeRequest, from: "a", kind: "k", deadline: time.Now().Add(-time.Second).UnixMilli()}
		require.Equal(t, int64(1), e.raw(t, "b", encode(&expired)))
		for _, m := range []string{"", "junk", "\x02" + strings.Repeat("x", 40)} {
			require.Equal(t, int64(1), e.raw(t, "b", []byte(m)))
		}
		unknown := envelope{typ: typeReply, id: reqID{1, 2, 3}, from: "a"}
		require.Equal(t, int64(1), e.raw(t, "b", encode(&unknown)))

		require.Eventually(t, func() bool {
			return counter(cb.m.dropped, dropExpired) == 1 &&
				counter(cb.m.dropped, dropMalformed) == 3 &&
				counter(cb.m.dropped, dropUnknownReply) == 1
		}, 5*time.Second, 5*time.Millisecond)

		// Still serving, and the expired request never ran.
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		out, err := a.Request(context.Background(), "b", "k", nil)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(out))
		assert.Equal(t, int64(1), calls.Load())
	})
}

func TestBusy(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		b := e.join(t, Options{Node: "b", MaxInflight: 1, Handler: func(_ context.Context, kind string, _ []byte) ([]byte, error) {
			if kind == "block" {
				entered <- struct{}{}
				<-release
			}
			return []byte(kind), nil
		}})
		first := make(chan error, 1)
		go func() {
			_, err := a.Request(context.Background(), "b", "block", nil)
			first <- err
		}()
		<-entered

		start := time.Now()
		_, err := a.Request(context.Background(), "b", "other", nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, MsgBusy, re.Message)
		assert.Less(t, time.Since(start), time.Second)
		assert.Equal(t, 1.0, counter(coreOf(b).m.dropped, dropBusy))

		close(release)
		require.NoError(t, <-first)
		out, err := a.Request(context.Background(), "b", "other", nil)
		require.NoError(t, err)
		assert.Equal(t, "other", string(out))
	})
}

func TestHandlerPanic(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		b := e.join(t, Options{Node: "b", Logger: testLogger(t), Handler: func(_ context.Context, kind string, _ []byte) ([]byte, error) {
			if kind == "boom" {
				panic("kaboom")
			}
			return []byte("ok"), nil
		}})
		_, err := a.Request(context.Background(), "b", "boom", nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, &RemoteError{Node: "b", Message: MsgInternal}, re)
		assert.Equal(t, 1.0, counter(coreOf(b).m.handled, handledPanic))

		_, err = a.Request(context.Background(), "b", "fine", nil)
		require.NoError(t, err)
	})
}

func TestCloseFailsWaiters(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		defer close(release)
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: time.Minute})
		e.join(t, Options{Node: "b", Handler: func(context.Context, string, []byte) ([]byte, error) {
			entered <- struct{}{}
			<-release
			return nil, nil
		}})
		done := make(chan error, 1)
		go func() {
			_, err := a.Request(context.Background(), "b", "k", nil)
			done <- err
		}()
		<-entered
		require.NoError(t, a.Close(context.Background()))
		require.ErrorIs(t, <-done, ErrClosed)

		_, err := a.Request(context.Background(), "b", "k", nil)
		require.ErrorIs(t, err, ErrClosed)
		require.NoError(t, a.Close(context.Background()), "Close is idempotent")
		assert.Equal(t, 2.0, counter(coreOf(a).m.requests, outcomeClosed))
	})
}

func TestCloseWaitsForHandlers(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		var handlerErr error
		var returned atomic.Bool
		a := e.join(t, Options{Node: "a", Handler: echo("a"), Timeout: time.Minute})
		b := e.join(t, Options{Node: "b", Handler: func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
			defer returned.Store(true)
			entered <- struct{}{}
			<-ctx.Done() // Close cancels it
			handlerErr = ctx.Err()
			<-release
			return nil, errors.New("shutting down")
		}})
		reply := make(chan error, 1)
		go func() {
			_, err := a.Request(context.Background(), "b", "k", nil)
			reply <- err
		}()
		<-entered

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := b.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the handler is still running")
		assert.False(t, returned.Load())

		close(release)
		require.NoError(t, b.Close(context.Background()))
		assert.True(t, returned.Load())
		assert.ErrorIs(t, handlerErr, context.Canceled)

		// The handler's answer still went out.
		var re *RemoteError
		require.ErrorAs(t, <-reply, &re)
		assert.Equal(t, "shutting down", re.Message)

		// b no longer listens.
		require.Eventually(t, func() bool {
			_, err := a.Request(context.Background(), "b", "k", nil)
			return errors.Is(err, ErrNoResponder)
		}, 5*time.Second, 10*time.Millisecond)
	})
}

func TestRequestArguments(t *testing.T) {
	backends(t, func(t *testing.T, e env) {
		a := e.join(t, Options{Node: "a", Handler: echo("a")})
		ctx := context.Background()
		for _, c := range []struct{ node, kind, want string }{
			{"", "k", "empty node"},
			{"a", "", "empty kind"},
			{strings.Repeat("n", MaxNameLen+1), "k", "node longer than 255 bytes"},
			{"a", strings.Repeat("k", MaxNameLen+1), "kind longer than 255 bytes"},
		} {
			_, err := a.Request(ctx, c.node, c.kind, nil)
			require.ErrorContains(t, err, c.want)
		}
		assert.Equal(t, 4.0, counter(coreOf(a).m.requests, outcomeError))

		big := make([]byte, 1<<20)
		for i := range big {
			big[i] = byte(i)
		}
		out, err := a.Request(ctx, "a", strings.Repeat("k", MaxNameLen), big)
		require.NoError(t, err)
		assert.Equal(t, append([]byte("a|"+strings.Repeat("k", MaxNameLen)+"|"), big...), out)
	})
}

func TestOptionsValidation(t *testing.T) {
	h := echo("x")
	client := newClient(t, "127.0.0.1:1") // never contacted
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Handler: h}, "empty node"},
		{Options{Node: strings.Repeat("n", 256), Handler: h}, "node longer than 255 bytes"},
		{Options{Node: "x"}, "handler required"},
		{Options{Node: "x", Handler: h, Timeout: -1}, "negative timeout"},
		{Options{Node: "x", Handler: h, MaxInflight: -1}, "negative max inflight"},
	} {
		_, err := NewHub().Join(c.o)
		require.ErrorContains(t, err, c.want)
		_, err = NewRedis(context.Background(), client, "p", c.o)
		require.ErrorContains(t, err, c.want)
	}
	_, err := NewRedis(context.Background(), nil, "p", Options{Node: "x", Handler: h})
	require.ErrorContains(t, err, "nil redis client")

	o, err := Options{Node: "x", Handler: h}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultTimeout, o.Timeout)
	assert.Equal(t, DefaultMaxInflight, o.MaxInflight)
	assert.NotNil(t, o.Logger)
	assert.NotNil(t, o.Registerer)
}
