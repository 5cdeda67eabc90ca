//! Envoy's `envoy.service.auth.v3.Authorization`: a thin translation between
//! a CheckRequest and the policy engine's decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{Value, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::edge::headers::{self, text as header_text};
use crate::edge::hop::{HOP_HEADER, HopRequest, decision_metadata, hop_header};
use crate::edge::refusal::{self, Refusal};
use crate::policy::{Allow, Decision, Deny, Engine, Evaluation, Reason, RequestFacts};
use crate::telemetry::{self, metrics, trace};

/// An allowed Check's status; a denial's comes from its [`Refusal`].
const GRPC_OK: i32 = tonic::Code::Ok as i32;

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
        let authority = authority_of(http);
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

/// A header of the request in either form Envoy sends: the `headers` map,
/// else the raw `header_map` (`encode_raw_headers`), its last value.
fn header_of<'a>(
    http: &'a envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest,
    name: &str,
) -> Option<&'a str> {
    match http.headers.get(name) {
        Some(v) => Some(v),
        None => http
            .header_map
            .as_ref()?
            .headers
            .iter()
            .rfind(|h| h.key.eq_ignore_ascii_case(name))
            .and_then(header_text),
    }
}

/// The request's `x-request-id` (Envoy's `id` field is its stream number):
/// its last value when sent more than once, as ext_proc reads it.
fn request_id_of(req: &CheckRequest) -> Option<&str> {
    let http = req.attributes.as_ref()?.request.as_ref()?.http.as_ref()?;
    header_of(http, "x-request-id")
}

/// Envoy's `host` field, else the `:authority` header.
fn authority_of(
    http: &envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest,
) -> &str {
    if http.host.is_empty() {
        header_of(http, ":authority").unwrap_or_default()
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
        policy_signer: None,
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
        authority: authority_of(http),
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
            let answer = Refusal::Denied(d.kind()).answer();
            let headers = refusal::headers(&d.decision_id, refusal::challenge(d))
                .map(|(name, value)| headers::authz_set(name, value))
                .collect();
            CheckResponse {
                status: Some(RpcStatus {
                    code: answer.grpc as i32,
                    ..RpcStatus::default()
                }),
                dynamic_metadata: None,
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus {
                        code: answer.http as i32,
                    }),
                    headers,
                    body: refusal::body(answer.error, &d.decision_id),
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
    // The signed hop header names the hop where ext_proc could not find it
    // by the route alone, and the caller where the hop keeps budgets or
    // baselines per caller.
    if a.route_shared || a.per_caller {
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
        headers.push(headers::authz_set(&t.header, &t.token));
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
        Decision::Allow(a) if a.route_shared || a.per_caller => {
            Some((engine.principal(a), &a.policy_hash))
        }
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
