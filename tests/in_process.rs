//! Handler tests in process: an `App` built as `chaperone serve` builds it
//! (a policy file through `PolicyStore::open`, an `Engine`, `App::new`), and
//! the two Envoy adapters called directly, with no process, port or gRPC
//! framing between the test and chaperone: `Authorization::check` on an
//! `AuthzService`, and an ext_proc `HopStream` driven message by message.
//! What each answer carries (statuses, header mutations, replaced bodies,
//! the minted token) is checked as Envoy would apply it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use chaperone::app::App;
use chaperone::authz::AuthzService;
use chaperone::config::PolicyStore;
use chaperone::ext_proc::{AUTHZ_NAMESPACE, HopStream, StreamError};
use chaperone::policy::Engine;
use chaperone::secret::HashKey;
use chaperone::server::compile_context;
use chaperone::token::{KeyKind, SigningKey, jwks_document};
use common::{AUDIENCE, ISSUER, TempDir};
use envoy_types::pb::envoy::config::core::v3::{
    Address, HeaderMap, HeaderValue, HeaderValueOption, Metadata, SocketAddress, address,
    header_value_option::HeaderAppendAction, socket_address,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Peer, Request as AttrRequest,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyResponse, CommonResponse, HeaderMutation, HttpBody, HttpHeaders, ImmediateResponse,
    ProcessingRequest, body_mutation,
};
use envoy_types::pb::google::protobuf::{Struct, value::Kind};
use serde_json::{Value, json};

/// The token issuer the policy names.
const TOKEN_ISSUER: &str = "https://chaperone.shop.test";
/// A request id in the shape Envoy generates: it becomes the token's `txn`.
const REQUEST_ID: &str = "5d1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f";
const CARD: &str = "4111111111111111";

/// Four hops: an anonymous read with its own response hygiene, an egress
/// that carries no token, an end-user read whose token narrows the scope
/// and records the order, and a charge whose request body has a contract.
/// No `data_classes`: the built-in classes, card numbers among those
/// scanned by default.
fn policy() -> String {
    format!(
        r#"version: "inproc.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ file: idp-jwks.json }}
tokens:
  issuer: {TOKEN_ISSUER}
  ttl: 60s
defaults:
  decision: deny
  request: {{ headers: {{ remove: [x-debug] }} }}
hops:
  - name: public-items
    match: {{ host: api.shop.test, method: GET, path: "/v1/items/{{id}}" }}
    from:
      - anonymous: true
    response:
      headers: {{ remove: [x-internal-trace] }}
  - name: partner-webhook
    match: {{ host: hooks.partner.example, method: POST, path: /v1/events }}
    from:
      - anonymous: true
    token: {{ mint: false }}
  - name: read-order
    match: {{ host: orders.shop.test, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: corp, scopes: ["orders:read"] }}
    token: {{ audience: orders, scope: [orders.read], tctx: [order_id] }}
  - name: create-charge
    match: {{ host: payments.shop.test, method: POST, path: /v1/charges }}
    from:
      - anonymous: true
    request:
      body:
        allow: [amount, currency, card_number, order_id]
        unknown: drop
        fields: {{ card_number: mask_pan_last4 }}
"#
    )
}

/// An app on the test policy, and the key of the identity provider whose
/// JWKS file the policy reads.
struct Fixture {
    app: Arc<App>,
    idp: SigningKey,
    _dir: TempDir,
}

/// Built inside the test's runtime, as `serve` builds it (the store may
/// spawn tasks).
fn fixture() -> Fixture {
    fixture_with(&policy())
}

fn fixture_with(policy: &str) -> Fixture {
    let dir = TempDir::new("in-process");
    let idp = SigningKey::generate(KeyKind::Es256, "idp-key-1").unwrap();
    std::fs::write(dir.path("idp-jwks.json"), jwks_document([&idp]).to_string()).unwrap();
    let path = dir.path("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    let store = Arc::new(PolicyStore::open(Some(path), compile_context().unwrap()).unwrap());
    let app = App::new(store, Engine::new(HashKey::from_bytes(&[7u8; 32])));
    Fixture {
        app,
        idp,
        _dir: dir,
    }
}

impl Fixture {
    /// An end-user token from the identity provider.
    fn user_token(&self, sub: &str, scope: &str) -> String {
        let now = chaperone::clock::Clock::now_unix(&chaperone::clock::SystemClock);
        self.idp
            .sign(
                "JWT",
                &json!({
                    "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
                    "iat": now, "exp": now + 300,
                }),
            )
            .unwrap()
    }

    async fn check(&self, req: CheckRequest) -> CheckResponse {
        AuthzService::new(Arc::clone(&self.app))
            .check(tonic::Request::new(req))
            .await
            .expect("Check answers with a CheckResponse, never a gRPC error")
            .into_inner()
    }

    fn stream(&self) -> HopStream {
        HopStream::new(Arc::clone(&self.app))
    }
}

// ---- ext_authz ----

/// A CheckRequest as Envoy sends it for a plain HTTP/1.1 request (the
/// `headers` map: `encode_raw_headers` off), from 127.0.0.1.
fn check_request(method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let mut all: HashMap<String, String> = [
        (":authority", host),
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        ("x-request-id", REQUEST_ID),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: "127.0.0.1".into(),
                        port_specifier: Some(socket_address::PortSpecifier::PortValue(53_412)),
                        ..SocketAddress::default()
                    })),
                }),
                ..Peer::default()
            }),
            request: Some(AttrRequest {
                http: Some(HttpRequest {
                    id: "12345678901234567890".into(),
                    method: method.into(),
                    headers: all,
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

/// A header's value, from `value` or `raw_value` (chaperone may use either).
fn option_value(o: &HeaderValueOption) -> (&str, String) {
    let h = o.header.as_ref().expect("a header option holds a header");
    let v = if h.raw_value.is_empty() {
        h.value.clone()
    } else {
        String::from_utf8(h.raw_value.clone()).unwrap()
    };
    (h.key.as_str(), v)
}

/// Whether Envoy replaces a request's header of that name with this one
/// rather than adding to it: the (deprecated) `append` flag when it is set,
/// else `append_action`.
fn overwrites(o: &HeaderValueOption) -> bool {
    #[allow(deprecated)]
    match &o.append {
        Some(append) => !append.value,
        None => o.append_action == HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
    }
}

fn header_value(list: &[HeaderValueOption], name: &str) -> Option<String> {
    list.iter()
        .map(option_value)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn text_field(s: &Struct, key: &str) -> String {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(v)) => v.clone(),
        other => panic!("metadata {key}: {other:?}"),
    }
}

/// An allow: gRPC OK, an OK HTTP response, and the decision metadata
/// (hop, decision id, policy version) for ext_proc.
fn allowed<'r>(resp: &'r CheckResponse, hop: &str) -> &'r OkHttpResponse {
    assert_eq!(resp.status.as_ref().unwrap().code, 0, "{resp:?}");
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("expected an allow: {resp:?}");
    };
    let meta = resp.dynamic_metadata.as_ref().expect("decision metadata");
    assert_eq!(text_field(meta, "hop"), hop);
    let id = text_field(meta, "decision_id");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(text_field(meta, "policy_version"), "inproc.1");
    assert_eq!(meta.fields.len(), 3, "{meta:?}");
    ok
}

/// A denial's gRPC code, HTTP status, headers and parsed JSON body, after
/// checking what every denial holds: the generic body with exactly an
/// error and the decision id, the same id in a header, JSON, no-store.
struct Denied {
    grpc: i32,
    http: i32,
    headers: Vec<HeaderValueOption>,
    body: Value,
}

fn denied(resp: &CheckResponse) -> Denied {
    let Some(HttpResponse::DeniedResponse(d)) = &resp.http_response else {
        panic!("expected a denial: {resp:?}");
    };
    assert!(
        resp.dynamic_metadata.is_none(),
        "a denial carries no decision"
    );
    let body: Value = serde_json::from_str(&d.body).unwrap();
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 2, "error and decision_id only: {body}");
    let id = obj["decision_id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        header_value(&d.headers, "x-chaperone-decision-id").as_deref(),
        Some(id)
    );
    assert_eq!(
        header_value(&d.headers, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        header_value(&d.headers, "cache-control").as_deref(),
        Some("no-store")
    );
    Denied {
        grpc: resp.status.as_ref().unwrap().code,
        http: d.status.as_ref().unwrap().code,
        headers: d.headers.clone(),
        body,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn check_allows_an_anonymous_hop_and_strips_what_the_callee_must_not_see() {
    let f = fixture();
    let resp = f
        .check(check_request(
            "GET",
            "api.shop.test",
            "/v1/items/7",
            &[
                ("authorization", "Bearer the-callers-credential"),
                ("x-debug", "1"),
                ("x-chaperone-hop", "forged"),
                ("txn-token", "a-token-the-client-made-up"),
                ("accept", "application/json"),
            ],
        ))
        .await;
    let ok = allowed(&resp, "public-items");
    // The caller's credential, the policy's list, and what a client sent in
    // chaperone's name; nothing it may keep.
    assert_eq!(
        sorted(ok.headers_to_remove.clone()),
        ["authorization", "x-chaperone-hop", "x-debug"]
    );
    // One header set: the hop's token, replacing whatever the client sent
    // under that name.
    assert_eq!(ok.headers.len(), 1, "{ok:?}");
    let (name, token) = option_value(&ok.headers[0]);
    assert_eq!(name, "txn-token");
    assert_ne!(token, "a-token-the-client-made-up");
    assert_eq!(token.split('.').count(), 3, "a compact JWS: {token}");
    assert!(overwrites(&ok.headers[0]), "{ok:?}");
    assert!(ok.response_headers_to_add.is_empty());
}

#[tokio::test]
async fn check_mints_no_token_on_a_hop_that_carries_none() {
    let f = fixture();
    let resp = f
        .check(check_request(
            "POST",
            "hooks.partner.example",
            "/v1/events",
            &[("txn-token", "a-token-from-an-earlier-hop")],
        ))
        .await;
    let ok = allowed(&resp, "partner-webhook");
    assert!(ok.headers.is_empty(), "nothing is set: {ok:?}");
    // No token reaches the third party, not the one that was sent, and no
    // credential: ext_authz lists both whether the request showed them or
    // not.
    assert_eq!(
        sorted(ok.headers_to_remove.clone()),
        ["authorization", "txn-token"]
    );
}

#[tokio::test]
async fn check_denies_a_request_no_hop_describes() {
    let f = fixture();
    for (method, host, path) in [
        ("GET", "api.shop.test", "/v1/admin"),
        ("DELETE", "api.shop.test", "/v1/items/7"),
        ("GET", "unknown.shop.test", "/v1/items/7"),
    ] {
        let resp = f.check(check_request(method, host, path, &[])).await;
        let d = denied(&resp);
        assert_eq!((d.grpc, d.http), (7, 403), "{method} {host}{path}");
        assert_eq!(d.body["error"], "forbidden");
        assert!(header_value(&d.headers, "www-authenticate").is_none());
    }
}

#[tokio::test]
async fn check_refuses_a_malformed_request() {
    let f = fixture();
    // No attributes, attributes without an HTTP request, an HTTP request
    // without a path: a 400 denial, never an allow and never a gRPC error
    // (which Envoy could be configured to read as an allow).
    let no_path = {
        let mut r = check_request("GET", "api.shop.test", "/v1/items/7", &[]);
        let http = r
            .attributes
            .as_mut()
            .unwrap()
            .request
            .as_mut()
            .unwrap()
            .http
            .as_mut()
            .unwrap();
        http.path.clear();
        r
    };
    for req in [
        CheckRequest::default(),
        CheckRequest {
            attributes: Some(AttributeContext::default()),
        },
        no_path,
    ] {
        let resp = f.check(req.clone()).await;
        let d = denied(&resp);
        assert_eq!((d.grpc, d.http), (3, 400), "{req:?}");
        assert_eq!(d.body["error"], "bad_request");
    }
}

#[tokio::test]
async fn check_asks_for_a_user_token_on_a_hop_that_needs_one() {
    let f = fixture();
    let order = |headers: &[(&str, &str)]| {
        check_request("GET", "orders.shop.test", "/v1/orders/o-1", headers)
    };
    let d = denied(&f.check(order(&[])).await);
    assert_eq!((d.grpc, d.http), (16, 401));
    assert_eq!(d.body["error"], "unauthenticated");
    assert_eq!(
        header_value(&d.headers, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="chaperone""#)
    );

    // A token that does not verify says so in the challenge.
    let mut forged = f.user_token("alice", "orders:read");
    forged.push('A');
    let d = denied(
        &f.check(order(&[("authorization", &format!("Bearer {forged}"))]))
            .await,
    );
    assert_eq!((d.grpc, d.http), (16, 401));
    assert_eq!(
        header_value(&d.headers, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="chaperone", error="invalid_token""#)
    );

    // A valid token without the scope: identified, not admitted.
    let profile = f.user_token("alice", "profile");
    let d = denied(
        &f.check(order(&[("authorization", &format!("Bearer {profile}"))]))
            .await,
    );
    assert_eq!((d.grpc, d.http), (7, 403));
    assert!(header_value(&d.headers, "www-authenticate").is_none());
}

/// The claims of `token` if it verifies under a key of `jwks` (by its
/// `kid`), with `typ` the transaction token's.
fn verify_with_jwks(token: &str, jwks: &str, audience: &str) -> Result<Value, String> {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let header = decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("txntoken+jwt") {
        return Err(format!("typ {:?}", header.typ));
    }
    let set: JwkSet = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    let kid = header.kid.as_deref().ok_or("no kid")?;
    let jwk = set
        .find(kid)
        .ok_or_else(|| format!("kid {kid} not published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[TOKEN_ISSUER]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn check_mints_a_token_that_the_published_keys_verify() {
    let f = fixture();
    let user = f.user_token("alice", "orders:read profile");
    let resp = f
        .check(check_request(
            "GET",
            "orders.shop.test",
            "/v1/orders/o-1",
            &[("authorization", &format!("Bearer {user}"))],
        ))
        .await;
    let ok = allowed(&resp, "read-order");
    assert_eq!(ok.headers_to_remove, ["authorization"]);
    let token = header_value(&ok.headers, "txn-token").expect("a minted token");
    assert_ne!(token, user);

    let jwks = f.app.engine.keys().expect("signing keys").current();
    let jwks = jwks.jwks();
    let claims = verify_with_jwks(&token, jwks, "orders").unwrap();
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(claims["aud"], "orders", "the hop's audience, not the host");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "orders.read", "the hop's scope only");
    assert_eq!(claims["txn"], REQUEST_ID, "Envoy's request id");
    assert_eq!(claims["req_wl"], "edge");
    assert_eq!(
        claims["tctx"],
        json!({"hop": "read-order", "order_id": "o-1"})
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 60, "the policy's ttl");

    // The same keys refuse it for another audience, and refuse a token
    // whose signature was touched.
    assert!(verify_with_jwks(&token, jwks, "payments").is_err());
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{signed}.{flipped}{}", &sig[1..]);
    assert!(verify_with_jwks(&tampered, jwks, "orders").is_err());
    // The user's own token is no transaction token.
    assert!(verify_with_jwks(&user, jwks, "orders").is_err());
}

#[tokio::test]
async fn check_reads_raw_header_values_and_refuses_those_not_utf8() {
    let f = fixture();
    // `encode_raw_headers: true`: no `headers` map, every value in
    // `header_map` as bytes.
    let raw = |note: &[u8]| {
        let mut r = check_request("GET", "api.shop.test", "/v1/items/7", &[]);
        let http = r
            .attributes
            .as_mut()
            .unwrap()
            .request
            .as_mut()
            .unwrap()
            .http
            .as_mut()
            .unwrap();
        let mut headers: Vec<HeaderValue> = std::mem::take(&mut http.headers)
            .into_iter()
            .map(|(key, v)| HeaderValue {
                key,
                value: String::new(),
                raw_value: v.into_bytes(),
            })
            .collect();
        headers.push(HeaderValue {
            key: "authorization".into(),
            value: String::new(),
            raw_value: b"Bearer x".to_vec(),
        });
        headers.push(HeaderValue {
            key: "x-note".into(),
            value: String::new(),
            raw_value: note.to_vec(),
        });
        http.header_map = Some(HeaderMap { headers });
        r
    };
    // Read from the raw form: the credential found there is removed.
    let resp = f.check(raw(b"plain text")).await;
    let ok = allowed(&resp, "public-items");
    assert_eq!(ok.headers_to_remove, ["authorization"]);

    // A value that is not UTF-8 is not guessed at: malformed.
    for bytes in [&[0xff, 0xfe, b'a'][..], b"caf\xe9", b"\xc3\x28"] {
        let d = denied(&f.check(raw(bytes)).await);
        assert_eq!((d.grpc, d.http), (3, 400), "{bytes:?}");
        assert_eq!(d.body["error"], "bad_request");
    }
}

// ---- ext_proc ----

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    HeaderMap {
        headers: headers
            .iter()
            .map(|(k, v)| HeaderValue {
                key: (*k).to_owned(),
                value: String::new(),
                raw_value: v.as_bytes().to_vec(),
            })
            .collect(),
    }
}

fn request_headers(headers: &[(&str, &str)], metadata: Option<Metadata>) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(Phase::RequestHeaders(HttpHeaders {
            headers: Some(header_map(headers)),
            ..HttpHeaders::default()
        })),
        metadata_context: metadata,
        ..ProcessingRequest::default()
    }
}

fn response_headers(headers: &[(&str, &str)]) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(Phase::ResponseHeaders(HttpHeaders {
            headers: Some(header_map(headers)),
            ..HttpHeaders::default()
        })),
        ..ProcessingRequest::default()
    }
}

/// A whole body, as Envoy sends it in BUFFERED mode.
fn body(request: bool, bytes: &[u8]) -> ProcessingRequest {
    let b = HttpBody {
        body: bytes.to_vec(),
        end_of_stream: true,
        ..HttpBody::default()
    };
    ProcessingRequest {
        request: Some(if request {
            Phase::RequestBody(b)
        } else {
            Phase::ResponseBody(b)
        }),
        ..ProcessingRequest::default()
    }
}

/// What Envoy forwards to ext_proc of ext_authz's decision: the Check's
/// dynamic metadata under the ext_authz filter's namespace.
fn forwarded(resp: &CheckResponse) -> Metadata {
    Metadata {
        filter_metadata: HashMap::from([(
            AUTHZ_NAMESPACE.to_owned(),
            resp.dynamic_metadata.clone().expect("decision metadata"),
        )]),
        ..Metadata::default()
    }
}

async fn answer(s: &mut HopStream, msg: ProcessingRequest) -> Answer {
    s.on_message(msg)
        .await
        .expect("an answer")
        .response
        .expect("an answer holds a response")
}

/// A headers or body answer's common response, which must CONTINUE.
fn common(answer: &Answer) -> &CommonResponse {
    let c = match answer {
        Answer::RequestHeaders(h) | Answer::ResponseHeaders(h) => h.response.as_ref(),
        Answer::RequestBody(b) | Answer::ResponseBody(b) => b.response.as_ref(),
        other => panic!("expected headers or a body answer: {other:?}"),
    };
    let c = c.expect("a common response");
    assert_eq!(c.status, 0, "CONTINUE: {c:?}");
    c
}

/// The headers a mutation removes, sorted, and those it sets.
fn mutation(m: Option<&HeaderMutation>) -> (Vec<String>, HashMap<String, String>) {
    let Some(m) = m else {
        return (Vec::new(), HashMap::new());
    };
    let set = m
        .set_headers
        .iter()
        .map(|o| {
            let (k, v) = option_value(o);
            (k.to_owned(), v)
        })
        .collect();
    (sorted(m.remove_headers.clone()), set)
}

/// The body a body answer replaces the message's with.
fn replaced_body(b: &BodyResponse) -> &[u8] {
    let c = b.response.as_ref().expect("a common response");
    match c.body_mutation.as_ref().and_then(|m| m.mutation.as_ref()) {
        Some(body_mutation::Mutation::Body(bytes)) => bytes,
        other => panic!("expected the body replaced: {other:?}"),
    }
}

fn immediate(answer: &Answer) -> &ImmediateResponse {
    match answer {
        Answer::ImmediateResponse(ir) => ir,
        other => panic!("expected an immediate response: {other:?}"),
    }
}

#[tokio::test]
async fn ext_proc_carries_out_the_check_decision_and_applies_the_body_contract() {
    let f = fixture();
    // ext_authz decides the hop; Envoy forwards its metadata to ext_proc.
    let decision = f
        .check(check_request(
            "POST",
            "payments.shop.test",
            "/v1/charges",
            &[],
        ))
        .await;
    allowed(&decision, "create-charge");
    let decision_id = text_field(decision.dynamic_metadata.as_ref().unwrap(), "decision_id");

    let mut s = f.stream();
    // The hop is ext_authz's, whatever the pseudo-headers say (no hop
    // matches them).
    let a = answer(
        &mut s,
        request_headers(
            &[
                (":authority", "elsewhere.shop.test"),
                (":method", "POST"),
                (":path", "/nothing/here"),
                ("authorization", "Bearer abc"),
                ("x-debug", "1"),
                ("accept-encoding", "gzip"),
                ("content-type", "application/json"),
                ("content-length", "118"),
            ],
            Some(forwarded(&decision)),
        ),
    )
    .await;
    let Answer::RequestHeaders(_) = &a else {
        panic!("{a:?}")
    };
    let (removed, set) = mutation(common(&a).header_mutation.as_ref());
    // The credential and the policy's list go; the callee is asked for a
    // body chaperone can read (no compression).
    assert_eq!(removed, ["accept-encoding", "authorization", "x-debug"]);
    assert!(set.is_empty(), "{set:?}");

    // The contract: listed fields cross, the card number as its last four,
    // an unknown field is dropped.
    let sent = json!({
        "amount": 1250,
        "currency": "EUR",
        "order_id": "o-1",
        "card_number": CARD,
        "note": "leave at the door",
    });
    let a = answer(&mut s, body(true, sent.to_string().as_bytes())).await;
    let Answer::RequestBody(b) = &a else {
        panic!("{a:?}")
    };
    let crossed: Value = serde_json::from_slice(replaced_body(b)).unwrap();
    assert_eq!(
        crossed,
        json!({
            "amount": 1250,
            "currency": "EUR",
            "order_id": "o-1",
            "card_number": "************1111",
        })
    );
    // Envoy keeps content-length in BUFFERED mode: it is set to the new
    // length; digests of the original body go with it.
    let (removed, set) = mutation(common(&a).header_mutation.as_ref());
    assert_eq!(
        set.get("content-length"),
        Some(&replaced_body(b).len().to_string())
    );
    for digest in ["etag", "digest", "content-digest"] {
        assert!(removed.contains(&digest.to_owned()), "{removed:?}");
    }

    // A body the contract cannot read is refused with 400, in the name of
    // ext_authz's decision.
    let mut s = f.stream();
    answer(
        &mut s,
        request_headers(
            &[
                (":authority", "payments.shop.test"),
                (":method", "POST"),
                (":path", "/v1/charges"),
                ("content-type", "application/json"),
            ],
            Some(forwarded(&decision)),
        ),
    )
    .await;
    let a = answer(&mut s, body(true, b"{\"amount\": 12")).await;
    let ir = immediate(&a);
    assert_eq!(ir.status.as_ref().unwrap().code, 400);
    let refusal: Value = serde_json::from_slice(&ir.body).unwrap();
    assert_eq!(
        refusal,
        json!({"error": "bad_request", "decision_id": decision_id})
    );
    let set = &ir.headers.as_ref().unwrap().set_headers;
    assert_eq!(
        header_value(set, "x-chaperone-decision-id"),
        Some(decision_id)
    );
}

#[tokio::test]
async fn ext_proc_finds_the_hop_by_the_route_and_masks_card_numbers_in_responses() {
    let f = fixture();
    // No decision metadata: the hop is matched again from `:authority`
    // (port and case aside), `:method` and `:path` (query aside).
    let mut s = f.stream();
    let a = answer(
        &mut s,
        request_headers(
            &[
                (":authority", "API.shop.test:8443"),
                (":method", "GET"),
                (":path", "/v1/items/9?view=full"),
                ("authorization", "Bearer abc"),
                ("x-chaperone-hop", "forged"),
                ("x-request-id", REQUEST_ID),
            ],
            None,
        ),
    )
    .await;
    let Answer::RequestHeaders(_) = &a else {
        panic!("{a:?}")
    };
    let (removed, _) = mutation(common(&a).header_mutation.as_ref());
    assert_eq!(removed, ["authorization", "x-chaperone-hop"]);

    // Response headers: default hygiene, the hop's own list, a token that
    // must never travel back; JSON is marked for caches and sniffers.
    let a = answer(
        &mut s,
        response_headers(&[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", "64"),
            ("server", "gunicorn/20"),
            ("x-powered-by", "PHP/5.1"),
            ("x-internal-trace", "abc"),
            ("txn-token", "a.leaked.token"),
            ("cache-control", "public, max-age=60"),
        ]),
    )
    .await;
    let Answer::ResponseHeaders(_) = &a else {
        panic!("{a:?}")
    };
    let (removed, set) = mutation(common(&a).header_mutation.as_ref());
    for gone in ["server", "txn-token", "x-internal-trace", "x-powered-by"] {
        assert!(removed.contains(&gone.to_owned()), "{gone}: {removed:?}");
    }
    assert_eq!(
        set.get("x-content-type-options").map(String::as_str),
        Some("nosniff")
    );
    let cache = set.get("cache-control").expect("cache marking");
    assert!(
        cache.contains("private") && !cache.contains("public"),
        "{cache}"
    );

    // The response body: no contract on this hop, so every field crosses,
    // but the default scan masks card numbers wherever they are.
    let sent = json!({
        "id": "9",
        "card": CARD,
        "note": "paid with 4111 1111 1111 1111",
    });
    let a = answer(&mut s, body(false, sent.to_string().as_bytes())).await;
    let Answer::ResponseBody(b) = &a else {
        panic!("{a:?}")
    };
    let got = replaced_body(b);
    let text = String::from_utf8_lossy(got);
    assert!(
        !text.contains(CARD) && !text.contains("4111 1111 1111 1111"),
        "{text}"
    );
    let got: Value = serde_json::from_slice(got).unwrap();
    assert_eq!(
        got,
        json!({
            "id": "9",
            "card": "411111******1111",
            "note": "paid with 411111******1111",
        })
    );
    let (_, set) = mutation(common(&a).header_mutation.as_ref());
    assert_eq!(
        set.get("content-length"),
        Some(&replaced_body(b).len().to_string())
    );

    // A body with nothing to change crosses as it is.
    let mut s = f.stream();
    answer(
        &mut s,
        request_headers(
            &[
                (":authority", "api.shop.test"),
                (":method", "GET"),
                (":path", "/v1/items/9"),
            ],
            None,
        ),
    )
    .await;
    answer(
        &mut s,
        response_headers(&[(":status", "200"), ("content-type", "application/json")]),
    )
    .await;
    let a = answer(&mut s, body(false, br#"{"id":"9","name":"mug"}"#)).await;
    assert!(common(&a).body_mutation.is_none(), "{a:?}");
}

#[tokio::test]
async fn ext_proc_denies_a_request_no_hop_describes() {
    let f = fixture();
    let mut s = f.stream();
    let a = answer(
        &mut s,
        request_headers(
            &[
                (":authority", "api.shop.test"),
                (":method", "GET"),
                (":path", "/v1/admin"),
            ],
            None,
        ),
    )
    .await;
    let ir = immediate(&a);
    assert_eq!(ir.status.as_ref().unwrap().code, 403);
    let refusal: Value = serde_json::from_slice(&ir.body).unwrap();
    assert_eq!(refusal["error"], "forbidden");
    assert_eq!(refusal.as_object().unwrap().len(), 2, "{refusal}");
    // After an immediate response nothing more is expected.
    let err = s.on_message(body(true, b"{}")).await.unwrap_err();
    assert_eq!(err.kind(), "out_of_order", "{err}");
}

#[tokio::test]
async fn ext_proc_refuses_messages_out_of_order() {
    let f = fixture();
    let hop = [
        (":authority", "api.shop.test"),
        (":method", "GET"),
        (":path", "/v1/items/1"),
    ];

    // A body before any headers.
    let err = f.stream().on_message(body(true, b"{}")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::OutOfOrder {
                got: "request_body",
                after: "start"
            }
        ),
        "{err:?}"
    );
    // Envoy is told with INVALID_ARGUMENT, which ends the stream.
    let status: tonic::Status = err.into();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("out of order"), "{status:?}");

    // A message with no phase.
    let err = f
        .stream()
        .on_message(ProcessingRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::Empty), "{err:?}");

    // Request headers twice.
    let mut s = f.stream();
    answer(&mut s, request_headers(&hop, None)).await;
    let err = s.on_message(request_headers(&hop, None)).await.unwrap_err();
    assert_eq!(err.kind(), "out_of_order");

    // A request body after the response began.
    let mut s = f.stream();
    answer(&mut s, request_headers(&hop, None)).await;
    answer(&mut s, response_headers(&[(":status", "200")])).await;
    let err = s.on_message(body(true, b"{}")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::OutOfOrder {
                got: "request_body",
                after: "response_headers"
            }
        ),
        "{err:?}"
    );
}

/// One rule for header values that are not UTF-8, as ext_authz has it: a
/// request that holds one is refused; in a response it is removed.
#[tokio::test]
async fn ext_proc_refuses_request_values_that_are_not_text_and_removes_them_from_responses() {
    let f = fixture();
    let with_raw = |mut map: HeaderMap, name: &str, bytes: &[u8]| {
        map.headers.push(HeaderValue {
            key: name.to_owned(),
            value: String::new(),
            raw_value: bytes.to_vec(),
        });
        map
    };
    let route = [
        (":authority", "api.shop.test"),
        (":method", "GET"),
        (":path", "/v1/items/7"),
        ("x-request-id", REQUEST_ID),
    ];
    for bytes in [&b"caf\xe9"[..], b"\xff\xfe", b"4111\x801111111111111"] {
        let mut s = f.stream();
        let msg = ProcessingRequest {
            request: Some(Phase::RequestHeaders(HttpHeaders {
                headers: Some(with_raw(header_map(&route), "x-note", bytes)),
                ..HttpHeaders::default()
            })),
            ..ProcessingRequest::default()
        };
        let a = answer(&mut s, msg).await;
        let ir = immediate(&a);
        assert_eq!(ir.status.as_ref().unwrap().code, 400, "{bytes:?}");
        let body: Value = serde_json::from_slice(&ir.body).unwrap();
        assert_eq!(body["error"], "bad_request");
        assert_eq!(ir.details, "chaperone_header_not_utf8");
    }

    let mut s = f.stream();
    common(&answer(&mut s, request_headers(&route, None)).await);
    let msg = ProcessingRequest {
        request: Some(Phase::ResponseHeaders(HttpHeaders {
            headers: Some(with_raw(
                header_map(&[(":status", "200"), ("content-type", "application/json")]),
                "content-disposition",
                b"attachment; filename=\"r\xe9sum\xe9.pdf\"",
            )),
            ..HttpHeaders::default()
        })),
        ..ProcessingRequest::default()
    };
    let a = answer(&mut s, msg).await;
    let (removed, set) = mutation(common(&a).header_mutation.as_ref());
    assert!(
        removed.contains(&"content-disposition".to_owned()),
        "{removed:?}"
    );
    assert!(!set.contains_key("content-disposition"), "{set:?}");
}

/// On a route two hops share, ext_proc tells them apart by the signed hop
/// header: it must hold when Envoy sends the Check's headers only in their
/// raw form and leaves `host` empty (the authority is then `:authority`).
#[tokio::test]
async fn the_hop_header_holds_for_raw_headers_on_a_shared_route() {
    let f = fixture_with(
        r#"version: "inproc.shared"
trust_domain: shop.test
defaults:
  decision: deny
hops:
  - name: shared-by-workload
    match: { host: shared.shop.test, method: GET, path: /v1/s }
    from:
      - workloads: ["spiffe://shop.test/ns/shop/sa/web"]
  - name: shared-anonymous
    match: { host: shared.shop.test, method: GET, path: /v1/s }
    from:
      - anonymous: true
    token: { mint: false }
"#,
    );
    let pseudo = [
        (":authority", "shared.shop.test"),
        (":method", "GET"),
        (":path", "/v1/s"),
        ("x-request-id", REQUEST_ID),
    ];
    let mut req = check_request("GET", "shared.shop.test", "/v1/s", &[]);
    let http = req
        .attributes
        .as_mut()
        .unwrap()
        .request
        .as_mut()
        .unwrap()
        .http
        .as_mut()
        .unwrap();
    http.headers.clear();
    http.host.clear();
    http.header_map = Some(header_map(&pseudo));
    let resp = f.check(req).await;
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("expected an allow: {resp:?}");
    };
    let hop_header = header_value(&ok.headers, "x-chaperone-hop").expect("a hop header");
    assert!(hop_header.starts_with("shared-anonymous."), "{hop_header}");

    // Without the metadata, as when Envoy does not forward it: the header
    // alone names the hop, and it is removed before the callee.
    let mut s = f.stream();
    let mut headers = pseudo.to_vec();
    headers.push(("x-chaperone-hop", &hop_header));
    let a = answer(&mut s, request_headers(&headers, None)).await;
    let (removed, _) = mutation(common(&a).header_mutation.as_ref());
    assert!(
        removed.contains(&"x-chaperone-hop".to_owned()),
        "{removed:?}"
    );
}

/// A caller's second request is answered from the verified-token cache, and
/// the edge counts both lookups (the counters are process-wide: this checks
/// that each result is recorded, not how many other tests added).
#[tokio::test]
async fn the_token_cache_answers_a_callers_next_request_and_is_counted() {
    let f = fixture();
    let user = f.user_token("carol", "orders:read");
    let lookups = |result: &str| {
        let text = chaperone::telemetry::metrics::render();
        let prefix = format!("chaperone_token_cache_lookups_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap())
    };
    let (hits, misses) = (lookups("hit"), lookups("miss"));
    for _ in 0..2 {
        let resp = f
            .check(check_request(
                "GET",
                "orders.shop.test",
                "/v1/orders/o-2",
                &[("authorization", &format!("Bearer {user}"))],
            ))
            .await;
        allowed(&resp, "read-order");
    }
    assert!(lookups("miss") > misses, "the first verification missed");
    assert!(
        lookups("hit") > hits,
        "the second was answered from the cache"
    );
    let policy = f.app.store.current();
    assert!(policy.verifier.cached() >= 1);
}

/// A stream that authorizes (ext_proc only, no ext_authz in front) decides
/// at request headers as ext_authz would: the same denials, with the same
/// challenge and body, and an allowed request goes on without the caller's
/// credential and with a minted token, set after the client's is removed.
#[tokio::test]
async fn an_authorizing_stream_decides_as_ext_authz_would() {
    let f = fixture();
    let route = |host: &'static str, path: &'static str| {
        vec![
            (":authority", host),
            (":method", "GET"),
            (":path", path),
            ("x-request-id", REQUEST_ID),
        ]
    };

    // No token on a hop that needs one: 401 with the challenge.
    let mut s = f.stream().authorizing(true);
    let a = answer(
        &mut s,
        request_headers(&route("orders.shop.test", "/v1/orders/o-1"), None),
    )
    .await;
    let ir = immediate(&a);
    assert_eq!(ir.status.as_ref().unwrap().code, 401);
    let (_, set) = mutation(ir.headers.as_ref());
    assert_eq!(set["www-authenticate"], r#"Bearer realm="chaperone""#);
    let refused: Value = serde_json::from_slice(&ir.body).unwrap();
    assert_eq!(refused["error"], "unauthenticated");
    assert_eq!(
        set["x-chaperone-decision-id"],
        refused["decision_id"].as_str().unwrap()
    );

    // No hop: 403, as ext_authz answers.
    let mut s = f.stream().authorizing(true);
    let a = answer(&mut s, request_headers(&route("nowhere.test", "/"), None)).await;
    assert_eq!(immediate(&a).status.as_ref().unwrap().code, 403);

    // A valid token: allowed; the credential and the client's own token
    // header go, the minted token is set (Envoy removes, then sets).
    let user = f.user_token("alice", "orders:read");
    let bearer = format!("Bearer {user}");
    let mut headers = route("orders.shop.test", "/v1/orders/o-1");
    headers.push(("authorization", &bearer));
    headers.push(("txn-token", "made-up-by-the-client"));
    let mut s = f.stream().authorizing(true);
    let a = answer(&mut s, request_headers(&headers, None)).await;
    let (removed, set) = mutation(common(&a).header_mutation.as_ref());
    assert!(removed.contains(&"authorization".to_owned()), "{removed:?}");
    let minted = &set["txn-token"];
    assert_ne!(minted, "made-up-by-the-client");
    let jwks = f.app.engine.keys().expect("signing keys").current();
    let claims = verify_with_jwks(minted, jwks.jwks(), "orders").unwrap();
    assert_eq!(claims["sub"], "alice");
    // The stream is in its hop now: a response body is scanned.
    common(
        &answer(
            &mut s,
            response_headers(&[(":status", "200"), ("content-type", "application/json")]),
        )
        .await,
    );
    let a = answer(
        &mut s,
        body(false, format!(r#"{{"card":"{CARD}"}}"#).as_bytes()),
    )
    .await;
    let Answer::ResponseBody(b) = &a else {
        panic!("{a:?}");
    };
    assert!(!String::from_utf8_lossy(replaced_body(b)).contains(CARD));

    // A stream that does not authorize never decides: with no hop fitting
    // and nothing from ext_authz, it refuses, as before.
    let mut s = f.stream();
    let a = answer(&mut s, request_headers(&route("nowhere.test", "/"), None)).await;
    assert_eq!(immediate(&a).status.as_ref().unwrap().code, 403);
}

/// The workload, when a stream authorizes: from the mTLS connection's
/// certificate as Envoy reports it (`connection.uri_san_peer_certificate`),
/// as ext_authz has it from `source.principal`; on an mTLS connection never
/// from a header a client could write (x-forwarded-client-cert).
#[tokio::test]
async fn an_authorizing_stream_knows_the_workload_by_its_certificate_only() {
    use envoy_types::pb::google::protobuf::Value as PbValue;
    let f = fixture_with(
        r#"version: "inproc.mtls"
trust_domain: shop.test
workloads: { trust_xfcc: true }
defaults:
  decision: deny
hops:
  - name: charge
    match: { host: payments.shop.test, method: POST, path: /v1/charges }
    from:
      - workloads: ["spiffe://shop.test/ns/shop/sa/checkout"]
    token: { mint: false }
"#,
    );
    let attributes = |uri: Option<&str>, mtls: bool| {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "connection.mtls".to_owned(),
            PbValue {
                kind: Some(Kind::BoolValue(mtls)),
            },
        );
        if let Some(uri) = uri {
            fields.insert(
                "connection.uri_san_peer_certificate".to_owned(),
                PbValue {
                    kind: Some(Kind::StringValue(uri.to_owned())),
                },
            );
        }
        HashMap::from([(
            "envoy.filters.http.ext_proc".to_owned(),
            Struct {
                fields: fields.into_iter().collect(),
            },
        )])
    };
    let forged = "By=spiffe://shop.test/x;URI=spiffe://shop.test/ns/shop/sa/checkout";
    let status = |uri: Option<&'static str>, mtls: bool, xfcc: Option<&'static str>| {
        let f = &f;
        async move {
            let mut headers = vec![
                (":authority", "payments.shop.test"),
                (":method", "POST"),
                (":path", "/v1/charges"),
            ];
            if let Some(x) = xfcc {
                headers.push(("x-forwarded-client-cert", x));
            }
            let mut msg = request_headers(&headers, None);
            msg.attributes = attributes(uri, mtls);
            let mut s = f.stream().authorizing(true);
            match answer(&mut s, msg).await {
                Answer::ImmediateResponse(ir) => ir.status.unwrap().code,
                Answer::RequestHeaders(_) => 200,
                other => panic!("{other:?}"),
            }
        }
    };
    let checkout = Some("spiffe://shop.test/ns/shop/sa/checkout");
    let intruder = Some("spiffe://shop.test/ns/shop/sa/intruder");
    assert_eq!(status(checkout, true, None).await, 200);
    assert_eq!(status(intruder, true, None).await, 403);
    // An mTLS caller claiming another identity in the header: not believed.
    assert_eq!(status(intruder, true, Some(forged)).await, 403);
    assert_eq!(status(None, true, Some(forged)).await, 403);
    // Without mTLS, a trusted x-forwarded-client-cert names the caller (as
    // in ext_authz mode: trust_xfcc is for a front proxy that sets it).
    assert_eq!(status(None, false, Some(forged)).await, 200);
    assert_eq!(status(None, false, None).await, 403);
}

/// A request body that flows, under an Envoy that honours the override:
/// its mode is asked for at the request headers (trailers sent too), each
/// line crosses judged, and a body that ends with trailers ends its flow
/// there: a line left incomplete refuses the request, not crossing cut.
#[tokio::test]
async fn a_flowing_request_ends_at_its_trailers() {
    use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::{
        ProcessingMode, processing_mode::BodySendMode, processing_mode::HeaderSendMode,
    };
    use envoy_types::pb::envoy::service::ext_proc::v3::{HttpTrailers, ProtocolConfiguration};
    let f = fixture_with(
        r#"version: "flow.1"
trust_domain: shop.test
hops:
  - name: import
    match: { host: import.shop.test, method: POST, path: "/**" }
    from: [ { anonymous: true } ]
    request:
      body: { stream: true, allow: [n, card], unknown: drop, max_bytes: 256 }
"#,
    );
    let headers = [
        (":authority", "import.shop.test"),
        (":method", "POST"),
        (":path", "/v1/import"),
        ("content-type", "application/x-ndjson"),
        ("content-length", "999"),
        ("x-request-id", REQUEST_ID),
    ];
    let part = |bytes: &[u8]| ProcessingRequest {
        request: Some(Phase::RequestBody(HttpBody {
            body: bytes.to_vec(),
            end_of_stream: false,
            ..HttpBody::default()
        })),
        ..ProcessingRequest::default()
    };
    let trailers = ProcessingRequest {
        request: Some(Phase::RequestTrailers(HttpTrailers {
            trailers: Some(header_map(&[("x-checksum", "abc")])),
        })),
        ..ProcessingRequest::default()
    };
    let first = || {
        let mut first = request_headers(&headers, None);
        first.protocol_config = Some(ProtocolConfiguration {
            request_body_mode: BodySendMode::BufferedPartial as i32,
            response_body_mode: BodySendMode::BufferedPartial as i32,
            ..ProtocolConfiguration::default()
        });
        first
    };

    for (last, complete) in [(&b"{\"n\":2}\n"[..], true), (b"{\"n\":2,", false)] {
        let mut s = f.stream().authorizing(true).streaming(true);
        let first = s.on_message(first()).await.expect("an answer");
        // Streamed from here, the response's mode restated, trailers sent;
        // the length the judged body no longer has goes.
        assert_eq!(
            first.mode_override,
            Some(ProcessingMode {
                request_body_mode: BodySendMode::Streamed as i32,
                response_body_mode: BodySendMode::BufferedPartial as i32,
                request_trailer_mode: HeaderSendMode::Send as i32,
                response_trailer_mode: HeaderSendMode::Send as i32,
                ..ProcessingMode::default()
            })
        );
        let (removed, _) = mutation(
            common(first.response.as_ref().unwrap())
                .header_mutation
                .as_ref(),
        );
        assert!(
            removed.contains(&"content-length".to_owned()),
            "{removed:?}"
        );
        let a = answer(
            &mut s,
            part(format!("{{\"n\":1,\"card\":\"{CARD}\",\"x\":1}}\n").as_bytes()),
        )
        .await;
        let Answer::RequestBody(b) = &a else {
            panic!("{a:?}")
        };
        assert_eq!(
            replaced_body(b),
            b"{\"n\":1,\"card\":\"411111******1111\"}\n"
        );
        let a = answer(&mut s, part(last)).await;
        let a = if complete {
            assert!(matches!(a, Answer::RequestBody(_)), "{a:?}");
            answer(&mut s, trailers.clone()).await
        } else {
            // Held: nothing of it crosses yet.
            let Answer::RequestBody(b) = &a else {
                panic!("{a:?}")
            };
            assert_eq!(replaced_body(b), b"");
            answer(&mut s, trailers.clone()).await
        };
        match (complete, &a) {
            (true, Answer::RequestTrailers(_)) => {}
            (false, Answer::ImmediateResponse(ir)) => {
                assert_eq!(ir.status.as_ref().unwrap().code, 400);
                let refused: Value = serde_json::from_slice(&ir.body).unwrap();
                assert!(refused["decision_id"].is_string(), "{refused}");
            }
            other => panic!("complete {complete}: {other:?}"),
        }
    }
}

/// The default store (in process): a caller's response budget, counted over
/// its streams, refuses the response that would go over it (uncounted) and,
/// once the window is full, every request, with 429 `budget_exceeded`; ext_authz hands the caller over in the signed
/// hop header on a hop with budgets.
#[tokio::test]
async fn budgets_count_in_process_by_default() {
    let f = fixture_with(
        r#"version: "inproc.1"
trust_domain: shop.test
hops:
  - name: list-cards
    match: { host: api.shop.test, method: GET, path: /v1/cards }
    from: [ { anonymous: true } ]
    budgets:
      - { name: cards, direction: response, count: findings, window: 1h, limit: 3, action: block }
"#,
    );
    let check = f
        .check(check_request("GET", "api.shop.test", "/v1/cards", &[]))
        .await;
    let ok = allowed(&check, "list-cards");
    let hop_header = header_value(&ok.headers, "x-chaperone-hop").expect("signed hop header");
    assert!(hop_header.starts_with("list-cards."), "{hop_header}");
    let mut statuses = Vec::new();
    for cards in [2, 2, 1, 0] {
        let mut s = f.stream();
        let req = [
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", "/v1/cards"),
            ("x-request-id", REQUEST_ID),
            ("x-chaperone-hop", hop_header.as_str()),
        ];
        let a = answer(&mut s, request_headers(&req, Some(forwarded(&check)))).await;
        if let Answer::ImmediateResponse(r) = &a {
            statuses.push((r.status.as_ref().map_or(0, |s| s.code), "request"));
            assert_eq!(
                serde_json::from_slice::<Value>(&r.body).unwrap()["error"],
                "budget_exceeded"
            );
            continue;
        }
        assert!(matches!(a, Answer::RequestHeaders(_)), "{a:?}");
        let a = answer(
            &mut s,
            response_headers(&[(":status", "200"), ("content-type", "application/json")]),
        )
        .await;
        if let Answer::ImmediateResponse(r) = &a {
            statuses.push((r.status.as_ref().map_or(0, |s| s.code), "headers"));
            assert_eq!(
                serde_json::from_slice::<Value>(&r.body).unwrap()["error"],
                "budget_exceeded"
            );
            continue;
        }
        let document = serde_json::json!({ "cards": vec![CARD; cards] }).to_string();
        let a = answer(&mut s, body(false, document.as_bytes())).await;
        match &a {
            Answer::ImmediateResponse(r) => {
                statuses.push((r.status.as_ref().map_or(0, |s| s.code), "body"));
                assert_eq!(
                    serde_json::from_slice::<Value>(&r.body).unwrap()["error"],
                    "budget_exceeded"
                );
            }
            Answer::ResponseBody(b) => {
                assert!(!String::from_utf8_lossy(replaced_body(b)).contains(CARD));
                statuses.push((200, "body"));
            }
            other => panic!("{other:?}"),
        }
    }
    // Two cards cross; two more would pass the limit of 3: refused at the
    // body, and not counted (they did not cross), so one more crosses and
    // fills the window. The replica remembers it full: the next request is
    // refused at its headers, and never reaches the callee.
    assert_eq!(
        statuses,
        [
            (200, "body"),
            (429, "body"),
            (200, "body"),
            (429, "request")
        ]
    );
}

/// A response that flows, cut by a piece its contract refuses: the pieces
/// of that part before it cross (with the error line after them), and they
/// count toward the caller's budgets like any others. Three cards cross in
/// each export before the fourth is refused by the stream's findings limit;
/// a caller whose budget is 5 gets no more than 5 across exports.
#[tokio::test]
async fn pieces_that_cross_before_a_refused_one_count_toward_budgets() {
    let f = fixture_with(
        r#"version: "cut.1"
trust_domain: shop.test
hops:
  - name: export
    match: { host: api.shop.test, method: GET, path: /v1/export }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true, limit: { findings: 3, action: block } }
    budgets:
      - { name: cards, direction: response, count: findings, window: 1h, limit: 5, action: block }
"#,
    );
    let line = format!("{{\"card\":\"{CARD}\"}}\n");
    let mut crossed = 0;
    for _ in 0..3 {
        let mut s = f.stream().authorizing(true).streaming(true);
        let mut first = request_headers(
            &[
                (":authority", "api.shop.test"),
                (":method", "GET"),
                (":path", "/v1/export"),
                ("x-request-id", REQUEST_ID),
            ],
            None,
        );
        if let Some(Phase::RequestHeaders(h)) = first.request.as_mut() {
            h.end_of_stream = true;
        }
        if matches!(answer(&mut s, first).await, Answer::ImmediateResponse(_)) {
            continue;
        }
        let a = answer(
            &mut s,
            response_headers(&[(":status", "200"), ("content-type", "application/x-ndjson")]),
        )
        .await;
        if matches!(a, Answer::ImmediateResponse(_)) {
            continue;
        }
        // One part: four lines, each with a card.
        let part = ProcessingRequest {
            request: Some(Phase::ResponseBody(HttpBody {
                body: line.repeat(4).into_bytes(),
                end_of_stream: false,
                ..HttpBody::default()
            })),
            ..ProcessingRequest::default()
        };
        match answer(&mut s, part).await {
            Answer::ResponseBody(b) => {
                let out = String::from_utf8_lossy(replaced_body(&b)).into_owned();
                assert!(
                    out.contains("findings_limit") || out.contains("error"),
                    "{out}"
                );
                crossed += out.matches("1111\"").count();
            }
            Answer::ImmediateResponse(_) => {}
            other => panic!("{other:?}"),
        }
    }
    // The first export's three count: the next would bring six, and is
    // reset (Envoy cannot answer anew once a response has begun).
    assert_eq!(crossed, 3, "{crossed} cards crossed a budget of 5");
}

/// On a hop that counts per caller, ext_proc knows the caller only from the
/// signed hop header. When it does not verify (made for another request,
/// another policy: a reload between the Check and the stream, replicas on
/// different policies), the caller is unknown: the request is refused at
/// its headers, never counted as one caller that every such request
/// shares, which would let one caller spend the others' budget and its
/// own requests go uncounted.
#[tokio::test]
async fn a_caller_that_cannot_be_verified_is_refused_on_a_hop_with_budgets() {
    let f = fixture_with(&format!(
        r#"version: "inproc.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ file: idp-jwks.json }}
hops:
  - name: list-cards
    match: {{ host: api.shop.test, method: GET, path: /v1/cards }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: cards, direction: response, count: findings, window: 1h, limit: 3, action: block }}
"#
    ));
    let mut outcomes = Vec::new();
    for user in ["alice", "bob"] {
        let bearer = format!("Bearer {}", f.user_token(user, "cards:read"));
        let check = f
            .check(check_request(
                "GET",
                "api.shop.test",
                "/v1/cards",
                &[("authorization", &bearer)],
            ))
            .await;
        let ok = allowed(&check, "list-cards");
        let hop_header = header_value(&ok.headers, "x-chaperone-hop").expect("signed hop header");
        // The stream's request is not the one the header was made for.
        let mut s = f.stream();
        let req = [
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", "/v1/cards"),
            ("x-request-id", "0b6b2c1e-0000-4000-8000-000000000000"),
            ("x-chaperone-hop", hop_header.as_str()),
        ];
        let a = answer(&mut s, request_headers(&req, None)).await;
        if let Answer::ImmediateResponse(r) = &a {
            outcomes.push(r.status.as_ref().map_or(0, |s| s.code));
            continue;
        }
        let a = answer(
            &mut s,
            response_headers(&[(":status", "200"), ("content-type", "application/json")]),
        )
        .await;
        assert!(matches!(a, Answer::ResponseHeaders(_)), "{a:?}");
        let cards = serde_json::json!({ "cards": [CARD, CARD, CARD] }).to_string();
        match answer(&mut s, body(false, cards.as_bytes())).await {
            Answer::ImmediateResponse(r) => outcomes.push(r.status.as_ref().map_or(0, |s| s.code)),
            _ => outcomes.push(200),
        }
    }
    assert_eq!(outcomes, [403, 403], "neither caller is known");
}

/// In shadow nothing is refused, so everything crosses, and counts: the
/// window of a budget that would block, and the baseline of an anomaly,
/// hold all that crossed (past the limit, each message is recorded as one
/// that would have been refused), never only what enforcing would have let
/// through.
#[tokio::test]
async fn in_shadow_what_crosses_counts() {
    use chaperone::state::{Charge, Observation};
    let f = fixture_with(
        r#"version: "inproc.1"
trust_domain: shop.test
hops:
  - name: list-cards
    match: { host: api.shop.test, method: GET, path: /v1/cards }
    from: [ { anonymous: true } ]
    shadow: true
    budgets:
      - { name: cards, direction: response, count: findings, window: 1h, limit: 3, action: block }
    anomalies:
      - { name: cards-normal, direction: response, count: findings, window: 168h, sigmas: 3, min: 100, history: 30d }
"#,
    );
    let check = f
        .check(check_request("GET", "api.shop.test", "/v1/cards", &[]))
        .await;
    let Some(HttpResponse::OkResponse(ok)) = &check.http_response else {
        panic!("{check:?}")
    };
    let hop_header = header_value(&ok.headers, "x-chaperone-hop").expect("signed hop header");
    let principal = hop_header.rsplit('.').nth(1).unwrap().to_owned();
    for _ in 0..3 {
        let mut s = f.stream();
        let req = [
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", "/v1/cards"),
            ("x-request-id", REQUEST_ID),
            ("x-chaperone-hop", hop_header.as_str()),
        ];
        let a = answer(&mut s, request_headers(&req, None)).await;
        assert!(matches!(a, Answer::RequestHeaders(_)), "{a:?}");
        let a = answer(
            &mut s,
            response_headers(&[(":status", "200"), ("content-type", "application/json")]),
        )
        .await;
        assert!(matches!(a, Answer::ResponseHeaders(_)), "{a:?}");
        let cards = serde_json::json!({ "cards": [CARD, CARD] }).to_string();
        let a = answer(&mut s, body(false, cards.as_bytes())).await;
        assert!(matches!(a, Answer::ResponseBody(_)), "passed: {a:?}");
    }
    // What the store holds for the caller: six cards crossed.
    let policy = f.app.store.current();
    let hop = &policy.hops[0];
    let key = f.app.engine.hash_key();
    let now = chaperone::state::now_ms();
    let (b, a) = (&hop.budgets[0], &hop.anomalies[0]);
    let read = Charge {
        keys: b.keys(key, &principal, &hop.name, now),
        amount: 0,
        ttl_ms: b.ttl_ms(),
        refuse_over: None,
    };
    let seen = Observation {
        key: a.key(key, &principal, &hop.name),
        amount: 0,
        window: a.window_at(now),
        rule: a.rule(),
        ttl_ms: a.ttl_ms(),
    };
    let tally = f.app.state.tally(&[read], &[seen]).await.unwrap();
    assert_eq!(
        (tally.totals[0], tally.verdicts[0].count),
        (6, 6),
        "the window and the baseline count what crossed"
    );
}
