//! The Store contract: what every backend must do, written once. Each check
//! takes a fresh store of every backend from `backends()`: SQLite in memory,
//! and a new database on the test cluster for PostgreSQL (see
//! `pinlink_store::testing`).

use std::sync::Arc;

use pinlink_core::store::{
    ApplicationRecord, CapKind, NewAccount, NewToken, PinLink, PinRecord, Reservation, Spend,
    TokenGrant,
};
use pinlink_core::{
    Application, ApplicationId, ApplicationRef, ClientIdentifier, DeviceGrant, DeviceInfo,
    IdTokenAlg, Limit, LookupHash, PinCaps, PinId, Product, Store, StoreError, UnixTime,
};

async fn backends() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut backends = vec![(
        "sqlite",
        pinlink_store::open("sqlite::memory:")
            .await
            .expect("in-memory SQLite"),
    )];
    if let Some(url) = pinlink_store::testing::fresh_postgres_database().await {
        let store = pinlink_store::open(&url).await.expect("PostgreSQL");
        backends.push(("postgres", store));
    }
    backends
}

const NOW: UnixTime = UnixTime(1_800_000_000);

/// Caps no test here reaches unless it means to.
const OPEN: PinCaps = PinCaps {
    per_address: 1000,
    link_codes_per_address: 1000,
    link_codes: 1000,
    total: u64::MAX,
};

fn hash(n: u8) -> LookupHash {
    LookupHash([n; 32])
}

fn device(product: &str) -> DeviceInfo {
    DeviceInfo {
        product: Product::from_stored(product.into()),
        version: "1.0".into(),
        platform: "Linux".into(),
        platform_version: "6".into(),
        device: "PC".into(),
        device_name: "Desk".into(),
        model: "m".into(),
        vendor: "v".into(),
        provides: "player".into(),
    }
}

fn pin(id: u32, code: u8, expires_at: UnixTime) -> PinRecord {
    PinRecord {
        id: PinId(id),
        code_hash: hash(code),
        code_sealed: vec![code; 40],
        strong: false,
        client_identifier: ClientIdentifier::from_stored("client".into()),
        device: device("Player"),
        requester_ip: "127.0.0.1".into(),
        requester_net: "127.0.0.1".into(),
        created_at: NOW,
        expires_at,
        token_sealed: None,
        jwk: None,
        grant: None,
    }
}

async fn account(store: &dyn Store, name: &str) -> pinlink_core::Account {
    store
        .insert_account(&NewAccount {
            uuid: format!("{name:0>16}"),
            username: name.into(),
            email: format!("{name}@example.org"),
            password_hash: "$argon2id$dummy".into(),
            created_at: NOW,
        })
        .await
        .expect("account inserted")
}

/// Whether the token with hash `n` still opens a session.
async fn has_session(store: &dyn Store, n: u8) -> bool {
    store
        .session_by_token(&hash(n))
        .await
        .expect("session lookup")
        .is_some()
}

fn token(n: u8) -> NewToken {
    NewToken {
        hash: hash(n),
        sealed: vec![n; 44],
    }
}

#[tokio::test]
async fn pins_are_stored_found_and_unique_while_live() {
    for (name, store) in backends().await {
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        let found = store.pin_by_id(PinId(1)).await.expect(name).expect("by id");
        assert_eq!(found.code_sealed, vec![1; 40], "{name}");
        assert_eq!(found.device, device("Player"), "{name}");
        assert!(
            store.pin_by_code(&hash(1)).await.expect(name).is_some(),
            "{name}"
        );
        assert!(
            store.pin_by_id(PinId(2)).await.expect(name).is_none(),
            "{name}"
        );

        // A live code or a taken id conflicts; nothing is written.
        let same_code = store
            .insert_pin(&pin(2, 1, NOW.plus_secs(900)), &OPEN)
            .await;
        assert!(
            matches!(same_code, Err(StoreError::Conflict(_))),
            "{name}: {same_code:?}"
        );
        let same_id = store
            .insert_pin(&pin(1, 9, NOW.plus_secs(900)), &OPEN)
            .await;
        assert!(
            matches!(same_id, Err(StoreError::Conflict(_))),
            "{name}: {same_id:?}"
        );
        assert!(
            store.pin_by_id(PinId(2)).await.expect(name).is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_expired_pin_gives_up_its_code_and_is_swept() {
    for (name, store) in backends().await {
        store.insert_pin(&pin(1, 1, NOW), &OPEN).await.expect(name);
        store
            .insert_pin(&pin(2, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect("expired code reused");
        assert!(
            store.pin_by_id(PinId(1)).await.expect(name).is_none(),
            "{name}"
        );
        store
            .insert_pin(&pin(3, 3, NOW.plus_secs(10)), &OPEN)
            .await
            .expect(name);
        assert_eq!(
            store
                .delete_expired_pins(NOW.plus_secs(10))
                .await
                .expect(name),
            1,
            "{name}"
        );
        assert!(
            store.pin_by_id(PinId(2)).await.expect(name).is_some(),
            "{name}"
        );
        assert!(store.delete_pin(PinId(2)).await.expect(name), "{name}");
        assert!(!store.delete_pin(PinId(2)).await.expect(name), "{name}");
    }
}

#[tokio::test]
async fn a_pin_links_once_and_its_device_gets_the_token() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        let link = PinLink {
            pin: PinId(1),
            account: alice.id,
            token: token(7),
            known_client: hash(70),
            device_key: None,
            token_expires_at: None,
            now: NOW,
            refund: vec![],
            logged: None,
        };
        let device = store.link_pin(&link).await.expect(name).expect("linked");
        let again = PinLink {
            token: token(8),
            ..link.clone()
        };
        assert!(
            store.link_pin(&again).await.expect(name).is_none(),
            "{name}: linked twice"
        );
        assert!(!has_session(store.as_ref(), 8).await, "{name}");

        let stored = store.pin_by_id(PinId(1)).await.expect(name).expect("pin");
        assert_eq!(stored.token_sealed, Some(vec![7; 44]), "{name}");
        let session = store
            .session_by_token(&hash(7))
            .await
            .expect(name)
            .expect("session");
        assert_eq!(
            (session.account.id, session.device),
            (alice.id, device),
            "{name}"
        );

        let devices = store.list_devices(alice.id).await.expect(name);
        assert_eq!(devices.len(), 1, "{name}");
        assert_eq!(devices[0].info.product.as_str(), "Player", "{name}");
        assert_eq!(devices[0].client_identifier.as_str(), "client", "{name}");
        assert_eq!(devices[0].token_sealed, Some(vec![7; 44]), "{name}");

        // An expired pin does not link.
        store
            .insert_pin(&pin(2, 2, NOW.plus_secs(5)), &OPEN)
            .await
            .expect(name);
        let late = PinLink {
            pin: PinId(2),
            account: alice.id,
            token: token(9),
            known_client: hash(70),
            device_key: None,
            token_expires_at: None,
            now: NOW.plus_secs(5),
            refund: vec![],
            logged: None,
        };
        assert!(store.link_pin(&late).await.expect(name).is_none(), "{name}");
    }
}

/// A device grant's pin for application `app`.
fn grant_pin(id: u32, code: u8, app: &Application) -> PinRecord {
    PinRecord {
        grant: Some(DeviceGrant {
            application: ApplicationRef {
                id: app.id.clone(),
                name: app.name.as_str().into(),
            },
            device_code_hash: hash(code + 100),
            scope: "read write".into(),
            denied: false,
        }),
        strong: true,
        ..pin(id, code, NOW.plus_secs(900))
    }
}

#[tokio::test]
async fn a_link_gives_its_reservation_back_and_logs_in_the_same_step_and_a_failed_one_does_neither()
{
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        let budget = [spend(5, &[Limit::new(2, 600)])];
        let Reservation::Granted(first) = store.reserve(&budget, NOW).await.expect(name) else {
            panic!("{name}: room");
        };
        let link = PinLink {
            pin: PinId(1),
            account: alice.id,
            token: token(7),
            known_client: hash(70),
            device_key: None,
            token_expires_at: None,
            now: NOW,
            refund: first,
            logged: Some(event(alice.id, EventKind::DeviceLinked, NOW.0)),
        };
        assert!(store.link_pin(&link).await.expect(name).is_some(), "{name}");
        assert_eq!(room_left(&*store, &budget).await, 2, "{name}: given back");
        let log = store.security_log(alice.id, None, 10).await.expect(name);
        assert_eq!(log.len(), 1, "{name}: logged");
        // Linked already: the second reservation stays, nothing is logged.
        let Reservation::Granted(second) = store.reserve(&budget, NOW).await.expect(name) else {
            panic!("{name}: room");
        };
        let again = PinLink {
            token: token(8),
            refund: second,
            ..link.clone()
        };
        assert!(
            store.link_pin(&again).await.expect(name).is_none(),
            "{name}"
        );
        assert_eq!(room_left(&*store, &budget).await, 1, "{name}: kept");
        let log = store.security_log(alice.id, None, 10).await.expect(name);
        assert_eq!(log.len(), 1, "{name}: not logged");
    }
}

#[tokio::test]
async fn device_grants_are_denied_redeemed_once_and_go_with_their_application() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let app = Application {
            id: ApplicationId::generate(),
            name: "Kitchen TV app".into(),
            confidential: true,
            created_at: NOW,
            access_token_lifetime_secs: 3600,
            id_token_alg: IdTokenAlg::EdDsa,
        };
        let record = ApplicationRecord {
            application: app.clone(),
            secret_hash: Some(hash(200)),
        };
        store.insert_application(&record).await.expect(name);
        let again = store.insert_application(&record).await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{name}: {again:?}"
        );
        let found = store.application(&app.id).await.expect(name).expect("app");
        assert_eq!(found.application, app, "{name}");
        assert_eq!(found.secret_hash, Some(hash(200)), "{name}");
        assert_eq!(store.list_applications().await.expect(name).len(), 1);

        // Denied: marked, kept, and no longer linkable.
        store
            .insert_pin(&grant_pin(1, 1, &app), &OPEN)
            .await
            .expect(name);
        let stored = store.pin_by_id(PinId(1)).await.expect(name).expect("pin");
        assert_eq!(stored.grant, grant_pin(1, 1, &app).grant, "{name}");
        assert!(store.deny_pin(PinId(1)).await.expect(name), "{name}");
        assert!(
            !store.deny_pin(PinId(1)).await.expect(name),
            "{name}: twice"
        );
        let denied = store.pin_by_id(PinId(1)).await.expect(name).expect("kept");
        assert!(denied.grant.expect("grant").denied, "{name}");
        let link = |pin: u32, n: u8| PinLink {
            pin: PinId(pin),
            account: alice.id,
            token: token(n),
            known_client: hash(70),
            device_key: None,
            token_expires_at: None,
            now: NOW,
            refund: vec![],
            logged: None,
        };
        assert!(
            store.link_pin(&link(1, 5)).await.expect(name).is_none(),
            "{name}"
        );
        // A plex.tv pin is not a grant to deny.
        store
            .insert_pin(&pin(3, 3, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        assert!(!store.deny_pin(PinId(3)).await.expect(name), "{name}");

        // Linked, then redeemed exactly once.
        store
            .insert_pin(&grant_pin(2, 2, &app), &OPEN)
            .await
            .expect(name);
        assert!(
            store.take_linked_pin(PinId(2)).await.expect(name).is_none(),
            "{name}: unlinked"
        );
        store
            .link_pin(&link(2, 6))
            .await
            .expect(name)
            .expect("linked");
        let session = store
            .session_by_token(&hash(6))
            .await
            .expect(name)
            .expect("session");
        assert_eq!(session.application.as_ref(), Some(&app.id), "{name}");
        let taken = store
            .take_linked_pin(PinId(2))
            .await
            .expect(name)
            .expect("taken");
        assert_eq!(taken.token_sealed, Some(vec![6; 44]), "{name}");
        assert!(
            store.take_linked_pin(PinId(2)).await.expect(name).is_none(),
            "{name}: twice"
        );

        // Expired grants are kept a while for `expired_token`, then swept.
        let swept = store
            .delete_expired_pins(NOW.plus_secs(901))
            .await
            .expect(name);
        assert_eq!(swept, 1, "{name}: only the plex.tv pin");
        assert!(
            store.pin_by_id(PinId(1)).await.expect(name).is_some(),
            "{name}"
        );
        let later = NOW.plus_secs(901 + pinlink_core::store::GRANT_EXPIRY_MEMORY_SECS);
        store.delete_expired_pins(later).await.expect(name);
        assert!(
            store.pin_by_id(PinId(1)).await.expect(name).is_none(),
            "{name}"
        );

        // Removing the application removes its devices and their tokens.
        store
            .insert_pin(&grant_pin(4, 4, &app), &OPEN)
            .await
            .expect(name);
        assert!(
            store.delete_application(&app.id).await.expect(name),
            "{name}"
        );
        assert!(!has_session(store.as_ref(), 6).await, "{name}");
        assert!(
            store.list_devices(alice.id).await.expect(name).is_empty(),
            "{name}"
        );
        assert!(
            store.pin_by_id(PinId(4)).await.expect(name).is_none(),
            "{name}"
        );
        assert!(
            !store.delete_application(&app.id).await.expect(name),
            "{name}"
        );
    }
}

#[tokio::test]
async fn usernames_and_emails_are_unique_in_any_case() {
    for (name, store) in backends().await {
        account(store.as_ref(), "alice").await;
        let clash = NewAccount {
            uuid: "1".repeat(16),
            username: "ALICE".into(),
            email: "x@example.org".into(),
            password_hash: "h".into(),
            created_at: NOW,
        };
        assert!(
            matches!(
                store.insert_account(&clash).await,
                Err(StoreError::Conflict("username"))
            ),
            "{name}"
        );
        let clash = NewAccount {
            username: "other".into(),
            email: "Alice@Example.org".into(),
            ..clash
        };
        assert!(
            matches!(
                store.insert_account(&clash).await,
                Err(StoreError::Conflict("e-mail"))
            ),
            "{name}"
        );
        let by_email = store
            .account_by_login("ALICE@example.org")
            .await
            .expect(name)
            .expect("found");
        assert_eq!(by_email.account.username.as_str(), "alice", "{name}");
        assert!(
            store
                .account_by_login("nobody")
                .await
                .expect(name)
                .is_none(),
            "{name}"
        );
        assert_eq!(store.list_accounts().await.expect(name).len(), 1, "{name}");
    }
}

#[tokio::test]
async fn tokens_and_devices_are_revoked_completely() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let bob = account(store.as_ref(), "bob").await;
        let grant = |account, client: &str, n| TokenGrant {
            account,
            client_identifier: ClientIdentifier::from_stored(client.into()),
            device: device("Browser"),
            token: token(n),
            known_client: hash(n + 100),
            now: NOW,
        };
        let laptop = store
            .grant_token(&grant(alice.id, "laptop", 1))
            .await
            .expect(name);
        let same = store
            .grant_token(&grant(alice.id, "laptop", 2))
            .await
            .expect(name);
        assert_eq!(laptop, same, "{name}: one device per client identifier");
        let phone = store
            .grant_token(&grant(alice.id, "phone", 3))
            .await
            .expect(name);
        store
            .grant_token(&grant(bob.id, "phone", 4))
            .await
            .expect(name);
        assert_eq!(
            store.list_devices(alice.id).await.expect(name).len(),
            2,
            "{name}"
        );

        // The device list shows the newest token.
        let listed = store.list_devices(alice.id).await.expect(name);
        let laptop_row = listed.iter().find(|d| d.id == laptop).expect("laptop");
        assert_eq!(laptop_row.token_sealed, Some(vec![2; 44]), "{name}");

        // Revoking one of two tokens keeps the device; the last one removes it.
        assert!(store.revoke_token(&hash(1)).await.expect(name), "{name}");
        assert!(!has_session(store.as_ref(), 1).await, "{name}");
        assert!(has_session(store.as_ref(), 2).await, "{name}");
        assert!(store.revoke_token(&hash(2)).await.expect(name), "{name}");
        assert_eq!(
            store.list_devices(alice.id).await.expect(name).len(),
            1,
            "{name}"
        );
        assert!(!store.revoke_token(&hash(2)).await.expect(name), "{name}");

        // Revoking a device is scoped to its account and takes its tokens.
        assert!(
            !store.revoke_device(bob.id, phone).await.expect(name),
            "{name}"
        );
        assert!(
            store.revoke_device(alice.id, phone).await.expect(name),
            "{name}"
        );
        assert!(!has_session(store.as_ref(), 3).await, "{name}");
        assert!(has_session(store.as_ref(), 4).await, "{name}");

        store
            .touch_device(phone, NOW.plus_secs(60))
            .await
            .expect(name);
        let bob_phone = store
            .session_by_token(&hash(4))
            .await
            .expect(name)
            .expect("bob");
        store
            .touch_device(bob_phone.device, NOW.plus_secs(60))
            .await
            .expect(name);
        let touched = store
            .session_by_token(&hash(4))
            .await
            .expect(name)
            .expect("bob");
        assert_eq!(touched.last_seen_at, NOW.plus_secs(60), "{name}");
    }
}

#[tokio::test]
async fn a_device_keeps_its_newest_keys_and_no_one_elses() {
    use pinlink_core::store::MAX_KEYS_PER_DEVICE;
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let grant = |client: &str, n| TokenGrant {
            account: alice.id,
            client_identifier: ClientIdentifier::from_stored(client.into()),
            device: device("Player"),
            token: token(n),
            known_client: hash(n + 100),
            now: NOW,
        };
        let tv = store.grant_token(&grant("tv", 1)).await.expect(name);
        let radio = store.grant_token(&grant("radio", 2)).await.expect(name);
        let kid = |n: usize| format!("key-{n:0>3}");
        // More keys than a device may hold, a second apart.
        for n in 0..MAX_KEYS_PER_DEVICE + 3 {
            assert!(
                store
                    .register_device_key(tv, &kid(n), "x", NOW.plus_secs(n as i64))
                    .await
                    .expect(name),
                "{name}"
            );
        }
        let held = |n: usize| {
            let store = store.clone();
            let kid = kid(n);
            async move { store.device_key(&kid).await.expect("lookup").is_some() }
        };
        for n in 0..3 {
            assert!(!held(n).await, "{name}: the oldest key {n} went");
        }
        for n in 3..MAX_KEYS_PER_DEVICE + 3 {
            assert!(held(n).await, "{name}: key {n} stays");
        }
        // Registered again, an old key is the newest: the next one does not
        // push it out. Within one second the key just registered stays.
        let again = NOW.plus_secs(100);
        store
            .register_device_key(tv, &kid(3), "x", again)
            .await
            .expect(name);
        store
            .register_device_key(tv, &kid(50), "x", again)
            .await
            .expect(name);
        assert!(held(3).await && held(50).await, "{name}");
        assert!(!held(4).await, "{name}");
        // Another device's key cannot be taken, and does not count here.
        assert!(
            !store
                .register_device_key(radio, &kid(50), "y", again)
                .await
                .expect(name),
            "{name}"
        );
        let owner = store.device_key(&kid(50)).await.expect(name).expect("key");
        assert_eq!(owner.session.device, tv, "{name}");
        assert_eq!(owner.x, "x", "{name}");
    }
}

fn spend(key: u8, limits: &[Limit]) -> Spend {
    Spend::new(hash(key), limits)
}

#[tokio::test]
async fn budgets_are_spent_refunded_and_forgotten() {
    for (name, store) in backends().await {
        let two_a_minute = Limit::new(2, 60);
        let both = [spend(1, &[two_a_minute]), spend(2, &[Limit::new(5, 3600)])];
        let Reservation::Granted(first) = store.reserve(&both, NOW).await.expect(name) else {
            panic!("{name}: room");
        };
        assert_eq!(first.len(), 2, "{name}");
        store.reserve(&both, NOW.plus_secs(10)).await.expect(name);
        // Key 1 is spent: nothing is recorded, not even in key 2.
        let refused = store.reserve(&both, NOW.plus_secs(20)).await.expect(name);
        assert_eq!(
            refused,
            Reservation::Refused {
                index: 0,
                retry_after_secs: 40
            },
            "{name}"
        );
        // A refund gives room back.
        store.refund(&first).await.expect(name);
        assert!(
            matches!(
                store.reserve(&both, NOW.plus_secs(20)).await.expect(name),
                Reservation::Granted(_)
            ),
            "{name}"
        );
        // Key 2 has 3 of 5 now; key 1 is full again until the window moves.
        assert!(
            matches!(
                store.reserve(&both, NOW.plus_secs(30)).await.expect(name),
                Reservation::Refused { index: 0, .. }
            ),
            "{name}"
        );
        assert!(
            matches!(
                store.reserve(&both, NOW.plus_secs(71)).await.expect(name),
                Reservation::Granted(_)
            ),
            "{name}"
        );
        // Forgiving a key empties it; limits that are off record nothing.
        store.forgive(&hash(1)).await.expect(name);
        let off = store
            .reserve(&[spend(3, &[Limit::OFF])], NOW)
            .await
            .expect(name);
        assert_eq!(off, Reservation::Granted(vec![]), "{name}");
        // Old spends are deleted.
        let deleted = store
            .delete_spends_before(NOW.plus_secs(3600), NOW)
            .await
            .expect(name);
        assert_eq!(deleted, 3, "{name}: key 2's three spends");
    }
}

#[tokio::test]
async fn a_hundred_reservations_at_once_get_exactly_the_budget() {
    for (name, store) in backends().await {
        let attempts: Vec<_> = (0..100)
            .map(|i| {
                let store = store.clone();
                // Two keys per attempt, in either order, so that locks are
                // taken in both orders at once.
                let spends = if i % 2 == 0 {
                    vec![
                        spend(1, &[Limit::new(10, 900)]),
                        spend(2, &[Limit::new(50, 900)]),
                    ]
                } else {
                    vec![
                        spend(2, &[Limit::new(50, 900)]),
                        spend(1, &[Limit::new(10, 900)]),
                    ]
                };
                tokio::spawn(async move { store.reserve(&spends, NOW).await })
            })
            .collect();
        let mut granted = 0;
        for attempt in attempts {
            if let Reservation::Granted(_) = attempt.await.expect("task").expect(name) {
                granted += 1;
            }
        }
        assert_eq!(granted, 10, "{name}");
    }
}

#[tokio::test]
async fn live_pins_are_capped_per_network_and_for_link_codes() {
    for (name, store) in backends().await {
        let caps = PinCaps {
            per_address: 3,
            link_codes_per_address: 2,
            link_codes: 4,
            total: u64::MAX,
        };
        let from = |id: u32, code: u8, net: &str, strong: bool| PinRecord {
            requester_net: net.into(),
            strong,
            ..pin(id, code, NOW.plus_secs(100 + i64::from(id)))
        };
        for id in 1..=3 {
            store
                .insert_pin(&from(id, id as u8, "192.0.2.1", true), &caps)
                .await
                .expect(name);
        }
        let full = store
            .insert_pin(&from(4, 4, "192.0.2.1", true), &caps)
            .await;
        assert!(
            matches!(
                full,
                Err(StoreError::CapReached {
                    cap: CapKind::Address,
                    until
                }) if until == NOW.plus_secs(101)
            ),
            "{name}: {full:?}"
        );
        // A network's unlinked short codes are capped on their own.
        for id in 30..32 {
            store
                .insert_pin(&from(id, id as u8, "192.0.2.9", false), &caps)
                .await
                .expect(name);
        }
        let full = store
            .insert_pin(&from(32, 32, "192.0.2.9", false), &caps)
            .await;
        assert!(
            matches!(
                full,
                Err(StoreError::CapReached {
                    cap: CapKind::Address,
                    ..
                })
            ),
            "{name}: {full:?}"
        );
        store
            .insert_pin(&from(33, 33, "192.0.2.9", true), &caps)
            .await
            .expect("strong pins are not short codes");
        // Short codes from other networks fill the link codes' cap.
        for id in 10..12 {
            store
                .insert_pin(
                    &from(id, id as u8, &format!("198.51.100.{id}"), false),
                    &caps,
                )
                .await
                .expect(name);
        }
        let full = store
            .insert_pin(&from(20, 20, "203.0.113.1", false), &caps)
            .await;
        assert!(
            matches!(
                full,
                Err(StoreError::CapReached {
                    cap: CapKind::LinkCodes,
                    ..
                })
            ),
            "{name}: {full:?}"
        );
        // A linked code can no longer be approved, so it leaves room.
        let alice = account(store.as_ref(), "alice").await;
        store
            .link_pin(&PinLink {
                pin: PinId(10),
                account: alice.id,
                token: token(1),
                known_client: hash(90),
                device_key: None,
                token_expires_at: None,
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        store
            .insert_pin(&from(20, 20, "203.0.113.1", false), &caps)
            .await
            .expect(name);
        assert_eq!(store.count_live_pins(NOW).await.expect(name), 9, "{name}");
        assert_eq!(
            store.count_live_pins(NOW.plus_secs(105)).await.expect(name),
            6,
            "{name}: the network's three expired first"
        );
        // Expired pins no longer count.
        store
            .insert_pin(
                &PinRecord {
                    created_at: NOW.plus_secs(200),
                    expires_at: NOW.plus_secs(900),
                    ..from(5, 5, "192.0.2.1", true)
                },
                &caps,
            )
            .await
            .expect(name);
    }
}

#[tokio::test]
async fn fifty_pins_at_once_from_one_network_stop_at_its_cap() {
    for (name, store) in backends().await {
        let caps = PinCaps {
            per_address: 5,
            link_codes_per_address: 1000,
            link_codes: 1000,
            total: u64::MAX,
        };
        let inserts: Vec<_> = (1..=50u32)
            .map(|id| {
                let store = store.clone();
                let record = pin(id, id as u8, NOW.plus_secs(900));
                tokio::spawn(async move { store.insert_pin(&record, &caps).await })
            })
            .collect();
        let mut inserted = 0;
        for insert in inserts {
            match insert.await.expect("task") {
                Ok(()) => inserted += 1,
                Err(StoreError::CapReached { .. }) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!(inserted, 5, "{name}");
    }
}

/// How many more reservations `budget` has room for now (each given back).
async fn room_left(store: &dyn Store, budget: &[Spend]) -> usize {
    let mut taken = Vec::new();
    while let Reservation::Granted(ids) = store.reserve(budget, NOW).await.expect("reserve") {
        taken.extend(ids);
        assert!(taken.len() <= 100, "a budget without a limit");
    }
    store.refund(&taken).await.expect("refund");
    taken.len()
}

#[tokio::test]
async fn a_pin_and_its_spends_are_kept_together_or_not_at_all() {
    for (name, store) in backends().await {
        let caps = PinCaps {
            per_address: 2,
            link_codes_per_address: 1000,
            link_codes: 1000,
            total: u64::MAX,
        };
        let budget = [spend(7, &[Limit::new(3, 600)])];
        for id in 1..=2 {
            let granted = store
                .insert_pin_spending(&pin(id, id as u8, NOW.plus_secs(900)), &caps, &budget, NOW)
                .await
                .expect(name);
            assert!(
                matches!(granted, Reservation::Granted(ref ids) if ids.len() == 1),
                "{name}"
            );
        }
        // The network's cap: no pin, and the spend made with it is rolled back.
        let capped = store
            .insert_pin_spending(&pin(3, 3, NOW.plus_secs(900)), &caps, &budget, NOW)
            .await;
        assert!(
            matches!(
                capped,
                Err(StoreError::CapReached {
                    cap: CapKind::Address,
                    ..
                })
            ),
            "{name}: {capped:?}"
        );
        assert_eq!(
            room_left(&*store, &budget).await,
            1,
            "{name}: one of three left"
        );
        // A taken id: no spend either.
        let open = PinCaps {
            per_address: 100,
            ..caps
        };
        let taken = store
            .insert_pin_spending(&pin(1, 9, NOW.plus_secs(900)), &open, &budget, NOW)
            .await;
        assert!(
            matches!(taken, Err(StoreError::Conflict(_))),
            "{name}: {taken:?}"
        );
        assert_eq!(
            room_left(&*store, &budget).await,
            1,
            "{name}: still one left"
        );
        // A spent budget: refused, and no pin.
        store.reserve(&budget, NOW).await.expect(name);
        let refused = store
            .insert_pin_spending(&pin(4, 4, NOW.plus_secs(900)), &open, &budget, NOW)
            .await
            .expect(name);
        assert!(
            matches!(refused, Reservation::Refused { index: 0, .. }),
            "{name}"
        );
        assert!(
            store.pin_by_id(PinId(4)).await.expect(name).is_none(),
            "{name}"
        );
        // Limits off: the pin alone.
        let off = store
            .insert_pin_spending(
                &pin(5, 5, NOW.plus_secs(900)),
                &open,
                &[spend(8, &[Limit::OFF])],
                NOW,
            )
            .await
            .expect(name);
        assert_eq!(off, Reservation::Granted(vec![]), "{name}");
    }
}

#[tokio::test]
async fn fifty_creates_at_once_spend_exactly_their_budget_and_cap() {
    for (name, store) in backends().await {
        // The budget (10) is wider than the cap (4): the six refused at the
        // cap spend nothing, so the budget has six left.
        let caps = PinCaps {
            per_address: 4,
            link_codes_per_address: 1000,
            link_codes: 1000,
            total: u64::MAX,
        };
        let budget = [spend(9, &[Limit::new(10, 600)])];
        let creates: Vec<_> = (1..=50u32)
            .map(|id| {
                let store = store.clone();
                let record = pin(id, id as u8, NOW.plus_secs(900));
                let budget = budget.clone();
                tokio::spawn(async move {
                    store
                        .insert_pin_spending(&record, &caps, &budget, NOW)
                        .await
                })
            })
            .collect();
        let (mut made, mut capped, mut refused) = (0, 0, 0);
        for create in creates {
            match create.await.expect("task") {
                Ok(Reservation::Granted(_)) => made += 1,
                Ok(Reservation::Refused { .. }) => refused += 1,
                Err(StoreError::CapReached { .. }) => capped += 1,
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!(made, 4, "{name}");
        assert_eq!(made + capped + refused, 50, "{name}");
        assert_eq!(
            room_left(&*store, &budget).await,
            6,
            "{name}: only the four pins made spent the budget"
        );
    }
}

#[tokio::test]
async fn clients_an_account_used_are_known_to_it() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let bob = account(store.as_ref(), "bob").await;
        assert!(!store
            .is_known_client(alice.id, &hash(50))
            .await
            .expect(name));
        store
            .grant_token(&TokenGrant {
                account: alice.id,
                client_identifier: ClientIdentifier::from_stored("laptop".into()),
                device: device("Browser"),
                token: token(1),
                known_client: hash(50),
                now: NOW,
            })
            .await
            .expect(name);
        assert!(
            store
                .is_known_client(alice.id, &hash(50))
                .await
                .expect(name),
            "{name}"
        );
        assert!(
            !store.is_known_client(bob.id, &hash(50)).await.expect(name),
            "{name}"
        );
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        store
            .link_pin(&PinLink {
                pin: PinId(1),
                account: bob.id,
                token: token(2),
                known_client: hash(51),
                device_key: None,
                token_expires_at: None,
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name);
        assert!(
            store.is_known_client(bob.id, &hash(51)).await.expect(name),
            "{name}"
        );
        // Forgotten once not seen for long enough.
        store
            .delete_spends_before(NOW, NOW.plus_secs(1))
            .await
            .expect(name);
        assert!(
            !store
                .is_known_client(alice.id, &hash(50))
                .await
                .expect(name),
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_writes_commit_independently() {
    for (name, store) in backends().await {
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        // Fifty writes at once (they share group commits); one of them clashes
        // with the live code above and must fail alone.
        let writes: Vec<_> = (2..52u32)
            .map(|id| {
                let store = store.clone();
                let code = if id == 30 {
                    1
                } else {
                    u8::try_from(id).expect("small")
                };
                tokio::spawn(async move {
                    store
                        .insert_pin(&pin(id, code, NOW.plus_secs(900)), &OPEN)
                        .await
                })
            })
            .collect();
        let mut failed = Vec::new();
        for (i, write) in writes.into_iter().enumerate() {
            if let Err(e) = write.await.expect("task") {
                failed.push((i + 2, e));
            }
        }
        assert_eq!(failed.len(), 1, "{name}: {failed:?}");
        assert_eq!(failed[0].0, 30, "{name}");
        assert!(matches!(failed[0].1, StoreError::Conflict(_)), "{name}");
        for id in (2..52u32).filter(|id| *id != 30) {
            assert!(
                store.pin_by_id(PinId(id)).await.expect(name).is_some(),
                "{name}: pin {id} lost"
            );
        }
    }
}

// ---------------------------------------------- accounts a person can keep

use pinlink_core::security_log::{
    EventKind, SecurityEvent, MAX_ENTRIES_PER_ACCOUNT, MAX_REFUSALS_PER_ACCOUNT,
};
use pinlink_core::store::{AccountChange, CeremonyRecord, PasskeyRecord, PasswordReset, SignOut};
use pinlink_core::AccountId;

fn event(account: AccountId, kind: EventKind, at: i64) -> SecurityEvent {
    SecurityEvent {
        account,
        at: UnixTime(at),
        kind,
        address: "192.0.2.1".into(),
        client: "Browser".into(),
        detail: String::new(),
    }
}

/// alice with a browser (token 1), a phone (token 2) and a TV (token 3).
async fn alice_with_devices(
    store: &dyn Store,
) -> (pinlink_core::Account, Vec<pinlink_core::DeviceId>) {
    let alice = account(store, "alice").await;
    let mut devices = Vec::new();
    for (n, client) in [(1u8, "browser"), (2, "phone"), (3, "tv")] {
        devices.push(
            store
                .grant_token(&TokenGrant {
                    account: alice.id,
                    client_identifier: ClientIdentifier::from_stored(client.into()),
                    device: device("Player"),
                    token: token(n),
                    known_client: hash(n + 100),
                    now: NOW,
                })
                .await
                .expect("device"),
        );
    }
    (alice, devices)
}

#[tokio::test]
async fn account_changes_sign_out_whom_they_say_and_are_logged_in_the_same_step() {
    for (name, store) in backends().await {
        let (alice, devices) = alice_with_devices(store.as_ref()).await;
        let bob = account(store.as_ref(), "bob").await;
        let changed = store
            .change_account(
                alice.id,
                &AccountChange::Password {
                    hash: "$argon2id$new".into(),
                    sign_out: SignOut::AllBut(devices[0]),
                },
                Some(&event(alice.id, EventKind::PasswordChanged, NOW.0)),
            )
            .await
            .expect(name)
            .expect("alice exists");
        let mut signed_out = changed.clone();
        signed_out.sort_by_key(|d| d.0);
        assert_eq!(signed_out, devices[1..].to_vec(), "{name}");
        assert!(
            has_session(store.as_ref(), 1).await,
            "{name}: this browser stays"
        );
        assert!(!has_session(store.as_ref(), 2).await, "{name}");
        assert!(!has_session(store.as_ref(), 3).await, "{name}");
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert_eq!(record.password_hash, "$argon2id$new", "{name}");
        let log = store.security_log(alice.id, None, 10).await.expect(name);
        assert_eq!(log.len(), 1, "{name}");
        assert_eq!(log[0].event.kind, EventKind::PasswordChanged, "{name}");

        // An e-mail someone else has is refused; its own is fine.
        assert!(
            matches!(
                store
                    .change_account(
                        alice.id,
                        &AccountChange::Email("BOB@example.org".into()),
                        None
                    )
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
        store
            .change_account(
                alice.id,
                &AccountChange::Email("alice@new.example".into()),
                None,
            )
            .await
            .expect(name);
        let by_new = store
            .account_by_login("ALICE@new.example")
            .await
            .expect(name);
        assert_eq!(by_new.map(|r| r.account.id), Some(alice.id), "{name}");

        // Disabled: its tokens open nothing, and nothing is deleted.
        store
            .change_account(alice.id, &AccountChange::Disabled(true), None)
            .await
            .expect(name);
        assert!(!has_session(store.as_ref(), 1).await, "{name}");
        assert!(
            store
                .account_by_id(alice.id)
                .await
                .expect(name)
                .expect("alice")
                .disabled
        );
        store
            .change_account(alice.id, &AccountChange::Disabled(false), None)
            .await
            .expect(name);
        assert!(has_session(store.as_ref(), 1).await, "{name}");

        // Everyone out.
        let gone = store
            .change_account(alice.id, &AccountChange::SignOut(SignOut::Everyone), None)
            .await
            .expect(name)
            .expect("alice");
        assert_eq!(gone, vec![devices[0]], "{name}");
        assert!(
            store.list_devices(alice.id).await.expect(name).is_empty(),
            "{name}"
        );

        // No such account: nothing written.
        assert!(
            store
                .change_account(AccountId(999_999), &AccountChange::Disabled(true), None)
                .await
                .expect(name)
                .is_none(),
            "{name}"
        );
        assert!(store
            .security_log(bob.id, None, 10)
            .await
            .expect(name)
            .is_empty());
    }
}

#[tokio::test]
async fn two_step_codes_are_good_once_and_recovery_codes_once_each() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        // Not on: no step is accepted.
        assert!(
            !store.accept_totp_step(alice.id, 10).await.expect(name),
            "{name}"
        );
        store
            .change_account(
                alice.id,
                &AccountChange::EnrollTwoStep {
                    pending_sealed: vec![1; 40],
                },
                None,
            )
            .await
            .expect(name);
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert!(
            !record.two_step() && record.totp_pending_sealed.is_some(),
            "{name}"
        );
        store
            .change_account(
                alice.id,
                &AccountChange::ConfirmTwoStep {
                    secret_sealed: vec![2; 40],
                    step: 100,
                    recovery_codes: vec![hash(1), hash(2)],
                },
                Some(&event(alice.id, EventKind::TwoStepOn, NOW.0)),
            )
            .await
            .expect(name);
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert!(record.two_step(), "{name}");
        assert_eq!(record.totp_sealed, Some(vec![2; 40]), "{name}");
        assert!(record.totp_pending_sealed.is_none(), "{name}");
        // The confirming step and earlier ones are used; a later one once.
        assert!(
            !store.accept_totp_step(alice.id, 100).await.expect(name),
            "{name}"
        );
        assert!(
            !store.accept_totp_step(alice.id, 99).await.expect(name),
            "{name}"
        );
        assert!(
            store.accept_totp_step(alice.id, 101).await.expect(name),
            "{name}"
        );
        assert!(
            !store.accept_totp_step(alice.id, 101).await.expect(name),
            "{name}"
        );
        assert_eq!(
            store.recovery_codes_left(alice.id).await.expect(name),
            2,
            "{name}"
        );
        assert!(
            store
                .use_recovery_code(alice.id, &hash(1))
                .await
                .expect(name),
            "{name}"
        );
        assert!(
            !store
                .use_recovery_code(alice.id, &hash(1))
                .await
                .expect(name),
            "{name}"
        );
        assert!(
            !store
                .use_recovery_code(alice.id, &hash(9))
                .await
                .expect(name),
            "{name}"
        );
        store
            .change_account(
                alice.id,
                &AccountChange::RecoveryCodes(vec![hash(3), hash(4), hash(5)]),
                None,
            )
            .await
            .expect(name);
        assert!(
            !store
                .use_recovery_code(alice.id, &hash(2))
                .await
                .expect(name),
            "{name}: old codes go"
        );
        assert_eq!(
            store.recovery_codes_left(alice.id).await.expect(name),
            3,
            "{name}"
        );
        store
            .change_account(alice.id, &AccountChange::StopTwoStep, None)
            .await
            .expect(name);
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert!(!record.two_step(), "{name}");
        assert_eq!(
            store.recovery_codes_left(alice.id).await.expect(name),
            0,
            "{name}"
        );
        let overview = store.account_overview().await.expect(name);
        assert!(!overview[0].two_step && !overview[0].disabled, "{name}");
    }
}

#[tokio::test]
async fn the_security_log_pages_newest_first_and_keeps_its_newest_entries() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let bob = account(store.as_ref(), "bob").await;
        for n in 0..MAX_ENTRIES_PER_ACCOUNT + 5 {
            store
                .log_event(&event(alice.id, EventKind::SignedIn, NOW.0 + n as i64))
                .await
                .expect(name);
        }
        store
            .log_event(&event(bob.id, EventKind::SignInRefused, NOW.0))
            .await
            .expect(name);
        let first = store.security_log(alice.id, None, 20).await.expect(name);
        assert_eq!(first.len(), 20, "{name}");
        assert_eq!(
            first[0].event.at.0,
            NOW.0 + MAX_ENTRIES_PER_ACCOUNT as i64 + 4,
            "{name}"
        );
        assert!(first.windows(2).all(|w| w[0].id > w[1].id), "{name}");
        let second = store
            .security_log(alice.id, Some(first[19].id), 20)
            .await
            .expect(name);
        assert!(second[0].id < first[19].id, "{name}");
        // Only the newest are kept.
        let all = store.security_log(alice.id, None, 5000).await.expect(name);
        assert_eq!(all.len(), MAX_ENTRIES_PER_ACCOUNT, "{name}");
        assert_eq!(all.last().map(|e| e.event.at.0), Some(NOW.0 + 5), "{name}");
        // Entries older than the window go with the sweep; bob's are his.
        store
            .delete_stale_account_data(NOW, UnixTime(NOW.0 + 500))
            .await
            .expect(name);
        let kept = store.security_log(alice.id, None, 5000).await.expect(name);
        assert!(kept.iter().all(|e| e.event.at.0 >= NOW.0 + 500), "{name}");
        assert_eq!(
            store
                .security_log(bob.id, None, 10)
                .await
                .expect(name)
                .len(),
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn refused_sign_ins_never_push_out_what_the_owner_did() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        store
            .log_event(&event(alice.id, EventKind::PasskeyAdded, NOW.0))
            .await
            .expect(name);
        for n in 0..MAX_ENTRIES_PER_ACCOUNT + 50 {
            store
                .log_event(&event(
                    alice.id,
                    EventKind::SignInRefused,
                    NOW.0 + 1 + n as i64,
                ))
                .await
                .expect(name);
        }
        let all = store.security_log(alice.id, None, 5000).await.expect(name);
        assert_eq!(all.len(), MAX_REFUSALS_PER_ACCOUNT + 1, "{name}");
        assert_eq!(
            all.last().map(|e| e.event.kind),
            Some(EventKind::PasskeyAdded),
            "{name}"
        );
        assert_eq!(
            all[0].event.at.0,
            NOW.0 + MAX_ENTRIES_PER_ACCOUNT as i64 + 50,
            "{name}: the newest refusals are the ones kept"
        );
    }
}

#[tokio::test]
async fn removing_an_account_takes_everything_of_it_and_nothing_else() {
    for (name, store) in backends().await {
        let (alice, _) = alice_with_devices(store.as_ref()).await;
        let bob = account(store.as_ref(), "bob").await;
        store
            .insert_pin(&pin(7, 7, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        store
            .link_pin(&PinLink {
                pin: PinId(7),
                account: alice.id,
                token: token(7),
                known_client: hash(107),
                device_key: None,
                token_expires_at: None,
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        store
            .insert_pin(&pin(8, 8, NOW.plus_secs(900)), &OPEN)
            .await
            .expect(name);
        store
            .log_event(&event(alice.id, EventKind::SignedIn, NOW.0))
            .await
            .expect(name);
        store
            .insert_passkey(&passkey(alice.id, 1))
            .await
            .expect(name);
        let pins = store
            .delete_account(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert_eq!(pins, vec![PinId(7)], "{name}");
        assert!(
            store.account_by_id(alice.id).await.expect(name).is_none(),
            "{name}"
        );
        for n in [1, 2, 3, 7] {
            assert!(!has_session(store.as_ref(), n).await, "{name}: token {n}");
        }
        assert!(
            store.pin_by_id(PinId(7)).await.expect(name).is_none(),
            "{name}"
        );
        assert!(
            store.pin_by_id(PinId(8)).await.expect(name).is_some(),
            "{name}: not its pin"
        );
        assert!(store
            .security_log(alice.id, None, 10)
            .await
            .expect(name)
            .is_empty());
        assert!(store.passkeys(alice.id).await.expect(name).is_empty());
        assert!(
            store.delete_account(alice.id).await.expect(name).is_none(),
            "{name}"
        );
        assert!(
            store.account_by_id(bob.id).await.expect(name).is_some(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_reset_link_is_used_once_and_signs_everyone_out() {
    for (name, store) in backends().await {
        let (alice, _) = alice_with_devices(store.as_ref()).await;
        store
            .change_account(
                alice.id,
                &AccountChange::ConfirmTwoStep {
                    secret_sealed: vec![2; 40],
                    step: 1,
                    recovery_codes: vec![hash(1)],
                },
                None,
            )
            .await
            .expect(name);
        store
            .insert_passkey(&passkey(alice.id, 9))
            .await
            .expect(name);
        let reset = PasswordReset {
            hash: hash(50),
            account: alice.id,
            drop_two_step: true,
            expires_at: NOW.plus_secs(86_400),
        };
        store.insert_password_reset(&reset).await.expect(name);
        store
            .insert_password_reset(&PasswordReset {
                hash: hash(51),
                ..reset.clone()
            })
            .await
            .expect(name);
        assert!(
            store
                .password_reset(&hash(50), NOW)
                .await
                .expect(name)
                .is_some(),
            "{name}"
        );
        assert!(
            store
                .password_reset(&hash(50), NOW.plus_secs(86_400))
                .await
                .expect(name)
                .is_none(),
            "{name}: expired"
        );
        let done = store
            .complete_password_reset(
                &hash(50),
                "$argon2id$reset",
                &event(AccountId(0), EventKind::PasswordReset, NOW.0),
            )
            .await
            .expect(name)
            .expect("live");
        assert_eq!(done.0, alice.id, "{name}");
        assert_eq!(done.1.len(), 3, "{name}: every device out");
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert_eq!(record.password_hash, "$argon2id$reset", "{name}");
        assert!(!record.two_step(), "{name}: two-step dropped");
        assert!(
            store.passkeys(alice.id).await.expect(name).is_empty(),
            "{name}: passkeys (both factors at once) dropped with it"
        );
        // Used once; the account's other link goes with it.
        for h in [50, 51] {
            assert!(
                store
                    .complete_password_reset(
                        &hash(h),
                        "x",
                        &event(AccountId(0), EventKind::PasswordReset, NOW.0)
                    )
                    .await
                    .expect(name)
                    .is_none(),
                "{name}"
            );
        }
        let log = store.security_log(alice.id, None, 10).await.expect(name);
        assert_eq!(log[0].event.kind, EventKind::PasswordReset, "{name}");
        assert_eq!(log[0].event.account, alice.id, "{name}");
    }
}

fn passkey(account: AccountId, n: u8) -> PasskeyRecord {
    PasskeyRecord {
        id: 0,
        account,
        credential_id: vec![n; 16],
        name: format!("key {n}"),
        passkey: format!("{{\"n\":{n}}}"),
        created_at: NOW,
        last_used_at: None,
    }
}

#[tokio::test]
async fn passkeys_are_found_by_handle_and_credential_and_ceremonies_are_taken_once() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let bob = account(store.as_ref(), "bob").await;
        store
            .change_account(
                alice.id,
                &AccountChange::PasskeyHandle("handle-a".into()),
                None,
            )
            .await
            .expect(name);
        // Set once.
        store
            .change_account(
                alice.id,
                &AccountChange::PasskeyHandle("other".into()),
                None,
            )
            .await
            .expect(name);
        let record = store
            .account_by_id(alice.id)
            .await
            .expect(name)
            .expect("alice");
        assert_eq!(record.passkey_handle.as_deref(), Some("handle-a"), "{name}");
        let id = store
            .insert_passkey(&passkey(alice.id, 1))
            .await
            .expect(name);
        assert!(
            matches!(
                store.insert_passkey(&passkey(bob.id, 1)).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}: a credential is registered once"
        );
        let (found, key) = store
            .passkey_for_sign_in("handle-a", &[1; 16])
            .await
            .expect(name)
            .expect("found");
        assert_eq!((found.account.id, key.id), (alice.id, id), "{name}");
        assert!(store
            .passkey_for_sign_in("handle-a", &[2; 16])
            .await
            .expect(name)
            .is_none());
        assert!(store
            .passkey_for_sign_in("handle-b", &[1; 16])
            .await
            .expect(name)
            .is_none());
        store
            .passkey_used(id, "{\"n\":2}", NOW.plus_secs(5))
            .await
            .expect(name);
        let listed = store.passkeys(alice.id).await.expect(name);
        assert_eq!(listed[0].passkey, "{\"n\":2}", "{name}");
        assert_eq!(listed[0].last_used_at, Some(NOW.plus_secs(5)), "{name}");
        assert_eq!(
            store.account_overview().await.expect(name)[0].passkeys,
            1,
            "{name}"
        );
        assert!(
            store
                .delete_passkey(bob.id, id)
                .await
                .expect(name)
                .is_none(),
            "{name}: not bob's"
        );
        assert_eq!(
            store
                .delete_passkey(alice.id, id)
                .await
                .expect(name)
                .as_deref(),
            Some("key 1")
        );

        let ceremony = CeremonyRecord {
            hash: hash(60),
            account: Some(alice.id),
            state: "{}".into(),
            expires_at: NOW.plus_secs(300),
        };
        store.insert_ceremony(&ceremony).await.expect(name);
        store
            .insert_ceremony(&CeremonyRecord {
                hash: hash(61),
                account: None,
                ..ceremony.clone()
            })
            .await
            .expect(name);
        let taken = store
            .take_ceremony(&hash(60), NOW)
            .await
            .expect(name)
            .expect("live");
        assert_eq!(taken.account, Some(alice.id), "{name}");
        assert!(
            store
                .take_ceremony(&hash(60), NOW)
                .await
                .expect(name)
                .is_none(),
            "{name}: once"
        );
        assert!(
            store
                .take_ceremony(&hash(61), NOW.plus_secs(300))
                .await
                .expect(name)
                .is_none(),
            "{name}: expired"
        );
        store
            .delete_stale_account_data(NOW.plus_secs(301), UnixTime(0))
            .await
            .expect(name);
        assert!(
            store
                .take_ceremony(&hash(61), NOW)
                .await
                .expect(name)
                .is_none(),
            "{name}: swept"
        );
    }
}

#[tokio::test]
async fn a_new_password_ends_the_reset_links_outstanding() {
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        store
            .insert_password_reset(&PasswordReset {
                hash: hash(60),
                account: alice.id,
                drop_two_step: false,
                expires_at: NOW.plus_secs(86_400),
            })
            .await
            .expect(name);
        store
            .change_account(
                alice.id,
                &AccountChange::Password {
                    hash: "$argon2id$new".into(),
                    sign_out: SignOut::Nobody,
                },
                None,
            )
            .await
            .expect(name);
        assert!(
            store
                .password_reset(&hash(60), NOW)
                .await
                .expect(name)
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_a_used_one_ends_its_grant() {
    use pinlink_core::store::{Rotated, Rotation};
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let app = Application {
            id: ApplicationId::generate(),
            name: "TV".into(),
            confidential: false,
            created_at: NOW,
            access_token_lifetime_secs: 600,
            id_token_alg: IdTokenAlg::Rs256,
        };
        let record = ApplicationRecord {
            application: app.clone(),
            secret_hash: None,
        };
        store.insert_application(&record).await.expect(name);
        // The lifetime and algorithm can change.
        let changed = Application {
            access_token_lifetime_secs: 60,
            id_token_alg: IdTokenAlg::EdDsa,
            ..app.clone()
        };
        assert!(store.set_application(&changed).await.expect(name), "{name}");
        let read = store.application(&app.id).await.expect(name).expect("app");
        assert_eq!(read.application, changed, "{name}");

        store
            .insert_pin(&grant_pin(1, 1, &app), &OPEN)
            .await
            .expect(name);
        let device = store
            .link_pin(&PinLink {
                pin: PinId(1),
                account: alice.id,
                token: token(6),
                known_client: hash(70),
                device_key: None,
                token_expires_at: Some(NOW.plus_secs(60)),
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        let session = store
            .session_by_token(&hash(6))
            .await
            .expect(name)
            .expect("session");
        assert_eq!(session.token_expires_at, Some(NOW.plus_secs(60)), "{name}");
        assert_eq!(session.token_issued_at, NOW, "{name}");
        assert_eq!(session.scope, "read write", "{name}");
        assert_eq!(session.auth_time, Some(NOW), "{name}");
        store
            .insert_refresh_token(device, &hash(80), NOW)
            .await
            .expect(name);

        let rotation =
            |presented: u8, access: u8, next: u8, application: &ApplicationId| Rotation {
                presented: hash(presented),
                application: application.clone(),
                access: token(access),
                access_expires_at: Some(NOW.plus_secs(120)),
                refresh: Some(hash(next)),
                now: NOW.plus_secs(30),
            };
        // Another application's refresh token is unknown to it.
        let other = ApplicationId::generate();
        assert!(
            matches!(
                store
                    .rotate_refresh_token(&rotation(80, 7, 81, &other))
                    .await
                    .expect(name),
                Rotated::Unknown
            ),
            "{name}"
        );
        let Rotated::Rotated(next) = store
            .rotate_refresh_token(&rotation(80, 7, 81, &app.id))
            .await
            .expect(name)
        else {
            panic!("{name}: rotated");
        };
        assert_eq!(next.device, device, "{name}");
        assert_eq!(next.token_expires_at, Some(NOW.plus_secs(120)), "{name}");
        assert_eq!(next.token_issued_at, NOW.plus_secs(30), "{name}");
        assert!(has_session(store.as_ref(), 7).await, "{name}");
        assert!(
            has_session(store.as_ref(), 6).await,
            "{name}: until it expires"
        );

        // The used one again: the grant ends, every token of it.
        assert!(
            matches!(
                store
                    .rotate_refresh_token(&rotation(80, 8, 82, &app.id))
                    .await
                    .expect(name),
                Rotated::Reused
            ),
            "{name}"
        );
        for gone in [6, 7, 8] {
            assert!(!has_session(store.as_ref(), gone).await, "{name}: {gone}");
        }
        assert!(
            matches!(
                store
                    .rotate_refresh_token(&rotation(81, 9, 83, &app.id))
                    .await
                    .expect(name),
                Rotated::Unknown
            ),
            "{name}: the live one went with it"
        );
        assert!(
            matches!(
                store
                    .rotate_refresh_token(&rotation(99, 9, 83, &app.id))
                    .await
                    .expect(name),
                Rotated::Unknown
            ),
            "{name}"
        );

        // The sweep takes expired access tokens.
        store
            .insert_pin(&grant_pin(3, 3, &app), &OPEN)
            .await
            .expect(name);
        store
            .link_pin(&PinLink {
                pin: PinId(3),
                account: alice.id,
                token: token(11),
                known_client: hash(70),
                device_key: None,
                token_expires_at: Some(NOW.plus_secs(60)),
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        store
            .delete_stale_account_data(NOW.plus_secs(59), UnixTime(0))
            .await
            .expect(name);
        assert!(has_session(store.as_ref(), 11).await, "{name}: still live");
        store
            .delete_stale_account_data(NOW.plus_secs(60), UnixTime(0))
            .await
            .expect(name);
        assert!(!has_session(store.as_ref(), 11).await, "{name}: swept");

        // Revoked by its refresh token, only by its own application.
        store
            .insert_pin(&grant_pin(2, 2, &app), &OPEN)
            .await
            .expect(name);
        let device = store
            .link_pin(&PinLink {
                pin: PinId(2),
                account: alice.id,
                token: token(10),
                known_client: hash(70),
                device_key: None,
                token_expires_at: None,
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        store
            .insert_refresh_token(device, &hash(90), NOW)
            .await
            .expect(name);
        assert!(
            !store
                .revoke_refresh_token(&other, &hash(90))
                .await
                .expect(name),
            "{name}"
        );
        assert!(has_session(store.as_ref(), 10).await, "{name}");
        assert!(
            store
                .revoke_refresh_token(&app.id, &hash(90))
                .await
                .expect(name),
            "{name}"
        );
        assert!(!has_session(store.as_ref(), 10).await, "{name}");
    }
}

#[tokio::test]
async fn a_grant_keeps_few_tokens_however_often_it_is_refreshed() {
    use pinlink_core::store::{Rotated, Rotation};
    for (name, store) in backends().await {
        let alice = account(store.as_ref(), "alice").await;
        let app = Application {
            id: ApplicationId::generate(),
            name: "TV".into(),
            confidential: false,
            created_at: NOW,
            access_token_lifetime_secs: 600,
            id_token_alg: IdTokenAlg::Rs256,
        };
        store
            .insert_application(&ApplicationRecord {
                application: app.clone(),
                secret_hash: None,
            })
            .await
            .expect(name);
        store
            .insert_pin(&grant_pin(1, 1, &app), &OPEN)
            .await
            .expect(name);
        let device = store
            .link_pin(&PinLink {
                pin: PinId(1),
                account: alice.id,
                token: token(6),
                known_client: hash(70),
                device_key: None,
                token_expires_at: Some(NOW.plus_secs(600)),
                now: NOW,
                refund: vec![],
                logged: None,
            })
            .await
            .expect(name)
            .expect("linked");
        store
            .insert_refresh_token(device, &hash(80), NOW)
            .await
            .expect(name);
        let rotation = |i: u8, presented: u8| Rotation {
            presented: hash(presented),
            application: app.id.clone(),
            access: token(100 + i),
            access_expires_at: Some(NOW.plus_secs(600)),
            refresh: Some(hash(81 + i)),
            now: NOW.plus_secs(10 * (i64::from(i) + 1)),
        };
        for i in 0..12 {
            let rotated = store
                .rotate_refresh_token(&rotation(i, 80 + i))
                .await
                .expect(name);
            assert!(matches!(rotated, Rotated::Rotated(_)), "{name}: {i}");
        }
        // Many rotations in one second (hashes in any order): the token
        // just issued is never the one trimmed.
        for i in 12..40 {
            let same_second = Rotation {
                now: NOW.plus_secs(200),
                ..rotation(i, 80 + i)
            };
            let rotated = store.rotate_refresh_token(&same_second).await.expect(name);
            assert!(matches!(rotated, Rotated::Rotated(_)), "{name}: {i}");
            assert!(has_session(store.as_ref(), 100 + i).await, "{name}: {i}");
        }
        let rotation = |i: u8, presented: u8| Rotation {
            now: NOW.plus_secs(300 + i64::from(i)),
            ..rotation(i, presented)
        };
        for i in 40..52 {
            let rotated = store
                .rotate_refresh_token(&rotation(i, 80 + i))
                .await
                .expect(name);
            assert!(matches!(rotated, Rotated::Rotated(_)), "{name}: {i}");
        }
        // The two newest access tokens only.
        assert!(!has_session(store.as_ref(), 6).await, "{name}");
        for i in 0..50 {
            assert!(!has_session(store.as_ref(), 100 + i).await, "{name}: {i}");
        }
        assert!(has_session(store.as_ref(), 150).await, "{name}");
        assert!(has_session(store.as_ref(), 151).await, "{name}");
        // The ten newest used refresh tokens are remembered; older ones are
        // unknown (refused, without ending the grant).
        let old = store
            .rotate_refresh_token(&rotation(60, 80))
            .await
            .expect(name);
        assert!(matches!(old, Rotated::Unknown), "{name}");
        assert!(has_session(store.as_ref(), 151).await, "{name}");
        let recent = store
            .rotate_refresh_token(&rotation(61, 128))
            .await
            .expect(name);
        assert!(matches!(recent, Rotated::Reused), "{name}");
        assert!(
            !has_session(store.as_ref(), 151).await,
            "{name}: the grant ended"
        );
    }
}
