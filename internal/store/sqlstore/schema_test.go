package sqlstore

import (
	"database/sql"
	"strings"
	"testing"
)

// TestIndexes checks that the periodic sweep of expired access tokens and
// the cascade of a deleted client search an index instead of scanning a
// table that grows with traffic. On PostgreSQL an ON DELETE CASCADE has no
// index of its own, and a small table is scanned whatever its indexes, so
// scans are turned off there: a plan that still scans has no index to use.
func TestIndexes(t *testing.T) {
	sweep := strings.TrimPrefix(deleteExpiredAccess, "DELETE FROM access_tokens WHERE digest IN (")
	queries := map[string]struct {
		q       string
		args    []any
		pgIndex string // the index PostgreSQL uses
	}{
		"sweep":   {strings.TrimSuffix(sweep, ")"), []any{int64(0), 10}, "access_tokens_expires_at"},
		"cascade": {`DELETE FROM access_tokens WHERE client_id = ?`, []any{"c"}, "access_tokens_client_id"},
	}
	backends(t, func(t *testing.T, db *DB) {
		conn, err := db.w.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain, scan := "EXPLAIN QUERY PLAN ", "SCAN access_tokens"
		if db.Dialect() == dialectPostgres {
			explain, scan = "EXPLAIN ", "Seq Scan on access_tokens"
			if _, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(t.Context(), "RESET enable_seqscan")
		}
		for name, c := range queries {
			q, index := c.q, "access_tokens_client_expiry"
			if db.Dialect() == dialectPostgres {
				q, index = rebind(q), c.pgIndex
				if name == "sweep" {
					q = rebind(strings.TrimSuffix(strings.TrimPrefix(deleteExpiredAccessPostgres,
						"DELETE FROM access_tokens WHERE digest IN ("), ")"))
				}
			}
			plan := planText(t, conn, explain+q, c.args...)
			if strings.Contains(plan, scan) || !strings.Contains(plan, index) {
				t.Errorf("%s: plan does not search %s:\n%s", name, index, plan)
			}
		}
	})
}

// planText returns the rows of an EXPLAIN, one a line, every column joined.
func planText(t *testing.T, conn *sql.Conn, q string, args ...any) string {
	t.Helper()
	rows, err := conn.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				b.Write(v)
			case string:
				b.WriteString(v)
			}
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
