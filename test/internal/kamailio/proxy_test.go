package kamailio_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/internal/kamailio"
)

// Two fake nodes behind the real balancer, sipp calling through it: calls
// spread over both; a node switched to draining leaves the set within a
// few seconds while no call fails (INVITEs it refuses fail over, its calls
// in progress end normally); it is used again once healthy; with every
// node draining the proxy itself refuses calls.
func TestDrainNodeBehindLoadBalancer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, b := startNode(t), startNode(t)
	p := kamailio.Start(t, []string{a.uri, b.uri}, kamailio.WithDefine("RETRY_AFTER", "7"))
	require.NoError(t, p.WaitActive(ctx, a.uri, b.uri))
	code, err := p.Ping(ctx)
	require.NoError(t, err)
	require.Equal(t, 200, code)
	dests, err := p.Destinations()
	require.NoError(t, err)
	require.Equal(t, map[string]string{a.uri: "AP", b.uri: "AP"}, dests)

	// (a) Round-robin: both nodes take calls.
	st, err := p.StartCalls(t, kamailio.Calls{Count: 60, Rate: 20, Hold: 200 * time.Millisecond}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, kamailio.Stats{Created: 60, Successful: 60}, st)
	require.EqualValues(t, 60, a.invites.Load()+b.invites.Load())
	require.EqualValues(t, 60, a.byes.Load()+b.byes.Load(), "BYEs follow the recorded route to the node")
	assert.Greater(t, a.invites.Load(), int64(12), "node a got less than 20%% of the calls")
	assert.Greater(t, b.invites.Load(), int64(12), "node b got less than 20%% of the calls")
	t.Logf("spread: a=%d b=%d of 60 calls", a.invites.Load(), b.invites.Load())

	// (b) Drain a while sipp keeps calling (1 s calls at 20/s).
	a.resetCounts()
	b.resetCounts()
	run := p.StartCalls(t, kamailio.Calls{Count: 80, Rate: 20, Hold: time.Second})
	require.Eventually(t, func() bool { return a.answered.Load() >= 5 }, 20*time.Second, 5*time.Millisecond,
		"node a answers no calls")
	a.draining.Store(true)
	switched := time.Now()
	require.NoError(t, p.WaitActive(ctx, b.uri))
	leftUnderLoad := time.Since(switched)
	st, err = run.Wait(ctx)
	require.NoError(t, err, "a call failed across the drain")
	require.Equal(t, kamailio.Stats{Created: 80, Successful: 80}, st)
	require.EqualValues(t, 80, a.answered.Load()+b.answered.Load())
	require.Positive(t, a.rejected.Load(), "no INVITE reached the draining node: failover not exercised")
	require.Positive(t, a.drainByes.Load(), "no call in progress on the draining node ended while draining")
	require.Less(t, leftUnderLoad, 5*time.Second)
	t.Logf("drain under load: a left the set after %v; a answered %d and refused %d (failed over), b answered %d; "+
		"%d calls on a ended while it drained", leftUnderLoad.Round(time.Millisecond), a.answered.Load(), a.rejected.Load(),
		b.answered.Load(), a.drainByes.Load())

	// A second run while a drains: everything on b.
	a.resetCounts()
	b.resetCounts()
	st, err = p.StartCalls(t, kamailio.Calls{Count: 40, Rate: 20, Hold: 100 * time.Millisecond}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, kamailio.Stats{Created: 40, Successful: 40}, st)
	require.Zero(t, a.invites.Load(), "an INVITE reached the drained node")
	require.EqualValues(t, 40, b.invites.Load())

	// (c) a is healthy again: probing brings it back, it takes calls (over
	// TCP this time: the caller's leg is TCP, the nodes' UDP).
	a.draining.Store(false)
	healed := time.Now()
	require.NoError(t, p.WaitActive(ctx, a.uri, b.uri))
	cameBack := time.Since(healed)
	require.Less(t, cameBack, 5*time.Second)
	a.resetCounts()
	b.resetCounts()
	st, err = p.StartCalls(t, kamailio.Calls{Count: 40, Rate: 20, Hold: 100 * time.Millisecond, TCP: true}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, kamailio.Stats{Created: 40, Successful: 40}, st)
	require.EqualValues(t, 40, a.byes.Load()+b.byes.Load())
	assert.Greater(t, a.invites.Load(), int64(8), "node a got less than 20%% of the calls once back")
	assert.Greater(t, b.invites.Load(), int64(8), "node b got less than 20%% of the calls")
	t.Logf("back after %v; spread over TCP: a=%d b=%d of 40", cameBack.Round(time.Millisecond), a.invites.Load(), b.invites.Load())

	// (d) Without traffic only the OPTIONS probing notices a drain.
	probes := a.options.Load()
	a.draining.Store(true)
	switched = time.Now()
	require.NoError(t, p.WaitActive(ctx, b.uri))
	leftIdle := time.Since(switched)
	require.Less(t, leftIdle, 5*time.Second)
	require.GreaterOrEqual(t, a.options.Load()-probes, int64(2), "a left the set before two probes failed")
	t.Logf("drain without traffic: a left the set after %v (probing alone)", leftIdle.Round(time.Millisecond))

	// b drains too: its 503 has no other node to fail over to, so the
	// caller gets the proxy's 503 (not the node's).
	b.draining.Store(true)
	a.resetCounts()
	b.resetCounts()
	st, err = p.StartCalls(t, kamailio.Calls{Count: 1}).Wait(ctx)
	require.Error(t, err)
	require.Equal(t, kamailio.Stats{Created: 1, Failed: 1}, st)
	require.EqualValues(t, 1, b.rejected.Load())
	require.Contains(t, err.Error(), "503 No Node Available")
	require.Contains(t, err.Error(), "Retry-After: 7", "the proxy's 503 (RETRY_AFTER), not the node's")

	// No node active: the proxy refuses OPTIONS and INVITEs itself.
	require.NoError(t, p.WaitActive(ctx))
	code, err = p.Ping(ctx)
	require.NoError(t, err)
	require.Equal(t, 503, code)
	a.resetCounts()
	b.resetCounts()
	st, err = p.StartCalls(t, kamailio.Calls{Count: 1}).Wait(ctx)
	require.Error(t, err)
	require.Equal(t, kamailio.Stats{Created: 1, Failed: 1}, st)
	require.Zero(t, a.invites.Load()+b.invites.Load(), "an INVITE reached a node with none active")
	require.Contains(t, err.Error(), "503 No Node Available")
	require.Contains(t, err.Error(), "Retry-After: 7")
}

// A node that dies (answers nothing) costs the calls sent to it a
// fail-over delay (the proxy's FR_TIMER) but none fails, and probing takes
// it out of the set.
func TestDeadNodeBehindLoadBalancer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := startNode(t), startNode(t)
	p := kamailio.Start(t, []string{a.uri, b.uri})
	require.NoError(t, p.WaitActive(ctx, a.uri, b.uri))

	a.stop()
	died := time.Now()
	run := p.StartCalls(t, kamailio.Calls{Count: 20, Rate: 10, Hold: 100 * time.Millisecond})
	require.NoError(t, p.WaitActive(ctx, b.uri))
	left := time.Since(died)
	st, err := run.Wait(ctx)
	require.NoError(t, err, "a call failed when a node died")
	require.Equal(t, kamailio.Stats{Created: 20, Successful: 20}, st)
	require.EqualValues(t, 20, b.answered.Load())
	require.Less(t, left, 8*time.Second)
	t.Logf("dead node left the set after %v", left.Round(time.Millisecond))
}

// A node refusing TCP connections (a transport failure) is failed over
// and taken out of the set.
func TestRefusedTCPNodeBehindLoadBalancer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startNode(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusing := "sip:" + l.Addr().String() + ";transport=tcp"
	require.NoError(t, l.Close())
	p := kamailio.Start(t, []string{refusing, b.uri})

	st, err := p.StartCalls(t, kamailio.Calls{Count: 10, Rate: 10, Hold: 100 * time.Millisecond}).Wait(ctx)
	require.NoError(t, err, "a call failed with a node refusing TCP")
	require.Equal(t, kamailio.Stats{Created: 10, Successful: 10}, st)
	require.EqualValues(t, 10, b.answered.Load())
	require.NoError(t, p.WaitActive(ctx, b.uri))
}

// Nodes end the calls: their BYE follows the recorded route back through
// the proxy to a caller on TCP (the proxy's double Record-Route switches
// from the nodes' UDP to the caller's TCP).
func TestNodeHangsUpThroughLoadBalancer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := startNode(t), startNode(t)
	a.hangupAfter.Store(int64(200 * time.Millisecond))
	b.hangupAfter.Store(int64(200 * time.Millisecond))
	p := kamailio.Start(t, []string{a.uri, b.uri})
	require.NoError(t, p.WaitActive(ctx, a.uri, b.uri))

	for _, tcp := range []bool{false, true} {
		a.resetCounts()
		b.resetCounts()
		st, err := p.StartCalls(t, kamailio.Calls{Count: 20, Rate: 20, NodeHangsUp: true, TCP: tcp}).Wait(ctx)
		require.NoError(t, err, "tcp=%v", tcp)
		require.Equal(t, kamailio.Stats{Created: 20, Successful: 20}, st, "tcp=%v", tcp)
		// sipp may end before the node has read the 200 to its BYE.
		require.Eventually(t, func() bool { return a.hangups.Load()+b.hangups.Load() == 20 }, 10*time.Second,
			10*time.Millisecond, "tcp=%v: the nodes' BYEs are not all answered", tcp)
		require.Positive(t, a.hangups.Load(), "tcp=%v", tcp)
		require.Positive(t, b.hangups.Load(), "tcp=%v", tcp)
	}
}
