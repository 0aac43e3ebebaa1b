-- One-time values (a consent form's CSRF digest, later a client assertion's
-- or DPoP proof's jti) remembered until they expire: valet.ReplayStore.

-- +goose Up
CREATE TABLE replays (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX replays_expires_at ON replays (expires_at);

-- +goose Down
DROP TABLE replays;
