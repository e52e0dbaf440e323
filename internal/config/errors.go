package config

import (
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. [Load] and [Parse]
// return all problems of a file joined with errors.Join, sorted by line; use
// errors.As to get at the first one.
type Error struct {
	// File is the name given to Parse, or the path given to Load.
	File string
	// Line is the 1-based line of the offending key or value; 0 if unknown.
	Line int
	// Path locates the value, e.g. "apps[0].numbers[1]"; empty for problems
	// with the file as a whole.
	Path string
	// Reason says what is wrong.
	Reason string
}

// Error formats the problem as "FILE:LINE: PATH: reason". Control
// characters that came from the file (a key or tag holding a newline) are
// escaped, so that every problem stays on one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return oneLine(b.String())
}

// oneLine escapes control characters as strconv.Quote would, leaving
// everything else as it is.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
