//! Anomalies: what the store's verdicts on a message's baselines mean. An
//! anomaly only alerts: the message passes whatever its baselines say, and
//! whether or not the store answered.

use super::*;
use crate::anomaly::Anomaly;
use crate::state::{StateError, Tally};

/// A metric and a decision event per anomaly whose window went past its
/// baseline with this message, or that the store could not count.
pub(super) fn record_anomalies(
    tag: &EventTag,
    anomalies: &[(&Anomaly, u64)],
    result: &Result<Tally, StateError>,
    phase: PhaseName,
    started: Instant,
) {
    let hop = &tag.policy.hops[tag.hop].name;
    let m = metrics::get();
    for (i, (a, _)) in anomalies.iter().enumerate() {
        let labels = [&**hop, &a.name, a.direction.as_str()];
        let (reason, detail) = match result {
            Ok(tally) => match tally.verdicts.get(i) {
                Some(v) if v.alert => {
                    m.anomaly_alerts.with_label_values(&labels).inc();
                    let detail = format!(
                        "anomaly {}: {} counted in this window of {:?}, over a baseline of {} (sd {}) by more than {} sd",
                        a.name, v.count, a.window, v.mean, v.sd, a.sigmas
                    );
                    ("anomaly_alert", detail)
                }
                _ => continue,
            },
            Err(e) => {
                m.anomaly_store_errors.with_label_values(&labels).inc();
                ("anomaly_store_error", format!("anomaly {}: {e}", a.name))
            }
        };
        BodyEvent {
            decision: BodyDecision::Pass,
            reason,
            detail: &detail,
            alert: true,
            ..BodyEvent::tagged(tag, phase, started)
        }
        .emit();
    }
}
