package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"

	"gopkg.in/yaml.v3"
)

// Config is a node's configuration. Get one from Load or Parse, which apply
// the defaults and validate every field; the rules below are enforced there.
type Config struct {
	Node  Node  `yaml:"node"`
	API   API   `yaml:"api"`
	Ops   Ops   `yaml:"ops"`
	SIP   SIP   `yaml:"sip"`
	Media Media `yaml:"media"`
	Store Store `yaml:"store"`
	PSTN  PSTN  `yaml:"pstn"`
	Calls Calls `yaml:"calls"`
	// Recordings configures startRecording.
	Recordings Recordings `yaml:"recordings"`
	Billing    Billing    `yaml:"billing"`
	Log        Log        `yaml:"log"`
	// Cluster tunes how the nodes of a region find each other (heartbeats,
	// command forwarding); used with a Redis store.
	Cluster Cluster `yaml:"cluster"`
	// Events tunes the durable delivery of DiCE and Notify events.
	Events Events `yaml:"events"`
	// Timeline configures the per-call timeline
	// (GET /calling/v1/calls/id/{id}/timeline).
	Timeline Timeline `yaml:"timeline"`
	// Regions maps region ids to the public API base URL of each region
	// (its HTTP load balancer), e.g. {use1: "https://calling-use1.example.com"}.
	// The node's own region's entry is the base of ICE's callResourceUrl
	// (api.base_url when absent); the others name the right base URL in the
	// error answered for a call of another region. Keys are region ids
	// (2-10 of a-z and 0-9: Sinch's global, euc1, use1, sae1, apse1, apse2,
	// or custom ones); values are URLs like api.base_url.
	Regions map[string]string `yaml:"regions"`
	Apps    []App             `yaml:"apps"`
}

// Node identifies this node.
type Node struct {
	// ID names the node, unique within its region: required, 1-32 of
	// a-z, 0-9 and "-", starting and ending with a letter or digit.
	ID string `yaml:"id"`
	// Region is the region the node serves: required, 2-10 of a-z and
	// 0-9. Sinch's regions are euc1, use1, sae1, apse1 and apse2; any
	// other short name (e.g. "dev") is accepted for self-hosted layouts.
	Region string `yaml:"region"`
	// DrainTimeout is how long a node that got SIGTERM lets its calls run
	// (turning away new ones) before it hangs up the rest with DiCE.
	// Default 2m; between 0s and 24h. Kubernetes'
	// terminationGracePeriodSeconds must be above it.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Cluster tunes the nodes of a region sharing a Redis store.
type Cluster struct {
	// HeartbeatTTL is how long a node's heartbeat lives; a node silent for
	// longer is dead and a surviving node ends its calls. Heartbeats are
	// sent every third of it. Default 6s; between 1s and 5m.
	HeartbeatTTL Duration `yaml:"heartbeat_ttl"`
	// ForwardTimeout bounds a REST command forwarded to the node that runs
	// the call; past it the API answers 504. Default 2s; between 100ms and
	// 30s.
	ForwardTimeout Duration `yaml:"forward_timeout"`
	// Secret signs the internal SIP legs that bridge a conference
	// participant to the node hosting its room; a node accepts such a leg
	// only with a valid signature. Empty (the default): the first node of
	// the region generates a random secret and keeps it in Redis, where
	// every node reads it. Set it to rotate it or to keep it out of Redis.
	Secret Secret `yaml:"secret"`
}

// Events tunes the delivery of DiCE and Notify events, which are queued
// durably (a Redis stream with a Redis store) and retried until the
// backend answers 2xx.
type Events struct {
	// RetryFor is how long an event is retried before it is given up
	// (dead-lettered, logged and counted). Default 24h; between 1m and 7 days.
	RetryFor Duration `yaml:"retry_for"`
	// MinBackoff and MaxBackoff bound the exponential backoff (with full
	// jitter) between attempts. Defaults 1s and 5m; MinBackoff between
	// 10ms and 1m, MaxBackoff between MinBackoff and 1h.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Timeline configures the per-call timeline: what every node did with a
// call (SIP messages, callbacks, SVAML, state transitions, media events,
// errors), kept with the call record (calls.record_ttl after the end) in
// the store shared by the region's nodes.
type Timeline struct {
	// Enabled records timelines. Default true; when false nothing is
	// recorded and the timeline route answers 404.
	Enabled bool `yaml:"enabled"`
	// MaxEntries caps one call's timeline: the first MaxEntries-1 entries
	// are kept, then a "truncated" marker. Default 500; between 10 and
	// 5000.
	MaxEntries int `yaml:"max_entries"`
	// MaxBody is how much of each callback request and reply and of each
	// SVAML document an entry keeps. Default 2KiB; between 64B and 64KiB.
	MaxBody ByteSize `yaml:"max_body"`
	// RevealNumbers stores phone numbers as they are; by default they are
	// masked to their first three and last two digits ("+467******12").
	RevealNumbers bool `yaml:"reveal_numbers"`
	// RevealCookies stores cookie values as they are; by default they are
	// "***".
	RevealCookies bool `yaml:"reveal_cookies"`
}

// API is the REST API listener (Sinch calling and management paths).
type API struct {
	// Listen is the HOST:PORT to bind. Default "127.0.0.1:8080". Port 0
	// picks a free port (tests). An empty host binds every interface.
	Listen string `yaml:"listen"`
	// BaseURL is how customers reach this API, used in callResourceUrl:
	// an absolute http or https URL without credentials, query, fragment
	// or trailing slash. Default "http://" + Listen, which requires Listen
	// to name a specific host (not empty, 0.0.0.0 or ::). With port 0 the
	// default is not a reachable URL; set it explicitly or derive it from
	// the bound address.
	BaseURL string `yaml:"base_url"`
	// BodyLimit is the largest accepted request body. Default 1MiB; must
	// be between 1KiB and 64MiB.
	BodyLimit ByteSize `yaml:"body_limit"`
	// TimestampWindow is how far a signed request's x-timestamp may be
	// from the node's clock, either way. Default 10m; must be > 0 and
	// <= 24h.
	TimestampWindow Duration `yaml:"timestamp_window"`
}

// Ops is the operator listener (/metrics, /healthz, /readyz).
type Ops struct {
	// Listen is the HOST:PORT to bind. When the key is absent it defaults
	// to "127.0.0.1:9090"; an explicitly empty value (listen: "") disables
	// the ops listener.
	Listen string `yaml:"listen"`
}

// Enabled reports whether the ops listener is configured.
func (o Ops) Enabled() bool { return o.Listen != "" }

// SIP is the SIP signalling listener (UDP and TCP).
type SIP struct {
	// Listen is the HOST:PORT to bind. Default "127.0.0.1:5060". Port 0
	// is allowed (tests).
	Listen string `yaml:"listen"`
	// PublicHost is the host name or IP address put into Via and Contact
	// headers and SDP. Default: the host of Listen, which must then be a
	// specific host (not empty, 0.0.0.0 or ::).
	PublicHost string `yaml:"public_host"`
	// TrunkACL lists the sources (IP addresses or CIDR prefixes) allowed to
	// send INVITEs that are not from registered users. Empty accepts any
	// source, for development; production nodes should list their trunks
	// and SIP load balancers.
	TrunkACL []string `yaml:"trunk_acl"`
	// Realm is the digest realm of the registrar. Default "callcore".
	Realm string `yaml:"realm"`
	// MaxCalls caps concurrent inbound dialogs; above it INVITEs get 503.
	// 0 (the default) means no cap.
	MaxCalls int `yaml:"max_calls"`
}

// Media configures RTP.
type Media struct {
	// RTPPorts is the UDP port range for RTP, "MIN-MAX" inclusive, with
	// 1024 <= MIN < MAX <= 65535 and MIN even. Default "20000-29999".
	RTPPorts PortRange `yaml:"rtp_ports"`
	// RTPTimeout ends a call whose far end sent no RTP for this long (not
	// while it holds the call). Default 60s; 0s disables.
	RTPTimeout Duration `yaml:"rtp_timeout"`
	// Espeak is the espeak-ng binary used for TTS when media.tts.engine is
	// espeak. Default "espeak-ng".
	Espeak string `yaml:"espeak"`
	// FilesDir holds the WAV files that playFiles ids name ("welcome" →
	// FilesDir/welcome.wav). Empty: file ids are refused.
	FilesDir string `yaml:"files_dir"`
	// FetchTimeout bounds a download of a prompt URL. Default 10s.
	FetchTimeout Duration `yaml:"fetch_timeout"`
	// FetchMaxBytes caps a downloaded prompt. Default 10MiB.
	FetchMaxBytes ByteSize `yaml:"fetch_max_bytes"`
	// CacheBytes is the memory budget of the TTS and download cache.
	// Default 64MiB.
	CacheBytes ByteSize `yaml:"cache_bytes"`
	// TTS chooses the text-to-speech engine.
	TTS TTS `yaml:"tts"`
	// InbandDTMF detects DTMF tones in the received audio (Goertzel) for
	// peers that send no telephone-event; switched off for a call once
	// RFC 4733 events arrive. Default true.
	InbandDTMF bool `yaml:"inband_dtmf"`
	// BridgeJitterBuffer plays bridged audio out through a jitter buffer
	// on a 20 ms clock instead of relaying packets as they arrive. Default
	// false (a B2BUA's usual pass-through; the phones have their own).
	BridgeJitterBuffer bool `yaml:"bridge_jitter_buffer"`
}

// TTS engines.
const (
	TTSEngineEspeak = "espeak"
	TTSEngineHTTP   = "http"
)

// TTS chooses the text-to-speech engine (media.tts).
type TTS struct {
	// Engine is espeak (the espeak-ng binary of media.espeak, the default)
	// or http (a TTS service, configured under http).
	Engine string `yaml:"engine"`
	// HTTP configures the http engine; its keys are checked whatever the
	// engine, so that switching engines is one line.
	HTTP TTSHTTP `yaml:"http"`
}

// TTSHTTP configures a TTS service (media.tts.http): callcore POSTs
// {"text", "ssml", "locale"} as JSON to URL and plays the audio/wav or
// audio/mpeg reply.
type TTSHTTP struct {
	// URL receives the requests: required with engine http, an absolute
	// http(s) URL without credentials or fragment (put credentials in
	// Headers).
	URL string `yaml:"url"`
	// Headers are added to every request, e.g. Authorization. Names must
	// be HTTP tokens other than Content-Type, Accept, Content-Length,
	// Host, Connection and Transfer-Encoding (callcore sets those); values
	// are Secrets and must not hold control characters.
	Headers map[string]Secret `yaml:"headers"`
	// Timeout bounds one request. Default 10s; between 1s and 5m.
	Timeout Duration `yaml:"timeout"`
}

// Store selects the state store.
type Store struct {
	// RedisURL is "" for the in-memory store (one node), or the URL of the
	// Redis shared by the nodes of a region: redis:// or rediss:// or
	// unix:// (one server), redis+sentinel://h1:26379,h2:26379/0?master_name=NAME
	// (Sentinel) or redis+cluster://h1:6379,h2:6379 (Cluster; rediss+cluster
	// for TLS). A Secret because it may carry a password.
	RedisURL Secret `yaml:"redis_url"`
}

// PSTN configures the path to the telephone network.
type PSTN struct {
	// Gateway is the SIP URI calls to phone numbers are sent to: required,
	// sip: or sips: with a host, optional user and port and ;parameters,
	// e.g. "sip:gw.example.com:5060;transport=tcp". No password, no
	// headers.
	Gateway string `yaml:"gateway"`
	// Username and Password answer the gateway's digest challenges; both
	// empty means the gateway does not authenticate callcore.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// Calls configures the call core.
type Calls struct {
	// DialTimeout is the ringing timeout of outbound legs when SVAML sets
	// no dialTimeout. Default 60s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// MaxDuration caps calls whose SVAML sets no maxDuration. Default 4h
	// (14400 s, Sinch's maximum); at most 4h.
	MaxDuration Duration `yaml:"max_duration"`
	// RecordTTL is how long GET /calls/id/{id} still answers after a call
	// ended. Default 24h.
	RecordTTL Duration `yaml:"record_ttl"`
	// MaxTTSChars limits the text of say, TTS prompts and callouts.
	// Default 600 (Sinch's default); at most 4000.
	MaxTTSChars int `yaml:"max_tts_chars"`
}

// Recordings configures call recording (startRecording).
type Recordings struct {
	// Dir is the root of file:// destinations: recordings are kept in
	// Dir/<application key>/ and served at GET /calling/v1/recordings/{name}
	// to their application. Empty disables file:// destinations (and the
	// route answers 501).
	Dir string `yaml:"dir"`
	// TempDir holds recordings while they are recorded. Default: the
	// system's temporary directory.
	TempDir string `yaml:"temp_dir"`
	// Channels is the layout when startRecording names none: mono (both
	// parties mixed) or split (stereo, the first party left). Default mono.
	Channels string `yaml:"channels"`
	// MaxDuration stops a recording after this much audio. Default 4h.
	MaxDuration Duration `yaml:"max_duration"`
	// S3Endpoint is the base URL of an S3-compatible store for s3://
	// destinations (e.g. http://minio:9000). Empty: AWS S3 in the region
	// of the startRecording credentials.
	S3Endpoint string `yaml:"s3_endpoint"`
	// S3PathStyle addresses buckets as <endpoint>/<bucket>/<key> (most
	// self-hosted S3 servers want this). Default false.
	S3PathStyle bool `yaml:"s3_path_style"`
}

// Billing configures the prices callcore reports.
type Billing struct {
	// Currency is the ISO 4217 code used as currencyId in rates and debits:
	// three upper-case letters. Default "USD".
	Currency string `yaml:"currency"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// App is one application: the key/secret pair a Sinch SDK is configured
// with, where its callbacks go and which numbers it owns. At least one is
// required.
type App struct {
	// Key is the application key: required, at most 128 bytes, no
	// whitespace, control characters or ":" (it is the user part of Basic
	// and Application authorization). Unique, compared case-insensitively.
	Key string `yaml:"key"`
	// Secret is the application secret in base64 (standard or URL
	// alphabet, padding optional), as the Sinch dashboard shows it:
	// required, at least one byte decoded.
	Secret Secret `yaml:"secret"`
	// CallbackURL receives the ICE/ACE/PIE/DiCE/Notify callbacks: required,
	// an absolute http or https URL without credentials or fragment.
	CallbackURL string `yaml:"callback_url"`
	// FallbackURL is used when the primary callback times out or fails:
	// empty, or a URL like CallbackURL.
	FallbackURL string `yaml:"fallback_url"`
	// Numbers are the E.164 numbers ("+46701234567") assigned to the app
	// at start-up. Each number may appear once across all apps.
	Numbers []string `yaml:"numbers"`
	// CallbackTimeout bounds one callback, connect to reply. Default 5s.
	CallbackTimeout Duration `yaml:"callback_timeout"`
	// CallbackConnectTimeout bounds connecting to the callback server.
	// Default 2s; at most CallbackTimeout.
	CallbackConnectTimeout Duration `yaml:"callback_connect_timeout"`
	// Users are the app's in-app (MXP) users: SIP softphones register with
	// these credentials and are reached by connectMxp and username
	// destinations. Usernames are unique across apps.
	Users []User `yaml:"users"`
}

// User is an in-app user's registrar credentials.
type User struct {
	// Username: required, 1-64 of a-z, A-Z, 0-9, ".", "_" and "-".
	Username string `yaml:"username"`
	// Password: required.
	Password Secret `yaml:"password"`
}

// User returns the user with this username and the app it belongs to.
func (c *Config) User(username string) (User, App, bool) {
	for _, a := range c.Apps {
		for _, u := range a.Users {
			if u.Username == username {
				return u, a, true
			}
		}
	}
	return User{}, App{}, false
}

// App returns the application with exactly this key.
func (c *Config) App(key string) (App, bool) {
	for _, a := range c.Apps {
		if a.Key == key {
			return a, true
		}
	}
	return App{}, false
}

// LogValue implements slog.LogValuer with a summary that is safe to log at
// info level: no secrets, callback URLs or phone numbers.
func (c Config) LogValue() slog.Value {
	backend := "memory"
	if c.Store.RedisURL != "" {
		backend = "redis"
	}
	keys := make([]string, len(c.Apps))
	numbers := 0
	for i, a := range c.Apps {
		keys[i] = a.Key
		numbers += len(a.Numbers)
	}
	return slog.GroupValue(
		slog.String("node_id", c.Node.ID),
		slog.String("region", c.Node.Region),
		slog.String("api_listen", c.API.Listen),
		slog.String("api_base_url", c.API.BaseURL),
		slog.String("api_body_limit", c.API.BodyLimit.String()),
		slog.Duration("api_timestamp_window", c.API.TimestampWindow),
		slog.String("ops_listen", c.Ops.Listen),
		slog.String("sip_listen", c.SIP.Listen),
		slog.String("sip_public_host", c.SIP.PublicHost),
		slog.String("rtp_ports", c.Media.RTPPorts.String()),
		slog.String("tts_engine", c.Media.TTS.Engine),
		slog.String("store", backend),
		slog.String("pstn_gateway", c.PSTN.Gateway),
		slog.String("currency", c.Billing.Currency),
		slog.String("log_level", c.Log.Level),
		slog.String("log_format", c.Log.Format),
		slog.Any("app_keys", keys),
		slog.Int("numbers", numbers),
	)
}

// Load reads and parses the configuration file at path. Problems are
// reported as "path:LINE: reason"; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a configuration file's contents. name is used in error
// messages ("name:LINE: PATH: reason"). It applies the defaults and returns
// every problem found, joined with errors.Join and sorted by line; each is
// an *Error.
func Parse(name string, data []byte) (*Config, error) {
	if err := checkText(name, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Line: 1, Reason: "empty configuration"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(name, err)
	default:
		return nil, &Error{File: name, Line: max(extra.Line, 1), Reason: "multiple YAML documents are not allowed"}
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if isNull(root) {
		return nil, &Error{File: name, Line: max(root.Line, 1), Reason: "empty configuration"}
	}

	d := &decoder{file: name, lines: map[string]int{"": root.Line}}
	var c Config
	d.decode("", root, reflect.ValueOf(&c).Elem())
	errs := d.errs
	for _, fe := range c.normalize(d.present) {
		if d.failed(fe.path) {
			continue // already reported as a decoding problem
		}
		errs = append(errs, &Error{File: name, Line: d.lineOf(fe.path), Path: fe.path, Reason: fe.reason})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return nil, errors.Join(joined...)
	}
	return &c, nil
}
