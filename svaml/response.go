package svaml

import (
	"encoding/json"
	"errors"
)

// Response is a parsed SVAML document: instructions executed in order, then
// exactly one action.
type Response struct {
	// Instructions run in order before the action; nil when there are none.
	Instructions []Instruction
	// Action is the single action; never nil in a Response returned by Parse.
	Action Action
}

// errNoAction is returned by MarshalJSON for a Response without an action.
var errNoAction = errors.New("svaml: response has no action")

// errNilInstruction is returned by MarshalJSON for a nil entry in Instructions.
var errNilInstruction = errors.New("svaml: response has a nil instruction")

// MarshalJSON returns the canonical SVAML document: lower-camel keys, "name"
// first in every action and instruction, defaults written out and
// "instructions" omitted when empty. Parsing the output again yields an equal
// Response. Actions and instructions of types outside this package are
// marshalled by encoding/json as they are.
func (r Response) MarshalJSON() ([]byte, error) {
	if r.Action == nil {
		return nil, errNoAction
	}
	for _, in := range r.Instructions {
		if in == nil {
			return nil, errNilInstruction
		}
	}
	return json.Marshal(struct {
		Instructions []Instruction `json:"instructions,omitempty"`
		Action       Action        `json:"action"`
	}{r.Instructions, r.Action})
}
