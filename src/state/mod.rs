//! Where budgets and anomaly baselines are counted: in this process (one
//! replica), or in a Redis/Valkey every replica shares. One round trip per
//! message at most, bounded in time, and behind a circuit breaker so that a
//! dead store costs each message no more than the timeout, and then nothing
//! until it is tried again.
//!
//! The breaker opens on what the store did, never on what this replica did:
//! connections' round trips that failed or were not answered within the
//! timeout of their sending, or answers that refused, several in a row. A
//! message that waited for a connection until its time ran out (a burst on
//! this replica) fails alone, as its budgets' `on_store_error` says, and
//! every other caller's messages go on to the store.

mod breaker;
mod memory;
mod redis;
mod spent;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use breaker::Breaker;
pub use breaker::OPEN_AFTER;
pub use memory::MemoryStore;
pub use redis::{RedisSettings, RedisStore, SettingsError};
pub use spent::Spent;

use crate::anomaly::{Rule, Verdict};
use crate::telemetry::metrics;

/// What one budget adds to its window, and the window's keys (the current
/// bucket first).
#[derive(Debug, Clone)]
pub struct Charge {
    pub keys: Vec<String>,
    pub amount: u64,
    /// How long the current bucket is kept, in milliseconds.
    pub ttl_ms: u64,
    /// A budget that blocks: past this total the message is refused, and
    /// then counts toward none of its budgets (it does not cross).
    pub refuse_over: Option<u64>,
}

/// What one anomaly adds to its caller's baseline, and how it decides.
#[derive(Debug, Clone)]
pub struct Observation {
    pub key: String,
    pub amount: u64,
    /// The window the message falls in (`now / window`).
    pub window: u64,
    pub rule: Rule,
    /// How long the baseline is kept after this write, in milliseconds.
    pub ttl_ms: u64,
}

/// What the store answered for one message: each budget's window total and
/// each observation's verdict, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    pub totals: Vec<u64>,
    pub verdicts: Vec<Verdict>,
}

/// Why the store did not answer. Never holds a key or a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state store did not answer in time")]
    Timeout,
    #[error("state store connection failed")]
    Io,
    #[error("state store answered what chaperone did not ask for")]
    Protocol,
    #[error("state store refused the command")]
    Refused,
    #[error("state store is full")]
    Full,
    #[error("no connection to the state store was free in time")]
    Busy,
    #[error("state store is down; not tried until it may be back")]
    Open,
}

impl StateError {
    /// A stable code for metrics and events.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Timeout => "timeout",
            StateError::Io => "io",
            StateError::Protocol => "protocol",
            StateError::Refused => "refused",
            StateError::Full => "full",
            StateError::Busy => "busy",
            StateError::Open => "circuit_open",
        }
    }
}

#[derive(Debug)]
enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// Whether the store answers, and the breaker that follows it. The store's
/// connections report each round trip (they alone know how long the store
/// took); messages report the answers that refused.
#[derive(Debug)]
struct Health {
    breaker: Breaker,
    kind: &'static str,
}

impl Health {
    fn new(kind: &'static str, retry_after: Duration) -> Self {
        Self {
            breaker: Breaker::new(retry_after),
            kind,
        }
    }

    /// The store answered a round trip.
    fn answered(&self) {
        if self.breaker.succeeded() {
            tracing::info!(store = self.kind, "state store answers again");
        }
        metrics::get().state_store_up.set(1);
    }

    /// The store failed a round trip (no answer within the timeout, a
    /// connection that failed) or refused a command.
    fn failed(&self, e: &StateError) {
        if self.breaker.failed() {
            tracing::warn!(
                store = self.kind,
                error = e.code(),
                "state store down: budgets follow their on_store_error until it answers"
            );
            metrics::get().state_store_up.set(0);
        }
    }
}

/// Whether a message waits for its round trip to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// It waits: sent at once.
    Now,
    /// It does not (nothing in the answer can refuse it): sent together
    /// with others like it, after a short wait for them.
    Batched,
}

/// Round trips that messages do not wait for, in flight at once at most:
/// past that, a message waits for its own (memory stays bounded, and a
/// store that slows down slows the traffic that feeds it).
const MAX_DEFERRED: usize = 4096;

/// The budgets' store and its health.
#[derive(Debug)]
pub struct State {
    backend: Backend,
    health: Arc<Health>,
    deferred: Arc<tokio::sync::Semaphore>,
    /// Callers this replica has seen past a budget that blocks.
    pub spent: Spent,
}

impl Default for State {
    fn default() -> Self {
        Self::memory()
    }
}

impl State {
    /// Counted in this process: one replica's budgets.
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(MemoryStore::default()),
            health: Arc::new(Health::new("memory", Duration::from_secs(1))),
            deferred: Arc::new(tokio::sync::Semaphore::new(MAX_DEFERRED)),
            spent: Spent::default(),
        }
    }

    /// Counted in a shared Redis/Valkey; after a failure, not tried again
    /// for `retry_after`.
    pub fn redis(store: RedisStore, retry_after: Duration) -> Self {
        metrics::get().state_store_up.set(1);
        let health = Arc::new(Health::new("redis", retry_after));
        Self {
            backend: Backend::Redis(store.reporting_to(Arc::clone(&health))),
            health,
            deferred: Arc::new(tokio::sync::Semaphore::new(MAX_DEFERRED)),
            spent: Spent::default(),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.health.kind
    }

    /// A place for a round trip its message does not wait for (one whose
    /// answer cannot refuse it), while fewer than [`MAX_DEFERRED`] are in
    /// flight; never in process, where counting costs no round trip.
    pub fn defer(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(_) => Arc::clone(&self.deferred).try_acquire_owned().ok(),
        }
    }

    /// The store answered the last time it was asked (or has not been asked).
    pub fn is_up(&self) -> bool {
        !self.health.breaker.is_open()
    }

    /// Adds each charge's amount to its current bucket and returns each
    /// window's total, in one round trip.
    pub async fn charge(&self, charges: &[Charge]) -> Result<Vec<u64>, StateError> {
        self.tally(charges, &[]).await.map(|t| t.totals)
    }

    /// Budgets' charges and anomalies' observations of one message, in one
    /// round trip: each window's total and each baseline's verdict.
    pub async fn tally(
        &self,
        charges: &[Charge],
        observations: &[Observation],
    ) -> Result<Tally, StateError> {
        self.tally_paced(charges, observations, Pace::Now).await
    }

    /// As [`Self::tally`], for a message that does not wait for the answer
    /// (a place from [`Self::defer`]): sent with others, to cost the store
    /// and this replica one round trip for many messages.
    pub async fn tally_deferred(
        &self,
        charges: &[Charge],
        observations: &[Observation],
    ) -> Result<Tally, StateError> {
        self.tally_paced(charges, observations, Pace::Batched).await
    }

    async fn tally_paced(
        &self,
        charges: &[Charge],
        observations: &[Observation],
        pace: Pace,
    ) -> Result<Tally, StateError> {
        if charges.is_empty() && observations.is_empty() {
            return Ok(Tally::default());
        }
        if !self.health.breaker.admit() {
            metrics::get()
                .state_store_errors
                .with_label_values(&[StateError::Open.code()])
                .inc();
            return Err(StateError::Open);
        }
        let result = match &self.backend {
            Backend::Memory(m) => m.tally(charges, observations, now_ms()),
            Backend::Redis(r) => r.tally(charges, observations, pace).await,
        };
        if let Err(e) = &result {
            self.count_error(e);
        }
        result
    }

    /// While the breaker is open and its pause is over, asks the store
    /// whether it answers (`PING`, within the timeout), which closes the
    /// breaker if it does: `/readyz` and `chaperone_state_store_up` need no
    /// message to learn that the store is back.
    pub async fn recheck(&self) {
        let Backend::Redis(r) = &self.backend else {
            return;
        };
        if !self.health.breaker.is_open() || !self.health.breaker.admit() {
            return;
        }
        // The lane that sends the PING reports what it found.
        if let Err(e) = r.ping().await {
            self.count_error(&e);
        }
    }

    /// Rechecks the store each `retry_after`, for as long as the process runs.
    pub async fn keep_rechecking(&self) {
        let mut tick = tokio::time::interval(self.health.breaker.retry_after());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.recheck().await;
        }
    }

    /// A message the store did not serve, counted by why. What it says of
    /// the store, the lane that sent it has reported: a connection knows
    /// when it sent a command and whether the store answered in time or
    /// refused. A message whose time ran out while it waited for a
    /// connection, or for the replies sent before its own (a burst on this
    /// replica), says nothing of the store, nor does a full store in
    /// process (this message found no room; the next may).
    fn count_error(&self, e: &StateError) {
        metrics::get()
            .state_store_errors
            .with_label_values(&[e.code()])
            .inc();
    }
}

/// Milliseconds since the Unix epoch: replicas sharing a store agree on
/// buckets as far as their clocks agree.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::Rule;

    /// A store in process that is full fails the message that found no
    /// room, and only it: the store is not down for every other caller.
    #[tokio::test]
    async fn a_full_store_in_process_fails_the_message_not_the_store() {
        let s = State::memory();
        let observe = |key: String| Observation {
            key,
            amount: 1,
            window: 1,
            rule: Rule {
                alpha: 0.5,
                settle: 1,
                warmup: 1,
                sigmas: 1.0,
                min: 0,
            },
            ttl_ms: 60_000,
        };
        let flood: Vec<Observation> = (0..=1 << 18).map(|i| observe(format!("a{i}"))).collect();
        assert_eq!(s.tally(&[], &flood).await, Err(StateError::Full));
        let charge = Charge {
            keys: vec!["b".into()],
            amount: 2,
            ttl_ms: 60_000,
            refuse_over: Some(5),
        };
        assert_eq!(s.charge(&[charge]).await, Ok(vec![2]));
        assert!(s.is_up());
    }
}
