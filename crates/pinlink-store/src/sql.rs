//! The statements pinlink runs, written once for both backends: SQLite and
//! PostgreSQL both read `$1`-style parameters, and the schemas (in
//! `migrations/`) have the same tables and columns.

/// The columns that describe a device, in the order `queries::bind_device`
/// binds them.
macro_rules! device_columns {
    () => {
        "product, version, platform, platform_version, device, device_name, model, vendor, provides"
    };
}

/// An account's columns, aliased so they can sit beside other tables' in a
/// join (read by `rows::account_from_row`).
macro_rules! account_columns {
    () => {
        "a.id AS account_id, a.uuid, a.username, a.email, a.created_at AS account_created_at"
    };
}

/// An expired pin that was not swept yet must not block its code.
pub const DELETE_EXPIRED_PIN_WITH_CODE: &str =
    "DELETE FROM pins WHERE code_hash = $1 AND expires_at <= $2";

pub const INSERT_PIN: &str = concat!(
    "INSERT INTO pins (id, code_hash, code_sealed, strong, client_identifier, ",
    device_columns!(),
    ", requester_ip, requester_net, created_at, expires_at, token_sealed, jwk, \
     oauth_client, application_name, device_code_hash, scope) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22, $23, $24)"
);

/// A network's live pins, and when the first of them expires.
pub const LIVE_PINS_FROM_NET: &str = "SELECT COUNT(*) AS n, MIN(expires_at) AS first_expiry \
     FROM pins WHERE requester_net = $1 AND expires_at > $2";

/// The server's live 4-character codes that are not linked yet (only those
/// can still be approved, so only those can be guessed), and when the first
/// of them expires.
pub const LIVE_LINK_CODES: &str = "SELECT COUNT(*) AS n, MIN(expires_at) AS first_expiry \
     FROM pins WHERE NOT strong AND token_sealed IS NULL AND expires_at > $1";

/// The same, for one network.
pub const LIVE_LINK_CODES_FROM_NET: &str = "SELECT COUNT(*) AS n, MIN(expires_at) AS first_expiry \
     FROM pins WHERE requester_net = $1 AND NOT strong AND token_sealed IS NULL \
     AND expires_at > $2";

pub const COUNT_LIVE_PINS: &str = "SELECT COUNT(*) AS n FROM pins WHERE expires_at > $1";

pub const PIN_BY_ID: &str = "SELECT * FROM pins WHERE id = $1";
pub const PIN_BY_CODE: &str = "SELECT * FROM pins WHERE code_hash = $1";

/// Claims a live, unlinked pin for an account; no row when it is gone,
/// expired or linked already.
pub const CLAIM_PIN: &str = "UPDATE pins SET token_sealed = $1, linked_account = $2 \
     WHERE id = $3 AND token_sealed IS NULL AND NOT denied AND expires_at > $4 RETURNING *";

/// A device grant the person denied stays, marked, until it expires.
pub const DENY_PIN: &str = "UPDATE pins SET denied = TRUE \
     WHERE id = $1 AND oauth_client IS NOT NULL AND token_sealed IS NULL AND NOT denied";

/// A device grant's token is redeemed once: the redemption deletes the pin.
pub const TAKE_LINKED_PIN: &str =
    "DELETE FROM pins WHERE id = $1 AND token_sealed IS NOT NULL RETURNING *";

pub const INSERT_APPLICATION: &str = "INSERT INTO oauth_clients \
     (client_id, name, secret_hash, created_at, access_token_lifetime, id_token_alg) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const SET_APPLICATION: &str = "UPDATE oauth_clients \
     SET access_token_lifetime = $1, id_token_alg = $2 WHERE client_id = $3";
pub const APPLICATION: &str = "SELECT * FROM oauth_clients WHERE client_id = $1";
pub const LIST_APPLICATIONS: &str = "SELECT * FROM oauth_clients ORDER BY created_at, client_id";
/// Its pins and devices (with their tokens) go too (ON DELETE CASCADE).
pub const DELETE_APPLICATION: &str = "DELETE FROM oauth_clients WHERE client_id = $1";

pub const DELETE_PIN: &str = "DELETE FROM pins WHERE id = $1";
/// A device grant is kept a while past its expiry (`$2` is that much
/// earlier), so that its device is told `expired_token`.
pub const DELETE_EXPIRED_PINS: &str = "DELETE FROM pins WHERE expires_at <= $1 \
     AND (oauth_client IS NULL OR expires_at <= $2)";

pub const INSERT_ACCOUNT: &str =
    "INSERT INTO accounts (uuid, username, email, password_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

/// What guards an account, beside its [`account_columns`] (read by
/// `rows::account_record_from_row`).
macro_rules! account_guard_columns {
    () => {
        ", a.password_hash, a.disabled, a.totp_sealed, a.totp_last_step, \
         a.totp_pending_sealed, a.passkey_handle"
    };
}

/// By username or e-mail, either without regard to case; a username match
/// wins over an e-mail match.
pub const ACCOUNT_BY_LOGIN: &str = concat!(
    "SELECT ",
    account_columns!(),
    account_guard_columns!(),
    " FROM accounts a \
     WHERE lower(a.username) = lower($1) OR lower(a.email) = lower($1) \
     ORDER BY (lower(a.username) = lower($1)) DESC LIMIT 1"
);

pub const ACCOUNT_BY_ID: &str = concat!(
    "SELECT ",
    account_columns!(),
    account_guard_columns!(),
    " FROM accounts a WHERE a.id = $1"
);

pub const ACCOUNT_OVERVIEW: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", a.disabled, (a.totp_sealed IS NOT NULL) AS two_step, \
       (SELECT COUNT(*) FROM passkeys p WHERE p.account_id = a.id) AS passkeys \
     FROM accounts a ORDER BY a.id"
);

// SQLite numbers `$N` parameters in the order they first appear, so every
// statement here names them in order: the new value(s) first, the account
// last.
pub const SET_PASSWORD: &str = "UPDATE accounts SET password_hash = $1 WHERE id = $2";
pub const SET_EMAIL: &str = "UPDATE accounts SET email = $1 WHERE id = $2";
pub const SET_DISABLED: &str = "UPDATE accounts SET disabled = $1 WHERE id = $2";
pub const SET_PENDING_TOTP: &str = "UPDATE accounts SET totp_pending_sealed = $1 WHERE id = $2";
pub const CONFIRM_TOTP: &str = "UPDATE accounts SET totp_sealed = $1, totp_last_step = $2, \
     totp_pending_sealed = NULL WHERE id = $3";
pub const STOP_TOTP: &str =
    "UPDATE accounts SET totp_sealed = NULL, totp_pending_sealed = NULL WHERE id = $1";
/// Set once: a passkey registered under it must keep finding its account.
pub const SET_PASSKEY_HANDLE: &str =
    "UPDATE accounts SET passkey_handle = $1 WHERE id = $2 AND passkey_handle IS NULL";
/// A code is good once: only a later step than the last accepted passes.
pub const ACCEPT_TOTP_STEP: &str = "UPDATE accounts SET totp_last_step = $1 \
     WHERE id = $2 AND totp_last_step < $1 AND totp_sealed IS NOT NULL";
pub const ACCOUNT_EXISTS: &str = "SELECT 1 AS one FROM accounts WHERE id = $1";

/// Signing out: the account's devices go, with their tokens and keys.
pub const SIGN_OUT_ALL: &str = "DELETE FROM devices WHERE account_id = $1 RETURNING id";
pub const SIGN_OUT_ALL_BUT: &str =
    "DELETE FROM devices WHERE account_id = $1 AND id <> $2 RETURNING id";

pub const INSERT_RECOVERY_CODE: &str =
    "INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)";
pub const DELETE_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE account_id = $1";
pub const USE_RECOVERY_CODE: &str =
    "DELETE FROM recovery_codes WHERE account_id = $1 AND code_hash = $2";
pub const COUNT_RECOVERY_CODES: &str =
    "SELECT COUNT(*) AS n FROM recovery_codes WHERE account_id = $1";

/// An account's linked pins hold its tokens: they go with it.
pub const DELETE_ACCOUNT_PINS: &str = "DELETE FROM pins WHERE linked_account = $1 RETURNING id";
/// Everything else of it goes by ON DELETE CASCADE.
pub const DELETE_ACCOUNT: &str = "DELETE FROM accounts WHERE id = $1";

pub const INSERT_EVENT: &str = "INSERT INTO security_log \
     (account_id, at, kind, address, client, detail) VALUES ($1, $2, $3, $4, $5, $6)";
/// Keeps the account's `$2` newest entries.
pub const TRIM_EVENTS: &str = "DELETE FROM security_log WHERE account_id = $1 AND id <= \
     (SELECT id FROM security_log WHERE account_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";
/// Keeps the account's `$3` newest entries of kind `$2`.
pub const TRIM_EVENTS_OF_KIND: &str = "DELETE FROM security_log \
     WHERE account_id = $1 AND kind = $2 AND id <= \
     (SELECT id FROM security_log WHERE account_id = $1 AND kind = $2 \
      ORDER BY id DESC LIMIT 1 OFFSET $3)";
pub const SECURITY_LOG: &str = "SELECT id, account_id, at, kind, address, client, detail \
     FROM security_log WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
pub const DELETE_EXPIRED_TOKENS: &str =
    "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1";
pub const DELETE_USED_REFRESH_TOKENS: &str =
    "DELETE FROM refresh_tokens WHERE used AND created_at < $1";
pub const DELETE_EVENTS_BEFORE: &str = "DELETE FROM security_log WHERE at < $1";

pub const INSERT_RESET: &str = "INSERT INTO password_resets \
     (hash, account_id, drop_two_step, expires_at) VALUES ($1, $2, $3, $4)";
pub const RESET_BY_HASH: &str = "SELECT hash, account_id, drop_two_step, expires_at \
     FROM password_resets WHERE hash = $1 AND expires_at > $2";
/// Every reset of the account goes once one is used.
pub const DELETE_RESETS_OF: &str = "DELETE FROM password_resets WHERE account_id = $1";
pub const DELETE_PASSKEYS_OF: &str = "DELETE FROM passkeys WHERE account_id = $1";
pub const DELETE_EXPIRED_RESETS: &str = "DELETE FROM password_resets WHERE expires_at <= $1";

pub const INSERT_PASSKEY: &str = "INSERT INTO passkeys \
     (account_id, credential_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub const PASSKEYS: &str = "SELECT id, account_id, credential_id, name, passkey, created_at, \
     last_used_at FROM passkeys WHERE account_id = $1 ORDER BY id";
pub const PASSKEY_FOR_SIGN_IN: &str = concat!(
    "SELECT ",
    account_columns!(),
    account_guard_columns!(),
    ", p.id, p.account_id AS passkey_account, p.credential_id, p.name, p.passkey, \
       p.created_at, p.last_used_at \
     FROM passkeys p JOIN accounts a ON a.id = p.account_id \
     WHERE a.passkey_handle = $1 AND p.credential_id = $2"
);
pub const PASSKEY_USED: &str = "UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3";
pub const DELETE_PASSKEY: &str =
    "DELETE FROM passkeys WHERE account_id = $1 AND id = $2 RETURNING name";
pub const INSERT_CEREMONY: &str = "INSERT INTO passkey_ceremonies \
     (hash, account_id, state, expires_at) VALUES ($1, $2, $3, $4)";
pub const TAKE_CEREMONY: &str = "DELETE FROM passkey_ceremonies \
     WHERE hash = $1 AND expires_at > $2 RETURNING hash, account_id, state, expires_at";
pub const DELETE_EXPIRED_CEREMONIES: &str = "DELETE FROM passkey_ceremonies WHERE expires_at <= $1";

pub const LIST_ACCOUNTS: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts a ORDER BY a.id"
);

/// Registers the account's device for a client identifier, or refreshes it.
pub const UPSERT_DEVICE: &str = concat!(
    "INSERT INTO devices (account_id, client_identifier, ",
    device_columns!(),
    ", created_at, last_seen_at, oauth_client, scope, auth_time) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT (account_id, client_identifier) DO UPDATE SET \
       product = excluded.product, version = excluded.version, platform = excluded.platform, \
       provides = excluded.provides, \
       platform_version = excluded.platform_version, device = excluded.device, \
       device_name = excluded.device_name, model = excluded.model, vendor = excluded.vendor, \
       last_seen_at = excluded.last_seen_at, oauth_client = excluded.oauth_client, \
       scope = excluded.scope, auth_time = excluded.auth_time \
     RETURNING id"
);

pub const INSERT_TOKEN: &str =
    "INSERT INTO tokens (hash, device_id, sealed, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";

pub const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (hash, device_id, used, created_at) VALUES ($1, $2, FALSE, $3)";
pub const REFRESH_TOKEN: &str = "SELECT r.device_id, r.used, d.oauth_client, a.disabled \
     FROM refresh_tokens r JOIN devices d ON d.id = r.device_id \
     JOIN accounts a ON a.id = d.account_id WHERE r.hash = $1";
/// A grant keeps two access tokens at a rotation: the one just issued
/// (`$2`), and the newest before it (a request in flight may still carry
/// it).
pub const TRIM_GRANT_TOKENS: &str = "DELETE FROM tokens \
     WHERE device_id = $1 AND hash <> $2 AND hash NOT IN \
     (SELECT hash FROM tokens WHERE device_id = $1 AND hash <> $2 \
      ORDER BY created_at DESC, hash DESC LIMIT 1)";
/// ... and its newest used refresh tokens, to recognise them if they come
/// back.
pub const TRIM_USED_REFRESH_TOKENS: &str = "DELETE FROM refresh_tokens \
     WHERE device_id = $1 AND used AND hash NOT IN \
     (SELECT hash FROM refresh_tokens WHERE device_id = $1 AND used \
      ORDER BY created_at DESC, hash DESC LIMIT $2)";
/// A new grant on a device another grant linked before replaces it.
pub const DELETE_DEVICE_REFRESH_TOKENS: &str = "DELETE FROM refresh_tokens WHERE device_id = $1";
pub const DELETE_OTHER_DEVICE_TOKENS: &str =
    "DELETE FROM tokens WHERE device_id = $1 AND hash <> $2";
/// A grant's token gets its lifetime when it is redeemed.
pub const SET_TOKEN_EXPIRY: &str =
    "UPDATE tokens SET expires_at = $1 WHERE hash = $2 AND expires_at IS NOT NULL";
/// Used once: of two uses at once, the second changes no row.
pub const USE_REFRESH_TOKEN: &str =
    "UPDATE refresh_tokens SET used = TRUE WHERE hash = $1 AND NOT used";
/// A grant ends with its device: its tokens and refresh tokens go with it.
pub const DELETE_DEVICE_BY_ID: &str = "DELETE FROM devices WHERE id = $1";

/// A disabled account's tokens open nothing.
pub const SESSION_BY_TOKEN: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", d.id AS device_id, d.last_seen_at, d.client_identifier, \
       d.oauth_client AS device_application, d.scope, d.auth_time, \
       t.created_at AS token_created_at, t.expires_at AS token_expires_at FROM tokens t \
     JOIN devices d ON d.id = t.device_id JOIN accounts a ON a.id = d.account_id \
     WHERE t.hash = $1 AND NOT a.disabled"
);

/// A key already bound to another device is left alone (no row changes).
pub const SET_DEVICE_CONNECTIONS: &str =
    "UPDATE devices SET connections = $1 WHERE account_id = $2 AND id = $3";

/// Registers a key as its device's newest (again, if it is registered).
pub const UPSERT_DEVICE_KEY: &str = "INSERT INTO device_keys (kid, device_id, x, created_at, seq) \
     VALUES ($1, $2, $3, $4, \
       (SELECT COALESCE(MAX(seq), 0) + 1 FROM device_keys WHERE device_id = $2)) \
     ON CONFLICT (kid) DO UPDATE SET x = excluded.x, created_at = excluded.created_at, \
     seq = excluded.seq WHERE device_keys.device_id = excluded.device_id";

/// Keeps a device's `$3` newest keys, `$2` (just registered) among them.
pub const TRIM_DEVICE_KEYS: &str = "DELETE FROM device_keys WHERE device_id = $1 AND kid NOT IN \
     (SELECT kid FROM device_keys WHERE device_id = $1 \
      ORDER BY (kid = $2) DESC, seq DESC LIMIT $3)";

pub const DEVICE_KEY: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", d.id AS device_id, d.last_seen_at, d.client_identifier, \
       d.oauth_client AS device_application, d.scope, d.auth_time, \
       k.created_at AS token_created_at, CAST(NULL AS BIGINT) AS token_expires_at, \
       k.x FROM device_keys k \
     JOIN devices d ON d.id = k.device_id JOIN accounts a ON a.id = d.account_id \
     WHERE k.kid = $1 AND NOT a.disabled"
);

pub const PING: &str = "SELECT 1 AS one";

pub const INSERT_NONCE: &str =
    "INSERT INTO jwt_nonces (nonce, client, expires_at, used) VALUES ($1, $2, $3, FALSE)";
pub const USE_NONCE: &str = "UPDATE jwt_nonces SET used = TRUE \
     WHERE nonce = $1 AND client = $2 AND expires_at > $3 AND NOT used";
pub const SIGNING_KEY_GENERATIONS: &str =
    "SELECT generation, created_at FROM jwt_signing_keys ORDER BY generation";
/// Generation 0 is implicit: the first added is 1.
pub const ADD_SIGNING_KEY_GENERATION: &str =
    "INSERT INTO jwt_signing_keys (generation, created_at) \
     SELECT COALESCE(MAX(generation), 0) + 1, $1 FROM jwt_signing_keys RETURNING generation";
pub const NONCE_IS_LIVE: &str =
    "SELECT 1 AS live FROM jwt_nonces WHERE nonce = $1 AND client = $2 AND expires_at > $3";
pub const DELETE_NONCES_BEFORE: &str = "DELETE FROM jwt_nonces WHERE expires_at <= $1";

pub const TOUCH_DEVICE: &str = "UPDATE devices SET last_seen_at = $1 WHERE id = $2";

pub const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE hash = $1 RETURNING device_id";

/// A device left without tokens goes too.
pub const DELETE_DEVICE_IF_TOKENLESS: &str =
    "DELETE FROM devices WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM tokens WHERE device_id = $1) \
     AND NOT EXISTS (SELECT 1 FROM device_keys WHERE device_id = $1)";

/// The account's devices with their newest token's sealed copy. `$order` is
/// the backend's insertion order of tokens (SQLite's `rowid`, PostgreSQL's
/// `seq` column).
macro_rules! list_devices {
    ($order:literal) => {
        concat!(
            "SELECT d.id, d.client_identifier, ",
            device_columns!(),
            ", d.created_at, d.last_seen_at, d.connections, \
               (SELECT t.sealed FROM tokens t WHERE t.device_id = d.id \
                ORDER BY t.created_at DESC, t.",
            $order,
            " DESC LIMIT 1) AS token_sealed \
             FROM devices d WHERE d.account_id = $1 ORDER BY d.id"
        )
    };
}
pub const LIST_DEVICES_SQLITE: &str = list_devices!("rowid");
pub const LIST_DEVICES_POSTGRES: &str = list_devices!("seq");

/// Tokens go with the device (ON DELETE CASCADE), in the same statement.
pub const DELETE_DEVICE: &str = "DELETE FROM devices WHERE id = $1 AND account_id = $2";

pub const COUNT_SPENDS: &str =
    "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM spends WHERE key = $1 AND at > $2";
pub const INSERT_SPEND: &str = "INSERT INTO spends (key, at) VALUES ($1, $2) RETURNING id";
pub const DELETE_SPEND: &str = "DELETE FROM spends WHERE id = $1";
pub const DELETE_SPENDS_WITH_KEY: &str = "DELETE FROM spends WHERE key = $1";
pub const DELETE_SPENDS_BEFORE: &str = "DELETE FROM spends WHERE at <= $1";

pub const IS_KNOWN_CLIENT: &str =
    "SELECT account_id FROM known_clients WHERE account_id = $1 AND client_hash = $2";
pub const REMEMBER_CLIENT: &str =
    "INSERT INTO known_clients (account_id, client_hash, seen_at) VALUES ($1, $2, $3) \
     ON CONFLICT (account_id, client_hash) DO UPDATE SET seen_at = excluded.seen_at";
pub const FORGET_CLIENTS_BEFORE: &str = "DELETE FROM known_clients WHERE seen_at < $1";
