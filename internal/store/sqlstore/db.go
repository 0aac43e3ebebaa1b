package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/valetauth/valet"
)

// The two dialects, as Dialect reports them.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// DB is an open Valet database. It is safe for concurrent use; close it when
// the server stops.
type DB struct {
	dialect string
	// r serves single-statement reads and w everything that writes. On SQLite
	// w is one connection, so this process's writers queue in Go instead of
	// spinning on SQLITE_BUSY, while r's connections read the WAL in
	// parallel. On PostgreSQL both are the same pool.
	r, w *sql.DB
	// forUpdate ends the SELECT of a read-modify-write transaction. PostgreSQL
	// needs the row lock; a SQLite write transaction already holds the only
	// write lock, taken at BEGIN IMMEDIATE.
	forUpdate string
	// path is the SQLite file, which Migrate opens a pool of its own on.
	path string
	// rs and ws run the single statements sent to r and w, prepared once per
	// pool on SQLite (see stmtCache).
	rs, ws *stmtCache
	// accessQ batches access.Create on SQLite; nil on PostgreSQL.
	accessQ *accessBatcher
	// rebound caches q's PostgreSQL form of each query text; reboundN
	// counts what was stored.
	rebound  sync.Map
	reboundN atomic.Int64
	// ckpt checkpoints SQLite's WAL off the write path; nil on PostgreSQL.
	ckpt *checkpointer
	// deny is SQLite's in-memory copy of the deny-list; nil on PostgreSQL.
	deny *denyMirror
}

// Open connects to the database named by url and checks that it answers:
// "sqlite:///var/lib/valet/valet.db" (everything after "sqlite://" is the
// file path; the directory must exist) or "postgres://user@host:5432/db"
// ("postgresql://" too; any pgx parameter, such as search_path, may follow).
// It does not change the schema: call Migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	switch scheme = strings.ToLower(scheme); {
	case !ok:
		return nil, errors.New("the database URL has no scheme: use sqlite:///path/valet.db or postgres://user@host/db (--db / VALET_DB)")
	case scheme == "sqlite":
		return openSQLite(ctx, rest)
	case scheme == "postgres" || scheme == "postgresql":
		return openPostgres(ctx, url)
	case plainScheme.MatchString(scheme):
		return nil, fmt.Errorf("unsupported database %q: use sqlite:///path/valet.db or postgres://user@host/db (--db / VALET_DB)", scheme)
	default:
		return nil, errors.New("unsupported database URL: use sqlite:///path/valet.db or postgres://user@host/db (--db / VALET_DB)")
	}
}

// plainScheme matches what may be echoed from a URL that is not ours; any
// other text before "://" might be a secret pasted in the wrong place.
var plainScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]{0,19}$`)

// Dialect reports the engine: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close closes every connection. It first writes the access tokens queued
// (see QueuedAccess); Creates made after it fail.
func (db *DB) Close() error {
	if db.accessQ != nil {
		db.accessQ.close()
	}
	var errs []error
	if db.deny != nil {
		db.deny.close()
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.rs != nil {
		errs = append(errs, db.rs.close())
	}
	if db.ws != nil && db.ws != db.rs {
		errs = append(errs, db.ws.close())
	}
	if db.r == db.w {
		errs = append(errs, db.w.Close())
	} else {
		errs = append(errs, db.w.Close(), db.r.Close())
	}
	return errors.Join(errs...)
}

// maxCachedStmts bounds a stmtCache: queries built from a variable number of
// placeholders (AnyRevoked's IN list) are cached only while there is room.
const maxCachedStmts = 256

// stmtCache runs the single statements sent to one pool. On SQLite it
// prepares each query text once and keeps the *sql.Stmt, which database/sql
// prepares again, lazily, on each connection that runs it, and which the
// driver keeps compiled between runs: sqlite3_prepare_v2 on every call was a
// large share of the CPU of the token and introspection endpoints. On
// PostgreSQL it sends the query to the pool as is: pgx already keeps a cache
// of prepared statements per connection, and a *sql.Stmt measured no faster.
type stmtCache struct {
	pool    *sql.DB
	prepare bool
	stmts   sync.Map // query text -> *sql.Stmt
	n       atomic.Int32
	mu      sync.Mutex // held to add a statement, and by close
	closed  bool
}

func newStmtCache(pool *sql.DB, prepare bool) *stmtCache {
	return &stmtCache{pool: pool, prepare: prepare}
}

// stmt returns the prepared statement of query, preparing it if need be; nil
// when the statement is not to be cached (PostgreSQL, a full cache, a closed
// database) or could not be prepared, in which case the caller runs the query
// directly and gets the same result and error as without the cache.
func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	if !c.prepare {
		return nil
	}
	if st, ok := c.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStmts {
		return nil
	}
	// Prepared outside the lock: on the single write connection it may wait
	// for a transaction to end, and other queries must not wait with it.
	st, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts.Load(query); ok {
		_ = st.Close() // another caller prepared it first
		return prev.(*sql.Stmt)
	}
	if c.closed || c.n.Load() >= maxCachedStmts {
		_ = st.Close()
		return nil
	}
	c.stmts.Store(query, st)
	c.n.Add(1)
	return st
}

// close closes every cached statement; later calls run queries directly,
// and fail as the closed pool makes them.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	c.stmts.Range(func(q, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		c.stmts.Delete(q)
		return true
	})
	c.n.Store(0)
	return errors.Join(errs...)
}

// exec runs a statement that returns no rows through c: db.rs or db.ws. The
// query is written with "?" placeholders and rebound to the dialect here.
func (db *DB) exec(ctx context.Context, c *stmtCache, query string, args ...any) (sql.Result, error) {
	query = db.q(query)
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.pool.ExecContext(ctx, query, args...)
}

// queryRow runs a query that returns at most one row through c.
func (db *DB) queryRow(ctx context.Context, c *stmtCache, query string, args ...any) *sql.Row {
	query = db.q(query)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.pool.QueryRowContext(ctx, query, args...)
}

// query runs a query that returns rows through c.
func (db *DB) query(ctx context.Context, c *stmtCache, query string, args ...any) (*sql.Rows, error) {
	query = db.q(query)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.pool.QueryContext(ctx, query, args...)
}

// Store returns the valet.Store kept in this database, every field filled.
func (db *DB) Store() valet.Store {
	return valet.Store{
		Clients:     &clients{db},
		Users:       &users{db},
		Sessions:    &sessions{db},
		Consents:    &consents{db},
		Codes:       &codes{db},
		Refresh:     &refresh{db},
		Access:      &access{db: db},
		Revocations: &revocations{db},
		Replays:     &replays{db},
		Keys:        &keys{db},
		Ping:        db.ping,
	}
}

var (
	_ valet.ClientStore      = (*clients)(nil)
	_ valet.UserStore        = (*users)(nil)
	_ valet.SessionStore     = (*sessions)(nil)
	_ valet.ConsentStore     = (*consents)(nil)
	_ valet.CodeStore        = (*codes)(nil)
	_ valet.RefreshStore     = (*refresh)(nil)
	_ valet.AccessTokenStore = (*access)(nil)
	_ valet.RevocationStore  = (*revocations)(nil)
	_ valet.ReplayStore      = (*replays)(nil)
	_ valet.KeyStore         = (*keys)(nil)
)

// ping runs a query rather than database/sql's Ping, which may only check
// that a pooled connection is still open.
func (db *DB) ping(ctx context.Context) error {
	var one int
	if err := db.queryRow(ctx, db.rs, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s database: %w", db.dialect, err)
	}
	return nil
}

// q rebinds a query written with "?" placeholders to the dialect: "$1",
// "$2"... on PostgreSQL. Our queries hold no "?" inside string literals, but
// quoted text is skipped anyway.
func (db *DB) q(query string) string {
	if db.dialect != dialectPostgres {
		return query
	}
	// The texts are the program's constants: each is rebound once.
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	out := rebind(query)
	if db.reboundN.Add(1) <= maxRebound {
		db.rebound.Store(query, out)
	}
	return out
}

// maxRebound bounds the rebound texts kept, in case a caller ever builds
// one per request.
const maxRebound = 512

func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// txAttempts bounds the retries of a transaction PostgreSQL aborted as a
// deadlock victim or serialization failure; at READ COMMITTED, which every
// transaction here uses, neither is expected.
const txAttempts = 3

// tx runs fn in a write transaction and commits it if fn returns nil. fn's
// own error is returned as is, so that Update can hand back its callback's.
// After a deadlock or serialization failure fn runs again, from the start,
// in a new transaction.
func (db *DB) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		if err = db.tryTx(ctx, op, fn); !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
	return err
}

func (db *DB) tryTx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	return wrap(op, tx.Commit())
}

// wrap names the operation that failed and maps the engine's errors to the
// contract's: no rows is valet.ErrNotFound, a unique violation is
// valet.ErrExists, and a foreign-key violation (a code for a client that is
// gone, say) is valet.ErrNotFound too.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, valet.ErrNotFound)
	case sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE,
		sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
		pgCode(err) == "23505":
		return fmt.Errorf("%s: %w: %w", op, valet.ErrExists, err)
	case sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, pgCode(err) == "23503":
		return fmt.Errorf("%s: %w: it refers to a client or user that does not exist: %w", op, valet.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func retryable(err error) bool {
	code := pgCode(err)
	return code == "40001" || code == "40P01"
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// isConstraint reports a SQLite constraint violation, of any extended code:
// the statement is undone alone.
func isConstraint(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_CONSTRAINT
}

// isBusy reports SQLITE_BUSY, of any extended code: a lock that another
// connection, or another process, holds.
func isBusy(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// affected returns how many rows a statement changed.
func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// deleteBatch is how many rows one DeleteExpired statement removes, so that a
// large backlog never holds the write lock for long.
const deleteBatch = 1000

// deleteInBatches runs query, a DELETE whose last placeholder is the batch
// size, until it removes fewer than a batch, and returns the total.
func (db *DB) deleteInBatches(ctx context.Context, op, query string, args ...any) (int, error) {
	args = append(args, deleteBatch)
	total := 0
	for {
		n, err := affected(db.exec(ctx, db.ws, query, args...))
		total += n
		if err != nil {
			return total, wrap(op, err)
		}
		if n < deleteBatch {
			return total, nil
		}
	}
}
