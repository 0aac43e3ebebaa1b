package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/valetauth/valet"
)

// consents is the valet.ConsentStore, keyed by (user_id, client_id).
type consents struct{ db *DB }

const consentColumns = "user_id, client_id, scopes, granted_at, last_used_at"

func scanConsent(r row) (*valet.Consent, error) {
	var c valet.Consent
	if err := r.Scan(&c.UserID, &c.ClientID, strs(&c.Scopes), at(&c.GrantedAt), at(&c.LastUsedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *consents) Get(ctx context.Context, userID, clientID string) (*valet.Consent, error) {
	c, err := scanConsent(s.db.queryRow(ctx, s.db.rs,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	return c, wrap("get consent", err)
}

func (s *consents) Put(ctx context.Context, c *valet.Consent) error {
	_, err := s.db.exec(ctx, s.db.ws, `INSERT INTO consents (`+consentColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at,
			last_used_at = excluded.last_used_at`,
		c.UserID, c.ClientID, list(c.Scopes), micros(c.GrantedAt), micros(c.LastUsedAt))
	return wrap("put consent", err)
}

// ListByUser returns the user's consents, oldest grant first.
func (s *consents) ListByUser(ctx context.Context, userID string) ([]*valet.Consent, error) {
	rows, err := s.db.query(ctx, s.db.rs,
		`SELECT `+consentColumns+` FROM consents WHERE user_id = ? ORDER BY granted_at, client_id`, userID)
	if err != nil {
		return nil, wrap("list consents", err)
	}
	defer rows.Close()
	var out []*valet.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, wrap("list consents", err)
		}
		out = append(out, c)
	}
	return out, wrap("list consents", rows.Err())
}

func (s *consents) Delete(ctx context.Context, userID, clientID string) error {
	n, err := affected(s.db.exec(ctx, s.db.ws,
		`DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return wrap("delete consent", err)
}

// Touch moves last_used_at forward to at, in one statement, so that two
// nodes touching at once never move it back.
func (s *consents) Touch(ctx context.Context, userID, clientID string, at time.Time) error {
	_, err := s.db.exec(ctx, s.db.ws, `UPDATE consents SET last_used_at = ?
		WHERE user_id = ? AND client_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		micros(at), userID, clientID, micros(at))
	return wrap("touch consent", err)
}
