-- Accounts a person can keep: disabled by the operator, two-step
-- verification (a TOTP secret sealed under the server key, the last time
-- step a code was accepted in, a secret being enrolled, recovery codes as
-- keyed hashes), passkeys (WebAuthn; the ceremonies in progress, so that
-- any instance can finish one), the security log, and password resets
-- (the token only as a keyed hash).
ALTER TABLE accounts ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN totp_sealed BYTEA;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN totp_pending_sealed BYTEA;
ALTER TABLE accounts ADD COLUMN passkey_handle TEXT;
CREATE UNIQUE INDEX accounts_passkey_handle ON accounts (passkey_handle);

CREATE TABLE recovery_codes (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  BYTEA    NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE passkeys (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id BYTEA    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    passkey       TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_account ON passkeys (account_id);

CREATE TABLE passkey_ceremonies (
    hash       BYTEA    PRIMARY KEY,
    account_id BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);

CREATE TABLE security_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at         BIGINT  NOT NULL,
    kind       TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    client     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX security_log_account ON security_log (account_id, id);
CREATE INDEX security_log_at ON security_log (at);

CREATE TABLE password_resets (
    hash          BYTEA    PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    drop_two_step BOOLEAN NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
