//! Handler tests through the real binary: gRPC clients talk to
//! `chaperone serve` on 127.0.0.1 (ext_authz Check, the ext_proc stream, the
//! Admin API, health), plus reload by SIGHUP and file watch, the drain on
//! SIGTERM, and the `check` and `explain` commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue, Metadata};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_client::ExternalProcessorClient;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    CommonResponse, HttpBody, HttpHeaders, ProcessingRequest, ProcessingResponse,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use chaperone::proto::v1::admin_client::AdminClient;
use chaperone::proto::v1::{ExplainRequest, ReloadRequest, StatusRequest, StatusResponse};

/// Bound on every single call, so a hang fails the test instead of stalling it.
const CALL: Duration = Duration::from_secs(10);

/// Hops: two anonymous ones (one with its own response hygiene) and one for
/// end users of `corp`. `jwks_url` may point nowhere for tests without users.
fn policy(version: &str, jwks_url: &str) -> String {
    format!(
        r#"version: "{version}"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks_url}" }}
defaults:
  decision: deny
  request: {{ headers: {{ remove: [x-debug] }} }}
hops:
  - name: health
    match: {{ host: "*", method: GET, path: /healthz }}
    from:
      - anonymous: true
  - name: public-api
    match: {{ host: api.shop.test, path: "/v1/items/{{id}}" }}
    from:
      - anonymous: true
    response:
      headers: {{ remove: [x-internal-trace] }}
  - name: read-order
    match: {{ host: orders.shop.test, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: corp, scopes: ["orders:read"] }}
"#
    )
}

/// A JWKS URL where nothing listens: for tests that never verify a token.
const NO_JWKS: &str = "http://127.0.0.1:9/jwks.json";

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(CALL, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {CALL:?}"))
}

async fn channel(grpc_port: u16) -> Channel {
    let endpoint = Channel::from_shared(format!("http://127.0.0.1:{grpc_port}")).unwrap();
    within("connect", endpoint.connect()).await.unwrap()
}

// ---- ext_authz Check ----

fn check_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    principal: &str,
) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: principal.to_owned(),
                ..Peer::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    host: host.to_owned(),
                    path: path.to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

async fn check(ch: &Channel, req: CheckRequest) -> Result<CheckResponse, tonic::Status> {
    let mut client = AuthorizationClient::new(ch.clone());
    within("Check", client.check(req))
        .await
        .map(tonic::Response::into_inner)
}

fn header_value(
    list: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption],
    name: &str,
) -> Option<String> {
    list.iter()
        .filter_map(|o| o.header.as_ref())
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| {
            if h.raw_value.is_empty() {
                h.value.clone()
            } else {
                String::from_utf8(h.raw_value.clone()).unwrap()
            }
        })
}

/// A denial's gRPC code, HTTP status, headers and parsed JSON body.
struct Denied {
    grpc: i32,
    http: i32,
    headers: Vec<envoy_types::pb::envoy::config::core::v3::HeaderValueOption>,
    body: serde_json::Value,
}

fn denied(resp: &CheckResponse) -> Denied {
    let Some(HttpResponse::DeniedResponse(d)) = &resp.http_response else {
        panic!("expected a denial: {resp:?}");
    };
    assert!(
        resp.dynamic_metadata.is_none(),
        "a denial carries no decision metadata"
    );
    let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    let obj = body.as_object().unwrap();
    assert_eq!(
        obj.len(),
        2,
        "a deny body holds exactly error and decision_id: {body}"
    );
    let id = obj["decision_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        header_value(&d.headers, "x-chaperone-decision-id").as_deref(),
        Some(id),
        "the header and the body name the same decision"
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

/// The names of the headers an allow adds.
fn added(ok: &OkHttpResponse) -> Vec<&str> {
    ok.headers
        .iter()
        .map(|o| o.header.as_ref().unwrap().key.as_str())
        .collect()
}

fn text(s: &Struct, key: &str) -> String {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(v)) => v.clone(),
        other => panic!("metadata {key}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_decides_and_never_allows_bad_input() {
    let c = Chaperone::start(&policy("checks.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;

    // No attributes at all: an OK reply that denies with 400.
    let resp = check(&ch, CheckRequest::default()).await.unwrap();
    let d = denied(&resp);
    assert_eq!((d.grpc, d.http), (3, 400));
    assert_eq!(d.body["error"], "bad_request");
    // Attributes without an HTTP request: the same.
    let resp = check(
        &ch,
        CheckRequest {
            attributes: Some(AttributeContext::default()),
        },
    )
    .await
    .unwrap();
    assert_eq!(denied(&resp).http, 400);

    // An allowed anonymous hop.
    let resp = check(
        &ch,
        check_request(
            "GET",
            "api.shop.test",
            "/v1/items/7",
            &[
                ("authorization", "Bearer whatever"),
                ("x-debug", "1"),
                ("x-chaperone-decision-id", "forged"),
                ("x-chaperone-hop", "forged"),
            ],
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status.as_ref().unwrap().code, 0);
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("expected an allow: {resp:?}");
    };
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    // The caller's credentials, the policy's list, and whatever a client
    // sent in chaperone's name.
    assert_eq!(
        removed,
        [
            "authorization",
            "x-chaperone-decision-id",
            "x-chaperone-hop",
            "x-debug"
        ]
    );
    // The first hop on its route: only its token is added, as ext_proc finds
    // the hop again by the route.
    assert_eq!(added(ok), ["txn-token"]);
    let meta = resp.dynamic_metadata.as_ref().unwrap();
    assert_eq!(text(meta, "hop"), "public-api");
    let decision_id = text(meta, "decision_id");
    assert_eq!(decision_id.len(), 32);
    assert_eq!(text(meta, "policy_version"), "checks.1");
    // The hashed principal is in the decision event, not in what Envoy copies
    // into every ext_proc message.
    assert_eq!(meta.fields.len(), 3, "{meta:?}");

    // Envoy's `host` field is preferred; `:authority` is used without it.
    let resp = check(
        &ch,
        check_request(
            "GET",
            "",
            "/v1/items/7",
            &[(":authority", "api.shop.test:443")],
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status.unwrap().code, 0);

    // A route no hop describes: 403 with a generic body.
    let resp = check(
        &ch,
        check_request("GET", "api.shop.test", "/v1/admin", &[], ""),
    )
    .await
    .unwrap();
    let d = denied(&resp);
    assert_eq!((d.grpc, d.http), (7, 403));
    assert_eq!(d.body["error"], "forbidden");
    assert!(header_value(&d.headers, "www-authenticate").is_none());

    // Path tricks and oversized requests: 400, never an allow.
    for path in ["/v1/items/../admin", "/v1/items/%37", "/v1//items/7"] {
        let resp = check(&ch, check_request("GET", "api.shop.test", path, &[], ""))
            .await
            .unwrap();
        assert_eq!(denied(&resp).http, 400, "{path}");
    }
    let many: Vec<(String, String)> = (0..300)
        .map(|i| (format!("x-h-{i}"), "v".to_owned()))
        .collect();
    let many_ref: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = check(
        &ch,
        check_request("GET", "api.shop.test", "/v1/items/7", &many_ref, ""),
    )
    .await
    .unwrap();
    assert_eq!(denied(&resp).http, 400);
    let big = "x".repeat(200 * 1024);
    let resp = check(
        &ch,
        check_request(
            "GET",
            "api.shop.test",
            "/v1/items/7",
            &[("x-big", &big)],
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(denied(&resp).http, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_raw_header_maps_and_refuses_non_utf8() {
    let c = Chaperone::start(&policy("raw.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let raw = |value: Vec<u8>| {
        let mut req = check_request("GET", "api.shop.test", "/v1/items/7", &[], "");
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
        http.header_map = Some(HeaderMap {
            headers: vec![
                HeaderValue {
                    key: "authorization".into(),
                    value: String::new(),
                    raw_value: b"Bearer x".to_vec(),
                },
                HeaderValue {
                    key: "x-note".into(),
                    value: String::new(),
                    raw_value: value,
                },
            ],
        });
        req
    };
    let resp = check(&ch, raw(b"plain".to_vec())).await.unwrap();
    assert_eq!(resp.status.as_ref().unwrap().code, 0, "{resp:?}");
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("{resp:?}");
    };
    assert!(ok.headers_to_remove.contains(&"authorization".to_owned()));

    let resp = check(&ch, raw(vec![0xff, 0xfe, b'a'])).await.unwrap();
    let d = denied(&resp);
    assert_eq!((d.grpc, d.http), (3, 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_a_request_over_one_mib_with_a_grpc_error() {
    let c = Chaperone::start(&policy("big.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let huge = "x".repeat(1024 * 1024 + 16);
    let err = check(
        &ch,
        check_request(
            "GET",
            "api.shop.test",
            "/v1/items/7",
            &[("x-huge", &huge)],
            "",
        ),
    )
    .await
    .expect_err("an oversized CheckRequest must not get an OK reply");
    assert_ne!(err.code(), tonic::Code::Ok);
    assert!(
        matches!(
            err.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted | tonic::Code::InvalidArgument
        ),
        "{err:?}"
    );
    // The server is unharmed.
    let resp = check(&ch, check_request("GET", "x", "/healthz", &[], ""))
        .await
        .unwrap();
    assert_eq!(resp.status.unwrap().code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_verifies_end_user_tokens() {
    let idp = Idp::start().await;
    let c = Chaperone::start(&policy("users.1", &idp.jwks_url())).await;
    let ch = channel(c.grpc_port).await;
    let order = |headers: &[(&str, &str)]| {
        check_request("GET", "orders.shop.test", "/v1/orders/o-1", headers, "")
    };

    let resp = check(&ch, order(&[])).await.unwrap();
    let d = denied(&resp);
    assert_eq!((d.grpc, d.http), (16, 401));
    assert_eq!(d.body["error"], "unauthenticated");
    assert_eq!(
        header_value(&d.headers, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="chaperone""#)
    );

    let good = idp.token("alice", "orders:read", json!({}));
    let resp = check(&ch, order(&[("authorization", &format!("Bearer {good}"))]))
        .await
        .unwrap();
    assert_eq!(resp.status.as_ref().unwrap().code, 0, "{}", c.log());
    assert_eq!(
        text(resp.dynamic_metadata.as_ref().unwrap(), "hop"),
        "read-order"
    );

    let expired = idp.token("alice", "orders:read", json!({"exp": 1000, "iat": 900}));
    let resp = check(
        &ch,
        order(&[("authorization", &format!("Bearer {expired}"))]),
    )
    .await
    .unwrap();
    let d = denied(&resp);
    assert_eq!(d.http, 401);
    assert!(
        header_value(&d.headers, "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    let no_scope = idp.token("alice", "profile", json!({}));
    let resp = check(
        &ch,
        order(&[("authorization", &format!("Bearer {no_scope}"))]),
    )
    .await
    .unwrap();
    assert_eq!(denied(&resp).http, 403);

    // Tokens never reach the log.
    let log = c.log();
    for t in [&good, &expired, &no_scope] {
        assert!(!log.contains(t.as_str()));
    }
}

// ---- ext_proc ----

struct ProcStream {
    tx: Option<mpsc::Sender<ProcessingRequest>>,
    rx: tonic::Streaming<ProcessingResponse>,
}

impl ProcStream {
    async fn open(ch: &Channel) -> Self {
        let (tx, rx) = mpsc::channel(8);
        let mut client = ExternalProcessorClient::new(ch.clone());
        let resp = within("open ext_proc", client.process(ReceiverStream::new(rx)))
            .await
            .unwrap();
        Self {
            tx: Some(tx),
            rx: resp.into_inner(),
        }
    }

    /// Sends one message and reads one answer (or the end of the stream).
    async fn send(
        &mut self,
        msg: ProcessingRequest,
    ) -> Result<Option<ProcessingResponse>, tonic::Status> {
        self.tx.as_ref().unwrap().send(msg).await.unwrap();
        within("ext_proc answer", self.rx.message()).await
    }

    async fn answer(&mut self, msg: ProcessingRequest) -> Answer {
        self.send(msg)
            .await
            .unwrap()
            .expect("an answer, not the end of the stream")
            .response
            .expect("an answer holds a response")
    }

    /// Ends our side and reads what is left.
    async fn close(&mut self) -> Result<Option<ProcessingResponse>, tonic::Status> {
        self.tx = None;
        within("ext_proc end", self.rx.message()).await
    }
}

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

fn authz_metadata(hop: &str, decision_id: &str) -> Metadata {
    let s = |v: &str| Value {
        kind: Some(Kind::StringValue(v.to_owned())),
    };
    Metadata {
        filter_metadata: HashMap::from([(
            "envoy.filters.http.ext_authz".to_owned(),
            Struct {
                fields: HashMap::from([
                    ("hop".to_owned(), s(hop)),
                    ("decision_id".to_owned(), s(decision_id)),
                ]),
            },
        )]),
        ..Metadata::default()
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

fn body(request: bool, bytes: &[u8], end: bool) -> ProcessingRequest {
    let b = HttpBody {
        body: bytes.to_vec(),
        end_of_stream: end,
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

fn removed(common: &Option<CommonResponse>) -> Vec<String> {
    let c = common.as_ref().expect("a common response");
    assert_eq!(c.status, 0, "CONTINUE");
    assert!(c.body_mutation.is_none());
    // No mutation at all when nothing is removed: Envoy works on an empty one.
    let Some(m) = c.header_mutation.as_ref() else {
        return Vec::new();
    };
    // What is set is only the marking of a JSON or text response.
    assert!(
        m.set_headers.iter().all(|h| {
            let key = h.header.as_ref().map_or("", |h| h.key.as_str());
            matches!(key, "x-content-type-options" | "cache-control" | "vary")
        }),
        "{m:?}"
    );
    assert!(
        !m.remove_headers.is_empty() || !m.set_headers.is_empty(),
        "an empty mutation: {m:?}"
    );
    let mut r = m.remove_headers.clone();
    r.sort();
    r
}

fn unchanged_body(answer: &Answer, request: bool) {
    let b = match (answer, request) {
        (Answer::RequestBody(b), true) | (Answer::ResponseBody(b), false) => b,
        other => panic!("expected a body answer: {other:?}"),
    };
    let c = b.response.as_ref().unwrap();
    assert_eq!(c.status, 0);
    assert!(c.body_mutation.is_none(), "bodies pass unchanged");
    assert!(c.header_mutation.is_none());
}

const LEAKY: &[(&str, &str)] = &[
    (":status", "200"),
    ("content-type", "application/json"),
    ("server", "gunicorn/20"),
    ("x-powered-by", "PHP/5.1"),
    ("x-internal-trace", "abc"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_carries_out_the_authz_decision_phase_by_phase() {
    let c = Chaperone::start(&policy("proc.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;

    // The decision comes from ext_authz's metadata, whatever the headers say.
    let mut s = ProcStream::open(&ch).await;
    let a = s
        .answer(request_headers(
            &[
                (":authority", "elsewhere.test"),
                (":method", "POST"),
                (":path", "/nothing/here"),
                ("authorization", "Bearer abc"),
                ("x-debug", "1"),
                ("content-type", "application/json"),
            ],
            Some(authz_metadata(
                "public-api",
                "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0",
            )),
        ))
        .await;
    let Answer::RequestHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(removed(&h.response), ["authorization", "x-debug"]);

    // Envoy buffers the body (BUFFERED mode) and sends it whole; a hop
    // without a body contract lets it through untouched.
    let a = s
        .answer(body(true, br#"{"sku":"A-1","qty":2}"#, true))
        .await;
    unchanged_body(&a, true);

    let a = s.answer(response_headers(LEAKY)).await;
    let Answer::ResponseHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(
        removed(&h.response),
        ["server", "x-internal-trace", "x-powered-by"],
        "default hygiene plus the hop's own"
    );
    let a = s.answer(body(false, br#"{"ok":true}"#, true)).await;
    unchanged_body(&a, false);
    assert!(s.close().await.unwrap().is_none(), "a clean end");

    // A body that arrives in parts cannot be judged: refused, not passed.
    let mut s = ProcStream::open(&ch).await;
    s.answer(request_headers(
        &[
            (":authority", "api.shop.test"),
            (":method", "POST"),
            (":path", "/v1/items/1"),
        ],
        None,
    ))
    .await;
    let a = s.answer(body(true, br#"{"sku":"#, false)).await;
    let Answer::ImmediateResponse(ir) = &a else {
        panic!("a partial body must not pass: {a:?}")
    };
    assert!(ir.status.as_ref().unwrap().code >= 400, "{ir:?}");

    // Headers no list names are left alone.
    let mut s = ProcStream::open(&ch).await;
    let a = s
        .answer(request_headers(
            &[
                (":authority", "x"),
                (":method", "GET"),
                (":path", "/healthz"),
                ("x-keep", "1"),
                ("content-type", "application/json"),
            ],
            Some(authz_metadata("health", "d1")),
        ))
        .await;
    let Answer::RequestHeaders(h) = &a else {
        panic!("{a:?}")
    };
    let r = removed(&h.response);
    assert!(r.iter().all(|h| h == "authorization"), "{r:?}");
    let a = s.answer(response_headers(LEAKY)).await;
    let Answer::ResponseHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(
        removed(&h.response),
        ["server", "x-powered-by"],
        "the health hop keeps x-internal-trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_matches_the_hop_itself_without_metadata() {
    let c = Chaperone::start(&policy("proc.2", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let hop_headers = [
        (":authority", "API.shop.test:8443"),
        (":method", "GET"),
        (":path", "/v1/items/9?x=1"),
        ("authorization", "Bearer abc"),
    ];
    // Metadata absent, or naming a hop this policy does not have: rematch.
    for metadata in [
        None,
        Some(authz_metadata("no-such-hop", "d2")),
        Some(Metadata::default()),
    ] {
        let mut s = ProcStream::open(&ch).await;
        let a = s
            .answer(request_headers(&hop_headers, metadata.clone()))
            .await;
        let Answer::RequestHeaders(h) = &a else {
            panic!("{metadata:?}: {a:?}")
        };
        assert_eq!(removed(&h.response), ["authorization"]);
        let a = s.answer(response_headers(LEAKY)).await;
        let Answer::ResponseHeaders(h) = &a else {
            panic!("{a:?}")
        };
        assert_eq!(
            removed(&h.response),
            ["server", "x-internal-trace", "x-powered-by"],
            "{metadata:?}: matched public-api"
        );
    }

    // No hop matches: an immediate 403 with the generic body.
    for headers in [
        &[
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", "/v1/admin"),
        ][..],
        &[
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", "/v1/items/../admin"),
        ][..],
        &[(":method", "GET"), (":path", "/healthz")][..],
        &[][..],
    ] {
        let mut s = ProcStream::open(&ch).await;
        let a = s.answer(request_headers(headers, None)).await;
        let Answer::ImmediateResponse(ir) = &a else {
            panic!("{headers:?}: {a:?}")
        };
        assert_eq!(ir.status.as_ref().unwrap().code, 403, "{headers:?}");
        let body: serde_json::Value = serde_json::from_slice(&ir.body).unwrap();
        assert_eq!(body["error"], "forbidden");
        assert_eq!(body.as_object().unwrap().len(), 2);
        let set = &ir.headers.as_ref().unwrap().set_headers;
        assert!(
            set.iter()
                .any(|o| o.header.as_ref().unwrap().key == "x-chaperone-decision-id")
        );
        // Nothing is expected after an immediate response.
        let err = s.send(body_msg()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_believes_only_a_hop_header_chaperone_signed() {
    // A hop for staff shares public-api's route and comes first: matching the
    // route again, ext_proc could not tell which of the two ext_authz chose.
    let shared = policy("proc.3", NO_JWKS).replacen(
        "  - name: public-api\n",
        "  - name: staff-items\n    match: { host: api.shop.test, path: \"/v1/items/{id}\" }\n    from:\n      - users: { issuer: corp, scopes: [\"items:admin\"] }\n  - name: public-api\n",
        1,
    );
    let c = Chaperone::start(&shared).await;
    let ch = channel(c.grpc_port).await;

    // A hop alone on its route needs no hop header.
    let resp = check(&ch, check_request("GET", "x", "/healthz", &[], ""))
        .await
        .unwrap();
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("{resp:?}")
    };
    assert_eq!(added(ok), ["txn-token"]);

    // An anonymous caller: staff-items does not admit it, public-api does,
    // and ext_authz names the hop, signed for this request.
    let resp = check(
        &ch,
        check_request(
            "GET",
            "api.shop.test",
            "/v1/items/9",
            &[("x-request-id", "req-1")],
            "",
        ),
    )
    .await
    .unwrap();
    let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
        panic!("{resp:?}")
    };
    let id = text(resp.dynamic_metadata.as_ref().unwrap(), "decision_id");
    let signed = header_value(&ok.headers, "x-chaperone-hop").unwrap();
    assert!(
        signed.starts_with(&format!("public-api.{id}.p_")),
        "{signed}"
    );
    assert_eq!(added(ok), ["x-chaperone-hop", "txn-token"]);
    assert!(!ok.headers_to_remove.contains(&"x-chaperone-hop".to_owned()));

    let tampered = {
        let mut t = signed.clone();
        let last = if t.ends_with('0') { "1" } else { "0" };
        t.pop();
        t.push_str(last);
        t
    };
    let forged = signed.replacen("public-api.", "health.", 1);
    let other_id = signed.replacen(&id, "0123456789abcdef0123456789abcdef", 1);
    // (hop header, path, request id, believed)
    let cases = [
        (signed.clone(), "/v1/items/9", "req-1", true),
        (tampered, "/v1/items/9", "req-1", false),
        (forged, "/v1/items/9", "req-1", false),
        (other_id, "/v1/items/9", "req-1", false),
        // Made for another request: not believed there.
        (signed.clone(), "/v1/items/10", "req-1", false),
        (signed.clone(), "/v1/items/9", "req-2", false),
        ("public-api".to_owned(), "/v1/items/9", "req-1", false),
        // None at all on a shared route: not guessed either.
        (String::new(), "/v1/items/9", "req-1", false),
    ];
    for (hop, path, request_id, believed) in cases {
        let mut headers = vec![
            (":authority", "api.shop.test"),
            (":method", "GET"),
            (":path", path),
            ("content-type", "application/json"),
            ("x-request-id", request_id),
        ];
        if !hop.is_empty() {
            headers.push(("x-chaperone-hop", hop.as_str()));
        }
        let mut s = ProcStream::open(&ch).await;
        let a = s.answer(request_headers(&headers, None)).await;
        if !believed {
            // ext_authz decided some hop on this shared route, and which one
            // cannot be known: refused rather than guessed.
            let Answer::ImmediateResponse(ir) = &a else {
                panic!("{hop} {path}: {a:?}")
            };
            assert_eq!(ir.status.as_ref().unwrap().code, 403);
            assert_eq!(ir.details, "chaperone_hop_unverified");
            continue;
        }
        let Answer::RequestHeaders(h) = &a else {
            panic!("{a:?}")
        };
        // The hop header never reaches the callee.
        assert!(removed(&h.response).contains(&"x-chaperone-hop".to_owned()));
        // The hop decides the response hygiene: public-api's removes
        // x-internal-trace (staff-items, first on the route, would not).
        let a = s.answer(response_headers(LEAKY)).await;
        let Answer::ResponseHeaders(h) = &a else {
            panic!("{a:?}")
        };
        assert!(removed(&h.response).contains(&"x-internal-trace".to_owned()));

        // A body the contract refuses: the refusal names ext_authz's decision.
        let mut s = ProcStream::open(&ch).await;
        s.answer(request_headers(&headers, None)).await;
        let a = s.answer(body(true, b"{not json", true)).await;
        let Answer::ImmediateResponse(ir) = &a else {
            panic!("{a:?}")
        };
        assert_eq!(ir.status.as_ref().unwrap().code, 400);
        let refusal: serde_json::Value = serde_json::from_slice(&ir.body).unwrap();
        assert_eq!(refusal["decision_id"], id.as_str(), "{refusal}");
    }

    // On a route one hop alone describes, a hop header that does not verify
    // changes nothing: the route names the hop. It is removed all the same.
    let mut s = ProcStream::open(&ch).await;
    let a = s
        .answer(request_headers(
            &[
                (":authority", "x"),
                (":method", "GET"),
                (":path", "/healthz"),
                ("x-chaperone-hop", "health.forged"),
            ],
            None,
        ))
        .await;
    let Answer::RequestHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(removed(&h.response), ["x-chaperone-hop"]);

    // A shadow hop first on the shared route changes nothing: ext_authz may
    // have decided the enforcing one, so without its word ext_proc refuses.
    // Only when every hop on the route is in shadow does such a request pass.
    let shared_line = [
        (":authority", "api.shop.test"),
        (":method", "GET"),
        (":path", "/v1/items/9"),
    ];
    for (policy_text, passes) in [
        (
            shared.replacen(
                "      - users: { issuer: corp, scopes: [\"items:admin\"] }\n",
                "      - users: { issuer: corp, scopes: [\"items:admin\"] }\n    shadow: true\n",
                1,
            ),
            false,
        ),
        (
            shared.replacen("trust_domain:", "mode: shadow\ntrust_domain:", 1),
            true,
        ),
        // Every hop on the route in shadow: whichever ext_authz chose only
        // records.
        (
            shared
                .replacen(
                    "      - users: { issuer: corp, scopes: [\"items:admin\"] }\n",
                    "      - users: { issuer: corp, scopes: [\"items:admin\"] }\n    shadow: true\n",
                    1,
                )
                .replacen(
                    "    response:\n      headers: { remove: [x-internal-trace] }\n",
                    "    shadow: true\n    response:\n      headers: { remove: [x-internal-trace] }\n",
                    1,
                ),
            true,
        ),
    ] {
        let c = Chaperone::start(&policy_text).await;
        let ch = channel(c.grpc_port).await;
        let mut s = ProcStream::open(&ch).await;
        let a = s.answer(request_headers(&shared_line, None)).await;
        assert_eq!(
            matches!(a, Answer::RequestHeaders(_)),
            passes,
            "{policy_text}: {a:?}"
        );
    }
}

fn body_msg() -> ProcessingRequest {
    body(true, b"{}", true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_refuses_messages_out_of_order() {
    let c = Chaperone::start(&policy("proc.3", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;

    // A body before any headers: the stream ends with an error.
    let mut s = ProcStream::open(&ch).await;
    let err = s.send(body_msg()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("out of order"), "{err:?}");
    assert!(
        matches!(within("stream end", s.rx.message()).await, Ok(None)),
        "nothing follows the error"
    );

    // A message with no phase.
    let mut s = ProcStream::open(&ch).await;
    let err = s.send(ProcessingRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Request headers twice.
    let mut s = ProcStream::open(&ch).await;
    let ok = [
        (":authority", "x"),
        (":method", "GET"),
        (":path", "/healthz"),
    ];
    s.answer(request_headers(&ok, None)).await;
    let err = s.send(request_headers(&ok, None)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // A request body after the response began.
    let mut s = ProcStream::open(&ch).await;
    s.answer(request_headers(&ok, None)).await;
    s.answer(response_headers(LEAKY)).await;
    let err = s.send(body_msg()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Response headers first: a local reply (say, an ext_authz denial) that
    // gets the default hygiene only.
    let mut s = ProcStream::open(&ch).await;
    let a = s.answer(response_headers(LEAKY)).await;
    let Answer::ResponseHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(removed(&h.response), ["server", "x-powered-by"]);
    let a = s.answer(body(false, b"{}", true)).await;
    unchanged_body(&a, false);
    assert!(s.close().await.unwrap().is_none());
}

// ---- Admin API and reload ----

async fn status(ch: &Channel) -> StatusResponse {
    within(
        "Status",
        AdminClient::new(ch.clone()).status(StatusRequest {}),
    )
    .await
    .unwrap()
    .into_inner()
}

/// The status once `holds` is true of it.
async fn wait_for_status(
    ch: &Channel,
    what: &str,
    holds: impl Fn(&StatusResponse) -> bool,
) -> StatusResponse {
    let mut last;
    assert_eventually!(
        {
            last = status(ch).await;
            holds(&last)
        },
        "{what}; last status: {last:?}"
    );
    last
}

async fn wait_for_version(ch: &Channel, version: &str) -> StatusResponse {
    wait_for_status(ch, &format!("policy {version} loaded"), |s| {
        s.policy_version == version
    })
    .await
}

/// The policy with an unknown key on line 15 (inside the first hop).
fn broken_policy(version: &str) -> String {
    let p = policy(version, NO_JWKS);
    let broken = p.replacen(
        "    from:\n      - anonymous: true",
        "    colour: blue\n    from:\n      - anonymous: true",
        1,
    );
    assert_ne!(p, broken);
    assert_eq!(
        broken.lines().nth(14),
        Some("    colour: blue"),
        "test bug: line moved"
    );
    broken
}

/// The admin Reload reloads the signing keys (and TLS files) with the
/// policy: `applied` speaks of the policy, and each source has its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_reloads_the_signing_keys_too() {
    use chaperone::token::{KeyKind, SigningKey};
    let keys = TempDir::new("admin-keys");
    let write = |kid: &str| {
        let key = SigningKey::generate(KeyKind::Es256, kid).unwrap();
        std::fs::write(keys.path(&format!("{kid}.pem")), key.to_pem()).unwrap();
    };
    write("k1");
    let dir = keys.0.display().to_string();
    // Nothing polls: only the Reload call can pick up a change.
    let c = Chaperone::start_with(
        &policy("admin.1", NO_JWKS),
        &["--signing-keys", &dir, "--watch-interval", "1h"],
    )
    .await;
    let mut admin = AdminClient::new(channel(c.grpc_port).await);
    let jwks_url = format!("http://127.0.0.1:{}/.well-known/jwks.json", c.admin_port);
    let kids = || async {
        let doc: serde_json::Value = http()
            .get(&jwks_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(kids().await, ["k1"]);
    let results = |r: &chaperone::proto::v1::ReloadResponse| {
        r.results
            .iter()
            .map(|x| (x.source.clone(), x.result.clone(), x.error.is_empty()))
            .collect::<Vec<_>>()
    };

    // A new key, named active: published once the Reload call ran.
    write("k2");
    std::fs::write(keys.path("active-kid"), "k2").unwrap();
    assert_eq!(kids().await, ["k1"], "nothing polls the directory");
    let r = within("Reload", admin.reload(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(r.applied && r.error.is_empty(), "{r:?}");
    assert_eq!(
        results(&r),
        [
            ("policy".to_owned(), "unchanged".to_owned(), true),
            ("keys".to_owned(), "reloaded".to_owned(), true),
        ]
    );
    assert_eq!(kids().await, ["k2", "k1"]);

    // A broken directory: the keys stay, the policy is still applied, and
    // the keys' error is said beside it.
    std::fs::write(keys.path("active-kid"), "k9").unwrap();
    let r = within("Reload", admin.reload(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(r.applied && r.error.is_empty(), "{r:?}");
    assert_eq!(
        results(&r),
        [
            ("policy".to_owned(), "unchanged".to_owned(), true),
            ("keys".to_owned(), "error".to_owned(), false),
        ]
    );
    assert!(r.results[1].error.contains("k9"), "{r:?}");
    assert_eq!(kids().await, ["k2", "k1"]);
    let metrics = http()
        .get(format!("http://127.0.0.1:{}/metrics", c.admin_port))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"chaperone_reloads_total{result="reloaded",source="keys"} 1"#,
        r#"chaperone_reloads_total{result="error",source="keys"} 1"#,
        r#"chaperone_reloads_total{result="unchanged",source="policy"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_status_explain_and_reload() {
    let c = Chaperone::start(&policy("admin.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let mut admin = AdminClient::new(ch.clone());

    let s = status(&ch).await;
    assert_eq!(s.policy_version, "admin.1");
    assert_eq!(s.policy_hash.len(), 64);
    assert!(s.policy_hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(s.policy_source, c.policy_path.display().to_string());
    assert_eq!(s.hops, 3);
    assert!(s.loaded_at > 1_600_000_000);
    assert!(s.last_reload_error.is_empty());
    assert!(!s.chaperone_version.is_empty());

    // Explain: allowed.
    let e = within(
        "Explain",
        admin.explain(ExplainRequest {
            host: "api.shop.test".into(),
            method: "GET".into(),
            path: "/v1/items/3".into(),
            headers: HashMap::from([("Authorization".into(), "Bearer t".into())]),
            source_principal: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(e.decision, "allow");
    assert_eq!(e.http_status, 200);
    assert_eq!(e.hop, "public-api");
    assert_eq!(e.policy_version, "admin.1");
    assert!(
        e.steps
            .iter()
            .any(|s| s.contains("hop \"public-api\" matches")),
        "{:?}",
        e.steps
    );
    assert!(
        e.steps.last().unwrap().starts_with("allow"),
        "{:?}",
        e.steps
    );

    // Explain: denied, with the reason and the steps.
    let e = within(
        "Explain",
        admin.explain(ExplainRequest {
            host: "orders.shop.test".into(),
            method: "GET".into(),
            path: "/v1/orders/1".into(),
            ..ExplainRequest::default()
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!((e.decision.as_str(), e.http_status), ("deny", 401));
    assert_eq!(e.hop, "read-order");
    assert_eq!(e.reason_code, "credentials_missing");
    assert!(
        e.steps.iter().any(|s| s == "no end-user token"),
        "{:?}",
        e.steps
    );
    let e = within(
        "Explain",
        admin.explain(ExplainRequest {
            host: "nowhere.test".into(),
            method: "GET".into(),
            path: "/".into(),
            ..ExplainRequest::default()
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        (e.decision.as_str(), e.http_status, e.reason_code.as_str()),
        ("deny", 403, "no_hop_matched")
    );
    assert!(e.hop.is_empty());
    assert!(!e.steps.is_empty());

    // Reload with a broken file: refused with file and line; the old policy stays.
    let old_hash = s.policy_hash.clone();
    std::fs::write(&c.policy_path, broken_policy("admin.2")).unwrap();
    let r = within("Reload", admin.reload(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.applied);
    assert_eq!(r.policy_version, "admin.1");
    let path = c.policy_path.display().to_string();
    assert!(r.error.contains(&format!("{path}:15:")), "{}", r.error);
    assert!(r.error.contains("colour"), "{}", r.error);
    let s = status(&ch).await;
    assert_eq!(s.policy_version, "admin.1");
    assert_eq!(s.policy_hash, old_hash);
    assert!(
        s.last_reload_error.contains(&format!("{path}:15:")),
        "{s:?}"
    );

    // A good file: applied.
    std::fs::write(&c.policy_path, policy("admin.2", NO_JWKS)).unwrap();
    let r = within("Reload", admin.reload(ReloadRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(r.applied, "{r:?}");
    assert!(r.error.is_empty());
    assert_eq!(r.policy_version, "admin.2");
    let s = status(&ch).await;
    assert_eq!(s.policy_version, "admin.2");
    assert_ne!(s.policy_hash, old_hash);
    assert!(s.last_reload_error.is_empty(), "{s:?}");
    // And decisions use it.
    let resp = check(
        &ch,
        check_request("GET", "api.shop.test", "/v1/items/1", &[], ""),
    )
    .await
    .unwrap();
    assert_eq!(
        text(resp.dynamic_metadata.as_ref().unwrap(), "policy_version"),
        "admin.2"
    );

    // The file watcher picks up a change with no call at all.
    std::fs::write(&c.policy_path, policy("admin.3", NO_JWKS)).unwrap();
    let s = wait_for_version(&ch, "admin.3").await;
    assert!(s.last_reload_error.is_empty());
    // And a broken change leaves the policy in force, with the error shown.
    std::fs::write(&c.policy_path, broken_policy("admin.4")).unwrap();
    let s = wait_for_status(&ch, "the watcher reports the broken file", |s| {
        !s.last_reload_error.is_empty()
    })
    .await;
    assert_eq!(s.policy_version, "admin.3");
    assert!(s.last_reload_error.contains(":15:"), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let c = Chaperone::start(&policy("health.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let mut health = HealthClient::new(ch);
    for service in [
        "",
        "envoy.service.auth.v3.Authorization",
        "envoy.service.ext_proc.v3.ExternalProcessor",
        "chaperone.v1.Admin",
    ] {
        let r = within(
            "Health",
            health.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let err = within(
        "Health",
        health.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // The HTTP side agrees.
    for path in ["/livez", "/readyz"] {
        let r = http()
            .get(format!("http://127.0.0.1:{}{path}", c.admin_port))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_policy() {
    // No file watch to race the signal: only SIGHUP reloads.
    let s = Chaperone::start_with(&policy("hup.1", NO_JWKS), &["--watch-interval", "1h"]).await;
    let ch = channel(s.grpc_port).await;
    assert_eq!(status(&ch).await.policy_version, "hup.1");

    std::fs::write(&s.policy_path, policy("hup.2", NO_JWKS)).unwrap();
    // Nothing watches the file at this interval: still the old policy.
    assert_eq!(status(&ch).await.policy_version, "hup.1");
    s.signal("HUP");
    let st = wait_for_version(&ch, "hup.2").await;
    assert!(st.last_reload_error.is_empty());

    // A broken file on SIGHUP: the error is reported and the policy stays.
    std::fs::write(&s.policy_path, broken_policy("hup.3")).unwrap();
    s.signal("HUP");
    let st = wait_for_status(&ch, "SIGHUP reports the broken file", |st| {
        !st.last_reload_error.is_empty()
    })
    .await;
    assert_eq!(st.policy_version, "hup.2");
    assert!(st.last_reload_error.contains(":15:"), "{st:?}");
    assert!(s.log().contains("sighup"), "the log names the trigger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_open_streams_then_exits_cleanly() {
    let mut c = Chaperone::start(&policy("drain.1", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    let admin_port = c.admin_port;
    let mut s = ProcStream::open(&ch).await;
    let a = s
        .answer(request_headers(
            &[
                (":authority", "api.shop.test"),
                (":method", "GET"),
                (":path", "/v1/items/1"),
            ],
            None,
        ))
        .await;
    assert!(matches!(a, Answer::RequestHeaders(_)), "{a:?}");

    // SIGTERM, and wait for the exit on a blocking thread while the stream
    // finishes here. The harness sends the signal itself.
    let started = Instant::now();
    let exited = tokio::task::spawn_blocking(move || {
        let status = c.signal_and_wait("TERM", Duration::from_secs(8));
        (status, c)
    });

    // Readiness goes away at once: new traffic must go elsewhere.
    let readyz = format!("http://127.0.0.1:{admin_port}/readyz");
    assert_eventually!(
        match http().get(&readyz).send().await {
            Ok(r) if r.status() == 200 => false,
            Ok(r) => {
                assert_eq!(r.status(), 503);
                true
            }
            // The admin listener already closed: not ready either.
            Err(_) => true,
        },
        "not ready after SIGTERM"
    );

    // The stream that was open keeps being served.
    let a = s.answer(response_headers(LEAKY)).await;
    let Answer::ResponseHeaders(h) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(
        removed(&h.response),
        ["server", "x-internal-trace", "x-powered-by"]
    );
    let a = s.answer(body(false, b"{}", true)).await;
    unchanged_body(&a, false);
    assert!(s.close().await.unwrap().is_none());
    drop(s);
    drop(ch);

    let (status, c) = exited.await.unwrap();
    let status = status.unwrap_or_else(|| panic!("no exit after the drain: {}", c.log()));
    assert!(status.success(), "exit {status}: {}", c.log());
    assert!(
        started.elapsed() < Duration::from_secs(5) + Duration::from_secs(2),
        "within the grace period"
    );
    assert!(c.log().contains("draining"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_while_draining() {
    let mut c = Chaperone::start(&policy("drain.2", NO_JWKS)).await;
    let ch = channel(c.grpc_port).await;
    // Hold a stream open so the drain lasts.
    let mut s = ProcStream::open(&ch).await;
    s.answer(request_headers(
        &[
            (":authority", "x"),
            (":method", "GET"),
            (":path", "/healthz"),
        ],
        None,
    ))
    .await;
    let admin_port = c.admin_port;
    let exited = tokio::task::spawn_blocking(move || {
        let status = c.signal_and_wait("TERM", Duration::from_secs(8));
        (status, c)
    });
    let readyz = format!("http://127.0.0.1:{admin_port}/readyz");
    let mut saw = Vec::new();
    assert_eventually!(
        {
            let got = match http().get(&readyz).send().await {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("error: {e}"),
            };
            if !saw.contains(&got) {
                saw.push(got.clone());
            }
            got == "503"
        },
        "readyz answers 503 while draining; saw {saw:?}"
    );
    drop(s);
    let (status, _c) = exited.await.unwrap();
    assert!(status.unwrap().success());
}

// ---- CLI ----

#[test]
fn cli_check_and_explain() {
    let dir = TempDir::new("cli");
    let good = dir.path("good.yaml");
    std::fs::write(&good, policy("cli.1", NO_JWKS)).unwrap();
    let out = chaperone_cli(["check".as_ref(), good.as_os_str()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": ok (version cli.1, 3 hops"), "{stdout}");
    assert!(
        stdout.contains("hop read-order: GET /v1/orders/{order_id}"),
        "{stdout}"
    );

    let bad = dir.path("bad.yaml");
    std::fs::write(&bad, broken_policy("cli.2")).unwrap();
    let out = chaperone_cli(["check".as_ref(), bad.as_os_str()], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:15:", bad.display());
    assert!(stderr.starts_with(&want), "{stderr}");
    let col = stderr[want.len()..].split(':').next().unwrap();
    assert!(col.parse::<usize>().is_ok(), "file:line:col: {stderr}");
    assert!(stderr.contains("colour"), "{stderr}");

    let missing = dir.path("missing.yaml");
    let out = chaperone_cli(["check".as_ref(), missing.as_os_str()], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));

    // explain: allowed (exit 0) and denied (exit 2).
    let allowed = dir.path("allowed.yaml");
    std::fs::write(
        &allowed,
        "host: api.shop.test\nmethod: GET\npath: /v1/items/5\n",
    )
    .unwrap();
    let out = chaperone_cli(
        ["explain".as_ref(), good.as_os_str(), allowed.as_os_str()],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("decision: allow (200)"), "{stdout}");
    assert!(stdout.contains("hop: public-api"), "{stdout}");
    assert!(
        stdout.contains("  - hop \"public-api\" matches"),
        "{stdout}"
    );

    let denied = dir.path("denied.json");
    std::fs::write(
        &denied,
        r#"{"host": "orders.shop.test", "method": "GET", "path": "/v1/orders/1", "headers": {"x-a": "b"}}"#,
    )
    .unwrap();
    let out = chaperone_cli(
        ["explain".as_ref(), good.as_os_str(), denied.as_os_str()],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("decision: deny (401)"), "{stdout}");
    assert!(stdout.contains("(credentials_missing)"), "{stdout}");

    // A described request with an unknown key is refused.
    let odd = dir.path("odd.yaml");
    std::fs::write(&odd, "host: a\nmethod: GET\npath: /\nbody: x\n").unwrap();
    let out = chaperone_cli(["explain".as_ref(), good.as_os_str(), odd.as_os_str()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("body"));
}

/// `chaperone scrub --jsonl --report json`: one document per line in and
/// out (a refused one as a marker line, blank lines kept), and a summary
/// of counts that holds no value.
#[test]
fn cli_scrub_batch_with_json_report() {
    let dir = TempDir::new("cli-scrub");
    let path = dir.path("p.yaml");
    std::fs::write(
        &path,
        r#"version: "scrub.1"
trust_domain: t.test
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  health_id: { detect: [uk_nhs, us_npi], action: redact }
defaults: { scan: [card_number, health_id] }
hops:
  - name: h
    match: { host: a.test, path: /x }
    from: [{ anonymous: true }]
    response:
      body: { allow: [note, nhs_number, n], unknown: drop }
"#,
    )
    .unwrap();
    let input = concat!(
        "{\"note\":\"paid with 4111 1111 1111 1111\",\"debug\":1}\n",
        "\n",
        "{\"nhs_number\":\"9434765919\"}\n",
        "{\"n\":1}\r\n",
        "not json\n",
    );
    let out = chaperone_cli(
        [
            "scrub".as_ref(),
            "--policy".as_ref(),
            path.as_os_str(),
            "--hop".as_ref(),
            "h".as_ref(),
            "--jsonl".as_ref(),
            "--report".as_ref(),
            "json".as_ref(),
        ],
        input.as_bytes(),
    );
    // A refused document makes the exit status 2.
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "{\"note\":\"paid with 411111******1111\"}",
            "",
            "{\"nhs_number\":\"[REDACTED:health_id]\"}",
            "{\"n\":1}",
            "{\"chaperone_refused\":\"invalid_json\"}",
        ]
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        report,
        serde_json::json!({
            "documents": 4,
            "changed": 2,
            "refused": {"invalid_json": 1},
            "alerts": 0,
            "findings": {"card_number": 1, "health_id": 1},
        })
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("9434765919"));
}
