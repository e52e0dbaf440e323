package bus

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHubJoin(t *testing.T) {
	h := NewHub()
	a, err := h.Join(Options{Node: "a", Handler: echo("a")})
	require.NoError(t, err)
	_, err = h.Join(Options{Node: "a", Handler: echo("a2")})
	require.ErrorContains(t, err, `node "a" already joined`)

	require.NoError(t, a.Close(context.Background()))
	a2, err := h.Join(Options{Node: "a", Handler: echo("a2")})
	require.NoError(t, err, "a closed node id can join again")
	b, err := h.Join(Options{Node: "b", Handler: echo("b")})
	require.NoError(t, err)

	out, err := b.Request(context.Background(), "a", "k", nil)
	require.NoError(t, err)
	assert.Equal(t, "a2|k|", string(out))

	// Closing the old bus again does not remove the new one.
	require.NoError(t, a.Close(context.Background()))
	_, err = b.Request(context.Background(), "a", "k", nil)
	require.NoError(t, err)
	require.NoError(t, a2.Close(context.Background()))
	require.NoError(t, b.Close(context.Background()))
}

func TestHubCopiesPayloads(t *testing.T) {
	h := NewHub()
	seen := make(chan []byte, 1)
	a, err := h.Join(Options{Node: "a", Handler: echo("a")})
	require.NoError(t, err)
	_, err = h.Join(Options{Node: "b", Handler: func(_ context.Context, _ string, p []byte) ([]byte, error) {
		seen <- p
		return p, nil
	}})
	require.NoError(t, err)
	in := []byte("abc")
	out, err := a.Request(context.Background(), "b", "k", in)
	require.NoError(t, err)
	got := <-seen
	in[0] = 'X'
	assert.Equal(t, "abc", string(got), "the handler owns its payload")
	assert.Equal(t, "abc", string(out))
	got[1] = 'Y'
	assert.Equal(t, "abc", string(out), "the reply is a copy too")
}
