package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// A phone calls the DID; the backend answers the ICE with answer, say and
// hangup. The phone must hear real speech, the call must end with the
// node's BYE, and the DiCE must report it.
func TestInboundSayHangup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"instructions":[{"name":"answer"},{"name":"say","text":"Hello world, this is callcore speaking.","locale":"en-US"}],"action":{"name":"hangup"}}`)
	n := node(t, b, "")

	caller := phone.New(t, phone.Options{User: "alice"})
	c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{FromUser: "+46708887777",
		Headers: map[string]string{"X-Customer": "42"}})
	require.NoError(t, err)

	ice := b.want(ctx, "ice")
	require.Equal(t, "+46708887777", ice["cli"])
	require.Equal(t, map[string]any{"type": "did", "endpoint": did}, ice["to"])
	require.Equal(t, appKey, ice["applicationKey"])
	require.Equal(t, []any{map[string]any{"key": "X-Customer", "value": "42"}}, ice["callHeaders"])

	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the node did not hang up")
	}
	rec := c.Recording()
	require.True(t, phone.SpeechLike(rec), "the caller heard no speech (%d samples, rms %.0f)", len(rec), phone.RMS(rec))

	dice := b.want(ctx, "dice")
	require.Equal(t, "MANAGERHANGUP", dice["reason"])
	require.Equal(t, "ANSWERED", dice["result"])
	require.Equal(t, "+46708887777", dice["from"])
	require.Equal(t, ice["callid"], dice["callid"])
}
