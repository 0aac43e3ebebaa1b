-- Opaque access tokens, under the keyed digest of their value:
-- valet.AccessTokenStore. subject is a user ID or, for client credentials,
-- the client ID, so only client_id refers to another table.

-- +goose Up
CREATE TABLE access_tokens (
    digest     TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    auth_time  INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- +goose Down
DROP TABLE access_tokens;
