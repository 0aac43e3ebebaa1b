-- OpenID Connect: a user's email_verified and custom claims, a session's
-- public "sid", and the sid an authorization code was issued in. A client's
-- new metadata (post_logout_redirect_uris, backchannel_logout_uri, ...) lives
-- in clients.metadata and needs no column. The PostgreSQL file beside this
-- one makes the same change.

-- +goose Up
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
-- A JSON object; "null" for none, as a nil list is stored.
ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT 'null';

ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
-- Sessions signed in before this migration get a random sid of their own, so
-- that they need not sign in again and the unique index below holds.
UPDATE sessions SET sid = lower(hex(randomblob(16)));
-- Unique when set; '' is a session without one.
CREATE UNIQUE INDEX sessions_sid ON sessions (sid) WHERE sid <> '';

ALTER TABLE auth_codes ADD COLUMN session_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_codes DROP COLUMN session_id;
DROP INDEX sessions_sid;
ALTER TABLE sessions DROP COLUMN sid;
ALTER TABLE users DROP COLUMN claims;
ALTER TABLE users DROP COLUMN email_verified;
