//! A circuit breaker: after a failure the store is not asked again until
//! `retry_after` has passed; then one message tries it, and its answer
//! closes the breaker or keeps it open for another `retry_after`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Breaker {
    retry_after: Duration,
    /// `Some(t)`: open, and nobody tries the store before `t`.
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            open_until: Mutex::new(None),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    pub fn is_open(&self) -> bool {
        self.state().is_some()
    }

    /// May this message ask the store? While open, one message per
    /// `retry_after` may (it pushes the next try out before it goes).
    pub fn admit(&self) -> bool {
        let mut state = self.state();
        match *state {
            None => true,
            Some(until) if Instant::now() >= until => {
                *state = Some(Instant::now() + self.retry_after);
                true
            }
            Some(_) => false,
        }
    }

    /// The store answered: `true` if that closed the breaker.
    pub fn succeeded(&self) -> bool {
        self.state().take().is_some()
    }

    /// The store failed: `true` if that opened the breaker.
    pub fn failed(&self) -> bool {
        let mut state = self.state();
        let opened = state.is_none();
        *state = Some(Instant::now() + self.retry_after);
        opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_and_lets_one_try_after_the_pause() {
        let b = Breaker::new(Duration::from_millis(50));
        assert!(b.admit() && !b.is_open());
        assert!(b.failed(), "the first failure opens it");
        assert!(!b.failed(), "already open");
        assert!(!b.admit(), "open: nobody tries");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit(), "one try after the pause");
        assert!(!b.admit(), "only one");
        assert!(b.succeeded(), "its success closes it");
        assert!(!b.is_open() && b.admit());
        assert!(!b.succeeded(), "already closed");
    }
}
