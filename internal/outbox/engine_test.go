package outbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFullJitter(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for n, ceil := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 60: time.Second,
	} {
		var maxSeen, minSeen time.Duration = 0, time.Hour
		for range 2000 {
			d := fullJitter(lo, hi, n)
			maxSeen, minSeen = max(maxSeen, d), min(minSeen, d)
		}
		require.GreaterOrEqual(t, minSeen, time.Duration(0))
		require.LessOrEqual(t, maxSeen, ceil, "attempt %d", n)
		// Full jitter spreads over the whole range: 2000 draws reach its top half.
		require.Greater(t, maxSeen, ceil/2, "attempt %d", n)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("app deleted")
	p := Permanent(base)
	require.True(t, IsPermanent(p))
	require.True(t, IsPermanent(fmt.Errorf("deliver: %w", p)))
	require.ErrorIs(t, p, base)
	require.Equal(t, "app deleted", p.Error())
	require.False(t, IsPermanent(base))
	require.False(t, IsPermanent(nil))
	require.NoError(t, Permanent(nil))
}

func TestEntryValidate(t *testing.T) {
	ok := Entry{ID: "e", Kind: KindNotify, URL: "https://x/"}
	require.NoError(t, ok.validate())
	for name, mut := range map[string]func(*Entry){
		"empty id":    func(e *Entry) { e.ID = "" },
		"long id":     func(e *Entry) { e.ID = strings.Repeat("a", MaxIDLen+1) },
		"control id":  func(e *Entry) { e.ID = "a\nb" },
		"unicode id":  func(e *Entry) { e.ID = "é" },
		"empty kind":  func(e *Entry) { e.Kind = "" },
		"spaced kind": func(e *Entry) { e.Kind = "di ce" },
		"empty url":   func(e *Entry) { e.URL = "" },
	} {
		e := ok
		mut(&e)
		require.ErrorIs(t, e.validate(), ErrInvalidEntry, name)
	}
	e := ok
	e.ID = strings.Repeat("a", MaxIDLen)
	e.Kind = "pie_2-x"
	require.NoError(t, e.validate())
}

func TestNodeOfAndLabels(t *testing.T) {
	node, ok := nodeOf("n1/boot")
	require.True(t, ok)
	require.Equal(t, "n1", node)
	node, ok = nodeOf("n1/boot/x")
	require.True(t, ok)
	require.Equal(t, "n1", node)
	for _, bad := range []string{"", "n1", "/boot", "n1/"} {
		_, ok := nodeOf(bad)
		require.False(t, ok, bad)
	}
	require.Equal(t, "dice", kindLabel("dice"))
	require.Equal(t, "notify", kindLabel("notify"))
	require.Equal(t, "other", kindLabel("pie"))
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	require.Equal(t, 24*time.Hour, o.Retention)
	require.Equal(t, time.Second, o.MinBackoff)
	require.Equal(t, 5*time.Minute, o.MaxBackoff)
	require.Equal(t, 64, o.Workers)
	require.Equal(t, 100000, o.SpillLimit)
	require.NotNil(t, o.Logger)
	require.NotNil(t, o.Registerer)
	require.NotNil(t, o.Now)
	o = Options{MinBackoff: time.Minute, MaxBackoff: time.Second}.withDefaults()
	require.Equal(t, time.Minute, o.MaxBackoff)
}

func TestURLHost(t *testing.T) {
	require.Equal(t, "backend.example:8443", urlHost("https://user:secret@backend.example:8443/p?token=x"))
	require.Equal(t, "(unparsable)", urlHost("http://[::1"))
}
