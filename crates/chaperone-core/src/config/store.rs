//! The policy in force, and the one path that replaces it.
//!
//! File changes, SIGHUP and the admin Reload all end in the one reload of
//! [`crate::reload::Reloadable`]: read, parse, validate, compile, then swap
//! atomically. A bad policy at runtime keeps the old one and says so.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::bundle::{self, MAX_BUNDLE_BYTES, TrustedKeys};
use super::compile::{CompileContext, MAX_POLICY_BYTES, PolicyError, compile};
use super::files::{Dir, FileError, PolicyFiles as _};
use crate::identity::jwks::KeySource;
use crate::policy::Policy;
use crate::reload::{Reloadable, Source};
use crate::secret::sha256_hex;

/// The policy chaperone runs on when given none: the demo's hops only. See
/// `docs/policy.md`.
pub const EMBEDDED_POLICY: &str = include_str!("default-policy.yaml");

/// The policy in force: [`Reloadable`] over the policy file.
pub type PolicyStore = Reloadable<PolicySource>;

/// The policy file, a signed bundle, or the embedded policy, and what
/// compiling it needs.
#[derive(Debug)]
pub struct PolicySource {
    path: Option<PathBuf>,
    bundle: Option<BundleInput>,
    ctx: CompileContext,
}

/// Where signed bundles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleFrom {
    /// A file (a mounted volume), read at every (re)load.
    File(PathBuf),
    /// An HTTP(S) URL the edge polls; it hands each bundle it fetches to
    /// [`PolicyStore::offer_bundle`].
    Url(String),
}

#[derive(Debug)]
struct BundleInput {
    from: BundleFrom,
    /// How the source is named in messages and `Policy::source`.
    shown: String,
    keys: TrustedKeys,
    /// From a URL: the last bundle fetched.
    fetched: Mutex<Option<Arc<Vec<u8>>>>,
    /// Which check refused the last bundle, until asked.
    refused: Mutex<Option<&'static str>>,
}

/// A URL as logs and statuses may show it: no user information, query or
/// fragment, which may hold a credential.
pub fn shown_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

impl Source for PolicySource {
    type Value = Policy;
    type Error = PolicyError;
    const WHAT: &'static str = "policy";
    const LABEL: &'static str = "policy";
    const REJECTED: &'static str = "policy reload rejected; the previous policy keeps serving";

    fn load(&self) -> Result<(Policy, String), PolicyError> {
        if let Some(bundle) = &self.bundle {
            let result = load_bundle(bundle, &self.ctx);
            *bundle
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner) =
                result.as_ref().err().map(|(stage, _)| *stage);
            return result.map_err(|(_, e)| e);
        }
        let policy = load_policy(self.path.as_ref(), &self.ctx)?;
        let fingerprint = inputs_fingerprint(self.path.as_ref(), &policy);
        Ok((policy, fingerprint))
    }

    /// Polling sees a Kubernetes ConfigMap's symlink swap as readily as an
    /// in-place write; a rotated JWKS file the policy read counts too.
    /// The embedded policy never changes.
    fn fixed(&self) -> bool {
        self.path.is_none() && self.bundle.is_none()
    }

    /// A bundle file's bytes as they are now; a URL's bundle changes only
    /// when the edge fetches a new one and reloads.
    fn fingerprint(&self, current: &Policy) -> String {
        match &self.bundle {
            Some(BundleInput {
                from: BundleFrom::File(path),
                ..
            }) => Dir(None)
                .read(&path.display().to_string(), MAX_BUNDLE_BYTES as u64)
                .map_or_else(|_| "missing".to_owned(), |b| sha256_hex(&b)),
            Some(_) => current
                .bundle
                .as_ref()
                .map(|b| b.digest.clone())
                .unwrap_or_default(),
            None => inputs_fingerprint(self.path.as_ref(), current),
        }
    }

    fn installed(&self, policy: &Policy, trigger: Option<&'static str>) {
        if let Some(trigger) = trigger {
            let signer = policy.bundle.as_ref().map_or("-", |b| &b.signer);
            tracing::info!(trigger, version = %policy.version, hash = %policy.hash, signer, "policy reloaded");
        }
        prefetch_keys(policy);
    }

    fn refusal(&self) -> Option<&'static str> {
        self.bundle.as_ref().and_then(|b| {
            b.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        })
    }
}

/// Reads, verifies and compiles a bundle; on failure, which check refused it
/// (`signature`, `integrity`, `format`, `policy`) and why.
fn load_bundle(
    bundle: &BundleInput,
    ctx: &CompileContext,
) -> Result<(Policy, String), (&'static str, PolicyError)> {
    let refuse = |stage: &'static str, message: String| {
        (
            stage,
            PolicyError {
                origin: bundle.shown.clone(),
                location: None,
                message,
            },
        )
    };
    let bytes = match &bundle.from {
        BundleFrom::File(path) => Arc::new(
            Dir(None)
                .read(&path.display().to_string(), MAX_BUNDLE_BYTES as u64)
                .map_err(|e| match e {
                    FileError::Io(e) => refuse("read", e),
                    FileError::NotAFile => refuse("read", "not a regular file".to_owned()),
                    FileError::TooLarge => {
                        refuse("format", bundle::BundleError::TooLarge.to_string())
                    }
                })?,
        ),
        BundleFrom::Url(_) => bundle
            .fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| refuse("fetch", "no bundle fetched yet".to_owned()))?,
    };
    let opened =
        bundle::open(&bytes, &bundle.keys).map_err(|e| refuse(e.stage(), e.to_string()))?;
    let policy = bundle::compile_opened(&opened, &bundle.shown, ctx).map_err(|e| ("policy", e))?;
    Ok((policy, opened.digest))
}

impl Reloadable<PolicySource> {
    /// Loads the policy at `path`, or the embedded one. Any error here stops
    /// the process: chaperone never starts on a policy it cannot read.
    pub fn open(path: Option<PathBuf>, ctx: CompileContext) -> Result<Self, PolicyError> {
        let clock = ctx.clock.clone();
        Self::load(
            PolicySource {
                path,
                bundle: None,
                ctx,
            },
            clock,
        )
    }

    /// Loads the policy from a signed bundle, verified with `keys`. From a
    /// URL, `first` is the bundle already fetched. Any error here stops the
    /// process, as for a policy file.
    pub fn open_bundle(
        from: BundleFrom,
        keys: TrustedKeys,
        first: Option<Vec<u8>>,
        ctx: CompileContext,
    ) -> Result<Self, PolicyError> {
        let clock = ctx.clock.clone();
        let shown = match &from {
            BundleFrom::File(path) => path.display().to_string(),
            BundleFrom::Url(url) => shown_url(url),
        };
        let source = PolicySource {
            path: None,
            bundle: Some(BundleInput {
                from,
                shown,
                keys,
                fetched: Mutex::new(first.map(Arc::new)),
                refused: Mutex::new(None),
            }),
            ctx,
        };
        Self::load(source, clock)
    }

    /// Hands in a bundle fetched from the URL; the next reload verifies it.
    pub fn offer_bundle(&self, bytes: Vec<u8>) {
        if let Some(bundle) = &self.source().bundle {
            *bundle
                .fetched
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(bytes));
        }
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
