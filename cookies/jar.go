package cookies

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits of a [Jar] (see the package documentation).
const (
	MaxCookies    = 50
	MaxKeyBytes   = 256
	MaxValueBytes = 4096
	MaxTotalBytes = 16 << 10
	// MaxJSONBytes bounds the input of UnmarshalJSON. The JSON form of the
	// largest jar, with every byte escaped as \u00XX, stays below it.
	MaxJSONBytes = 128 << 10
)

// KV is one cookie. Its JSON form is {"key": ..., "value": ...}, the same
// shape as events.KeyValue, to which it converts directly.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Jar is the cookie state of one call. The zero value is an empty jar
// ready to use. A Jar is not safe for concurrent use; it belongs to the
// call's actor. Copying a Jar value shares storage with the original:
// use Clone.
type Jar struct {
	kvs  []KV
	size int // sum of len(Key)+len(Value)
}

// Set stores value under key. A new key is appended; an existing key keeps
// its position and gets the new value. On error (wrapping ErrInvalidKey,
// ErrInvalidValue, ErrCookieTooLarge or ErrTooManyCookies) the jar is
// unchanged.
func (j *Jar) Set(key, value string) error {
	if err := checkKV(key, value); err != nil {
		return err
	}
	i := j.index(key)
	size := j.size + len(value)
	if i >= 0 {
		size -= len(j.kvs[i].Value)
	} else {
		if len(j.kvs) >= MaxCookies {
			return fmt.Errorf("%w: limit %d", ErrTooManyCookies, MaxCookies)
		}
		size += len(key)
	}
	if size > MaxTotalBytes {
		return fmt.Errorf("%w: cookies would hold %d bytes, limit %d", ErrCookieTooLarge, size, MaxTotalBytes)
	}
	if i >= 0 {
		j.kvs[i].Value = value
	} else {
		j.kvs = append(j.kvs, KV{key, value})
	}
	j.size = size
	return nil
}

func checkKV(key, value string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrCookieTooLarge, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case len(value) > MaxValueBytes:
		return fmt.Errorf("%w: value is %d bytes, limit %d", ErrCookieTooLarge, len(value), MaxValueBytes)
	case !utf8.ValidString(value):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidValue)
	}
	return nil
}

// index returns the position of key, or -1. A linear scan: a jar holds at
// most MaxCookies entries.
func (j *Jar) index(key string) int {
	for i := range j.kvs {
		if j.kvs[i].Key == key {
			return i
		}
	}
	return -1
}

// Get returns the value stored under key.
func (j *Jar) Get(key string) (string, bool) {
	if j == nil {
		return "", false
	}
	if i := j.index(key); i >= 0 {
		return j.kvs[i].Value, true
	}
	return "", false
}

// Len returns the number of cookies.
func (j *Jar) Len() int {
	if j == nil {
		return 0
	}
	return len(j.kvs)
}

// Size returns the bytes held by keys and values together (at most
// MaxTotalBytes).
func (j *Jar) Size() int {
	if j == nil {
		return 0
	}
	return j.size
}

// All returns a copy of the cookies in insertion order, or nil when the jar
// is empty (so that an "omitempty" field leaves it out).
func (j *Jar) All() []KV {
	if j.Len() == 0 {
		return nil
	}
	out := make([]KV, len(j.kvs))
	copy(out, j.kvs)
	return out
}

// Clone returns an independent copy of the jar.
func (j *Jar) Clone() *Jar {
	return &Jar{kvs: j.All(), size: j.Size()}
}

// MarshalJSON encodes the cookies as [{"key":..,"value":..}] in insertion
// order; an empty jar is "[]".
func (j Jar) MarshalJSON() ([]byte, error) {
	if len(j.kvs) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal(j.kvs)
}

// UnmarshalJSON replaces the jar's contents with the cookies of data, a
// JSON array of {"key": string, "value": string} objects or null (empty).
// Entries are applied with Set semantics: a repeated key keeps its first
// position and its last value. A missing or null value is "". The limits
// apply; on any error the jar is unchanged.
func (j *Jar) UnmarshalJSON(data []byte) error {
	if len(data) > MaxJSONBytes {
		return fmt.Errorf("%w: JSON is %d bytes, limit %d", ErrCookieTooLarge, len(data), MaxJSONBytes)
	}
	var raw []struct {
		Key   *string         `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("decode cookies: %w", err)
	}
	var next Jar
	for i, e := range raw {
		if e.Key == nil {
			return fmt.Errorf("cookie %d: %w: missing", i, ErrInvalidKey)
		}
		var v string
		if len(e.Value) > 0 && string(e.Value) != "null" {
			if err := json.Unmarshal(e.Value, &v); err != nil {
				return fmt.Errorf("cookie %d: %w: not a string", i, ErrInvalidValue)
			}
		}
		if err := next.Set(*e.Key, v); err != nil {
			return fmt.Errorf("cookie %d: %w", i, err)
		}
	}
	*j = next
	return nil
}
