package svaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// addSeeds adds every testdata document to the corpus with the context of its
// file name prefix.
func addSeeds(f *testing.F, add func(ctx Context, data []byte)) {
	f.Helper()
	prefixes := map[string]Context{
		"any": ContextUnknown, "ice": ContextICE, "ace": ContextACE, "pie": ContextPIE,
		"dice": ContextDiCE, "patch": ContextPatchCall, "bench": ContextICE,
	}
	paths, err := filepath.Glob("testdata/*/*.json")
	require.NoError(f, err)
	more, err := filepath.Glob("testdata/*.json")
	require.NoError(f, err)
	for _, p := range append(paths, more...) {
		if strings.Contains(p, "canonical") {
			continue
		}
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		prefix, _, _ := strings.Cut(filepath.Base(p), "_")
		add(prefixes[prefix], data)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f, func(ctx Context, data []byte) { f.Add(uint8(ctx), data) })
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		ctx := Context(c % 6)
		r, err := Parse(ctx, data)
		if err != nil {
			require.Nil(t, r)
			checkError(t, err)
			// The scanner accepts exactly the documents encoding/json accepts,
			// apart from its documented differences: a leading BOM, invalid
			// UTF-8 and nesting deeper than maxDepth.
			if utf8.Valid(data) && !bytes.HasPrefix(data, bom[:]) && !strings.Contains(err.Error(), "nesting deeper") {
				require.Equal(t, json.Valid(data), !errors.Is(err, ErrSyntax), "syntax verdict differs from encoding/json: %v", err)
			}
			return
		}
		require.NotNil(t, r.Action)
		if utf8.Valid(data) && !bytes.HasPrefix(data, bom[:]) {
			require.True(t, json.Valid(data))
		}

		// Canonical round trip.
		out, err := json.Marshal(r)
		require.NoError(t, err)
		again, err := Parse(ctx, out)
		require.NoError(t, err, "canonical form %s does not parse", out)
		require.Equal(t, r, again)
		out2, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(out), string(out2))

		// ContextUnknown accepts a superset.
		loose, err := Parse(ContextUnknown, data)
		require.NoError(t, err)
		require.Equal(t, r, loose)
	})
}

// checkError checks the shape of an error returned by Parse.
func checkError(t *testing.T, err error) {
	t.Helper()
	var list []*ValidationError
	switch e := err.(type) { //nolint:errorlint // checking the concrete type on purpose
	case *ValidationError:
		list = []*ValidationError{e}
	case ValidationErrors:
		require.Greater(t, len(e), 1)
		require.LessOrEqual(t, len(e), maxErrors+1)
		list = e
	default:
		t.Fatalf("unexpected error type %T", err)
	}
	for _, ve := range list {
		require.NotEmpty(t, ve.Reason)
		require.True(t, errors.Is(ve, ErrSyntax) || errors.Is(ve, ErrInvalid) ||
			errors.Is(ve, ErrUnknownName) || errors.Is(ve, ErrNotAllowed))
		if errors.Is(ve, ErrSyntax) {
			require.Len(t, list, 1, "a syntax error is returned alone")
			require.GreaterOrEqual(t, ve.Offset, 0)
		} else {
			require.Equal(t, -1, ve.Offset)
		}
	}
}

func FuzzParsePrompts(f *testing.F) {
	for _, s := range []string{
		"", "#tts[Hello]", "#ssml[<speak>a [b] c</speak>];#tts[x]", "#href[https://x/y]",
		"https://a/b.mp3;file_1", " ; #tts[a;b] ;", "#tts[", "#tts[a]]", "#x[", "#", "#TTS[a];#Href[http://q]",
		`#tts[Hello from Sinch];#ssml[<speak><break time="250ms"/>Have a great day!</speak>]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrompts(s)
		if err != nil {
			var pe *PromptError
			require.ErrorAs(t, err, &pe)
			require.GreaterOrEqual(t, pe.Offset, 0)
			require.LessOrEqual(t, pe.Offset, len(s))
			return
		}
		parts := make([]string, 0, len(ps))
		for _, p := range ps {
			require.NotEmpty(t, p.Value)
			switch p.Kind {
			case PromptTTS:
				parts = append(parts, "#tts["+p.Value+"]")
			case PromptSSML:
				parts = append(parts, "#ssml["+p.Value+"]")
			case PromptURL:
				require.True(t, isHTTPURL(p.Value))
				if balanced(p.Value) {
					parts = append(parts, "#href["+p.Value+"]")
				} else {
					parts = append(parts, p.Value)
				}
			case PromptFile:
				require.NotContains(t, p.Value, ";")
				require.NotEqual(t, byte('#'), p.Value[0])
				parts = append(parts, p.Value)
			default:
				t.Fatalf("prompt kind %v", p.Kind)
			}
		}
		again, err := ParsePrompts(strings.Join(parts, ";"))
		require.NoError(t, err)
		require.Equal(t, ps, again)
	})
}

// balanced reports whether the brackets of s balance.
func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// FuzzScanner decodes arbitrary JSON with the package's scanner into generic
// values and compares them with encoding/json.
func FuzzScanner(f *testing.F) {
	addSeeds(f, func(_ Context, data []byte) { f.Add(data) })
	for _, s := range []string{
		`"\ud83d\ude00"`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud800\ud800\udc00"`, `"\u00e9\/\b"`,
		`-0.5e-3`, `[1,2,[3,{"a":null}]]`, `{"a":1,"a":2}`, ` {"A" : [ true , false ] } `, `1e999`, `"\u0000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		got, err := scanAny(data)
		if err != nil && strings.Contains(err.Error(), "nesting deeper") {
			return // encoding/json allows deeper nesting
		}
		valid := json.Valid(data)
		require.Equal(t, valid, err == nil, "scanner err=%v", err)
		if !valid {
			require.ErrorIs(t, err, ErrSyntax)
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		require.NoError(t, dec.Decode(&want))
		require.Equal(t, want, got)
	})
}

// scanAny decodes one JSON document into generic values (maps, slices,
// json.Number, strings, bools, nil) with the package scanner.
func scanAny(data []byte) (v any, err error) {
	d := &decoder{data: data, src: string(data)}
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(syntaxPanic)
			if !ok {
				panic(r)
			}
			err = p.err
		}
	}()
	v = d.anyValue()
	d.end()
	return v, nil
}

func (d *decoder) anyValue() any {
	switch c := d.next(); c {
	case '{':
		m := map[string]any{}
		d.enter()
		d.pos++
		for first := true; d.more(&first, '}'); {
			if d.next() != '"' {
				d.unexpected("key")
			}
			k := string(d.readKey())
			if d.next() != ':' {
				d.unexpected("':'")
			}
			d.pos++
			m[k] = d.anyValue()
		}
		d.leave()
		return m
	case '[':
		s := []any{}
		d.enter()
		d.pos++
		for first := true; d.more(&first, ']'); {
			s = append(s, d.anyValue())
		}
		d.leave()
		return s
	case '"':
		return d.readString()
	case 't':
		d.literal("true")
		return true
	case 'f':
		d.literal("false")
		return false
	case 'n':
		d.literal("null")
		return nil
	default:
		if c == '-' || isDigit(c) {
			start, end, _ := d.number()
			return json.Number(d.src[start:end])
		}
		d.unexpected("a value")
		return nil
	}
}
