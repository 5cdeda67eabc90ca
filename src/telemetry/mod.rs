//! Logs, metrics and traces. Nothing here ever receives a credential or a
//! classified value: callers pass codes, hop names and keyed hashes.

mod batch;
pub mod logs;
pub mod metrics;
pub mod trace;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Installs the global subscriber: logs on stderr (`RUST_LOG` overrides
/// `level`), and decision events to the OTLP exporter once it is installed
/// (`logs`), whatever the log level.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
        LogFormat::Text => fmt.with_ansi(false).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(logs::layer())
        .try_init();
}

/// A decision's attributes on its span: codes, names and ids only.
pub fn decision_span(span: &mut trace::Span, decision: &crate::policy::Decision) {
    use crate::policy::Decision;
    match decision {
        Decision::Allow(a) => {
            span.text("chaperone.decision", "allow");
            span.text("chaperone.hop", &a.hop);
            span.text("chaperone.decision_id", &a.decision_id);
            span.text("chaperone.policy_version", &a.policy_version);
            span.flag("chaperone.shadow", a.shadow);
            span.flag("chaperone.token_minted", a.txn_token.is_some());
        }
        Decision::Deny(d) => {
            span.text("chaperone.decision", "deny");
            span.text("chaperone.hop", d.hop.as_deref().unwrap_or("-"));
            span.text("chaperone.reason", d.reason.code());
            span.text("chaperone.decision_id", &d.decision_id);
            span.text("chaperone.policy_version", &d.policy_version);
            span.flag("chaperone.shadow", d.shadow);
            span.int(
                "http.response.status_code",
                i64::from(d.kind().http_status()),
            );
            if d.kind() == crate::policy::DenyKind::Internal {
                span.error(d.reason.code());
            }
        }
    }
}

pub use crate::request_id::{is_envoy_request_id, last_value, request_id};

/// What an evaluation did besides its decision: a token minted, what hops
/// in shadow would have denied, whether the token cache answered.
pub fn evaluation_recorded(e: &crate::policy::Evaluation) {
    let m = metrics::get();
    if let Some(cache) = e.token_cache {
        let result = match cache {
            crate::identity::jwt::CacheUse::Hit => "hit",
            crate::identity::jwt::CacheUse::Miss => "miss",
        };
        m.token_cache.with_label_values(&[result]).inc();
    }
    if let crate::policy::Decision::Allow(a) = &e.decision
        && a.txn_token.is_some()
    {
        m.tokens_minted.with_label_values(&[&a.hop]).inc();
    }
    if let Some(d) = &e.shadow_denial {
        m.shadow_events
            .with_label_values(&[d.hop.as_deref().unwrap_or("-"), "deny", d.reason.code()])
            .inc();
    }
}

/// Formats as what its function returns, called only if an event is written.
struct Lazy<F: Fn() -> String>(F);

impl<F: Fn() -> String> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// One structured event per decision: the precise reason lives here and only here.
pub fn decision_event(
    decision: &crate::policy::Decision,
    engine: &crate::policy::Engine,
    via: &'static str,
    request_id: &str,
    elapsed: std::time::Duration,
) {
    use crate::policy::Decision;
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    match decision {
        Decision::Allow(a) => {
            metrics::get()
                .decisions
                .with_label_values(&[&a.hop, "allow", "ok"])
                .inc();
            tracing::info!(
                target: "chaperone::decision",
                via,
                decision = "allow",
                hop = %a.hop,
                decision_id = %a.decision_id,
                request_id,
                policy_version = %a.policy_version,
                policy_hash = %a.policy_hash,
                policy_signer = a.policy_signer.as_deref(),
                shadow = a.shadow,
                principal = %Lazy(|| engine.principal(a)),
                latency_us = micros,
            );
        }
        Decision::Deny(d) => {
            let hop = d.hop.as_deref().unwrap_or("-");
            if d.shadow {
                metrics::get()
                    .shadow_events
                    .with_label_values(&[hop, "deny", d.reason.code()])
                    .inc();
            }
            metrics::get()
                .decisions
                .with_label_values(&[hop, "deny", d.reason.code()])
                .inc();
            tracing::info!(
                target: "chaperone::decision",
                via,
                decision = "deny",
                hop,
                decision_id = %d.decision_id,
                request_id,
                policy_version = %d.policy_version,
                policy_hash = %d.policy_hash,
                policy_signer = d.policy_signer.as_deref(),
                reason = d.reason.code(),
                detail = %d.reason,
                status = d.kind().http_status(),
                shadow = d.shadow,
                latency_us = micros,
            );
        }
    }
}
