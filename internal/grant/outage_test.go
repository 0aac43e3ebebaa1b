package grant_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// errDown is what a store returns while its database is unreachable.
var errDown = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")

// outage wraps the stores of one env and fails the operation named in op
// ("Clients.Get", "Codes.Consume", ...) while op is set. Everything else
// reaches the real store.
type outage struct{ op atomic.Value }

func (o *outage) down(op string) bool { s, _ := o.op.Load().(string); return s == op }

func (o *outage) wrap(st *valet.Store) {
	st.Clients = &downClients{st.Clients, o}
	st.Codes = &downCodes{st.Codes, o}
	st.Refresh = &downRefresh{st.Refresh, o}
	st.Revocations = &downRevocations{st.Revocations, o}
	st.Users = &downUsers{st.Users, o}
	st.Consents = &downConsents{st.Consents, o}
	st.Access = &downAccess{st.Access, o}
}

type downAccess struct {
	valet.AccessTokenStore
	o *outage
}

func (s *downAccess) Create(ctx context.Context, t *valet.AccessToken) error {
	if s.o.down("Access.Create") {
		return errDown
	}
	return s.AccessTokenStore.Create(ctx, t)
}

func (s *downAccess) Get(ctx context.Context, digest string) (*valet.AccessToken, error) {
	if s.o.down("Access.Get") {
		return nil, errDown
	}
	return s.AccessTokenStore.Get(ctx, digest)
}

type downClients struct {
	valet.ClientStore
	o *outage
}

func (s *downClients) Get(ctx context.Context, id string) (*valet.Client, error) {
	if s.o.down("Clients.Get") {
		return nil, errDown
	}
	return s.ClientStore.Get(ctx, id)
}

type downCodes struct {
	valet.CodeStore
	o *outage
}

func (s *downCodes) Get(ctx context.Context, digest string, now time.Time) (*valet.AuthCode, error) {
	if s.o.down("Codes.Get") {
		return nil, errDown
	}
	return s.CodeStore.Get(ctx, digest, now)
}

func (s *downCodes) Consume(ctx context.Context, digest string, now time.Time) (*valet.AuthCode, bool, error) {
	if s.o.down("Codes.Consume") {
		return nil, false, errDown
	}
	return s.CodeStore.Consume(ctx, digest, now)
}

type downRefresh struct {
	valet.RefreshStore
	o *outage
}

func (s *downRefresh) Create(ctx context.Context, t *valet.RefreshToken) error {
	if s.o.down("Refresh.Create") {
		return errDown
	}
	return s.RefreshStore.Create(ctx, t)
}

func (s *downRefresh) Get(ctx context.Context, digest string) (*valet.RefreshToken, error) {
	if s.o.down("Refresh.Get") {
		return nil, errDown
	}
	return s.RefreshStore.Get(ctx, digest)
}

func (s *downRefresh) Rotate(ctx context.Context, old string, next *valet.RefreshToken) (bool, error) {
	if s.o.down("Refresh.Rotate") {
		return false, errDown
	}
	return s.RefreshStore.Rotate(ctx, old, next)
}

func (s *downRefresh) RevokeFamily(ctx context.Context, fam string, now time.Time) (int, error) {
	if s.o.down("Refresh.RevokeFamily") {
		return 0, errDown
	}
	return s.RefreshStore.RevokeFamily(ctx, fam, now)
}

type downRevocations struct {
	valet.RevocationStore
	o *outage
}

func (s *downRevocations) Add(ctx context.Context, id string, until time.Time) error {
	if s.o.down("Revocations.Add") {
		return errDown
	}
	return s.RevocationStore.Add(ctx, id, until)
}

func (s *downRevocations) AnyRevoked(ctx context.Context, ids ...string) (bool, error) {
	if s.o.down("Revocations.AnyRevoked") {
		return false, errDown
	}
	return s.RevocationStore.AnyRevoked(ctx, ids...)
}

type downUsers struct {
	valet.UserStore
	o *outage
}

func (s *downUsers) Get(ctx context.Context, id string) (*valet.User, error) {
	if s.o.down("Users.Get") {
		return nil, errDown
	}
	return s.UserStore.Get(ctx, id)
}

func (s *downUsers) GetByUsername(ctx context.Context, username string) (*valet.User, error) {
	if s.o.down("Users.GetByUsername") {
		return nil, errDown
	}
	return s.UserStore.GetByUsername(ctx, username)
}

type downConsents struct {
	valet.ConsentStore
	o *outage
}

func (s *downConsents) Get(ctx context.Context, userID, clientID string) (*valet.Consent, error) {
	if s.o.down("Consents.Get") {
		return nil, errDown
	}
	return s.ConsentStore.Get(ctx, userID, clientID)
}

func (s *downConsents) Put(ctx context.Context, c *valet.Consent) error {
	if s.o.down("Consents.Put") {
		return errDown
	}
	return s.ConsentStore.Put(ctx, c)
}

func (s *downConsents) Touch(ctx context.Context, userID, clientID string, at time.Time) error {
	if s.o.down("Consents.Touch") {
		return errDown
	}
	return s.ConsentStore.Touch(ctx, userID, clientID, at)
}

// switchKeys is the signing key ring, with a switch that makes signing fail
// as an unreachable HSM would.
type switchKeys struct {
	token.Keys
	fail atomic.Bool
	// failID makes only ID tokens (typ token.IDTokenType) fail.
	failID atomic.Bool
}

func (k *switchKeys) Sign(alg, typ string, payload []byte) (string, error) {
	if k.fail.Load() || k.failID.Load() && typ == token.IDTokenType {
		return "", errors.New("signing key unavailable")
	}
	return k.Keys.Sign(alg, typ, payload)
}

// hiddenUsers answers ErrNotFound for every user while hide is set: a user
// gone while the store somehow kept their tokens.
type hiddenUsers struct {
	valet.UserStore
	hide atomic.Bool
}

func (s *hiddenUsers) Get(ctx context.Context, id string) (*valet.User, error) {
	if s.hide.Load() {
		return nil, valet.ErrNotFound
	}
	return s.UserStore.Get(ctx, id)
}

// wantUnavailable asserts pin P7: 503 temporarily_unavailable with
// Retry-After, and nothing of the cause.
func wantUnavailable(t *testing.T, r *result) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, oauth.TemporarilyUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if s := string(r.raw); strings.Contains(s, "10.0.0.5") || strings.Contains(s, "refused") {
		t.Errorf("the cause leaked: %s", s)
	}
}

// TestOutage_StoreErrorsAre503: whichever store call fails, the client gets
// 503 and can retry with the same code or token, never a 400 or 401 that
// would make it give up.
func TestOutage_StoreErrorsAre503(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)

	codeOps := []string{"Clients.Get", "Codes.Get", "Codes.Consume"}
	for _, op := range codeOps {
		t.Run(op, func(t *testing.T) {
			e := e.with(t)
			c := e.newCode("conf1")
			o.op.Store(op)
			wantUnavailable(t, e.token(codeForm(c), e.as("conf1")))
			o.op.Store("")
			if op != "Codes.Consume" { // a failed Consume may have committed
				e.redeem(c)
			}
		})
	}
	t.Run("Refresh.Create", func(t *testing.T) {
		e := e.with(t)
		o.op.Store("Refresh.Create")
		wantUnavailable(t, e.token(codeForm(e.newCode("conf1")), e.as("conf1")))
		o.op.Store("")
	})
	t.Run("Revocations.AnyRevoked", func(t *testing.T) {
		e := e.with(t)
		o.op.Store("Revocations.AnyRevoked")
		wantUnavailable(t, e.token(codeForm(e.newCode("conf1")), e.as("conf1")))
		o.op.Store("")
	})
	for _, op := range []string{"Revocations.Add", "Refresh.RevokeFamily"} {
		t.Run("replay with "+op, func(t *testing.T) {
			e := e.with(t)
			c := e.newCode("conf1")
			rt := e.redeem(c).str("refresh_token")
			o.op.Store(op)
			wantUnavailable(t, e.token(codeForm(c), e.as("conf1")))
			o.op.Store("")
			// The retry of the replay completes the revocation.
			wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
			e.refreshDead("conf1", rt)
			e.denyListed(c.code.FamilyID)
		})
	}
	for _, op := range []string{"Clients.Get", "Refresh.Get", "Users.Get", "Consents.Get", "Refresh.Rotate"} {
		t.Run("refresh with "+op, func(t *testing.T) {
			e := e.with(t)
			rt, _ := e.refreshFor("conf1")
			o.op.Store(op)
			wantUnavailable(t, e.token(refreshForm(rt), e.as("conf1")))
			o.op.Store("")
			e.refresh("conf1", rt)
		})
	}
}

// TestRefusedWithoutLookup: a code or refresh token without the right type
// prefix, or far too long, and a request naming no client are refused before
// any lookup; with the store down they still get their 400 or 401, not 503.
func TestRefusedWithoutLookup(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	ok := e.redeem(e.newCode("conf1"))
	c := e.newCode("conf1")

	o.op.Store("Clients.Get")
	wantInvalidClient(t, e.token(codeForm(c), noAuth), false)

	o.op.Store("Codes.Get")
	for _, v := range []string{ok.str("refresh_token"), ok.str("access_token"), "xyz", "ac_" + strings.Repeat("a", 300)} {
		f := codeForm(c)
		f.Set("code", v)
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	}
	o.op.Store("Refresh.Get")
	for _, v := range []string{ok.str("access_token"), c.value, "rt_" + strings.Repeat("a", 300)} {
		wantError(t, e.token(refreshForm(v), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	}
	o.op.Store("")
}

// TestSigningFailureKeepsCodeAndRefreshToken: the access token is minted
// before the code is consumed or the refresh token rotated, so a signing
// failure (500) leaves both usable.
func TestSigningFailureKeepsCodeAndRefreshToken(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	rt, _ := e.refreshFor("conf1")

	e.keys.fail.Store(true)
	wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusInternalServerError, oauth.ServerError)
	wantError(t, e.token(refreshForm(rt), e.as("conf1")), http.StatusInternalServerError, oauth.ServerError)
	e.keys.fail.Store(false)

	e.redeem(c)
	e.refresh("conf1", rt)
	if !strings.Contains(e.logs.String(), "signing key unavailable") {
		t.Error("the cause of the server_error was not logged")
	}
}

// calls records the order of the revocation calls a replay makes.
type calls struct {
	mu    sync.Mutex
	seq   []string
	until time.Time // the deny-list expiry of the last Add
}

func (c *calls) add(s string) { c.mu.Lock(); c.seq = append(c.seq, s); c.mu.Unlock() }

type recordingRevocations struct {
	valet.RevocationStore
	c *calls
}

func (s *recordingRevocations) Add(ctx context.Context, id string, until time.Time) error {
	s.c.add("deny-list")
	s.c.mu.Lock()
	s.c.until = until
	s.c.mu.Unlock()
	return s.RevocationStore.Add(ctx, id, until)
}

type recordingRefresh struct {
	valet.RefreshStore
	c *calls
}

func (s *recordingRefresh) RevokeFamily(ctx context.Context, fam string, now time.Time) (int, error) {
	s.c.add("revoke")
	return s.RefreshStore.RevokeFamily(ctx, fam, now)
}

// TestReplayDenyListsBeforeRevoking: a replay puts the family on the
// deny-list before it revokes the family's refresh tokens. A concurrent
// winner creates its refresh token and then reads the deny-list, so in
// every interleaving one of the two sees the other (see
// TestCO02_ReplayBeforeRefreshTokenExists); the other order would leave a
// window where neither does. The deny-list must also outlive every access
// token of the family.
func TestReplayDenyListsBeforeRevoking(t *testing.T) {
	c := &calls{}
	e := newEnv(t, func(st *valet.Store) {
		st.Revocations = &recordingRevocations{st.Revocations, c}
		st.Refresh = &recordingRefresh{st.Refresh, c}
	})
	code := e.newCode("conf1")
	at := e.claims(e.redeem(code).str("access_token"))
	c.mu.Lock()
	c.seq = nil
	c.mu.Unlock()
	wantError(t, e.token(codeForm(code), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Join(c.seq, ",") != "deny-list,revoke" {
		t.Fatalf("replay made %v, want deny-list then revoke", c.seq)
	}
	if !c.until.After(time.Unix(at.Expiry, 0)) {
		t.Fatalf("the deny-list entry ends at %v, before the access token expires at %v", c.until, time.Unix(at.Expiry, 0))
	}
}
