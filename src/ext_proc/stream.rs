//! The per-stream state machine.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, Metadata};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyMutation, BodyResponse, CommonResponse, HeaderMutation, HeadersResponse, HttpBody,
    HttpHeaders, ImmediateResponse, ProcessingRequest, ProcessingResponse, TrailersResponse,
    body_mutation,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode as HttpCode};
use envoy_types::pb::google::protobuf::value::Kind;
use tonic::Status;

use super::AUTHZ_NAMESPACE;
use crate::app::App;
use crate::authz::{DECISION_ID_HEADER, HOP_HEADER, HopRequest, deny_body, verify_hop_header};
use crate::config::contracts::header_matches;
use crate::policy::Policy;
use crate::policy::eval::{
    OWN_HEADER_PREFIX, host_without_port, is_normalized, request_headers_to_remove,
};
use crate::scrub::{BodyKind, scrub_body};
use crate::secret::random_id;
use crate::telemetry::{self, metrics, trace};

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
    /// The ext_authz decision this stream carries out, or a fresh id when
    /// the hop was matched here, made when first needed; it names the
    /// stream in logs, spans and refusals.
    decision_id: OnceCell<String>,
    /// The caller's keyed hash from the signed hop header, else "-".
    principal: String,
    /// Envoy's `x-request-id`, which joins this stream's events with
    /// ext_authz's decision event, else "-".
    request_id: String,
    request: BodyMeta,
    response: BodyMeta,
    /// The callee answered 5xx and the hop replaces such bodies.
    upstream_error: bool,
    /// Record what would be changed or refused; change nothing.
    shadow: bool,
}

#[derive(Debug)]
pub struct HopStream {
    app: Arc<App>,
    step: Step,
    ctx: Option<HopContext>,
    /// Shadow mode with no hop: everything passes unchanged.
    passthrough: bool,
    trace: StreamTrace,
}

/// The stream's span (`chaperone.process`) and what the phase being answered
/// adds to its own span. Empty unless tracing is on.
#[derive(Debug, Default)]
struct StreamTrace {
    /// The trace context of Envoy's gRPC call, if it sent one.
    call_parent: Option<trace::Parent>,
    started: bool,
    span: Option<trace::Span>,
    /// Findings per class in the body just judged.
    findings: Vec<(String, u32)>,
    total_findings: u32,
    /// Why the message just judged was refused.
    refused: Option<&'static str>,
}

impl Drop for HopStream {
    fn drop(&mut self) {
        if let Some(mut span) = self.trace.span.take() {
            span.int("chaperone.findings", i64::from(self.trace.total_findings));
            span.end();
        }
    }
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
            passthrough: false,
            trace: StreamTrace::default(),
        }
    }

    /// The trace context Envoy sent with the gRPC stream, if any.
    pub fn with_trace_parent(mut self, parent: Option<trace::Parent>) -> Self {
        self.trace.call_parent = parent;
        self
    }

    /// Starts the stream's span at its first message, under Envoy's call, else
    /// under the request's `traceparent`, else as a new trace.
    fn start_stream_span(&mut self, first: &ProcessingRequest) {
        self.trace.started = true;
        let parent = self.trace.call_parent.or_else(|| match &first.request {
            Some(Phase::RequestHeaders(h)) => {
                trace::parent_in_headers(&h.headers.as_ref()?.headers)
            }
            _ => None,
        });
        self.trace.span = trace::start("chaperone.process", parent);
        if let Some(span) = self.trace.span.as_mut() {
            span.text("rpc.system", "grpc");
            span.text("rpc.service", "envoy.service.ext_proc.v3.ExternalProcessor");
            span.text("rpc.method", "Process");
        }
    }

    /// Ends the phase's span with what was decided: codes and counts only.
    fn end_phase_span(&mut self, mut span: trace::Span, answer: &Answer) {
        if let Some(ctx) = &self.ctx {
            span.text("chaperone.hop", &ctx.policy.hops[ctx.hop].name);
            span.text("chaperone.decision_id", ctx.decision_id());
        }
        let changed = match answer {
            Answer::RequestBody(b) | Answer::ResponseBody(b) => b
                .response
                .as_ref()
                .is_some_and(|c| c.body_mutation.is_some()),
            _ => false,
        };
        let outcome = match (answer, self.trace.refused.take()) {
            (_, Some(code)) => {
                span.text("chaperone.refusal", code);
                "refused"
            }
            (Answer::ImmediateResponse(_), None) => "denied",
            (_, None) if changed => "changed",
            _ => "continue",
        };
        span.text("chaperone.outcome", outcome);
        for (class, n) in std::mem::take(&mut self.trace.findings) {
            span.int(format!("chaperone.findings.{class}"), i64::from(n));
        }
        span.end();
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
        if !self.trace.started && trace::enabled() {
            self.start_stream_span(&msg);
        }
        let phase_span = self.trace.span.as_ref().and_then(|s| {
            let name = match &msg.request {
                Some(Phase::RequestHeaders(_)) => "chaperone.process.request_headers",
                Some(Phase::RequestBody(_)) => "chaperone.process.request_body",
                Some(Phase::ResponseHeaders(_)) => "chaperone.process.response_headers",
                Some(Phase::ResponseBody(_)) => "chaperone.process.response_body",
                Some(Phase::RequestTrailers(_) | Phase::ResponseTrailers(_)) => {
                    "chaperone.process.trailers"
                }
                None => return None,
            };
            trace::start(name, Some(s.context()))
        });
        let answer = match msg.request.ok_or(StreamError::Empty)? {
            Phase::RequestHeaders(h) => {
                self.advance(Step::RequestHeaders)?;
                self.on_request_headers(&h, msg.metadata_context.as_ref())
            }
            Phase::RequestBody(b) => {
                self.advance(Step::RequestBody)?;
                self.on_body(&b, true)
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
                self.on_body(&b, false)
            }
            Phase::ResponseTrailers(_) => {
                self.advance(Step::ResponseTrailers)?;
                Answer::ResponseTrailers(TrailersResponse::default())
            }
        };
        if matches!(answer, Answer::ImmediateResponse(_)) {
            self.step = Step::Closed;
        }
        if let Some(span) = phase_span {
            if let (Some(stream), Some(ctx)) = (self.trace.span.as_mut(), &self.ctx)
                && self.step == Step::RequestHeaders
            {
                stream.text("chaperone.hop", &ctx.policy.hops[ctx.hop].name);
                stream.text("chaperone.decision_id", ctx.decision_id());
                stream.text("chaperone.policy_version", &ctx.policy.version);
            }
            self.end_phase_span(span, &answer);
        }
        Ok(ProcessingResponse {
            response: Some(answer),
            ..ProcessingResponse::default()
        })
    }

    fn on_request_headers(&mut self, h: &HttpHeaders, metadata: Option<&Metadata>) -> Answer {
        let policy = self.app.store.current();
        let headers = Headers::of(h.headers.as_ref());
        // The hop ext_authz decided: from the metadata Envoy forwards, else
        // from the signed hop header, else matched again here.
        let signed = signed_hop(&headers, &policy, self.app.engine.hash_key());
        let principal = signed
            .as_ref()
            .map_or_else(|| "-".to_owned(), |(_, _, p)| p.clone());
        let mut unverified = false;
        let found = metadata
            .and_then(|m| authz_decision(m, &policy))
            .or_else(|| signed.map(|(hop, id, _)| (hop, Some(id))))
            .or_else(|| {
                // Several hops' routes fit, and ext_authz's choice among them
                // did not arrive (or its signature does not hold: another
                // policy, another hash key): it cannot be known here.
                let (hop, shared, enforcing) = rematch(&policy, &headers)?;
                unverified = shared && enforcing;
                Some((hop, None))
            });
        let request_id = telemetry::request_id(headers.get("x-request-id"));
        let Some((hop, decision_id)) = found else {
            if policy.shadow {
                // Shadow mode: record that no hop describes this, pass it unchanged.
                self.passthrough = true;
                metrics::get()
                    .shadow_events
                    .with_label_values(&["-", "deny", "no_hop_matched"])
                    .inc();
                return Answer::RequestHeaders(only_without_own_headers(&headers));
            }
            let id = random_id();
            tracing::info!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "no_hop_matched", decision_id = %id, request_id);
            return immediate(HttpCode::Forbidden, "forbidden", &id, "no_hop");
        };
        let rule = &policy.hops[hop];
        let decision_id = decision_id.map_or_else(OnceCell::new, OnceCell::from);
        // Unless every hop on the route is in shadow (and then whichever
        // ext_authz decided only records).
        if unverified && !policy.shadow {
            let decision_id = decision_id.get_or_init(random_id);
            tracing::warn!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "hop_unverified", hop = "-", decision_id = %decision_id, request_id);
            metrics::get()
                .ext_proc_errors
                .with_label_values(&["hop_unverified"])
                .inc();
            return immediate(
                HttpCode::Forbidden,
                "forbidden",
                decision_id,
                "hop_unverified",
            );
        }
        // What ext_authz removed is removed again here only if Envoy still
        // shows it: ext_authz lists it whether it was shown or not.
        let mut remove = request_headers_to_remove(&policy, rule, headers.keys(), false);
        // Ask the callee for an uncompressed response: chaperone never passes
        // a body it cannot inspect.
        if headers.contains_key("accept-encoding") {
            remove.push("accept-encoding".to_owned());
        }
        self.ctx = Some(HopContext {
            policy: Arc::clone(&policy),
            hop,
            decision_id,
            principal,
            request_id: request_id.to_owned(),
            request: BodyMeta::of(&headers),
            response: BodyMeta::default(),
            upstream_error: false,
            shadow: policy.shadow || rule.shadow,
        });
        if policy.shadow || rule.shadow {
            // Shadow changes nothing, except that chaperone's own headers
            // never reach the callee.
            return Answer::RequestHeaders(only_without_own_headers(&headers));
        }
        Answer::RequestHeaders(HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: removal(remove),
                ..CommonResponse::default()
            }),
        })
    }

    fn on_response_headers(&mut self, h: &HttpHeaders) -> HeadersResponse {
        if self.passthrough {
            return HeadersResponse::default();
        }
        let present = Headers::of(h.headers.as_ref());
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            None => (self.app.store.current(), None),
        };
        let hop_remove = hop_rule
            .map(|i| policy.hops[i].response_headers_remove.as_slice())
            .unwrap_or_default();
        let remove: Vec<String> = present
            .keys()
            .filter(|name| {
                !name.starts_with(':')
                    && policy
                        .default_response_remove
                        .iter()
                        .chain(hop_remove.iter())
                        .any(|p| header_matches(p, name))
            })
            .map(str::to_owned)
            .collect();
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.response = BodyMeta::of(&present);
            if ctx.shadow {
                return HeadersResponse::default();
            }
            let status: u16 = present
                .get(":status")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            ctx.upstream_error = status >= 500 && ctx.policy.hops[ctx.hop].generic_errors;
        }
        HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: removal(remove),
                ..CommonResponse::default()
            }),
        }
    }

    /// Applies the hop's contract to a whole (buffered) body.
    fn on_body(&mut self, body: &HttpBody, request: bool) -> Answer {
        let wrap = |r: BodyResponse| {
            if request {
                Answer::RequestBody(r)
            } else {
                Answer::ResponseBody(r)
            }
        };
        let Some(ctx) = &self.ctx else {
            // A local reply's body (an ext_authz denial): Envoy wrote it.
            return wrap(BodyResponse {
                response: Some(CommonResponse::default()),
            });
        };
        let started = Instant::now();
        let direction = if request { "request" } else { "response" };
        let hop = &ctx.policy.hops[ctx.hop];
        if !body.end_of_stream {
            // Only whole bodies can be judged: Envoy must buffer (BUFFERED mode).
            return self.refuse(
                request,
                "streamed_body",
                &format!("{direction} body arrived in parts"),
            );
        }
        if !request && ctx.upstream_error && !ctx.shadow {
            let generic = deny_body("upstream_error", ctx.decision_id()).into_bytes();
            BodyEvent {
                decision: "replace",
                reason: "upstream_error",
                ..BodyEvent::new(ctx, request, started)
            }
            .emit();
            return wrap(body_replaced(generic, true, ctx.response.content_length));
        }
        let meta = if request { &ctx.request } else { &ctx.response };
        let contract = if request {
            &hop.request_body
        } else {
            &hop.response_body
        };
        let result = scrub_body(
            &body.body,
            BodyKind::of(meta.content_type.as_deref()),
            meta.content_encoding.as_deref(),
            contract,
            &ctx.policy.classes,
            self.app.engine.hash_key(),
        );
        match result {
            Ok(scrubbed) => {
                let m = metrics::get();
                for (class, n) in scrubbed.findings.by_class(&ctx.policy.classes) {
                    let action = ctx
                        .policy
                        .classes
                        .get(ctx.policy.classes.index_of(class).unwrap_or(0))
                        .map_or("-", |c| c.action.name());
                    m.scrub_findings
                        .with_label_values(&[&hop.name, class, action, direction])
                        .inc_by(u64::from(n));
                }
                if scrubbed.alert {
                    m.exfiltration_alerts
                        .with_label_values(&[&hop.name, direction])
                        .inc();
                }
                if self.trace.span.is_some() {
                    self.trace.total_findings = self
                        .trace
                        .total_findings
                        .saturating_add(scrubbed.findings.total());
                    self.trace.findings = scrubbed
                        .findings
                        .by_class(&ctx.policy.classes)
                        .into_iter()
                        .map(|(c, n)| (c.to_owned(), n))
                        .collect();
                }
                if scrubbed.findings.total() > 0 || scrubbed.body.is_some() {
                    BodyEvent {
                        decision: if scrubbed.body.is_some() {
                            "change"
                        } else {
                            "pass"
                        },
                        reason: if scrubbed.alert {
                            "findings_limit_alert"
                        } else if scrubbed.findings.total() > 0 {
                            "findings"
                        } else {
                            "contract"
                        },
                        findings: counts(&scrubbed.findings, &ctx.policy.classes),
                        findings_total: scrubbed.findings.total(),
                        alert: scrubbed.alert,
                        ..BodyEvent::new(ctx, request, started)
                    }
                    .emit();
                }
                if ctx.shadow {
                    if scrubbed.body.is_some() {
                        m.shadow_events
                            .with_label_values(&[&hop.name, "change", direction])
                            .inc();
                    }
                    return wrap(BodyResponse {
                        response: Some(CommonResponse::default()),
                    });
                }
                match scrubbed.body {
                    Some(new) => wrap(body_replaced(new, false, meta.content_length)),
                    None => wrap(BodyResponse {
                        response: Some(CommonResponse::default()),
                    }),
                }
            }
            Err(e) => self.refuse(request, e.code(), &e.to_string()),
        }
    }

    /// Refuses the message: 4xx toward the callee for a request, 502 toward
    /// the caller for a response. The body says only the decision id.
    fn refuse(&mut self, request: bool, code: &'static str, detail: &str) -> Answer {
        if self.trace.span.is_some() && !self.ctx.as_ref().is_some_and(|c| c.shadow) {
            self.trace.refused = Some(code);
        }
        if let Some(ctx) = &self.ctx {
            BodyEvent {
                decision: "refuse",
                reason: code,
                detail,
                ..BodyEvent::new(ctx, request, Instant::now())
            }
            .emit();
        }
        let (hop, id) = match &self.ctx {
            Some(ctx) => (
                ctx.policy.hops[ctx.hop].name.to_string(),
                ctx.decision_id().to_owned(),
            ),
            None => ("-".to_owned(), random_id()),
        };
        let direction = if request { "request" } else { "response" };
        if self.ctx.as_ref().is_some_and(|c| c.shadow) {
            metrics::get()
                .shadow_events
                .with_label_values(&[&hop, "refuse", code])
                .inc();
            let pass = BodyResponse {
                response: Some(CommonResponse::default()),
            };
            return if request {
                Answer::RequestBody(pass)
            } else {
                Answer::ResponseBody(pass)
            };
        }
        metrics::get()
            .blocked_messages
            .with_label_values(&[&hop, direction, code])
            .inc();
        let (status, error) = match (request, code) {
            (false, _) => (HttpCode::BadGateway, "bad_gateway"),
            (true, "too_large") => (HttpCode::PayloadTooLarge, "payload_too_large"),
            (true, "encoded" | "content_type" | "not_utf8") => {
                (HttpCode::UnsupportedMediaType, "unsupported_media_type")
            }
            (true, "blocked_class" | "findings_limit") => (HttpCode::Forbidden, "forbidden"),
            (true, _) => (HttpCode::BadRequest, "bad_request"),
        };
        immediate(status, error, &id, code)
    }
}

/// The decision event for one judged body: the same event stream as
/// ext_authz's decisions (`chaperone::decision`), joined to the request's by
/// the decision id. Codes, names and counts only, never a value. A body that
/// crosses unchanged with nothing found adds no event.
struct BodyEvent<'a> {
    hop: &'a str,
    decision_id: &'a str,
    principal: &'a str,
    request_id: &'a str,
    policy_version: &'a str,
    phase: &'static str,
    /// pass, change, refuse or replace.
    decision: &'static str,
    reason: &'static str,
    /// Why a refusal happened, from the error's text (which never holds a value).
    detail: &'a str,
    /// `class=count` pairs.
    findings: String,
    findings_total: u32,
    alert: bool,
    shadow: bool,
    started: Instant,
}

impl<'a> BodyEvent<'a> {
    fn new(ctx: &'a HopContext, request: bool, started: Instant) -> Self {
        Self {
            hop: &ctx.policy.hops[ctx.hop].name,
            decision_id: ctx.decision_id(),
            principal: &ctx.principal,
            request_id: &ctx.request_id,
            policy_version: &ctx.policy.version,
            phase: if request {
                "request_body"
            } else {
                "response_body"
            },
            decision: "pass",
            reason: "-",
            detail: "",
            findings: String::new(),
            findings_total: 0,
            alert: false,
            shadow: ctx.shadow,
            started,
        }
    }

    /// Refusals and alerts at warn, the rest at info.
    fn emit(self) {
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        macro_rules! event {
            ($level:ident) => {
                tracing::$level!(
                    target: "chaperone::decision",
                    via = "ext_proc",
                    phase = self.phase,
                    decision = self.decision,
                    hop = self.hop,
                    decision_id = self.decision_id,
                    principal = self.principal,
                    request_id = self.request_id,
                    policy_version = self.policy_version,
                    reason = self.reason,
                    detail = self.detail,
                    findings = %self.findings,
                    findings_total = self.findings_total,
                    alert = self.alert,
                    shadow = self.shadow,
                    latency_us,
                )
            };
        }
        if self.decision == "refuse" || self.alert {
            event!(warn);
        } else {
            event!(info);
        }
    }
}

/// `class=count` for every class found, in the policy's order.
fn counts(findings: &crate::scrub::Findings, classes: &crate::scrub::class::Classes) -> String {
    let mut out = String::new();
    for (class, n) in findings.by_class(classes) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(class);
        out.push('=');
        out.push_str(&n.to_string());
    }
    out
}

impl HopContext {
    fn decision_id(&self) -> &str {
        self.decision_id.get_or_init(random_id)
    }
}

/// What the headers said about a body.
#[derive(Debug, Clone, Default)]
struct BodyMeta {
    content_type: Option<String>,
    content_encoding: Option<String>,
    /// A `content-length` was sent, so a changed body must say its new length
    /// (Envoy keeps the header in BUFFERED mode and refuses a mismatch).
    content_length: bool,
}

impl BodyMeta {
    fn of(headers: &Headers<'_>) -> Self {
        Self {
            content_type: headers.get("content-type").map(str::to_owned),
            content_encoding: headers.get("content-encoding").map(str::to_owned),
            content_length: headers.contains_key("content-length"),
        }
    }
}

/// A mutation that removes `names`, or none: Envoy does work for an empty one.
fn removal(names: Vec<String>) -> Option<HeaderMutation> {
    (!names.is_empty()).then(|| HeaderMutation {
        set_headers: Vec::new(),
        remove_headers: names,
    })
}

/// Passes the request headers unchanged but for chaperone's own
/// (`x-chaperone-*`): the hop header, and any a client sent.
fn only_without_own_headers(headers: &Headers<'_>) -> HeadersResponse {
    let own: Vec<String> = headers
        .keys()
        .filter(|n| n.starts_with(OWN_HEADER_PREFIX))
        .map(str::to_owned)
        .collect();
    HeadersResponse {
        response: removal(own).map(|m| CommonResponse {
            header_mutation: Some(m),
            ..CommonResponse::default()
        }),
    }
}

/// A body mutation, with `content-length` set to match when the message had one.
fn body_replaced(body: Vec<u8>, json: bool, content_length: bool) -> BodyResponse {
    let mut set = Vec::new();
    if content_length {
        set.push(set_header("content-length", &body.len().to_string()));
    }
    if json {
        set.push(set_header("content-type", "application/json"));
    }
    BodyResponse {
        response: Some(CommonResponse {
            header_mutation: Some(HeaderMutation {
                set_headers: set,
                remove_headers: Vec::new(),
            }),
            body_mutation: Some(BodyMutation {
                mutation: Some(body_mutation::Mutation::Body(body)),
            }),
            ..CommonResponse::default()
        }),
    }
}

fn immediate(status: HttpCode, error: &str, decision_id: &str, details: &str) -> Answer {
    Answer::ImmediateResponse(ImmediateResponse {
        status: Some(HttpStatus {
            code: status as i32,
        }),
        headers: Some(HeaderMutation {
            set_headers: vec![
                set_header("content-type", "application/json"),
                set_header("cache-control", "no-store"),
                set_header(DECISION_ID_HEADER, decision_id),
            ],
            remove_headers: Vec::new(),
        }),
        body: deny_body(error, decision_id).into_bytes(),
        details: format!("chaperone_{details}"),
        ..ImmediateResponse::default()
    })
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

/// Headers as Envoy sent them, borrowed from its message: lower-case names
/// and values (Envoy sends them in `raw_value`). A value that is not UTF-8 is
/// kept lossily: it is only compared with names and literal hosts, never
/// forwarded from here. A name sent twice counts once, with its last value.
/// A list, not a map: a request has a few dozen headers at most (Envoy bounds
/// them), and looking through them costs less than hashing each one.
#[derive(Debug, Default)]
struct Headers<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Headers<'a> {
    fn of(map: Option<&'a HeaderMap>) -> Self {
        let Some(map) = map else {
            return Self::default();
        };
        Self(
            map.headers
                .iter()
                .map(|h| {
                    let name = if h.key.bytes().any(|b| b.is_ascii_uppercase()) {
                        Cow::Owned(h.key.to_ascii_lowercase())
                    } else {
                        Cow::Borrowed(h.key.as_str())
                    };
                    let value = if h.raw_value.is_empty() {
                        Cow::Borrowed(h.value.as_str())
                    } else {
                        String::from_utf8_lossy(&h.raw_value)
                    };
                    (name, value)
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    fn contains_key(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// Each name once.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| !self.0[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.as_ref())
    }
}

/// The hop and decision id ext_authz recorded, if the hop still exists.
fn authz_decision(meta: &Metadata, policy: &Policy) -> Option<(usize, Option<String>)> {
    let fields = &meta.filter_metadata.get(AUTHZ_NAMESPACE)?.fields;
    let text = |k: &str| match fields.get(k)?.kind.as_ref()? {
        Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    };
    let hop = text("hop")?;
    let index = policy.hops.iter().position(|h| *h.name == *hop)?;
    Some((index, text("decision_id")))
}

/// The hop, decision id and hashed principal from ext_authz's signed hop
/// header, if its tag is right for this policy (a client cannot make one up).
fn signed_hop(
    headers: &Headers<'_>,
    policy: &Policy,
    key: &crate::secret::HashKey,
) -> Option<(usize, String, String)> {
    let value = headers.get(HOP_HEADER)?;
    let policy_hash = policy.hash.get(..12).unwrap_or(&policy.hash);
    let request = request_of(headers)?;
    let signed = verify_hop_header(key, value, request, policy_hash)?;
    let index = policy.hops.iter().position(|h| *h.name == *signed.hop)?;
    Some((
        index,
        signed.decision_id.to_owned(),
        signed.principal.to_owned(),
    ))
}

/// Matches the hop from the pseudo-headers when ext_authz left no decision:
/// the first whose route fits, whether a later one fits too, and whether one
/// that fits enforces (is not in shadow).
fn rematch(policy: &Policy, headers: &Headers<'_>) -> Option<(usize, bool, bool)> {
    let request = request_of(headers)?;
    let path = request
        .path
        .split_once('?')
        .map_or(request.path, |(p, _)| p);
    if !is_normalized(path) {
        return None;
    }
    let host = host_without_port(request.authority);
    let mut fitting = policy
        .hops
        .iter()
        .enumerate()
        .filter(|(_, h)| h.matches(host, request.method, path).is_some());
    let (first, hop) = fitting.next()?;
    let mut shared = false;
    let mut enforcing = !hop.shadow;
    for (_, h) in fitting {
        shared = true;
        enforcing |= !h.shadow;
        if enforcing {
            break;
        }
    }
    Some((first, shared, enforcing))
}

/// The request line from the pseudo-headers (`host` when there is no `:authority`).
fn request_of<'h>(headers: &'h Headers<'_>) -> Option<HopRequest<'h>> {
    Some(HopRequest {
        method: headers.get(":method")?,
        authority: headers.get(":authority").or_else(|| headers.get("host"))?,
        path: headers.get(":path")?,
        request_id: headers
            .get("x-request-id")
            .map_or("", telemetry::last_value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::HeaderValue;

    #[test]
    fn headers_read_like_a_map() {
        let raw = |k: &str, v: &[u8]| HeaderValue {
            key: k.to_owned(),
            value: String::new(),
            raw_value: v.to_vec(),
        };
        let map = HeaderMap {
            headers: vec![
                raw(":path", b"/a"),
                raw("X-Dup", b"1"),
                raw("x-dup", b"2"),
                raw("bad", b"\xff"),
                HeaderValue {
                    key: "plain".to_owned(),
                    value: "v".to_owned(),
                    raw_value: Vec::new(),
                },
            ],
        };
        let h = Headers::of(Some(&map));
        assert_eq!(h.get(":path"), Some("/a"));
        // Names are lower-case; a name sent twice has its last value, once.
        assert_eq!(h.get("x-dup"), Some("2"));
        assert!(h.get("X-Dup").is_none());
        assert_eq!(
            h.keys().collect::<Vec<_>>(),
            [":path", "x-dup", "bad", "plain"]
        );
        assert_eq!(h.get("bad"), Some("\u{fffd}"));
        assert_eq!(h.get("plain"), Some("v"));
        assert!(h.contains_key("plain") && !h.contains_key("absent"));
        assert!(Headers::of(None).keys().next().is_none());
    }
}
