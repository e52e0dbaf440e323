package svaml

import (
	"errors"
	"strconv"
	"strings"
)

// Error classes. Every *ValidationError wraps exactly one of them, so callers
// can branch with errors.Is without parsing messages.
var (
	// ErrSyntax marks a document that is not well-formed JSON (or not UTF-8).
	ErrSyntax = errors.New("svaml: malformed json")
	// ErrUnknownName marks an action or instruction whose name is not a SVAML name.
	ErrUnknownName = errors.New("svaml: unknown action or instruction")
	// ErrNotAllowed marks an action or instruction that is valid SVAML but not
	// allowed in the context the document was parsed for (reference §5.2).
	ErrNotAllowed = errors.New("svaml: not allowed in this context")
	// ErrInvalid marks every other problem: a missing or duplicate field, a value
	// of the wrong JSON type, an unknown enum value or a limit that is exceeded.
	ErrInvalid = errors.New("svaml: invalid value")
)

// ValidationError describes one problem found in a SVAML document.
//
// Path is the JSON path of the offending value written with the canonical
// lower-camel key names, e.g. "action.menus[1].options[0].action"; it is empty
// for problems with the document as a whole. Reason says what is wrong.
type ValidationError struct {
	// Path is the JSON path of the offending value ("" for the whole document).
	Path string
	// Reason is a lower-case, human-readable description of the problem.
	Reason string
	// Offset is the byte offset into the document for syntax errors (ErrSyntax)
	// and -1 for all other problems.
	Offset int
	// Err is the error class: ErrSyntax, ErrUnknownName, ErrNotAllowed or ErrInvalid.
	Err error
}

// Error returns "path: reason", or just the reason when Path is empty.
func (e *ValidationError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Unwrap returns the error class.
func (e *ValidationError) Unwrap() error { return e.Err }

// ValidationErrors is returned by Parse when a document has more than one
// problem. The problems are in document order (an object's own checks follow
// those of its members); Error joins them with "; " so the first one stays
// readable at the front. errors.As(err, &ve) with ve *ValidationError yields
// the first problem.
type ValidationErrors []*ValidationError

// Error joins the messages of all problems with "; ".
func (es ValidationErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// PromptError is returned by ParsePrompts for a malformed prompt string.
type PromptError struct {
	// Offset is the byte offset into the prompt string where the problem starts.
	Offset int
	// Reason describes the problem.
	Reason string
}

// Error returns "reason at offset N".
func (e *PromptError) Error() string {
	return e.Reason + " at offset " + strconv.Itoa(e.Offset)
}
