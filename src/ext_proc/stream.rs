//! The per-stream state machine: where the stream is and which phase
//! answers each message. Each phase lives in its own module.

mod anomaly;
mod authorize;
mod body;
mod budget;
mod events;
mod request;
mod response;
mod trailers;

pub(super) use body::BodyMeta;
use events::{BodyDecision, BodyEvent, EventTag, PhaseName};

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::processing_mode::{
    BodySendMode, HeaderSendMode,
};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyMutation, BodyResponse, CommonResponse, GrpcStatus, HeaderMutation, HeadersResponse,
    HttpBody, HttpHeaders, ImmediateResponse, ProcessingRequest, ProcessingResponse,
    TrailersResponse, body_mutation,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use tonic::Status;

use super::envelope;
use super::marking;
use crate::app::App;
use crate::edge::headers::{self, Headers};
use crate::edge::hop::{HOP_HEADER, HopRequest, authz_decision, verify_hop_header};
use crate::edge::refusal::{self, Refusal};
use crate::policy::DenyKind;
use crate::policy::Policy;
use crate::policy::eval::{host_without_port, is_normalized};
use crate::policy::headers::{
    OWN_HEADER_PREFIX, request_headers_to_remove, response_headers_to_remove,
};
use crate::scrub::stream::Flow;
use crate::scrub::{BodyHeaders, BodyKind, Breach, Findings, ScrubError, scrub_body};
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
        Refusal::Protocol.status(e.to_string())
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
    /// The request body flows (a gRPC client stream, an NDJSON upload),
    /// judged a piece at a time.
    request_flow: Option<(Flow, BodyHeaders)>,
    /// The response body flows (server-sent events, NDJSON, gRPC messages),
    /// judged a piece at a time.
    response_flow: Option<(Flow, BodyHeaders)>,
    /// Record what would be changed or refused; change nothing.
    shadow: bool,
    /// The message just judged, for the hop's budgets.
    pending: Option<budget::Pending>,
}

#[derive(Debug)]
pub struct HopStream {
    app: Arc<App>,
    step: Step,
    ctx: Option<HopContext>,
    /// Shadow mode with no hop: everything passes unchanged.
    passthrough: bool,
    /// This stream authorizes the request itself (no ext_authz in front).
    authorize: bool,
    /// Envoy honours a `mode_override` that streams a response body.
    streams: bool,
    /// The response body mode Envoy's filter is configured with, when it
    /// also honours one that streams a request body (which restates it).
    request_streams: Option<i32>,
    /// The request has ended (its headers, body or trailers said so).
    request_done: bool,
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
            authorize: false,
            streams: false,
            request_streams: None,
            request_done: false,
            trace: StreamTrace::default(),
        }
    }

    /// A stream that authorizes its request at request headers, as ext_authz
    /// would (for Envoys that run chaperone as ext_proc only).
    pub fn authorizing(mut self, authorize: bool) -> Self {
        self.authorize = authorize;
        self
    }

    /// A stream whose Envoy lets chaperone stream server-sent events and
    /// NDJSON (`x-chaperone-stream`).
    pub fn streaming(mut self, streams: bool) -> Self {
        self.streams = streams;
        self
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

    /// A request phase: in order, or, for a request body that flows and
    /// has not ended, beside its response (a gRPC stream both ways).
    fn advance_request(&mut self, to: Step, ended: bool) -> Result<(), StreamError> {
        let beside = !ended
            && self.ctx.as_ref().is_some_and(|c| c.request_flow.is_some())
            && matches!(
                self.step,
                Step::ResponseHeaders | Step::ResponseBody | Step::ResponseTrailers
            );
        if beside {
            return Ok(());
        }
        self.advance(to)
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
        if let Some(config) = &msg.protocol_config {
            // Envoy says how its filter sends bodies (in its first message):
            // where it would send a body before chaperone answers the headers,
            // or only in full duplex, it ignores a mode_override, and a body
            // judged as flowing would be a body buffered in part, whose rest
            // Envoy then sends on unasked. Such bodies are judged whole.
            // A filter in full duplex either way ignores every override.
            let readable = |mode: i32| {
                matches!(
                    BodySendMode::try_from(mode),
                    Ok(BodySendMode::Buffered
                        | BodySendMode::BufferedPartial
                        | BodySendMode::Streamed)
                )
            };
            let overrides = self.streams
                && !config.send_body_without_waiting_for_header_response
                && [config.request_body_mode, config.response_body_mode]
                    .iter()
                    .all(|&m| m != BodySendMode::FullDuplexStreamed as i32);
            self.streams = overrides && readable(config.response_body_mode);
            self.request_streams = (self.streams && readable(config.request_body_mode))
                .then_some(config.response_body_mode);
        }
        let request_ended = self.request_done;
        self.request_done |= match &msg.request {
            Some(Phase::RequestHeaders(h)) => h.end_of_stream,
            Some(Phase::RequestBody(b)) => b.end_of_stream,
            Some(Phase::RequestTrailers(_)) => true,
            _ => false,
        };
        let body_bytes = match &msg.request {
            Some(Phase::RequestBody(b) | Phase::ResponseBody(b)) => b.body.len() as u64,
            _ => 0,
        };
        let answer = match msg.request.ok_or(StreamError::Empty)? {
            Phase::RequestHeaders(h) if self.authorize => {
                self.advance(Step::RequestHeaders)?;
                self.authorize_headers(&h, &msg.attributes).await
            }
            Phase::RequestHeaders(h) => {
                self.advance(Step::RequestHeaders)?;
                self.on_request_headers(&h, msg.metadata_context.as_ref())
            }
            Phase::RequestBody(b) => {
                self.advance_request(Step::RequestBody, request_ended)?;
                self.on_body(&b, true)
            }
            Phase::RequestTrailers(t) => {
                self.advance_request(Step::RequestTrailers, request_ended)?;
                match self.end_flow(true) {
                    Some(refused) => refused,
                    None => Answer::RequestTrailers(self.on_trailers(t.trailers.as_ref(), true)),
                }
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
                match self.end_flow(false) {
                    Some(refused) => refused,
                    None => Answer::ResponseTrailers(self.on_trailers(t.trailers.as_ref(), false)),
                }
            }
        };
        let pending = self.ctx.as_mut().and_then(|c| c.pending.take());
        let answer = match pending {
            Some(p) if !matches!(answer, Answer::ImmediateResponse(_)) => {
                self.judge_budgets(p, body_bytes).await.unwrap_or(answer)
            }
            _ => answer,
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
        let mode_override = self.phases_left(&answer);
        Ok(ProcessingResponse {
            response: Some(answer),
            mode_override,
            ..ProcessingResponse::default()
        })
    }

    /// A body that flows ends at its trailers (its last part did not say
    /// so): what is held of it is judged as the body's end. A piece left
    /// incomplete, or a document left open, refuses the message: the
    /// request (its callee must not get a cut body it could read as whole),
    /// or the response with a reset, as a response whose flow was cut by a
    /// refused piece ends too (passed, its trailers would end it as a
    /// success: a gRPC stream's `grpc-status: 0` after its last message was
    /// refused).
    fn end_flow(&mut self, request: bool) -> Option<Answer> {
        let phase = match request {
            true => PhaseName::RequestBody,
            false => PhaseName::ResponseBody,
        };
        let key = self.app.engine.hash_key();
        let ctx = self.ctx.as_mut().filter(|c| !c.shadow)?;
        let hop = &ctx.policy.hops[ctx.hop];
        let (flow, contract) = match request {
            true => (ctx.request_flow.as_mut(), &hop.request_body),
            false => (ctx.response_flow.as_mut(), &hop.response_body),
        };
        let (flow, headers) = flow?;
        let ended = match flow.is_cut() {
            true => Err("a piece of it was refused"),
            false => {
                let fed = flow.feed(&[], true, headers, contract, &ctx.policy.classes, key);
                match (fed.refused, fed.out.is_empty()) {
                    (None, true) => Ok(()),
                    _ => Err("it ended inside a piece"),
                }
            }
        };
        let why = ended.err()?;
        match request {
            true => Some(self.refuse_as(phase, "body_cut", Breach::Malformed, why)),
            false => {
                let refusal = Refusal::Breach {
                    request: false,
                    breach: Breach::Forbidden,
                };
                Some(immediate(refusal, ctx.decision_id(), "stream_cut"))
            }
        }
    }

    /// The later phases Envoy need not send, when their answers are already
    /// fixed: a stream in shadow with no hop passes everything unchanged, and
    /// a local reply's body is Envoy's own. Envoy applies this only with
    /// `allow_mode_override` (and within `allowed_override_modes`); a phase
    /// it sends anyway is answered the same. A hop's bodies are never
    /// skipped: every contract judges a body's size, label, encoding and
    /// form, whatever its rules.
    fn phases_left(&self, answer: &Answer) -> Option<ProcessingMode> {
        use BodySendMode::{None as NoBody, Streamed};
        use HeaderSendMode::{Default as AsConfigured, Skip};
        let ctx = self.ctx.as_ref();
        // A request body that still flows keeps flowing.
        let request_body = match ctx.is_some_and(|c| c.request_flow.is_some()) && !self.request_done
        {
            true => Streamed,
            false => NoBody,
        };
        match answer {
            Answer::RequestHeaders(_) if self.passthrough => Some(rest(Skip, NoBody, Skip)),
            // A request body that flows: sent as it comes, the response's
            // as configured (restated: an override states both).
            // Trailers are sent while a body flows: a body that ends with
            // trailers ends its flow there (end_flow).
            Answer::RequestHeaders(_)
                if let Some(configured) = self.request_streams
                    && request_body == Streamed =>
            {
                Some(ProcessingMode {
                    request_body_mode: Streamed as i32,
                    response_body_mode: configured,
                    ..rest(AsConfigured, NoBody, HeaderSendMode::Send)
                })
            }
            // A response body that flows: sent as it comes, part by part.
            Answer::ResponseHeaders(_) if ctx.is_some_and(|c| c.response_flow.is_some()) => {
                Some(ProcessingMode {
                    request_body_mode: request_body as i32,
                    ..rest(AsConfigured, Streamed, HeaderSendMode::Send)
                })
            }
            // Response headers with no hop and no passthrough: no request
            // phase came first (advance), so Envoy made this response.
            // Trailers stay as configured (they are still judged).
            Answer::ResponseHeaders(_) if self.ctx.is_none() && !self.passthrough => {
                Some(rest(AsConfigured, NoBody, AsConfigured))
            }
            _ => None,
        }
    }
}

/// A processing mode for what is left of a stream: the request's body is
/// not sent (unless restated), and `Default` keeps a header or trailer mode
/// as Envoy's filter sets it.
fn rest(
    response_headers: HeaderSendMode,
    response_body: BodySendMode,
    trailers: HeaderSendMode,
) -> ProcessingMode {
    ProcessingMode {
        request_header_mode: HeaderSendMode::Default as i32,
        response_header_mode: response_headers as i32,
        request_body_mode: BodySendMode::None as i32,
        response_body_mode: response_body as i32,
        request_trailer_mode: trailers as i32,
        response_trailer_mode: trailers as i32,
    }
}

impl HopContext {
    fn decision_id(&self) -> &str {
        self.decision_id.get_or_init(random_id)
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

/// Answers Envoy with the refusal instead of the message: the stream ends.
fn immediate(refusal: Refusal, decision_id: &str, details: &str) -> Answer {
    immediate_with(refusal, decision_id, details, None)
}

/// The same, with a `www-authenticate` challenge.
fn immediate_with(
    refusal: Refusal,
    decision_id: &str,
    details: &str,
    challenge: Option<&'static str>,
) -> Answer {
    let answer = refusal.answer();
    let set_headers = refusal::headers(decision_id, challenge)
        .map(|(name, value)| headers::set(name, value))
        .collect();
    Answer::ImmediateResponse(ImmediateResponse {
        status: Some(HttpStatus {
            code: answer.http as i32,
        }),
        headers: Some(HeaderMutation {
            set_headers,
            remove_headers: Vec::new(),
        }),
        body: refusal::body(answer.error, decision_id).into_bytes(),
        details: format!("chaperone_{details}"),
        // A gRPC client reads the status, and the body as grpc-message
        // (Envoy answers a gRPC request in gRPC; others ignore this).
        grpc_status: Some(GrpcStatus {
            status: answer.grpc as u32,
        }),
    })
}
