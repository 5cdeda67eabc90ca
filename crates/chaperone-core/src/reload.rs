//! One way to replace what chaperone runs on while it serves: the policy,
//! the signing keys, the TLS material. Read, build, compare, swap atomically;
//! a broken input keeps the value in force and says why.
//!
//! A [`Reloadable`] returns each attempt's [`Outcome`]; the edge polls,
//! answers SIGHUP and the admin Reload, and counts and logs the outcomes.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::clock::SharedClock;

/// Where a reloadable value comes from.
pub trait Source: Send + Sync + 'static {
    type Value: Send + Sync + 'static;
    type Error: std::fmt::Display;

    /// What it is, in logs ("policy", "signing keys", "TLS certificates").
    const WHAT: &'static str;
    /// Its metric label ("policy", "keys", "tls").
    const LABEL: &'static str;
    /// What the log says when a reload is refused.
    const REJECTED: &'static str;

    /// Reads the inputs and builds a value, with a fingerprint of the bytes
    /// it read.
    fn load(&self) -> Result<(Self::Value, String), Self::Error>;

    /// Nothing to reload: an embedded or ephemeral value.
    fn fixed(&self) -> bool {
        false
    }

    /// The inputs' fingerprint as they are now, cheaper than [`Self::load`].
    fn fingerprint(&self, current: &Self::Value) -> String;

    /// Called once a value is in force: `trigger` says what reloaded it
    /// (`None` for the first). For the log line and background work.
    fn installed(&self, _value: &Self::Value, _trigger: Option<&'static str>) {}

    /// After a failed load, which check of a signed input refused it (for
    /// the edge to count), once; `None` for inputs that are not signed.
    fn refusal(&self) -> Option<&'static str> {
        None
    }
}

/// What one reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The inputs build what is in force already.
    Unchanged,
    /// A new value is in force.
    Reloaded,
    /// The inputs do not build; the previous value stays. The error.
    Rejected(String),
}

impl Outcome {
    /// The metric label value.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Reloaded => "reloaded",
            Outcome::Rejected(_) => "error",
        }
    }
}

/// When the value in force was loaded, and why the last attempt failed.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub loaded_at: i64,
    pub last_error: Option<String>,
}

/// A value in force, replaced atomically when its inputs change.
#[derive(Debug)]
pub struct Reloadable<S: Source> {
    source: S,
    current: ArcSwap<S::Value>,
    fingerprint: Mutex<String>,
    status: Mutex<ReloadStatus>,
    clock: SharedClock,
}

impl<S: Source> Reloadable<S>
where
    S::Value: std::fmt::Debug,
{
    /// Loads the first value: an error here stops the process, which never
    /// starts on inputs it cannot read.
    pub fn load(source: S, clock: SharedClock) -> Result<Self, S::Error> {
        let (value, fingerprint) = source.load()?;
        Ok(Self::with(source, value, fingerprint, clock))
    }

    /// Starts from a value built elsewhere.
    pub fn with(source: S, value: S::Value, fingerprint: String, clock: SharedClock) -> Self {
        source.installed(&value, None);
        Self {
            status: Mutex::new(ReloadStatus {
                loaded_at: clock.now_unix(),
                last_error: None,
            }),
            source,
            current: ArcSwap::from_pointee(value),
            fingerprint: Mutex::new(fingerprint),
            clock,
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn current(&self) -> Arc<S::Value> {
        self.current.load_full()
    }

    /// A cheap borrow of the value in force, for the hot path.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<S::Value>> {
        self.current.load()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a failure found outside [`Self::reload`] (a fetch that
    /// failed: the value in force stays), or clears it (`None`: the source
    /// answered again with what is in force).
    pub fn note_error(&self, error: Option<String>) {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error = error;
    }

    /// Whether the inputs differ from those of the value in force.
    pub fn changed(&self) -> bool {
        if self.source.fixed() {
            return false;
        }
        let now = self.source.fingerprint(&self.current());
        *self
            .fingerprint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            != now
    }

    /// Re-reads the inputs and swaps when they build something new;
    /// `trigger` says why ("file", "sighup", "admin").
    pub fn reload(&self, trigger: &'static str) -> Outcome {
        if self.source.fixed() {
            return Outcome::Unchanged;
        }
        let result = self.source.load();
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((value, fingerprint)) => {
                status.last_error = None;
                let mut last = self
                    .fingerprint
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if *last == fingerprint {
                    return Outcome::Unchanged;
                }
                *last = fingerprint;
                drop(last);
                self.source.installed(&value, Some(trigger));
                self.current.store(Arc::new(value));
                status.loaded_at = self.clock.now_unix();
                Outcome::Reloaded
            }
            Err(e) => {
                let error = e.to_string();
                status.last_error = Some(error.clone());
                Outcome::Rejected(error)
            }
        }
    }
}

/// Any reloadable, as the edge drives them all alike.
pub trait Reload: Send + Sync {
    fn label(&self) -> &'static str;
    fn rejected(&self) -> &'static str;
    fn changed(&self) -> bool;
    fn reload(&self, trigger: &'static str) -> Outcome;
    /// See [`Source::refusal`].
    fn refusal(&self) -> Option<&'static str> {
        None
    }
}

impl<S: Source> Reload for Reloadable<S>
where
    S::Value: std::fmt::Debug,
{
    fn label(&self) -> &'static str {
        S::LABEL
    }
    fn rejected(&self) -> &'static str {
        S::REJECTED
    }
    fn changed(&self) -> bool {
        Reloadable::changed(self)
    }
    fn reload(&self, trigger: &'static str) -> Outcome {
        Reloadable::reload(self, trigger)
    }
    fn refusal(&self) -> Option<&'static str> {
        self.source.refusal()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::clock::SystemClock;

    /// A source over a number in memory: odd numbers do not build.
    #[derive(Debug, Default)]
    struct Numbers {
        input: AtomicU32,
        installs: AtomicU32,
    }

    impl Source for Numbers {
        type Value = u32;
        type Error = String;
        const WHAT: &'static str = "number";
        const LABEL: &'static str = "number";
        const REJECTED: &'static str = "number reload rejected";
        fn load(&self) -> Result<(u32, String), String> {
            let n = self.input.load(Ordering::SeqCst);
            if n % 2 == 1 {
                return Err(format!("{n} is odd"));
            }
            Ok((n, n.to_string()))
        }
        fn fingerprint(&self, _current: &u32) -> String {
            self.input.load(Ordering::SeqCst).to_string()
        }
        fn installed(&self, _value: &u32, _trigger: Option<&'static str>) {
            self.installs.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn swaps_on_change_and_keeps_the_value_on_error() {
        let r = Reloadable::load(Numbers::default(), Arc::new(SystemClock)).unwrap();
        assert_eq!(*r.current(), 0);
        assert!(!r.changed());
        assert_eq!(r.reload("test"), Outcome::Unchanged);
        r.source().input.store(3, Ordering::SeqCst);
        assert!(r.changed());
        assert_eq!(r.reload("test"), Outcome::Rejected("3 is odd".into()));
        assert_eq!(*r.current(), 0, "a broken input keeps the value in force");
        assert_eq!(r.status().last_error.as_deref(), Some("3 is odd"));
        r.source().input.store(4, Ordering::SeqCst);
        assert_eq!(r.reload("test"), Outcome::Reloaded);
        assert_eq!(*r.current(), 4);
        assert!(r.status().last_error.is_none());
        assert!(!r.changed());
        assert_eq!(r.source().installs.load(Ordering::SeqCst), 2);
    }
}
