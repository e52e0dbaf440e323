package config

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder maps a yaml.Node tree onto the Config struct strictly, recording
// the line of every key it sees so that validation errors can point at it.
type decoder struct {
	file  string
	errs  []*Error
	lines map[string]int // path → line of its key (or list item)
	bad   []string       // paths that failed to decode
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

// coreTags are the YAML tags a configuration value may carry. Custom tags
// and !!binary have no meaning here.
var coreTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!map": true, "!!seq": true,
}

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Reason: fmt.Sprintf(format, args...)})
	d.bad = append(d.bad, path)
}

// present reports whether the file had a key (or list item) at path.
func (d *decoder) present(path string) bool {
	_, ok := d.lines[path]
	return ok
}

// failed reports whether path, or a value that contains it, failed to
// decode.
func (d *decoder) failed(path string) bool {
	for _, b := range d.bad {
		if b == "" || path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

// lineOf returns the line of path or of its closest ancestor in the file.
func (d *decoder) lineOf(path string) int {
	for {
		if line, ok := d.lines[path]; ok {
			return line
		}
		if path == "" {
			return 1
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// decode stores node n into v, whose path in the file is path.
func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(path, n.Line, "anchors and aliases are not supported")
		return
	}
	if tag := n.ShortTag(); !coreTags[tag] {
		d.fail(path, n.Line, "tag %q is not supported", tag)
		return
	}
	if isNull(n) {
		return // absent value: the zero value, defaulted by normalize
	}

	if v.Type() == durationType || reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n.Line, "expected a single value, got %s", kindName(n))
			return
		}
		if v.Type() == durationType {
			dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
			if err != nil {
				d.fail(path, n.Line, "invalid duration %s (want e.g. 10m or 90s)", quote(n.Value))
				return
			}
			v.SetInt(int64(dur))
			return
		}
		u, ok := v.Addr().Interface().(encoding.TextUnmarshaler)
		if !ok {
			d.fail(path, n.Line, "internal error: %s is not a TextUnmarshaler", v.Type())
			return
		}
		if err := u.UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, n.Line, "%v", err)
		}
		return
	}

	switch v.Kind() {
	case reflect.Struct:
		d.mapping(path, n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			child := path + "[" + strconv.Itoa(i) + "]"
			d.lines[child] = item.Line
			d.decode(child, item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		d.mapOf(path, n, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n.Line, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		i, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 32)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(path, n.Line, "expected a whole number, got %s", quote(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		// YAML 1.2 booleans only: "yes"/"on" are refused rather than guessed.
		switch strings.TrimSpace(n.Value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(path, n.Line, "expected true or false, got %s", quote(n.Value))
		}
	default:
		d.fail(path, n.Line, "internal error: unsupported field type %s", v.Type())
	}
}

// mapping stores a YAML mapping into struct v, rejecting unknown and
// duplicate keys.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	fields := make(map[string]int, t.NumField())
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode || k.Anchor != "" {
			d.fail(path, k.Line, "anchors and aliases are not supported")
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		child := joinPath(path, k.Value)
		if k.ShortTag() == "!!merge" {
			d.fail(child, k.Line, "merge keys are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(child, k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.fail(child, k.Line, "unknown key (want one of: %s)", strings.Join(names, ", "))
			continue
		}
		d.lines[child] = k.Line
		d.decode(child, val, v.Field(idx))
	}
}

// mapOf stores a YAML mapping into a map with string keys (free-form
// names such as HTTP headers), rejecting duplicate and non-string keys.
func (d *decoder) mapOf(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(path, n.Line, "internal error: unsupported map key type %s", v.Type().Key())
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode || k.Anchor != "" {
			d.fail(path, k.Line, "anchors and aliases are not supported")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.fail(path, k.Line, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		child := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(child, k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[child] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(child, val, elem)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// joinPath appends a key to a path, quoting keys that are not plain
// identifiers so that an error message stays on one line.
func joinPath(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !plain {
		key = quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	default:
		return "an alias"
	}
}

// checkText rejects bytes YAML does not allow (invalid UTF-8, control
// characters), with the line they are on; yaml.v3 reports these without one.
func checkText(name string, data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return &Error{File: name, Line: line, Reason: "invalid UTF-8"}
		case r == '\n':
			line++
		case r == '\t' || r == '\r':
		case r == '\uFEFF' && i == 0: // byte order mark
		case r < 0x20 || r >= 0x7F && r < 0xA0 || r == '\uFEFF' || r == '\uFFFE' || r == '\uFFFF':
			return &Error{File: name, Line: line, Reason: fmt.Sprintf("control character %U is not allowed", r)}
		}
		i += size
	}
	return nil
}

// yamlLine matches yaml.v3 syntax errors that carry a line number.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into an *Error.
//
// yaml.v3 prints scanner errors with a 1-based line but parser errors ("did
// not find expected ...") with the 0-based line of the enclosing block, and
// drops the line entirely when it is 0. This undoes both quirks.
func yamlError(name string, err error) error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, convErr := strconv.Atoi(m[1])
		if convErr == nil {
			line = n
			if isParserError(m[2]) {
				line++
			}
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{File: name, Line: line, Reason: "invalid YAML: " + msg}
}

func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
