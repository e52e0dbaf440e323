package media

import (
	"container/list"
	"context"
	"sync"
)

// audioCache is an LRU of decoded 8 kHz PCM with a byte budget, shared by
// TTS, local files and fetched URLs, with single-flight loading: concurrent
// requests for one key run the loader once. Cached slices are immutable.
// An entry may carry the HTTP validators and freshness of a fetched URL
// (meta); entries without are always fresh.
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
	meta *urlMeta
	cost int64
}

// cached is a snapshot of an entry, handed to a loader that refreshes it.
type cached struct {
	pcm  []int16
	meta *urlMeta
}

// loaded is what a refreshing loader returns: the samples to return and,
// when store is set, to cache with meta. drop removes the existing entry
// (the server said it is gone, or that it must not be stored).
type loaded struct {
	pcm   []int16
	meta  *urlMeta
	store bool
	drop  bool
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
	return c.getFresh(ctx, key, nil, func(ctx context.Context, _ *cached) (loaded, error) {
		pcm, err := load(ctx)
		return loaded{pcm: pcm, store: true}, err
	})
}

// getFresh is get for entries that can go stale: an entry is served when
// fresh(meta) holds (or fresh is nil), else the loader runs (once for all
// concurrent callers) with the stale entry, to revalidate it. The loader's
// result decides what is returned and kept; on error the entry stays
// unless the result says drop.
func (c *audioCache) getFresh(ctx context.Context, key string, fresh func(*urlMeta) bool,
	load func(context.Context, *cached) (loaded, error)) (pcm []int16, hit bool, err error) {
	c.mu.Lock()
	var old *cached
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		if fresh == nil || e.meta == nil || fresh(e.meta) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.pcm, true, nil
		}
		old = &cached{pcm: e.pcm, meta: e.meta}
	}
	call, ok := c.inflight[key]
	if !ok {
		call = &cacheCall{done: make(chan struct{})}
		c.inflight[key] = call
		go c.run(context.WithoutCancel(ctx), key, call, old, load)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.pcm, false, call.err
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
}

func (c *audioCache) run(ctx context.Context, key string, call *cacheCall, old *cached, load func(context.Context, *cached) (loaded, error)) {
	res, err := load(ctx, old)
	call.pcm, call.err = res.pcm, err
	if err != nil {
		call.pcm = nil
	}
	c.mu.Lock()
	delete(c.inflight, key)
	switch {
	case err == nil && res.store:
		c.add(key, res.pcm, res.meta)
	case res.drop:
		c.remove(key)
	}
	c.mu.Unlock()
	close(call.done)
}

// add inserts or replaces an entry and evicts least recently used ones over
// budget. An entry larger than the whole budget is not kept.
func (c *audioCache) add(key string, pcm []int16, meta *urlMeta) {
	cost := int64(2*len(pcm)+len(key)) + entryOverhead
	c.remove(key)
	if cost > c.budget {
		return
	}
	c.items[key] = c.lru.PushFront(&cacheEntry{key: key, pcm: pcm, meta: meta, cost: cost})
	c.used += cost
	for c.used > c.budget {
		c.remove(c.lru.Back().Value.(*cacheEntry).key)
	}
}

func (c *audioCache) remove(key string) {
	if el, ok := c.items[key]; ok {
		c.used -= el.Value.(*cacheEntry).cost
		c.lru.Remove(el)
		delete(c.items, key)
	}
}

// stats returns the number of entries and bytes in use.
func (c *audioCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.used
}
