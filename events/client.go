package events

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of [ClientOptions] and [Target].
const (
	// DefaultConnectTimeout bounds the TCP connect of one attempt.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultTotalTimeout bounds one attempt from dialling to the whole
	// reply body.
	DefaultTotalTimeout = 5 * time.Second
	// DefaultMaxReplyBytes bounds a reply body.
	DefaultMaxReplyBytes = 64 << 10
	// DefaultMaxIdleConnsPerHost is the keep-alive pool size per callback
	// host.
	DefaultMaxIdleConnsPerHost = 64
)

// ClientOptions are the optional settings of [NewClient]. The zero value is
// usable.
type ClientOptions struct {
	// ConnectTimeout is the connect timeout of targets that set none.
	// Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxReplyBytes bounds a reply body; a longer one fails the attempt
	// with DeliveryTooLarge. Zero means DefaultMaxReplyBytes.
	MaxReplyBytes int64
	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept
	// per callback host. Zero means DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// Logger receives one line per failed attempt. Nil discards.
	Logger *slog.Logger
	// Metrics records deliveries. Nil means NewMetrics(nil): counted but
	// registered nowhere.
	Metrics *Metrics
	// Now is the clock for x-timestamp. Nil means time.Now. Latencies
	// always use the monotonic clock.
	Now func() time.Time
	// DialContext makes TCP connections. Nil means a net.Dialer with 30 s
	// TCP keep-alive. The per-target connect timeout is applied around it,
	// and its errors are reported as DeliveryConnect.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSClientConfig is used for https callback URLs. Nil means the
	// system roots.
	TLSClientConfig *tls.Config
}

// Target is where and as whom one application's callbacks are delivered.
type Target struct {
	// URL is the primary callback URL (http or https). Its path is the
	// signed resource; a query string is sent but not signed (reference
	// §4.5).
	URL string
	// FallbackURL is tried once when the primary attempt fails for any
	// reason but DeliveryCanceled. Empty means none.
	FallbackURL string
	// AppKey and Secret (base64, as configured) sign the request.
	AppKey, Secret string
	// ConnectTimeout bounds the TCP connect of each attempt. Zero means
	// ClientOptions.ConnectTimeout.
	ConnectTimeout time.Duration
	// TotalTimeout bounds each attempt (primary and fallback separately),
	// from dialling to the end of the reply body and accept's verdict.
	// Zero means DefaultTotalTimeout.
	TotalTimeout time.Duration
	// EventID, when set, is sent as x-callcore-event-id: the event's
	// stable id, the same on every retry and from every node, so that a
	// backend can drop duplicates. It is not part of the signature.
	EventID string
}

// HeaderEventID carries Target.EventID (a callcore extension).
const HeaderEventID = "X-Callcore-Event-Id"

// Reply is the outcome of [Client.Deliver]. On failure Body is nil and the
// other fields describe the last attempt.
type Reply struct {
	// Body is the accepted reply body; nil when accept was nil.
	Body []byte
	// Request is the event's JSON body as sent (nil if it could not be
	// encoded); callers keep it for diagnostics (the per-call timeline)
	// instead of encoding the event again. Not modified after Deliver.
	Request []byte
	// Status is the HTTP status of the last attempt (0 if none arrived).
	Status int
	// URL says which URL answered last: TargetPrimary or TargetFallback
	// ("" if nothing was sent).
	URL string
	// Attempts is the number of HTTP attempts made: 0, 1 or 2.
	Attempts int
	// Latency is the time Deliver took.
	Latency time.Duration
}

// Client delivers signed callback events to application backends
// (reference §3.1, §4.5) over a keep-alive connection pool tuned for many
// concurrent callbacks. It is safe for concurrent use.
type Client struct {
	http           http.Client
	transport      *http.Transport
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	connectTimeout time.Duration
	maxReply       int64
	log            *slog.Logger
	metrics        *Metrics
	now            func() time.Time

	mu      sync.RWMutex
	signers map[signerKey]*Signer // bounded by maxCachedKeys
}

type signerKey struct{ appKey, secret string }

// connectTimeoutKey carries an attempt's connect timeout to the dialer
// through the request context (net/http keeps its values for the dial).
type connectTimeoutKey struct{}

// NewClient returns a Client with the given options.
func NewClient(opts ClientOptions) *Client {
	c := &Client{
		dial:           opts.DialContext,
		connectTimeout: orDefault(opts.ConnectTimeout, DefaultConnectTimeout),
		maxReply:       orDefault(opts.MaxReplyBytes, DefaultMaxReplyBytes),
		log:            opts.Logger,
		metrics:        opts.Metrics,
		now:            opts.Now,
		signers:        make(map[signerKey]*Signer),
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.metrics == nil {
		c.metrics = NewMetrics(nil)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.transport = &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            c.dialContext,
		TLSClientConfig:        opts.TLSClientConfig,
		TLSHandshakeTimeout:    DefaultTotalTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    orDefault(opts.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost),
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// Replies are small JSON; no transparent gzip.
		DisableCompression: true,
	}
	c.http = http.Client{
		Transport: c.transport,
		// The signature covers the original path, so a redirect could
		// never be verified: report 3xx as a failure instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// orDefault returns v, or def when v is zero or negative.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// CloseIdleConnections closes the idle keep-alive connections. Call it when
// the Client is no longer used.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

func (c *Client) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := c.connectTimeout
	if v, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && v > 0 {
		d = v
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return conn, nil
}

// signer returns the cached Signer of an application, creating it on first
// use. The cache is emptied when it exceeds maxCachedKeys entries.
func (c *Client) signer(appKey, secret string) (*Signer, error) {
	k := signerKey{appKey, secret}
	c.mu.RLock()
	s := c.signers[k]
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	s, err := NewSigner(appKey, secret)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.signers[k]; old != nil {
		return old, nil
	}
	if len(c.signers) >= maxCachedKeys {
		clear(c.signers)
	}
	c.signers[k] = s
	return s, nil
}

// Deliver POSTs ev to t.URL, signed for t.AppKey (reference §4.5), and
// returns the reply once it is accepted.
//
// The event is marshalled once, compactly, and the same bytes are signed
// and sent to each URL: Content-Type "application/json; charset=utf-8", a
// fresh x-timestamp and "Authorization: application key:signature" over the
// URL's path. Redirects are not followed.
//
// An attempt succeeds when the status is 2xx and accept is nil or
// accept(body) returns nil. With a nil accept the body is ignored (read up
// to MaxReplyBytes to keep the connection, then discarded) and
// [Reply.Body] is nil: use it for DiCE and Notify, whose reply carries no
// SVAML (reference §3.1). With a non-nil accept a body longer than
// MaxReplyBytes fails with DeliveryTooLarge.
//
// When the primary attempt fails for any reason (timeout, connection
// error, TLS, any non-2xx status including 4xx, reply too large, accept
// error), t.FallbackURL, if set, is tried once with its own TotalTimeout.
// 4xx also falls back: the reference says only that the fallback is used
// on "timeout or error" (§3.1), and a 4xx is an error of the primary
// backend. There are no other retries, except that net/http resends the
// request once on a fresh connection when a reused keep-alive connection
// turns out to have been closed by the server before replying.
//
// If ctx ends, Deliver returns promptly with DeliveryCanceled and does not
// try the fallback. On failure it returns a *[DeliveryError] and a Reply
// describing the last attempt. Every failed attempt is logged once (warn;
// info for DeliveryCanceled) with call_id, event, target, attempt, reason,
// status, latency and the redacted error, and counted in Metrics.
func (c *Client) Deliver(ctx context.Context, t Target, ev Event, accept func(reply []byte) error) (Reply, error) {
	start := time.Now()
	kind := ev.Kind()
	rep := Reply{}
	finish := func(outcome string, err error) (Reply, error) {
		rep.Latency = time.Since(start)
		c.metrics.deliveries.WithLabelValues(kind.String(), outcome).Inc()
		return rep, err
	}
	fail := func(de *DeliveryError) (Reply, error) {
		outcome := OutcomeFailed
		switch de.Reason {
		case DeliveryInvalidReply:
			outcome = OutcomeInvalidReply
		case DeliveryCanceled:
			outcome = OutcomeCanceled
		}
		rep.Body = nil
		return finish(outcome, de)
	}

	if err := ctx.Err(); err != nil {
		return fail(&DeliveryError{Kind: kind, Reason: DeliveryCanceled, Primary: context.Cause(ctx)})
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fail(&DeliveryError{Kind: kind, Reason: DeliveryInvalidEvent, Primary: fmt.Errorf("marshal event: %w", err)})
	}
	rep.Request = body
	signer, err := c.signer(t.AppKey, t.Secret)
	if err != nil {
		c.attemptFailed(ctx, ev, TargetPrimary, 0, result{reason: DeliveryInvalidTarget, err: err})
		return fail(&DeliveryError{Kind: kind, Reason: DeliveryInvalidTarget, Primary: err})
	}

	a := attempt{
		client:  c,
		eventID: t.EventID,
		signer:  signer,
		body:    body,
		accept:  accept,
		connect: orDefault(t.ConnectTimeout, c.connectTimeout),
		total:   orDefault(t.TotalTimeout, DefaultTotalTimeout),
	}
	res := a.do(ctx, t.URL)
	rep.Attempts, rep.URL, rep.Status, rep.Body = 1, TargetPrimary, res.status, res.body
	c.metrics.duration.WithLabelValues(kind.String(), TargetPrimary).Observe(res.latency.Seconds())
	if res.err == nil {
		return finish(OutcomeOK, nil)
	}
	c.attemptFailed(ctx, ev, TargetPrimary, 1, res)
	de := &DeliveryError{Kind: kind, Reason: res.reason, Primary: res.err}
	if res.reason == DeliveryCanceled || t.FallbackURL == "" {
		return fail(de)
	}

	res = a.do(ctx, t.FallbackURL)
	rep.Attempts, rep.URL, rep.Status, rep.Body = 2, TargetFallback, res.status, res.body
	c.metrics.duration.WithLabelValues(kind.String(), TargetFallback).Observe(res.latency.Seconds())
	if res.err == nil {
		return finish(OutcomeOKFallback, nil)
	}
	c.attemptFailed(ctx, ev, TargetFallback, 2, res)
	de.Reason, de.Fallback = res.reason, res.err
	return fail(de)
}

func (c *Client) attemptFailed(ctx context.Context, ev Event, target string, n int, res result) {
	if res.reason != DeliveryCanceled {
		c.metrics.failures.WithLabelValues(ev.Kind().String(), target, res.reason).Inc()
	}
	c.logFailure(ctx, ev, target, n, res.reason, res.status, res.latency, res.err)
}

func (c *Client) logFailure(ctx context.Context, ev Event, target string, n int, reason string, status int, latency time.Duration, err error) {
	level, msg := slog.LevelWarn, "callback attempt failed"
	if reason == DeliveryCanceled {
		level, msg = slog.LevelInfo, "callback attempt canceled"
	}
	c.log.LogAttrs(ctx, level, msg,
		slog.String("call_id", ev.CallID()),
		slog.String("event", ev.Kind().String()),
		slog.String("target", target),
		slog.Int("attempt", n),
		slog.String("reason", reason),
		slog.Int("status", status),
		slog.Duration("latency", latency),
		slog.Any("err", err),
	)
}

// attempt holds what is shared by the primary and the fallback attempt.
type attempt struct {
	client         *Client
	eventID        string
	signer         *Signer
	body           []byte
	accept         func([]byte) error
	connect, total time.Duration
}

// result is the outcome of one HTTP attempt. err is nil on success;
// otherwise reason is one of the Delivery constants and err has no URL
// beyond scheme://host.
type result struct {
	status  int
	body    []byte
	reason  string
	err     error
	latency time.Duration
}

// Errors of one attempt; the URL is never part of them.
var (
	errInvalidURL = errors.New("invalid callback URL: want an absolute http or https URL")
	errTooLarge   = errors.New("reply too large")
)

func (a *attempt) do(parent context.Context, rawURL string) (res result) {
	start := time.Now()
	defer func() { res.latency = time.Since(start) }()

	ctx, cancel := context.WithTimeoutCause(parent, a.total, errAttemptTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, connectTimeoutKey{}, a.connect)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(a.body))
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return result{reason: DeliveryInvalidTarget, err: errInvalidURL}
	}
	req.Header.Set("Content-Type", CallbackContentType)
	req.Header.Set("User-Agent", "callcore")
	if a.eventID != "" {
		req.Header.Set(HeaderEventID, a.eventID)
	}
	// Lets net/http resend the request on a new connection when a reused
	// keep-alive connection was closed by the server first (a race every
	// keep-alive client meets); the nil value is not sent on the wire.
	req.Header["Idempotency-Key"] = nil
	a.signer.SignRequest(req, a.body, a.client.now())

	resp, err := a.client.http.Do(req)
	if err != nil {
		return a.failed(parent, ctx, 0, redact(err))
	}
	defer drainClose(resp.Body, a.client.maxReply)
	res.status = resp.StatusCode

	switch sc := resp.StatusCode; {
	case sc >= 200 && sc <= 299:
	case sc >= 500:
		return result{status: sc, reason: DeliveryStatus5xx, err: statusError(sc)}
	case sc >= 400:
		return result{status: sc, reason: DeliveryStatus4xx, err: statusError(sc)}
	default:
		return result{status: sc, reason: DeliveryStatusOther, err: statusError(sc)}
	}
	if a.accept == nil {
		return res
	}
	body, err := readReply(resp, a.client.maxReply)
	switch {
	case errors.Is(err, errTooLarge):
		return result{status: res.status, reason: DeliveryTooLarge, err: fmt.Errorf("%w: more than %d bytes", err, a.client.maxReply)}
	case err != nil:
		return a.failed(parent, ctx, res.status, fmt.Errorf("read reply: %w", redact(err)))
	}
	if err := a.accept(body); err != nil {
		return result{status: res.status, reason: DeliveryInvalidReply, err: fmt.Errorf("reply rejected: %w", err)}
	}
	res.body = body
	return res
}

// failed classifies a transport error; a timeout says how long it waited.
func (a *attempt) failed(parent, ctx context.Context, status int, err error) result {
	reason := classify(parent, ctx, err)
	if reason == DeliveryTimeout {
		err = fmt.Errorf("no complete reply within %v: %w", a.total, err)
	}
	return result{status: status, reason: reason, err: err}
}

// statusError describes an unsuccessful status.
func statusError(code int) error {
	return errors.New("status " + strconv.Itoa(code) + " " + http.StatusText(code))
}

// readReply reads the whole body if it has at most max bytes, and fails
// with errTooLarge otherwise.
func readReply(resp *http.Response, max int64) ([]byte, error) {
	if cl := resp.ContentLength; cl >= 0 {
		if cl > max {
			return nil, errTooLarge
		}
		buf := make([]byte, cl)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > max {
		return nil, errTooLarge
	}
	return buf, nil
}

// drainClose discards up to limit more bytes of body, so that the
// connection can be reused when the body is short, and closes it. A longer
// body is not read further: closing it closes the connection.
func drainClose(body io.ReadCloser, limit int64) {
	_, _ = io.CopyN(io.Discard, body, limit)
	_ = body.Close()
}
