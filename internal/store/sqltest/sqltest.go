// Package sqltest gives tests their own database: a fresh PostgreSQL schema
// per test when VALET_TEST_POSTGRES is set, dropped when the test ends. It is
// for tests only.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvPostgres names the environment variable holding the PostgreSQL test
// URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgres = "VALET_TEST_POSTGRES"

var (
	pgCheck sync.Once
	pgErr   error
)

// PostgresURL returns the PostgreSQL test URL. Unset, the test is skipped;
// set but unreachable, the test fails: a silently skipped PostgreSQL suite
// would pass with the backend broken.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvPostgres)
	if u == "" {
		t.Skip(EnvPostgres + " is not set; set it to run against PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
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
		t.Fatalf("%s is set but PostgreSQL does not answer: %v; start it, or unset the variable to skip these tests", EnvPostgres, pgErr)
	}
	return u
}

// FreshSchema creates an empty schema, dropped when the test ends, and
// returns base with a search_path naming it.
func FreshSchema(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "valet_test_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
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

// Backend names a database a test can run on and makes a fresh one.
type Backend struct {
	Name string
	// URL returns the URL of a fresh, empty database for t.
	URL func(t testing.TB) string
}

// Backends returns SQLite, and PostgreSQL when VALET_TEST_POSTGRES is set.
func Backends() []Backend {
	b := []Backend{{"sqlite", func(t testing.TB) string { return "sqlite://" + t.TempDir() + "/valet.db" }}}
	if os.Getenv(EnvPostgres) != "" {
		b = append(b, Backend{"postgres", func(t testing.TB) string { return FreshSchema(t, PostgresURL(t)) }})
	}
	return b
}
