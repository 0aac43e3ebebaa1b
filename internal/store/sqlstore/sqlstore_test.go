package sqlstore

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/store/sqltest"

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
	db := openOnly(t, url)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openOnly opens and migrates url, for a test that closes it itself.
func openOnly(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		db.Close()
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// sqliteURL names a new database file in the test's temporary directory.
func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "valet.db")
}

func postgresURL(t *testing.T) string { return sqltest.PostgresURL(t) }

func freshSchema(t *testing.T, base string) string { return sqltest.FreshSchema(t, base) }

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
