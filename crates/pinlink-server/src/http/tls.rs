//! HTTPS on pinlink's own port: `--tls-cert FILE --tls-key FILE` (PEM),
//! rustls, HTTP/1.1 and HTTP/2 (ALPN).
//!
//! The certificate is reloaded from the same files on SIGHUP (`startup.rs`)
//! without dropping a connection: connections made before keep the
//! certificate they were made with, new ones get the new one. A reload that
//! fails (a half-written file, a key that does not match) is logged and the
//! old certificate stays.
//!
//! A client speaking plain HTTP to the TLS port is answered in plain HTTP:
//! a 400 that says to use https, rather than a connection that hangs or
//! closes without a word ([`PLAIN_HTTP_ANSWER`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Where the certificate chain and its private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS side of the listener: the acceptor, and the certificate it
/// presents (replaced by [`Tls::reload`]).
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<CurrentCertificate>,
    files: TlsFiles,
}

/// What a plain-HTTP request on the TLS port gets back.
pub const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
Content-Length: 77\r\n\
\r\n\
This port speaks HTTPS: use https:// with the same host and port, not http://";

#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

impl Tls {
    /// Reads the files; a clear error naming the file when one is missing,
    /// empty, not PEM, or the key does not belong to the certificate.
    pub fn load(files: TlsFiles) -> Result<Tls, String> {
        let current = Arc::new(CurrentCertificate(RwLock::new(Arc::new(certified_key(
            &files,
        )?))));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .with_no_client_auth()
                .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            current,
            files,
        })
    }

    /// Reads the files again; new connections get what they hold now.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = certified_key(&self.files)?;
        *self.current.0.write() = Arc::new(fresh);
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// One connection's handshake, done within `timeout` from the start
    /// (its first byte and the whole handshake share the one deadline).
    /// Plain HTTP gets [`PLAIN_HTTP_ANSWER`]; `None` when there is nothing
    /// to serve (plain HTTP, a failed or silent handshake).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Option<TlsStream<TcpStream>> {
        /// Every TLS connection starts with a handshake record.
        const TLS_HANDSHAKE: u8 = 0x16;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut first = [0u8; 1];
        match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
            Ok(Ok(1)) => {
                answer_plain_http(stream, timeout).await;
                return None;
            }
            // Closed, broken or silent: nothing to answer.
            _ => return None,
        }
        match tokio::time::timeout_at(deadline, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether the client chose HTTP/2 (ALPN `h2`).
    pub(crate) fn chose_http2(stream: &TlsStream<TcpStream>) -> bool {
        stream.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

/// Reads the plain-HTTP request's head (so that closing does not reset the
/// connection before the client reads the answer), then says to use https.
async fn answer_plain_http(mut stream: TcpStream, timeout: Duration) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    let read_head = async {
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read_head).await;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
}

fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let cert_file = files.cert.display();
    let key_file = files.key.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("cannot read the certificate {cert_file}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate {cert_file} is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {cert_file}"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read a private key from {key_file}: {e}"))?;
    let signing = provider::sign::any_supported_type(&key)
        .map_err(|e| format!("the private key in {key_file} cannot be used: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!("the key in {key_file} does not belong to the certificate in {cert_file}: {e}")
    })?;
    Ok(certified)
}
