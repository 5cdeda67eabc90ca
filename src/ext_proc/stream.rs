//! The per-stream state machine.

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::Metadata;
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
use super::envelope::{self, Headers};
use super::marking;
use crate::app::App;
use crate::authz::{DECISION_ID_HEADER, HOP_HEADER, HopRequest, deny_body, verify_hop_header};
use crate::config::contracts::header_matches;
use crate::policy::Policy;
use crate::policy::eval::{
    OWN_HEADER_PREFIX, host_without_port, is_normalized, request_headers_to_remove,
};
use crate::scrub::{BodyHeaders, BodyKind, Findings, ScrubError, scrub_body};
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
    /// Findings in each direction's headers (and URL), which count toward
    /// the message's limit with its body's.
    request_envelope_findings: u32,
    response_envelope_findings: u32,
    /// What the response already carries of chaperone's cache marking.
    marked: marking::Marked,
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
            Phase::RequestTrailers(t) => {
                self.advance(Step::RequestTrailers)?;
                Answer::RequestTrailers(self.on_trailers(t.trailers.as_ref(), true))
            }
            Phase::ResponseHeaders(h) => {
                self.advance(Step::ResponseHeaders)?;
                self.on_response_headers(&h)
            }
            Phase::ResponseBody(b) => {
                self.advance(Step::ResponseBody)?;
                self.on_body(&b, false)
            }
            Phase::ResponseTrailers(t) => {
                self.advance(Step::ResponseTrailers)?;
                Answer::ResponseTrailers(self.on_trailers(t.trailers.as_ref(), false))
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
        let request_id =
            telemetry::request_id(headers.get("x-request-id"), self.app.engine.hash_key());
        let Some((hop, decision_id)) = found else {
            if policy.shadow {
                // Shadow mode: record that no hop describes this, pass it unchanged.
                self.passthrough = true;
                metrics::get()
                    .shadow_events
                    .with_label_values(&["-", "deny", "no_hop_matched"])
                    .inc();
                return Answer::RequestHeaders(only_without_own_headers(
                    &headers,
                    &policy.tokens.header,
                ));
            }
            let id = random_id();
            tracing::info!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "no_hop_matched", decision_id = %id, request_id = &*request_id);
            return immediate(HttpCode::Forbidden, "forbidden", &id, "no_hop");
        };
        let rule = &policy.hops[hop];
        let decision_id = decision_id.map_or_else(OnceCell::new, OnceCell::from);
        // Unless every hop on the route is in shadow (and then whichever
        // ext_authz decided only records).
        if unverified && !policy.shadow {
            let decision_id = decision_id.get_or_init(random_id);
            tracing::warn!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "hop_unverified", hop = "-", decision_id = %decision_id, request_id = &*request_id);
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
        let shadow = policy.shadow || rule.shadow;
        self.ctx = Some(HopContext {
            policy: Arc::clone(&policy),
            hop,
            decision_id,
            principal,
            request_id: request_id.clone().into_owned(),
            request: BodyMeta::of(&headers),
            response: BodyMeta::default(),
            request_envelope_findings: 0,
            response_envelope_findings: 0,
            marked: marking::Marked::default(),
            upstream_error: false,
            shadow,
        });
        // Header values and the URL are data too.
        let started = Instant::now();
        let change = envelope::scan_request(
            &headers,
            rule,
            &policy,
            self.app.engine.hash_key(),
            |name| name.starts_with(OWN_HEADER_PREFIX) || remove.iter().any(|r| r == name),
        )
        .and_then(|c| {
            let alert = match &rule.request_body.limit {
                Some(l) => l.judge(c.findings.total())?,
                None => false,
            };
            Ok((c, alert))
        });
        let (change, alert) = match change {
            Ok(c) => c,
            Err(e) => return self.refuse(PhaseName::RequestHeaders, e.code(), &e.to_string()),
        };
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.request_envelope_findings = change.findings.total();
        }
        self.record(
            PhaseName::RequestHeaders,
            &change.findings,
            !change.is_empty(),
            alert,
            started,
        );
        if shadow {
            // Shadow changes nothing, except that chaperone's own headers
            // never reach the callee.
            return Answer::RequestHeaders(only_without_own_headers(
                &headers,
                &policy.tokens.header,
            ));
        }
        let mut set = Vec::new();
        change.mutation(&mut remove, &mut set);
        Answer::RequestHeaders(HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: mutation(remove, set),
                ..CommonResponse::default()
            }),
        })
    }

    fn on_response_headers(&mut self, h: &HttpHeaders) -> Answer {
        let pass = || Answer::ResponseHeaders(HeadersResponse::default());
        if self.passthrough {
            return pass();
        }
        let present = Headers::of(h.headers.as_ref());
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            None => (self.app.store.current(), None),
        };
        let hop = hop_rule.map(|i| &policy.hops[i]);
        let hop_remove = hop
            .map(|h| h.response_headers_remove.as_slice())
            .unwrap_or_default();
        let mut remove: Vec<String> = present
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
        let started = Instant::now();
        let change =
            envelope::scan_response(&present, hop, &policy, self.app.engine.hash_key(), |name| {
                remove.iter().any(|r| r == name)
            })
            .and_then(|c| {
                let alert = match hop.and_then(|h| h.response_body.limit) {
                    Some(l) => l.judge(c.findings.total())?,
                    None => false,
                };
                Ok((c, alert))
            });
        let (change, alert) = match change {
            Ok(c) => c,
            Err(e) if self.ctx.is_some() => {
                return self.refuse(PhaseName::ResponseHeaders, e.code(), &e.to_string());
            }
            // A local reply (no hop): what cannot be judged is dropped.
            Err(_) => (
                envelope::Change {
                    findings: Findings::new(policy.classes.len()),
                    rewritten: Vec::new(),
                    path: None,
                },
                false,
            ),
        };
        let mut set = Vec::new();
        change.mutation(&mut remove, &mut set);
        if let Some(ctx) = self.ctx.as_mut() {
            // What later answers build on (cache marking, the body's label)
            // is what crosses: the values as scanned.
            ctx.response = BodyMeta::of(&present).rewritten(&change.rewritten);
            ctx.response_envelope_findings = change.findings.total();
            let status: u16 = present
                .get(":status")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            ctx.upstream_error = status >= 500 && ctx.policy.hops[ctx.hop].generic_errors;
        }
        self.record(
            PhaseName::ResponseHeaders,
            &change.findings,
            !change.is_empty(),
            alert,
            started,
        );
        let Some(ctx) = self.ctx.as_mut() else {
            return Answer::ResponseHeaders(HeadersResponse {
                response: Some(CommonResponse {
                    header_mutation: mutation(remove, set),
                    ..CommonResponse::default()
                }),
            });
        };
        if ctx.shadow {
            return pass();
        }
        // JSON and text, and whatever chaperone changed, are marked for caches.
        let env = &ctx.policy.hops[ctx.hop].response_envelope;
        let needs_user = ctx.policy.hops[ctx.hop].needs_user();
        let kind = BodyHeaders {
            content_type: ctx.response.content_type.clone(),
            content_encoding: Vec::new(),
        }
        .kind();
        let readable = matches!(kind, BodyKind::Json | BodyKind::Text);
        ctx.marked.mark(
            &ctx.response,
            env,
            needs_user,
            marking::Crossing {
                readable,
                crossed: readable || !change.is_empty(),
            },
            &mut remove,
            &mut set,
        );
        Answer::ResponseHeaders(HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: mutation(remove, set),
                ..CommonResponse::default()
            }),
        })
    }

    /// Trailers (where Envoy forwards them: HTTP/2 and gRPC) are header
    /// values like any other: scanned as the direction's headers are; one
    /// that a `block` class finds, or that cannot be judged, is removed (the
    /// message is already on its way, so removal is what is left).
    fn on_trailers(
        &mut self,
        trailers: Option<&envoy_types::pb::envoy::config::core::v3::HeaderMap>,
        request: bool,
    ) -> TrailersResponse {
        let present = Headers::of(trailers);
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) if !ctx.shadow => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            Some(_) => return TrailersResponse::default(),
            None if self.passthrough => return TrailersResponse::default(),
            None => (self.app.store.current(), None),
        };
        let hop = hop_rule.map(|i| &policy.hops[i]);
        let key = self.app.engine.hash_key();
        let change = match (request, hop) {
            (true, Some(hop)) => envelope::scan_trailers(&present, hop, &policy, key),
            (true, None) => Err(ScrubError::Internal),
            (false, hop) => envelope::scan_response(&present, hop, &policy, key, |_| false),
        };
        let mut remove = Vec::new();
        let mut set = Vec::new();
        match change {
            Ok(change) => {
                self.record(
                    if request {
                        PhaseName::RequestTrailers
                    } else {
                        PhaseName::ResponseTrailers
                    },
                    &change.findings,
                    !change.is_empty(),
                    false,
                    Instant::now(),
                );
                change.mutation(&mut remove, &mut set);
            }
            Err(_) => remove.extend(present.keys().map(str::to_owned)),
        }
        TrailersResponse {
            header_mutation: mutation(remove, set),
        }
    }

    /// Applies the hop's contract to a whole (buffered) body.
    fn on_body(&mut self, body: &HttpBody, request: bool) -> Answer {
        let phase = if request {
            PhaseName::RequestBody
        } else {
            PhaseName::ResponseBody
        };
        let Some(ctx) = &self.ctx else {
            // A local reply's body (an ext_authz denial): Envoy wrote it.
            return phase.pass();
        };
        let started = Instant::now();
        if !body.end_of_stream {
            // Envoy sends a body in parts only when it is larger than its
            // buffer (BUFFERED_PARTIAL): too large to judge whole.
            return self.refuse(
                phase,
                "too_large",
                "body is larger than Envoy's buffer for it",
            );
        }
        if !request && ctx.upstream_error && !ctx.shadow {
            let generic = deny_body("upstream_error", ctx.decision_id()).into_bytes();
            BodyEvent {
                decision: "replace",
                reason: "upstream_error",
                ..BodyEvent::new(ctx, phase, started)
            }
            .emit();
            return phase.wrap(body_replaced(
                generic,
                Some("application/json"),
                ctx.response.content_length,
                Vec::new(),
                Vec::new(),
            ));
        }
        let hop = &ctx.policy.hops[ctx.hop];
        let (meta, contract, envelope_findings) = if request {
            (
                &ctx.request,
                &hop.request_body,
                ctx.request_envelope_findings,
            )
        } else {
            (
                &ctx.response,
                &hop.response_body,
                ctx.response_envelope_findings,
            )
        };
        let headers = BodyHeaders {
            content_type: meta.content_type.clone(),
            content_encoding: meta.content_encoding.clone(),
        };
        let result = scrub_body(
            &body.body,
            &headers,
            contract,
            &ctx.policy.classes,
            self.app.engine.hash_key(),
        )
        .and_then(|mut scrubbed| {
            // Findings in the message's headers count toward its limit too.
            if let Some(limit) = contract.limit
                && envelope_findings > 0
            {
                scrubbed.alert |=
                    limit.judge(scrubbed.findings.total().saturating_add(envelope_findings))?;
            }
            Ok(scrubbed)
        });
        let scrubbed = match result {
            Ok(s) => s,
            Err(e) => return self.refuse(phase, e.code(), &e.to_string()),
        };
        self.record(
            phase,
            &scrubbed.findings,
            scrubbed.body.is_some(),
            scrubbed.alert,
            started,
        );
        let Some(ctx) = self.ctx.as_mut() else {
            return phase.pass();
        };
        if ctx.shadow {
            return phase.pass();
        }
        let mut set = Vec::new();
        let mut remove = Vec::new();
        if !request {
            let hop = &ctx.policy.hops[ctx.hop];
            let readable = matches!(scrubbed.kind, BodyKind::Json | BodyKind::Text);
            ctx.marked.mark(
                &ctx.response,
                &hop.response_envelope,
                hop.needs_user(),
                marking::Crossing {
                    readable,
                    crossed: readable || scrubbed.body.is_some(),
                },
                &mut remove,
                &mut set,
            );
        }
        let meta = if request { &ctx.request } else { &ctx.response };
        match scrubbed.body {
            Some(new) => phase.wrap(body_replaced(
                new,
                scrubbed.content_type.as_deref(),
                meta.content_length,
                remove,
                set,
            )),
            None => phase.wrap(BodyResponse {
                response: Some(CommonResponse {
                    header_mutation: mutation(remove, set),
                    ..CommonResponse::default()
                }),
            }),
        }
    }

    /// Metrics, span attributes and the decision event for what one phase
    /// found and changed; a phase that changed and found nothing adds no event.
    fn record(
        &mut self,
        phase: PhaseName,
        findings: &Findings,
        changed: bool,
        alert: bool,
        started: Instant,
    ) {
        let Some(ctx) = &self.ctx else {
            return;
        };
        let total = findings.total();
        if total == 0 && !changed {
            return;
        }
        let m = metrics::get();
        let hop = &ctx.policy.hops[ctx.hop];
        let direction = phase.direction();
        if ctx.shadow && changed {
            m.shadow_events
                .with_label_values(&[&hop.name, "change", direction])
                .inc();
        }
        for (class, n) in findings.by_class(&ctx.policy.classes) {
            let action = ctx
                .policy
                .classes
                .get(ctx.policy.classes.index_of(class).unwrap_or(0))
                .map_or("-", |c| c.action.name());
            m.scrub_findings
                .with_label_values(&[&hop.name, class, action, direction])
                .inc_by(u64::from(n));
        }
        if alert {
            m.exfiltration_alerts
                .with_label_values(&[&hop.name, direction])
                .inc();
        }
        if self.trace.span.is_some() {
            self.trace.total_findings = self.trace.total_findings.saturating_add(total);
            self.trace.findings = findings
                .by_class(&ctx.policy.classes)
                .into_iter()
                .map(|(c, n)| (c.to_owned(), n))
                .collect();
        }
        BodyEvent {
            decision: if changed { "change" } else { "pass" },
            reason: if alert {
                "findings_limit_alert"
            } else if total > 0 {
                "findings"
            } else {
                "contract"
            },
            findings: counts(findings, &ctx.policy.classes),
            findings_total: total,
            alert,
            ..BodyEvent::new(ctx, phase, started)
        }
        .emit();
    }

    /// Refuses the message: 4xx toward the callee for a request, 502 toward
    /// the caller for a response. The body says only the decision id.
    fn refuse(&mut self, phase: PhaseName, code: &'static str, detail: &str) -> Answer {
        if self.trace.span.is_some() && !self.ctx.as_ref().is_some_and(|c| c.shadow) {
            self.trace.refused = Some(code);
        }
        if let Some(ctx) = &self.ctx {
            BodyEvent {
                decision: "refuse",
                reason: code,
                detail,
                ..BodyEvent::new(ctx, phase, Instant::now())
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
        if self.ctx.as_ref().is_some_and(|c| c.shadow) {
            metrics::get()
                .shadow_events
                .with_label_values(&[&hop, "refuse", code])
                .inc();
            return phase.pass();
        }
        metrics::get()
            .blocked_messages
            .with_label_values(&[&hop, phase.direction(), code])
            .inc();
        let (status, error) = refusal_status(phase.request(), code);
        immediate(status, error, &id, code)
    }
}

/// The status and error a refusal answers with: toward the callee by what
/// was wrong, toward the caller always 502 (the callee failed the contract).
fn refusal_status(request: bool, code: &str) -> (HttpCode, &'static str) {
    match (request, code) {
        (false, _) => (HttpCode::BadGateway, "bad_gateway"),
        (true, "too_large") => (HttpCode::PayloadTooLarge, "payload_too_large"),
        (true, "encoded" | "content_type" | "content_type_conflict" | "charset" | "not_utf8") => {
            (HttpCode::UnsupportedMediaType, "unsupported_media_type")
        }
        (true, "blocked_class" | "findings_limit" | "unreadable_finding") => {
            (HttpCode::Forbidden, "forbidden")
        }
        (true, _) => (HttpCode::BadRequest, "bad_request"),
    }
}

/// The phase a message belongs to, for events, metrics and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhaseName {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
}

impl PhaseName {
    fn name(self) -> &'static str {
        match self {
            PhaseName::RequestHeaders => "request_headers",
            PhaseName::RequestBody => "request_body",
            PhaseName::RequestTrailers => "request_trailers",
            PhaseName::ResponseHeaders => "response_headers",
            PhaseName::ResponseBody => "response_body",
            PhaseName::ResponseTrailers => "response_trailers",
        }
    }

    fn request(self) -> bool {
        matches!(
            self,
            PhaseName::RequestHeaders | PhaseName::RequestBody | PhaseName::RequestTrailers
        )
    }

    fn direction(self) -> &'static str {
        if self.request() {
            "request"
        } else {
            "response"
        }
    }

    /// Wraps a body answer for this phase.
    fn wrap(self, r: BodyResponse) -> Answer {
        if self.request() {
            Answer::RequestBody(r)
        } else {
            Answer::ResponseBody(r)
        }
    }

    /// Lets the message continue unchanged.
    fn pass(self) -> Answer {
        match self {
            PhaseName::RequestHeaders => Answer::RequestHeaders(HeadersResponse::default()),
            PhaseName::ResponseHeaders => Answer::ResponseHeaders(HeadersResponse::default()),
            PhaseName::RequestTrailers => Answer::RequestTrailers(TrailersResponse::default()),
            PhaseName::ResponseTrailers => Answer::ResponseTrailers(TrailersResponse::default()),
            PhaseName::RequestBody | PhaseName::ResponseBody => self.wrap(BodyResponse {
                response: Some(CommonResponse::default()),
            }),
        }
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
    fn new(ctx: &'a HopContext, phase: PhaseName, started: Instant) -> Self {
        Self {
            hop: &ctx.policy.hops[ctx.hop].name,
            decision_id: ctx.decision_id(),
            principal: &ctx.principal,
            request_id: &ctx.request_id,
            policy_version: &ctx.policy.version,
            phase: phase.name(),
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
pub(super) struct BodyMeta {
    /// Every value sent (several are refused).
    pub(super) content_type: Vec<String>,
    pub(super) content_encoding: Vec<String>,
    /// A `content-length` was sent, so a changed body must say its new length
    /// (Envoy keeps the header in BUFFERED mode and refuses a mismatch).
    pub(super) content_length: bool,
    /// Responses: the callee's cache directives, which marking adds to.
    pub(super) cache_control: Option<String>,
    pub(super) vary: Option<String>,
    /// Cache directives for shared caches only that the callee sent.
    pub(super) targeted: Vec<String>,
}

impl BodyMeta {
    /// With the values a header scan rewrote (or removed) in their place.
    fn rewritten(mut self, rewritten: &[(String, Vec<String>)]) -> Self {
        for (name, values) in rewritten {
            let joined = (!values.is_empty()).then(|| values.join(","));
            match name.as_str() {
                "content-type" => self.content_type = values.clone(),
                "content-encoding" => self.content_encoding = values.clone(),
                "cache-control" => self.cache_control = joined,
                "vary" => self.vary = joined,
                _ => {}
            }
        }
        self
    }

    fn of(headers: &Headers<'_>) -> Self {
        let joined = |name: &str| {
            let all = headers.all(name);
            (!all.is_empty()).then(|| all.join(","))
        };
        Self {
            content_type: headers.all("content-type"),
            content_encoding: headers.all("content-encoding"),
            content_length: headers.contains_key("content-length"),
            cache_control: joined("cache-control"),
            vary: joined("vary"),
            targeted: marking::TARGETED
                .iter()
                .filter(|h| headers.contains_key(h))
                .map(|h| (*h).to_owned())
                .collect(),
        }
    }
}

/// A mutation that removes `remove` and sets `set`, or none: Envoy does
/// work for an empty one.
fn mutation(
    remove: Vec<String>,
    set: Vec<envoy_types::pb::envoy::config::core::v3::HeaderValueOption>,
) -> Option<HeaderMutation> {
    (!remove.is_empty() || !set.is_empty()).then_some(HeaderMutation {
        set_headers: set,
        remove_headers: remove,
    })
}

/// A mutation that removes `names`, or none: Envoy does work for an empty one.
fn removal(names: Vec<String>) -> Option<HeaderMutation> {
    (!names.is_empty()).then(|| HeaderMutation {
        set_headers: Vec::new(),
        remove_headers: names,
    })
}

/// Passes the request headers unchanged but for chaperone's own
/// (`x-chaperone-*` and the token header): the hop header, and any a client
/// sent.
fn only_without_own_headers(headers: &Headers<'_>, token_header: &str) -> HeadersResponse {
    // A client's own transaction token never reaches a callee either.
    let own: Vec<String> = headers
        .keys()
        .filter(|n| n.starts_with(OWN_HEADER_PREFIX) || *n == token_header)
        .map(str::to_owned)
        .collect();
    HeadersResponse {
        response: removal(own).map(|m| CommonResponse {
            header_mutation: Some(m),
            ..CommonResponse::default()
        }),
    }
}

/// Headers that describe a body's exact bytes.
const BODY_DIGESTS: &[&str] = &[
    "etag",
    "digest",
    "content-digest",
    "repr-digest",
    "content-md5",
];

/// A body mutation, with `content-length` set to match when the message had
/// one, a new content type when the body has one, and any other headers.
fn body_replaced(
    body: Vec<u8>,
    content_type: Option<&str>,
    content_length: bool,
    mut remove: Vec<String>,
    mut set: Vec<envoy_types::pb::envoy::config::core::v3::HeaderValueOption>,
) -> BodyResponse {
    if content_length {
        set.push(set_header("content-length", &body.len().to_string()));
    }
    if let Some(ct) = content_type {
        set.push(set_header("content-type", ct));
    }
    // Validators and digests computed over the original body would let the
    // receiver confirm guesses of what was scrubbed (a masked card's hidden
    // digits against a hash): they go with the original.
    remove.extend(BODY_DIGESTS.iter().map(|h| (*h).to_owned()));
    BodyResponse {
        response: Some(CommonResponse {
            header_mutation: Some(HeaderMutation {
                set_headers: set,
                remove_headers: remove,
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
