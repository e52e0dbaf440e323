package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// connectSip reaches a SIP URI directly over TCP with the callHeaders as
// SIP headers; the ACE comes, the legs are bridged, the caller hangs up.
func TestConnectSIP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob := phone.New(t, phone.Options{User: "bob", Transport: "tcp", Answer: phone.AnswerAuto})
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectSip","destination":{"type":"sip","endpoint":"bob@`+bob.Addr()+`"},
		"cli":"+46700000002","transport":"TCP",
		"callHeaders":[{"key":"X-Tenant","value":"t-42"},{"key":"Account-Ref","value":"7 a"}]}}`)
	b.on("ace", `{"action":{"name":"continue"}}`)
	n := node(t, b, "")

	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	inc, err := bob.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Equal(t, "TCP", strings.ToUpper(inc.Request().Transport()), "transport tcp is used")
	assert.Equal(t, "bob", inc.ToUser())
	assert.Contains(t, inc.RequestURI(), "bob@"+bob.Addr())
	assert.Equal(t, "+46700000002", inc.FromUser())
	assert.Equal(t, "t-42", inc.Header("X-Tenant"))
	assert.Equal(t, "7 a", inc.Header("Account-Ref"))
	callee, err := inc.Call(ctx)
	require.NoError(t, err)

	b.want(ctx, "ace")
	c := answered(ctx, t, dial)
	go func() { _ = c.PlayTone(ctx, 1000, time.Second) }()
	go func() { _ = callee.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, callee, 1000, 500*time.Millisecond)
	waitTone(ctx, t, c, 1500, 500*time.Millisecond)

	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CALLERHANGUP", dice["reason"])
	assert.Equal(t, "ANSWERED", dice["result"])
}

// connectMxp rings a softphone registered as an in-app user; there is no
// ACE for a username destination.
func TestConnectMXP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectMxp","destination":{"type":"username","endpoint":"carol"},
		"callHeaders":[{"key":"X-Order","value":"991"}]}}`)
	b.on("ace", `{"action":{"name":"hangup"}}`) // must not be asked
	n := nodeWith(t, b, nodeOptions{Users: map[string]string{"carol": "c4rol-pw"}})

	carol := phone.New(t, phone.Options{User: "carol", Answer: phone.AnswerAuto})
	require.NoError(t, carol.Register(ctx, n.SIPAddr(), "carol", "c4rol-pw", time.Minute))

	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	inc, err := carol.NextIncoming(ctx)
	require.NoError(t, err)
	assert.Equal(t, "carol", inc.ToUser())
	assert.Equal(t, "991", inc.Header("X-Order"))
	callee, err := inc.Call(ctx)
	require.NoError(t, err)

	c := answered(ctx, t, dial)
	go func() { _ = c.PlayTone(ctx, 1000, time.Second) }()
	go func() { _ = callee.PlayTone(ctx, 1500, time.Second) }()
	waitTone(ctx, t, callee, 1000, 500*time.Millisecond)
	waitTone(ctx, t, c, 1500, 500*time.Millisecond)

	require.NoError(t, callee.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, c))
	dice := b.want(ctx, "dice")
	assert.Equal(t, "CALLEEHANGUP", dice["reason"])
	assert.Equal(t, []string{"ice", "dice"}, b.kinds(), "no ACE for a username destination")
}

// An in-app user that is not registered: the dial fails USERNOTFOUND.
func TestConnectMXPNotRegistered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectMxp","destination":{"type":"username","endpoint":"carol"}}}`)
	n := nodeWith(t, b, nodeOptions{Users: map[string]string{"carol": "c4rol-pw"}})
	caller := phone.New(t, phone.Options{User: "alice"})
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: callerNumber})
	code := refused(ctx, t, dial)
	assert.GreaterOrEqual(t, code, 400)
	dice := b.want(ctx, "dice")
	assert.Equal(t, "FAILED", dice["result"])
	assert.Equal(t, "USERNOTFOUND", dice["reason"])
}
