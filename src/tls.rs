//! mTLS on the gRPC listener, with certificate files reloaded on change
//! (polled, SIGHUP, the admin Reload: see `edge::reload`).
//!
//! Each accepted connection takes the server configuration in force at that
//! moment, so a reload (a rotated certificate, a new client CA bundle) applies
//! to new connections without a restart and without touching open ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chaperone_core::clock::SystemClock;
use chaperone_core::reload::{Reloadable, Source};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::secret::sha256_hex;

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at most; past it, new connections wait to be accepted.
const MAX_HANDSHAKES: usize = 256;

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate this CA bundle verifies.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the files and builds a server configuration (HTTP/2 only).
pub fn server_config(files: &TlsFiles) -> Result<(ServerConfig, String), TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut fingerprint = String::new();
    let read = |p: &Path, fp: &mut String| -> Result<Vec<u8>, TlsError> {
        let bytes = std::fs::read(p).map_err(|e| file_err(p, e))?;
        fp.push_str(&sha256_hex(&bytes));
        Ok(bytes)
    };
    let cert_pem = read(&files.cert, &mut fingerprint)?;
    let key_pem = read(&files.key, &mut fingerprint)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&files.cert, e))?;
    if certs.is_empty() {
        return Err(file_err(&files.cert, "no certificate in it"));
    }
    // The key file's contents never reach an error message.
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| file_err(&files.key, "not a PEM private key"))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let ca_pem = read(ca, &mut fingerprint)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                roots
                    .add(cert.map_err(|e| file_err(ca, e))?)
                    .map_err(|e| file_err(ca, e))?;
            }
            if roots.is_empty() {
                return Err(file_err(ca, "no CA certificate in it"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((config, fingerprint))
}

/// The TLS files, as a reloadable source of server configurations.
#[derive(Debug)]
pub struct TlsSource(TlsFiles);

impl Source for TlsSource {
    type Value = ServerConfig;
    type Error = TlsError;
    const WHAT: &'static str = "TLS certificates";
    const LABEL: &'static str = "tls";
    const REJECTED: &'static str = "TLS reload rejected; the previous certificates stay in force";

    fn load(&self) -> Result<(ServerConfig, String), TlsError> {
        server_config(&self.0)
    }

    fn fingerprint(&self, _current: &ServerConfig) -> String {
        let files = &self.0;
        let mut fingerprint = String::new();
        for p in [
            Some(&files.cert),
            Some(&files.key),
            files.client_ca.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            match std::fs::read(p) {
                Ok(bytes) => fingerprint.push_str(&sha256_hex(&bytes)),
                Err(_) => fingerprint.push_str("unreadable"),
            }
        }
        fingerprint
    }

    fn installed(&self, _config: &ServerConfig, trigger: Option<&'static str>) {
        if let Some(trigger) = trigger {
            tracing::info!(trigger, "TLS certificates reloaded");
        }
    }
}

/// The server configuration in force, reloaded when the files change. Each
/// accepted connection takes the one in force at that moment.
pub type TlsReloader = Reloadable<TlsSource>;

/// Loads the TLS files; an error stops the process.
pub fn load(files: TlsFiles) -> Result<Arc<TlsReloader>, TlsError> {
    Reloadable::load(TlsSource(files), Arc::new(SystemClock)).map(Arc::new)
}

/// The TLS handshakes of a gRPC thread's connections.
pub trait Incoming {
    /// Runs the TLS handshake on each connection a gRPC thread is handed and
    /// yields those that succeed. Failed handshakes (no client certificate, a
    /// foreign CA) are dropped and logged at debug: they never reach a gRPC
    /// service. Call on the runtime that will serve the connections.
    fn incoming(
        self: Arc<Self>,
        conns: mpsc::Receiver<std::net::TcpStream>,
    ) -> impl futures_util::Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> + Send + 'static;
}

impl Incoming for TlsReloader {
    fn incoming(
        self: Arc<Self>,
        mut conns: mpsc::Receiver<std::net::TcpStream>,
    ) -> impl futures_util::Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> + Send + 'static
    {
        let (tx, rx) = mpsc::channel::<TlsStream<TcpStream>>(64);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                // At the limit, stop taking connections: the acceptor then waits.
                let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
                    return;
                };
                let Some(conn) = conns.recv().await else {
                    return;
                };
                let Ok(tcp) = TcpStream::from_std(conn) else {
                    continue;
                };
                let peer = tcp.peer_addr().ok();
                let acceptor = TlsAcceptor::from(self.current());
                let out = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = out.send(stream).await;
                        }
                        Ok(Err(error)) => tracing::debug!(?peer, %error, "TLS handshake refused"),
                        Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|s| (Ok(s), rx)) },
        )
    }
}
