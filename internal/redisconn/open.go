package redisconn

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// Options tune the client Open returns.
type Options struct {
	// Counter, if not nil, counts round trips, bytes and errors of the
	// client (see Counter).
	Counter *Counter
	// PoolSize is the connection pool size (per node on a cluster) when
	// the URL sets no pool_size; 0 keeps go-redis's default (10 per CPU).
	PoolSize int
}

// Open parses rawURL and returns a client; it does not contact the server.
// The caller closes the client.
//
// URL forms:
//
//	redis://[[user]:password@]host[:port][/db][?opts]       one server (port 6379)
//	rediss://…                                               the same over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&opts] one server, Unix socket
//	redis+sentinel://[[user]:password@]h1[:26379][,h2[:26379]…][/db]?master_name=NAME[&sentinel_username=U][&sentinel_password=P][&opts]
//	rediss+sentinel://…                                      the same over TLS
//	redis+cluster://[[user]:password@]h1[:6379][,h2[:6379]…][?opts]
//	rediss+cluster://…                                       the same over TLS
//
// The user info holds the credentials of the data nodes (for Sentinel, of
// the master and replicas); a Sentinel's own credentials are the
// sentinel_username and sentinel_password parameters. Reserved characters
// of a password (: / ? # @ % and space) should be percent-encoded; an
// unencoded '@' is tolerated (the last '@' ends the user info). Hosts are
// DNS names, IPv4 addresses or bracketed IPv6 addresses; Sentinel and
// Cluster addresses may be given as a comma-separated list, as repeated
// addr=host:port parameters, or both. The database is the path (/N) or the
// db parameter, which wins; a cluster only has database 0.
//
// Every form accepts context_timeout_enabled, and the TLS ones skip_verify
// (do not check the server's certificate). The other parameters are
// go-redis's (see redis.ParseURL, redis.ParseFailoverURL,
// redis.ParseClusterURL): dial_timeout, read_timeout, write_timeout,
// pool_size, max_retries, protocol, client_name, route_by_latency, … An
// unknown parameter is an error. With TLS, the server name checked is the
// first host's, on every node (as go-redis does).
// When the URL sets none: dial timeout 5 s, read and write timeouts 3 s,
// context deadlines honoured (ContextTimeoutEnabled).
//
// Errors match ErrInvalidURL and never contain the password or the URL:
// only the scheme, a reason and possibly a parameter name.
//
// The client is a *redis.Client (standalone; Sentinel, through
// redis.NewFailoverClient) or a *redis.ClusterClient.
func Open(rawURL string, o Options) (redis.UniversalClient, error) {
	if o.PoolSize < 0 {
		return nil, errors.New("redisconn: Options.PoolSize is negative")
	}
	p, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	c := o.Counter
	switch p.kind {
	case kindSentinel:
		opt := p.failover
		if opt.PoolSize == 0 {
			opt.PoolSize = o.PoolSize
		}
		if c != nil {
			// Used for the Sentinel connections and the master's.
			opt.Dialer = c.dialer(opt.DialTimeout, opt.TLSConfig)
		}
		client := redis.NewFailoverClient(opt)
		if c != nil {
			client.AddHook(hook{c: c, roundTrips: true, errors: true})
		}
		return client, nil
	case kindCluster:
		opt := p.cluster
		if opt.PoolSize == 0 {
			opt.PoolSize = o.PoolSize
		}
		if c != nil {
			opt.Dialer = c.dialer(opt.DialTimeout, opt.TLSConfig)
		}
		client := redis.NewClusterClient(opt)
		if c != nil {
			c.instrumentCluster(client, false)
		}
		return client, nil
	default:
		opt := p.simple
		if opt.PoolSize == 0 {
			opt.PoolSize = o.PoolSize
		}
		if c != nil {
			opt.Dialer = c.dialer(opt.DialTimeout, opt.TLSConfig)
		}
		client := redis.NewClient(opt)
		if c != nil {
			client.AddHook(hook{c: c, roundTrips: true, errors: true})
		}
		return client, nil
	}
}

// Check validates rawURL exactly as Open does, without creating a client,
// for configuration checks. Its error, like Open's, never contains the
// password or the URL.
func Check(rawURL string) error {
	_, err := parse(rawURL)
	return err
}
