package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the channel prefix used when NewRedis gets an empty one.
const DefaultPrefix = "callcore"

// Timings of the Redis subscription.
const (
	// defaultHealthInterval: after this long without any message the
	// subscription is pinged; after three times as long it is recreated.
	defaultHealthInterval = 5 * time.Second
	// subscribeTimeout bounds a (re)subscription attempt.
	subscribeTimeout = 10 * time.Second
	// Backoff between failed receive attempts (Redis unreachable).
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Channel returns the Redis channel of node under prefix (DefaultPrefix if
// empty): "<prefix>:bus:<node>". It carries both the requests to the node
// and the replies to the node's own requests.
func Channel(prefix, node string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + ":bus:" + node
}

// Redis is a Bus over Redis Pub/Sub. Each Redis holds one Pub/Sub
// connection, subscribed to Channel(prefix, Options.Node).
type Redis struct {
	core    *core
	client  redis.UniversalClient
	prefix  string
	channel string
	sharded bool          // SSUBSCRIBE/SPUBLISH instead of SUBSCRIBE/PUBLISH
	health  time.Duration // see defaultHealthInterval
	log     *slog.Logger

	mu       sync.Mutex
	ps       *redis.PubSub // current subscription
	stopping bool
	down     error // why the subscription is not up, when it is not

	up       atomic.Bool  // subscription confirmed and not known lost
	lastRecv atomic.Int64 // Unix ns of the last thing received

	stopOnce  sync.Once
	stop      chan struct{}
	loopDone  chan struct{}
	watchDone chan struct{}
}

// redisConfig are the NewRedis settings tests may change.
type redisConfig struct {
	sharded bool
	health  time.Duration
}

// NewRedis subscribes to this node's channel, Channel(prefix, o.Node), and
// returns when the subscription is confirmed (so a Request to this node
// right after NewRedis returns is delivered). prefix scopes the channels to
// a region, e.g. "callcore:use1" -> channels "callcore:use1:bus:{node}";
// empty means DefaultPrefix. Close does not close client.
//
// With a *redis.ClusterClient the bus uses sharded Pub/Sub (SSUBSCRIBE,
// SPUBLISH, Redis 7+): a plain PUBLISH in a cluster only counts the
// subscribers of the node it was sent to, which would make ErrNoResponder
// unreliable. Standalone and Sentinel clients use SUBSCRIBE and PUBLISH.
//
// The subscription survives connection losses: go-redis reconnects and
// resubscribes, and the bus pings a silent subscription and recreates it
// when the pings go unanswered. Requests need the client's regular
// connections: while Redis is unreachable they fail with the PUBLISH error.
// Create client with ContextTimeoutEnabled so that request deadlines also
// bound PUBLISH network waits (otherwise its read timeout does).
func NewRedis(ctx context.Context, client redis.UniversalClient, prefix string, o Options) (*Redis, error) {
	return newRedis(ctx, client, prefix, o, redisConfig{sharded: shardedFor(client), health: defaultHealthInterval})
}

// shardedFor reports whether the bus uses sharded Pub/Sub with client.
func shardedFor(client redis.UniversalClient) bool {
	_, cluster := client.(*redis.ClusterClient)
	return cluster
}

// newRedis is NewRedis with explicit settings.
func newRedis(ctx context.Context, client redis.UniversalClient, prefix string, o Options, cfg redisConfig) (*Redis, error) {
	if client == nil {
		return nil, errors.New("bus: nil redis client")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	r := &Redis{
		client:    client,
		prefix:    prefix,
		channel:   Channel(prefix, o.Node),
		sharded:   cfg.sharded,
		health:    cfg.health,
		log:       o.Logger,
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		watchDone: make(chan struct{}),
	}
	r.core = newCore(o, r)

	ps := r.subscribe(ctx)
	unwatch := context.AfterFunc(ctx, func() { _ = ps.Close() })
	err = r.confirm(ctx, ps)
	if !unwatch() && err == nil {
		err = ctx.Err() // ps was closed after all
	}
	if err != nil {
		_ = ps.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("bus: subscribe %s: %w", r.channel, err)
	}
	r.ps = ps
	r.up.Store(true)
	r.lastRecv.Store(time.Now().UnixNano())
	go r.run(ps)
	go r.watch()
	r.log.Info("bus: listening", "node", o.Node, "channel", r.channel, "sharded", r.sharded)
	return r, nil
}

// Request implements Bus.
func (r *Redis) Request(ctx context.Context, node, kind string, payload []byte) ([]byte, error) {
	return r.core.request(ctx, node, kind, payload)
}

// Close implements Bus: it closes the subscription, then fails the waiting
// requests and waits for the running handlers (bounded by ctx). Replies of
// handlers still running are published after Close began.
func (r *Redis) Close(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopping = true
		ps := r.ps
		r.mu.Unlock()
		close(r.stop)
		_ = ps.Close()
	})
	for _, done := range []chan struct{}{r.loopDone, r.watchDone} {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("bus: close node %q: %w", r.core.node, ctx.Err())
		}
	}
	return r.core.close(ctx)
}

// publish implements transport.
func (r *Redis) publish(ctx context.Context, node string, msg []byte) (int64, error) {
	ch := Channel(r.prefix, node)
	if r.sharded {
		return r.client.SPublish(ctx, ch, msg).Result()
	}
	return r.client.Publish(ctx, ch, msg).Result()
}

// subscribe starts a subscription to r.channel; the confirmation, or the
// error, comes through Receive.
func (r *Redis) subscribe(ctx context.Context) *redis.PubSub {
	if r.sharded {
		return r.client.SSubscribe(ctx, r.channel)
	}
	return r.client.Subscribe(ctx, r.channel)
}

// confirm waits for the confirmation of ps's subscription to r.channel.
func (r *Redis) confirm(ctx context.Context, ps *redis.PubSub) error {
	for {
		msg, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
		if err != nil {
			return err
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Channel == r.channel && isSubscribe(s.Kind) {
			return nil
		}
	}
}

// isSubscribe reports whether a Subscription kind confirms a subscription.
func isSubscribe(kind string) bool { return kind == "subscribe" || kind == "ssubscribe" }

// isUnsubscribe reports whether a Subscription kind ends one.
func isUnsubscribe(kind string) bool { return kind == "unsubscribe" || kind == "sunsubscribe" }

// resubscribe replaces the subscription ps with a new one; nil when the bus
// is closing.
func (r *Redis) resubscribe(ps *redis.PubSub) *redis.PubSub {
	_ = ps.Close()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	nps := r.subscribe(ctx)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		_ = nps.Close()
		return nil
	}
	r.ps = nps
	return nps
}

// run receives from the subscription until Close. go-redis reconnects and
// resubscribes a lost connection on the next Receive; run backs off while
// that fails, and replaces the subscription when the watchdog closed it or
// the server ended it (sunsubscribe on a cluster slot migration).
func (r *Redis) run(ps *redis.PubSub) {
	defer close(r.loopDone)
	failures := 0
	for {
		msg, err := ps.Receive(context.Background())
		if err != nil {
			if r.isStopping() {
				return
			}
			if errors.Is(err, redis.ErrClosed) { // closed by the watchdog
				if ps = r.resubscribe(ps); ps == nil {
					return
				}
				continue
			}
			failures++
			r.core.m.receiveErrors.Inc()
			if r.setDown(err) || failures == 1 {
				r.log.Warn("bus: subscription lost; reconnecting", "node", r.core.node, "channel", r.channel, "error", err)
			}
			if !r.sleep(backoff(failures)) {
				return
			}
			continue
		}
		r.lastRecv.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Message:
			if m.Channel == r.channel {
				r.core.receive(m.Payload)
			}
		case *redis.Subscription:
			if m.Channel != r.channel {
				continue
			}
			switch {
			case isSubscribe(m.Kind):
				if !r.up.Swap(true) {
					r.log.Info("bus: resubscribed", "node", r.core.node, "channel", r.channel, "failures", failures)
				}
				failures = 0
			case isUnsubscribe(m.Kind) && !r.isStopping():
				r.setDown(errors.New("unsubscribed by the server"))
				r.log.Warn("bus: unsubscribed by the server; resubscribing", "node", r.core.node, "channel", r.channel)
				if ps = r.resubscribe(ps); ps == nil {
					return
				}
			}
		}
	}
}

// watch pings a subscription silent for r.health and closes it (run then
// replaces it) when silent for 3*r.health: that detects half-open
// connections, which reads alone never would.
func (r *Redis) watch() {
	defer close(r.watchDone)
	t := time.NewTicker(r.health)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if !r.up.Load() {
			continue // run is reconnecting
		}
		idle := time.Since(time.Unix(0, r.lastRecv.Load()))
		r.mu.Lock()
		ps := r.ps
		r.mu.Unlock()
		switch {
		case idle >= 3*r.health:
			r.log.Warn("bus: subscription silent; reconnecting", "node", r.core.node, "channel", r.channel,
				"idle", idle.Round(time.Millisecond))
			r.setDown(fmt.Errorf("subscription silent for %v", idle.Round(time.Millisecond)))
			r.core.m.receiveErrors.Inc()
			_ = ps.Close()
		case idle >= r.health:
			ctx, cancel := context.WithTimeout(context.Background(), r.health)
			if err := ps.Ping(ctx); err != nil {
				r.log.Debug("bus: subscription ping failed", "node", r.core.node, "error", err)
			}
			cancel()
		}
	}
}

// ready implements transport: requests need the subscription to receive
// their replies, so while it is down they fail at once.
func (r *Redis) ready() error {
	if r.up.Load() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down == nil {
		return fmt.Errorf("redis subscription %s down", r.channel)
	}
	return fmt.Errorf("redis subscription %s down: %w", r.channel, r.down)
}

// setDown marks the subscription down because of err.
func (r *Redis) setDown(err error) (wasUp bool) {
	r.mu.Lock()
	r.down = err
	r.mu.Unlock()
	return r.up.Swap(false)
}

// isStopping reports whether Close began.
func (r *Redis) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

// sleep waits d, or until Close; it reports whether d passed.
func (r *Redis) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

// backoff is the wait after the n-th consecutive receive failure:
// exponential from minBackoff to maxBackoff, with ±20 % jitter.
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 10 {
		d = min(minBackoff<<(n-1), maxBackoff)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
