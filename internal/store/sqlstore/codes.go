package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/valetauth/valet"
)

// codes is the valet.CodeStore.
type codes struct{ db *DB }

const codeColumns = "digest, family_id, client_id, user_id, redirect_uri, scopes, resources, nonce, session_id, " +
	"code_challenge, code_challenge_method, auth_time, created_at, expires_at, used_at"

func scanCode(r row) (*valet.AuthCode, error) {
	var c valet.AuthCode
	err := r.Scan(&c.Digest, &c.FamilyID, &c.ClientID, &c.UserID, &c.RedirectURI, strs(&c.Scopes), strs(&c.Resources),
		&c.Nonce, &c.SessionID, &c.CodeChallenge, &c.CodeChallengeMethod, at(&c.AuthTime), at(&c.CreatedAt), at(&c.ExpiresAt), at(&c.UsedAt))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *codes) Create(ctx context.Context, c *valet.AuthCode) error {
	_, err := s.db.exec(ctx, s.db.ws, `INSERT INTO auth_codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Digest, c.FamilyID, c.ClientID, c.UserID, c.RedirectURI, list(c.Scopes), list(c.Resources),
		c.Nonce, c.SessionID, c.CodeChallenge, c.CodeChallengeMethod, micros(c.AuthTime), micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.UsedAt))
	return wrap("create authorization code", err)
}

func (s *codes) Get(ctx context.Context, digest string, now time.Time) (*valet.AuthCode, error) {
	c, err := scanCode(s.db.queryRow(ctx, s.db.rs,
		`SELECT `+codeColumns+` FROM auth_codes WHERE digest = ? AND expires_at > ?`, digest, micros(now)))
	return c, wrap("get authorization code", err)
}

// Consume is the single-use gate of RFC 6749 §4.1.2 ("The client MUST NOT
// use the authorization code more than once"): one conditional UPDATE, so of
// concurrent calls the database lets exactly one match the unused row.
func (s *codes) Consume(ctx context.Context, digest string, now time.Time) (*valet.AuthCode, bool, error) {
	const op = "consume authorization code"
	c, err := scanCode(s.db.queryRow(ctx, s.db.ws, `UPDATE auth_codes SET used_at = ?
		WHERE digest = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+codeColumns, micros(now), digest, micros(now)))
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, wrap(op, err)
	}
	// Unknown, expired, or already used. Only a used code is returned, so the
	// caller can act on RFC 6749 §4.1.2: "the authorization server MUST deny
	// the request and SHOULD revoke (when possible) all tokens previously
	// issued based on that authorization code."
	c, err = scanCode(s.db.queryRow(ctx, s.db.rs, `SELECT `+codeColumns+` FROM auth_codes
		WHERE digest = ? AND used_at IS NOT NULL AND expires_at > ?`, digest, micros(now)))
	if err != nil {
		return nil, false, wrap(op, err)
	}
	return c, false, nil
}

func (s *codes) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired authorization codes",
		`DELETE FROM auth_codes WHERE digest IN (SELECT digest FROM auth_codes WHERE expires_at <= ? LIMIT ?)`, micros(now))
}
