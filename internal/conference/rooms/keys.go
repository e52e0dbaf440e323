package rooms

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the key prefix NewRedis uses when given an empty one.
const DefaultPrefix = "callcore"

// enc is the encoding of app keys, room ids and node ids in key names and
// index members: its alphabet (A-Z a-z 0-9 - _) has no ':', '{' or '}', so
// no name can collide with another or break the hash tag.
var enc = base64.RawURLEncoding

// keys names the Redis keys of one prefix. Every key starts with the hash
// tag "{prefix}", so all of them live in one Redis Cluster slot and the
// multi-key scripts are legal.
type keys struct {
	tag    string // "{prefix}:conf:"
	byNode string // zset, all scores 0: "<node>:<app>:<id>" (encoded)
	epoch  string // counter of host epochs
}

// newKeys returns the keys of prefix (DefaultPrefix if empty); the prefix
// must not contain a brace.
func newKeys(prefix string) (keys, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("%w: prefix %q contains a brace", ErrInvalid, prefix)
	}
	tag := "{" + prefix + "}:conf:"
	return keys{tag: tag, byNode: tag + "bynode", epoch: tag + "epoch"}, nil
}

// roomRef returns the encoded name of a room, "<app>:<id>", used in its
// key names and in the index members.
func roomRef(k RoomKey) string {
	return enc.EncodeToString([]byte(k.App)) + ":" + enc.EncodeToString([]byte(k.ID))
}

// nodeRef returns the encoded name of a node.
func nodeRef(node string) string { return enc.EncodeToString([]byte(node)) }

// room returns the hash of a room (by its roomRef).
func (k keys) room(ref string) string { return k.tag + "room:" + ref }

// host returns the host lease of a room (by its roomRef).
func (k keys) host(ref string) string { return k.tag + "host:" + ref }

// errBadRef is returned by parseRoomRef for a malformed reference.
var errBadRef = errors.New("rooms: bad room reference")

// parseRoomRef decodes a roomRef. It rejects what roomRef cannot produce
// for a valid room (bad or non-canonical encoding, invalid app key or room
// id), so that parseRoomRef(ref) succeeds only if roomRef gives ref back.
func parseRoomRef(ref string) (RoomKey, error) {
	a, i, ok := strings.Cut(ref, ":")
	if !ok {
		return RoomKey{}, fmt.Errorf("%w: %q", errBadRef, ref)
	}
	app, err := enc.DecodeString(a)
	if err != nil {
		return RoomKey{}, fmt.Errorf("%w: %q: app: %v", errBadRef, ref, err)
	}
	id, err := enc.DecodeString(i)
	if err != nil {
		return RoomKey{}, fmt.Errorf("%w: %q: id: %v", errBadRef, ref, err)
	}
	k := RoomKey{App: string(app), ID: string(id)}
	if err := checkRoom(k.App, k.ID); err != nil {
		return RoomKey{}, fmt.Errorf("%w: %q: %v", errBadRef, ref, err)
	}
	if roomRef(k) != ref { // non-canonical: padding bits, line breaks
		return RoomKey{}, fmt.Errorf("%w: %q: not canonical", errBadRef, ref)
	}
	return k, nil
}
