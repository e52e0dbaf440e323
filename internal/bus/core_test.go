package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTransport fails or stalls publishing.
type fakeTransport struct {
	publishErr error
	stall      bool // block until ctx ends, then return ctx's error
	readyErr   error
}

func (f *fakeTransport) publish(ctx context.Context, _ string, _ []byte) (int64, error) {
	if f.stall {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return 0, f.publishErr
}

func (f *fakeTransport) ready() error { return f.readyErr }

func newTestCore(t *testing.T, tr transport, timeout time.Duration) *core {
	o, err := Options{Node: "a", Handler: echo("a"), Timeout: timeout}.withDefaults()
	require.NoError(t, err)
	c := newCore(o, tr)
	t.Cleanup(func() { require.NoError(t, c.close(context.Background())) })
	return c
}

func TestPublishErrorIsWrapped(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	c := newTestCore(t, &fakeTransport{publishErr: cause}, time.Second)
	start := time.Now()
	_, err := c.request(context.Background(), "b", "k", nil)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, cause)
	assert.Equal(t, `bus: request "k" to node "b": publish: unavailable: dial tcp 127.0.0.1:6379: connect: connection refused`, err.Error())
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	assert.Equal(t, 1.0, counter(c.m.requests, outcomeError))
	assert.Zero(t, pendingLen(c))
}

func TestNotReady(t *testing.T) {
	cause := errors.New("redis subscription p:bus:a down: EOF")
	c := newTestCore(t, &fakeTransport{readyErr: cause}, time.Second)
	_, err := c.request(context.Background(), "b", "k", nil)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, cause)
	assert.Zero(t, pendingLen(c))
}

func TestStalledPublishTimesOut(t *testing.T) {
	c := newTestCore(t, &fakeTransport{stall: true}, 50*time.Millisecond)
	_, err := c.request(context.Background(), "b", "k", nil)
	require.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, ErrUnavailable)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	_, err = c.request(ctx, "b", "k", nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1.0, counter(c.m.requests, outcomeTimeout))
	assert.Equal(t, 1.0, counter(c.m.requests, outcomeCanceled))
}
