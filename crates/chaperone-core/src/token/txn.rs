//! Transaction Tokens (draft-ietf-oauth-transaction-tokens-10): one short-
//! lived, audience-restricted, scoped JWT per allowed hop.
//!
//! Chaining: when an internal hop arrives with a chaperone token, the next
//! token keeps its `txn`, `sub` and `tctx`, its scope can only narrow, and
//! the chain of requesting workloads is kept as RFC 8693 `act` nesting:
//! `req_wl` names the workload that asked for this token, `act.sub` the one
//! before it, `act.act.sub` the one before that, and so on.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keyring::KeyRing;

/// The JWT `typ` of a Transaction Token.
pub const TXN_TOKEN_TYP: &str = "txntoken+jwt";
/// Most requesting workloads a chain may record.
pub const MAX_CHAIN: usize = 8;

/// How tokens are minted, from the policy's `tokens:` section.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    /// Lower-case header name the token travels in.
    pub header: String,
    pub ttl: Duration,
    pub max_ttl: Duration,
    /// `aud` is the trust domain (as the draft does) instead of the callee.
    pub audience_trust_domain: bool,
}

/// What a hop asks of its token.
#[derive(Debug, Clone, Default)]
pub struct HopToken {
    /// The callee's name for `aud`; the request host when unset.
    pub audience: Option<String>,
    /// The scope the hop needs; `None` inherits the caller's.
    pub scope: Option<Vec<String>>,
    pub ttl: Option<Duration>,
    /// Path parameters to record in `tctx`.
    pub tctx_params: Vec<String>,
    /// Add `rctx` (how the requester authenticated, its address).
    pub rctx: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub txn: String,
    pub sub: String,
    pub scope: String,
    pub req_wl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tctx: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rctx: Option<Map<String, Value>>,
}

impl TxnClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }

    /// Requesting workloads, newest first: `req_wl`, then each `act.sub`.
    pub fn chain(&self) -> Vec<&str> {
        let mut out = vec![self.req_wl.as_str()];
        let mut act = self.act.as_ref();
        while let Some(a) = act {
            if let Some(sub) = a.get("sub").and_then(Value::as_str) {
                out.push(sub);
            }
            act = a.get("act");
        }
        out
    }
}

/// Everything minting needs about the allowed request.
#[derive(Debug)]
pub struct MintRequest<'a> {
    pub hop: &'a str,
    pub hop_token: &'a HopToken,
    /// Host without port: the default audience.
    pub host: &'a str,
    pub trust_domain: &'a str,
    /// The verified chaperone token this request carried, for chaining.
    pub incoming: Option<&'a TxnClaims>,
    /// The end user, when there is one.
    pub user_sub: Option<&'a str>,
    pub user_scopes: &'a [String],
    /// The requesting workload's SPIFFE ID, when there is one.
    pub workload: Option<&'a str>,
    pub path_params: &'a [(String, String)],
    /// The request's id (x-request-id), the transaction id when it is Envoy's.
    pub request_id: Option<&'a str>,
    pub authn: &'static str,
    pub source_ip: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("the chain of requesting workloads is longer than {MAX_CHAIN}")]
    ChainTooLong,
    #[error("signing failed")]
    Sign,
}

/// Builds the claims for a hop's token. Pure: no keys, no clock.
pub fn claims_for(settings: &TokenSettings, req: &MintRequest<'_>) -> Result<TxnClaims, MintError> {
    let ttl = req
        .hop_token
        .ttl
        .unwrap_or(settings.ttl)
        .min(settings.max_ttl);
    let aud = if settings.audience_trust_domain {
        req.trust_domain.to_owned()
    } else {
        req.hop_token
            .audience
            .clone()
            .unwrap_or_else(|| req.host.to_owned())
    };
    let req_wl = req.workload.unwrap_or("edge").to_owned();
    let (txn, sub, scope, act, tctx) = match req.incoming {
        Some(prev) => {
            if prev.chain().len() >= MAX_CHAIN {
                return Err(MintError::ChainTooLong);
            }
            // Scope only narrows: what the hop asks for, within what the caller holds.
            let scope: Vec<&str> = match &req.hop_token.scope {
                Some(wanted) => prev
                    .scopes()
                    .filter(|s| wanted.iter().any(|w| w == s))
                    .collect(),
                None => prev.scopes().collect(),
            };
            let mut act = Map::new();
            act.insert("sub".into(), Value::String(prev.req_wl.clone()));
            if let Some(prev_act) = &prev.act {
                act.insert("act".into(), prev_act.clone());
            }
            (
                prev.txn.clone(),
                prev.sub.clone(),
                scope.join(" "),
                Some(Value::Object(act)),
                prev.tctx.clone(),
            )
        }
        None => {
            let scope = match &req.hop_token.scope {
                Some(wanted) => wanted.join(" "),
                None => req.user_scopes.join(" "),
            };
            let sub = req
                .user_sub
                .or(req.workload)
                .unwrap_or("anonymous")
                .to_owned();
            let mut tctx = Map::new();
            tctx.insert("hop".into(), Value::String(req.hop.to_owned()));
            for name in &req.hop_token.tctx_params {
                if let Some((_, v)) = req.path_params.iter().find(|(k, _)| k == name) {
                    tctx.insert(name.clone(), Value::String(v.clone()));
                }
            }
            (txn_id(req.request_id), sub, scope, None, Some(tctx))
        }
    };
    let rctx = req.hop_token.rctx.then(|| {
        let mut m = Map::new();
        m.insert("authn".into(), Value::String(req.authn.to_owned()));
        if let Some(ip) = req.source_ip {
            m.insert("req_ip".into(), Value::String(ip.to_owned()));
        }
        m
    });
    Ok(TxnClaims {
        iss: settings.issuer.clone(),
        iat: req.now,
        exp: req
            .now
            .saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(60)),
        aud,
        txn,
        sub,
        scope,
        req_wl,
        act,
        tctx,
        rctx,
    })
}

/// Signs claims with the ring's signer.
pub fn sign(ring: &KeyRing, claims: &TxnClaims) -> Result<String, MintError> {
    ring.signer()
        .sign(TXN_TOKEN_TYP, claims)
        .map_err(|_| MintError::Sign)
}

/// The transaction id: the request id when it has the shape Envoy
/// generates (and nothing a detector finds is in it), else a fresh random
/// id. A client's own text (a card number as `x-request-id`, a trace id of
/// its choosing) never becomes a signed claim.
fn txn_id(request_id: Option<&str>) -> String {
    match request_id.filter(|s| crate::request_id::is_envoy_request_id(s)) {
        Some(id) => id.to_owned(),
        None => crate::secret::random_id(),
    }
}

/// Why an incoming chaperone token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("transaction token is malformed")]
    Malformed,
    #[error("transaction token is not signed by a published chaperone key")]
    BadSignature,
    #[error("transaction token has another issuer")]
    WrongIssuer,
    #[error("transaction token has expired")]
    Expired,
    #[error("transaction token is not for this caller")]
    WrongAudience,
}

impl TxnError {
    pub fn code(self) -> &'static str {
        match self {
            TxnError::Malformed => "txn_token_malformed",
            TxnError::BadSignature => "txn_token_bad_signature",
            TxnError::WrongIssuer => "txn_token_wrong_issuer",
            TxnError::Expired => "txn_token_expired",
            TxnError::WrongAudience => "txn_token_wrong_audience",
        }
    }
}

/// Verifies a token chaperone minted: signature by a published key, `typ`,
/// issuer, expiry, and an audience among `audiences`.
pub fn verify(
    ring: &KeyRing,
    settings: &TokenSettings,
    token: &str,
    audiences: &[String],
    now: i64,
) -> Result<TxnClaims, TxnError> {
    if token.len() > crate::identity::jwt::MAX_TOKEN_BYTES {
        return Err(TxnError::Malformed);
    }
    let header_b64 = token.split('.').next().ok_or(TxnError::Malformed)?;
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        typ: Option<String>,
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TxnError::Malformed)?;
    if header.typ.as_deref() != Some(TXN_TOKEN_TYP) || token.split('.').count() != 3 {
        return Err(TxnError::Malformed);
    }
    let alg = crate::identity::jwt::parse_allowed_alg(&header.alg).ok_or(TxnError::Malformed)?;
    let key = ring
        .verify_keys()
        .find(header.kid.as_deref(), alg)
        .ok_or(TxnError::BadSignature)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<TxnClaims>(token, &key.key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => TxnError::BadSignature,
            _ => TxnError::Malformed,
        }
    })?;
    let claims = data.claims;
    if claims.iss != settings.issuer {
        return Err(TxnError::WrongIssuer);
    }
    if now >= claims.exp {
        return Err(TxnError::Expired);
    }
    if !audiences.contains(&claims.aud) {
        return Err(TxnError::WrongAudience);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::{KeyKind, SigningKey};

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://chaperone.shop.test".into(),
            header: "txn-token".into(),
            ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(300),
            audience_trust_domain: false,
        }
    }

    fn edge_request<'a>(
        hop_token: &'a HopToken,
        params: &'a [(String, String)],
        scopes: &'a [String],
    ) -> MintRequest<'a> {
        MintRequest {
            hop: "read-order",
            hop_token,
            host: "orders.shop.test",
            trust_domain: "shop.test",
            incoming: None,
            user_sub: Some("alice"),
            user_scopes: scopes,
            workload: None,
            path_params: params,
            request_id: Some("5d1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f"),
            authn: "jwt",
            source_ip: None,
            now: 1_000,
        }
    }

    #[test]
    fn edge_token_claims() {
        let hop = HopToken {
            scope: Some(vec!["orders.read".into()]),
            tctx_params: vec!["order_id".into()],
            ..HopToken::default()
        };
        let params = vec![("order_id".to_owned(), "o-1".to_owned())];
        let c = claims_for(&settings(), &edge_request(&hop, &params, &[])).unwrap();
        assert_eq!(c.aud, "orders.shop.test");
        assert_eq!((c.iat, c.exp), (1_000, 1_060));
        assert_eq!(c.txn, "5d1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f");
        assert_eq!(c.sub, "alice");
        assert_eq!(c.scope, "orders.read");
        assert_eq!(c.req_wl, "edge");
        assert_eq!(c.tctx.unwrap()["order_id"], "o-1");
        let mut strict = settings();
        strict.audience_trust_domain = true;
        assert_eq!(
            claims_for(&strict, &edge_request(&hop, &params, &[]))
                .unwrap()
                .aud,
            "shop.test"
        );
    }

    #[test]
    fn ttl_is_capped_and_txn_falls_back() {
        let hop = HopToken {
            ttl: Some(Duration::from_secs(3_600)),
            ..HopToken::default()
        };
        let mut req = edge_request(&hop, &[], &[]);
        req.request_id = Some("bad id with spaces");
        let c = claims_for(&settings(), &req).unwrap();
        assert_eq!(c.exp - c.iat, 300);
        assert_eq!(c.txn.len(), 32);
        // A client's text is never the transaction id, whatever its shape.
        for client in ["4111111111111111", "req-1", "ORD-1:2"] {
            req.request_id = Some(client);
            assert_ne!(claims_for(&settings(), &req).unwrap().txn, client);
        }
    }

    #[test]
    fn chaining_keeps_txn_and_sub_and_only_narrows() {
        let first_hop = HopToken {
            scope: Some(vec!["a".into(), "b".into()]),
            ..HopToken::default()
        };
        let first = claims_for(&settings(), &edge_request(&first_hop, &[], &[])).unwrap();
        // The next hop asks for more than the caller holds: it gets the overlap.
        let wider = HopToken {
            scope: Some(vec!["b".into(), "c".into(), "admin".into()]),
            ..HopToken::default()
        };
        let mut req = edge_request(&wider, &[], &[]);
        req.incoming = Some(&first);
        req.workload = Some("spiffe://shop.test/ns/shop/sa/orders");
        req.user_sub = Some("mallory");
        req.request_id = Some("other-request");
        let second = claims_for(&settings(), &req).unwrap();
        assert_eq!(second.txn, first.txn);
        assert_eq!(second.sub, first.sub, "sub never changes along a chain");
        assert_eq!(second.scope, "b");
        assert_eq!(
            second.chain(),
            vec!["spiffe://shop.test/ns/shop/sa/orders", "edge"]
        );
        assert_eq!(second.tctx, first.tctx);
        // Inheriting keeps the caller's scope, never more.
        let inherit = HopToken::default();
        let mut req = edge_request(&inherit, &[], &[]);
        req.incoming = Some(&second);
        req.workload = Some("spiffe://shop.test/ns/pay/sa/payments");
        let third = claims_for(&settings(), &req).unwrap();
        assert_eq!(third.scope, "b");
        assert_eq!(third.chain().len(), 3);
    }

    #[test]
    fn chain_is_bounded() {
        let hop = HopToken::default();
        let mut claims = claims_for(&settings(), &edge_request(&hop, &[], &[])).unwrap();
        let wl = "spiffe://shop.test/x".to_owned();
        let mut err = None;
        for _ in 0..MAX_CHAIN + 1 {
            let mut req = edge_request(&hop, &[], &[]);
            req.incoming = Some(&claims);
            req.workload = Some(&wl);
            match claims_for(&settings(), &req) {
                Ok(next) => claims = next,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err, Some(MintError::ChainTooLong));
    }

    #[test]
    fn sign_and_verify() {
        let ring = KeyRing::new(vec![SigningKey::generate(KeyKind::Es256, "k1").unwrap()]).unwrap();
        let hop = HopToken::default();
        let claims = claims_for(&settings(), &edge_request(&hop, &[], &[])).unwrap();
        let token = sign(&ring, &claims).unwrap();
        let aud = vec!["orders.shop.test".to_owned()];
        assert_eq!(
            verify(&ring, &settings(), &token, &aud, 1_010).unwrap(),
            claims
        );
        assert_eq!(
            verify(&ring, &settings(), &token, &aud, 1_060),
            Err(TxnError::Expired)
        );
        assert_eq!(
            verify(&ring, &settings(), &token, &["x".to_owned()], 1_010),
            Err(TxnError::WrongAudience)
        );
        let mut other = settings();
        other.issuer = "https://elsewhere".into();
        assert_eq!(
            verify(&ring, &other, &token, &aud, 1_010),
            Err(TxnError::WrongIssuer)
        );
        let stranger =
            KeyRing::new(vec![SigningKey::generate(KeyKind::Es256, "k1").unwrap()]).unwrap();
        assert_eq!(
            verify(&stranger, &settings(), &token, &aud, 1_010),
            Err(TxnError::BadSignature)
        );
        // A plain JWT (wrong typ) is never taken for a transaction token.
        let plain = ring.signer().sign("JWT", &claims).unwrap();
        assert_eq!(
            verify(&ring, &settings(), &plain, &aud, 1_010),
            Err(TxnError::Malformed)
        );
        let eddsa =
            KeyRing::new(vec![SigningKey::generate(KeyKind::EdDsa, "e1").unwrap()]).unwrap();
        let t = sign(&eddsa, &claims).unwrap();
        assert!(verify(&eddsa, &settings(), &t, &aud, 1_010).is_ok());
    }
}
