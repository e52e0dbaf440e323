package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	testKey    = "669E367E-6BBA-48AB-AF15-266871C28135"
	testSecret = "BeIukql3pTKJ8RGL5zo0DA=="
)

func TestLoadExample(t *testing.T) {
	cfg, err := Load("testdata/conf.example.yml")
	require.NoError(t, err)
	require.Equal(t, &Config{
		Node: Node{ID: "node-a", Region: "euc1", DrainTimeout: DefaultDrainTimeout},
		API:  API{Listen: "127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080", BodyLimit: MiB, TimestampWindow: 10 * time.Minute},
		Ops:  Ops{Listen: "127.0.0.1:9090"},
		SIP:  SIP{Listen: "127.0.0.1:5060", PublicHost: "127.0.0.1", Realm: DefaultRealm},
		Media: Media{RTPPorts: PortRange{Min: 20000, Max: 20999}, RTPTimeout: DefaultRTPTimeout, Espeak: DefaultEspeak,
			FetchTimeout: DefaultFetchTimeout, FetchMaxBytes: DefaultFetchMaxBytes, CacheBytes: DefaultCacheBytes,
			TTS: TTS{Engine: TTSEngineEspeak, HTTP: TTSHTTP{Timeout: DefaultTTSHTTPTimeout}}, InbandDTMF: true},
		Store:      Store{RedisURL: ""},
		PSTN:       PSTN{Gateway: "sip:127.0.0.1:5070"},
		Calls:      Calls{DialTimeout: DefaultDialTimeout, MaxDuration: DefaultMaxDuration, RecordTTL: DefaultRecordTTL, MaxTTSChars: DefaultMaxTTSChars},
		Recordings: Recordings{Channels: "mono", MaxDuration: DefaultMaxDuration},
		Billing:    Billing{Currency: "USD"},
		Log:        Log{Level: "info", Format: "text"},
		Cluster:    Cluster{HeartbeatTTL: DefaultHeartbeatTTL, ForwardTimeout: DefaultForwardTimeout},
		Events:     Events{RetryFor: DefaultEventsRetryFor, MinBackoff: DefaultEventsMinBackof, MaxBackoff: DefaultEventsMaxBackof},
		Timeline:   Timeline{Enabled: true, MaxEntries: DefaultTimelineEntries, MaxBody: DefaultTimelineBody},
		Apps: []App{{
			Key:                    testKey,
			Secret:                 testSecret,
			CallbackURL:            "http://127.0.0.1:9000/callbacks",
			FallbackURL:            "",
			Numbers:                []string{"+46701234567"},
			CallbackTimeout:        DefaultCallbackTimeout,
			CallbackConnectTimeout: DefaultCallbackConnect,
		}},
	}, cfg)
}

func TestLoadGood(t *testing.T) {
	cfg, err := Load("testdata/conf.good.yml")
	require.NoError(t, err)
	require.Equal(t, &Config{
		Node: Node{ID: "node-a", Region: "euc1", DrainTimeout: DefaultDrainTimeout},
		API: API{
			Listen:          "127.0.0.1:8080",
			BaseURL:         "https://voice.example.com/sinch",
			BodyLimit:       512 * KiB,
			TimestampWindow: 5 * time.Minute,
		},
		Ops: Ops{Listen: "127.0.0.1:9090"},
		SIP: SIP{Listen: "0.0.0.0:5060", PublicHost: "sip.example.com", TrunkACL: []string{"10.0.0.0/8", "192.0.2.7"},
			Realm: "voice.example.com", MaxCalls: 500},
		Media: Media{RTPPorts: PortRange{Min: 20000, Max: 20999}, RTPTimeout: 45 * time.Second, Espeak: "/usr/bin/espeak-ng",
			FilesDir: "/var/lib/callcore/prompts", FetchTimeout: 5 * time.Second, FetchMaxBytes: 2 * MiB, CacheBytes: 128 * MiB,
			TTS: TTS{Engine: TTSEngineHTTP, HTTP: TTSHTTP{URL: "https://tts.example.com/v1/synthesize?model=neural",
				Headers: map[string]Secret{"Authorization": "Bearer hunter2-tts", "X-Voice-Style": "calm"}, Timeout: 20 * time.Second}},
			InbandDTMF: true},
		Store:      Store{RedisURL: "redis://:hunter2-redis@127.0.0.1:6379/0"},
		PSTN:       PSTN{Gateway: "sips:trunk@gw.example.com:5061;transport=tls", Username: "trunk-user", Password: "hunter2-trunk"},
		Calls:      Calls{DialTimeout: 30 * time.Second, MaxDuration: 2 * time.Hour, RecordTTL: 24 * time.Hour, MaxTTSChars: 1000},
		Recordings: Recordings{Channels: "mono", MaxDuration: DefaultMaxDuration},
		Billing:    Billing{Currency: "EUR"},
		Log:        Log{Level: "debug", Format: "json"},
		Cluster:    Cluster{HeartbeatTTL: DefaultHeartbeatTTL, ForwardTimeout: DefaultForwardTimeout},
		Events:     Events{RetryFor: DefaultEventsRetryFor, MinBackoff: DefaultEventsMinBackof, MaxBackoff: DefaultEventsMaxBackof},
		Timeline:   Timeline{Enabled: true, MaxEntries: DefaultTimelineEntries, MaxBody: DefaultTimelineBody},
		Apps: []App{
			{
				Key:             testKey,
				Secret:          testSecret,
				CallbackURL:     "http://127.0.0.1:9000/callbacks",
				Numbers:         []string{"+46701234567"},
				CallbackTimeout: 3 * time.Second, CallbackConnectTimeout: time.Second,
				Users: []User{{Username: "alice", Password: "alice-pass"}, {Username: "bob.smith", Password: "bob-pass"}},
			},
			{
				Key:             "second-app",
				Secret:          "c2Vjb25kLWFwcC1zZWNyZXQ",
				CallbackURL:     "https://backend.example.com/sinch?tenant=2",
				FallbackURL:     "https://fallback.example.com/sinch",
				Numbers:         []string{"+12015550100", "+447400123456"},
				CallbackTimeout: 5 * time.Second, CallbackConnectTimeout: 2 * time.Second,
			},
		},
	}, cfg)
	require.Equal(t, slog.LevelDebug, cfg.Log.SlogLevel())
	require.True(t, cfg.Ops.Enabled())
}

func TestLoadMinimalDefaults(t *testing.T) {
	cfg, err := Load("testdata/conf.minimal.yml")
	require.NoError(t, err)
	require.Equal(t, API{Listen: "127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080", BodyLimit: MiB, TimestampWindow: 10 * time.Minute}, cfg.API)
	require.Equal(t, Ops{Listen: "127.0.0.1:9090"}, cfg.Ops)
	require.Equal(t, SIP{Listen: "127.0.0.1:5060", PublicHost: "127.0.0.1", Realm: "callcore"}, cfg.SIP)
	require.Equal(t, Media{RTPPorts: PortRange{Min: 20000, Max: 29999}, RTPTimeout: 60 * time.Second, Espeak: "espeak-ng",
		FetchTimeout: 10 * time.Second, FetchMaxBytes: 10 * MiB, CacheBytes: 64 * MiB,
		TTS: TTS{Engine: "espeak", HTTP: TTSHTTP{Timeout: 10 * time.Second}}, InbandDTMF: true}, cfg.Media)
	require.Equal(t, Calls{DialTimeout: time.Minute, MaxDuration: 4 * time.Hour, RecordTTL: 24 * time.Hour, MaxTTSChars: 600}, cfg.Calls)
	require.Equal(t, 5*time.Second, cfg.Apps[0].CallbackTimeout)
	require.Equal(t, 2*time.Second, cfg.Apps[0].CallbackConnectTimeout)
	require.Empty(t, cfg.Store.RedisURL.Reveal())
	require.Equal(t, "USD", cfg.Billing.Currency)
	require.Equal(t, Log{Level: "info", Format: "text"}, cfg.Log)
	require.Equal(t, slog.LevelInfo, cfg.Log.SlogLevel())
	require.Nil(t, cfg.Apps[0].Numbers)
}

// base is a valid configuration that the tables below extend. Its lines:
//
//	1 node
//	2 pstn
//	3 apps:
//	4   - key
//	5     secret
//	6     callback_url
const base = `node: {id: node-a, region: euc1}
pstn: {gateway: "sip:127.0.0.1:5070"}
apps:
  - key: 669E367E-6BBA-48AB-AF15-266871C28135
    secret: BeIukql3pTKJ8RGL5zo0DA==
    callback_url: http://127.0.0.1:9000/callbacks
`

// app is a second valid application entry (lines 7-9 after base).
const app = `  - key: second
    secret: c2Vjb25k
    callback_url: http://127.0.0.1:9000/second
`

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name, yml string
		check     func(t *testing.T, c *Config)
	}{
		{"empty ops.listen disables ops", base + "ops: {listen: \"\"}\n", func(t *testing.T, c *Config) {
			require.Empty(t, c.Ops.Listen)
			require.False(t, c.Ops.Enabled())
		}},
		{"null ops.listen disables ops", base + "ops: {listen: ~}\n", func(t *testing.T, c *Config) {
			require.False(t, c.Ops.Enabled())
		}},
		{"empty ops section keeps the default", base + "ops: {}\n", func(t *testing.T, c *Config) {
			require.Equal(t, "127.0.0.1:9090", c.Ops.Listen)
		}},
		{"base_url follows api.listen", base + "api: {listen: \"localhost:0\"}\n", func(t *testing.T, c *Config) {
			require.Equal(t, "http://localhost:0", c.API.BaseURL)
		}},
		{"base_url follows an IPv6 api.listen", base + "api: {listen: \"[::1]:8080\"}\n", func(t *testing.T, c *Config) {
			require.Equal(t, "http://[::1]:8080", c.API.BaseURL)
		}},
		{"public_host follows sip.listen", base + "sip: {listen: \"10.0.0.5:5070\"}\n", func(t *testing.T, c *Config) {
			require.Equal(t, "10.0.0.5", c.SIP.PublicHost)
		}},
		{"wildcard listens with explicit public names", base + "api: {listen: \":8080\", base_url: \"https://api.example.com\"}\nsip: {listen: \"[::]:5060\", public_host: \"2001:db8::1\"}\n", func(t *testing.T, c *Config) {
			require.Equal(t, "https://api.example.com", c.API.BaseURL)
			require.Equal(t, "2001:db8::1", c.SIP.PublicHost)
		}},
		{"byte sizes", base + "api: {body_limit: 1048576}\n", func(t *testing.T, c *Config) {
			require.Equal(t, MiB, c.API.BodyLimit)
		}},
		{"byte size with space and B", base + "api: {body_limit: 2048 B}\n", func(t *testing.T, c *Config) {
			require.Equal(t, 2*KiB, c.API.BodyLimit)
		}},
		{"largest body limit", base + "api: {body_limit: 64MiB}\n", func(t *testing.T, c *Config) {
			require.Equal(t, 64*MiB, c.API.BodyLimit)
		}},
		{"unquoted number and URL-alphabet secret", strings.Replace(base, testSecret, "ab-_", 1) + "    numbers: [+46701234567]\n", func(t *testing.T, c *Config) {
			require.Equal(t, []string{"+46701234567"}, c.Apps[0].Numbers)
		}},
		{"unix redis socket", base + "store: {redis_url: \"unix:///run/redis.sock\"}\n", nil},
		{"rediss with db", base + "store: {redis_url: \"rediss://user:pw@redis.example.com:6380/3\"}\n", nil},
		{"sip gateway IPv6", strings.Replace(base, "sip:127.0.0.1:5070", "sip:[2001:db8::1]:5060", 1), nil},
		{"numbers across apps", base + "    numbers: [\"+46701234567\"]\n" + app + "    numbers: [\"+46701234568\"]\n", func(t *testing.T, c *Config) {
			require.Len(t, c.Apps, 2)
		}},
		{"port 0 everywhere", base + "api: {listen: \"127.0.0.1:0\"}\nops: {listen: \"127.0.0.1:0\"}\nsip: {listen: \"127.0.0.1:0\"}\n", nil},
		{"byte order mark and CRLF", "\uFEFF" + strings.ReplaceAll(base, "\n", "\r\n"), nil},
		{"document markers", "---\n" + base + "...\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yml", []byte(tt.yml))
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		// Structure.
		{"unknown top-level key", base + "bogus: 1\n",
			"t.yml:7: bogus: unknown key (want one of: node, api, ops, sip, media, store, pstn, calls, recordings, billing, log, cluster, events, timeline, regions, apps)"},
		{"unknown nested key in an app", base + "    callback: http://x\n",
			"t.yml:7: apps[0].callback: unknown key (want one of: key, secret, callback_url, fallback_url, numbers, callback_timeout, callback_connect_timeout, users)"},
		{"unknown nested key in a section", base + "api:\n  listen: \"127.0.0.1:8080\"\n  bind: x\n",
			"t.yml:9: api.bind: unknown key (want one of: listen, base_url, body_limit, timestamp_window)"},
		{"odd key is quoted", base + "\"a b\": 1\n",
			`t.yml:7: "a b": unknown key (want one of: node, api, ops, sip, media, store, pstn, calls, recordings, billing, log, cluster, events, timeline, regions, apps)`},
		{"duplicate top-level key", base + "node: {id: b, region: euc1}\n",
			"t.yml:7: node: duplicate key (first on line 1)"},
		{"duplicate key in an app", base + "    key: again\n",
			"t.yml:7: apps[0].key: duplicate key (first on line 4)"},
		{"mapping expected", base + "api: 8080\n",
			"t.yml:7: api: expected a mapping, got a single value"},
		{"list expected", "node: {id: node-a, region: euc1}\npstn: {gateway: \"sip:gw\"}\napps: {key: x}\n",
			"t.yml:3: apps: expected a list, got a mapping"},
		{"string expected", base + "    numbers: [[\"+46701234567\"]]\n",
			"t.yml:7: apps[0].numbers[0]: expected a string, got a list"},
		{"scalar list expected", base + "    numbers: \"+46701234567\"\n",
			"t.yml:7: apps[0].numbers: expected a list, got a single value"},
		{"range expects a scalar", base + "media: {rtp_ports: [20000, 20999]}\n",
			"t.yml:7: media.rtp_ports: expected a single value, got a list"},
		{"boolean expected", base + "recordings: {s3_path_style: yes}\n",
			`t.yml:7: recordings.s3_path_style: expected true or false, got "yes"`},
		{"recording channels", base + "recordings: {channels: quad}\n",
			`t.yml:7: recordings.channels: must be mono or split (got "quad")`},
		{"recording s3 endpoint", base + "recordings: {s3_endpoint: \"minio:9000\"}\n",
			`t.yml:7: recordings.s3_endpoint: must be an http(s) URL (got "minio:9000")`},
		{"multiple documents", base + "---\nnode: {id: b}\n",
			"t.yml:7: multiple YAML documents are not allowed"},
		{"anchor", base + "    fallback_url: &u http://x\n",
			"t.yml:7: apps[0].fallback_url: anchors and aliases are not supported"},
		{"merge key", base + "log:\n  <<: {level: debug}\n",
			`t.yml:8: log."<<": merge keys are not supported`},
		{"custom tag", base + "log: {level: !env LOG_LEVEL}\n",
			"t.yml:7: log.level: tag \"!env\" is not supported"},
		{"empty file", "", "t.yml:1: empty configuration"},
		{"comments only", "# nothing\n", "t.yml:1: empty configuration"},
		{"null document", "---\n~\n", "t.yml:2: empty configuration"},
		{"top level list", "- a\n", "t.yml:1: expected a mapping, got a list"},

		// Invalid YAML.
		{"tab indentation", "node:\n\tid: node-a\n",
			"t.yml:2: invalid YAML: found character that cannot start any token"},
		{"tab in a later line", base + "log:\n\tlevel: debug\n",
			"t.yml:8: invalid YAML: found character that cannot start any token"},
		{"unclosed flow sequence", base + "log: {level: [debug}\n",
			"t.yml:7: invalid YAML: did not find expected ',' or ']'"},
		{"bad indentation", base + "log:\n  level: info\n format: text\n",
			"t.yml:9: invalid YAML: did not find expected key"},
		// yaml.v3 places parser errors at the start of the enclosing block
		// (line 4), not at the offending "- key" (line 5).
		{"list items after mapping keys", strings.Replace(base, "apps:\n", "apps:\n  x: 1\n", 1),
			"t.yml:4: invalid YAML: did not find expected key"},
		{"mapping in scalar on line 1", "node: id: a\n",
			"t.yml:1: invalid YAML: mapping values are not allowed in this context"},
		{"control character", base + "log: {level: \"de\x01bug\"}\n",
			"t.yml:7: control character U+0001 is not allowed"},
		{"invalid UTF-8", base + "log: {level: \xff}\n",
			"t.yml:7: invalid UTF-8"},

		// Values.
		{"node id uppercase", strings.Replace(base, "node-a", "Node-A", 1),
			`t.yml:1: node.id: must be 1-32 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (got "Node-A")`},
		{"node id too long", strings.Replace(base, "node-a", strings.Repeat("a", 33), 1),
			`t.yml:1: node.id: must be 1-32 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (got "` + strings.Repeat("a", 33) + `")`},
		{"region", strings.Replace(base, "euc1", "eu-central-1", 1),
			`t.yml:1: node.region: must be 2-10 characters of a-z and 0-9, e.g. euc1, use1, sae1, apse1 or apse2 (got "eu-central-1")`},
		{"listen without port", base + "api: {listen: \"127.0.0.1\"}\n",
			`t.yml:7: api.listen: must be HOST:PORT with a port from 0 to 65535 (got "127.0.0.1")`},
		{"listen port out of range", base + "ops: {listen: \"127.0.0.1:65536\"}\n",
			`t.yml:7: ops.listen: must be HOST:PORT with a port from 0 to 65535, or "" to disable (got "127.0.0.1:65536")`},
		{"sip listen named port", base + "sip: {listen: \"127.0.0.1:sip\"}\n",
			`t.yml:7: sip.listen: must be HOST:PORT with a port from 0 to 65535 (got "127.0.0.1:sip")`},
		{"base_url trailing slash", base + "api:\n  listen: \"127.0.0.1:8080\"\n  base_url: \"http://127.0.0.1:8080/\"\n",
			"t.yml:9: api.base_url: must be an absolute http(s) URL without a trailing slash"},
		{"base_url relative", base + "api: {base_url: \"/calling\"}\n",
			"t.yml:7: api.base_url: must be an absolute http(s) URL without a trailing slash"},
		{"base_url query", base + "api: {base_url: \"https://x.example.com?a=1\"}\n",
			"t.yml:7: api.base_url: must not have a query"},
		{"base_url credentials", base + "api: {base_url: \"https://u:p@x.example.com\"}\n",
			"t.yml:7: api.base_url: must not contain credentials"},
		{"base_url needed for a wildcard listen", base + "api: {listen: \"0.0.0.0:8080\"}\n",
			"t.yml:7: api.base_url: required when api.listen does not name a specific host"},
		{"public_host needed for a wildcard listen", base + "sip: {listen: \":5060\"}\n",
			"t.yml:7: sip.public_host: required when sip.listen does not name a specific host"},
		{"public_host with port", base + "sip: {public_host: \"sip.example.com:5060\"}\n",
			`t.yml:7: sip.public_host: must be a host name or IP address without port (got "sip.example.com:5060")`},
		{"body limit decimal unit", base + "api: {body_limit: 1MB}\n",
			`t.yml:7: api.body_limit: invalid byte size "1MB" (want a whole number of bytes, optionally with B, KiB, MiB or GiB)`},
		{"body limit too large", base + "api: {body_limit: 65MiB}\n",
			"t.yml:7: api.body_limit: must be between 1KiB and 64MiB (got 65MiB)"},
		{"body limit zero", base + "api: {body_limit: 0}\n",
			"t.yml:7: api.body_limit: must be between 1KiB and 64MiB (got 0B)"},
		{"timestamp window syntax", base + "api: {timestamp_window: 10}\n",
			`t.yml:7: api.timestamp_window: invalid duration "10" (want e.g. 10m or 90s)`},
		{"timestamp window too long", base + "api: {timestamp_window: 25h}\n",
			"t.yml:7: api.timestamp_window: must be greater than 0 and at most 24h (got 25h0m0s)"},
		{"timestamp window zero", base + "api: {timestamp_window: 0s}\n",
			"t.yml:7: api.timestamp_window: must be greater than 0 and at most 24h (got 0s)"},
		{"ops and api on one port", base + "ops: {listen: \"127.0.0.1:8080\"}\n",
			`t.yml:7: ops.listen: must not bind the address of api.listen ("127.0.0.1:8080")`},
		{"sip on the api port of all interfaces", base + "api: {listen: \":9000\", base_url: \"http://x.example.com\"}\nsip: {listen: \"127.0.0.1:9000\"}\n",
			`t.yml:8: sip.listen: must not bind the address of api.listen (":9000")`},
		{"sip port inside the RTP range", base + "sip: {listen: \"127.0.0.1:20500\"}\nmedia: {rtp_ports: \"20000-20999\"}\n",
			"t.yml:8: media.rtp_ports: must not contain the SIP port 20500"},
		{"port range syntax", base + "media: {rtp_ports: 20000}\n",
			`t.yml:7: media.rtp_ports: invalid port range "20000" (want MIN-MAX, e.g. 20000-20999)`},
		{"port range odd start", base + "media: {rtp_ports: \"20001-20999\"}\n",
			"t.yml:7: media.rtp_ports: MIN must be even: RTP uses the even port of each pair (got 20001-20999)"},
		{"port range reversed", base + "media: {rtp_ports: \"30000-20000\"}\n",
			"t.yml:7: media.rtp_ports: must satisfy 1024 <= MIN < MAX <= 65535 (got 30000-20000)"},
		{"port range privileged", base + "media: {rtp_ports: \"1000-2000\"}\n",
			"t.yml:7: media.rtp_ports: must satisfy 1024 <= MIN < MAX <= 65535 (got 1000-2000)"},
		{"port range single port", base + "media: {rtp_ports: \"20000-20000\"}\n",
			"t.yml:7: media.rtp_ports: must satisfy 1024 <= MIN < MAX <= 65535 (got 20000-20000)"},
		{"redis scheme", base + "store: {redis_url: \"http://:s3cret@redis:6379\"}\n",
			`t.yml:7: store.redis_url: invalid redis URL: unsupported scheme "http" (want redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster)`},
		{"redis database", base + "store: {redis_url: \"redis://:s3cret@redis:6379/zero\"}\n",
			"t.yml:7: store.redis_url: invalid redis URL: invalid database number in the path"},
		{"redis without host", base + "store: {redis_url: \"redis:///0\"}\n",
			"t.yml:7: store.redis_url: invalid redis URL: no host"},
		{"sentinel without master", base + "store: {redis_url: \"redis+sentinel://:pw@h1:26379,h2:26379/0\"}\n",
			"t.yml:7: store.redis_url: invalid redis+sentinel URL: missing master_name"},
		{"cluster bad host", base + "store: {redis_url: \"redis+cluster://:pw@h1:6379,h2:99999\"}\n",
			"t.yml:7: store.redis_url: invalid redis+cluster URL: address 2: invalid port (want 1-65535)"},
		{"region id", base + "regions: {US-East: \"https://us.example.com\"}\n",
			`t.yml:7: regions.US-East: region ids must be 2-10 characters of a-z and 0-9, e.g. global, euc1, use1, sae1, apse1, apse2 or a custom one (got "US-East")`},
		{"region url", base + "regions: {use1: \"https://us.example.com/\"}\n",
			"t.yml:7: regions.use1: must be an absolute http(s) URL without a trailing slash"},
		{"reserved node id", strings.Replace(base, "id: node-a", "id: dead", 1),
			`t.yml:1: node.id: "dead" is reserved (the region's dead-letter queue)`},
		{"drain timeout", strings.Replace(base, "region: euc1}", "region: euc1, drain_timeout: -1s}", 1),
			"t.yml:1: node.drain_timeout: must be between 0s and 24h0m0s (got -1s)"},
		{"heartbeat ttl", base + "cluster: {heartbeat_ttl: 100ms}\n",
			"t.yml:7: cluster.heartbeat_ttl: must be between 1s and 5m0s (got 100ms)"},
		{"events backoff order", base + "events: {min_backoff: 10s, max_backoff: 1s}\n",
			"t.yml:7: events.max_backoff: must be between 10s and 1h0m0s (got 1s)"},
		{"pstn gateway missing", strings.Replace(base, "pstn: {gateway: \"sip:127.0.0.1:5070\"}", "pstn: {}", 1),
			"t.yml:2: pstn.gateway: required"},
		{"pstn gateway scheme", strings.Replace(base, "sip:127.0.0.1:5070", "tel:+46701234567", 1),
			`t.yml:2: pstn.gateway: must be a sip: or sips: URI with a host, e.g. sip:gw.example.com:5060 (got "tel:+46701234567")`},
		{"pstn gateway password", strings.Replace(base, "sip:127.0.0.1:5070", "sip:u:p@gw", 1),
			`t.yml:2: pstn.gateway: must be a sip: or sips: URI with a host, e.g. sip:gw.example.com:5060 (got "sip:u:p@gw")`},
		{"currency", base + "billing: {currency: usd}\n",
			`t.yml:7: billing.currency: must be a 3-letter upper-case ISO 4217 code such as USD (got "usd")`},
		{"log level", base + "log: {level: verbose}\n",
			`t.yml:7: log.level: must be one of debug, info, warn, error (got "verbose")`},
		{"log format", base + "log: {format: xml}\n",
			`t.yml:7: log.format: must be text or json (got "xml")`},

		// Applications.
		{"no apps", "node: {id: node-a, region: euc1}\npstn: {gateway: \"sip:gw\"}\napps: []\n",
			"t.yml:3: apps: at least one application is required"},
		{"apps missing", "node: {id: node-a, region: euc1}\npstn: {gateway: \"sip:gw\"}\n",
			"t.yml:1: apps: at least one application is required"},
		{"duplicate app key", base + "  - key: 669e367e-6bba-48ab-af15-266871c28135\n    secret: c2Vjb25k\n    callback_url: http://127.0.0.1:9000/second\n",
			`t.yml:7: apps[1].key: duplicate application key "669e367e-6bba-48ab-af15-266871c28135" (also apps[0]; keys are compared case-insensitively)`},
		{"app key with colon", strings.Replace(base, "key: 669E367E", "key: a:669E367E", 1),
			`t.yml:4: apps[0].key: must not contain whitespace, control characters or ":" (got "a:669E367E-6BBA-48AB-AF15-266871C28135")`},
		{"bad secret", strings.Replace(base, testSecret, "not base64!!", 1),
			"t.yml:5: apps[0].secret: must be base64 (standard or URL alphabet, padding optional)"},
		{"missing secret", strings.Replace(base, "    secret: "+testSecret+"\n", "", 1),
			"t.yml:4: apps[0].secret: required"},
		{"callback scheme", strings.Replace(base, "http://127.0.0.1:9000/callbacks", "ftp://127.0.0.1/cb", 1),
			"t.yml:6: apps[0].callback_url: must be an absolute http(s) URL"},
		{"callback fragment", strings.Replace(base, "/callbacks", "/callbacks#x", 1),
			"t.yml:6: apps[0].callback_url: must not have a fragment"},
		{"fallback relative", base + "    fallback_url: /fallback\n",
			"t.yml:7: apps[0].fallback_url: must be an absolute http(s) URL"},
		{"bad number", base + "    numbers: [\"0701234567\"]\n",
			`t.yml:7: apps[0].numbers[0]: must be an E.164 number like +46701234567 (got "0701234567")`},
		{"formatted number", base + "    numbers:\n      - \"+46701234567\"\n      - \"+46 70 123 45 68\"\n",
			`t.yml:9: apps[0].numbers[1]: must be an E.164 number like +46701234567 (got "+46 70 123 45 68")`},
		{"number in two apps", base + "    numbers: [\"+46701234567\"]\n" + app + "    numbers: [\"+46701234567\"]\n",
			"t.yml:11: apps[1].numbers[0]: number +46701234567 is already listed at apps[0].numbers[0]"},
		{"app entry not a mapping", base + "  - just-a-key\n",
			"t.yml:7: apps[1]: expected a mapping, got a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yml", []byte(tt.yml))
			require.Nil(t, cfg)
			require.EqualError(t, err, tt.want)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "t.yml", ce.File)
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	yml := `node: {id: "", region: x}
api:
  listen: "127.0.0.1:8080"
  base_url: "http://127.0.0.1:8080/"
  bogus: 1
media: {rtp_ports: "20001-20999"}
apps:
  - key: a
    secret: "!!"
    callback_url: ftp://x
    numbers: ["46701234567"]
  - key: A
    secret: c2Vjb25k
    callback_url: http://x
`
	_, err := Parse("callcore.yml", []byte(yml))
	require.EqualError(t, err, strings.Join([]string{
		"callcore.yml:1: node.id: required",
		`callcore.yml:1: node.region: must be 2-10 characters of a-z and 0-9, e.g. euc1, use1, sae1, apse1 or apse2 (got "x")`,
		"callcore.yml:1: pstn.gateway: required",
		"callcore.yml:4: api.base_url: must be an absolute http(s) URL without a trailing slash",
		"callcore.yml:5: api.bogus: unknown key (want one of: listen, base_url, body_limit, timestamp_window)",
		"callcore.yml:6: media.rtp_ports: MIN must be even: RTP uses the even port of each pair (got 20001-20999)",
		"callcore.yml:9: apps[0].secret: must be base64 (standard or URL alphabet, padding optional)",
		"callcore.yml:10: apps[0].callback_url: must be an absolute http(s) URL",
		`callcore.yml:11: apps[0].numbers[0]: must be an E.164 number like +46701234567 (got "46701234567")`,
		`callcore.yml:12: apps[1].key: duplicate application key "A" (also apps[0]; keys are compared case-insensitively)`,
	}, "\n"))

	var first *Error
	require.ErrorAs(t, err, &first)
	require.Equal(t, &Error{File: "callcore.yml", Line: 1, Path: "node.id", Reason: "required"}, first)
}

func TestParseSkipsValidationOfUndecodableValues(t *testing.T) {
	// The list where a mapping belongs is reported once, not followed by
	// "required" errors for the fields it did not provide.
	_, err := Parse("t.yml", []byte(strings.Replace(base, "node: {id: node-a, region: euc1}", "node: [node-a, euc1]", 1)))
	require.EqualError(t, err, "t.yml:1: node: expected a mapping, got a list")
}

func TestRedisURLNeverInErrors(t *testing.T) {
	for _, u := range []string{"http://:s3cret@redis:6379", "redis://:s3cret@redis:6379/zero", "redis://:s3cret@:6379", "redis://:s3cret@redis:0", "unix://:s3cret@"} {
		_, err := Parse("t.yml", []byte(base+"store: {redis_url: \""+u+"\"}\n"))
		require.Error(t, err, u)
		require.NotContains(t, err.Error(), "s3cret")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "missing.yml")
}

func TestLoadUsesPathInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callcore.yml")
	require.NoError(t, os.WriteFile(path, []byte(base+"bogus: 1\n"), 0o600))
	_, err := Load(path)
	require.ErrorContains(t, err, path+":7: bogus: unknown key")
}

func TestApp(t *testing.T) {
	cfg, err := Load("testdata/conf.good.yml")
	require.NoError(t, err)
	a, ok := cfg.App("second-app")
	require.True(t, ok)
	require.Equal(t, "https://backend.example.com/sinch?tenant=2", a.CallbackURL)
	_, ok = cfg.App("SECOND-APP")
	require.False(t, ok, "lookup is exact")
	_, ok = cfg.App("")
	require.False(t, ok)
}

// TestNoSecretInOutput prints and encodes a loaded configuration every way a
// program might and checks that no secret appears.
func TestNoSecretInOutput(t *testing.T) {
	cfg, err := Load("testdata/conf.good.yml")
	require.NoError(t, err)
	secrets := []string{testSecret, "c2Vjb25kLWFwcC1zZWNyZXQ", "hunter2-redis", "hunter2-tts"}
	require.Equal(t, testSecret, cfg.Apps[0].Secret.Reveal())
	require.Contains(t, cfg.Store.RedisURL.Reveal(), "hunter2-redis")
	require.Equal(t, "Bearer hunter2-tts", cfg.Media.TTS.HTTP.Headers["Authorization"].Reveal())

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, cfg.Apps),
			fmt.Sprintf(verb, cfg.Store), fmt.Sprintf(verb, cfg.Apps[0].Secret), fmt.Sprintf(verb, cfg.Media), fmt.Sprintf(verb, cfg.Media.TTS.HTTP.Headers))
	}
	outputs = append(outputs, fmt.Sprint(cfg), fmt.Sprintln(*cfg))

	j, err := json.Marshal(cfg)
	require.NoError(t, err)
	y, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	outputs = append(outputs, string(j), string(y))

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("config", "config", cfg, "value", *cfg)
		l.Info("parts", "apps", cfg.Apps, "app", cfg.Apps[1], "store", cfg.Store, "secret", cfg.Apps[0].Secret)
		l.Info("any", slog.Any("redis", cfg.Store.RedisURL), slog.String("str", cfg.Apps[0].Secret.String()))
		l.Info("media", "media", cfg.Media, "headers", cfg.Media.TTS.HTTP.Headers)
	}
	outputs = append(outputs, logs.String())

	for _, out := range outputs {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
	}
	require.Contains(t, fmt.Sprintf("%+v", cfg), "Secret:<secret>")
	require.Contains(t, fmt.Sprintf("%#v", cfg.Store), "RedisURL:<secret>")
	require.Contains(t, logs.String(), `secret=<secret>`)
	require.Contains(t, logs.String(), `"secret":"<secret>"`)
	require.Contains(t, string(y), "secret: <secret>")
	require.Contains(t, string(j), `"RedisURL":"\u003csecret\u003e"`)
	require.Contains(t, string(j), `"Authorization":"\u003csecret\u003e"`)
	require.Contains(t, string(y), "Authorization: <secret>")
}

func TestLogValue(t *testing.T) {
	cfg, err := Load("testdata/conf.good.yml")
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "config", cfg)
	out := buf.String()
	for _, want := range []string{"config.node_id=node-a", "config.region=euc1", "config.store=redis", "config.rtp_ports=20000-20999", "config.tts_engine=http",
		"config.api_body_limit=512KiB", "config.api_timestamp_window=5m0s", "config.numbers=3", "second-app"} {
		require.Contains(t, out, want)
	}
	// Callback URLs and phone numbers stay out of info-level logs.
	require.NotContains(t, out, "callbacks")
	require.NotContains(t, out, "+46701234567")
}

func TestSecretFormats(t *testing.T) {
	s := Secret("hunter2")
	require.Equal(t, "hunter2", s.Reveal())
	require.Equal(t, "<secret>", s.String())
	require.Equal(t, "<secret>", s.GoString())
	require.Equal(t, "<secret>|<secret>|<secret>|<secret>|<secret>|<secret>", fmt.Sprintf("%v|%#v|%x|%d|%10s|%q", s, s, s, s, s, s))
	require.Equal(t, slog.StringValue("<secret>"), s.LogValue())
	y, err := s.MarshalYAML()
	require.NoError(t, err)
	require.Equal(t, "<secret>", y)
	j, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `"<secret>"`, string(j))
}

func TestByteSize(t *testing.T) {
	good := map[string]ByteSize{"0": 0, "1": 1, "1048576": MiB, "1MiB": MiB, "1 MiB": MiB, "512KiB": 512 * KiB, "2GiB": 2 * GiB, "10B": 10, " 3 KiB ": 3 * KiB}
	for in, want := range good {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		require.Equal(t, want, b, in)
	}
	for _, in := range []string{"", "MiB", "1MB", "1mib", "1.5MiB", "-1", "1 MiB B", "99999999999999999999", "9223372036854775807KiB"} {
		var b ByteSize
		require.Error(t, b.UnmarshalText([]byte(in)), in)
	}
	require.Equal(t, "1MiB", MiB.String())
	require.Equal(t, "1536KiB", (1536 * KiB).String())
	require.Equal(t, "1000B", ByteSize(1000).String())
	require.Equal(t, "0B", ByteSize(0).String())
	require.Equal(t, "3GiB", (3 * GiB).String())
	text, err := (512 * KiB).MarshalText()
	require.NoError(t, err)
	require.Equal(t, "512KiB", string(text))
}

func TestPortRange(t *testing.T) {
	var r PortRange
	require.NoError(t, r.UnmarshalText([]byte("20000-20999")))
	require.Equal(t, PortRange{Min: 20000, Max: 20999}, r)
	require.Equal(t, 1000, r.Len())
	require.True(t, r.Contains(20000))
	require.True(t, r.Contains(20999))
	require.False(t, r.Contains(21000))
	require.Equal(t, "20000-20999", r.String())
	for _, in := range []string{"", "20000", "20000-", "-20999", "a-b", "20000-70000", "1-2-3", "+1-2", "020000-20999"} {
		require.Error(t, r.UnmarshalText([]byte(in)), in)
	}
}

func TestSIPURI(t *testing.T) {
	for _, s := range []string{"sip:gw", "sip:127.0.0.1:5070", "sips:gw.example.com", "SIP:gw.example.com:5060", "sip:user@gw", "sip:+46701234567@gw;user=phone",
		"sip:gw;transport=tcp;lr", "sip:[2001:db8::1]", "sip:[::1]:5070;transport=udp"} {
		require.True(t, validSIPURI(s), s)
	}
	for _, s := range []string{"", "sip:", "sips:", "gw", "tel:+46", "http://gw", "sip:gw:", "sip:gw:0", "sip:gw:65536", "sip:u:p@gw", "sip:@gw",
		"sip:gw?subject=x", "sip:gw;", "sip:gw;a=", "sip:[1.2.3.4]", "sip:[::1", "sip:[::1]x", "sip:gw x", "sip:-gw", "sip:gw_1"} {
		require.False(t, validSIPURI(s), s)
	}
}

func TestErrorFormat(t *testing.T) {
	require.Equal(t, "f.yml:3: a.b: bad", (&Error{File: "f.yml", Line: 3, Path: "a.b", Reason: "bad"}).Error())
	require.Equal(t, "f.yml:3: bad", (&Error{File: "f.yml", Line: 3, Reason: "bad"}).Error())
	require.Equal(t, "f.yml: bad", (&Error{File: "f.yml", Reason: "bad"}).Error())
}

func TestErrorsStayOnOneLine(t *testing.T) {
	_, err := Parse("t.yml", []byte("node: {id: a, region: euc1}\n\"bad\\nkey\": 1\nlog: {level: !%0A x}\n"))
	require.Error(t, err)
	require.Contains(t, err.Error(), `bad\nkey`)
	require.Contains(t, err.Error(), `tag "!\n"`)
	for _, line := range strings.Split(err.Error(), "\n") {
		require.True(t, strings.HasPrefix(line, "t.yml"), "line %q", line)
	}
}

func TestIssue3Keys(t *testing.T) {
	cases := []struct{ yml, want string }{
		{base + "sip: {trunk_acl: [\"10.0.0.0/33\"]}\n", `t.yml:7: sip.trunk_acl[0]: must be an IP address or CIDR prefix`},
		{base + "sip: {max_calls: -1}\n", `t.yml:7: sip.max_calls: must be 0 (no cap) or more (got -1)`},
		{base + "sip: {max_calls: many}\n", `t.yml:7: sip.max_calls: expected a whole number, got "many"`},
		{base + "media: {rtp_timeout: 2h}\n", `t.yml:7: media.rtp_timeout: must be between 0s and 1h0m0s (got 2h0m0s)`},
		{base + "calls: {max_duration: 5h}\n", `t.yml:7: calls.max_duration: must be between 1s and 4h0m0s (got 5h0m0s)`},
		{base + "calls: {max_tts_chars: 0}\n", `t.yml:7: calls.max_tts_chars: must be between 1 and 4000 (got 0)`},
		{strings.Replace(base, "pstn: {gateway: \"sip:127.0.0.1:5070\"}", "pstn: {gateway: \"sip:127.0.0.1:5070\", username: u}", 1),
			`t.yml:2: pstn.password: pstn.username and pstn.password go together`},
		{base + "    callback_timeout: 1s\n    callback_connect_timeout: 2s\n", `t.yml:8: apps[0].callback_connect_timeout: must not exceed callback_timeout (1s)`},
		{base + "    users: [{username: \"a b\", password: x}]\n", `apps[0].users[0].username: must be 1-64`},
		{base + "    users: [{username: alice}]\n", `apps[0].users[0].password: required`},
		{base + "    users: [{username: alice, password: x}]\n" + app + "    users: [{username: alice, password: y}]\n", `apps[1].users[0].username: user alice is already defined at apps[0].users[0]`},
	}
	for _, c := range cases {
		_, err := Parse("t.yml", []byte(c.yml))
		require.Error(t, err, c.yml)
		require.Contains(t, err.Error(), c.want)
	}
	cfg, err := Parse("t.yml", []byte(base+"    users: [{username: alice, password: s3cret}]\n"))
	require.NoError(t, err)
	u, a, ok := cfg.User("alice")
	require.True(t, ok)
	require.Equal(t, testKey, a.Key)
	require.Equal(t, "s3cret", u.Password.Reveal())
	require.NotContains(t, fmt.Sprintf("%v %+v", cfg, cfg), "s3cret")
}

func TestTTSKeys(t *testing.T) {
	bad := []struct{ yml, want string }{
		{base + "media: {tts: {engine: polly}}\n", `t.yml:7: media.tts.engine: must be espeak or http (got "polly")`},
		{base + "media: {tts: {engine: http}}\n", `t.yml:7: media.tts.http.url: required when media.tts.engine is http`},
		{base + "media:\n  tts:\n    engine: http\n    http: {timeout: 5s}\n", `t.yml:10: media.tts.http.url: required when media.tts.engine is http`},
		{base + "media: {tts: {engine: http, http: {url: \"ftp://tts.example.com/x\"}}}\n", `t.yml:7: media.tts.http.url: must be an absolute http(s) URL`},
		{base + "media: {tts: {http: {url: \"https://u:s3cret@tts.example.com/x\"}}}\n", `t.yml:7: media.tts.http.url: must not contain credentials`},
		{base + "media: {tts: {http: {url: \"https://tts.example.com/x#frag\"}}}\n", `t.yml:7: media.tts.http.url: must not have a fragment`},
		{base + "media:\n  tts:\n    http:\n      headers:\n        Content-Type: text/plain\n", `t.yml:11: media.tts.http.headers.Content-Type: is set by callcore and cannot be configured`},
		{base + "media:\n  tts:\n    http:\n      headers:\n        accept: audio/ogg\n", `t.yml:11: media.tts.http.headers.accept: is set by callcore and cannot be configured`},
		{base + "media:\n  tts:\n    http:\n      headers:\n        \"X Bad\": s3cret\n", `t.yml:11: media.tts.http.headers."X Bad": header names must be HTTP tokens`},
		{base + "media:\n  tts:\n    http:\n      headers:\n        X-Key: \"s3cret\\r\\nX-Evil: 1\"\n", `t.yml:11: media.tts.http.headers.X-Key: must not contain control characters`},
		{base + "media:\n  tts:\n    http:\n      headers:\n        X-Key: a\n        X-Key: b\n", `t.yml:12: media.tts.http.headers.X-Key: duplicate key (first on line 11)`},
		{base + "media:\n  tts:\n    http:\n      headers: [Authorization]\n", `t.yml:10: media.tts.http.headers: expected a mapping, got a list`},
		{base + "media:\n  tts:\n    http:\n      headers: {X-Key: {a: b}}\n", `t.yml:10: media.tts.http.headers.X-Key: expected a string, got a mapping`},
		{base + "media:\n  tts:\n    http:\n      headers: {[a]: b}\n", `t.yml:10: media.tts.http.headers: keys must be plain strings, got a list`},
		{base + "media: {tts: {http: {timeout: 0s}}}\n", `t.yml:7: media.tts.http.timeout: must be between 1s and 5m0s (got 0s)`},
		{base + "media: {tts: {http: {timeout: 10m}}}\n", `t.yml:7: media.tts.http.timeout: must be between 1s and 5m0s (got 10m0s)`},
		{base + "media: {tts: {http: {timeout: soon}}}\n", `t.yml:7: media.tts.http.timeout: invalid duration "soon"`},
		{base + "media: {tts: {voice: Joanna}}\n", `t.yml:7: media.tts.voice: unknown key (want one of: engine, http)`},
		{base + "media: {tts: {http: {token: x}}}\n", `t.yml:7: media.tts.http.token: unknown key (want one of: url, headers, timeout)`},
		{base + "media: {tts: espeak}\n", `t.yml:7: media.tts: expected a mapping, got a single value`},
	}
	for _, tt := range bad {
		_, err := Parse("t.yml", []byte(tt.yml))
		require.Error(t, err, tt.yml)
		require.Contains(t, err.Error(), tt.want, tt.yml)
		require.NotContains(t, err.Error(), "s3cret")
	}

	// The http keys may be set while espeak is the engine, to switch with
	// one line; an empty header map is allowed.
	cfg, err := Parse("t.yml", []byte(base+"media:\n  espeak: /opt/espeak-ng\n  tts:\n    engine: espeak\n    http:\n      url: http://127.0.0.1:5002/tts\n      headers: {}\n"))
	require.NoError(t, err)
	require.Equal(t, "/opt/espeak-ng", cfg.Media.Espeak)
	require.Equal(t, TTS{Engine: TTSEngineEspeak, HTTP: TTSHTTP{URL: "http://127.0.0.1:5002/tts", Headers: map[string]Secret{}, Timeout: DefaultTTSHTTPTimeout}}, cfg.Media.TTS)
	cfg, err = Parse("t.yml", []byte(base+"media: {tts: {engine: http, http: {url: \"http://tts:5002/api/tts\", headers: {X-Api-Key: \"k\\tv\"}}}}\n"))
	require.NoError(t, err)
	require.Equal(t, "k\tv", cfg.Media.TTS.HTTP.Headers["X-Api-Key"].Reveal(), "a tab is allowed in a header value")
}

func TestMediaSwitches(t *testing.T) {
	cfg, err := Parse("t.yml", []byte(base+"media: {inband_dtmf: false, bridge_jitter_buffer: true}\n"))
	require.NoError(t, err)
	require.False(t, cfg.Media.InbandDTMF)
	require.True(t, cfg.Media.BridgeJitterBuffer)
}

func TestTimeline(t *testing.T) {
	cfg, err := Parse("t.yml", []byte(base))
	require.NoError(t, err)
	require.Equal(t, Timeline{Enabled: true, MaxEntries: 500, MaxBody: 2 * KiB}, cfg.Timeline)
	cfg, err = Parse("t.yml", []byte(base+"timeline: {enabled: false, max_entries: 50, max_body: 512, reveal_numbers: true, reveal_cookies: true}\n"))
	require.NoError(t, err)
	require.Equal(t, Timeline{MaxEntries: 50, MaxBody: 512, RevealNumbers: true, RevealCookies: true}, cfg.Timeline)
	for yml, want := range map[string]string{
		"timeline: {max_entries: 9}\n":      "timeline.max_entries: must be between 10 and 5000 (got 9)",
		"timeline: {max_entries: 5001}\n":   "timeline.max_entries: must be between 10 and 5000 (got 5001)",
		"timeline: {max_body: 0}\n":         "timeline.max_body: must be between 64B and 64KiB (got 0B)",
		"timeline: {max_body: 65KiB}\n":     "timeline.max_body: must be between 64B and 64KiB (got 65KiB)",
		"timeline: {enabled: sometimes}\n":  "timeline.enabled",
		"timeline: {reveal_phones: true}\n": "timeline.reveal_phones: unknown key",
	} {
		_, err := Parse("t.yml", []byte(base+yml))
		require.Error(t, err, yml)
		require.Contains(t, err.Error(), want, yml)
	}
}

// Every Redis deployment form the node can open is accepted.
func TestRedisURLForms(t *testing.T) {
	for _, u := range []string{
		"redis://:pw@redis:6379/0", "rediss://redis:6380", "unix:///run/redis.sock?db=2",
		"redis+sentinel://:pw@s1:26379,s2:26379/0?master_name=mymaster",
		"redis+cluster://:pw@r1:6379,r2:6379,r3:6379", "rediss+cluster://r1:6379",
	} {
		_, err := Parse("t.yml", []byte(base+"store: {redis_url: \""+u+"\"}\n"))
		require.NoError(t, err, u)
	}
}
