package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callcore/callcore/events"
)

// defaultTimeout bounds one HTTP request when --timeout is not set.
const defaultTimeout = 30 * time.Second

// maxResponse bounds the response bodies read.
const maxResponse = 16 << 20

// apiError is an HTTP error answer of the node. Status 4xx gives exit
// code 1, 5xx exit code 3.
type apiError struct {
	// Status is the HTTP status code.
	Status int
	// ErrorCode, Message and Reference are the API's JSON error body
	// ({"errorCode", "message", "reference"}); Message falls back to the
	// body's text or the status text when the body is not that JSON.
	ErrorCode int
	Message   string
	Reference string
}

// Error is "HTTP 404: Call not found (reference 01J...)".
func (e *apiError) Error() string {
	msg := "HTTP " + fmt.Sprint(e.Status) + ": " + e.Message
	if e.Reference != "" {
		msg += " (reference " + e.Reference + ")"
	}
	return msg
}

// parseAPIError builds the apiError of a non-2xx answer from its body.
func parseAPIError(status int, body []byte) *apiError {
	e := &apiError{Status: status}
	var wire struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
		Reference string `json:"reference"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Message != "" {
		e.ErrorCode, e.Message, e.Reference = wire.ErrorCode, clean(wire.Message), clean(wire.Reference)
		return e
	}
	text := strings.TrimSpace(string(body))
	if text == "" || !utf8.ValidString(text) {
		text = http.StatusText(status)
	}
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	e.Message = clean(text)
	return e
}

// unreachableError is a request that got no HTTP answer: exit code 3.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the node at %s: %v", e.url, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// apiClient sends signed requests to one node.
type apiClient struct {
	base   string // URL without a trailing slash
	signer *events.Signer
	http   *http.Client
	now    func() time.Time
}

// client returns an apiClient for the resolved settings.
func (c *cli) client() (*apiClient, error) {
	s, err := c.settings(true)
	if err != nil {
		return nil, err
	}
	signer, err := events.NewSigner(s.Key, s.Secret)
	if err != nil {
		return nil, usagef("%v", err)
	}
	timeout := c.g.timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone() //nolint:forcetypeassert // the default transport is an *http.Transport.
	a := &apiClient{
		base:   strings.TrimRight(s.URL, "/"),
		signer: signer,
		http:   &http.Client{Timeout: timeout, Transport: tr},
		now:    c.now,
	}
	c.clients = append(c.clients, a)
	return a, nil
}

// appKey is the key requests are signed with.
func (a *apiClient) appKey() string { return a.signer.AppKey() }

// apiPath appends segments to prefix, each escaped as one path segment
// ("a b/c" becomes "a%20b%2Fc"); prefix is used as it is.
func apiPath(prefix string, segments ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do sends a signed request with body (nil for none) to path (escaped,
// starting with "/") and returns the answer's status and body. A non-2xx
// answer is an *apiError, no answer an *unreachableError.
func (a *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	u := a.base + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request %s %s: %w", method, u, err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "callcorectl")
	a.signer.SignRequest(req, body, a.now())
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, &unreachableError{url: a.base, err: fmt.Errorf("%s %s: %w", method, path, stripURL(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return resp.StatusCode, nil, &unreachableError{url: a.base, err: fmt.Errorf("reading the answer to %s %s: %w", method, path, err)}
	}
	if len(data) > maxResponse {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, data, parseAPIError(resp.StatusCode, data)
	}
	return resp.StatusCode, data, nil
}

// stripURL removes the *url.Error wrapper, whose message repeats the
// whole URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getJSON GETs path and decodes the answer into v; raw is the body.
func (a *apiClient) getJSON(ctx context.Context, path string, v any) (raw []byte, err error) {
	_, raw, err = a.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return raw, fmt.Errorf("GET %s: the answer is not the expected JSON: %w", path, err)
	}
	return raw, nil
}

// sendJSON marshals v and sends it with method to path; it returns the
// answer's body.
func (a *apiClient) sendJSON(ctx context.Context, method, path string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	_, raw, err := a.do(ctx, method, path, body)
	return raw, err
}
