//! Budgets and baselines kept in this process: the same buckets, keys, sums
//! and verdicts as the shared store, for a single replica.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Charge, Observation, StateError, Tally};
use crate::anomaly::{Baseline, observe};

/// Buckets kept at most (about 150 bytes each with their keys, 150 MB in
/// all), and baselines (about 250 bytes, 65 MB); past either, expired entries are swept, and if that is not
/// enough a message that needs a new entry fails like a store that cannot
/// answer (one already counted goes on).
const MAX_BUCKETS: usize = 1 << 20;
const MAX_BASELINES: usize = 1 << 18;
/// Sweeps at most this often: each one walks every entry under the lock
/// every message waits on.
const SWEEP_PAUSE_MS: u64 = 1_000;

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// key -> (count, expires at in ms since the epoch)
    buckets: HashMap<String, (u64, u64)>,
    /// key -> (baseline, expires at)
    baselines: HashMap<String, (Baseline, u64)>,
    /// No sweep before this time.
    sweep_after: u64,
}

impl MemoryStore {
    pub fn charge(&self, charges: &[Charge], now_ms: u64) -> Result<Vec<u64>, StateError> {
        self.tally(charges, &[], now_ms).map(|t| t.totals)
    }

    pub fn tally(
        &self,
        charges: &[Charge],
        observations: &[Observation],
        now_ms: u64,
    ) -> Result<Tally, StateError> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Inner {
            buckets,
            baselines,
            sweep_after,
        } = &mut *inner;
        let new = charges
            .iter()
            .filter(|c| c.amount > 0 && c.keys.first().is_some_and(|k| !buckets.contains_key(k)))
            .count();
        let new_baselines = observations
            .iter()
            .filter(|o| !baselines.contains_key(&o.key))
            .count();
        let full = |buckets: &HashMap<_, _>, baselines: &HashMap<_, _>| {
            buckets.len() + new > MAX_BUCKETS || baselines.len() + new_baselines > MAX_BASELINES
        };
        if full(buckets, baselines) && now_ms >= *sweep_after {
            buckets.retain(|_, (_, expires)| *expires > now_ms);
            baselines.retain(|_, (_, expires)| *expires > now_ms);
            *sweep_after = now_ms.saturating_add(SWEEP_PAUSE_MS);
        }
        if full(buckets, baselines) {
            return Err(StateError::Full);
        }
        let mut totals = Vec::with_capacity(charges.len());
        for c in charges {
            let Some((current, earlier)) = c.keys.split_first() else {
                totals.push(0);
                continue;
            };
            let mut total = 0u64;
            if c.amount > 0 {
                let entry = buckets.entry(current.clone()).or_insert((0, 0));
                if entry.1 <= now_ms {
                    *entry = (0, 0);
                }
                entry.0 = entry.0.saturating_add(c.amount);
                entry.1 = now_ms.saturating_add(c.ttl_ms);
                total = entry.0;
            } else if let Some((n, expires)) = buckets.get(current)
                && *expires > now_ms
            {
                total = *n;
            }
            for k in earlier {
                if let Some((n, expires)) = buckets.get(k)
                    && *expires > now_ms
                {
                    total = total.saturating_add(*n);
                }
            }
            totals.push(total);
        }
        // A message refused counts toward no budget, nor anomaly: it does
        // not cross.
        let refused = charges
            .iter()
            .zip(&totals)
            .any(|(c, t)| c.refuse_over.is_some_and(|limit| *t > limit));
        if refused {
            for c in charges.iter().filter(|c| c.amount > 0) {
                if let Some(entry) = c.keys.first().and_then(|k| buckets.get_mut(k)) {
                    entry.0 = entry.0.saturating_sub(c.amount);
                }
            }
        }
        let verdicts = observations
            .iter()
            .map(|o| {
                let prior = baselines
                    .get(&o.key)
                    .filter(|(_, expires)| *expires > now_ms)
                    .map(|(b, _)| *b);
                let amount = if refused { 0 } else { o.amount };
                let (baseline, verdict) = observe(&o.rule, prior, o.window, amount);
                let expires = now_ms.saturating_add(o.ttl_ms);
                baselines.insert(o.key.clone(), (baseline, expires));
                verdict
            })
            .collect();
        Ok(Tally { totals, verdicts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(keys: &[&str], amount: u64) -> Charge {
        Charge {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            amount,
            ttl_ms: 1_000,
            refuse_over: None,
        }
    }

    #[test]
    fn a_message_refused_counts_toward_no_budget() {
        let m = MemoryStore::default();
        let blocks = |keys: &[&str], amount, limit| Charge {
            refuse_over: Some(limit),
            ..charge(keys, amount)
        };
        assert_eq!(m.charge(&[blocks(&["a"], 4, 5)], 0), Ok(vec![4]));
        // 4 + 2 is past 5: refused, and taken back from both budgets.
        assert_eq!(
            m.charge(&[blocks(&["a"], 2, 5), charge(&["x"], 2)], 10),
            Ok(vec![6, 2])
        );
        assert_eq!(
            m.charge(&[blocks(&["a"], 0, 5), charge(&["x"], 0)], 20),
            Ok(vec![4, 0])
        );
        // Within the limit: counted.
        assert_eq!(m.charge(&[blocks(&["a"], 1, 5)], 30), Ok(vec![5]));
        // A budget that only alerts refuses nothing: counted past its limit.
        assert_eq!(m.charge(&[charge(&["a"], 3)], 40), Ok(vec![8]));
    }

    #[test]
    fn sums_the_window_and_forgets_expired_buckets() {
        let m = MemoryStore::default();
        assert_eq!(m.charge(&[charge(&["a", "z"], 2)], 0), Ok(vec![2]));
        assert_eq!(m.charge(&[charge(&["a", "z"], 3)], 10), Ok(vec![5]));
        // The next bucket: the earlier one still counts.
        assert_eq!(m.charge(&[charge(&["b", "a"], 1)], 500), Ok(vec![6]));
        // A read (nothing added) sees the same total.
        assert_eq!(m.charge(&[charge(&["b", "a"], 0)], 600), Ok(vec![6]));
        // Bucket "a" expired (set at 10 for 1 s); "b" has not.
        assert_eq!(m.charge(&[charge(&["c", "b", "a"], 0)], 1_200), Ok(vec![1]));
        // Two budgets in one call, each with its own keys.
        assert_eq!(
            m.charge(&[charge(&["c", "b"], 4), charge(&["x"], 7)], 1_300),
            Ok(vec![5, 7])
        );
    }

    /// A baseline that settles and warms up after one window.
    fn quick_rule() -> crate::anomaly::Rule {
        crate::anomaly::Rule {
            alpha: 0.5,
            settle: 1,
            warmup: 1,
            sigmas: 1.0,
            min: 0,
        }
    }

    #[test]
    fn full_a_new_entry_fails_and_one_already_kept_goes_on() {
        let rule = quick_rule();
        let seen = |key: String| Observation {
            key,
            amount: 1,
            window: 1,
            rule,
            ttl_ms: 5_000,
        };
        let m = MemoryStore::default();
        let all: Vec<Observation> = (0..MAX_BASELINES).map(|i| seen(format!("k{i}"))).collect();
        assert!(m.tally(&[], &all, 0).is_ok());
        assert!(m.tally(&[], &[seen("k7".into())], 10).is_ok(), "kept");
        // Swept at 4.5 s (nothing has expired): full.
        let new = || [seen("new".into())];
        assert_eq!(m.tally(&[], &new(), 4_500), Err(StateError::Full));
        // Budgets have room of their own.
        assert_eq!(m.charge(&[charge(&["b"], 1)], 4_600), Ok(vec![1]));
        // Expired at 5 s, but no sweep within a second of the last.
        assert_eq!(m.tally(&[], &new(), 5_200), Err(StateError::Full));
        // Then a sweep makes room.
        let later = m.tally(&[], &new(), 5_600);
        assert_eq!(later.map(|t| t.verdicts[0].count), Ok(1));
    }

    #[test]
    fn baselines_expire_and_start_afresh() {
        let rule = quick_rule();
        let at = |window, amount| Observation {
            key: "k".into(),
            amount,
            window,
            rule,
            ttl_ms: 1_000,
        };
        let m = MemoryStore::default();
        let v = |t: Result<Tally, StateError>| t.map(|t| t.verdicts[0].count);
        assert_eq!(v(m.tally(&[], &[at(1, 3)], 100)), Ok(3));
        assert_eq!(v(m.tally(&[], &[at(1, 2)], 200)), Ok(5));
        // Expired (written at 200, kept 1 s): a new baseline, window 9's own.
        assert_eq!(v(m.tally(&[], &[at(9, 1)], 1_300)), Ok(1));
        let t = m.tally(&[], &[at(10, 4)], 1_400).unwrap();
        assert!(t.verdicts[0].alert, "one window seen, and 4 > 1 + 0: {t:?}");
    }
}
