//! The Store contract: what every backend must do, written once. Each check
//! takes a fresh store of every backend from `backends()`: SQLite in memory,
//! and a new database on the test cluster for PostgreSQL (see
//! `pinlink_store::testing`).

use std::sync::Arc;

use pinlink_core::store::{NewAccount, NewToken, PinLink, PinRecord, TokenGrant};
use pinlink_core::{
    ClientIdentifier, DeviceInfo, LookupHash, PinId, Product, Store, StoreError, UnixTime,
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
        created_at: NOW,
        expires_at,
        token_sealed: None,
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
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)))
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
        let same_code = store.insert_pin(&pin(2, 1, NOW.plus_secs(900))).await;
        assert!(
            matches!(same_code, Err(StoreError::Conflict(_))),
            "{name}: {same_code:?}"
        );
        let same_id = store.insert_pin(&pin(1, 9, NOW.plus_secs(900))).await;
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
        store.insert_pin(&pin(1, 1, NOW)).await.expect(name);
        store
            .insert_pin(&pin(2, 1, NOW.plus_secs(900)))
            .await
            .expect("expired code reused");
        assert!(
            store.pin_by_id(PinId(1)).await.expect(name).is_none(),
            "{name}"
        );
        store
            .insert_pin(&pin(3, 3, NOW.plus_secs(10)))
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
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)))
            .await
            .expect(name);
        let link = PinLink {
            pin: PinId(1),
            account: alice.id,
            token: token(7),
            now: NOW,
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
            .insert_pin(&pin(2, 2, NOW.plus_secs(5)))
            .await
            .expect(name);
        let late = PinLink {
            pin: PinId(2),
            account: alice.id,
            token: token(9),
            now: NOW.plus_secs(5),
        };
        assert!(store.link_pin(&late).await.expect(name).is_none(), "{name}");
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
async fn failures_are_counted_in_a_window() {
    for (name, store) in backends().await {
        for secs in [0, 10, 20] {
            store
                .record_failure("k", NOW.plus_secs(secs))
                .await
                .expect(name);
        }
        store.record_failure("other", NOW).await.expect(name);
        let all = store
            .count_failures("k", NOW.plus_secs(-1))
            .await
            .expect(name);
        assert_eq!((all.count, all.oldest), (3, Some(NOW)), "{name}");
        let recent = store
            .count_failures("k", NOW.plus_secs(5))
            .await
            .expect(name);
        assert_eq!(
            (recent.count, recent.oldest),
            (2, Some(NOW.plus_secs(10))),
            "{name}"
        );
        assert_eq!(
            store
                .delete_failures_before(NOW.plus_secs(10))
                .await
                .expect(name),
            3,
            "{name}"
        );
        assert_eq!(
            store
                .count_failures("k", NOW.plus_secs(-1))
                .await
                .expect(name)
                .count,
            1,
            "{name}"
        );
        store.clear_failures("k").await.expect(name);
        assert_eq!(
            store
                .count_failures("k", NOW.plus_secs(-1))
                .await
                .expect(name)
                .count,
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_writes_commit_independently() {
    for (name, store) in backends().await {
        store
            .insert_pin(&pin(1, 1, NOW.plus_secs(900)))
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
                tokio::spawn(
                    async move { store.insert_pin(&pin(id, code, NOW.plus_secs(900))).await },
                )
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
