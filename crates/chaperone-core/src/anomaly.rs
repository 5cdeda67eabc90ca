//! Anomaly baselines: what a caller normally receives (or sends) on a hop
//! per window, learnt as it goes, and an alert when a window goes well past
//! it: a caller's usual peaks page nobody, a slow drain below any fixed
//! limit does.
//!
//! Windows are fixed (`now / window`). Per caller, hop and anomaly the
//! store keeps one [`Baseline`]: the current window's count, and the mean
//! and variance of the windows before it, exponentially weighted with
//! `alpha = 2 / (N + 1)` where `N = history / window`. Until the baseline
//! has seen `N / 2` windows (while `1 / (n + 1)` is the larger weight) the
//! mean and variance are the plain ones of the windows seen, so a young
//! baseline is not biased toward zero. Windows without traffic count as
//! zeros, folded in closed form when the next message comes.
//!
//! The arithmetic here is mirrored, operation for operation, by the shared
//! store's script (`src/state/redis.rs`): both give the same decisions.

use std::sync::Arc;
use std::time::Duration;

use crate::budget::{Direction, Measure};
use crate::scrub::Findings;
use crate::scrub::class::Classes;
use crate::secret::HashKey;

/// Anomalies on one hop, at most.
pub const MAX_ANOMALIES: usize = 16;
/// The longest history a baseline remembers.
pub const MAX_HISTORY: Duration = Duration::from_secs(90 * 24 * 3600);
/// The history when a policy does not say.
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest warm-up, in windows.
pub const MAX_WARMUP: u64 = 1_000_000;
/// The most standard deviations an anomaly may ask for.
pub const MAX_SIGMAS: f64 = 100.0;

/// One compiled anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub name: Arc<str>,
    pub direction: Direction,
    pub measure: Measure,
    /// A window's length.
    pub window: Duration,
    /// How far above the baseline's mean, in standard deviations, a window
    /// must go.
    pub sigmas: f64,
    /// A window must count more than this.
    pub min: u64,
    /// How long the baseline remembers (at least two windows).
    pub history: Duration,
    /// Windows the baseline must have seen before it may alert.
    pub warmup: u64,
    /// What the anomaly counts, written out (as a budget's): part of its
    /// key, so an anomaly that comes to count something else starts afresh.
    pub fingerprint: String,
}

impl Anomaly {
    /// What one message adds.
    pub fn amount(&self, findings: &Findings, bytes: u64) -> u64 {
        self.measure.amount(findings, bytes)
    }

    pub fn window_ms(&self) -> u64 {
        millis(self.window).max(1)
    }

    /// The window `now_ms` (milliseconds since the Unix epoch) falls in.
    pub fn window_at(&self, now_ms: u64) -> u64 {
        now_ms / self.window_ms()
    }

    /// Windows the history spans, `N` (at least 2 once compiled).
    pub fn windows(&self) -> u64 {
        (millis(self.history) / self.window_ms()).max(2)
    }

    /// How long a baseline outlives its last write: twice its history.
    pub fn ttl_ms(&self) -> u64 {
        millis(self.history).saturating_mul(2)
    }

    /// What deciding takes, besides the baseline.
    pub fn rule(&self) -> Rule {
        let n = self.windows();
        Rule {
            alpha: 2.0 / (n as f64 + 1.0),
            settle: n / 2,
            warmup: self.warmup,
            sigmas: self.sigmas,
            min: self.min,
        }
    }

    /// The anomaly as a reviewer reads it (`chaperone check`, `explain`,
    /// `report`).
    pub fn describe(&self, classes: &Classes) -> String {
        let d = crate::policy::diff::duration;
        format!(
            "{}: {} per caller per {} in {}s; an alert past the caller's baseline by {} sd and past {} (history {}, after {} windows)",
            self.name,
            self.measure.describe(classes),
            d(self.window),
            self.direction.as_str(),
            self.sigmas,
            self.min,
            d(self.history),
            self.warmup
        )
    }

    /// The baseline's store key: `chaperone:a:` and a keyed hash of the
    /// caller, the hop, the anomaly, what it counts and its window.
    pub fn key(&self, key: &HashKey, principal: &str, hop: &str) -> String {
        let window = self.window_ms().to_string();
        crate::budget::store_key(
            key,
            "chaperone:a:",
            "anomaly",
            &[principal, hop, &self.name, &self.fingerprint, &window],
        )
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An anomaly's numbers, as the store's script receives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// The weight of each new window once the baseline has settled.
    pub alpha: f64,
    /// Windows seen before `alpha` applies: until then each window weighs
    /// `1 / (n + 1)`, which keeps the plain mean and variance.
    pub settle: u64,
    pub warmup: u64,
    pub sigmas: f64,
    pub min: u64,
}

/// What the store keeps per caller, hop and anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// The windows before the current one: their weighted mean and variance,
    /// and how many there were.
    pub mean: f64,
    pub var: f64,
    pub n: u64,
    /// The current window and what it has counted so far.
    pub window: u64,
    pub count: u64,
    /// The last window that alerted.
    pub alerted: Option<u64>,
}

/// What one message's observation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The window went past its baseline with this message (once per window).
    pub alert: bool,
    /// The window's count, this message included.
    pub count: u64,
    /// The baseline the window was judged against, rounded.
    pub mean: u64,
    pub sd: u64,
}

impl Baseline {
    fn new(window: u64) -> Self {
        Self {
            mean: 0.0,
            var: 0.0,
            n: 0,
            window,
            count: 0,
            alerted: None,
        }
    }

    /// One closed window's count into the mean and variance.
    fn fold(&mut self, x: f64, rule: &Rule) {
        let a = if self.n < rule.settle {
            1.0 / (self.n as f64 + 1.0)
        } else {
            rule.alpha
        };
        let diff = x - self.mean;
        let incr = a * diff;
        self.mean += incr;
        self.var = (1.0 - a) * (self.var + diff * incr);
        self.n = self.n.saturating_add(1);
    }

    /// `k` windows without traffic, in closed form: while the baseline
    /// settles, the plain mean and variance with `j` zeros more; then, per
    /// zero, `mean *= b` and `var = b * (var + a * mean^2)` with `b = 1 - a`,
    /// which over `k` zeros is `var = b^k * (var + mean^2 * (1 - b^k))`.
    fn fold_zeros(&mut self, mut k: u64, rule: &Rule) {
        let j = k.min(rule.settle.saturating_sub(self.n));
        if j > 0 {
            let n = self.n as f64;
            let t = n + j as f64;
            let e2 = (self.var + self.mean * self.mean) * n / t;
            self.mean = self.mean * n / t;
            self.var = (e2 - self.mean * self.mean).max(0.0);
            self.n += j;
            k -= j;
        }
        if k > 0 {
            let p = power(1.0 - rule.alpha, k);
            self.var = p * (self.var + self.mean * self.mean * (1.0 - p));
            self.mean *= p;
            self.n = self.n.saturating_add(k);
        }
    }
}

/// `base^k` by squaring: at most 64 steps, and the same operations the
/// store's script does.
fn power(mut base: f64, mut k: u64) -> f64 {
    let mut out = 1.0;
    while k > 0 {
        if k % 2 == 1 {
            out *= base;
        }
        base *= base;
        k /= 2;
    }
    out
}

/// Rounded to the nearest integer, as the store's script rounds.
fn rounded(x: f64) -> u64 {
    // Saturating: a float cast never wraps.
    (x + 0.5).floor() as u64
}

/// Adds `amount` to window `w` of the baseline (none yet: a new one), the
/// windows closed since folded in first, and decides: an alert when the
/// baseline has seen `warmup` windows, the window counts more than `min`
/// and more than `mean + sigmas * sd`, once per window.
pub fn observe(rule: &Rule, prior: Option<Baseline>, w: u64, amount: u64) -> (Baseline, Verdict) {
    let mut b = prior.unwrap_or(Baseline::new(w));
    if w > b.window {
        b.fold(b.count as f64, rule);
        b.fold_zeros(w - b.window - 1, rule);
        b.window = w;
        b.count = 0;
    }
    // A replica whose clock is a little behind adds to the current window.
    b.count = b.count.saturating_add(amount);
    let sd = b.var.sqrt();
    let alert = b.n >= rule.warmup
        && b.count > rule.min
        && b.count as f64 > b.mean + rule.sigmas * sd
        && b.alerted != Some(b.window);
    if alert {
        b.alerted = Some(b.window);
    }
    let verdict = Verdict {
        alert,
        count: b.count,
        mean: rounded(b.mean),
        sd: rounded(sd),
    };
    (b, verdict)
}

#[cfg(test)]
mod tests;
