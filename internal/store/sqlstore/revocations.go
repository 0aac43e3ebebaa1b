package sqlstore

import (
	"context"
	"time"
)

// revocations is the valet.RevocationStore.
type revocations struct{ db *DB }

func (s *revocations) Add(ctx context.Context, id string, expiresAt time.Time) error {
	write := func() error {
		_, err := s.db.exec(ctx, s.db.ws, `INSERT INTO revocations (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE revocations.expires_at < excluded.expires_at`, id, micros(expiresAt))
		return wrap("add revocation", err)
	}
	if s.db.deny != nil {
		return s.db.deny.add(id, expiresAt.UnixMicro(), write)
	}
	return write()
}

// AnyRevoked looks up the ids in one query; entries past their expiry still
// count until DeleteExpired removes them.
func (s *revocations) AnyRevoked(ctx context.Context, ids ...string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	if s.db.deny != nil {
		return s.db.deny.revoked(ctx, ids)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var query string
	if len(ids) < len(anyRevoked) {
		query = anyRevoked[len(ids)]
	} else {
		query = anyRevokedQuery(len(ids))
	}
	var revoked bool
	err := s.db.queryRow(ctx, s.db.rs, query, args...).Scan(&revoked)
	return revoked, wrap("look up revocations", err)
}

// anyRevoked holds AnyRevoked's query for the counts of ids callers pass
// (a token's id, with its grant's), built once rather than per lookup.
var anyRevoked = [...]string{1: anyRevokedQuery(1), 2: anyRevokedQuery(2)}

func anyRevokedQuery(n int) string {
	return `SELECT EXISTS (SELECT 1 FROM revocations WHERE id IN (` + placeholders(n) + `))`
}

func (s *revocations) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	del := func() (int, error) {
		return s.db.deleteInBatches(ctx, "delete expired revocations",
			`DELETE FROM revocations WHERE id IN (SELECT id FROM revocations WHERE expires_at <= ? LIMIT ?)`, micros(now))
	}
	if s.db.deny != nil {
		return s.db.deny.deleted(ctx, del)
	}
	return del()
}
