//! End to end through a real Envoy 1.40: ext_authz and ext_proc both served
//! by the chaperone binary, an identity provider serving its JWKS over HTTP,
//! and an upstream that records what it received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaperone::token::{KeyKind, SigningKey};
use common::*;
use serde_json::json;

fn policy(jwks_url: &str) -> String {
    format!(
        r#"
version: "e2e.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    leeway: 5s
    jwks: {{ url: "{jwks_url}", min_refetch_interval: 200ms }}
hops:
  - name: read-order
    match: {{ host: orders.shop.test, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: corp, scopes: ["orders:read"] }}
    response:
      headers: {{ remove: [x-internal-trace] }}
  - name: create-order
    match: {{ host: orders.shop.test, method: POST, path: /v1/orders }}
    from:
      - users: {{ issuer: corp }}
  - name: charge
    match: {{ host: payments.shop.test, method: POST, path: /v1/charges }}
    from:
      - workloads: [spiffe://shop.test/ns/shop/sa/checkout]
        users: {{ issuer: corp }}
  - name: carrier-rates
    match: {{ host: carrier.example, method: GET, path: "/v1/rates/{{zip}}" }}
    from:
      - users: {{ issuer: corp }}
    token: {{ mint: false }}
  - name: health
    match: {{ host: "*", method: GET, path: /healthz }}
    from:
      - anonymous: true
"#
    )
}

struct Stack {
    idp: Idp,
    chaperone: Chaperone,
    upstream: Server,
    envoy: Envoy,
}

async fn stack() -> Stack {
    let idp = Idp::start().await;
    let chaperone = Chaperone::start(&policy(&idp.jwks_url())).await;
    let (upstream, envoy) = edge(&chaperone).await;
    Stack {
        idp,
        chaperone,
        upstream,
        envoy,
    }
}

impl Stack {
    async fn get(&self, host: &str, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = http()
            .get(self.envoy.url("ENVOY_HTTP_PORT", path))
            .header("host", host);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send().await.unwrap()
    }
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizes_every_hop_through_envoy() {
    let s = stack().await;
    let now = chaperone::clock::Clock::now_unix(&chaperone::clock::SystemClock);
    let good = s.idp.token("alice", "orders:read", json!({}));

    // Valid JWT: allowed, forwarded without the caller's credential.
    let resp = s
        .get("orders.shop.test", "/v1/orders/o-1", Some(&good))
        .await;
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());
    for leaky in ["server", "x-powered-by", "x-internal-trace"] {
        assert!(
            resp.headers().get(leaky).is_none(),
            "response header {leaky} must be removed"
        );
    }
    let seen = s.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/orders/o-1");
    assert!(!seen[0].headers.contains_key("authorization"));
    // The callee and chaperone's decision event share Envoy's request id.
    let request_id = &seen[0].headers["x-request-id"];
    let allow = decision_events(&s.chaperone.log())
        .into_iter()
        .find(|e| is_authorization(e) && e["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no decision event for {request_id}"));
    assert_eq!(allow["decision"], "allow");
    assert_eq!(allow["hop"], "read-order");

    // Headers in chaperone's name that a client sends never reach the callee.
    let resp = http()
        .get(s.envoy.url("ENVOY_HTTP_PORT", "/v1/orders/o-2"))
        .header("host", "orders.shop.test")
        .header("authorization", format!("Bearer {good}"))
        .header("x-chaperone-decision-id", "forged")
        .header("x-chaperone-hop", "read-order.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = s.upstream.take();
    assert!(
        seen[0]
            .headers
            .keys()
            .all(|h| !h.starts_with("x-chaperone-")),
        "{:?}",
        seen[0].headers
    );

    // A body passes through ext_proc unchanged, both ways.
    let body = r#"{"sku":"A-1","qty":2}"#;
    let resp = http()
        .post(s.envoy.url("ENVOY_HTTP_PORT", "/v1/orders"))
        .header("host", "orders.shop.test")
        .header("authorization", format!("Bearer {good}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echoed: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echoed["body"], body);
    assert_eq!(s.upstream.take()[0].body, body);

    // No token: 401 with a challenge and a generic body.
    let resp = s.get("orders.shop.test", "/v1/orders/o-1", None).await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    assert_eq!(body["decision_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "nothing but error and decision id: {body}"
    );

    // Every kind of bad token: 401.
    let other_key = SigningKey::generate(KeyKind::Es256, "idp-key-1").unwrap();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "orders:read", "iat": now, "exp": now + 300});
    let public_jwk = s.idp.key.public_jwk().to_string();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some("idp-key-1".into());
    let hs256_with_public_key = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 6.., "AAAAAA");
    let bad: Vec<(&str, String)> = vec![
        (
            "expired",
            s.idp.token(
                "alice",
                "orders:read",
                json!({"exp": now - 600, "iat": now - 900}),
            ),
        ),
        (
            "not yet valid",
            s.idp
                .token("alice", "orders:read", json!({"nbf": now + 600})),
        ),
        (
            "wrong issuer",
            s.idp.token(
                "alice",
                "orders:read",
                json!({"iss": "https://evil.example"}),
            ),
        ),
        (
            "wrong audience",
            s.idp
                .token("alice", "orders:read", json!({"aud": "other-api"})),
        ),
        (
            "bad signature (other key, same kid)",
            other_key.sign("JWT", &claims).unwrap(),
        ),
        ("tampered signature", tampered),
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256_with_public_key),
        ("not a JWT", "abc.def".to_owned()),
        ("huge", "a".repeat(10_000)),
        (
            "deeply nested",
            format!(
                "{}.{}.x",
                b64(&json!({"alg":"ES256"})),
                URL_SAFE_NO_PAD.encode("[".repeat(5000))
            ),
        ),
    ];
    for (what, token) in &bad {
        let resp = s
            .get("orders.shop.test", "/v1/orders/o-1", Some(token))
            .await;
        assert_eq!(resp.status(), 401, "{what} must be 401");
        assert!(resp.headers().contains_key("www-authenticate"), "{what}");
    }

    // Valid user, but the scope the hop requires is missing: 403.
    let no_scope = s.idp.token("alice", "profile", json!({}));
    assert_eq!(
        s.get("orders.shop.test", "/v1/orders/o-1", Some(&no_scope))
            .await
            .status(),
        403
    );

    // Right user, but no workload identity where the hop requires one: 403.
    let resp = http()
        .post(s.envoy.url("ENVOY_HTTP_PORT", "/v1/charges"))
        .header("host", "payments.shop.test")
        .header("authorization", format!("Bearer {good}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // A route no hop matches: 403, token or not.
    assert_eq!(
        s.get("orders.shop.test", "/v1/admin", Some(&good))
            .await
            .status(),
        403
    );
    assert_eq!(
        s.get("unknown.shop.test", "/v1/orders/o-1", Some(&good))
            .await
            .status(),
        403
    );
    assert_eq!(
        s.get("orders.shop.test", "/v1/orders/o-1/extra", Some(&good))
            .await
            .status(),
        403
    );

    // An anonymous hop.
    assert_eq!(
        s.get("anything.shop.test", "/healthz", None).await.status(),
        200
    );

    // The upstream saw exactly the allowed requests, and never a credential.
    let seen = s.upstream.take();
    assert_eq!(
        seen.len(),
        1,
        "only the health check since the last take: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );

    // Denials are in chaperone's log with their precise reason; the tokens are not.
    let log = s.chaperone.log();
    for code in [
        "token_expired",
        "token_not_yet_valid",
        "token_unknown_issuer",
        "token_wrong_audience",
        "token_bad_signature",
        "credentials_missing",
        "no_hop_matched",
        "workload_missing",
    ] {
        assert!(log.contains(code), "log lacks {code}");
    }
    for (_, token) in &bad {
        if token.len() > 20 {
            assert!(!log.contains(token.as_str()), "a token reached the log");
        }
    }
    assert!(!log.contains(&good));

    let metrics = s.chaperone.metrics().await;
    assert!(
        metrics.contains(
            r#"chaperone_decisions_total{decision="allow",hop="read-order",reason="ok"}"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"reason="token_expired""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_that_mints_no_token_passes_on_none() {
    let s = stack().await;
    let good = s.idp.token("alice", "orders:read", json!({}));
    let smuggled = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2ln";
    for (host, path) in [
        ("orders.shop.test", "/v1/orders/o-1"),
        ("carrier.example", "/v1/rates/75001"),
    ] {
        let resp = http()
            .get(s.envoy.url("ENVOY_HTTP_PORT", path))
            .header("host", host)
            .header("authorization", format!("Bearer {good}"))
            .header("txn-token", smuggled)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{host}: {}", s.chaperone.log());
    }
    let seen = s.upstream.take();
    assert_eq!(seen.len(), 2);
    // A minting hop replaces the client's token with its own.
    let minted = &seen[0].headers["txn-token"];
    assert_ne!(minted, smuggled);
    assert_eq!(minted.split('.').count(), 3);
    // A hop that mints none passes none on: not the client's, and not the
    // caller's credential either.
    assert_eq!(seen[1].path, "/v1/rates/75001");
    assert!(
        !seen[1].headers.contains_key("txn-token"),
        "{:?}",
        seen[1].headers
    );
    assert!(!seen[1].headers.contains_key("authorization"));
    let metrics = s.chaperone.metrics().await;
    assert!(metrics.contains(r#"chaperone_tokens_minted_total{hop="read-order"} 1"#));
    assert!(!metrics.contains(r#"chaperone_tokens_minted_total{hop="carrier-rates"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_known_keys_when_jwks_goes_down_and_fails_closed_without_chaperone() {
    let mut s = stack().await;
    let good = s.idp.token("bob", "orders:read", json!({}));
    assert_eq!(
        s.get("orders.shop.test", "/v1/orders/o-1", Some(&good))
            .await
            .status(),
        200
    );

    // The identity provider goes away: keys fetched before still verify.
    s.idp.stop();
    let again = s.idp.token("bob", "orders:read", json!({"jti": "second"}));
    assert_eq!(
        s.get("orders.shop.test", "/v1/orders/o-1", Some(&again))
            .await
            .status(),
        200
    );
    // A token under a key we never saw cannot be verified: 401, not an allow.
    let stranger = SigningKey::generate(KeyKind::Es256, "rotated-key-9").unwrap();
    let now = chaperone::clock::Clock::now_unix(&chaperone::clock::SystemClock);
    let token = stranger
        .sign("JWT", &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bob", "scope": "orders:read", "exp": now + 60}))
        .unwrap();
    // It also makes chaperone try the (now unreachable) JWKS once more.
    assert_eventually!(
        {
            assert_eq!(
                s.get("orders.shop.test", "/v1/orders/o-1", Some(&token))
                    .await
                    .status(),
                401
            );
            s.chaperone.log().contains("JWKS fetch failed")
        },
        "a JWKS refetch"
    );
    // And the keys it knew still work after that failed fetch.
    assert_eq!(
        s.get("orders.shop.test", "/v1/orders/o-1", Some(&again))
            .await
            .status(),
        200
    );

    // chaperone stops: Envoy denies everything, even what was allowed before.
    // ext_authz fails closed with 403; Envoy then runs that local reply
    // through ext_proc, which cannot reach chaperone either and turns it into
    // a 500. Either way the request is refused and never reaches the upstream.
    s.chaperone.stop();
    for (host, path, token) in [
        ("orders.shop.test", "/v1/orders/o-1", Some(good.as_str())),
        ("orders.shop.test", "/v1/orders/o-2", Some(good.as_str())),
        ("anything.shop.test", "/healthz", None),
    ] {
        let status = s.get(host, path, token).await.status().as_u16();
        assert!(status == 403 || status == 500, "fail closed, got {status}");
    }
    assert_eq!(
        s.upstream.take().len(),
        3,
        "nothing reached the upstream after chaperone stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_from_mtls() {
    let idp = Idp::start().await;
    let chaperone = Chaperone::start(&policy(&idp.jwks_url())).await;
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let pki = common::pki::Pki::new();
    let mut vars = edge_vars(&chaperone, &upstream);
    vars.insert("TLS_DIR", pki.dir.0.display().to_string());
    let envoy = Envoy::start(mesh_config(), &["ENVOY_MTLS_PORT"], vars).await;
    let url = format!(
        "https://127.0.0.1:{}/v1/charges",
        envoy.ports["ENVOY_MTLS_PORT"]
    );
    let user = idp.token("alice", "payments:write", json!({}));

    let post = |client: reqwest::Client| {
        let url = url.clone();
        let user = user.clone();
        async move {
            client
                .post(url)
                .header("host", "payments.shop.test")
                .header("authorization", format!("Bearer {user}"))
                .header("content-type", "application/json")
                .body(r#"{"amount":10}"#)
                .send()
                .await
        }
    };

    let checkout = pki.client(Some(
        pki.client_identity("spiffe://shop.test/ns/shop/sa/checkout", false),
    ));
    let resp = post(checkout).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", chaperone.log());
    let seen = upstream.take();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers["x-forwarded-client-cert"]
            .contains("URI=spiffe://shop.test/ns/shop/sa/checkout")
    );
    assert!(!seen[0].headers.contains_key("authorization"));
    let allow = decision_events(&chaperone.log())
        .into_iter()
        .find(|e| is_authorization(e) && e["decision"] == "allow")
        .expect("an allow event");
    // mesh-mtls.yaml passes the decision id on from ext_authz's metadata
    // (with ext_proc only there is none; no client's header reaches the callee).
    if ext_proc_only() {
        assert!(!seen[0].headers.contains_key("x-chaperone-decision-id"));
    } else {
        assert_eq!(
            seen[0].headers["x-chaperone-decision-id"],
            allow["decision_id"].as_str().unwrap()
        );
    }
    assert_eq!(
        seen[0].headers["x-request-id"],
        allow["request_id"].as_str().unwrap()
    );

    // Right user, wrong workload: 403.
    let intruder = pki.client(Some(
        pki.client_identity("spiffe://shop.test/ns/shop/sa/intruder", false),
    ));
    assert_eq!(post(intruder).await.unwrap().status(), 403);

    // A certificate from another CA, or none: the TLS handshake itself fails.
    let foreign = pki.client(Some(
        pki.client_identity("spiffe://shop.test/ns/shop/sa/checkout", true),
    ));
    assert!(post(foreign).await.is_err());
    assert!(post(pki.client(None)).await.is_err());
    assert!(upstream.take().is_empty());
    assert!(chaperone.log().contains("caller_not_allowed"));
}

/// CEL conditions through Envoy: object-level (only the customer named in
/// the path), function-level (a role) and tenant isolation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_decide_object_level_access() {
    let idp = Idp::start().await;
    let policy = format!(
        r#"
version: "cel.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{}" }}
hops:
  - name: own-orders
    match: {{ host: orders.shop.test, method: GET, path: "/v1/customers/{{customer_id}}/orders" }}
    when: "request.headers['x-tenant'] == user.tenant"
    from:
      - users: {{ issuer: corp }}
        when: "path.customer_id == user.sub || 'support' in user.roles"
"#,
        idp.jwks_url()
    );
    let chaperone = Chaperone::start(&policy).await;
    let (upstream, envoy) = edge(&chaperone).await;
    let get = |customer: &str, token: String, tenant: &str| {
        http()
            .get(envoy.url(
                "ENVOY_HTTP_PORT",
                &format!("/v1/customers/{customer}/orders"),
            ))
            .header("host", "orders.shop.test")
            .header("authorization", format!("Bearer {token}"))
            .header("x-tenant", tenant)
            .send()
    };
    let alice = idp.token("c-alice", "", json!({"tenant": "t1", "roles": []}));
    let support = idp.token("agent-7", "", json!({"tenant": "t1", "roles": ["support"]}));
    assert_eq!(
        get("c-alice", alice.clone(), "t1").await.unwrap().status(),
        200
    );
    assert_eq!(
        get("c-bob", alice.clone(), "t1").await.unwrap().status(),
        403,
        "another customer's orders"
    );
    assert_eq!(
        get("c-bob", support.clone(), "t1").await.unwrap().status(),
        200,
        "support may"
    );
    assert_eq!(
        get("c-alice", alice, "t2").await.unwrap().status(),
        403,
        "another tenant"
    );
    assert_eq!(get("c-bob", support, "t2").await.unwrap().status(), 403);
    assert_eq!(upstream.take().len(), 2);
    assert!(chaperone.log().contains("condition_not_met"));
}
