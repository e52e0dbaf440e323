package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/test/phone"
)

// A two-level IVR driven by a real phone: it hears the prompts, presses 1
// (menu confirm) then a PIN, the PIE carries the sequence and its reply is
// executed — with digits sent as RFC 4733 and as SIP INFO.
func TestIVRTwoLevels(t *testing.T) {
	for _, mode := range []phone.DTMFMode{phone.DTMFRFC4733, phone.DTMFInfo, phone.DTMFInfoPlain, phone.DTMFInBand} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			b := newBackend(t)
			b.on("ice", `{"instructions":[{"name":"answer"}],"action":{"name":"runMenu","locale":"en-US","menus":[
				{"id":"main","mainPrompt":"#tts[Press one to confirm.]","timeoutMills":4000,
				 "options":[{"dtmf":"1","action":"menu(confirm)"},{"dtmf":"2","action":"return(cancel)"}]},
				{"id":"confirm","mainPrompt":"#tts[Enter your pin.]","maxDigits":4,"timeoutMills":4000}]}}`)
			b.on("pie", `{"instructions":[{"name":"say","text":"Thank you."}],"action":{"name":"hangup"}}`)
			n := node(t, b, "")
			caller := phone.New(t, phone.Options{User: "alice", DTMFMode: mode})
			c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
			require.NoError(t, err)

			require.NoError(t, c.WaitAudio(ctx, 300*time.Millisecond, 300), "the main prompt is heard")
			require.NoError(t, c.SendDTMF(ctx, "1"))
			time.Sleep(2 * time.Second) // the PIN prompt
			require.NoError(t, c.SendDTMF(ctx, "4711"))

			pie := b.want(ctx, "pie")
			require.Equal(t, map[string]any{"menuId": "confirm", "type": "sequence", "value": "4711", "inputMethod": "dtmf"}, pie["menuResult"])
			dice := b.want(ctx, "dice")
			require.Equal(t, "MANAGERHANGUP", dice["reason"])
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("the call did not end after the PIE reply")
			}
			require.True(t, phone.SpeechLike(c.Recording()), "prompts were heard")
		})
	}
}

// No input: the repeat prompt plays, then the PIE says timeout.
func TestIVRTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackend(t)
	b.on("ice", `{"action":{"name":"runMenu","menus":[{"id":"main","mainPrompt":"#tts[Press one.]","repeatPrompt":"#tts[Once more.]",
		"repeats":1,"timeoutMills":1000,"options":[{"dtmf":"1","action":"return(one)"}]}]}}`)
	b.on("pie", `{"action":{"name":"hangup"}}`)
	n := node(t, b, "")
	caller := phone.New(t, phone.Options{User: "alice"})
	c, err := caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
	require.NoError(t, err)
	pie := b.want(ctx, "pie")
	require.Equal(t, "timeout", pie["menuResult"].(map[string]any)["type"])
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("call did not end")
	}
}
