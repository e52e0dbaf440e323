package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxNameLen bounds the length in bytes of node ids and boot ids.
const MaxNameLen = 255

// Member is one incarnation of a node: a process that registered with a
// node id (from the configuration) and a boot id (random per process start).
//
// Its JSON form (field names in the tags) is what the package stores in
// Redis; the Lua scripts read its "boot" and "left" fields.
type Member struct {
	// Node is the node id, 1 to MaxNameLen bytes.
	Node string `json:"node"`
	// Boot is the boot id of the process, 1 to MaxNameLen bytes (NewBootID).
	Boot string `json:"boot"`
	// APIURL is the REST address the node advertises (informational).
	APIURL string `json:"api_url,omitempty"`
	// SIPAddr is the SIP address the node advertises (informational).
	SIPAddr string `json:"sip_addr,omitempty"`
	// StartedAt is when the incarnation registered.
	StartedAt time.Time `json:"started_at"`
	// LastSeen is the time of its last successful heartbeat (or of Leave),
	// by the clock of the member itself.
	LastSeen time.Time `json:"last_seen"`
	// Left is true when the member left gracefully (Leave), false when it
	// died.
	Left bool `json:"left,omitempty"`
}

// NewBootID returns a random boot id (32 hex digits).
func NewBootID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

// checkName reports whether a node or boot id is 1 to MaxNameLen bytes.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%s longer than %d bytes", what, MaxNameLen)
	}
	return nil
}

// encodeMember returns the JSON form of m.
func encodeMember(m Member) string {
	b, err := json.Marshal(m)
	if err != nil {
		// Member holds only strings, a bool and times; Marshal fails only
		// for a year outside [0, 9999], which no clock produces.
		panic(fmt.Sprintf("cluster: encode member: %v", err))
	}
	return string(b)
}

// errBadMember is wrapped by decodeMember errors.
var errBadMember = errors.New("bad member record")

// decodeMember parses the JSON form of a member and checks its ids.
func decodeMember(s string) (Member, error) {
	var m Member
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return Member{}, fmt.Errorf("%w: %w", errBadMember, err)
	}
	if err := checkName("node", m.Node); err != nil {
		return Member{}, fmt.Errorf("%w: %w", errBadMember, err)
	}
	if err := checkName("boot", m.Boot); err != nil {
		return Member{}, fmt.Errorf("%w: %w", errBadMember, err)
	}
	return m, nil
}
