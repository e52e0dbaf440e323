package media

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSSML means an SSML prompt is not well-formed XML (or holds a
// DOCTYPE or another <!...> declaration, or nests too deeply).
var ErrInvalidSSML = errors.New("media: invalid SSML")

// maxSSMLDepth bounds element nesting.
const maxSSMLDepth = 64

// maxBreak caps one <break time>, as Amazon Polly does.
const maxBreak = 10 * time.Second

// NormalizeSSML checks that an SSML prompt is well-formed XML and returns
// it with a <speak> root: a document whose only element is <speak> (after
// an optional XML declaration, comments and white space) is returned
// trimmed; anything else (a bare fragment such as `Hello <break
// time="1s"/> there`) is wrapped in <speak>...</speak> and checked again.
// Entities other than XML's five and numeric references, DOCTYPE and other
// declarations, and nesting deeper than 64 elements fail with
// ErrInvalidSSML, with the line and the reason.
func NormalizeSSML(doc string) (string, error) {
	doc = strings.TrimSpace(doc)
	rooted, err := checkSSML(doc)
	if err != nil && !errors.Is(err, errNoSpeakRoot) {
		return "", err
	}
	if rooted {
		return doc, nil
	}
	body := doc
	if strings.HasPrefix(body, "<?xml") {
		if end := strings.Index(body, "?>"); end >= 0 {
			body = body[end+2:]
		}
	}
	wrapped := "<speak>" + body + "</speak>"
	if _, err := checkSSML(wrapped); err != nil {
		return "", err
	}
	return wrapped, nil
}

var errNoSpeakRoot = errors.New("no <speak> root")

// checkSSML parses doc and reports whether its only top-level element is
// <speak>. A well-formed fragment without that root returns false and
// errNoSpeakRoot.
func checkSSML(doc string) (bool, error) {
	d := newSSMLDecoder(doc)
	depth, roots, speakRoot, strayText := 0, 0, false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, ssmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				speakRoot = t.Name.Local == "speak"
			}
			depth++
			if depth > maxSSMLDepth {
				return false, fmt.Errorf("%w: elements nested deeper than %d", ErrInvalidSSML, maxSSMLDepth)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				strayText = true
			}
		case xml.Directive:
			return false, fmt.Errorf("%w: line %d: <!%s> declarations are not allowed", ErrInvalidSSML, lineOf(doc, d.InputOffset()), firstWord(string(t)))
		}
	}
	if depth != 0 {
		return false, fmt.Errorf("%w: unclosed element at the end", ErrInvalidSSML)
	}
	if roots == 1 && speakRoot && !strayText {
		return true, nil
	}
	return false, errNoSpeakRoot
}

func newSSMLDecoder(doc string) *xml.Decoder {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	return d
}

func ssmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: line %d: %s", ErrInvalidSSML, se.Line, se.Msg)
	}
	return fmt.Errorf("%w: %v", ErrInvalidSSML, err)
}

func lineOf(doc string, off int64) int {
	return strings.Count(doc[:min(int(off), len(doc))], "\n") + 1
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return printable([]byte(f[0][:min(len(f[0]), 16)]))
}

// Attribute values espeak-ng understands, checked before they are passed
// on; anything else is dropped.
var (
	ssmlBreakTime   = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\s*$`)
	ssmlStrength    = map[string]bool{"none": true, "x-weak": true, "weak": true, "medium": true, "strong": true, "x-strong": true}
	ssmlRateWords   = map[string]bool{"x-slow": true, "slow": true, "medium": true, "fast": true, "x-fast": true, "default": true}
	ssmlPitchWords  = map[string]bool{"x-low": true, "low": true, "medium": true, "high": true, "x-high": true, "default": true}
	ssmlVolumeWords = map[string]bool{"silent": true, "x-soft": true, "soft": true, "medium": true, "loud": true, "x-loud": true, "default": true}
	ssmlPercent     = regexp.MustCompile(`^[+-]?[0-9]{1,4}(?:\.[0-9]+)?%$`)
	ssmlDecibels    = regexp.MustCompile(`^[+-]?[0-9]{1,3}(?:\.[0-9]+)?dB$`)
	ssmlEmphasis    = map[string]bool{"strong": true, "moderate": true, "none": true, "reduced": true}
)

// sayAs modes of the espeak-ng pre-pass.
const (
	sayNormal = iota
	sayDigits
	sayCharacters
)

// espeakSSML rewrites a normalized SSML document (see NormalizeSSML) into
// the subset espeak-ng renders as Amazon Polly and Sinch document it, and
// into nothing else:
//
//   - <break time="1s"/> (ms or s, capped at 10 s) and <break
//     strength="..."/> pass through; espeak-ng renders both;
//   - <prosody> keeps rate (x-slow...x-fast or a percentage: "50%" is half
//     speed), pitch and volume when their values are valid;
//   - <say-as interpret-as="digits"> (and "telephone") becomes the digits
//     separated by spaces, which espeak-ng reads one by one (its own
//     say-as does not know "digits"); "characters" and "spell-out" become
//     espeak-ng's <say-as interpret-as="characters">; other say-as types
//     are read as plain text;
//   - <sub alias="..."> is replaced by its alias;
//   - <emphasis>, <p>, <s> stay; every other element (<audio>, <voice>,
//     <lang>, <phoneme>, <mark>, <amazon:...>) is removed and its text
//     kept, so that the prompt can neither switch espeak-ng's voice nor
//     make it open a file;
//   - attributes of <speak> (xml:lang) are dropped: the locale decides the
//     voice.
func espeakSSML(doc string) (string, error) {
	doc, err := NormalizeSSML(doc)
	if err != nil {
		return "", err
	}
	d := newSSMLDecoder(doc)
	var (
		b     strings.Builder
		stack []string // closing tag to write for each open element ("" for none)
		modes []int    // say-as mode per open element
		skip  int      // depth inside a <sub> whose text is replaced
	)
	b.Grow(len(doc) + 16)
	mode := func() int {
		if len(modes) == 0 {
			return sayNormal
		}
		return modes[len(modes)-1]
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", ssmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			m := mode()
			if skip > 0 {
				skip++
				stack, modes = append(stack, ""), append(modes, m)
				continue
			}
			closing := ""
			switch t.Name.Local {
			case "speak":
				if len(stack) == 0 {
					b.WriteString("<speak>")
					closing = "</speak>"
				}
			case "break":
				b.WriteString("<break")
				if v, ok := ssmlAttr(t, "time"); ok {
					if ms, ok := breakMillis(v); ok {
						fmt.Fprintf(&b, ` time="%dms"`, ms)
					}
				}
				if v, ok := ssmlAttr(t, "strength"); ok && ssmlStrength[v] {
					fmt.Fprintf(&b, ` strength="%s"`, v)
				}
				b.WriteString(">")
				closing = "</break>"
			case "prosody":
				b.WriteString("<prosody")
				if v, ok := ssmlAttr(t, "rate"); ok && (ssmlRateWords[v] || ssmlPercent.MatchString(v)) {
					fmt.Fprintf(&b, ` rate="%s"`, v)
				}
				if v, ok := ssmlAttr(t, "pitch"); ok && (ssmlPitchWords[v] || ssmlPercent.MatchString(v)) {
					fmt.Fprintf(&b, ` pitch="%s"`, v)
				}
				if v, ok := ssmlAttr(t, "volume"); ok && (ssmlVolumeWords[v] || ssmlDecibels.MatchString(v)) {
					fmt.Fprintf(&b, ` volume="%s"`, v)
				}
				b.WriteString(">")
				closing = "</prosody>"
			case "emphasis":
				b.WriteString("<emphasis")
				if v, ok := ssmlAttr(t, "level"); ok && ssmlEmphasis[v] {
					fmt.Fprintf(&b, ` level="%s"`, v)
				}
				b.WriteString(">")
				closing = "</emphasis>"
			case "p", "s":
				b.WriteString("<" + t.Name.Local + ">")
				closing = "</" + t.Name.Local + ">"
			case "say-as":
				v, _ := ssmlAttr(t, "interpret-as")
				switch v {
				case "digits", "telephone":
					m = sayDigits
				case "characters", "spell-out":
					m = sayCharacters
					b.WriteString(`<say-as interpret-as="characters">`)
					closing = "</say-as>"
				default:
					m = sayNormal
				}
			case "sub":
				if alias, ok := ssmlAttr(t, "alias"); ok {
					b.WriteString(ssmlEscaper.Replace(" " + alias + " "))
					skip = 1
				}
			}
			stack, modes = append(stack, closing), append(modes, m)
		case xml.EndElement:
			n := len(stack) - 1
			if n < 0 {
				return "", fmt.Errorf("%w: unbalanced </%s>", ErrInvalidSSML, t.Name.Local)
			}
			b.WriteString(stack[n])
			stack, modes = stack[:n], modes[:n]
			if skip > 0 {
				skip--
			}
		case xml.CharData:
			if skip > 0 {
				continue
			}
			text := string(t)
			if mode() == sayDigits {
				text = spaceDigits(text)
			}
			b.WriteString(ssmlEscaper.Replace(text))
		}
	}
	return b.String(), nil
}

// ssmlEscaper escapes text content (xml.EscapeText would also turn line
// breaks into character references).
var ssmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// ssmlAttr returns the value of the attribute with the local name.
func ssmlAttr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return strings.TrimSpace(a.Value), true
		}
	}
	return "", false
}

// breakMillis parses a break time ("1s", "250ms", "1.5s"), capped at
// maxBreak.
func breakMillis(v string) (int64, bool) {
	m := ssmlBreakTime.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	if m[2] == "s" {
		f *= 1000
	}
	return int64(min(f, float64(maxBreak.Milliseconds()))), true
}

// spaceDigits puts a space between adjacent digits, so that "1234" is read
// "one two three four".
func spaceDigits(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	prevDigit := false
	for _, r := range s {
		digit := r >= '0' && r <= '9'
		if digit && prevDigit {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prevDigit = digit
	}
	return b.String()
}
