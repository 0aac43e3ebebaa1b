package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "hunter2-s3cret"

func TestOpenErrors(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "valet.db")
	cases := []struct {
		name, url string
		want      []string
	}{
		{"unknown scheme", "mysql://root:" + secret + "@db/valet", []string{`"mysql"`, "sqlite:///path/valet.db", "postgres://user@host/db"}},
		{"no scheme", "root:" + secret + "@db/valet", []string{"no scheme", "sqlite:///path/valet.db"}},
		{"odd scheme", "x y:" + secret + "://db", []string{"unsupported database URL", "postgres://user@host/db"}},
		{"empty sqlite path", "sqlite://", []string{"needs a file path", "sqlite:///var/lib/valet/valet.db"}},
		{"sqlite in memory", "sqlite://:memory:", []string{"not supported", "file path"}},
		{"sqlite directory missing", "sqlite://" + missingDir, []string{"cannot open SQLite database " + missingDir, "directory must exist"}},
		{"postgres unreachable", "postgres://valet:" + secret + "@127.0.0.1:1/valet?sslmode=disable",
			[]string{"cannot reach PostgreSQL at 127.0.0.1:1", "is it running?", "VALET_DB"}},
		{"postgres password parameter", "postgresql://valet@127.0.0.1:1/valet?sslmode=disable&password=" + secret,
			[]string{"cannot reach PostgreSQL at 127.0.0.1:1"}},
		{"postgres unparseable", "postgres://valet:" + secret + "@[::1/valet", []string{"invalid PostgreSQL URL", "postgres://user@host:5432/db"}},
		{"postgres bad parameter", "postgres://valet:" + secret + "@127.0.0.1/valet?connect_timeout=soon", []string{"invalid PostgreSQL URL"}},
	}
	if base := os.Getenv("VALET_TEST_POSTGRES"); base != "" {
		// The server answers but refuses: the database does not exist.
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), secret)
		u.Path = "/valet_no_such_database"
		cases = append(cases, struct {
			name, url string
			want      []string
		}{"postgres refuses", u.String(), []string{"PostgreSQL at " + u.Host + " refused the connection", "database"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(t.Context(), tc.url)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.url)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q contains the password", msg)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	odd := secret + "/@:&"
	for _, tc := range []struct{ url, resolved, password string }{
		{"postgres://u:" + secret + "@h/db", "", secret},
		{"postgres://u:" + url.QueryEscape(odd) + "@h/db", "", odd},
		{"postgres://u@h/db?password=" + url.QueryEscape(odd), "", odd},
		{"postgres://u@h/db", secret, secret},
		{"postgres://u:" + secret + "@[::1/db", "", secret},
		{"postgres://u@[::1/db?password=" + secret, "", secret},
	} {
		msg := redact("failed: "+tc.url+" "+tc.password+" "+url.QueryEscape(tc.password), tc.url, tc.resolved)
		if strings.Contains(msg, tc.password) || strings.Contains(msg, url.QueryEscape(tc.password)) {
			t.Errorf("redact for %q left the password in %q", tc.url, msg)
		}
	}
}

// TestSQLitePragmas checks the settings on several connections of each pool
// at once, so that a setting applied to the first connection only fails.
func TestSQLitePragmas(t *testing.T) {
	db := open(t, sqliteURL(t))
	check := func(t *testing.T, pool *sql.DB, n int, queryOnly string) {
		var conns []*sql.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range n {
			c, err := pool.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			for pragma, want := range map[string]string{
				"journal_mode": "wal",
				"foreign_keys": "1",
				"busy_timeout": "2000",
				"synchronous":  "1", // NORMAL
				"query_only":   queryOnly,
			} {
				var got string
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
				}
			}
		}
	}
	t.Run("writer", func(t *testing.T) { check(t, db.w, 1, "0") })
	t.Run("readers", func(t *testing.T) { check(t, db.r, 4, "1") })
	// The unix-excl VFS keeps the WAL index in memory: no -shm file.
	if _, err := os.Stat(db.path + "-shm"); !os.IsNotExist(err) {
		t.Errorf("stat %s-shm: %v; want no shared-memory file (unix-excl)", db.path, err)
	}

	if _, err := db.r.ExecContext(t.Context(), "DELETE FROM clients"); err == nil {
		t.Error("a write through the read pool succeeded; readers must be query_only")
	}
}

// TestSQLiteOneProcess checks that a SQLite file open in one process is
// refused to a second one, with an error that says what to do, and that
// closing the database frees it. The second process is this test binary,
// run again.
func TestSQLiteOneProcess(t *testing.T) {
	if path := os.Getenv("VALET_TEST_OPEN_SQLITE"); path != "" {
		db, err := Open(context.Background(), "sqlite://"+path)
		if err != nil {
			fmt.Println("refused:", err)
			os.Exit(0)
		}
		db.Close()
		fmt.Println("opened")
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "valet.db")
	second := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteOneProcess$")
		cmd.Env = append(os.Environ(), "VALET_TEST_OPEN_SQLITE="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("second process: %v\n%s", err, out)
		}
		return string(out)
	}
	db, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	out := second()
	for _, w := range []string{"refused:", "in use by another process", path, "--data", "PostgreSQL"} {
		if !strings.Contains(out, w) {
			t.Errorf("second process while the first has the file open: %q does not contain %q", out, w)
		}
	}
	// This process's own databases on the file are not refused.
	again, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("a second database on the file in the same process: %v", err)
	}
	again.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if out := second(); !strings.Contains(out, "opened") {
		t.Errorf("second process after Close: %q, want it to open the file", out)
	}
}
