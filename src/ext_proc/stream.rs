//! The per-stream state machine.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, Metadata};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyResponse, CommonResponse, HeaderMutation, HeadersResponse, HttpBody, HttpHeaders,
    ImmediateResponse, ProcessingRequest, ProcessingResponse, TrailersResponse,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode as HttpCode};
use envoy_types::pb::google::protobuf::value::Kind;
use tonic::Status;

use super::AUTHZ_NAMESPACE;
use crate::app::App;
use crate::authz::{DECISION_ID_HEADER, deny_body};
use crate::policy::Policy;
use crate::policy::eval::{host_without_port, is_normalized};
use crate::secret::random_id;

/// Where the stream is. Phases only move forward; bodies may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Start,
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    /// An immediate response was sent; nothing more is expected.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("message arrived out of order: {got} after {after}")]
    OutOfOrder {
        got: &'static str,
        after: &'static str,
    },
    #[error("message has no phase")]
    Empty,
}

impl StreamError {
    pub fn kind(&self) -> &'static str {
        match self {
            StreamError::OutOfOrder { .. } => "out_of_order",
            StreamError::Empty => "empty_message",
        }
    }
}

impl From<StreamError> for Status {
    fn from(e: StreamError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

/// The hop a stream belongs to, fixed at request headers.
#[derive(Debug)]
struct HopContext {
    policy: Arc<Policy>,
    hop: usize,
    /// The ext_authz decision this stream carries out (or a fresh id when
    /// the hop was matched here); it names the stream in logs.
    decision_id: String,
}

#[derive(Debug)]
pub struct HopStream {
    app: Arc<App>,
    step: Step,
    ctx: Option<HopContext>,
}

fn step_name(s: Step) -> &'static str {
    match s {
        Step::Start => "start",
        Step::RequestHeaders => "request_headers",
        Step::RequestBody => "request_body",
        Step::RequestTrailers => "request_trailers",
        Step::ResponseHeaders => "response_headers",
        Step::ResponseBody => "response_body",
        Step::ResponseTrailers => "response_trailers",
        Step::Closed => "immediate_response",
    }
}

impl HopStream {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            step: Step::Start,
            ctx: None,
        }
    }

    fn advance(&mut self, to: Step) -> Result<(), StreamError> {
        let repeatable = matches!(to, Step::RequestBody | Step::ResponseBody);
        let ok = match to {
            Step::RequestHeaders => self.step == Step::Start,
            // A response with no request phase before it is a local reply from
            // an earlier filter (an ext_authz denial): Envoy made it, no
            // upstream saw the request, and it gets default hygiene only.
            Step::ResponseHeaders if self.step == Step::Start => true,
            _ => {
                self.step != Step::Start
                    && self.step != Step::Closed
                    && (self.step < to || (repeatable && self.step == to))
            }
        };
        if !ok {
            return Err(StreamError::OutOfOrder {
                got: step_name(to),
                after: step_name(self.step),
            });
        }
        self.step = to;
        Ok(())
    }

    pub async fn on_message(
        &mut self,
        msg: ProcessingRequest,
    ) -> Result<ProcessingResponse, StreamError> {
        let answer = match msg.request.ok_or(StreamError::Empty)? {
            Phase::RequestHeaders(h) => {
                self.advance(Step::RequestHeaders)?;
                self.on_request_headers(&h, msg.metadata_context.as_ref())
            }
            Phase::RequestBody(b) => {
                self.advance(Step::RequestBody)?;
                Answer::RequestBody(self.on_body(&b, true))
            }
            Phase::RequestTrailers(_) => {
                self.advance(Step::RequestTrailers)?;
                Answer::RequestTrailers(TrailersResponse::default())
            }
            Phase::ResponseHeaders(h) => {
                self.advance(Step::ResponseHeaders)?;
                Answer::ResponseHeaders(self.on_response_headers(&h))
            }
            Phase::ResponseBody(b) => {
                self.advance(Step::ResponseBody)?;
                Answer::ResponseBody(self.on_body(&b, false))
            }
            Phase::ResponseTrailers(_) => {
                self.advance(Step::ResponseTrailers)?;
                Answer::ResponseTrailers(TrailersResponse::default())
            }
        };
        if matches!(answer, Answer::ImmediateResponse(_)) {
            self.step = Step::Closed;
        }
        Ok(ProcessingResponse {
            response: Some(answer),
            ..ProcessingResponse::default()
        })
    }

    fn on_request_headers(&mut self, h: &HttpHeaders, metadata: Option<&Metadata>) -> Answer {
        let policy = self.app.store.current();
        let headers = header_map(h.headers.as_ref());
        let from_authz = metadata.and_then(|m| authz_decision(m, &policy));
        let found = match from_authz {
            Some((hop, decision_id)) => Some((hop, decision_id)),
            None => rematch(&policy, &headers).map(|hop| (hop, random_id())),
        };
        let Some((hop, decision_id)) = found else {
            tracing::info!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "no_hop_matched", "no hop for this stream");
            let id = random_id();
            return Answer::ImmediateResponse(ImmediateResponse {
                status: Some(HttpStatus {
                    code: HttpCode::Forbidden as i32,
                }),
                headers: Some(HeaderMutation {
                    set_headers: vec![
                        set_header("content-type", "application/json"),
                        set_header(DECISION_ID_HEADER, &id),
                    ],
                    remove_headers: Vec::new(),
                }),
                body: deny_body("forbidden", &id).into_bytes(),
                details: "chaperone_no_hop".to_owned(),
                ..ImmediateResponse::default()
            });
        };
        let rule = &policy.hops[hop];
        let mut remove = policy.default_request_remove.clone();
        remove.extend(rule.request_headers_remove.iter().cloned());
        if !rule.keep_authorization {
            remove.push("authorization".to_owned());
        }
        self.ctx = Some(HopContext {
            policy: Arc::clone(&policy),
            hop,
            decision_id,
        });
        Answer::RequestHeaders(HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: Some(HeaderMutation {
                    set_headers: Vec::new(),
                    remove_headers: remove
                        .into_iter()
                        .filter(|r| headers.contains_key(r))
                        .collect(),
                }),
                ..CommonResponse::default()
            }),
        })
    }

    fn on_response_headers(&mut self, h: &HttpHeaders) -> HeadersResponse {
        let present = header_map(h.headers.as_ref());
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            None => (self.app.store.current(), None),
        };
        let hop_remove = hop_rule
            .map(|i| policy.hops[i].response_headers_remove.as_slice())
            .unwrap_or_default();
        let remove: Vec<String> = policy
            .default_response_remove
            .iter()
            .chain(hop_remove.iter())
            .filter(|name| present.contains_key(name.as_str()))
            .cloned()
            .collect();
        if let Some(ctx) = &self.ctx {
            tracing::debug!(decision_id = %ctx.decision_id, removed = remove.len(), "response headers");
        }
        HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: Some(HeaderMutation {
                    set_headers: Vec::new(),
                    remove_headers: remove,
                }),
                ..CommonResponse::default()
            }),
        }
    }

    /// The contract hook for bodies. Today every body passes unchanged.
    fn on_body(&mut self, _body: &HttpBody, _request: bool) -> BodyResponse {
        BodyResponse {
            response: Some(CommonResponse::default()),
        }
    }
}

pub(crate) fn set_header(
    key: &str,
    value: &str,
) -> envoy_types::pb::envoy::config::core::v3::HeaderValueOption {
    envoy_types::pb::envoy::config::core::v3::HeaderValueOption {
        header: Some(envoy_types::pb::envoy::config::core::v3::HeaderValue {
            key: key.to_owned(),
            value: String::new(),
            raw_value: value.as_bytes().to_vec(),
        }),
        ..Default::default()
    }
}

/// Header names (lower-case) to values; Envoy sends values in `raw_value`.
/// Values that are not UTF-8 are kept lossily: they are only compared with
/// names and literal hosts, never forwarded from here.
fn header_map(map: Option<&HeaderMap>) -> HashMap<String, String> {
    let Some(map) = map else {
        return HashMap::new();
    };
    map.headers
        .iter()
        .map(|h| {
            let v = if h.raw_value.is_empty() {
                h.value.clone()
            } else {
                String::from_utf8_lossy(&h.raw_value).into_owned()
            };
            (h.key.to_ascii_lowercase(), v)
        })
        .collect()
}

/// The hop and decision id ext_authz recorded, if the hop still exists.
fn authz_decision(meta: &Metadata, policy: &Policy) -> Option<(usize, String)> {
    let fields = &meta.filter_metadata.get(AUTHZ_NAMESPACE)?.fields;
    let text = |k: &str| match fields.get(k)?.kind.as_ref()? {
        Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    };
    let hop = text("hop")?;
    let index = policy.hops.iter().position(|h| *h.name == *hop)?;
    Some((index, text("decision_id").unwrap_or_else(random_id)))
}

/// Matches the hop from the pseudo-headers when ext_authz left no decision.
fn rematch(policy: &Policy, headers: &HashMap<String, String>) -> Option<usize> {
    let authority = headers.get(":authority").or_else(|| headers.get("host"))?;
    let method = headers.get(":method")?;
    let full = headers.get(":path")?;
    let path = full.split_once('?').map_or(full.as_str(), |(p, _)| p);
    if !is_normalized(path) {
        return None;
    }
    let host = host_without_port(authority);
    policy
        .hops
        .iter()
        .position(|h| h.matches(host, method, path).is_some())
}
