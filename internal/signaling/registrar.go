package signaling

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceLifetime is how long a registrar nonce is fresh; an older one gets
// a new challenge with stale=true (RFC 2617 §3.2.1).
const nonceLifetime = 5 * time.Minute

// Contact is one registered binding of a user.
type Contact struct {
	// URI is the Contact URI as registered, e.g. "sip:alice@10.0.0.7:5062".
	URI string
	// Source is the host:port the REGISTER came from. Calls to the contact
	// are sent there (with URI as Request-URI), which crosses NAT and
	// reuses a TCP connection the device opened.
	Source string
	// Transport is the transport of the REGISTER, "udp" or "tcp".
	Transport string
	// Expires is when the binding lapses.
	Expires time.Time
	// UserAgent is the device's User-Agent header, for operators.
	UserAgent string
}

// Registry stores registrations. Implementations must be safe for
// concurrent use; Get must not return expired bindings. The in-memory
// MemRegistry is the default; a shared store (Redis) makes every node see
// every device.
type Registry interface {
	// Put adds or replaces the binding of user with c.URI.
	Put(ctx context.Context, user string, c Contact) error
	// Get returns the unexpired bindings of user, latest expiry first.
	Get(ctx context.Context, user string) ([]Contact, error)
	// Delete removes the binding of user with that URI, or all of the
	// user's bindings when uri is "".
	Delete(ctx context.Context, user, uri string) error
}

// sweeper is implemented by registries that need expired bindings purged.
type sweeper interface {
	Sweep(now time.Time)
}

// MemRegistry is an in-memory Registry for a single node.
type MemRegistry struct {
	mu    sync.Mutex
	users map[string]map[string]Contact
	now   func() time.Time
}

var (
	_ Registry = (*MemRegistry)(nil)
	_ sweeper  = (*MemRegistry)(nil)
)

// NewMemRegistry returns an empty in-memory registry.
func NewMemRegistry() *MemRegistry {
	return &MemRegistry{users: make(map[string]map[string]Contact), now: time.Now}
}

// Put implements Registry.
func (r *MemRegistry) Put(_ context.Context, user string, c Contact) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.users[user]
	if m == nil {
		m = make(map[string]Contact)
		r.users[user] = m
	}
	m[c.URI] = c
	return nil
}

// Get implements Registry.
func (r *MemRegistry) Get(_ context.Context, user string) ([]Contact, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []Contact
	for uri, c := range r.users[user] {
		if !c.Expires.After(now) {
			delete(r.users[user], uri)
			continue
		}
		out = append(out, c)
	}
	if len(r.users[user]) == 0 {
		delete(r.users, user)
	}
	slices.SortFunc(out, func(a, b Contact) int { return b.Expires.Compare(a.Expires) })
	return out, nil
}

// Delete implements Registry.
func (r *MemRegistry) Delete(_ context.Context, user, uri string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uri == "" {
		delete(r.users, user)
		return nil
	}
	delete(r.users[user], uri)
	if len(r.users[user]) == 0 {
		delete(r.users, user)
	}
	return nil
}

// Sweep removes bindings expired at now.
func (r *MemRegistry) Sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for user, m := range r.users {
		for uri, c := range m {
			if !c.Expires.After(now) {
				delete(m, uri)
			}
		}
		if len(m) == 0 {
			delete(r.users, user)
		}
	}
}

func (s *Server) sweepLoop(sw sweeper) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			sw.Sweep(now)
		case <-s.ctx.Done():
			return
		}
	}
}

// Contacts returns the unexpired registered contacts of a user.
func (s *Server) Contacts(ctx context.Context, user string) ([]Contact, error) {
	return s.registry.Get(ctx, user)
}

// nonceSource issues stateless nonces: a timestamp and its HMAC under a
// per-process key, so that any nonce we issued can be checked for
// authenticity and age without storing it.
type nonceSource struct {
	key []byte
	now func() time.Time
}

func newNonceSource() (*nonceSource, error) {
	key := make([]byte, 32)
	if _, err := randRead(key); err != nil {
		return nil, fmt.Errorf("signaling: nonce key: %w", err)
	}
	return &nonceSource{key: key, now: time.Now}, nil
}

func (n *nonceSource) issue() string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(n.now().UnixNano()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(n.mac(ts[:]))
}

func (n *nonceSource) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// check reports whether nonce is ours (valid) and still fresh.
func (n *nonceSource) check(nonce string) (valid, fresh bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 8+16 {
		return false, false
	}
	if !hmac.Equal(raw[8:], n.mac(raw[:8])) {
		return false, false
	}
	age := n.now().Sub(time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8]))))
	return true, age >= 0 && age <= nonceLifetime
}

var errBadAuthorization = errors.New("signaling: bad Authorization")

// handleRegister is the registrar (RFC 3261 §10.3) with digest
// authentication against Options.Users.
func (s *Server) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	count := func(o string) { s.metrics.registrations.WithLabelValues(o).Inc() }
	if s.opts.Users == nil {
		count(regDisabled)
		s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", s.allow()))
		return
	}
	to, callID := req.To(), req.CallID()
	if to == nil || req.From() == nil || callID == nil {
		count(regBadRequest)
		s.respond(tx, req, 400, "Missing Mandatory Header")
		return
	}
	user := to.Address.User
	if !isUserPart(user) {
		count(regBadRequest)
		s.respond(tx, req, 400, "Bad Address Of Record")
		return
	}
	log := s.log.With("call_id", callID.Value())

	ok, stale, err := s.authorize(req, user)
	switch {
	case errors.Is(err, errBadAuthorization):
		count(regBadRequest)
		s.respond(tx, req, 400, "Bad Authorization")
		return
	case err != nil:
		count(regAuthFailed)
		log.Info("sip REGISTER refused", slog.Any("err", err))
		s.respond(tx, req, 403, "Forbidden")
		return
	case !ok:
		count(regChallenged)
		s.challenge(tx, req, stale)
		return
	}

	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	outcome, code, reason, hdrs := s.applyRegister(ctx, req, user)
	count(outcome)
	if code != 200 {
		s.respond(tx, req, code, reason, hdrs...)
		return
	}
	contacts, err := s.registry.Get(ctx, user)
	if err != nil {
		count(regError)
		log.Error("sip registry read failed", slog.Any("err", err))
		s.respond(tx, req, 500, "Server Internal Error")
		return
	}
	now := time.Now()
	for _, c := range contacts {
		var u sip.Uri
		if sip.ParseUri(c.URI, &u) != nil {
			continue
		}
		params := sip.NewParams()
		params.Add("expires", strconv.Itoa(int(c.Expires.Sub(now).Round(time.Second)/time.Second)))
		hdrs = append(hdrs, &sip.ContactHeader{Address: u, Params: params})
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	log.Info("sip REGISTER", slog.String("outcome", outcome), slog.Int("contacts", len(contacts)))
	s.respond(tx, req, 200, "OK", hdrs...)
}

// authorize checks the Authorization header: ok when the credentials are
// right, stale when the nonce was ours but old, err (403) when the
// credentials are wrong or for another user.
func (s *Server) authorize(req *sip.Request, user string) (ok, stale bool, err error) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false, false, nil
	}
	creds, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return false, false, fmt.Errorf("%w: %w", errBadAuthorization, err)
	}
	if creds.Realm != s.opts.Realm {
		return false, false, nil // a challenge from another realm: challenge again
	}
	valid, fresh := s.nonces.check(creds.Nonce)
	if !valid {
		return false, false, nil
	}
	if !fresh {
		return false, true, nil
	}
	if creds.Username != user {
		return false, false, fmt.Errorf("signaling: credentials of %q for %q", truncate(creds.Username), truncate(user))
	}
	password, known := s.opts.Users(user)
	if !known {
		return false, false, errors.New("signaling: unknown user")
	}
	chal := &digest.Challenge{Realm: s.opts.Realm, Nonce: creds.Nonce, Opaque: creds.Opaque, Algorithm: creds.Algorithm}
	switch strings.ToUpper(creds.Algorithm) {
	case "", "MD5":
	default:
		return false, false, fmt.Errorf("%w: algorithm %q", errBadAuthorization, truncate(creds.Algorithm))
	}
	switch creds.QOP {
	case "":
	case "auth":
		chal.QOP = []string{"auth"}
	default:
		return false, false, fmt.Errorf("%w: qop %q", errBadAuthorization, truncate(creds.QOP))
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   string(sip.REGISTER),
		URI:      creds.URI,
		Username: user,
		Password: password,
		Cnonce:   creds.Cnonce,
		Count:    creds.Nc,
	})
	if err != nil {
		return false, false, fmt.Errorf("%w: %w", errBadAuthorization, err)
	}
	if subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(creds.Response))) != 1 {
		return false, false, errors.New("signaling: wrong password")
	}
	return true, false, nil
}

func (s *Server) challenge(tx sip.ServerTransaction, req *sip.Request, stale bool) {
	chal := digest.Challenge{Realm: s.opts.Realm, Nonce: s.nonces.issue(), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	s.respond(tx, req, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", chal.String()))
}

// applyRegister updates the bindings; it returns the outcome label and,
// for a refusal, the response.
func (s *Server) applyRegister(ctx context.Context, req *sip.Request, user string) (outcome string, code int, reason string, hdrs []sip.Header) {
	expiresDefault := s.opts.DefaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return regBadRequest, 400, "Bad Expires", nil
		}
		expiresDefault = time.Duration(n) * time.Second
	}
	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return regBadRequest, 400, "Bad Contact", nil
		}
		contacts = append(contacts, c)
	}
	if len(contacts) == 0 {
		return regQueried, 200, "", nil
	}
	if contacts[0].Address.Wildcard {
		// "Contact: *" with Expires: 0 removes every binding (§10.2.2).
		if len(contacts) != 1 || expiresDefault != 0 {
			return regBadRequest, 400, "Bad Wildcard Contact", nil
		}
		if err := s.registry.Delete(ctx, user, ""); err != nil {
			s.log.Error("sip registry delete failed", slog.Any("err", err))
			return regError, 500, "Server Internal Error", nil
		}
		return regUnregistered, 200, "", nil
	}
	type binding struct {
		uri string
		exp time.Duration
	}
	bindings := make([]binding, 0, len(contacts))
	for _, c := range contacts {
		if c.Address.Wildcard || c.Address.Host == "" {
			return regBadRequest, 400, "Bad Contact", nil
		}
		exp := expiresDefault
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return regBadRequest, 400, "Bad Contact Expires", nil
			}
			exp = time.Duration(n) * time.Second
		}
		if exp > 0 && exp < s.opts.MinExpires {
			return regTooBrief, 423, "Interval Too Brief",
				[]sip.Header{sip.NewHeader("Min-Expires", strconv.Itoa(int(s.opts.MinExpires/time.Second)))}
		}
		exp = min(exp, s.opts.MaxExpires)
		bindings = append(bindings, binding{uri: c.Address.String(), exp: exp})
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = truncate(h.Value())
	}
	outcome = regUnregistered
	now := time.Now()
	for _, b := range bindings {
		var err error
		if b.exp == 0 {
			err = s.registry.Delete(ctx, user, b.uri)
		} else {
			outcome = regRegistered
			err = s.registry.Put(ctx, user, Contact{
				URI:       b.uri,
				Source:    req.Source(),
				Transport: strings.ToLower(req.Transport()),
				Expires:   now.Add(b.exp),
				UserAgent: ua,
			})
		}
		if err != nil {
			s.log.Error("sip registry write failed", slog.Any("err", err))
			return regError, 500, "Server Internal Error", nil
		}
	}
	return outcome, 200, "", nil
}
