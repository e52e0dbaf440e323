package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// exposition is a parsed Prometheus text exposition (format 0.0.4): every
// sample's name, labels and value.
type exposition struct {
	samples map[string][]sample
}

// sample is one line of an exposition.
type sample struct {
	labels map[string]string
	value  float64
}

// names lists the sample names, sorted.
func (e *exposition) names() []string {
	out := make([]string, 0, len(e.samples))
	for n := range e.samples {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// has reports whether a sample called name exists.
func (e *exposition) has(name string) bool { return len(e.samples[name]) > 0 }

// hasLabel reports whether some sample called name carries label.
func (e *exposition) hasLabel(name, label string) bool {
	for _, s := range e.samples[name] {
		if _, ok := s.labels[label]; ok {
			return true
		}
	}
	return false
}

// value sums the samples called name whose labels include want (nil: all).
func (e *exposition) value(name string, want map[string]string) float64 {
	var sum float64
next:
	for _, s := range e.samples[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum += s.value
	}
	return sum
}

// scrape reads url as a Prometheus text exposition.
func scrape(ctx context.Context, url string) (*exposition, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, res.Status)
	}
	return parseExposition(res.Body)
}

// parseExposition parses the Prometheus text format: comment lines (HELP,
// TYPE) and blank lines are skipped, every other line must be a sample
// `name{label="value",...} value [timestamp]`.
func parseExposition(r io.Reader) (*exposition, error) {
	e := &exposition{samples: map[string][]sample{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, s, err := parseSample(text)
		if err != nil {
			return nil, fmt.Errorf("exposition line %d: %w", line, err)
		}
		e.samples[name] = append(e.samples[name], s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("exposition: %w", err)
	}
	return e, nil
}

var errSample = errors.New("malformed sample")

// parseSample parses one sample line.
func parseSample(line string) (string, sample, error) {
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return "", sample{}, fmt.Errorf("%w: no metric name in %q", errSample, line)
	}
	name := line[:i]
	s := sample{labels: map[string]string{}}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		n, err := parseLabels(rest, s.labels)
		if err != nil {
			return "", sample{}, fmt.Errorf("%w: %v in %q", errSample, err, line)
		}
		rest = rest[n:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return "", sample{}, fmt.Errorf("%w: want a value and an optional timestamp in %q", errSample, line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", sample{}, fmt.Errorf("%w: value: %v", errSample, err)
	}
	s.value = v
	return name, s, nil
}

// parseLabels parses `{a="x",b="y"}` at the start of s into into and
// returns how many bytes it took.
func parseLabels(s string, into map[string]string) (int, error) {
	i := 1 // past '{'
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return 0, errors.New("unterminated label set")
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		start := i
		for i < len(s) && isLabelChar(s[i], i == start) {
			i++
		}
		if i == start {
			return 0, fmt.Errorf("bad label name at byte %d", i)
		}
		label := s[start:i]
		if i >= len(s) || s[i] != '=' {
			return 0, fmt.Errorf("no '=' after label %q", label)
		}
		i++
		if i >= len(s) || s[i] != '"' {
			return 0, fmt.Errorf("label %q: value not quoted", label)
		}
		i++
		var v strings.Builder
		for {
			if i >= len(s) {
				return 0, fmt.Errorf("label %q: unterminated value", label)
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c == '\\' {
				if i+1 >= len(s) {
					return 0, fmt.Errorf("label %q: dangling escape", label)
				}
				switch s[i+1] {
				case 'n':
					v.WriteByte('\n')
				case '\\', '"':
					v.WriteByte(s[i+1])
				default:
					return 0, fmt.Errorf("label %q: bad escape \\%c", label, s[i+1])
				}
				i += 2
				continue
			}
			v.WriteByte(c)
			i++
		}
		into[label] = v.String()
	}
}

// isNameChar: metric names are [a-zA-Z_:][a-zA-Z0-9_:]*.
func isNameChar(c byte, first bool) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || (!first && '0' <= c && c <= '9')
}

// isLabelChar: label names are [a-zA-Z_][a-zA-Z0-9_]*.
func isLabelChar(c byte, first bool) bool {
	return c != ':' && isNameChar(c, first)
}
