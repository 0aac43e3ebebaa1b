package sqlstore

import (
	"fmt"
	"io/fs"
	"sync"
	"testing"
)

// TestMigrateConcurrent starts several "nodes" on one empty database at once,
// each opening its own connections and migrating: all succeed, and each
// migration is applied once.
func TestMigrateConcurrent(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { migrateConcurrently(t, sqliteURL(t)) })
	t.Run("postgres", func(t *testing.T) { migrateConcurrently(t, freshSchema(t, postgresURL(t))) })
}

func migrateConcurrently(t *testing.T, url string) {
	const nodes = 5
	var (
		wg   sync.WaitGroup
		dbs  [nodes]*DB
		errs [nodes]error
	)
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = Open(t.Context(), url)
			if errs[i] == nil {
				errs[i] = dbs[i].Migrate(t.Context())
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range nodes {
		if dbs[i] != nil {
			t.Cleanup(func() { dbs[i].Close() })
		}
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	db := dbs[0]

	files, err := fs.Glob(migrations, "migrations/"+db.Dialect()+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded migrations for %s: %v", db.Dialect(), err)
	}
	rows, err := db.r.QueryContext(t.Context(), "SELECT version_id, COUNT(*) FROM goose_db_version GROUP BY version_id ORDER BY version_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var applied []string
	for rows.Next() {
		var version, count int64
		if err := rows.Scan(&version, &count); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, fmt.Sprintf("%d×%d", version, count))
		if count != 1 {
			t.Errorf("version %d recorded %d times, want once", version, count)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Version 0 is goose's own row.
	if len(applied) != len(files)+1 {
		t.Errorf("goose_db_version holds %v, want version 0 and %d migrations", applied, len(files))
	}

	// Every node can use the schema, and migrating again changes nothing.
	for i, d := range dbs {
		if _, err := d.Store().Clients.List(t.Context()); err != nil {
			t.Errorf("node %d: List clients: %v", i, err)
		}
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate of an up-to-date database: %v", err)
	}
	if db.Dialect() == dialectSQLite {
		var held int
		if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM valet_migration_lock").Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Errorf("the migration lock is still held (%d rows)", held)
		}
	}
}
