package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/token"
)

const iss = "https://as.example"

// fixture is an Introspector over a real SQLite store and key ring, with a
// clock the test moves.
type fixture struct {
	st  valet.Store
	d   *secret.Digester
	in  *token.Introspector
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqltest.Backends()[0].URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	if err := st.Clients.Create(ctx, &valet.Client{ID: "app", TokenEndpointAuthMethod: valet.AuthSecretBasic, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.Users.Create(ctx, &valet.User{ID: "usr_1", Username: "ana", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, d: secret.NewDigester(secret.Bytes(32)), now: time.Now()}
	clock := func() time.Time { return f.now }
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	issuer := &token.Issuer{URL: iss, Keys: ring, AccessTTL: 10 * time.Minute, Now: clock}
	f.in = &token.Introspector{Issuer: issuer, Access: st.Access, Refresh: st.Refresh,
		Revocations: st.Revocations, Digester: f.d, Now: clock}
	return f
}

// mint issues an access token of format for client, in grant family fam.
func (f *fixture) mint(t *testing.T, format, fam string) string {
	t.Helper()
	m := &token.Minter{Issuer: f.in.Issuer, Access: f.st.Access, Digester: f.d}
	c := &valet.Client{ID: "app", AccessTokenFormat: format}
	raw, _, err := m.Mint(context.Background(), c, token.AccessRequest{Subject: "usr_1", ClientID: "app",
		Audience: []string{"https://api.example"}, Scopes: []string{"read"}, GrantID: fam, AuthTime: f.now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// refresh stores a refresh token of family fam and returns its value.
func (f *fixture) refresh(t *testing.T, fam string, edit ...func(*valet.RefreshToken)) string {
	t.Helper()
	raw := secret.Token(token.RefreshPrefix)
	rt := &valet.RefreshToken{Digest: f.d.Digest(secret.PurposeRefresh, raw), FamilyID: fam, ClientID: "app",
		UserID: "usr_1", Scopes: []string{"read", "write"}, AuthTime: f.now.Add(-time.Hour),
		CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}
	for _, e := range edit {
		e(rt)
	}
	if err := f.st.Refresh.Create(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return raw
}

func (f *fixture) deny(t *testing.T, id string) {
	t.Helper()
	if err := f.st.Revocations.Add(context.Background(), id, f.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// introspect returns the JSON of the answer for raw.
func (f *fixture) introspect(t *testing.T, raw string) string {
	t.Helper()
	got, err := f.in.Introspect(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIntrospector_Active(t *testing.T) {
	f := newFixture(t)
	for _, format := range []string{valet.TokenFormatJWT, valet.TokenFormatOpaque} {
		raw := f.mint(t, format, "fam_1")
		got, err := f.in.Introspect(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Active || got.TokenUse != token.UseAccess || got.TokenType != "Bearer" || got.ClientID != "app" ||
			got.Subject != "usr_1" || got.Scope != "read" || got.Issuer != iss || got.GrantID != "fam_1" || got.ID == "" ||
			len(got.Audience) != 1 || got.Audience[0] != "https://api.example" || got.Expiry != f.now.Add(10*time.Minute).Unix() ||
			got.AuthTime != f.now.Add(-time.Minute).Unix() {
			t.Errorf("%s: %+v", format, got)
		}
	}
	got, err := f.in.Introspect(context.Background(), f.refresh(t, "fam_2"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Active || got.TokenUse != token.UseRefresh || got.TokenType != "" || got.Audience != nil ||
		got.GrantID != "fam_2" || got.Scope != "read write" || got.Subject != "usr_1" {
		t.Errorf("refresh: %+v", got)
	}
}

func TestIntrospector_Inactive(t *testing.T) {
	f := newFixture(t)
	jwt := f.mint(t, valet.TokenFormatJWT, "fam_j")
	opaque := f.mint(t, valet.TokenFormatOpaque, "fam_o")
	jwtDenied := f.mint(t, valet.TokenFormatJWT, "")
	opaqueDenied := f.mint(t, valet.TokenFormatOpaque, "")
	jwtOfDeniedGrant := f.mint(t, valet.TokenFormatJWT, "fam_dead")
	opaqueOfDeniedGrant := f.mint(t, valet.TokenFormatOpaque, "fam_dead")
	refreshOfDeniedFamily := f.refresh(t, "fam_dead")
	for _, raw := range []string{jwtDenied, opaqueDenied} {
		l, err := f.in.Lookup(context.Background(), raw)
		if err != nil || l == nil {
			t.Fatal(l, err)
		}
		f.deny(t, l.ID)
	}
	f.deny(t, "fam_dead")
	cases := map[string]string{
		"JWT jti denied":            jwtDenied,
		"opaque ID denied":          opaqueDenied,
		"JWT grant denied":          jwtOfDeniedGrant,
		"opaque grant denied":       opaqueOfDeniedGrant,
		"refresh family denied":     refreshOfDeniedFamily,
		"refresh used":              f.refresh(t, "fam_u", func(r *valet.RefreshToken) { r.UsedAt = f.now }),
		"refresh revoked":           f.refresh(t, "fam_r", func(r *valet.RefreshToken) { r.RevokedAt = f.now }),
		"refresh expired":           f.refresh(t, "fam_e", func(r *valet.RefreshToken) { r.ExpiresAt = f.now }),
		"empty":                     "",
		"garbage":                   "garbage",
		"unknown opaque":            secret.Token("at_"),
		"unknown refresh":           secret.Token("rt_"),
		"code":                      secret.Token("ac_"),
		"overlong opaque":           "at_" + strings.Repeat("x", 300),
		"opaque under refresh type": "rt_" + strings.TrimPrefix(opaque, "at_"),
		"JWT tampered":              jwt[:len(jwt)-4] + "AAAA",
		"JWT as opaque":             "at_" + jwt,
	}
	for name, raw := range cases {
		if got := f.introspect(t, raw); got != `{"active":false}` {
			t.Errorf("%s: %s", name, got)
		}
	}
	// Time passes: the live tokens expire, each by its own clock.
	if f.introspect(t, jwt) == `{"active":false}` || f.introspect(t, opaque) == `{"active":false}` {
		t.Fatal("the live tokens are inactive")
	}
	f.now = f.now.Add(10 * time.Minute)
	for _, raw := range []string{jwt, opaque} {
		if got := f.introspect(t, raw); got != `{"active":false}` {
			t.Errorf("expired: %s", got)
		}
	}
}

// TestIntrospector_LookupDescribesDeadTokens: Lookup finds a token that no
// longer works, so that revocation can find its grant; Introspect does not
// say so.
func TestIntrospector_LookupDescribesDeadTokens(t *testing.T) {
	f := newFixture(t)
	raw := f.refresh(t, "fam_u", func(r *valet.RefreshToken) { r.UsedAt = f.now })
	l, err := f.in.Lookup(context.Background(), raw)
	if err != nil || l == nil || l.Active || l.GrantID != "fam_u" || l.ClientID != "app" {
		t.Fatalf("Lookup: %+v, %v", l, err)
	}
	if l, err := f.in.Lookup(context.Background(), "garbage"); l != nil || err != nil {
		t.Fatalf("Lookup(garbage): %+v, %v", l, err)
	}
}

var errDown = errors.New("database down")

type downAccess struct{ valet.AccessTokenStore }

func (downAccess) Get(context.Context, string) (*valet.AccessToken, error) { return nil, errDown }

type downRefresh struct{ valet.RefreshStore }

func (downRefresh) Get(context.Context, string) (*valet.RefreshToken, error) { return nil, errDown }

type downRevocations struct{ valet.RevocationStore }

func (downRevocations) AnyRevoked(context.Context, ...string) (bool, error) { return false, errDown }

// TestIntrospector_StoreFailureIsAnError: a token that cannot be checked is
// an error, never an inactive answer.
func TestIntrospector_StoreFailureIsAnError(t *testing.T) {
	f := newFixture(t)
	jwt := f.mint(t, valet.TokenFormatJWT, "fam")
	opaque := f.mint(t, valet.TokenFormatOpaque, "fam")
	rt := f.refresh(t, "fam")
	f.in.Access, f.in.Refresh = downAccess{}, downRefresh{}
	for _, raw := range []string{opaque, rt, secret.Token("at_")} {
		if got, err := f.in.Introspect(context.Background(), raw); !errors.Is(err, errDown) {
			t.Errorf("%.3s: %+v, %v; want the store's error", raw, got, err)
		}
	}
	f.in.Revocations = downRevocations{}
	if got, err := f.in.Introspect(context.Background(), jwt); !errors.Is(err, errDown) {
		t.Errorf("JWT: %+v, %v; want the store's error", got, err)
	}
}

type downClients struct{ valet.ClientStore }

func (downClients) Get(context.Context, string) (*valet.Client, error) { return nil, errDown }

// TestIntrospector_DeletedClient: once its client is deleted, no token of
// it is active, including a JWT no row ties to the client (the
// client-credentials kind, with no grant family and no consent).
func TestIntrospector_DeletedClient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.in.Clients = f.st.Clients
	jwt := f.mint(t, valet.TokenFormatJWT, "")
	opaque := f.mint(t, valet.TokenFormatOpaque, "")
	for _, raw := range []string{jwt, opaque} {
		if got := f.introspect(t, raw); got == `{"active":false}` {
			t.Fatalf("%.3s: inactive before the client was deleted", raw)
		}
	}
	f.in.Clients = downClients{}
	if got, err := f.in.Introspect(ctx, jwt); !errors.Is(err, errDown) {
		t.Errorf("client store down: %+v, %v; want the store's error", got, err)
	}
	f.in.Clients = f.st.Clients
	if err := f.st.Clients.Delete(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{jwt, opaque} {
		if got := f.introspect(t, raw); got != `{"active":false}` {
			t.Errorf("%.3s of a deleted client: %s", raw, got)
		}
	}
}

// countingAccess counts the reads of stored access tokens.
type countingAccess struct {
	valet.AccessTokenStore
	gets int
}

func (c *countingAccess) Get(ctx context.Context, digest string) (*valet.AccessToken, error) {
	c.gets++
	return c.AccessTokenStore.Get(ctx, digest)
}

// TestIntrospector_RemembersOpaqueTokens: an opaque token found active is
// read from the store once, yet revocation, deletion of its client and
// expiry still apply at the next call.
func TestIntrospector_RemembersOpaqueTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	counted := &countingAccess{AccessTokenStore: f.st.Access}
	f.in.Access, f.in.Clients = counted, f.st.Clients
	revoked, expiring, unknown := f.mint(t, valet.TokenFormatOpaque, ""), f.mint(t, valet.TokenFormatOpaque, ""), secret.Token("at_")
	for range 3 {
		for _, raw := range []string{revoked, expiring} {
			if got := f.introspect(t, raw); got == `{"active":false}` {
				t.Fatalf("live token inactive")
			}
		}
		f.introspect(t, unknown)
	}
	if counted.gets != 2+3 {
		t.Fatalf("3 rounds of 2 live tokens and an unknown one read the store %d times, want 5 (each live token once, the unknown one every time)", counted.gets)
	}
	l, err := f.in.Lookup(ctx, revoked)
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	f.deny(t, l.ID)
	if got := f.introspect(t, revoked); got != `{"active":false}` {
		t.Errorf("remembered token revoked: %s", got)
	}
	f.now = f.now.Add(10 * time.Minute)
	if got := f.introspect(t, expiring); got != `{"active":false}` {
		t.Errorf("remembered token expired: %s", got)
	}
}

// TestIntrospector_EarlierFormatOpaque: a token minted before opaque tokens
// carried their issue time, stored under its bare digest, still works
// until it expires; the same random part in the new shape is another token.
func TestIntrospector_EarlierFormatOpaque(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := secret.Token("at_")
	if err := f.st.Access.Create(ctx, &valet.AccessToken{Digest: f.d.Digest(secret.PurposeAccess, old), ID: "tok_old",
		ClientID: "app", Subject: "app", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Minute).Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := f.introspect(t, old); !strings.Contains(got, `"active":true`) || !strings.Contains(got, `"jti":"tok_old"`) {
		t.Fatalf("earlier-format token: %s", got)
	}
	forged := "at_AAAAAAAA" + strings.TrimPrefix(old, "at_")
	if got := f.introspect(t, forged); got != `{"active":false}` {
		t.Fatalf("new-shape token with the same random part: %s", got)
	}
}
