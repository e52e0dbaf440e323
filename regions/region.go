package regions

import (
	"errors"
	"fmt"
)

// Region is a region id: 2-10 characters of a-z and 0-9. Get one from
// [Parse] or use a predefined constant.
type Region string

// Sinch's regions (reference §1). Global is Sinch's region-less host
// (calling.api.sinch.com), which redirects to a regional one; a callcore
// deployment may use it as the id of a single, global region.
const (
	Global Region = "global" // Sinch's default host
	EUC1   Region = "euc1"   // Europe
	USE1   Region = "use1"   // North America
	SAE1   Region = "sae1"   // South America
	APSE1  Region = "apse1"  // Southeast Asia 1
	APSE2  Region = "apse2"  // Southeast Asia 2
)

// sinch lists Sinch's regions in reference order.
var sinch = [...]Region{Global, EUC1, USE1, SAE1, APSE1, APSE2}

// ErrInvalidRegion is returned (wrapped) by Parse.
var ErrInvalidRegion = errors.New("invalid region")

// Sinch returns Sinch's regions: global, euc1, use1, sae1, apse1, apse2.
func Sinch() []Region { return append([]Region(nil), sinch[:]...) }

// Parse validates a region id: 2-10 characters of a-z and 0-9. Upper-case
// input is refused rather than folded, as the configuration refuses it.
func Parse(s string) (Region, error) {
	if len(s) < 2 || len(s) > 10 {
		return "", fmt.Errorf("%w: want 2-10 characters of a-z and 0-9, got %d bytes", ErrInvalidRegion, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", fmt.Errorf("%w: want 2-10 characters of a-z and 0-9, got %q", ErrInvalidRegion, s)
		}
	}
	return Region(s), nil
}

// String returns the region id.
func (r Region) String() string { return string(r) }

// IsSinch reports whether r is one of Sinch's regions.
func (r Region) IsSinch() bool {
	for _, s := range sinch {
		if r == s {
			return true
		}
	}
	return false
}

// RegionHash is the 16-bit code of a region inside a call id.
type RegionHash uint16

// String returns the hash as four lower-case hex digits, as it appears in
// call ids.
func (h RegionHash) String() string { return hex4(uint16(h)) }

// Hash returns the region's code in call ids: FNV-1a (32 bit) of
// "callcore/region/" + r, folded to 16 bits by XOR of its halves.
func (r Region) Hash() RegionHash { return RegionHash(fold(fnv1a("callcore/region/", string(r)))) }

// NodeHash is the 16-bit code of a node inside a call id.
type NodeHash uint16

// String returns the hash as four lower-case hex digits, as it appears in
// call ids.
func (h NodeHash) String() string { return hex4(uint16(h)) }

// HashNode returns a node's code in call ids: FNV-1a (32 bit) of
// "callcore/node/" + node, folded to 16 bits by XOR of its halves.
func HashNode(node string) NodeHash { return NodeHash(fold(fnv1a("callcore/node/", node))) }

const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

func fnv1a(prefix, s string) uint32 {
	h := uint32(fnvOffset32)
	for i := 0; i < len(prefix); i++ {
		h ^= uint32(prefix[i])
		h *= fnvPrime32
	}
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime32
	}
	return h
}

func fold(h uint32) uint16 { return uint16(h>>16) ^ uint16(h) }

const hexDigits = "0123456789abcdef"

func hex4(v uint16) string {
	return string([]byte{hexDigits[v>>12], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf]})
}
