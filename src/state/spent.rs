//! Callers whose window on a budget that blocks this replica has seen full
//! (it holds the limit: nothing more may cross), until the window may have
//! room again: their requests on the hop are refused at their headers,
//! before they reach the callee, whatever direction the budget counts, and
//! their messages without asking the store.
//!
//! An entry is made from a total the store returned, and lasts no longer
//! than the bucket in which it was found (counts leave the window a bucket
//! at a time; a message refused is never counted, so nothing else empties
//! it sooner). A replica that has not seen it asks the store at the
//! caller's next message that brings something counted, and refuses that.
//! Bounded: when full, expired entries go; if none has, nothing more is
//! remembered (and the store is asked, as without this).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use crate::budget::Budget;

/// Entries at most.
const MAX_SPENT: usize = 65_536;

#[derive(Debug, Default)]
pub struct Spent {
    /// A hash of (caller, hop, budget) and until when it is spent, in
    /// milliseconds since the Unix epoch. The hash's keys are this process's
    /// own: nothing outside it can aim at an entry.
    until: Mutex<HashMap<u64, u64>>,
    hasher: RandomState,
}

impl Spent {
    /// Its limit too: a window full under one limit is not under a higher
    /// one a reload brings.
    fn id(&self, principal: &str, hop: &str, budget: &Budget) -> u64 {
        self.hasher.hash_one((
            principal,
            hop,
            &*budget.name,
            &budget.fingerprint,
            budget.bucket_ms(),
            budget.limit,
        ))
    }

    /// The caller's window on `budget` was found full at `now_ms`.
    pub fn mark(&self, principal: &str, hop: &str, budget: &Budget, now_ms: u64) {
        let id = self.id(principal, hop, budget);
        let mut until = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if until.len() >= MAX_SPENT && !until.contains_key(&id) {
            until.retain(|_, t| *t > now_ms);
            if until.len() >= MAX_SPENT {
                return;
            }
        }
        until.insert(id, budget.spent_until(now_ms));
    }

    /// The caller's window on `budget` is known to be full at `now_ms`.
    pub fn is_spent(&self, principal: &str, hop: &str, budget: &Budget, now_ms: u64) -> bool {
        let id = self.id(principal, hop, budget);
        let until = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.get(&id).is_some_and(|t| *t > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::budget::{BudgetAction, Direction, Measure, OnStoreError};

    fn budget(name: &str) -> Budget {
        Budget {
            name: Arc::from(name),
            direction: Direction::Response,
            measure: Measure::Bytes,
            window: Duration::from_secs(10),
            limit: 5,
            action: BudgetAction::Block,
            on_store_error: OnStoreError::Deny,
            fingerprint: "response:bytes".into(),
        }
    }

    #[test]
    fn spent_until_the_next_bucket_for_that_caller_hop_and_budget_only() {
        let s = Spent::default();
        let b = budget("cards");
        // Buckets of 1 s: found full at 5.5 s, until 6 s.
        s.mark("p_a", "hop", &b, 5_500);
        assert!(s.is_spent("p_a", "hop", &b, 5_500));
        assert!(s.is_spent("p_a", "hop", &b, 5_999));
        assert!(!s.is_spent("p_a", "hop", &b, 6_000));
        assert!(!s.is_spent("p_b", "hop", &b, 5_600));
        assert!(!s.is_spent("p_a", "other-hop", &b, 5_600));
        assert!(!s.is_spent("p_a", "hop", &budget("cards2"), 5_600));
        // A reload that raises the limit: the window has room again at once.
        let raised = Budget {
            limit: 100,
            ..budget("cards")
        };
        assert!(!s.is_spent("p_a", "hop", &raised, 5_600));
    }

    #[test]
    fn bounded_expired_entries_go_first_then_nothing_more_is_kept() {
        let s = Spent::default();
        let b = budget("cards");
        for i in 0..MAX_SPENT {
            s.mark(&format!("p_{i}"), "hop", &b, 1_000);
        }
        // Full of live entries: a new caller is not remembered.
        s.mark("p_new", "hop", &b, 1_500);
        assert!(!s.is_spent("p_new", "hop", &b, 1_500));
        assert!(s.is_spent("p_0", "hop", &b, 1_500));
        // Once they have expired they make room.
        s.mark("p_new", "hop", &b, 2_500);
        assert!(s.is_spent("p_new", "hop", &b, 2_500));
        assert_eq!(s.until.lock().map(|u| u.len()).unwrap_or(0), 1);
    }
}
