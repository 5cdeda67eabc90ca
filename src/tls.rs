//! mTLS on the gRPC listener, with certificate files reloaded on change.
//!
//! Each accepted connection takes the server configuration in force at that
//! moment, so a reload (a rotated certificate, a new client CA bundle) applies
//! to new connections without a restart and without touching open ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
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

/// The server configuration in force, reloaded when the files change.
#[derive(Debug)]
pub struct TlsReloader {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
    fingerprint: std::sync::Mutex<String>,
}

impl TlsReloader {
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let (config, fingerprint) = server_config(&files)?;
        Ok(Arc::new(Self {
            files,
            current: ArcSwap::from_pointee(config),
            fingerprint: std::sync::Mutex::new(fingerprint),
        }))
    }

    /// Rebuilds from the files if they changed; a broken set keeps the old one.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let (config, fingerprint) = server_config(&self.files)?;
        let mut last = self
            .fingerprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == fingerprint {
            return Ok(false);
        }
        *last = fingerprint;
        self.current.store(Arc::new(config));
        tracing::info!("TLS certificates reloaded");
        Ok(true)
    }

    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let this = Arc::clone(&self);
            if let Ok(Err(error)) = tokio::task::spawn_blocking(move || this.reload()).await {
                tracing::error!(%error, "TLS reload rejected; the previous certificates stay in force");
            }
        }
    }

    /// Runs the TLS handshake on each connection a gRPC thread is handed and
    /// yields those that succeed. Failed handshakes (no client certificate, a
    /// foreign CA) are dropped and logged at debug: they never reach a gRPC
    /// service. Call on the runtime that will serve the connections.
    pub fn incoming(
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
                let acceptor = TlsAcceptor::from(self.current.load_full());
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
