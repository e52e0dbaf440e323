package rooms

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeParticipant(f *testing.F) {
	good, err := encodeParticipant(part("c1", "node-1", 0))
	require.NoError(f, err)
	f.Add("c1", good)
	f.Add("c/1", `{"id":"c/1","node":"n\/1","cli":"+4670","muted":true,"onhold":false,"joined":"2025-03-04T05:06:07.000000008+05:30","extra":[1,{}]}`)
	f.Add("c1", `{"id":"c1","node":"n"}`)
	f.Add("c1", `{"id":"c1","node":""}`)
	f.Add("c1", `{"id":"c2","node":"n"}`)
	f.Add("c1", `{"id":"c1","node":"n","joined":"yesterday"}`)
	f.Add("c1", `{"id":"c1","node":"n","muted":"yes"}`)
	f.Add("", `{"id":"","node":"n"}`)
	f.Add("c1", `null`)
	f.Add("c1", `[]`)
	f.Add("c1", ``)
	f.Add("c1", `{not json`)
	f.Fuzz(func(t *testing.T, callID, s string) {
		p, err := decodeParticipant(callID, s)
		if err != nil {
			require.True(t, errors.Is(err, errBadParticipant), "%v", err)
			return
		}
		require.Equal(t, callID, p.CallID)
		require.NoError(t, checkName("call id", p.CallID))
		require.NoError(t, checkName("node", p.Node))
		if p.JoinedAt.Year() < 0 || p.JoinedAt.Year() > 9999 {
			return // not encodable; never produced by encodeParticipant
		}
		js, err := encodeParticipant(p)
		require.NoError(t, err)
		again, err := decodeParticipant(callID, js)
		require.NoError(t, err)
		require.True(t, p.JoinedAt.Equal(again.JoinedAt))
		p.JoinedAt, again.JoinedAt = again.JoinedAt, p.JoinedAt
		require.Equal(t, p.CallID, again.CallID)
		require.Equal(t, p.Node, again.Node)
		require.Equal(t, p.Muted, again.Muted)
		require.Equal(t, p.OnHold, again.OnHold)
		if strings.ToValidUTF8(p.CLI, "\uFFFD") == p.CLI {
			require.Equal(t, p.CLI, again.CLI)
		}
	})
}

func FuzzRoomRef(f *testing.F) {
	f.Add("4f1c2a9e-1b7d-4c51-9a0e-6f3c1d2e8b70", "room")
	f.Add("a:b", "c")
	f.Add("a", "b:c")
	f.Add("{x}", "}{")
	f.Add("app", "会议室🎉")
	f.Add("app", "a\xffb")
	f.Add("", "room")
	f.Add("app", "")
	f.Fuzz(func(t *testing.T, app, id string) {
		ref := roomRef(RoomKey{App: app, ID: id})
		require.Equal(t, 1, strings.Count(ref, ":"))
		require.False(t, strings.ContainsAny(ref, "{}"))
		k, err := parseRoomRef(ref)
		if checkRoom(app, id) != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, RoomKey{App: app, ID: id}, k)
	})
}

func FuzzParseRoomRef(f *testing.F) {
	f.Add(roomRef(RoomKey{App: "app", ID: "room"}))
	f.Add("YXBw:cm9vbQ")
	f.Add("YXBw:cm9vbR")   // non-canonical trailing bits
	f.Add("YXBw:cm9v\nbQ") // line break
	f.Add("YXBw:")
	f.Add(":cm9vbQ")
	f.Add("YXBw")
	f.Add("YXBw:cm9vbQ:eA")
	f.Add("YX=w:cm9vbQ")
	f.Fuzz(func(t *testing.T, ref string) {
		k, err := parseRoomRef(ref)
		if err != nil {
			require.True(t, errors.Is(err, errBadRef), "%v", err)
			return
		}
		require.NoError(t, checkRoom(k.App, k.ID))
		require.Equal(t, ref, roomRef(k))
	})
}
