package record

import (
	"fmt"
	"strconv"
	"strings"
)

// Format is a recording file format.
type Format string

// The recording formats of startRecording's options.format.
const (
	FormatMP3 Format = "mp3" // MPEG-2 Layer III, 24 kHz (see Start)
	FormatWAV Format = "wav" // RIFF/WAVE, PCM 16-bit, 8 kHz
)

// DefaultFormat is the format when startRecording names none (reference
// §6.2: "mp3").
const DefaultFormat = FormatMP3

// ParseFormat maps startRecording's options.format to a Format: "" is
// DefaultFormat; "mp3" and "wav" are accepted in any letter case. Anything
// else is an error naming the accepted values.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "":
		return DefaultFormat, nil
	case "mp3":
		return FormatMP3, nil
	case "wav":
		return FormatWAV, nil
	}
	return "", fmt.Errorf("record: format %q is not supported (use \"mp3\" or \"wav\")", s)
}

// Ext is the file name extension without the dot: "mp3" or "wav".
func (f Format) Ext() string {
	if f == FormatWAV {
		return "wav"
	}
	return "mp3"
}

// ContentType is the media type of the format: audio/mpeg or audio/wav.
func (f Format) ContentType() string {
	if f == FormatWAV {
		return "audio/wav"
	}
	return "audio/mpeg"
}

func (f Format) valid() bool { return f == FormatMP3 || f == FormatWAV }

// maxNameCallID bounds the call-id part of a generated name, so that a name
// stays well under file-system and S3 key limits.
const maxNameCallID = 100

// Name is the file name of the seq-th recording of a call:
// "<callID>-<seq>.<ext>", e.g. "3f2a...-1.mp3". Characters of callID other
// than ASCII letters, digits, '-' and '_' become '_', it is cut to 100
// bytes, and an empty call id becomes "call", so the name is always a safe
// single path segment (see SafeName).
func Name(callID string, seq int, f Format) string {
	var b strings.Builder
	b.Grow(min(len(callID), maxNameCallID) + 16)
	for i := 0; i < len(callID) && i < maxNameCallID; i++ {
		c := callID[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("call")
	}
	b.WriteByte('-')
	b.WriteString(strconv.Itoa(seq))
	b.WriteByte('.')
	b.WriteString(f.Ext())
	return b.String()
}

// maxNameLen bounds recording file names and application-key directories.
const maxNameLen = 200

// SafeName reports whether s can be used as a recording file name or an
// application-key directory: 1 to 200 bytes of ASCII letters, digits, '-',
// '_' and '.', not starting with '.' (so neither "." nor ".." nor hidden
// files). Anything that could climb out of a directory is refused.
func SafeName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// FormatOf is the format a file name's extension says (".wav" or ".mp3",
// any case), and false for any other name.
func FormatOf(name string) (Format, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", false
	}
	switch strings.ToLower(name[i+1:]) {
	case "mp3":
		return FormatMP3, true
	case "wav":
		return FormatWAV, true
	}
	return "", false
}
