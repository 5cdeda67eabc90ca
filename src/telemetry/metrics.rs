//! Prometheus metrics. Every label comes from a bounded set: hop names (fixed
//! by the policy), decision, reason codes, results. Never a principal, a
//! path or a header value.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub decisions: IntCounterVec,
    pub check_seconds: Histogram,
    pub process_seconds: Histogram,
    pub jwks_fetch_errors: IntCounter,
    pub policy_reloads: IntCounterVec,
    pub reloads: IntCounterVec,
    pub token_cache: IntCounterVec,
    pub policy_info: IntGaugeVec,
    pub streams_in_flight: IntGauge,
    pub ext_proc_errors: IntCounterVec,
    pub tokens_minted: IntCounterVec,
    pub scrub_findings: IntCounterVec,
    pub blocked_messages: IntCounterVec,
    pub exfiltration_alerts: IntCounterVec,
    pub budget_events: IntCounterVec,
    pub anomaly_alerts: IntCounterVec,
    pub anomaly_store_errors: IntCounterVec,
    pub state_store_up: IntGauge,
    pub state_store_errors: IntCounterVec,
    pub shadow_events: IntCounterVec,
    pub spans_exported: IntCounter,
    pub spans_dropped: IntCounterVec,
    pub logs_exported: IntCounter,
    pub logs_dropped: IntCounterVec,
    pub grpc_goaways: IntCounterVec,
    pub grpc_connections_cut: IntCounter,
    pub bundle_failures: IntCounterVec,
    pub bundle_fetches: IntCounterVec,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The process-wide metrics.
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

#[allow(clippy::expect_used)] // Static metric definitions; a failure is a programming error caught by every test.
impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("chaperone".into()), None).expect("registry");
        let decisions = IntCounterVec::new(
            Opts::new(
                "decisions_total",
                "Authorization decisions by hop, decision and reason code",
            ),
            &["hop", "decision", "reason"],
        )
        .expect("metric");
        let check_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "check_duration_seconds",
                "Time to answer an ext_authz Check",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("metric");
        let process_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "process_message_duration_seconds",
                "Time to answer one ext_proc message",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("metric");
        let jwks_fetch_errors =
            IntCounter::new("jwks_fetch_errors_total", "Failed JWKS fetches").expect("metric");
        let policy_reloads = IntCounterVec::new(
            Opts::new("policy_reloads_total", "Policy reloads by result"),
            &["result"],
        )
        .expect("metric");
        let policy_info = IntGaugeVec::new(
            Opts::new(
                "policy_info",
                "The policy in force (value 1), by version and hash prefix",
            ),
            &["version", "hash"],
        )
        .expect("metric");
        let streams_in_flight =
            IntGauge::new("ext_proc_streams_in_flight", "Open ext_proc streams").expect("metric");
        let ext_proc_errors = IntCounterVec::new(
            Opts::new(
                "ext_proc_errors_total",
                "ext_proc streams ended by an error or refused (hop_unverified), by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let scrub_findings = IntCounterVec::new(
            Opts::new(
                "scrub_findings_total",
                "Sensitive values found in bodies, by hop, class, action and direction",
            ),
            &["hop", "class", "action", "direction"],
        )
        .expect("metric");
        let blocked_messages = IntCounterVec::new(
            Opts::new(
                "blocked_messages_total",
                "Messages refused by a data contract, by hop, direction and reason",
            ),
            &["hop", "direction", "reason"],
        )
        .expect("metric");
        let shadow_events = IntCounterVec::new(
            Opts::new(
                "shadow_events_total",
                "What shadow mode would have done, by hop and outcome (deny, refuse, change)",
            ),
            &["hop", "outcome", "reason"],
        )
        .expect("metric");
        let exfiltration_alerts = IntCounterVec::new(
            Opts::new(
                "exfiltration_alerts_total",
                "Messages over a hop's findings limit that were let through with an alert",
            ),
            &["hop", "direction"],
        )
        .expect("metric");
        let budget_events = IntCounterVec::new(
            Opts::new(
                "budget_events_total",
                "Messages past a budget (exceeded_block, exceeded_alert) or judged without its store (store_error_deny, store_error_allow), by hop, budget and direction",
            ),
            &["hop", "budget", "direction", "outcome"],
        )
        .expect("metric");
        let anomaly_alerts = IntCounterVec::new(
            Opts::new(
                "anomaly_alerts_total",
                "Windows that went past their caller's baseline (once per window), by hop, anomaly and direction",
            ),
            &["hop", "anomaly", "direction"],
        )
        .expect("metric");
        let anomaly_store_errors = IntCounterVec::new(
            Opts::new(
                "anomaly_store_errors_total",
                "Messages whose anomaly could not be counted (the store did not answer; the message passed), by hop, anomaly and direction",
            ),
            &["hop", "anomaly", "direction"],
        )
        .expect("metric");
        let state_store_up = IntGauge::new(
            "state_store_up",
            "1 while the budgets' and baselines' store answers, 0 while it is down (its circuit open)",
        )
        .expect("metric");
        let state_store_errors = IntCounterVec::new(
            Opts::new(
                "state_store_errors_total",
                "Budget store calls that failed, by kind (timeout, io, protocol, refused, full, circuit_open)",
            ),
            &["kind"],
        )
        .expect("metric");
        state_store_up.set(1);
        let reloads = IntCounterVec::new(
            Opts::new(
                "reloads_total",
                "Reload attempts by what reloads (policy, keys, tls) and result (reloaded, unchanged, error)",
            ),
            &["source", "result"],
        )
        .expect("metric");
        let token_cache = IntCounterVec::new(
            Opts::new(
                "token_cache_lookups_total",
                "End-user token verifications by whether the verified-token cache answered (hit, miss)",
            ),
            &["result"],
        )
        .expect("metric");
        let tokens_minted = IntCounterVec::new(
            Opts::new("tokens_minted_total", "Transaction tokens minted, by hop"),
            &["hop"],
        )
        .expect("metric");
        let spans_exported = IntCounter::new(
            "trace_spans_exported_total",
            "Spans the OTLP collector accepted",
        )
        .expect("metric");
        let spans_dropped = IntCounterVec::new(
            Opts::new(
                "trace_spans_dropped_total",
                "Spans not exported, by reason (queue_full, export_failed)",
            ),
            &["reason"],
        )
        .expect("metric");
        let logs_exported = IntCounter::new(
            "decision_logs_exported_total",
            "Decision events the OTLP collector accepted as log records",
        )
        .expect("metric");
        let logs_dropped = IntCounterVec::new(
            Opts::new(
                "decision_logs_dropped_total",
                "Decision events not exported as log records, by reason (queue_full, export_failed)",
            ),
            &["reason"],
        )
        .expect("metric");
        let grpc_goaways = IntCounterVec::new(
            Opts::new(
                "grpc_goaways_total",
                "HTTP/2 GOAWAYs sent on gRPC connections, by reason (max_age, drain)",
            ),
            &["reason"],
        )
        .expect("metric");
        // Both series from the start, at 0: a rate over them is defined.
        for reason in ["max_age", "drain"] {
            grpc_goaways.with_label_values(&[reason]);
        }
        let grpc_connections_cut = IntCounter::new(
            "grpc_connections_cut_total",
            "gRPC connections closed with streams still open when the grace after their maximum age ran out",
        )
        .expect("metric");
        let bundle_failures = IntCounterVec::new(
            Opts::new(
                "bundle_failures_total",
                "Signed policy bundles not put in force, the previous policy kept, by the step that failed (fetch, read, format, signature, integrity, policy)",
            ),
            &["stage"],
        )
        .expect("metric");
        let bundle_fetches = IntCounterVec::new(
            Opts::new(
                "bundle_fetches_total",
                "Polls of the bundle URL by result (fetched, not_modified, error)",
            ),
            &["result"],
        )
        .expect("metric");
        for c in [
            Box::new(grpc_goaways.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(grpc_connections_cut.clone()),
            Box::new(tokens_minted.clone()),
            Box::new(bundle_failures.clone()),
            Box::new(bundle_fetches.clone()),
            Box::new(spans_exported.clone()),
            Box::new(spans_dropped.clone()),
            Box::new(logs_exported.clone()),
            Box::new(logs_dropped.clone()),
            Box::new(scrub_findings.clone()),
            Box::new(blocked_messages.clone()),
            Box::new(exfiltration_alerts.clone()),
            Box::new(budget_events.clone()),
            Box::new(anomaly_alerts.clone()),
            Box::new(anomaly_store_errors.clone()),
            Box::new(state_store_up.clone()),
            Box::new(state_store_errors.clone()),
            Box::new(shadow_events.clone()),
            Box::new(decisions.clone()),
            Box::new(check_seconds.clone()),
            Box::new(process_seconds.clone()),
            Box::new(jwks_fetch_errors.clone()),
            Box::new(policy_reloads.clone()),
            Box::new(reloads.clone()),
            Box::new(token_cache.clone()),
            Box::new(policy_info.clone()),
            Box::new(streams_in_flight.clone()),
            Box::new(ext_proc_errors.clone()),
        ] {
            registry.register(c).expect("register");
        }
        Self {
            registry,
            decisions,
            check_seconds,
            process_seconds,
            jwks_fetch_errors,
            policy_reloads,
            reloads,
            token_cache,
            policy_info,
            streams_in_flight,
            ext_proc_errors,
            tokens_minted,
            scrub_findings,
            blocked_messages,
            exfiltration_alerts,
            budget_events,
            anomaly_alerts,
            anomaly_store_errors,
            state_store_up,
            state_store_errors,
            shadow_events,
            spans_exported,
            spans_dropped,
            logs_exported,
            logs_dropped,
            grpc_goaways,
            grpc_connections_cut,
            bundle_failures,
            bundle_fetches,
        }
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&get().registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Bundles not put in force since start, whatever the step that failed.
pub fn bundle_failures() -> u64 {
    use prometheus::core::Collector as _;
    get()
        .bundle_failures
        .collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// The policy in force, as the `policy_info` gauge shows it.
pub fn publish_policy(policy: &crate::policy::Policy) {
    let m = get();
    m.policy_info.reset();
    m.policy_info
        .with_label_values(&[&policy.version, &policy.hash[..12]])
        .set(1);
}
