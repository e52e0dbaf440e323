package regions_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/regions"
)

func TestParse(t *testing.T) {
	for _, s := range []string{"euc1", "use1", "sae1", "apse1", "apse2", "eu", "dev", "0123456789", "local1"} {
		r, err := regions.Parse(s)
		require.NoError(t, err, s)
		require.Equal(t, s, r.String())
	}
	for _, s := range []string{"", "e", "01234567890", "EUC1", "eu-c1", "eu c1", "eu_1", "é1", "euc1\n", "\x00\x00"} {
		_, err := regions.Parse(s)
		require.ErrorIs(t, err, regions.ErrInvalidRegion, "%q", s)
	}
}

func TestSinch(t *testing.T) {
	require.Equal(t, []regions.Region{"global", "euc1", "use1", "sae1", "apse1", "apse2"}, regions.Sinch())
	s := regions.Sinch()
	s[0] = "mutated"
	require.Equal(t, regions.Global, regions.Sinch()[0], "Sinch returns a copy")
	for _, r := range regions.Sinch() {
		require.True(t, r.IsSinch())
	}
	require.False(t, regions.Region("dev").IsSinch())
}

// TestHashesAreStable pins the hash functions: they are part of call id
// format 1, and changing them would orphan every live call.
func TestHashesAreStable(t *testing.T) {
	for r, want := range map[regions.Region]string{
		regions.EUC1: "cec4", regions.USE1: "7047", regions.SAE1: "3518",
		regions.APSE1: "240d", regions.APSE2: "2e54", "dev": "15fe",
	} {
		require.Equal(t, want, r.Hash().String(), r)
	}
	require.Equal(t, "b2fa", regions.HashNode("node-a").String())
	require.Equal(t, regions.NodeHash(0xb2fa), regions.HashNode("node-a"))
	require.NotEqual(t, regions.HashNode("node-a"), regions.HashNode("node-b"))
	require.Equal(t, "000f", regions.NodeHash(0xf).String())
}

var callIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-81[0-9a-f]{2}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewCallIDShape(t *testing.T) {
	id := regions.NewCallID(regions.EUC1, "node-a")
	require.Regexp(t, callIDPattern, id.String())
	require.Equal(t, "cec4b2fa", string(id)[24:32], "region and node hashes are visible")

	loc, ok := regions.ParseCallID(string(id))
	require.True(t, ok)
	require.Equal(t, regions.EUC1.Hash(), loc.Region)
	require.Equal(t, regions.HashNode("node-a"), loc.Node)
	require.True(t, loc.In(regions.EUC1))
	require.False(t, loc.In(regions.USE1))
	require.True(t, loc.On("node-a"))
	require.False(t, loc.On("node-b"))
}

func TestNewCallIDRoundTrip(t *testing.T) {
	for _, r := range append(regions.Sinch(), "dev", "0123456789", "zz") {
		for _, node := range []string{"node-a", "n", "callcore-7f9c4d-xk2p9", strings.Repeat("n", 32), ""} {
			id := regions.NewCallID(r, node)
			loc, ok := regions.ParseCallID(string(id))
			require.True(t, ok, id)
			require.True(t, loc.In(r))
			require.True(t, loc.On(node))
		}
	}
}

func TestNewCallIDRandomness(t *testing.T) {
	const n = 100_000
	seen := make(map[regions.CallID]struct{}, n)
	var ones, zeros [36]uint16 // per hex position: bits seen set / clear
	for range n {
		id := regions.NewCallID(regions.EUC1, "node-a")
		_, dup := seen[id]
		require.False(t, dup, "duplicate id %s", id)
		seen[id] = struct{}{}
		for i := range len(id) {
			if id[i] == '-' {
				continue
			}
			v := strings.IndexByte("0123456789abcdef", id[i])
			ones[i] |= uint16(v)
			zeros[i] |= uint16(^v & 0xf)
		}
	}
	// Every random bit took both values; the fixed ones never changed.
	for i, r := range "rrrrrrrr-rrrr-81rr-Vrrr-FFFFFFFFrrrr" {
		switch r {
		case 'r':
			require.Equal(t, uint16(0xf), ones[i]&zeros[i], "position %d", i)
		case 'V':
			require.Equal(t, uint16(0x3), ones[i]&zeros[i], "variant position: two random bits")
		case '8', '1', 'F':
			require.Zero(t, ones[i]&zeros[i], "position %d is fixed", i)
		}
	}
}

func TestParseCallIDRejects(t *testing.T) {
	good := string(regions.NewCallID(regions.EUC1, "node-a"))
	for _, tc := range []struct{ name, s string }{
		{"empty", ""},
		{"Sinch example", "1ce0ffee-ca11-ca11-ca11-abcdef000053"},
		{"random v4 UUID", "3f2b8c1e-7d4a-4e6b-9c2d-1a2b3c4d5e6f"},
		{"upper case", strings.ToUpper(good)},
		{"version 4", good[:14] + "4" + good[15:]},
		{"format 2", good[:15] + "2" + good[16:]},
		{"variant 0", good[:19] + "7" + good[20:]},
		{"variant 110", good[:19] + "c" + good[20:]},
		{"no hyphens", strings.ReplaceAll(good, "-", "")},
		{"moved hyphen", good[:7] + "-" + good[7:8] + good[9:]},
		{"braces", "{" + good[1:35] + "}"},
		{"non-hex", good[:30] + "g" + good[31:]},
		{"too long", good + "0"},
		{"too short", good[:35]},
		{"suffix like Sinch's _257", good[:32] + "_257"},
		{"non-ASCII", good[:30] + "é" + good[32:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := regions.ParseCallID(tc.s)
			require.False(t, ok, tc.s)
		})
	}
}

func TestParseCallIDDoesNotAllocate(t *testing.T) {
	id := string(regions.NewCallID(regions.EUC1, "node-a"))
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if _, ok := regions.ParseCallID(id); !ok {
			panic("not ok")
		}
	}))
}

func TestDirectory(t *testing.T) {
	d, err := regions.NewDirectory("dev", "dev", regions.EUC1)
	require.NoError(t, err)
	require.Equal(t, []regions.Region{"apse1", "apse2", "dev", "euc1", "global", "sae1", "use1"}, d.Regions())

	for _, r := range d.Regions() {
		got, ok := d.Lookup(r.Hash())
		require.True(t, ok)
		require.Equal(t, r, got)
		region, node, ok := d.ParseCallID(string(regions.NewCallID(r, "node-7")))
		require.True(t, ok)
		require.Equal(t, r, region)
		require.Equal(t, regions.HashNode("node-7"), node)
	}

	_, _, ok := d.ParseCallID(string(regions.NewCallID("other", "node-7")))
	require.False(t, ok, "a region the directory does not know")
	_, _, ok = d.ParseCallID("1ce0ffee-ca11-ca11-ca11-abcdef000053")
	require.False(t, ok)

	plain, err := regions.NewDirectory()
	require.NoError(t, err)
	require.Len(t, plain.Regions(), 6, "Sinch's regions are always known")

	_, err = regions.NewDirectory("BAD")
	require.ErrorIs(t, err, regions.ErrInvalidRegion)
}

func TestDirectoryRefusesCollisions(t *testing.T) {
	a, b := collidingRegions(t)
	require.Equal(t, a.Hash(), b.Hash())
	_, err := regions.NewDirectory(a, b)
	require.ErrorIs(t, err, regions.ErrHashCollision)
	require.ErrorContains(t, err, string(a))
	require.ErrorContains(t, err, string(b))
}

// collidingRegions finds two region ids with the same hash (a birthday
// search over short ids: a few hundred tries).
func collidingRegions(t *testing.T) (regions.Region, regions.Region) {
	t.Helper()
	seen := map[regions.RegionHash]regions.Region{}
	for i := range 1 << 20 {
		r := regions.Region(fmt.Sprintf("r%x", i))
		if other, ok := seen[r.Hash()]; ok {
			return other, r
		}
		seen[r.Hash()] = r
	}
	t.Fatal("no collision found")
	return "", ""
}

func BenchmarkNewCallID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = regions.NewCallID(regions.EUC1, "callcore-7f9c4d-xk2p9")
	}
}

func BenchmarkParseCallID(b *testing.B) {
	id := string(regions.NewCallID(regions.EUC1, "node-a"))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := regions.ParseCallID(id); !ok {
			b.Fatal("not ok")
		}
	}
}
