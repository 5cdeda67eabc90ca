//! The policy in force, and the one path that replaces it.
//!
//! File changes, SIGHUP and the admin Reload call all end in
//! [`PolicyStore::reload`]: read, parse, validate, compile, then swap
//! atomically. A bad policy at runtime keeps the old one and says so.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::compile::{CompileContext, MAX_POLICY_BYTES, PolicyError, compile};
use crate::identity::jwks::KeySource;
use crate::policy::Policy;
use crate::secret::sha256_hex;
use crate::telemetry::metrics;

/// The policy chaperone runs on when given none: the demo's hops only. See
/// `docs/policy.md`.
pub const EMBEDDED_POLICY: &str = include_str!("default-policy.yaml");

#[derive(Debug)]
pub struct PolicyStore {
    current: ArcSwap<Policy>,
    path: Option<PathBuf>,
    ctx: CompileContext,
    status: Mutex<ReloadStatus>,
    /// Of the policy file and every file it read, as last loaded.
    fingerprint: Mutex<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub loaded_at: i64,
    pub last_error: Option<String>,
}

impl PolicyStore {
    /// Loads the policy at `path`, or the embedded one. Any error here stops
    /// the process: chaperone never starts on a policy it cannot read.
    pub fn load(path: Option<PathBuf>, ctx: CompileContext) -> Result<Self, PolicyError> {
        let policy = load_policy(path.as_ref(), &ctx)?;
        publish_info(&policy);
        let loaded_at = ctx.clock.now_unix();
        let fingerprint = Mutex::new(inputs_fingerprint(path.as_ref(), &policy));
        Ok(Self {
            fingerprint,
            current: ArcSwap::from_pointee(policy),
            path,
            ctx,
            status: Mutex::new(ReloadStatus {
                loaded_at,
                last_error: None,
            }),
        })
    }

    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// A cheap borrow of the policy in force, for the hot path.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Policy>> {
        self.current.load()
    }

    pub fn path(&self) -> Option<&PathBuf> {
        self.path.as_ref()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads and swaps the policy. `Ok(false)` when the content did not change.
    pub fn reload(&self, trigger: &'static str) -> Result<bool, PolicyError> {
        let result = load_policy(self.path.as_ref(), &self.ctx);
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(policy) => {
                let fp = inputs_fingerprint(self.path.as_ref(), &policy);
                let mut last = self
                    .fingerprint
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let changed = fp != *last;
                *last = fp;
                drop(last);
                if changed {
                    tracing::info!(trigger, version = %policy.version, hash = %policy.hash, "policy reloaded");
                    publish_info(&policy);
                    prefetch_keys(&policy);
                    self.current.store(Arc::new(policy));
                    status.loaded_at = self.ctx.clock.now_unix();
                }
                status.last_error = None;
                metrics::get()
                    .policy_reloads
                    .with_label_values(&["ok"])
                    .inc();
                Ok(changed)
            }
            Err(e) => {
                tracing::error!(trigger, error = %e, "policy reload rejected; the previous policy keeps serving");
                status.last_error = Some(e.to_string());
                metrics::get()
                    .policy_reloads
                    .with_label_values(&["error"])
                    .inc();
                Err(e)
            }
        }
    }

    /// Polls the policy file and reloads when its bytes change. Polling sees a
    /// Kubernetes ConfigMap's symlink swap as readily as an in-place write.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        if self.path.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || {
                let now = inputs_fingerprint(this.path.as_ref(), &this.current());
                let last = this
                    .fingerprint
                    .lock()
                    .map(|g| g.clone())
                    .unwrap_or_default();
                if now != last {
                    let _ = this.reload("file");
                }
            })
            .await;
        }
    }
}

/// A hash over the policy file's bytes and those of every file the policy
/// read (JWKS files), so that a rotated key file reloads the policy too.
fn inputs_fingerprint(path: Option<&PathBuf>, policy: &Policy) -> String {
    let mut all = String::new();
    for p in path.into_iter().chain(policy.files.iter()) {
        match std::fs::read(p) {
            Ok(bytes) => all.push_str(&sha256_hex(&bytes)),
            Err(_) => all.push_str("missing"),
        }
    }
    if path.is_none() {
        all.push_str(&policy.hash);
    }
    sha256_hex(all.as_bytes())
}

fn load_policy(path: Option<&PathBuf>, ctx: &CompileContext) -> Result<Policy, PolicyError> {
    match path {
        None => compile("embedded", None, EMBEDDED_POLICY.as_bytes(), ctx),
        Some(p) => {
            let origin = p.display().to_string();
            let bytes = read_bounded(p).map_err(|message| PolicyError {
                origin: origin.clone(),
                location: None,
                message,
            })?;
            compile(&origin, p.parent(), &bytes, ctx)
        }
    }
}

fn read_bounded(path: &PathBuf) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(format!("policy is larger than {MAX_POLICY_BYTES} bytes"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

fn publish_info(policy: &Policy) {
    let m = metrics::get();
    m.policy_info.reset();
    m.policy_info
        .with_label_values(&[&policy.version, &policy.hash[..12]])
        .set(1);
}

/// Starts fetching every remote JWKS in the background so the first request
/// does not wait for it. Needs a running Tokio runtime.
pub fn prefetch_keys(policy: &Policy) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    for issuer in policy.verifier.issuers() {
        if let KeySource::Remote(remote) = &issuer.keys {
            let remote = Arc::clone(remote);
            tokio::spawn(async move { remote.refresh(0, true).await });
        }
    }
}
