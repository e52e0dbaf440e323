package demo

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/svaml"
)

const (
	key    = "669E367E-6BBA-48AB-AF15-266871C28135"
	secret = "BeIukql3pTKJ8RGL5zo0DA=="
)

func post(t *testing.T, url, body, signKey, signSecret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/callbacks", strings.NewReader(body))
	require.NoError(t, err)
	s, err := events.NewSigner(signKey, signSecret)
	require.NoError(t, err)
	s.SignRequest(req, []byte(body), time.Now())
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestDemoAnswersICEWithValidSVAML(t *testing.T) {
	srv := httptest.NewServer(Handler(key, secret, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	code, body := post(t, srv.URL, `{"event":"ice","callid":"c1","version":1}`, key, secret)
	require.Equal(t, http.StatusOK, code)
	_, err := svaml.Parse(svaml.ContextICE, []byte(body))
	require.NoError(t, err, "the demo's ICE reply must be valid SVAML")

	code, body = post(t, srv.URL, `{"event":"ace","callid":"c1","version":1}`, key, secret)
	require.Equal(t, http.StatusOK, code)
	_, err = svaml.Parse(svaml.ContextACE, []byte(body))
	require.NoError(t, err)

	code, _ = post(t, srv.URL, `{"event":"dice","callid":"c1","version":1}`, key, secret)
	require.Equal(t, http.StatusOK, code)
}

func TestDemoRejectsBadSignaturesAndJunk(t *testing.T) {
	srv := httptest.NewServer(Handler(key, secret, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	code, _ := post(t, srv.URL, `{"event":"ice","callid":"c1"}`, key, "d3Jvbmc=")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = post(t, srv.URL, `{"nope":1}`, key, secret)
	require.Equal(t, http.StatusBadRequest, code)
}
