package call

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

// PIE menuResult types (reference §3.5).
const (
	menuReturn       = "return"
	menuSequence     = "sequence"
	menuTimeout      = "timeout"
	menuInvalidInput = "invalidinput"
	menuError        = "error"
	menuHangup       = "hangup"
)

// defaultMenuTimeout applies when a menu sets no timeoutMills (svaml.Parse
// already fills it in; this guards documents built in code).
const defaultMenuTimeout = 5 * time.Second

// runMenu runs a runMenu action (reference §5.3) on a task and reports
// its outcome in a PIE whose reply is executed in the PIE context.
//
// Behaviour, where the reference is silent:
//   - The menu answers an inbound call that is not answered yet.
//   - A menu with options takes one digit: a matching option goes to its
//     menu or returns its value; a digit no option has is invalid input,
//     unless the menu also collects maxDigits, which then starts with it.
//   - A menu with maxDigits collects up to that many digits; "#" ends the
//     sequence early and a pause of timeoutMills after a digit ends it too.
//   - No digit within timeoutMills after the prompt, or invalid input,
//     plays repeatPrompt (mainPrompt if there is none) and tries again,
//     repeats times; then the PIE says timeout or invalidinput.
//   - barge (default true) lets a digit stop the prompt and count as input;
//     without it digits during the prompt are ignored.
//   - Digits come from RFC 4733 and SIP INFO alike (inputMethod "dtmf").
func (c *Call) runMenu(ctx context.Context, a *svaml.RunMenu) {
	legs := c.hearing("")
	if len(legs) == 0 {
		c.end(ctx, c.answeredResult(), events.ReasonGeneralError)
		return
	}
	l := legs[0]
	var res menuOutcome
	c.spawn(ctx, "run_menu", func(tctx context.Context) error {
		if l.in != nil && !l.isAnswered() {
			if err := c.answer(tctx, l); err != nil {
				return err
			}
		}
		ms, err := c.ensureMedia(tctx, l)
		if err != nil {
			return err
		}
		res = c.menu(tctx, l, ms, a)
		return nil
	}, func(err error) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.log.Error("menu failed", "err", err)
			c.tlError("menu failed", err)
			res = menuOutcome{menuID: a.MainMenu, typ: menuError}
		}
		c.log.Info("menu result", "menu_id", res.menuID, "type", res.typ)
		c.tlMedia("menu "+res.menuID+" result: "+res.typ, map[string]any{"menu": res.menuID, "type": res.typ, "value": res.value})
		c.sendPIE(ctx, res)
	})
}

type menuOutcome struct{ menuID, typ, value string }

// menu walks the menus until one returns, collects a sequence, or gives up.
func (c *Call) menu(ctx context.Context, l *leg, ms MediaSession, a *svaml.RunMenu) menuOutcome {
	byID := make(map[string]*svaml.Menu, len(a.Menus))
	for i := range a.Menus {
		byID[a.Menus[i].ID] = &a.Menus[i]
	}
	drainDigits(ms.Digits()) // digits typed before the menu are not its input
	cur := byID[a.MainMenu]
	defer c.menuAt.Store(nil)
	for visited := 0; cur != nil && visited < 100; visited++ {
		id := cur.ID
		c.menuAt.Store(&id)
		out, next := c.menuOnce(ctx, l, ms, a, cur)
		if next == "" {
			return out
		}
		cur = byID[next]
	}
	return menuOutcome{menuID: a.MainMenu, typ: menuError}
}

// menuOnce plays one menu (with its repeats) and returns its outcome, or
// the id of the menu an option leads to.
func (c *Call) menuOnce(ctx context.Context, l *leg, ms MediaSession, a *svaml.RunMenu, m *svaml.Menu) (menuOutcome, string) {
	timeout := time.Duration(m.TimeoutMills) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultMenuTimeout
	}
	last := menuTimeout
	for attempt := 0; attempt <= m.Repeats; attempt++ {
		prompt := m.MainPrompt
		if attempt > 0 && m.RepeatPrompt != "" {
			prompt = m.RepeatPrompt
		}
		digits, err := c.collect(ctx, l, ms, prompt, a.Locale, a.Barge, m, timeout)
		if err != nil {
			if ctx.Err() != nil {
				return menuOutcome{menuID: m.ID, typ: menuError}, ""
			}
			c.log.Warn("menu prompt failed", "menu_id", m.ID, "err", err)
			return menuOutcome{menuID: m.ID, typ: menuError}, ""
		}
		if digits == "" {
			last = menuTimeout
			continue
		}
		if opt := option(m, digits); opt != nil {
			if opt.Action.Kind == svaml.OptionMenu {
				return menuOutcome{}, opt.Action.Value
			}
			return menuOutcome{menuID: m.ID, typ: menuReturn, value: opt.Action.Value}, ""
		}
		if m.MaxDigits > 0 {
			return menuOutcome{menuID: m.ID, typ: menuSequence, value: digits}, ""
		}
		last = menuInvalidInput
	}
	return menuOutcome{menuID: m.ID, typ: last}, ""
}

// option returns the option a single-digit input selects.
func option(m *svaml.Menu, digits string) *svaml.MenuOption {
	if len(digits) != 1 {
		return nil
	}
	for i := range m.Options {
		if m.Options[i].DTMF == digits {
			return &m.Options[i]
		}
	}
	return nil
}

// collect plays the prompt and gathers the menu's input: one digit for an
// options-only menu, up to maxDigits ("#" or a pause ends early) otherwise.
// "" means nothing came within the timeout after the prompt.
func (c *Call) collect(ctx context.Context, l *leg, ms MediaSession, prompt, locale string, barge bool,
	m *svaml.Menu, timeout time.Duration) (string, error) {
	prompts, err := svaml.ParsePrompts(prompt)
	if err != nil {
		return "", err
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	played := make(chan error, 1)
	go func() { played <- c.playPrompts(pctx, l, prompts, locale) }()

	var got strings.Builder
	want := max(m.MaxDigits, 1)
	digits := ms.Digits()
	playing := true
	var timer <-chan time.Time // runs once the prompt is over or barged
	for {
		select {
		case err := <-played:
			playing = false
			if err != nil && !errors.Is(err, context.Canceled) {
				return "", err
			}
			if timer == nil {
				timer = time.After(timeout)
			}
		case d := <-digits:
			c.tlMedia("digit "+string(d)+" received", map[string]any{"digit": string(d), "menu": m.ID, "duringPrompt": playing})
			if playing && !barge {
				continue // no barge-in: input starts after the prompt
			}
			if playing {
				stop() // barge-in: the digit stops the prompt
			}
			if d == '#' && m.MaxDigits > 0 && got.Len() > 0 {
				return got.String(), nil
			}
			got.WriteRune(d)
			if got.Len() >= want || m.MaxDigits == 0 || (got.Len() == 1 && option(m, got.String()) != nil) {
				return got.String(), nil
			}
			timer = time.After(timeout) // inter-digit timeout
		case <-timer:
			return got.String(), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func drainDigits(ch <-chan rune) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// pie builds the Prompt Input Event (reference §3.5).
func (c *Call) pie(res menuOutcome) *events.PIE {
	return &events.PIE{
		ID: c.snap.ID, Timestamp: c.timestamp(), Version: events.APIVersion,
		Custom: c.snap.Custom, ApplicationKey: c.snap.AppKey, Cookies: c.cookies(),
		ConferenceID: c.snap.ConferenceID,
		MenuResult:   events.MenuResult{MenuID: res.menuID, Type: res.typ, Value: res.value, InputMethod: "dtmf"},
	}
}

// pieTarget is where PIEs go (see Callout.pieTarget): for calls that are
// not callouts, always the app's callback URL.
func (c *Call) pieTarget() (CallbackTarget, *svaml.Response, bool) {
	if c.callout != nil {
		return c.callout.pieTarget(c.target)
	}
	return c.target, nil, true
}

// sendPIE delivers the menu outcome and runs the reply (PIE matrix). An
// inline PIE document of a custom callout is run without a callback; a
// callout that did not enable PIE ends the call with a normal hangup.
func (c *Call) sendPIE(ctx context.Context, res menuOutcome) {
	t, inline, ok := c.pieTarget()
	switch {
	case !ok:
		c.log.Info("menu finished; PIE not enabled for this callout, hanging up", "menu_id", res.menuID, "type", res.typ)
		c.end(ctx, c.answeredResult(), events.ReasonManagerHangup)
	case inline != nil:
		c.execute(ctx, inline, svaml.ContextPIE, "")
	default:
		c.ask(ctx, t, c.pie(res), svaml.ContextPIE, "", nil, c.endWith(ctx))
	}
}
