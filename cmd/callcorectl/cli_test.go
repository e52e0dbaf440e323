package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

func writeFileMode(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// credentials is an environment with the test app's key and secret only.
func credentials(t *testing.T) env {
	return env{"CALLCORE_KEY": testKey, "CALLCORE_SECRET": testSecret, "HOME": t.TempDir()}
}

// parseHeaders reads the "name: value" lines of sign.
func parseHeaders(t *testing.T, out string) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		require.True(t, ok, "not a header line: %q", line)
		h[k] = v
	}
	return h
}

// sign prints headers that events.Verifier (what the node runs) accepts,
// for the body and path given, and no others.
func TestSign(t *testing.T) {
	t.Parallel()
	e := credentials(t)
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return testSecret, k == testKey }}
	verify := func(method, target string, h map[string]string, body string) error {
		req, err := http.NewRequest(method, "http://backend.example"+target, strings.NewReader(body))
		require.NoError(t, err)
		for k, val := range h {
			req.Header.Set(k, val)
		}
		_, err = v.Verify(req, []byte(body))
		return err
	}

	body := `{"event":"ice","callid":"abc"}`
	h := parseHeaders(t, ok(t, e, "sign", "post", "/callbacks", body))
	require.Equal(t, []string{"authorization", "content-type", "x-timestamp"}, sortedKeys(h))
	assert.Equal(t, events.CallbackContentType, h["content-type"])
	assert.True(t, strings.HasPrefix(h["authorization"], "application "+testKey+":"), h["authorization"])
	require.NoError(t, verify(http.MethodPost, "/callbacks", h, body))
	require.ErrorIs(t, verify(http.MethodPost, "/callbacks", h, body+" "), events.ErrBadSignature, "another body")
	require.ErrorIs(t, verify(http.MethodPost, "/other", h, body), events.ErrBadSignature, "another path")
	require.ErrorIs(t, verify(http.MethodPut, "/callbacks", h, body), events.ErrBadSignature, "another method")

	// A body from a file, a query (not signed) and an escaped path.
	file := filepath.Join(t.TempDir(), "body.json")
	writeFile(t, file, body)
	h = parseHeaders(t, ok(t, e, "sign", "PATCH", "/calling/v1/conferences/id/my%20room/x?debug=1", "@"+file))
	require.NoError(t, verify(http.MethodPatch, "/calling/v1/conferences/id/my%20room/x?debug=1", h, body))

	// A fixed timestamp gives the scheme's signature, byte for byte.
	ts := "2026-03-01T12:00:00.1234567Z"
	h = parseHeaders(t, ok(t, e, "sign", "GET", "/calling/v1/calls/id/abc", "--timestamp", ts))
	key, err := events.DecodeSecret(testSecret)
	require.NoError(t, err)
	assert.Equal(t, ts, h["x-timestamp"])
	assert.Equal(t, "application "+testKey+":"+events.Sign(key, "GET", nil, events.CallbackContentType, ts, "/calling/v1/calls/id/abc"), h["authorization"])

	r := ctl(t, e, "sign", "GET", "/x", "--timestamp", ts, "--json", "--verbose")
	require.Equal(t, exitOK, r.code)
	var js signedHeaders
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &js))
	assert.Equal(t, ts, js.XTimestamp)
	assert.Equal(t, "GET\n\n"+events.CallbackContentType+"\nx-timestamp:"+ts+"\n/x", js.StringToSign)

	r = ctl(t, e, "sign", "GET", "/x", "--verbose")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "string to sign (5 lines")
	assert.Contains(t, r.stderr, `  "/x"`)

	// Secrets that do not decode, missing credentials, bad arguments.
	msg := fails(t, exitUsage, env{"CALLCORE_KEY": testKey, "CALLCORE_SECRET": "!!!", "HOME": t.TempDir()}, "sign", "GET", "/x")
	assert.NotContains(t, msg, "!!!")
	fails(t, exitUsage, env{"HOME": t.TempDir()}, "sign", "GET", "/x")
	fails(t, exitUsage, e, "sign", "GET", "x")
	fails(t, exitUsage, e, "sign", "GET")
	fails(t, exitUsage, e, "sign", "GET", "/x", "--timestamp", "yesterday")
	fails(t, exitInvalid, e, "sign", "POST", "/x", "@"+filepath.Join(t.TempDir(), "missing.json"))
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// svaml check on svaml's golden documents: every invalid one exits 1
// and prints exactly the problems the parser's golden .err file lists,
// each with its JSON path; every valid one exits 0.
func TestSVAMLCheckGolden(t *testing.T) {
	t.Parallel()
	e := env{"HOME": t.TempDir()} // no credentials needed
	contexts := map[string]string{"any": "any", "ice": "ice", "ace": "ace", "pie": "pie", "dice": "dice", "patch": "patch"}

	invalid, err := filepath.Glob("../../svaml/testdata/invalid/*.json")
	require.NoError(t, err)
	require.Greater(t, len(invalid), 100)
	for _, f := range invalid {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		prefix, _, _ := strings.Cut(name, "_")
		event, known := contexts[prefix]
		require.True(t, known, name)
		want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
		require.NoError(t, err)

		var out, errb bytes.Buffer
		code := run([]string{"svaml", "check", f, "--event", event}, &out, &errb, e.get)
		require.Equal(t, exitInvalid, code, name)
		var problems []string
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			p, found := strings.CutPrefix(line, f+": ")
			require.True(t, found, "%s: line %q", name, line)
			problems = append(problems, p)
		}
		// Paths and reasons are printed as the parser reports them; the
		// golden file joins them with "; ".
		require.Equal(t, strings.TrimSuffix(string(want), "\n"), strings.Join(problems, "; "), name)
		require.Equal(t, "callcorectl: svaml check: 1 of 1 file invalid for "+event+"\n", errb.String(), name)
	}

	valid, err := filepath.Glob("../../svaml/testdata/valid/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, valid)
	for _, f := range valid {
		prefix, _, _ := strings.Cut(filepath.Base(f), "_")
		out := ok(t, e, "svaml", "check", f, "--event", contexts[prefix])
		assert.True(t, strings.HasPrefix(out, f+": ok ("+contexts[prefix]+"): "), out)
	}
}

// svaml check in detail: several files, --json, --canonical, stdin-less
// run, usage errors.
func TestSVAMLCheck(t *testing.T) {
	t.Parallel()
	e := env{"HOME": t.TempDir()}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, good, `{"instructions":[{"name":"say","text":"Hi"}],"action":{"name":"connectPstn","number":"+46708000000"}}`)
	writeFile(t, bad, `{"action":{"name":"runMenu","menus":[{"id":"main","options":[{"dtmf":"x","action":"menu(nope)"}]}]}}`)

	r := ctl(t, e, "svaml", "check", good, bad, "--event", "ice")
	assert.Equal(t, exitInvalid, r.code)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	assert.Equal(t, good+": ok (ice): say then action connectPstn", lines[0])
	for _, l := range lines[1:] {
		assert.True(t, strings.HasPrefix(l, bad+": action.menus[0]."), l)
	}
	assert.Equal(t, "callcorectl: svaml check: 1 of 2 files invalid for ice\n", r.stderr)

	r = ctl(t, e, "svaml", "check", good, bad, "--event", "ICE", "--json")
	assert.Equal(t, exitInvalid, r.code)
	var res []svamlResultJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Len(t, res, 2)
	assert.True(t, res[0].Valid)
	assert.JSONEq(t, `{"instructions":[{"name":"say","text":"Hi"}],"action":{"name":"connectPstn","number":"+46708000000","locale":"en-US"}}`, string(res[0].Canonical))
	assert.False(t, res[1].Valid)
	require.NotEmpty(t, res[1].Problems)
	for _, p := range res[1].Problems {
		assert.True(t, strings.HasPrefix(p.Path, "action.menus[0]."), p.Path)
		assert.Nil(t, p.Offset)
	}

	// A syntax error carries its byte offset.
	syntax := filepath.Join(dir, "syntax.json")
	writeFile(t, syntax, `{"action":{"name":"hangup",}}`)
	r = ctl(t, e, "--json", "svaml", "check", syntax, "--event", "ace")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Len(t, res[0].Problems, 1)
	require.NotNil(t, res[0].Problems[0].Offset)

	// The event decides: connectPstn is not allowed in reply to an ACE.
	r = ctl(t, e, "svaml", "check", good, "--event", "ace")
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, good+": action.name: action \"connectPstn\" is not allowed in a reply to ACE\n", r.stdout)

	out := ok(t, e, "svaml", "check", good, "--event", "pie", "--canonical")
	assert.Contains(t, out, `"locale": "en-US"`)

	// A TTS limit like the node's.
	long := filepath.Join(dir, "long.json")
	writeFile(t, long, `{"instructions":[{"name":"say","text":"`+strings.Repeat("a", 700)+`"}],"action":{"name":"hangup"}}`)
	r = ctl(t, e, "svaml", "check", long, "--event", "ice", "--json=false", "--max-tts-chars", "600")
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, long+": instructions[0].text: has 700 characters; the limit is 600\n", r.stdout)
	ok(t, e, "svaml", "check", long, "--event", "ice", "--max-tts-chars", "1000")

	r = ctl(t, e, "svaml", "check", filepath.Join(dir, "missing.json"), "--event", "ice")
	assert.Equal(t, exitInvalid, r.code)
	assert.Contains(t, r.stdout, "missing.json: ")

	fails(t, exitUsage, e, "svaml", "check", good)
	fails(t, exitUsage, e, "svaml", "check", good, "--event", "notify")
	fails(t, exitUsage, e, "svaml", "check", "--event", "ice")
	fails(t, exitUsage, e, "svaml", "lint", good)
}

// Usage errors exit 2 with one line on stderr; help exits 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	e := credentials(t)

	r := ctl(t, e)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "exit codes:")
	assert.Empty(t, r.stdout)

	out := ok(t, e, "help")
	for _, want := range []string{
		"exit codes:", "  0  success", "  1  invalid input", "  2  usage error", "  3  the node could not be reached",
		"CALLCORE_URL", "CALLCORE_KEY", "CALLCORE_SECRET", "CALLCORE_PROFILE", "profiles.yaml",
		"call timeline ID", "svaml check FILE...", "sign METHOD PATH",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, out, ok(t, e, "--help"))
	assert.Contains(t, ok(t, e, "help", "conference"), "--moh class")
	assert.Contains(t, ok(t, e, "call", "timeline", "-h"), "--follow")
	assert.Contains(t, ok(t, e, "call", "--help"), "callcorectl call timeline ID [flags]")

	for _, args := range [][]string{
		{"dial"},
		{"call"},
		{"call", "ring", "x"},
		{"call", "get"},
		{"call", "get", "a", "b"},
		{"call", "get", "x", "--nope"},
		{"--nope", "call", "get", "x"},
		{"numbers", "list", "extra"},
		{"numbers", "assign"},
		{"call", "timeline", "x", "--interval", "0s"},
		{"--url", "ftp://x", "numbers", "list"},
		{"--url", "http://", "numbers", "list"},
	} {
		msg := fails(t, exitUsage, e, args...)
		assert.NotContains(t, msg, testSecret)
	}
	msg := fails(t, exitUsage, env{"HOME": t.TempDir()}, "numbers", "list")
	assert.Contains(t, msg, "no application key: set --key, CALLCORE_KEY or a profile")
	msg = fails(t, exitUsage, env{"HOME": t.TempDir(), "CALLCORE_KEY": "k"}, "numbers", "list")
	assert.Contains(t, msg, "no application secret")

	// "--" ends the flags: a call id that looks like a flag.
	srv := newFakeNode(t, nil)
	r = ctl(t, srv.env(t), "call", "get", "--json", "--", "--odd-id")
	assert.Equal(t, exitInvalid, r.code)
	assert.Contains(t, r.stderr, "HTTP 404")
	assert.Equal(t, []string{"/calling/v1/calls/id/--odd-id"}, srv.paths())
}

// A 5xx answer exits 3 with the API's message; a non-JSON error body is
// reported by its text.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	srv := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/v1/configuration/numbers":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errorCode":50300,"message":"this node is draining; retry on another node","reference":"r-1"}`))
		case "/calling/v1/conferences/id/x":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway\x1b[31m</html>"))
		default:
			return false
		}
		return true
	})
	e := srv.env(t)
	msg := fails(t, exitUnreachable, e, "numbers", "list")
	assert.Equal(t, "callcorectl: HTTP 503: this node is draining; retry on another node (reference r-1)\n", msg)
	msg = fails(t, exitUnreachable, e, "conference", "get", "x")
	assert.Equal(t, "callcorectl: HTTP 502: <html>bad gateway\uFFFD[31m</html>\n", msg, "control characters are not printed")
}

// Settings come from flags, else the environment, else the profile.
func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "callcore")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	writeFile(t, filepath.Join(dir, "profiles.yaml"), `
default: {url: "http://default.example", key: default-key, secret: ZGVmYXVsdA==}
prod:
  url: https://prod.example/voice
  key: prod-key
  secret: cHJvZA==
`)
	other := filepath.Join(t.TempDir(), "other.yaml")
	writeFile(t, other, "staging: {url: \"http://staging.example\", key: staging-key, secret: c3RhZ2luZw==}\n")

	settingsOf := func(e env, args ...string) (settings, error) {
		c := newCLI(context.Background(), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, e.get)
		fs := c.flagSet("test")
		require.NoError(t, fs.Parse(args))
		return c.settings(true)
	}
	cases := []struct {
		name string
		env  env
		args []string
		want settings
	}{
		{"default profile", env{"HOME": home}, nil,
			settings{"http://default.example", "default-key", "ZGVmYXVsdA=="}},
		{"named profile", env{"HOME": home}, []string{"--profile", "prod"},
			settings{"https://prod.example/voice", "prod-key", "cHJvZA=="}},
		{"profile from env", env{"HOME": home, "CALLCORE_PROFILE": "prod"}, nil,
			settings{"https://prod.example/voice", "prod-key", "cHJvZA=="}},
		{"flag profile over env profile", env{"HOME": home, "CALLCORE_PROFILE": "nope"}, []string{"--profile", "prod"},
			settings{"https://prod.example/voice", "prod-key", "cHJvZA=="}},
		{"env over profile", env{"HOME": home, "CALLCORE_KEY": "env-key", "CALLCORE_URL": "http://env.example"}, []string{"--profile", "prod"},
			settings{"http://env.example", "env-key", "cHJvZA=="}},
		{"flags over env", env{"HOME": home, "CALLCORE_KEY": "env-key", "CALLCORE_SECRET": "ZW52"}, []string{"--key", "flag-key", "--url", "http://flag.example"},
			settings{"http://flag.example", "flag-key", "ZW52"}},
		{"no file needed", env{"CALLCORE_KEY": "k", "CALLCORE_SECRET": "cw=="}, nil,
			settings{defaultURL, "k", "cw=="}},
		{"XDG_CONFIG_HOME", env{"HOME": t.TempDir(), "XDG_CONFIG_HOME": filepath.Join(home, ".config")}, nil,
			settings{"http://default.example", "default-key", "ZGVmYXVsdA=="}},
		{"--config", env{"HOME": home}, []string{"--config", other, "--profile", "staging"},
			settings{"http://staging.example", "staging-key", "c3RhZ2luZw=="}},
	}
	for _, tc := range cases {
		got, err := settingsOf(tc.env, tc.args...)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}

	_, err := settingsOf(env{"HOME": home}, "--profile", "staging")
	require.ErrorContains(t, err, `profile "staging" not in `)
	require.ErrorContains(t, err, "(it has: default, prod)")
	_, err = settingsOf(env{"HOME": t.TempDir()}, "--profile", "prod")
	require.ErrorContains(t, err, "profile file: ")
	_, err = settingsOf(env{"HOME": home}, "--config", filepath.Join(home, "missing.yaml"))
	require.ErrorContains(t, err, "missing.yaml", "an explicit --config must exist")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "default: {url: x, key: k, secret: s3cr3t, sekret: typo}\n")
	_, err = settingsOf(env{"HOME": home}, "--config", bad)
	require.ErrorContains(t, err, "field sekret not found")
	writeFile(t, bad, "default: [s3cr3t]\n")
	_, err = settingsOf(env{"HOME": home}, "--config", bad)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t", "values are not quoted in errors")

	// A profile file others can read works, with a warning.
	open := filepath.Join(t.TempDir(), "open.yaml")
	require.NoError(t, writeFileMode(open, "default: {key: k, secret: cw==}\n", 0o644))
	r := ctl(t, env{"HOME": home}, "--config", open, "sign", "GET", "/x")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "callcorectl: warning: "+open+" is readable by others")
	assert.Contains(t, r.stdout, "authorization: application k:")
}

// fakeNode is an httptest server standing in for a node: it verifies
// every request's signature, records the paths and answers with handle
// (false: 404 in the API's error form).
type fakeNode struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []string
	bodies []string
}

func newFakeNode(t *testing.T, handle func(w http.ResponseWriter, r *http.Request) bool) *fakeNode {
	t.Helper()
	f := &fakeNode{}
	v := &events.Verifier{Lookup: func(k string) (string, bool) { return testSecret, k == testKey }}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			t.Errorf("%s %s: bad signature: %v", r.Method, r.URL, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, r.URL.EscapedPath())
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		if handle == nil || !handle(w, r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errorCode":40400,"message":"Call not found","reference":"r-404"}`))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// env points callcorectl at the fake node.
func (f *fakeNode) env(t *testing.T) env {
	e := credentials(t)
	e["CALLCORE_URL"] = f.srv.URL
	return e
}

// paths lists the escaped paths requested so far.
func (f *fakeNode) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// lastBody is the body of the last request.
func (f *fakeNode) lastBody() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[len(f.bodies)-1]
}

// The request bodies the commands send, field by field.
func TestRequestBodies(t *testing.T) {
	t.Parallel()
	srv := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == calloutPath:
			_, _ = w.Write([]byte(`{"callId":"c-1"}`))
		case r.Method == http.MethodPatch || r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			return false
		}
		return true
	})
	e := srv.env(t)

	assert.Equal(t, "c-1\n", ok(t, e, "callout", "tts", "--to", "alice@example.com", "--text", "Hi", "--prompts", "#tts[x]",
		"--locale", "sv-SE", "--cli", "private", "--dtmf", "1w2", "--custom", "c", "--domain", "pstn",
		"--enable-ace", "--enable-dice", "--enable-pie"))
	assert.JSONEq(t, `{"method":"ttsCallout","ttsCallout":{"destination":{"type":"sip","endpoint":"alice@example.com"},
		"cli":"private","dtmf":"1w2","domain":"pstn","custom":"c","locale":"sv-SE","text":"Hi","prompts":"#tts[x]",
		"enableAce":true,"enableDice":true,"enablePie":true}}`, srv.lastBody())

	ok(t, e, "callout", "custom", "--to", "bob", "--dest-type", "username", "--max-duration", "60",
		"--ice", "{\n \"action\": {\"name\": \"hangup\"}\n}", "--ace", "https://example.com/ace")
	assert.JSONEq(t, `{"method":"customCallout","customCallout":{"destination":{"type":"username","endpoint":"bob"},
		"maxDuration":60,"ice":"{\"action\":{\"name\":\"hangup\"}}","ace":"https://example.com/ace"}}`, srv.lastBody())

	ok(t, e, "callout", "conference", "--to", "+46708000000", "--conference", "r", "--greeting", "Hello", "--locale", "en-GB",
		"--moh", "ring", "--dtmf-options", `{"mode":"detect"}`, "--max-duration", "30", "--enable-dice")
	assert.JSONEq(t, `{"method":"conferenceCallout","conferenceCallout":{"destination":{"type":"number","endpoint":"+46708000000"},
		"conferenceId":"r","greeting":"Hello","locale":"en-GB","mohClass":"ring","conferenceDtmfOptions":{"mode":"detect"},
		"maxDuration":30,"enableDice":true}}`, srv.lastBody())

	ok(t, e, "call", "update", "id/1", `{"instructions":[{"name":"say","text":"Bye"}],"action":{"name":"hangup"}}`, "--leg", "callee")
	assert.Equal(t, "/calling/v1/calls/id/id%2F1/leg/callee", srv.paths()[len(srv.paths())-1])
	assert.JSONEq(t, `{"instructions":[{"name":"say","text":"Bye"}],"action":{"name":"hangup"}}`, srv.lastBody())

	ok(t, e, "call", "hangup", "id-2")
	assert.JSONEq(t, hangupSVAML, srv.lastBody())

	ok(t, e, "conference", "hold", "r", "c-1", "--moh", "music2")
	assert.JSONEq(t, `{"command":"onhold","moh":"music2"}`, srv.lastBody())
	ok(t, e, "conference", "mute", "r", "c-1")
	assert.JSONEq(t, `{"command":"mute"}`, srv.lastBody())
	ok(t, e, "conference", "kick", "r")
	assert.Equal(t, "/calling/v1/conferences/id/r", srv.paths()[len(srv.paths())-1])
	assert.Empty(t, srv.lastBody())
}

// "@-" reads a value from standard input; "-" is standard input for
// svaml check.
func TestStdin(t *testing.T) {
	t.Parallel()
	runStdin := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := newCLI(context.Background(), strings.NewReader(stdin), &out, &errb, credentials(t).get).main(args)
		return code, out.String(), errb.String()
	}
	code, out, _ := runStdin(`{"action":{"name":"hangup"}}`, "svaml", "check", "-", "--event", "dice")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "<stdin>: ok (dice): action hangup\n", out)

	code, out, _ = runStdin(`{"action":{"name":"continue"}}`, "svaml", "check", "-", "--event", "ice")
	assert.Equal(t, exitInvalid, code)
	assert.Equal(t, "<stdin>: action.name: action \"continue\" is not allowed in a reply to ICE\n", out)

	body := `{"event":"dice"}`
	code, out, _ = runStdin(body, "sign", "POST", "/cb", "@-", "--timestamp", "2026-03-01T12:00:00Z")
	require.Equal(t, exitOK, code)
	key, err := events.DecodeSecret(testSecret)
	require.NoError(t, err)
	assert.Contains(t, out, "authorization: application "+testKey+":"+
		events.Sign(key, "POST", []byte(body), events.CallbackContentType, "2026-03-01T12:00:00.0000000Z", "/cb"))
}
