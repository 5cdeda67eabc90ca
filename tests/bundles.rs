//! Signed policy bundles end to end: `chaperone bundle build | sign |
//! verify`, and `chaperone serve` on a bundle from a file and from a real
//! HTTP source on 127.0.0.1 that answers with ETags, fails, hangs and goes
//! away. A bundle that is not signed by a trusted key, or whose bytes
//! changed after signing, never replaces the policy in force.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use http_body_util::Full;
use hyper::body::Bytes;
use tonic::transport::Channel;

use chaperone::proto::v1::StatusRequest;
use chaperone::proto::v1::admin_client::AdminClient;
use chaperone::token::{KeyKind, SigningKey, jwks_document};

/// Hop `a` in every version; hop `b` only from `v2`. The policy reads a
/// JWKS file and a dictionary, which travel in the bundle.
fn write_policy(dir: &Path, version: &str, with_b: bool) -> PathBuf {
    let idp = SigningKey::generate(KeyKind::Es256, "idp").unwrap();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/idp.json"), jwks_document([&idp]).to_string()).unwrap();
    std::fs::write(dir.join("vip.txt"), "Ada Lovelace\n").unwrap();
    let b = if with_b {
        "\n  - name: b\n    match: { host: \"*\", method: GET, path: /b }\n    from: [ { anonymous: true } ]"
    } else {
        ""
    };
    let yaml = format!(
        r#"version: "{version}"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: https://idp.shop.test
    audiences: [api]
    algorithms: [ES256]
    jwks: {{ file: keys/idp.json }}
data_classes:
  vip: {{ dictionary: vip.txt, action: redact }}
hops:
  - name: a
    match: {{ host: "*", method: GET, path: /a }}
    from: [ {{ anonymous: true }} ]{b}
"#
    );
    let path = dir.join("policy.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn cli_ok(args: &[&OsArg<'_>]) -> String {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| (*a).as_ref()).collect();
    let out = chaperone_cli(&args, b"");
    assert!(
        out.status.success(),
        "chaperone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

type OsArg<'a> = dyn AsRef<std::ffi::OsStr> + 'a;

/// What a test works with: a signer, a stranger, the trusted JWKS, and
/// bundles of two policy versions, built and signed by the CLI.
struct Kit {
    dir: TempDir,
    public_keys: PathBuf,
    signer_pem: PathBuf,
    stranger_pem: PathBuf,
}

impl Kit {
    fn new() -> Self {
        let dir = TempDir::new("bundles");
        let signer_pem = dir.path("release-1.pem");
        let stranger_pem = dir.path("stranger.pem");
        for pem in [&signer_pem, &stranger_pem] {
            cli_ok(&[&"keys", &"generate", &"--out", pem]);
        }
        let jwks = cli_ok(&[&"keys", &"jwks", &signer_pem]);
        let public_keys = dir.path("trusted.jwks.json");
        std::fs::write(&public_keys, jwks).unwrap();
        Self {
            dir,
            public_keys,
            signer_pem,
            stranger_pem,
        }
    }

    /// An unsigned bundle of policy `version`.
    fn unsigned(&self, version: &str, with_b: bool) -> Vec<u8> {
        let src = self.dir.path(&format!("src-{version}"));
        std::fs::create_dir_all(&src).unwrap();
        let policy = write_policy(&src, version, with_b);
        let out = self.dir.path(&format!("{version}.bundle"));
        let said = cli_ok(&[&"bundle", &"build", &policy, &"--out", &out]);
        assert!(said.contains("unsigned"), "{said}");
        std::fs::read(out).unwrap()
    }

    fn sign_with(&self, bundle: &[u8], key: &Path) -> Vec<u8> {
        let path = self.dir.path("to-sign.bundle");
        std::fs::write(&path, bundle).unwrap();
        let said = cli_ok(&[&"bundle", &"sign", &path, &"--key", &key]);
        assert!(said.contains("kid"), "{said}");
        std::fs::read(path).unwrap()
    }

    fn signed(&self, version: &str, with_b: bool) -> Vec<u8> {
        self.sign_with(&self.unsigned(version, with_b), &self.signer_pem)
    }

    /// `chaperone bundle verify`: Ok(report) or Err(stderr).
    fn verify(&self, bundle: &[u8]) -> Result<String, String> {
        let path = self.dir.path("to-verify.bundle");
        std::fs::write(&path, bundle).unwrap();
        let out = chaperone_cli(
            [
                "bundle".as_ref(),
                "verify".as_ref(),
                path.as_os_str(),
                "--public-keys".as_ref(),
                self.public_keys.as_os_str(),
            ],
            b"",
        );
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8(out.stderr).unwrap())
        }
    }
}

/// Flips one bit of the first occurrence of `needle` after `from`.
fn flip_after(bundle: &[u8], from: usize, needle: &[u8]) -> Vec<u8> {
    let at = from
        + bundle[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{:?} not in the bundle", String::from_utf8_lossy(needle)));
    let mut out = bundle.to_vec();
    out[at] ^= 1;
    out
}

/// Where the manifest ends: the files follow.
fn payload_start(bundle: &[u8]) -> usize {
    let magic = b"chaperone-bundle/1\n".len();
    let sig = u32::from_be_bytes(bundle[magic..magic + 4].try_into().unwrap()) as usize;
    let m = magic + 4 + sig;
    let manifest = u32::from_be_bytes(bundle[m..m + 4].try_into().unwrap()) as usize;
    m + 4 + manifest
}

/// Every way a bundle can be wrong, each with the words its refusal says.
fn bad_bundles(kit: &Kit) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let unsigned = kit.unsigned("v9", true);
    let signed = kit.sign_with(&unsigned, &kit.signer_pem);
    let files_at = payload_start(&signed);
    let sig_at = b"chaperone-bundle/1\n".len() + 4;
    let mut bad_sig = signed.clone();
    // The signature's last character: a different signature value.
    let sig_len = u32::from_be_bytes(signed[sig_at - 4..sig_at].try_into().unwrap()) as usize;
    let last = sig_at + sig_len - 2;
    bad_sig[last] = if bad_sig[last] == b'A' { b'B' } else { b'A' };
    vec![
        ("unsigned", unsigned.clone(), "not signed"),
        (
            "signed by another key",
            kit.sign_with(&unsigned, &kit.stranger_pem),
            "does not verify with any trusted key",
        ),
        (
            "a file changed after signing",
            flip_after(&signed, files_at, b"Ada Lovelace"),
            "does not match its hash",
        ),
        (
            "the policy changed after signing",
            flip_after(&signed, files_at, b"name: b"),
            "does not match its hash",
        ),
        (
            "the manifest changed after signing",
            flip_after(&signed, sig_at + sig_len, b"\"v9\""),
            "the manifest is not the one signed",
        ),
        (
            "the signature changed",
            bad_sig,
            "does not verify with any trusted key",
        ),
    ]
}

#[test]
fn the_cli_builds_signs_and_refuses_every_bundle_not_as_signed() {
    let kit = Kit::new();
    let good = kit.signed("v1", false);
    let report = kit.verify(&good).unwrap();
    assert!(report.contains("signed by kid release-1"), "{report}");
    assert!(report.contains("version v1"), "{report}");
    for name in ["policy.yaml", "keys/idp.json", "vip.txt"] {
        assert!(report.contains(name), "{name} packed: {report}");
    }
    for (what, bundle, says) in bad_bundles(&kit) {
        let err = kit.verify(&bundle).expect_err(what);
        assert!(err.contains(says), "{what}: {err}");
        assert!(
            !err.contains("PRIVATE KEY") && !err.contains("Ada Lovelace"),
            "{what}: no key or file content in errors: {err}"
        );
    }
}

// ---- the bundle source ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Fail,
    Hang,
}

#[derive(Debug)]
struct SourceState {
    bundle: Vec<u8>,
    mode: Mode,
    fetched: u32,
    not_modified: u32,
}

/// A bundle source: serves the bundle with a strong ETag (its hash) and
/// answers `If-None-Match` with 304; or 500s; or never answers.
struct BundleSource {
    addr: SocketAddr,
    state: Arc<Mutex<SourceState>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl BundleSource {
    async fn start(addr: SocketAddr, bundle: Vec<u8>) -> Self {
        let state = Arc::new(Mutex::new(SourceState {
            bundle,
            mode: Mode::Serve,
            fetched: 0,
            not_modified: 0,
        }));
        let mut s = Self {
            addr,
            state,
            task: None,
        };
        s.listen(addr).await;
        s
    }

    async fn listen(&mut self, addr: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let state = Arc::clone(&self.state);
        self.task = Some(tokio::spawn(async move {
            // Connections live in this set: stopping the source ends them too.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, &req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        }));
    }

    fn url(&self) -> String {
        format!(
            "http://{}/bundles/shop.bundle?token=source-credential",
            self.addr
        )
    }

    fn set(&self, mode: Mode, bundle: Option<Vec<u8>>) {
        let mut s = self.state.lock().unwrap();
        s.mode = mode;
        if let Some(b) = bundle {
            s.bundle = b;
        }
    }

    fn counts(&self) -> (u32, u32) {
        let s = self.state.lock().unwrap();
        (s.fetched, s.not_modified)
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for BundleSource {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(
    state: &Mutex<SourceState>,
    req: &hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (mode, bundle) = {
        let s = state.lock().unwrap();
        (s.mode, s.bundle.clone())
    };
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Mode::Fail => {
            return hyper::Response::builder()
                .status(500)
                .body(Full::new(Bytes::from_static(b"oops")))
                .unwrap();
        }
        Mode::Serve => {}
    }
    let etag = format!("\"{}\"", &chaperone::secret::sha256_hex(&bundle)[..16]);
    let asked = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok());
    let mut s = state.lock().unwrap();
    if asked == Some(etag.as_str()) {
        s.not_modified += 1;
        return hyper::Response::builder()
            .status(304)
            .header("etag", etag)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    s.fetched += 1;
    hyper::Response::builder()
        .status(200)
        .header("etag", etag)
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(bundle)))
        .unwrap()
}

// ---- talking to chaperone ----

async fn status(c: &Chaperone) -> chaperone::proto::v1::StatusResponse {
    let ch = Channel::from_shared(format!("http://127.0.0.1:{}", c.grpc_port))
        .unwrap()
        .connect()
        .await
        .unwrap();
    AdminClient::new(ch)
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Whether a Check of `GET /path` is allowed (gRPC code 0).
async fn allowed(c: &Chaperone, path: &str) -> bool {
    let ch = Channel::from_shared(format!("http://127.0.0.1:{}", c.grpc_port))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let req = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    host: "api.shop.test".into(),
                    path: path.into(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    };
    let resp = AuthorizationClient::new(ch)
        .check(req)
        .await
        .unwrap()
        .into_inner();
    resp.status.unwrap_or_default().code == 0
}

async fn readyz(c: &Chaperone) -> (u16, String) {
    let r = http()
        .get(format!("http://127.0.0.1:{}/readyz", c.admin_port))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A counter's value in chaperone's metrics (0 when absent).
async fn counter(c: &Chaperone, series: &str) -> u64 {
    c.metrics()
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |v| v as u64)
}

fn failures(stage: &str) -> String {
    format!("chaperone_bundle_failures_total{{stage=\"{stage}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_bundle_from_a_url_and_keeps_it_through_every_failure() {
    let kit = Kit::new();
    let v1 = kit.signed("v1", false);
    let mut source = BundleSource::start(local(0), v1.clone()).await;
    let url = source.url();
    let keys = kit.public_keys.display().to_string();
    let c = Chaperone::start_without_policy(&[
        "--bundle-url",
        &url,
        "--bundle-public-keys",
        &keys,
        "--bundle-poll-interval",
        "200ms",
    ])
    .await;

    // The bundle's policy serves, and its decisions name the signer.
    let st = status(&c).await;
    assert_eq!(
        (st.policy_version.as_str(), st.policy_signer.as_str()),
        ("v1", "release-1")
    );
    assert!(
        !st.policy_source.contains("source-credential"),
        "the URL's query is not shown: {}",
        st.policy_source
    );
    assert!(allowed(&c, "/a").await);
    assert!(!allowed(&c, "/b").await);
    assert_eventually!(
        decision_events(&c.log())
            .iter()
            .filter(|e| e["via"] == "ext_authz")
            .count()
            >= 2,
        "decision events logged"
    );
    for e in decision_events(&c.log()) {
        assert_eq!(e["policy_signer"], "release-1", "{e}");
        assert_eq!(e["policy_version"], "v1", "{e}");
    }
    assert!(
        !c.log().contains("source-credential"),
        "no URL credential in logs"
    );

    // ETag: polls answered 304 reload nothing.
    assert_eventually!(source.counts().1 >= 3, "304s: {:?}", source.counts());
    assert_eq!(source.counts().0, 1, "only the first poll fetched a body");
    assert_eq!(
        counter(
            &c,
            "chaperone_reloads_total{result=\"reloaded\",source=\"policy\"}"
        )
        .await,
        0
    );
    assert!(
        counter(
            &c,
            "chaperone_bundle_fetches_total{result=\"not_modified\"}"
        )
        .await
            >= 3
    );
    let (code, body) = readyz(&c).await;
    assert_eq!(code, 200);
    assert!(body.contains("signer release-1"), "{body}");
    assert!(!body.contains("last reload failed"), "{body}");

    // Every bad bundle is refused, counted by the check that failed, and
    // shown; the previous policy keeps serving.
    for (what, bundle, says) in bad_bundles(&kit) {
        // From a clean state, so each refusal is this bundle's.
        source.set(Mode::Serve, Some(v1.clone()));
        assert_eventually!(
            status(&c).await.last_reload_error.is_empty(),
            "{what}: the source serves what is in force again"
        );
        let before =
            counter(&c, &failures("signature")).await + counter(&c, &failures("integrity")).await;
        source.set(Mode::Serve, Some(bundle));
        assert_eventually!(
            status(&c).await.last_reload_error.contains(says),
            "{what}: refused, saying {says:?}"
        );
        assert!(
            counter(&c, &failures("signature")).await + counter(&c, &failures("integrity")).await
                > before,
            "{what}: refusal counted"
        );
        let (code, body) = readyz(&c).await;
        assert_eq!(code, 200, "{what}");
        assert!(
            body.contains("last reload failed") && body.contains(says),
            "{what}: {body}"
        );
        let st = status(&c).await;
        assert_eq!(st.policy_version, "v1", "{what}");
        assert!(
            st.last_reload_error.contains(says),
            "{what}: {}",
            st.last_reload_error
        );
        assert!(st.bundle_failures > 0);
        assert!(
            allowed(&c, "/a").await && !allowed(&c, "/b").await,
            "{what}"
        );
    }

    // Back to the bundle in force: 304 again, and the error clears.
    source.set(Mode::Serve, Some(v1.clone()));
    assert_eventually!(
        status(&c).await.last_reload_error.is_empty(),
        "the source serves what is in force again"
    );

    // The source fails: 500s, then no answer (the client's timeout), then
    // gone. Each failure is counted and shown; v1 keeps serving.
    let fetch_failures = counter(&c, &failures("fetch")).await;
    source.set(Mode::Fail, None);
    assert_eventually!(
        readyz(&c)
            .await
            .1
            .contains("bundle fetch failed: HTTP status 500"),
        "500 shown on /readyz"
    );
    assert!(counter(&c, &failures("fetch")).await > fetch_failures);
    assert_eq!(status(&c).await.policy_version, "v1");
    assert!(allowed(&c, "/a").await);

    let fetch_failures = counter(&c, &failures("fetch")).await;
    source.set(Mode::Hang, None);
    assert_eventually!(
        counter(&c, &failures("fetch")).await > fetch_failures,
        "a source that never answers is a failed fetch"
    );
    let (code, body) = readyz(&c).await;
    assert_eq!(code, 200);
    assert!(body.contains("bundle fetch failed"), "{body}");

    let addr = source.addr;
    source.stop();
    let fetch_failures = counter(&c, &failures("fetch")).await;
    assert_eventually!(
        counter(&c, &failures("fetch")).await > fetch_failures + 2,
        "a source that is gone"
    );
    assert_eq!(status(&c).await.policy_version, "v1");
    assert!(allowed(&c, "/a").await && !allowed(&c, "/b").await);

    // The source comes back with a new, valid bundle: it replaces v1.
    source.set(Mode::Serve, Some(kit.signed("v2", true)));
    source.listen(addr).await;
    assert_eventually!(status(&c).await.policy_version == "v2", "v2 in force");
    let st = status(&c).await;
    assert_eq!(st.policy_signer, "release-1");
    assert!(st.last_reload_error.is_empty(), "{}", st.last_reload_error);
    assert!(allowed(&c, "/b").await);
    assert!(
        counter(
            &c,
            "chaperone_reloads_total{result=\"reloaded\",source=\"policy\"}"
        )
        .await
            >= 1
    );
    let last = decision_events(&c.log()).pop().unwrap();
    assert_eq!(
        (&last["policy_version"], &last["policy_signer"]),
        (&serde_json::json!("v2"), &serde_json::json!("release-1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_bundle_file_and_reloads_it_like_a_policy_file() {
    let kit = Kit::new();
    let keys = kit.public_keys.display().to_string();
    let mounted = kit.dir.path("mounted.bundle");

    // Unsigned: chaperone does not start on it.
    std::fs::write(&mounted, kit.unsigned("v1", false)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .args(["--bundle-file".as_ref(), mounted.as_os_str()])
        .args(["--bundle-public-keys", &keys])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bundle is not signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&mounted, kit.signed("v1", false)).unwrap();
    let file = mounted.display().to_string();
    let c =
        Chaperone::start_without_policy(&["--bundle-file", &file, "--bundle-public-keys", &keys])
            .await;
    assert_eq!(status(&c).await.policy_signer, "release-1");
    assert!(allowed(&c, "/a").await && !allowed(&c, "/b").await);

    // Signed by a stranger: refused, counted, v1 stays.
    let v2 = kit.unsigned("v2", true);
    std::fs::write(&mounted, kit.sign_with(&v2, &kit.stranger_pem)).unwrap();
    assert_eventually!(
        counter(&c, &failures("signature")).await > 0,
        "a stranger's bundle is refused"
    );
    assert!(readyz(&c).await.1.contains("does not verify"));
    assert_eq!(status(&c).await.policy_version, "v1");

    // Signed by the trusted key: in force.
    std::fs::write(&mounted, kit.sign_with(&v2, &kit.signer_pem)).unwrap();
    assert_eventually!(status(&c).await.policy_version == "v2", "v2 in force");
    assert!(allowed(&c, "/b").await);
    assert!(status(&c).await.last_reload_error.is_empty());
}
