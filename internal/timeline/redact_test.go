package timeline

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+46708000012":            "+467******12",
		"46708000012":             "467******12",
		"+1555":                   "+1555", // too short to be a number
		"12345":                   "***45",
		"+123456":                 "+****56",
		"sip:+46708000012@gw.com": "sip:+467******12@gw.com",
		"tel:+46708000012":        "tel:+467******12",
		"alice":                   "alice",
		"private":                 "private",
		"sip:alice@example.com":   "sip:alice@example.com",
		"":                        "",
		"call +46708000012 now":   "call +467******12 now",
	} {
		assert.Equal(t, want, MaskNumber(in), "MaskNumber(%q)", in)
	}
}

func TestTextMasksE164Only(t *testing.T) {
	r := &redactor{}
	assert.Equal(t, "from +467******12 to +1 555", r.text("from +46708000012 to +1 555"))
	assert.Equal(t, "call 0194a3c2-12345678-ab", r.text("call 0194a3c2-12345678-ab"), "ids stay")
	assert.Equal(t, "+1234567890123456", r.text("+1234567890123456"), "16 digits is not E.164")
	assert.Equal(t, "a++467******12", r.text("a++46708000012"))
	assert.Equal(t, "+46708000012", (&redactor{revealNumbers: true}).text("+46708000012"))
}

func TestRedactURL(t *testing.T) {
	r := &redactor{}
	assert.Equal(t, "https://***@cb.example.com/hook?token=***&x=***", r.url("https://user:secret@cb.example.com/hook?token=abc&x=1#frag"))
	assert.Equal(t, "http://127.0.0.1:9000/callbacks", r.url("http://127.0.0.1:9000/callbacks"))
	assert.Equal(t, "http://h/u/+467******12", r.url("http://h/u/+46708000012"))
}

// redactEntry encodes an entry with r and decodes it again.
func redactEntry(t *testing.T, r *redactor, summary string, data map[string]any) (string, map[string]any) {
	t.Helper()
	enc := encoder{r: r}
	e, err := decode(enc.appendEntry(nil, time.Unix(1, 0), []byte(`"n"`), KindSIP, summary, data))
	require.NoError(t, err)
	return e.Summary, e.Data
}

func TestRedactEntryData(t *testing.T) {
	r := &redactor{maxBody: 2048}
	summary, data := redactEntry(t, r, "received INVITE from 46708000012 to +46701234567", map[string]any{
		"from":    "46708000012",
		"to":      "+46701234567",
		"cookies": map[string]string{"step": "1", "pin": "4711"},
		"url":     "https://u:p@h/cb?k=v",
		"note":    "dialled +46701234567",
		"nested":  map[string]any{"cli": "+46701234567", "list": []any{"+46701234567", 3}},
		"count":   3,
		"jar":     map[string]any{"cookies": []any{map[string]any{"key": "k", "value": "v"}}},
		"err":     errors.New("busy +46701234567"),
		"list":    []string{"a", "+46701234567"},
		"big":     uint64(1 << 40),
		"ok":      true,
		"nothing": nil,
		"struct":  struct{ Cli string }{"+46701234567"},
	})
	assert.Equal(t, "received INVITE from 467******12 to +467******67", summary)
	assert.Equal(t, map[string]any{
		"from":    "467******12",
		"to":      "+467******67",
		"cookies": map[string]any{"step": "***", "pin": "***"},
		"url":     "https://***@h/cb?k=***",
		"note":    "dialled +467******67",
		"nested":  map[string]any{"cli": "+467******67", "list": []any{"+467******67", json.Number("3")}},
		"count":   json.Number("3"),
		"jar":     map[string]any{"cookies": []any{map[string]any{"key": "k", "value": "***"}}},
		"err":     "busy +467******67",
		"list":    []any{"a", "+467******67"},
		"big":     json.Number("1099511627776"),
		"ok":      true,
		"nothing": nil,
		"struct":  map[string]any{"Cli": "+467******67"},
	}, data)

	reveal := &redactor{revealNumbers: true, revealCookies: true}
	_, data = redactEntry(t, reveal, "s", map[string]any{"to": "+46701234567", "cookies": map[string]string{"pin": "4711"}})
	assert.Equal(t, "+46701234567", data["to"])
	assert.Equal(t, map[string]any{"pin": "4711"}, data["cookies"])
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" \\ back", "ctl \x00\x1f\n\r\t", "é ü 日本", "bad \xff\xfe utf8", "\u2028"} {
		got := appendString(nil, s)
		require.True(t, json.Valid(got), "%q → %s", s, got)
		std, err := json.Marshal(s)
		require.NoError(t, err)
		var back, want string
		require.NoError(t, json.Unmarshal(got, &back))
		require.NoError(t, json.Unmarshal(std, &want))
		assert.Equal(t, want, back, "as encoding/json")
	}
}

func TestRedactBodyICE(t *testing.T) {
	r := &redactor{maxBody: 4096}
	ice := `{"event":"ice","callid":"c1","cli":"46708000012","to":{"type":"number","endpoint":"+46701234567"},
	"cookies":[{"key":"step","value":"secret-1"}],"callHeaders":[{"key":"X-Account","value":"42"}],"custom":"hi +46701234567"}`
	got := r.body(ice).(string)
	assert.Contains(t, got, `"cli":"467******12"`)
	assert.Contains(t, got, `"endpoint":"+467******67"`)
	assert.Contains(t, got, `{"key":"step","value":"***"}`)
	assert.Contains(t, got, `{"key":"X-Account","value":"42"}`, "headers are not cookies")
	assert.Contains(t, got, `"custom":"hi +467******67"`)
	assert.True(t, json.Valid([]byte(got)), "still JSON: %s", got)
	assert.Len(t, got, len(ice)-len("secret-1")+3, "layout kept")
}

func TestRedactBodySVAML(t *testing.T) {
	r := &redactor{maxBody: 4096}
	doc := `{"instructions":[{"name":"setCookie","key":"pin","value":"4711"},{"value":"9","name":"setCookie","key":"k"},
	{"name":"sendDtmf","value":"123#"}],"action":{"name":"connectPstn","number":"+46708000012","cli":"private"}}`
	got := r.body([]byte(doc)).(string)
	assert.Contains(t, got, `{"name":"setCookie","key":"pin","value":"***"}`)
	assert.Contains(t, got, `{"value":"***","name":"setCookie","key":"k"}`, "name after value")
	assert.Contains(t, got, `{"name":"sendDtmf","value":"123#"}`)
	assert.Contains(t, got, `"number":"+467******12"`)
	assert.Contains(t, got, `"cli":"private"`)

	reveal := &redactor{revealCookies: true, maxBody: 4096}
	assert.Contains(t, reveal.body(doc).(string), `"value":"4711"`)
}

func TestRedactBodyTruncates(t *testing.T) {
	r := &redactor{maxBody: 40}
	long := `{"text":"` + strings.Repeat("é", 100) + `","cli":"+46708000012"}`
	got := r.body(long).(string)
	prefix, note, ok := strings.Cut(got, "…")
	require.True(t, ok, got)
	assert.LessOrEqual(t, len(prefix), 40)
	assert.True(t, strings.HasPrefix(long, prefix), "a prefix at a character boundary: %q", prefix)
	assert.Equal(t, "[truncated, "+itoa(len(long))+" bytes]", note)

	short := `{"a":1}`
	assert.Equal(t, short, r.body(short))
	assert.Equal(t, "plain +467******12 text", r.body("plain +46708000012 text"))
	assert.Nil(t, r.body(nil))

	// A number across the limit is masked whole in text.
	text := strings.Repeat("x", 35) + " +46708000012"
	got = (&redactor{maxBody: 40}).body(text).(string)
	assert.NotContains(t, got, "+4670")
}

func TestRedactBodyMalformed(t *testing.T) {
	r := &redactor{maxBody: 4096}
	for _, in := range []string{
		`{"cli":"+46708000012"`,       // truncated
		`{"cli":"+46708000012","x":}`, // malformed
		`{"cookies":[{"key":"a","value":"b"}]} trailing +46708000012`,
		`[1,2,{"to":"+46708000012"}`,
		`{"a":"unterminated +46708000012`,
	} {
		got := r.body(in).(string)
		assert.NotContains(t, got, "46708000012", "input %q", in)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
