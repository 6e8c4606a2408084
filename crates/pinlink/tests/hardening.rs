//! The running binary under attack, where the attack is about the whole
//! process: its file descriptors, its memory, its disk, its signals.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Resident memory now (VmRSS), in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

/// A connection from `from` (a loopback address of its own) that sends
/// half a request and nothing more; `None` when it was refused.
async fn half_sent_request(from: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    let mut stream = socket.connect(to).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: flood\r\nX-Half: ")
        .await
        .ok()?;
    Some(stream)
}

/// 2 × 300 half-sent requests to the metrics port, from a hundred
/// addresses, with the process allowed 512 files: the metrics listener
/// takes what its own cap allows and closes the rest at once, so the API
/// keeps its descriptors (`/healthz` answers throughout), the log says so
/// in a line or two rather than one per refused `accept`, and once the
/// flood has gone Prometheus can scrape again.
#[tokio::test]
async fn a_flood_on_the_metrics_port_leaves_the_api_serving() {
    let _ = rlimit::increase_nofile_limit(4096);
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics_port = free_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
    let mut shell = Command::new("bash");
    shell.args(["-c", "ulimit -n 512 && exec \"$0\" \"$@\"", BIN]);
    let (server, address, _log, lines) = start_server_by(
        dir.path(),
        shell,
        &["--metrics-listen", &metrics.to_string()],
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let healthz = format!("http://{address}/healthz");
    let mut flood = Vec::new();
    let mut slow_health = Vec::new();
    for wave in 0..2 {
        let sent = (0..300u32).map(|i| {
            let from = IpAddr::from([127, 0, 1 + wave, 1 + (i % 100) as u8]);
            half_sent_request(from, metrics)
        });
        flood.extend(futures_util::future::join_all(sent).await);
        let started = Instant::now();
        let answer = http.get(&healthz).send().await;
        let status = match answer {
            Ok(answer) => answer.status().as_u16(),
            Err(e) => {
                let log: Vec<String> = lines.try_iter().collect();
                panic!(
                    "/healthz during the flood (wave {wave}): {e:?}\n{}",
                    log.join("\n")
                )
            }
        };
        assert_eq!(status, 200, "/healthz during the flood (wave {wave})");
        slow_health.push(started.elapsed());
    }
    // The process still has descriptors for new API clients.
    let again = http.get(&healthz).send().await.expect("healthz");
    assert_eq!(again.status(), 200);
    let held = flood.iter().filter(|s| s.is_some()).count();
    eprintln!("flood: {held} of 600 connected; /healthz took {slow_health:?}");
    drop(flood);
    // Once the flood is gone, a scrape works (the refused connections were
    // closed at once; the held ones close with their half-sent requests).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http.get(format!("http://{metrics}/metrics")).send().await {
            Ok(answer) if answer.status() == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "no scrape after the flood: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    let log: Vec<String> = lines.try_iter().collect();
    let accept_failures = log
        .iter()
        .filter(|l| l.contains("accept") || l.contains("Too many open files"))
        .count();
    assert!(
        accept_failures <= 10,
        "{accept_failures} log lines about accepting: {:?}",
        &log[..log.len().min(20)]
    );
}

/// Kill -HUP without TLS: logged, and the server goes on serving (the
/// signal's default action would end it).
#[tokio::test]
async fn sighup_without_tls_does_not_end_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, address, _log, lines) = start_server(dir.path(), &[]);
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    loop {
        let said = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the hangup is logged");
        if said.contains("SIGHUP") {
            break;
        }
    }
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(answer.status(), 200);
}

/// How long the flood's polls ask to be held.
const WAIT: Duration = Duration::from_secs(3);

/// 52 HTTP/2 connections asking for 200 long polls each, from one
/// address: the server holds that address's share, answers the rest at
/// once, and when the connections are gone its memory comes back.
#[tokio::test]
async fn an_http2_long_poll_flood_holds_its_share_and_gives_memory_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = test_certificates("pinlink hardening CA");
    std::fs::write(dir.path().join("tls.pem"), cert).expect("write");
    std::fs::write(dir.path().join("tls.key"), key).expect("write");
    let tls_cert = dir.path().join("tls.pem");
    let tls_key = dir.path().join("tls.key");
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (server, address, _log, _lines) = start_server(
        dir.path(),
        &[
            "--tls-cert",
            tls_cert.to_str().expect("path"),
            "--tls-key",
            tls_key.to_str().expect("path"),
            "--metrics-listen",
            &metrics.to_string(),
        ],
    );
    let scraper = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let pid = server.0.id();
    let address: SocketAddr = address.parse().expect("address");
    let connector = h2_connector(&ca);
    let pin = create_pin(&connector, address).await;
    let before = rss_kib(pid);

    let started = Instant::now();
    let mut connections = Vec::new();
    for _ in 0..52 {
        let connector = connector.clone();
        connections.push(tokio::spawn(async move {
            let tls = tls_to(&connector, address).await;
            let (send, connection) = h2::client::handshake(tls).await.expect("handshake");
            let connection = tokio::spawn(connection);
            // One exchange first, so the client knows the server's SETTINGS
            // (its concurrent streams) before it sends the rest.
            let mut first = send.clone().ready().await.expect("ready");
            let (answer, _) = first
                .send_request(long_poll_request(address, pin, 0), true)
                .expect("sent");
            answer.await.expect("answer");
            let polls = (0..200).map(|_| {
                let send = send.clone();
                async move {
                    // A stream the server refused (past its concurrent
                    // streams, before its SETTINGS arrived) is sent again,
                    // as HTTP/2 clients do.
                    loop {
                        let mut send = send
                            .clone()
                            .ready()
                            .await
                            .map_err(|e| format!("ready: {e}"))?;
                        let request = long_poll_request(address, pin, WAIT.as_secs() as u32);
                        let (answer, _) = send
                            .send_request(request, true)
                            .map_err(|e| format!("send: {e}"))?;
                        match answer.await {
                            Ok(answer) => return Ok::<_, String>(answer.status().as_u16()),
                            Err(e) if e.reason() == Some(h2::Reason::REFUSED_STREAM) => continue,
                            Err(e) => return Err(format!("answer: {e}")),
                        }
                    }
                }
            });
            let answers = futures_util::future::join_all(polls).await;
            drop(send);
            connection.abort();
            answers
        }));
    }
    let mut peak = before;
    let mut most_held_at_once = 0;
    while connections.iter().any(|c| !c.is_finished()) {
        peak = peak.max(rss_kib(pid));
        most_held_at_once = most_held_at_once.max(long_polls_held(&scraper, metrics).await);
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the flood never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answered = 0;
    for connection in connections {
        for answer in connection.await.expect("task") {
            let status = answer.unwrap_or_else(|e| panic!("a poll failed: {e}"));
            assert_eq!(status, 200);
            answered += 1;
        }
    }
    // Let the server drop the closed connections and its allocator give
    // pages back.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = rss_kib(pid);
    eprintln!(
        "HTTP/2 flood: {answered} polls answered, at most {most_held_at_once} held at once, in {:?}; RSS {} MiB -> peak {} MiB -> {} MiB after",
        started.elapsed(),
        before / 1024,
        peak / 1024,
        after / 1024
    );
    assert_eq!(answered, 52 * 200, "every poll was answered");
    assert!(most_held_at_once > 0, "some polls were held");
    assert!(
        most_held_at_once <= 100,
        "one address held {most_held_at_once} long polls at once (its share is 100)"
    );
    assert!(
        peak < before + 64 * 1024,
        "the flood took the server from {} MiB to {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        after < before + 16 * 1024,
        "memory did not come back: {} MiB before, {} MiB after",
        before / 1024,
        after / 1024
    );
}

/// `pinlink_long_polls_held` as the metrics listener reports it now.
async fn long_polls_held(scraper: &reqwest::Client, metrics: SocketAddr) -> u64 {
    let Ok(answer) = scraper
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
    else {
        return 0;
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("pinlink_long_polls_held "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

fn h2_connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA");
    roots.add(ca).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(client))
}

async fn tls_to(
    connector: &tokio_rustls::TlsConnector,
    address: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(address).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

fn long_poll_request(address: SocketAddr, pin: u64, wait: u32) -> http::Request<()> {
    http::Request::get(format!(
        "https://localhost:{}/api/v2/pins/{pin}?wait={wait}",
        address.port()
    ))
    .header("accept", "application/json")
    .header("x-plex-client-identifier", "flood")
    .body(())
    .expect("request")
}

async fn create_pin(connector: &tokio_rustls::TlsConnector, address: SocketAddr) -> u64 {
    let tls = tls_to(connector, address).await;
    let (send, connection) = h2::client::handshake(tls).await.expect("handshake");
    let connection = tokio::spawn(connection);
    let mut send = send.ready().await.expect("ready");
    let request = http::Request::post(format!("https://localhost:{}/api/v2/pins", address.port()))
        .header("accept", "application/json")
        .header("x-plex-product", "Flood")
        .header("x-plex-client-identifier", "flood")
        .body(())
        .expect("request");
    let (answer, _) = send.send_request(request, true).expect("sent");
    let mut body = answer.await.expect("answer").into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body");
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    connection.abort();
    let pin: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    pin["id"].as_u64().expect("id")
}

/// The SQLite write-ahead log under sustained writes: pins created without
/// pause, from many client addresses behind a trusted proxy, with the
/// default limits. The log stays under 64 MiB while they come and after.
#[tokio::test]
async fn the_write_ahead_log_stays_bounded_under_sustained_writes() {
    const BOUND: u64 = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, address, _log, _lines) =
        start_server(dir.path(), &["--trusted-proxy", "127.0.0.1"]);
    let wal = dir.path().join("test.db-wal");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let until = Instant::now() + LOAD;
    let workers = (0..16u32).map(|worker| {
        let http = http.clone();
        let url = format!("http://{address}/api/v2/pins?strong=true");
        async move {
            let mut created = 0u32;
            let mut n = 0u32;
            while Instant::now() < until {
                n += 1;
                // A fresh address (of 198.18.0.0/15) every few pins, so the
                // per-address budgets do their real work without refusing.
                let from = IpAddr::from([
                    198,
                    18 + (worker % 2) as u8,
                    (n / 8 % 256) as u8,
                    (worker * 13 + n / 2048) as u8,
                ]);
                let answer = http
                    .post(&url)
                    .header("X-Forwarded-For", from.to_string())
                    .header("X-Plex-Product", "WAL Test")
                    .header("X-Plex-Client-Identifier", format!("wal-{worker}-{n}"))
                    .send()
                    .await;
                if answer.is_ok_and(|a| a.status() == 201) {
                    created += 1;
                }
            }
            created
        }
    });
    let load = tokio::spawn(futures_util::future::join_all(workers));
    let mut largest = 0u64;
    while !load.is_finished() {
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created: u32 = load.await.expect("load").into_iter().sum();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{created} pins in {LOAD:?}: the WAL reached {} MiB, {} MiB after",
        largest / (1024 * 1024),
        after / (1024 * 1024)
    );
    assert!(created > 1000, "only {created} pins were created");
    assert!(largest < BOUND, "the WAL reached {largest} bytes");
    assert!(after < BOUND, "the WAL is {after} bytes after the load");
}

/// How long the WAL test writes.
const LOAD: Duration = Duration::from_secs(8);
