package cookies_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/callcore/callcore/cookies"
)

// FuzzUnmarshal checks that any input either fails or yields a jar within
// every limit, whose JSON form loads back to the same jar.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`[]`, `null`, `[{"key":"a","value":"1"}]`,
		`[{"key":"a","value":"1"},{"key":"a","value":"2"}]`,
		`[{"key":"\u00e5\ud83c\udf6a","value":"\u0000<>&\u2028"}]`,
		`[{"key":"a"}]`, `[{"key":"","value":""}]`, `[{"key":1}]`, `[null]`, `{}`,
		`[{"KEY":"a","Value":"b"}]`, `[{"key":"a","value":"\xff"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var j cookies.Jar
		if err := json.Unmarshal(data, &j); err != nil {
			if j.Len() != 0 {
				t.Fatalf("jar changed on error: %v", j.All())
			}
			return
		}
		all := j.All()
		if len(all) > cookies.MaxCookies {
			t.Fatalf("%d cookies", len(all))
		}
		seen := map[string]bool{}
		size := 0
		for _, kv := range all {
			if kv.Key == "" || len(kv.Key) > cookies.MaxKeyBytes || len(kv.Value) > cookies.MaxValueBytes ||
				!utf8.ValidString(kv.Key) || !utf8.ValidString(kv.Value) {
				t.Fatalf("invalid cookie %q", kv)
			}
			if seen[kv.Key] {
				t.Fatalf("duplicate key %q", kv.Key)
			}
			seen[kv.Key] = true
			size += len(kv.Key) + len(kv.Value)
			if v, ok := j.Get(kv.Key); !ok || v != kv.Value {
				t.Fatalf("Get(%q) = %q, %v", kv.Key, v, ok)
			}
		}
		if size != j.Size() || size > cookies.MaxTotalBytes {
			t.Fatalf("size %d, Size() %d", size, j.Size())
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > cookies.MaxJSONBytes {
			t.Fatalf("marshalled jar of %d bytes would not load", len(out))
		}
		var back cookies.Jar
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		if got := back.All(); len(got) != len(all) {
			t.Fatalf("round trip: %v != %v", got, all)
		} else {
			for i := range got {
				if got[i] != all[i] {
					t.Fatalf("round trip: %v != %v", got, all)
				}
			}
		}
		// Set on a loaded jar keeps the invariants too.
		_ = j.Set("fuzz", string(data[:min(len(data), 64)]))
		if j.Size() > cookies.MaxTotalBytes || j.Len() > cookies.MaxCookies {
			t.Fatalf("Set broke the limits: %d bytes, %d cookies", j.Size(), j.Len())
		}
	})
}
