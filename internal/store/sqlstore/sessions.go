package sqlstore

import (
	"context"
	"time"

	"github.com/valetauth/valet"
)

// sessions is the valet.SessionStore. The sid column is UNIQUE where it is
// not empty: a session may have no SID, but never another session's.
type sessions struct{ db *DB }

const sessionColumns = "id, sid, user_id, auth_time, created_at, expires_at"

// Create inserts the session; ErrExists when its ID or its SID is taken.
func (s *sessions) Create(ctx context.Context, se *valet.Session) error {
	_, err := s.db.exec(ctx, s.db.ws, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		se.ID, se.SID, se.UserID, micros(se.AuthTime), micros(se.CreatedAt), micros(se.ExpiresAt))
	return wrap("create session", err)
}

// Get returns the session unless it has expired by the clock; expired rows
// stay until DeleteExpired.
func (s *sessions) Get(ctx context.Context, id string) (*valet.Session, error) {
	var se valet.Session
	err := s.db.queryRow(ctx, s.db.rs, `SELECT `+sessionColumns+` FROM sessions WHERE id = ? AND expires_at > ?`,
		id, micros(time.Now())).
		Scan(&se.ID, &se.SID, &se.UserID, at(&se.AuthTime), at(&se.CreatedAt), at(&se.ExpiresAt))
	if err != nil {
		return nil, wrap("get session", err)
	}
	return &se, nil
}

func (s *sessions) Delete(ctx context.Context, id string) error {
	_, err := s.db.exec(ctx, s.db.ws, `DELETE FROM sessions WHERE id = ?`, id)
	return wrap("delete session", err)
}

func (s *sessions) DeleteByUser(ctx context.Context, userID string) (int, error) {
	n, err := affected(s.db.exec(ctx, s.db.ws, `DELETE FROM sessions WHERE user_id = ?`, userID))
	return n, wrap("delete sessions of user", err)
}

func (s *sessions) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired sessions",
		`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)`, micros(now))
}
