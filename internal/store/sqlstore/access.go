package sqlstore

import (
	"context"
	"time"

	"github.com/valetauth/valet"
)

// access is the valet.AccessTokenStore.
type access struct{ db *DB }

const accessColumns = "digest, id, grant_id, client_id, subject, scopes, audience, auth_time, created_at, expires_at"

func (s *access) Create(ctx context.Context, t *valet.AccessToken) error {
	_, err := s.db.w.ExecContext(ctx, s.db.q(`INSERT INTO access_tokens (`+accessColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.Digest, t.ID, t.GrantID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience),
		micros(t.AuthTime), micros(t.CreatedAt), micros(t.ExpiresAt))
	return wrap("create access token", err)
}

// Get does not filter on expiry: the contract leaves that to the caller,
// which checks ExpiresAt against its own clock.
func (s *access) Get(ctx context.Context, digest string) (*valet.AccessToken, error) {
	var t valet.AccessToken
	err := s.db.r.QueryRowContext(ctx, s.db.q(`SELECT `+accessColumns+` FROM access_tokens WHERE digest = ?`), digest).
		Scan(&t.Digest, &t.ID, &t.GrantID, &t.ClientID, &t.Subject, strs(&t.Scopes), strs(&t.Audience),
			at(&t.AuthTime), at(&t.CreatedAt), at(&t.ExpiresAt))
	if err != nil {
		return nil, wrap("get access token", err)
	}
	return &t, nil
}

func (s *access) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired access tokens",
		`DELETE FROM access_tokens WHERE digest IN (SELECT digest FROM access_tokens WHERE expires_at <= ? LIMIT ?)`, micros(now))
}
