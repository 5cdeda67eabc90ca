//! Envoy's `envoy.service.auth.v3.Authorization`: a thin translation between
//! a CheckRequest and the policy engine's decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode as HttpCode};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::policy::{Allow, Decision, Deny, DenyKind, Engine, Evaluation, Reason, RequestFacts};
use crate::secret::HashKey;
use crate::telemetry::{self, metrics, trace};

/// The header that carries the decision id on a denial, for the caller to
/// quote (Envoy's configuration can pass it to callees: envoy/README.md).
pub const DECISION_ID_HEADER: &str = "x-chaperone-decision-id";
/// The header that carries the decided hop from ext_authz to ext_proc, signed
/// with the hash key, when ext_proc could not find it again by the route
/// alone (several hops' routes fit the request); ext_proc removes it before
/// the callee sees it.
pub const HOP_HEADER: &str = "x-chaperone-hop";
const HOP_TAG_LABEL: &str = "ext_proc_hop";

/// The request a hop header was made for, as Envoy reports it to both
/// ext_authz and ext_proc (after path normalization), with Envoy's request
/// id: a header made for one request does not hold for another.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopRequest<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    /// `x-request-id` as [`telemetry::last_value`] reads it, else "".
    pub request_id: &'a str,
}

/// What the hop header's tag covers: the decision, its hop and caller, the
/// request it was made for, and the policy.
fn hop_tag_input(
    decision_id: &str,
    hop: &str,
    principal: &str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> Vec<u8> {
    [
        decision_id,
        hop,
        principal,
        request.method,
        request.authority,
        request.path,
        request.request_id,
        policy_hash,
    ]
    .join("\0")
    .into_bytes()
}

/// The hop header, `<hop>.<decision id>.<hashed principal>.<tag>`: the hop
/// ext_authz decided, and the decision and who it was for (a keyed hash),
/// for ext_proc's decision events.
fn hop_header(
    key: &HashKey,
    decision_id: &str,
    hop: &str,
    principal: &str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> HeaderValueOption {
    let input = hop_tag_input(decision_id, hop, principal, request, policy_hash);
    let tag = key.tag("", HOP_TAG_LABEL, &input);
    header(
        HOP_HEADER,
        &format!("{hop}.{decision_id}.{principal}.{tag}"),
    )
}

/// What a hop header names: the hop, the decision id and the caller's keyed
/// hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHop<'v> {
    pub hop: &'v str,
    pub decision_id: &'v str,
    pub principal: &'v str,
}

/// What a hop header names, if its tag is right for this request and this
/// policy: a header a client made up, one made for another request, or one
/// from another policy, is not believed.
pub fn verify_hop_header<'v>(
    key: &HashKey,
    value: &'v str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> Option<SignedHop<'v>> {
    let mut parts = value.rsplitn(4, '.');
    let tag = parts.next()?;
    let principal = parts.next()?;
    let decision_id = parts.next()?;
    let hop = parts.next()?;
    let input = hop_tag_input(decision_id, hop, principal, request, policy_hash);
    key.verify_tag("", HOP_TAG_LABEL, &input, tag)
        .then_some(SignedHop {
            hop,
            decision_id,
            principal,
        })
}

/// gRPC codes Envoy reads in `CheckResponse.status`.
const GRPC_OK: i32 = 0;
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_PERMISSION_DENIED: i32 = 7;
const GRPC_INTERNAL: i32 = 13;
const GRPC_UNAUTHENTICATED: i32 = 16;

#[derive(Debug, Clone)]
pub struct AuthzService {
    app: Arc<App>,
}

impl AuthzService {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// Decides a CheckRequest; the gRPC trait method is a wrapper around this.
    pub async fn decide(&self, req: &CheckRequest) -> Decision {
        self.evaluate(req).await.decision
    }

    /// The decision and what hops in shadow would have denied beside it.
    async fn evaluate(&self, req: &CheckRequest) -> Evaluation {
        let policy = self.app.store.snapshot();
        let Some((http, principal, source_ip)) = req.attributes.as_ref().and_then(|a| {
            let http = a.request.as_ref()?.http.as_ref()?;
            let principal = a.source.as_ref().map(|s| s.principal.as_str());
            Some((http, principal, source_ip(a)))
        }) else {
            return malformed(&policy.version).into();
        };
        let raw;
        let headers = match &http.header_map {
            Some(map) if http.headers.is_empty() => {
                raw = match raw_headers(&map.headers) {
                    Some(h) => h,
                    None => return malformed(&policy.version).into(),
                };
                &raw
            }
            _ => &http.headers,
        };
        let authority = authority_of(http, headers);
        let facts = RequestFacts {
            host: authority,
            method: &http.method,
            path: &http.path,
            headers,
            source_principal: principal,
            source_ip,
        };
        self.app.engine.evaluate_with_shadow(&policy, &facts).await
    }
}

/// The trace this Check belongs to: Envoy's own gRPC call when Envoy traces,
/// else the HTTP request's `traceparent` (capped at the sample ratio).
fn check_trace_parent(request: &Request<CheckRequest>) -> Option<trace::Parent> {
    trace::parent_of_call(request.metadata()).or_else(|| {
        let http = request
            .get_ref()
            .attributes
            .as_ref()?
            .request
            .as_ref()?
            .http
            .as_ref()?;
        match http.headers.get("traceparent") {
            Some(v) => trace::Parent::from_traceparent(v).map(trace::Parent::capped),
            None => trace::parent_in_headers(&http.header_map.as_ref()?.headers),
        }
    })
}

/// A header's value as text: Envoy sends it in `raw_value` when
/// `encode_raw_headers` is on, else in `value`. None when it is not UTF-8.
pub fn header_text(h: &HeaderValue) -> Option<&str> {
    if h.raw_value.is_empty() {
        Some(&h.value)
    } else {
        std::str::from_utf8(&h.raw_value).ok()
    }
}

/// The request's `x-request-id` (Envoy's `id` field is its stream number):
/// its last value when sent more than once, as ext_proc reads it.
fn request_id_of(req: &CheckRequest) -> Option<&str> {
    let http = req.attributes.as_ref()?.request.as_ref()?.http.as_ref()?;
    match http.headers.get("x-request-id") {
        Some(id) => Some(id),
        None => http
            .header_map
            .as_ref()?
            .headers
            .iter()
            .rfind(|h| h.key.eq_ignore_ascii_case("x-request-id"))
            .and_then(header_text),
    }
}

/// Envoy's `host` field, else the `:authority` header.
fn authority_of<'a>(
    http: &'a envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest,
    headers: &'a HashMap<String, String>,
) -> &'a str {
    if http.host.is_empty() {
        headers.get(":authority").map_or("", String::as_str)
    } else {
        &http.host
    }
}

fn source_ip(a: &envoy_types::pb::envoy::service::auth::v3::AttributeContext) -> Option<&str> {
    use envoy_types::pb::envoy::config::core::v3::address::Address;
    match a.source.as_ref()?.address.as_ref()?.address.as_ref()? {
        Address::SocketAddress(s) => Some(s.address.as_str()),
        _ => None,
    }
}

/// Headers in their raw form (`encode_raw_headers: true`). A value that is
/// not UTF-8 makes the request malformed: we do not guess at encodings.
fn raw_headers(list: &[HeaderValue]) -> Option<HashMap<String, String>> {
    let mut out: HashMap<String, String> = HashMap::with_capacity(list.len());
    for h in list {
        let value = header_text(h)?.to_owned();
        out.entry(h.key.to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Some(out)
}

fn malformed(version: &str) -> Decision {
    Decision::Deny(Deny {
        reason: Reason::RequestMalformed,
        hop: None,
        route_shared: false,
        decision_id: crate::secret::random_id(),
        policy_version: version.to_owned(),
        policy_hash: String::new(),
        // A request chaperone cannot read is refused even in shadow mode.
        shadow: false,
    })
}

#[tonic::async_trait]
impl Authorization for AuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let span = if trace::enabled() {
            trace::start("chaperone.check", check_trace_parent(&request))
        } else {
            None
        };
        let evaluation = self.evaluate(request.get_ref()).await;
        telemetry::evaluation_recorded(&evaluation);
        let decision = evaluation.decision;
        let elapsed = started.elapsed();
        metrics::get().check_seconds.observe(elapsed.as_secs_f64());
        let hop_request = hop_request(request.get_ref());
        telemetry::decision_event(
            &decision,
            &self.app.engine,
            "ext_authz",
            &telemetry::request_id(Some(hop_request.request_id), self.app.engine.hash_key()),
            elapsed,
        );
        if let Some(mut span) = span {
            span.text("rpc.system", "grpc");
            span.text("rpc.service", "envoy.service.auth.v3.Authorization");
            span.text("rpc.method", "Check");
            telemetry::decision_span(&mut span, &decision);
            span.end();
        }
        Ok(Response::new(check_response(
            &decision,
            &self.app.engine,
            hop_request,
        )))
    }
}

fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: value.to_owned(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..HeaderValueOption::default()
    }
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

/// Envoy puts this under the `envoy.filters.http.ext_authz` namespace, which
/// the ext_proc filter forwards to us (`metadata_options.forwarding_namespaces`).
/// Envoy copies it into every ext_proc message, at a cost per field measured
/// in BENCHMARKS.md, so it holds only what ext_proc and access logs need; the
/// hashed principal is in the decision event.
pub fn decision_metadata(hop: &str, decision_id: &str, policy_version: &str) -> Struct {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("hop".to_owned(), string_value(hop));
    fields.insert("decision_id".to_owned(), string_value(decision_id));
    fields.insert("policy_version".to_owned(), string_value(policy_version));
    Struct {
        fields: fields.into_iter().collect(),
    }
}

/// The request as the hop header's tag names it: what ext_proc will see as
/// `:method`, `:authority`, `:path` and `x-request-id`.
fn hop_request(req: &CheckRequest) -> HopRequest<'_> {
    let Some(http) = req
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref()?.http.as_ref())
    else {
        return HopRequest::default();
    };
    HopRequest {
        method: &http.method,
        authority: authority_of(http, &http.headers),
        path: &http.path,
        request_id: request_id_of(req).map_or("", telemetry::last_value),
    }
}

pub fn check_response(
    decision: &Decision,
    engine: &Engine,
    request: HopRequest<'_>,
) -> CheckResponse {
    if decision.is_shadow() {
        return shadow_response(decision, engine, request);
    }
    match decision {
        Decision::Allow(a) => CheckResponse {
            status: Some(RpcStatus {
                code: GRPC_OK,
                ..RpcStatus::default()
            }),
            dynamic_metadata: Some(decision_metadata(&a.hop, &a.decision_id, &a.policy_version)),
            http_response: Some(HttpResponse::OkResponse(allowed(a, engine, request))),
        },
        Decision::Deny(d) => {
            let (grpc, code, error) = match d.kind() {
                DenyKind::BadRequest => {
                    (GRPC_INVALID_ARGUMENT, HttpCode::BadRequest, "bad_request")
                }
                DenyKind::Unauthenticated => (
                    GRPC_UNAUTHENTICATED,
                    HttpCode::Unauthorized,
                    "unauthenticated",
                ),
                DenyKind::Forbidden => (GRPC_PERMISSION_DENIED, HttpCode::Forbidden, "forbidden"),
                DenyKind::Internal => (GRPC_INTERNAL, HttpCode::InternalServerError, "internal"),
            };
            let mut headers = vec![
                header("content-type", "application/json"),
                header("cache-control", "no-store"),
                header(DECISION_ID_HEADER, &d.decision_id),
            ];
            if d.kind() == DenyKind::Unauthenticated {
                let www = if d.reason == Reason::CredentialsMissing {
                    r#"Bearer realm="chaperone""#
                } else {
                    r#"Bearer realm="chaperone", error="invalid_token""#
                };
                headers.push(header("www-authenticate", www));
            }
            CheckResponse {
                status: Some(RpcStatus {
                    code: grpc,
                    ..RpcStatus::default()
                }),
                dynamic_metadata: None,
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus { code: code as i32 }),
                    headers,
                    body: deny_body(error, &d.decision_id),
                })),
            }
        }
    }
}

/// What an allowed request carries on: the minted token, and the signed hop
/// header when ext_proc could not find the hop by the route alone. Every
/// header a client sent in chaperone's name is removed (`remove_headers`
/// lists them), but for one set here: Envoy would remove it after setting it.
/// Both are overwritten, so a client can never smuggle its own token or hop.
fn allowed(a: &Allow, engine: &Engine, request: HopRequest<'_>) -> OkHttpResponse {
    let mut headers = Vec::with_capacity(2);
    let mut remove_headers = a.remove_headers.clone();
    if a.route_shared {
        headers.push(hop_header(
            engine.hash_key(),
            &a.decision_id,
            &a.hop,
            &engine.principal(a),
            request,
            &a.policy_hash,
        ));
        remove_headers.retain(|h| h != HOP_HEADER);
    }
    if let Some(t) = &a.txn_token {
        headers.push(header(&t.header, &t.token));
    }
    OkHttpResponse {
        headers,
        headers_to_remove: remove_headers,
        ..OkHttpResponse::default()
    }
}

/// Shadow mode: the request goes through unchanged (no header removed, no
/// token); ext_proc learns the hop and that it only records, from the signed
/// hop header when several hops' routes fit the request.
fn shadow_response(decision: &Decision, engine: &Engine, request: HopRequest<'_>) -> CheckResponse {
    let (hop, id, version) = match decision {
        Decision::Allow(a) => (a.hop.to_string(), &a.decision_id, &a.policy_version),
        Decision::Deny(d) => (
            d.hop.as_deref().unwrap_or_default().to_owned(),
            &d.decision_id,
            &d.policy_version,
        ),
    };
    let signed = match decision {
        Decision::Allow(a) if a.route_shared => Some((engine.principal(a), &a.policy_hash)),
        Decision::Deny(d) if d.route_shared => Some(("-".to_owned(), &d.policy_hash)),
        _ => None,
    };
    let headers = signed
        .map(|(principal, policy_hash)| {
            hop_header(
                engine.hash_key(),
                id,
                &hop,
                &principal,
                request,
                policy_hash,
            )
        })
        .into_iter()
        .collect();
    let mut metadata = decision_metadata(&hop, id, version);
    metadata.fields.insert(
        "shadow".to_owned(),
        Value {
            kind: Some(Kind::BoolValue(true)),
        },
    );
    CheckResponse {
        status: Some(RpcStatus {
            code: GRPC_OK,
            ..RpcStatus::default()
        }),
        dynamic_metadata: Some(metadata),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers,
            ..OkHttpResponse::default()
        })),
    }
}

/// The short generic body a denied caller gets. The reason stays in our log.
pub fn deny_body(error: &str, decision_id: &str) -> String {
    format!(r#"{{"error":"{error}","decision_id":"{decision_id}"}}"#)
}
