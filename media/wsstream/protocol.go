package wsstream

import (
	"encoding/json"
	"fmt"
)

// CallHeader is one key/value pair of connectStream.callHeaders.
type CallHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// StartMessage holds the call fields of the first message. Dial adds the
// event name, the version and the media format.
type StartMessage struct {
	// CallID is the Sinch call id.
	CallID string
	// ApplicationKey is the application that owns the call.
	ApplicationKey string
	// CLI is the caller's number.
	CLI string
	// To is the number or endpoint the caller dialled.
	To string
	// Custom is the call's custom value.
	Custom string
	// CallHeaders are connectStream.callHeaders, in order.
	CallHeaders []CallHeader
}

// MediaFormat describes the binary messages in both directions.
type MediaFormat struct {
	// Encoding is always "audio/l16": signed 16-bit linear PCM.
	Encoding string `json:"encoding"`
	// SampleRate is 8000 or 16000.
	SampleRate int `json:"sampleRate"`
	// Channels is always 1.
	Channels int `json:"channels"`
	// FrameMs is the audio in each message sent by callcore: 20.
	FrameMs int `json:"frameMs"`
	// ByteOrder is always "little-endian".
	ByteOrder string `json:"byteOrder"`
}

// startWire is the first message on the wire.
type startWire struct {
	Event          string       `json:"event"`
	Version        int          `json:"version"`
	CallID         string       `json:"callId"`
	ApplicationKey string       `json:"applicationKey"`
	CLI            string       `json:"cli"`
	To             string       `json:"to"`
	Custom         string       `json:"custom"`
	CallHeaders    []CallHeader `json:"callHeaders"`
	MediaFormat    MediaFormat  `json:"mediaFormat"`
}

// Event names of the text messages.
const (
	eventStart  = "start"
	eventStop   = "stop"
	eventDTMF   = "dtmf"
	eventMark   = "mark"
	eventClear  = "clear"
	eventHangup = "hangup"
)

// maxMarkName is the longest mark name accepted, in bytes.
const maxMarkName = 256

// serverMessage is a parsed text message from the server.
type serverMessage struct {
	Event string
	Name  string // mark only
}

// parseServerMessage parses a text message from the server: a JSON object
// whose "event" is "clear", "mark" (with a non-empty "name" of at most
// maxMarkName bytes) or "hangup". Other members are ignored, so that
// servers may add their own.
func parseServerMessage(b []byte) (serverMessage, error) {
	var m struct {
		Event *string `json:"event"`
		Name  *string `json:"name"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return serverMessage{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if m.Event == nil {
		return serverMessage{}, fmt.Errorf("%w: no event", ErrBadMessage)
	}
	switch *m.Event {
	case eventClear, eventHangup:
		return serverMessage{Event: *m.Event}, nil
	case eventMark:
		if m.Name == nil || *m.Name == "" {
			return serverMessage{}, fmt.Errorf("%w: mark without a name", ErrBadMessage)
		}
		if len(*m.Name) > maxMarkName {
			return serverMessage{}, fmt.Errorf("%w: mark name longer than %d bytes", ErrBadMessage, maxMarkName)
		}
		return serverMessage{Event: eventMark, Name: *m.Name}, nil
	default:
		return serverMessage{}, fmt.Errorf("%w: unknown event %.40q", ErrBadMessage, *m.Event)
	}
}

// markMessage is the echo of a mark.
func markMessage(name string) []byte {
	b, _ := json.Marshal(struct {
		Event string `json:"event"`
		Name  string `json:"name"`
	}{eventMark, name})
	return b
}

// dtmfMessage reports one digit from the caller.
func dtmfMessage(callID string, d rune) []byte {
	b, _ := json.Marshal(struct {
		Event  string `json:"event"`
		CallID string `json:"callId"`
		Digit  string `json:"digit"`
	}{eventDTMF, callID, string(d)})
	return b
}

// stopMessage announces the end of the stream.
func stopMessage(callID string) []byte {
	b, _ := json.Marshal(struct {
		Event  string `json:"event"`
		CallID string `json:"callId"`
	}{eventStop, callID})
	return b
}

// validDigit reports whether d is a DTMF digit: 0-9, *, #, A-D.
func validDigit(d rune) bool {
	return (d >= '0' && d <= '9') || d == '*' || d == '#' || (d >= 'A' && d <= 'D')
}
