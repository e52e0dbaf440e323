package signaling

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/events"
)

var testUsers = map[string]string{"alice": "wonderland", "bob": "builder"}

func lookupUser(u string) (string, bool) {
	p, ok := testUsers[u]
	return p, ok
}

// registerReq builds a REGISTER for user from the phone.
func (p *phone) registerReq(server netip.AddrPort, user string, expires string, contacts ...sip.Header) *sip.Request {
	to := p.uriOf("", server)
	req := sip.NewRequest(sip.REGISTER, to)
	aor := sip.Uri{Scheme: "sip", User: user, Host: "callcore.test"}
	req.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", randomToken(4))
	req.AppendHeader(from)
	if contacts == nil {
		c := p.contact.Clone()
		c.Address.User = user
		contacts = []sip.Header{c}
	}
	for _, c := range contacts {
		req.AppendHeader(c)
	}
	if expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", expires))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", "testphone/1"))
	req.SetTransport(p.transport)
	return req
}

// register REGISTERs with digest authentication and returns the final
// response.
func (p *phone) register(ctx context.Context, server netip.AddrPort, user, password, expires string, contacts ...sip.Header) *sip.Response {
	p.t.Helper()
	req := p.registerReq(server, user, expires, contacts...)
	res, err := p.client.Do(ctx, req)
	require.NoError(p.t, err)
	if res.StatusCode != 401 {
		return res
	}
	res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
	require.NoError(p.t, err)
	return res
}

func TestRegistrar(t *testing.T) {
	ts := newTestServer(t, Options{Users: lookupUser, Realm: "callcore.test"})
	p := newPhone(t, phoneOpts{user: "alice"})
	ctx := ctxT(t)
	srv := ts.UDPAddr()

	// Challenge.
	res, err := p.client.Do(ctx, p.registerReq(srv, "alice", "600"))
	require.NoError(t, err)
	require.Equal(t, 401, res.StatusCode)
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	require.NoError(t, err)
	assert.Equal(t, "callcore.test", chal.Realm)
	assert.Equal(t, []string{"auth"}, chal.QOP)

	// Wrong password, unknown user, credentials of someone else.
	assert.Equal(t, 403, p.register(ctx, srv, "alice", "nope", "600").StatusCode)
	assert.Equal(t, 403, p.register(ctx, srv, "mallory", "x", "600").StatusCode)
	req := p.registerReq(srv, "alice", "600")
	res, err = p.client.Do(ctx, req)
	require.NoError(t, err)
	res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "bob", Password: "builder"})
	require.NoError(t, err)
	assert.Equal(t, 403, res.StatusCode, "bob may not register alice")
	contacts, err := ts.Contacts(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, contacts)

	// Register.
	res = p.register(ctx, srv, "alice", "wonderland", "600")
	require.Equal(t, 200, res.StatusCode)
	c := res.Contact()
	require.NotNil(t, c)
	exp, _ := c.Params.Get("expires")
	n, err := strconv.Atoi(exp)
	require.NoError(t, err)
	assert.InDelta(t, 600, n, 2)
	require.NotNil(t, res.GetHeader("Date"))
	contacts, err = ts.Contacts(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, contacts, 1)
	assert.Equal(t, "udp", contacts[0].Transport)
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(p.port), contacts[0].Source)
	assert.Equal(t, "testphone/1", contacts[0].UserAgent)
	assert.WithinDuration(t, time.Now().Add(600*time.Second), contacts[0].Expires, 5*time.Second)

	// Too brief, clamped, bad.
	res = p.register(ctx, srv, "alice", "wonderland", "30")
	assert.Equal(t, 423, res.StatusCode)
	assert.Equal(t, "60", res.GetHeader("Min-Expires").Value())
	res = p.register(ctx, srv, "alice", "wonderland", "999999")
	require.Equal(t, 200, res.StatusCode)
	exp, _ = res.Contact().Params.Get("expires")
	assert.Equal(t, "7200", exp)
	assert.Equal(t, 400, p.register(ctx, srv, "alice", "wonderland", "soon").StatusCode)

	// A second device, then a query.
	other := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5999}}
	require.Equal(t, 200, p.register(ctx, srv, "alice", "wonderland", "300", other).StatusCode)
	res = p.register(ctx, srv, "alice", "wonderland", "", []sip.Header{}...)
	require.Equal(t, 200, res.StatusCode)
	assert.Len(t, res.GetHeaders("Contact"), 2)

	// Unregister one, then all with the wildcard.
	require.Equal(t, 200, p.register(ctx, srv, "alice", "wonderland", "0", other).StatusCode)
	contacts, err = ts.Contacts(ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, contacts, 1)
	require.Equal(t, 400, p.register(ctx, srv, "alice", "wonderland", "60", &sip.ContactHeader{Address: sip.Uri{Wildcard: true}}).StatusCode)
	require.Equal(t, 200, p.register(ctx, srv, "alice", "wonderland", "0", &sip.ContactHeader{Address: sip.Uri{Wildcard: true}}).StatusCode)
	contacts, err = ts.Contacts(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, contacts)

	m := ts.metrics.registrations
	assert.InDelta(t, 3, counter(m.WithLabelValues(regAuthFailed)), 0)
	assert.InDelta(t, 1, counter(m.WithLabelValues(regTooBrief)), 0)
	assert.InDelta(t, 2, counter(m.WithLabelValues(regUnregistered)), 0)
	assert.Positive(t, counter(m.WithLabelValues(regChallenged)))
	assert.Positive(t, counter(m.WithLabelValues(regRegistered)))
}

func TestRegistrarStaleNonceAndDisabled(t *testing.T) {
	ts := newTestServer(t, Options{Users: lookupUser})
	p := newPhone(t, phoneOpts{user: "bob"})
	ctx := ctxT(t)
	// A nonce we issued six minutes ago: authentic but stale.
	old := &nonceSource{key: ts.nonces.key, now: func() time.Time { return time.Now().Add(-nonceLifetime - time.Minute) }}
	req := p.registerReq(ts.UDPAddr(), "bob", "600")
	cred, err := digest.Digest(&digest.Challenge{Realm: ts.opts.Realm, Nonce: old.issue(), Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "REGISTER", URI: req.Recipient.Addr(), Username: "bob", Password: "builder"})
	require.NoError(t, err)
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	res, err := p.client.Do(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 401, res.StatusCode)
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	require.NoError(t, err)
	assert.True(t, chal.Stale)
	assert.Equal(t, 200, p.register(ctx, ts.UDPAddr(), "bob", "builder", "600").StatusCode)

	off := newTestServer(t, Options{})
	res, err = p.client.Do(ctx, p.registerReq(off.UDPAddr(), "bob", "600"))
	require.NoError(t, err)
	assert.Equal(t, 405, res.StatusCode)
	assert.NotContains(t, res.GetHeader("Allow").Value(), "REGISTER")
}

func TestMemRegistryExpiry(t *testing.T) {
	r := NewMemRegistry()
	now := time.Unix(1_700_000_000, 0)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	require.NoError(t, r.Put(ctx, "u", Contact{URI: "sip:a@h", Expires: now.Add(time.Minute)}))
	require.NoError(t, r.Put(ctx, "u", Contact{URI: "sip:b@h", Expires: now.Add(time.Hour)}))
	require.NoError(t, r.Put(ctx, "u", Contact{URI: "sip:a@h", Expires: now.Add(2 * time.Minute)}), "replace by URI")
	got, err := r.Get(ctx, "u")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "sip:b@h", got[0].URI, "latest expiry first")
	now = now.Add(3 * time.Minute)
	got, err = r.Get(ctx, "u")
	require.NoError(t, err)
	require.Len(t, got, 1)
	r.Sweep(now.Add(2 * time.Hour))
	got, err = r.Get(ctx, "u")
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Empty(t, r.users)
	require.NoError(t, r.Delete(ctx, "nobody", ""))
}

func TestDialRegisteredUser(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			ts := newTestServer(t, Options{Users: lookupUser, Realm: "callcore.test"})
			p := newPhone(t, phoneOpts{transport: tp, user: "alice"})
			invites, sessions := answering(p)
			ctx := ctxT(t)
			require.Equal(t, 200, p.register(ctx, ts.addr(p.transport), "alice", "wonderland", "600").StatusCode)
			o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetUser, Value: "alice"}, CLI: "+15550001111", SDP: []byte(ourSDP)})
			require.NoError(t, err)
			answer, err := o.WaitAnswer(ctx)
			require.NoError(t, err)
			assert.Equal(t, phoneSDP, string(answer))
			req := recvTimeout(t, invites, wait, "INVITE at the registered phone")
			assert.Equal(t, "alice", req.Recipient.User)
			assert.Equal(t, "alice", req.To().Address.User)
			s := recvTimeout(t, sessions, wait, "session")
			require.NoError(t, s.Bye(ctx))
			waitDone(t, o.Done(), "end")
			assert.Equal(t, EndRemoteBye, o.End().Cause)
		})
	}
}

func TestDialForksToEveryContact(t *testing.T) {
	ts := newTestServer(t, Options{Users: lookupUser})
	desk := newPhone(t, phoneOpts{user: "alice"})
	mobile := newPhone(t, phoneOpts{user: "alice", transport: "tcp"})
	ctx := ctxT(t)
	require.Equal(t, 200, desk.register(ctx, ts.UDPAddr(), "alice", "wonderland", "600").StatusCode)
	require.Equal(t, 200, mobile.register(ctx, ts.TCPAddr(), "alice", "wonderland", "600").StatusCode)
	contacts, err := ts.Contacts(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, contacts, 2)

	deskInvites := ringing(desk)
	gate := make(chan struct{})
	mobileInvites, sessions := answering(mobile, gate)
	o, err := ts.Dial(ctx, DialRequest{To: Target{Kind: TargetUser, Value: "alice"}, SDP: []byte(ourSDP)})
	require.NoError(t, err)
	recvTimeout(t, deskInvites, wait, "desk rings")
	recvTimeout(t, mobileInvites, wait, "mobile rings")
	close(gate)
	_, err = o.WaitAnswer(ctx)
	require.NoError(t, err)
	recvTimeout(t, desk.cancels, wait, "CANCEL to the desk phone")
	s := recvTimeout(t, sessions, wait, "mobile session")
	require.NoError(t, o.Hangup(ctx))
	waitDone(t, s.Context().Done(), "mobile dialog end")
	assert.Equal(t, events.ReasonCallerHangup, o.End().Reason)
}

func TestNonceSource(t *testing.T) {
	n, err := newNonceSource()
	require.NoError(t, err)
	nonce := n.issue()
	valid, fresh := n.check(nonce)
	assert.True(t, valid)
	assert.True(t, fresh)
	for _, bad := range []string{"", "zz", nonce[:len(nonce)-2] + "00", strings.Repeat("0", 48)} {
		valid, _ := n.check(bad)
		assert.False(t, valid, bad)
	}
	other, err := newNonceSource()
	require.NoError(t, err)
	valid, _ = other.check(nonce)
	assert.False(t, valid, "another key")
}
