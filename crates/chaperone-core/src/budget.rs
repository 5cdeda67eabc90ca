//! Data-egress budgets: how much a caller may receive (or send) on a hop
//! over a rolling window, counted in a store shared by every replica.
//!
//! A window is cut into [`SUB_WINDOWS`] fixed buckets; a message adds its
//! amount to the current bucket, and the window's total is the sum of the
//! current bucket and the ones before it that the window still covers. The
//! total therefore spans between `(n-1)/n` of the window and the whole of
//! it: a window of 1h forgets what was counted 54 to 60 minutes ago.
//!
//! A store key is a keyed hash of the caller, the hop and the budget, and
//! the bucket's number: neither a principal nor a hop, class or path is
//! readable in the store.

use std::sync::Arc;
use std::time::Duration;

use crate::scrub::Findings;
use crate::scrub::class::Classes;
use crate::secret::HashKey;

/// Buckets per window.
pub const SUB_WINDOWS: u64 = 10;
/// The shortest window: a bucket is at least 100 ms.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The longest window.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Budgets on one hop, at most.
pub const MAX_BUDGETS: usize = 16;

/// Which way the counted data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What the caller sends toward the callee.
    Request,
    /// What the caller gets back.
    Response,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// What past the limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetAction {
    /// The message is refused (`budget_exceeded`).
    Block,
    /// The message passes; a metric and a decision event say so.
    Alert,
}

impl BudgetAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetAction::Block => "block",
            BudgetAction::Alert => "alert",
        }
    }
}

/// What a message gets when the store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    Deny,
    Allow,
}

impl OnStoreError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnStoreError::Deny => "deny",
            OnStoreError::Allow => "allow",
        }
    }
}

/// What a budget counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Findings of these classes (indexes into the policy's classes), or of
    /// every class when `None`.
    Findings(Option<Vec<usize>>),
    /// Body bytes.
    Bytes,
    /// Records: the elements of the array `path` names (`orders[*]`) that
    /// cross in bodies, as the direction's contract counts them under
    /// record path `index` (`scrub::contract::Records`).
    Records { path: Arc<str>, index: usize },
}

impl Measure {
    /// What one message adds: its findings of the counted classes, its
    /// body bytes, or the records of the path that crossed in it. Budgets
    /// and anomalies count alike.
    pub fn amount(&self, findings: &Findings, bytes: u64) -> u64 {
        match self {
            Measure::Bytes => bytes,
            Measure::Records { index, .. } => findings.records(*index),
            Measure::Findings(None) => u64::from(findings.total()),
            Measure::Findings(Some(classes)) => {
                classes.iter().map(|&c| u64::from(findings.count(c))).sum()
            }
        }
    }

    /// What is counted, as a reader says it: `findings of card_number`,
    /// `findings`, `bytes`, `records of orders[*]`.
    pub fn describe(&self, classes: &Classes) -> String {
        match self {
            Measure::Bytes => "bytes".to_owned(),
            Measure::Records { path, .. } => format!("records of {path}"),
            Measure::Findings(None) => "findings".to_owned(),
            Measure::Findings(Some(c)) => format!(
                "findings of {}",
                c.iter()
                    .filter_map(|&i| classes.get(i).map(|c| &*c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// One compiled budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub name: Arc<str>,
    pub direction: Direction,
    pub measure: Measure,
    pub window: Duration,
    pub limit: u64,
    pub action: BudgetAction,
    pub on_store_error: OnStoreError,
    /// What the budget counts, written out: part of its keys, so a budget
    /// that comes to count something else under the same name starts afresh.
    pub fingerprint: String,
}

impl Budget {
    /// The budget as a reviewer reads it (`chaperone check`, `explain`,
    /// `flows`): `cards: 200 findings of card_number per caller per 1h in
    /// responses, then block (store down: deny)`.
    pub fn describe(&self, classes: &Classes) -> String {
        format!(
            "{}: {} {} per caller per {} in {}s, then {} (store down: {})",
            self.name,
            self.limit,
            self.measure.describe(classes),
            crate::policy::diff::duration(self.window),
            self.direction.as_str(),
            self.action.as_str(),
            self.on_store_error.as_str()
        )
    }

    /// The window's bucket length in milliseconds.
    pub fn bucket_ms(&self) -> u64 {
        bucket_ms(self.window)
    }

    /// What one message adds (see [`Measure::amount`]).
    pub fn amount(&self, findings: &Findings, bytes: u64) -> u64 {
        self.measure.amount(findings, bytes)
    }

    /// The window's total is past the limit.
    pub fn exceeded(&self, total: u64) -> bool {
        total > self.limit
    }

    /// The store keys of the window that ends at `now_ms` (milliseconds
    /// since the Unix epoch): the current bucket first, then the earlier
    /// ones the window still covers. One keyed hash names the caller's
    /// window; each bucket is it and the bucket's number.
    pub fn keys(&self, key: &HashKey, principal: &str, hop: &str, now_ms: u64) -> Vec<String> {
        let window = window_key(key, principal, hop, self);
        let bucket = now_ms / self.bucket_ms();
        (0..SUB_WINDOWS)
            .map(|back| format!("{window}:{}", bucket.saturating_sub(back)))
            .collect()
    }

    /// Until when a window found holding a total stays holding it at least:
    /// the next bucket's start, when the oldest counts may leave it.
    pub fn spent_until(&self, now_ms: u64) -> u64 {
        (now_ms / self.bucket_ms())
            .saturating_add(1)
            .saturating_mul(self.bucket_ms())
    }

    /// How long a bucket must outlive its start: a whole window past it,
    /// and a bucket more for clocks a little apart.
    pub fn ttl_ms(&self) -> u64 {
        self.bucket_ms().saturating_mul(SUB_WINDOWS + 1)
    }
}

/// A bucket's length for a window.
pub fn bucket_ms(window: Duration) -> u64 {
    let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    (ms / SUB_WINDOWS).max(1)
}

/// A caller's window on a budget: `chaperone:b:` and a keyed hash of the
/// caller, the hop, the budget, what it counts and its buckets' length.
fn window_key(key: &HashKey, principal: &str, hop: &str, budget: &Budget) -> String {
    let window = bucket_ms(budget.window).to_string();
    store_key(
        key,
        "chaperone:b:",
        "budget",
        &[principal, hop, &budget.name, &budget.fingerprint, &window],
    )
}

/// A store key: `prefix` and a keyed hash of the parts, length-prefixed so
/// that no two lists of parts share an encoding.
pub(crate) fn store_key(key: &HashKey, prefix: &str, label: &str, parts: &[&str]) -> String {
    let mut input = Vec::with_capacity(128);
    for part in parts {
        input.extend_from_slice(part.len().to_string().as_bytes());
        input.push(b':');
        input.extend_from_slice(part.as_bytes());
    }
    key.tag(prefix, label, &input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(window: Duration, measure: Measure) -> Budget {
        Budget {
            name: "cards".into(),
            direction: Direction::Response,
            measure,
            window,
            limit: 3,
            action: BudgetAction::Block,
            on_store_error: OnStoreError::Deny,
            fingerprint: "findings:card_number".into(),
        }
    }

    fn key() -> HashKey {
        HashKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn buckets_are_a_tenth_of_the_window() {
        assert_eq!(bucket_ms(Duration::from_secs(3600)), 360_000);
        assert_eq!(bucket_ms(Duration::from_secs(2)), 200);
        assert_eq!(bucket_ms(Duration::from_millis(5)), 1);
        let b = budget(Duration::from_secs(2), Measure::Bytes);
        assert_eq!(b.ttl_ms(), 2_200);
        // A total found stays at least until the next bucket starts.
        assert_eq!(b.spent_until(10_000), 10_200);
        assert_eq!(b.spent_until(10_199), 10_200);
        assert_eq!(b.spent_until(10_200), 10_400);
    }

    #[test]
    fn the_window_slides_a_bucket_at_a_time() {
        let b = budget(Duration::from_secs(2), Measure::Bytes);
        let k = key();
        let at = |ms| b.keys(&k, "p_caller", "hop", ms);
        let first = at(10_000);
        assert_eq!(first.len(), SUB_WINDOWS as usize);
        // Within one bucket: the same keys.
        assert_eq!(at(10_199), first);
        // One bucket later: a new current bucket, the oldest gone.
        let next = at(10_200);
        assert_ne!(next[0], first[0]);
        assert_eq!(&next[1..], &first[..9]);
        // A whole window later: nothing in common.
        let later = at(12_000);
        assert!(later.iter().all(|k| !first.contains(k)));
        // Every key of one window is distinct.
        let mut sorted = first.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), first.len());
        // Near the epoch the window is shorter, never wrapped.
        assert_eq!(at(0).len(), SUB_WINDOWS as usize);
    }

    #[test]
    fn keys_are_keyed_hashes_without_clear_values() {
        let b = budget(Duration::from_secs(3600), Measure::Bytes);
        let principal = "p_0123456789abcdef";
        let keys = b.keys(&key(), principal, "checkout-charges", 1_700_000_000_000);
        let bucket = 1_700_000_000_000 / b.bucket_ms();
        for (back, k) in keys.iter().enumerate() {
            let rest = k.strip_prefix("chaperone:b:").unwrap_or_default();
            let (hash, number) = rest.split_once(':').unwrap_or_default();
            assert_eq!(hash.len(), 32, "{k}");
            assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()), "{k}");
            assert_eq!(number, (bucket - back as u64).to_string(), "{k}");
            // One window, one hash.
            assert!(k.starts_with(&keys[0][..44]), "{k}");
            for clear in [principal, "checkout", "cards", "card_number"] {
                assert!(!k.contains(clear), "{k} holds {clear}");
            }
        }
        // Each part matters: another caller, hop, budget, key or count.
        let other = |k: &HashKey, p: &str, hop: &str, b: &Budget| {
            b.keys(k, p, hop, 1_700_000_000_000)[0].clone()
        };
        let base = other(&key(), principal, "checkout-charges", &b);
        assert_ne!(base, other(&key(), "p_other", "checkout-charges", &b));
        assert_ne!(base, other(&key(), principal, "checkout-refunds", &b));
        assert_ne!(
            base,
            other(
                &HashKey::from_bytes(&[8u8; 32]),
                principal,
                "checkout-charges",
                &b
            )
        );
        let renamed = Budget {
            name: "cards2".into(),
            ..b.clone()
        };
        assert_ne!(base, other(&key(), principal, "checkout-charges", &renamed));
        let recounted = Budget {
            fingerprint: "bytes".into(),
            ..b.clone()
        };
        assert_ne!(
            base,
            other(&key(), principal, "checkout-charges", &recounted)
        );
    }

    #[test]
    fn amounts_count_what_the_budget_names() {
        let mut f = Findings::new(3);
        f.add(0);
        f.add(1);
        f.add(1);
        f.add(2);
        let w = Duration::from_secs(60);
        assert_eq!(budget(w, Measure::Findings(None)).amount(&f, 999), 4);
        assert_eq!(
            budget(w, Measure::Findings(Some(vec![1]))).amount(&f, 999),
            2
        );
        assert_eq!(
            budget(w, Measure::Findings(Some(vec![0, 2]))).amount(&f, 9),
            2
        );
        assert_eq!(budget(w, Measure::Bytes).amount(&f, 999), 999);
        // Records: the count of their path, whatever else was found.
        let records = |index| Measure::Records {
            path: "orders[*]".into(),
            index,
        };
        assert_eq!(budget(w, records(0)).amount(&f, 999), 0);
        f.add_record(1);
        f.add_record(1);
        f.add_record(0);
        assert_eq!(budget(w, records(1)).amount(&f, 999), 2);
        assert_eq!(budget(w, records(0)).amount(&f, 999), 1);
        assert_eq!(budget(w, records(7)).amount(&f, 999), 0);
        let b = budget(w, Measure::Bytes);
        assert!(!b.exceeded(3), "at the limit is within it");
        assert!(b.exceeded(4));
    }
}
