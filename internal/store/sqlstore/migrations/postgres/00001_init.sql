-- Valet's schema on PostgreSQL. Times are BIGINT microseconds since the Unix
-- epoch, UTC, NULL for the zero time, as on SQLite, so that every query and
-- parameter is the same on both engines (to read one: to_timestamp(x / 1e6)).
-- String lists are JSON text, not jsonb, which would refuse "\u0000". The
-- SQLite file beside this one has the same tables, columns and indexes.

-- +goose Up
CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    secret_digest TEXT NOT NULL,
    -- Every other field of valet.Client, as JSON, so new metadata needs no migration.
    metadata      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT
);
CREATE INDEX clients_created_at ON clients (created_at, id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT
);
CREATE INDEX users_created_at ON users (created_at, id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at BIGINT,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE auth_codes (
    digest                TEXT PRIMARY KEY,
    family_id             TEXT NOT NULL,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    resources             TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    auth_time             BIGINT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT
);
CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    digest     TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    resources  TEXT NOT NULL,
    auth_time  BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_client ON refresh_tokens (user_id, client_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revocations (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    public     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    not_before BIGINT,
    retired_at BIGINT,
    remove_at  BIGINT
);
CREATE INDEX signing_keys_algorithm ON signing_keys (algorithm);
CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);
CREATE INDEX signing_keys_remove_at ON signing_keys (remove_at);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE revocations;
DROP TABLE refresh_tokens;
DROP TABLE auth_codes;
DROP TABLE consents;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE clients;
