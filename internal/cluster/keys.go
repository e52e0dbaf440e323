package cluster

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the key prefix used when Join gets an empty one.
const DefaultPrefix = "callcore"

// fencedTTLMillis is the lifetime of a node's fenced set (one day), renewed
// each time a boot of the node is fenced.
const fencedTTLMillis = 24 * 60 * 60 * 1000

// keys names the Redis keys of one prefix. Every key starts with the hash
// tag "{prefix}", so all of them live in one Redis Cluster slot and the
// multi-key scripts are legal.
type keys struct {
	tag    string // "{prefix}:cluster:"
	nodes  string // zset node -> last seen (Unix ms, member clock)
	info   string // hash node -> member JSON
	reaper string // lease: holder token, PX LeaseTTL
	prev   string // hash node -> JSON of the incarnation its current one replaced
}

// newKeys validates prefix (DefaultPrefix if empty) and returns its keys.
func newKeys(prefix string) (keys, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("prefix %q contains a brace", prefix)
	}
	tag := "{" + prefix + "}:cluster:"
	return keys{
		tag:    tag,
		nodes:  tag + "nodes",
		info:   tag + "info",
		reaper: tag + "reaper",
		prev:   tag + "prev",
	}, nil
}

// heartbeat returns the heartbeat key of node: member JSON, PX TTL.
func (k keys) heartbeat(node string) string { return k.tag + "hb:" + node }

// fenced returns the fenced set of node: boot ids declared dead.
func (k keys) fenced(node string) string { return k.tag + "fenced:" + node }

// member returns the keys a per-member script declares, in the order the
// scripts expect: heartbeat, nodes, info, fenced, reaper, prev.
func (k keys) member(node string) []string {
	return []string{k.heartbeat(node), k.nodes, k.info, k.fenced(node), k.reaper, k.prev}
}
