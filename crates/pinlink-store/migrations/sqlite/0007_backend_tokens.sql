-- Tokens a backend can use: an application's access tokens expire (its
-- access_token_lifetime, 0 for never) and come with refresh tokens, rotated
-- at every use (a used one presented again ends the grant); its ID tokens
-- are signed RS256 unless it asked for EdDSA. A grant's device keeps the
-- scope it was granted and when the person approved it (OpenID Connect's
-- auth_time). Refresh tokens only as keyed hashes.
ALTER TABLE oauth_clients ADD COLUMN access_token_lifetime INTEGER NOT NULL DEFAULT 3600;
ALTER TABLE oauth_clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE devices ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN auth_time INTEGER;

CREATE TABLE refresh_tokens (
    hash       BLOB    PRIMARY KEY,
    device_id  INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    used       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);
-- The sweep deletes expired access tokens (a refreshed grant leaves one
-- behind at every refresh).
CREATE INDEX tokens_expiry ON tokens (expires_at) WHERE expires_at IS NOT NULL;
