-- Plex JWTs: the Ed25519 public keys devices register (a key belongs to one
-- device and goes with it), and the nonces a device JWT must carry.
CREATE TABLE device_keys (
    kid        TEXT   PRIMARY KEY,
    device_id  BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    x          TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX device_keys_device ON device_keys (device_id);

CREATE TABLE jwt_nonces (
    nonce      TEXT    PRIMARY KEY,
    -- keyed hash of the client identifier the nonce was given to
    client     BYTEA   NOT NULL,
    expires_at BIGINT  NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX jwt_nonces_expires_at ON jwt_nonces (expires_at);

-- The public key a JWT pin was created with, as "kid x" ('' for other pins):
-- bound to the device the pin is linked to.
ALTER TABLE pins ADD COLUMN jwk TEXT NOT NULL DEFAULT '';

-- Generations of the Plex JWT signing key beyond the first (generation 0).
-- Only the number is stored: each key is derived from the server key and
-- its generation, so no private key is ever in the database.
CREATE TABLE jwt_signing_keys (
    generation BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- What a device provides (X-Plex-Provides: "server", "player", …), and the
-- connection URIs a server published (one per line): the account's
-- resources (/api/v2/resources).
ALTER TABLE pins ADD COLUMN provides TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN provides TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN connections TEXT NOT NULL DEFAULT '';
