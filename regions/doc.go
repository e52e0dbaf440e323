// Package regions names the regions callcore nodes serve and issues call
// ids that say which region and which node own a call.
//
// # Regions
//
// A [Region] is 2-10 characters of a-z and 0-9 ([Parse]). Sinch's regions
// (reference §1) are predefined: global, euc1, use1, sae1, apse1 and apse2; any
// other well-formed id is allowed for self-hosted deployments.
//
// # Call ids
//
// Call ids are opaque strings to the SDKs and to customers, and Sinch's
// look like UUIDs. [NewCallID] returns a lower-case RFC 9562 version 8
// ("custom") UUID, 8-4-4-4-12 hex digits, laid out as
//
//	rrrrrrrr-rrrr-81rr-Vrrr-GGGGNNNNrrrr
//
//	r     86 random bits from crypto/rand
//	8     the UUID version, 8
//	1     the callcore call id format, 1
//	V     the RFC 9562 variant (8, 9, a or b; two of its bits are random)
//	GGGG  the 16-bit hash of the region ([Region.Hash])
//	NNNN  the 16-bit hash of the node id ([HashNode])
//
// so every call of a region shares digits 24-27 and every call of a node
// digits 24-31, which also helps operators grep logs.
//
// [ParseCallID] recovers the two hashes ([Location]) from any node without
// shared state. A [Directory] built from the regions a deployment knows
// (Sinch's five always included) turns the region hash back into a Region.
//
// # Trade-offs
//
// The region and the node are hashed, not spelled out, so that the random
// part stays large: spelling out a 10-character region alone takes 52 bits
// and would leave about 52 random bits, enough for accidental duplicates
// after some 10^7-10^8 calls of one node. With 86 random bits a duplicate
// among the calls of one node is not expected before about 10^13 calls.
// The price:
//
//   - A region hash names a region only within a Directory. The regions a
//     node can forward a command to are configured anyway (with their base
//     URLs), so that is where the names come from; NewDirectory refuses a
//     set of regions with colliding hashes. An id of a region the Directory
//     does not know does not resolve.
//   - A node hash is a hint, not an identity: two nodes of a region collide
//     with probability about n²/131072 for n nodes (0.07 % for 10 nodes,
//     7 % for 100). The owner recorded in the call's store record is
//     authoritative; use the node hash to pick the likely owner, or to
//     notice a foreign id, and confirm ownership in the record.
//   - Nothing is authenticated: anyone can write a well-formed id naming
//     any region and node. ParseCallID says where an id claims to live,
//     never that the call exists.
//   - The hash functions (FNV-1a, see [Region.Hash] and [HashNode]) are
//     part of format 1 and never change; a new layout would use another
//     format digit.
package regions
