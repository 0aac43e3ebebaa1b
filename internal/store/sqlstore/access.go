package sqlstore

import (
	"context"
	"time"

	"github.com/valetauth/valet"
)

// access is the valet.AccessTokenStore.
type access struct {
	db *DB
	// queued: Create returns once the token is queued (see QueuedAccess).
	queued bool
}

const accessColumns = "digest, id, grant_id, client_id, subject, scopes, audience, auth_time, created_at, expires_at"

const insertAccess = `INSERT INTO access_tokens (` + accessColumns + `) VALUES ` + accessRow

const accessRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const opCreateAccess = "create access token"

func accessArgs(t *valet.AccessToken) []any {
	return []any{t.Digest, t.ID, t.GrantID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience),
		micros(t.AuthTime), micros(t.CreatedAt), micros(t.ExpiresAt)}
}

// QueuedAccess returns an AccessTokenStore whose Create returns as soon as
// the token is queued for SQLite's batch writer, before its commit, and
// whose Get finds it in this process from that moment. The writer commits
// the queue within milliseconds; a token still queued when the process
// dies is lost, and reads as unknown, that is inactive: its client gets a
// 401 and asks again. Close writes the queue first.
//
// Unlike the plain store's, a queued Create does not report a digest
// already written (ErrExists) or an unknown client (ErrNotFound): both
// drop the row later. Callers mint tokens of 256 random bits for clients
// they have just read, so neither happens but by a client deleted
// meanwhile, whose tokens introspection refuses anyway.
//
// A Create waits for its commit, as the plain store's always does, while
// accessQueuedMax tokens are queued, or after a queued row failed other
// than on a constraint, until one is written again: a failing disk then
// answers the caller, not tokens that will never be found. A queued token
// whose row is refused (its client was deleted meanwhile) is dropped, and
// onDrop, when not nil, is told, once a batch, how many were; it must not
// block. An introspector that cached such a token while it was queued may
// still find it until it expires; it was issued, and revoking it works.
//
// A queued Create keeps t until its row is written: the caller must not
// change it afterwards (the Minter builds a new one for every token).
//
// On PostgreSQL, where other nodes must find a token the moment it is
// issued, QueuedAccess returns nil.
func (db *DB) QueuedAccess(onDrop func(n int, err error)) valet.AccessTokenStore {
	if db.accessQ == nil {
		return nil
	}
	db.accessQ.mu.Lock()
	db.accessQ.onDrop = onDrop
	db.accessQ.mu.Unlock()
	return &access{db: db, queued: true}
}

// Create inserts the token. On SQLite, concurrent calls share one write
// transaction (see accessBatcher); each still gets its own row's error.
func (s *access) Create(ctx context.Context, t *valet.AccessToken) error {
	if s.db.accessQ != nil {
		return s.db.accessQ.create(ctx, t, s.queued)
	}
	_, err := s.db.exec(ctx, s.db.ws, insertAccess, accessArgs(t)...)
	return wrap(opCreateAccess, err)
}

// Get does not filter on expiry: the contract leaves that to the caller,
// which checks ExpiresAt against its own clock.
func (s *access) Get(ctx context.Context, digest string) (*valet.AccessToken, error) {
	if s.db.accessQ != nil {
		if t := s.db.accessQ.lookup(digest); t != nil {
			return t, nil
		}
	}
	var t valet.AccessToken
	err := s.db.queryRow(ctx, s.db.rs, `SELECT `+accessColumns+` FROM access_tokens WHERE digest = ?`, digest).
		Scan(&t.Digest, &t.ID, &t.GrantID, &t.ClientID, &t.Subject, strs(&t.Scopes), strs(&t.Audience),
			at(&t.AuthTime), at(&t.CreatedAt), at(&t.ExpiresAt))
	if err != nil {
		return nil, wrap("get access token", err)
	}
	return &t, nil
}

// DeleteExpired, on SQLite, walks the one index of access_tokens, client_id
// then expires_at, one client at a time: every row has a client (foreign
// keys are on in every connection, the cascade removes a deleted client's,
// and migration 00006 removed any left by a deletion with them off), and a
// client's expired rows lead its range. PostgreSQL has an index on expires_at alone (see migration 00006
// of SQLite).
func (s *access) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	if s.db.accessQ != nil {
		// Rows still queued are swept too.
		if err := s.db.accessQ.flush(ctx); err != nil {
			return 0, wrap("delete expired access tokens", err)
		}
	}
	q := deleteExpiredAccess
	if s.db.dialect == dialectPostgres {
		q = deleteExpiredAccessPostgres
	}
	return s.db.deleteInBatches(ctx, "delete expired access tokens", q, micros(now))
}

const (
	deleteExpiredAccess = `DELETE FROM access_tokens WHERE digest IN (SELECT digest FROM access_tokens
	WHERE client_id IN (SELECT id FROM clients) AND expires_at <= ? LIMIT ?)`
	deleteExpiredAccessPostgres = `DELETE FROM access_tokens WHERE digest IN (SELECT digest FROM access_tokens
	WHERE expires_at <= ? LIMIT ?)`
)
