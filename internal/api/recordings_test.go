package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/store/memstore"
	"github.com/callcore/callcore/media/record"
)

// newRecordingFixture is newFixture with a recordings directory holding
// keyA's call-1.wav and call-1.mp3, and keyB's other-1.wav. It returns the
// directory.
func newRecordingFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	dir := t.TempDir()
	files, err := record.NewFileDir(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = files.Close() })
	for _, f := range []struct{ app, name, body string }{
		{keyA, "call-1.wav", "RIFF....WAVEfmt and some samples"},
		{keyA, "call-1.mp3", "\xff\xf3 an mp3"},
		{keyB, "other-1.wav", "RIFF of another app"},
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, f.app), 0o750))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.app, f.name), []byte(f.body), 0o640))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o640))

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
		Recordings: files,
	})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, http: hs, store: st, reg: reg}, dir
}

func TestGetRecording(t *testing.T) {
	f, _ := newRecordingFixture(t)
	r := f.do("GET", "/calling/v1/recordings/call-1.wav", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "RIFF....WAVEfmt and some samples", string(r.body))
	require.Equal(t, "audio/wav", r.header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=call-1.wav`, r.header.Get("Content-Disposition"))
	require.Equal(t, "bytes", r.header.Get("Accept-Ranges"))
	require.NotEmpty(t, r.header.Get("Last-Modified"))

	r = f.do("GET", "/calling/v1/recordings/call-1.mp3", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "audio/mpeg", r.header.Get("Content-Type"))

	r = f.do("HEAD", "/calling/v1/recordings/call-1.wav", "", keyA, secretA)
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.body)
	require.Equal(t, "32", r.header.Get("Content-Length"))
	require.Equal(t, "audio/wav", r.header.Get("Content-Type"))
}

func TestGetRecordingRange(t *testing.T) {
	f, _ := newRecordingFixture(t)
	req, err := http.NewRequest("GET", f.http.URL+"/calling/v1/recordings/call-1.wav", nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=4-7")
	s, err := events.NewSigner(keyA, secretA)
	require.NoError(t, err)
	s.SignRequest(req, nil, time.Now())
	r := f.send(req)
	require.Equal(t, http.StatusPartialContent, r.status)
	require.Equal(t, "....", string(r.body))
	require.Equal(t, "bytes 4-7/32", r.header.Get("Content-Range"))
}

func TestRecordingNotFound(t *testing.T) {
	f, dir := newRecordingFixture(t)
	for _, c := range []struct{ method, path, key, secret string }{
		{"GET", "/calling/v1/recordings/other-1.wav", keyA, secretA}, // keyB's
		{"GET", "/calling/v1/recordings/call-1.wav", keyB, secretB},  // keyA's
		{"GET", "/calling/v1/recordings/missing.wav", keyA, secretA},
		{"GET", "/calling/v1/recordings/..%2Fsecret.txt", keyA, secretA},
		{"GET", "/calling/v1/recordings/..%2F" + keyB + "%2Fother-1.wav", keyA, secretA},
		{"GET", "/calling/v1/recordings/%2E%2E", keyA, secretA},
		{"GET", "/calling/v1/recordings/.hidden", keyA, secretA},
		{"DELETE", "/calling/v1/recordings/call-1.wav", keyB, secretB},
		{"DELETE", "/calling/v1/recordings/..%2Fsecret.txt", keyA, secretA},
	} {
		t.Run(c.method+" "+c.path+" as "+c.key[:4], func(t *testing.T) {
			r := f.do(c.method, c.path, "", c.key, c.secret)
			requireError(t, r, http.StatusNotFound, "not found")
		})
	}
	r := f.do("HEAD", "/calling/v1/recordings/other-1.wav", "", keyA, secretA)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Empty(t, r.body)

	for _, p := range []string{filepath.Join(keyA, "call-1.wav"), "secret.txt"} {
		_, err := os.Stat(filepath.Join(dir, p))
		require.NoError(t, err, "%s is still there", p)
	}
}

func TestDeleteRecording(t *testing.T) {
	f, dir := newRecordingFixture(t)
	r := f.do("DELETE", "/calling/v1/recordings/call-1.wav", "", keyA, secretA)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Empty(t, r.body)
	_, err := os.Stat(filepath.Join(dir, keyA, "call-1.wav"))
	require.ErrorIs(t, err, os.ErrNotExist)
	requireError(t, f.do("GET", "/calling/v1/recordings/call-1.wav", "", keyA, secretA), http.StatusNotFound, "not found")
	requireError(t, f.do("DELETE", "/calling/v1/recordings/call-1.wav", "", keyA, secretA), http.StatusNotFound, "not found")
}

func TestRecordingRoutesNeedAuth(t *testing.T) {
	f, _ := newRecordingFixture(t)
	for _, m := range []string{"GET", "DELETE"} {
		requireError(t, f.do(m, "/calling/v1/recordings/call-1.wav", "", "", ""), http.StatusUnauthorized, "unauthorized")
		requireError(t, f.do(m, "/calling/v1/recordings/call-1.wav", "", keyA, secretB), http.StatusUnauthorized, "unauthorized")
	}
	r := f.do("HEAD", "/calling/v1/recordings/call-1.wav", "", "", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
}

func TestRecordingRoutes501WithoutDirectory(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"GET", "DELETE"} {
		r := f.do(m, "/calling/v1/recordings/call-1.wav", "", keyA, secretA)
		requireError(t, r, http.StatusNotImplemented, "no recordings directory")
	}
	r := f.do("HEAD", "/calling/v1/recordings/call-1.wav", "", keyA, secretA)
	require.Equal(t, http.StatusNotImplemented, r.status)
	requireError(t, f.do("GET", "/calling/v1/recordings/call-1.wav", "", "", ""), http.StatusUnauthorized, "unauthorized")
}

func TestRecordingContentType(t *testing.T) {
	for name, want := range map[string]string{"a.mp3": "audio/mpeg", "a.MP3": "audio/mpeg", "a.wav": "audio/wav", "a.txt": "application/octet-stream", "a": "application/octet-stream"} {
		require.Equal(t, want, recordingContentType(name), name)
	}
	require.True(t, strings.HasPrefix(recordingPath, "/calling/v1/"))
}
