package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group is what the rest of callcore needs of the membership: Membership
// (Redis) and Local (single process) implement it.
type Group interface {
	// Self returns this process's current member record.
	Self() Member
	// Live reports whether node has a heartbeat.
	Live(ctx context.Context, node string) (bool, error)
	// Members returns the live members, sorted by node id.
	Members(ctx context.Context) ([]Member, error)
	// IsLeader reports whether this process is the elected reaper.
	IsLeader() bool
	// Leave leaves the group gracefully. Idempotent.
	Leave(ctx context.Context) error
	// Close stops without leaving.
	Close() error
}

var (
	_ Group = (*Membership)(nil)
	_ Group = (*Local)(nil)
)

// leaseMargin is how much earlier than Redis this process considers its
// lease expired (Redis clocks expiries in whole milliseconds).
const leaseMargin = 2 * time.Millisecond

// Heartbeat modes of heartbeatScript.
const (
	modeBeat     = "beat"
	modeRegister = "register"
)

// Membership is this process's membership of the nodes sharing a Redis
// prefix: it heartbeats, takes part in the reaper election and, while
// elected, reaps dead members. Create it with Join; it is safe for
// concurrent use.
type Membership struct {
	client   redis.UniversalClient
	keys     keys
	o        Options
	interval time.Duration // heartbeat and scan period: TTL/3
	window   time.Duration // minimum observation of a record before it is reaped
	ttlMs    int64
	leaseMs  int64
	log      *slog.Logger
	met      *metrics

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the reaper when leadership is gained

	paused   atomic.Bool   // test hook: act as if cut off from Redis
	resetGen atomic.Uint64 // bumped when the reaper's observations are void

	mu          sync.Mutex
	self        Member    // current incarnation; LastSeen = last successful heartbeat
	token       string    // reaper lease token of self
	registering bool      // fenced: re-registering self under a new boot
	waitLogged  bool      // the register wait was logged
	leaderUntil time.Time // monotonic: the lease is ours until then
	up          bool      // the last heartbeat reached Redis
	downSince   time.Time

	// Reaper goroutine state.
	obs    map[string]observation // node -> record as first seen
	obsGen uint64
	done   map[string]struct{} // records whose OnDead succeeded but forget failed

	stopOnce sync.Once
	endMu    sync.Mutex // serializes Leave and Close
	left     bool       // Leave succeeded
	released bool       // the lease was released or must not be (crash)
}

// observation is a member record as the reaper first saw it.
type observation struct {
	json  string
	since time.Time // monotonic
}

// Join registers this member (heartbeat now) and starts the heartbeat and
// reaper loops; ctx bounds only the registration. Keys live under the hash
// tag "{prefix}" (DefaultPrefix if empty; a prefix must not contain braces).
// For context deadlines to bound network waits, create client with
// ContextTimeoutEnabled.
//
// Join returns the previous incarnation of the same node id if one is still
// recorded (alive or not, left or not; e.g. after a kill -9 and a quick
// restart), so that the caller finalizes that incarnation's calls before
// taking traffic. The previous incarnation is fenced (if still running, it
// gets OnFenced) and no longer reaped by others: it is the caller's job. A
// peer may already be reaping it (it passed the claim before Join), so that
// work and OnDead must both be idempotent. A Join retried with the same Boot
// (after an ambiguous failure) returns the same previous incarnation.
func Join(ctx context.Context, client redis.UniversalClient, prefix string, o Options) (*Membership, *Member, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: join: %w: %w", ErrInvalid, err)
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: join: %w: %w", ErrInvalid, err)
	}
	met, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: join: %w", err)
	}
	now := o.Now()
	self := o.Self
	if self.StartedAt.IsZero() {
		self.StartedAt = now
	}
	self.LastSeen = now
	self.Left = false
	log := o.Logger.With("node", self.Node)

	m := &Membership{
		client:   client,
		keys:     k,
		o:        o,
		interval: o.TTL / 3,
		window:   o.TTL / 2,
		ttlMs:    o.TTL.Milliseconds(),
		leaseMs:  o.LeaseTTL.Milliseconds(),
		log:      log,
		met:      met,
		kick:     make(chan struct{}, 1),
		self:     self,
		token:    leaseToken(self),
		up:       true,
		obs:      make(map[string]observation),
		done:     make(map[string]struct{}),
	}
	prevJSON, err := joinScript.Run(ctx, client, k.member(self.Node),
		self.Node, self.Boot, encodeMember(self), m.ttlMs, now.UnixMilli(), fencedTTLMillis).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("cluster: join as node %q: %w", self.Node, err)
	}
	var prev *Member
	if err == nil {
		p, derr := decodeMember(prevJSON)
		if derr != nil {
			// The script returns only records with a boot id: this is a
			// record from another program; there are no calls to finalize.
			log.Warn("cluster: ignoring the unreadable record of the previous incarnation", "error", derr)
		} else {
			prev = &p
		}
	}
	met.redisUp.Set(1)
	met.leader.Set(0)
	if prev != nil {
		log.Info("cluster: joined; previous incarnation fenced and handed over",
			"boot", self.Boot, "prev_boot", prev.Boot, "prev_last_seen", prev.LastSeen, "prev_left", prev.Left)
	} else {
		log.Info("cluster: joined", "boot", self.Boot)
	}

	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(2)
	go m.heartbeatLoop()
	go m.reaperLoop()
	return m, prev, nil
}

// leaseToken is the value of the reaper lease held by m.
func leaseToken(m Member) string { return m.Boot + " " + m.Node }

// Self returns this process's current member record. Boot changes after
// OnFenced; LastSeen is the last successful heartbeat.
func (m *Membership) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Live reports whether node has a heartbeat key (it heartbeated within the
// TTL and did not leave).
func (m *Membership) Live(ctx context.Context, node string) (bool, error) {
	if node == "" {
		return false, nil
	}
	n, err := m.client.Exists(ctx, m.keys.heartbeat(node)).Result()
	if err != nil {
		return false, fmt.Errorf("cluster: live %q: %w", node, err)
	}
	return n == 1, nil
}

// Members returns the live members (those with a heartbeat key), sorted by
// node id, each with its last heartbeat as LastSeen. Two round trips.
func (m *Membership) Members(ctx context.Context) ([]Member, error) {
	nodes, err := m.client.ZRange(ctx, m.keys.nodes, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: members: %w", err)
	}
	var out []Member
	if len(nodes) > 0 {
		hb := make([]string, len(nodes))
		for i, n := range nodes {
			hb[i] = m.keys.heartbeat(n)
		}
		vals, err := m.client.MGet(ctx, hb...).Result()
		if err != nil {
			return nil, fmt.Errorf("cluster: members: %w", err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			mb, err := decodeMember(s)
			if err != nil {
				m.log.Warn("cluster: unreadable heartbeat", "member", nodes[i], "error", err)
				continue
			}
			out = append(out, mb)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Node, b.Node) })
	m.met.members.Set(float64(len(out)))
	return out, nil
}

// IsLeader reports whether this process holds the reaper lease: its last
// heartbeat took or renewed it less than LeaseTTL ago (so it turns false by
// itself when heartbeats stop).
func (m *Membership) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Now().Before(m.leaderUntil)
}

// Leave stops the loops (waiting for a running OnDead), releases the lease,
// removes the heartbeat and marks the member Left so that the elected
// reaper processes it at its next scan (its OnDead then hands over the
// leftovers). Idempotent; after an error (Redis unreachable) it may be
// called again, and otherwise the heartbeat expires and the member is
// reaped as died.
func (m *Membership) Leave(ctx context.Context) error {
	m.endMu.Lock()
	defer m.endMu.Unlock()
	if m.left {
		return nil
	}
	m.stop()
	m.mu.Lock()
	self, token, registering := m.self, m.token, m.registering
	m.leaderUntil = time.Time{}
	m.mu.Unlock()
	m.met.leader.Set(0)
	if registering {
		// Fenced and not registered again: nothing of ours is recorded.
		m.left, m.released = true, true
		m.log.Info("cluster: left (was fenced; nothing to hand over)", "boot", self.Boot)
		return nil
	}
	now := m.o.Now()
	self.LastSeen = now
	self.Left = true
	res, err := leaveScript.Run(ctx, m.client, m.keys.member(self.Node),
		self.Node, self.Boot, encodeMember(self), token, now.UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("cluster: leave as node %q: %w", self.Node, err)
	}
	m.left, m.released = true, true
	switch res {
	case leaveOK:
		m.log.Info("cluster: left", "boot", self.Boot)
	case leaveFenced:
		m.log.Warn("cluster: left after being declared dead", "boot", self.Boot)
	default:
		m.log.Warn("cluster: left; another incarnation holds the node id", "boot", self.Boot)
	}
	return nil
}

// Close stops the loops without leaving (waiting for a running OnDead) and
// releases the reaper lease if held, so that another node takes it at its
// next heartbeat. The heartbeat expires by itself and the member is then
// reaped as died: Close simulates a crash in tests. Idempotent.
func (m *Membership) Close() error {
	m.endMu.Lock()
	defer m.endMu.Unlock()
	m.stop()
	if m.released {
		return nil
	}
	m.released = true
	m.mu.Lock()
	token := m.token
	m.leaderUntil = time.Time{}
	m.mu.Unlock()
	m.met.leader.Set(0)
	ctx, cancel := context.WithTimeout(context.Background(), m.interval)
	defer cancel()
	if err := releaseScript.Run(ctx, m.client, []string{m.keys.reaper}, token).Err(); err != nil {
		return fmt.Errorf("cluster: close: release lease: %w", err)
	}
	return nil
}

// crash stops the loops without releasing anything (test hook: kill -9).
func (m *Membership) crash() {
	m.endMu.Lock()
	defer m.endMu.Unlock()
	m.stop()
	m.released = true
}

// pause makes the loops skip Redis while p (test hook: cut off).
func (m *Membership) pause(p bool) { m.paused.Store(p) }

// stop cancels the loops and waits for them.
func (m *Membership) stop() {
	m.stopOnce.Do(func() {
		m.cancel()
		m.wg.Wait()
	})
}

// heartbeatLoop heartbeats every interval until stop.
func (m *Membership) heartbeatLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if m.paused.Load() {
			continue
		}
		m.beat()
	}
}

// beat runs one heartbeat: one heartbeatScript round trip.
func (m *Membership) beat() {
	m.mu.Lock()
	self, token, registering := m.self, m.token, m.registering
	m.mu.Unlock()
	mode := modeBeat
	if registering {
		mode = modeRegister
	}
	start := time.Now()
	now := m.o.Now()
	self.LastSeen = now
	ctx, cancel := context.WithTimeout(m.ctx, m.interval)
	defer cancel()
	res, err := heartbeatScript.Run(ctx, m.client, m.keys.member(self.Node),
		self.Node, self.Boot, encodeMember(self), m.ttlMs, now.UnixMilli(), token, m.leaseMs, mode).Int64Slice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("heartbeat script returned %d values", len(res))
	}
	if err != nil {
		if m.ctx.Err() == nil {
			m.beatFailed(err)
		}
		return
	}
	m.beatReached()
	switch res[0] {
	case beatFenced:
		m.fenced(self)
		return
	case beatWait:
		m.mu.Lock()
		logIt := !m.waitLogged
		m.waitLogged = true
		m.mu.Unlock()
		if logIt {
			m.log.Warn("cluster: fenced; waiting for the node id's record to be released before registering again",
				"boot", self.Boot)
		}
		return
	}

	m.mu.Lock()
	wasLeader := time.Now().Before(m.leaderUntil)
	m.self.LastSeen = now
	m.registering = false
	if res[2] != 0 {
		// Redis set the expiry at or after start, in whole milliseconds.
		m.leaderUntil = start.Add(time.Duration(m.leaseMs)*time.Millisecond - leaseMargin)
	} else {
		m.leaderUntil = time.Time{}
	}
	m.mu.Unlock()
	leader := res[2] != 0
	setBool(m.met.leader, leader)

	switch {
	case registering:
		m.log.Info("cluster: registered again after fencing", "boot", self.Boot)
	case res[1] == 0:
		// Our record vanished although we heartbeat well within the TTL:
		// Redis restarted or failed over and lost data. Let every node
		// heartbeat again before judging anyone dead.
		m.resetGen.Add(1)
		m.log.Warn("cluster: membership record was missing in Redis (restart or data loss); registered again",
			"boot", self.Boot)
	case wasLeader && res[2] != 1:
		// The lease we held vanished (or changed hands) before its
		// expiry: the data went back in time (a restart from an old
		// snapshot, a failover to a lagging replica). Same precaution.
		m.resetGen.Add(1)
		m.log.Warn("cluster: the reaper lease vanished before its expiry (Redis restart or data loss)",
			"boot", self.Boot)
	}
	switch {
	case leader && !wasLeader:
		m.log.Info("cluster: elected reaper", "boot", self.Boot)
		select {
		case m.kick <- struct{}{}:
		default:
		}
	case !leader && wasLeader:
		m.log.Warn("cluster: lost the reaper lease", "boot", self.Boot)
	}
}

// beatFailed records a failed heartbeat; the first of an outage is logged.
func (m *Membership) beatFailed(err error) {
	m.met.failures.Inc()
	m.met.redisUp.Set(0)
	m.resetGen.Add(1)
	m.mu.Lock()
	wasUp := m.up
	if wasUp {
		m.up = false
		m.downSince = time.Now()
	}
	self := m.self
	m.mu.Unlock()
	setBool(m.met.leader, m.IsLeader())
	if wasUp {
		m.log.Warn("cluster: heartbeat failed; Redis unreachable", "boot", self.Boot, "error", err)
	}
}

// beatReached records a heartbeat that reached Redis; the first after an
// outage is logged.
func (m *Membership) beatReached() {
	m.met.redisUp.Set(1)
	m.mu.Lock()
	wasUp := m.up
	m.up = true
	down := time.Since(m.downSince)
	self := m.self
	m.mu.Unlock()
	if !wasUp {
		m.log.Info("cluster: heartbeat recovered; Redis reachable again", "boot", self.Boot, "down_for", down)
	}
}

// fenced handles the discovery that self was declared dead: OnFenced, then
// a new boot id to register.
func (m *Membership) fenced(old Member) {
	m.met.fenced.Inc()
	m.mu.Lock()
	m.leaderUntil = time.Time{}
	m.mu.Unlock()
	m.met.leader.Set(0)
	m.log.Error("cluster: this process was declared dead by another node; stopping its calls and registering under a new boot",
		"boot", old.Boot, "last_seen", old.LastSeen)
	if m.o.OnFenced != nil {
		m.o.OnFenced(m.ctx)
	}
	m.mu.Lock()
	m.self.Boot = NewBootID()
	m.self.StartedAt = m.o.Now()
	m.token = leaseToken(m.self)
	m.registering = true
	m.waitLogged = false
	m.mu.Unlock()
}

// healthy reports whether the last heartbeat reached Redis.
func (m *Membership) healthy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up && !m.registering
}
