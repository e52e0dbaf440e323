package redisconn

import (
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied when the URL sets no value.
const (
	DefaultDialTimeout  = 5 * time.Second
	DefaultReadTimeout  = 3 * time.Second
	DefaultWriteTimeout = 3 * time.Second
)

// Default ports of an address without one.
const (
	defaultRedisPort    = "6379"
	defaultSentinelPort = "26379"
)

// ErrInvalidURL is matched (errors.Is) by every error Open returns for a
// URL it cannot accept.
var ErrInvalidURL = errors.New("invalid redis URL")

// urlError is a URL rejection. It holds only the scheme (when it is one of
// the known ones or at least looks like a scheme) and a fixed reason, never
// a piece of the URL that could be (part of) a password.
type urlError struct {
	scheme string
	reason string
}

func (e *urlError) Error() string {
	if e.scheme == "" {
		return "redisconn: invalid redis URL: " + e.reason
	}
	return "redisconn: invalid " + e.scheme + " URL: " + e.reason
}

// Is makes errors.Is(err, ErrInvalidURL) true.
func (e *urlError) Is(target error) bool { return target == ErrInvalidURL }

// kind is the deployment a URL designates.
type kind int

const (
	kindStandalone kind = iota
	kindSentinel
	kindCluster
)

// schemes maps each accepted scheme to its deployment, whether it uses TLS
// and its default port.
var schemes = map[string]struct {
	kind        kind
	tls         bool
	defaultPort string
}{
	"redis":           {kindStandalone, false, defaultRedisPort},
	"rediss":          {kindStandalone, true, defaultRedisPort},
	"unix":            {kindStandalone, false, ""},
	"redis+sentinel":  {kindSentinel, false, defaultSentinelPort},
	"rediss+sentinel": {kindSentinel, true, defaultSentinelPort},
	"redis+cluster":   {kindCluster, false, defaultRedisPort},
	"rediss+cluster":  {kindCluster, true, defaultRedisPort},
}

const schemeList = "redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"

// parsed is a validated URL turned into the options of one go-redis client
// constructor; exactly one of simple, failover and cluster is set.
type parsed struct {
	kind     kind
	scheme   string
	simple   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// queryParam is one key=value pair of a query string, unescaped.
type queryParam struct{ key, value string }

// parse validates rawURL and returns the go-redis options it designates,
// with the package defaults applied. Its own checks come first (scheme,
// user info, addresses, database, the parameters this package handles);
// the remaining query parameters go to go-redis's URL parsers, given a URL
// rebuilt without user info, so that their error texts cannot quote a
// password.
func parse(rawURL string) (*parsed, error) {
	u, err := split(rawURL)
	if err != nil {
		return nil, err
	}
	sch := schemes[u.scheme]
	fail := func(reason string) error { return &urlError{scheme: u.scheme, reason: reason} }

	query, err := parseQuery(u.rawQuery)
	if err != nil {
		return nil, fail(err.Error())
	}
	own, others, err := takeOwnParams(query, sch.kind, sch.tls)
	if err != nil {
		return nil, fail(err.Error())
	}

	// Addresses.
	var addrs []string
	firstHost := "localhost" // for the go-redis URL of a unix socket
	if u.scheme == "unix" {
		if u.hostList != "" {
			return nil, fail("takes no host (the path of the URL is the socket path)")
		}
	} else {
		if u.hostList == "" {
			return nil, fail("no host")
		}
		list := strings.Split(u.hostList, ",")
		if sch.kind == kindStandalone && len(list) > 1 {
			return nil, fail("more than one address (use redis+sentinel or redis+cluster)")
		}
		list = append(list, own.addrs...)
		for i, a := range list {
			hp, host, reason := parseAddr(a, sch.defaultPort)
			if reason != "" {
				return nil, fail("address " + strconv.Itoa(i+1) + ": " + reason)
			}
			if i == 0 {
				firstHost = host
			}
			addrs = append(addrs, hp)
		}
	}

	// The database (path), or the socket path of unix.
	db := 0
	var socket string
	switch {
	case u.scheme == "unix":
		sock, err := url.PathUnescape(u.path)
		if err != nil {
			return nil, fail("invalid percent-encoding in the socket path")
		}
		if len(sock) < 2 || sock[0] != '/' {
			return nil, fail("no socket path (the path of the URL is the socket path)")
		}
		socket = sock
	case sch.kind == kindCluster:
		if u.path != "" && u.path != "/" && u.path != "/0" {
			return nil, fail("a cluster has only database 0 (no /db in the path)")
		}
	case u.path != "" && u.path != "/":
		n, ok := parseDB(u.path[1:])
		if !ok {
			return nil, fail("invalid database number in the path")
		}
		db = n
	}
	if own.db != nil {
		db = *own.db
	}

	// The other parameters, through go-redis, with a URL that holds no
	// credentials; the TLS server name is the first host's.
	delegate := "redis"
	if sch.tls {
		delegate = "rediss"
	}
	du := (&url.URL{Scheme: delegate, Host: net.JoinHostPort(firstHost, defaultRedisPort)}).String()
	if enc := encodeQuery(others); enc != "" {
		du += "?" + enc
	}

	p := &parsed{kind: sch.kind, scheme: u.scheme}
	switch sch.kind {
	case kindStandalone:
		o, err := redis.ParseURL(du)
		if err != nil {
			return nil, fail(translate(err))
		}
		if u.scheme == "unix" {
			o.Network, o.Addr = "unix", socket
		} else {
			o.Network, o.Addr = "tcp", addrs[0]
		}
		o.Username, o.Password, o.DB = u.username, u.password, db
		own.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, o.TLSConfig)
		p.simple = o
	case kindSentinel:
		o, err := redis.ParseFailoverURL(du)
		if err != nil {
			return nil, fail(translate(err))
		}
		if o.MasterName == "" {
			return nil, fail("missing master_name")
		}
		o.SentinelAddrs = addrs
		o.Username, o.Password, o.DB = u.username, u.password, db
		o.SentinelUsername, o.SentinelPassword = own.sentinelUsername, own.sentinelPassword
		own.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, o.TLSConfig)
		p.failover = o
	case kindCluster:
		o, err := redis.ParseClusterURL(du)
		if err != nil {
			return nil, fail(translate(err))
		}
		o.Addrs = addrs
		o.Username, o.Password = u.username, u.password
		own.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, o.TLSConfig)
		p.cluster = o
	}
	return p, nil
}

// urlParts are the pieces of a URL, split the way this package reads it.
type urlParts struct {
	scheme             string // lower case, one of schemes
	username, password string // percent-decoded
	hostList           string // the authority after the user info
	path               string // from the first '/' after "://", or ""
	rawQuery           string
}

// split checks the scheme and the characters of rawURL and cuts it into
// its parts. The authority ends at the first '/' or '?'; the user info
// ends at its last '@', so that an unescaped '@' in a password works.
func split(rawURL string) (urlParts, error) {
	var u urlParts
	if rawURL == "" {
		return u, &urlError{reason: "empty URL"}
	}
	sep := strings.Index(rawURL, "://")
	if sep < 0 {
		return u, &urlError{reason: "no scheme (want " + schemeList + ")"}
	}
	u.scheme = strings.ToLower(rawURL[:sep])
	if _, ok := schemes[u.scheme]; !ok {
		if looksLikeScheme(u.scheme) {
			return u, &urlError{reason: "unsupported scheme " + strconv.Quote(u.scheme) + " (want " + schemeList + ")"}
		}
		return u, &urlError{reason: "malformed scheme (want " + schemeList + ")"}
	}
	fail := func(reason string) error { return &urlError{scheme: u.scheme, reason: reason} }

	rest := rawURL[sep+3:]
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c == 0x7f {
			return u, fail("contains a space or a control character (percent-encode it)")
		}
	}
	if strings.IndexByte(rest, '#') >= 0 {
		return u, fail("contains '#' (percent-encode it as %23; URLs here take no fragment)")
	}
	rest, u.rawQuery, _ = strings.Cut(rest, "?")
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, u.path = rest[:i], rest[i:]
	}
	u.hostList = authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		u.hostList = authority[at+1:]
		rawUser, rawPass, _ := strings.Cut(authority[:at], ":")
		var err1, err2 error
		u.username, err1 = url.PathUnescape(rawUser)
		u.password, err2 = url.PathUnescape(rawPass)
		if err1 != nil || err2 != nil {
			return u, fail("invalid percent-encoding in the user info")
		}
	}
	return u, nil
}

// ownParams are the query parameters this package handles itself.
type ownParams struct {
	db               *int
	addrs            []string
	sentinelUsername string
	sentinelPassword string
	contextTimeout   bool
	skipVerify       bool
}

// apply sets the timeouts left unset to the package defaults (a negative
// value, disabled by the URL, is kept), the context deadline switch, and
// skip_verify on the TLS configuration, if any.
func (own ownParams) apply(dial, read, write *time.Duration, ctxTimeout *bool, tlsConf *tls.Config) {
	*dial = orDefault(*dial, DefaultDialTimeout)
	*read = orDefault(*read, DefaultReadTimeout)
	*write = orDefault(*write, DefaultWriteTimeout)
	*ctxTimeout = own.contextTimeout
	if tlsConf != nil {
		tlsConf.InsecureSkipVerify = own.skipVerify
	}
}

// takeOwnParams extracts the parameters this package handles and returns
// the others, for go-redis. As in go-redis, the last value of a repeated
// parameter wins (except addr, which accumulates).
func takeOwnParams(q []queryParam, k kind, useTLS bool) (ownParams, []queryParam, error) {
	own := ownParams{contextTimeout: true}
	var rest []queryParam
	for _, p := range q {
		switch p.key {
		case "password", "username":
			return own, nil, errors.New("credentials go in the user info (user:password@), not in the query")
		case "sentinel_password", "sentinel_username":
			if k != kindSentinel {
				return own, nil, errors.New(p.key + " is only valid in a redis+sentinel URL")
			}
			if p.key == "sentinel_password" {
				own.sentinelPassword = p.value
			} else {
				own.sentinelUsername = p.value
			}
		case "addr":
			if k == kindStandalone {
				return own, nil, errors.New("the addr parameter needs redis+sentinel or redis+cluster")
			}
			own.addrs = append(own.addrs, p.value)
		case "db":
			if k == kindCluster {
				return own, nil, errors.New("a cluster has only database 0 (no db parameter)")
			}
			n, ok := parseDB(p.value)
			if !ok {
				return own, nil, errors.New("query parameter db: invalid database number")
			}
			own.db = &n
		case "context_timeout_enabled":
			b, ok := parseBool(p.value, true)
			if !ok {
				return own, nil, errors.New("query parameter context_timeout_enabled: invalid boolean")
			}
			own.contextTimeout = b
		case "skip_verify":
			if !useTLS {
				return own, nil, errors.New("skip_verify needs TLS (a rediss scheme)")
			}
			b, ok := parseBool(p.value, false)
			if !ok {
				return own, nil, errors.New("query parameter skip_verify: invalid boolean")
			}
			own.skipVerify = b
		default:
			rest = append(rest, p)
		}
	}
	return own, rest, nil
}

// parseBool parses true/1, false/0, or "" (def), as go-redis does.
func parseBool(s string, def bool) (bool, bool) {
	switch s {
	case "":
		return def, true
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// parseQuery splits a raw query string into unescaped pairs, in order. It
// reports which rule was broken without quoting the offending text (a
// value may be a password).
func parseQuery(raw string) ([]queryParam, error) {
	var out []queryParam
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		if strings.IndexByte(part, ';') >= 0 {
			return nil, errors.New("';' in the query (separate parameters with '&')")
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errors.New("invalid percent-encoding in a query parameter name")
		}
		if key == "" {
			return nil, errors.New("a query parameter has no name")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			if safeName(key) {
				return nil, errors.New("invalid percent-encoding in the value of query parameter " + key)
			}
			return nil, errors.New("invalid percent-encoding in a query parameter value")
		}
		out = append(out, queryParam{key, val})
	}
	return out, nil
}

// encodeQuery is the inverse of parseQuery, order preserved.
func encodeQuery(q []queryParam) string {
	var b strings.Builder
	for i, p := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}

// parseAddr validates "host", "host:port", "[ipv6]" or "[ipv6]:port" and
// returns "host:port" (the default port filled in) and the bare host. On
// failure it returns a reason that quotes nothing: a misplaced unescaped
// character of a password can end up in the host or the port.
func parseAddr(s, defaultPort string) (hostPort, host, reason string) {
	if s == "" {
		return "", "", "empty address"
	}
	port := ""
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", "unclosed '[' in an IPv6 address"
		}
		host = s[1:end]
		ip := net.ParseIP(host)
		if ip == nil || !strings.Contains(host, ":") {
			return "", "", "invalid IPv6 address"
		}
		after := s[end+1:]
		switch {
		case after == "":
		case after[0] == ':':
			port = after[1:]
			if port == "" {
				return "", "", "empty port"
			}
		default:
			return "", "", "unexpected text after an IPv6 address"
		}
	} else {
		var hasPort bool
		host, port, hasPort = strings.Cut(s, ":")
		if hasPort && strings.IndexByte(port, ':') >= 0 {
			return "", "", "too many ':' (write an IPv6 address in brackets)"
		}
		if host == "" {
			return "", "", "no host"
		}
		if !validHostname(host) {
			return "", "", "invalid host name"
		}
		if hasPort && port == "" {
			return "", "", "empty port"
		}
	}
	if port == "" {
		port = defaultPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return "", "", "invalid port (want 1-65535)"
	}
	return net.JoinHostPort(host, port), host, ""
}

// validHostname accepts DNS names and IPv4 literals: letters, digits, '-',
// '_' and '.', at most 253 bytes.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// parseDB parses a database number: decimal digits only.
func parseDB(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// looksLikeScheme reports whether s has the syntax of a URL scheme (RFC
// 3986) and is short, so that quoting it in an error is harmless.
func looksLikeScheme(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// safeName reports whether a query parameter name may be quoted in an
// error: a short identifier, as every go-redis option name is.
func safeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// translate turns an error of go-redis's URL parsers (given a URL without
// credentials) into a reason that quotes parameter names only, never
// values.
func translate(err error) string {
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	if names, ok := strings.CutPrefix(msg, "unexpected option: "); ok {
		list := strings.Split(names, ", ")
		for _, n := range list {
			if !safeName(n) {
				return "unknown query parameter"
			}
		}
		if len(list) == 1 {
			return "unknown query parameter " + list[0]
		}
		return "unknown query parameters " + strings.Join(list, ", ")
	}
	// "invalid <name> number|duration|boolean: <detail quoting the value>"
	if after, ok := strings.CutPrefix(msg, "invalid "); ok {
		f := strings.Fields(after)
		if len(f) >= 2 && safeName(f[0]) {
			switch typ := strings.TrimSuffix(f[1], ":"); typ {
			case "number", "duration", "boolean":
				return "query parameter " + f[0] + ": invalid " + typ
			}
		}
	}
	return "invalid query parameters"
}

// orDefault returns d when v is 0 (unset); a negative v (disabled by the
// URL) is kept.
func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
