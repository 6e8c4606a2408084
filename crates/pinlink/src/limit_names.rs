//! The limits by name: the flags of `pinlink serve` (`pins_per_address`)
//! and the ones without a flag, as test mode's `[limits]` table names them.

use pinlink_core::{Limit, PinlinkSettings};

/// Sets the limit named like its flag (`pins_per_address`) to `value`; 0
/// turns it off (the server-wide cap on link codes cannot be off).
pub fn set_limit(settings: &mut PinlinkSettings, name: &str, value: u64) -> anyhow::Result<()> {
    let n = u32::try_from(value).map_err(|_| anyhow::anyhow!("{name} = {value} is too large"))?;
    let per = |secs: i64| {
        if n == 0 {
            Limit::OFF
        } else {
            Limit::new(n, secs)
        }
    };
    let daily = if n == 0 {
        Limit::OFF
    } else {
        Limit::new(n.saturating_mul(3), 86_400)
    };
    let cap = if n == 0 { u32::MAX } else { n };
    let b = &mut settings.budgets;
    let caps = &mut settings.caps;
    match name {
        "wrong_codes_per_account" => {
            b.link_per_account = per(15 * 60);
            b.link_per_account_daily = daily;
        }
        "wrong_codes_per_address" => {
            b.link_per_address = per(15 * 60);
            b.link_per_address_daily = daily;
        }
        "pins_per_address" => b.pins_per_address = per(600),
        "pins_per_client" => b.pins_per_client = per(600),
        "max_live_pins_per_address" => caps.per_address = cap,
        "max_live_link_codes_per_address" => caps.link_codes_per_address = cap,
        "max_live_link_codes" => {
            if !(1..=65_536).contains(&n) {
                anyhow::bail!("max_live_link_codes must be 1 to 65536, not {value}");
            }
            caps.link_codes = n;
        }
        "max_live_pins" => caps.total = if value == 0 { u64::MAX } else { value },
        // No flags of their own (their defaults suit every server): set in
        // a test mode file's `[limits]`.
        "jwt_nonces_per_client" => b.jwt_nonces_per_client = per(600),
        "jwt_nonces_per_address" => b.jwt_nonces_per_address = per(600),
        "signups_per_address" => b.signups_per_address = per(3600),
        "device_keys_per_device" => b.device_keys_per_device = per(600),
        "device_keys_per_address" => b.device_keys_per_address = per(600),
        "passkey_sign_ins_per_address" => b.passkey_sign_ins_per_address = per(600),
        "passkey_registrations_per_account" => b.passkey_registrations_per_account = per(3600),
        "refreshes_per_address" => b.refreshes_per_address = per(600),
        "wrong_second_factors_per_account" => {
            b.second_factor_per_account = per(15 * 60);
            b.second_factor_per_account_daily = daily;
        }
        other => anyhow::bail!(
            "{other} is not a limit (the flags of `pinlink serve --help`, and \
             jwt_nonces_per_client, jwt_nonces_per_address, signups_per_address, \
             device_keys_per_device, device_keys_per_address, passkey_sign_ins_per_address, \
             passkey_registrations_per_account, wrong_second_factors_per_account, \
             refreshes_per_address)"
        ),
    }
    Ok(())
}
