package svaml

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestContextString(t *testing.T) {
	for ctx, want := range map[Context]string{
		ContextUnknown: "unknown", ContextICE: "ice", ContextACE: "ace", ContextPIE: "pie",
		ContextDiCE: "dice", ContextPatchCall: "patch", Context(42): "unknown",
	} {
		require.Equal(t, want, ctx.String())
	}
}

func TestParseUndefinedContext(t *testing.T) {
	_, err := Parse(Context(42), []byte(`{"action":{"name":"hangup"}}`))
	require.EqualError(t, err, "unknown context 42")
	require.ErrorIs(t, err, ErrInvalid)
}

// TestValidityMatrix checks every action and instruction in every context
// against reference §5.2 (stopRecording: accepted in ICE, ACE and PIE).
func TestValidityMatrix(t *testing.T) {
	actions := map[string]string{
		"hangup":        `{"name":"hangup"}`,
		"continue":      `{"name":"continue"}`,
		"connectPstn":   `{"name":"connectPstn","number":"+46700000000"}`,
		"connectMxp":    `{"name":"connectMxp"}`,
		"connectConf":   `{"name":"connectConf","conferenceId":"c"}`,
		"connectSip":    `{"name":"connectSip","destination":{"type":"sip","endpoint":"a@b"}}`,
		"connectStream": `{"name":"connectStream","destination":{"type":"websocket","endpoint":"wss://x"}}`,
		"runMenu":       `{"name":"runMenu","menus":[{"id":"main"}]}`,
		"park":          `{"name":"park"}`,
	}
	allowedActions := map[Context][]string{
		ContextICE:       {"hangup", "connectPstn", "connectMxp", "connectConf", "connectSip", "connectStream", "runMenu", "park"},
		ContextACE:       {"hangup", "continue", "connectConf", "runMenu"},
		ContextPIE:       {"hangup", "continue", "connectPstn", "connectConf", "connectSip", "runMenu"},
		ContextDiCE:      {"hangup"},
		ContextPatchCall: {"hangup", "continue", "park"},
		ContextUnknown:   {"hangup", "continue", "connectPstn", "connectMxp", "connectConf", "connectSip", "connectStream", "runMenu", "park"},
	}
	instructions := map[string]string{
		"playFiles":      `{"name":"playFiles","ids":["#tts[x]"]}`,
		"say":            `{"name":"say","text":"x"}`,
		"sendDtmf":       `{"name":"sendDtmf","value":"1"}`,
		"setCookie":      `{"name":"setCookie","key":"k","value":"v"}`,
		"answer":         `{"name":"answer"}`,
		"startRecording": `{"name":"startRecording","options":{"destinationUrl":"s3://b"}}`,
		"stopRecording":  `{"name":"stopRecording"}`,
	}
	allowedInstructions := map[Context][]string{
		ContextICE:       {"playFiles", "say", "sendDtmf", "setCookie", "answer", "startRecording", "stopRecording"},
		ContextACE:       {"playFiles", "say", "setCookie", "startRecording", "stopRecording"},
		ContextPIE:       {"playFiles", "say", "sendDtmf", "setCookie", "startRecording", "stopRecording"},
		ContextDiCE:      {},
		ContextPatchCall: {"playFiles", "say", "sendDtmf", "setCookie", "answer", "startRecording", "stopRecording"},
		ContextUnknown:   {"playFiles", "say", "sendDtmf", "setCookie", "answer", "startRecording", "stopRecording"},
	}
	for ctx, allowed := range allowedActions {
		for name, doc := range actions {
			t.Run(ctx.String()+"/"+name, func(t *testing.T) {
				r, err := Parse(ctx, []byte(`{"action":`+doc+`}`))
				if contains(allowed, name) {
					require.NoError(t, err)
					require.Equal(t, name, r.Action.ActionName())
					return
				}
				require.ErrorIs(t, err, ErrNotAllowed)
				require.EqualError(t, err, `action.name: action "`+name+`" is not allowed in `+ctx.where())
			})
		}
	}
	for ctx, allowed := range allowedInstructions {
		for name, doc := range instructions {
			t.Run(ctx.String()+"/"+name, func(t *testing.T) {
				r, err := Parse(ctx, []byte(`{"instructions":[`+doc+`],"action":{"name":"hangup"}}`))
				if contains(allowed, name) {
					require.NoError(t, err)
					require.Equal(t, name, r.Instructions[0].InstructionName())
					return
				}
				require.ErrorIs(t, err, ErrNotAllowed)
				if ctx == ContextDiCE {
					require.EqualError(t, err, "instructions: not allowed in a reply to DiCE")
				} else {
					require.EqualError(t, err, `instructions[0].name: instruction "`+name+`" is not allowed in `+ctx.where())
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestLimitsMaxTTSChars(t *testing.T) {
	say := func(n int) []byte {
		return []byte(`{"instructions":[{"name":"say","text":"` + strings.Repeat("a", n) + `"}],"action":{"name":"hangup"}}`)
	}
	prompt := func(n int) []byte {
		return []byte(`{"action":{"name":"park","holdPrompt":"#tts[` + strings.Repeat("a", n) + `]"}}`)
	}

	_, err := Parse(ContextICE, say(600))
	require.NoError(t, err, "600 is the default limit")
	_, err = Parse(ContextICE, say(601))
	require.EqualError(t, err, "instructions[0].text: has 601 characters; the limit is 600")

	l := Limits{MaxTTSChars: 10}
	_, err = l.Parse(ContextICE, say(10))
	require.NoError(t, err)
	_, err = l.Parse(ContextICE, say(11))
	require.EqualError(t, err, "instructions[0].text: has 11 characters; the limit is 10")
	_, err = l.Parse(ContextICE, prompt(10))
	require.NoError(t, err)
	_, err = l.Parse(ContextICE, prompt(11))
	require.EqualError(t, err, "action.holdPrompt: #tts[...] at offset 0 has 11 characters; the limit is 10")

	unlimited := Limits{MaxTTSChars: -1}
	_, err = unlimited.Parse(ContextICE, say(5000))
	require.NoError(t, err)
	_, err = unlimited.Parse(ContextICE, prompt(5000))
	require.NoError(t, err)
}

func TestValidationErrors(t *testing.T) {
	_, err := Parse(ContextACE, []byte(`{"instructions":[{"name":"answer"},{"name":"sya"}],"action":{"name":"park","maxDuration":-1}}`))
	var es ValidationErrors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 4)
	require.ErrorIs(t, es[0], ErrNotAllowed)
	require.ErrorIs(t, es[1], ErrUnknownName)
	require.ErrorIs(t, es[2], ErrNotAllowed)
	require.ErrorIs(t, es[3], ErrInvalid)
	require.Equal(t, &ValidationError{Path: "action.maxDuration", Reason: "must be between 0 and 14400, got -1", Offset: -1, Err: ErrInvalid}, es[3])

	var first *ValidationError
	require.ErrorAs(t, err, &first)
	require.Equal(t, "instructions[0].name", first.Path)
	require.True(t, strings.HasPrefix(err.Error(), first.Error()+"; "))
	require.ErrorIs(t, err, ErrUnknownName)
	require.NotErrorIs(t, err, ErrSyntax)
}

func TestSyntaxErrorOffset(t *testing.T) {
	_, err := Parse(ContextICE, []byte(`{"action": {"name": "hangup"} x`))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, ErrSyntax)
	require.Equal(t, 30, ve.Offset)
	require.Equal(t, "", ve.Path)
}

func TestOptionActionString(t *testing.T) {
	require.Equal(t, "menu(a)", OptionAction{Kind: OptionMenu, Value: "a"}.String())
	require.Equal(t, "return(b)", OptionAction{Kind: OptionReturn, Value: "b"}.String())
	require.Equal(t, "unknown", OptionUnknown.String())
	for in, want := range map[string]OptionAction{
		"MENU(x)":      {OptionMenu, "x"},
		"Return(a(b))": {OptionReturn, "a(b)"},
		"return(a b)":  {OptionReturn, "a b"},
	} {
		got, ok := parseOptionAction(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"menu", "menu(x", "x(y)", "(y)", " menu(x)", "menu (x)"} {
		_, ok := parseOptionAction(in)
		require.False(t, ok, in)
	}
}

// foreign is an action type defined outside the package's set.
type foreign struct {
	Name string `json:"name"`
	X    int    `json:"x"`
}

func (*foreign) ActionName() string { return "foreign" }

func TestMarshalJSON(t *testing.T) {
	t.Run("no action", func(t *testing.T) {
		_, err := json.Marshal(Response{})
		require.True(t, errors.Is(err, errNoAction))
	})
	t.Run("nil instruction", func(t *testing.T) {
		_, err := json.Marshal(Response{Instructions: []Instruction{nil}, Action: &Hangup{}})
		require.True(t, errors.Is(err, errNilInstruction))
	})
	t.Run("built by hand", func(t *testing.T) {
		r := Response{
			Instructions: []Instruction{&Answer{}, &Say{Text: "hi"}},
			Action: &RunMenu{Barge: false, Menus: []Menu{{ID: "main", Options: []MenuOption{
				{DTMF: "1", Action: OptionAction{Kind: OptionReturn, Value: "x"}},
			}}}},
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		require.JSONEq(t, `{"instructions":[{"name":"answer"},{"name":"say","text":"hi"}],
			"action":{"name":"runMenu","barge":false,"menus":[{"id":"main","options":[{"dtmf":"1","action":"return(x)"}]}]}}`, string(b))
		back, err := Parse(ContextICE, b)
		require.NoError(t, err)
		require.Equal(t, "main", as[*RunMenu](t, back).MainMenu)
		require.Equal(t, 5000, as[*RunMenu](t, back).Menus[0].TimeoutMills)
	})
	t.Run("foreign action", func(t *testing.T) {
		b, err := json.Marshal(Response{Action: &foreign{Name: "x", X: 1}})
		require.NoError(t, err)
		require.JSONEq(t, `{"action":{"name":"x","x":1}}`, string(b))
	})
}
