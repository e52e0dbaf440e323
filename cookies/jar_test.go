package cookies_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/cookies"
)

func TestZeroJarIsUsable(t *testing.T) {
	var j cookies.Jar
	require.Zero(t, j.Len())
	require.Nil(t, j.All())
	_, ok := j.Get("a")
	require.False(t, ok)
	require.NoError(t, j.Set("a", "1"))
	v, ok := j.Get("a")
	require.True(t, ok)
	require.Equal(t, "1", v)
	require.Equal(t, 1, j.Len())
	require.Equal(t, 2, j.Size())

	var nilJar *cookies.Jar
	require.Zero(t, nilJar.Len())
	require.Zero(t, nilJar.Size())
	require.Nil(t, nilJar.All())
	_, ok = nilJar.Get("a")
	require.False(t, ok)
	require.Zero(t, nilJar.Clone().Len())
}

func TestSetKeepsOrderAndReplacesInPlace(t *testing.T) {
	var j cookies.Jar
	require.NoError(t, j.Set("step", "1"))
	require.NoError(t, j.Set("lang", "sv"))
	require.NoError(t, j.Set("empty", ""))
	require.NoError(t, j.Set("step", "22"))
	require.Equal(t, []cookies.KV{{"step", "22"}, {"lang", "sv"}, {"empty", ""}}, j.All())
	require.Equal(t, len("step22langsvempty"), j.Size())
	v, ok := j.Get("empty")
	require.True(t, ok)
	require.Empty(t, v)
	_, ok = j.Get("Step")
	require.False(t, ok, "keys are case-sensitive")

	all := j.All()
	all[0].Value = "mutated"
	v, _ = j.Get("step")
	require.Equal(t, "22", v, "All returns a copy")
}

func TestSetLimits(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		var j cookies.Jar
		for i := range cookies.MaxCookies {
			require.NoError(t, j.Set(fmt.Sprintf("k%d", i), "v"))
		}
		err := j.Set("one-more", "v")
		require.ErrorIs(t, err, cookies.ErrTooManyCookies)
		require.Equal(t, cookies.MaxCookies, j.Len())
		require.NoError(t, j.Set("k7", "replacing is fine when full"))
	})
	t.Run("key size", func(t *testing.T) {
		var j cookies.Jar
		require.NoError(t, j.Set(strings.Repeat("k", cookies.MaxKeyBytes), ""))
		require.ErrorIs(t, j.Set(strings.Repeat("k", cookies.MaxKeyBytes+1), ""), cookies.ErrCookieTooLarge)
		require.Equal(t, 1, j.Len())
	})
	t.Run("value size", func(t *testing.T) {
		var j cookies.Jar
		require.NoError(t, j.Set("a", strings.Repeat("v", cookies.MaxValueBytes)))
		err := j.Set("b", strings.Repeat("v", cookies.MaxValueBytes+1))
		require.ErrorIs(t, err, cookies.ErrCookieTooLarge)
		require.NotContains(t, err.Error(), "vvvv", "values are never quoted")
	})
	t.Run("total", func(t *testing.T) {
		var j cookies.Jar
		v := strings.Repeat("v", cookies.MaxValueBytes-1) // with a 1-byte key: 4096 bytes each
		for _, k := range []string{"a", "b", "c", "d"} {
			require.NoError(t, j.Set(k, v))
		}
		require.Equal(t, cookies.MaxTotalBytes, j.Size())
		require.ErrorIs(t, j.Set("e", ""), cookies.ErrCookieTooLarge, "even an empty value adds its key")
		require.ErrorIs(t, j.Set("a", v+"v"), cookies.ErrCookieTooLarge, "growing a value counts")
		require.NoError(t, j.Set("a", "short"))
		require.NoError(t, j.Set("e", strings.Repeat("v", cookies.MaxValueBytes-len("short")-2)), "e plus its 4089-byte value fills the jar exactly")
		require.Equal(t, cookies.MaxTotalBytes, j.Size())
	})
	t.Run("failed set leaves the jar unchanged", func(t *testing.T) {
		var j cookies.Jar
		require.NoError(t, j.Set("a", "1"))
		before := j.All()
		require.Error(t, j.Set("a", strings.Repeat("v", cookies.MaxValueBytes+1)))
		require.Error(t, j.Set("", "x"))
		require.Error(t, j.Set("a", "\xff"))
		require.Equal(t, before, j.All())
		require.Equal(t, 2, j.Size())
	})
}

func TestSetInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		want             error
	}{
		{"empty key", "", "v", cookies.ErrInvalidKey},
		{"key not UTF-8", "k\xff", "v", cookies.ErrInvalidKey},
		{"value not UTF-8", "k", "\xc3", cookies.ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j cookies.Jar
			require.ErrorIs(t, j.Set(tc.key, tc.value), tc.want)
			require.Zero(t, j.Len())
		})
	}
	var j cookies.Jar
	require.NoError(t, j.Set("ключ 🍪", "värde\n\t\"<>&\u2028"), "any valid UTF-8 is fine")
}

func TestClone(t *testing.T) {
	var j cookies.Jar
	require.NoError(t, j.Set("a", "1"))
	c := j.Clone()
	require.NoError(t, c.Set("a", "2"))
	require.NoError(t, c.Set("b", "3"))
	v, _ := j.Get("a")
	require.Equal(t, "1", v)
	require.Equal(t, 1, j.Len())
	require.Equal(t, 2, c.Len())
	require.Equal(t, 2, j.Size())
	require.Equal(t, 4, c.Size())
}

func TestMarshalJSON(t *testing.T) {
	var j cookies.Jar
	b, err := json.Marshal(j)
	require.NoError(t, err)
	require.JSONEq(t, `[]`, string(b))
	require.Equal(t, "[]", string(b))

	require.NoError(t, j.Set("b", "2"))
	require.NoError(t, j.Set("a", "1"))
	b, err = json.Marshal(&j)
	require.NoError(t, err)
	require.Equal(t, `[{"key":"b","value":"2"},{"key":"a","value":"1"}]`, string(b))

	// As a field of a record, by value and by pointer.
	type record struct {
		Cookies cookies.Jar  `json:"cookies"`
		Ptr     *cookies.Jar `json:"ptr,omitempty"`
	}
	b, err = json.Marshal(record{Cookies: j, Ptr: &j})
	require.NoError(t, err)
	require.Equal(t, `{"cookies":[{"key":"b","value":"2"},{"key":"a","value":"1"}],"ptr":[{"key":"b","value":"2"},{"key":"a","value":"1"}]}`, string(b))
	var back record
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, j.All(), back.Cookies.All())
	require.Equal(t, j.All(), back.Ptr.All())
}

// keyValue has the shape of events.KeyValue: []KV converts element-wise.
type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func TestKVConvertsToEventShape(t *testing.T) {
	var j cookies.Jar
	require.NoError(t, j.Set("k", "v"))
	kv := j.All()[0]
	ev := keyValue(kv)
	a, err := json.Marshal(kv)
	require.NoError(t, err)
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	require.Equal(t, string(a), string(b))
}

func TestUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []cookies.KV
	}{
		{"empty", `[]`, nil},
		{"null", `null`, nil},
		{"order", `[{"key":"z","value":"1"},{"key":"a","value":"2"}]`, []cookies.KV{{"z", "1"}, {"a", "2"}}},
		{"duplicate keeps first position and last value", `[{"key":"a","value":"1"},{"key":"b","value":"2"},{"key":"a","value":"3"}]`, []cookies.KV{{"a", "3"}, {"b", "2"}}},
		{"missing value", `[{"key":"a"}]`, []cookies.KV{{"a", ""}}},
		{"null value", `[{"key":"a","value":null}]`, []cookies.KV{{"a", ""}}},
		{"unknown fields ignored", `[{"key":"a","value":"1","ttl":5}]`, []cookies.KV{{"a", "1"}}},
		{"escapes", `[{"key":"\u00e5","value":"\u003c\n"}]`, []cookies.KV{{"å", "<\n"}}},
		{"whitespace", " [ { \"key\" : \"a\" , \"value\" : \"1\" } ] ", []cookies.KV{{"a", "1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j cookies.Jar
			require.NoError(t, j.Set("previous", "contents"))
			require.NoError(t, json.Unmarshal([]byte(tc.in), &j))
			require.Equal(t, tc.want, j.All(), "the contents are replaced")
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	many := make([]cookies.KV, cookies.MaxCookies+1)
	for i := range many {
		many[i] = cookies.KV{Key: fmt.Sprintf("k%d", i)}
	}
	tooMany, err := json.Marshal(many)
	require.NoError(t, err)
	bigValue, err := json.Marshal([]cookies.KV{{"a", strings.Repeat("v", cookies.MaxValueBytes+1)}})
	require.NoError(t, err)
	total := make([]cookies.KV, 5)
	for i := range total {
		total[i] = cookies.KV{Key: fmt.Sprint(i), Value: strings.Repeat("v", cookies.MaxValueBytes)}
	}
	bigTotal, err := json.Marshal(total)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, in string
		want     error // nil: any error
	}{
		{"too many", string(tooMany), cookies.ErrTooManyCookies},
		{"value too large", string(bigValue), cookies.ErrCookieTooLarge},
		{"total too large", string(bigTotal), cookies.ErrCookieTooLarge},
		{"document too large", "[" + strings.Repeat(" ", cookies.MaxJSONBytes) + "]", cookies.ErrCookieTooLarge},
		{"missing key", `[{"value":"1"}]`, cookies.ErrInvalidKey},
		{"null key", `[{"key":null,"value":"1"}]`, cookies.ErrInvalidKey},
		{"empty key", `[{"key":"","value":"1"}]`, cookies.ErrInvalidKey},
		{"null entry", `[null]`, cookies.ErrInvalidKey},
		{"number value", `[{"key":"a","value":1}]`, cookies.ErrInvalidValue},
		{"object value", `[{"key":"a","value":{}}]`, cookies.ErrInvalidValue},
		{"number key", `[{"key":1,"value":"1"}]`, nil},
		{"object", `{"key":"a","value":"1"}`, nil},
		{"truncated", `[{"key":"a"`, nil},
		{"trailing garbage", `[] x`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j cookies.Jar
			require.NoError(t, j.Set("keep", "me"))
			err := json.Unmarshal([]byte(tc.in), &j)
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Equal(t, []cookies.KV{{"keep", "me"}}, j.All(), "unchanged on error")
		})
	}
}

// TestLargestJarRoundTrips fills every limit with bytes that JSON escapes
// six-fold and checks that the result still loads.
func TestLargestJarRoundTrips(t *testing.T) {
	var j cookies.Jar
	perValue := cookies.MaxTotalBytes/cookies.MaxCookies - 2
	for i := range cookies.MaxCookies {
		require.NoError(t, j.Set(fmt.Sprintf("%02d", i), strings.Repeat("\x01", perValue)))
	}
	require.Equal(t, cookies.MaxCookies, j.Len())
	require.LessOrEqual(t, j.Size(), cookies.MaxTotalBytes)
	require.Greater(t, j.Size(), cookies.MaxTotalBytes-cookies.MaxCookies*2)
	b, err := json.Marshal(j)
	require.NoError(t, err)
	require.Less(t, len(b), cookies.MaxJSONBytes)
	require.Greater(t, len(b), 5*cookies.MaxTotalBytes, "every value byte was escaped")
	var back cookies.Jar
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, j.All(), back.All())
	require.Equal(t, j.Size(), back.Size())
}

func BenchmarkSet(b *testing.B) {
	var j cookies.Jar
	for i := range 10 {
		if err := j.Set(fmt.Sprintf("key-%d", i), "value"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Set("key-9", "another value"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	var j cookies.Jar
	for i := range 10 {
		if err := j.Set(fmt.Sprintf("key-%d", i), "some value of moderate length"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&j); err != nil {
			b.Fatal(err)
		}
	}
}
