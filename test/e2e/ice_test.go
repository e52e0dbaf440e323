package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// Every field of an ICE for a PSTN call to a DID (reference §3.3).
func TestICEFields(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	before := time.Now().UTC().Truncate(time.Second)
	dial := dialDID(ctx, caller, n, phone.DialOptions{FromUser: "46708887777",
		Headers: map[string]string{"X-Customer": "42", "X-Trace": "a b", "Subject": "not forwarded"}})
	ice := b.want(ctx, "ice")
	assert.Equal(t, 480, refused(ctx, t, dial))

	id, _ := ice["callid"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "ice", ice["event"])
	assert.Equal(t, "http://127.0.0.1:8080/calling/v1/calls/id/"+id, ice["callResourceUrl"])
	ts, err := time.Parse("2006-01-02T15:04:05Z", ice["timestamp"].(string))
	require.NoError(t, err, "timestamp %v", ice["timestamp"])
	assert.False(t, ts.Before(before), "timestamp %v before %v", ts, before)
	assert.EqualValues(t, 1, ice["version"])
	assert.Equal(t, map[string]any{"currencyId": "EUR", "amount": 0.0}, ice["userRate"])
	assert.Equal(t, "46708887777", ice["cli"], "the caller's number as the trunk sent it")
	assert.Equal(t, map[string]any{"type": "did", "endpoint": did}, ice["to"])
	assert.Equal(t, "pstn", ice["domain"])
	assert.Equal(t, "PSTN", ice["originationType"])
	assert.Equal(t, appKey, ice["applicationKey"])
	assert.Contains(t, ice, "rdnis")
	assert.ElementsMatch(t, []any{kv("X-Customer", "42"), kv("X-Trace", "a b")}, ice["callHeaders"])
	assert.NotContains(t, ice, "cookies")

	dice := b.want(ctx, "dice")
	assert.Equal(t, "46708887777", dice["from"])
	assert.ElementsMatch(t, []any{kv("X-Customer", "42"), kv("X-Trace", "a b")}, dice["callHeaders"])
}

// A number no application owns is refused with 404 and no ICE.
func TestUnknownNumberRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	_, err := caller.Dial(ctx, "sip:+46709999999@"+n.SIPAddr(), phone.DialOptions{})
	var se *phone.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 404, se.Code)
	b.quiet(200 * time.Millisecond)
	assert.Empty(t, b.kinds())
}

// An in-app user calls another in-app user: the ICE goes to their app with
// to typed username and originationType MXP.
func TestInAppCallICE(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"connectMxp","destination":{"type":"username","endpoint":"dave"}}}`)
	n := nodeWith(t, b, nodeOptions{Users: map[string]string{"carol": "c4rol-pw", "dave": "d4ve-pw"}})
	carol := phone.New(t, phone.Options{User: "carol"})
	require.NoError(t, carol.Register(ctx, n.SIPAddr(), "carol", "c4rol-pw", time.Minute))
	dave := phone.New(t, phone.Options{User: "dave", Answer: phone.AnswerAuto})
	require.NoError(t, dave.Register(ctx, n.SIPAddr(), "dave", "d4ve-pw", time.Minute))

	ch := make(chan dialed, 1)
	go func() {
		c, err := carol.Dial(ctx, "sip:dave@"+n.SIPAddr(), phone.DialOptions{})
		ch <- dialed{c, err}
	}()
	ice := b.want(ctx, "ice")
	assert.Equal(t, map[string]any{"type": "username", "endpoint": "dave"}, ice["to"])
	assert.Equal(t, "MXP", ice["originationType"])
	assert.Equal(t, "carol", ice["cli"])
	assert.Equal(t, "mxp", ice["domain"])
	callee, err := dave.NextCall(ctx)
	require.NoError(t, err)
	c := answered(ctx, t, ch)
	go func() { _ = c.PlayTone(ctx, 1000, time.Second) }()
	waitTone(ctx, t, callee, 1000, 500*time.Millisecond)
	require.NoError(t, c.Hangup(ctx))
	assert.Equal(t, phone.EndRemote, ended(ctx, t, callee))
}
