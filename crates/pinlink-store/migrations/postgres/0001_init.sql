-- pinlink's schema on PostgreSQL: the same tables as on SQLite. Secrets
-- appear only as keyed hashes (to look them up) and sealed copies (to hand
-- them back); see pinlink-core secrets.rs. Times are Unix seconds.

CREATE TABLE accounts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid          TEXT   NOT NULL UNIQUE,
    username      TEXT   NOT NULL,
    email         TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE pins (
    id                BIGINT  PRIMARY KEY,
    code_hash         BYTEA   NOT NULL,
    code_sealed       BYTEA   NOT NULL,
    strong            BOOLEAN NOT NULL,
    client_identifier TEXT    NOT NULL,
    product           TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    platform          TEXT    NOT NULL,
    platform_version  TEXT    NOT NULL,
    device            TEXT    NOT NULL,
    device_name       TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    vendor            TEXT    NOT NULL,
    requester_ip      TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    token_sealed      BYTEA,
    linked_account    BIGINT  REFERENCES accounts (id) ON DELETE CASCADE,
    CONSTRAINT pins_code_hash UNIQUE (code_hash)
);
CREATE INDEX pins_expires_at ON pins (expires_at);

CREATE TABLE devices (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_identifier TEXT   NOT NULL,
    product           TEXT   NOT NULL,
    version           TEXT   NOT NULL,
    platform          TEXT   NOT NULL,
    platform_version  TEXT   NOT NULL,
    device            TEXT   NOT NULL,
    device_name       TEXT   NOT NULL,
    model             TEXT   NOT NULL,
    vendor            TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    UNIQUE (account_id, client_identifier)
);

CREATE TABLE tokens (
    -- Insertion order, to find a device's newest token.
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    hash       BYTEA  PRIMARY KEY,
    device_id  BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    sealed     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_device ON tokens (device_id);

CREATE TABLE failures (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX failures_key_at ON failures (key, at);
