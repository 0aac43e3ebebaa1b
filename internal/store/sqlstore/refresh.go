package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/valetauth/valet"
)

// refresh is the valet.RefreshStore.
type refresh struct{ db *DB }

const refreshColumns = "digest, family_id, client_id, user_id, scopes, resources, auth_time, created_at, expires_at, used_at, revoked_at"

const insertRefresh = `INSERT INTO refresh_tokens (` + refreshColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func refreshArgs(t *valet.RefreshToken) []any {
	return []any{t.Digest, t.FamilyID, t.ClientID, t.UserID, list(t.Scopes), list(t.Resources),
		micros(t.AuthTime), micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.UsedAt), micros(t.RevokedAt)}
}

func (s *refresh) Create(ctx context.Context, t *valet.RefreshToken) error {
	_, err := s.db.exec(ctx, s.db.ws, insertRefresh, refreshArgs(t)...)
	return wrap("create refresh token", err)
}

func (s *refresh) Get(ctx context.Context, digest string) (*valet.RefreshToken, error) {
	var t valet.RefreshToken
	err := s.db.queryRow(ctx, s.db.rs, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE digest = ?`, digest).
		Scan(&t.Digest, &t.FamilyID, &t.ClientID, &t.UserID, strs(&t.Scopes), strs(&t.Resources),
			at(&t.AuthTime), at(&t.CreatedAt), at(&t.ExpiresAt), at(&t.UsedAt), at(&t.RevokedAt))
	if err != nil {
		return nil, wrap("get refresh token", err)
	}
	return &t, nil
}

// Rotate is the single-use gate of refresh token rotation (RFC 9700
// §4.14.2): the conditional UPDATE lets exactly one of concurrent callers
// mark the old token used, and only that caller inserts its next token.
// At READ COMMITTED a PostgreSQL loser waits on the row lock, then finds the
// row no longer matches; on SQLite the transaction holds the write lock.
func (s *refresh) Rotate(ctx context.Context, oldDigest string, next *valet.RefreshToken) (bool, error) {
	const op = "rotate refresh token"
	var ok bool
	err := s.db.tx(ctx, op, func(tx *sql.Tx) error {
		ok = false
		now := micros(next.CreatedAt)
		n, err := affected(tx.ExecContext(ctx, s.db.q(`UPDATE refresh_tokens SET used_at = ?
			WHERE digest = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`), now, oldDigest, now))
		if err != nil || n != 1 {
			return wrap(op, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.q(insertRefresh), refreshArgs(next)...); err != nil {
			return wrap(op, err)
		}
		ok = true
		return nil
	})
	return ok && err == nil, err
}

func (s *refresh) RevokeFamily(ctx context.Context, familyID string, now time.Time) (int, error) {
	n, err := affected(s.db.exec(ctx, s.db.ws,
		`UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`, micros(now), familyID))
	return n, wrap("revoke refresh token family", err)
}

// RevokeFor revokes the user's unrevoked tokens for the client and returns
// the sorted, distinct families of the tokens it changed; families already
// revoked are not returned again.
func (s *refresh) RevokeFor(ctx context.Context, userID, clientID string, now time.Time) ([]string, error) {
	const op = "revoke refresh tokens of user and client"
	rows, err := s.db.query(ctx, s.db.ws, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL RETURNING family_id`, micros(now), userID, clientID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var families []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, wrap(op, err)
		}
		families = append(families, f)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	slices.Sort(families)
	return slices.Compact(families), nil
}

func (s *refresh) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired refresh tokens",
		`DELETE FROM refresh_tokens WHERE digest IN (SELECT digest FROM refresh_tokens WHERE expires_at <= ? LIMIT ?)`, micros(now))
}
