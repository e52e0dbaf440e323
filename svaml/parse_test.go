package svaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/canonical/*.json")

// contextOf maps a testdata file name prefix to the context it is parsed for.
func contextOf(t *testing.T, name string) Context {
	t.Helper()
	prefixes := map[string]Context{
		"any": ContextUnknown, "ice": ContextICE, "ace": ContextACE, "pie": ContextPIE,
		"dice": ContextDiCE, "patch": ContextPatchCall,
	}
	p, _, _ := strings.Cut(name, "_")
	ctx, ok := prefixes[p]
	require.True(t, ok, "file %s: unknown context prefix %q", name, p)
	return ctx
}

// files returns the base names (without extension) of dir/*.json, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	sort.Strings(names)
	return names
}

// as type-asserts r's action.
func as[T Action](t *testing.T, r *Response) T {
	t.Helper()
	a, ok := r.Action.(T)
	require.True(t, ok, "action is %T", r.Action)
	return a
}

// in type-asserts instruction i of r.
func in[T Instruction](t *testing.T, r *Response, i int) T {
	t.Helper()
	require.Greater(t, len(r.Instructions), i)
	v, ok := r.Instructions[i].(T)
	require.True(t, ok, "instruction %d is %T", i, r.Instructions[i])
	return v
}

// validChecks holds the expected parsed values of every valid testdata file.
var validChecks = map[string]func(t *testing.T, r *Response){
	"ice_connect_pstn": func(t *testing.T, r *Response) {
		require.Nil(t, r.Instructions)
		require.Equal(t, &ConnectPSTN{
			Number: "+461234567890", Locale: "en-US", MaxDuration: 3000, DialTimeout: 10,
			CLI: "+460987654321", DTMF: "#w123", Indications: "se", AMD: &AMD{Enabled: true, Async: true},
		}, r.Action)
	},
	"ice_connect_pstn_defaults": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectPSTN{Locale: "en-US"}, r.Action)
	},
	"ice_custom_callout_inline_ice": func(t *testing.T, r *Response) {
		a := as[*ConnectPSTN](t, r)
		require.Equal(t, "+12233445566", a.Number)
		require.Equal(t, "+12234325234", a.CLI)
		require.Equal(t, &AMD{Enabled: true}, a.AMD)
	},
	"ace_custom_callout_inline_ace": func(t *testing.T, r *Response) {
		require.Equal(t, []Instruction{&Say{Text: "Hello, this is a call from Sinch!"}}, r.Instructions)
		require.Equal(t, &Hangup{}, r.Action)
	},
	"ice_connect_mxp": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectMXP{
			Destination: &Destination{Type: "username", Endpoint: "johndoe"},
			CallHeaders: []CallHeader{{Key: "ticket", Value: "4711"}, {Key: "lang", Value: "sv"}},
		}, r.Action)
	},
	"ice_connect_mxp_java_callheaders": func(t *testing.T, r *Response) {
		a := as[*ConnectMXP](t, r)
		require.Equal(t, &Destination{Type: "username", Endpoint: "johndoe"}, a.Destination)
		require.Equal(t, []CallHeader{{Key: "ticket", Value: "4711"}}, a.CallHeaders)
	},
	"ice_connect_mxp_dialled_destination": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectMXP{}, r.Action)
	},
	"ice_connect_conf": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectConf{
			ConferenceID: "My Conference Id",
			DTMFOptions:  ConferenceDTMFOptions{Mode: DTMFForward, MaxDigits: 45, TimeoutMills: 456},
			MOH:          MOHMusic3,
		}, r.Action)
	},
	"ice_connect_conf_defaults": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectConf{
			ConferenceID: "room-1",
			DTMFOptions:  ConferenceDTMFOptions{Mode: DTMFIgnore, MaxDigits: 1, TimeoutMills: 3000},
		}, r.Action)
	},
	"ice_connect_conf_docs_typo": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectConf{
			ConferenceID: "room-2",
			DTMFOptions:  ConferenceDTMFOptions{Mode: DTMFDetect, MaxDigits: 3, TimeoutMills: 1500},
			MOH:          MOHRing,
		}, r.Action)
	},
	"ice_connect_sip": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectSIP{
			Destination: Destination{Type: "sip", Endpoint: "a sip string"},
			MaxDuration: 456, CLI: "a cli value", Transport: TransportTLS, SuppressCallbacks: true,
			CallHeaders: []CallHeader{{Key: "left string", Value: "right string"}}, MOH: MOHMusic2,
		}, r.Action)
	},
	"ice_connect_sip_defaults": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectSIP{
			Destination: Destination{Type: "sip", Endpoint: "46708000000@sip.foo.com"},
			Transport:   TransportUDP,
		}, r.Action)
	},
	"ice_connect_stream": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectStream{
			Destination:      Destination{Type: "websocket", Endpoint: "wss://yourcompany.com/websocket-server"},
			MaxDuration:      456,
			CallHeaders:      []CallHeader{{Key: "left string", Value: "right string"}},
			StreamingOptions: &StreamingOptions{Version: 2, SampleRate: 16000},
		}, r.Action)
	},
	"ice_run_menu": func(t *testing.T, r *Response) {
		require.Equal(t, &RunMenu{
			Barge: true, Locale: "Kimberly", EnableVoice: true, MainMenu: "main",
			Menus: []Menu{
				{
					ID:           "main",
					MainPrompt:   "#tts[Welcome to the main menu. Press 1 to confirm order or 2 to cancel]",
					RepeatPrompt: "#tts[We didn't get your input, please try again]",
					Repeats:      2, TimeoutMills: 5000,
					Options: []MenuOption{
						{DTMF: "1", Action: OptionAction{Kind: OptionMenu, Value: "confirm"}},
						{DTMF: "2", Action: OptionAction{Kind: OptionReturn, Value: "cancel"}},
					},
				},
				{
					ID:         "confirm",
					MainPrompt: "#tts[Thank you for confirming your order. Enter your 4-digit PIN.]",
					MaxDigits:  4, TimeoutMills: 5000,
				},
			},
		}, r.Action)
	},
	"ice_run_menu_node_red": func(t *testing.T, r *Response) {
		require.Nil(t, r.Instructions, "an empty instructions array is normalised to nil")
		a := as[*RunMenu](t, r)
		require.True(t, a.Barge)
		require.Equal(t, "main", a.MainMenu, "mainMenu defaults to main")
		require.Len(t, a.Menus, 1)
		require.Equal(t, 5000, a.Menus[0].TimeoutMills)
		require.Equal(t, OptionAction{Kind: OptionReturn, Value: "option2"}, a.Menus[0].Options[1].Action)
	},
	"ice_run_menu_numeric_dtmf": func(t *testing.T, r *Response) {
		a := as[*RunMenu](t, r)
		require.True(t, a.Barge, "barge defaults to true")
		var keys []string
		for _, o := range a.Menus[0].Options {
			keys = append(keys, o.DTMF)
		}
		require.Equal(t, []string{"1", "2", "0", "#"}, keys)
		require.Equal(t, OptionAction{Kind: OptionMenu, Value: "main"}, a.Menus[0].Options[3].Action)
	},
	"ace_run_menu_main_menu": func(t *testing.T, r *Response) {
		a := as[*RunMenu](t, r)
		require.False(t, a.Barge, "explicit barge false is kept")
		require.Equal(t, "pin", a.MainMenu)
		require.Equal(t, 5000, a.Menus[0].TimeoutMills, "timeoutMills 0 means the default")
		require.Equal(t, 20000, a.Menus[0].MaxTimeoutMills)
		require.Equal(t, 4, a.Menus[0].MaxDigits)
		require.Equal(t, "https://example.com/audio/bye.mp3;goodbye_file", a.Menus[1].MainPrompt)
	},
	"ice_park": func(t *testing.T, r *Response) {
		require.Equal(t, &Park{Locale: "en-US", IntroPrompt: "#tts[Please hold.]", HoldPrompt: "#tts[Your call is important to us.]", MaxDuration: 180}, r.Action)
	},
	"ice_instructions": func(t *testing.T, r *Response) {
		require.Equal(t, []Instruction{
			&Answer{},
			&Say{Text: "Hello from instruction", Locale: "en-US"},
			&PlayFiles{IDs: []string{"#tts[Welcome]", "https://example.com/greeting.wav"}, Locale: "en-US"},
			&SendDTMF{Value: "ww123#"},
			&SetCookie{Key: "step", Value: "greeting_done"},
			&StartRecording{Options: &RecordingOptions{
				DestinationURL:     "s3://my-bucket/",
				Credentials:        "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:eu-central-1",
				Format:             "mp3",
				NotificationEvents: true,
				Transcription:      &TranscriptionOptions{Enabled: true, Locale: "en-US"},
			}},
		}, r.Instructions)
		require.Equal(t, "My Conference Id", as[*ConnectConf](t, r).ConferenceID)
	},
	"ice_recording_defaults": func(t *testing.T, r *Response) {
		require.Equal(t, &RecordingOptions{DestinationURL: "azure://account/container", Format: "mp3", NotificationEvents: true},
			in[*StartRecording](t, r, 0).Options)
		require.Nil(t, in[*StartRecording](t, r, 1).Options)
		in[*StopRecording](t, r, 2)
	},
	"ice_stop_recording": func(t *testing.T, r *Response) {
		require.Equal(t, []Instruction{&StopRecording{}}, r.Instructions)
	},
	"ace_stop_recording": func(t *testing.T, r *Response) {
		in[*StopRecording](t, r, 0)
		as[*Continue](t, r)
	},
	"ace_hangup": func(t *testing.T, r *Response) {
		require.Equal(t, &Response{Action: &Hangup{}}, r)
	},
	"ace_continue": func(t *testing.T, r *Response) {
		require.Equal(t, &SetCookie{Key: "answered", Value: "yes"}, in[*SetCookie](t, r, 0))
		as[*Continue](t, r)
	},
	"pie_connect_pstn": func(t *testing.T, r *Response) {
		require.Equal(t, "1234#", in[*SendDTMF](t, r, 0).Value)
		require.Equal(t, "en-GB", in[*Say](t, r, 1).Locale)
		require.Equal(t, &ConnectPSTN{Number: "+15551234567", Locale: "en-US", DialTimeout: 30}, r.Action)
	},
	"pie_stop_recording": func(t *testing.T, r *Response) {
		require.Equal(t, TransportTCP, as[*ConnectSIP](t, r).Transport)
		require.Equal(t, Destination{Type: "sip", Endpoint: "agent@pbx.example.com"}, as[*ConnectSIP](t, r).Destination)
	},
	"dice_hangup": func(t *testing.T, r *Response) {
		require.Equal(t, &Response{Action: &Hangup{}}, r)
	},
	"dice_hangup_empty_instructions": func(t *testing.T, r *Response) {
		require.Equal(t, &Response{Action: &Hangup{}}, r)
	},
	"patch_say_hangup": func(t *testing.T, r *Response) {
		require.Equal(t, &Say{Text: "Sorry, the conference has been cancelled. The call will end now.", Locale: "en-US"}, in[*Say](t, r, 0))
		as[*Hangup](t, r)
	},
	"patch_playfiles_continue": func(t *testing.T, r *Response) {
		require.Equal(t, []string{"https://samples-files.com/samples/Audio/mp3/sample-file-4.mp3"}, in[*PlayFiles](t, r, 0).IDs)
		as[*Continue](t, r)
	},
	"patch_park": func(t *testing.T, r *Response) {
		require.Equal(t, &Park{IntroPrompt: "#tts[One moment please]", HoldPrompt: "#href[https://example.com/hold.mp3]", MaxDuration: 14400}, r.Action)
	},
	"patch_all_instructions": func(t *testing.T, r *Response) {
		require.Len(t, r.Instructions, 4)
		require.Equal(t, &SetCookie{Key: "k"}, in[*SetCookie](t, r, 2))
	},
	"ice_legacy_server_sdk": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectPSTN{
			Number: "+46708000000", CLI: "+46708111111", MaxDuration: 600, Locale: "en-US",
			SuppressCallbacks: true, Indications: "se",
		}, r.Action, "amd: null is absent")
		require.Equal(t, &SetCookie{Key: "caller", Value: "alice"}, in[*SetCookie](t, r, 0))
		require.Equal(t, &PlayFiles{IDs: []string{"#tts[Hello]", "#href[https://example.com/ring.wav]"}, Locale: "en-US"}, in[*PlayFiles](t, r, 1))
	},
	"ice_legacy_hangup_null_instructions": func(t *testing.T, r *Response) {
		require.Equal(t, &Response{Action: &Hangup{}}, r)
	},
	"ice_legacy_menu": func(t *testing.T, r *Response) {
		a := as[*RunMenu](t, r)
		require.Equal(t, "main", a.MainMenu)
		require.Equal(t, Menu{
			ID: "main", MainPrompt: "#tts[Press one]", RepeatPrompt: "#tts[Please choose]", Repeats: 3, TimeoutMills: 5000,
			Options: []MenuOption{{DTMF: "1", Action: OptionAction{Kind: OptionMenu, Value: "sub"}}},
		}, a.Menus[0])
		require.Equal(t, 3000, a.Menus[1].TimeoutMills)
	},
	"ice_unknown_fields": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectPSTN{Number: "+46708000000", Locale: "en-US", AMD: &AMD{}}, r.Action)
		require.Equal(t, []Instruction{&Say{Text: "Hi"}}, r.Instructions)
	},
	"ice_mixed_case_keys": func(t *testing.T, r *Response) {
		require.Equal(t, []Instruction{
			&SetCookie{Key: "a", Value: "b"},
			&PlayFiles{IDs: []string{"#TTS[hi]"}},
		}, r.Instructions)
		require.Equal(t, &ConnectSIP{
			Destination: Destination{Type: "sip", Endpoint: "x@y"}, Transport: TransportTCP, MaxDuration: 60,
			CallHeaders: []CallHeader{{Key: "k", Value: "v"}}, MOH: MOHMusic1,
		}, r.Action)
	},
	"ice_node_builder_order": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectConf{
			ConferenceID: "c1", MOH: MOHRing,
			DTMFOptions: ConferenceDTMFOptions{Mode: DTMFIgnore, MaxDigits: 1, TimeoutMills: 3000},
		}, r.Action)
		require.Equal(t, &Say{Text: "Välkommen", Locale: "sv-SE"}, in[*Say](t, r, 0))
		require.Equal(t, []string{"welcome_file", "#ssml[<speak>Hej</speak>]"}, in[*PlayFiles](t, r, 1).IDs)
	},
	"ice_escapes": func(t *testing.T, r *Response) {
		require.Equal(t, "café 😀 \"q\" \\ / \b\f\n\r\t lone\uFFFDx", as[*ConnectConf](t, r).ConferenceID)
		require.Equal(t, "Line1\nLine2 \u2028 <&>", in[*Say](t, r, 0).Text)
	},
	"ice_bom": func(t *testing.T, r *Response) {
		require.Equal(t, &Response{Action: &Hangup{}}, r)
	},
	"ice_integral_numbers": func(t *testing.T, r *Response) {
		require.Equal(t, &ConnectPSTN{Locale: "en-US", MaxDuration: 3600, DialTimeout: 20}, r.Action)
	},
	"any_connect_stream": func(t *testing.T, r *Response) {
		require.Equal(t, Destination{Type: "websocket", Endpoint: "ws://10.0.0.1:8080/audio"}, as[*ConnectStream](t, r).Destination)
		require.Nil(t, as[*ConnectStream](t, r).StreamingOptions)
		require.Len(t, r.Instructions, 2)
	},
}

func TestParseValid(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range files(t, "testdata/valid") {
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/valid", name+".json"))
			require.NoError(t, err)
			ctx := contextOf(t, name)
			r, err := Parse(ctx, data)
			require.NoError(t, err)
			require.NotNil(t, r.Action)

			check, ok := validChecks[name]
			require.True(t, ok, "no entry in validChecks for %s", name)
			check(t, r)

			// The canonical form is stable and parses back to an equal Response.
			out, err := json.Marshal(r)
			require.NoError(t, err)
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, out, "", "  "))
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata/canonical", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			require.Equal(t, string(want), pretty.String())

			again, err := Parse(ctx, out)
			require.NoError(t, err)
			require.Equal(t, r, again)
		})
	}
	for name := range validChecks {
		require.True(t, seen[name], "validChecks has %s but testdata/valid/%s.json does not exist", name, name)
	}
}

func TestParseInvalid(t *testing.T) {
	for _, name := range files(t, "testdata/invalid") {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/invalid", name+".json"))
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join("testdata/invalid", name+".err"))
			require.NoError(t, err)
			r, err := Parse(contextOf(t, name), data)
			require.Nil(t, r)
			require.Error(t, err)
			require.Equal(t, strings.TrimSuffix(string(want), "\n"), err.Error())

			var ve *ValidationError
			require.ErrorAs(t, err, &ve, "every error is or contains a *ValidationError")
			require.True(t, errors.Is(err, ErrSyntax) || errors.Is(err, ErrInvalid) ||
				errors.Is(err, ErrUnknownName) || errors.Is(err, ErrNotAllowed))
			if errors.Is(ve, ErrSyntax) {
				require.GreaterOrEqual(t, ve.Offset, 0)
			} else {
				require.Equal(t, -1, ve.Offset)
			}
		})
	}
}
