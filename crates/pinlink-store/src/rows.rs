//! Reading stored rows into the core's records, once for every backend:
//! each backend's row type only has to say how to read a column of each of
//! the few types pinlink stores ([`Columns`]).

use pinlink_core::security_log::{EventKind, LoggedEvent, SecurityEvent};
use pinlink_core::store::{
    AccountRecord, ApplicationRecord, DeviceRecord, PasskeyRecord, PinRecord,
};
use pinlink_core::{
    Account, AccountId, Application, ApplicationId, ApplicationRef, ClientIdentifier, DeviceGrant,
    DeviceId, DeviceInfo, Email, IdTokenAlg, LookupHash, PinId, Product, UnixTime, Username,
};
use sqlx::Row;

pub trait Columns {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;

    fn required_bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.bytes(column)?
            .ok_or_else(|| sqlx::Error::Decode(format!("{column} is NULL").into()))
    }
}

macro_rules! columns_for {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

columns_for!(sqlx::sqlite::SqliteRow);
columns_for!(sqlx::postgres::PgRow);

/// A row read from a `rusqlite` statement, owned (the statement is cached
/// and reused at once).
pub struct OwnedRow {
    columns: Vec<(String, rusqlite::types::Value)>,
}

impl OwnedRow {
    pub fn read(names: &[String], row: &rusqlite::Row<'_>) -> Result<OwnedRow, rusqlite::Error> {
        let mut columns = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            columns.push((name.clone(), row.get::<_, rusqlite::types::Value>(i)?));
        }
        Ok(OwnedRow { columns })
    }

    fn value(&self, column: &str) -> Result<&rusqlite::types::Value, sqlx::Error> {
        self.columns
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_owned()))
    }

    fn wrong_type(column: &str) -> sqlx::Error {
        sqlx::Error::Decode(format!("{column} holds another type").into())
    }
}

impl Columns for OwnedRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.opt_text(column)?
            .ok_or_else(|| Self::wrong_type(column))
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self.value(column)? {
            rusqlite::types::Value::Text(text) => Ok(Some(text.clone())),
            rusqlite::types::Value::Null => Ok(None),
            _ => Err(Self::wrong_type(column)),
        }
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.opt_int(column)?
            .ok_or_else(|| Self::wrong_type(column))
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        match self.value(column)? {
            rusqlite::types::Value::Integer(n) => Ok(Some(*n)),
            rusqlite::types::Value::Null => Ok(None),
            _ => Err(Self::wrong_type(column)),
        }
    }
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        Ok(self.int(column)? != 0)
    }
    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self.value(column)? {
            rusqlite::types::Value::Blob(bytes) => Ok(Some(bytes.clone())),
            rusqlite::types::Value::Null => Ok(None),
            _ => Err(Self::wrong_type(column)),
        }
    }
}

pub fn device_from_row(row: &dyn Columns) -> Result<DeviceInfo, sqlx::Error> {
    Ok(DeviceInfo {
        product: Product::from_stored(row.text("product")?),
        version: row.text("version")?.into(),
        platform: row.text("platform")?.into(),
        platform_version: row.text("platform_version")?.into(),
        device: row.text("device")?.into(),
        device_name: row.text("device_name")?.into(),
        model: row.text("model")?.into(),
        vendor: row.text("vendor")?.into(),
        provides: row.text("provides")?.into(),
    })
}

fn hash_from_row(row: &dyn Columns, column: &str) -> Result<LookupHash, sqlx::Error> {
    LookupHash::from_slice(&row.required_bytes(column)?)
        .ok_or_else(|| sqlx::Error::Decode(format!("{column} is not 32 bytes").into()))
}

pub fn pin_from_row(row: &dyn Columns) -> Result<PinRecord, sqlx::Error> {
    let id = row.int("id")?;
    Ok(PinRecord {
        id: PinId(u32::try_from(id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?),
        code_hash: hash_from_row(row, "code_hash")?,
        code_sealed: row.required_bytes("code_sealed")?,
        strong: row.flag("strong")?,
        client_identifier: ClientIdentifier::from_stored(row.text("client_identifier")?),
        device: device_from_row(row)?,
        requester_ip: row.text("requester_ip")?,
        requester_net: row.text("requester_net")?,
        created_at: UnixTime(row.int("created_at")?),
        expires_at: UnixTime(row.int("expires_at")?),
        token_sealed: row.bytes("token_sealed")?,
        jwk: pinlink_core::plex_jwt::Jwk::from_stored(&row.text("jwk")?),
        grant: grant_from_row(row)?,
    })
}

/// A device grant's columns of a pin row (all `NULL` for plex.tv pins).
fn grant_from_row(row: &dyn Columns) -> Result<Option<DeviceGrant>, sqlx::Error> {
    let Some(application) = row.opt_text("oauth_client")? else {
        return Ok(None);
    };
    Ok(Some(DeviceGrant {
        application: ApplicationRef {
            id: ApplicationId::from_stored(application),
            name: row.text("application_name")?.into(),
        },
        device_code_hash: hash_from_row(row, "device_code_hash")?,
        scope: row.text("scope")?.into(),
        denied: row.flag("denied")?,
    }))
}

pub fn application_from_row(row: &dyn Columns) -> Result<ApplicationRecord, sqlx::Error> {
    let secret_hash = match row.bytes("secret_hash")? {
        Some(bytes) => Some(
            LookupHash::from_slice(&bytes)
                .ok_or_else(|| sqlx::Error::Decode("secret_hash is not 32 bytes".into()))?,
        ),
        None => None,
    };
    Ok(ApplicationRecord {
        application: Application {
            id: ApplicationId::from_stored(row.text("client_id")?),
            name: row.text("name")?,
            confidential: secret_hash.is_some(),
            created_at: UnixTime(row.int("created_at")?),
            access_token_lifetime_secs: row.int("access_token_lifetime")?,
            id_token_alg: {
                let alg = row.text("id_token_alg")?;
                IdTokenAlg::parse(&alg).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown ID token alg {alg:?}").into())
                })?
            },
        },
        secret_hash,
    })
}

/// Reads the columns of `sql::account_columns!`.
pub fn account_from_row(row: &dyn Columns) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: AccountId(row.int("account_id")?),
        uuid: row.text("uuid")?,
        username: Username::from_stored(row.text("username")?),
        email: Email::from_stored(row.text("email")?),
        created_at: UnixTime(row.int("account_created_at")?),
    })
}

/// An account with what guards it (`sql::account_guard_columns`).
pub fn account_record_from_row(row: &dyn Columns) -> Result<AccountRecord, sqlx::Error> {
    Ok(AccountRecord {
        account: account_from_row(row)?,
        password_hash: row.text("password_hash")?,
        disabled: row.flag("disabled")?,
        totp_sealed: row.bytes("totp_sealed")?,
        totp_last_step: row.int("totp_last_step")?,
        totp_pending_sealed: row.bytes("totp_pending_sealed")?,
        passkey_handle: row.opt_text("passkey_handle")?,
    })
}

pub fn passkey_from_row(
    row: &dyn Columns,
    account_column: &str,
) -> Result<PasskeyRecord, sqlx::Error> {
    Ok(PasskeyRecord {
        id: row.int("id")?,
        account: AccountId(row.int(account_column)?),
        credential_id: row.required_bytes("credential_id")?,
        name: row.text("name")?,
        passkey: row.text("passkey")?,
        created_at: UnixTime(row.int("created_at")?),
        last_used_at: row.opt_int("last_used_at")?.map(UnixTime),
    })
}

pub fn logged_event_from_row(row: &dyn Columns) -> Result<LoggedEvent, sqlx::Error> {
    let kind = row.text("kind")?;
    Ok(LoggedEvent {
        id: row.int("id")?,
        event: SecurityEvent {
            account: AccountId(row.int("account_id")?),
            at: UnixTime(row.int("at")?),
            kind: EventKind::from_stored(&kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown event {kind:?}").into()))?,
            address: row.text("address")?,
            client: row.text("client")?,
            detail: row.text("detail")?,
        },
    })
}

pub fn device_record_from_row(row: &dyn Columns) -> Result<DeviceRecord, sqlx::Error> {
    Ok(DeviceRecord {
        id: DeviceId(row.int("id")?),
        client_identifier: ClientIdentifier::from_stored(row.text("client_identifier")?),
        info: device_from_row(row)?,
        created_at: UnixTime(row.int("created_at")?),
        last_seen_at: UnixTime(row.int("last_seen_at")?),
        token_sealed: row.bytes("token_sealed")?,
        connections: row
            .text("connections")?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}
