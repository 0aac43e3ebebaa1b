-- One index on access_tokens instead of two. Every opaque access token
-- wrote a leaf of each index; client_id then expires_at serves both the
-- ON DELETE CASCADE of a client (its leading column) and the sweep of
-- expired tokens (a range within each client: see access.DeleteExpired),
-- so a commit of the batch writer writes a page fewer. PostgreSQL keeps
-- its two indexes: its planner before version 18 cannot range over the
-- second column of an index within each value of the first, and its
-- inserts are not batched into one file's commits.

-- The sweep finds rows through their client, so rows whose client is gone
-- would never be swept. Valet's connections keep foreign keys on, but a
-- client deleted with them off (the sqlite3 shell's default) leaves such
-- rows; they read as inactive, and are removed here.

-- +goose Up
DELETE FROM access_tokens WHERE client_id NOT IN (SELECT id FROM clients);
CREATE INDEX access_tokens_client_expiry ON access_tokens (client_id, expires_at);
DROP INDEX access_tokens_client_id;
DROP INDEX access_tokens_expires_at;

-- +goose Down
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
DROP INDEX access_tokens_client_expiry;
