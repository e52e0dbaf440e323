package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callcore/callcore/internal/store"
	"github.com/callcore/callcore/internal/store/internal/storeutil"
)

// DefaultPrefix is the key prefix used when New or Open get an empty one.
const DefaultPrefix = "callcore"

// Connection defaults applied by Open when the URL does not set them.
const (
	defaultDialTimeout  = 5 * time.Second
	defaultReadTimeout  = 3 * time.Second
	defaultWriteTimeout = 3 * time.Second
)

// Fields of a call record hash.
const (
	fieldVersion = "ver"
	fieldOwner   = "owner"
	fieldData    = "data"
	fieldUpdated = "updated"
	fieldLive    = "live"
)

// hashCAS writes several fields of one hash if every field still holds the
// value it was read with.
//
// KEYS[1] is the hash. ARGV holds triples (field, expected, new); an expected
// "" means the field must be absent. Returns 1 if it wrote every new value, 0
// (writing nothing) if any field changed.
var hashCAS = redis.NewScript(`
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur == false then cur = '' end
  if cur ~= ARGV[i + 1] then return 0 end
end
for i = 1, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
end
return 1
`)

// createCall creates a call record hash with version 1 unless the key
// exists.
//
// KEYS[1] is the record. ARGV: owner, data, updated (Unix ns), ttl (ms),
// live ("1" or "0"). Returns 1 if created, 0 if the key exists.
var createCall = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'ver', '1', 'owner', ARGV[1], 'data', ARGV[2], 'updated', ARGV[3], 'live', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// updateCall overwrites a call record hash if its version is still the one
// read, and resets its expiry.
//
// KEYS[1] is the record. ARGV: expected version, new version, owner, data,
// updated (Unix ns), ttl (ms), live. Returns {1, old owner, old live} if
// written, {0} if the version changed, {-1} if the record is gone.
var updateCall = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'ver', 'owner', 'live')
if cur[1] == false then return {-1} end
if cur[1] ~= ARGV[1] then return {0} end
redis.call('HSET', KEYS[1], 'ver', ARGV[2], 'owner', ARGV[3], 'data', ARGV[4], 'updated', ARGV[5], 'live', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, cur[2] or '', cur[3] or '0'}
`)

// routeNumber reads a number's entry and the callbacks of its application.
//
// KEYS[1] is the numbers hash, KEYS[2] the callbacks hash (one slot).
// ARGV[1] is the number. Returns {} if the number is unknown, else
// {entry JSON} or {entry JSON, callbacks JSON}.
var routeNumber = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw == false then return {} end
local ok, n = pcall(cjson.decode, raw)
if not ok or type(n) ~= 'table' or type(n.app) ~= 'string' or n.app == '' then return {raw} end
local cb = redis.call('HGET', KEYS[2], n.app)
if cb == false then return {raw} end
return {raw, cb}
`)

var _ store.Store = (*Store)(nil)

// Store is a store.Store over Redis. It is safe for concurrent use, by any
// number of Stores on any number of nodes sharing a prefix.
type Store struct {
	client redis.UniversalClient
	owned  bool
	now    func() time.Time
	m      *Metrics

	numbersKey   string
	callbacksKey string
	callPrefix   string
	indexPrefix  string

	closeOnce sync.Once
	closeErr  error
}

// Option configures a Store.
type Option func(*Store)

// WithMetrics records operation metrics on m (see NewMetrics). Without it
// the store records none.
func WithMetrics(m *Metrics) Option {
	return func(s *Store) { s.m = m }
}

// WithClock makes the store read UpdatedAt from now instead of time.Now.
// Expiry runs on the Redis server's clock and is not affected.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns a Store that uses client and keeps its keys under prefix
// (DefaultPrefix if empty). Close does not close client.
//
// Keys (prefix "callcore:eu" shown):
//
//	{callcore:eu}:numbers     hash: number → {"app":"…","cap":"voice"}
//	{callcore:eu}:callbacks   hash: app key → {"primary":"…","fallback":"…"}
//	callcore:eu:call:{<id>}   hash: ver, owner, data, updated (Unix ns), live; PEXPIRE ttl
//	{callcore:eu}:node:<node>:calls  set: ids of the node's live calls
//
// The braces are Redis Cluster hash tags: the inventory keys share a slot,
// and everything about one call shares the slot of its ID, while different
// calls spread over the cluster. Every operation touches a single key. A
// prefix containing '{' or '}' would defeat the tags; Open rejects one.
//
// For context deadlines to bound network waits, create client with
// ContextTimeoutEnabled (Open does).
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &Store{
		client:       client,
		now:          time.Now,
		numbersKey:   "{" + prefix + "}:numbers",
		callbacksKey: "{" + prefix + "}:callbacks",
		callPrefix:   prefix + ":call:",
		indexPrefix:  "{" + prefix + "}:node:",
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Open connects to the Redis server at rawURL (redis://, rediss:// or
// unix://, see redis.ParseURL) and returns a Store that keeps its keys under
// prefix (DefaultPrefix if empty). Dial, read and write timeouts default to
// 5 s, 3 s and 3 s unless the URL sets them, and context deadlines are
// honoured. Open does not contact the server; call Ping. Close closes the
// connection pool.
func Open(rawURL, prefix string, opts ...Option) (*Store, error) {
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace: %w", prefix, store.ErrInvalid)
	}
	if _, err := url.Parse(rawURL); err != nil {
		// url.Error repeats the URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redisstore: invalid redis url: %w", err)
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: invalid redis url: %w", err)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	o.ContextTimeoutEnabled = true
	s := New(redis.NewClient(o), prefix, opts...)
	s.owned = true
	return s, nil
}

// Close closes the Redis client if Open created it; otherwise it does
// nothing. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.owned {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe(opPing, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// numberValue is the JSON value of an inventory entry.
type numberValue struct {
	AppKey     string `json:"app,omitempty"`
	Capability string `json:"cap"`
}

func decodeNumber(number, raw string) (store.Number, error) {
	var v numberValue
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return store.Number{}, fmt.Errorf("decode number %s: %w", number, err)
	}
	return store.Number{Number: number, AppKey: v.AppKey, Capability: v.Capability}, nil
}

func encodeNumber(n store.Number) string {
	b, err := json.Marshal(numberValue{AppKey: n.AppKey, Capability: n.Capability})
	if err != nil {
		panic(fmt.Sprintf("redisstore: encoding a number: %v", err)) // strings always encode
	}
	return string(b)
}

// ListNumbers implements store.Store.
func (s *Store) ListNumbers(ctx context.Context) (out []store.Number, err error) {
	defer s.observe(opListNumbers, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all, err := s.client.HGetAll(ctx, s.numbersKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list numbers: %w", err)
	}
	out = make([]store.Number, 0, len(all))
	for number, raw := range all {
		n, err := decodeNumber(number, raw)
		if err != nil {
			return nil, fmt.Errorf("list numbers: %w", err)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b store.Number) int { return strings.Compare(a.Number, b.Number) })
	return out, nil
}

// GetNumber implements store.Store.
func (s *Store) GetNumber(ctx context.Context, number string) (n store.Number, err error) {
	defer s.observe(opGetNumber, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return store.Number{}, err
	}
	if err := storeutil.CheckNonEmpty("get number", "number", number); err != nil {
		return store.Number{}, err
	}
	raw, err := s.client.HGet(ctx, s.numbersKey, number).Result()
	if errors.Is(err, redis.Nil) {
		return store.Number{}, fmt.Errorf("get number %s: %w", number, store.ErrNotFound)
	}
	if err != nil {
		return store.Number{}, fmt.Errorf("get number %s: %w", number, err)
	}
	return decodeNumber(number, raw)
}

// AssignNumbers implements store.Store. It reads the entries, decides, and
// writes them all with hashCAS, retrying if any entry changed meanwhile.
func (s *Store) AssignNumbers(ctx context.Context, appKey, capability string, numbers []string) (err error) {
	defer s.observe(opAssignNumbers, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckAssign(appKey, capability, numbers); err != nil {
		return err
	}
	numbers = slices.Clone(numbers)
	slices.Sort(numbers)
	numbers = slices.Compact(numbers)
	next := encodeNumber(store.Number{AppKey: appKey, Capability: capability})
	return s.casRetry(ctx, opAssignNumbers, "assign numbers", func() (bool, error) {
		cur, err := s.client.HMGet(ctx, s.numbersKey, numbers...).Result()
		if err != nil {
			return false, fmt.Errorf("assign numbers: %w", err)
		}
		args := make([]any, 0, 3*len(numbers))
		for i, number := range numbers {
			raw, found := cur[i].(string)
			if found {
				n, err := decodeNumber(number, raw)
				if err != nil {
					return false, fmt.Errorf("assign numbers: %w", err)
				}
				if storeutil.TakenBy(n, true, appKey) {
					return false, storeutil.Taken(number)
				}
			}
			args = append(args, number, raw, next)
		}
		return s.runCAS(ctx, args)
	})
}

// UnassignNumber implements store.Store.
func (s *Store) UnassignNumber(ctx context.Context, appKey, capability, number string) (err error) {
	defer s.observe(opUnassignNumber, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckUnassign(appKey, capability, number); err != nil {
		return err
	}
	return s.casRetry(ctx, opUnassignNumber, "unassign number "+number, func() (bool, error) {
		raw, err := s.client.HGet(ctx, s.numbersKey, number).Result()
		found := err == nil
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, fmt.Errorf("unassign number %s: %w", number, err)
		}
		var cur store.Number
		if found {
			if cur, err = decodeNumber(number, raw); err != nil {
				return false, fmt.Errorf("unassign number: %w", err)
			}
		}
		if !storeutil.Unassignable(cur, found, appKey, capability) {
			return false, fmt.Errorf("unassign number %s: %w", number, store.ErrNotFound)
		}
		cur.AppKey = ""
		return s.runCAS(ctx, []any{number, raw, encodeNumber(cur)})
	})
}

// runCAS runs hashCAS on the numbers hash.
func (s *Store) runCAS(ctx context.Context, args []any) (bool, error) {
	n, err := hashCAS.Run(ctx, s.client, []string{s.numbersKey}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("write numbers: %w", err)
	}
	return n == 1, nil
}

// casRetry runs attempt until it reports done or fails, at most
// storeutil.MaxAttempts times with backoff in between.
func (s *Store) casRetry(ctx context.Context, op, what string, attempt func() (done bool, err error)) error {
	for i := range storeutil.MaxAttempts {
		if i > 0 {
			s.m.retried(op)
			if err := storeutil.Backoff(ctx, i); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		done, err := attempt()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", what, storeutil.MaxAttempts, store.ErrConflict)
}

// callbacksValue is the JSON value of an application's callbacks.
type callbacksValue struct {
	Primary  string `json:"primary"`
	Fallback string `json:"fallback,omitempty"`
}

func encodeCallbacks(cb store.Callbacks) string {
	b, err := json.Marshal(callbacksValue(cb))
	if err != nil {
		panic(fmt.Sprintf("redisstore: encoding callbacks: %v", err)) // strings always encode
	}
	return string(b)
}

// decodeCallbacks parses a callbacks hash value.
func decodeCallbacks(raw string) (store.Callbacks, error) {
	var v callbacksValue
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return store.Callbacks{}, fmt.Errorf("corrupt callbacks entry: %w", err)
	}
	return store.Callbacks(v), nil
}

// GetCallbacks implements store.Store.
func (s *Store) GetCallbacks(ctx context.Context, appKey string) (cb store.Callbacks, err error) {
	defer s.observe(opGetCallbacks, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return store.Callbacks{}, err
	}
	if err := storeutil.CheckNonEmpty("get callbacks", "application key", appKey); err != nil {
		return store.Callbacks{}, err
	}
	raw, err := s.client.HGet(ctx, s.callbacksKey, appKey).Result()
	if errors.Is(err, redis.Nil) {
		return store.Callbacks{}, fmt.Errorf("get callbacks of %s: %w", appKey, store.ErrNotFound)
	}
	if err != nil {
		return store.Callbacks{}, fmt.Errorf("get callbacks of %s: %w", appKey, err)
	}
	var v callbacksValue
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return store.Callbacks{}, fmt.Errorf("decode callbacks of %s: %w", appKey, err)
	}
	return store.Callbacks(v), nil
}

// SetCallbacks implements store.Store.
func (s *Store) SetCallbacks(ctx context.Context, appKey string, cb store.Callbacks) (err error) {
	defer s.observe(opSetCallbacks, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("set callbacks", "application key", appKey); err != nil {
		return err
	}
	if err := s.client.HSet(ctx, s.callbacksKey, appKey, encodeCallbacks(cb)).Err(); err != nil {
		return fmt.Errorf("set callbacks of %s: %w", appKey, err)
	}
	return nil
}

// SeedCallbacks implements store.Store.
func (s *Store) SeedCallbacks(ctx context.Context, appKey string, cb store.Callbacks) (set bool, err error) {
	defer s.observe(opSeedCallbacks, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := storeutil.CheckNonEmpty("seed callbacks", "application key", appKey); err != nil {
		return false, err
	}
	set, err = s.client.HSetNX(ctx, s.callbacksKey, appKey, encodeCallbacks(cb)).Result()
	if err != nil {
		return false, fmt.Errorf("seed callbacks of %s: %w", appKey, err)
	}
	return set, nil
}

// callKey is the key of call id; the ID is the hash tag.
func (s *Store) callKey(id string) string {
	return s.callPrefix + "{" + id + "}"
}

// ttlMillis converts ttl to whole milliseconds, rounding up so that a
// positive ttl never becomes 0 (which would delete the key at once).
func ttlMillis(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// CreateCall implements store.Store.
func (s *Store) CreateCall(ctx context.Context, rec store.CallRecord, ttl time.Duration) (err error) {
	defer s.observe(opCreateCall, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("create call", "call id", rec.ID); err != nil {
		return err
	}
	if err := storeutil.CheckTTL("create call", ttl); err != nil {
		return err
	}
	now := s.now().UTC()
	var created *redis.Cmd
	err = s.pipelined(ctx, func(p redis.Pipeliner) error {
		created = createCall.Run(ctx, p, []string{s.callKey(rec.ID)},
			rec.Owner, rec.Data, now.UnixNano(), ttlMillis(ttl), liveFlag(rec.Live))
		if rec.Live {
			// Indexed even if the create loses to an existing record: an
			// extra id in an index is harmless (NodeCalls' readers check).
			p.SAdd(ctx, s.indexKey(rec.Owner), rec.ID)
		}
		return nil
	})
	if err == nil {
		err = created.Err()
	}
	if err != nil {
		return fmt.Errorf("create call %s: %w", rec.ID, err)
	}
	if n, _ := created.Int(); n != 1 {
		return fmt.Errorf("create call %s: %w", rec.ID, store.ErrExists)
	}
	return nil
}

// pipelineScripts are the scripts run inside pipelines, where go-redis
// cannot fall back from EVALSHA to EVAL (a flushed or restarted server
// answers NOSCRIPT).
var pipelineScripts = []*redis.Script{createCall, updateCall, replaceCall}

// pipelined runs fn's commands in one round trip. If a script was unknown
// to the server (NOSCRIPT) it loads the scripts and runs fn once more:
// every command queued by the callers is safe to repeat. The error of the
// pipeline is the first failed command's, redis.Nil excluded.
func (s *Store) pipelined(ctx context.Context, fn func(redis.Pipeliner) error) error {
	for attempt := 0; ; attempt++ {
		cmds, err := s.client.Pipelined(ctx, fn)
		noscript := false
		for _, c := range cmds {
			if e := c.Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
				noscript = true
			}
		}
		if !noscript || attempt > 0 {
			if errors.Is(err, redis.Nil) {
				err = nil
			}
			return err
		}
		for _, sc := range pipelineScripts {
			if err := sc.Load(ctx, s.client).Err(); err != nil {
				return err
			}
		}
	}
}

func liveFlag(live bool) string {
	if live {
		return "1"
	}
	return "0"
}

// indexKey is the set of the live calls of node.
func (s *Store) indexKey(node string) string {
	return s.indexPrefix + node + ":calls"
}

// replaceCall writes a call record hash if its version is the expected
// one (ReplaceCall: the owner's blind write).
//
// KEYS[1] is the record. ARGV: expected version, owner, data, updated
// (Unix ns), ttl (ms), live. Returns the new version, 0 if the version
// changed, -1 if the record is gone. The owner's index lives in another
// slot, so the caller updates it in the same pipeline.
var replaceCall = redis.NewScript(`
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver == false then return -1 end
if ver ~= ARGV[1] then return 0 end
local nv = tonumber(ver) + 1
redis.call('HSET', KEYS[1], 'ver', tostring(nv), 'owner', ARGV[2], 'data', ARGV[3], 'updated', ARGV[4], 'live', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return nv
`)

// ReplaceCall implements store.Store: one pipeline of the replaceCall script
// and the index update of the owner.
func (s *Store) ReplaceCall(ctx context.Context, rec store.CallRecord, ttl time.Duration) (ver int64, err error) {
	defer s.observe(opReplaceCall, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := storeutil.CheckNonEmpty("replace call", "call id", rec.ID); err != nil {
		return 0, err
	}
	if err := storeutil.CheckTTL("replace call", ttl); err != nil {
		return 0, err
	}
	now := s.now().UTC()
	var res *redis.Cmd
	err = s.pipelined(ctx, func(p redis.Pipeliner) error {
		res = replaceCall.Run(ctx, p, []string{s.callKey(rec.ID)},
			rec.Version, rec.Owner, rec.Data, now.UnixNano(), ttlMillis(ttl), liveFlag(rec.Live))
		if !rec.Live {
			p.SRem(ctx, s.indexKey(rec.Owner), rec.ID)
		}
		return nil
	})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("replace call %s: %w", rec.ID, err)
	}
	v, _ := res.Int64()
	switch {
	case v == -1:
		return 0, fmt.Errorf("replace call %s: %w", rec.ID, store.ErrNotFound)
	case v == 0:
		return 0, fmt.Errorf("replace call %s: written by another writer since version %d: %w", rec.ID, rec.Version, store.ErrConflict)
	}
	return v, nil
}

// NodeCalls implements store.Store.
func (s *Store) NodeCalls(ctx context.Context, node string) (ids []string, err error) {
	defer s.observe(opNodeCalls, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storeutil.CheckNonEmpty("node calls", "node", node); err != nil {
		return nil, err
	}
	ids, err = s.client.SMembers(ctx, s.indexKey(node)).Result()
	if err != nil {
		return nil, fmt.Errorf("node calls %s: %w", node, err)
	}
	return ids, nil
}

// UnindexCalls implements store.Store.
func (s *Store) UnindexCalls(ctx context.Context, node string, ids ...string) (err error) {
	defer s.observe(opUnindexCalls, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("unindex calls", "node", node); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := s.client.SRem(ctx, s.indexKey(node), members...).Err(); err != nil {
		return fmt.Errorf("unindex calls %s: %w", node, err)
	}
	return nil
}

// RouteNumber implements store.Store with the routeNumber script.
func (s *Store) RouteNumber(ctx context.Context, number string) (n store.Number, cb store.Callbacks, found bool, err error) {
	defer s.observe(opRouteNumber, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return n, cb, false, err
	}
	if err := storeutil.CheckNonEmpty("route number", "number", number); err != nil {
		return n, cb, false, err
	}
	res, err := routeNumber.Run(ctx, s.client, []string{s.numbersKey, s.callbacksKey}, number).StringSlice()
	if err != nil {
		return n, cb, false, fmt.Errorf("route number %s: %w", number, err)
	}
	if len(res) == 0 {
		return n, cb, false, fmt.Errorf("route number %s: %w", number, store.ErrNotFound)
	}
	if n, err = decodeNumber(number, res[0]); err != nil {
		return n, cb, false, fmt.Errorf("route number %s: %w", number, err)
	}
	if len(res) < 2 || n.AppKey == "" {
		return n, cb, false, nil
	}
	if cb, err = decodeCallbacks(res[1]); err != nil {
		return n, cb, false, fmt.Errorf("route number %s: %w", number, err)
	}
	return n, cb, true, nil
}

// GetCall implements store.Store.
func (s *Store) GetCall(ctx context.Context, id string) (rec store.CallRecord, err error) {
	defer s.observe(opGetCall, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckNonEmpty("get call", "call id", id); err != nil {
		return store.CallRecord{}, err
	}
	return s.readCall(ctx, "get call", id)
}

// readCall reads and decodes the record of id.
func (s *Store) readCall(ctx context.Context, what, id string) (store.CallRecord, error) {
	h, err := s.client.HGetAll(ctx, s.callKey(id)).Result()
	if err != nil {
		return store.CallRecord{}, fmt.Errorf("%s %s: %w", what, id, err)
	}
	ver, ok := h[fieldVersion]
	if !ok {
		return store.CallRecord{}, fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
	}
	v, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return store.CallRecord{}, fmt.Errorf("%s %s: corrupt version %q: %w", what, id, ver, err)
	}
	ns, err := strconv.ParseInt(h[fieldUpdated], 10, 64)
	if err != nil {
		return store.CallRecord{}, fmt.Errorf("%s %s: corrupt update time %q: %w", what, id, h[fieldUpdated], err)
	}
	return store.CallRecord{
		ID:        id,
		Owner:     h[fieldOwner],
		Version:   v,
		Data:      storeutil.CloneData([]byte(h[fieldData])),
		UpdatedAt: time.Unix(0, ns).UTC(),
		Live:      h[fieldLive] == "1",
	}, nil
}

// UpdateCall implements store.Store: HGETALL, fn, then the updateCall script
// that writes only if the version is still the one read.
func (s *Store) UpdateCall(ctx context.Context, id string, ttl time.Duration, fn func(*store.CallRecord) error) (out store.CallRecord, err error) {
	fnFailed := false
	defer s.observe(opUpdateCall, time.Now(), &err, &fnFailed)
	if err := ctx.Err(); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckNonEmpty("update call", "call id", id); err != nil {
		return store.CallRecord{}, err
	}
	if err := storeutil.CheckTTL("update call", ttl); err != nil {
		return store.CallRecord{}, err
	}
	if fn == nil {
		return store.CallRecord{}, fmt.Errorf("update call %s: nil function: %w", id, store.ErrInvalid)
	}
	key := []string{s.callKey(id)}
	err = s.casRetry(ctx, opUpdateCall, "update call "+id, func() (bool, error) {
		cur, err := s.readCall(ctx, "update call", id)
		if err != nil {
			return false, err
		}
		rec := cur // readCall returned a private copy
		if err := fn(&rec); err != nil {
			fnFailed = true
			return false, fmt.Errorf("update call %s: %w", id, err)
		}
		now := s.now().UTC()
		var res *redis.Cmd
		err = s.pipelined(ctx, func(p redis.Pipeliner) error {
			res = updateCall.Run(ctx, p, key,
				cur.Version, cur.Version+1, rec.Owner, rec.Data, now.UnixNano(), ttlMillis(ttl), liveFlag(rec.Live))
			// The index follows what this write says; a lost race is
			// repaired by the retry, which writes the index again.
			if cur.Live && (!rec.Live || cur.Owner != rec.Owner) {
				p.SRem(ctx, s.indexKey(cur.Owner), id)
			}
			if rec.Live {
				p.SAdd(ctx, s.indexKey(rec.Owner), id)
			}
			return nil
		})
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			return false, fmt.Errorf("update call %s: %w", id, err)
		}
		vals, _ := res.Slice()
		code := int64(-1)
		if len(vals) > 0 {
			code, _ = vals[0].(int64)
		}
		switch code {
		case -1:
			return false, fmt.Errorf("update call %s: %w", id, store.ErrNotFound)
		case 0:
			return false, nil
		}
		out = store.CallRecord{
			ID:        id,
			Owner:     rec.Owner,
			Version:   cur.Version + 1,
			Data:      storeutil.CloneData(rec.Data),
			UpdatedAt: now,
			Live:      rec.Live,
		}
		return true, nil
	})
	if err != nil {
		return store.CallRecord{}, err
	}
	return out, nil
}

// DeleteCall implements store.Store.
func (s *Store) DeleteCall(ctx context.Context, id string) (err error) {
	defer s.observe(opDeleteCall, time.Now(), &err, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storeutil.CheckNonEmpty("delete call", "call id", id); err != nil {
		return err
	}
	if err := s.client.Del(ctx, s.callKey(id)).Err(); err != nil {
		return fmt.Errorf("delete call %s: %w", id, err)
	}
	return nil
}

// observe records an operation in the metrics. *errp is its result;
// *expected (if non-nil) is true when the error is the caller's own.
func (s *Store) observe(op string, start time.Time, errp *error, expected *bool) {
	if s.m == nil {
		return
	}
	err := *errp
	failed := err != nil &&
		!errors.Is(err, store.ErrNotFound) &&
		!errors.Is(err, store.ErrExists) &&
		!errors.Is(err, store.ErrNumberTaken) &&
		!errors.Is(err, store.ErrInvalid) &&
		(expected == nil || !*expected)
	s.m.observe(op, start, failed)
}
