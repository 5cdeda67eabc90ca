//! Budgets counted in this process: the same buckets, keys and sums as
//! the shared store, for a single replica.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Charge, StateError};

/// Buckets kept at most (a few dozen bytes each); past it, expired ones
/// are swept, and if none has expired the charge fails like a store that
/// cannot answer.
const MAX_BUCKETS: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct MemoryStore {
    /// key -> (count, expires at in ms since the epoch)
    buckets: Mutex<HashMap<String, (u64, u64)>>,
}

impl MemoryStore {
    pub fn charge(&self, charges: &[Charge], now_ms: u64) -> Result<Vec<u64>, StateError> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let new = charges.iter().filter(|c| c.amount > 0).count();
        if buckets.len() + new > MAX_BUCKETS {
            buckets.retain(|_, (_, expires)| *expires > now_ms);
            if buckets.len() + new > MAX_BUCKETS {
                return Err(StateError::Full);
            }
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
        Ok(totals)
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
        }
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
}
