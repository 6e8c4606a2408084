//! Attacks, as a stranger would run them: many requests at once, from
//! several addresses (loopback has all of 127.0.0.0/8), with hostile text.
//! Every budget and cap is checked by what gets through, never by what the
//! server says it counted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use pinlink_core::{Limit, PinId};
use pinlink_server::client_address::TrustedProxies;
use pinlink_server::Config;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::*;

/// An HTTP client whose connections come from `ip` (any 127.x.y.z).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::from(ip))
        .build()
        .expect("client")
}

fn loopback(ip: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(ip))
}

/// The `errors[0].code` of a JSON error answer, or 0 for success.
async fn error_code(response: reqwest::Response) -> (u16, i64) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["code"].as_i64().unwrap_or(0))
}

async fn sign_in_as(
    http: &reqwest::Client,
    app: &TestApp,
    client: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = http
        .post(app.url("/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", client)
        .form(&[("login", USERNAME), ("password", password)]);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.expect("sign-in")
}

#[tokio::test]
async fn a_hundred_wrong_passwords_at_once_are_checked_at_most_the_budget() {
    let app = TestApp::spawn().await;
    let budget = app.core.settings().budgets.sign_in_per_account_and_address;
    let stranger = client_from([127, 0, 1, 1]);
    let attempts: Vec<_> = (0..100)
        .map(|i| {
            let (stranger, app) = (stranger.clone(), &app);
            async move {
                let response = sign_in_as(&stranger, app, &format!("bot-{i}"), "guess", None).await;
                error_code(response).await
            }
        })
        .collect();
    let answers = join_all(attempts).await;
    // 1001: the password was checked and wrong; 1031: refused unchecked.
    let checked = answers.iter().filter(|a| **a == (401, 1001)).count();
    let refused = answers.iter().filter(|a| **a == (401, 1031)).count();
    assert_eq!(checked, budget.max as usize, "{answers:?}");
    assert_eq!(checked + refused, 100, "{answers:?}");

    // The owner, from another address, is not locked out by the stranger.
    let owner = client_from([127, 0, 1, 2]);
    let response = sign_in_as(&owner, &app, "owner-laptop", PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The stranger is still refused, even with the right password.
    let response = sign_in_as(&stranger, &app, "bot", PASSWORD, None).await;
    assert_eq!(error_code(response).await, (401, 1031));
}

#[tokio::test]
async fn a_hundred_wrong_codes_at_once_are_checked_at_most_the_budget() {
    let app = TestApp::spawn().await;
    let budget = app.core.settings().budgets.link_per_account;
    let token = app.sign_in("laptop").await;
    let pin = app.create_pin("tv", false).await;
    let live = pin["code"].as_str().expect("code").to_owned();
    let attempts: Vec<_> = (0..100u32)
        .map(|i| {
            let (app, token) = (&app, token.clone());
            // 100 different guesses, none of them the live code.
            let mut guess = format!("{:04}", 2222 + i).replace(['0', '1'], "Z");
            if guess == live {
                guess = "YYYY".into();
            }
            async move { error_code(app.link(&token, &guess).await).await }
        })
        .collect();
    let answers = join_all(attempts).await;
    let looked_up = answers.iter().filter(|a| **a == (404, 1020)).count();
    let refused = answers.iter().filter(|a| **a == (429, 1929)).count();
    assert_eq!(looked_up, budget.max as usize, "{answers:?}");
    assert_eq!(looked_up + refused, 100);
    // Spent: even the live code waits now, and the pin is untouched.
    assert_eq!(error_code(app.link(&token, &live).await).await, (429, 1929));
    let polled: Value = app.poll(&pin["id"], "tv").await.json().await.expect("json");
    assert!(polled["authToken"].is_null());
}

#[tokio::test]
async fn new_pins_are_budgeted_per_client_and_per_address() {
    let app = TestApp::spawn().await;
    let budgets = app.core.settings().budgets;
    let create = |http: reqwest::Client, client: String| {
        // Strong pins: short codes have a cap of their own (tested below).
        let url = app.url("/api/v2/pins?strong=true");
        async move {
            http.post(url)
                .header("Accept", "application/json")
                .header("X-Plex-Product", "Flood")
                .header("X-Plex-Client-Identifier", client)
                .send()
                .await
                .expect("create")
        }
    };
    let here = client_from([127, 0, 2, 1]);
    for _ in 0..budgets.pins_per_client.max {
        assert_eq!(create(here.clone(), "tv".into()).await.status(), 201);
    }
    let refused = create(here.clone(), "tv".into()).await;
    let retry: i64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= budgets.pins_per_client.window_secs);
    assert_json_error(refused, 429, 1003).await;
    // Other clients from the same address, until the address's budget.
    let mut created = budgets.pins_per_client.max;
    let mut n = 0;
    loop {
        n += 1;
        let response = create(here.clone(), format!("client-{n}")).await;
        if response.status() != 201 {
            assert_json_error(response, 429, 1003).await;
            break;
        }
        created += 1;
        assert!(created <= budgets.pins_per_address.max, "no address budget");
    }
    assert_eq!(created, budgets.pins_per_address.max);
    // Another address is not affected, not even for the same client
    // identifier: identifiers are not secret, so a stranger spending "tv"'s
    // budget from elsewhere must not lock the real "tv" out.
    let elsewhere = client_from([127, 0, 2, 2]);
    let status = create(elsewhere.clone(), "radio".into()).await.status();
    assert_eq!(status, 201);
    assert_eq!(create(elsewhere, "tv".into()).await.status(), 201);
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_cap_of_live_pins() {
    let mut config = Config::for_test();
    config.settings.budgets.pins_per_address = Limit::OFF;
    config.settings.budgets.pins_per_client = Limit::OFF;
    config.settings.caps.per_address = 7;
    let app = TestApp::spawn_with(config).await;
    let here = client_from([127, 0, 3, 1]);
    let creates: Vec<_> = (0..50)
        .map(|i| {
            let (here, url) = (here.clone(), app.url("/api/v2/pins?strong=true"));
            async move {
                let response = here
                    .post(url)
                    .header("Accept", "application/json")
                    .header("X-Plex-Product", "Flood")
                    .header("X-Plex-Client-Identifier", format!("c{i}"))
                    .header("X-Plex-Device-Name", "x".repeat(255))
                    .send()
                    .await
                    .expect("create");
                error_code(response).await
            }
        })
        .collect();
    let answers = join_all(creates).await;
    let created = answers.iter().filter(|a| a.0 == 201).count();
    let capped = answers.iter().filter(|a| **a == (429, 1003)).count();
    assert_eq!(created, 7, "{answers:?}");
    assert_eq!(capped, 43, "{answers:?}");
    // Once they expire, there is room again.
    app.clock
        .advance(app.core.settings().strong_pin_lifetime_secs);
    let response = here
        .post(app.url("/api/v2/pins"))
        .header("X-Plex-Product", "Flood")
        .header("X-Plex-Client-Identifier", "later")
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_few_addresses_cannot_take_every_short_code() {
    let app = TestApp::spawn().await;
    let caps = app.core.settings().caps;
    let here = client_from([127, 0, 3, 9]);
    let create = |client: String, strong: bool| {
        here.post(app.url(&format!("/api/v2/pins?strong={strong}")))
            .header("Accept", "application/json")
            .header("X-Plex-Product", "Hoarder")
            .header("X-Plex-Client-Identifier", client)
            .send()
    };
    for i in 0..caps.link_codes_per_address {
        let response = create(format!("c{i}"), false).await.expect("create");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let refused = create("more".into(), false).await.expect("create");
    assert_json_error(refused, 429, 1003).await;
    // Strong pins are still allowed, and so are others' short codes.
    let strong = create("more".into(), true).await.expect("create");
    assert_eq!(strong.status(), StatusCode::CREATED);
    app.create_pin("someone-else", false).await;
}

#[tokio::test]
async fn live_link_codes_are_capped_with_a_clear_error() {
    let mut config = Config::for_test();
    config.settings.budgets.pins_per_address = Limit::OFF;
    config.settings.budgets.pins_per_client = Limit::OFF;
    config.settings.caps.link_codes = 3;
    let app = TestApp::spawn_with(config).await;
    for i in 0..3 {
        app.create_pin(&format!("tv-{i}"), false).await;
    }
    let full = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "One too many")
        .header("X-Plex-Client-Identifier", "tv-9")
        .go()
        .await;
    assert!(full.headers().contains_key("retry-after"));
    let body = assert_json_error(full, 503, 1953).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("as many pins as it may"),
        "{body}"
    );
    // Strong pins still work: they do not use the short code space.
    app.create_pin("tv-9", true).await;
}

fn behind_a_proxy_at(proxy: [u8; 4]) -> Config {
    let mut config = Config::for_test();
    config.trusted_proxies = TrustedProxies::new(vec![loopback(proxy).into()]);
    config
}

#[tokio::test]
async fn behind_a_trusted_proxy_forwarded_addresses_have_separate_budgets() {
    let app = TestApp::spawn_with(behind_a_proxy_at([127, 0, 4, 1])).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let budget = app.core.settings().budgets.sign_in_per_account_and_address;
    let proxy = client_from([127, 0, 4, 1]);
    for _ in 0..budget.max {
        let response = sign_in_as(&proxy, &app, "bot", "guess", Some("198.51.100.7")).await;
        assert_eq!(error_code(response).await, (401, 1001));
    }
    let refused = sign_in_as(&proxy, &app, "bot", PASSWORD, Some("198.51.100.7")).await;
    assert_eq!(error_code(refused).await, (401, 1031));
    // Another client behind the same proxy has its own budget.
    let other = sign_in_as(&proxy, &app, "owner", PASSWORD, Some("198.51.100.8")).await;
    assert_eq!(error_code(other).await, (201, 0));
    // A client behind several proxies: the rightmost untrusted hop counts,
    // not the first one, which the client itself may have written.
    let chained = sign_in_as(
        &proxy,
        &app,
        "bot",
        PASSWORD,
        Some("203.0.113.1, 198.51.100.7"),
    )
    .await;
    assert_eq!(error_code(chained).await, (401, 1031));

    // The address a pin was asked for from is the forwarded one.
    let pin: Value = proxy
        .post(app.url("/api/v2/pins"))
        .header("Accept", "application/json")
        .header("X-Plex-Product", "TV")
        .header("X-Plex-Client-Identifier", "tv")
        .header("X-Forwarded-For", "2001:db8::5")
        // Not the header this proxy writes: a client's copy is ignored.
        .header("Forwarded", "for=192.0.2.66")
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = PinId(u32::try_from(pin["id"].as_u64().expect("id")).expect("u32"));
    let client = pinlink_core::ClientIdentifier::parse(Some("tv")).expect("id");
    let stored = app.core.poll_pin(id, &client).await.expect("pin");
    assert_eq!(&*stored.requester_ip, "2001:db8::5");
}

#[tokio::test]
async fn ipv6_clients_are_budgeted_per_slash_64() {
    let app = TestApp::spawn_with(behind_a_proxy_at([127, 0, 4, 9])).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let budget = app.core.settings().budgets.sign_in_per_account_and_address;
    let proxy = client_from([127, 0, 4, 9]);
    // A new address for every guess, all in one /64: one budget.
    for i in 0..budget.max {
        let from = format!("2001:db8:1:2::{:x}", i + 1);
        let response = sign_in_as(&proxy, &app, "bot", "guess", Some(&from)).await;
        assert_eq!(error_code(response).await, (401, 1001));
    }
    let refused = sign_in_as(&proxy, &app, "bot", PASSWORD, Some("2001:db8:1:2:ffff::1")).await;
    assert_eq!(error_code(refused).await, (401, 1031));
    let next_net = sign_in_as(&proxy, &app, "owner", PASSWORD, Some("2001:db8:1:3::1")).await;
    assert_eq!(error_code(next_net).await, (201, 0));
}

#[tokio::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::spawn_with(behind_a_proxy_at([127, 0, 5, 1])).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let budget = app.core.settings().budgets.sign_in_per_account_and_address;
    let stranger = client_from([127, 0, 5, 2]);
    for i in 0..budget.max {
        // A different claimed address each time: all of it ignored.
        let claimed = format!("198.51.100.{i}");
        let response = sign_in_as(&stranger, &app, "bot", "guess", Some(&claimed)).await;
        assert_eq!(error_code(response).await, (401, 1001));
    }
    let refused = sign_in_as(&stranger, &app, "bot", PASSWORD, Some("192.0.2.200")).await;
    assert_eq!(error_code(refused).await, (401, 1031));
}

/// Opens a TCP connection to the app from `from`.
async fn connect_from(app: &TestApp, from: [u8; 4]) -> std::io::Result<TcpStream> {
    let server: SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(loopback(from), 0))?;
    socket.connect(server).await
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(give_up, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

fn with_short_header_timeout() -> Config {
    let mut config = Config::for_test();
    config.connections.header_read_timeout = Duration::from_secs(1);
    config.connections.request_timeout = Duration::from_secs(1);
    config
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_timeout() {
    let app = TestApp::spawn_with(with_short_header_timeout()).await;
    let mut half_sent = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(&app, [127, 0, 6, 1]).await.expect("connect");
        stream
            .write_all(b"GET /api/v2/pins/1 HTTP/1.1\r\nHost: x\r\nX-Plex-")
            .await
            .expect("write");
        half_sent.push(stream);
    }
    // Headers in time, then a body that never comes.
    let mut trickled = connect_from(&app, [127, 0, 6, 4]).await.expect("connect");
    trickled
        .write_all(
            b"POST /api/v2/pins HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nX-Plex-",
        )
        .await
        .expect("write");
    half_sent.push(trickled);
    // A GET reads its body too (X-Plex-* fields may come in it).
    let mut trickled_get = connect_from(&app, [127, 0, 6, 5]).await.expect("connect");
    trickled_get
        .write_all(
            b"GET /api/v2/pins/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nX-Plex-",
        )
        .await
        .expect("write");
    half_sent.push(trickled_get);
    let mut silent = connect_from(&app, [127, 0, 6, 2]).await.expect("connect");
    let mut kept_alive = connect_from(&app, [127, 0, 6, 3]).await.expect("connect");
    kept_alive
        .write_all(b"GET /api/v2/pins/1 HTTP/1.1\r\nHost: x\r\nX-Plex-Client-Identifier: a\r\n\r\n")
        .await
        .expect("write");
    for stream in half_sent.iter_mut().chain([&mut silent, &mut kept_alive]) {
        let closed = time_until_closed(stream, Duration::from_secs(10)).await;
        let closed = closed.expect("closed by the server");
        assert!(closed < Duration::from_secs(5), "{closed:?}");
    }
}

#[tokio::test]
async fn a_flood_of_idle_sockets_does_not_stop_others_from_being_served() {
    let mut config = with_short_header_timeout();
    config.connections.header_read_timeout = Duration::from_secs(30);
    config.connections.per_address = 20;
    let app = TestApp::spawn_with(config).await;
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(connect_from(&app, [127, 0, 7, 1]).await.expect("connect"));
    }
    // Connections over the address's cap are closed at once.
    let mut closed_at_once = 0;
    for stream in flood.iter_mut() {
        if time_until_closed(stream, Duration::from_millis(300))
            .await
            .is_some()
        {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 80);
    // Everyone else is served, quickly.
    let started = Instant::now();
    let response = client_from([127, 0, 7, 2])
        .post(app.url("/api/v2/pins"))
        .header("X-Plex-Product", "TV")
        .header("X-Plex-Client-Identifier", "tv")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 201);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn hostile_text_gets_a_clear_error_and_never_malformed_answers() {
    let app = TestApp::spawn().await;
    let create = |product: &str, client: &str| {
        app.request(Method::POST, "/api/v2/pins")
            .header("Accept", "application/json")
            .form(&[
                ("X-Plex-Product", product),
                ("X-Plex-Client-Identifier", client),
            ])
    };
    // Non-characters (U+FFFF is not allowed in XML), bidi controls that
    // could disguise a product name, and limits counted in bytes.
    for (product, client) in [
        ("TV\u{FFFF}", "tv"),
        ("Evil\u{202E}VT", "tv"),
        ("ok", &"\u{1F600}".repeat(64)),
        ("\u{2066}x", "tv"),
    ] {
        let response = create(product, client).go().await;
        assert_json_error(response, 400, 1000).await;
    }
    // Allowed but odd text comes back intact, in well-formed XML.
    let odd = "Caf\u{e9} <TV> & \"\u{1F600}\" '\u{200D}'";
    let response = app
        .request(Method::POST, "/api/v2/pins?strong=true")
        .form(&[("X-Plex-Product", odd), ("X-Plex-Client-Identifier", odd)])
        .go()
        .await;
    assert_eq!(response.status(), 201);
    let xml = response.text().await.expect("xml");
    assert_eq!(
        xml_attr(&xml, "product").as_deref(),
        Some("Caf\u{e9} &lt;TV&gt; &amp; &quot;\u{1F600}&quot; &apos;\u{200D}&apos;")
    );
    assert!(
        !xml.contains('\u{FFFF}') && xml.starts_with("<?xml"),
        "{xml}"
    );
    // Limits are in bytes: 63 emoji (252 bytes) are accepted, and the pin's
    // QR image is still drawn.
    let emoji = "\u{1F600}".repeat(63);
    let pin: Value = create("TV", &emoji).go().await.json().await.expect("json");
    let qr = app.http.get(pin["qr"].as_str().expect("qr")).go().await;
    assert_eq!(qr.status(), StatusCode::OK);
    // axum's own refusals come in the errors[] shape too.
    let bad_path = app
        .request(Method::GET, "/api/v2/pins/%FF%FE")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "tv")
        .go()
        .await;
    assert_json_error(bad_path, 400, 1000).await;
}
