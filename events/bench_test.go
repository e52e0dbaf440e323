package events

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkSign signs a ~300 byte callout request with Signer.SignRequest
// (headers included).
func BenchmarkSign(b *testing.B) {
	s, err := NewSigner("appKey", testSecrets["appKey"])
	if err != nil {
		b.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/calling/v1/callouts", nil)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(calloutBody)
	now := time.Date(2024, 1, 19, 9, 19, 28, 937219600, time.UTC)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.SignRequest(r, body, now)
	}
}

// BenchmarkSignFunc measures the stateless package-level Sign.
func BenchmarkSignFunc(b *testing.B) {
	key, err := DecodeSecret(testSecrets["appKey"])
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(calloutBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		Sign(key, "POST", body, "application/json; charset=utf-8", "2024-01-19T09:19:28.9372196Z", "/calling/v1/callouts")
	}
}

// BenchmarkVerify verifies a ~300 byte callout request signed with the
// Application scheme, as an SDK would send it.
func BenchmarkVerify(b *testing.B) {
	s, err := NewSigner("appKey", testSecrets["appKey"])
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(calloutBody)
	now := time.Date(2024, 1, 19, 9, 19, 28, 937219600, time.UTC)
	r := newRequest(http.MethodPost, "/calling/v1/callouts", "application/json; charset=utf-8", "", "", calloutBody)
	s.SignRequest(r, body, now)
	v := fixedVerifier(now)
	if _, err := v.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from all Ps at once.
func BenchmarkVerifyParallel(b *testing.B) {
	s, err := NewSigner("appKey", testSecrets["appKey"])
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(calloutBody)
	now := time.Date(2024, 1, 19, 9, 19, 28, 937219600, time.UTC)
	r := newRequest(http.MethodPost, "/calling/v1/callouts", "application/json; charset=utf-8", "", "", calloutBody)
	s.SignRequest(r, body, now)
	v := fixedVerifier(now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(r, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
