package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// migrations holds migrations/{sqlite,postgres}/NNNNN_name.sql, goose files
// that each run in one transaction.
//
//go:embed migrations
var migrations embed.FS

// Migrate brings the schema up to date. Every node may call it at start:
// concurrent calls wait for each other and apply each migration once (on
// SQLite they can only come from this process: see sqliteDSN).
//
// The lock is taken here, around all of goose's work, rather than handed to
// goose: goose checks for pending migrations, creating its version table if
// need be, before it takes its own lock, and racing nodes then back off a
// second each.
func (db *DB) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+db.dialect)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	switch db.dialect {
	case dialectPostgres:
		return db.withPostgresLock(ctx, func() error { return up(ctx, goose.DialectPostgres, db.w, fsys) })
	default:
		// goose holds a connection for the migrations while the lock renews
		// its lease on another, so neither may be the single writer connection.
		conns, err := sql.Open("sqlite", sqliteDSN(db.path, false))
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conns.Close()
		conns.SetMaxOpenConns(3)
		l := newSQLiteMigrationLock()
		if err := l.Lock(ctx, conns); err != nil {
			return fmt.Errorf("migrate the sqlite database: %w", err)
		}
		err = up(ctx, goose.DialectSQLite3, conns, fsys)
		return errors.Join(err, l.Unlock(context.WithoutCancel(ctx), conns))
	}
}

func up(ctx context.Context, dialect goose.Dialect, conns *sql.DB, fsys fs.FS) error {
	p, err := goose.NewProvider(dialect, conns, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate the %s database: %w", dialect, err)
	}
	return nil
}

// The lockClass constants are the first key of Valet's PostgreSQL advisory
// locks ("vale", "valf"); the second names what is locked, within the
// current schema, so that deployments sharing a database in different
// schemas do not wait on each other.
const (
	lockClassMigrate = 0x76616c65
	lockClassKeys    = 0x76616c66
)

// withPostgresLock runs fn holding a session advisory lock for the current
// schema, waiting in pg_advisory_lock rather than polling.
func (db *DB) withPostgresLock(ctx context.Context, fn func() error) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	const key = "($1, hashtext(coalesce(current_schema(), '')))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock"+key, lockClassMigrate); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	fnErr := fn()
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock"+key, lockClassMigrate); err != nil {
		// A session that may still hold the lock must not go back to the
		// pool; closing it releases the lock.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(fnErr, fmt.Errorf("migrate: release the migration lock: %w", err))
	}
	return fnErr
}

// sqliteMigrationLock is the migration lock on SQLite, which has no advisory
// locks: a one-row table holding the owner and a lease, renewed while the
// migrations run, so that a process that dies holding it blocks the others
// for one lease at most.
type sqliteMigrationLock struct {
	owner     string
	heartbeat *periodic // while the lock is held
}

const (
	migrationLease     = time.Minute
	migrationHeartbeat = 10 * time.Second
	migrationPoll      = 20 * time.Millisecond
)

func newSQLiteMigrationLock() *sqliteMigrationLock {
	return &sqliteMigrationLock{owner: rand.Text()}
}

func (l *sqliteMigrationLock) Lock(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS valet_migration_lock (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		owner TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create the migration lock table: %w", err)
	}
	for {
		now := time.Now()
		n, err := affected(db.ExecContext(ctx, `INSERT INTO valet_migration_lock (id, owner, expires_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE valet_migration_lock.expires_at <= ?`,
			l.owner, now.Add(migrationLease).UnixMicro(), now.UnixMicro()))
		if err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if n == 1 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the migration lock another process holds: %w", ctx.Err())
		case <-time.After(migrationPoll):
		}
	}
	l.heartbeat = startPeriodic(migrationHeartbeat, func() {
		// A failed renewal is retried at the next tick; the lease is
		// several ticks long.
		_, _ = db.Exec("UPDATE valet_migration_lock SET expires_at = ? WHERE id = 1 AND owner = ?",
			time.Now().Add(migrationLease).UnixMicro(), l.owner)
	})
	return nil
}

func (l *sqliteMigrationLock) Unlock(ctx context.Context, db *sql.DB) error {
	if l.heartbeat != nil {
		l.heartbeat.stop()
		l.heartbeat = nil
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM valet_migration_lock WHERE id = 1 AND owner = ?", l.owner); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	return nil
}
