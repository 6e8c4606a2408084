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

use parking_lot::RwLock;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

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
    pub acceptor: tokio_rustls::TlsAcceptor,
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
