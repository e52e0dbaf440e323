package events

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVerifyVectors(t *testing.T) {
	for _, v := range signVectors {
		t.Run(v.name, func(t *testing.T) {
			if !v.verifiable {
				t.Skip("x-timestamp of this vector does not parse; see TestVerifyVector2Artefact")
			}
			got, err := fixedVerifier(mustTime(v.xts)).Verify(v.request(), []byte(v.body))
			require.NoError(t, err)
			require.Equal(t, v.key, got)
		})
	}
}

// Vector 2 signs "x-timestamp:x-timestamp:<ts>" because the Node test puts the
// whole canonical line into the header. Node does not check freshness, so it
// accepts it; we require a parseable x-timestamp and reject it as such (the
// signature itself is right, as TestSignVectors shows).
func TestVerifyVector2Artefact(t *testing.T) {
	v := signVectors[1]
	require.Equal(t, "x-timestamp:2024-01-19T09:19:28.9372196Z", v.xts)
	_, err := fixedVerifier(mustTime("2024-01-19T09:19:28.9372196Z")).Verify(v.request(), []byte(v.body))
	require.ErrorIs(t, err, ErrBadTimestamp)
	require.Equal(t, "bad_timestamp", FailureReason(err))
}

// The negative cases of NET AuthenticationHeaderValidationTests (vector 7).
func TestVerifyNETNegativeCases(t *testing.T) {
	v := signVectors[6]
	auth := v.scheme + " " + v.key + ":" + v.sig
	tests := []struct {
		name                        string
		method, path, ct, xts, auth string
		body                        string
		wantErr                     error
	}{
		{"original", "POST", v.path, v.contentType, v.xts, auth, v.body, nil},
		{"other path", "POST", "/not/that/path", v.contentType, v.xts, auth, v.body, ErrBadSignature},
		{"method GET", "GET", v.path, v.contentType, v.xts, auth, v.body, ErrBadSignature},
		{"other timestamp", "POST", v.path, v.contentType, "2019-11-03T10:59:41Z", auth, v.body, ErrBadSignature},
		{"content type text/html", "POST", v.path, "text/html", v.xts, auth, v.body, ErrBadSignature},
		{"other body", "POST", v.path, v.contentType, v.xts, auth, `{"hello":"world"}`, ErrBadSignature},
		{"scheme authorization", "POST", v.path, v.contentType, v.xts, "authorization " + v.key + ":" + v.sig, v.body, ErrMalformedAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(tt.method, tt.path, tt.ct, tt.xts, tt.auth, tt.body)
			got, err := fixedVerifier(mustTime(v.xts)).Verify(r, []byte(tt.body))
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, v.key, got)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Empty(t, got)
		})
	}
}

// TestVerifySDKVariants signs requests the way each SDK does (reference §4.3)
// and checks that the server accepts them.
func TestVerifySDKVariants(t *testing.T) {
	const appKey = "appKey"
	key, err := DecodeSecret(testSecrets[appKey])
	require.NoError(t, err)
	tests := []struct {
		name   string
		scheme string
		method string
		target string // request target as sent on the wire
		ct     string // Content-Type header ("" = none)
		xts    string
		signed string // resource the SDK signs
		body   string
	}{
		{"node GET with application/json and empty body", "Application", "GET",
			"/calling/v1/calls/id/c1", "application/json", "2024-01-19T09:19:28.937Z", "/calling/v1/calls/id/c1", ""},
		{"node POST with ms timestamp", "Application", "POST",
			"/calling/v1/callouts", "application/json", "2024-01-19T09:19:28.937Z", "/calling/v1/callouts", calloutBody},
		{"node literal escaped path", "Application", "PATCH",
			"/calling/v1/conferences/id/my%20conf/c1", "application/json", "2024-01-19T09:19:28.937Z", "/calling/v1/conferences/id/my%20conf/c1", `{"command":"mute"}`},
		{"python +00:00 timestamp and charset=UTF-8", "Application", "POST",
			"/calling/v1/callouts", "application/json; charset=UTF-8", "2024-01-19T09:19:28.937219+00:00", "/calling/v1/callouts", calloutBody},
		{"python GET keeps content type", "Application", "GET",
			"/v1/configuration/numbers", "application/json; charset=UTF-8", "2024-01-19T09:19:28.937219+00:00", "/v1/configuration/numbers", ""},
		{"java percent-decoded path", "Application", "GET",
			"/calling/v1/conferences/id/my%20conf", "", "2024-01-19T09:19:28.937219Z", "/calling/v1/conferences/id/my conf", ""},
		{"java decoded path with escaped slash", "Application", "DELETE",
			"/calling/v1/conferences/id/a%2Fb", "", "2024-01-19T09:19:28.937Z", "/calling/v1/conferences/id/a/b", ""},
		{"node raw path with escaped slash", "Application", "DELETE",
			"/calling/v1/conferences/id/a%2Fb", "", "2024-01-19T09:19:28.937Z", "/calling/v1/conferences/id/a%2Fb", ""},
		{".NET PathAndQuery", "Application", "POST",
			"/calling/v1/callouts?trace=1", "application/json; charset=utf-8", "2024-01-19T09:19:28.9372196Z", "/calling/v1/callouts?trace=1", calloutBody},
		{".NET GET without content", "Application", "GET",
			"/calling/v1/calls/id/c1", "", "2024-01-19T09:19:28.9372196Z", "/calling/v1/calls/id/c1", ""},
		{"query not signed (node, java, python)", "Application", "GET",
			"/v1/calling/query/number/+46701234567?x=1", "application/json", "2024-01-19T09:19:28.937Z", "/v1/calling/query/number/+46701234567", ""},
		{"legacy .NET lower-case scheme, no fraction", "application", "POST",
			"/calling/v1/callouts", "application/json", "2024-01-19T09:19:28Z", "/calling/v1/callouts", calloutBody},
		{"scheme APPLICATION", "APPLICATION", "POST",
			"/calling/v1/callouts", "application/json", "2024-01-19T09:19:28Z", "/calling/v1/callouts", calloutBody},
		{"scheme aPpLiCaTiOn", "aPpLiCaTiOn", "POST",
			"/calling/v1/callouts", "application/json", "2024-01-19T09:19:28Z", "/calling/v1/callouts", calloutBody},
		{"offset timestamp", "Application", "POST",
			"/calling/v1/callouts", "application/json", "2024-01-19T11:19:28.5+02:00", "/calling/v1/callouts", calloutBody},
	}
	now := mustTime("2024-01-19T09:20:00Z")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := Sign(key, tt.method, []byte(tt.body), tt.ct, tt.xts, tt.signed)
			r := newRequest(tt.method, tt.target, tt.ct, tt.xts, tt.scheme+" "+appKey+":"+sig, tt.body)
			got, err := fixedVerifier(now).Verify(r, []byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, appKey, got)

			// Any other resource spelling is rejected.
			bad := Sign(key, tt.method, []byte(tt.body), tt.ct, tt.xts, tt.signed+"x")
			r = newRequest(tt.method, tt.target, tt.ct, tt.xts, tt.scheme+" "+appKey+":"+bad, tt.body)
			_, err = fixedVerifier(now).Verify(r, []byte(tt.body))
			require.ErrorIs(t, err, ErrBadSignature)
		})
	}
}

func TestVerifyContentTypeVerbatim(t *testing.T) {
	key, err := DecodeSecret(testSecrets["appKey"])
	require.NoError(t, err)
	const xts = "2024-01-19T09:19:28Z"
	now := mustTime(xts)
	// Signed without a Content-Type: the header must be absent (not "undefined").
	sig := Sign(key, "GET", nil, "", xts, "/x")
	r := newRequest("GET", "/x", "", xts, "Application appKey:"+sig, "")
	_, err = fixedVerifier(now).Verify(r, nil)
	require.NoError(t, err)
	r = newRequest("GET", "/x", "application/json", xts, "Application appKey:"+sig, "")
	_, err = fixedVerifier(now).Verify(r, nil)
	require.ErrorIs(t, err, ErrBadSignature)
	// Content-Type is not normalised: case and spacing matter.
	sig = Sign(key, "POST", []byte("{}"), "application/json; charset=utf-8", xts, "/x")
	r = newRequest("POST", "/x", "application/json;charset=utf-8", xts, "Application appKey:"+sig, "{}")
	_, err = fixedVerifier(now).Verify(r, []byte("{}"))
	require.ErrorIs(t, err, ErrBadSignature)
}

func TestVerifyWindow(t *testing.T) {
	key, err := DecodeSecret(testSecrets["appKey"])
	require.NoError(t, err)
	const xts = "2024-01-19T09:19:28.9372196Z"
	ts := mustTime(xts)
	sig := Sign(key, "POST", []byte(calloutBody), "application/json", xts, "/calling/v1/callouts")
	req := func() *http.Request {
		return newRequest("POST", "/calling/v1/callouts", "application/json", xts, "Application appKey:"+sig, calloutBody)
	}
	tests := []struct {
		name    string
		window  time.Duration
		now     time.Time
		wantErr error
	}{
		{"same instant", 0, ts, nil},
		{"just inside default window (past)", 0, ts.Add(DefaultWindow), nil},
		{"just inside default window (future)", 0, ts.Add(-DefaultWindow), nil},
		{"stale", 0, ts.Add(DefaultWindow + time.Nanosecond), ErrStaleTimestamp},
		{"future", 0, ts.Add(-DefaultWindow - time.Nanosecond), ErrFutureTimestamp},
		{"one hour stale", 0, ts.Add(time.Hour), ErrStaleTimestamp},
		{"custom window inside", time.Minute, ts.Add(59 * time.Second), nil},
		{"custom window stale", time.Minute, ts.Add(61 * time.Second), ErrStaleTimestamp},
		{"custom window future", time.Minute, ts.Add(-61 * time.Second), ErrFutureTimestamp},
		{"negative window means default", -time.Second, ts.Add(5 * time.Minute), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := fixedVerifier(tt.now)
			v.Window = tt.window
			got, err := v.Verify(req(), []byte(calloutBody))
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, "appKey", got)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Empty(t, got)
		})
	}
}

func TestVerifyDefaultClock(t *testing.T) {
	s, err := NewSigner("appKey", testSecrets["appKey"])
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, "http://localhost/calling/v1/callouts", nil)
	require.NoError(t, err)
	s.SignRequest(r, []byte(calloutBody), time.Now())
	v := &Verifier{Lookup: lookupTestSecret}
	got, err := v.Verify(r, []byte(calloutBody))
	require.NoError(t, err)
	require.Equal(t, "appKey", got)

	s.SignRequest(r, []byte(calloutBody), time.Now().Add(-time.Hour))
	_, err = v.Verify(r, []byte(calloutBody))
	require.ErrorIs(t, err, ErrStaleTimestamp)
}

func TestVerifyTimestampFormats(t *testing.T) {
	key, err := DecodeSecret(testSecrets["appKey"])
	require.NoError(t, err)
	now := mustTime("2024-01-19T09:19:28Z")
	tests := []struct {
		xts     string
		wantErr error
	}{
		{"2024-01-19T09:19:28Z", nil},
		{"2024-01-19T09:19:28.937Z", nil},
		{"2024-01-19T09:19:28.937219Z", nil},
		{"2024-01-19T09:19:28.9372196Z", nil},
		{"2024-01-19T09:19:28+00:00", nil},
		{"2024-01-19T09:19:28.937219+00:00", nil},
		{"2024-01-19T10:19:28.937+01:00", nil},
		{"", ErrBadTimestamp},
		{"2024-01-19 09:19:28", ErrBadTimestamp},
		{"2024-01-19T09:19:28", ErrBadTimestamp},
		{"1705655968", ErrBadTimestamp},
		{"yesterday", ErrBadTimestamp},
		{"x-timestamp:2024-01-19T09:19:28Z", ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.xts, func(t *testing.T) {
			sig := Sign(key, "POST", []byte("{}"), "application/json", tt.xts, "/x")
			r := newRequest("POST", "/x", "application/json", tt.xts, "Application appKey:"+sig, "{}")
			got, err := fixedVerifier(now).Verify(r, []byte("{}"))
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, "appKey", got)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func basicAuth(key, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret))
}

func TestVerifyBasic(t *testing.T) {
	tests := []struct {
		name    string
		auth    string
		wantKey string
		wantErr error
	}{
		{"ok", basicAuth("appKey", "YXBwU2VjcmV0"), "appKey", nil},
		{"lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("appKey:YXBwU2VjcmV0")), "appKey", nil},
		{"secret with colon-free non-base64 value", basicAuth("app-key", "app-secret"), "app-key", nil},
		{"wrong secret", basicAuth("appKey", "YXBwU2VjcmV1"), "", ErrBadCredentials},
		{"secret prefix", basicAuth("appKey", "YXBwU2Vjcm"), "", ErrBadCredentials},
		{"empty secret", basicAuth("appKey", ""), "", ErrBadCredentials},
		{"decoded secret instead of configured", basicAuth("appKey", "appSecret"), "", ErrBadCredentials},
		{"unknown key", basicAuth("nobody", "YXBwU2VjcmV0"), "", ErrUnknownKey},
		{"garbage base64", "Basic %%%not-base64%%%", "", ErrMalformedAuth},
		{"node raw key:secret quirk is not base64", "Basic app-key:app-secret", "", ErrMalformedAuth},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("appKeyYXBwU2VjcmV0")), "", ErrMalformedAuth},
		{"empty key", basicAuth("", "YXBwU2VjcmV0"), "", ErrMalformedAuth},
		{"empty credentials", "Basic ", "", ErrMalformedAuth},
		{"two spaces", "Basic  " + base64.StdEncoding.EncodeToString([]byte("appKey:YXBwU2VjcmV0")), "", ErrMalformedAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("GET", "/v1/configuration/numbers", "", "", tt.auth, "")
			got, err := fixedVerifier(time.Unix(0, 0)).Verify(r, nil)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.wantKey, got)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Empty(t, got)
			require.NotContains(t, err.Error(), "YXBwU2Vj")
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := signVectors[6]
	tests := []struct {
		name    string
		auth    string
		wantErr error
	}{
		{"no authorization header", "", ErrMissingAuth},
		{"scheme only", "application", ErrMalformedAuth},
		{"unknown scheme", "Bearer abc", ErrMalformedAuth},
		{"scheme with trailing chars", "applications " + v.key + ":" + v.sig, ErrMalformedAuth},
		{"tab after scheme", "application\t" + v.key + ":" + v.sig, ErrMalformedAuth},
		{"two spaces", "application  " + v.key + ":" + v.sig, ErrMalformedAuth},
		{"no colon", "application " + v.key + v.sig, ErrMalformedAuth},
		{"empty signature", "application " + v.key + ":", ErrMalformedAuth},
		{"empty key", "application :" + v.sig, ErrMalformedAuth},
		{"two colons", "application " + v.key + ":" + v.sig + ":x", ErrMalformedAuth},
		{"trailing space in signature", "application " + v.key + ":" + v.sig + " ", ErrBadSignature},
		{"short signature", "application " + v.key + ":" + v.sig[:20], ErrBadSignature},
		{"long signature", "application " + v.key + ":" + v.sig + v.sig, ErrBadSignature},
		{"unknown key", "application nobody:" + v.sig, ErrUnknownKey},
		{"key case matters", "application 669e367e-6bba-48ab-af15-266871c28135:" + v.sig, ErrUnknownKey},
		{"unicode fold of scheme is not accepted", "applicatıon " + v.key + ":" + v.sig, ErrMalformedAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(v.method, v.path, v.contentType, v.xts, tt.auth, v.body)
			got, err := fixedVerifier(mustTime(v.xts)).Verify(r, []byte(v.body))
			require.ErrorIs(t, err, tt.wantErr)
			require.Empty(t, got)
			require.NotContains(t, err.Error(), netSecret)
		})
	}
}

func TestVerifyErrorsDoNotQuoteCredentials(t *testing.T) {
	// A client that forgot the scheme and sent "key:secret" plus junk.
	r := newRequest("GET", "/", "", "", "appKey:YXBwU2VjcmV0 x", "")
	_, err := fixedVerifier(time.Unix(0, 0)).Verify(r, nil)
	require.ErrorIs(t, err, ErrMalformedAuth)
	require.NotContains(t, err.Error(), "YXBwU2VjcmV0")
}

func TestVerifyNilURL(t *testing.T) {
	v := signVectors[6]
	r := v.request()
	r.URL = nil
	_, err := fixedVerifier(mustTime(v.xts)).Verify(r, []byte(v.body))
	require.ErrorIs(t, err, ErrBadSignature)
}

func TestVerifyMissingTimestamp(t *testing.T) {
	v := signVectors[6]
	r := newRequest(v.method, v.path, v.contentType, "", v.scheme+" "+v.key+":"+v.sig, v.body)
	_, err := fixedVerifier(mustTime(v.xts)).Verify(r, []byte(v.body))
	require.ErrorIs(t, err, ErrBadTimestamp)
}

func TestVerifyNilLookupKnowsNoKeys(t *testing.T) {
	v := signVectors[6]
	_, err := (&Verifier{}).Verify(v.request(), []byte(v.body))
	require.ErrorIs(t, err, ErrUnknownKey)
	_, err = (&Verifier{}).Verify(newRequest("GET", "/", "", "", basicAuth("a", "b"), ""), nil)
	require.ErrorIs(t, err, ErrUnknownKey)
}

func TestVerifyInvalidConfiguredSecret(t *testing.T) {
	const bad = "%%%%secret%%%%"
	v := &Verifier{
		Lookup: func(string) (string, bool) { return bad, true },
		Now:    func() time.Time { return mustTime("2014-09-24T10:59:41Z") },
	}
	_, err := v.Verify(signVectors[6].request(), []byte(signVectors[6].body))
	require.Error(t, err)
	require.Equal(t, "other", FailureReason(err))
	require.NotContains(t, err.Error(), bad)
	require.NotContains(t, err.Error(), "secret%%")
}

func TestVerifySecretRotation(t *testing.T) {
	var current atomic.Value
	current.Store("YXBwU2VjcmV0")
	v := &Verifier{
		Lookup: func(k string) (string, bool) { return current.Load().(string), k == "appKey" },
		Now:    func() time.Time { return mustTime("2024-01-19T09:19:28Z") },
	}
	sign := func(secret string) *http.Request {
		key, err := DecodeSecret(secret)
		require.NoError(t, err)
		sig := Sign(key, "POST", []byte("{}"), "application/json", "2024-01-19T09:19:28Z", "/x")
		return newRequest("POST", "/x", "application/json", "2024-01-19T09:19:28Z", "Application appKey:"+sig, "{}")
	}
	_, err := v.Verify(sign("YXBwU2VjcmV0"), []byte("{}"))
	require.NoError(t, err)

	current.Store("bmV3U2VjcmV0") // "newSecret"
	_, err = v.Verify(sign("YXBwU2VjcmV0"), []byte("{}"))
	require.ErrorIs(t, err, ErrBadSignature)
	_, err = v.Verify(sign("bmV3U2VjcmV0"), []byte("{}"))
	require.NoError(t, err)
}

func TestVerifyKeyCacheBounded(t *testing.T) {
	v := fixedVerifier(time.Unix(0, 0))
	for i := range maxCachedKeys + 10 {
		_, err := v.macKey(base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "secret-%d", i)))
		require.NoError(t, err)
	}
	n := 0
	v.keys.Range(func(any, any) bool { n++; return true })
	require.LessOrEqual(t, n, maxCachedKeys)
	require.Positive(t, n)
}

func TestVerifyConcurrent(t *testing.T) {
	v := fixedVerifier(mustTime("2023-11-22T09:10:11.999Z"))
	good := signVectors[2]
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, err := v.Verify(good.request(), []byte(good.body)); err != nil {
					errs <- err
					return
				}
				r := good.request()
				r.Method = "DELETE"
				if _, err := v.Verify(r, []byte(good.body)); !errors.Is(err, ErrBadSignature) {
					errs <- fmt.Errorf("tampered request: got %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestFailureReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrMissingAuth, "missing"},
		{fmt.Errorf("%w: x", ErrMalformedAuth), "malformed"},
		{fmt.Errorf("wrapped: %w", ErrUnknownKey), "unknown_key"},
		{ErrBadSignature, "bad_signature"},
		{ErrBadCredentials, "bad_credentials"},
		{ErrBadTimestamp, "bad_timestamp"},
		{ErrStaleTimestamp, "stale_timestamp"},
		{ErrFutureTimestamp, "future_timestamp"},
		{errors.New("boom"), "other"},
		{ErrUnknownEvent, "other"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FailureReason(tt.err), "%v", tt.err)
	}
}
