package bus

import (
	"context"
	"fmt"
	"sync"
)

// Hub is an in-process bus for several nodes in one process (tests,
// single-node memory mode). Messages go through the same wire encoding as
// with Redis, so payloads are copied and the semantics (deadlines, busy,
// panics, Close) are the same.
type Hub struct {
	mu    sync.RWMutex
	nodes map[string]*hubBus
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{nodes: make(map[string]*hubBus)}
}

// Join adds node o.Node to the hub. It fails if the options are invalid or
// the node id is already joined (and not closed since).
func (h *Hub) Join(o Options) (Bus, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &hubBus{hub: h}
	b.core = newCore(o, h)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.nodes[o.Node]; ok {
		return nil, fmt.Errorf("bus: node %q already joined the hub", o.Node)
	}
	h.nodes[o.Node] = b
	return b, nil
}

// publish implements transport: it hands msg to node's bus, if joined.
func (h *Hub) publish(_ context.Context, node string, msg []byte) (int64, error) {
	h.mu.RLock()
	b := h.nodes[node]
	h.mu.RUnlock()
	if b == nil {
		return 0, nil
	}
	b.core.receive(string(msg))
	return 1, nil
}

// ready implements transport: a hub is always reachable.
func (h *Hub) ready() error { return nil }

// hubBus is one node of a Hub.
type hubBus struct {
	hub  *Hub
	core *core
}

// Request implements Bus.
func (b *hubBus) Request(ctx context.Context, node, kind string, payload []byte) ([]byte, error) {
	return b.core.request(ctx, node, kind, payload)
}

// Close implements Bus: the node leaves the hub, then the core closes.
func (b *hubBus) Close(ctx context.Context) error {
	b.hub.mu.Lock()
	if b.hub.nodes[b.core.node] == b {
		delete(b.hub.nodes, b.core.node)
	}
	b.hub.mu.Unlock()
	return b.core.close(ctx)
}
