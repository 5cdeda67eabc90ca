//! What one phase found, changed or refused: metrics, span attributes and
//! the decision event; and the refusal itself.

use super::*;

impl HopStream {
    /// Metrics, span attributes and the decision event for what one phase
    /// found and changed; a phase that changed and found nothing adds no event.
    pub(super) fn record(
        &mut self,
        phase: PhaseName,
        findings: &Findings,
        changed: bool,
        alert: bool,
        started: Instant,
    ) {
        let Some(ctx) = self.ctx.as_mut() else {
            return;
        };
        // Every judged message counts toward its direction's budgets (and
        // baselines), even one with nothing found: past a limit, it is
        // refused too.
        if ctx.policy.hops[ctx.hop].per_caller() {
            ctx.pending = Some(budget::Pending {
                phase,
                findings: findings.clone(),
            });
        }
        let ctx = &*ctx;
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
            decision: if changed {
                BodyDecision::Change
            } else {
                BodyDecision::Pass
            },
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

    /// Refuses the message for what scrubbing it found.
    pub(super) fn refuse(&mut self, phase: PhaseName, e: &ScrubError) -> Answer {
        self.refuse_as(phase, e.code(), e.breach(), &e.to_string())
    }

    /// Refuses the message: 4xx toward the callee for a request, 502 toward
    /// the caller for a response. The body says only the decision id.
    pub(super) fn refuse_as(
        &mut self,
        phase: PhaseName,
        code: &'static str,
        breach: Breach,
        detail: &str,
    ) -> Answer {
        match self.refused(phase, code, detail) {
            None => phase.pass(),
            Some(id) => {
                let refusal = Refusal::Breach {
                    request: phase.request(),
                    breach,
                };
                immediate(refusal, &id, code)
            }
        }
    }

    /// Records a refusal (event, metric, span): the decision id to refuse
    /// under, or `None` in shadow, where the message passes.
    pub(super) fn refused(
        &mut self,
        phase: PhaseName,
        code: &'static str,
        detail: &str,
    ) -> Option<String> {
        if self.trace.span.is_some() && !self.ctx.as_ref().is_some_and(|c| c.shadow) {
            self.trace.refused = Some(code);
        }
        if let Some(ctx) = &self.ctx {
            BodyEvent {
                decision: BodyDecision::Refuse,
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
            return None;
        }
        metrics::get()
            .blocked_messages
            .with_label_values(&[&hop, phase.direction(), code])
            .inc();
        Some(id)
    }
}

/// The phase a message belongs to, for events, metrics and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PhaseName {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
}

impl PhaseName {
    pub(super) fn name(self) -> &'static str {
        match self {
            PhaseName::RequestHeaders => "request_headers",
            PhaseName::RequestBody => "request_body",
            PhaseName::RequestTrailers => "request_trailers",
            PhaseName::ResponseHeaders => "response_headers",
            PhaseName::ResponseBody => "response_body",
            PhaseName::ResponseTrailers => "response_trailers",
        }
    }

    pub(super) fn request(self) -> bool {
        matches!(
            self,
            PhaseName::RequestHeaders | PhaseName::RequestBody | PhaseName::RequestTrailers
        )
    }

    pub(super) fn direction(self) -> &'static str {
        if self.request() {
            "request"
        } else {
            "response"
        }
    }

    /// Wraps a body answer for this phase.
    pub(super) fn wrap(self, r: BodyResponse) -> Answer {
        if self.request() {
            Answer::RequestBody(r)
        } else {
            Answer::ResponseBody(r)
        }
    }

    /// Lets the message continue unchanged.
    pub(super) fn pass(self) -> Answer {
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

/// What happened to a judged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyDecision {
    Pass,
    Change,
    Refuse,
    /// A callee's error body replaced by the generic one.
    Replace,
}

impl BodyDecision {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            BodyDecision::Pass => "pass",
            BodyDecision::Change => "change",
            BodyDecision::Refuse => "refuse",
            BodyDecision::Replace => "replace",
        }
    }
}

/// The decision event for one judged body: the same event stream as
/// ext_authz's decisions (`chaperone::decision`), joined to the request's by
/// the decision id. Codes, names and counts only, never a value. A body that
/// crosses unchanged with nothing found adds no event.
pub(super) struct BodyEvent<'a> {
    pub(super) hop: &'a str,
    pub(super) decision_id: &'a str,
    pub(super) principal: &'a str,
    pub(super) request_id: &'a str,
    pub(super) policy_version: &'a str,
    /// The `kid` that signed the policy's bundle, if it came in one.
    pub(super) policy_signer: Option<&'a str>,
    pub(super) phase: &'static str,
    /// pass, change, refuse or replace.
    pub(super) decision: BodyDecision,
    pub(super) reason: &'static str,
    /// Why a refusal happened, from the error's text (which never holds a value).
    pub(super) detail: &'a str,
    /// `class=count` pairs.
    pub(super) findings: String,
    pub(super) findings_total: u32,
    pub(super) alert: bool,
    pub(super) shadow: bool,
    pub(super) started: Instant,
}

/// Whom a stream's events name, owned: for what is reported after the
/// stream has moved on (the store's answer to a round trip the message did
/// not wait for).
#[derive(Debug, Clone)]
pub(super) struct EventTag {
    pub(super) policy: Arc<Policy>,
    pub(super) hop: usize,
    pub(super) decision_id: String,
    pub(super) principal: String,
    pub(super) request_id: String,
    pub(super) shadow: bool,
}

impl HopContext {
    pub(super) fn tag(&self) -> EventTag {
        EventTag {
            policy: Arc::clone(&self.policy),
            hop: self.hop,
            decision_id: self.decision_id().to_owned(),
            principal: self.principal.clone(),
            request_id: self.request_id.clone(),
            shadow: self.shadow,
        }
    }
}

impl<'a> BodyEvent<'a> {
    pub(super) fn new(ctx: &'a HopContext, phase: PhaseName, started: Instant) -> Self {
        Self::named(
            &ctx.policy,
            ctx.hop,
            ctx.decision_id(),
            &ctx.principal,
            &ctx.request_id,
            ctx.shadow,
            phase,
            started,
        )
    }

    pub(super) fn tagged(tag: &'a EventTag, phase: PhaseName, started: Instant) -> Self {
        Self::named(
            &tag.policy,
            tag.hop,
            &tag.decision_id,
            &tag.principal,
            &tag.request_id,
            tag.shadow,
            phase,
            started,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn named(
        policy: &'a Policy,
        hop: usize,
        decision_id: &'a str,
        principal: &'a str,
        request_id: &'a str,
        shadow: bool,
        phase: PhaseName,
        started: Instant,
    ) -> Self {
        Self {
            hop: &policy.hops[hop].name,
            decision_id,
            principal,
            request_id,
            policy_version: &policy.version,
            policy_signer: policy.bundle.as_ref().map(|b| &*b.signer),
            phase: phase.name(),
            decision: BodyDecision::Pass,
            reason: "-",
            detail: "",
            findings: String::new(),
            findings_total: 0,
            alert: false,
            shadow,
            started,
        }
    }

    /// Refusals and alerts at warn, the rest at info.
    pub(super) fn emit(self) {
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        macro_rules! event {
            ($level:ident) => {
                tracing::$level!(
                    target: "chaperone::decision",
                    via = "ext_proc",
                    phase = self.phase,
                    decision = self.decision.as_str(),
                    hop = self.hop,
                    decision_id = self.decision_id,
                    principal = self.principal,
                    request_id = self.request_id,
                    policy_version = self.policy_version,
                    policy_signer = self.policy_signer,
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
        if self.decision == BodyDecision::Refuse || self.alert {
            event!(warn);
        } else {
            event!(info);
        }
    }
}

/// `class=count` for every class found, in the policy's order.
pub(super) fn counts(
    findings: &crate::scrub::Findings,
    classes: &crate::scrub::class::Classes,
) -> String {
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
