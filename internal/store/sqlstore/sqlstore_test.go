package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the admin connection

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) valet.Store {
		return open(t, sqliteURL(t)).Store()
	})
}

func TestPostgres(t *testing.T) {
	base := postgresURL(t)
	storetest.Run(t, func(t *testing.T) valet.Store {
		return open(t, freshSchema(t, base)).Store()
	})
}

// open opens and migrates url, and closes it when the test ends.
func open(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// sqliteURL names a new database file in the test's temporary directory.
func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "valet.db")
}

// postgresURL returns VALET_TEST_POSTGRES, skipping the test when it is not
// set. Once it is set, a server that does not answer fails the test: a
// silently skipped PostgreSQL suite would pass with the backend broken.
func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("VALET_TEST_POSTGRES")
	if u == "" {
		t.Skip("VALET_TEST_POSTGRES is not set; set it to run against PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	pgCheck.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", u)
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		pgErr = err
	})
	if pgErr != nil {
		t.Fatalf("VALET_TEST_POSTGRES is set but PostgreSQL does not answer: %v; start it, or unset the variable to skip these tests", pgErr)
	}
	return u
}

var (
	pgCheck sync.Once
	pgErr   error
)

// freshSchema creates an empty schema, dropped when the test ends, and
// returns base with a search_path naming it, so that every test has a
// database of its own.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "valet_test_" + strings.ToLower(rand.Text())
	// A schema name is an identifier, which cannot be a parameter; it is
	// generated here and quoted anyway.
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// backends runs fn on a fresh, migrated SQLite database and, when
// VALET_TEST_POSTGRES is set, on a fresh PostgreSQL schema.
func backends(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, open(t, sqliteURL(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, open(t, freshSchema(t, postgresURL(t)))) })
}

func TestDialect(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		if want := t.Name()[strings.LastIndex(t.Name(), "/")+1:]; db.Dialect() != want {
			t.Errorf("Dialect() = %q, want %q", db.Dialect(), want)
		}
	})
}

func TestRebind(t *testing.T) {
	pg, lite := &DB{dialect: dialectPostgres}, &DB{dialect: dialectSQLite}
	for _, tc := range []struct{ in, pg string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"a = '?' AND b = ? AND c = 'it''s ?' AND d = ?", "a = '?' AND b = $1 AND c = 'it''s ?' AND d = $2"},
		{strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	} {
		if got := pg.q(tc.in); got != tc.pg {
			t.Errorf("postgres q(%q) = %q, want %q", tc.in, got, tc.pg)
		}
		if got := lite.q(tc.in); got != tc.in {
			t.Errorf("sqlite q(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}
