package events

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestContentMD5(t *testing.T) {
	require.Empty(t, ContentMD5(nil))
	require.Empty(t, ContentMD5([]byte{}))
	require.Equal(t, "REWF+X220L4/Gw1spXOU7g==", ContentMD5([]byte(v7Body)))
	require.Equal(t, "jANzQ+rgAHyf1MWQFSwvYw==", ContentMD5([]byte(docsBody)))
	require.Equal(t, "RkD29EocJh6t7zr5QfKM4g==", ContentMD5([]byte(v3Body)))
}

func TestDecodeSecret(t *testing.T) {
	// Expected bytes cross-checked with Node's Buffer.from(secret, "base64").
	tests := []struct {
		name, secret, wantHex string
	}{
		{"standard base64", "BeIukql3pTKJ8RGL5zo0DA==", "05e22e92a977a53289f1118be73a340c"},
		{"standard without padding needed", "YXBwU2VjcmV0", hex.EncodeToString([]byte("appSecret"))},
		{"standard with missing padding", "bXkta2V5LXNlY3JldA", hex.EncodeToString([]byte("my-key-secret"))},
		{"url alphabet (node test secret)", "app-secret", "6a9a7eb1e72b7a"},
		{"digits only (java test secret)", "9876543210", "f7cefae78df6d7"},
		{"url alphabet padded", "-_-_", "fbffbf"},
		{"mixed alphabets via replacer", "a+b_cw==", "6be6ff73"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSecret(tt.secret)
			require.NoError(t, err)
			require.Equal(t, tt.wantHex, hex.EncodeToString(got))
		})
	}
}

func TestDecodeSecretErrors(t *testing.T) {
	for _, secret := range []string{"", "=", "====", "a", "!!!!", "not base64 at all", "abc$"} {
		t.Run(secret, func(t *testing.T) {
			got, err := DecodeSecret(secret)
			require.Error(t, err)
			require.Nil(t, got)
			if len(secret) >= 4 {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestStringToSign(t *testing.T) {
	require.Equal(t,
		"POST\nREWF+X220L4/Gw1spXOU7g==\napplication/json\nx-timestamp:2014-09-24T10:59:41Z\n/sinch/callback/ace",
		StringToSign("POST", []byte(v7Body), "application/json", "2014-09-24T10:59:41Z", "/sinch/callback/ace"))
	require.Equal(t,
		"GET\n\napplication/json\nx-timestamp:2023-11-22T09:10:11.999Z\n/path/pathParamValue",
		StringToSign("get", nil, "application/json", "2023-11-22T09:10:11.999Z", "/path/pathParamValue"))
	require.Equal(t,
		"DELETE\n\n\nx-timestamp:\n/",
		StringToSign("delete", []byte{}, "", "", "/"))
	// Only ASCII is upper-cased: no Unicode case mapping sneaks "poſt" into "POST".
	require.Equal(t, "POſT", strings.SplitN(StringToSign("poſt", nil, "", "", "/"), "\n", 2)[0])
}

func TestSignVectors(t *testing.T) {
	for _, v := range signVectors {
		t.Run(v.name, func(t *testing.T) {
			key, err := DecodeSecret(v.secret)
			require.NoError(t, err)
			require.Equal(t, v.sig, Sign(key, v.method, []byte(v.body), v.contentType, v.xts, v.path))

			// The pooled signer used by Signer and Verifier agrees.
			var out [sigB64Len]byte
			newMACKey(key).sign(&out, v.method, []byte(v.body), v.contentType, v.xts, v.path)
			require.Equal(t, v.sig, string(out[:]))
		})
	}
}

func TestSignVector1AuthorizationHeader(t *testing.T) {
	// Node's expected output is the whole header value.
	v := signVectors[0]
	key, err := DecodeSecret(v.secret)
	require.NoError(t, err)
	require.Equal(t, "Application app-key:p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw=",
		"Application "+v.key+":"+Sign(key, v.method, []byte(v.body), v.contentType, v.xts, v.path))
}

func TestNewSigner(t *testing.T) {
	_, err := NewSigner("", "YXBwU2VjcmV0")
	require.Error(t, err)

	_, err = NewSigner("appKey", "!!not-a-secret!!")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "!!not-a-secret!!")

	s, err := NewSigner("appKey", "YXBwU2VjcmV0")
	require.NoError(t, err)
	require.Equal(t, "appKey", s.AppKey())
}

func TestSignerSignRequest(t *testing.T) {
	s, err := NewSigner("appKey", "YXBwU2VjcmV0")
	require.NoError(t, err)
	key, err := DecodeSecret("YXBwU2VjcmV0")
	require.NoError(t, err)
	now := time.Date(2024, 1, 19, 10, 19, 28, 937219600, time.FixedZone("CET", 3600))

	t.Run("defaults content type and formats x-timestamp like .NET O", func(t *testing.T) {
		body := []byte(`{"event":"ace","callid":"c1","timestamp":"2024-01-19T09:19:28Z","version":1,"applicationKey":"appKey"}`)
		r, err := http.NewRequest(http.MethodPost, "https://app.example.com/sinch/callback/ace?ignored=1", nil)
		require.NoError(t, err)
		s.SignRequest(r, body, now)

		require.Equal(t, CallbackContentType, r.Header.Get("Content-Type"))
		require.Equal(t, "2024-01-19T09:19:28.9372196Z", r.Header.Get("x-timestamp"))
		wantSig := Sign(key, "POST", body, CallbackContentType, "2024-01-19T09:19:28.9372196Z", "/sinch/callback/ace")
		require.Equal(t, "application appKey:"+wantSig, r.Header.Get("Authorization"))

		// The signed request verifies as the receiving server would see it.
		in := newRequest("POST", "/sinch/callback/ace?ignored=1", r.Header.Get("Content-Type"),
			r.Header.Get("x-timestamp"), r.Header.Get("Authorization"), string(body))
		got, err := fixedVerifier(now).Verify(in, body)
		require.NoError(t, err)
		require.Equal(t, "appKey", got)
	})

	t.Run("keeps an existing content type and pads fractional zeros", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/calling/v1/calls/id/c1", nil)
		r.Header.Set("Content-Type", "application/json")
		at := time.Date(2024, 1, 19, 9, 19, 28, 0, time.UTC)
		s.SignRequest(r, nil, at)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.Equal(t, "2024-01-19T09:19:28.0000000Z", r.Header.Get("x-timestamp"))
		require.Equal(t, "application appKey:"+Sign(key, "GET", nil, "application/json", "2024-01-19T09:19:28.0000000Z", "/calling/v1/calls/id/c1"),
			r.Header.Get("Authorization"))
		got, err := fixedVerifier(at).Verify(r, nil)
		require.NoError(t, err)
		require.Equal(t, "appKey", got)
	})

	t.Run("empty path is signed as /", func(t *testing.T) {
		r, err := http.NewRequest(http.MethodPost, "http://app.example.com", nil)
		require.NoError(t, err)
		require.Empty(t, r.URL.Path)
		s.SignRequest(r, []byte(`{}`), now)
		in := newRequest("POST", "/", r.Header.Get("Content-Type"), r.Header.Get("x-timestamp"), r.Header.Get("Authorization"), `{}`)
		_, err = fixedVerifier(now).Verify(in, []byte(`{}`))
		require.NoError(t, err)
	})

	t.Run("nil header map", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/cb", nil)
		r.Header = nil
		s.SignRequest(r, []byte(`{}`), now)
		require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "application appKey:"))
	})
}
