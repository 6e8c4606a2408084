//! HTTP/2 over TLS, attacked with a real HTTP/2 client (the `h2` crate) and
//! with hand-written frames: idle connections, half a HEADERS frame and a
//! stalled body are all closed; a connection runs a bounded number of
//! streams; one address cannot hold every long poll.
//!
//! Timeouts are shortened (1 s to send headers or sit idle, 2 s for a
//! request with a body) so the tests wait seconds, not minutes.

use pinlink_testkit as harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, Request, StatusCode};
use harness::TestApp;
use pinlink_server::Config;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const IDLE: Duration = Duration::from_secs(1);
const REQUEST: Duration = Duration::from_secs(2);
/// How much later than its timeout a close may come (a loaded CI machine).
const SLACK: Duration = Duration::from_secs(3);

struct Https {
    app: TestApp,
    address: std::net::SocketAddr,
    connector: tokio_rustls::TlsConnector,
    _dir: tempfile::TempDir,
}

/// A server over HTTPS with short timeouts (and `change` applied to its
/// config), and a TLS connector that trusts it and asks for HTTP/2.
async fn https(change: impl FnOnce(&mut Config)) -> Https {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a test certificate");
    let cert = dir.path().join("tls.pem");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write");
    let mut config = Config::for_test();
    config.tls = Some(pinlink_server::http::tls::TlsFiles { cert, key });
    config.connections.header_read_timeout = IDLE;
    config.connections.request_timeout = REQUEST;
    change(&mut config);
    let app = TestApp::spawn_with(config).await;
    let address = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(certified.cert.der().to_vec()))
        .expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    Https {
        app,
        address,
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        _dir: dir,
    }
}

impl Https {
    async fn tls(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.address).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = self.connector.connect(name, tcp).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls
    }

    /// An HTTP/2 connection: the handle to send requests on, and the
    /// connection's task, which ends when the server closes it.
    async fn h2(
        &self,
    ) -> (
        h2::client::SendRequest<axum::body::Bytes>,
        tokio::task::JoinHandle<Result<(), h2::Error>>,
    ) {
        let (send, connection) = h2::client::handshake(self.tls().await)
            .await
            .expect("HTTP/2 handshake");
        (send, tokio::spawn(connection))
    }

    fn uri(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.address.port())
    }

    async fn create_pin(&self) -> u64 {
        let (mut send, _connection) = self.h2().await;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri("/api/v2/pins"))
            .header("accept", "application/json")
            .header("x-plex-product", "HTTP/2 Test")
            .header("x-plex-client-identifier", "h2-device")
            .body(())
            .expect("request");
        let (answer, _) = send.send_request(request, true).expect("sent");
        let answer = answer.await.expect("answer");
        assert_eq!(answer.status(), StatusCode::CREATED);
        let mut body = answer.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        let pin: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        pin["id"].as_u64().expect("id")
    }
}

/// A long poll of pin `id` (`wait=SECS`), from `forwarded_for` (the server
/// trusts loopback as a proxy in these tests).
fn long_poll(https: &Https, id: u64, secs: u32, forwarded_for: &str) -> Request<()> {
    Request::builder()
        .method(Method::GET)
        .uri(https.uri(&format!("/api/v2/pins/{id}?wait={secs}")))
        .header("accept", "application/json")
        .header("x-plex-client-identifier", "h2-device")
        .header("x-forwarded-for", forwarded_for)
        .body(())
        .expect("request")
}

/// Whether the server closes the connection within `within`: reads (and
/// drops) whatever it sends until the end.
async fn closed_within(mut stream: TlsStream<TcpStream>, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Reads one HTTP/2 frame: its type, flags and payload.
async fn read_frame(stream: &mut TlsStream<TcpStream>) -> (u8, u8, Vec<u8>) {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.expect("a frame");
    let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.expect("its payload");
    (head[3], head[4], payload)
}

/// HTTP/2's connection preface and an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let https = https(|_| {}).await;
    // Never a request at all.
    let (_send, connection) = https.h2().await;
    let started = Instant::now();
    tokio::time::timeout(IDLE + SLACK, connection)
        .await
        .expect("the server closed the idle connection")
        .expect("task")
        .expect("closed cleanly, with a GOAWAY");
    assert!(started.elapsed() >= IDLE / 2, "{:?}", started.elapsed());

    // Idle after a request: closed the same way.
    let id = https.create_pin().await;
    let (mut send, connection) = https.h2().await;
    let (answer, _) = send
        .send_request(long_poll(&https, id, 0, "192.0.2.1"), true)
        .expect("sent");
    assert_eq!(answer.await.expect("answer").status(), StatusCode::OK);
    tokio::time::timeout(IDLE + SLACK, connection)
        .await
        .expect("the server closed the connection once idle")
        .expect("task")
        .expect("clean close");

    // Not even the preface.
    let silent = https.tls().await;
    assert!(closed_within(silent, IDLE + SLACK).await);
    https.app.shutdown().await;
}

#[tokio::test]
async fn half_a_headers_frame_is_not_held() {
    let https = https(|_| {}).await;
    let mut stream = https.tls().await;
    stream.write_all(PREFACE).await.expect("preface");
    // The server's SETTINGS, acknowledged as a well-behaved peer would.
    const SETTINGS: u8 = 0x4;
    let (kind, _, _) = read_frame(&mut stream).await;
    assert_eq!(kind, SETTINGS);
    stream
        .write_all(&[0, 0, 0, SETTINGS, 0x1, 0, 0, 0, 0])
        .await
        .expect("ack");
    // A HEADERS frame on stream 1 without END_HEADERS (so a CONTINUATION
    // must follow, and never does): GET, https, /.
    let block = [0x82u8, 0x87, 0x84];
    let mut frame = vec![0, 0, block.len() as u8, 0x01, 0x00, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    stream.write_all(&frame).await.expect("half the headers");
    stream.flush().await.expect("flush");
    // Mid-header-block the peer may send nothing but CONTINUATION, so it
    // cannot answer keep-alive pings either; what closes the connection
    // first is the header deadline.
    assert!(
        closed_within(stream, IDLE + SLACK).await,
        "a request whose headers never end must not hold the connection"
    );
    https.app.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_its_connection_is_closed() {
    let https = https(|_| {}).await;
    let (mut send, connection) = https.h2().await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(https.uri("/api/v2/pins"))
        .header("accept", "application/json")
        .header("x-plex-product", "HTTP/2 Test")
        .header("x-plex-client-identifier", "stalled")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(())
        .expect("request");
    // The body is announced (no END_STREAM) and never sent.
    let (answer, _body) = send.send_request(request, false).expect("sent");
    let started = Instant::now();
    let answer = tokio::time::timeout(REQUEST + SLACK, answer)
        .await
        .expect("answered within the deadline")
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= REQUEST / 2);
    // …and the connection goes with it.
    tokio::time::timeout(SLACK, connection)
        .await
        .expect("the connection closed after the 408")
        .expect("task")
        .ok();
    https.app.shutdown().await;
}

#[tokio::test]
async fn a_connection_runs_a_bounded_number_of_streams() {
    let https = https(|_| {}).await;
    let id = https.create_pin().await;
    let (send, connection) = h2::client::handshake(https.tls().await)
        .await
        .expect("HTTP/2 handshake");
    tokio::pin!(connection);
    let exchange = async {
        let mut send = send.ready().await.expect("ready");
        let (answer, _) = send
            .send_request(long_poll(&https, id, 0, "192.0.2.1"), true)
            .expect("sent");
        answer.await.expect("answer")
    };
    // The server's SETTINGS have arrived once it has answered.
    tokio::select! {
        closed = &mut connection => panic!("the connection ended early: {closed:?}"),
        answer = exchange => assert_eq!(answer.status(), StatusCode::OK),
    }
    let bound = pinlink_server::http::ConnectionLimits::default().streams_per_connection;
    let advertised = connection.max_concurrent_send_streams();
    assert!(
        advertised <= bound as usize,
        "SETTINGS_MAX_CONCURRENT_STREAMS is {advertised}, more than {bound}"
    );
    https.app.shutdown().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_long_poll() {
    let https = https(|config| {
        config.trusted_proxies = pinlink_server::client_address::TrustedProxies::new(vec![
            pinlink_server::client_address::TrustedProxies::parse_network("127.0.0.0/8")
                .expect("net"),
        ]);
        config.settings.long_polls = pinlink_core::waiters::WaitCaps {
            total: 24,
            per_address: 6,
        };
    })
    .await;
    let id = https.create_pin().await;
    // One address sends more long polls than the whole server holds, as
    // streams of one connection and of a second.
    let mut crowd = Vec::new();
    let mut connections = Vec::new();
    for _ in 0..2 {
        let (send, connection) = https.h2().await;
        connections.push(connection);
        let mut send = send.ready().await.expect("ready");
        for _ in 0..12 {
            let (answer, _) = send
                .send_request(long_poll(&https, id, 4, "198.51.100.7"), true)
                .expect("sent");
            crowd.push(tokio::spawn(async move {
                let started = Instant::now();
                let answer = answer.await.expect("answer");
                assert_eq!(answer.status(), StatusCode::OK);
                started.elapsed()
            }));
            send = send.ready().await.expect("ready");
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another client's long poll is still held, not answered at once.
    let (mut send, _connection) = https.h2().await;
    let started = Instant::now();
    let (answer, _) = send
        .send_request(long_poll(&https, id, 2, "203.0.113.9"), true)
        .expect("sent");
    assert_eq!(answer.await.expect("answer").status(), StatusCode::OK);
    let neighbour = started.elapsed();
    assert!(
        neighbour >= Duration::from_millis(1500),
        "another address's long poll was answered at once ({neighbour:?}): one address took every place"
    );
    let waits: Vec<Duration> = futures_util::future::join_all(crowd)
        .await
        .into_iter()
        .map(|w| w.expect("task"))
        .collect();
    let held = waits
        .iter()
        .filter(|w| **w >= Duration::from_secs(2))
        .count();
    assert_eq!(
        held, 6,
        "exactly its share of the crowd was held: {waits:?}"
    );
    https.app.shutdown().await;
}

/// A client that never reads its answer (a flow-control window of 0), and
/// one whose stream says `content-length: 0` but never ends: neither keeps
/// its connection past the longest a request may be in progress.
#[tokio::test]
async fn a_request_that_never_ends_does_not_keep_its_connection() {
    const LONGEST: Duration = Duration::from_secs(3);
    let https = https(|config| config.connections.longest_request = LONGEST).await;

    // Never reads: the answer's headers come, its body never can.
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, axum::body::Bytes>(https.tls().await)
        .await
        .expect("HTTP/2 handshake");
    let connection = tokio::spawn(connection);
    let mut send = send.ready().await.expect("ready");
    let request = Request::builder()
        .uri(https.uri("/openapi.json"))
        .body(())
        .expect("request");
    let (answer, _) = send.send_request(request, true).expect("sent");
    let started = Instant::now();
    let answer = answer.await.expect("headers");
    assert_eq!(answer.status(), StatusCode::OK);
    let _unread = answer.into_body();
    tokio::time::timeout(LONGEST + SLACK, connection)
        .await
        .expect("the connection closed")
        .expect("task")
        .ok();
    assert!(started.elapsed() >= LONGEST / 2, "{:?}", started.elapsed());

    // `content-length: 0`, and the stream never ended: timed like any body.
    let (mut send, connection) = https.h2().await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(https.uri("/api/v2/pins"))
        .header("content-length", "0")
        .header("x-plex-product", "HTTP/2 Test")
        .header("x-plex-client-identifier", "never-ends")
        .body(())
        .expect("request");
    let (answer, _body) = send.send_request(request, false).expect("sent");
    let answer = tokio::time::timeout(REQUEST + SLACK, answer)
        .await
        .expect("answered")
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
    tokio::time::timeout(SLACK, connection)
        .await
        .expect("closed after the 408")
        .expect("task")
        .ok();
    https.app.shutdown().await;
}

/// A client trickling a body and resetting the stream just before its 408,
/// then trickling the next one (so the connection is never idle, and no
/// request ever gets its 408): at the first give-up the server says
/// GOAWAY — no new request is taken on the connection, and it closes when
/// the one still in flight has had its own deadline.
#[tokio::test]
async fn a_trickled_request_given_up_before_its_408_closes_the_connection() {
    const DEADLINE: Duration = Duration::from_secs(6);
    let https = https(|config| config.connections.request_timeout = DEADLINE).await;
    let (send, connection) = https.h2().await;
    let trickle = |send: &mut h2::client::SendRequest<axum::body::Bytes>| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(https.uri("/api/v2/pins"))
            .header("x-plex-product", "HTTP/2 Test")
            .header("x-plex-client-identifier", "trickler")
            .body(())
            .expect("request");
        send.send_request(request, false)
    };
    let mut send = send.ready().await.expect("ready");
    let (_first_answer, mut first) = trickle(&mut send).expect("sent");
    // Past the header timeout, long before the request's deadline.
    tokio::time::sleep(IDLE + Duration::from_millis(300)).await;
    let (_second_answer, _second) = trickle(&mut send).expect("sent");
    first.send_reset(h2::Reason::CANCEL);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The third is refused: the connection takes no new request.
    let third = match send.clone().ready().await {
        Err(e) => Err(e),
        Ok(mut ready) => match trickle(&mut ready) {
            Err(e) => Err(e),
            Ok((answer, _body)) => tokio::time::timeout(Duration::from_secs(2), answer)
                .await
                .expect("refused at once, not held")
                .map(|_| ()),
        },
    };
    assert!(third.is_err(), "a new request was taken after the give-up");
    tokio::time::timeout(DEADLINE + SLACK, connection)
        .await
        .expect("the connection closed after the request in flight had its deadline")
        .expect("task")
        .ok();
    https.app.shutdown().await;
}
