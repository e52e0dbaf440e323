package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Context keys set by the middleware chain.
const (
	keyRequestID = "callcore.request_id"
	keyBody      = "callcore.body"
	keyAppKey    = "callcore.app_key"
	keyLogger    = "callcore.logger"
)

// headerRequestID carries the request id in and out. A client-supplied id is
// kept when it is short and plain, so a customer can correlate their own logs.
const headerRequestID = "X-Request-Id"

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // UUID v4 layout, like Sinch's references
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func plainID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// observe is the outermost middleware: request id, recovery from panics,
// error rendering, the access log line and the request metrics. Because it
// renders errors itself, every response — 404, 405, 413, panics — leaves with
// the JSON error body and is counted under its final status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(headerRequestID)
		if !plainID(id) {
			id = newRequestID()
		}
		c.Set(keyRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		log := s.log.With("request_id", id)
		c.Set(keyLogger, log)

		func() {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.Error("panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					err = errorf(http.StatusInternalServerError, "internal error")
				}
			}()
			err = next(c)
		}()
		if err != nil {
			s.renderError(c, err)
		}

		route := c.Path()
		if route == "" || isUnmatched(err) {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		code := strconv.Itoa(status)
		s.metrics.requests.WithLabelValues(route, req.Method, code).Inc()
		s.metrics.latency.WithLabelValues(route, req.Method, code).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if status >= 500 && status != http.StatusNotImplemented {
			level = slog.LevelError
		} else if status >= 400 {
			level = slog.LevelWarn
		}
		attrs := []any{"method", req.Method, "route", route, "status", status,
			"duration_ms", float64(elapsed.Microseconds()) / 1000, "remote", c.RealIP()}
		if k, ok := c.Get(keyAppKey).(string); ok {
			attrs = append(attrs, "app_key", k)
		}
		if err != nil && status >= 400 {
			attrs = append(attrs, "err", err.Error())
		}
		log.Log(req.Context(), level, "api request", attrs...)
		return nil
	}
}

// isUnmatched reports whether err is the router's own 404 or 405, so that
// arbitrary request paths never become metric labels.
func isUnmatched(err error) bool {
	var he *echo.HTTPError
	return errors.As(err, &he) && (he == echo.ErrNotFound || he == echo.ErrMethodNotAllowed)
}

// renderError writes err as the Sinch JSON error body, unless a response was
// already started (then it can only be logged).
func (s *Server) renderError(c echo.Context, err error) {
	e := toError(err)
	if e.Reference == "" {
		if id, ok := c.Get(keyRequestID).(string); ok {
			e.Reference = id
		}
	}
	if c.Response().Committed {
		return
	}
	if e.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="callcore", Application`)
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	if werr := c.JSON(e.Status, e); werr != nil {
		logger(c).Warn("writing error response failed", "err", werr)
	}
}

// readBody reads the whole request body under the configured limit and keeps
// the raw bytes: the Application signature is computed over them, and
// handlers decode from them. Oversized bodies get 413 without being read to
// the end.
func (s *Server) readBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.bodyLimit {
			return errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", req.ContentLength, s.bodyLimit)
		}
		var body []byte
		if req.Body != nil && req.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(req.Body, s.bodyLimit+1))
			if err != nil {
				return errorf(http.StatusBadRequest, "reading request body: %v", err)
			}
			if int64(len(b)) > s.bodyLimit {
				return errorf(http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", s.bodyLimit)
			}
			body = b
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		c.Set(keyBody, body)
		return next(c)
	}
}

// authenticate verifies Basic or Application auth over the raw body and
// records the authenticated application key.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, _ := c.Get(keyBody).([]byte)
		key, err := s.verifier.Verify(c.Request(), body)
		if err != nil {
			s.metrics.authFailed(err)
			return &Error{Status: http.StatusUnauthorized, ErrorCode: 40100, Message: "unauthorized: " + err.Error()}
		}
		c.Set(keyAppKey, key)
		return next(c)
	}
}

func logger(c echo.Context) *slog.Logger {
	if l, ok := c.Get(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

func appKey(c echo.Context) string {
	k, _ := c.Get(keyAppKey).(string)
	return k
}

func rawBody(c echo.Context) []byte {
	b, _ := c.Get(keyBody).([]byte)
	return b
}
