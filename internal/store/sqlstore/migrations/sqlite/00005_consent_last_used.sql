-- When a client last used a consent (a code redeemed or a refresh token
-- rotated), for the connected-apps page. NULL until first use. The file of
-- the other dialect beside this one makes the same change.

-- +goose Up
ALTER TABLE consents ADD COLUMN last_used_at INTEGER;

-- +goose Down
ALTER TABLE consents DROP COLUMN last_used_at;
