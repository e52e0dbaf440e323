package timeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// appendScript appends a batch to a call's list (KEYS[1]) under the
// Limits, atomically: ARGV = max entries, live TTL ms, ended TTL ms, ended
// flag ("1"), marker, entries... It returns {kept, truncated, marked}.
//
// The TTL rule: an ended call's list takes the ended TTL; otherwise a list
// whose TTL is above the ended TTL (or that has none) takes the live TTL,
// and one at or below it is a list whose call has ended and keeps it.
var appendScript = redis.NewScript(`
local key = KEYS[1]
local max = tonumber(ARGV[1])
local n = redis.call('LLEN', key)
local kept, truncated, marked = 0, 0, 0
local chunk = {}
for i = 6, #ARGV do
  if n < max - 1 then
    chunk[#chunk + 1] = ARGV[i]
    n = n + 1
    kept = kept + 1
  else
    if n == max - 1 then
      chunk[#chunk + 1] = ARGV[5]
      n = n + 1
      marked = 1
    end
    truncated = truncated + 1
  end
  if #chunk >= 200 then
    redis.call('RPUSH', key, unpack(chunk))
    chunk = {}
  end
end
if #chunk > 0 then
  redis.call('RPUSH', key, unpack(chunk))
end
if n > 0 then
  if ARGV[4] == '1' then
    redis.call('PEXPIRE', key, ARGV[3])
  else
    local ttl = redis.call('PTTL', key)
    if ttl < 0 or ttl > tonumber(ARGV[3]) then
      redis.call('PEXPIRE', key, ARGV[2])
    end
  end
end
return {kept, truncated, marked}
`)

// Redis is the Backend of a region sharing Redis: a list per call,
// "<prefix>:tl:{<call id>}" (the call id is the hash tag, so the list
// shares the slot of the call's record).
type Redis struct {
	client redis.UniversalClient
	prefix string
	limits Limits
}

var _ Backend = (*Redis)(nil)

// NewRedis returns the Redis backend on client, with keys under prefix
// (e.g. "callcore:euc1").
func NewRedis(client redis.UniversalClient, prefix string, l Limits) *Redis {
	return &Redis{client: client, prefix: prefix, limits: l.withDefaults()}
}

// Key is the list of a call's entries.
func (r *Redis) Key(callID string) string { return r.prefix + ":tl:{" + callID + "}" }

// Append implements Backend: one pipeline of one script call per batch.
// A script Redis does not know yet (NOSCRIPT) is sent again in full.
func (r *Redis) Append(ctx context.Context, batches []Batch) (AppendResult, error) {
	var res AppendResult
	if len(batches) == 0 {
		return res, nil
	}
	live := strconv.FormatInt(r.limits.LiveTTL.Milliseconds(), 10)
	ended := strconv.FormatInt(r.limits.EndedTTL.Milliseconds(), 10)
	max := strconv.Itoa(r.limits.MaxEntries)
	args := func(b Batch) []any {
		a := make([]any, 0, 5+len(b.Entries))
		flag := "0"
		if b.Ended {
			flag = "1"
		}
		a = append(a, max, live, ended, flag, b.Marker)
		for _, e := range b.Entries {
			a = append(a, e)
		}
		return a
	}
	run := func(todo []int, full bool) ([]*redis.Cmd, error) {
		pipe := r.client.Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for i, bi := range todo {
			b := batches[bi]
			keys := []string{r.Key(b.CallID)}
			if full {
				cmds[i] = appendScript.Eval(ctx, pipe, keys, args(b)...)
			} else {
				cmds[i] = appendScript.EvalSha(ctx, pipe, keys, args(b)...)
			}
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	todo := make([]int, len(batches))
	for i := range todo {
		todo[i] = i
	}
	var errs []error
	for _, full := range []bool{false, true} {
		cmds, _ := run(todo, full)
		var again []int
		for i, cmd := range cmds {
			b := batches[todo[i]]
			vals, err := cmd.Int64Slice()
			switch {
			case err != nil && !full && redis.HasErrorPrefix(err, "NOSCRIPT"):
				again = append(again, todo[i])
			case err != nil:
				res.Failed += len(b.Entries)
				errs = append(errs, err)
			case len(vals) != 3:
				res.Failed += len(b.Entries)
				errs = append(errs, fmt.Errorf("unexpected script reply %v", vals))
			default:
				kept := int(vals[0])
				res.Written += kept
				res.Truncated += int(vals[1])
				for _, e := range b.Entries[:min(kept, len(b.Entries))] {
					res.Bytes += int64(len(e))
				}
				if vals[2] == 1 {
					res.Bytes += int64(len(b.Marker))
				}
			}
		}
		if len(again) == 0 {
			break
		}
		todo = again
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("timeline: appending to redis: %w (%d of %d calls failed)", errs[0], len(errs), len(batches))
	}
	return res, nil
}

// Read implements Backend.
func (r *Redis) Read(ctx context.Context, callID string) ([][]byte, error) {
	vals, err := r.client.LRange(ctx, r.Key(callID), 0, -1).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("timeline: reading %s: %w", r.Key(callID), err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}
