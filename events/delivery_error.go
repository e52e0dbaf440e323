package events

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strings"
)

// Reasons a callback attempt or delivery fails: the bounded values of
// [DeliveryError.Reason] and of the "reason" metric label.
const (
	// DeliveryTimeout: no complete reply within the target's TotalTimeout
	// (the connection was made; see DeliveryConnect for dial timeouts).
	DeliveryTimeout = "timeout"
	// DeliveryConnect: the TCP connection could not be made (refused,
	// unreachable, DNS failure, or no connection within ConnectTimeout).
	DeliveryConnect = "connect"
	// DeliveryTLS: the TLS handshake failed (certificate, protocol).
	DeliveryTLS = "tls"
	// DeliveryNetwork: the connection broke after it was made, before a
	// complete reply (reset, EOF, malformed HTTP).
	DeliveryNetwork = "network"
	// DeliveryStatus5xx: the reply had a 5xx status.
	DeliveryStatus5xx = "status_5xx"
	// DeliveryStatus4xx: the reply had a 4xx status.
	DeliveryStatus4xx = "status_4xx"
	// DeliveryStatusOther: the reply had a 1xx or 3xx status (redirects are
	// not followed: the signature covers the original path).
	DeliveryStatusOther = "status_other"
	// DeliveryTooLarge: the reply body exceeds ClientOptions.MaxReplyBytes.
	DeliveryTooLarge = "too_large"
	// DeliveryInvalidReply: a 2xx reply that accept rejected.
	DeliveryInvalidReply = "invalid_reply"
	// DeliveryInvalidTarget: the target URL or the application credentials
	// are unusable (not an http(s) URL, secret not base64, ...).
	DeliveryInvalidTarget = "invalid_target"
	// DeliveryInvalidEvent: the event could not be marshalled (e.g. a NaN
	// amount). Nothing was sent.
	DeliveryInvalidEvent = "invalid_event"
	// DeliveryCanceled: the caller's context ended. The fallback is not
	// tried after it.
	DeliveryCanceled = "canceled"
)

// DeliveryError is returned by [Client.Deliver] when no reply was accepted.
// It never contains a callback URL's path, query or credentials: URLs in
// wrapped errors are reduced to scheme://host.
type DeliveryError struct {
	// Kind is the kind of the event that was being delivered.
	Kind Kind
	// Reason is the bounded reason of the last failure (the fallback's if
	// it was tried): one of the Delivery constants. A caller delivering ICE
	// maps DeliveryInvalidReply to DiCE reason INVALIDSVAMLACTION and every
	// other reason to CALLBACKERROR.
	Reason string
	// Primary is why the primary URL failed, or why nothing was sent
	// (DeliveryInvalidEvent, DeliveryInvalidTarget for unusable
	// credentials, or DeliveryCanceled with the context's cause when it had
	// already ended). Never nil.
	Primary error
	// Fallback is why the fallback URL failed; nil when it was not tried
	// (no fallback configured, or the primary failure was DeliveryCanceled,
	// DeliveryInvalidEvent or unusable credentials).
	Fallback error
}

// Error describes both attempts, e.g.
// "deliver ice callback: timeout: primary: ...; fallback: ...".
func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString("deliver ")
	b.WriteString(e.Kind.String())
	b.WriteString(" callback: ")
	b.WriteString(e.Reason)
	if e.Primary != nil {
		b.WriteString(": primary: ")
		b.WriteString(e.Primary.Error())
	}
	if e.Fallback != nil {
		b.WriteString("; fallback: ")
		b.WriteString(e.Fallback.Error())
	}
	return b.String()
}

// Unwrap returns the non-nil attempt errors, so that [errors.Is] and
// [errors.As] see through to the causes (context.DeadlineExceeded,
// *net.OpError, the error returned by accept, ...).
func (e *DeliveryError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Primary != nil {
		errs = append(errs, e.Primary)
	}
	if e.Fallback != nil {
		errs = append(errs, e.Fallback)
	}
	return errs
}

// errAttemptTimeout is the cancellation cause of an attempt that ran out of
// TotalTimeout. net/http reports the cause rather than ctx.Err(); it still
// matches context.DeadlineExceeded.
var errAttemptTimeout error = attemptTimeout{}

type attemptTimeout struct{}

func (attemptTimeout) Error() string        { return "total timeout" }
func (attemptTimeout) Timeout() bool        { return true }
func (attemptTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

// dialError marks errors from the dialer, so that a failure to connect is
// told apart from a failure on an established connection.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// classify maps an error of http.Client.Do or of reading a reply body to a
// reason. parent is the caller's context, attempt the per-attempt one.
func classify(parent, attempt context.Context, err error) string {
	var de *dialError
	switch {
	case parent.Err() != nil:
		return DeliveryCanceled
	case errors.As(err, &de):
		// A dial that ran out of ConnectTimeout is a connect failure too.
		return DeliveryConnect
	case context.Cause(attempt) == errAttemptTimeout:
		return DeliveryTimeout
	case isTLSError(err):
		return DeliveryTLS
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return DeliveryTimeout
		}
		return DeliveryNetwork
	}
}

func isTLSError(err error) bool {
	var (
		rh   tls.RecordHeaderError
		al   tls.AlertError
		cv   *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		ci   x509.CertificateInvalidError
		echR *tls.ECHRejectionError
	)
	return errors.As(err, &rh) || errors.As(err, &al) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &echR) ||
		strings.Contains(err.Error(), "tls: ") || strings.Contains(err.Error(), "TLS handshake")
}

// redactURL reduces a URL to scheme://host (no credentials, path, query or
// fragment); unparsable input becomes "<invalid url>".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid url>"
	}
	return u.Scheme + "://" + u.Host
}

// redact rewrites the URL of every *url.Error in err's chain to its
// redacted form. net/http puts the full request URL there.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	return err
}
