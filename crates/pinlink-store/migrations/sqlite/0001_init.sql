-- pinlink's schema on SQLite. Secrets appear only as keyed hashes (to look
-- them up) and sealed copies (to hand them back); see pinlink-core secrets.rs.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          TEXT    NOT NULL UNIQUE,
    username      TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE pins (
    id                INTEGER PRIMARY KEY,
    code_hash         BLOB    NOT NULL UNIQUE,
    code_sealed       BLOB    NOT NULL,
    strong            INTEGER NOT NULL,
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
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    token_sealed      BLOB,
    linked_account    INTEGER REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX pins_expires_at ON pins (expires_at);

CREATE TABLE devices (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_identifier TEXT    NOT NULL,
    product           TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    platform          TEXT    NOT NULL,
    platform_version  TEXT    NOT NULL,
    device            TEXT    NOT NULL,
    device_name       TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    vendor            TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    UNIQUE (account_id, client_identifier)
);

CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    device_id  INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tokens_device ON tokens (device_id);

CREATE TABLE failures (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX failures_key_at ON failures (key, at);
