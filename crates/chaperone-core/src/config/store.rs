//! The policy in force, and the one path that replaces it.
//!
//! File changes, SIGHUP and the admin Reload all end in the one reload of
//! [`crate::reload::Reloadable`]: read, parse, validate, compile, then swap
//! atomically. A bad policy at runtime keeps the old one and says so.

use std::path::PathBuf;
use std::sync::Arc;

use super::compile::{CompileContext, MAX_POLICY_BYTES, PolicyError, compile};
use crate::identity::jwks::KeySource;
use crate::policy::Policy;
use crate::reload::{Reloadable, Source};
use crate::secret::sha256_hex;

/// The policy chaperone runs on when given none: the demo's hops only. See
/// `docs/policy.md`.
pub const EMBEDDED_POLICY: &str = include_str!("default-policy.yaml");

/// The policy in force: [`Reloadable`] over the policy file.
pub type PolicyStore = Reloadable<PolicySource>;

/// The policy file (or the embedded policy) and what compiling it needs.
#[derive(Debug)]
pub struct PolicySource {
    path: Option<PathBuf>,
    ctx: CompileContext,
}

impl Source for PolicySource {
    type Value = Policy;
    type Error = PolicyError;
    const WHAT: &'static str = "policy";
    const LABEL: &'static str = "policy";
    const REJECTED: &'static str = "policy reload rejected; the previous policy keeps serving";

    fn load(&self) -> Result<(Policy, String), PolicyError> {
        let policy = load_policy(self.path.as_ref(), &self.ctx)?;
        let fingerprint = inputs_fingerprint(self.path.as_ref(), &policy);
        Ok((policy, fingerprint))
    }

    /// Polling sees a Kubernetes ConfigMap's symlink swap as readily as an
    /// in-place write; a rotated JWKS file the policy read counts too.
    /// The embedded policy never changes.
    fn fixed(&self) -> bool {
        self.path.is_none()
    }

    fn fingerprint(&self, current: &Policy) -> String {
        inputs_fingerprint(self.path.as_ref(), current)
    }

    fn installed(&self, policy: &Policy, trigger: Option<&'static str>) {
        if let Some(trigger) = trigger {
            tracing::info!(trigger, version = %policy.version, hash = %policy.hash, "policy reloaded");
        }
        prefetch_keys(policy);
    }
}

impl Reloadable<PolicySource> {
    /// Loads the policy at `path`, or the embedded one. Any error here stops
    /// the process: chaperone never starts on a policy it cannot read.
    pub fn open(path: Option<PathBuf>, ctx: CompileContext) -> Result<Self, PolicyError> {
        let clock = ctx.clock.clone();
        Self::load(PolicySource { path, ctx }, clock)
    }

    pub fn path(&self) -> Option<&PathBuf> {
        self.source().path.as_ref()
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
