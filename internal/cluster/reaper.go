package cluster

import (
	"context"
	"fmt"
	"time"
)

// record is one member as a scan read it.
type record struct {
	json   string // info JSON, compared by the claim and forget scripts
	member Member
	score  int64 // zset score: last seen, Unix ms by the member's clock
	alive  bool  // its heartbeat key exists
}

// reaperLoop scans every interval (and at once when leadership is gained)
// until stop.
func (m *Membership) reaperLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
		m.reapTick()
	}
}

// reapTick scans the members, keeps the observations up to date and, on the
// leader, reaps the dead.
//
// Every node scans, not only the leader, so that a newly elected leader
// already knows for how long each record has been unchanged. A member is
// reaped when its heartbeat key is gone and either it left, or its last
// seen is older than TTL by this node's clock and its record has been
// unchanged for at least window (TTL/2) of continuous observation. The
// observations are dropped when a scan or heartbeat fails or Redis is
// found to have lost data, so that after an outage every live node gets a
// heartbeat in before anyone is judged dead.
func (m *Membership) reapTick() {
	setBool(m.met.leader, m.IsLeader())
	if gen := m.resetGen.Load(); gen != m.obsGen || m.paused.Load() {
		clear(m.obs)
		m.obsGen = gen
		if m.paused.Load() {
			return
		}
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.interval)
	recs, err := m.scan(ctx)
	cancel()
	if err != nil {
		if m.ctx.Err() == nil {
			clear(m.obs)
			m.log.Debug("cluster: scan failed", "error", err)
		}
		return
	}
	mono := time.Now()
	cutoff := m.o.Now().UnixMilli() - m.ttlMs
	live := 0
	seen := make(map[string]struct{}, len(recs))
	jsons := make(map[string]struct{}, len(recs))
	for _, r := range recs {
		if r.alive {
			live++
		}
		seen[r.member.Node] = struct{}{}
		jsons[r.json] = struct{}{}
		if o, ok := m.obs[r.member.Node]; !ok || o.json != r.json {
			m.obs[r.member.Node] = observation{json: r.json, since: mono}
		}
	}
	for n := range m.obs {
		if _, ok := seen[n]; !ok {
			delete(m.obs, n)
		}
	}
	for j := range m.done {
		if _, ok := jsons[j]; !ok {
			delete(m.done, j)
		}
	}
	m.met.members.Set(float64(live))

	if !m.IsLeader() || !m.healthy() {
		return
	}
	self := m.Self()
	for _, r := range recs {
		if r.alive || (r.member.Node == self.Node && r.member.Boot == self.Boot) {
			continue
		}
		if _, ok := m.done[r.json]; ok {
			m.forget(r)
			continue
		}
		if !r.member.Left {
			if r.score >= cutoff || mono.Sub(m.obs[r.member.Node].since) < m.window {
				continue
			}
		}
		m.reap(r)
		if m.ctx.Err() != nil || !m.IsLeader() {
			return
		}
	}
}

// scan reads every member: zset and info in one pipeline, then the
// heartbeat keys with one MGET.
func (m *Membership) scan(ctx context.Context) ([]record, error) {
	pipe := m.client.Pipeline()
	zr := pipe.ZRangeWithScores(ctx, m.keys.nodes, 0, -1)
	hr := pipe.HGetAll(ctx, m.keys.info)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read members: %w", err)
	}
	zs, info := zr.Val(), hr.Val()
	if len(zs) == 0 {
		return nil, nil
	}
	nodes := make([]string, len(zs))
	hb := make([]string, len(zs))
	for i, z := range zs {
		nodes[i], _ = z.Member.(string)
		hb[i] = m.keys.heartbeat(nodes[i])
	}
	vals, err := m.client.MGet(ctx, hb...).Result()
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	recs := make([]record, 0, len(zs))
	for i, z := range zs {
		node := nodes[i]
		js, ok := info[node]
		if !ok {
			continue // not written by this package's scripts
		}
		mb, err := decodeMember(js)
		if err != nil || mb.Node != node {
			continue // not ours to judge
		}
		recs = append(recs, record{json: js, member: mb, score: int64(z.Score), alive: i < len(vals) && vals[i] != nil})
	}
	return recs, nil
}

// reap fences r (if still dead and this node still leads), calls OnDead and
// forgets r once OnDead succeeded.
func (m *Membership) reap(r record) {
	mb := r.member
	m.mu.Lock()
	token := m.token
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.ctx, m.interval)
	res, err := claimScript.Run(ctx, m.client, m.keys.member(mb.Node),
		mb.Node, r.json, token, mb.Boot, fencedTTLMillis).Int()
	cancel()
	if err != nil {
		if m.ctx.Err() == nil {
			m.met.reapErrors.Inc()
			m.log.Warn("cluster: claiming a dead member failed", "member", mb.Node, "member_boot", mb.Boot, "error", err)
		}
		return
	}
	if res != claimOK {
		m.log.Debug("cluster: dead member not claimed", "member", mb.Node, "member_boot", mb.Boot, "result", res)
		return
	}
	cause := causeDied
	if mb.Left {
		cause = causeLeft
	}
	m.log.Info("cluster: member gone; handing over its calls",
		"member", mb.Node, "member_boot", mb.Boot, "cause", cause, "last_seen", mb.LastSeen)
	if m.o.OnDead != nil {
		if err := m.o.OnDead(m.ctx, mb); err != nil {
			m.met.reapErrors.Inc()
			m.log.Warn("cluster: OnDead failed; retrying at a later scan",
				"member", mb.Node, "member_boot", mb.Boot, "error", err)
			return
		}
	}
	m.met.reaped.WithLabelValues(cause).Inc()
	m.forget(r)
}

// forget removes a reaped record; on failure it is remembered so that the
// next scans retry the removal without calling OnDead again.
func (m *Membership) forget(r record) {
	// Not cancelled by Close: OnDead succeeded, the record should go.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), m.interval)
	defer cancel()
	err := forgetScript.Run(ctx, m.client, m.keys.member(r.member.Node), r.member.Node, r.json).Err()
	if err != nil {
		m.done[r.json] = struct{}{}
		if m.ctx.Err() == nil {
			m.log.Warn("cluster: forgetting a reaped member failed; retrying",
				"member", r.member.Node, "member_boot", r.member.Boot, "error", err)
		}
		return
	}
	delete(m.done, r.json)
}
