package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/valetauth/valet"
)

// keys is the valet.KeyStore.
type keys struct{ db *DB }

const keyColumns = "id, algorithm, sealed, public, created_at, not_before, retired_at, remove_at"

const insertKey = `INSERT INTO signing_keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func keyArgs(k *valet.SigningKey) []any {
	return []any{k.ID, k.Algorithm, k.Sealed, k.Public,
		micros(k.CreatedAt), micros(k.NotBefore), micros(k.RetiredAt), micros(k.RemoveAt)}
}

func (s *keys) Create(ctx context.Context, k *valet.SigningKey) error {
	_, err := s.db.exec(ctx, s.db.ws, insertKey, keyArgs(k)...)
	return wrap("create signing key", err)
}

// CreateFirst checks and inserts in one transaction, holding the
// algorithm's lock (see lockAlgorithm) so that of racing nodes only the
// first sees no key.
func (s *keys) CreateFirst(ctx context.Context, k *valet.SigningKey) (bool, error) {
	const op = "create first signing key"
	var inserted bool
	err := s.db.tx(ctx, op, func(tx *sql.Tx) error {
		inserted = false
		if err := s.lockAlgorithm(ctx, tx, k.Algorithm); err != nil {
			return wrap(op, err)
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, s.db.q(`SELECT EXISTS (SELECT 1 FROM signing_keys WHERE algorithm = ?)`), k.Algorithm).
			Scan(&exists); err != nil || exists {
			return wrap(op, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.q(insertKey), keyArgs(k)...); err != nil {
			return wrap(op, err)
		}
		inserted = true
		return nil
	})
	return inserted && err == nil, err
}

// Rotate is CreateFirst's lock and check with a different condition: the
// newest key of the algorithm must be older than createdBefore. The lock (or
// SQLite's write lock) makes every other node's Rotate wait until this one
// commits, then see its new key as the newest and change nothing.
func (s *keys) Rotate(ctx context.Context, next *valet.SigningKey, removeAt, createdBefore time.Time) (bool, error) {
	const op = "rotate signing keys"
	var rotated bool
	err := s.db.tx(ctx, op, func(tx *sql.Tx) error {
		rotated = false
		if err := s.lockAlgorithm(ctx, tx, next.Algorithm); err != nil {
			return wrap(op, err)
		}
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.db.q(`SELECT MAX(created_at) FROM signing_keys WHERE algorithm = ?`), next.Algorithm).
			Scan(&newest); err != nil {
			return wrap(op, err)
		}
		if newest.Valid && newest.Int64 >= ceilMicros(createdBefore) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.db.q(`UPDATE signing_keys SET retired_at = ?, remove_at = ?
			WHERE algorithm = ? AND retired_at IS NULL`), micros(next.NotBefore), micros(removeAt), next.Algorithm); err != nil {
			return wrap(op, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.q(insertKey), keyArgs(next)...); err != nil {
			return wrap(op, err)
		}
		rotated = true
		return nil
	})
	return rotated && err == nil, err
}

// lockAlgorithm serializes CreateFirst and Rotate for one algorithm. On
// SQLite the transaction already holds the write lock from BEGIN IMMEDIATE;
// on PostgreSQL two nodes would each read the same keys at READ COMMITTED,
// so an advisory lock per schema and algorithm, released at commit, makes
// the second wait and then see the first one's key.
func (s *keys) lockAlgorithm(ctx context.Context, tx *sql.Tx, algorithm string) error {
	if s.db.dialect != dialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '') || '/' || $2))`,
		lockClassKeys, algorithm)
	return err
}

// ceilMicros is t in microseconds since the epoch, rounded up, so that a
// stored (whole-microsecond) time x satisfies x < ceilMicros(t) exactly when
// it is before t.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// List returns every key, newest first.
func (s *keys) List(ctx context.Context) ([]*valet.SigningKey, error) {
	rows, err := s.db.query(ctx, s.db.rs, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	defer rows.Close()
	var out []*valet.SigningKey
	for rows.Next() {
		var k valet.SigningKey
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public,
			at(&k.CreatedAt), at(&k.NotBefore), at(&k.RetiredAt), at(&k.RemoveAt)); err != nil {
			return nil, wrap("list signing keys", err)
		}
		out = append(out, &k)
	}
	return out, wrap("list signing keys", rows.Err())
}

func (s *keys) Retire(ctx context.Context, id string, retiredAt, removeAt time.Time) error {
	n, err := affected(s.db.exec(ctx, s.db.ws, `UPDATE signing_keys SET retired_at = ?, remove_at = ? WHERE id = ?`,
		micros(retiredAt), micros(removeAt), id))
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return wrap("retire signing key", err)
}

func (s *keys) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete removed signing keys",
		`DELETE FROM signing_keys WHERE id IN (SELECT id FROM signing_keys WHERE remove_at IS NOT NULL AND remove_at <= ? LIMIT ?)`, micros(now))
}
