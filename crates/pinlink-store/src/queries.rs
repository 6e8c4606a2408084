//! Every operation's body, written once for both backends: generic over the
//! connection it runs on ([`Db`]). The backends only decide
//! *where* a body runs — SQLite on its group-commit writer or a pooled
//! reader, PostgreSQL in a transaction (with the advisory locks and change
//! notifications that several instances need) — and never repeat what it
//! does.

use pinlink_core::security_log::{
    EventKind, LoggedEvent, SecurityEvent, MAX_ENTRIES_PER_ACCOUNT, MAX_REFUSALS_PER_ACCOUNT,
};
use pinlink_core::store::{
    AccountChange, AccountOverview, AccountRecord, ApplicationRecord, CapKind, CeremonyRecord,
    DeviceKeyRecord, DeviceRecord, NewAccount, NewToken, PasskeyRecord, PasswordReset, PinLink,
    PinRecord, Reservation, Rotated, Rotation, SessionRecord, SignOut, Spend, TokenGrant,
    GRANT_EXPIRY_MEMORY_SECS,
};
use pinlink_core::{
    Account, AccountId, Application, ApplicationId, ClientIdentifier, DeviceId, DeviceInfo, Email,
    LookupHash, PinCaps, PinId, UnixTime, Username,
};

use crate::backend::{Db, Statement};
use crate::rows::Columns;
use crate::rows::{
    account_from_row, account_record_from_row, application_from_row, device_record_from_row,
    logged_event_from_row, passkey_from_row, pin_from_row,
};
use crate::sql;

/// What a store operation fails with before it is mapped to a
/// [`pinlink_core::StoreError`]: a database error, or a cap the operation
/// would pass.
#[derive(Debug)]
pub enum Refusal {
    Database(sqlx::Error),
    Cap { cap: CapKind, until: UnixTime },
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Database(e)
    }
}

/// Binds a device's columns in `device_columns!` order.
fn bind_device<'q>(q: Statement<'q>, d: &'q DeviceInfo) -> Statement<'q> {
    q.text(d.product.as_str())
        .text(&d.version)
        .text(&d.platform)
        .text(&d.platform_version)
        .text(&d.device)
        .text(&d.device_name)
        .text(&d.model)
        .text(&d.vendor)
        .text(&d.provides)
}

// ------------------------------------------------------------------- pins

/// Reserves `spends` ([`reserve`]) and, when every budget had room, inserts
/// the pin ([`insert_pin`]), on SQLite's single writer, in one job: a cap or
/// a taken id is an error, so the job's savepoint is rolled back, spends
/// and all. (PostgreSQL does the same steps under its locks.)
pub async fn insert_pin_spending<C: Db + ?Sized>(
    conn: &mut C,
    pin: &PinRecord,
    caps: &PinCaps,
    spends: &[Spend],
    now: UnixTime,
) -> Result<Reservation, Refusal> {
    let reservation = reserve(conn, spends, now).await?;
    if let Reservation::Granted(_) = reservation {
        insert_pin(conn, pin, caps).await?;
    }
    Ok(reservation)
}

/// Inserts a pin unless a cap is reached. Atomic only where the caller
/// makes it so: on SQLite's single writer, or under PostgreSQL advisory
/// locks on the requester's network and the link codes.
pub async fn insert_pin<C: Db + ?Sized>(
    conn: &mut C,
    pin: &PinRecord,
    caps: &PinCaps,
) -> Result<(), Refusal> {
    let now = pin.created_at;
    Statement::new(sql::DELETE_EXPIRED_PIN_WITH_CODE)
        .bytes(pin.code_hash.as_bytes())
        .int(now.0)
        .execute(conn)
        .await?;
    // A cap of u32::MAX is no cap: no count.
    if caps.per_address < u32::MAX {
        let (n, first_expiry) = live_count(
            Statement::new(sql::LIVE_PINS_FROM_NET)
                .text(&pin.requester_net)
                .int(now.0),
            conn,
        )
        .await?;
        if n >= i64::from(caps.per_address) {
            return Err(Refusal::Cap {
                cap: CapKind::Address,
                until: first_expiry,
            });
        }
    }
    if !pin.strong && caps.link_codes_per_address < u32::MAX {
        let (n, first_expiry) = live_count(
            Statement::new(sql::LIVE_LINK_CODES_FROM_NET)
                .text(&pin.requester_net)
                .int(now.0),
            conn,
        )
        .await?;
        if n >= i64::from(caps.link_codes_per_address) {
            return Err(Refusal::Cap {
                cap: CapKind::Address,
                until: first_expiry,
            });
        }
    }
    // The server's short codes are always capped: that cap is what keeps
    // guessing hopeless.
    if !pin.strong {
        let (n, first_expiry) =
            live_count(Statement::new(sql::LIVE_LINK_CODES).int(now.0), conn).await?;
        if n >= i64::from(caps.link_codes) {
            return Err(Refusal::Cap {
                cap: CapKind::LinkCodes,
                until: first_expiry,
            });
        }
    }
    let jwk = pin
        .jwk
        .as_ref()
        .map(pinlink_core::plex_jwt::Jwk::to_stored)
        .unwrap_or_default();
    let q = Statement::new(sql::INSERT_PIN)
        .int(i64::from(pin.id.0))
        .bytes(pin.code_hash.as_bytes())
        .bytes(&pin.code_sealed)
        .flag(pin.strong)
        .text(pin.client_identifier.as_str());
    let q = bind_device(q, &pin.device)
        .text(&pin.requester_ip)
        .text(&pin.requester_net)
        .int(pin.created_at.0)
        .int(pin.expires_at.0)
        .opt_bytes(pin.token_sealed.as_deref())
        .text(&jwk);
    let grant = pin.grant.as_ref();
    q.opt_text(grant.map(|g| g.application.id.as_str()))
        .text(grant.map_or("", |g| &g.application.name))
        .opt_bytes(grant.map(|g| g.device_code_hash.as_bytes()))
        .text(grant.map_or("", |g| &g.scope))
        .execute(conn)
        .await?;
    Ok(())
}

async fn live_count<C: Db + ?Sized>(
    q: Statement<'_>,
    conn: &mut C,
) -> Result<(i64, UnixTime), sqlx::Error> {
    let row = q.fetch_one(conn).await?;
    let row = &row;
    Ok((
        row.int("n")?,
        UnixTime(row.opt_int("first_expiry")?.unwrap_or(0)),
    ))
}

pub async fn pin_by_id<C: Db + ?Sized>(
    conn: &mut C,
    id: PinId,
) -> Result<Option<PinRecord>, sqlx::Error> {
    Statement::new(sql::PIN_BY_ID)
        .int(i64::from(id.0))
        .fetch_optional(conn)
        .await?
        .map(|row| pin_from_row(&row))
        .transpose()
}

pub async fn pin_by_code<C: Db + ?Sized>(
    conn: &mut C,
    code_hash: &LookupHash,
) -> Result<Option<PinRecord>, sqlx::Error> {
    Statement::new(sql::PIN_BY_CODE)
        .bytes(code_hash.as_bytes())
        .fetch_optional(conn)
        .await?
        .map(|row| pin_from_row(&row))
        .transpose()
}

/// Claims a live, unlinked pin and gives its device the new token.
pub async fn link_pin<C: Db + ?Sized>(
    conn: &mut C,
    link: &PinLink,
) -> Result<Option<DeviceId>, sqlx::Error> {
    let claimed = Statement::new(sql::CLAIM_PIN)
        .bytes(&link.token.sealed)
        .int(link.account.0)
        .int(i64::from(link.pin.0))
        .int(link.now.0)
        .fetch_optional(conn)
        .await?;
    let Some(row) = claimed else {
        return Ok(None);
    };
    let pin = pin_from_row(&row)?;
    let grant = match &pin.grant {
        Some(grant) => GrantPart {
            application: Some(grant.application.id.as_str()),
            scope: &grant.scope,
            auth_time: Some(link.now),
            token_expires_at: link.token_expires_at,
        },
        None => GrantPart::default(),
    };
    let is_grant = grant.application.is_some();
    let device = upsert_device_with_token(
        &mut *conn,
        link.account,
        &pin.client_identifier,
        &pin.device,
        &link.token,
        grant,
        link.now,
    )
    .await?;
    if is_grant {
        // A device granted again: the new grant replaces the old one (its
        // tokens and refresh tokens), rather than sharing its scope.
        Statement::new(sql::DELETE_DEVICE_REFRESH_TOKENS)
            .int(device.0)
            .execute(&mut *conn)
            .await?;
        Statement::new(sql::DELETE_OTHER_DEVICE_TOKENS)
            .int(device.0)
            .bytes(link.token.hash.as_bytes())
            .execute(&mut *conn)
            .await?;
    }
    remember_client(conn, link.account, &link.known_client, link.now).await?;
    if let Some(key) = &link.device_key {
        if !register_device_key(conn, device, &key.kid, &key.x, link.now).await? {
            // The whole link rolls back with this error.
            return Err(sqlx::Error::Protocol(
                "the pin's key belongs to another device".into(),
            ));
        }
    }
    // In the same step: the code's reservation given back, the log written.
    refund(conn, &link.refund).await?;
    if let Some(event) = &link.logged {
        log_event(conn, event).await?;
    }
    Ok(Some(device))
}

pub async fn delete_pin<C: Db + ?Sized>(conn: &mut C, id: PinId) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::DELETE_PIN)
        .int(i64::from(id.0))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn delete_expired_pins<C: Db + ?Sized>(
    conn: &mut C,
    now: UnixTime,
) -> Result<u64, sqlx::Error> {
    Statement::new(sql::DELETE_EXPIRED_PINS)
        .int(now.0)
        .int(now.plus_secs(-GRANT_EXPIRY_MEMORY_SECS).0)
        .execute(conn)
        .await
}

pub async fn deny_pin<C: Db + ?Sized>(conn: &mut C, id: PinId) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::DENY_PIN)
        .int(i64::from(id.0))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn take_linked_pin<C: Db + ?Sized>(
    conn: &mut C,
    id: PinId,
) -> Result<Option<PinRecord>, sqlx::Error> {
    Statement::new(sql::TAKE_LINKED_PIN)
        .int(i64::from(id.0))
        .fetch_optional(conn)
        .await?
        .map(|row| pin_from_row(&row))
        .transpose()
}

// ----------------------------------------------------------- applications

pub async fn insert_application<C: Db + ?Sized>(
    conn: &mut C,
    record: &ApplicationRecord,
) -> Result<(), sqlx::Error> {
    let app = &record.application;
    Statement::new(sql::INSERT_APPLICATION)
        .text(app.id.as_str())
        .text(&app.name)
        .opt_bytes(record.secret_hash.as_ref().map(LookupHash::as_bytes))
        .int(app.created_at.0)
        .int(app.access_token_lifetime_secs)
        .text(app.id_token_alg.as_str())
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_application<C: Db + ?Sized>(
    conn: &mut C,
    app: &Application,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::SET_APPLICATION)
        .int(app.access_token_lifetime_secs)
        .text(app.id_token_alg.as_str())
        .text(app.id.as_str())
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn application<C: Db + ?Sized>(
    conn: &mut C,
    id: &ApplicationId,
) -> Result<Option<ApplicationRecord>, sqlx::Error> {
    Statement::new(sql::APPLICATION)
        .text(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|row| application_from_row(&row))
        .transpose()
}

pub async fn list_applications<C: Db + ?Sized>(
    conn: &mut C,
) -> Result<Vec<ApplicationRecord>, sqlx::Error> {
    let rows = Statement::new(sql::LIST_APPLICATIONS)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|row| application_from_row(row)).collect()
}

pub async fn delete_application<C: Db + ?Sized>(
    conn: &mut C,
    id: &ApplicationId,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::DELETE_APPLICATION)
        .text(id.as_str())
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn count_live_pins<C: Db + ?Sized>(
    conn: &mut C,
    now: UnixTime,
) -> Result<u64, sqlx::Error> {
    let row = Statement::new(sql::COUNT_LIVE_PINS)
        .int(now.0)
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(row.int("n")?).unwrap_or(0))
}

// --------------------------------------------------------------- accounts

pub async fn insert_account<C: Db + ?Sized>(
    conn: &mut C,
    new: &NewAccount,
) -> Result<Account, sqlx::Error> {
    let row = Statement::new(sql::INSERT_ACCOUNT)
        .text(&new.uuid)
        .text(&new.username)
        .text(&new.email)
        .text(&new.password_hash)
        .int(new.created_at.0)
        .fetch_one(conn)
        .await?;
    Ok(Account {
        id: AccountId(row.int("id")?),
        uuid: new.uuid.clone(),
        username: Username::from_stored(new.username.clone()),
        email: Email::from_stored(new.email.clone()),
        created_at: new.created_at,
    })
}

pub async fn account_by_login<C: Db + ?Sized>(
    conn: &mut C,
    login: &str,
) -> Result<Option<AccountRecord>, sqlx::Error> {
    let row = Statement::new(sql::ACCOUNT_BY_LOGIN)
        .text(login)
        .fetch_optional(conn)
        .await?;
    row.map(|row| account_record_from_row(&row)).transpose()
}

pub async fn account_by_id<C: Db + ?Sized>(
    conn: &mut C,
    id: AccountId,
) -> Result<Option<AccountRecord>, sqlx::Error> {
    let row = Statement::new(sql::ACCOUNT_BY_ID)
        .int(id.0)
        .fetch_optional(conn)
        .await?;
    row.map(|row| account_record_from_row(&row)).transpose()
}

pub async fn account_overview<C: Db + ?Sized>(
    conn: &mut C,
) -> Result<Vec<AccountOverview>, sqlx::Error> {
    let rows = Statement::new(sql::ACCOUNT_OVERVIEW)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(AccountOverview {
                account: account_from_row(row)?,
                disabled: row.flag("disabled")?,
                two_step: row.flag("two_step")?,
                passkeys: u32::try_from(row.int("passkeys")?).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// Signs the devices `who` names out; returns them.
async fn sign_out<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    who: SignOut,
) -> Result<Vec<DeviceId>, sqlx::Error> {
    let rows = match who {
        SignOut::Nobody => return Ok(Vec::new()),
        SignOut::Everyone => {
            Statement::new(sql::SIGN_OUT_ALL)
                .int(account.0)
                .fetch_all(conn)
                .await?
        }
        SignOut::AllBut(keep) => {
            Statement::new(sql::SIGN_OUT_ALL_BUT)
                .int(account.0)
                .int(keep.0)
                .fetch_all(conn)
                .await?
        }
    };
    rows.iter()
        .map(|row| Ok(DeviceId(row.int("id")?)))
        .collect()
}

async fn replace_recovery_codes<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    codes: &[LookupHash],
) -> Result<(), sqlx::Error> {
    Statement::new(sql::DELETE_RECOVERY_CODES)
        .int(account.0)
        .execute(&mut *conn)
        .await?;
    for code in codes {
        Statement::new(sql::INSERT_RECOVERY_CODE)
            .int(account.0)
            .bytes(code.as_bytes())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One change to what guards an account, and its log entry. `None` when
/// there is no such account.
pub async fn change_account<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    change: &AccountChange,
    event: Option<&SecurityEvent>,
) -> Result<Option<Vec<DeviceId>>, sqlx::Error> {
    let exists = Statement::new(sql::ACCOUNT_EXISTS)
        .int(account.0)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    // The new values, then the account (`sql.rs` names them in that order).
    let id = account.0;
    let mut signed_out = Vec::new();
    match change {
        AccountChange::Password {
            hash,
            sign_out: who,
        } => {
            Statement::new(sql::SET_PASSWORD)
                .text(hash)
                .int(id)
                .execute(&mut *conn)
                .await?;
            // A reset link outstanding is for a password that is gone.
            Statement::new(sql::DELETE_RESETS_OF)
                .int(id)
                .execute(&mut *conn)
                .await?;
            signed_out = sign_out(conn, account, *who).await?;
        }
        AccountChange::Email(email) => {
            Statement::new(sql::SET_EMAIL)
                .text(email)
                .int(id)
                .execute(&mut *conn)
                .await?;
        }
        AccountChange::Disabled(disabled) => {
            Statement::new(sql::SET_DISABLED)
                .flag(*disabled)
                .int(id)
                .execute(&mut *conn)
                .await?;
        }
        AccountChange::SignOut(who) => {
            signed_out = sign_out(conn, account, *who).await?;
        }
        AccountChange::EnrollTwoStep { pending_sealed } => {
            Statement::new(sql::SET_PENDING_TOTP)
                .bytes(pending_sealed)
                .int(id)
                .execute(&mut *conn)
                .await?;
        }
        AccountChange::ConfirmTwoStep {
            secret_sealed,
            step,
            recovery_codes,
        } => {
            Statement::new(sql::CONFIRM_TOTP)
                .bytes(secret_sealed)
                .int(*step)
                .int(id)
                .execute(&mut *conn)
                .await?;
            replace_recovery_codes(conn, account, recovery_codes).await?;
        }
        AccountChange::StopTwoStep => {
            Statement::new(sql::STOP_TOTP)
                .int(id)
                .execute(&mut *conn)
                .await?;
            replace_recovery_codes(conn, account, &[]).await?;
        }
        AccountChange::RecoveryCodes(codes) => {
            replace_recovery_codes(conn, account, codes).await?;
        }
        AccountChange::PasskeyHandle(handle) => {
            Statement::new(sql::SET_PASSKEY_HANDLE)
                .text(handle)
                .int(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    if let Some(event) = event {
        log_event(conn, event).await?;
    }
    Ok(Some(signed_out))
}

pub async fn accept_totp_step<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::ACCEPT_TOTP_STEP)
        .int(step)
        .int(account.0)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn use_recovery_code<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    hash: &LookupHash,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::USE_RECOVERY_CODE)
        .int(account.0)
        .bytes(hash.as_bytes())
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn recovery_codes_left<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
) -> Result<u32, sqlx::Error> {
    let row = Statement::new(sql::COUNT_RECOVERY_CODES)
        .int(account.0)
        .fetch_one(conn)
        .await?;
    Ok(u32::try_from(row.int("n")?).unwrap_or(0))
}

/// The account and everything of it; the pins it linked (which held its
/// tokens), or `None` when there was no account.
pub async fn delete_account<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
) -> Result<Option<Vec<PinId>>, sqlx::Error> {
    let pins = Statement::new(sql::DELETE_ACCOUNT_PINS)
        .int(account.0)
        .fetch_all(&mut *conn)
        .await?;
    let pins = pins
        .iter()
        .map(|row| Ok(PinId(u32::try_from(row.int("id")?).unwrap_or(0))))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let n = Statement::new(sql::DELETE_ACCOUNT)
        .int(account.0)
        .execute(conn)
        .await?;
    Ok((n > 0).then_some(pins))
}

// ---------------------------------------------------------- security log

pub async fn log_event<C: Db + ?Sized>(
    conn: &mut C,
    event: &SecurityEvent,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_EVENT)
        .int(event.account.0)
        .int(event.at.0)
        .text(event.kind.as_str())
        .text(&event.address)
        .text(&event.client)
        .text(&event.detail)
        .execute(&mut *conn)
        .await?;
    if event.kind == EventKind::SignInRefused {
        Statement::new(sql::TRIM_EVENTS_OF_KIND)
            .int(event.account.0)
            .text(event.kind.as_str())
            .int(MAX_REFUSALS_PER_ACCOUNT as i64)
            .execute(&mut *conn)
            .await?;
    }
    Statement::new(sql::TRIM_EVENTS)
        .int(event.account.0)
        .int(MAX_ENTRIES_PER_ACCOUNT as i64)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn security_log<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<LoggedEvent>, sqlx::Error> {
    let rows = Statement::new(sql::SECURITY_LOG)
        .int(account.0)
        .int(before.unwrap_or(i64::MAX))
        .int(i64::from(limit))
        .fetch_all(conn)
        .await?;
    rows.iter().map(|row| logged_event_from_row(row)).collect()
}

// -------------------------------------------------------- password resets

pub async fn insert_password_reset<C: Db + ?Sized>(
    conn: &mut C,
    reset: &PasswordReset,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_RESET)
        .bytes(reset.hash.as_bytes())
        .int(reset.account.0)
        .flag(reset.drop_two_step)
        .int(reset.expires_at.0)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn password_reset<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
    now: UnixTime,
) -> Result<Option<PasswordReset>, sqlx::Error> {
    let row = Statement::new(sql::RESET_BY_HASH)
        .bytes(hash.as_bytes())
        .int(now.0)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(PasswordReset {
            hash: hash.clone(),
            account: AccountId(row.int("account_id")?),
            drop_two_step: row.flag("drop_two_step")?,
            expires_at: UnixTime(row.int("expires_at")?),
        })
    })
    .transpose()
}

pub async fn complete_password_reset<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
    password_hash: &str,
    event: &SecurityEvent,
) -> Result<Option<(AccountId, Vec<DeviceId>)>, sqlx::Error> {
    let Some(reset) = password_reset(&mut *conn, hash, event.at).await? else {
        return Ok(None);
    };
    let account = reset.account;
    Statement::new(sql::DELETE_RESETS_OF)
        .int(account.0)
        .execute(&mut *conn)
        .await?;
    if reset.drop_two_step {
        Statement::new(sql::STOP_TOTP)
            .int(account.0)
            .execute(&mut *conn)
            .await?;
        replace_recovery_codes(&mut *conn, account, &[]).await?;
        // Passkeys are both factors at once: a lost phone (or a stranger's
        // passkey) goes with the code.
        Statement::new(sql::DELETE_PASSKEYS_OF)
            .int(account.0)
            .execute(&mut *conn)
            .await?;
    }
    let event = SecurityEvent {
        account,
        ..event.clone()
    };
    let signed_out = change_account(
        conn,
        account,
        &AccountChange::Password {
            hash: password_hash.to_owned(),
            sign_out: SignOut::Everyone,
        },
        Some(&event),
    )
    .await?
    .unwrap_or_default();
    Ok(Some((account, signed_out)))
}

// -------------------------------------------------------------- passkeys

pub async fn insert_passkey<C: Db + ?Sized>(
    conn: &mut C,
    passkey: &PasskeyRecord,
) -> Result<i64, sqlx::Error> {
    let row = Statement::new(sql::INSERT_PASSKEY)
        .int(passkey.account.0)
        .bytes(&passkey.credential_id)
        .text(&passkey.name)
        .text(&passkey.passkey)
        .int(passkey.created_at.0)
        .fetch_one(conn)
        .await?;
    row.int("id")
}

pub async fn passkeys<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
) -> Result<Vec<PasskeyRecord>, sqlx::Error> {
    let rows = Statement::new(sql::PASSKEYS)
        .int(account.0)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| passkey_from_row(row, "account_id"))
        .collect()
}

pub async fn passkey_for_sign_in<C: Db + ?Sized>(
    conn: &mut C,
    handle: &str,
    credential_id: &[u8],
) -> Result<Option<(AccountRecord, PasskeyRecord)>, sqlx::Error> {
    let row = Statement::new(sql::PASSKEY_FOR_SIGN_IN)
        .text(handle)
        .bytes(credential_id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok((
            account_record_from_row(&row)?,
            passkey_from_row(&row, "passkey_account")?,
        ))
    })
    .transpose()
}

pub async fn passkey_used<C: Db + ?Sized>(
    conn: &mut C,
    id: i64,
    passkey: &str,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::PASSKEY_USED)
        .text(passkey)
        .int(now.0)
        .int(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_passkey<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = Statement::new(sql::DELETE_PASSKEY)
        .int(account.0)
        .int(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| row.text("name")).transpose()
}

pub async fn insert_ceremony<C: Db + ?Sized>(
    conn: &mut C,
    ceremony: &CeremonyRecord,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_CEREMONY)
        .bytes(ceremony.hash.as_bytes())
        .opt_int(ceremony.account.map(|a| a.0))
        .text(&ceremony.state)
        .int(ceremony.expires_at.0)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn take_ceremony<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
    now: UnixTime,
) -> Result<Option<CeremonyRecord>, sqlx::Error> {
    let row = Statement::new(sql::TAKE_CEREMONY)
        .bytes(hash.as_bytes())
        .int(now.0)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(CeremonyRecord {
            hash: hash.clone(),
            account: row.opt_int("account_id")?.map(AccountId),
            state: row.text("state")?,
            expires_at: UnixTime(row.int("expires_at")?),
        })
    })
    .transpose()
}

pub async fn delete_stale_account_data<C: Db + ?Sized>(
    conn: &mut C,
    now: UnixTime,
    log_before: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::DELETE_EXPIRED_CEREMONIES)
        .int(now.0)
        .execute(&mut *conn)
        .await?;
    Statement::new(sql::DELETE_EXPIRED_RESETS)
        .int(now.0)
        .execute(&mut *conn)
        .await?;
    Statement::new(sql::DELETE_EXPIRED_TOKENS)
        .int(now.0)
        .execute(&mut *conn)
        .await?;
    Statement::new(sql::DELETE_USED_REFRESH_TOKENS)
        .int(
            now.plus_secs(-pinlink_core::store::USED_REFRESH_TOKEN_SECS)
                .0,
        )
        .execute(&mut *conn)
        .await?;
    Statement::new(sql::DELETE_EVENTS_BEFORE)
        .int(log_before.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list_accounts<C: Db + ?Sized>(conn: &mut C) -> Result<Vec<Account>, sqlx::Error> {
    let rows = Statement::new(sql::LIST_ACCOUNTS).fetch_all(conn).await?;
    rows.iter().map(|row| account_from_row(row)).collect()
}

// ------------------------------------------------------- devices, tokens

/// Registers (or refreshes) the account's device for `client_identifier`
/// and stores its new token: shared by sign-in and pin linking.
/// A device grant's part of a device: its application, the scope granted,
/// when the person approved it, and when its token stops working.
#[derive(Default)]
struct GrantPart<'a> {
    application: Option<&'a str>,
    scope: &'a str,
    auth_time: Option<UnixTime>,
    token_expires_at: Option<UnixTime>,
}

// One argument per thing the device and its token are made of.
async fn upsert_device_with_token<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    client_identifier: &ClientIdentifier,
    device: &DeviceInfo,
    token: &NewToken,
    grant: GrantPart<'_>,
    now: UnixTime,
) -> Result<DeviceId, sqlx::Error> {
    let q = Statement::new(sql::UPSERT_DEVICE)
        .int(account.0)
        .text(client_identifier.as_str());
    let row = bind_device(q, device)
        .int(now.0)
        .int(now.0)
        .opt_text(grant.application)
        .text(grant.scope)
        .opt_int(grant.auth_time.map(|t| t.0))
        .fetch_one(&mut *conn)
        .await?;
    let device_id = DeviceId(row.int("id")?);
    insert_token(conn, device_id, token, now, grant.token_expires_at).await?;
    Ok(device_id)
}

async fn insert_token<C: Db + ?Sized>(
    conn: &mut C,
    device: DeviceId,
    token: &NewToken,
    now: UnixTime,
    expires_at: Option<UnixTime>,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_TOKEN)
        .bytes(token.hash.as_bytes())
        .int(device.0)
        .bytes(&token.sealed)
        .int(now.0)
        .opt_int(expires_at.map(|t| t.0))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert_refresh_token<C: Db + ?Sized>(
    conn: &mut C,
    device: DeviceId,
    hash: &LookupHash,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_REFRESH_TOKEN)
        .bytes(hash.as_bytes())
        .int(device.0)
        .int(now.0)
        .execute(conn)
        .await
        .map(drop)
}

/// A refresh token as stored: its device, whether it was used, whether
/// its account is disabled.
struct RefreshTokenRow {
    device: DeviceId,
    used: bool,
    disabled: bool,
}

/// The refresh token, if it is `application`'s.
async fn refresh_token_of<C: Db + ?Sized>(
    conn: &mut C,
    application: &ApplicationId,
    hash: &LookupHash,
) -> Result<Option<RefreshTokenRow>, sqlx::Error> {
    let row = Statement::new(sql::REFRESH_TOKEN)
        .bytes(hash.as_bytes())
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.opt_text("oauth_client")?.as_deref() != Some(application.as_str()) {
        return Ok(None);
    }
    Ok(Some(RefreshTokenRow {
        device: DeviceId(row.int("device_id")?),
        used: row.flag("used")?,
        disabled: row.flag("disabled")?,
    }))
}

async fn end_grant<C: Db + ?Sized>(conn: &mut C, device: DeviceId) -> Result<(), sqlx::Error> {
    Statement::new(sql::DELETE_DEVICE_BY_ID)
        .int(device.0)
        .execute(conn)
        .await
        .map(drop)
}

/// Used refresh tokens a grant remembers (to end it if one comes back).
const USED_REFRESH_TOKENS_KEPT: i64 = 10;

pub async fn rotate_refresh_token<C: Db + ?Sized>(
    conn: &mut C,
    rotation: &Rotation,
) -> Result<Rotated, sqlx::Error> {
    let Some(found) =
        refresh_token_of(&mut *conn, &rotation.application, &rotation.presented).await?
    else {
        return Ok(Rotated::Unknown);
    };
    // A disabled account's grant waits, untouched, until it is enabled.
    if found.disabled {
        return Ok(Rotated::Unknown);
    }
    let device = found.device;
    let taken = !found.used
        && Statement::new(sql::USE_REFRESH_TOKEN)
            .bytes(rotation.presented.as_bytes())
            .execute(&mut *conn)
            .await?
            > 0;
    if !taken {
        // Used before: it leaked, and the grant ends (RFC 9700 §4.14.2).
        end_grant(conn, device).await?;
        return Ok(Rotated::Reused);
    }
    insert_token(
        &mut *conn,
        device,
        &rotation.access,
        rotation.now,
        rotation.access_expires_at,
    )
    .await?;
    if let Some(next) = &rotation.refresh {
        insert_refresh_token(&mut *conn, device, next, rotation.now).await?;
    }
    // Bounded per grant, however often it is refreshed.
    Statement::new(sql::TRIM_GRANT_TOKENS)
        .int(device.0)
        .bytes(rotation.access.hash.as_bytes())
        .execute(&mut *conn)
        .await?;
    Statement::new(sql::TRIM_USED_REFRESH_TOKENS)
        .int(device.0)
        .int(USED_REFRESH_TOKENS_KEPT)
        .execute(&mut *conn)
        .await?;
    match session_by_token(conn, &rotation.access.hash).await? {
        Some(session) => Ok(Rotated::Rotated(session)),
        None => Ok(Rotated::Unknown),
    }
}

pub async fn set_token_expiry<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
    at: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::SET_TOKEN_EXPIRY)
        .int(at.0)
        .bytes(hash.as_bytes())
        .execute(conn)
        .await
        .map(drop)
}

pub async fn revoke_refresh_token<C: Db + ?Sized>(
    conn: &mut C,
    application: &ApplicationId,
    hash: &LookupHash,
) -> Result<bool, sqlx::Error> {
    match refresh_token_of(&mut *conn, application, hash).await? {
        Some(found) => {
            end_grant(conn, found.device).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

async fn remember_client<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    client: &LookupHash,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::REMEMBER_CLIENT)
        .int(account.0)
        .bytes(client.as_bytes())
        .int(now.0)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn grant_token<C: Db + ?Sized>(
    conn: &mut C,
    grant: &TokenGrant,
) -> Result<DeviceId, sqlx::Error> {
    let device = upsert_device_with_token(
        conn,
        grant.account,
        &grant.client_identifier,
        &grant.device,
        &grant.token,
        GrantPart::default(),
        grant.now,
    )
    .await?;
    remember_client(conn, grant.account, &grant.known_client, grant.now).await?;
    Ok(device)
}

pub async fn session_by_token<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
) -> Result<Option<SessionRecord>, sqlx::Error> {
    let row = Statement::new(sql::SESSION_BY_TOKEN)
        .bytes(hash.as_bytes())
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        let row = &row;
        session_from_row(row)
    })
    .transpose()
}

fn session_from_row(row: &dyn Columns) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        account: account_from_row(row)?,
        device: DeviceId(row.int("device_id")?),
        client_identifier: ClientIdentifier::from_stored(row.text("client_identifier")?),
        last_seen_at: UnixTime(row.int("last_seen_at")?),
        application: row
            .opt_text("device_application")?
            .map(ApplicationId::from_stored),
        token_issued_at: UnixTime(row.int("token_created_at")?),
        token_expires_at: row.opt_int("token_expires_at")?.map(UnixTime),
        scope: row.text("scope")?,
        auth_time: row.opt_int("auth_time")?.map(UnixTime),
    })
}

pub async fn set_device_connections<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    device: DeviceId,
    connections: &[String],
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::SET_DEVICE_CONNECTIONS)
        .text(&connections.join("\n"))
        .int(account.0)
        .int(device.0)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn register_device_key<C: Db + ?Sized>(
    conn: &mut C,
    device: DeviceId,
    kid: &str,
    x: &str,
    now: UnixTime,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::UPSERT_DEVICE_KEY)
        .text(kid)
        .int(device.0)
        .text(x)
        .int(now.0)
        .execute(&mut *conn)
        .await?;
    if n == 0 {
        return Ok(false);
    }
    Statement::new(sql::TRIM_DEVICE_KEYS)
        .int(device.0)
        .text(kid)
        .int(pinlink_core::store::MAX_KEYS_PER_DEVICE as i64)
        .execute(conn)
        .await?;
    Ok(true)
}

pub async fn device_key<C: Db + ?Sized>(
    conn: &mut C,
    kid: &str,
) -> Result<Option<DeviceKeyRecord>, sqlx::Error> {
    let row = Statement::new(sql::DEVICE_KEY)
        .text(kid)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        let row = &row;
        Ok(DeviceKeyRecord {
            session: session_from_row(row)?,
            x: row.text("x")?,
        })
    })
    .transpose()
}

pub async fn insert_nonce<C: Db + ?Sized>(
    conn: &mut C,
    nonce: &str,
    client: &LookupHash,
    expires_at: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::INSERT_NONCE)
        .text(nonce)
        .bytes(client.as_bytes())
        .int(expires_at.0)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn signing_key_generations<C: Db + ?Sized>(
    conn: &mut C,
) -> Result<Vec<(u32, UnixTime)>, sqlx::Error> {
    let rows = Statement::new(sql::SIGNING_KEY_GENERATIONS)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let generation = u32::try_from(row.int("generation")?)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((generation, UnixTime(row.int("created_at")?)))
        })
        .collect()
}

pub async fn add_signing_key_generation<C: Db + ?Sized>(
    conn: &mut C,
    now: UnixTime,
) -> Result<u32, sqlx::Error> {
    let row = Statement::new(sql::ADD_SIGNING_KEY_GENERATION)
        .int(now.0)
        .fetch_one(conn)
        .await?;
    u32::try_from(row.int("generation")?).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub async fn ping<C: Db + ?Sized>(conn: &mut C) -> Result<(), sqlx::Error> {
    Statement::new(sql::PING).fetch_one(conn).await.map(drop)
}

pub async fn delete_expired_nonces<C: Db + ?Sized>(
    conn: &mut C,
    now: UnixTime,
) -> Result<u64, sqlx::Error> {
    Statement::new(sql::DELETE_NONCES_BEFORE)
        .int(now.0)
        .execute(conn)
        .await
}

pub async fn nonce_is_live<C: Db + ?Sized>(
    conn: &mut C,
    nonce: &str,
    client: &LookupHash,
    now: UnixTime,
) -> Result<bool, sqlx::Error> {
    Ok(Statement::new(sql::NONCE_IS_LIVE)
        .text(nonce)
        .bytes(client.as_bytes())
        .int(now.0)
        .fetch_optional(conn)
        .await?
        .is_some())
}

pub async fn use_nonce<C: Db + ?Sized>(
    conn: &mut C,
    nonce: &str,
    client: &LookupHash,
    now: UnixTime,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::USE_NONCE)
        .text(nonce)
        .bytes(client.as_bytes())
        .int(now.0)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn touch_device<C: Db + ?Sized>(
    conn: &mut C,
    device: DeviceId,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    Statement::new(sql::TOUCH_DEVICE)
        .int(now.0)
        .int(device.0)
        .execute(conn)
        .await
        .map(drop)
}

/// Revokes one token; a device left without tokens goes too.
pub async fn revoke_token<C: Db + ?Sized>(
    conn: &mut C,
    hash: &LookupHash,
) -> Result<bool, sqlx::Error> {
    let gone = Statement::new(sql::DELETE_TOKEN)
        .bytes(hash.as_bytes())
        .fetch_optional(conn)
        .await?;
    let Some(row) = gone else {
        return Ok(false);
    };
    let device = row.int("device_id")?;
    Statement::new(sql::DELETE_DEVICE_IF_TOKENLESS)
        .int(device)
        .execute(conn)
        .await?;
    Ok(true)
}

/// `statement` is the backend's [`sql::LIST_DEVICES_SQLITE`] or
/// [`sql::LIST_DEVICES_POSTGRES`] (they order tokens by different columns).
pub async fn list_devices<C: Db + ?Sized>(
    conn: &mut C,
    statement: &'static str,
    account: AccountId,
) -> Result<Vec<DeviceRecord>, sqlx::Error> {
    let rows = Statement::new(statement)
        .int(account.0)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|row| device_record_from_row(row)).collect()
}

pub async fn revoke_device<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    device: DeviceId,
) -> Result<bool, sqlx::Error> {
    let n = Statement::new(sql::DELETE_DEVICE)
        .int(device.0)
        .int(account.0)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

pub async fn is_known_client<C: Db + ?Sized>(
    conn: &mut C,
    account: AccountId,
    client: &LookupHash,
) -> Result<bool, sqlx::Error> {
    let row = Statement::new(sql::IS_KNOWN_CLIENT)
        .int(account.0)
        .bytes(client.as_bytes())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

// ---------------------------------------------------------------- budgets

/// Checks every spend's limits, then records one spend in each. Atomic only
/// where the caller makes it so (SQLite's single writer; PostgreSQL advisory
/// locks on the keys).
pub async fn reserve<C: Db + ?Sized>(
    conn: &mut C,
    spends: &[Spend],
    now: UnixTime,
) -> Result<Reservation, sqlx::Error> {
    for (index, spend) in spends.iter().enumerate() {
        for limit in &spend.limits {
            let row = Statement::new(sql::COUNT_SPENDS)
                .bytes(spend.key.as_bytes())
                .int(now.plus_secs(-limit.window_secs).0)
                .fetch_one(conn)
                .await?;
            let row = &row;
            if row.int("n")? >= i64::from(limit.max) {
                let oldest = UnixTime(row.opt_int("oldest")?.unwrap_or(now.0));
                return Ok(Reservation::Refused {
                    index,
                    retry_after_secs: now.secs_until(oldest.plus_secs(limit.window_secs)),
                });
            }
        }
    }
    let mut ids = Vec::with_capacity(spends.len());
    for spend in spends.iter().filter(|s| !s.limits.is_empty()) {
        let row = Statement::new(sql::INSERT_SPEND)
            .bytes(spend.key.as_bytes())
            .int(now.0)
            .fetch_one(conn)
            .await?;
        ids.push(row.int("id")?);
    }
    Ok(Reservation::Granted(ids))
}

pub async fn refund<C: Db + ?Sized>(conn: &mut C, spends: &[i64]) -> Result<(), sqlx::Error> {
    for id in spends {
        Statement::new(sql::DELETE_SPEND)
            .int(*id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn forgive<C: Db + ?Sized>(conn: &mut C, key: &LookupHash) -> Result<(), sqlx::Error> {
    Statement::new(sql::DELETE_SPENDS_WITH_KEY)
        .bytes(key.as_bytes())
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_spends_before<C: Db + ?Sized>(
    conn: &mut C,
    before: UnixTime,
    forget_clients_before: UnixTime,
) -> Result<u64, sqlx::Error> {
    let n = Statement::new(sql::DELETE_SPENDS_BEFORE)
        .int(before.0)
        .execute(conn)
        .await?;
    Statement::new(sql::FORGET_CLIENTS_BEFORE)
        .int(forget_clients_before.0)
        .execute(conn)
        .await?;
    Ok(n)
}
