-- Budgets are reserved before the work they guard and refunded after
-- (pinlink-core limits.rs), so each spend has an id. Keys are keyed hashes:
-- the old `failures` table kept the login text people typed in plain text,
-- and is dropped with whatever it held.
DROP TABLE failures;

CREATE TABLE spends (
    id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key BYTEA  NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX spends_key_at ON spends (key, at);
CREATE INDEX spends_at ON spends (at);

-- Live pins are capped per requesting network (an IPv4 address or an IPv6
-- /64), and live 4-character codes server-wide.
ALTER TABLE pins ADD COLUMN requester_net TEXT NOT NULL DEFAULT '';
CREATE INDEX pins_requester_net ON pins (requester_net, expires_at);
CREATE INDEX pins_live_link_codes ON pins (expires_at) WHERE NOT strong;

-- Clients (keyed hashes of client identifiers) an account signed in or
-- linked from: they are not slowed when strangers guess the password.
CREATE TABLE known_clients (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_hash BYTEA  NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_hash)
);
CREATE INDEX known_clients_seen_at ON known_clients (seen_at);
