package regions_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/callcore/callcore/regions"
)

// FuzzParseCallID checks ParseCallID against the pattern of issued ids and
// checks that the location it reports is the one spelled in the id.
func FuzzParseCallID(f *testing.F) {
	for _, s := range []string{
		string(regions.NewCallID(regions.EUC1, "node-a")),
		string(regions.NewCallID("dev", "")),
		"1ce0ffee-ca11-ca11-ca11-abcdef000053",
		"3f2b8c1e-7d4a-4e6b-9c2d-1a2b3c4d5e6f",
		"00000000-0000-8100-8000-000000000000",
		"ffffffff-ffff-81ff-bfff-ffffffffffff",
		"", "-", strings.Repeat("-", 36), strings.Repeat("é", 18),
	} {
		f.Add(s)
	}
	dir, err := regions.NewDirectory("dev")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, ok := regions.ParseCallID(s)
		if want := callIDPattern.MatchString(s); ok != want {
			t.Fatalf("ParseCallID(%q) ok = %v, pattern says %v", s, ok, want)
		}
		region, node, dok := dir.ParseCallID(s)
		if !ok {
			if loc != (regions.Location{}) || dok {
				t.Fatalf("rejected %q but returned %v / %v %v", s, loc, region, node)
			}
			return
		}
		rh, _ := strconv.ParseUint(s[24:28], 16, 16)
		nh, _ := strconv.ParseUint(s[28:32], 16, 16)
		if loc.Region != regions.RegionHash(rh) || loc.Node != regions.NodeHash(nh) {
			t.Fatalf("ParseCallID(%q) = %+v", s, loc)
		}
		if r, known := dir.Lookup(loc.Region); dok != known || (dok && (r != region || node != loc.Node || !loc.In(r))) {
			t.Fatalf("directory disagrees on %q: %v %v %v", s, region, node, dok)
		}
	})
}
