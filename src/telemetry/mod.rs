//! Logs, metrics and traces. Nothing here ever receives a credential or a
//! classified value: callers pass codes, hop names and keyed hashes.

pub mod metrics;
pub mod trace;

use std::borrow::Cow;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Installs the global subscriber. `RUST_LOG` overrides `level`.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
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

/// The last of a header's comma-joined values (Envoy joins a header sent
/// more than once with commas in ext_authz's header map), trimmed.
pub fn last_value(raw: &str) -> &str {
    raw.rsplit(',').next().unwrap_or(raw).trim()
}

/// Envoy's request id (`x-request-id`) as decision events show it, for
/// joining them with Envoy's access log, the callee's logs and each other:
/// its last value ([`last_value`]) when it has the shape Envoy generates (a
/// lower-case UUID) and no detector finds anything in it; else an id derived
/// from it with the hash key (the same in ext_authz and ext_proc, so their
/// events still join), never the client's text; "-" when there is none.
pub fn request_id<'a>(raw: Option<&'a str>, key: &crate::secret::HashKey) -> Cow<'a, str> {
    match raw.map(last_value).filter(|id| !id.is_empty()) {
        None => Cow::Borrowed("-"),
        Some(id) if is_envoy_request_id(id) => Cow::Borrowed(id),
        Some(id) => Cow::Owned(key.tag("rid_", "request_id", id.as_bytes())),
    }
}

/// A lower-case RFC 4122 UUID, as Envoy generates, with nothing a detector
/// knows in it.
pub fn is_envoy_request_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && crate::scrub::detect::scan(id, crate::scrub::detect::DetectorSet::all()).is_empty()
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
                reason = d.reason.code(),
                detail = %d.reason,
                status = d.kind().http_status(),
                shadow = d.shadow,
                latency_us = micros,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_shown_only_in_envoys_shape() {
        let key = crate::secret::HashKey::from_bytes(b"k");
        let uuid = "5d1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f";
        assert_eq!(super::request_id(Some(uuid), &key), uuid);
        assert_eq!(super::request_id(Some(&format!("x, {uuid}")), &key), uuid);
        assert_eq!(super::request_id(None, &key), "-");
        assert_eq!(super::request_id(Some(""), &key), "-");
        for client in [
            "4111111111111111",
            "a b",
            "5D1C0A7E-1F2B-4C3D-9E8F-0A1B2C3D4E5F",
            "é",
        ] {
            let derived = super::request_id(Some(client), &key);
            assert!(
                derived.starts_with("rid_") && derived.len() == 36,
                "{client}"
            );
            assert!(!derived.contains(client));
            // The same in every adapter, so events still join.
            assert_eq!(derived, super::request_id(Some(client), &key));
        }
    }
}
