package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeMember(f *testing.F) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(encodeMember(Member{Node: "a", Boot: "b", StartedAt: t0, LastSeen: t0}))
	f.Add(encodeMember(Member{Node: "node-1", Boot: NewBootID(), APIURL: "http://x", SIPAddr: "x:5060", StartedAt: t0, LastSeen: t0.Add(time.Second), Left: true}))
	f.Add(`{"node":"","boot":"b"}`)
	f.Add(`{"node":"a"}`)
	f.Add(`{"node":"a","boot":"b","last_seen":"not a time"}`)
	f.Add(`{"node":1}`)
	f.Add(`null`)
	f.Add(``)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeMember(s)
		if err != nil {
			require.ErrorIs(t, err, errBadMember)
			return
		}
		require.NoError(t, checkName("node", m.Node))
		require.NoError(t, checkName("boot", m.Boot))
		if m.StartedAt.Year() < 0 || m.StartedAt.Year() > 9999 || m.LastSeen.Year() < 0 || m.LastSeen.Year() > 9999 {
			return // not encodable; never produced by encodeMember
		}
		again, err := decodeMember(encodeMember(m))
		require.NoError(t, err)
		require.Equal(t, m.Node, again.Node)
		require.Equal(t, m.Boot, again.Boot)
		require.Equal(t, m.APIURL, again.APIURL)
		require.Equal(t, m.SIPAddr, again.SIPAddr)
		require.Equal(t, m.Left, again.Left)
		require.True(t, m.StartedAt.Equal(again.StartedAt))
		require.True(t, m.LastSeen.Equal(again.LastSeen))
	})
}
