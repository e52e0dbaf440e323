package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/store/memstore"
	"github.com/callcore/callcore/svaml"
)

// fakeCalls records what the API asked of the call core.
type fakeCalls struct {
	callouts []call.Callout
	updates  []string
	calls    map[string]*call.Snapshot
	err      error
}

func (f *fakeCalls) Callout(_ context.Context, o call.Callout) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.callouts = append(f.callouts, o)
	return "c0ffee00-0000-4000-8000-000000000001", nil
}

func (f *fakeCalls) Get(_ context.Context, id string) (*call.Snapshot, error) {
	s, ok := f.calls[id]
	if !ok {
		return nil, call.ErrCallNotFound
	}
	return s, nil
}

func (f *fakeCalls) UpdateCall(_ context.Context, s *call.Snapshot, leg string, doc []byte) error {
	if _, err := svaml.Parse(svaml.ContextPatchCall, doc); err != nil {
		return err
	}
	f.updates = append(f.updates, s.ID+"/"+leg)
	return f.err
}

func newCallsFixture(t *testing.T) (*fixture, *fakeCalls) {
	t.Helper()
	fc := &fakeCalls{calls: map[string]*call.Snapshot{}}
	secrets := map[string]string{keyA: secretA, keyB: secretB}
	s, err := New(Options{
		Store: memstore.New(),
		Verifier: &events.Verifier{Lookup: func(k string) (string, bool) {
			v, ok := secrets[k]
			return v, ok
		}},
		Registerer: prometheus.NewRegistry(),
		Calls:      fc,
	})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, http: hs}, fc
}

func TestTTSCallout(t *testing.T) {
	f, fc := newCallsFixture(t)
	r := f.do("POST", "/calling/v1/callouts", `{"method":"ttsCallout","ttsCallout":{
		"cli":"+14045001000","destination":{"type":"number","endpoint":"+1 404 500 5000"},"dtmf":"w123#",
		"domain":"pstn","custom":"my custom value","locale":"en-US","text":"text value",
		"prompts":"#tts[Hello];#href[https://example.com/a.wav]","enableAce":true,"enableDice":true,"enablePie":true}}`, keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"callId":"c0ffee00-0000-4000-8000-000000000001"}`, string(r.body))
	require.Len(t, fc.callouts, 1)
	o := fc.callouts[0]
	require.Equal(t, keyA, o.AppKey)
	require.Equal(t, call.MethodTTS, o.Method)
	require.Equal(t, &events.Destination{Type: "number", Endpoint: "+14045005000"}, o.Destination)
	require.Equal(t, "+14045001000", o.CLI)
	require.Equal(t, "w123#", o.DTMF)
	require.Len(t, o.Prompts, 2)
	require.True(t, o.EnableACE && o.EnableDiCE && o.EnablePIE)
	require.Equal(t, "my custom value", o.Custom)
}

func TestCustomCallout(t *testing.T) {
	f, fc := newCallsFixture(t)
	r := f.do("POST", "/calling/v1/callouts", `{"method":"customCallout","customCallout":{
		"cli":"+14045001000","destination":{"type":"number","endpoint":"+14045005000"},"dtmf":"w123#",
		"custom":"my custom value","maxDuration":32,
		"ice":"{\"action\":{\"name\":\"connectPstn\",\"number\":\"+12233445566\",\"cli\":\"+12234325234\",\"amd\":{\"enabled\":true}}}",
		"ace":"{\"instructions\":[{\"name\":\"say\",\"text\":\"Hello, this is a call from Sinch!\"}],\"action\":{\"name\":\"hangup\"}}",
		"pie":"https://your-application-server-host/application"}}`, keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	o := fc.callouts[0]
	require.Equal(t, call.MethodCustom, o.Method)
	require.Equal(t, 32*time.Second, o.MaxDuration)
	require.NotNil(t, o.ICE.Doc)
	require.Equal(t, "connectPstn", o.ICE.Doc.Action.ActionName())
	require.NotNil(t, o.ACE.Doc)
	require.Equal(t, "https://your-application-server-host/application", o.PIE.URL)
}

func TestCalloutBadInput(t *testing.T) {
	f, fc := newCallsFixture(t)
	cases := []struct{ body, msg string }{
		{`{"method":"ttsCallout"}`, "ttsCallout: required"},
		{`{"ttsCallout":{}}`, "method: required"},
		{`{"method":"faxCallout"}`, "unknown callout method"},
		{`{"method":"ttsCallout","ttsCallout":{"text":"hi"}}`, "ttsCallout.destination: required"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"banana"},"text":"hi"}}`, "ttsCallout.destination.endpoint"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"fax","endpoint":"1"},"text":"hi"}}`, "ttsCallout.destination.type"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"sip","endpoint":"nohost"},"text":"hi"}}`, "not a SIP address"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"+14045005000"}}}`, "text or prompts is required"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"text":"hi","dtmf":"12x"}}`, "ttsCallout.dtmf"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"prompts":"#tts[unterminated"}}`, "ttsCallout.prompts"},
		{`{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"text":"x","cli":"me"}}`, "ttsCallout.cli"},
		{`{"method":"customCallout","customCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"ice":"{\"action\":{\"name\":\"continue\"}}"}}`, "customCallout.ice: invalid SVAML"},
		{`{"method":"customCallout","customCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"ace":"ftp://x"}}`, "customCallout.ace"},
		{`{"method":"customCallout","customCallout":{"maxDuration":99999,"ice":"https://a.example/ice"}}`, "maxDuration"},
		{`{"method":"customCallout","customCallout":{}}`, "destination is required unless ice"},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			requireError(t, f.do("POST", "/calling/v1/callouts", c.body, keyA, secretA), http.StatusBadRequest, c.msg)
		})
	}
	require.Empty(t, fc.callouts, "nothing is started for a bad request")
	requireError(t, f.do("POST", "/calling/v1/callouts", `{"method":"conferenceCallout","conferenceCallout":{}}`, keyA, secretA),
		http.StatusBadRequest, "conferenceCallout.destination: required")
	fc.err = call.ErrDraining
	requireError(t, f.do("POST", "/calling/v1/callouts", `{"method":"ttsCallout","ttsCallout":{"destination":{"type":"number","endpoint":"+14045005000"},"text":"hi"}}`, keyA, secretA),
		http.StatusServiceUnavailable, "draining")
}

func TestGetAndUpdateCall(t *testing.T) {
	f, fc := newCallsFixture(t)
	started := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	fc.calls["c1"] = &call.Snapshot{ID: "c1", AppKey: keyA, State: call.StateEnded, Direction: call.DirectionInbound,
		From: events.Destination{Type: "number", Endpoint: "+46701111111"}, To: events.Destination{Type: "did", Endpoint: "+46701234567"},
		Domain: "pstn", Result: "ANSWERED", Reason: "CALLERHANGUP", Currency: "EUR", Custom: "x",
		StartedAt: started, AnsweredAt: started.Add(2 * time.Second), EndedAt: started.Add(140 * time.Second)}
	r := f.do("GET", "/calling/v1/calls/id/c1", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"from":{"type":"number","endpoint":"+46701111111"},"to":{"type":"did","endpoint":"+46701234567"},
		"domain":"pstn","callId":"c1","duration":138,"status":"FINAL","result":"ANSWERED","reason":"CALLERHANGUP",
		"timestamp":"2026-11-21T09:00:00.000Z","custom":"x","userRate":{"currencyId":"EUR","amount":0},"debit":{"currencyId":"EUR","amount":0}}`, string(r.body))

	requireError(t, f.do("GET", "/calling/v1/calls/id/c1", "", keyB, secretB), http.StatusNotFound, "Call not found")
	requireError(t, f.do("GET", "/calling/v1/calls/id/nope", "", keyA, secretA), http.StatusNotFound, "Call not found")

	r = f.do("PATCH", "/calling/v1/calls/id/c1", `{"instructions":[{"name":"say","text":"bye"}],"action":{"name":"hangup"}}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = f.do("PATCH", "/calling/v1/calls/id/c1/leg/Callee", `{"instructions":[{"name":"playFiles","ids":["#tts[hi]"]}],"action":{"name":"continue"}}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, []string{"c1/", "c1/callee"}, fc.updates)

	requireError(t, f.do("PATCH", "/calling/v1/calls/id/c1", `{"action":{"name":"connectPstn","number":"+1"}}`, keyA, secretA),
		http.StatusBadRequest, "invalid SVAML")
	requireError(t, f.do("PATCH", "/calling/v1/calls/id/c1", `{"action":`, keyA, secretA), http.StatusBadRequest, "invalid SVAML")
	fc.err = call.ErrCallEnded
	requireError(t, f.do("PATCH", "/calling/v1/calls/id/c1", `{"action":{"name":"hangup"}}`, keyA, secretA), http.StatusConflict, "ended")
}
