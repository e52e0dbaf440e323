package tlsteps

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInOrder(t *testing.T) {
	entries := []Entry{
		{Kind: "sip", Summary: "received INVITE"},
		{Kind: "state", Summary: "call started"},
		{Kind: "sip", Summary: "sent 200 OK to INVITE"},
	}
	found, missing := InOrder(entries, []Step{{Kind: "sip", Summary: "received"}, {Kind: "sip", Summary: "sent 200"}})
	require.Nil(t, missing)
	assert.Equal(t, []Entry{entries[0], entries[2]}, found)
	// Order counts: the INVITE is not found again after the 200.
	found, missing = InOrder(entries, []Step{{Kind: "sip", Summary: "sent 200"}, {Kind: "sip", Summary: "received INVITE"}})
	require.NotNil(t, missing)
	assert.Equal(t, Step{Kind: "sip", Summary: "received INVITE"}, *missing)
	assert.Len(t, found, 1)
	// The kind counts too.
	_, missing = InOrder(entries, []Step{{Kind: "media", Summary: "call started"}})
	assert.NotNil(t, missing)
}

func TestDecode(t *testing.T) {
	body := []byte(`{"callId":"c1","entries":[{"t":"2026-11-21T10:00:00.123Z","node":"a","kind":"sip","summary":"received INVITE","data":{"dir":"in"}}]}`)
	entries, err := Decode(body, "c1")
	require.NoError(t, err)
	assert.Equal(t, []Entry{{T: "2026-11-21T10:00:00.123Z", Node: "a", Kind: "sip", Summary: "received INVITE", Data: map[string]any{"dir": "in"}}}, entries)
	_, err = Decode(body, "c2")
	assert.ErrorContains(t, err, `"c1", want "c2"`)
	_, err = Decode([]byte(`{`), "c1")
	assert.Error(t, err)
}

func TestWait(t *testing.T) {
	reads := 0
	read := func() ([]Entry, error) {
		reads++
		if reads < 3 {
			return nil, nil
		}
		return []Entry{{Kind: "sip", Summary: "received BYE"}}, nil
	}
	found, err := Wait(context.Background(), read, []Step{{Kind: "sip", Summary: "received BYE"}})
	require.NoError(t, err)
	assert.Len(t, found, 1)
	assert.Equal(t, 3, reads)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	_, err = Wait(ctx, read, []Step{{Kind: "sip", Summary: "sent BYE"}})
	assert.ErrorContains(t, err, "sent BYE")
	assert.ErrorContains(t, err, "sip: received BYE", "lists what there was")
}
