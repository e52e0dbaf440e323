package svaml

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

func TestContextFor(t *testing.T) {
	cases := map[events.Kind]Context{
		events.KindICE:     ContextICE,
		events.KindACE:     ContextACE,
		events.KindPIE:     ContextPIE,
		events.KindDiCE:    ContextDiCE,
		events.KindNotify:  ContextUnknown,
		events.KindUnknown: ContextUnknown,
	}
	for k, want := range cases {
		require.Equal(t, want, ContextFor(k), k.String())
	}
	// The event's own kind and the parser agree on the matrix: continue is
	// not a valid ICE reply but is a valid ACE reply.
	_, err := Parse(ContextFor(events.KindICE), []byte(`{"action":{"name":"continue"}}`))
	require.Error(t, err)
	_, err = Parse(ContextFor(events.KindACE), []byte(`{"action":{"name":"continue"}}`))
	require.NoError(t, err)
}
