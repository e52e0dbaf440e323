package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// noControl fails if out holds a control character other than newline:
// nothing the node sends may reach a terminal as an escape sequence.
func noControl(t *testing.T, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && unicode.IsControl(r) {
			t.Fatalf("control character %U in output %q", r, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8 in output %q", out)
	}
}

// The profile file parser never panics and never quotes a value in its
// errors.
func FuzzParseProfiles(f *testing.F) {
	f.Add([]byte("default: {url: \"http://127.0.0.1:8080\", key: k, secret: cw==}\n"))
	f.Add([]byte("prod:\n  url: https://x\n  key: k\n  secret: s\n"))
	f.Add([]byte(""))
	f.Add([]byte("~\n"))
	f.Add([]byte("default: [a, b]\n"))
	f.Add([]byte("default: {sekret: x}\n"))
	f.Add([]byte("\"\": {}\n"))
	f.Add([]byte("a: &x {key: k}\nb: *x\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := parseProfiles(data)
		if err != nil {
			if ps != nil {
				t.Fatal("profiles with an error")
			}
			return
		}
		for name := range ps {
			if name == "" {
				t.Fatal("empty profile name accepted")
			}
		}
	})
}

// Any timeline answer either fails to decode or renders to clean text,
// and rendering the same answer twice prints nothing the second time.
func FuzzTimeline(f *testing.F) {
	f.Add([]byte(timelineBody(len(timelineEntries))))
	f.Add([]byte(`{"callId":"x","entries":[]}`))
	f.Add([]byte(`{"callId":"x\u001b[2J","entries":[{"t":"bad","node":"\u0007","kind":"k","summary":"a\nb","data":{"x":"\u001b"}}]}`))
	f.Add([]byte(`{"entries":[{"t":"2026-03-01T12:00:00Z"},{"t":"2025-03-01T12:00:00.5+02:00"}]}`))
	f.Add([]byte(`{"entries":[1]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tl, err := decodeTimeline(data)
		if err != nil {
			return
		}
		for _, wide := range []bool{false, true} {
			var out bytes.Buffer
			r := newTimelineRenderer(&out, wide, false)
			n := r.add(tl)
			if n != len(tl.Entries) {
				t.Fatalf("printed %d of %d entries", n, len(tl.Entries))
			}
			noControl(t, out.String())
			if r.add(tl) != 0 {
				t.Fatal("entries printed twice")
			}
		}
		var out bytes.Buffer
		newTimelineRenderer(&out, false, true).add(tl)
		if got := strings.Count(out.String(), "\n"); got != len(tl.Entries) {
			t.Fatalf("%d JSON lines for %d entries", got, len(tl.Entries))
		}
	})
}

// Any error answer becomes a one-line message without control
// characters.
func FuzzAPIError(f *testing.F) {
	f.Add(404, []byte(`{"errorCode":40400,"message":"Call not found","reference":"r-1"}`))
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(500, []byte(""))
	f.Add(400, []byte("{\"message\":\"a\\nb\\u001b[31m\"}"))
	f.Add(503, []byte{0xff, 0xfe, '\n'})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		msg := parseAPIError(status, body).Error()
		noControl(t, msg)
		if strings.Contains(msg, "\n") {
			t.Fatalf("multi-line message %q", msg)
		}
	})
}

// Interspersed flag parsing keeps the positional arguments in order and
// never panics.
func FuzzParseInterspersed(f *testing.F) {
	f.Add("call\x00get\x00ID\x00--json")
	f.Add("--json\x00--\x00--x\x00y")
	f.Add("a\x00--interval\x005ms\x00b")
	f.Add("--interval")
	f.Add("-\x00--")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("json", false, "")
		fs.Duration("interval", 0, "")
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return
		}
		// Every positional argument is one of args, in order.
		i := 0
		for _, p := range pos {
			for i < len(args) && args[i] != p {
				i++
			}
			if i == len(args) {
				t.Fatalf("positional %q not in %q in order", p, args)
			}
			i++
		}
	})
}
