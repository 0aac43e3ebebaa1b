package sqlstore

import (
	"context"
	"time"
)

// replays is the valet.ReplayStore.
type replays struct{ db *DB }

// Use inserts key unless it is already there; the primary key makes exactly
// one of concurrent inserts succeed. A key stays used until DeleteExpired
// removes it, even past its expiry: forgetting it a little late is safe,
// early is not.
func (s *replays) Use(ctx context.Context, key string, expiresAt time.Time) (bool, error) {
	n, err := affected(s.db.exec(ctx, s.db.ws, `INSERT INTO replays (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO NOTHING`, key, micros(expiresAt)))
	return n == 1 && err == nil, wrap("use one-time value", err)
}

func (s *replays) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired one-time values",
		`DELETE FROM replays WHERE id IN (SELECT id FROM replays WHERE expires_at <= ? LIMIT ?)`, micros(now))
}
