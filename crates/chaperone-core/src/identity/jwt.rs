//! End-user JWT verification.
//!
//! The token is checked in an order that rejects cheap things cheaply:
//! size and shape, header (`alg` on the issuer's allow-list, no `crit`), the
//! issuer named by `iss`, then the signature with a key from that issuer's
//! JWKS, then the registered claims against an injected clock.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::{KeyLookupError, KeySource};
use crate::clock::SharedClock;

/// Longest bearer token we look at.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
const MAX_HEADER_BYTES: usize = 1024;

/// An identity provider whose end-user tokens we accept.
#[derive(Debug)]
pub struct Issuer {
    /// The policy's name for it.
    pub name: Arc<str>,
    /// The `iss` value.
    pub iss: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
}

/// A verified end user.
#[derive(Debug, Clone)]
pub struct User {
    pub issuer: Arc<str>,
    pub sub: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub exp: i64,
    /// Every claim, for conditions.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Why a token was refused. The code goes to logs and metrics; nothing here
/// carries any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("token algorithm is not allowed for this issuer")]
    AlgorithmNotAllowed,
    #[error("token header has critical extensions")]
    CriticalHeader,
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    #[error("no key of the issuer matches the token")]
    UnknownKey,
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token lacks a required claim")]
    MissingClaim,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::TooLarge => "token_too_large",
            TokenError::Malformed => "token_malformed",
            TokenError::AlgorithmNotAllowed => "token_alg_not_allowed",
            TokenError::CriticalHeader => "token_crit_header",
            TokenError::UnknownIssuer => "token_unknown_issuer",
            TokenError::UnknownKey => "token_unknown_key",
            TokenError::KeysUnavailable => "token_keys_unavailable",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::IssuedInFuture => "token_issued_in_future",
            TokenError::WrongAudience => "token_wrong_audience",
            TokenError::MissingClaim => "token_missing_claim",
        }
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// What is read before the signature: `iss` to choose the keys, and the
/// time claims, so that a token already expired (or not yet valid) is refused
/// without a signature check or a key fetch. Either way it is refused; this
/// only keeps replayed stale tokens cheap.
#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    aud: Option<OneOrMany>,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// Verifies bearer tokens against a set of issuers.
#[derive(Debug)]
pub struct Verifier {
    issuers: Vec<Arc<Issuer>>,
    clock: SharedClock,
    cache: VerifiedCache,
}

/// Tokens verified recently, so a caller's next requests skip the signature
/// check. Keyed by a keyed hash of the token (never the token itself), with
/// a key that never leaves the process; an entry lives no longer than the
/// token's `exp` nor than [`CACHE_TTL`]; the cache belongs to one policy
/// snapshot, so a policy change drops it. Bounded, with S3-FIFO eviction:
/// a token seen once (a scan, a flood of made-up tokens) does not push out
/// those in steady use.
struct VerifiedCache {
    key: crate::secret::HashKey,
    entries: quick_cache::sync::Cache<[u8; 16], Arc<(User, i64)>>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedCache(..)")
    }
}

/// Tokens remembered unless the settings say otherwise.
pub const DEFAULT_CACHE_ENTRIES: usize = 20_000;
/// Longest a verification is remembered, in seconds.
const CACHE_TTL: i64 = 300;

/// Whether a verification came from the cache, for the edge to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Miss,
}

fn decode_part(part: &str, max: usize) -> Result<Vec<u8>, TokenError> {
    if part.len() > max {
        return Err(TokenError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

impl Verifier {
    pub fn new(issuers: Vec<Arc<Issuer>>, clock: SharedClock) -> Self {
        Self::with_cache(issuers, clock, DEFAULT_CACHE_ENTRIES)
    }

    /// A verifier that remembers at most `entries` verified tokens (at
    /// least one).
    pub fn with_cache(issuers: Vec<Arc<Issuer>>, clock: SharedClock, entries: usize) -> Self {
        Self {
            issuers,
            clock,
            cache: VerifiedCache {
                key: crate::secret::HashKey::ephemeral(),
                entries: quick_cache::sync::Cache::new(entries.max(1)),
            },
        }
    }

    /// Tokens remembered now.
    pub fn cached(&self) -> usize {
        self.cache.entries.len()
    }

    pub fn issuers(&self) -> &[Arc<Issuer>] {
        &self.issuers
    }

    /// Verifies a token, from the cache when it was verified recently.
    pub async fn verify(&self, token: &str) -> Result<User, TokenError> {
        self.verify_noting(token).await.map(|(user, _)| user)
    }

    /// Verifies a token, and says whether the cache answered.
    pub async fn verify_noting(&self, token: &str) -> Result<(User, CacheUse), TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let now = self.clock.now_unix();
        let slot = self.cache.key.digest("token", token.as_bytes());
        if let Some(entry) = self.cache.entries.get(&slot) {
            if now <= entry.1 {
                return Ok((entry.0.clone(), CacheUse::Hit));
            }
            self.cache.entries.remove(&slot);
        }
        let user = self.verify_uncached(token).await?;
        let leeway = self
            .issuers
            .iter()
            .find(|i| i.name == user.issuer)
            .map_or(0, |i| i.leeway);
        let until = user
            .exp
            .saturating_add(leeway)
            .min(now.saturating_add(CACHE_TTL));
        self.cache
            .entries
            .insert(slot, Arc::new((user.clone(), until)));
        Ok((user, CacheUse::Miss))
    }

    async fn verify_uncached(&self, token: &str) -> Result<User, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(_s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: RawHeader = serde_json::from_slice(&decode_part(h, MAX_HEADER_BYTES)?)
            .map_err(|_| TokenError::Malformed)?;
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        // Which issuer: by `iss`, read before the signature only to choose
        // keys; and the time claims, only to refuse early.
        let unverified: Unverified = serde_json::from_slice(&decode_part(p, MAX_TOKEN_BYTES)?)
            .map_err(|_| TokenError::Malformed)?;
        let iss = unverified.iss.ok_or(TokenError::MissingClaim)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.iss == iss)
            .ok_or(TokenError::UnknownIssuer)?;
        let now = self.clock.now_unix();
        if let Some(exp) = unverified.exp.as_ref().and_then(serde_json::Value::as_i64)
            && now > exp.saturating_add(issuer.leeway)
        {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = unverified.nbf.as_ref().and_then(serde_json::Value::as_i64)
            && now.saturating_add(issuer.leeway) < nbf
        {
            return Err(TokenError::NotYetValid);
        }
        let alg = issuer
            .algorithms
            .iter()
            .copied()
            .find(|a| alg_name(*a) == header.alg)
            .ok_or(TokenError::AlgorithmNotAllowed)?;
        let key = issuer
            .keys
            .find(header.kid.as_deref(), alg)
            .await
            .map_err(|e| match e {
                KeyLookupError::UnknownKey => TokenError::UnknownKey,
                KeyLookupError::Unavailable => TokenError::KeysUnavailable,
            })?;

        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_) => TokenError::BadSignature,
                ErrorKind::Json(_) => TokenError::MissingClaim,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        if claims.iss != issuer.iss {
            return Err(TokenError::UnknownIssuer);
        }
        if now > claims.exp.saturating_add(issuer.leeway) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(issuer.leeway) < nbf
        {
            return Err(TokenError::NotYetValid);
        }
        if let Some(iat) = claims.iat
            && now.saturating_add(issuer.leeway) < iat
        {
            return Err(TokenError::IssuedInFuture);
        }
        let audience_ok = match &claims.aud {
            Some(OneOrMany::One(a)) => issuer.audiences.iter().any(|x| x == a),
            Some(OneOrMany::Many(list)) => list.iter().any(|a| issuer.audiences.contains(a)),
            None => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        let scopes = scopes_of(&claims.rest);
        let mut all = claims.rest;
        all.insert("iss".into(), claims.iss.into());
        all.insert("sub".into(), claims.sub.clone().into());
        all.insert("exp".into(), claims.exp.into());
        Ok(User {
            issuer: Arc::clone(&issuer.name),
            sub: claims.sub,
            scopes,
            exp: claims.exp,
            claims: all,
        })
    }
}

/// `scope` (space-separated, RFC 8693) or `scp` (an array, as some IdPs send).
fn scopes_of(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(serde_json::Value::String(s)), _) => {
            s.split_whitespace().map(str::to_owned).collect()
        }
        (_, Some(serde_json::Value::Array(a))) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// Asymmetric algorithms a policy may allow. HMAC is refused: a verifier that
/// holds only public keys must never accept a MAC keyed with one.
pub fn parse_allowed_alg(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    [
        ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA,
    ]
    .into_iter()
    .find(|a| alg_name(*a) == name)
}
