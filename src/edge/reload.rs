//! Drives every reloadable value alike (policy, signing keys, TLS material):
//! polls their inputs, answers SIGHUP and the admin Reload, and logs and
//! counts each outcome.

use std::sync::Arc;
use std::time::Duration;

use chaperone_core::reload::{Outcome, Reload};

use crate::telemetry::metrics;

/// Runs once a new value is in force.
pub type Hook = Arc<dyn Fn() + Send + Sync>;

/// Everything chaperone reloads, in the order it reloads them.
#[derive(Clone, Default)]
pub struct Reloads {
    all: Vec<(Arc<dyn Reload>, Option<Hook>)>,
}

impl std::fmt::Debug for Reloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all.iter().map(|(r, _)| r.label()))
            .finish()
    }
}

/// What one trigger did to each reloadable, by its metric label.
pub type Report = Vec<(&'static str, Outcome)>;

/// The reload task itself failed (it panicked or was cancelled).
#[derive(Debug, thiserror::Error)]
#[error("reload task failed")]
pub struct ReloadFailed;

impl Reloads {
    /// Adds a reloadable; `after`, if given, runs once a new value is in force.
    pub fn add(&mut self, r: Arc<dyn Reload>, after: Option<Hook>) {
        self.all.push((r, after));
    }

    /// Reloads every value (SIGHUP, the admin Reload), off the async threads.
    pub async fn all(&self, trigger: &'static str) -> Result<Report, ReloadFailed> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            this.all
                .iter()
                .map(|(r, after)| (r.label(), record(&**r, after.as_ref(), trigger)))
                .collect()
        })
        .await
        .map_err(|_| ReloadFailed)
    }

    /// Polls the inputs and reloads what changed, until aborted.
    pub async fn watch(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                for (r, after) in &this.all {
                    if r.changed() {
                        record(&**r, after.as_ref(), "file");
                    }
                }
            })
            .await;
        }
    }
}

/// One reload, logged and counted.
pub fn record(r: &dyn Reload, after: Option<&Hook>, trigger: &'static str) -> Outcome {
    let outcome = r.reload(trigger);
    match &outcome {
        Outcome::Unchanged => {}
        // The source logged what it installed.
        Outcome::Reloaded => {
            if let Some(after) = after {
                after();
            }
        }
        Outcome::Rejected(error) => {
            tracing::error!(trigger, %error, "{}", r.rejected());
        }
    }
    let m = metrics::get();
    if let Some(stage) = r.refusal() {
        m.bundle_failures.with_label_values(&[stage]).inc();
    }
    m.reloads
        .with_label_values(&[r.label(), outcome.label()])
        .inc();
    if r.label() == "policy" {
        let result = match outcome {
            Outcome::Rejected(_) => "error",
            _ => "ok",
        };
        m.policy_reloads.with_label_values(&[result]).inc();
    }
    outcome
}
