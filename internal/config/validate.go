package config

import (
	"encoding/base64"
	"fmt"
	"github.com/callcore/callcore/internal/redisconn"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/callcore/callcore/internal/e164"
)

// Defaults for optional keys (see the field documentation of Config).
const (
	DefaultAPIListen       = "127.0.0.1:8080"
	DefaultOpsListen       = "127.0.0.1:9090"
	DefaultSIPListen       = "127.0.0.1:5060"
	DefaultBodyLimit       = 1 * MiB
	DefaultTimestampWindow = 10 * time.Minute
	DefaultCurrency        = "USD"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultRTPPortMin      = 20000 // media.rtp_ports default: 20000-29999
	DefaultRTPPortMax      = 29999
	DefaultRealm           = "callcore"
	DefaultRTPTimeout      = 60 * time.Second
	DefaultEspeak          = "espeak-ng"
	DefaultTTSEngine       = TTSEngineEspeak
	DefaultTTSHTTPTimeout  = 10 * time.Second
	DefaultFetchTimeout    = 10 * time.Second
	DefaultFetchMaxBytes   = 10 * MiB
	DefaultCacheBytes      = 64 * MiB
	DefaultDialTimeout     = 60 * time.Second
	DefaultMaxDuration     = 4 * time.Hour
	DefaultRecordTTL       = 24 * time.Hour
	DefaultDrainTimeout    = 2 * time.Minute
	DefaultHeartbeatTTL    = 6 * time.Second
	DefaultForwardTimeout  = 2 * time.Second
	DefaultEventsRetryFor  = 24 * time.Hour
	DefaultEventsMinBackof = time.Second
	DefaultEventsMaxBackof = 5 * time.Minute
	DefaultMaxTTSChars     = 600
	DefaultCallbackTimeout = 5 * time.Second
	DefaultCallbackConnect = 2 * time.Second
	DefaultTimelineEntries = 500
	DefaultTimelineBody    = 2 * KiB
)

// Limits enforced by validation.
const (
	minBodyLimit       = 1 * KiB
	maxBodyLimit       = 64 * MiB
	maxTimestampWindow = 24 * time.Hour
	maxAppKeyLen       = 128
)

var (
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	nodeIDPattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	regionPattern   = regexp.MustCompile(`^[a-z0-9]{2,10}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// fieldError is a validation problem at a path; Parse adds file and line.
type fieldError struct{ path, reason string }

// normalize applies the defaults and validates c: the one place for both.
// present reports whether the file had a key at a path, which tells an
// absent ops.listen (default) from an empty one (disabled) and an absent
// size or duration (default) from an explicit zero (invalid).
func (c *Config) normalize(present func(path string) bool) []fieldError {
	var errs []fieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, fieldError{path, fmt.Sprintf(format, args...)})
	}

	// node
	switch {
	case c.Node.ID == "":
		bad("node.id", "required")
	case !nodeIDPattern.MatchString(c.Node.ID):
		bad("node.id", `must be 1-32 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (got %s)`, quote(c.Node.ID))
	case c.Node.ID == "dead":
		bad("node.id", `"dead" is reserved (the region's dead-letter queue)`)
	}
	switch {
	case c.Node.Region == "":
		bad("node.region", "required")
	case !regionPattern.MatchString(c.Node.Region):
		bad("node.region", "must be 2-10 characters of a-z and 0-9, e.g. euc1, use1, sae1, apse1 or apse2 (got %s)", quote(c.Node.Region))
	}

	// api
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	apiHost, apiOK := checkListen(c.API.Listen)
	if !apiOK {
		bad("api.listen", "must be HOST:PORT with a port from 0 to 65535 (got %s)", quote(c.API.Listen))
	}
	switch {
	case c.API.BaseURL == "" && apiOK && isWildcard(apiHost):
		bad("api.base_url", "required when api.listen does not name a specific host")
	case c.API.BaseURL == "" && apiOK:
		c.API.BaseURL = "http://" + c.API.Listen
	case c.API.BaseURL != "":
		if reason := checkBaseURL(c.API.BaseURL); reason != "" {
			bad("api.base_url", "%s", reason)
		}
	}
	if !present("api.body_limit") {
		c.API.BodyLimit = DefaultBodyLimit
	} else if c.API.BodyLimit < minBodyLimit || c.API.BodyLimit > maxBodyLimit {
		bad("api.body_limit", "must be between %v and %v (got %v)", minBodyLimit, maxBodyLimit, c.API.BodyLimit)
	}
	if !present("api.timestamp_window") {
		c.API.TimestampWindow = DefaultTimestampWindow
	} else if c.API.TimestampWindow <= 0 || c.API.TimestampWindow > maxTimestampWindow {
		bad("api.timestamp_window", "must be greater than 0 and at most 24h (got %v)", c.API.TimestampWindow)
	}

	// ops
	if !present("ops.listen") {
		c.Ops.Listen = DefaultOpsListen
	} else if c.Ops.Listen != "" {
		if _, ok := checkListen(c.Ops.Listen); !ok {
			bad("ops.listen", `must be HOST:PORT with a port from 0 to 65535, or "" to disable (got %s)`, quote(c.Ops.Listen))
		}
	}

	// sip
	if c.SIP.Listen == "" {
		c.SIP.Listen = DefaultSIPListen
	}
	sipHost, sipOK := checkListen(c.SIP.Listen)
	if !sipOK {
		bad("sip.listen", "must be HOST:PORT with a port from 0 to 65535 (got %s)", quote(c.SIP.Listen))
	}
	switch {
	case c.SIP.PublicHost == "" && sipOK && isWildcard(sipHost):
		bad("sip.public_host", "required when sip.listen does not name a specific host")
	case c.SIP.PublicHost == "" && sipOK:
		c.SIP.PublicHost = sipHost
	case c.SIP.PublicHost != "" && !validHost(c.SIP.PublicHost):
		bad("sip.public_host", "must be a host name or IP address without port (got %s)", quote(c.SIP.PublicHost))
	}

	// media
	if !present("media.rtp_ports") {
		c.Media.RTPPorts = PortRange{Min: DefaultRTPPortMin, Max: DefaultRTPPortMax}
	} else {
		r := c.Media.RTPPorts
		switch {
		case r.Min < 1024 || r.Max > 65535 || r.Min >= r.Max:
			bad("media.rtp_ports", "must satisfy 1024 <= MIN < MAX <= 65535 (got %v)", r)
		case r.Min%2 != 0:
			bad("media.rtp_ports", "MIN must be even: RTP uses the even port of each pair (got %v)", r)
		}
	}

	for i, a := range c.SIP.TrunkACL {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				bad("sip.trunk_acl["+strconv.Itoa(i)+"]", "must be an IP address or CIDR prefix like 10.0.0.0/8 (got %s)", quote(a))
			}
		}
	}
	if c.SIP.Realm == "" {
		c.SIP.Realm = DefaultRealm
	} else if !isToken(c.SIP.Realm) {
		bad("sip.realm", "must be a plain token (got %s)", quote(c.SIP.Realm))
	}
	if c.SIP.MaxCalls < 0 {
		bad("sip.max_calls", "must be 0 (no cap) or more (got %d)", c.SIP.MaxCalls)
	}
	duration := func(path string, v *Duration, def, lo, hi time.Duration) {
		if !present(path) {
			*v = def
		} else if *v < lo || *v > hi {
			bad(path, "must be between %v and %v (got %v)", lo, hi, *v)
		}
	}
	size := func(path string, v *ByteSize, def, lo, hi ByteSize) {
		if !present(path) {
			*v = def
		} else if *v < lo || *v > hi {
			bad(path, "must be between %v and %v (got %v)", lo, hi, *v)
		}
	}
	duration("media.rtp_timeout", &c.Media.RTPTimeout, DefaultRTPTimeout, 0, time.Hour)
	if c.Media.Espeak == "" {
		c.Media.Espeak = DefaultEspeak
	}
	duration("media.fetch_timeout", &c.Media.FetchTimeout, DefaultFetchTimeout, time.Second, 5*time.Minute)
	errs = append(errs, c.Media.TTS.normalize(present)...)
	size("media.fetch_max_bytes", &c.Media.FetchMaxBytes, DefaultFetchMaxBytes, 1*KiB, 1*GiB)
	size("media.cache_bytes", &c.Media.CacheBytes, DefaultCacheBytes, 1*MiB, 16*GiB)
	duration("calls.dial_timeout", &c.Calls.DialTimeout, DefaultDialTimeout, time.Second, 10*time.Minute)
	duration("calls.max_duration", &c.Calls.MaxDuration, DefaultMaxDuration, time.Second, DefaultMaxDuration)
	duration("calls.record_ttl", &c.Calls.RecordTTL, DefaultRecordTTL, time.Minute, 30*24*time.Hour)
	duration("node.drain_timeout", &c.Node.DrainTimeout, DefaultDrainTimeout, 0, 24*time.Hour)
	duration("cluster.heartbeat_ttl", &c.Cluster.HeartbeatTTL, DefaultHeartbeatTTL, time.Second, 5*time.Minute)
	duration("cluster.forward_timeout", &c.Cluster.ForwardTimeout, DefaultForwardTimeout, 100*time.Millisecond, 30*time.Second)
	duration("events.retry_for", &c.Events.RetryFor, DefaultEventsRetryFor, time.Minute, 7*24*time.Hour)
	duration("events.min_backoff", &c.Events.MinBackoff, DefaultEventsMinBackof, 10*time.Millisecond, time.Minute)
	duration("events.max_backoff", &c.Events.MaxBackoff, DefaultEventsMaxBackof, c.Events.MinBackoff, time.Hour)
	for id, base := range c.Regions {
		path := joinPath("regions", id)
		if !regionPattern.MatchString(id) {
			bad(path, "region ids must be 2-10 characters of a-z and 0-9, e.g. global, euc1, use1, sae1, apse1, apse2 or a custom one (got %s)", quote(id))
			continue
		}
		if reason := checkBaseURL(base); reason != "" {
			bad(path, "%s", reason)
		}
	}
	if !present("media.inband_dtmf") {
		c.Media.InbandDTMF = true
	}
	if !present("timeline.enabled") {
		c.Timeline.Enabled = true
	}
	if !present("timeline.max_entries") {
		c.Timeline.MaxEntries = DefaultTimelineEntries
	} else if c.Timeline.MaxEntries < 10 || c.Timeline.MaxEntries > 5000 {
		bad("timeline.max_entries", "must be between 10 and 5000 (got %d)", c.Timeline.MaxEntries)
	}
	size("timeline.max_body", &c.Timeline.MaxBody, DefaultTimelineBody, 64, 64*KiB)
	if !present("calls.max_tts_chars") {
		c.Calls.MaxTTSChars = DefaultMaxTTSChars
	} else if c.Calls.MaxTTSChars < 1 || c.Calls.MaxTTSChars > 4000 {
		bad("calls.max_tts_chars", "must be between 1 and 4000 (got %d)", c.Calls.MaxTTSChars)
	}
	duration("recordings.max_duration", &c.Recordings.MaxDuration, DefaultMaxDuration, time.Second, 24*time.Hour)
	switch c.Recordings.Channels {
	case "":
		c.Recordings.Channels = "mono"
	case "mono", "split":
	default:
		bad("recordings.channels", "must be mono or split (got %s)", quote(c.Recordings.Channels))
	}
	if e := c.Recordings.S3Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("recordings.s3_endpoint", "must be an http(s) URL (got %s)", quote(e))
		}
	}
	if (c.PSTN.Username == "") != (c.PSTN.Password == "") {
		bad("pstn.password", "pstn.username and pstn.password go together")
	}

	// Listeners must not collide (port 0 always gets a fresh port).
	if c.Ops.Listen != "" && sameAddr(c.Ops.Listen, c.API.Listen) {
		bad("ops.listen", "must not bind the address of api.listen (%s)", quote(c.API.Listen))
	}
	if sameAddr(c.SIP.Listen, c.API.Listen) {
		bad("sip.listen", "must not bind the address of api.listen (%s)", quote(c.API.Listen))
	}
	if c.Ops.Listen != "" && sameAddr(c.SIP.Listen, c.Ops.Listen) {
		bad("sip.listen", "must not bind the address of ops.listen (%s)", quote(c.Ops.Listen))
	}
	if _, port, err := net.SplitHostPort(c.SIP.Listen); err == nil && sipOK {
		if p, err := parsePort(port); err == nil && c.Media.RTPPorts.Contains(p) {
			bad("media.rtp_ports", "must not contain the SIP port %d", p)
		}
	}

	// store: never echo the URL, it may hold a password.
	if u := c.Store.RedisURL.Reveal(); u != "" {
		if reason := checkRedisURL(u); reason != "" {
			bad("store.redis_url", "%s", reason)
		}
	}

	// pstn
	switch {
	case c.PSTN.Gateway == "":
		bad("pstn.gateway", "required")
	case !validSIPURI(c.PSTN.Gateway):
		bad("pstn.gateway", "must be a sip: or sips: URI with a host, e.g. sip:gw.example.com:5060 (got %s)", quote(c.PSTN.Gateway))
	}

	// billing
	if c.Billing.Currency == "" {
		c.Billing.Currency = DefaultCurrency
	} else if !currencyPattern.MatchString(c.Billing.Currency) {
		bad("billing.currency", "must be a 3-letter upper-case ISO 4217 code such as USD (got %s)", quote(c.Billing.Currency))
	}

	// log
	switch c.Log.Level {
	case "":
		c.Log.Level = DefaultLogLevel
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be one of debug, info, warn, error (got %s)", quote(c.Log.Level))
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = DefaultLogFormat
	case "text", "json":
	default:
		bad("log.format", "must be text or json (got %s)", quote(c.Log.Format))
	}

	// apps
	if len(c.Apps) == 0 {
		bad("apps", "at least one application is required")
	}
	keys := map[string]string{}    // lower-case key → path of its app
	numbers := map[string]string{} // number → path of its entry
	users := map[string]string{}   // username → path of its entry
	for i := range c.Apps {
		a := &c.Apps[i]
		p := "apps[" + strconv.Itoa(i) + "]"
		switch {
		case a.Key == "":
			bad(p+".key", "required")
		case len(a.Key) > maxAppKeyLen:
			bad(p+".key", "must be at most %d bytes", maxAppKeyLen)
		case strings.ContainsFunc(a.Key, func(r rune) bool { return r <= ' ' || r == ':' || r == 0x7F }):
			bad(p+".key", `must not contain whitespace, control characters or ":" (got %s)`, quote(a.Key))
		default:
			lower := strings.ToLower(a.Key)
			if first, dup := keys[lower]; dup {
				bad(p+".key", "duplicate application key %s (also %s; keys are compared case-insensitively)", quote(a.Key), first)
			} else {
				keys[lower] = p
			}
		}
		switch {
		case a.Secret == "":
			bad(p+".secret", "required")
		case !validSecret(a.Secret.Reveal()):
			bad(p+".secret", "must be base64 (standard or URL alphabet, padding optional)")
		}
		switch {
		case a.CallbackURL == "":
			bad(p+".callback_url", "required")
		default:
			if reason := checkCallbackURL(a.CallbackURL); reason != "" {
				bad(p+".callback_url", "%s", reason)
			}
		}
		if a.FallbackURL != "" {
			if reason := checkCallbackURL(a.FallbackURL); reason != "" {
				bad(p+".fallback_url", "%s", reason)
			}
		}
		duration(p+".callback_timeout", &a.CallbackTimeout, DefaultCallbackTimeout, 100*time.Millisecond, time.Minute)
		duration(p+".callback_connect_timeout", &a.CallbackConnectTimeout, DefaultCallbackConnect, 50*time.Millisecond, time.Minute)
		if a.CallbackConnectTimeout > a.CallbackTimeout {
			bad(p+".callback_connect_timeout", "must not exceed callback_timeout (%v)", a.CallbackTimeout)
		}
		for j, u := range a.Users {
			up := p + ".users[" + strconv.Itoa(j) + "]"
			switch {
			case !usernamePattern.MatchString(u.Username):
				bad(up+".username", "must be 1-64 of A-Z, a-z, 0-9, \".\", \"_\" and \"-\" (got %s)", quote(u.Username))
			case users[u.Username] != "":
				bad(up+".username", "user %s is already defined at %s", u.Username, users[u.Username])
			default:
				users[u.Username] = up
			}
			if u.Password == "" {
				bad(up+".password", "required")
			}
		}
		for j, n := range a.Numbers {
			np := p + ".numbers[" + strconv.Itoa(j) + "]"
			switch {
			case !e164.Valid(n):
				bad(np, "must be an E.164 number like +46701234567 (got %s)", quote(n))
			case numbers[n] != "":
				bad(np, "number %s is already listed at %s", n, numbers[n])
			default:
				numbers[n] = np
			}
		}
	}
	return errs
}

// checkListen validates HOST:PORT and returns the host. The host may be
// empty (all interfaces); the port must be numeric, 0-65535.
func checkListen(addr string) (host string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	if _, err := parsePort(port); err != nil {
		return "", false
	}
	if host != "" && !validHost(host) {
		return "", false
	}
	return host, true
}

// sameAddr reports whether two valid listen addresses bind the same
// non-zero port on the same host.
func sameAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, errA := parsePort(pa)
	nb, errB := parsePort(pb)
	if errA != nil || errB != nil || na == 0 || na != nb {
		return false
	}
	return ha == hb || isWildcard(ha) || isWildcard(hb)
}

// isWildcard reports whether a listen host binds every interface.
func isWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// validHost accepts an IP address or a DNS host name (RFC 1123 labels).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c != '-' && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// checkHTTPURL validates an absolute http(s) URL with a host and returns a
// reason, or "". URLs are not echoed: they may embed tokens.
func checkHTTPURL(s, shape string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" || !validHost(u.Hostname()) {
		return "must be " + shape
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return "must be " + shape
		}
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "must not have a fragment"
	}
	return ""
}

// ttsReservedHeaders are set by the HTTP TTS engine itself.
var ttsReservedHeaders = map[string]bool{
	"content-type": true, "accept": true, "content-length": true, "host": true, "connection": true, "transfer-encoding": true,
}

// normalize applies the defaults of media.tts and validates it. Header
// values and the URL are never echoed: they may hold credentials.
func (t *TTS) normalize(present func(path string) bool) []fieldError {
	var errs []fieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, fieldError{path, fmt.Sprintf(format, args...)})
	}
	switch t.Engine {
	case "":
		t.Engine = DefaultTTSEngine
	case TTSEngineEspeak, TTSEngineHTTP:
	default:
		bad("media.tts.engine", "must be espeak or http (got %s)", quote(t.Engine))
	}
	switch {
	case t.HTTP.URL == "" && t.Engine == TTSEngineHTTP:
		bad("media.tts.http.url", "required when media.tts.engine is http")
	case t.HTTP.URL != "":
		if reason := checkHTTPURL(t.HTTP.URL, "an absolute http(s) URL"); reason != "" {
			bad("media.tts.http.url", "%s", reason)
		}
	}
	for name, value := range t.HTTP.Headers {
		path := joinPath("media.tts.http.headers", name)
		switch {
		case !isToken(name):
			bad(path, "header names must be HTTP tokens")
		case ttsReservedHeaders[strings.ToLower(name)]:
			bad(path, "is set by callcore and cannot be configured")
		case strings.ContainsFunc(value.Reveal(), func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7F }):
			bad(path, "must not contain control characters")
		}
	}
	if !present("media.tts.http.timeout") {
		t.HTTP.Timeout = DefaultTTSHTTPTimeout
	} else if t.HTTP.Timeout < time.Second || t.HTTP.Timeout > 5*time.Minute {
		bad("media.tts.http.timeout", "must be between %v and %v (got %v)", time.Second, 5*time.Minute, t.HTTP.Timeout)
	}
	return errs
}

// checkBaseURL validates api.base_url.
func checkBaseURL(s string) string {
	const shape = "an absolute http(s) URL without a trailing slash"
	if reason := checkHTTPURL(s, shape); reason != "" {
		return reason
	}
	u, _ := url.Parse(s) // checked above
	if u.RawQuery != "" || u.ForceQuery {
		return "must not have a query"
	}
	if strings.HasSuffix(u.Path, "/") {
		return "must be " + shape
	}
	return ""
}

// checkCallbackURL validates callback_url and fallback_url.
func checkCallbackURL(s string) string {
	return checkHTTPURL(s, "an absolute http(s) URL")
}

// checkRedisURL validates store.redis_url with the parser the node opens
// it with, without echoing it (redisconn's errors never quote the URL).
func checkRedisURL(s string) string {
	if err := redisconn.Check(s); err != nil {
		return strings.TrimPrefix(err.Error(), "redisconn: ")
	}
	return ""
}

// validSecret reports whether s decodes, to at least one byte, as base64
// in any of the alphabets and paddings the Sinch SDKs accept: standard or
// URL alphabet, padded or not, and as a last resort a mix of both alphabets.
// It mirrors events.DecodeSecret (not imported: config stays a leaf), so a
// secret that passes here is usable for signing.
func validSecret(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return len(b) > 0
		}
	}
	mixed := strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(s), "=")
	b, err := base64.RawURLEncoding.DecodeString(mixed)
	return err == nil && len(b) > 0
}

// validSIPURI accepts sip: or sips: URIs of the form
// scheme:[user@]host[:port][;param[=value]]... (RFC 3261 §19.1), without a
// password or headers.
func validSIPURI(s string) bool {
	var rest string
	switch {
	case len(s) > 4 && strings.EqualFold(s[:4], "sip:"):
		rest = s[4:]
	case len(s) > 5 && strings.EqualFold(s[:5], "sips:"):
		rest = s[5:]
	default:
		return false
	}
	if strings.ContainsAny(rest, "? \t") {
		return false
	}
	hostport, params, hasParams := strings.Cut(rest, ";")
	if at := strings.LastIndexByte(hostport, '@'); at >= 0 {
		user := hostport[:at]
		if user == "" || strings.ContainsAny(user, ":@") {
			return false
		}
		hostport = hostport[at+1:]
	}
	var host, port string
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return false
		}
		host = hostport[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return false
		}
		after := hostport[end+1:]
		if after != "" {
			var ok bool
			if port, ok = strings.CutPrefix(after, ":"); !ok {
				return false
			}
		}
	} else {
		var found bool
		host, port, found = strings.Cut(hostport, ":")
		if found && port == "" {
			return false
		}
		if !validHost(host) {
			return false
		}
	}
	if port != "" {
		if n, err := parsePort(port); err != nil || n == 0 {
			return false
		}
	}
	if hasParams {
		for p := range strings.SplitSeq(params, ";") {
			name, value, hasValue := strings.Cut(p, "=")
			if !isToken(name) || hasValue && !isToken(value) {
				return false
			}
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}
