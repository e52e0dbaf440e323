package rooms

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryRecordTTL: a room not written for RecordTTL disappears, with
// its index entries; every write renews it.
func TestMemoryRecordTTL(t *testing.T) {
	now := t0
	s := NewMemory(Options{Now: func() time.Time { return now }})
	_, err := s.Join(bg, testApp, "old", part("c1", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	_, err = s.Join(bg, testApp, "kept", part("c2", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)

	now = now.Add(RecordTTL - time.Second)
	require.NoError(t, s.SetFlags(bg, testApp, "kept", "c2", true, false))
	_, err = s.Get(bg, testApp, "old")
	require.NoError(t, err, "a read does not renew, but it is not expired yet")

	now = now.Add(time.Second)
	_, err = s.Get(bg, testApp, "old")
	require.ErrorIs(t, err, ErrNotFound)
	hs, err := s.Hosts(bg, []RoomKey{{App: testApp, ID: "old"}})
	require.NoError(t, err)
	assert.Equal(t, []HostLease{{}}, hs)

	touched, err := s.RemoveNode(bg, "n1")
	require.NoError(t, err)
	assert.Equal(t, []RoomKey{{App: testApp, ID: "kept"}}, touched, "the expired room is not reported")
	assert.Empty(t, s.rooms)
	assert.Empty(t, s.byNode)
}

// TestMemoryIndexClean: Leave, re-join on another node and RemoveNode keep
// the index exact (no entry for a node without calls in a room).
func TestMemoryIndexClean(t *testing.T) {
	s := NewMemory(Options{})
	_, err := s.Join(bg, testApp, "r", part("c1", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	_, err = s.Join(bg, testApp, "r", part("c2", "n1", 0), "n1", time.Minute)
	require.NoError(t, err)
	_, err = s.Join(bg, testApp, "r", part("c1", "n2", 0), "n1", time.Minute)
	require.NoError(t, err)
	assert.Len(t, s.byNode, 2)
	_, err = s.Leave(bg, testApp, "r", "c2")
	require.NoError(t, err)
	assert.Equal(t, map[string]map[RoomKey]struct{}{"n2": {{App: testApp, ID: "r"}: {}}}, s.byNode)
	_, err = s.Leave(bg, testApp, "r", "c1")
	require.NoError(t, err)
	assert.Empty(t, s.byNode)
	assert.Empty(t, s.rooms)
}
