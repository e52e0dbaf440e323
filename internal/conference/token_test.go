package conference

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenRoundTrip(t *testing.T) {
	secret := []byte("region-secret")
	now := time.Unix(1_800_000_000, 0)
	c := Claims{App: "app", Room: "room {1}: ü", CallID: "call-1", From: "node-b", To: "node-a", CLI: "+4670", DTMF: "forward", MOH: "music1", Time: now.Unix()}
	v := SignToken(secret, c)
	got, err := VerifyToken(secret, v, "node-a", now.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, c, got)
}

func TestTokenRefused(t *testing.T) {
	secret := []byte("region-secret")
	now := time.Unix(1_800_000_000, 0)
	c := Claims{App: "app", Room: "r", CallID: "call-1", From: "node-b", To: "node-a", Time: now.Unix()}
	v := SignToken(secret, c)
	cases := map[string]struct {
		value, node string
		at          time.Time
	}{
		"other secret":   {SignToken([]byte("other"), c), "node-a", now},
		"other node":     {v, "node-c", now},
		"too old":        {v, "node-a", now.Add(2 * time.Minute)},
		"from future":    {v, "node-a", now.Add(-2 * time.Minute)},
		"no signature":   {strings.Split(v, ".")[0], "node-a", now},
		"tampered":       {"x" + v, "node-a", now},
		"empty":          {"", "node-a", now},
		"oversized":      {strings.Repeat("a", maxTokenLen+1), "node-a", now},
		"incomplete":     {SignToken(secret, Claims{To: "node-a", Time: now.Unix()}), "node-a", now},
		"not base64 sig": {strings.Split(v, ".")[0] + ".!!", "node-a", now},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyToken(secret, tc.value, tc.node, tc.at)
			require.ErrorIs(t, err, ErrBadToken)
		})
	}
}

func FuzzVerifyToken(f *testing.F) {
	secret := []byte("s")
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignToken(secret, Claims{App: "a", Room: "r", CallID: "c", From: "b", To: "n", Time: now.Unix()}))
	f.Add("e30.AAAA")
	f.Add(".")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := VerifyToken(secret, v, "n", now)
		if err == nil && (c.App == "" || c.Room == "" || c.CallID == "" || c.To != "n") {
			t.Fatalf("accepted incomplete claims %+v", c)
		}
	})
}
