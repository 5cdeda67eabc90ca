//! Unit tests for `policy`: [`Engine::evaluate`] over policies compiled from
//! YAML, with static JWKS files and an injected clock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::{Allow, Decision, Deny, DenyKind, Engine, Policy, Reason, RequestFacts};
use crate::clock::FixedClock;
use crate::config::{CompileContext, JwksRegistry, compile};
use crate::identity::TokenError;
use crate::secret::HashKey;
use crate::token::{KeyKind, SigningKey, jwks_document};

const NOW: i64 = 1_700_000_000;
const CORP: &str = "https://idp.shop.test";
const PARTNER: &str = "https://partner.test";
const CHECKOUT: &str = "spiffe://shop.test/ns/shop/sa/checkout";

const POLICY: &str = r#"
version: "p.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: https://idp.shop.test
    audiences: [api]
    algorithms: [ES256]
    jwks: { file: corp.json }
  - name: partner
    issuer: https://partner.test
    audiences: [api]
    algorithms: [ES256]
    jwks: { file: partner.json }
defaults:
  decision: deny
  request: { headers: { remove: [x-debug] } }
hops:
  - name: first
    match: { host: api.shop.test, method: GET, path: "/v1/things/{id}" }
    from: [{ anonymous: true }]
  - name: shadowed
    match: { host: api.shop.test, method: GET, path: "/v1/things/{id}" }
    from: [{ anonymous: true }]
  - name: things-write
    match: { host: api.shop.test, method: [PUT, DELETE], path: "/v1/things/{id}" }
    from:
      - users: { issuer: corp, scopes: ["things:write"] }
  - name: wild
    match: { host: "*.wild.test", path: /w }
    from: [{ anonymous: true }]
  - name: health
    match: { host: "*", method: [GET, HEAD], path: /healthz }
    from: [{ anonymous: true }]
  - name: orders
    match: { host: orders.shop.test, method: GET, path: "/v1/customers/{customer_id}/orders/{order_id}" }
    from:
      - users: { issuer: corp, scopes: ["orders:read"] }
    request: { headers: { remove: [x-hop-secret] } }
  - name: charge
    match: { host: payments.shop.test, method: POST, path: /v1/charges }
    from:
      - workloads: [spiffe://shop.test/ns/shop/sa/checkout]
        users: { issuer: corp }
  - name: inventory
    match: { host: inventory.shop.test, path: "/v1/**" }
    from:
      - workloads: ["spiffe://shop.test/ns/shop/*", spiffe://shop.test/ns/ops/sa/auditor]
  - name: admin
    match: { host: admin.shop.test, path: /admin }
    from:
      - users: { issuer: corp, subjects: [alice] }
      - users: { issuer: partner, subjects: [root], scopes: [admin] }
  - name: legacy
    match: { host: legacy.shop.test, path: /legacy }
    keep_authorization: true
    from:
      - users: { issuer: corp }
  - name: either
    match: { host: either.shop.test, path: /e }
    from:
      - workloads: [spiffe://shop.test/ns/shop/sa/batch]
      - users: { issuer: corp }
  - name: any-user
    match: { host: users.shop.test, path: /me }
    from:
      - users: { issuer: corp }
      - users: { issuer: partner }
"#;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chaperone-policy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Fixture {
    corp: SigningKey,
    partner: SigningKey,
    policy: Policy,
    engine: Engine,
    _dir: TempDir,
}

fn fixture_with(extra: &str) -> Fixture {
    let dir = TempDir::new();
    let corp = SigningKey::generate(KeyKind::Es256, "corp-1").unwrap();
    let partner = SigningKey::generate(KeyKind::Es256, "partner-1").unwrap();
    std::fs::write(dir.0.join("corp.json"), jwks_document([&corp]).to_string()).unwrap();
    std::fs::write(
        dir.0.join("partner.json"),
        jwks_document([&partner]).to_string(),
    )
    .unwrap();
    let ctx = CompileContext {
        http: crate::identity::test_fetch::TcpFetch::shared(),
        jwks: Arc::new(JwksRegistry::default()),
        clock: FixedClock::new(NOW),
        hash_key: None,
        token_cache_entries: crate::identity::jwt::DEFAULT_CACHE_ENTRIES,
    };
    let yaml = format!("{POLICY}{extra}");
    let policy = compile("policy.yaml", Some(&dir.0), yaml.as_bytes(), &ctx).unwrap();
    Fixture {
        corp,
        partner,
        policy,
        engine: Engine::new(HashKey::from_bytes(b"policy-tests-hash-key-0123456789")),
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with("")
}

fn token(key: &SigningKey, iss: &str, sub: &str, scope: &str) -> String {
    key.sign(
        "JWT",
        &json!({"iss": iss, "aud": "api", "sub": sub, "scope": scope, "iat": NOW, "exp": NOW + 300}),
    )
    .unwrap()
}

impl Fixture {
    fn user(&self, sub: &str, scope: &str) -> String {
        token(&self.corp, CORP, sub, scope)
    }
}

/// A request as the adapters would describe it.
#[derive(Clone)]
struct Req {
    host: String,
    method: String,
    path: String,
    headers: HashMap<String, String>,
    peer: Option<String>,
}

fn req(method: &str, host: &str, path: &str) -> Req {
    Req {
        host: host.into(),
        method: method.into(),
        path: path.into(),
        headers: HashMap::new(),
        peer: None,
    }
}

impl Req {
    fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.insert(k.into(), v.into());
        self
    }
    fn peer(mut self, p: &str) -> Self {
        self.peer = Some(p.into());
        self
    }
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            host: &self.host,
            method: &self.method,
            path: &self.path,
            headers: &self.headers,
            source_principal: self.peer.as_deref(),
            source_ip: None,
        }
    }
}

impl Fixture {
    async fn eval(&self, r: &Req) -> Decision {
        self.engine.evaluate(&self.policy, &r.facts()).await
    }

    async fn allow(&self, r: &Req) -> Allow {
        match self.eval(r).await {
            Decision::Allow(a) => *a,
            Decision::Deny(d) => panic!(
                "{} {}{} denied: {} ({:?})",
                r.method, r.host, r.path, d.reason, d.hop
            ),
        }
    }

    async fn principal(&self, r: &Req) -> String {
        let a = self.allow(r).await;
        self.engine.principal(&a)
    }

    async fn deny(&self, r: &Req) -> Deny {
        match self.eval(r).await {
            Decision::Deny(d) => d,
            Decision::Allow(a) => {
                panic!("{} {}{} allowed by hop {}", r.method, r.host, r.path, a.hop)
            }
        }
    }
}

#[tokio::test]
async fn first_matching_hop_wins() {
    let f = fixture();
    let a = f.allow(&req("GET", "api.shop.test", "/v1/things/7")).await;
    assert_eq!(&*a.hop, "first", "not the later hop with the same match");
    assert_eq!(a.path_params, vec![("id".to_owned(), "7".to_owned())]);
    assert_eq!(a.policy_version, "p.1");
    assert_eq!(a.decision_id.len(), 32);

    // Same path, another method: the next hop that matches it.
    let d = f.deny(&req("PUT", "api.shop.test", "/v1/things/7")).await;
    assert_eq!(d.hop.as_deref(), Some("things-write"));
    assert_eq!(d.reason, Reason::CredentialsMissing);
    let a = f
        .allow(
            &req("DELETE", "api.shop.test", "/v1/things/7")
                .bearer(&f.user("alice", "things:write")),
        )
        .await;
    assert_eq!(&*a.hop, "things-write");
}

#[tokio::test]
async fn hop_matching_by_host_method_and_path() {
    let f = fixture();
    // (method, host, path, hop that must match; None: no hop)
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("GET", "api.shop.test", "/v1/things/1", Some("first")),
        ("GET", "API.Shop.TEST", "/v1/things/1", Some("first")),
        ("GET", "api.shop.test:8080", "/v1/things/1", Some("first")),
        ("GET", "API.SHOP.TEST:443", "/v1/things/1", Some("first")),
        (
            "GET",
            "api.shop.test",
            "/v1/things/1?x=1&y=/../z",
            Some("first"),
        ),
        ("GET", "api.shop.test.evil.test", "/v1/things/1", None),
        ("GET", "evilapi.shop.test", "/v1/things/1", None),
        ("GET", "api.shop.test", "/v1/things", None),
        ("GET", "api.shop.test", "/v1/things/1/x", None),
        ("GET", "api.shop.test", "/v1/things/1/", None),
        ("POST", "api.shop.test", "/v1/things/1", None),
        ("GET", "a.wild.test", "/w", Some("wild")),
        ("PATCH", "a.wild.test", "/w", Some("wild")),
        ("GET", "deep.er.wild.test", "/w", Some("wild")),
        ("GET", "A.WILD.TEST:9000", "/w", Some("wild")),
        ("GET", "wild.test", "/w", None),
        ("GET", "xwild.test", "/w", None),
        ("GET", ".wild.test", "/w", None),
        ("GET", "a.wild.test.evil", "/w", None),
        ("GET", "anything.example", "/healthz", Some("health")),
        ("HEAD", "10.0.0.1:8080", "/healthz", Some("health")),
        ("GET", "[::1]:8080", "/healthz", Some("health")),
        ("POST", "anything.example", "/healthz", None),
        ("GET", "inventory.shop.test", "/v1", Some("inventory")),
        (
            "DELETE",
            "inventory.shop.test",
            "/v1/a/b/c",
            Some("inventory"),
        ),
        ("GET", "inventory.shop.test", "/v2/a", None),
    ];
    for (method, host, path, want) in cases {
        let r = req(method, host, path).peer("spiffe://shop.test/ns/shop/sa/x");
        let d = f.eval(&r).await;
        let got = match &d {
            Decision::Allow(a) => Some(a.hop.to_string()),
            Decision::Deny(d) if d.reason == Reason::NoHopMatched => None,
            Decision::Deny(d) => d.hop.as_deref().map(str::to_owned),
        };
        assert_eq!(got.as_deref(), *want, "{method} {host}{path}");
        if want.is_none() {
            let Decision::Deny(d) = d else { unreachable!() };
            assert_eq!(d.reason, Reason::NoHopMatched, "{method} {host}{path}");
            assert_eq!(d.kind(), DenyKind::Forbidden);
            assert_eq!(d.hop, None);
        }
    }
    // A method is data too: one no standard and no hop names is refused
    // before any hop is looked at (methods are case-sensitive).
    for method in ["get", "X4111111111111111", "PROPFIND"] {
        let d = f
            .deny(
                &req(method, "api.shop.test", "/v1/things/1")
                    .peer("spiffe://shop.test/ns/shop/sa/x"),
            )
            .await;
        assert_eq!(d.reason, Reason::RequestMalformed, "{method}");
        assert_eq!(d.kind(), DenyKind::BadRequest);
    }
}

#[tokio::test]
async fn path_parameters_are_captured() {
    let f = fixture();
    let r = req(
        "GET",
        "orders.shop.test",
        "/v1/customers/c-1/orders/o_9?expand=items",
    )
    .bearer(&f.user("alice", "orders:read"));
    let a = f.allow(&r).await;
    assert_eq!(&*a.hop, "orders");
    assert_eq!(
        a.path_params,
        vec![
            ("customer_id".to_owned(), "c-1".to_owned()),
            ("order_id".to_owned(), "o_9".to_owned())
        ]
    );
    assert!(
        f.allow(&req("GET", "inventory.shop.test", "/v1/x").peer(CHECKOUT))
            .await
            .path_params
            .is_empty()
    );
}

#[tokio::test]
async fn anonymous_hops_need_no_identity() {
    let f = fixture();
    let a = f.allow(&req("GET", "x.example", "/healthz")).await;
    assert_eq!(&*a.hop, "health");
    assert!(a.user.is_none());
    assert!(a.workload.is_none());
    // A token on an anonymous hop is not looked at, and is still stripped.
    let a = f
        .allow(&req("GET", "x.example", "/healthz").bearer("garbage"))
        .await;
    assert!(a.user.is_none());
    assert!(a.remove_headers.contains(&"authorization".to_owned()));
    // A peer identity is reported when there is one.
    let a = f
        .allow(&req("GET", "x.example", "/healthz").peer(CHECKOUT))
        .await;
    assert_eq!(a.workload.unwrap().as_str(), CHECKOUT);
}

#[tokio::test]
async fn workload_patterns() {
    let f = fixture();
    // (peer, expected outcome: Ok(()) allow, Err(reason) deny)
    let cases: Vec<(Option<&str>, Result<(), Reason>)> = vec![
        (Some("spiffe://shop.test/ns/shop/sa/checkout"), Ok(())),
        (Some("spiffe://shop.test/ns/shop/sa/anything"), Ok(())),
        (Some("spiffe://shop.test/ns/shop/deeper/still"), Ok(())),
        (Some("spiffe://shop.test/ns/ops/sa/auditor"), Ok(())),
        (
            Some("spiffe://shop.test/ns/ops/sa/auditor2"),
            Err(Reason::CallerNotAllowed),
        ),
        (
            Some("spiffe://shop.test/ns/ops/sa/other"),
            Err(Reason::CallerNotAllowed),
        ),
        (
            Some("spiffe://shop.test/ns/shopping/sa/x"),
            Err(Reason::CallerNotAllowed),
        ),
        (
            Some("spiffe://shop.test/ns/shop"),
            Err(Reason::CallerNotAllowed),
        ),
        (
            Some("spiffe://other.test/ns/shop/sa/x"),
            Err(Reason::CallerNotAllowed),
        ),
        (
            Some("spiffe://shop.test/ns/shop/../ops/sa/auditor"),
            Err(Reason::WorkloadInvalid),
        ),
        (
            Some("spiffe://SHOP.test/ns/shop/sa/x"),
            Err(Reason::WorkloadInvalid),
        ),
        (Some("shop/sa/x"), Err(Reason::WorkloadInvalid)),
        (Some(""), Err(Reason::WorkloadMissing)),
        (None, Err(Reason::WorkloadMissing)),
    ];
    for (peer, want) in cases {
        let mut r = req("GET", "inventory.shop.test", "/v1/stock");
        r.peer = peer.map(str::to_owned);
        match (f.eval(&r).await, want) {
            (Decision::Allow(a), Ok(())) => {
                assert_eq!(a.workload.as_ref().map(|w| w.as_str()), peer, "{peer:?}");
            }
            (Decision::Deny(d), Err(reason)) => {
                assert_eq!(d.reason, reason, "{peer:?}");
                assert_eq!(d.kind(), DenyKind::Forbidden, "{peer:?}");
                assert_eq!(d.hop.as_deref(), Some("inventory"));
            }
            (got, want) => panic!("{peer:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn xfcc_is_used_only_when_trusted() {
    let xfcc = format!("By=spiffe://shop.test/ns/edge/sa/envoy;Hash=abc;URI={CHECKOUT}");
    let r = req("GET", "inventory.shop.test", "/v1/stock").header("x-forwarded-client-cert", &xfcc);

    let untrusted = fixture();
    assert!(!untrusted.policy.trust_xfcc);
    assert_eq!(untrusted.deny(&r).await.reason, Reason::WorkloadMissing);

    let trusted = fixture_with("workloads: { trust_xfcc: true }\n");
    assert!(trusted.policy.trust_xfcc);
    let a = trusted.allow(&r).await;
    assert_eq!(a.workload.unwrap().as_str(), CHECKOUT);

    // The mTLS peer, when there is one, wins over the header.
    let with_peer = r.clone().peer("spiffe://shop.test/ns/ops/sa/other");
    assert_eq!(
        trusted.deny(&with_peer).await.reason,
        Reason::CallerNotAllowed
    );
    // The last element of the header is the one that counts.
    let chained = req("GET", "inventory.shop.test", "/v1/stock").header(
        "x-forwarded-client-cert",
        &format!("URI={CHECKOUT},URI=spiffe://shop.test/ns/ops/sa/other"),
    );
    assert_eq!(
        trusted.deny(&chained).await.reason,
        Reason::CallerNotAllowed
    );
    // A header without a URI, or with a bad one.
    let no_uri = req("GET", "inventory.shop.test", "/v1/stock")
        .header("x-forwarded-client-cert", "Hash=abc");
    assert_eq!(trusted.deny(&no_uri).await.reason, Reason::WorkloadMissing);
    let bad_uri = req("GET", "inventory.shop.test", "/v1/stock")
        .header("x-forwarded-client-cert", "URI=https://x/y");
    assert_eq!(trusted.deny(&bad_uri).await.reason, Reason::WorkloadInvalid);
}

#[tokio::test]
async fn deny_reasons_on_a_hop_that_needs_user_and_workload() {
    let f = fixture();
    let good = f.user("alice", "");
    let expired = f
        .corp
        .sign(
            "JWT",
            &json!({"iss": CORP, "aud": "api", "sub": "alice", "exp": NOW - 3600}),
        )
        .unwrap();
    let partner = token(&f.partner, PARTNER, "alice", "");
    let charge = || req("POST", "payments.shop.test", "/v1/charges");
    // (what, request, want: Ok(()) allow or Err((reason, http status)))
    /// Allowed, or denied with this reason and HTTP status.
    type Want = Result<(), (Reason, u16)>;
    let cases: Vec<(&str, Req, Want)> = vec![
        (
            "user and workload",
            charge().bearer(&good).peer(CHECKOUT),
            Ok(()),
        ),
        (
            "no token",
            charge().peer(CHECKOUT),
            Err((Reason::CredentialsMissing, 401)),
        ),
        (
            "Basic credentials are no token",
            charge()
                .header("authorization", "Basic YWxpY2U6cHc=")
                .peer(CHECKOUT),
            Err((Reason::CredentialsMissing, 401)),
        ),
        (
            "no token, no workload",
            charge(),
            Err((Reason::CredentialsMissing, 401)),
        ),
        (
            "expired token",
            charge().bearer(&expired).peer(CHECKOUT),
            Err((Reason::Token(TokenError::Expired), 401)),
        ),
        (
            "garbage token",
            charge().bearer("not.a.jwt").peer(CHECKOUT),
            Err((Reason::Token(TokenError::Malformed), 401)),
        ),
        (
            "token from the other issuer",
            charge().bearer(&partner).peer(CHECKOUT),
            Err((Reason::CallerNotAllowed, 403)),
        ),
        (
            "right user, wrong workload",
            charge()
                .bearer(&good)
                .peer("spiffe://shop.test/ns/shop/sa/intruder"),
            Err((Reason::CallerNotAllowed, 403)),
        ),
        (
            "right user, no mTLS peer",
            charge().bearer(&good),
            Err((Reason::WorkloadMissing, 403)),
        ),
        (
            "right user, invalid peer",
            charge().bearer(&good).peer("spiffe://shop.test/a//b"),
            Err((Reason::WorkloadInvalid, 403)),
        ),
        (
            "no hop",
            req("POST", "payments.shop.test", "/v1/refunds").bearer(&good),
            Err((Reason::NoHopMatched, 403)),
        ),
    ];
    for (what, r, want) in cases {
        match (f.eval(&r).await, want) {
            (Decision::Allow(a), Ok(())) => {
                assert_eq!(&*a.hop, "charge", "{what}");
                assert_eq!(a.user.as_ref().unwrap().sub, "alice", "{what}");
                assert_eq!(a.workload.as_ref().unwrap().as_str(), CHECKOUT, "{what}");
            }
            (Decision::Deny(d), Err((reason, status))) => {
                assert_eq!(d.reason, reason, "{what}");
                assert_eq!(d.kind().http_status(), status, "{what}");
                assert_eq!(d.policy_version, "p.1");
                assert_eq!(d.decision_id.len(), 32);
                if reason != Reason::NoHopMatched {
                    assert_eq!(d.hop.as_deref(), Some("charge"), "{what}");
                }
            }
            (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn an_invalid_token_is_never_ignored() {
    // `either` admits the batch workload without a user. A request from it
    // that carries a bad token is still refused: a credential that fails
    // verification is an error, not an absence.
    let f = fixture();
    let batch = "spiffe://shop.test/ns/shop/sa/batch";
    let r = req("GET", "either.shop.test", "/e").peer(batch);
    let a = f.allow(&r).await;
    assert!(a.user.is_none());
    let d = f.deny(&r.clone().bearer("bad.token.here")).await;
    assert_eq!(d.kind(), DenyKind::Unauthenticated);
    // A user alone is also admitted.
    assert!(
        f.allow(&req("GET", "either.shop.test", "/e").bearer(&f.user("bob", "")))
            .await
            .user
            .is_some()
    );
    // Neither: the hop wants a user first.
    assert_eq!(
        f.deny(&req("GET", "either.shop.test", "/e")).await.reason,
        Reason::CredentialsMissing
    );
}

#[tokio::test]
async fn scope_and_subject_requirements() {
    let f = fixture();
    let orders = || req("GET", "orders.shop.test", "/v1/customers/c/orders/o");
    let admin = || req("GET", "admin.shop.test", "/admin");
    let root_admin = token(&f.partner, PARTNER, "root", "admin");
    let root_plain = token(&f.partner, PARTNER, "root", "read");
    let partner_alice = token(&f.partner, PARTNER, "alice", "admin");
    let cases: Vec<(&str, Req, bool)> = vec![
        (
            "required scope",
            orders().bearer(&f.user("bob", "orders:read")),
            true,
        ),
        (
            "required scope among others",
            orders().bearer(&f.user("bob", "x orders:read y")),
            true,
        ),
        (
            "other scope",
            orders().bearer(&f.user("bob", "orders:write")),
            false,
        ),
        (
            "scope prefix only",
            orders().bearer(&f.user("bob", "orders:rea")),
            false,
        ),
        ("no scope", orders().bearer(&f.user("bob", "")), false),
        ("listed subject", admin().bearer(&f.user("alice", "")), true),
        (
            "other subject",
            admin().bearer(&f.user("bob", "admin")),
            false,
        ),
        (
            "subject and scope of the second rule",
            admin().bearer(&root_admin),
            true,
        ),
        (
            "subject without the scope",
            admin().bearer(&root_plain),
            false,
        ),
        (
            "subject listed for the other issuer",
            admin().bearer(&partner_alice),
            false,
        ),
    ];
    for (what, r, allowed) in cases {
        match f.eval(&r).await {
            Decision::Allow(_) if allowed => {}
            Decision::Deny(d) if !allowed => {
                assert_eq!(d.reason, Reason::CallerNotAllowed, "{what}");
                assert_eq!(d.kind().http_status(), 403, "{what}");
            }
            got => panic!("{what}: {got:?}"),
        }
    }
}

#[tokio::test]
async fn request_headers_removed_toward_the_callee() {
    let f = fixture();
    let has = |a: &Allow, names: &[&str], absent: &[&str]| {
        for n in names {
            assert!(
                a.remove_headers.iter().any(|h| h == n),
                "{} lacks {n}: {:?}",
                a.hop,
                a.remove_headers
            );
        }
        for n in absent {
            assert!(
                !a.remove_headers.iter().any(|h| h == n),
                "{} removes {n}: {:?}",
                a.hop,
                a.remove_headers
            );
        }
    };
    // The defaults (built in and the policy's) among the headers sent, plus
    // the caller's credential.
    let sent = |r: Req| {
        r.header("x-debug", "1")
            .header("cookie", "session=1")
            .header("x-internal-user", "u")
            .header("x-hop-secret", "s")
            .header("x-keep", "k")
    };
    let a = f.allow(&sent(req("GET", "x.example", "/healthz"))).await;
    has(
        &a,
        &["x-debug", "cookie", "x-internal-user", "authorization"],
        &["x-hop-secret", "x-keep"],
    );
    // A listed header that was not sent is not listed for removal.
    let a = f.allow(&req("GET", "x.example", "/healthz")).await;
    has(&a, &["authorization"], &["x-debug", "cookie"]);
    // Plus the hop's own.
    let a = f
        .allow(&sent(
            req("GET", "orders.shop.test", "/v1/customers/c/orders/o")
                .bearer(&f.user("a", "orders:read")),
        ))
        .await;
    has(
        &a,
        &["x-debug", "x-hop-secret", "authorization"],
        &["x-keep"],
    );
    // keep_authorization forwards the caller's credential.
    let a = f
        .allow(&sent(
            req("GET", "legacy.shop.test", "/legacy").bearer(&f.user("a", "")),
        ))
        .await;
    has(&a, &["x-debug"], &["authorization", "x-keep"]);
}

#[tokio::test]
async fn a_hop_that_mints_no_token_removes_any_sent() {
    let f = fixture_with(
        r#"  - name: egress
    match: { host: carrier.example, path: "/v1/rates/{zip}" }
    from: [{ anonymous: true }]
    token: { mint: false }
"#,
    );
    assert!(f.policy.hops.iter().all(|h| match &*h.name {
        "egress" => h.token.is_none(),
        _ => h.token.is_some(),
    }));
    let sent = |r: Req| r.header("txn-token", "a.b.c");
    let removed = |a: &Allow| {
        a.remove_headers
            .iter()
            .filter(|h| *h == "txn-token")
            .count()
    };
    let a = f
        .allow(&sent(req("GET", "carrier.example", "/v1/rates/75001")))
        .await;
    assert!(a.txn_token.is_none());
    assert_eq!(removed(&a), 1);
    // Removed even when Envoy did not show it (a header allow-list on the
    // filter), as `authorization` is.
    let a = f
        .allow(&req("GET", "carrier.example", "/v1/rates/75001"))
        .await;
    assert_eq!(removed(&a), 1);
    // A minting hop overwrites the header with its token instead.
    let a = f.allow(&sent(req("GET", "x.example", "/healthz"))).await;
    assert!(a.txn_token.is_some());
    assert!(!a.remove_headers.iter().any(|h| h == "txn-token"));
}

#[tokio::test]
async fn path_parameters_cross_in_a_token_only_as_the_url_contract_leaves_them() {
    let f = fixture_with(
        r#"  - name: card-lookup
    match: { host: cards.example, path: "/v1/cards/{card}/{note}" }
    from: [{ anonymous: true }]
    token: { tctx: [card, note] }
"#,
    );
    let a = f
        .allow(&req(
            "GET",
            "cards.example",
            "/v1/cards/4111%201111%201111%201111/ok",
        ))
        .await;
    let token = a.txn_token.unwrap().token;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    let card = claims["tctx"]["card"].as_str().unwrap();
    assert!(!card.contains("4111") || card.contains('*'), "{card}");
    assert!(!token.contains("4111%201111"));
    assert_eq!(claims["tctx"]["note"], "ok");
}

#[tokio::test]
async fn whether_ext_proc_finds_the_hop_by_its_route() {
    let f = fixture_with(
        r#"  - name: shared-staff
    match: { host: shared.example, path: /s }
    from: [{ users: { issuer: corp, scopes: [staff] } }]
  - name: shared-public
    match: { host: shared.example, path: /s }
    from: [{ anonymous: true }]
"#,
    );
    // One hop alone on its route: matching the route again finds it.
    let a = f.allow(&req("GET", "x.example", "/healthz")).await;
    assert!(!a.route_shared);
    // Two hops share a route: ext_proc has to be told which decided, the
    // first as much as the second (under another policy, another hop
    // might be first).
    let staff = f.user("alice", "staff");
    let a = f
        .allow(&req("GET", "shared.example", "/s").bearer(&staff))
        .await;
    assert_eq!(&*a.hop, "shared-staff");
    assert!(a.route_shared);
    let a = f.allow(&req("GET", "shared.example", "/s")).await;
    assert_eq!(&*a.hop, "shared-public");
    assert!(a.route_shared);
    // A denial names whether its hop's route is shared too.
    let d = f
        .deny(&req("GET", "shared.example", "/s").bearer("not-a-token"))
        .await;
    assert!(d.route_shared);
    let d = f.deny(&req("GET", "nowhere.example", "/s")).await;
    assert!(!d.route_shared);
}

#[tokio::test]
async fn a_hop_in_shadow_never_changes_what_enforcing_hops_decide() {
    let f = fixture_with(
        r#"  - name: new-open
    match: { host: rollout.example, path: /r }
    from: [{ anonymous: true }]
    shadow: true
  - name: old-users
    match: { host: rollout.example, path: /r }
    from: [{ users: { issuer: corp } }]
  - name: only-shadow
    match: { host: trial.example, path: /t }
    from: [{ users: { issuer: corp } }]
    shadow: true
"#,
    );
    // The shadow hop would admit anyone; the enforcing one still wants a user.
    let d = f.deny(&req("GET", "rollout.example", "/r")).await;
    assert_eq!(d.reason, Reason::CredentialsMissing);
    assert_eq!(d.hop.as_deref(), Some("old-users"));
    assert!(!d.shadow);
    let d = f
        .deny(&req("GET", "rollout.example", "/r").bearer("not-a-token"))
        .await;
    assert_eq!(d.kind(), DenyKind::Unauthenticated);
    assert!(!d.shadow);
    let a = f
        .allow(&req("GET", "rollout.example", "/r").bearer(&f.user("alice", "")))
        .await;
    assert_eq!(&*a.hop, "old-users");
    assert!(!a.shadow && a.route_shared);
    // A route whose hops are all in shadow: the shadow decision stands.
    let d = f.deny(&req("GET", "trial.example", "/t")).await;
    assert_eq!(d.hop.as_deref(), Some("only-shadow"));
    assert!(d.shadow);

    // After the enforcing hop, a shadow hop changes nothing either: it asks
    // for an end user, which the enforcing hops never verify.
    let f = fixture_with(
        r#"  - name: e-open
    match: { host: order.example, path: /o }
    from: [{ anonymous: true }]
  - name: s-users
    match: { host: order.example, path: /o }
    from: [{ users: { issuer: corp } }]
    shadow: true
  - name: e-cond
    match: { host: cond.example, path: /c }
    from: [{ anonymous: true }]
    when: "user.sub == 'alice'"
  - name: s-cond
    match: { host: cond.example, path: /c }
    from: [{ users: { issuer: corp } }]
    shadow: true
"#,
    );
    // An opaque upstream credential the enforcing hop never looks at.
    let a = f
        .allow(&req("GET", "order.example", "/o").bearer("not-a-token"))
        .await;
    assert_eq!(&*a.hop, "e-open");
    assert!(a.user.is_none() && !a.shadow);
    // A condition on a user only a shadow hop would verify does not hold.
    let d = f
        .deny(&req("GET", "cond.example", "/c").bearer(&f.user("alice", "")))
        .await;
    assert_eq!(d.hop.as_deref(), Some("e-cond"));
    assert!(!d.shadow);
}

#[tokio::test]
async fn headers_in_chaperones_name_never_pass() {
    let f = fixture();
    let a = f
        .allow(
            &req("GET", "x.example", "/healthz")
                .header("x-chaperone-hop", "first.forged")
                .header("x-chaperone-decision-id", "forged")
                .header("x-chaperonex", "not ours"),
        )
        .await;
    let mut removed = a.remove_headers.clone();
    removed.sort();
    assert_eq!(
        removed,
        [
            "authorization",
            "x-chaperone-decision-id",
            "x-chaperone-hop"
        ]
    );
}

#[test]
fn ext_proc_removes_again_only_what_it_is_shown() {
    let f = fixture_with(
        r#"  - name: egress
    match: { host: carrier.example, path: /r }
    from: [{ anonymous: true }]
    token: { mint: false }
"#,
    );
    let hop = f.policy.hops.iter().find(|h| &*h.name == "egress").unwrap();
    let remove = |present: &[&str], unseen_too: bool| {
        let mut r = super::headers::request_headers_to_remove(
            &f.policy,
            hop,
            present.iter().copied(),
            unseen_too,
        );
        r.sort();
        r
    };
    // ext_authz: the credential and the token header, shown or not.
    assert_eq!(remove(&[], true), ["authorization", "txn-token"]);
    // ext_proc: only those Envoy still shows it.
    assert!(remove(&[], false).is_empty());
    let shown = ["txn-token", "accept", "authorization"];
    assert_eq!(remove(&shown, false), ["authorization", "txn-token"]);
    assert_eq!(remove(&["txn-token"], false), ["txn-token"]);
}

#[tokio::test]
async fn principal_is_a_stable_keyed_hash() {
    let f = fixture();
    let alice = f.user("alice", "");
    let r = req("POST", "payments.shop.test", "/v1/charges")
        .bearer(&alice)
        .peer(CHECKOUT);
    let p1 = f.principal(&r).await;
    let p2 = f.principal(&r).await;
    assert_eq!(p1, p2, "same caller, same principal");
    assert!(p1.starts_with("p_") && p1.len() == 34, "{p1}");
    assert!(p1[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    for raw in [
        CHECKOUT,
        "checkout",
        "alice",
        "corp",
        "shop.test",
        alice.as_str(),
    ] {
        assert!(!p1.contains(raw), "principal holds {raw}");
    }
    // A fresh token for the same user is the same principal.
    let again = f.user("alice", "other scope");
    let p3 = f
        .principal(
            &req("POST", "payments.shop.test", "/v1/charges")
                .bearer(&again)
                .peer(CHECKOUT),
        )
        .await;
    assert_eq!(p1, p3);

    // Another key, another principal.
    let other = Engine::new(HashKey::from_bytes(b"another-key-another-key-another!"));
    let Decision::Allow(a) = other.evaluate(&f.policy, &r.facts()).await else {
        panic!("allowed before");
    };
    assert_ne!(other.principal(&a), p1);

    // Different callers differ.
    let bob = f
        .principal(
            &req("POST", "payments.shop.test", "/v1/charges")
                .bearer(&f.user("bob", ""))
                .peer(CHECKOUT),
        )
        .await;
    let workload_only = f
        .principal(&req("GET", "inventory.shop.test", "/v1/x").peer(CHECKOUT))
        .await;
    let user_only = f
        .principal(&req("GET", "legacy.shop.test", "/legacy").bearer(&alice))
        .await;
    let anonymous = f.principal(&req("GET", "x.example", "/healthz")).await;
    let all = [&p1, &bob, &workload_only, &user_only, &anonymous];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // The same subject from another issuer is another principal; the
    // principal does not depend on the hop.
    let me = || req("GET", "users.shop.test", "/me");
    let corp_alice = f.principal(&me().bearer(&alice)).await;
    assert_eq!(corp_alice, user_only);
    let partner_alice = f
        .principal(&me().bearer(&token(&f.partner, PARTNER, "alice", "")))
        .await;
    assert_ne!(partner_alice, corp_alice);
    // Decision ids, unlike principals, are fresh per request.
    assert_ne!(
        f.eval(&r).await.decision_id(),
        f.eval(&r).await.decision_id()
    );
}

#[tokio::test]
async fn bounds_give_400() {
    let f = fixture();
    let health = || req("GET", "x.example", "/healthz");
    let many = |n: usize| {
        let mut r = health();
        for i in 0..n {
            r.headers.insert(format!("x-h-{i}"), "v".into());
        }
        r
    };
    // At the bound: fine.
    assert!(f.eval(&many(256)).await.is_allow());
    let cases: Vec<(&str, Req, Reason)> = vec![
        ("257 headers", many(257), Reason::RequestTooLarge),
        (
            "one huge header",
            health().header("x-big", &"a".repeat(97 * 1024)),
            Reason::RequestTooLarge,
        ),
        (
            "huge header name",
            health().header(&"x".repeat(97 * 1024), "v"),
            Reason::RequestTooLarge,
        ),
        (
            "long host",
            req("GET", &"a".repeat(1025), "/healthz"),
            Reason::RequestTooLarge,
        ),
        (
            "long method",
            req(&"G".repeat(33), "x.example", "/healthz"),
            Reason::RequestTooLarge,
        ),
        (
            "long path",
            req("GET", "x.example", &format!("/{}", "a".repeat(8 * 1024))),
            Reason::RequestTooLarge,
        ),
        (
            "empty host",
            req("GET", "", "/healthz"),
            Reason::RequestMalformed,
        ),
        (
            "empty method",
            req("", "x.example", "/healthz"),
            Reason::RequestMalformed,
        ),
        (
            "relative path",
            req("GET", "x.example", "healthz"),
            Reason::RequestMalformed,
        ),
        (
            "empty path",
            req("GET", "x.example", ""),
            Reason::RequestMalformed,
        ),
        (
            "absolute URI path",
            req("GET", "x.example", "http://x.example/healthz"),
            Reason::RequestMalformed,
        ),
    ];
    for (what, r, reason) in cases {
        let d = f.deny(&r).await;
        assert_eq!(d.reason, reason, "{what}");
        assert_eq!(d.kind(), DenyKind::BadRequest, "{what}");
        assert_eq!(d.kind().http_status(), 400, "{what}");
        assert_eq!(d.hop, None, "{what}");
    }
    // Headers that fit (many headers totalling under 96 KiB).
    let mut r = health();
    for i in 0..200 {
        r.headers.insert(format!("x-h-{i}"), "v".repeat(400));
    }
    assert!(f.eval(&r).await.is_allow());
}

#[tokio::test]
async fn non_normalized_paths_give_400() {
    let f = fixture();
    for path in [
        "/a/../b",
        "/v1/things/../things/1",
        "/v1/./things/1",
        "/v1//things/1",
        "/a%2fb",
        "/v1/things%2F1",
        "/%61",
        "/v1/things/%31",
        "/v1/%74hings/1",
        "/v1/things/1%2e",
        "/v1\\things\\1",
        "/v1/things/%zz",
        "/v1/things/1%",
        "//healthz",
    ] {
        let d = f.deny(&req("GET", "api.shop.test", path)).await;
        assert_eq!(d.reason, Reason::PathNotNormalized, "{path}");
        assert_eq!(d.kind().http_status(), 400, "{path}");
    }
    // Percent-encoding of characters outside the unreserved set is fine.
    let a = f
        .allow(&req("GET", "api.shop.test", "/v1/things/a%20b"))
        .await;
    assert_eq!(a.path_params, vec![("id".to_owned(), "a%20b".to_owned())]);
}

#[tokio::test]
async fn traced_evaluation_names_the_hop_and_each_step() {
    let f = fixture();
    let mut steps = Vec::new();
    let d = f
        .engine
        .evaluate_traced(
            &f.policy,
            &req("GET", "api.shop.test", "/v1/things/1").facts(),
            Some(&mut steps),
        )
        .await;
    assert!(d.is_allow());
    assert!(
        steps[0].contains("hop \"first\" matches GET api.shop.test/v1/things/1"),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|s| s == "no workload identity"),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|s| s == "caller rule 0: admits"),
        "{steps:?}"
    );
    assert!(steps.last().unwrap().starts_with("allow"), "{steps:?}");

    let token = f.user("alice", "");
    let mut steps = Vec::new();
    let r = req("POST", "payments.shop.test", "/v1/charges")
        .bearer(&token)
        .peer("spiffe://shop.test/ns/shop/sa/intruder");
    let d = f
        .engine
        .evaluate_traced(&f.policy, &r.facts(), Some(&mut steps))
        .await;
    assert!(!d.is_allow());
    assert!(
        steps.iter().any(|s| s.contains("hop \"charge\"")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("workload spiffe://shop.test/ns/shop/sa/intruder")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("end user verified, issuer \"corp\"")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s == "caller rule 0: workload does not match"),
        "{steps:?}"
    );
    assert!(
        steps.last().unwrap().contains("(caller_not_allowed)"),
        "{steps:?}"
    );
    assert!(
        steps.iter().all(|s| !s.contains(&token)),
        "steps never hold the token"
    );

    let mut steps = Vec::new();
    let d = f
        .engine
        .evaluate_traced(
            &f.policy,
            &req("GET", "nowhere.test", "/x").facts(),
            Some(&mut steps),
        )
        .await;
    assert!(!d.is_allow());
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        steps[0].starts_with("no hop matches GET nowhere.test/x"),
        "{steps:?}"
    );
    assert!(steps[1].contains("(no_hop_matched)"), "{steps:?}");

    let mut steps = Vec::new();
    f.engine
        .evaluate_traced(
            &f.policy,
            &req("GET", "api.shop.test", "/a/../b").facts(),
            Some(&mut steps),
        )
        .await;
    assert_eq!(steps.len(), 1);
    assert!(steps[0].contains("path_not_normalized"), "{steps:?}");
}

#[test]
fn reason_codes_and_statuses() {
    let cases: &[(Reason, &str, u16)] = &[
        (Reason::RequestMalformed, "request_malformed", 400),
        (Reason::RequestTooLarge, "request_too_large", 400),
        (Reason::PathNotNormalized, "path_not_normalized", 400),
        (Reason::NoHopMatched, "no_hop_matched", 403),
        (Reason::CredentialsMissing, "credentials_missing", 401),
        (Reason::Token(TokenError::Expired), "token_expired", 401),
        (
            Reason::Token(TokenError::KeysUnavailable),
            "token_keys_unavailable",
            401,
        ),
        (Reason::WorkloadInvalid, "workload_invalid", 403),
        (Reason::WorkloadMissing, "workload_missing", 403),
        (Reason::CallerNotAllowed, "caller_not_allowed", 403),
    ];
    for (reason, code, status) in cases {
        assert_eq!(reason.code(), *code);
        assert_eq!(reason.kind().http_status(), *status, "{code}");
        assert!(!reason.to_string().is_empty());
    }
}

#[tokio::test]
async fn principals_of_distinct_callers_never_collide() {
    // Issuer names are free text; "a" with sub "b:c" and "a:b" with sub "c"
    // both become the string "|a:b:c" before hashing.
    let dir = TempDir::new();
    let first = SigningKey::generate(KeyKind::Es256, "first").unwrap();
    let second = SigningKey::generate(KeyKind::Es256, "second").unwrap();
    std::fs::write(
        dir.0.join("first.json"),
        jwks_document([&first]).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("second.json"),
        jwks_document([&second]).to_string(),
    )
    .unwrap();
    let yaml = r#"
version: "collide.1"
trust_domain: shop.test
issuers:
  - name: "a"
    issuer: https://first.test
    audiences: [api]
    algorithms: [ES256]
    jwks: { file: first.json }
  - name: "a:b"
    issuer: https://second.test
    audiences: [api]
    algorithms: [ES256]
    jwks: { file: second.json }
hops:
  - name: me
    match: { host: users.shop.test, path: /me }
    from:
      - users: { issuer: "a" }
      - users: { issuer: "a:b" }
"#;
    let ctx = CompileContext {
        http: crate::identity::test_fetch::TcpFetch::shared(),
        jwks: Arc::new(JwksRegistry::default()),
        clock: FixedClock::new(NOW),
        hash_key: None,
        token_cache_entries: crate::identity::jwt::DEFAULT_CACHE_ENTRIES,
    };
    let policy = compile("policy.yaml", Some(&dir.0), yaml.as_bytes(), &ctx).unwrap();
    let engine = Engine::new(HashKey::from_bytes(b"policy-tests-hash-key-0123456789"));
    let principal = |token: String| {
        let r = req("GET", "users.shop.test", "/me").bearer(&token);
        let policy = &policy;
        let engine = &engine;
        async move {
            match engine.evaluate(policy, &r.facts()).await {
                Decision::Allow(a) => engine.principal(&a),
                Decision::Deny(d) => panic!("denied: {}", d.reason),
            }
        }
    };
    let one = principal(token(&first, "https://first.test", "b:c", "")).await;
    let two = principal(token(&second, "https://second.test", "c", "")).await;
    assert_ne!(one, two, "two different end users share a principal");
}
