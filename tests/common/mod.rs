//! End-to-end harness: starts chaperone (the real binary), a real Envoy and
//! in-process test upstreams on 127.0.0.1 with ports picked at runtime, waits
//! for each to be ready by polling, and stops every process it started.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod otlp;
pub mod pki;
pub mod raw;
pub mod redis;
#[path = "../../examples/demo-upstream/server.rs"]
pub mod server;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chaperone::token::{KeyKind, SigningKey};
#[allow(unused_imports)]
pub use server::{Recorded, Role, Server};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chaperone-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("CHAPERONE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// How long a test waits for something to come true (a process to be
/// ready, a reload, a log line, an export), and how often it looks. Every
/// wait in the suite has this patience: it bounds a failing test, and a
/// passing one waits only as long as it must.
pub const PATIENCE: Duration = Duration::from_secs(30);
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Asserts that `$cond` (a `bool` expression, which may `.await` and may
/// `return` from the enclosing function) comes true: evaluated at once,
/// then every [`POLL_INTERVAL`], and the test fails with the message when it
/// is still false after [`PATIENCE`]. The message is formatted only then.
///
/// ```ignore
/// assert_eventually!(status(&ch).await.policy_version == "v2", "policy v2 loaded");
/// ```
#[macro_export]
macro_rules! assert_eventually {
    ($cond:expr, $($msg:tt)+) => {{
        let started = ::std::time::Instant::now();
        while !$cond {
            if started.elapsed() >= $crate::common::PATIENCE {
                panic!(
                    "not within {:?}: {}",
                    $crate::common::PATIENCE,
                    format_args!($($msg)+)
                );
            }
            ::tokio::time::sleep($crate::common::POLL_INTERVAL).await;
        }
    }};
}

/// The decision events (`chaperone::decision`) in a chaperone log.
pub fn decision_events(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "chaperone::decision")
        .collect()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Whether a GET of `url` answers 2xx.
pub async fn get_ok(url: &str) -> bool {
    matches!(http().get(url).send().await, Ok(r) if r.status().is_success())
}

/// What every test server runs with, unless the test's own arguments name
/// the flag (a flag given twice is an error to `chaperone serve`).
const SERVE_DEFAULTS: &[(&str, &str)] = &[
    ("--log-format", "json"),
    ("--drain-grace", "5s"),
    ("--watch-interval", "200ms"),
];

/// A running `chaperone serve`: the one way tests start the server. Its
/// stderr (the log) goes to `chaperone.log` in its directory; it is killed
/// when dropped.
pub struct Chaperone {
    child: Option<Child>,
    pub grpc_port: u16,
    pub admin_port: u16,
    pub dir: TempDir,
    pub policy_path: PathBuf,
    /// Whether `--policy policy_path` is passed (not when the policy comes
    /// from a bundle).
    with_policy: bool,
}

impl Chaperone {
    pub async fn start(policy: &str) -> Self {
        Self::start_with(policy, &[]).await
    }

    /// Starts chaperone on `policy` with `extra` arguments after the
    /// defaults; an argument in `extra` that names a default flag replaces it.
    pub async fn start_with(policy: &str, extra: &[&str]) -> Self {
        Self::launch(Some(policy), None, extra).await
    }

    /// As [`Self::start_with`], with gRPC on `grpc_port` (one a test has
    /// already told Envoy about).
    pub async fn start_on(policy: &str, grpc_port: u16, extra: &[&str]) -> Self {
        Self::launch(Some(policy), Some(grpc_port), extra).await
    }

    /// Starts chaperone with `extra` and no `--policy` (a bundle names it).
    pub async fn start_without_policy(extra: &[&str]) -> Self {
        Self::launch(None, None, extra).await
    }

    async fn launch(policy: Option<&str>, grpc_port: Option<u16>, extra: &[&str]) -> Self {
        let dir = TempDir::new("chaperone");
        let policy_path = dir.path("policy.yaml");
        if let Some(policy) = policy {
            std::fs::write(&policy_path, policy).unwrap();
        }
        let mut c = Self {
            child: None,
            grpc_port: grpc_port.unwrap_or_else(free_port),
            admin_port: free_port(),
            dir,
            policy_path,
            with_policy: policy.is_some(),
        };
        // A port found free can be taken by a test running alongside before
        // chaperone binds it: then try again on fresh ports.
        for _ in 0..3 {
            match c.try_spawn(extra).await {
                Err(log) if log.contains("Address already in use") => {
                    c.grpc_port = grpc_port.unwrap_or_else(free_port);
                    c.admin_port = free_port();
                }
                Err(log) => panic!("chaperone exited; log:\n{log}"),
                Ok(()) => return c,
            }
        }
        panic!("chaperone found no free ports; log:\n{}", c.log());
    }

    /// Starts chaperone and waits until it is ready; its log if it exits first.
    async fn try_spawn(&mut self, extra: &[&str]) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path("chaperone.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaperone"));
        cmd.arg("serve");
        for (flag, value) in SERVE_DEFAULTS {
            let named = extra
                .iter()
                .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')));
            if !named {
                cmd.args([flag, value]);
            }
        }
        if self.with_policy {
            cmd.arg("--policy").arg(&self.policy_path);
        }
        let child = cmd
            .arg("--grpc-addr")
            .arg(format!("127.0.0.1:{}", self.grpc_port))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let url = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        assert_eventually!(
            {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    self.child = None;
                    return Err(format!("exit {status}\n{}", self.log()));
                }
                get_ok(&url).await
            },
            "chaperone ready; log:\n{}",
            self.log()
        );
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("chaperone.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Sends a signal and waits for the process to exit (bounded).
    pub fn signal_and_wait(
        &mut self,
        signal: &str,
        limit: Duration,
    ) -> Option<std::process::ExitStatus> {
        self.signal(signal);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn metrics(&self) -> String {
        http()
            .get(format!("http://127.0.0.1:{}/metrics", self.admin_port))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Chaperone {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a one-shot `chaperone` command (`check`, `explain`, `scrub`,
/// `hash-values`, ...) to its end with `stdin` as its input, and returns
/// its exit status and what it printed.
pub fn chaperone_cli<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>, stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written beside the reads of its output, so a command that prints
    // while it reads never waits on a full pipe; a command that exits
    // without reading its input only ends the write early.
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub fn envoy_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CHAPERONE_ENVOY") {
        return PathBuf::from(p);
    }
    let p = Path::new(ROOT).join(".tools/bin/envoy");
    assert!(
        p.exists(),
        "Envoy is not installed: run `bash .ci/tools.sh` (the test command does)"
    );
    p
}

/// Fills `${NAME}` placeholders of an Envoy config from `vars`; an unfilled
/// placeholder is a test bug.
pub fn render(template: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    let unfilled: Vec<&str> = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("${"))
        .collect();
    assert!(unfilled.is_empty(), "unfilled placeholders: {unfilled:?}");
    out
}

/// A running Envoy.
pub struct Envoy {
    child: Option<Child>,
    pub admin_port: u16,
    pub ports: HashMap<&'static str, u16>,
    pub dir: TempDir,
}

impl Envoy {
    /// Starts Envoy on `envoy/<config>` with `vars` plus fresh ports for
    /// each name in `listeners` (and ENVOY_ADMIN_PORT).
    pub async fn start(
        config: &str,
        listeners: &[&'static str],
        vars: HashMap<&str, String>,
    ) -> Self {
        Self::start_patched(config, listeners, vars, str::to_owned).await
    }

    /// As [`Self::start`], with `patch` applied to the config's text (it must
    /// change it).
    pub async fn start_patched(
        config: &str,
        listeners: &[&'static str],
        mut vars: HashMap<&str, String>,
        patch: impl FnOnce(&str) -> String,
    ) -> Self {
        let template = std::fs::read_to_string(Path::new(ROOT).join("envoy").join(config)).unwrap();
        let patched = patch(&template);
        let template = patched;
        let admin_port = free_port();
        vars.insert("ENVOY_ADMIN_PORT", admin_port.to_string());
        let dir = TempDir::new("envoy");
        vars.insert(
            "ENVOY_ACCESS_LOG",
            dir.path("access.log").to_string_lossy().into_owned(),
        );
        let mut ports = HashMap::new();
        for name in listeners {
            let p = free_port();
            vars.insert(name, p.to_string());
            ports.insert(*name, p);
        }
        let cfg = dir.path("envoy.yaml");
        std::fs::write(&cfg, render(&template, &vars)).unwrap();
        let log = std::fs::File::create(dir.path("envoy.log")).unwrap();
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(&cfg)
            .args([
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--concurrency",
                "1",
                // Access log lines reach the file promptly, for the sweeps.
                "--file-flush-interval-msec",
                "50",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut e = Self {
            child: Some(child),
            admin_port,
            ports,
            dir,
        };
        let url = format!("http://127.0.0.1:{admin_port}/ready");
        assert_eventually!(
            {
                if let Some(status) = e.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!("envoy exited with {status}; log:\n{}", e.log());
                }
                get_ok(&url).await
            },
            "envoy ready; log:\n{}",
            e.log()
        );
        e
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("envoy.log")).unwrap_or_default()
    }

    /// Envoy's access log (configs that write one), as written so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path("access.log")).unwrap_or_default()
    }

    pub fn url(&self, listener: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[listener])
    }

    /// One of Envoy's counters, as its admin `/stats` shows it now (0 before
    /// it is first counted).
    pub async fn counter(&self, name: &str) -> u64 {
        let url = format!("http://127.0.0.1:{}/stats?filter={name}", self.admin_port);
        let text = http().get(url).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ")?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A test identity provider: a signing key whose JWKS is served over HTTP.
pub struct Idp {
    pub key: Arc<SigningKey>,
    pub server: Option<Server>,
    pub port: u16,
}

pub const ISSUER: &str = "https://idp.test.local";
pub const AUDIENCE: &str = "shop-api";

impl Idp {
    pub async fn start() -> Self {
        let key = Arc::new(SigningKey::generate(KeyKind::Es256, "idp-key-1").unwrap());
        let server = Server::start(local(0), Role::Idp(Arc::clone(&key)))
            .await
            .unwrap();
        let port = server.port();
        Self {
            key,
            server: Some(server),
            port,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://127.0.0.1:{}/.well-known/jwks.json", self.port)
    }

    /// Stops serving the JWKS; the port then refuses connections.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// A valid token for `sub` with `scope`, plus any claim overrides.
    pub fn token(&self, sub: &str, scope: &str, overrides: serde_json::Value) -> String {
        let now = chaperone::clock::Clock::now_unix(&chaperone::clock::SystemClock);
        let mut claims = serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
            "iat": now, "exp": now + 300,
        });
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        self.key.sign("JWT", &claims).unwrap()
    }
}

/// A recording upstream and an edge Envoy (`envoy/edge.yaml`) in front of it,
/// with `chaperone` as its ext_authz and ext_proc.
/// The edge config the suite runs against: `envoy/edge.yaml` (ext_authz +
/// ext_proc), or with `CHAPERONE_EDGE=ext_proc` `envoy/edge-ext-proc.yaml`
/// (ext_proc only, one stream per request). `.ci/test.sh` runs the end-to-end
/// suite both ways.
pub fn edge_config() -> &'static str {
    match std::env::var("CHAPERONE_EDGE").as_deref() {
        Ok("ext_proc") => "edge-ext-proc.yaml",
        _ => "edge.yaml",
    }
}

/// The mTLS mesh config the suite runs against, as [`edge_config`] chooses:
/// `envoy/mesh-mtls.yaml`, or `envoy/mesh-mtls-ext-proc.yaml`.
pub fn mesh_config() -> &'static str {
    if ext_proc_only() {
        "mesh-mtls-ext-proc.yaml"
    } else {
        "mesh-mtls.yaml"
    }
}

/// Whether the suite runs against the ext_proc-only edge.
pub fn ext_proc_only() -> bool {
    edge_config() == "edge-ext-proc.yaml"
}

/// Whether a decision event is the request's authorization (not one of a
/// phase that ext_proc judged): ext_authz's, or ext_proc's when it authorizes.
pub fn is_authorization(e: &serde_json::Value) -> bool {
    let via = if ext_proc_only() {
        "ext_proc"
    } else {
        "ext_authz"
    };
    e["via"] == via && e.get("phase").is_none()
}

pub async fn edge(chaperone: &Chaperone) -> (Server, Envoy) {
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let envoy = Envoy::start(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        edge_vars(chaperone, &upstream),
    )
    .await;
    (upstream, envoy)
}

/// The chaperone cluster and upstream variables for `envoy/edge.yaml`.
pub fn edge_vars(chaperone: &Chaperone, upstream: &Server) -> HashMap<&'static str, String> {
    HashMap::from([
        ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
        ("UPSTREAM_PORT", upstream.port().to_string()),
    ])
}
