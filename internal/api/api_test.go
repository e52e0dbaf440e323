package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/memstore"
)

const (
	keyA    = "669E367E-6BBA-48AB-AF15-266871C28135"
	secretA = "BeIukql3pTKJ8RGL5zo0DA=="
	keyB    = "5F5C418A0F914BBC8234A9BF5EDDAD97"
	secretB = "JViE5vDor0Sw3WllZka15Q=="
)

type fixture struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	store store.Store
	reg   *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := memstore.New()
	reg := prometheus.NewRegistry()
	secrets := map[string]string{keyA: secretA, keyB: secretB}
	s, err := New(Options{
		Store: st,
		Verifier: &events.Verifier{Lookup: func(k string) (string, bool) {
			v, ok := secrets[k]
			return v, ok
		}},
		Registerer: reg,
		BodyLimit:  4096,
		Currency:   "EUR",
	})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, http: hs, store: st, reg: reg}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request signed as app key with secret (Application scheme), or
// unsigned when key is "".
func (f *fixture) do(method, path, body, key, secret string) resp {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	require.NoError(f.t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		s, err := events.NewSigner(key, secret)
		require.NoError(f.t, err)
		s.SignRequest(req, []byte(body), time.Now())
	}
	return f.send(req)
}

func (f *fixture) send(req *http.Request) resp {
	f.t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(f.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func requireError(t *testing.T, r resp, status int, msgPart string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", strings.Split(r.header.Get("Content-Type"), ";")[0])
	m := r.json(t)
	require.EqualValues(t, status*100, m["errorCode"])
	require.Contains(t, m["message"], msgPart)
	require.Equal(t, r.header.Get(headerRequestID), m["reference"])
	require.NotEmpty(t, m["reference"])
}

func TestAuthRequiredOnEveryRoute(t *testing.T) {
	f := newFixture(t)
	routes := [][2]string{
		{"POST", "/calling/v1/callouts"},
		{"GET", "/calling/v1/calls/id/abc"},
		{"PATCH", "/calling/v1/calls/id/abc"},
		{"PATCH", "/calling/v1/calls/id/abc/leg/caller"},
		{"GET", "/calling/v1/conferences/id/room"},
		{"DELETE", "/calling/v1/conferences/id/room"},
		{"PATCH", "/calling/v1/conferences/id/room/abc"},
		{"DELETE", "/calling/v1/conferences/id/room/abc"},
		{"GET", "/v1/configuration/numbers"},
		{"POST", "/v1/configuration/numbers"},
		{"DELETE", "/v1/configuration/numbers"},
		{"GET", "/v1/configuration/callbacks/applications/" + keyA},
		{"POST", "/v1/configuration/callbacks/applications/" + keyA},
		{"GET", "/v1/calling/query/number/+46701234567"},
	}
	for _, rt := range routes {
		t.Run(rt[0]+" "+rt[1], func(t *testing.T) {
			r := f.do(rt[0], rt[1], "", "", "")
			requireError(t, r, http.StatusUnauthorized, "unauthorized")
			r = f.do(rt[0], rt[1], "", keyA, "d3Jvbmctc2VjcmV0") // wrong secret
			requireError(t, r, http.StatusUnauthorized, "unauthorized")
		})
	}
	require.InDelta(t, float64(len(routes)), testutil.ToFloat64(f.srv.metrics.authFailures.WithLabelValues("missing")), 0)
	require.InDelta(t, float64(len(routes)), testutil.ToFloat64(f.srv.metrics.authFailures.WithLabelValues("bad_signature")), 0)
}

func TestCallRoutesAnswer501UntilWired(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/calling/v1/callouts", `{"method":"ttsCallout","ttsCallout":{}}`, keyA, secretA)
	requireError(t, r, http.StatusNotImplemented, "callouts: not implemented")
	r = f.do("GET", "/calling/v1/calls/id/abc", "", keyA, secretA)
	requireError(t, r, http.StatusNotImplemented, "not implemented")
	r = f.do("DELETE", "/calling/v1/conferences/id/room/abc", "", keyA, secretA)
	requireError(t, r, http.StatusNotImplemented, "not implemented")
}

func TestBasicAuth(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.http.URL+"/v1/configuration/numbers", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(keyA+":"+secretA)))
	require.Equal(t, http.StatusOK, f.send(req).status)

	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(keyA+":nope")))
	requireError(t, f.send(req), http.StatusUnauthorized, "unauthorized")
}

func TestStaleTimestampRejected(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.http.URL+"/v1/configuration/numbers", nil)
	s, err := events.NewSigner(keyA, secretA)
	require.NoError(t, err)
	s.SignRequest(req, nil, time.Now().Add(-20*time.Minute))
	requireError(t, f.send(req), http.StatusUnauthorized, "unauthorized")
	require.InDelta(t, 1, testutil.ToFloat64(f.srv.metrics.authFailures.WithLabelValues("stale_timestamp")), 0)
}

func TestUnmatchedRoutesAreJSON(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/nope", "", "", "")
	requireError(t, r, http.StatusNotFound, "no such route")
	r = f.do("PUT", "/v1/configuration/numbers", "", keyA, secretA)
	requireError(t, r, http.StatusMethodNotAllowed, "method not allowed")
	require.Contains(t, r.header.Get("Allow"), "GET")
	require.InDelta(t, 1, testutil.ToFloat64(f.srv.metrics.requests.WithLabelValues("unmatched", "GET", "404")), 0)
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t)
	big := `{"numbers":["` + strings.Repeat("1", 5000) + `"]}`
	r := f.do("POST", "/v1/configuration/numbers", big, keyA, secretA)
	requireError(t, r, http.StatusRequestEntityTooLarge, "over the limit")

	// Chunked: no Content-Length, the limit still holds.
	req, _ := http.NewRequest("POST", f.http.URL+"/v1/configuration/numbers", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	requireError(t, f.send(req), http.StatusRequestEntityTooLarge, "over the limit")
}

func TestPanicIsJSON500(t *testing.T) {
	f := newFixture(t)
	f.srv.e.GET("/boom", func(echo.Context) error { panic("kaboom") })
	r := f.do("GET", "/boom", "", "", "")
	requireError(t, r, http.StatusInternalServerError, "internal error")
}

func TestRequestIDEchoed(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.http.URL+"/nope", nil)
	req.Header.Set(headerRequestID, "my-trace-1")
	r := f.send(req)
	require.Equal(t, "my-trace-1", r.header.Get(headerRequestID))
	require.Equal(t, "my-trace-1", r.json(t)["reference"])

	req.Header.Set(headerRequestID, "bad id with spaces")
	r = f.send(req)
	require.Len(t, r.header.Get(headerRequestID), 36)
}

func TestNumbersLifecycle(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/v1/configuration/numbers", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"numbers":[]}`, string(r.body))

	r = f.do("POST", "/v1/configuration/numbers", `{"numbers":["+46 70-123 45 67","+12015550100"],"capability":"voice"}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Empty(t, r.body)

	r = f.do("GET", "/v1/configuration/numbers", "", keyA, secretA)
	require.JSONEq(t, `{"numbers":[
		{"number":"+12015550100","applicationkey":"`+keyA+`","capability":"voice"},
		{"number":"+46701234567","applicationkey":"`+keyA+`","capability":"voice"}]}`, string(r.body))

	// Another app neither sees A's numbers nor may take them.
	r = f.do("GET", "/v1/configuration/numbers", "", keyB, secretB)
	require.JSONEq(t, `{"numbers":[]}`, string(r.body))
	r = f.do("POST", "/v1/configuration/numbers", `{"numbers":["+46701234567"]}`, keyB, secretB)
	requireError(t, r, http.StatusConflict, "+46701234567")
	r = f.do("POST", "/v1/configuration/numbers", `{"numbers":["+46701234568"],"applicationkey":"`+keyA+`"}`, keyB, secretB)
	requireError(t, r, http.StatusForbidden, "may not manage")
	r = f.do("DELETE", "/v1/configuration/numbers", `{"number":"+46701234567"}`, keyB, secretB)
	requireError(t, r, http.StatusNotFound, "not found")

	r = f.do("DELETE", "/v1/configuration/numbers", `{"number":"+46701234567","applicationkey":"`+keyA+`","capability":"voice"}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)

	// Unassigned numbers are listed without applicationkey, to every app.
	r = f.do("GET", "/v1/configuration/numbers", "", keyB, secretB)
	require.JSONEq(t, `{"numbers":[{"number":"+46701234567","capability":"voice"}]}`, string(r.body))
}

func TestUnassignWithoutCapabilityMeansAny(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/v1/configuration/numbers", `{"numbers":["+46701234567"],"capability":"sms"}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = f.do("DELETE", "/v1/configuration/numbers", `{"number":"+46701234567","capability":"voice"}`, keyA, secretA)
	requireError(t, r, http.StatusNotFound, "not found")
	r = f.do("DELETE", "/v1/configuration/numbers", `{"number":"+46701234567"}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
}

func TestNumbersBadInput(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ method, body, msg string }{
		{"POST", ``, "body is empty"},
		{"POST", `{"numbers":`, "malformed JSON"},
		{"POST", `{"numbers":"+46701234567"}`, `field "numbers"`},
		{"POST", `{"numbers":[]}`, "at least one number"},
		{"POST", `{"numbers":["hello"]}`, "numbers[0]"},
		{"POST", `{"numbers":["+46701234567"],"capability":"fax"}`, "capability"},
		{"DELETE", `{}`, "number: required"},
		{"DELETE", `{"number":"12"}`, "number:"},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			r := f.do(c.method, "/v1/configuration/numbers", c.body, keyA, secretA)
			requireError(t, r, http.StatusBadRequest, c.msg)
		})
	}
	// Nothing was stored by the failed requests.
	all, err := f.store.ListNumbers(t.Context())
	require.NoError(t, err)
	require.Empty(t, all)
}

func TestCallbacks(t *testing.T) {
	f := newFixture(t)
	path := "/v1/configuration/callbacks/applications/" + keyA
	r := f.do("GET", path, "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"url":{"primary":""}}`, string(r.body))

	r = f.do("POST", path, `{"url":{"primary":"https://foo.com/cb","fallback":"https://fallback.foo.com/cb"}}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	r = f.do("GET", path, "", keyA, secretA)
	require.JSONEq(t, `{"url":{"primary":"https://foo.com/cb","fallback":"https://fallback.foo.com/cb"}}`, string(r.body))

	r = f.do("POST", path, `{"url":{"primary":"https://foo.com/cb2"}}`, keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status)
	r = f.do("GET", path, "", keyA, secretA)
	require.JSONEq(t, `{"url":{"primary":"https://foo.com/cb2"}}`, string(r.body))

	requireError(t, f.do("GET", path, "", keyB, secretB), http.StatusForbidden, "may not access")
	requireError(t, f.do("POST", path, `{"url":{"primary":"ftp://x"}}`, keyA, secretA), http.StatusBadRequest, "url.primary")
	requireError(t, f.do("POST", path, `{"url":{"primary":"https://x","fallback":"/rel"}}`, keyA, secretA), http.StatusBadRequest, "url.fallback")
	requireError(t, f.do("POST", path, `{}`, keyA, secretA), http.StatusBadRequest, "url: required")

	cb, err := f.store.GetCallbacks(t.Context(), keyA)
	require.NoError(t, err)
	require.Equal(t, "https://foo.com/cb2", cb.Primary)
}

func TestQueryNumber(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/v1/calling/query/number/+46701234567", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"number":{"countryId":"SE","numberType":"Mobile","normalizedNumber":"+46701234567",
		"restricted":false,"rate":{"currencyId":"EUR","amount":0}}}`, string(r.body))

	r = f.do("GET", "/v1/calling/query/number/%2B33%201%2023%2045%2067%2089", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "FR", r.json(t)["number"].(map[string]any)["countryId"])

	requireError(t, f.do("GET", "/v1/calling/query/number/banana", "", keyA, secretA), http.StatusBadRequest, "number:")
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/v1/calling/query/number/+46701234567", "", keyA, secretA)
	f.do("GET", "/v1/calling/query/number/+46701234568", "", keyA, secretA)
	require.InDelta(t, 2, testutil.ToFloat64(f.srv.metrics.requests.WithLabelValues("/v1/calling/query/number/:number", "GET", "200")), 0)
}
