package timeline

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Callback bodies and SVAML replies come from outside (customer backends):
// the rewriter must never panic, must bound its output, and must keep a
// valid JSON document valid.
func FuzzRedactBody(f *testing.F) {
	for _, s := range []string{
		`{"event":"ice","cli":"+46708000012","to":{"type":"number","endpoint":"+46701234567"},"cookies":[{"key":"a","value":"b"}]}`,
		`{"instructions":[{"name":"setCookie","key":"pin","value":"4711"},{"name":"say","text":"hi"}],"action":{"name":"hangup"}}`,
		`[{"cookies":[1,"x",{"value":{"k":"v"}}]},null,true,-1.5e3]`,
		`{"a":"\"+46708000012\\"}`,
		`{"cli":"+467`, `{"x":}`, `{`, `[`, `"`, `{"instructions":[{"name":`, `<html>+46708000012</html>`, ``,
	} {
		f.Add([]byte(s), uint16(64))
		f.Add([]byte(s), uint16(4096))
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		limit := int(max%8192) + 1
		r := &redactor{maxBody: limit}
		out := r.redactBody(in)
		body, note, truncated := strings.Cut(out, "…[truncated, ")
		if len(body) > limit {
			t.Fatalf("output %d bytes, limit %d", len(body), limit)
		}
		if truncated && !strings.HasSuffix(note, " bytes]") {
			t.Fatalf("bad truncation note %q", note)
		}
		if utf8.Valid(in) && !utf8.ValidString(body) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", body)
		}
		if !truncated && json.Valid(in) && !json.Valid([]byte(body)) {
			t.Fatalf("valid JSON in, invalid out:\n in %s\nout %s", in, body)
		}
		// Appended after other bytes (the encoder's buffers), the same.
		got, whole := r.appendRedactedBody([]byte("prefix"), in)
		if string(got) != "prefix"+out {
			t.Fatalf("appended after a prefix:\n%q\nwant\n%q", got, "prefix"+out)
		}
		if !whole && !truncated {
			t.Fatalf("cut without a note: %q", out)
		}
		// Known-valid JSON kept whole is stored as JSON: it must be.
		if json.Valid(in) {
			emb, isJSON := r.appendBody([]byte(`{"request":`), json.RawMessage(in))
			if isJSON && !json.Valid(append(emb, '}')) {
				t.Fatalf("embedded body is not JSON: %s", emb)
			}
			if isJSON && string(emb[len(`{"request":`):]) != out {
				t.Fatalf("embedded %q, text %q", emb, out)
			}
		}
	})
}

// Stored entries are read back from the shared store: decoding must never
// panic, and what it accepts encodes again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"t":1732183200123456,"n":"node-a","k":"sip","s":"received INVITE","d":{"cseq":1,"from":"+467******12"}}`))
	f.Add([]byte(`{"t":1,"n":"a","k":"error","s":"timeline truncated","d":{"truncated":true}}`))
	f.Add([]byte(`{"t":-1}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := decode(in)
		if err != nil {
			return
		}
		again, err := decode(encode(e))
		if err != nil {
			t.Fatalf("a decoded entry, encoded again, does not decode: %v", err)
		}
		if !again.T.Equal(e.T) || again.Summary != e.Summary || again.Kind != e.Kind || again.Node != e.Node || len(again.Data) != len(e.Data) {
			t.Fatalf("round trip changed the entry: %+v → %+v", e, again)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("decoded entry does not render: %v", err)
		}
	})
}

// URLs and free text are redacted on every entry: never a panic, and a
// masked number never grows back.
func FuzzRedactText(f *testing.F) {
	for _, s := range []string{"https://u:p@h/cb?token=x&y", "sip:+46708000012@gw", "+46708000012", "a+1234567b", "%zz://", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := &redactor{}
		if got := r.text(s); len(got) != len(s) {
			t.Fatalf("text changed the length: %q → %q", s, got)
		}
		if got := r.numberField(s); len(got) != len(s) {
			t.Fatalf("numberField changed the length: %q → %q", s, got)
		}
		_ = r.url(s)
	})
}
