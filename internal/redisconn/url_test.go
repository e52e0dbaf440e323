package redisconn

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStandalone(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		network string
		addr    string
		user    string
		pass    string
		db      int
		check   func(t *testing.T, p *parsed)
	}{
		{name: "host and port", url: "redis://localhost:6379", network: "tcp", addr: "localhost:6379"},
		{name: "default port", url: "redis://cache.example.com", network: "tcp", addr: "cache.example.com:6379"},
		{name: "trailing slash", url: "redis://h/", network: "tcp", addr: "h:6379"},
		{name: "scheme case", url: "REDIS://h:1", network: "tcp", addr: "h:1"},
		{name: "ipv6", url: "redis://[::1]:6390", network: "tcp", addr: "[::1]:6390"},
		{name: "ipv6 default port", url: "redis://[2001:db8::1]", network: "tcp", addr: "[2001:db8::1]:6379"},
		{name: "ipv4", url: "redis://10.0.0.7:7000/1", network: "tcp", addr: "10.0.0.7:7000", db: 1},
		{
			name:    "credentials, db and options",
			url:     "redis://alice:p%40ss%3Aw%2Frd@h:6380/3?dial_timeout=1s&read_timeout=2&write_timeout=-1&pool_size=7&client_name=n1",
			network: "tcp", addr: "h:6380", user: "alice", pass: "p@ss:w/rd", db: 3,
			check: func(t *testing.T, p *parsed) {
				o := p.simple
				assert.Equal(t, time.Second, o.DialTimeout)
				assert.Equal(t, 2*time.Second, o.ReadTimeout)
				assert.Equal(t, time.Duration(-1), o.WriteTimeout, "a disabled timeout stays disabled")
				assert.Equal(t, 7, o.PoolSize)
				assert.Equal(t, "n1", o.ClientName)
			},
		},
		{name: "password only", url: "redis://:pw@h", network: "tcp", addr: "h:6379", pass: "pw"},
		{name: "user only", url: "redis://bob@h", network: "tcp", addr: "h:6379", user: "bob"},
		{name: "unescaped @ in password", url: "redis://u:p@ss@h", network: "tcp", addr: "h:6379", user: "u", pass: "p@ss"},
		{name: "colon in password", url: "redis://u:a:b@h", network: "tcp", addr: "h:6379", user: "u", pass: "a:b"},
		{name: "db parameter wins over the path", url: "redis://h/2?db=5", network: "tcp", addr: "h:6379", db: 5},
		{
			name: "tls", url: "rediss://h:6390?skip_verify=true", network: "tcp", addr: "h:6390",
			check: func(t *testing.T, p *parsed) {
				require.NotNil(t, p.simple.TLSConfig)
				assert.Equal(t, "h", p.simple.TLSConfig.ServerName)
				assert.True(t, p.simple.TLSConfig.InsecureSkipVerify)
			},
		},
		{
			name: "plain has no tls", url: "redis://h",
			network: "tcp", addr: "h:6379",
			check: func(t *testing.T, p *parsed) { assert.Nil(t, p.simple.TLSConfig) },
		},
		{name: "unix", url: "unix:///var/run/redis.sock?db=2", network: "unix", addr: "/var/run/redis.sock", db: 2},
		{name: "unix credentials", url: "unix://u:pw@/tmp/r%20s.sock", network: "unix", addr: "/tmp/r s.sock", user: "u", pass: "pw"},
		{
			name: "context timeout off", url: "redis://h?context_timeout_enabled=false", network: "tcp", addr: "h:6379",
			check: func(t *testing.T, p *parsed) { assert.False(t, p.simple.ContextTimeoutEnabled) },
		},
		{
			name: "defaults", url: "redis://h", network: "tcp", addr: "h:6379",
			check: func(t *testing.T, p *parsed) {
				o := p.simple
				assert.Equal(t, DefaultDialTimeout, o.DialTimeout)
				assert.Equal(t, DefaultReadTimeout, o.ReadTimeout)
				assert.Equal(t, DefaultWriteTimeout, o.WriteTimeout)
				assert.True(t, o.ContextTimeoutEnabled)
				assert.Zero(t, o.PoolSize)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse(tt.url)
			require.NoError(t, err)
			require.Equal(t, kindStandalone, p.kind)
			require.NotNil(t, p.simple)
			assert.Nil(t, p.failover)
			assert.Nil(t, p.cluster)
			assert.Equal(t, tt.network, p.simple.Network)
			assert.Equal(t, tt.addr, p.simple.Addr)
			assert.Equal(t, tt.user, p.simple.Username)
			assert.Equal(t, tt.pass, p.simple.Password)
			assert.Equal(t, tt.db, p.simple.DB)
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestParseSentinel(t *testing.T) {
	p, err := parse("redis+sentinel://u:pw@s1:26379,s2,[::1]:26380/4?master_name=mymaster" +
		"&sentinel_password=sp%26x&sentinel_username=su&addr=s3:26381&read_timeout=500ms")
	require.NoError(t, err)
	require.Equal(t, kindSentinel, p.kind)
	o := p.failover
	require.NotNil(t, o)
	assert.Equal(t, []string{"s1:26379", "s2:26379", "[::1]:26380", "s3:26381"}, o.SentinelAddrs)
	assert.Equal(t, "mymaster", o.MasterName)
	assert.Equal(t, "u", o.Username, "the user info is the master's")
	assert.Equal(t, "pw", o.Password)
	assert.Equal(t, "su", o.SentinelUsername)
	assert.Equal(t, "sp&x", o.SentinelPassword)
	assert.Equal(t, 4, o.DB)
	assert.Equal(t, 500*time.Millisecond, o.ReadTimeout)
	assert.Equal(t, DefaultDialTimeout, o.DialTimeout)
	assert.Equal(t, DefaultWriteTimeout, o.WriteTimeout)
	assert.True(t, o.ContextTimeoutEnabled)
	assert.Nil(t, o.TLSConfig)

	p, err = parse("rediss+sentinel://s1?master_name=m&db=2&skip_verify=true")
	require.NoError(t, err)
	require.NotNil(t, p.failover.TLSConfig)
	assert.True(t, p.failover.TLSConfig.InsecureSkipVerify)
	assert.Equal(t, []string{"s1:26379"}, p.failover.SentinelAddrs)
	assert.Equal(t, 2, p.failover.DB)
	assert.Empty(t, p.failover.Password)
	assert.Empty(t, p.failover.SentinelPassword)
}

func TestParseCluster(t *testing.T) {
	p, err := parse("redis+cluster://u:pw@n1:7000,n2:7001?addr=n3:7002&addr=[::1]&read_only=true&max_redirects=5")
	require.NoError(t, err)
	require.Equal(t, kindCluster, p.kind)
	o := p.cluster
	require.NotNil(t, o)
	assert.Equal(t, []string{"n1:7000", "n2:7001", "n3:7002", "[::1]:6379"}, o.Addrs)
	assert.Equal(t, "u", o.Username)
	assert.Equal(t, "pw", o.Password)
	assert.True(t, o.ReadOnly)
	assert.Equal(t, 5, o.MaxRedirects)
	assert.Equal(t, DefaultDialTimeout, o.DialTimeout)
	assert.Equal(t, DefaultReadTimeout, o.ReadTimeout)
	assert.True(t, o.ContextTimeoutEnabled)
	assert.Nil(t, o.TLSConfig)

	for _, u := range []string{"rediss+cluster://n1", "rediss+cluster://n1/", "rediss+cluster://n1/0"} {
		p, err := parse(u)
		require.NoError(t, err, u)
		require.NotNil(t, p.cluster.TLSConfig, u)
		assert.False(t, p.cluster.TLSConfig.InsecureSkipVerify)
		assert.Equal(t, []string{"n1:6379"}, p.cluster.Addrs, u)
	}
	p, err = parse("rediss+cluster://n1?skip_verify=1")
	require.NoError(t, err)
	assert.True(t, p.cluster.TLSConfig.InsecureSkipVerify, "skip_verify works for a cluster too")
}

// malformed are URLs Open must reject, with the reason expected in the
// error. {pw} is replaced by a password in TestParseNeverLeaksPassword.
var malformed = []struct {
	url    string
	reason string
}{
	{"", "empty URL"},
	{"localhost:6379", "no scheme"},
	{"//u:{pw}@h", "no scheme"},
	{"http://u:{pw}@h", `unsupported scheme "http"`},
	{"redis+foo://u:{pw}@h", `unsupported scheme "redis+foo"`},
	{"re dis://u:{pw}@h", "malformed scheme"},
	{"redis://", "no host"},
	{"redis://u:{pw}@", "no host"},
	{"redis://u:{pw}@/1", "no host"},
	{"redis://u:{pw}@:6379", "address 1: no host"},
	{"redis://u:{pw}@h:abc", "address 1: invalid port"},
	{"redis://u:{pw}@h:0", "address 1: invalid port"},
	{"redis://u:{pw}@h:65536", "address 1: invalid port"},
	{"redis://u:{pw}@h:+1", "address 1: invalid port"},
	{"redis://u:{pw}@h:", "address 1: empty port"},
	{"redis://u:{pw}@::1:6379", "address 1: too many ':'"},
	{"redis://u:{pw}@[::1", "address 1: unclosed '['"},
	{"redis://u:{pw}@[zz::1]:1", "address 1: invalid IPv6 address"},
	{"redis://u:{pw}@[10.0.0.1]:1", "address 1: invalid IPv6 address"},
	{"redis://u:{pw}@[::1]x", "address 1: unexpected text after an IPv6 address"},
	{"redis://u:{pw}@[::1]:", "address 1: empty port"},
	{"redis://u:{pw}@ho$t", "address 1: invalid host name"},
	{"redis://u:{pw}@h1,h2", "more than one address"},
	{"redis://u:{pw}@h/abc", "invalid database number in the path"},
	{"redis://u:{pw}@h/1/2", "invalid database number in the path"},
	{"redis://u:{pw}@h/-1", "invalid database number in the path"},
	{"redis://u:{pw}@h?db=x", "query parameter db: invalid database number"},
	{"redis://u:{pw}@h?foo=1", "unknown query parameter foo"},
	{"redis://u:{pw}@h?foo=1&bar=2", "unknown query parameters"},
	{"redis://u:{pw}@h?f%21o=1", "unknown query parameter"},
	{"redis://u:{pw}@h?dial_timeout=abc", "query parameter dial_timeout: invalid duration"},
	{"redis://u:{pw}@h?pool_size=x", "query parameter pool_size: invalid number"},
	{"redis://u:{pw}@h?pool_fifo=maybe", "query parameter pool_fifo: invalid boolean"},
	{"redis://u:{pw}@h?context_timeout_enabled=maybe", "query parameter context_timeout_enabled: invalid boolean"},
	{"redis://h?password={pw}", "credentials go in the user info"},
	{"redis://h?username=u", "credentials go in the user info"},
	{"redis://u:{pw}@h?addr=h2:1", "the addr parameter needs redis+sentinel or redis+cluster"},
	{"redis://u:{pw}@h?skip_verify=true", "skip_verify needs TLS"},
	{"rediss://u:{pw}@h?skip_verify=maybe", "query parameter skip_verify: invalid boolean"},
	{"redis://u:{pw}@h#frag", "contains '#'"},
	{"redis://u:{pw}@h?a=1;b=2", "';' in the query"},
	{"redis://u:{pw}@h?a=%zz", "invalid percent-encoding in the value of query parameter a"},
	{"redis://u:{pw}@h?%zz=1", "invalid percent-encoding in a query parameter name"},
	{"redis://u:{pw}@h?=1", "a query parameter has no name"},
	{"redis://u:p%zz{pw}@h", "invalid percent-encoding in the user info"},
	{"redis://u:{pw}@h h", "contains a space or a control character"},
	{"redis://u:{pw}@h\n", "contains a space or a control character"},
	{"unix://", "no socket path"},
	{"unix://u:{pw}@", "no socket path"},
	{"unix://u:{pw}@h/tmp/r.sock", "takes no host"},
	{"unix://u:{pw}@/tmp/r%zz.sock", "invalid percent-encoding in the socket path"},
	{"redis+sentinel://u:{pw}@s1", "missing master_name"},
	{"redis+sentinel://u:{pw}@s1?master_name=", "missing master_name"},
	{"redis+sentinel://u:{pw}@s1,,s2?master_name=m", "address 2: empty address"},
	{"redis+sentinel://u:{pw}@s1,?master_name=m", "address 2: empty address"},
	{"redis+sentinel://u:{pw}@s1?master_name=m&addr=s2:port", "address 2: invalid port"},
	{"redis+sentinel://u:{pw}@s1?master_name=m&addr=", "address 2: empty address"},
	{"redis+sentinel://s1?master_name=m&password={pw}", "credentials go in the user info"},
	{"redis+sentinel://u:{pw}@s1/x?master_name=m", "invalid database number in the path"},
	{"redis+sentinel://u:{pw}@?master_name=m", "no host"},
	{"redis+cluster://u:{pw}@n1/1", "a cluster has only database 0"},
	{"redis+cluster://u:{pw}@n1?db=1", "a cluster has only database 0"},
	{"redis+cluster://u:{pw}@n1?sentinel_password={pw}", "sentinel_password is only valid in a redis+sentinel URL"},
	{"redis+cluster://u:{pw}@n1?master_name=m", "unknown query parameter master_name"},
	{"redis+cluster://u:{pw}@n1?skip_verify=true", "skip_verify needs TLS"},
	{"redis+cluster://u:{pw}@n1,n2:99999", "address 2: invalid port"},
	{"redis+cluster://u:{pw}@", "no host"},
}

func TestParseMalformed(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.url, func(t *testing.T) {
			u := strings.ReplaceAll(tt.url, "{pw}", "pw")
			_, err := parse(u)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidURL)
			assert.Contains(t, err.Error(), tt.reason)
			assert.True(t, strings.HasPrefix(err.Error(), "redisconn: invalid "), err.Error())

			// Open returns the same error and no client.
			c, err2 := Open(u, Options{})
			assert.Nil(t, c)
			assert.Equal(t, err.Error(), err2.Error())
		})
	}
}

func TestParseNeverLeaksPassword(t *testing.T) {
	secrets := []string{
		"hunter2-S3cr3t",
		"p@ss:w/rd?#x!$~*",   // reserved characters, unescaped: breaks the URL apart
		"Zq9/8%2Fsecret&k=v", // a slash and an escape inside, unescaped
		"s3cr3t port:123",
	}
	for _, tt := range malformed {
		if !strings.Contains(tt.url, "{pw}") {
			continue
		}
		for _, pw := range secrets {
			for _, enc := range []string{pw, url.PathEscape(pw), url.QueryEscape(pw), escapeUserinfo(pw)} {
				u := strings.ReplaceAll(tt.url, "{pw}", enc)
				_, err := parse(u)
				if err == nil {
					continue // the secret turned a broken URL into a valid one
				}
				msg := err.Error()
				assert.NotContains(t, msg, pw, "url %q", u)
				assert.NotContains(t, msg, enc, "url %q", u)
				assert.NotContains(t, msg, u, "url %q", u)
				for _, part := range []string{"hunter2", "S3cr3t", "Zq9", "s3cr3t"} {
					assert.NotContains(t, msg, part, "url %q", u)
				}
			}
		}
	}
}

// escapeUserinfo percent-encodes a password for the user info.
func escapeUserinfo(pw string) string {
	s := url.UserPassword("u", pw).String()
	return strings.TrimPrefix(s, "u:")
}

// TestParseSecretSplitsURL: an unescaped reserved character in a password
// moves part of it into the host, port, path or query; the error must not
// quote any of them.
func TestParseSecretSplitsURL(t *testing.T) {
	for _, u := range []string{
		"redis://u:ab/cdSECRET@h:6379", // '/' ends the authority: host "u", port "ab"
		"redis://u:SECRET/x@h:6379",    // port "SECRET"
		"redis://u:abc?SECRET@h",       // '?' starts the query inside the password
		"redis://u:abc?SECRET=1@h",     // the query names a parameter after the secret
		"redis://u:SECRET#frag@h",      // '#'
		"redis://u:SEC RET@h",          // a space
		"redis+sentinel://u:ab/SECRET@h?master_name=m",
		"redis+cluster://u:SECRET/0@h",
	} {
		_, err := parse(u)
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "SECRET", u)
		assert.NotContains(t, err.Error(), "SEC RET", u)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range malformed {
		f.Add(strings.ReplaceAll(tt.url, "{pw}", "p!w"))
	}
	for _, s := range []string{
		"redis://localhost:6379", "rediss://u:p%21w@h:1/2?dial_timeout=3s", "unix:///tmp/r.sock?db=1",
		"redis+sentinel://u:p$w@s1,s2:26380/1?master_name=m&sentinel_password=x~y",
		"redis+cluster://n1:7000,[::1]:7001?addr=n3:7002", "rediss+cluster://:p*w@n1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parse(raw)
		if err != nil {
			require.Nil(t, p)
			require.True(t, errors.Is(err, ErrInvalidURL))
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, "redisconn: invalid "), msg)
			if strings.Contains(raw, "://") {
				require.NotContains(t, msg, raw)
			}
			// A password holding a character no error text uses (!$~*)
			// must never show, raw or decoded.
			if raw, dec, ok := fuzzPassword(raw); ok {
				for _, pw := range []string{raw, dec} {
					if strings.ContainsAny(pw, "!$~*") {
						require.NotContains(t, msg, pw)
					}
				}
			}
			return
		}
		n := 0
		for _, set := range []bool{p.simple != nil, p.failover != nil, p.cluster != nil} {
			if set {
				n++
			}
		}
		require.Equal(t, 1, n)
		switch p.kind {
		case kindStandalone:
			require.NotEmpty(t, p.simple.Addr)
			require.NotZero(t, p.simple.DialTimeout)
			require.NotZero(t, p.simple.ReadTimeout)
			require.NotZero(t, p.simple.WriteTimeout)
			require.GreaterOrEqual(t, p.simple.DB, 0)
			if p.simple.Network == "tcp" {
				_, _, err := net.SplitHostPort(p.simple.Addr)
				require.NoError(t, err)
			}
		case kindSentinel:
			require.NotEmpty(t, p.failover.MasterName)
			require.NotEmpty(t, p.failover.SentinelAddrs)
			require.GreaterOrEqual(t, p.failover.DB, 0)
			for _, a := range p.failover.SentinelAddrs {
				_, _, err := net.SplitHostPort(a)
				require.NoError(t, err)
			}
		case kindCluster:
			require.NotEmpty(t, p.cluster.Addrs)
			for _, a := range p.cluster.Addrs {
				_, _, err := net.SplitHostPort(a)
				require.NoError(t, err)
			}
		}
	})
}

// fuzzPassword extracts the password of a URL independently of parse: the
// text between the first ':' and the last '@' of the authority, raw and
// percent-decoded.
func fuzzPassword(raw string) (string, string, bool) {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", false
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || pw == "" {
		return "", "", false
	}
	dec, err := url.PathUnescape(pw)
	if err != nil {
		dec = pw
	}
	return pw, dec, true
}
