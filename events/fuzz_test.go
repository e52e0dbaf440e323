package events

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// genuine is a validly signed request: the tuple of components a server
// derives from it, and the signature over them.
type genuine struct {
	key, method, ct, xts, path, body, sig string
}

// genuineRequests returns every validly signed request the fuzz oracle knows:
// the verifiable vectors of reference §4.6/§4.7 and SDK-style requests
// (reference §4.3) signed with the "appKey" test secret.
func genuineRequests() []genuine {
	var gs []genuine
	for _, v := range signVectors {
		if v.verifiable {
			gs = append(gs, genuine{v.key, strings.ToUpper(v.method), v.contentType, v.xts, v.path, v.body, v.sig})
		}
	}
	key, err := DecodeSecret(testSecrets["appKey"])
	if err != nil {
		panic(err)
	}
	for _, g := range []genuine{
		{method: "POST", ct: "application/json; charset=utf-8", xts: "2024-01-19T09:19:28.9372196Z", path: "/calling/v1/callouts", body: calloutBody},
		{method: "GET", ct: "application/json", xts: "2024-01-19T09:19:28.937Z", path: "/calling/v1/calls/id/c1"},
		{method: "POST", ct: "application/json; charset=UTF-8", xts: "2024-01-19T09:19:28.937219+00:00", path: "/calling/v1/callouts", body: calloutBody},
		{method: "DELETE", xts: "2024-01-19T09:19:28.937219Z", path: "/calling/v1/conferences/id/my conf"},
		{method: "DELETE", xts: "2024-01-19T09:19:28.937Z", path: "/calling/v1/conferences/id/a%2Fb"},
		{method: "POST", ct: "application/json; charset=utf-8", xts: "2024-01-19T09:19:28.9372196Z", path: "/calling/v1/callouts?trace=1", body: calloutBody},
	} {
		g.key = "appKey"
		g.sig = Sign(key, g.method, []byte(g.body), g.ct, g.xts, g.path)
		gs = append(gs, g)
	}
	return gs
}

// fuzzRequest builds the request the server would see for the given target.
// Targets that do not parse as a request URI are used as a raw path.
func fuzzRequest(method, target, ct, xts, auth string) *http.Request {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{}
		u.Path, u.RawQuery, _ = strings.Cut(target, "?")
	}
	h := http.Header{}
	h.Set("Content-Type", ct)
	h.Set("X-Timestamp", xts)
	h.Set("Authorization", auth)
	return &http.Request{Method: method, URL: u, Header: h}
}

func upperASCII(s string) string { return string(appendUpperASCII(nil, s)) }

// oracleAccepts is the fuzz oracle, written independently of Verify's
// parser: a request must be accepted exactly when it carries the components
// of a genuine request whose timestamp is fresh at now (Application), or the
// configured credentials of a known key (Basic).
func oracleAccepts(gs []genuine, now time.Time, r *http.Request, body []byte) (string, bool) {
	auth := r.Header.Get("Authorization")
	if len(auth) > 6 && upperASCII(auth[:6]) == "BASIC " {
		raw, err := base64.StdEncoding.DecodeString(auth[6:])
		if err != nil {
			return "", false
		}
		k, s, ok := strings.Cut(string(raw), ":")
		if want, known := testSecrets[k]; ok && known && s == want {
			return k, true
		}
		return "", false
	}
	if len(auth) < 12 || upperASCII(auth[:12]) != "APPLICATION " {
		return "", false
	}
	resources := []string{r.URL.Path, r.URL.EscapedPath()}
	if r.URL.RawQuery != "" {
		resources = append(resources, r.URL.RequestURI())
	}
	for _, g := range gs {
		if auth[12:] != g.key+":"+g.sig || upperASCII(r.Method) != g.method || string(body) != g.body ||
			r.Header.Get("Content-Type") != g.ct || r.Header.Get("X-Timestamp") != g.xts {
			continue
		}
		if d := now.Sub(mustTime(g.xts)); d > DefaultWindow || d < -DefaultWindow {
			continue
		}
		for _, res := range resources {
			if res == g.path {
				return g.key, true
			}
		}
	}
	return "", false
}

// FuzzVerify mutates the method, target, Content-Type, x-timestamp, body and
// Authorization header of validly signed requests. idx picks the genuine
// request whose timestamp is "now". Verify must not panic, must accept the
// genuine requests and must reject everything whose signed components differ.
func FuzzVerify(f *testing.F) {
	gs := genuineRequests()
	for i, g := range gs {
		idx := uint8(i)
		auth := "Application " + g.key + ":" + g.sig
		f.Add(idx, g.method, g.path, g.ct, g.xts, []byte(g.body), auth)
		f.Add(idx, strings.ToLower(g.method), g.path, g.ct, g.xts, []byte(g.body), "application "+g.key+":"+g.sig)
		f.Add(idx, g.method, g.path+"x", g.ct, g.xts, []byte(g.body), auth)
		f.Add(idx, g.method, g.path, g.ct+" ", g.xts, []byte(g.body), auth)
		f.Add(idx, g.method, g.path, g.ct, g.xts, []byte(g.body+" "), auth)
		f.Add(idx, g.method, g.path, g.ct, g.xts, []byte(g.body), "Application  "+g.key+":"+g.sig)
	}
	v2 := signVectors[1]
	f.Add(uint8(0), v2.method, v2.path, v2.contentType, v2.xts, []byte(v2.body), "Application "+v2.key+":"+v2.sig)
	v7 := signVectors[6]
	for _, m := range []struct{ method, path, ct, xts, body, auth string }{
		{"POST", "/not/that/path", v7.contentType, v7.xts, v7.body, ""},
		{"GET", v7.path, v7.contentType, v7.xts, v7.body, ""},
		{"POST", v7.path, v7.contentType, "2019-11-03T10:59:41Z", v7.body, ""},
		{"POST", v7.path, "text/html", v7.xts, v7.body, ""},
		{"POST", v7.path, v7.contentType, v7.xts, `{"hello":"world"}`, ""},
		{"POST", v7.path, v7.contentType, v7.xts, v7.body, "authorization " + v7.key + ":" + v7.sig},
	} {
		if m.auth == "" {
			m.auth = "application " + v7.key + ":" + v7.sig
		}
		f.Add(uint8(6), m.method, m.path, m.ct, m.xts, []byte(m.body), m.auth)
	}
	f.Add(uint8(0), "GET", "/v1/configuration/numbers", "", "", []byte(nil), basicAuth("appKey", "YXBwU2VjcmV0"))
	f.Add(uint8(0), "GET", "/v1/configuration/numbers", "", "", []byte(nil), basicAuth("appKey", "wrong"))
	f.Add(uint8(0), "GET", "/", "", "", []byte(nil), "Basic %%%")

	verifiers := make([]*Verifier, len(gs))
	for i, g := range gs {
		verifiers[i] = fixedVerifier(mustTime(g.xts))
	}
	f.Fuzz(func(t *testing.T, idx uint8, method, target, ct, xts string, body []byte, auth string) {
		i := int(idx) % len(gs)
		now := mustTime(gs[i].xts)
		r := fuzzRequest(method, target, ct, xts, auth)
		got, err := verifiers[i].Verify(r, body)
		wantKey, want := oracleAccepts(gs, now, r, body)
		if want {
			require.NoError(t, err, "genuine request rejected")
			require.Equal(t, wantKey, got)
			return
		}
		require.Error(t, err, "accepted a request whose signed components differ: method=%q path=%q ct=%q xts=%q auth=%q", method, r.URL.Path, ct, xts, auth)
		require.Empty(t, got)
		require.NotEqual(t, "other", FailureReason(err), "unclassified error: %v", err)
	})
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to a stable form that decodes to the same kind and call id.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"reference", "golden"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		require.NoError(f, err)
		for _, file := range files {
			data, err := os.ReadFile(file)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	for _, s := range []string{``, `{}`, `null`, `{"event":null}`, `{"event":"DiCE","from":{}}`, `{"event":"pie","menuResult":null}`, `{"event":"ice","cookies":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			require.Nil(t, ev)
			return
		}
		out, err := json.Marshal(ev)
		require.NoError(t, err)
		back, err := Decode(out)
		require.NoError(t, err, "re-decoding %s", out)
		require.Equal(t, ev.Kind(), back.Kind())
		require.Equal(t, ev.CallID(), back.CallID())
		again, err := json.Marshal(back)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	})
}
