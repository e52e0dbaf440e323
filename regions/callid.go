package regions

import (
	"crypto/rand"
	"encoding/hex"
)

// CallID is a call id issued by [NewCallID] (layout in the package
// documentation).
type CallID string

// String returns the id.
func (id CallID) String() string { return string(id) }

// Call id layout constants.
const (
	callIDLen   = 36
	uuidVersion = 8 // RFC 9562 version 8, "custom"
	idFormat    = 1 // callcore call id format
)

// NewCallID returns a new call id owned by node in region. The random
// part comes from crypto/rand. Any strings are accepted; ids are only
// meaningful for a region from Parse and the node's configured id.
func NewCallID(region Region, node string) CallID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	b[6] = uuidVersion<<4 | idFormat
	b[8] = 0x80 | b[8]&0x3f // variant 10
	rh, nh := region.Hash(), HashNode(node)
	b[10], b[11] = byte(rh>>8), byte(rh)
	b[12], b[13] = byte(nh>>8), byte(nh)

	var s [callIDLen]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return CallID(s[:])
}

// Location is where a call id says its call lives.
type Location struct {
	Region RegionHash
	Node   NodeHash
}

// In reports whether the id names region r.
func (l Location) In(r Region) bool { return l.Region == r.Hash() }

// On reports whether the id names node (compare with the owner in the
// store record before acting: hashes collide).
func (l Location) On(node string) bool { return l.Node == HashNode(node) }

// ParseCallID reports the location recorded in a call id. ok is false
// unless s has exactly the form NewCallID produces: 36 characters,
// lower-case hex digits with hyphens after the 8th, 12th, 16th and 20th,
// UUID version 8, format 1 and the RFC 9562 variant. Ids of other systems
// (including Sinch's own and ordinary random UUIDs) are therefore not
// ok. It never allocates.
func ParseCallID(s string) (loc Location, ok bool) {
	if len(s) != callIDLen || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return Location{}, false
	}
	for i := 0; i < callIDLen; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if unhex(s[i]) < 0 {
			return Location{}, false
		}
	}
	if s[14] != '0'+uuidVersion || s[15] != '0'+idFormat {
		return Location{}, false
	}
	if v := unhex(s[19]); v < 8 || v > 0xb {
		return Location{}, false
	}
	return Location{Region: RegionHash(hex16(s[24:28])), Node: NodeHash(hex16(s[28:32]))}, true
}

// unhex returns the value of a lower-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// hex16 decodes four hex digits already known to be valid.
func hex16(s string) uint16 {
	return uint16(unhex(s[0])<<12 | unhex(s[1])<<8 | unhex(s[2])<<4 | unhex(s[3]))
}
