//! `chaperone serve`: one gRPC listener (ext_authz, ext_proc, health, admin
//! API) and one HTTP admin listener, with reload on SIGHUP and file change,
//! and a bounded drain on SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessorServer;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Connected;

use crate::admin::api::AdminService;
use crate::app::App;
use crate::authz::AuthzService;
use crate::clock::SystemClock;
use crate::config::bundle::TrustedKeys;
use crate::config::{BundleFrom, CompileContext, JwksRegistry, PolicyError, PolicyStore};
use crate::connection::{ConnectionAge, serve_connections};
use crate::edge::bundle::BundlePoller;
use crate::edge::jwks::HttpFetcher;
use crate::edge::reload::Reloads;
use crate::ext_proc::{ExtProcLimits, ExtProcService};
use crate::policy::Engine;
use crate::proto::v1::admin_server::AdminServer;
use crate::secret::HashKey;
use crate::telemetry::metrics;
use crate::tls::{Incoming, TlsFiles, TlsReloader};
use crate::token::KeyStore;

/// Largest CheckRequest accepted.
pub const MAX_CHECK_BYTES: usize = 1 << 20;
/// Largest ext_proc message accepted: a body as Envoy buffers it, plus
/// framing. Above the shipped configs' buffer limit (9 MiB) with room to
/// spare, so that what Envoy sends is read and judged (a body over a hop's
/// `max_bytes`, at most 8 MiB, is refused by the contract); a larger message
/// ends the stream with an error, which Envoy answers by refusing.
pub const MAX_PROCESS_BYTES: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub policy: Option<PathBuf>,
    pub hash_key_file: Option<PathBuf>,
    /// Directory of `<kid>.pem` signing keys and an `active-kid` file.
    pub signing_keys: Option<PathBuf>,
    pub drain_grace: Duration,
    /// After SIGTERM, how long to keep serving while reporting not ready.
    pub drain_delay: Duration,
    pub watch_interval: Duration,
    pub max_concurrent_streams: u32,
    /// When a gRPC connection is asked to go (GOAWAY), so that new replicas
    /// get their share of Envoy's connections.
    pub connection_age: ConnectionAge,
    /// Threads serving gRPC connections.
    pub grpc_threads: usize,
    /// mTLS on the gRPC listener.
    pub tls: Option<TlsFiles>,
    /// A plaintext listener serving only grpc.health.v1.
    pub health_addr: Option<SocketAddr>,
    /// OTLP trace export; off when `None`.
    pub trace: Option<crate::telemetry::trace::TraceSettings>,
    pub ext_proc: ExtProcLimits,
    /// Verified end-user tokens remembered, at most.
    pub token_cache_entries: usize,
    /// The policy from a signed bundle instead of `policy`.
    pub bundle: Option<BundleSettings>,
    /// The shared store budgets are counted in; in process when `None`.
    pub state: Option<crate::state::RedisSettings>,
    /// How long a failed store is left alone.
    pub state_retry_after: Duration,
}

/// Where signed policy bundles come from and the keys they must be signed with.
#[derive(Debug, Clone)]
pub struct BundleSettings {
    pub from: BundleFrom,
    /// A JWKS or PEM public keys file, read once at start.
    pub public_keys: PathBuf,
    /// How often a bundle URL is polled.
    pub poll_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("hash key file {path}: {reason}")]
    HashKey { path: String, reason: String },
    #[error("{0}")]
    Keys(#[from] crate::token::keyring::KeyRingError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("tracing: {0}")]
    Trace(#[from] crate::telemetry::trace::TraceError),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("{0}")]
    Bundle(String),
    #[error("gRPC server: {0}")]
    Grpc(String),
    #[error("{0}")]
    State(#[from] crate::state::SettingsError),
}

pub fn compile_context() -> Result<CompileContext, ServeError> {
    Ok(CompileContext {
        http: HttpFetcher::shared().map_err(|e| ServeError::Http(e.to_string()))?,
        jwks: Arc::new(JwksRegistry::default()),
        clock: Arc::new(SystemClock),
        hash_key: None,
        token_cache_entries: chaperone_core::identity::jwt::DEFAULT_CACHE_ENTRIES,
    })
}

/// The hashing key from a file (at least 32 bytes), or a random one with a warning.
pub fn hash_key(path: Option<&PathBuf>) -> Result<HashKey, ServeError> {
    match path {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| ServeError::HashKey {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            if bytes.len() < 32 {
                return Err(ServeError::HashKey {
                    path: p.display().to_string(),
                    reason: "must hold at least 32 bytes".into(),
                });
            }
            Ok(HashKey::from_bytes(&bytes))
        }
        None => {
            tracing::warn!(
                "no --hash-key-file: using a random key for this process; hashed principals will differ across replicas and restarts"
            );
            Ok(HashKey::ephemeral())
        }
    }
}

/// Runs until SIGTERM or SIGINT, then drains within the grace period.
pub async fn serve(settings: ServeSettings) -> Result<(), ServeError> {
    let built = build(&settings).await?;
    let mut running = spawn(built, &settings).await?;
    tokio::select! {
        () = wait_for_termination() => {}
        // gRPC serving ended without being asked to: exit (and be restarted)
        // rather than run on, ready but deaf.
        ended = &mut running.grpc => {
            let why = match ended {
                Ok(Ok(())) => "gRPC serving ended".to_owned(),
                Ok(Err(e)) => e,
                Err(e) => e.to_string(),
            };
            tracing::error!(error = %why, "gRPC serving stopped; exiting");
            return Err(ServeError::Grpc(why));
        }
    }
    drain(running, &settings).await
}

/// What serving runs on, loaded and bound: nothing serves yet.
struct Built {
    app: Arc<App>,
    reloads: Reloads,
    /// Polls the bundle URL, when the policy comes from one.
    poller: Option<BundlePoller>,
    tls: Option<Arc<TlsReloader>>,
    grpc: TcpListener,
    admin: TcpListener,
    health: Option<TcpListener>,
}

/// Loads the hash key, the policy, the signing keys and the TLS material,
/// and binds the listeners. Any error stops the process before it serves.
async fn build(settings: &ServeSettings) -> Result<Built, ServeError> {
    // The hashing key first: a policy's dictionaries of hashes must be
    // hashes under it, or they would match nothing.
    let key = hash_key(settings.hash_key_file.as_ref())?;
    let ctx = CompileContext {
        hash_key: Some(key.clone()),
        token_cache_entries: settings.token_cache_entries,
        ..compile_context()?
    };
    let (store, poller) = match &settings.bundle {
        None => (
            Arc::new(PolicyStore::open(settings.policy.clone(), ctx)?),
            None,
        ),
        Some(bundle) => open_bundle(bundle, ctx).await?,
    };
    metrics::publish_policy(&store.current());
    if settings.policy.is_none() && settings.bundle.is_none() {
        tracing::warn!(
            "no --policy given: running on the EMBEDDED DEMO POLICY, which only knows the demo's hosts; pass --policy in production"
        );
    }
    let keys = Arc::new(KeyStore::open(settings.signing_keys.clone())?);
    if keys.is_ephemeral() {
        tracing::warn!(
            "no --signing-keys: minting with an EPHEMERAL key that dies with this process; tokens will not verify across replicas or restarts"
        );
    }
    let tls = settings.tls.clone().map(crate::tls::load).transpose()?;
    let mut reloads = Reloads::default();
    let published = Arc::clone(&store);
    let publish: crate::edge::reload::Hook =
        Arc::new(move || metrics::publish_policy(&published.current()));
    reloads.add(Arc::clone(&store) as _, Some(Arc::clone(&publish)));
    let poller = poller.map(|(url, http, etag)| {
        BundlePoller::new(Arc::clone(&store), url, http, etag, Some(publish))
    });
    reloads.add(Arc::clone(&keys) as _, None);
    if let Some(tls) = &tls {
        reloads.add(Arc::clone(tls) as _, None);
    }
    let engine = Engine::with_keys(key, Arc::clone(&keys), Arc::new(SystemClock));
    let state = match &settings.state {
        Some(redis) => {
            let store = crate::state::RedisStore::new(redis)?;
            tracing::info!(store = ?store, timeout_ms = redis.timeout.as_millis() as u64, "budgets counted in a shared store");
            crate::state::State::redis(store, settings.state_retry_after)
        }
        None => crate::state::State::memory(),
    };
    let app = App::with_state(Arc::clone(&store), engine, reloads.clone(), state);
    if let Some(trace) = &settings.trace {
        crate::telemetry::trace::install(trace)?;
        tracing::info!(endpoint = %trace.endpoint, sample_ratio = trace.sample_ratio, "exporting traces over OTLP");
        if trace.logs {
            crate::telemetry::logs::install(trace)?;
            tracing::info!(endpoint = %trace.endpoint, "exporting decision events as OTLP logs");
        }
    }
    let bind = |what: &'static str, addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { what, addr, source })
    };
    let grpc = bind("gRPC", settings.grpc_addr).await?;
    let admin = bind("admin", settings.admin_addr).await?;
    let health = match settings.health_addr {
        Some(addr) => Some(bind("health", addr).await?),
        None => None,
    };
    Ok(Built {
        app,
        reloads,
        poller,
        tls,
        grpc,
        admin,
        health,
    })
}

/// The policy store over a signed bundle, verified and compiled; for a URL,
/// what its poller starts from. Any failure stops the process.
async fn open_bundle(
    bundle: &BundleSettings,
    ctx: CompileContext,
) -> Result<
    (
        Arc<PolicyStore>,
        Option<(String, HttpFetcher, Option<String>)>,
    ),
    ServeError,
> {
    let path = bundle.public_keys.display();
    let keys = std::fs::read(&bundle.public_keys)
        .map_err(|e| ServeError::Bundle(format!("bundle public keys {path}: {e}")))
        .and_then(|bytes| {
            TrustedKeys::parse(&bytes).map_err(|e| ServeError::Bundle(format!("{path}: {e}")))
        })?;
    let (first, poller) = match &bundle.from {
        BundleFrom::File(_) => (None, None),
        BundleFrom::Url(url) => {
            let http = HttpFetcher::new().map_err(|e| ServeError::Http(e.to_string()))?;
            let (body, etag) = crate::edge::bundle::first_fetch(&http, url)
                .await
                .map_err(|e| {
                    ServeError::Bundle(format!(
                        "bundle {}: fetch failed: {e}",
                        crate::config::shown_url(url)
                    ))
                })?;
            (Some(body), Some((url.clone(), http, etag)))
        }
    };
    let store = PolicyStore::open_bundle(bundle.from.clone(), keys, first, ctx)?;
    if let Some(b) = &store.current().bundle {
        tracing::info!(source = %store.current().source, signer = %b.signer, "policy loaded from a signed bundle");
    }
    Ok((Arc::new(store), poller))
}

/// What serves, and what stops it.
struct Running {
    app: Arc<App>,
    health: tonic_health::server::HealthReporter,
    stop: watch::Sender<bool>,
    grpc: tokio::task::JoinHandle<Result<(), String>>,
    admin: tokio::task::JoinHandle<Result<(), std::io::Error>>,
    /// Plaintext health, reloads on file change and on SIGHUP.
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts serving: the gRPC threads, the admin listener, the plaintext
/// health listener, and the reload watchers.
async fn spawn(built: Built, settings: &ServeSettings) -> Result<Running, ServeError> {
    let Built {
        app,
        reloads,
        poller,
        tls,
        grpc,
        admin,
        health: health_listener,
    } = built;
    let grpc_addr = grpc.local_addr().unwrap_or(settings.grpc_addr);
    let admin_addr = admin.local_addr().unwrap_or(settings.admin_addr);
    let policy = app.store.current();
    tracing::info!(grpc = %grpc_addr, admin = %admin_addr, tls = tls.is_some(), policy_version = %policy.version, hops = policy.hops.len(), "chaperone listening");

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in [
        "envoy.service.auth.v3.Authorization",
        "envoy.service.ext_proc.v3.ExternalProcessor",
        "chaperone.v1.Admin",
    ] {
        health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let wait_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let make_router = {
        let app = Arc::clone(&app);
        let health_service = health_service.clone();
        let limits = settings.ext_proc;
        let streams = settings.max_concurrent_streams;
        // One ExtProcService for every thread: its stream limit is global.
        let ext_proc = ExtProcService::new(Arc::clone(&app), limits);
        Arc::new(move || {
            grpc_server_builder(streams)
                .add_service(health_service.clone())
                .add_service(
                    AuthorizationServer::new(AuthzService::new(Arc::clone(&app)))
                        .max_decoding_message_size(MAX_CHECK_BYTES),
                )
                .add_service(
                    ExternalProcessorServer::new(ext_proc.clone())
                        .max_decoding_message_size(MAX_PROCESS_BYTES),
                )
                .add_service(AdminServer::new(AdminService::new(Arc::clone(&app))))
        })
    };
    let grpc_server = serve_grpc_threads(
        grpc,
        settings.grpc_threads,
        make_router,
        tls,
        stop_rx.clone(),
        settings.connection_age,
    )?;
    let mut background = Vec::new();
    // Plaintext grpc.health.v1 only, for kubelet probes that cannot do mTLS.
    if let Some(listener) = health_listener {
        let server = tonic::transport::Server::builder()
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                wait_stop(stop_rx.clone()),
            );
        background.push(tokio::spawn(async move {
            let _ = server.await;
        }));
    }
    let admin_server = axum::serve(admin, crate::admin::http::router(Arc::clone(&app)))
        .with_graceful_shutdown(wait_stop(stop_rx.clone()));
    app.set_grpc_bound();

    let grpc = tokio::spawn(grpc_server);
    let admin = tokio::spawn(async move { admin_server.await });
    background.push(tokio::spawn(reloads.clone().watch(settings.watch_interval)));
    background.push(tokio::spawn(reload_on_sighup(reloads)));
    // A store marked down is asked again each pause, traffic or not.
    let rechecks = Arc::clone(&app);
    background.push(tokio::spawn(async move {
        rechecks.state.keep_rechecking().await;
    }));
    if let (Some(poller), Some(bundle)) = (poller, &settings.bundle) {
        background.push(tokio::spawn(poller.run(bundle.poll_interval)));
    }
    Ok(Running {
        app,
        health,
        stop: stop_tx,
        grpc,
        admin,
        background,
    })
}

/// Drains: report not ready, keep serving while load balancers take this
/// replica out of rotation, then stop taking connections and let calls in
/// flight finish within the grace period.
async fn drain(running: Running, settings: &ServeSettings) -> Result<(), ServeError> {
    tracing::info!(grace = ?settings.drain_grace, "draining");
    running.app.set_draining();
    running
        .health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    tokio::time::sleep(settings.drain_delay).await;
    let _ = running.stop.send(true);
    for task in &running.background {
        task.abort();
    }
    let (grpc, admin) = (running.grpc, running.admin);
    let drained = tokio::time::timeout(settings.drain_grace, async {
        let g = grpc.await;
        let _ = admin.await;
        g
    })
    .await;
    crate::telemetry::trace::flush().await;
    crate::telemetry::logs::flush().await;
    match drained {
        Ok(Ok(Ok(()))) => tracing::info!("drained; exiting"),
        Ok(Ok(Err(e))) => return Err(ServeError::Grpc(e)),
        Ok(Err(e)) => return Err(ServeError::Grpc(e.to_string())),
        Err(_) => tracing::warn!("grace period over with calls still in flight; exiting"),
    }
    Ok(())
}

/// chaperone's gRPC server settings (also the do-nothing benchmark server's).
pub fn grpc_server_builder(max_concurrent_streams: u32) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .max_concurrent_streams(max_concurrent_streams)
        // When many clients go at once, Envoy resets their streams, some
        // before chaperone has accepted them; past h2's default of 20 such
        // resets the whole connection goes (GOAWAY), and with it every other
        // client's request on it. As many as may be open: a rapid-reset
        // flood stays bounded by the stream limit.
        .http2_max_pending_accept_reset_streams(Some(max_concurrent_streams as usize))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
}

/// gRPC threads: `requested` when it is set and not 0, else one per CPU
/// (the cgroup's CPU limit in a container).
pub fn grpc_threads(requested: Option<usize>) -> usize {
    requested.filter(|n| *n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// Builds the gRPC services for one serving thread.
pub type MakeRouter = Arc<dyn Fn() -> tonic::transport::server::Router + Send + Sync>;

/// Serves gRPC on `threads` threads, each with a runtime of its own. The
/// listener's connections are handed out in turn, and every stream of a
/// connection runs on the thread that owns it: no cross-thread wake-ups or
/// lock contention per call (Envoy keeps one HTTP/2 connection per worker, so
/// Envoy's workers spread over these threads). Each runtime is tokio's
/// multi-threaded one with a single worker rather than the current-thread
/// one, which reached 80.3% of the do-nothing server's throughput against
/// 93.2% under load (BENCHMARKS.md): it
/// batches more, most likely because it has no LIFO slot and so writes an
/// answer only after the other ready calls have run. With `tls`, each thread runs its
/// connections' handshakes. Each connection is asked to go at its `age`
/// (`connection`). The future ends when every thread has drained after `stop`.
pub fn serve_grpc_threads(
    listener: TcpListener,
    threads: usize,
    make_router: MakeRouter,
    tls: Option<Arc<TlsReloader>>,
    stop: watch::Receiver<bool>,
    age: ConnectionAge,
) -> Result<impl std::future::Future<Output = Result<(), String>> + Send + 'static, ServeError> {
    let threads = threads.max(1);
    let mut inboxes = Vec::with_capacity(threads);
    let mut done = Vec::with_capacity(threads);
    for i in 0..threads {
        // A few connections may wait for a busy thread; then accepting waits.
        let (tx, rx) = mpsc::channel::<std::net::TcpStream>(16);
        let (done_tx, done_rx) = oneshot::channel::<Result<(), String>>();
        let make_router = Arc::clone(&make_router);
        let tls = tls.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("chaperone-grpc-{i}"))
            .spawn(move || {
                let result = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Err(e) => Err(format!("gRPC thread runtime: {e}")),
                    Ok(rt) => rt.block_on(async move {
                        let router = make_router();
                        match tls {
                            Some(reloader) => {
                                let tls = reloader.incoming(rx).map(|c| c.map(OneWrite::new));
                                serve_connections(router, tls, stop, age).await;
                            }
                            None => {
                                let plain = futures_util::stream::unfold(rx, |mut rx| async move {
                                    let conn = rx.recv().await?;
                                    let tcp = tokio::net::TcpStream::from_std(conn);
                                    Some((tcp.map(OneWrite::new), rx))
                                });
                                serve_connections(router, plain, stop, age).await;
                            }
                        }
                        Ok(())
                    }),
                };
                let _ = done_tx.send(result);
            })
            .map_err(|e| ServeError::Grpc(format!("cannot start a gRPC thread: {e}")))?;
        inboxes.push(tx);
        done.push(done_rx);
    }
    tokio::spawn(hand_out(listener, inboxes, stop));
    // Ends at the first thread that fails (or dies), else when all have drained.
    Ok(async move {
        futures_util::future::try_join_all(done.into_iter().map(|d| async move {
            d.await
                .map_err(|_| "a gRPC thread stopped unexpectedly".to_owned())?
        }))
        .await
        .map(|_| ())
    })
}

/// The most a gRPC connection gathers before it writes.
const GATHER_BYTES: usize = 64 * 1024;

/// A gRPC connection that sends what h2 flushes at once in one write. h2
/// hands a frame's head and a large DATA payload over separately (or as one
/// vectored write), and flushes after each batch of frames: without this, a
/// Check's answer with its minted token (about 850 bytes) left in two writes,
/// its trailers apart, and Envoy read and woke twice for it. Writes gather
/// here and go out when h2 flushes, or when `GATHER_BYTES` are waiting. The
/// connection reports no vectored writes, so h2 also copies frames under
/// 1 KiB into its own buffer rather than handing them over one by one.
struct OneWrite<T> {
    io: T,
    out: Vec<u8>,
}

impl<T> OneWrite<T> {
    fn new(io: T) -> Self {
        Self {
            io,
            out: Vec::new(),
        }
    }
}

impl<T: AsyncWrite + Unpin> OneWrite<T> {
    /// Writes out everything gathered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.out.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for OneWrite<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for OneWrite<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() + buf.len() > GATHER_BYTES {
            std::task::ready!(this.poll_drain(cx))?;
            if buf.len() >= GATHER_BYTES {
                return Pin::new(&mut this.io).poll_write(cx, buf);
            }
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<T: Connected> Connected for OneWrite<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Accepts gRPC connections and hands them to the serving threads in turn.
async fn hand_out(
    listener: TcpListener,
    mut inboxes: Vec<mpsc::Sender<std::net::TcpStream>>,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let mut next = 0usize;
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        // Small gRPC frames must not wait for Nagle's algorithm and delayed
        // ACKs, which hold answers back by tens of milliseconds.
        let _ = tcp.set_nodelay(true);
        let Ok(mut conn) = tcp.into_std() else {
            continue;
        };
        // The next thread with room takes it; when all are busy, wait for the
        // next one. A thread that has stopped is dropped from the round.
        let mut untried = inboxes.len();
        loop {
            if inboxes.is_empty() {
                tracing::error!("every gRPC thread has stopped; no longer accepting");
                return;
            }
            let i = next % inboxes.len();
            next = next.wrapping_add(1);
            match inboxes[i].try_send(conn) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Closed(c)) => {
                    inboxes.swap_remove(i);
                    conn = c;
                }
                Err(mpsc::error::TrySendError::Full(c)) if untried > 1 => {
                    untried -= 1;
                    conn = c;
                }
                Err(mpsc::error::TrySendError::Full(c)) => {
                    if inboxes[i].send(c).await.is_err() {
                        inboxes.swap_remove(i);
                    }
                    break;
                }
            }
        }
    }
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUP reloads the policy, the signing keys and the TLS material.
async fn reload_on_sighup(reloads: Reloads) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let _ = reloads.all("sighup").await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloads;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::task::noop_waker_ref;

    /// A socket that records every write it takes: at most `max` bytes a
    /// call, and with `stall`, every other call answered Pending.
    #[derive(Default)]
    struct Socket {
        writes: Vec<Vec<u8>>,
        max: usize,
        stall: bool,
        stalled: bool,
        flushes: usize,
        shut: bool,
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.stall {
                self.stalled = !self.stalled;
                if self.stalled {
                    return Poll::Pending;
                }
            }
            let n = buf.len().min(self.max);
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    /// Polls until ready, as a runtime would on each wake-up.
    fn until_ready<R>(mut f: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
        let mut cx = Context::from_waker(noop_waker_ref());
        loop {
            if let Poll::Ready(r) = f(&mut cx) {
                return r;
            }
        }
    }

    fn write(c: &mut OneWrite<Socket>, data: &[u8]) {
        let n = until_ready(|cx| Pin::new(&mut *c).poll_write(cx, data)).unwrap();
        assert_eq!(n, data.len());
    }

    #[test]
    fn what_h2_flushes_at_once_leaves_in_one_write() {
        let mut c = OneWrite::new(Socket {
            max: usize::MAX,
            ..Socket::default()
        });
        for part in [&b"head"[..], b"payload", b"trailers"] {
            write(&mut c, part);
        }
        assert!(
            c.io.writes.is_empty(),
            "nothing is written before the flush"
        );
        until_ready(|cx| Pin::new(&mut c).poll_flush(cx)).unwrap();
        assert_eq!(c.io.writes, vec![b"headpayloadtrailers".to_vec()]);
        assert_eq!(c.io.flushes, 1);
    }

    #[test]
    fn short_and_stalled_writes_keep_every_byte_in_order() {
        let mut c = OneWrite::new(Socket {
            max: 3,
            stall: true,
            ..Socket::default()
        });
        write(&mut c, b"abcdefg");
        write(&mut c, b"hij");
        until_ready(|cx| Pin::new(&mut c).poll_flush(cx)).unwrap();
        write(&mut c, b"klm");
        until_ready(|cx| Pin::new(&mut c).poll_shutdown(cx)).unwrap();
        assert_eq!(c.io.writes.concat(), b"abcdefghijklm");
        assert!(c.io.writes.iter().all(|w| w.len() <= 3));
        assert!(
            c.io.shut && c.out.is_empty(),
            "shutdown writes what was left"
        );
    }

    #[test]
    fn gathering_is_bounded() {
        let mut c = OneWrite::new(Socket {
            max: usize::MAX,
            ..Socket::default()
        });
        write(&mut c, &vec![1; GATHER_BYTES - 1]);
        assert!(c.io.writes.is_empty());
        // No room: what was gathered goes first.
        write(&mut c, &[2, 2]);
        assert_eq!(c.io.writes.len(), 1);
        assert_eq!(c.io.writes[0].len(), GATHER_BYTES - 1);
        // Too large to gather: straight through, after what was waiting.
        write(&mut c, &vec![3; GATHER_BYTES]);
        let sizes: Vec<usize> = c.io.writes.iter().map(Vec::len).collect();
        assert_eq!(sizes, [GATHER_BYTES - 1, 2, GATHER_BYTES]);
        assert!(c.out.is_empty());
    }
}
