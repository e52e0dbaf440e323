package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindUnknown: "unknown", KindICE: "ice", KindACE: "ace", KindPIE: "pie",
		KindDiCE: "dice", KindNotify: "notify", Kind(42): "unknown",
	} {
		require.Equal(t, want, k.String())
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in      string
		want    Kind
		wantErr error
	}{
		{"ice", KindICE, nil},
		{"ICE", KindICE, nil},
		{"Ace", KindACE, nil},
		{"pie", KindPIE, nil},
		{"DiCE", KindDiCE, nil},
		{"dice", KindDiCE, nil},
		{"NOTIFY", KindNotify, nil},
		{"", KindUnknown, ErrMissingEvent},
		{"unknown", KindUnknown, ErrUnknownEvent},
		{"ice ", KindUnknown, ErrUnknownEvent},
		{"callingerror", KindUnknown, ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKind(tt.in)
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseKindBoundsQuotedValue(t *testing.T) {
	_, err := ParseKind(string(bytes.Repeat([]byte("é"), 500)))
	require.ErrorIs(t, err, ErrUnknownEvent)
	require.Less(t, len(err.Error()), 120)
}

func TestTimestamp(t *testing.T) {
	loc := time.FixedZone("CEST", 2*3600)
	in := time.Date(2024, 6, 6, 19, 20, 14, 987654321, loc)
	require.Equal(t, "2024-06-06T17:20:14Z", Timestamp(in))
	require.Equal(t, "2015-08-06T13:55:39Z", Timestamp(time.Date(2015, 8, 6, 13, 55, 39, 0, time.UTC)))
}

// TestDecodeReference decodes every payload of reference §3 and checks that
// re-marshalling yields the same JSON value. The only differences allowed are
// the documented always-present / omitted-when-empty normalisations listed
// per file.
func TestDecodeReference(t *testing.T) {
	tests := []struct {
		file    string
		kind    Kind
		callID  string
		added   map[string]any // keys we add (always-present zero values)
		removed []string       // keys we drop (omitted zero values)
		check   func(t *testing.T, ev Event)
	}{
		{
			file: "ice.json", kind: KindICE, callID: "1ce0ffee-ca11-ca11-ca11-abcdef000053",
			check: func(t *testing.T, ev Event) {
				e := ev.(*ICE)
				require.Equal(t, Destination{Type: "did", Endpoint: "+12017777777"}, e.To)
				require.Equal(t, Money{CurrencyID: "USD"}, e.UserRate)
				require.Equal(t, "PSTN", e.OriginationType)
				require.Equal(t, "12015555555", e.CLI)
			},
		},
		{
			// LEGACY sample: no rdnis (we always write it) and duration 0
			// (we omit a zero ICE duration).
			file: "ice_legacy.json", kind: KindICE, callID: "241b8ab35e0e83814c4e775a66cf50db@193.45.63.102",
			added:   map[string]any{"rdnis": ""},
			removed: []string{"duration"},
			check: func(t *testing.T, ev Event) {
				e := ev.(*ICE)
				require.Equal(t, "2015-08-06T13:55:39Z", e.Timestamp)
				require.Equal(t, 1, e.Version)
				require.Equal(t, "+462010000188", e.To.Endpoint)
			},
		},
		{
			file: "ace.json", kind: KindACE, callID: "a call id",
			check: func(t *testing.T, ev Event) {
				require.Equal(t, &AMD{Status: "human", Reason: "longgreeting", Duration: 15}, ev.(*ACE).AMD)
			},
		},
		{
			file: "pie.json", kind: KindPIE, callID: "a call id",
			check: func(t *testing.T, ev Event) {
				require.Equal(t, MenuResult{MenuID: "confirm", Type: "sequence", Value: "1452", InputMethod: "dtmf"}, ev.(*PIE).MenuResult)
			},
		},
		{
			file: "dice.json", kind: KindDiCE, callID: "a call id",
			check: func(t *testing.T, ev Event) {
				e := ev.(*DiCE)
				require.Equal(t, "private", e.From)
				require.Equal(t, Money{CurrencyID: "EUR", Amount: 0.1758}, e.Debit)
				require.Equal(t, Money{CurrencyID: "USD", Amount: 0.345}, e.UserRate)
				require.Equal(t, "MANAGERHANGUP", e.Reason)
				require.Equal(t, "ANSWERED", e.Result)
				require.Equal(t, 1, e.Duration)
			},
		},
		{
			file: "notify_recording.json", kind: KindNotify, callID: "33dd8e62-0ac6-4e0c-a89f-36d121f861f9",
			check: func(t *testing.T, ev Event) {
				e := ev.(*Notify)
				require.Equal(t, "recording_available", e.Type)
				require.Equal(t, "azure://sinchsdk/voice-recordings/my-recording.mp3", e.Destination)
			},
		},
		{
			file: "notify_transcription.json", kind: KindNotify, callID: "33dd8e62-0ac6-4e0c-a89f-36d121f861f9",
			check: func(t *testing.T, ev Event) {
				require.Equal(t, "transcription_available", ev.(*Notify).Type)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "reference", tt.file))
			require.NoError(t, err)

			ev, err := Decode(data)
			require.NoError(t, err)
			require.Equal(t, tt.kind, ev.Kind())
			require.Equal(t, tt.callID, ev.CallID())
			tt.check(t, ev)

			out, err := json.Marshal(ev)
			require.NoError(t, err)
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, out))
			require.Equal(t, compact.String(), string(out), "compact output expected")

			var want, got map[string]any
			require.NoError(t, json.Unmarshal(data, &want))
			require.NoError(t, json.Unmarshal(out, &got))
			for k, v := range tt.added {
				require.NotContains(t, want, k)
				want[k] = v
			}
			for _, k := range tt.removed {
				require.Contains(t, want, k)
				delete(want, k)
			}
			require.Equal(t, want, got)
		})
	}
}

// goldenEvents are constructed values whose marshalled form must equal
// testdata/golden/<name>.json byte for byte.
var goldenEvents = []struct {
	name string
	ev   Event
}{
	{"ice", ICE{
		ID:              "1ce0ffee-ca11-ca11-ca11-abcdef000053",
		ConferenceID:    "conf-1",
		CallResourceURL: "https://voice.example.com/calling/v1/calls/id/1ce0ffee-ca11-ca11-ca11-abcdef000053",
		Timestamp:       Timestamp(time.Date(2024, 6, 6, 17, 20, 14, 0, time.UTC)),
		Version:         APIVersion,
		Custom:          `{"order":42}`,
		UserRate:        Money{CurrencyID: "USD", Amount: 0.0123},
		CLI:             "12015555555",
		To:              Destination{Type: "did", Endpoint: "+12017777777"},
		Domain:          "pstn",
		ApplicationKey:  "f00dcafe-abba-c0de-1dea-dabb1ed4caf3",
		OriginationType: "PSTN",
		RDNIS:           "",
		CallHeaders:     []KeyValue{{Key: "X-Agent", Value: "7"}},
		Cookies:         []KeyValue{{Key: "lang", Value: "sv"}},
	}},
	{"ace", ACE{
		ID:             "a call id",
		Timestamp:      "2024-01-19T12:49:53Z",
		Version:        APIVersion,
		Custom:         "my custom value",
		ApplicationKey: "my application key",
		AMD:            &AMD{Status: "human", Reason: "longgreeting", Duration: 15},
		Cookies:        []KeyValue{{Key: "step", Value: "2"}},
	}},
	{"pie", PIE{
		ID:             "a call id",
		ConferenceID:   "conf-9",
		Timestamp:      "2024-01-23T15:04:28Z",
		Version:        APIVersion,
		ApplicationKey: "my application key",
		MenuResult: MenuResult{
			MenuID: "confirm", Type: "return", Value: "yes", InputMethod: "dtmf",
			AddToContext: []KeyValue{{Key: "choice", Value: "yes"}},
		},
	}},
	{"pie_timeout", PIE{
		ID:             "a call id",
		Timestamp:      "2024-01-23T15:04:28Z",
		Version:        APIVersion,
		ApplicationKey: "my application key",
		MenuResult:     MenuResult{MenuID: "main", Type: "timeout", InputMethod: "dtmf"},
	}},
	{"dice", DiCE{
		ID:             "a call id",
		Timestamp:      "2024-01-19T12:49:53Z",
		Version:        APIVersion,
		Custom:         "my custom value",
		ApplicationKey: "an app key",
		Reason:         "CALLERHANGUP",
		Result:         "ANSWERED",
		Debit:          Money{CurrencyID: "EUR", Amount: 0.1758},
		UserRate:       Money{CurrencyID: "EUR", Amount: 0.345},
		To:             Destination{Type: "number", Endpoint: "+46701234567"},
		Duration:       31,
		From:           "private",
		CallHeaders:    []KeyValue{{Key: "X-Agent", Value: "7"}},
		Cookies:        []KeyValue{{Key: "lang", Value: "sv"}, {Key: "step", Value: "3"}},
	}},
	{"notify_recording", Notify{
		ID:          "33dd8e62-0ac6-4e0c-a89f-36d121f861f9",
		Version:     APIVersion,
		Type:        "recording_available",
		Destination: "https://voice.example.com/recordings/33dd8e62.mp3",
	}},
	{"notify_amd", Notify{
		ID:      "33dd8e62-0ac6-4e0c-a89f-36d121f861f9",
		Version: APIVersion,
		Type:    "amd",
		AMD:     &AMD{Status: "machine", Reason: "beep", Duration: 3},
	}},
	{"notify_callingerror", Notify{
		ID:        "33dd8e62-0ac6-4e0c-a89f-36d121f861f9",
		Version:   APIVersion,
		Type:      "callingerror",
		Custom:    "my custom value",
		ErrorCode: 40003,
		ErrorMsg:  "Invalid SVAML",
		User:      "alice",
	}},
}

func TestMarshalGolden(t *testing.T) {
	for _, g := range goldenEvents {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", g.name+".json")
			out, err := json.Marshal(g.ev)
			require.NoError(t, err)
			out = append(out, '\n')
			if *update {
				require.NoError(t, os.WriteFile(path, out, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), string(out))

			// Pointers marshal identically to values.
			ptr, err := json.Marshal(pointerTo(g.ev))
			require.NoError(t, err)
			require.Equal(t, string(want), string(ptr)+"\n")

			// And the golden decodes back to the constructed value.
			back, err := Decode(want)
			require.NoError(t, err)
			require.Equal(t, pointerTo(g.ev), back)
		})
	}
}

func pointerTo(ev Event) Event {
	switch e := ev.(type) {
	case ICE:
		return &e
	case ACE:
		return &e
	case PIE:
		return &e
	case DiCE:
		return &e
	case Notify:
		return &e
	}
	panic("unexpected event type")
}

// TestAlwaysPresentFields pins the omitempty choices: a zero value of each
// type must emit exactly these keys.
func TestAlwaysPresentFields(t *testing.T) {
	tests := []struct {
		ev   Event
		keys []string
	}{
		{ICE{}, []string{"event", "callid", "timestamp", "version", "userRate", "cli", "to", "domain", "applicationKey", "originationType", "rdnis"}},
		{ACE{}, []string{"event", "callid", "timestamp", "version", "applicationKey"}},
		{PIE{}, []string{"event", "callid", "timestamp", "version", "applicationKey", "menuResult"}},
		{DiCE{}, []string{"event", "callid", "timestamp", "version", "applicationKey", "reason", "result", "debit", "userRate", "to", "duration", "from"}},
		{Notify{}, []string{"event", "callid", "version", "type"}},
	}
	for _, tt := range tests {
		t.Run(tt.ev.Kind().String(), func(t *testing.T) {
			out, err := json.Marshal(tt.ev)
			require.NoError(t, err)
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(out, &m))
			got := make([]string, 0, len(m))
			for k := range m {
				got = append(got, k)
			}
			sort.Strings(got)
			want := append([]string(nil), tt.keys...)
			sort.Strings(want)
			require.Equal(t, want, got)
			require.JSONEq(t, `"`+tt.ev.Kind().String()+`"`, string(m["event"]))
		})
	}
	out, err := json.Marshal(PIE{})
	require.NoError(t, err)
	require.Contains(t, string(out), `"menuResult":{"menuId":"","type":"","value":"","inputMethod":""}`)
}

func TestDecodeEventField(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		kind    Kind
		wantErr error
		errText string
	}{
		{name: "upper case event", body: `{"event":"ICE","callid":"c1"}`, kind: KindICE},
		{name: "mixed case event", body: `{"event":"DiCE","callid":"c1","from":"123"}`, kind: KindDiCE},
		{name: "callId spelling of SKILL", body: `{"event":"ace","callId":"c1"}`, kind: KindACE},
		{name: "unknown fields ignored", body: `{"event":"notify","callid":"c1","delayed":true,"reference":"r"}`, kind: KindNotify},
		{name: "missing event", body: `{"callid":"c1"}`, wantErr: ErrMissingEvent},
		{name: "null event", body: `{"event":null,"callid":"c1"}`, wantErr: ErrMissingEvent},
		{name: "empty event", body: `{"event":"","callid":"c1"}`, wantErr: ErrMissingEvent},
		{name: "unknown event", body: `{"event":"xyz","callid":"c1"}`, wantErr: ErrUnknownEvent, errText: `"xyz"`},
		{name: "event not a string", body: `{"event":1}`, errText: "decode event"},
		{name: "not an object", body: `[1,2]`, errText: "decode event"},
		{name: "invalid json", body: `{"event":"ice"`, errText: "decode event"},
		{name: "empty body", body: ``, errText: "decode event"},
		{name: "dice from as object", body: `{"event":"dice","from":{"type":"number","endpoint":"1"}}`, errText: "decode dice event"},
		{name: "version as string", body: `{"event":"ace","version":"1"}`, errText: "decode ace event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.body))
			if tt.wantErr == nil && tt.errText == "" {
				require.NoError(t, err)
				require.Equal(t, tt.kind, ev.Kind())
				require.Equal(t, "c1", ev.CallID())
				return
			}
			require.Error(t, err)
			require.Nil(t, ev)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			if tt.errText != "" {
				require.Contains(t, err.Error(), tt.errText)
			}
		})
	}
}

func TestEventInterface(t *testing.T) {
	for _, ev := range []Event{
		ICE{ID: "i"}, &ICE{ID: "i"}, ACE{ID: "i"}, &ACE{ID: "i"}, PIE{ID: "i"}, &PIE{ID: "i"},
		DiCE{ID: "i"}, &DiCE{ID: "i"}, Notify{ID: "i"}, &Notify{ID: "i"},
	} {
		require.Equal(t, "i", ev.CallID())
		require.NotEqual(t, KindUnknown, ev.Kind())
	}
}
