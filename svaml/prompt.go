package svaml

import (
	"strconv"
	"strings"
)

// PromptKind is the kind of one prompt of a prompt string.
type PromptKind int

// Prompt kinds.
const (
	// PromptUnknown is the zero value; ParsePrompts never produces it.
	PromptUnknown PromptKind = iota
	// PromptTTS is #tts[text]: text-to-speech in the locale of the action.
	PromptTTS
	// PromptSSML is #ssml[<speak>...</speak>].
	PromptSSML
	// PromptURL is #href[https://...] or a bare http(s) URL.
	PromptURL
	// PromptFile is a pre-recorded file id (any other plain text).
	PromptFile
)

// String returns "tts", "ssml", "url", "file" or "unknown".
func (k PromptKind) String() string {
	switch k {
	case PromptTTS:
		return "tts"
	case PromptSSML:
		return "ssml"
	case PromptURL:
		return "url"
	case PromptFile:
		return "file"
	default:
		return "unknown"
	}
}

// Prompt is one part of a prompt string.
type Prompt struct {
	// Kind is the prompt kind.
	Kind PromptKind
	// Value is the text, SSML, URL or file id, without the #xxx[...] wrapper.
	Value string
}

// ParsePrompts splits a prompt string (reference §5.5) into its prompts.
//
// Grammar and choices:
//   - Parts are separated by ';' and played back to back. A ';' inside the
//     brackets of #tts[...], #ssml[...] or #href[...] is content, not a
//     separator. Brackets inside the content must balance: the prompt ends at
//     the ']' that closes its '[' ("#ssml[<speak>a [b] c</speak>]" is one
//     prompt). Text after that ']' other than spaces before the next ';' is an
//     error.
//   - The tags tts, ssml and href match without regard to case. A part that
//     starts with '#' must be one of them; "#foo[...]" is an error.
//   - Empty content (#tts[]) is an error. #href[...] must hold an http:// or
//     https:// URL.
//   - A plain part that starts with http:// or https:// (any case) is a
//     PromptURL; any other plain part is a PromptFile id. Plain parts cannot
//     contain ';' (use #href[...] for URLs with ';').
//   - Spaces, tabs and line breaks around parts are ignored, and so are empty
//     parts: "#tts[a];;#tts[b];" is two prompts and "" is none.
//
// Errors are *PromptError values carrying the byte offset of the problem.
func ParsePrompts(s string) ([]Prompt, error) {
	var out []Prompt
	for i := 0; i < len(s); {
		p, next, err := nextPrompt(s, i)
		if err != nil {
			return nil, err
		}
		if p.Kind != PromptUnknown {
			out = append(out, p)
		}
		i = next
	}
	return out, nil
}

// isSpace reports whether c is ignorable whitespace around a prompt part.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix p,
// ignoring case.
func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// isHTTPURL reports whether s starts with http:// or https:// (any case) and
// has something after the scheme.
func isHTTPURL(s string) bool {
	switch {
	case hasPrefixFold(s, "http://"):
		return len(s) > len("http://")
	case hasPrefixFold(s, "https://"):
		return len(s) > len("https://")
	}
	return false
}

// nextPrompt parses the part of s that starts at byte i. It returns the prompt
// (Kind PromptUnknown for an empty part) and the index just after the part and
// its ';' separator. It never allocates, except for the error.
func nextPrompt(s string, i int) (Prompt, int, *PromptError) {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return Prompt{}, i, nil
	}
	if s[i] == ';' {
		return Prompt{}, i + 1, nil
	}
	start := i
	if s[i] != '#' {
		end := strings.IndexByte(s[i:], ';')
		next := len(s)
		if end < 0 {
			end = len(s)
		} else {
			end += i
			next = end + 1
		}
		for end > start && isSpace(s[end-1]) {
			end--
		}
		v := s[start:end]
		if isHTTPURL(v) {
			return Prompt{Kind: PromptURL, Value: v}, next, nil
		}
		return Prompt{Kind: PromptFile, Value: v}, next, nil
	}

	// #tag[content]
	j := i + 1
	for j < len(s) && (s[j]|0x20 >= 'a' && s[j]|0x20 <= 'z') {
		j++
	}
	var kind PromptKind
	var tag string
	switch {
	case j < len(s) && s[j] == '[' && strings.EqualFold(s[i+1:j], "tts"):
		kind, tag = PromptTTS, "#tts["
	case j < len(s) && s[j] == '[' && strings.EqualFold(s[i+1:j], "ssml"):
		kind, tag = PromptSSML, "#ssml["
	case j < len(s) && s[j] == '[' && strings.EqualFold(s[i+1:j], "href"):
		kind, tag = PromptURL, "#href["
	case j < len(s) && s[j] == '[' && j > i+1:
		return Prompt{}, 0, &PromptError{Offset: start, Reason: "unknown prompt type " + strconv.Quote(s[i:j+1])}
	default:
		return Prompt{}, 0, &PromptError{Offset: start, Reason: `stray "#", want #tts[, #ssml[ or #href[`}
	}
	contentStart := j + 1
	depth := 1
	k := contentStart
	for ; k < len(s); k++ {
		if s[k] == '[' {
			depth++
		} else if s[k] == ']' {
			depth--
			if depth == 0 {
				break
			}
		}
	}
	if depth != 0 {
		return Prompt{}, 0, &PromptError{Offset: start, Reason: "unterminated " + tag + " prompt"}
	}
	v := s[contentStart:k]
	if v == "" {
		return Prompt{}, 0, &PromptError{Offset: start, Reason: "empty " + tag + "] prompt"}
	}
	if kind == PromptURL && !isHTTPURL(v) {
		return Prompt{}, 0, &PromptError{Offset: start, Reason: "#href[ needs an http:// or https:// URL"}
	}
	k++ // past ']'
	for k < len(s) && isSpace(s[k]) {
		k++
	}
	switch {
	case k == len(s):
	case s[k] == ';':
		k++
	default:
		return Prompt{}, 0, &PromptError{Offset: k, Reason: "unexpected text after " + tag + "...]"}
	}
	return Prompt{Kind: kind, Value: v}, k, nil
}
