//! Response headers: what the policy removes, header values judged, and
//! what crosses marked for caches.

use super::*;

impl HopStream {
    pub(super) fn on_response_headers(&mut self, h: &HttpHeaders) -> Answer {
        let pass = || Answer::ResponseHeaders(HeadersResponse::default());
        if self.passthrough {
            return pass();
        }
        // A response flows only where the request's body is not left
        // unsent: it ended, or it flows too.
        let request_flows = self.ctx.as_ref().is_some_and(|c| c.request_flow.is_some());
        let flows = self.streams && (self.request_done || request_flows) && !h.end_of_stream;
        let present = Headers::of(h.headers.as_ref());
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            None => (self.app.store.current(), None),
        };
        let hop = hop_rule.map(|i| &policy.hops[i]);
        let mut remove = response_headers_to_remove(&policy, hop, present.keys());
        remove.extend(present.unreadable().iter().cloned());
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
                return self.refuse(PhaseName::ResponseHeaders, &e);
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
        let hop = &ctx.policy.hops[ctx.hop];
        // Server-sent events and NDJSON flow where the hop lets them, and
        // gRPC messages of a type the hop names always (a gRPC body ends with
        // trailers, so Envoy never marks it whole): where Envoy will send
        // them as they come, the request has ended (the override leaves its
        // body unsent), and this body is the callee's.
        let flowing = (flows && !ctx.upstream_error)
            .then(|| {
                let headers = BodyHeaders {
                    content_type: ctx.response.content_type.clone(),
                    content_encoding: ctx.response.content_encoding.clone(),
                };
                Some((headers.framing()?, headers))
            })
            .flatten()
            .filter(|(f, _)| hop.response_body.flows(*f));
        if let Some((framing, headers)) = flowing {
            // The body's headers are its parts' too: kept with the flow.
            let flow = Flow::new(framing, &ctx.policy.classes)
                .after_envelope(ctx.response_envelope_findings);
            ctx.response_flow = Some((flow, headers));
            // Its length changes as it is judged, and validators over the
            // original would confirm guesses of what was scrubbed.
            for name in std::iter::once("content-length").chain(body::BODY_DIGESTS.iter().copied())
            {
                if present.contains_key(name) && !remove.iter().any(|r| r == name) {
                    remove.push(name.to_owned());
                }
            }
        } else if !ctx.upstream_error
            && let Some(e) = body::declared_too_large(
                &present,
                &ctx.policy.hops[ctx.hop].response_body,
                !h.end_of_stream,
            )
        {
            return self.refuse(PhaseName::ResponseBody, &e);
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
}
