package call

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

const twoLevelMenu = `{"action":{"name":"runMenu","locale":"en-US","menus":[
	{"id":"main","mainPrompt":"#tts[Press 1 to confirm, 2 to cancel]","repeatPrompt":"#tts[Try again]","repeats":1,"timeoutMills":3000,
	 "options":[{"dtmf":"1","action":"menu(confirm)"},{"dtmf":2,"action":"return(cancel)"}]},
	{"id":"confirm","mainPrompt":"#tts[Enter your PIN]","maxDigits":4,"timeoutMills":3000}]}}`

// menuCall starts an inbound call whose ICE runs doc and returns the
// caller's media session once the menu plays.
func menuCall(t *testing.T, e *env, doc string) *fakeSession {
	e.backend.on(events.KindICE, doc)
	e.backend.on(events.KindPIE, `{"instructions":[{"name":"say","text":"Thanks"}],"action":{"name":"hangup"}}`)
	e.inbound("+46701234567")
	synctest.Wait()
	require.NotEmpty(t, e.media.sessions)
	return e.media.sessions[0]
}

func pieOf(t *testing.T, e *env) *events.PIE {
	t.Helper()
	for _, ev := range e.backend.events() {
		if p, ok := ev.(*events.PIE); ok {
			return p
		}
	}
	t.Fatalf("no PIE among %v", e.backend.kinds())
	return nil
}

func TestMenuTwoLevelsToSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		caller := menuCall(t, e, twoLevelMenu)
		time.Sleep(500 * time.Millisecond) // barge into the main prompt
		caller.press("1")
		time.Sleep(3 * time.Second) // the PIN prompt plays out
		caller.press("1234")
		s := e.final("call-1")
		p := pieOf(t, e)
		require.Equal(t, events.MenuResult{MenuID: "confirm", Type: "sequence", Value: "1234", InputMethod: "dtmf"}, p.MenuResult)
		require.Equal(t, events.ReasonManagerHangup, s.Reason, "the PIE reply ran")
		plays := e.media.plays()
		require.Equal(t, []string{"tts:Press 1 to confirm, 2 to cancel", "tts:Enter your PIN", "tts:Thanks"}, plays)
		require.Equal(t, []string{"ice", "pie", "dice"}, e.backend.kinds())
	})
}

func TestMenuReturnOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		caller := menuCall(t, e, twoLevelMenu)
		time.Sleep(3 * time.Second) // after the prompt
		caller.press("2")
		e.final("call-1")
		require.Equal(t, events.MenuResult{MenuID: "main", Type: "return", Value: "cancel", InputMethod: "dtmf"}, pieOf(t, e).MenuResult)
	})
}

func TestMenuTimeoutAfterRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		menuCall(t, e, twoLevelMenu)
		s := e.final("call-1")
		require.Equal(t, "timeout", pieOf(t, e).MenuResult.Type)
		require.Equal(t, []string{"tts:Press 1 to confirm, 2 to cancel", "tts:Try again", "tts:Thanks"}, e.media.plays())
		// main prompt 2 s + 3 s silence, repeat prompt 2 s + 3 s, then "Thanks" 2 s.
		require.Equal(t, 12, s.Duration(s.EndedAt))
	})
}

func TestMenuInvalidInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		caller := menuCall(t, e, twoLevelMenu)
		time.Sleep(2500 * time.Millisecond)
		caller.press("9")
		time.Sleep(2500 * time.Millisecond) // the repeat prompt
		caller.press("7")
		e.final("call-1")
		require.Equal(t, events.MenuResult{MenuID: "main", Type: "invalidinput", InputMethod: "dtmf"}, pieOf(t, e).MenuResult)
	})
}

func TestMenuWithoutBargeIgnoresDigitsDuringThePrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		caller := menuCall(t, e, `{"action":{"name":"runMenu","barge":false,"menus":[
			{"id":"main","mainPrompt":"#tts[Listen first]","timeoutMills":2000,"options":[{"dtmf":"1","action":"return(one)"},{"dtmf":"2","action":"return(two)"}]}]}}`)
		time.Sleep(500 * time.Millisecond)
		caller.press("1") // during the prompt: ignored
		time.Sleep(2 * time.Second)
		caller.press("2")
		e.final("call-1")
		require.Equal(t, "two", pieOf(t, e).MenuResult.Value)
	})
}

func TestMenuTakesSIPInfoDigits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, twoLevelMenu)
		e.backend.on(events.KindPIE, `{"action":{"name":"hangup"}}`)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		time.Sleep(2500 * time.Millisecond)
		done := make(chan struct{})
		go func() { // SIP INFO: the leg delivers the digit, the call feeds the menu
			caller.evs <- LegEvent{Digit: '2'}
			close(done)
		}()
		<-done
		e.final("call-1")
		require.Equal(t, "cancel", pieOf(t, e).MenuResult.Value)
	})
}

func TestMenuHangupSendsPIEBeforeDiCE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.backend.on(events.KindICE, twoLevelMenu)
		caller := e.inbound("+46701234567")
		synctest.Wait()
		time.Sleep(1 * time.Second)
		caller.remoteHangup()
		e.final("call-1")
		require.Equal(t, []string{"ice", "pie", "dice"}, e.backend.kinds())
		require.Equal(t, events.MenuResult{MenuID: "main", Type: "hangup", InputMethod: "dtmf"}, pieOf(t, e).MenuResult)
		require.Equal(t, events.ReasonCallerHangup, e.dice().Reason)
	})
}

// calloutMenu starts a ttsCallout whose ACE reply runs a one-level menu
// that returns at once on "1", and presses 1 after the prompt.
func calloutMenu(t *testing.T, e *env, o Callout) {
	t.Helper()
	e.backend.on(events.KindACE, `{"action":{"name":"runMenu","menus":[{"id":"main","mainPrompt":"#tts[Press 1]",
		"options":[{"dtmf":"1","action":"return(yes)"}]}]}}`)
	e.backend.on(events.KindPIE, `{"instructions":[{"name":"say","text":"Thanks"}],"action":{"name":"hangup"}}`)
	callee := newFakeLeg()
	callee.answer <- outcome{sdp: []byte("sdp")}
	e.dialer.legs <- callee
	o.AppKey = "app"
	o.Destination = &events.Destination{Type: "number", Endpoint: "+12025550100"}
	o.CLI = "+46701111111"
	_, err := e.m.Callout(context.Background(), o)
	require.NoError(t, err)
	time.Sleep(3 * time.Second)
	synctest.Wait()
	require.NotEmpty(t, e.media.sessions)
	e.media.sessions[0].press("1")
}

func TestCalloutPIEOnlyWithEnablePie(t *testing.T) {
	for _, enable := range []bool{false, true} {
		t.Run(fmt.Sprint("enablePie=", enable), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				calloutMenu(t, e, Callout{Method: MethodTTS, Text: "Hello", EnableACE: true, EnableDiCE: true, EnablePIE: enable})
				s := e.final("call-1")
				require.Equal(t, events.ReasonManagerHangup, s.Reason)
				if enable {
					require.Equal(t, []string{"ace", "pie", "dice"}, e.backend.kinds())
					require.Equal(t, "yes", pieOf(t, e).MenuResult.Value)
					require.Equal(t, []string{"tts:Press 1", "tts:Thanks"}, e.media.plays())
				} else {
					require.Equal(t, []string{"ace", "dice"}, e.backend.kinds(), "no PIE without enablePie: the call ends after the menu")
					require.Equal(t, []string{"tts:Press 1"}, e.media.plays())
				}
			})
		})
	}
}

func TestCustomCalloutInlinePIERunsWithoutCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		iceDoc := mustParse(t, e, "ice", `{"action":{"name":"runMenu","menus":[{"id":"main","mainPrompt":"#tts[Press 1]",
			"options":[{"dtmf":"1","action":"return(yes)"}]}]}}`)
		pieDoc := mustParse(t, e, "pie", `{"instructions":[{"name":"say","text":"Inline thanks"}],"action":{"name":"hangup"}}`)
		callee := newFakeLeg()
		callee.answer <- outcome{sdp: []byte("sdp")}
		e.dialer.legs <- callee
		id, err := e.m.Callout(context.Background(), Callout{AppKey: "app", Method: MethodCustom,
			Destination: &events.Destination{Type: "number", Endpoint: "+12025550100"}, CLI: "+46701111111",
			ICE: Script{Doc: iceDoc}, PIE: Script{Doc: pieDoc}})
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		e.media.sessions[0].press("1")
		s := e.final(id)
		require.Equal(t, events.ReasonManagerHangup, s.Reason)
		require.Equal(t, []string{"tts:Press 1", "tts:Inline thanks"}, e.media.plays())
		require.Equal(t, []string{"dice"}, e.backend.kinds(), "inline PIE: no PIE callback")
	})
}
