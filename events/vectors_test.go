package events

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// signVector is a signature test vector of reference §4.6/§4.7. xts is the
// x-timestamp value exactly as it appears in the string to sign.
type signVector struct {
	name                     string
	key, secret              string
	method, contentType, xts string
	path, body               string
	scheme                   string // scheme the source puts in the header
	sig                      string // expected base64 signature
	verifiable               bool   // x-timestamp parses, so Verify can accept it
}

const (
	v1Body   = `{"id":"018d2104-aaa-bbbb-1234","price":{"amount":0.0308},"rate":{"amount":0.0}}`
	v3Body   = `{"identity":{"type":"number","endpoint":"+33444555666"},"method":"sms"}`
	v6Body   = `{"id":"018c25e1-7163-5677-b8fb-467d7b1cffa5","event":"VerificationResultEvent","method":"sms","identity":{"verified":false,"type":"number","endpoint":"+33628254417"},"status":"FAIL","reason":"Expired"}`
	v7Body   = `{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257","timestamp":"2014-09-24T10:59:41Z","version":1}`
	v8Body   = `{"identity": {"type": "number", "endpoint": "+46700000000"}, "method": "sms"}`
	docsBody = `{"message":"Hello world"}`

	netKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	netSecret = "BeIukql3pTKJ8RGL5zo0DA=="
)

var signVectors = []signVector{
	{"v1 node generate", "app-key", "app-secret", "POST", "application/json; charset=utf-8",
		"2024-01-19T09:19:28.9372196Z", "/webhook", v1Body, "Application",
		"p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw=", true},
	{"v2 node validate artefact", "app-key", "app-secret", "POST", "application/json; charset=utf-8",
		"x-timestamp:2024-01-19T09:19:28.9372196Z", "/webhook", v1Body, "Application",
		"wC8XcoLQ22cxrOsUqqbWk+LHJ82wtqR/IgeIp9NG8LY=", false},
	{"v3 node signing with body", "my-key-id", "bXkta2V5LXNlY3JldA==", "post", "application/json; charset=UTF-8",
		"2023-11-22T09:10:11.999Z", "/path/pathParamValue", v3Body, "Application",
		"QP3OzQZVzRZAEev6DBLvJkgpiqyZPuXYsc7oyjUV0K8=", true},
	{"v4 node signing GET no body", "my-key-id", "bXkta2V5LXNlY3JldA==", "get", "application/json",
		"2023-11-22T09:10:11.999Z", "/path/pathParamValue", "", "Application",
		"nsrLDvP6KVD/dAxb3IfAncdwjPFJVWSrseEFOcZge+A=", true},
	{"v5 java application auth manager", "my-key-id", "bXkta2V5LXNlY3JldA==", "POST", "application/json; charset=UTF-8",
		"2023-11-22T09:10:11.999Z", "/path/pathParamValue", v3Body, "application",
		"QP3OzQZVzRZAEev6DBLvJkgpiqyZPuXYsc7oyjUV0K8=", true},
	{"v6 java verification event non-base64 secret", "789", "9876543210", "POST", "application/json; charset=utf-8",
		"2023-12-01T15:01:20.0406449Z", "/VerificationRequestEvent", v6Body, "application",
		"xfKhO0XvlRNJraahUBEJzzi1f3Fn3pYO41/ZzwOHPaQ=", true},
	{"v7 net callback validation", netKey, netSecret, "POST", "application/json",
		"2014-09-24T10:59:41Z", "/sinch/callback/ace", v7Body, "application",
		"Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4=", true},
	{"v8 net application signature", netKey, netSecret, "POST", "application/json",
		"2014-06-04T13:41:58Z", "/verification/v1/verifications", v8Body, "Application",
		"h6rXrFayOoggyHW4ymnLlfSDkZZPg6j98lHzvOXVjvw=", true},
	{"v9 net empty body", netKey, netSecret, "POST", "application/json",
		"2014-06-04T13:41:58Z", "/verification/v1/verifications", "", "Application",
		"srx3SkKXw/ryFJLfwFFzZTigPxR/1+9Ae+eB3olDIjM=", true},
	{"docs rest example legacy sms path", "5F5C418A0F914BBC8234A9BF5EDDAD97", "JViE5vDor0Sw3WllZka15Q==", "POST", "application/json",
		"2014-06-04T13:41:58Z", "/v1/sms/+46700000000", docsBody, "Application",
		"qDXMwzfaxCRS849c/2R0hg0nphgdHciTo7OdM6MsdnM=", true},
	{"docs rest example corrected callouts path", "5F5C418A0F914BBC8234A9BF5EDDAD97", "JViE5vDor0Sw3WllZka15Q==", "POST", "application/json",
		"2014-06-04T13:41:58Z", "/calling/v1/callouts", docsBody, "Application",
		"aS9fG2smJx6MIhPJDSNiaDQ1D3+e493HuL+VVA9pqyM=", true},
}

// testSecrets maps every application key used in the tests to its secret.
var testSecrets = map[string]string{
	"app-key":                          "app-secret",
	"my-key-id":                        "bXkta2V5LXNlY3JldA==",
	"789":                              "9876543210",
	netKey:                             netSecret,
	"5F5C418A0F914BBC8234A9BF5EDDAD97": "JViE5vDor0Sw3WllZka15Q==",
	"appKey":                           "YXBwU2VjcmV0",
}

func lookupTestSecret(key string) (string, bool) {
	s, ok := testSecrets[key]
	return s, ok
}

// mustTime parses an RFC 3339 timestamp or panics.
func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixedVerifier returns a Verifier that knows testSecrets and whose clock is
// stopped at now.
func fixedVerifier(now time.Time) *Verifier {
	return &Verifier{Lookup: lookupTestSecret, Now: func() time.Time { return now }}
}

// newRequest builds a server-side request as net/http would present it.
// Empty contentType, xts or auth leave the header out.
func newRequest(method, target, contentType, xts, auth, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if xts != "" {
		r.Header.Set("x-timestamp", xts)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

// request returns the vector as an incoming request.
func (v signVector) request() *http.Request {
	return newRequest(v.method, v.path, v.contentType, v.xts, v.scheme+" "+v.key+":"+v.sig, v.body)
}

// calloutBody is a realistic ~300 byte callout request body.
const calloutBody = `{"method":"ttsCallout","ttsCallout":{"cli":"+46000000000","destination":{"type":"number","endpoint":"+46701234567"},"domain":"pstn","custom":"order-1234","locale":"en-US","text":"Hello, this is a reminder about your appointment tomorrow at ten.","enableAce":true,"enableDice":true,"enablePie":false}}`
