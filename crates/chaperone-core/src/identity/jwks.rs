//! JSON Web Key Sets: from a file (fixed until the policy reloads) or from a
//! URL (cached; refetched once for an unknown `kid`, with concurrent fetches
//! collapsed into one; the last good keys kept when a fetch fails).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Fetches a remote key set's bytes. The core never speaks HTTP: the edge
/// hands in a client (an HTTP GET with `accept: application/json`, status
/// 2xx, the body at most `max_bytes`) and learns of every failed fetch.
pub trait JwksFetcher: Send + Sync + std::fmt::Debug {
    /// The body at `url`, or why not ([`JwksError::Fetch`], [`JwksError::TooLarge`]).
    fn get<'a>(
        &'a self,
        url: &'a str,
        max_bytes: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>>;

    /// Told of each fetch that brought no usable key set (the last good
    /// keys stay), for the edge to count.
    fn failed(&self, _error: &JwksError) {}
}

/// A fetcher for where no remote key set is ever fetched (offline checks):
/// every fetch fails, so a token only a remote key would verify is refused.
#[derive(Debug, Default)]
pub struct NoFetch;

impl JwksFetcher for NoFetch {
    fn get<'a>(
        &'a self,
        _url: &'a str,
        _max_bytes: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>> {
        Box::pin(async { Err(JwksError::Fetch("no HTTP client here".to_owned())) })
    }
}

/// Largest JWKS document we accept.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Most keys we keep from one JWKS.
const MAX_KEYS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS is not valid JSON with a \"keys\" array: {0}")]
    Parse(String),
    #[error("JWKS holds no usable signing key")]
    NoKeys,
    #[error("JWKS fetch failed: {0}")]
    Fetch(String),
    #[error("JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
}

/// One verification key.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The algorithm the JWKS pinned the key to, if any.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
    family: KeyFamily,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Ec,
    Rsa,
    Okp,
}

fn family_of(alg: Algorithm) -> Option<KeyFamily> {
    use Algorithm::*;
    match alg {
        ES256 | ES384 => Some(KeyFamily::Ec),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(KeyFamily::Rsa),
        EdDSA => Some(KeyFamily::Okp),
        _ => None,
    }
}

/// A SHA-256 of a JWK, its members in name order whatever order the file
/// wrote them in.
fn fingerprint(jwk: &serde_json::Value) -> String {
    let mut members: Vec<(&String, String)> = jwk
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k, v.to_string())).collect())
        .unwrap_or_default();
    members.sort_unstable();
    let canonical: Vec<String> = members.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
    crate::secret::sha256_hex(canonical.join(",").as_bytes())
}

/// A parsed key set.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
    /// Per key accepted, a SHA-256 of its JWK (members in name order),
    /// sorted: which keys two sets trust can be compared without showing any.
    fingerprints: Vec<String>,
}

impl KeySet {
    /// Parses a JWKS document. Keys that are not public signature keys of a
    /// supported type are skipped; a set with none left is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Parse(e.to_string()))?;
        let mut keys = Vec::new();
        let mut fingerprints = Vec::new();
        for value in doc.keys.into_iter().take(MAX_KEYS) {
            let fingerprint = fingerprint(&value);
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let family = match jwk.algorithm {
                AlgorithmParameters::EllipticCurve(_) => KeyFamily::Ec,
                AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
                AlgorithmParameters::OctetKeyPair(_) => KeyFamily::Okp,
                // Symmetric keys are never accepted: a published secret is no secret.
                _ => continue,
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            keys.push(VerifyKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
                family,
            });
            fingerprints.push(fingerprint);
        }
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        fingerprints.sort_unstable();
        Ok(Self { keys, fingerprints })
    }

    /// See the field: one per key, sorted.
    pub fn fingerprints(&self) -> &[String] {
        &self.fingerprints
    }

    /// The key for a token header: by `kid` when the token names one, else the
    /// only key that fits the algorithm.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&VerifyKey> {
        let family = family_of(alg)?;
        let fits = |k: &&VerifyKey| k.family == family && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(fits)
                .find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let mut it = self.keys.iter().filter(fits);
                let first = it.next();
                if it.next().is_some() { None } else { first }
            }
        }
    }

    /// Every key that may have made a signature whose header names `kid`
    /// and `alg`: those with that `kid`, and those with none (a PEM key).
    pub fn candidates<'a>(
        &'a self,
        kid: &'a str,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a VerifyKey> + 'a {
        let family = family_of(alg);
        self.keys.iter().filter(move |k| {
            Some(k.family) == family
                && k.alg.is_none_or(|a| a == alg)
                && k.kid.as_deref().is_none_or(|k| k == kid)
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Why no key could be had for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookupError {
    /// Keys are known, but none fits the token's `kid` and `alg`.
    UnknownKey,
    /// No keys were ever fetched successfully.
    Unavailable,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Static(Arc<KeySet>),
    Remote(Arc<RemoteJwks>),
}

impl KeySource {
    pub async fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<VerifyKey, KeyLookupError> {
        match self {
            KeySource::Static(set) => set
                .find(kid, alg)
                .cloned()
                .ok_or(KeyLookupError::UnknownKey),
            KeySource::Remote(remote) => remote.find(kid, alg).await,
        }
    }
}

/// Tunables for a remote key set.
#[derive(Debug, Clone, Copy)]
pub struct RemoteJwksSettings {
    /// After this age, keys are refreshed in the background.
    pub max_age: Duration,
    /// An unknown `kid` triggers at most one fetch per this interval.
    pub min_refetch_interval: Duration,
    pub timeout: Duration,
}

impl Default for RemoteJwksSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A JWKS fetched from a URL and cached.
#[derive(Debug)]
pub struct RemoteJwks {
    url: String,
    client: Arc<dyn JwksFetcher>,
    settings: RemoteJwksSettings,
    keys: ArcSwapOption<(KeySet, Instant)>,
    /// Bumped after each fetch attempt; lets waiters see that a fetch they
    /// queued behind already happened.
    generation: AtomicU64,
    fetch_lock: Mutex<Option<Instant>>,
}

impl RemoteJwks {
    pub fn new(
        url: String,
        client: Arc<dyn JwksFetcher>,
        settings: RemoteJwksSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            url,
            client,
            settings,
            keys: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            fetch_lock: Mutex::new(None),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn settings(&self) -> RemoteJwksSettings {
        self.settings
    }

    pub async fn find(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<VerifyKey, KeyLookupError> {
        let seen = self.generation.load(Ordering::Acquire);
        if let Some(current) = self.keys.load_full() {
            if current.1.elapsed() > self.settings.max_age {
                let this = Arc::clone(self);
                tokio::spawn(async move { this.refresh(seen, true).await });
            }
            if let Some(key) = current.0.find(kid, alg) {
                return Ok(key.clone());
            }
        }
        self.refresh(seen, false).await;
        match self.keys.load_full() {
            Some(current) => current
                .0
                .find(kid, alg)
                .cloned()
                .ok_or(KeyLookupError::UnknownKey),
            None => Err(KeyLookupError::Unavailable),
        }
    }

    /// Fetches the key set unless another caller fetched since `seen`, or a
    /// fetch happened too recently. Failures keep the last good keys.
    pub async fn refresh(&self, seen: u64, force_interval_ok: bool) {
        let mut last_attempt = self.fetch_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if !force_interval_ok
            && let Some(at) = *last_attempt
            && at.elapsed() < self.settings.min_refetch_interval
        {
            return;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                tracing::info!(url = %self.url, keys = set.len(), "JWKS fetched");
                self.keys.store(Some(Arc::new((set, Instant::now()))));
            }
            Err(error) => {
                self.client.failed(&error);
                tracing::warn!(url = %self.url, %error, "JWKS fetch failed; keeping the last good keys");
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let fetch = async {
            let body = self.client.get(&self.url, MAX_JWKS_BYTES).await?;
            KeySet::parse(&body)
        };
        tokio::time::timeout(self.settings.timeout, fetch)
            .await
            .map_err(|_| JwksError::Fetch("timed out".to_owned()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn parses_and_finds_by_kid_and_alg() {
        let doc = format!(
            r#"{{"keys":[{EC_JWK},{{"kty":"oct","k":"c2VjcmV0","kid":"h"}},{{"kty":"weird"}}]}}"#
        );
        let set = KeySet::parse(doc.as_bytes()).unwrap();
        assert_eq!(set.len(), 1, "symmetric and unknown keys are skipped");
        assert!(set.find(Some("k1"), Algorithm::ES256).is_some());
        assert!(set.find(Some("k2"), Algorithm::ES256).is_none());
        assert!(
            set.find(Some("k1"), Algorithm::RS256).is_none(),
            "wrong family"
        );
        assert!(
            set.find(Some("k1"), Algorithm::ES384).is_none(),
            "alg pinned by the JWK"
        );
        assert!(
            set.find(None, Algorithm::ES256).is_some(),
            "the only fitting key"
        );
        assert!(
            set.find(Some("h"), Algorithm::HS256).is_none(),
            "never HMAC"
        );
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(matches!(KeySet::parse(b"nope"), Err(JwksError::Parse(_))));
        assert!(matches!(
            KeySet::parse(br#"{"keys":[]}"#),
            Err(JwksError::NoKeys)
        ));
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(matches!(KeySet::parse(&big), Err(JwksError::TooLarge)));
    }
}
