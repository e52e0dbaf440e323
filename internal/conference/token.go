package conference

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Header is the SIP header that carries the Token of an internal leg.
const Header = "X-Callcore-Conference"

// tokenValidity is how far a token's time may be from the host's clock.
const tokenValidity = time.Minute

// maxTokenLen bounds the header value accepted (ids are at most a few
// hundred bytes).
const maxTokenLen = 4096

// Claims are what an internal leg's token says about it.
type Claims struct {
	App    string `json:"a"`
	Room   string `json:"r"`
	CallID string `json:"c"`
	From   string `json:"f"` // node placing the leg (the call's node)
	To     string `json:"h"` // node the leg is for (the host)
	CLI    string `json:"cli,omitempty"`
	DTMF   string `json:"d,omitempty"`   // conferenceDtmfOptions mode
	MOH    string `json:"moh,omitempty"` // class played while alone
	Time   int64  `json:"t"`             // unix seconds
}

// ErrBadToken is wrapped by every VerifyToken failure.
var ErrBadToken = errors.New("bad internal leg token")

// SignToken returns the header value for c: base64url(JSON) "."
// base64url(HMAC-SHA256(secret, the first part)).
func SignToken(secret []byte, c Claims) string {
	body, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("conference: encode claims: %v", err)) // strings and an int only
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(secret, p))
}

func mac(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// VerifyToken checks a header value against the region's secret, the
// receiving node and the clock; it returns the claims of a valid token.
func VerifyToken(secret []byte, value, node string, now time.Time) (Claims, error) {
	if len(value) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: %d bytes", ErrBadToken, len(value))
	}
	p, sig, ok := strings.Cut(strings.TrimSpace(value), ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: no signature", ErrBadToken)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, p)) {
		return Claims{}, fmt.Errorf("%w: signature does not match", ErrBadToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrBadToken, err)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrBadToken, err)
	}
	switch {
	case c.App == "" || c.Room == "" || c.CallID == "" || c.From == "":
		return Claims{}, fmt.Errorf("%w: incomplete claims", ErrBadToken)
	case c.To != node:
		return Claims{}, fmt.Errorf("%w: for node %q, not this one", ErrBadToken, c.To)
	}
	if d := now.Sub(time.Unix(c.Time, 0)); d > tokenValidity || d < -tokenValidity {
		return Claims{}, fmt.Errorf("%w: issued %s away from this node's clock", ErrBadToken, d.Round(time.Second))
	}
	return c, nil
}

// CheckToken reports whether a header value is a valid token for this
// node now.
func (s *Service) CheckToken(value string) bool {
	_, err := VerifyToken(s.o.Secret, value, s.o.Node, s.o.Now())
	return err == nil
}
