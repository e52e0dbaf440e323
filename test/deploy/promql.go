package deploy

import (
	"fmt"
	"strings"
)

// selector is a metric used by a PromQL expression: its name and the label
// names its matchers test (`name{a="x",b=~"y"}` → name, [a b]).
type selector struct {
	name   string
	labels []string
}

// promqlWords are the identifiers of PromQL that are not metric names when
// they are not followed by "(": keywords, aggregation modifiers, binary
// operators and literals.
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
	// Aggregations may be followed by by/without before their "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListWords are followed by a parenthesised list of label names.
var labelListWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// selectors returns the metric selectors of a PromQL expression, in order,
// one per occurrence. It is a lexer, not a full parser: it skips strings,
// numbers and durations, range and subquery brackets, Grafana variables
// ($var, ${var}, [[var]]), function and aggregation names (an identifier
// followed by "("), keywords, and the label lists of by/without/on/
// ignoring/group_left/group_right; every other identifier is a metric name.
// A selector without a name ({__name__="x"}) is returned with the name
// given by its __name__ equality matcher, or not at all. It returns an
// error for unterminated strings, brackets or label sets.
func selectors(expr string) ([]selector, error) {
	l := lexer{s: expr}
	var out []selector
	for {
		l.skipSpace()
		if l.eof() {
			return out, nil
		}
		c := l.peek()
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := l.str(); err != nil {
				return nil, err
			}
		case c == '$':
			l.variable()
		case c == '[':
			if err := l.skipBrackets(); err != nil {
				return nil, err
			}
		case c == '{':
			// A selector without a metric name.
			sel, err := l.matchers()
			if err != nil {
				return nil, err
			}
			if sel.name != "" {
				out = append(out, sel)
			}
		case isDigit(c) || (c == '.' && l.pos+1 < len(l.s) && isDigit(l.s[l.pos+1])):
			l.number()
		case isNameChar(c, true):
			word := l.ident()
			l.skipSpace()
			next := byte(0)
			if !l.eof() {
				next = l.peek()
			}
			switch {
			case labelListWords[word] && next == '(':
				if err := l.skipParens(); err != nil {
					return nil, err
				}
			case next == '(' || promqlWords[word]:
				// A function or aggregation, or a keyword.
			default:
				sel := selector{name: word}
				if next == '{' {
					m, err := l.matchers()
					if err != nil {
						return nil, err
					}
					sel.labels = m.labels
				}
				out = append(out, sel)
			}
		default:
			l.pos++ // operators, parentheses, commas
		}
	}
}

// lexer walks a PromQL expression.
type lexer struct {
	s   string
	pos int
}

func (l *lexer) eof() bool  { return l.pos >= len(l.s) }
func (l *lexer) peek() byte { return l.s[l.pos] }

func (l *lexer) skipSpace() {
	for !l.eof() {
		switch l.peek() {
		case ' ', '\t', '\n', '\r':
			l.pos++
		case '#': // comment to the end of the line
			for !l.eof() && l.peek() != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

func (l *lexer) ident() string {
	start := l.pos
	for !l.eof() && isNameChar(l.peek(), l.pos == start) {
		l.pos++
	}
	return l.s[start:l.pos]
}

// number skips a number or duration literal (0.99, 1e-3, 0x1f, 5m, 1h30m).
func (l *lexer) number() {
	for !l.eof() {
		c := l.peek()
		if isDigit(c) || c == '.' || isNameChar(c, true) {
			l.pos++
			continue
		}
		if (c == '+' || c == '-') && l.pos > 0 && (l.s[l.pos-1] == 'e' || l.s[l.pos-1] == 'E') {
			l.pos++
			continue
		}
		return
	}
}

// variable skips a Grafana variable: $name, ${name...}.
func (l *lexer) variable() {
	l.pos++ // '$'
	if !l.eof() && l.peek() == '{' {
		for !l.eof() && l.peek() != '}' {
			l.pos++
		}
		if !l.eof() {
			l.pos++
		}
		return
	}
	for !l.eof() && isNameChar(l.peek(), false) {
		l.pos++
	}
}

// str reads a quoted string and returns its (unescaped enough) contents.
func (l *lexer) str() (string, error) {
	quote := l.peek()
	start := l.pos
	l.pos++
	var b strings.Builder
	for !l.eof() {
		c := l.peek()
		switch {
		case c == quote:
			l.pos++
			return b.String(), nil
		case c == '\\' && quote != '`':
			if l.pos+1 >= len(l.s) {
				return "", fmt.Errorf("promql: dangling escape in string at byte %d", start)
			}
			b.WriteByte(l.s[l.pos+1])
			l.pos += 2
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", fmt.Errorf("promql: unterminated string at byte %d", start)
}

// skipBrackets skips a range or subquery "[...]" (durations, Grafana
// variables; no nesting).
func (l *lexer) skipBrackets() error {
	start := l.pos
	end := strings.IndexByte(l.s[l.pos:], ']')
	if end < 0 {
		return fmt.Errorf("promql: unterminated '[' at byte %d", start)
	}
	l.pos += end + 1
	return nil
}

// skipParens skips a parenthesised label list "(a, b)".
func (l *lexer) skipParens() error {
	start := l.pos
	end := strings.IndexByte(l.s[l.pos:], ')')
	if end < 0 {
		return fmt.Errorf("promql: unterminated label list at byte %d", start)
	}
	l.pos += end + 1
	return nil
}

// matchers reads a label matcher set "{a="x", b!~"y"}" and returns the
// label names it tests; name is set from a __name__="x" matcher.
func (l *lexer) matchers() (selector, error) {
	start := l.pos
	l.pos++ // '{'
	var sel selector
	for {
		l.skipSpace()
		if l.eof() {
			return selector{}, fmt.Errorf("promql: unterminated label matchers at byte %d", start)
		}
		switch c := l.peek(); {
		case c == '}':
			l.pos++
			return sel, nil
		case c == ',':
			l.pos++
		case c == '"' || c == '\'' || c == '`':
			// A quoted metric name (Prometheus 3: {"name"}).
			v, err := l.str()
			if err != nil {
				return selector{}, err
			}
			sel.name = v
		case isLabelChar(c, true):
			label := l.ident()
			l.skipSpace()
			op := l.operator()
			if op == "" {
				return selector{}, fmt.Errorf("promql: label %q without a matching operator at byte %d", label, l.pos)
			}
			l.skipSpace()
			if l.eof() {
				return selector{}, fmt.Errorf("promql: label %q without a value at byte %d", label, l.pos)
			}
			if c := l.peek(); c != '"' && c != '\'' && c != '`' {
				return selector{}, fmt.Errorf("promql: label %q: value not quoted at byte %d", label, l.pos)
			}
			v, err := l.str()
			if err != nil {
				return selector{}, err
			}
			if label == "__name__" {
				if op == "=" {
					sel.name = v
				}
				continue
			}
			sel.labels = append(sel.labels, label)
		default:
			return selector{}, fmt.Errorf("promql: unexpected %q in label matchers at byte %d", c, l.pos)
		}
	}
}

// operator reads a matching operator: =, !=, =~ or !~.
func (l *lexer) operator() string {
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(l.s[l.pos:], op) {
			l.pos += len(op)
			return op
		}
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
