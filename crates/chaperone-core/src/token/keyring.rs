//! The keys chaperone signs with and publishes. They come from a directory
//! (a Kubernetes Secret mount): every `<kid>.pem` in it is published, and the
//! key named by the file `active-kid` signs (with a single key, that one).
//! A rotation is three edits of that directory: add the new key (published,
//! not yet signing), point `active-kid` at it once verifiers have fetched it,
//! remove the old key once its last tokens have expired. The directory is
//! re-read when it changes; with no directory, one ephemeral key.

use std::path::PathBuf;
use std::sync::Arc;

use super::keys::{KeyError, KeyKind, SigningKey, jwks_document, self_test};
use crate::clock::SystemClock;
use crate::identity::jwks::KeySet;
use crate::reload::{Reloadable, Source};
use crate::secret::sha256_hex;

/// One immutable generation of keys.
#[derive(Debug)]
pub struct KeyRing {
    signer: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
    verify: KeySet,
    jwks: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("signing key {path}: {reason}")]
    File { path: String, reason: String },
    #[error("signing keys: two files give the kid {0:?}")]
    DuplicateKid(String),
    #[error("signing keys {dir}: {reason}")]
    Dir { dir: String, reason: String },
    #[error("signing keys: {0}")]
    Key(#[from] KeyError),
}

impl KeyRing {
    /// The first key signs; all are published.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyRingError> {
        let mut published: Vec<Arc<SigningKey>> = Vec::with_capacity(keys.len());
        for key in keys {
            if published.iter().any(|k| k.kid == key.kid) {
                return Err(KeyRingError::DuplicateKid(key.kid));
            }
            published.push(Arc::new(key));
        }
        let signer = Arc::clone(published.first().ok_or(KeyError::Generate)?);
        let doc = jwks_document(published.iter().map(|k| &**k));
        let jwks = doc.to_string();
        let verify = KeySet::parse(jwks.as_bytes()).map_err(|_| KeyError::Unsupported)?;
        Ok(Self {
            signer,
            published,
            verify,
            jwks,
        })
    }

    pub fn ephemeral() -> Result<Self, KeyRingError> {
        let kid = format!("ephemeral-{}", &crate::secret::random_id()[..8]);
        Self::new(vec![SigningKey::generate(KeyKind::Es256, &kid)?])
    }

    pub fn signer(&self) -> &SigningKey {
        &self.signer
    }

    pub fn verify_keys(&self) -> &KeySet {
        &self.verify
    }

    /// The JWKS document of every published key.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    pub fn kids(&self) -> Vec<&str> {
        self.published.iter().map(|k| k.kid.as_str()).collect()
    }
}

/// The key ring in force: [`Reloadable`] over the key directory, swapped
/// atomically when the key files change.
pub type KeyStore = Reloadable<KeyDir>;

/// The key directory, or none (one ephemeral key, never reloaded).
#[derive(Debug)]
pub struct KeyDir(Option<PathBuf>);

impl Source for KeyDir {
    type Value = KeyRing;
    type Error = KeyRingError;
    const WHAT: &'static str = "signing keys";
    const LABEL: &'static str = "keys";
    const REJECTED: &'static str = "signing key reload rejected; the previous keys stay in force";

    fn load(&self) -> Result<(KeyRing, String), KeyRingError> {
        match &self.0 {
            None => Ok((KeyRing::ephemeral()?, String::new())),
            Some(d) => read_dir(d),
        }
    }

    /// An ephemeral key lives and dies with the process.
    fn fixed(&self) -> bool {
        self.0.is_none()
    }

    fn fingerprint(&self, _current: &KeyRing) -> String {
        let Some(dir) = self.0.as_ref() else {
            return String::new();
        };
        match listing(dir) {
            Ok((paths, active)) => {
                let mut fingerprint = active.unwrap_or_default();
                for path in &paths {
                    match std::fs::read(path) {
                        Ok(pem) => fingerprint.push_str(&sha256_hex(&pem)),
                        Err(_) => fingerprint.push_str("unreadable"),
                    }
                }
                fingerprint
            }
            Err(_) => "unreadable".to_owned(),
        }
    }

    fn installed(&self, ring: &KeyRing, trigger: Option<&'static str>) {
        if let Some(trigger) = trigger {
            tracing::info!(trigger, signer = %ring.signer().kid, published = ?ring.kids(), "signing keys reloaded");
        }
    }
}

impl Reloadable<KeyDir> {
    /// Loads the key directory, or makes an ephemeral key when none is given.
    pub fn open(dir: Option<PathBuf>) -> Result<Self, KeyRingError> {
        Self::load(KeyDir(dir), Arc::new(SystemClock))
    }

    pub fn from_ring(ring: KeyRing) -> Self {
        Self::with(KeyDir(None), ring, String::new(), Arc::new(SystemClock))
    }

    pub fn is_ephemeral(&self) -> bool {
        self.source().0.is_none()
    }
}

/// The file naming the signing key's kid.
pub const ACTIVE_KID_FILE: &str = "active-kid";

fn dir_err(dir: &std::path::Path, reason: String) -> KeyRingError {
    KeyRingError::Dir {
        dir: dir.display().to_string(),
        reason,
    }
}

/// The key files in `dir`, sorted, and the kid `active-kid` names.
fn listing(dir: &std::path::Path) -> Result<(Vec<PathBuf>, Option<String>), KeyRingError> {
    let dir_err = |reason: String| dir_err(dir, reason);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| dir_err(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        // Kubernetes' `..data` links and other hidden entries are not keys.
        .filter(|p| {
            p.extension().is_some_and(|x| x == "pem")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(dir_err("no <kid>.pem key in it".into()));
    }
    if paths.len() > 16 {
        return Err(dir_err("more than 16 keys".into()));
    }
    let active = match std::fs::read_to_string(dir.join(ACTIVE_KID_FILE)) {
        Ok(s) => Some(s.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(dir_err(format!("{ACTIVE_KID_FILE}: {e}"))),
    };
    Ok((paths, active))
}

fn read_dir(dir: &std::path::Path) -> Result<(KeyRing, String), KeyRingError> {
    let dir_err = |reason: String| dir_err(dir, reason);
    let (paths, active) = listing(dir)?;
    let mut keys = Vec::with_capacity(paths.len());
    let mut fingerprint = active.clone().unwrap_or_default();
    for path in &paths {
        let err = |reason: String| KeyRingError::File {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        fingerprint.push_str(&sha256_hex(pem.as_bytes()));
        let kid = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| err("no file name to take the kid from".into()))?;
        let key = SigningKey::from_pem(&pem, &kid).map_err(|e| err(e.to_string()))?;
        if !self_test(&key) {
            return Err(err("the key fails a sign-and-verify self test".into()));
        }
        keys.push(key);
    }
    let signer = match &active {
        Some(kid) => keys.iter().position(|k| k.kid == *kid).ok_or_else(|| {
            dir_err(format!(
                "{ACTIVE_KID_FILE} names {kid:?}, and there is no {kid}.pem"
            ))
        })?,
        None if keys.len() == 1 => 0,
        None => {
            return Err(dir_err(format!(
                "several keys and no {ACTIVE_KID_FILE} file to say which signs"
            )));
        }
    };
    keys.swap(0, signer);
    Ok((KeyRing::new(keys)?, fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reload::Outcome;

    fn write_key(dir: &std::path::Path, kid: &str) {
        let key = SigningKey::generate(KeyKind::Es256, kid).unwrap();
        std::fs::write(dir.join(format!("{kid}.pem")), key.to_pem()).unwrap();
    }

    #[test]
    fn rotation_through_the_directory() {
        let dir =
            std::env::temp_dir().join(format!("chaperone-keyring-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_key(&dir, "k1");
        let store = KeyStore::open(Some(dir.clone())).unwrap();
        assert_eq!(store.current().signer().kid, "k1");
        assert_eq!(store.reload("test"), Outcome::Unchanged, "nothing changed");
        assert!(!store.changed());

        // Publish k2 without switching: ambiguous until active-kid says so.
        write_key(&dir, "k2");
        assert!(store.changed());
        assert!(matches!(store.reload("test"), Outcome::Rejected(_)));
        assert_eq!(
            store.current().kids(),
            vec!["k1"],
            "a bad set keeps the old keys"
        );
        std::fs::write(dir.join(ACTIVE_KID_FILE), "k1\n").unwrap();
        assert!(matches!(store.reload("test"), Outcome::Reloaded));
        assert_eq!(store.current().signer().kid, "k1");
        assert_eq!(store.current().kids().len(), 2);
        assert!(store.current().jwks().contains("\"k2\""));

        // Switch the signer, then retire k1.
        std::fs::write(dir.join(ACTIVE_KID_FILE), "k2").unwrap();
        assert!(matches!(store.reload("test"), Outcome::Reloaded));
        assert_eq!(store.current().signer().kid, "k2");
        std::fs::remove_file(dir.join("k1.pem")).unwrap();
        assert!(matches!(store.reload("test"), Outcome::Reloaded));
        assert_eq!(store.current().kids(), vec!["k2"]);

        // An active-kid naming no key is refused.
        std::fs::write(dir.join(ACTIVE_KID_FILE), "k9").unwrap();
        assert!(matches!(store.reload("test"), Outcome::Rejected(_)));
        assert_eq!(store.current().signer().kid, "k2");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_never_prints_key_material() {
        let ring = KeyRing::ephemeral().unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains("PRIVATE"));
        assert!(!shown.contains(&ring.signer().to_pem()[30..60]));
    }
}
