package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqlitePragmas are set on every connection, through the DSN, so that a
// connection database/sql opens later has them too.
var sqlitePragmas = []string{
	// Only this process's own connections share the file (see sqliteDSN),
	// and they do not wait on each other but for an instant while one of
	// them recovers the WAL; a second process waits this long for the
	// file before it is told that it is in use.
	"busy_timeout(2000)",
	"journal_mode(WAL)",   // readers do not block the writer, nor it them
	"foreign_keys(1)",     // the ON DELETE CASCADEs
	"synchronous(NORMAL)", // safe with WAL; a power cut loses at most the last commits
}

// sqliteDSN returns the modernc.org/sqlite DSN for path. Every connection
// uses SQLite's unix-excl VFS: the first takes an exclusive lock on the file
// for the whole process, and the WAL index lives in this process's memory
// instead of a shared-memory file whose locks cost a fcntl system call each:
// about nine a commit, a tenth of the batch writer's time. A SQLite file then
// belongs to one valet process; a second one is refused with a clear error
// (see openSQLite) instead of sharing a file it cannot share safely, since
// this process's caches (the deny-list copy, the client cache) would miss
// its writes. Several nodes share PostgreSQL instead. The lock is a POSIX
// one, which the kernel drops when the process closes any descriptor of the
// file: nothing in Valet may open the database file but SQLite.
//
// Write connections
// begin every transaction IMMEDIATE, taking the write lock up front: a
// deferred transaction that read first would fail with SQLITE_BUSY instead
// of waiting when another writer got in between. Read connections are
// query_only, so a write sent to the wrong pool fails loudly.
func sqliteDSN(path string, readOnly bool) string {
	v := url.Values{"_pragma": sqlitePragmas, "vfs": {"unix-excl"}}
	if readOnly {
		v.Set("_query_only", "1")
	} else {
		v.Set("_txlock", "immediate")
		// The checkpointer copies the WAL into the database in the
		// background; the writer checkpoints itself only as a backstop,
		// when the WAL has grown this many pages (32 MB) regardless, and a
		// WAL file that was reset is cut back to 64 MB.
		v.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
		v.Add("_pragma", "journal_size_limit(67108864)")
	}
	return path + "?" + v.Encode()
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlite:// needs a file path, as in sqlite:///var/lib/valet/valet.db (--db / VALET_DB)")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite://%s is not supported: give a file path, as in sqlite:///var/lib/valet/valet.db (--db / VALET_DB)", path)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("the SQLite path %q contains '?' or '#': rename the file, or give its directory a plain name", path)
	}

	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection creates the file and switches it to WAL before any
	// reader opens it.
	if err := pingSQLite(ctx, w); err != nil {
		_ = w.Close()
		if isBusy(err) {
			return nil, fmt.Errorf("the SQLite database %s is in use by another process, such as a valet serve already running on the same data directory: one process at a time may open it; stop the other one, or give this one its own --data (VALET_DATA) or --db (VALET_DB); for several nodes, use PostgreSQL", path)
		}
		return nil, fmt.Errorf("cannot open SQLite database %s: %w; check the path (--db / VALET_DB): its directory must exist and be writable", path, err)
	}

	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	ck, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	db := &DB{dialect: dialectSQLite, r: r, w: w, path: path,
		rs: newStmtCache(r, true), ws: newStmtCache(w, true)}
	// The tokens a process that stopped left in its journal go into the
	// table before anything reads it.
	j, found, segs, err := openAccessJournal(path)
	if err == nil && len(segs) > 0 {
		if err = db.replayJournal(ctx, found, segs); err != nil {
			j.release()
		}
	}
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		_ = ck.Close()
		return nil, err
	}
	db.accessQ = startAccessBatcher(db, j)
	db.ckpt = newCheckpointer(ck, checkpointEvery)
	db.deny = newDenyMirror(db, time.Second)
	return db, nil
}

// walBackstopPages is the WAL size, in pages, at which the writer
// checkpoints on its own commit (SQLite's default is 1000): only when the
// checkpointer has fallen behind.
const walBackstopPages = 8192

// checkpointEvery is how often the checkpointer runs.
const checkpointEvery = 200 * time.Millisecond

// checkpointer runs SQLite's WAL checkpoints on a connection of its own.
// Left to SQLite, the commit that crosses wal_autocheckpoint pages copies
// the WAL into the database and syncs both files, on the one write
// connection, while every other writer waits: in valet bench the opaque
// token inserts lost a quarter of their rate to it. A PASSIVE checkpoint
// here does that work beside the writer and never blocks it.
type checkpointer struct {
	db    *sql.DB
	every *periodic
}

func newCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{db: db}
	c.every = startPeriodic(every, func() {
		// A failure (the file is gone, the disk is full) shows in the
		// writes themselves; the writer's backstop checkpoint remains.
		_, _, _ = c.checkpoint(context.Background())
	})
	return c
}

// checkpoint runs one PASSIVE checkpoint and reports the frames in the WAL
// and how many of them are now in the database.
func (c *checkpointer) checkpoint(ctx context.Context) (frames, done int, err error) {
	var busy int
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
	return frames, done, err
}

// close stops the checkpointer and closes its connection; closing again
// does nothing more.
func (c *checkpointer) close() error {
	c.every.stop()
	return c.db.Close()
}

// pingSQLite opens the first write connection. Switching a new file to WAL
// takes an exclusive lock, and SQLite answers SQLITE_BUSY at once, without
// its busy handler, to a connection that loses that race: databases of
// this process (tests) opening a new file together retry for a few seconds
// instead. A file another process holds stays busy: after pingRetryFor the
// error is returned, and openSQLite says so.
func pingSQLite(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(pingRetryFor)
	for attempt := 0; ; attempt++ {
		err := w.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(10+attempt%10*5) * time.Millisecond):
		}
	}
}

// pingRetryFor bounds how long pingSQLite retries a busy file.
const pingRetryFor = 3 * time.Second
