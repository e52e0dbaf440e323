package regions

import (
	"errors"
	"fmt"
	"slices"
)

// ErrHashCollision is returned (wrapped) by NewDirectory when two regions
// have the same RegionHash.
var ErrHashCollision = errors.New("region hash collision")

// Directory resolves the region hashes of call ids back to regions. It
// always knows Sinch's regions. It is immutable and safe for concurrent
// use.
type Directory struct {
	byHash map[RegionHash]Region
}

// NewDirectory returns a Directory of Sinch's regions and the given ones
// (typically this node's region and the regions it can forward to).
// Duplicates are ignored. It fails if a region is invalid (ErrInvalidRegion)
// or if two regions share a hash (ErrHashCollision; rename one of them).
func NewDirectory(regions ...Region) (*Directory, error) {
	d := &Directory{byHash: make(map[RegionHash]Region, len(sinch)+len(regions))}
	for _, r := range slices.Concat(sinch[:], regions) {
		if _, err := Parse(string(r)); err != nil {
			return nil, fmt.Errorf("new directory: %w", err)
		}
		h := r.Hash()
		if other, dup := d.byHash[h]; dup && other != r {
			return nil, fmt.Errorf("new directory: %w: %q and %q both hash to %s", ErrHashCollision, other, r, h)
		}
		d.byHash[h] = r
	}
	return d, nil
}

// Lookup returns the region with hash h.
func (d *Directory) Lookup(h RegionHash) (Region, bool) {
	r, ok := d.byHash[h]
	return r, ok
}

// Regions returns the known regions, sorted.
func (d *Directory) Regions() []Region {
	out := make([]Region, 0, len(d.byHash))
	for _, r := range d.byHash {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ParseCallID returns the region and node hash a call id names. ok is
// false when s is not a callcore call id (see the package function
// ParseCallID) or names a region the Directory does not know.
func (d *Directory) ParseCallID(s string) (region Region, node NodeHash, ok bool) {
	loc, ok := ParseCallID(s)
	if !ok {
		return "", 0, false
	}
	region, ok = d.byHash[loc.Region]
	if !ok {
		return "", 0, false
	}
	return region, loc.Node, true
}
