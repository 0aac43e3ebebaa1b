package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqlitePragmas are set on every connection, through the DSN, so that a
// connection database/sql opens later has them too.
var sqlitePragmas = []string{
	"busy_timeout(10000)", // another process's writer: wait up to 10 s, never fail at once
	"journal_mode(WAL)",   // readers do not block the writer, nor it them
	"foreign_keys(1)",     // the ON DELETE CASCADEs
	"synchronous(NORMAL)", // safe with WAL; a power cut loses at most the last commits
}

// sqliteDSN returns the modernc.org/sqlite DSN for path. Write connections
// begin every transaction IMMEDIATE, taking the write lock up front: a
// deferred transaction that read first would fail with SQLITE_BUSY instead
// of waiting when another writer got in between. Read connections are
// query_only, so a write sent to the wrong pool fails loudly.
func sqliteDSN(path string, readOnly bool) string {
	v := url.Values{"_pragma": sqlitePragmas}
	if readOnly {
		v.Set("_query_only", "1")
	} else {
		v.Set("_txlock", "immediate")
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
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
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
	db := &DB{dialect: dialectSQLite, r: r, w: w, path: path,
		rs: newStmtCache(r, true), ws: newStmtCache(w, true)}
	db.accessQ = newAccessBatcher(db)
	return db, nil
}
