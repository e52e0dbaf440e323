package signaling

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultUserAgent     = "callcore"
	DefaultAckTimeout    = 32 * time.Second // 64*T1, RFC 3261 §13.3.1.4
	DefaultOfferTimeout  = 5 * time.Second
	DefaultDialTimeout   = 60 * time.Second
	DefaultExpires       = 3600 * time.Second
	DefaultMinExpires    = 60 * time.Second
	DefaultMaxExpires    = 7200 * time.Second
	defaultRetryAfter503 = 5 // seconds, for MaxCalls and draining rejections
)

// Handler receives new inbound calls.
type Handler interface {
	// OnInvite is called on its own goroutine for every accepted INVITE
	// (after ACL, capacity and sanity checks, with 100 Trying already
	// sent). That goroutine then owns the call: it must eventually end it
	// with Answer+Hangup or Reject (or see it ended remotely on Done).
	// OnInvite may return before the call ends; the *Inbound stays valid.
	// A panic in OnInvite is recovered: the call is rejected with 500 (or
	// hung up when already answered).
	OnInvite(in *Inbound)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(in *Inbound)

// OnInvite calls f(in).
func (f HandlerFunc) OnInvite(in *Inbound) { f(in) }

// Gateway is where calls to phone numbers go.
type Gateway struct {
	// URI is a sip: or sips: URI with a host, optional port and an
	// optional ;transport=udp|tcp|tls parameter, e.g.
	// "sip:gw.example.com:5060;transport=tcp". sips: means TLS. A user part
	// is ignored: the dialled number becomes the user of the Request-URI.
	URI string
	// Username and Password answer a 401/407 digest challenge from the
	// gateway, once per dial. Empty: challenges fail the dial.
	Username string
	Password string
}

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Listen is HOST:PORT for both UDP and TCP. Port 0 picks a free port
	// (UDP first, then TCP on the same number when possible).
	Listen string
	// PublicHost goes into Via, Contact and From. Default: the host of
	// Listen, which must then be a specific address.
	PublicHost string
	// UserAgent is sent in User-Agent and Server headers. Default
	// "callcore".
	UserAgent string
	// Logger receives the package's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics (namespace callcore); nil keeps
	// them unregistered.
	Registerer prometheus.Registerer
	// TrunkACL lists the source networks INVITEs are accepted from; an
	// INVITE from elsewhere gets 403. Empty accepts any source.
	TrunkACL []netip.Prefix
	// Internal recognizes the INVITEs other nodes of the region place to
	// this one (conference legs): when InternalHeader is present and
	// Internal accepts its value, the INVITE passes the trunk ACL and is
	// admitted while draining (it belongs to a room this node still
	// hosts); present with a value Internal refuses, it gets 403. Nil
	// Internal treats InternalHeader as any other header.
	InternalHeader string
	Internal       func(value string) bool
	// Gateway is where Number destinations are sent.
	Gateway Gateway
	// Realm is the digest realm of the registrar. Default PublicHost.
	Realm string
	// Users returns the password of an in-app user for registrar digest
	// authentication. Nil disables the registrar (REGISTER gets 405).
	Users func(username string) (password string, ok bool)
	// Registry stores registrations. Nil uses an in-memory registry.
	Registry Registry
	// MaxCalls caps the active dialogs (inbound and outbound legs); a new
	// INVITE beyond it gets 503 with Retry-After. Outbound Dials are never
	// refused by this cap. Zero means no cap.
	MaxCalls int
	// Handler receives inbound calls. Required.
	Handler Handler
	// AckTimeout is how long a 200 OK to an INVITE is retransmitted while
	// waiting for the ACK. Default 32 s.
	AckTimeout time.Duration
	// OfferTimeout is how long the call core has to Respond to an
	// in-dialog offer (re-INVITE, UPDATE) before the peer gets 500.
	// Default 5 s.
	OfferTimeout time.Duration
	// DefaultDialTimeout applies when DialRequest.DialTimeout is zero.
	// Default 60 s.
	DefaultDialTimeout time.Duration
	// DefaultExpires, MinExpires and MaxExpires bound registrations:
	// default 3600 s, below 60 s gets 423 Interval Too Brief, above 7200 s
	// is lowered to it.
	DefaultExpires time.Duration
	MinExpires     time.Duration
	MaxExpires     time.Duration
	// TLSConfig is the client TLS configuration for transport tls (root
	// CAs, client certificates). Nil uses the system roots.
	TLSConfig *tls.Config
	// TLSInsecureSkipVerify disables server certificate verification for
	// transport tls. For tests only.
	TLSInsecureSkipVerify bool
	// Trace, when set, sees every SIP message this node sends or receives
	// in a call's dialogs (not retransmissions, not out-of-dialog
	// requests), once the dialog has a trace id: Inbound.SetTraceID, or
	// DialRequest.TraceID. Messages of an inbound dialog before its id is
	// set are held and traced when it is. It runs on the SIP stack's
	// goroutines and must not block. Nil traces nothing, at no cost.
	Trace func(TraceMessage)
}

// gateway is Options.Gateway, parsed.
type gateway struct {
	host      string
	port      int
	transport string // "UDP", "TCP" or "TLS"
	username  string
	password  string
}

// withDefaults validates o and returns a copy with defaults filled in.
func (o Options) withDefaults() (Options, *gateway, error) {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return o, nil, fmt.Errorf("signaling: listen %q: want HOST:PORT: %w", o.Listen, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return o, nil, fmt.Errorf("signaling: listen %q: bad port", o.Listen)
	}
	if o.PublicHost == "" {
		ip, err := netip.ParseAddr(host)
		if host == "" || (err == nil && ip.IsUnspecified()) {
			return o, nil, fmt.Errorf("signaling: public host required when listening on %q", o.Listen)
		}
		o.PublicHost = host
	}
	if o.Handler == nil {
		return o, nil, errors.New("signaling: Options.Handler is required")
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Realm == "" {
		o.Realm = o.PublicHost
	}
	if o.MaxCalls < 0 {
		return o, nil, fmt.Errorf("signaling: MaxCalls %d is negative", o.MaxCalls)
	}
	setDur := func(d *time.Duration, def time.Duration, name string) error {
		switch {
		case *d == 0:
			*d = def
		case *d < 0:
			return fmt.Errorf("signaling: %s %v is negative", name, *d)
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		def  time.Duration
		name string
	}{
		{&o.AckTimeout, DefaultAckTimeout, "AckTimeout"},
		{&o.OfferTimeout, DefaultOfferTimeout, "OfferTimeout"},
		{&o.DefaultDialTimeout, DefaultDialTimeout, "DefaultDialTimeout"},
		{&o.DefaultExpires, DefaultExpires, "DefaultExpires"},
		{&o.MinExpires, DefaultMinExpires, "MinExpires"},
		{&o.MaxExpires, DefaultMaxExpires, "MaxExpires"},
	} {
		if err := setDur(f.d, f.def, f.name); err != nil {
			return o, nil, err
		}
	}
	if o.MinExpires > o.DefaultExpires || o.DefaultExpires > o.MaxExpires {
		return o, nil, fmt.Errorf("signaling: want MinExpires <= DefaultExpires <= MaxExpires (got %v, %v, %v)",
			o.MinExpires, o.DefaultExpires, o.MaxExpires)
	}
	if o.Registry == nil {
		o.Registry = NewMemRegistry()
	}
	var gw *gateway
	if o.Gateway.URI != "" {
		gw, err = parseGateway(o.Gateway)
		if err != nil {
			return o, nil, err
		}
	}
	return o, gw, nil
}

func parseGateway(g Gateway) (*gateway, error) {
	var u sip.Uri
	if err := sip.ParseUri(g.URI, &u); err != nil {
		return nil, fmt.Errorf("signaling: gateway %q: %w", g.URI, err)
	}
	if u.Scheme != "sip" && u.Scheme != "sips" || !validHost(u.Host) {
		return nil, fmt.Errorf("signaling: gateway %q: want a sip: or sips: URI with a host", g.URI)
	}
	tp := "udp"
	if u.Scheme == "sips" {
		tp = "tls"
	}
	if v, ok := u.UriParams.Get("transport"); ok {
		tp = strings.ToLower(v)
	}
	transport, err := parseTransport(tp)
	if err != nil {
		return nil, fmt.Errorf("signaling: gateway %q: %w", g.URI, err)
	}
	if u.Scheme == "sips" && transport != "TLS" {
		return nil, fmt.Errorf("signaling: gateway %q: sips requires transport tls", g.URI)
	}
	return &gateway{host: u.Host, port: u.Port, transport: transport, username: g.Username, password: g.Password}, nil
}

// parseTransport maps udp/tcp/tls in any case ("" is udp) to sipgo's
// network names. Anything else is an error: a transport is never silently
// downgraded.
func parseTransport(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "udp":
		return "UDP", nil
	case "tcp":
		return "TCP", nil
	case "tls":
		return "TLS", nil
	}
	return "", fmt.Errorf("%w: transport %q (want udp, tcp or tls)", ErrInvalidDial, s)
}
