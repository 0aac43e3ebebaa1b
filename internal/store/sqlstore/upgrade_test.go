package sqlstore

import (
	"database/sql"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/valetauth/valet"
)

// TestUpgradeOpenIDConnect migrates a database holding data from version 3
// to 4: rows written before OpenID Connect read back with the new fields
// zero (nil claims and lists), every live session gets a SID of its own, so
// the unique index can be built, and the migration goes down and up again.
func TestUpgradeOpenIDConnect(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { upgradeOpenIDConnect(t, sqliteURL(t)) })
	t.Run("postgres", func(t *testing.T) { upgradeOpenIDConnect(t, freshSchema(t, postgresURL(t))) })
}

func upgradeOpenIDConnect(t *testing.T, url string) {
	ctx := t.Context()
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := provider(t, db)
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatalf("migrate to version 3: %v", err)
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.w.ExecContext(ctx, db.q(query), args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(`INSERT INTO clients (id, secret_digest, metadata, created_at) VALUES ('c', '', ?, 1)`,
		`{"name":"Old","redirect_uris":["https://old.example/cb"],"grant_types":["authorization_code"],`+
			`"response_types":["code"],"scopes":["openid"],"token_endpoint_auth_method":"none","resources":null}`)
	exec(`INSERT INTO users (id, username, email, name, password_hash, created_at) VALUES ('u', 'ana', 'ana@example.com', 'Ana', '', 1)`)
	for _, id := range []string{"s1", "s2", "s3"} {
		exec(`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, 'u', 1, ?)`, id, int64(1)<<60)
	}
	exec(`INSERT INTO auth_codes (digest, family_id, client_id, user_id, redirect_uri, scopes, resources, nonce,
		code_challenge, code_challenge_method, created_at, expires_at) VALUES ('code', 'f', 'c', 'u', '', '[]', 'null', '', '', '', 1, ?)`, int64(1)<<60)

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 3: %v", err)
	}
	st := db.Store()
	u, err := st.Users.Get(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if u.EmailVerified || u.Claims != nil || u.Email != "ana@example.com" {
		t.Errorf("old user reads as email %q, email_verified %v, claims %#v; want its email, false and nil", u.Email, u.EmailVerified, u.Claims)
	}
	c, err := st.Clients.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.PostLogoutRedirectURIs != nil || c.BackchannelLogoutURI != "" || c.BackchannelLogoutSessionRequired ||
		c.IDTokenSignedResponseAlg != "" || c.SubjectType != "" || c.Name != "Old" {
		t.Errorf("old client reads as %+v; want its name and no OpenID Connect metadata", c)
	}
	sids := map[string]bool{}
	for _, id := range []string{"s1", "s2", "s3"} {
		s, err := st.Sessions.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.SID) < 32 || sids[s.SID] {
			t.Errorf("session %s got SID %q; want a random one of its own", id, s.SID)
		}
		sids[s.SID] = true
	}
	code, err := st.Codes.Get(ctx, "code", c.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if code.SessionID != "" {
		t.Errorf("old code reads with SessionID %q, want none", code.SessionID)
	}

	// Down to 3 and up again, with rows that use the new columns.
	s4 := &valet.Session{ID: "s4", SID: "sid-4", UserID: "u", CreatedAt: c.CreatedAt, ExpiresAt: c.CreatedAt.AddDate(100, 0, 0)}
	if err := st.Sessions.Create(ctx, s4); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("migrate down to version 3: %v", err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate up again: %v", err)
	}
	if s, err := st.Sessions.Get(ctx, "s4"); err != nil || s.SID == "" || s.SID == "sid-4" {
		t.Errorf("after down and up, session s4 = %+v, %v; want it back, with a new random SID: down dropped the column", s, err)
	}
}

// provider is a goose provider on db's migrations, for moving to a version.
func provider(t *testing.T, db *DB) *goose.Provider {
	t.Helper()
	fsys, err := fs.Sub(migrations, "migrations/"+db.dialect)
	if err != nil {
		t.Fatal(err)
	}
	conns, dialect := db.w, goose.DialectPostgres
	if db.dialect == dialectSQLite {
		if conns, err = sql.Open("sqlite", sqliteDSN(db.path, false)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conns.Close() })
		dialect = goose.DialectSQLite3
	}
	p, err := goose.NewProvider(dialect, conns, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUpgradeAccessTokenIndex migrates a SQLite database from version 5 to
// 6: a token whose client was deleted with foreign keys off, which the new
// sweep could never reach, is removed; the others stay, and the sweep
// removes an expired one.
func TestUpgradeAccessTokenIndex(t *testing.T) {
	ctx := t.Context()
	db := open(t, sqliteURL(t)) // migrated: go back to 5
	p := provider(t, db)
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatalf("migrate down to version 5: %v", err)
	}
	st := db.Store()
	benchClient(t, st, "c")
	live, expired := benchToken("live", "c"), benchToken("expired", "c")
	expired.ExpiresAt = expired.CreatedAt.Add(time.Second)
	for _, tok := range []*valet.AccessToken{live, expired, benchToken("orphan", "gone")} {
		if tok.ClientID == "gone" {
			benchClient(t, st, "gone")
		}
		if err := st.Access.Create(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.accessQ.flush(ctx); err != nil { // the rows in the table, for the statements below
		t.Fatal(err)
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA foreign_keys = OFF", "DELETE FROM clients WHERE id = 'gone'", "PRAGMA foreign_keys = ON"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 5: %v", err)
	}
	if _, err := st.Access.Get(ctx, "orphan"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get(orphan) after the migration = %v, want ErrNotFound", err)
	}
	if n, err := st.Access.DeleteExpired(ctx, expired.ExpiresAt); err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
	}
	checkStored(t, st, live)
}
