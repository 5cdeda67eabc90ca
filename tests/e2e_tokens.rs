//! Per-hop Transaction Tokens, proven with two real Envoys: the ingress Envoy
//! asks chaperone (ext_authz mints), then forwards to a callee's sidecar
//! Envoy whose jwt_authn filter verifies the token with the JWKS chaperone
//! publishes, in front of the test upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaperone::token::{KeyKind, SigningKey};
use common::*;
use serde_json::{Value, json};

const TXN_ISSUER: &str = "https://chaperone.shop.test";

fn policy(jwks_url: &str) -> String {
    format!(
        r#"
version: "tokens.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks_url}" }}
tokens:
  issuer: {TXN_ISSUER}
  ttl: 30s
hops:
  - name: read-order
    match: {{ host: orders.shop.test, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: corp, scopes: ["orders:read"] }}
    token: {{ audience: orders, scope: [orders.read], tctx: [order_id], rctx: true }}
"#
    )
}

fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut part =
        || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (part(), part())
}

struct Stack {
    idp: Idp,
    keys: TempDir,
    chaperone: Chaperone,
    upstream: Server,
    sidecar: Envoy,
    ingress: Envoy,
}

fn write_key(dir: &TempDir, kid: &str) -> SigningKey {
    let key = SigningKey::generate(KeyKind::Es256, kid).unwrap();
    std::fs::write(dir.path(&format!("{kid}.pem")), key.to_pem()).unwrap();
    key
}

async fn stack() -> (Stack, SigningKey) {
    let idp = Idp::start().await;
    let keys = TempDir::new("keys");
    let k1 = write_key(&keys, "k1");
    let key_dir = keys.0.display().to_string();
    let chaperone =
        Chaperone::start_with(&policy(&idp.jwks_url()), &["--signing-keys", &key_dir]).await;
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let sidecar = Envoy::start(
        "sidecar-jwt.yaml",
        &["SIDECAR_HTTP_PORT"],
        HashMap::from([
            ("CHAPERONE_ADMIN_PORT", chaperone.admin_port.to_string()),
            ("UPSTREAM_PORT", upstream.port().to_string()),
            ("TXN_ISSUER", TXN_ISSUER.to_owned()),
            ("TXN_AUDIENCE", "orders".to_owned()),
            ("JWKS_CACHE_DURATION", "1s".to_owned()),
        ]),
    )
    .await;
    let ingress = Envoy::start(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        HashMap::from([
            ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
            (
                "UPSTREAM_PORT",
                sidecar.ports["SIDECAR_HTTP_PORT"].to_string(),
            ),
        ]),
    )
    .await;
    (
        Stack {
            idp,
            keys,
            chaperone,
            upstream,
            sidecar,
            ingress,
        },
        k1,
    )
}

impl Stack {
    async fn through_ingress(&self, user_token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut req = http()
            .get(self.ingress.url("ENVOY_HTTP_PORT", "/v1/orders/o-7"))
            .header("host", "orders.shop.test")
            .header("authorization", format!("Bearer {user_token}"));
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    async fn direct_to_sidecar(&self, txn_token: Option<&str>) -> u16 {
        let mut req = http()
            .get(self.sidecar.url("SIDECAR_HTTP_PORT", "/v1/orders/o-7"))
            .header("host", "orders.shop.test");
        if let Some(t) = txn_token {
            req = req.header("txn-token", t);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// The sidecar's count of successful JWKS fetches.
    async fn jwks_fetches(&self) -> u64 {
        let stats = http()
            .get(format!(
                "http://127.0.0.1:{}/stats?filter=jwks_fetch_success",
                self.sidecar.admin_port
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        stats
            .lines()
            .filter_map(|l| {
                l.rsplit_once(": ")
                    .and_then(|(_, n)| n.trim().parse::<u64>().ok())
            })
            .sum()
    }

    /// Waits until the sidecar has fetched the JWKS twice more: at least one
    /// fetch began after the change the caller just made.
    async fn sidecar_refetched(&self) {
        let start = self.jwks_fetches().await;
        assert_eventually!(
            self.jwks_fetches().await >= start + 2,
            "the sidecar's JWKS refetch"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_are_verified_by_the_callees_sidecar() {
    let (s, k1) = stack().await;
    let user = s.idp.token("alice", "orders:read profile", json!({}));

    // A client-supplied token is replaced, never forwarded.
    let forged = k1
        .sign(
            "txntoken+jwt",
            &json!({"iss": TXN_ISSUER, "aud": "orders", "sub": "mallory", "exp": 9_999_999_999i64}),
        )
        .unwrap();
    let resp = s
        .through_ingress(
            &user,
            &[("x-request-id", "req-abc-123"), ("txn-token", &forged)],
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{}\n{}",
        s.chaperone.log(),
        s.sidecar.log()
    );
    let seen = s.upstream.take();
    assert_eq!(seen.len(), 1);
    let token = &seen[0].headers["txn-token"];
    assert_ne!(token, &forged);
    assert!(
        !seen[0].headers.contains_key("authorization"),
        "the user's token stopped at the edge"
    );

    let (header, claims) = decode(token);
    assert_eq!(header["typ"], "txntoken+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "k1");
    assert_eq!(claims["iss"], TXN_ISSUER);
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["sub"], "alice");
    // The client's request id is not the transaction's: the edge Envoy
    // replaced it with its own, and that is the one the token carries.
    assert_ne!(claims["txn"], "req-abc-123");
    assert_eq!(claims["txn"], seen[0].headers["x-request-id"].as_str());
    assert!(chaperone::telemetry::is_envoy_request_id(
        claims["txn"].as_str().unwrap()
    ));
    assert_eq!(
        claims["scope"], "orders.read",
        "the hop's scope, not the user's whole grant"
    );
    assert_eq!(claims["req_wl"], "edge");
    assert_eq!(claims["tctx"]["order_id"], "o-7");
    assert_eq!(claims["tctx"]["hop"], "read-order");
    assert_eq!(claims["rctx"]["authn"], "jwt");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 30);
    assert!(
        !s.chaperone.log().contains(token.as_str()),
        "minted tokens are never logged"
    );

    // The sidecar rejects every token that is not a valid one for it.
    let now = chaperone::clock::Clock::now_unix(&chaperone::clock::SystemClock);
    let base = json!({"iss": TXN_ISSUER, "aud": "orders", "sub": "alice", "txn": "t", "scope": "orders.read", "req_wl": "edge", "iat": now});
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let mut tampered = token.clone();
    let mid = tampered.find('.').unwrap() + 5;
    tampered.replace_range(
        mid..mid + 1,
        if &tampered[mid..=mid] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let stranger = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    // (Envoy's jwt_authn answers 403 for an audience it does not accept, 401 otherwise.)
    let rejected = [
        ("tampered", tampered, 401),
        (
            "expired",
            k1.sign("txntoken+jwt", &with(json!({"exp": now - 120})))
                .unwrap(),
            401,
        ),
        (
            "wrong audience",
            k1.sign(
                "txntoken+jwt",
                &with(json!({"exp": now + 60, "aud": "payments"})),
            )
            .unwrap(),
            403,
        ),
        (
            "wrong issuer",
            k1.sign(
                "txntoken+jwt",
                &with(json!({"exp": now + 60, "iss": "https://elsewhere"})),
            )
            .unwrap(),
            401,
        ),
        (
            "client-made, unknown key",
            stranger
                .sign("txntoken+jwt", &with(json!({"exp": now + 60})))
                .unwrap(),
            401,
        ),
    ];
    for (what, t, status) in &rejected {
        assert_eq!(s.direct_to_sidecar(Some(t)).await, *status, "{what}");
    }
    assert_eq!(s.direct_to_sidecar(None).await, 401, "no token");
    // The genuine token works directly too (it is a bearer token for 30 s).
    assert_eq!(s.direct_to_sidecar(Some(token)).await, 200);
    assert_eq!(
        s.upstream.take().len(),
        1,
        "only the genuine token got through"
    );

    // The published documents.
    let admin = format!("http://127.0.0.1:{}", s.chaperone.admin_port);
    let jwks = http()
        .get(format!("{admin}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert!(
        jwks.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "k1");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    let discovery: Value = http()
        .get(format!("{admin}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], TXN_ISSUER);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{TXN_ISSUER}/.well-known/jwks.json")
    );
    assert!(
        s.chaperone
            .metrics()
            .await
            .contains(r#"chaperone_tokens_minted_total{hop="read-order"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_under_traffic_fails_no_request() {
    let (s, _k1) = stack().await;
    let s = Arc::new(s);
    let user = s.idp.token("alice", "orders:read", json!({}));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (s, stop, ok, failed, user) = (
            Arc::clone(&s),
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
            user.clone(),
        );
        tokio::spawn(async move {
            // Bounded: at most 20 000 requests or 60 s.
            let started = std::time::Instant::now();
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                match s.through_ingress(&user, &[]).await.status().as_u16() {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    let kids_seen = |s: &Stack| -> Vec<String> {
        s.upstream
            .take()
            .iter()
            .map(|r| {
                decode(&r.headers["txn-token"]).0["kid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eventually!(ok.load(Ordering::Relaxed) > 20, "traffic");

    // 1. Publish k2 beside k1; k1 still signs.
    write_key(&s.keys, "k2");
    std::fs::write(s.keys.path("active-kid"), "k1").unwrap();
    let jwks_url = format!(
        "http://127.0.0.1:{}/.well-known/jwks.json",
        s.chaperone.admin_port
    );
    assert_eventually!(
        http()
            .get(&jwks_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("\"k2\""),
        "k2 published"
    );
    s.sidecar_refetched().await;
    assert!(kids_seen(&s).iter().all(|k| k == "k1"));

    // 2. Switch the signer to k2.
    std::fs::write(s.keys.path("active-kid"), "k2").unwrap();
    assert_eventually!(kids_seen(&s).iter().any(|k| k == "k2"), "k2 signing");

    // 3. Retire k1 once its tokens have been used (each is used at once here).
    std::fs::remove_file(s.keys.path("k1.pem")).unwrap();
    assert_eventually!(
        !http()
            .get(&jwks_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("\"k1\""),
        "k1 retired"
    );
    s.sidecar_refetched().await;
    let before = ok.load(Ordering::Relaxed);
    assert_eventually!(
        ok.load(Ordering::Relaxed) > before + 20,
        "traffic after rotation"
    );

    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    assert!(kids_seen(&s).iter().all(|k| k == "k2"));
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during the rotation ({} succeeded)",
        ok.load(Ordering::Relaxed)
    );
}

/// An internal hop: the orders workload (mTLS) calls payments carrying the
/// token chaperone minted for the hop into orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_tokens_keep_txn_and_sub_and_only_narrow() {
    let idp = Idp::start().await;
    let keys = TempDir::new("keys");
    write_key(&keys, "k1");
    let chained_policy = format!(
        r#"{}
  - name: orders-reads-payment
    match: {{ host: payments.shop.test, method: GET, path: "/v1/payments/{{id}}" }}
    from:
      - workloads: [spiffe://shop.test/ns/shop/sa/orders]
        transaction: {{ scopes: [orders.read] }}
    token: {{ audience: payments, scope: [orders.read, payments.admin] }}
services:
  orders: spiffe://shop.test/ns/shop/sa/orders
"#,
        policy(&idp.jwks_url())
    );
    let key_dir = keys.0.display().to_string();
    let chaperone = Chaperone::start_with(&chained_policy, &["--signing-keys", &key_dir]).await;
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let edge = Envoy::start(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        edge_vars(&chaperone, &upstream),
    )
    .await;
    let pki = common::pki::Pki::new();
    let mut vars = edge_vars(&chaperone, &upstream);
    vars.insert("TLS_DIR", pki.dir.0.display().to_string());
    let mesh = Envoy::start(mesh_config(), &["ENVOY_MTLS_PORT"], vars).await;

    // Hop 1 at the edge: alice reads an order; orders receives a token for it.
    let user = idp.token("alice", "orders:read", json!({}));
    let resp = http()
        .get(edge.url("ENVOY_HTTP_PORT", "/v1/orders/o-1"))
        .header("host", "orders.shop.test")
        .header("authorization", format!("Bearer {user}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = upstream.take().remove(0).headers["txn-token"].clone();
    let (_, first_claims) = decode(&first);

    // Hop 2 in the mesh: the orders workload calls payments with that token.
    let orders = pki.client(Some(
        pki.client_identity("spiffe://shop.test/ns/shop/sa/orders", false),
    ));
    let call = |client: reqwest::Client, token: String, bearer: Option<String>| {
        let url = format!(
            "https://127.0.0.1:{}/v1/payments/p-9",
            mesh.ports["ENVOY_MTLS_PORT"]
        );
        async move {
            let mut req = client
                .get(url)
                .header("host", "payments.shop.test")
                .header("txn-token", token);
            if let Some(b) = bearer {
                req = req.header("authorization", format!("Bearer {b}"));
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    // Even with another user's JWT alongside, the chained token's `sub` rules.
    let mallory = idp.token("mallory", "orders:read payments.admin", json!({}));
    assert_eq!(
        call(orders.clone(), first.clone(), Some(mallory)).await,
        200,
        "{}",
        chaperone.log()
    );
    let second = upstream.take().remove(0).headers["txn-token"].clone();
    let (_, c) = decode(&second);
    assert_eq!(c["txn"], first_claims["txn"]);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "payments");
    assert_eq!(
        c["scope"], "orders.read",
        "payments.admin was asked for but never held: scope only narrows"
    );
    assert_eq!(c["req_wl"], "spiffe://shop.test/ns/shop/sa/orders");
    assert_eq!(c["act"]["sub"], "edge");
    assert_eq!(c["tctx"], first_claims["tctx"]);

    // The payments token presented by orders again: its audience is not orders.
    assert_eq!(call(orders.clone(), second.clone(), None).await, 401);
    // Another workload cannot use orders' token: it is not addressed to it.
    let intruder = pki.client(Some(
        pki.client_identity("spiffe://shop.test/ns/shop/sa/intruder", false),
    ));
    assert_eq!(call(intruder, first.clone(), None).await, 401);
    // A token that is no token: 401.
    assert_eq!(call(orders, "not-a-token".into(), None).await, 401);
    assert!(upstream.take().is_empty());
    let log = chaperone.log();
    assert!(
        log.contains("txn_token_wrong_audience") && log.contains("txn_token_malformed"),
        "{log}"
    );
}
