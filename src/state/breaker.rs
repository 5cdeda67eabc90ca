//! A circuit breaker: after [`OPEN_AFTER`] failures in a row the store is
//! not asked again until `retry_after` has passed; then one message tries
//! it, and its answer closes the breaker or keeps it open for another
//! `retry_after`. One failure alone (a connection the network dropped while
//! idle) opens nothing: the next round trip, on a fresh connection, decides.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row, with no answer between them, that open the breaker.
pub const OPEN_AFTER: u32 = 3;

#[derive(Debug)]
pub struct Breaker {
    retry_after: Duration,
    state: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Failures since the last answer.
    failures: u32,
    /// `Some(t)`: open, and nobody tries the store before `t`.
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            state: Mutex::new(Inner::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some()
    }

    /// May this message ask the store? While open, one message per
    /// `retry_after` may (it pushes the next try out before it goes).
    pub fn admit(&self) -> bool {
        let mut state = self.state();
        match state.open_until {
            None => true,
            Some(until) if Instant::now() >= until => {
                state.open_until = Some(Instant::now() + self.retry_after);
                true
            }
            Some(_) => false,
        }
    }

    /// The store answered: `true` if that closed the breaker.
    pub fn succeeded(&self) -> bool {
        let mut state = self.state();
        state.failures = 0;
        state.open_until.take().is_some()
    }

    /// The store failed: `true` if that opened the breaker. Once open, a
    /// failed try keeps it open for another `retry_after`.
    pub fn failed(&self) -> bool {
        let mut state = self.state();
        state.failures = state.failures.saturating_add(1);
        let was_open = state.open_until.is_some();
        if was_open || state.failures >= OPEN_AFTER {
            state.open_until = Some(Instant::now() + self.retry_after);
        }
        !was_open && state.open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_lets_one_try_after_the_pause() {
        let b = Breaker::new(Duration::from_millis(50));
        assert!(b.admit() && !b.is_open());
        for _ in 1..OPEN_AFTER {
            assert!(!b.failed(), "fewer than OPEN_AFTER failures");
            assert!(!b.is_open() && b.admit());
        }
        assert!(b.failed(), "the last of OPEN_AFTER in a row opens it");
        assert!(!b.failed(), "already open");
        assert!(!b.admit(), "open: nobody tries");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit(), "one try after the pause");
        assert!(!b.admit(), "only one");
        assert!(b.succeeded(), "its success closes it");
        assert!(!b.is_open() && b.admit());
        assert!(!b.succeeded(), "already closed");
    }

    #[test]
    fn an_answer_between_failures_starts_the_count_again() {
        let b = Breaker::new(Duration::from_millis(50));
        for _ in 0..10 {
            for _ in 1..OPEN_AFTER {
                assert!(!b.failed());
            }
            assert!(!b.succeeded());
        }
        assert!(!b.is_open(), "never OPEN_AFTER failures in a row");
    }

    #[test]
    fn a_failed_try_keeps_it_open_for_another_pause() {
        let b = Breaker::new(Duration::from_millis(40));
        for _ in 0..OPEN_AFTER {
            b.failed();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(b.admit(), "the try");
        assert!(!b.failed(), "stays open: no transition");
        assert!(b.is_open() && !b.admit(), "another pause");
    }
}
