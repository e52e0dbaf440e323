package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/store/memstore"
	"github.com/callcore/callcore/svaml"
)

// fakeConferences records what the API asked of the conference service.
// rooms maps appKey/conferenceID to its participants; a room that is not
// there is ErrConferenceNotFound, a call not in its room
// ErrParticipantNotFound. err, when set, is returned by every method.
type fakeConferences struct {
	mu    sync.Mutex
	rooms map[string][]ConferenceParticipant
	ops   []string
	err   error
}

func (f *fakeConferences) room(appKey, id string) ([]ConferenceParticipant, error) {
	if f.err != nil {
		return nil, f.err
	}
	ps, ok := f.rooms[appKey+"/"+id]
	if !ok {
		return nil, fmt.Errorf("room %q: %w", id, call.ErrConferenceNotFound)
	}
	return ps, nil
}

func (f *fakeConferences) participant(appKey, id, callID string) error {
	ps, err := f.room(appKey, id)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ID == callID {
			return nil
		}
	}
	return fmt.Errorf("call %q: %w", callID, call.ErrParticipantNotFound)
}

func (f *fakeConferences) record(op string) {
	f.ops = append(f.ops, op)
}

func (f *fakeConferences) Participants(_ context.Context, appKey, id string) ([]ConferenceParticipant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("participants " + appKey + " " + id)
	return f.room(appKey, id)
}

func (f *fakeConferences) KickAll(_ context.Context, appKey, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("kickall " + appKey + " " + id)
	_, err := f.room(appKey, id)
	return err
}

func (f *fakeConferences) Manage(_ context.Context, appKey, id, callID, command, moh string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(fmt.Sprintf("manage %s %s %s %s moh=%s", appKey, id, callID, command, moh))
	return f.participant(appKey, id, callID)
}

func (f *fakeConferences) Kick(_ context.Context, appKey, id, callID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("kick " + appKey + " " + id + " " + callID)
	return f.participant(appKey, id, callID)
}

func (f *fakeConferences) takeOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

func newConferencesServer(t testing.TB, conf Conferences, calls Calls) *Server {
	t.Helper()
	secrets := map[string]string{keyA: secretA, keyB: secretB}
	s, err := New(Options{
		Store: memstore.New(),
		Verifier: &events.Verifier{Lookup: func(k string) (string, bool) {
			v, ok := secrets[k]
			return v, ok
		}},
		Registerer:  prometheus.NewRegistry(),
		Calls:       calls,
		Conferences: conf,
		MaxTTSChars: 40,
	})
	require.NoError(t, err)
	return s
}

// newConferencesFixture serves an API with a fake conference service and
// a fake call core. keyA has the room "MyConfId" with two participants
// and the empty room "empty"; keyB has its own "MyConfId", empty.
func newConferencesFixture(t *testing.T) (*fixture, *fakeConferences, *fakeCalls) {
	t.Helper()
	fconf := &fakeConferences{rooms: map[string][]ConferenceParticipant{
		keyA + "/MyConfId": {
			{CLI: "+12015555555", ID: "1ce0ffee-ca11-ca11-ca11-abcdef000012", Duration: 35, Muted: true, OnHold: true},
			{CLI: "+12015555556", ID: "1ce0ffee-ca11-ca11-ca11-abcdef000022", Duration: 6},
		},
		keyA + "/empty":    nil,
		keyB + "/MyConfId": {},
	}}
	fc := &fakeCalls{calls: map[string]*call.Snapshot{}}
	s := newConferencesServer(t, fconf, fc)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, http: hs}, fconf, fc
}

const (
	confPath = "/calling/v1/conferences/id/MyConfId"
	member1  = "1ce0ffee-ca11-ca11-ca11-abcdef000012"
)

func TestGetConference(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	r := f.do("GET", confPath, "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "application/json", strings.Split(r.header.Get("Content-Type"), ";")[0])
	// Exactly the keys of ParticipantDetails (reference §2.6), false kept.
	require.JSONEq(t, `{"participants":[
		{"cli":"+12015555555","id":"1ce0ffee-ca11-ca11-ca11-abcdef000012","duration":35,"muted":true,"onhold":true},
		{"cli":"+12015555556","id":"1ce0ffee-ca11-ca11-ca11-abcdef000022","duration":6,"muted":false,"onhold":false}]}`, string(r.body))
	require.Equal(t, []string{"participants " + keyA + " MyConfId"}, fconf.takeOps())

	// An empty room (nil or empty slice) is an empty array, never null.
	r = f.do("GET", "/calling/v1/conferences/id/empty", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"participants":[]}`, string(r.body))
	r = f.do("GET", confPath, "", keyB, secretB)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"participants":[]}`, string(r.body), "keyB has its own room of that name")

	requireError(t, f.do("GET", "/calling/v1/conferences/id/nope", "", keyA, secretA), http.StatusNotFound, "Conference not found")
}

func TestConferenceIDIsDecodedAndScopedToTheApp(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	for _, tc := range []struct{ path, id string }{
		{"my%20room", "my room"},
		{"a%2Fb", "a/b"},
		{"100%25", "100%"},
		{"r%C3%A4ksm%C3%B6rg%C3%A5s", "räksmörgås"},
		{url.PathEscape(strings.Repeat("å", 64)), strings.Repeat("å", 64)},
	} {
		fconf.mu.Lock()
		fconf.rooms[keyA+"/"+tc.id] = []ConferenceParticipant{}
		fconf.mu.Unlock()
		r := f.do("GET", "/calling/v1/conferences/id/"+tc.path, "", keyA, secretA)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", tc.path, r.body)
		require.Equal(t, []string{"participants " + keyA + " " + tc.id}, fconf.takeOps())
	}
	requireError(t, f.do("GET", "/calling/v1/conferences/id/my%20room", "", keyB, secretB), http.StatusNotFound, "Conference not found")
}

func TestConferenceIDBadInput(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	for _, tc := range []struct{ path, msg string }{
		{url.PathEscape(strings.Repeat("å", 65)), "65 characters, over the limit of 64"},
		{strings.Repeat("x", 65), "over the limit of 64"},
		{"%FF%FE", "not valid UTF-8"},
	} {
		for _, method := range []string{"GET", "DELETE"} {
			requireError(t, f.do(method, "/calling/v1/conferences/id/"+tc.path, "", keyA, secretA), http.StatusBadRequest, tc.msg)
		}
		requireError(t, f.do("PATCH", "/calling/v1/conferences/id/"+tc.path+"/"+member1, `{"command":"mute"}`, keyA, secretA),
			http.StatusBadRequest, tc.msg)
		requireError(t, f.do("DELETE", "/calling/v1/conferences/id/"+tc.path+"/"+member1, "", keyA, secretA),
			http.StatusBadRequest, tc.msg)
	}
	// An empty id: no route for the room (echo matches no empty last
	// segment), a 400 for a participant.
	requireError(t, f.do("GET", "/calling/v1/conferences/id/", "", keyA, secretA), http.StatusNotFound, "no such route")
	requireError(t, f.do("PATCH", "/calling/v1/conferences/id//"+member1, `{"command":"mute"}`, keyA, secretA),
		http.StatusBadRequest, "conferenceId: required")
	requireError(t, f.do("DELETE", "/calling/v1/conferences/id//"+member1, "", keyA, secretA),
		http.StatusBadRequest, "conferenceId: required")
	require.Empty(t, fconf.takeOps(), "nothing reaches the service for a bad id")

	// An empty callId is no route either.
	requireError(t, f.do("PATCH", confPath+"/", `{"command":"mute"}`, keyA, secretA), http.StatusNotFound, "no such route")
	requireError(t, f.do("DELETE", confPath+"/", "", keyA, secretA), http.StatusNotFound, "no such route")
	require.Empty(t, fconf.takeOps())
}

func TestKickAll(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	// The Node SDK sends Content-Type application/json and no body.
	r := f.do("DELETE", confPath, "", keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Empty(t, r.body)
	// A body, if one is sent, is ignored.
	r = f.do("DELETE", confPath, `{}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, []string{"kickall " + keyA + " MyConfId", "kickall " + keyA + " MyConfId"}, fconf.takeOps())
	requireError(t, f.do("DELETE", "/calling/v1/conferences/id/nope", "", keyA, secretA), http.StatusNotFound, "Conference not found")
}

func TestKickParticipant(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	r := f.do("DELETE", confPath+"/"+member1, "", keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Empty(t, r.body)
	require.Equal(t, []string{"kick " + keyA + " MyConfId " + member1}, fconf.takeOps())

	requireError(t, f.do("DELETE", confPath+"/c0ffee00-0000-4000-8000-000000000009", "", keyA, secretA),
		http.StatusNotFound, "Participant not found")
	requireError(t, f.do("DELETE", "/calling/v1/conferences/id/nope/"+member1, "", keyA, secretA),
		http.StatusNotFound, "Conference not found")
	requireError(t, f.do("DELETE", confPath+"/"+member1, "", keyB, secretB), http.StatusNotFound, "Participant not found")
}

func TestManageParticipant(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	for _, tc := range []struct{ body, want string }{
		{`{"command":"mute"}`, "mute moh="},
		{`{"command":"unmute"}`, "unmute moh="},
		{`{"command":"onhold","moh":"music1"}`, "onhold moh=music1"},
		{`{"command":"OnHold","moh":"RING"}`, "onhold moh=ring"},
		{`{"command":"onhold"}`, "onhold moh="},
		{`{"command":"onhold","moh":null}`, "onhold moh="},
		{`{"command":"resume"}`, "resume moh="},
		// moh means something only with onhold: accepted and ignored.
		{`{"command":"MUTE","moh":"music2"}`, "mute moh="},
		{`{"command":"resume","moh":"music3","extra":1}`, "resume moh="},
	} {
		r := f.do("PATCH", confPath+"/"+member1, tc.body, keyA, secretA)
		require.Equal(t, http.StatusNoContent, r.status, "%s: %s", tc.body, r.body)
		require.Empty(t, r.body)
		require.Equal(t, []string{"manage " + keyA + " MyConfId " + member1 + " " + tc.want}, fconf.takeOps(), tc.body)
	}
	requireError(t, f.do("PATCH", confPath+"/c0ffee00-0000-4000-8000-000000000009", `{"command":"mute"}`, keyA, secretA),
		http.StatusNotFound, "Participant not found")
	requireError(t, f.do("PATCH", "/calling/v1/conferences/id/nope/"+member1, `{"command":"mute"}`, keyA, secretA),
		http.StatusNotFound, "Conference not found")
}

func TestManageParticipantBadInput(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	for _, tc := range []struct{ body, msg string }{
		{``, "body is empty"},
		{`{"command":`, "malformed JSON"},
		{`[]`, "expected"},
		{`{}`, "command: required"},
		{`{"command":""}`, "command: required"},
		{`{"command":"deafen"}`, `command: unknown value "deafen"`},
		{`{"command":1}`, `field "command"`},
		{`{"command":"onhold","moh":"jazz"}`, `moh: unknown value "jazz"`},
		{`{"command":"mute","moh":"jazz"}`, `moh: unknown value "jazz"`},
		{`{"command":"onhold","moh":2}`, `field "moh"`},
	} {
		requireError(t, f.do("PATCH", confPath+"/"+member1, tc.body, keyA, secretA), http.StatusBadRequest, tc.msg)
	}
	require.Empty(t, fconf.takeOps(), "nothing reaches the service for a bad body")
}

func TestConferenceServiceErrors(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	requests := [][3]string{
		{"GET", confPath, ""},
		{"DELETE", confPath, ""},
		{"PATCH", confPath + "/" + member1, `{"command":"mute"}`},
		{"DELETE", confPath + "/" + member1, ""},
	}
	for _, tc := range []struct {
		err        error
		status     int
		msg        string
		retryAfter string
	}{
		{fmt.Errorf("forwarding: %w", call.ErrOwnerUnreachable), http.StatusGatewayTimeout, "did not answer", ""},
		{fmt.Errorf("room record: %w", call.ErrUnavailable), http.StatusServiceUnavailable, "store is unreachable", "5"},
		{errors.New("boom"), http.StatusInternalServerError, "internal error", ""},
	} {
		fconf.mu.Lock()
		fconf.err = tc.err
		fconf.mu.Unlock()
		for _, rq := range requests {
			r := f.do(rq[0], rq[1], rq[2], keyA, secretA)
			requireError(t, r, tc.status, tc.msg)
			require.Equal(t, tc.retryAfter, r.header.Get("Retry-After"), "%s %s", rq[0], rq[1])
		}
	}
}

func TestConferenceRoutesNeedAuth(t *testing.T) {
	f, fconf, _ := newConferencesFixture(t)
	for _, rq := range [][3]string{
		{"GET", confPath, ""},
		{"DELETE", confPath, ""},
		{"PATCH", confPath + "/" + member1, `{"command":"mute"}`},
		{"DELETE", confPath + "/" + member1, ""},
	} {
		requireError(t, f.do(rq[0], rq[1], rq[2], "", ""), http.StatusUnauthorized, "unauthorized")
		requireError(t, f.do(rq[0], rq[1], rq[2], keyA, secretB), http.StatusUnauthorized, "unauthorized")
	}
	require.Empty(t, fconf.takeOps())

	// Basic authentication works as on every route.
	req, err := http.NewRequest("GET", f.http.URL+confPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(keyA+":"+secretA)))
	require.Equal(t, http.StatusOK, f.send(req).status)
}

func TestConferenceRoutes501WithoutService(t *testing.T) {
	f, _ := newCallsFixture(t)
	requireError(t, f.do("GET", confPath, "", keyA, secretA), http.StatusNotImplemented, "conference information")
	requireError(t, f.do("DELETE", confPath, "", keyA, secretA), http.StatusNotImplemented, "conference kick-all")
	requireError(t, f.do("PATCH", confPath+"/"+member1, `{"command":"mute"}`, keyA, secretA), http.StatusNotImplemented, "participant management")
	requireError(t, f.do("DELETE", confPath+"/"+member1, "", keyA, secretA), http.StatusNotImplemented, "participant kick")
}

// The §2.2 example (Java fixture CalloutRequestConferenceDto.json).
const conferenceCalloutExample = `{
  "method": "conferenceCallout",
  "conferenceCallout": {
    "cli": "+14045001000",
    "destination": { "type": "number", "endpoint": "+14045005000" },
    "locale": "en-US",
    "greeting": "Welcome to my conference",
    "conferenceId": "MyConfId",
    "conferenceDtmfOptions": { "mode": "detect", "maxDigits": 3, "timeoutMills": 456 },
    "dtmf": "w123#",
    "maxDuration": 32,
    "enableAce": true,
    "enableDice": true,
    "enablePie": true,
    "mohClass": "music2",
    "custom": "my custom value",
    "domain": "pstn"
  }
}`

func TestConferenceCallout(t *testing.T) {
	f, _, fc := newConferencesFixture(t)
	r := f.do("POST", "/calling/v1/callouts", conferenceCalloutExample, keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"callId":"c0ffee00-0000-4000-8000-000000000001"}`, string(r.body))
	require.Len(t, fc.callouts, 1)
	require.Equal(t, call.Callout{
		AppKey:      keyA,
		Method:      call.MethodConf,
		Destination: &events.Destination{Type: "number", Endpoint: "+14045005000"},
		CLI:         "+14045001000",
		DTMF:        "w123#",
		Custom:      "my custom value",
		Domain:      "pstn",
		Locale:      "en-US",
		EnableACE:   true,
		EnableDiCE:  true,
		EnablePIE:   true,
		MaxDuration: 32 * time.Second,
		Conference: &svaml.ConnectConf{
			ConferenceID: "MyConfId",
			DTMFOptions:  svaml.ConferenceDTMFOptions{Mode: svaml.DTMFDetect, MaxDigits: 3, TimeoutMills: 456},
			MOH:          svaml.MOHMusic2,
		},
		Greeting: "Welcome to my conference",
	}, fc.callouts[0])
}

func TestConferenceCalloutDefaultsAndSpellings(t *testing.T) {
	f, _, fc := newConferencesFixture(t)
	for _, tc := range []struct {
		name, body string
		want       svaml.ConnectConf
		check      func(t *testing.T, o call.Callout)
	}{
		{
			name: "minimal: dtmf options default to ignore, 1, 3000 and moh to silence",
			body: `{"destination":{"type":"number","endpoint":"+14045005000"},"conferenceId":"r"}`,
			want: svaml.ConnectConf{ConferenceID: "r", DTMFOptions: svaml.ConferenceDTMFOptions{Mode: svaml.DTMFIgnore, MaxDigits: 1, TimeoutMills: 3000}},
			check: func(t *testing.T, o call.Callout) {
				require.Zero(t, o.MaxDuration)
				require.Empty(t, o.Greeting)
				require.False(t, o.EnableACE || o.EnableDiCE || o.EnablePIE)
			},
		},
		{
			name: "docs misspelling timoutMills, mode and moh in any case, null options",
			body: `{"destination":{"type":"sip","endpoint":"sip:alice@pbx.example.com"},"conferenceId":"räksmörgås",
				"conferenceDtmfOptions":{"mode":"FORWARD","timoutMills":900},"mohClass":"Ring"}`,
			want: svaml.ConnectConf{ConferenceID: "räksmörgås", DTMFOptions: svaml.ConferenceDTMFOptions{Mode: svaml.DTMFForward, MaxDigits: 1, TimeoutMills: 900}, MOH: svaml.MOHRing},
			check: func(t *testing.T, o call.Callout) {
				require.Equal(t, &events.Destination{Type: "sip", Endpoint: "alice@pbx.example.com"}, o.Destination)
			},
		},
		{
			name: "Python v1's stray conference field and other unknown fields are ignored",
			body: `{"destination":{"type":"username","endpoint":"alice"},"conferenceId":"` + strings.Repeat("å", 64) + `",
				"conference":"MyConfId","conferenceDtmfOptions":null,"mohClass":null,"unknown":{"x":[1]}}`,
			want: svaml.ConnectConf{ConferenceID: strings.Repeat("å", 64), DTMFOptions: svaml.ConferenceDTMFOptions{Mode: svaml.DTMFIgnore, MaxDigits: 1, TimeoutMills: 3000}},
		},
		{
			name: "greeting at the TTS limit",
			body: `{"destination":{"type":"number","endpoint":"+14045005000"},"conferenceId":"r","greeting":"` + strings.Repeat("é", 40) + `"}`,
			want: svaml.ConnectConf{ConferenceID: "r", DTMFOptions: svaml.ConferenceDTMFOptions{Mode: svaml.DTMFIgnore, MaxDigits: 1, TimeoutMills: 3000}},
			check: func(t *testing.T, o call.Callout) {
				require.Equal(t, strings.Repeat("é", 40), o.Greeting)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc.callouts = nil
			r := f.do("POST", "/calling/v1/callouts", `{"method":"ConferenceCallout","conferenceCallout":`+tc.body+`}`, keyA, secretA)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			require.Len(t, fc.callouts, 1)
			o := fc.callouts[0]
			require.Equal(t, call.MethodConf, o.Method)
			require.Equal(t, keyA, o.AppKey)
			require.Equal(t, &tc.want, o.Conference)
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

func TestConferenceCalloutBadInput(t *testing.T) {
	f, _, fc := newConferencesFixture(t)
	const dst = `"destination":{"type":"number","endpoint":"+14045005000"}`
	for _, tc := range []struct{ body, msg string }{
		{`{"method":"conferenceCallout"}`, "conferenceCallout: required"},
		{`{"method":"conferenceCallout","conferenceCallout":null}`, "conferenceCallout: required"},
		{`{"method":"conferenceCallout","conferenceCallout":[]}`, "conferenceCallout: json"},
		{`{"method":"conferenceCallout","conferenceCallout":{"conferenceId":"r"}}`, "conferenceCallout.destination: required"},
		{`{"method":"conferenceCallout","conferenceCallout":{"destination":{"type":"number","endpoint":"banana"},"conferenceId":"r"}}`, "conferenceCallout.destination.endpoint"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `}}`, "conferenceCallout.conferenceId: required"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":null}}`, "conferenceCallout.conferenceId: required"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":""}}`, "conferenceCallout.conferenceId: must not be empty"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"` + strings.Repeat("å", 65) + `"}}`, "conferenceCallout.conferenceId: has 65 characters"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":7}}`, "conferenceCallout.conferenceId: expected a string"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","mohClass":"jazz"}}`, `conferenceCallout.mohClass: unknown value "jazz"`},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","conferenceDtmfOptions":{"mode":"loud"}}}`, `conferenceCallout.conferenceDtmfOptions.mode: unknown value "loud"`},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","conferenceDtmfOptions":{"maxDigits":-1}}}`, "conferenceCallout.conferenceDtmfOptions.maxDigits"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","conferenceDtmfOptions":{"maxDigits":"3"}}}`, "conferenceCallout.conferenceDtmfOptions.maxDigits"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","conferenceDtmfOptions":{"timoutMills":1.5}}}`, "conferenceCallout.conferenceDtmfOptions.timeoutMills"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","conferenceDtmfOptions":"detect"}}`, "conferenceCallout.conferenceDtmfOptions: expected an object"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"","mohClass":"jazz"}}`, `conferenceId: must not be empty; conferenceCallout.mohClass`},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","maxDuration":-1}}`, "conferenceCallout.maxDuration"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","maxDuration":99999}}`, "conferenceCallout.maxDuration"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","greeting":"` + strings.Repeat("é", 41) + `"}}`, "conferenceCallout.greeting: 41 characters, over the limit of 40"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","dtmf":"12x"}}`, "conferenceCallout.dtmf"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","cli":"me"}}`, "conferenceCallout.cli"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","domain":"fax"}}`, "conferenceCallout.domain"},
		{`{"method":"conferenceCallout","conferenceCallout":{` + dst + `,"conferenceId":"r","enableAce":"yes"}}`, "conferenceCallout: json"},
	} {
		requireError(t, f.do("POST", "/calling/v1/callouts", tc.body, keyA, secretA), http.StatusBadRequest, tc.msg)
	}
	require.Empty(t, fc.callouts, "nothing is started for a bad request")

	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{call.ErrUnavailable, http.StatusServiceUnavailable, "store is unreachable"},
		{call.ErrDraining, http.StatusServiceUnavailable, "draining"},
	} {
		fc.err = tc.err
		r := f.do("POST", "/calling/v1/callouts", conferenceCalloutExample, keyA, secretA)
		requireError(t, r, tc.status, tc.msg)
		require.NotEmpty(t, r.header.Get("Retry-After"))
	}
}

// FuzzConferenceCallout feeds arbitrary conferenceCallout objects to the
// parser: it never panics, and what it accepts is a valid room.
func FuzzConferenceCallout(f *testing.F) {
	var ex struct {
		ConferenceCallout json.RawMessage `json:"conferenceCallout"`
	}
	require.NoError(f, json.Unmarshal([]byte(conferenceCalloutExample), &ex))
	f.Add([]byte(ex.ConferenceCallout))
	f.Add([]byte(`{"destination":{"type":"number","endpoint":"+14045005000"},"conferenceId":"r"}`))
	f.Add([]byte(`{"destination":{"type":"sip","endpoint":"a@b"},"conferenceId":"x","conferenceDtmfOptions":{"mode":"Forward","timoutMills":9},"mohClass":"RING"}`))
	f.Add([]byte(`{"destination":{"type":"number","endpoint":"+14045005000"},"conferenceId":"","mohClass":1,"conferenceDtmfOptions":[]}`))
	f.Add([]byte(`{"conferenceId":"r","conferenceDtmfOptions":{"maxDigits":1e99}}`))
	f.Add([]byte(`{"conferenceId":"\u0000\ud800"}`))
	f.Add([]byte(`null`))
	s := &Server{maxTTSChars: 40}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := s.conferenceCallout(call.Callout{}, raw)
		if err != nil {
			var ae *Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, http.StatusBadRequest, ae.Status)
			return
		}
		require.Equal(t, call.MethodConf, o.Method)
		require.NotNil(t, o.Destination)
		cc := o.Conference
		require.NotNil(t, cc)
		n := utf8.RuneCountInString(cc.ConferenceID)
		require.True(t, n >= 1 && n <= svaml.MaxConferenceIDLen, "conferenceId %q", cc.ConferenceID)
		require.Contains(t, []svaml.DTMFMode{svaml.DTMFIgnore, svaml.DTMFForward, svaml.DTMFDetect}, cc.DTMFOptions.Mode)
		require.Positive(t, cc.DTMFOptions.MaxDigits)
		require.Positive(t, cc.DTMFOptions.TimeoutMills)
		require.Contains(t, []svaml.MusicOnHold{"", svaml.MOHRing, svaml.MOHMusic1, svaml.MOHMusic2, svaml.MOHMusic3}, cc.MOH)
		require.LessOrEqual(t, utf8.RuneCountInString(o.Greeting), 40)
	})
}

// FuzzManageParticipant feeds arbitrary PATCH bodies to the participant
// command parser: it never panics and passes on only known commands, and
// a hold music class only with onhold.
func FuzzManageParticipant(f *testing.F) {
	for _, s := range []string{
		`{"command":"mute"}`, `{"command":"ONHOLD","moh":"Music3"}`, `{"command":"resume","moh":"ring"}`,
		`{"command":"onhold","moh":"jazz"}`, `{"command":1}`, `{}`, `[]`, `{"command":"mute","moh":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var m manageParticipantJSON
		if json.Unmarshal(body, &m) != nil {
			return
		}
		cmd, moh, err := m.validate()
		if err != nil {
			var ae *Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, http.StatusBadRequest, ae.Status)
			return
		}
		require.Contains(t, []string{cmdMute, cmdUnmute, cmdOnHold, cmdResume}, cmd)
		require.Contains(t, []string{"", "ring", "music1", "music2", "music3"}, moh)
		if cmd != cmdOnHold {
			require.Empty(t, moh)
		}
	})
}

// FuzzConferenceIDPath sends GET /calling/v1/conferences/id/{seg} with
// arbitrary escaped segments through the whole server: the answer is 200
// with the decoded id handed to the service, or a JSON 400 (404/405 when
// the segment adds path levels); never a panic or a 500.
func FuzzConferenceIDPath(f *testing.F) {
	for _, s := range []string{"MyConfId", "my%20room", "a%2Fb", "100%25", "%FF", "", strings.Repeat("x", 65), "r%C3%A4k", "a/b", "%00"} {
		f.Add(s)
	}
	fconf := &fakeConferences{rooms: map[string][]ConferenceParticipant{}}
	srv := newConferencesServer(f, fconf, nil)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(keyA+":"+secretA))
	f.Fuzz(func(t *testing.T, seg string) {
		if strings.ContainsAny(seg, "?#") {
			return // not a path
		}
		u, err := url.Parse("/calling/v1/conferences/id/" + seg)
		if err != nil || u.Opaque != "" || u.Host != "" {
			return
		}
		req := &http.Request{Method: "GET", URL: u, Header: http.Header{"Authorization": {auth}}, Body: http.NoBody, Host: "callcore.test"}
		fconf.mu.Lock()
		fconf.err = nil
		fconf.rooms = map[string][]ConferenceParticipant{}
		if id, err := url.PathUnescape(seg); err == nil {
			fconf.rooms[keyA+"/"+id] = nil
		}
		fconf.mu.Unlock()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		ops := fconf.takeOps()
		switch rec.Code {
		case http.StatusOK:
			require.Len(t, ops, 1)
			id := strings.TrimPrefix(ops[0], "participants "+keyA+" ")
			want, err := url.PathUnescape(seg)
			require.NoError(t, err)
			require.Equal(t, want, id)
			require.True(t, utf8.ValidString(id))
			n := utf8.RuneCountInString(id)
			require.True(t, n >= 1 && n <= svaml.MaxConferenceIDLen)
			require.JSONEq(t, `{"participants":[]}`, rec.Body.String())
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
			require.Empty(t, ops, "HTTP %d %s", rec.Code, rec.Body)
			require.Equal(t, "application/json", strings.Split(rec.Header().Get("Content-Type"), ";")[0])
		default:
			t.Fatalf("GET %s: HTTP %d %s", u, rec.Code, rec.Body)
		}
	})
}
