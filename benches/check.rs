//! The ext_authz Check path, in process: `cargo bench --bench check`.
//!
//! The app is built the way `chaperone serve` builds it (PolicyStore::load of
//! a policy file, Engine with a HashKey, App::new, AuthzService::new) and
//! `Authorization::check` is called directly with a `tonic::Request`, so the
//! figures are chaperone's own work per Check, without gRPC framing or HTTP/2.
//! Every allowed Check mints a transaction token (an ES256 signature); the
//! verifier remembers tokens it has verified, so a token seen before costs a
//! lookup and a token seen for the first time costs a signature check: both
//! are measured. BENCHMARKS.md records the results and how they relate to the
//! load test.
// Bench tooling: a setup that fails is a failed bench run, nothing more.
#![allow(clippy::expect_used, reason = "bench setup failures abort the run")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaperone::app::App;
use chaperone::authz::AuthzService;
use chaperone::clock::{Clock, SystemClock};
use chaperone::config::PolicyStore;
use chaperone::policy::{Engine, Policy};
use chaperone::secret::HashKey;
use chaperone::server::compile_context;
use chaperone::token::{KeyKind, SigningKey, jwks_document};
use criterion::{Criterion, criterion_group, criterion_main};
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, socket_address};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Peer, Request as AttrRequest,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use tokio::runtime::Runtime;

const ISSUER: &str = "https://idp.bench.local";
const AUDIENCE: &str = "bench-shop";
/// Hops in the large policy used for the matching benches.
const MANY_HOPS: usize = 100;
/// Distinct tokens cycled through to measure first-sight verification. More
/// than the verifier remembers (10,000 in crates/chaperone-core/src/identity/jwt.rs), so every
/// lookup misses.
const DISTINCT_TOKENS: usize = 20_000;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("chaperone-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small_policy() -> String {
    format!(
        r#"version: "bench.1"
trust_domain: bench.local
issuers:
  - name: idp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ file: jwks.json }}
defaults:
  decision: deny
hops:
  - name: public-health
    match: {{ host: "*.bench.local", method: GET, path: /healthz }}
    from:
      - anonymous: true
  - name: shop-reads-order
    match: {{ host: orders.bench.local, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: idp, scopes: [orders:read] }}
"#
    )
}

/// `MANY_HOPS` hops over ten hosts with mixed templates; the last one is an
/// anonymous catch-all on its own host so a request for it walks every hop.
fn many_hops_policy() -> String {
    let mut out = format!(
        r#"version: "bench-many.1"
trust_domain: bench.local
issuers:
  - name: idp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ file: jwks.json }}
hops:
"#
    );
    for i in 0..MANY_HOPS - 1 {
        let host = format!("svc{}.bench.local", i % 10);
        let (method, path) = match i % 4 {
            0 => ("GET", format!("/v1/res{i}/{{id}}")),
            1 => ("POST", format!("/v1/res{i}")),
            2 => ("GET", format!("/v1/res{i}/{{id}}/items/*")),
            _ => ("[GET, PUT]", format!("/v2/tenants/{{tenant}}/res{i}/**")),
        };
        out.push_str(&format!(
            "  - name: hop-{i}\n    match: {{ host: {host}, method: {method}, path: \"{path}\" }}\n    from:\n      - users: {{ issuer: idp, scopes: [res{i}:read] }}\n"
        ));
    }
    out.push_str(
        "  - name: last-hop\n    match: { host: last.bench.local, method: GET, path: \"/v1/last/{id}/items/{item}\" }\n    from:\n      - anonymous: true\n",
    );
    out
}

struct Bench {
    rt: Runtime,
    svc: AuthzService,
    many: AuthzService,
    policy: Arc<Policy>,
    many_policy: Arc<Policy>,
    key: SigningKey,
    valid: String,
    expired: String,
    /// `DISTINCT_TOKENS` valid tokens (empty unless asked for).
    distinct: Vec<String>,
    _scratch: Scratch,
}

fn app_for(path: PathBuf) -> (AuthzService, Arc<Policy>) {
    let ctx = compile_context().expect("compile context");
    let store = Arc::new(PolicyStore::open(Some(path), ctx).expect("policy loads"));
    let policy = store.current();
    let app = App::new(store, Engine::new(HashKey::from_bytes(&[7u8; 32])));
    (AuthzService::new(app), policy)
}

fn setup(distinct: usize) -> Bench {
    let scratch = Scratch::new();
    let key = SigningKey::generate(KeyKind::Es256, "bench-key-1").expect("key");
    std::fs::write(
        scratch.0.join("jwks.json"),
        jwks_document([&key]).to_string(),
    )
    .expect("write jwks");
    let small = scratch.0.join("policy.yaml");
    std::fs::write(&small, small_policy()).expect("write policy");
    let many = scratch.0.join("many.yaml");
    std::fs::write(&many, many_hops_policy()).expect("write policy");

    let now = SystemClock.now_unix();
    let token = |iat: i64, exp: i64, sub: &str| {
        key.sign(
            "JWT",
            &serde_json::json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": sub,
                "scope": "orders:read profile", "iat": iat, "exp": exp,
            }),
        )
        .expect("sign")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Built inside the runtime, as `serve` does (the store may spawn tasks).
    let ((svc, policy), (many_svc, many_policy)) =
        rt.block_on(async { (app_for(small), app_for(many)) });
    Bench {
        rt,
        svc,
        many: many_svc,
        policy,
        many_policy,
        valid: token(now, now + 3600, "alice"),
        expired: token(now - 7200, now - 3600, "alice"),
        distinct: (0..distinct)
            .map(|i| token(now, now + 3600, &format!("user-{i}")))
            .collect(),
        key,
        _scratch: scratch,
    }
}

/// A CheckRequest shaped like Envoy's for a plain HTTP/1.1 request on the
/// edge listener (`headers` map; `encode_raw_headers` is off in edge.yaml).
fn check_request(host: &str, method: &str, path: &str, bearer: Option<&str>) -> CheckRequest {
    let mut headers: HashMap<String, String> = [
        (":authority", host),
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "0b6b3cf4-6a3c-4f44-9d43-8f1f3e0c8a51"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(t) = bearer {
        headers.insert("authorization".into(), format!("Bearer {t}"));
    }
    let addr = |port: u32| Address {
        address: Some(
            envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(
                SocketAddress {
                    address: "127.0.0.1".into(),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                    ..SocketAddress::default()
                },
            ),
        ),
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(addr(53_412)),
                ..Peer::default()
            }),
            destination: Some(Peer {
                address: Some(addr(10_000)),
                ..Peer::default()
            }),
            request: Some(AttrRequest {
                http: Some(HttpRequest {
                    id: "12345678901234567890".into(),
                    method: method.into(),
                    headers,
                    path: path.into(),
                    host: host.into(),
                    scheme: "http".into(),
                    protocol: "HTTP/1.1".into(),
                    ..HttpRequest::default()
                }),
                ..AttrRequest::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

/// `req` with its Authorization header replaced.
fn with_authorization(req: &CheckRequest, value: &str) -> CheckRequest {
    let mut req = req.clone();
    if let Some(http) = req
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.headers
            .insert("authorization".to_owned(), value.to_owned());
    }
    req
}

fn grpc_code(svc: &AuthzService, rt: &Runtime, req: &CheckRequest) -> i32 {
    let resp = rt
        .block_on(svc.check(tonic::Request::new(req.clone())))
        .expect("check answers");
    resp.into_inner().status.unwrap_or_default().code
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// `Authorization::check` end to end. The request is cloned per iteration
/// because tonic hands the handler an owned message, as Envoy's would be.
fn bench_check(c: &mut Criterion) {
    let b = setup(DISTINCT_TOKENS);
    let cases = [
        (
            "allow_jwt",
            check_request(
                "orders.bench.local",
                "GET",
                "/v1/orders/o-1",
                Some(&b.valid),
            ),
            0,
        ),
        (
            "allow_anonymous",
            check_request("www.bench.local:8080", "GET", "/healthz", None),
            0,
        ),
        (
            "deny_no_hop",
            check_request("orders.bench.local", "DELETE", "/v1/orders/o-1", None),
            7,
        ),
        (
            "deny_expired_401",
            check_request(
                "orders.bench.local",
                "GET",
                "/v1/orders/o-1",
                Some(&b.expired),
            ),
            16,
        ),
    ];
    let mut group = c.benchmark_group("check");
    for (name, req, want) in &cases {
        assert_eq!(
            grpc_code(&b.svc, &b.rt, req),
            *want,
            "{name}: unexpected answer"
        );
        group.bench_function(*name, |bench| {
            bench.iter(|| {
                b.rt.block_on(b.svc.check(tonic::Request::new(req.clone())))
                    .is_ok()
            });
        });
    }
    // An allowed Check whose token the verifier has not seen: a new caller,
    // or a caller whose IdP mints a token per request.
    let (_, base, _) = &cases[0];
    let bearers: Vec<String> = b.distinct.iter().map(|t| format!("Bearer {t}")).collect();
    assert_eq!(
        grpc_code(&b.svc, &b.rt, &with_authorization(base, &bearers[0])),
        0
    );
    let mut next = 0usize;
    group.bench_function("allow_jwt_first_sight", |bench| {
        bench.iter(|| {
            next = (next + 1) % bearers.len();
            let req = with_authorization(base, &bearers[next]);
            b.rt.block_on(b.svc.check(tonic::Request::new(req))).is_ok()
        });
    });
    // The clone of the request alone, to subtract from the figures above.
    group.bench_function("request_clone_only", |bench| {
        bench.iter(|| std::hint::black_box(base.clone()));
    });
    group.finish();

    // The same allowed Check with chaperone's JSON decision log at info, as
    // `serve` writes it (to /dev/null here, so the write syscall counts).
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(Mutex::new(devnull))
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .finish();
    let mut group = c.benchmark_group("check_logged");
    tracing::subscriber::with_default(subscriber, || {
        let (_, req, _) = &cases[0];
        group.bench_function("allow_jwt", |bench| {
            bench.iter(|| {
                b.rt.block_on(b.svc.check(tonic::Request::new(req.clone())))
                    .is_ok()
            });
        });
    });
    group.finish();
}

/// ES256 end-user token verification alone (static JWKS, key cached).
fn bench_jwt(c: &mut Criterion) {
    let b = setup(DISTINCT_TOKENS);
    let verifier = &b.policy.verifier;
    assert!(b.rt.block_on(verifier.verify(&b.valid)).is_ok());
    let mut group = c.benchmark_group("jwt");
    group.bench_function("verify_cached", |bench| {
        bench.iter(|| b.rt.block_on(verifier.verify(&b.valid)).is_ok());
    });
    let mut next = 0usize;
    group.bench_function("verify_es256_first_sight", |bench| {
        bench.iter(|| {
            next = (next + 1) % b.distinct.len();
            b.rt.block_on(verifier.verify(&b.distinct[next])).is_ok()
        });
    });
    // Failures are not remembered: every expired token is checked in full.
    group.bench_function("verify_es256_expired", |bench| {
        bench.iter(|| b.rt.block_on(verifier.verify(&b.expired)).is_err());
    });

    // Minting's floor: one ES256 signature over claims shaped like a
    // transaction token's.
    let now = SystemClock.now_unix();
    let claims = serde_json::json!({
        "iss": "https://chaperone.bench.local", "iat": now, "exp": now + 60,
        "aud": "orders", "txn": "0b6b3cf4-6a3c-4f44-9d43-8f1f3e0c8a51",
        "sub": "alice", "scope": "orders:read",
        "req_wl": "spiffe://bench.local/ns/shop/sa/web",
        "tctx": { "hop": "shop-reads-order", "order_id": "o-1" },
        "rctx": { "req_ip": "127.0.0.1", "authn": "jwt" },
    });
    group.bench_function("sign_es256", |bench| {
        bench.iter(|| b.key.sign("txntoken+jwt", &claims).is_ok());
    });
    // The same with an Ed25519 key, the other algorithm chaperone mints with.
    let ed = SigningKey::generate(KeyKind::EdDsa, "bench-ed-1").expect("Ed25519 key");
    group.bench_function("sign_eddsa", |bench| {
        bench.iter(|| ed.sign("txntoken+jwt", &claims).is_ok());
    });

    // The floor: the P-256 signature check alone, with the key parsed per
    // call (what jsonwebtoken does) and parsed once.
    let (message, sig) = b.valid.rsplit_once('.').expect("compact JWS");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("signature");
    let jwk = b.key.public_jwk();
    let mut point = vec![4u8];
    for coord in ["x", "y"] {
        let c = jwk[coord].as_str().expect("EC JWK");
        point.extend(URL_SAFE_NO_PAD.decode(c).expect("coordinate"));
    }
    let unparsed = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.clone());
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("P-256 key");
    assert!(unparsed.verify(message.as_bytes(), &sig).is_ok());
    assert!(parsed.verify_sig(message.as_bytes(), &sig).is_ok());
    group.bench_function("p256_verify_raw_unparsed_key", |bench| {
        bench.iter(|| unparsed.verify(message.as_bytes(), &sig).is_ok());
    });
    group.bench_function("p256_verify_raw_parsed_key", |bench| {
        bench.iter(|| parsed.verify_sig(message.as_bytes(), &sig).is_ok());
    });
    group.finish();
}

/// Hop matching (host, method, path template) over a 100-hop policy: the
/// linear scan the engine does, for the last hop, an early hop and a miss;
/// and a whole Check that has to walk to the last hop.
fn bench_matching(c: &mut Criterion) {
    let b = setup(0);
    let hops = &b.many_policy.hops;
    assert_eq!(hops.len(), MANY_HOPS);
    let find = |host: &str, method: &str, path: &str| {
        hops.iter()
            .position(|h| h.matches(host, method, path).is_some())
    };
    let last = ("last.bench.local", "GET", "/v1/last/l-9/items/i-3");
    let early = ("svc2.bench.local", "GET", "/v1/res2/r-1/items/x");
    let miss = ("svc3.bench.local", "GET", "/v1/nothing/here");
    assert_eq!(find(last.0, last.1, last.2), Some(MANY_HOPS - 1));
    assert_eq!(find(early.0, early.1, early.2), Some(2));
    assert_eq!(find(miss.0, miss.1, miss.2), None);

    let mut group = c.benchmark_group("match_100_hops");
    for (name, (host, method, path)) in [("last_hop", last), ("third_hop", early), ("miss", miss)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                find(
                    std::hint::black_box(host),
                    std::hint::black_box(method),
                    std::hint::black_box(path),
                )
            });
        });
    }
    let req = check_request(last.0, last.1, last.2, None);
    assert_eq!(grpc_code(&b.many, &b.rt, &req), 0);
    group.bench_function("check_last_hop_anonymous", |bench| {
        bench.iter(|| {
            b.rt.block_on(b.many.check(tonic::Request::new(req.clone())))
                .is_ok()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_check, bench_jwt, bench_matching
}
criterion_main!(benches);
