//! Request headers: the hop is found (ext_authz's decision, the signed hop
//! header, or matched again), chaperone's own headers removed, and header
//! values and the URL judged by the hop's contract.

use super::*;

impl HopStream {
    pub(super) fn on_request_headers(
        &mut self,
        h: &HttpHeaders,
        metadata: Option<&Metadata>,
    ) -> Answer {
        let policy = self.app.store.current();
        let headers = Headers::of(h.headers.as_ref());
        if let Some(refused) = self.not_text(&headers) {
            return refused;
        }
        // The hop ext_authz decided: from the metadata Envoy forwards, else
        // from the signed hop header, else matched again here.
        let signed = signed_hop(&headers, &policy, self.app.engine.hash_key());
        let principal = signed.as_ref().map(|(_, _, p)| p.clone());
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
            return immediate(Refusal::Denied(DenyKind::Forbidden), &id, "no_hop");
        };
        let decision_id = decision_id.map_or_else(OnceCell::new, OnceCell::from);
        // A hop that counts per caller knows the caller only from the signed
        // header: without it (made for another request or policy), no caller
        // is counted in its place, nor as one that all such requests share.
        let rule = &policy.hops[hop];
        unverified |= principal.is_none() && rule.per_caller() && !rule.shadow;
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
                Refusal::Denied(DenyKind::Forbidden),
                decision_id,
                "hop_unverified",
            );
        }
        self.enter_hop(
            &policy,
            &headers,
            Entry {
                hop,
                decision_id,
                principal: principal.unwrap_or_else(|| "-".to_owned()),
                request_id: request_id.into_owned(),
                allowed: None,
                body_follows: !h.end_of_stream,
            },
        )
    }

    /// A request with a header value that is not text is refused: nothing
    /// here guesses at what it says (edge::headers).
    pub(super) fn not_text(&self, headers: &Headers<'_>) -> Option<Answer> {
        if headers.unreadable().is_empty() {
            return None;
        }
        let id = random_id();
        let request_id =
            telemetry::request_id(headers.get("x-request-id"), self.app.engine.hash_key());
        tracing::info!(target: "chaperone::decision", via = "ext_proc", decision = "deny", reason = "header_not_utf8", decision_id = %id, request_id = &*request_id);
        metrics::get()
            .blocked_messages
            .with_label_values(&["-", "request", "header_not_utf8"])
            .inc();
        let refusal = Refusal::Breach {
            request: true,
            breach: Breach::Malformed,
        };
        Some(immediate(refusal, &id, "header_not_utf8"))
    }

    /// The stream belongs to `entry.hop` from here on: what the policy and
    /// the decision remove, and header values and the URL under the hop's
    /// contract.
    pub(super) fn enter_hop(
        &mut self,
        policy: &Arc<Policy>,
        headers: &Headers<'_>,
        entry: Entry<'_>,
    ) -> Answer {
        let Entry {
            hop,
            decision_id,
            principal,
            request_id,
            allowed,
            body_follows,
        } = entry;
        let rule = &policy.hops[hop];
        // What ext_authz removed is removed again here only if Envoy still
        // shows it: ext_authz lists it whether it was shown or not.
        let mut remove = request_headers_to_remove(policy, rule, headers.keys(), false);
        // Authorized here (ext_proc only): what the decision removes, even
        // where Envoy does not show it.
        if let Some(a) = allowed {
            for name in &a.remove_headers {
                if !remove.contains(name) {
                    remove.push(name.clone());
                }
            }
        }
        // Ask the callee for an uncompressed response: chaperone never passes
        // a body it cannot inspect.
        if headers.contains_key("accept-encoding") {
            remove.push("accept-encoding".to_owned());
        }
        let shadow = policy.shadow || rule.shadow;
        self.ctx = Some(HopContext {
            policy: Arc::clone(policy),
            hop,
            decision_id,
            principal,
            request_id,
            request: BodyMeta::of(headers),
            response: BodyMeta::default(),
            request_envelope_findings: 0,
            response_envelope_findings: 0,
            marked: marking::Marked::default(),
            upstream_error: false,
            request_flow: None,
            response_flow: None,
            shadow,
            pending: None,
        });
        // Header values and the URL are data too.
        let started = Instant::now();
        let change =
            envelope::scan_request(headers, rule, policy, self.app.engine.hash_key(), |name| {
                name.starts_with(OWN_HEADER_PREFIX) || remove.iter().any(|r| r == name)
            })
            .and_then(|c| {
                let alert = match &rule.request_body.limit {
                    Some(l) => l.judge(c.findings.total())?,
                    None => false,
                };
                Ok((c, alert))
            });
        let (change, alert) = match change {
            Ok(c) => c,
            Err(e) => return self.refuse(PhaseName::RequestHeaders, &e),
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
        // A gRPC client stream, an upload of NDJSON or a JSON document on a
        // hop that lets it flow: sent as it comes where Envoy will (see
        // phases_left), each piece judged whole.
        let flowing = (!shadow && body_follows && self.request_streams.is_some())
            .then(|| {
                let body = BodyHeaders {
                    content_type: headers.all("content-type"),
                    content_encoding: headers.all("content-encoding"),
                };
                Some((body.framing()?, body))
            })
            .flatten()
            .filter(|(f, _)| rule.request_body.flows(*f));
        if let Some((framing, body)) = flowing {
            if let Some(ctx) = self.ctx.as_mut() {
                // Findings in the headers and URL count toward the body's
                // limit, as they do for a whole body.
                let flow = Flow::new(framing, &policy.classes)
                    .after_envelope(ctx.request_envelope_findings);
                ctx.request_flow = Some((flow, body));
            }
            // Its length changes as it is judged, and digests of the
            // original would confirm guesses of what was scrubbed.
            for name in std::iter::once("content-length").chain(body::BODY_DIGESTS.iter().copied())
            {
                if headers.contains_key(name) && !remove.iter().any(|r| r == name) {
                    remove.push(name.to_owned());
                }
            }
        } else if !shadow
            && let Some(e) = body::declared_too_large(headers, &rule.request_body, body_follows)
        {
            return self.refuse(PhaseName::RequestBody, &e);
        }
        if shadow {
            // Shadow changes nothing, except that chaperone's own headers
            // never reach the callee.
            return Answer::RequestHeaders(only_without_own_headers(
                headers,
                &policy.tokens.header,
            ));
        }
        let mut set = Vec::new();
        if let Some(t) = allowed.and_then(|a| a.txn_token.as_ref()) {
            // Set after any removal of the same name: Envoy removes first.
            set.push(headers::set(&t.header, &t.token));
        }
        change.mutation(&mut remove, &mut set);
        Answer::RequestHeaders(HeadersResponse {
            response: Some(CommonResponse {
                header_mutation: mutation(remove, set),
                ..CommonResponse::default()
            }),
        })
    }
}

/// How a stream enters its hop: the decision (ext_authz's, or this stream's
/// own when it authorizes) and who it was for.
pub(super) struct Entry<'a> {
    pub(super) hop: usize,
    pub(super) decision_id: OnceCell<String>,
    /// The caller's keyed hash, else "-".
    pub(super) principal: String,
    pub(super) request_id: String,
    /// The decision this stream made itself (ext_proc only).
    pub(super) allowed: Option<&'a crate::policy::Allow>,
    /// A request body follows the headers.
    pub(super) body_follows: bool,
}

/// Passes the request headers unchanged but for chaperone's own
/// (`x-chaperone-*` and the token header): the hop header, and any a client
/// sent.
pub(super) fn only_without_own_headers(
    headers: &Headers<'_>,
    token_header: &str,
) -> HeadersResponse {
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

/// The hop, decision id and hashed principal from ext_authz's signed hop
/// header, if its tag is right for this policy (a client cannot make one up).
pub(super) fn signed_hop(
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
pub(super) fn rematch(policy: &Policy, headers: &Headers<'_>) -> Option<(usize, bool, bool)> {
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
pub(super) fn request_of<'h>(headers: &'h Headers<'_>) -> Option<HopRequest<'h>> {
    Some(HopRequest {
        method: headers.get(":method")?,
        authority: headers.get(":authority").or_else(|| headers.get("host"))?,
        path: headers.get(":path")?,
        request_id: headers
            .get("x-request-id")
            .map_or("", telemetry::last_value),
    })
}
