//! Bodies: the hop's contract applied to a whole (buffered) body.

use super::*;
use crate::scrub::body::Scrubbed;

impl HopStream {
    /// Applies the hop's contract to a whole (buffered) body: refuse what
    /// arrives in parts, replace a callee's error, scrub, then answer.
    pub(super) fn on_body(&mut self, body: &HttpBody, request: bool) -> Answer {
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
        let flowing = match request {
            true => ctx.request_flow.is_some(),
            false => ctx.response_flow.is_some(),
        };
        if flowing {
            return self.on_flow(body, phase, started);
        }
        if !body.end_of_stream {
            // Envoy sends a body in parts only when it is larger than its
            // buffer (BUFFERED_PARTIAL): too large to judge whole.
            return self.refuse_as(
                phase,
                "too_large",
                Breach::TooLarge,
                "body is larger than Envoy's buffer for it",
            );
        }
        if !request && ctx.upstream_error && !ctx.shadow {
            return upstream_error(ctx, phase, started);
        }
        let scrubbed = match self.scrub(&body.body, request) {
            Ok(s) => s,
            Err(e) => return self.refuse(phase, &e),
        };
        self.record(
            phase,
            &scrubbed.findings,
            scrubbed.body.is_some(),
            scrubbed.alert,
            started,
        );
        match self.ctx.as_mut() {
            Some(ctx) if !ctx.shadow => body_answer(ctx, phase, scrubbed),
            _ => phase.pass(),
        }
    }

    /// One part of a body that flows: the pieces it completes, as judged.
    /// A request's piece refused refuses the request (as a whole body's
    /// would: what crossed before was judged). A response's ends the stream
    /// with a terminal piece its reader recognises (the refusal's body), and
    /// a part after that resets the stream (Envoy cannot answer anew once
    /// the response has begun); a JSON document or gRPC stream, which has no
    /// such piece, is reset at once.
    fn on_flow(&mut self, body: &HttpBody, phase: PhaseName, started: Instant) -> Answer {
        let request = phase.request();
        let Some(ctx) = self.ctx.as_mut() else {
            return phase.pass();
        };
        let (flow, contract) = match request {
            true => (
                &mut ctx.request_flow,
                &ctx.policy.hops[ctx.hop].request_body,
            ),
            false => (
                &mut ctx.response_flow,
                &ctx.policy.hops[ctx.hop].response_body,
            ),
        };
        let Some((flow, headers)) = flow.as_mut() else {
            return phase.pass();
        };
        if flow.is_cut() {
            // What ends with its error piece may end; anything else is
            // reset, never ended as if whole.
            if body.end_of_stream && flow.framing().has_terminal() {
                return phase.wrap(part_replaced(Vec::new()));
            }
            let refusal = Refusal::Breach {
                request: false,
                breach: Breach::Forbidden,
            };
            return immediate(refusal, ctx.decision_id(), "stream_cut");
        }
        let mut fed = flow.feed(
            &body.body,
            body.end_of_stream,
            headers,
            contract,
            &ctx.policy.classes,
            self.app.engine.hash_key(),
        );
        let framing = flow.framing();
        if request && let Some(e) = fed.refused.take() {
            return self.refuse(phase, &e);
        }
        if let Some(e) = fed.refused.take() {
            // The pieces before the one refused cross, with the error piece
            // after them: they count, toward the hop's budgets too.
            self.record(phase, &fed.findings, fed.changed, fed.alert, started);
            let breach = e.breach();
            let Some(id) = self.refused(phase, e.code(), &e.to_string()) else {
                return phase.pass();
            };
            let refusal = Refusal::Breach {
                request: false,
                breach,
            };
            if !framing.has_terminal() {
                // A JSON document or a gRPC stream cannot carry an error
                // piece: reset now, so that nothing reads as a whole body.
                return immediate(refusal, &id, "stream_cut");
            }
            fed.out
                .extend(framing.terminal(&refusal::body(refusal.answer().error, &id)));
            return phase.wrap(part_replaced(fed.out));
        }
        self.record(phase, &fed.findings, fed.changed, fed.alert, started);
        if fed.out == body.body {
            phase.pass()
        } else {
            phase.wrap(part_replaced(fed.out))
        }
    }

    /// The body under its direction's contract; findings in the message's
    /// headers count toward its limit too.
    fn scrub(&self, body: &[u8], request: bool) -> Result<Scrubbed, ScrubError> {
        let Some(ctx) = &self.ctx else {
            return Err(ScrubError::Internal);
        };
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
        let mut scrubbed = scrub_body(
            body,
            &headers,
            contract,
            &ctx.policy.classes,
            self.app.engine.hash_key(),
        )?;
        if let Some(limit) = contract.limit
            && envelope_findings > 0
        {
            scrubbed.alert |=
                limit.judge(scrubbed.findings.total().saturating_add(envelope_findings))?;
        }
        Ok(scrubbed)
    }
}

/// A callee's 5xx body, on a hop that replaces them: the generic error.
fn upstream_error(ctx: &HopContext, phase: PhaseName, started: Instant) -> Answer {
    let generic = refusal::body("upstream_error", ctx.decision_id()).into_bytes();
    BodyEvent {
        decision: BodyDecision::Replace,
        reason: "upstream_error",
        ..BodyEvent::new(ctx, phase, started)
    }
    .emit();
    phase.wrap(body_replaced(
        generic,
        Some("application/json"),
        ctx.response.content_length,
        Vec::new(),
        Vec::new(),
    ))
}

/// The answer for a scrubbed body: the new body if it changed, and a
/// response's cache marking.
fn body_answer(ctx: &mut HopContext, phase: PhaseName, scrubbed: Scrubbed) -> Answer {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    if !phase.request() {
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
    let meta = if phase.request() {
        &ctx.request
    } else {
        &ctx.response
    };
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

/// What the headers said about a body.
#[derive(Debug, Clone, Default)]
pub(in crate::ext_proc) struct BodyMeta {
    /// Every value sent (several are refused).
    pub(in crate::ext_proc) content_type: Vec<String>,
    pub(in crate::ext_proc) content_encoding: Vec<String>,
    /// A `content-length` was sent, so a changed body must say its new length
    /// (Envoy keeps the header in BUFFERED mode and refuses a mismatch).
    pub(in crate::ext_proc) content_length: bool,
    /// Responses: the callee's cache directives, which marking adds to.
    pub(in crate::ext_proc) cache_control: Option<String>,
    pub(in crate::ext_proc) vary: Option<String>,
    /// Cache directives for shared caches only that the callee sent.
    pub(in crate::ext_proc) targeted: Vec<String>,
}

impl BodyMeta {
    /// With the values a header scan rewrote (or removed) in their place.
    pub(super) fn rewritten(mut self, rewritten: &[(String, Vec<String>)]) -> Self {
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

    pub(super) fn of(headers: &Headers<'_>) -> Self {
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

/// A body its headers declare larger than the contract takes, when one
/// follows: refused at headers, before Envoy buffers it (the body phase
/// would refuse it whole, or in parts). A HEAD response's length describes
/// a body that never comes (`body_follows` is false).
pub(super) fn declared_too_large(
    headers: &Headers<'_>,
    contract: &crate::scrub::contract::Contract,
    body_follows: bool,
) -> Option<ScrubError> {
    let limit = contract.max_body;
    let over = headers
        .values("content-length")
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .any(|n| n > limit as u64);
    (body_follows && over).then_some(ScrubError::TooLarge { limit })
}

/// A part of a streamed body replaced: nothing else can change once the
/// headers have gone.
fn part_replaced(body: Vec<u8>) -> BodyResponse {
    BodyResponse {
        response: Some(CommonResponse {
            body_mutation: Some(BodyMutation {
                mutation: Some(body_mutation::Mutation::Body(body)),
            }),
            ..CommonResponse::default()
        }),
    }
}

/// Headers that describe a body's exact bytes.
pub(super) const BODY_DIGESTS: &[&str] = &[
    "etag",
    "digest",
    "content-digest",
    "repr-digest",
    "content-md5",
];

/// A body mutation, with `content-length` set to match when the message had
/// one, a new content type when the body has one, and any other headers.
pub(super) fn body_replaced(
    body: Vec<u8>,
    content_type: Option<&str>,
    content_length: bool,
    mut remove: Vec<String>,
    mut set: Vec<envoy_types::pb::envoy::config::core::v3::HeaderValueOption>,
) -> BodyResponse {
    if content_length {
        set.push(headers::set("content-length", &body.len().to_string()));
    }
    if let Some(ct) = content_type {
        set.push(headers::set("content-type", ct));
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
