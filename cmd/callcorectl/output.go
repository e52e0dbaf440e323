package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// clean makes text from the node safe for a terminal: tabs, newlines and
// carriage returns become spaces, other control characters (escape
// sequences) and invalid UTF-8 become U+FFFD.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r) // invalid bytes are ranged as RuneError already
		}
	}
	return b.String()
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yesNo renders a bool for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// table writes aligned columns; cells are cleaned.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds one row.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(t.tw, "\t")
		}
		_, _ = io.WriteString(t.tw, clean(c))
	}
	_, _ = io.WriteString(t.tw, "\n")
}

// flush writes the table out.
func (t *table) flush() { _ = t.tw.Flush() }

// printRaw writes an API answer as it came, ending with a newline; an
// empty body prints nothing.
func printRaw(w io.Writer, body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	_, _ = w.Write(body)
	if body[len(body)-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// done prints a confirmation of a command without data (human mode only:
// with --json such commands print nothing).
func (c *cli) done(format string, args ...any) {
	if c.g.json {
		return
	}
	fmt.Fprintf(c.stdout, format+"\n", args...)
}
