package token_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/token"
)

const ttl = 10 * time.Minute

// mintEnv is a Minter over a real SQLite store and key ring.
type mintEnv struct {
	m   *token.Minter
	st  valet.Store
	dig *secret.Digester
}

func newMintEnv(t *testing.T) *mintEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// Opaque tokens reference their client, so the clients exist.
	for _, id := range []string{"jwt1", "opq1"} {
		c := &valet.Client{ID: id, RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: time.Now()}
		c.ApplyDefaults()
		if err := st.Clients.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	dig := secret.NewDigester(secret.Bytes(32))
	iss := &token.Issuer{URL: "https://as.example", Keys: ring, AccessTTL: ttl, Now: time.Now}
	return &mintEnv{m: &token.Minter{Issuer: iss, Access: st.Access, Digester: dig}, st: st, dig: dig}
}

func request(clientID string) token.AccessRequest {
	return token.AccessRequest{
		Subject: "u_ana", ClientID: clientID, Audience: []string{"https://contacts.example", "https://calendar.example"},
		Scopes: []string{"contacts.read", "openid"}, AuthTime: time.Now().Add(-time.Minute).Truncate(time.Second), GrantID: "fam_1",
	}
}

func TestMintJWT(t *testing.T) {
	e := newMintEnv(t)
	ctx := context.Background()
	for _, format := range []string{valet.TokenFormatJWT, ""} { // "": a client stored before formats existed
		t.Run("format "+format, func(t *testing.T) {
			r := request("jwt1")
			raw, exp, err := e.m.Mint(ctx, &valet.Client{ID: "jwt1", AccessTokenFormat: format}, r)
			if err != nil {
				t.Fatal(err)
			}
			c, err := e.m.Issuer.ParseAccess(raw)
			if err != nil {
				t.Fatalf("not a valid RFC 9068 token: %v", err)
			}
			if c.Subject != r.Subject || c.ClientID != "jwt1" || !slices.Equal(c.Audience, r.Audience) ||
				!slices.Equal(c.Scopes(), r.Scopes) || c.AuthTime != r.AuthTime.Unix() || c.GrantID != "fam_1" {
				t.Errorf("claims = %+v", c)
			}
			if !exp.Equal(time.Unix(c.Expiry, 0)) || c.Expiry-c.IssuedAt != int64(ttl/time.Second) {
				t.Errorf("exp %v, claims exp %d iat %d", exp, c.Expiry, c.IssuedAt)
			}
			// A JWT is not stored: it verifies on its own.
			if _, err := e.st.Access.Get(ctx, token.OpaqueKey(e.dig, raw)); !errors.Is(err, valet.ErrNotFound) {
				t.Errorf("a JWT access token was stored (%v)", err)
			}
		})
	}
}

func TestMintOpaque(t *testing.T) {
	e := newMintEnv(t)
	ctx := context.Background()
	c := &valet.Client{ID: "opq1", AccessTokenFormat: valet.TokenFormatOpaque}
	r := request("opq1")
	before := time.Now()
	raw, exp, err := e.m.Mint(ctx, c, r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "at_") || len(raw) != 3+8+43 {
		t.Fatalf("token %q, want at_, 8 characters of issue time and 43 random ones", raw)
	}
	if _, err := e.m.Issuer.ParseAccess(raw); err == nil {
		t.Error("an opaque token parses as a JWT")
	}
	// Stored under its keyed digest only.
	stored, err := e.st.Access.Get(ctx, token.OpaqueKey(e.dig, raw))
	if err != nil {
		t.Fatalf("not stored under the PurposeAccess digest: %v", err)
	}
	if _, err := e.st.Access.Get(ctx, raw); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("the raw value is a key in the store (%v)", err)
	}
	if stored.Digest == raw || strings.Contains(stored.Digest, raw[3:]) || stored.ID == "" ||
		stored.GrantID != "fam_1" || stored.ClientID != "opq1" || stored.Subject != "u_ana" ||
		!slices.Equal(stored.Scopes, r.Scopes) || !slices.Equal(stored.Audience, r.Audience) || !stored.AuthTime.Equal(r.AuthTime) {
		t.Errorf("stored = %+v", stored)
	}
	if !stored.ExpiresAt.Equal(exp) || exp.Nanosecond() != 0 {
		t.Errorf("returned exp %v, stored %v; want equal, in whole seconds", exp, stored.ExpiresAt)
	}
	if d := exp.Sub(before); d < ttl-time.Second || d > ttl+time.Second {
		t.Errorf("lifetime %v, want %v", d, ttl)
	}
	// Each token is new: value and ID.
	raw2, _, err := e.m.Mint(ctx, c, r)
	if err != nil {
		t.Fatal(err)
	}
	stored2, err := e.st.Access.Get(ctx, token.OpaqueKey(e.dig, raw2))
	if err != nil || raw2 == raw || stored2.ID == stored.ID {
		t.Errorf("second token %q (ID %v, %v) repeats the first", raw2, stored2, err)
	}
}

// failingAccess is an AccessTokenStore whose database has gone away.
type failingAccess struct{ valet.AccessTokenStore }

func (failingAccess) Create(context.Context, *valet.AccessToken) error {
	return errors.New("database is closed")
}

func TestMintRefuses(t *testing.T) {
	e := newMintEnv(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		m *token.Minter
		c *valet.Client
		r token.AccessRequest
	}{
		"unknown format": {e.m, &valet.Client{ID: "jwt1", AccessTokenFormat: "paseto"}, request("jwt1")},
		"another client": {e.m, &valet.Client{ID: "opq1", AccessTokenFormat: valet.TokenFormatOpaque}, request("jwt1")},
		"store fails": {&token.Minter{Issuer: e.m.Issuer, Access: failingAccess{}, Digester: e.dig},
			&valet.Client{ID: "opq1", AccessTokenFormat: valet.TokenFormatOpaque}, request("opq1")},
		"no store": {&token.Minter{Issuer: e.m.Issuer, Digester: e.dig},
			&valet.Client{ID: "opq1", AccessTokenFormat: valet.TokenFormatOpaque}, request("opq1")},
	} {
		t.Run(name, func(t *testing.T) {
			raw, exp, err := tc.m.Mint(ctx, tc.c, tc.r)
			if err == nil || raw != "" || !exp.IsZero() {
				t.Errorf("Mint = %q, %v, %v; want an error and no token", raw, exp, err)
			}
			// Only a store failure is an outage (503); the rest are bugs or
			// configuration (500).
			if storeFailed := errors.Is(err, token.ErrStore); storeFailed != (name == "store fails") {
				t.Errorf("errors.Is(err, ErrStore) = %v for %q: %v", storeFailed, name, err)
			}
		})
	}
}
