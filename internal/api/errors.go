package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Error is the JSON error body of every failed request, as Sinch's VoiceError:
// {"errorCode": 40400, "message": "Call not found", "reference": "<request id>"}.
//
// errorCode is the HTTP status times 100 plus a sub-code; Sinch publishes only
// 40400, so the sub-codes are callcore's own and always 0 for now.
type Error struct {
	Status int `json:"-"`
	// RetryAfter, when > 0, is sent as Retry-After (seconds) with a 503.
	RetryAfter int    `json:"-"`
	ErrorCode  int    `json:"errorCode"`
	Message    string `json:"message"`
	Reference  string `json:"reference,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// errorf builds an *Error for status with a formatted message.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, ErrorCode: status * 100, Message: fmt.Sprintf(format, args...)}
}

// toError maps any error returned by a handler or middleware to the wire
// error. It is the one place where errors become HTTP statuses.
func toError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			msg = "no such route"
		case http.StatusMethodNotAllowed:
			msg = "method not allowed on this route"
		case http.StatusRequestEntityTooLarge:
			msg = "request body too large"
		}
		if m, ok := he.Message.(string); ok && m != "" && m != http.StatusText(he.Code) {
			msg = m
		}
		return &Error{Status: he.Code, ErrorCode: he.Code * 100, Message: msg}
	}
	return &Error{Status: http.StatusInternalServerError, ErrorCode: 50000, Message: "internal error"}
}
