package media

import (
	"container/list"
	"context"
	"sync"
)

// audioCache is an LRU of decoded 8 kHz PCM with a byte budget, shared by
// TTS, local files and fetched URLs, with single-flight loading: concurrent
// requests for one key run the loader once. Cached slices are immutable.
type audioCache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	lru      list.List // of *cacheEntry, front = most recently used
	items    map[string]*list.Element
	inflight map[string]*cacheCall
}

type cacheEntry struct {
	key  string
	pcm  []int16
	cost int64
}

type cacheCall struct {
	done chan struct{}
	pcm  []int16
	err  error
}

// entryOverhead approximates the bookkeeping bytes of one entry.
const entryOverhead = 128

func newAudioCache(budget int64) *audioCache {
	return &audioCache{budget: budget, items: make(map[string]*list.Element), inflight: make(map[string]*cacheCall)}
}

// get returns the cached samples for key or loads them. The loader runs in
// its own goroutine on a context detached from ctx's cancellation (but
// keeping its values), so that a caller that gives up does not fail the
// others waiting for the same key; the loader must bound its own run time.
// hit reports whether the samples came from the cache without loading.
// Failed loads are not cached.
func (c *audioCache) get(ctx context.Context, key string, load func(context.Context) ([]int16, error)) (pcm []int16, hit bool, err error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.lru.MoveToFront(el)
		pcm := el.Value.(*cacheEntry).pcm
		c.mu.Unlock()
		return pcm, true, nil
	}
	call, ok := c.inflight[key]
	if !ok {
		call = &cacheCall{done: make(chan struct{})}
		c.inflight[key] = call
		go c.run(context.WithoutCancel(ctx), key, call, load)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.pcm, false, call.err
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
}

func (c *audioCache) run(ctx context.Context, key string, call *cacheCall, load func(context.Context) ([]int16, error)) {
	call.pcm, call.err = load(ctx)
	c.mu.Lock()
	delete(c.inflight, key)
	if call.err == nil {
		c.add(key, call.pcm)
	}
	c.mu.Unlock()
	close(call.done)
}

// add inserts an entry and evicts least recently used ones over budget. An
// entry larger than the whole budget is not kept.
func (c *audioCache) add(key string, pcm []int16) {
	cost := int64(2*len(pcm)+len(key)) + entryOverhead
	if cost > c.budget {
		return
	}
	if el, ok := c.items[key]; ok {
		c.used -= el.Value.(*cacheEntry).cost
		c.lru.Remove(el)
	}
	c.items[key] = c.lru.PushFront(&cacheEntry{key: key, pcm: pcm, cost: cost})
	c.used += cost
	for c.used > c.budget {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.items, e.key)
		c.used -= e.cost
	}
}

// stats returns the number of entries and bytes in use.
func (c *audioCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.used
}
