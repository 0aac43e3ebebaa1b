package sqlstore

import (
	"context"
	"sync"
	"time"
)

// denyMirror is SQLite's copy of the revocations table in memory. Every
// introspection asks the deny-list, and a read of SQLite — a read
// transaction, its locks, database/sql's machinery — was a fifth of the
// CPU of a JWT introspection, for a table that changes only when something
// is revoked. A SQLite file belongs to one node, whose revocations all go
// through Add here, so the copy is exact for this process at every moment.
// No other process can open the file (see sqliteDSN), but a second DB of
// this process on the same file (tests open two) is caught by refresh: once
// a second it reads a summary of the table and reloads the copy when the
// summary changed. PostgreSQL, where nodes share the database, always
// asks the database.
type denyMirror struct {
	db *DB
	// mu guards ids. change serialises what rewrites the table or the
	// copy (Add, DeleteExpired, reload), so that a reload can never drop an
	// entry an Add made while it ran.
	mu     sync.RWMutex
	ids    map[string]int64 // id → expires_at (micros), as stored
	loaded bool
	sum    denySummary
	change sync.Mutex

	every *periodic // the refresh
}

// denySummary changes whenever a row is added, removed or extended.
type denySummary struct{ rows, maxRowid, expirySum int64 }

func newDenyMirror(db *DB, every time.Duration) *denyMirror {
	m := &denyMirror{db: db}
	m.every = startPeriodic(every, func() {
		// Not migrated yet, or the file is unreadable: lookups load the
		// copy themselves, and report the error where it matters.
		_ = m.refresh(context.Background())
	})
	return m
}

// revoked reports whether any id is in the copy, loading it on first use
// (the table exists only once the database is migrated).
func (m *denyMirror) revoked(ctx context.Context, ids []string) (bool, error) {
	m.mu.RLock()
	loaded := m.loaded
	if loaded {
		for _, id := range ids {
			if _, ok := m.ids[id]; ok {
				m.mu.RUnlock()
				return true, nil
			}
		}
	}
	m.mu.RUnlock()
	if loaded {
		return false, nil
	}
	if err := m.reload(ctx); err != nil {
		return false, err
	}
	return m.revoked(ctx, ids)
}

// add writes the row through write and then records it, holding change
// across both so that no reload runs between them.
func (m *denyMirror) add(id string, expires int64, write func() error) error {
	m.change.Lock()
	defer m.change.Unlock()
	if err := write(); err != nil {
		return err
	}
	m.mu.Lock()
	if old, ok := m.ids[id]; m.loaded && (!ok || old < expires) {
		m.ids[id] = expires // the table keeps the later expiry too
	}
	m.mu.Unlock()
	return nil
}

// deleted runs the table's DeleteExpired through del and then reloads the
// copy from what is left.
func (m *denyMirror) deleted(ctx context.Context, del func() (int, error)) (int, error) {
	m.change.Lock()
	defer m.change.Unlock()
	n, err := del()
	if n > 0 || err != nil {
		m.mu.Lock()
		m.loaded = false // reloaded at next use, or by refresh
		m.mu.Unlock()
	}
	return n, err
}

// reload loads the copy, unless another caller did while this one waited:
// after a deletion every lookup waiting at that moment would otherwise
// read the whole table in turn.
func (m *denyMirror) reload(ctx context.Context) error {
	m.change.Lock()
	defer m.change.Unlock()
	m.mu.RLock()
	loaded := m.loaded
	m.mu.RUnlock()
	if loaded {
		return nil
	}
	return m.reloadLocked(ctx)
}

func (m *denyMirror) reloadLocked(ctx context.Context) error {
	sum, err := m.summary(ctx)
	if err != nil {
		return err
	}
	rows, err := m.db.r.QueryContext(ctx, `SELECT id, expires_at FROM revocations`)
	if err != nil {
		return wrap("load revocations", err)
	}
	defer rows.Close()
	ids := make(map[string]int64, sum.rows)
	for rows.Next() {
		var (
			id  string
			exp int64
		)
		if err := rows.Scan(&id, &exp); err != nil {
			return wrap("load revocations", err)
		}
		ids[id] = exp
	}
	if err := rows.Err(); err != nil {
		return wrap("load revocations", err)
	}
	m.mu.Lock()
	m.ids, m.loaded, m.sum = ids, true, sum
	m.mu.Unlock()
	return nil
}

func (m *denyMirror) summary(ctx context.Context) (denySummary, error) {
	var s denySummary
	err := m.db.r.QueryRowContext(ctx,
		`SELECT count(*), coalesce(max(rowid), 0), coalesce(sum(expires_at), 0) FROM revocations`).
		Scan(&s.rows, &s.maxRowid, &s.expirySum)
	return s, wrap("summarise revocations", err)
}

// refresh reloads the copy if the table changed behind it (another
// process) or it was dropped after a deletion.
func (m *denyMirror) refresh(ctx context.Context) error {
	m.change.Lock()
	defer m.change.Unlock()
	m.mu.RLock()
	loaded, known := m.loaded, m.sum
	m.mu.RUnlock()
	if loaded {
		sum, err := m.summary(ctx)
		if err != nil {
			return err
		}
		if sum == known {
			return nil
		}
	}
	return m.reloadLocked(ctx)
}

func (m *denyMirror) close() { m.every.stop() }
