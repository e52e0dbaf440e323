package wsstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Sentinel errors. The returned errors wrap them with details.
var (
	// ErrInvalidOptions means Options cannot be used: an empty or malformed
	// URL, a scheme other than ws or wss, or a sample rate other than 8000
	// or 16000.
	ErrInvalidOptions = errors.New("wsstream: invalid options")
	// ErrHandshakeTimeout means the connection, the WebSocket upgrade or the
	// start message did not complete within Options.HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("wsstream: handshake timed out")
	// ErrRemoteClosed means the server closed the stream (Err wraps it with
	// the close status and reason).
	ErrRemoteClosed = errors.New("wsstream: server closed the stream")
	// ErrClosed means the stream has ended.
	ErrClosed = errors.New("wsstream: stream closed")
	// ErrQueueFull means a text message could not be queued because the
	// server does not read fast enough.
	ErrQueueFull = errors.New("wsstream: outgoing message queue full")
	// ErrInvalidDigit means SendDigit got something other than 0-9, *, #
	// or A-D.
	ErrInvalidDigit = errors.New("wsstream: invalid DTMF digit")
	// ErrBadMessage means a text message from the server is not one of the
	// protocol's messages. The stream logs and ignores such messages.
	ErrBadMessage = errors.New("wsstream: bad message from server")
)

// StatusError means the server answered the upgrade request with an HTTP
// status other than 101 Switching Protocols (a plain web server, a wrong
// path, an authentication failure...).
type StatusError struct {
	// Code is the HTTP status code.
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered HTTP %d instead of upgrading to WebSocket", e.Code)
}

// Connect failure reasons, the values of the reason label of
// callcore_wsstream_connect_failures_total.
const (
	reasonInvalid  = "invalid_options"
	reasonDNS      = "dns"
	reasonRefused  = "refused"
	reasonTimeout  = "timeout"
	reasonTLS      = "tls"
	reasonStatus   = "http_status"
	reasonCanceled = "canceled"
	reasonNetwork  = "network"
)

var connectReasons = []string{reasonInvalid, reasonDNS, reasonRefused, reasonTimeout, reasonTLS, reasonStatus, reasonCanceled, reasonNetwork}

// classify maps a Dial error to its metric reason.
func classify(err error) string {
	var (
		se   *StatusError
		dnse *net.DNSError
		cve  *tls.CertificateVerificationError
		uae  x509.UnknownAuthorityError
		hne  x509.HostnameError
		cie  x509.CertificateInvalidError
		rhe  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, ErrInvalidOptions):
		return reasonInvalid
	case errors.As(err, &se):
		return reasonStatus
	case errors.Is(err, ErrHandshakeTimeout), errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	case errors.Is(err, context.Canceled):
		return reasonCanceled
	case errors.As(err, &dnse):
		return reasonDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonRefused
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &rhe):
		return reasonTLS
	default:
		return reasonNetwork
	}
}
