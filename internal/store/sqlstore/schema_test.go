package sqlstore

import "testing"

// TestIndexes checks that the columns the periodic sweeps and the client
// cascade search by lead an index, so that neither scans a table that grows
// with traffic. On PostgreSQL an ON DELETE CASCADE has no index of its own.
func TestIndexes(t *testing.T) {
	want := []struct{ table, column string }{
		{"access_tokens", "expires_at"},
		{"access_tokens", "client_id"},
	}
	backends(t, func(t *testing.T, db *DB) {
		for _, w := range want {
			var indexed bool
			var err error
			switch db.Dialect() {
			case dialectPostgres:
				err = db.r.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_index i
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
					WHERE i.indrelid = to_regclass($1) AND a.attname = $2)`, w.table, w.column).Scan(&indexed)
			default:
				err = db.r.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pragma_index_list(?) l
					JOIN pragma_index_info(l.name) c ON c.seqno = 0 WHERE c.name = ?)`, w.table, w.column).Scan(&indexed)
			}
			if err != nil {
				t.Fatalf("look up indexes of %s: %v", w.table, err)
			}
			if !indexed {
				t.Errorf("no index on %s leads with %s", w.table, w.column)
			}
		}
	})
}
