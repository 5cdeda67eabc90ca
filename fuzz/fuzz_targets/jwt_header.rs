//! Untrusted tokens: the end-user JWT verifier (`Verifier::verify`: the
//! compact form split, header read for `alg`, `kid` and `crit`, `iss` and
//! the time claims read before the signature) and the incoming Transaction
//! Token check (`token::txn::verify`), against keys made fresh for this
//! process, so no input can carry a valid signature.
//!
//! The first byte chooses how the rest becomes a token: as it is; or as
//! `header\npayload\nsignature`, each base64url-encoded here, so the fuzzer
//! works on the JSON a parser reads rather than on its base64; or, as a
//! third parser of what arrives from outside, as a JWKS document
//! (`KeySet::parse`).
//!
//! Invariants:
//! - nothing panics, and verification never waits (the keys are static);
//! - every token is refused by both verifiers. At start, a token signed by
//!   the fresh keys is accepted by each, so a refusal means something.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaperone_core::clock::FixedClock;
use chaperone_core::identity::jwks::{KeySet, KeySource};
use chaperone_core::identity::jwt::parse_allowed_alg;
use chaperone_core::identity::{Issuer, Verifier};
use chaperone_core::token::txn::{self, TXN_TOKEN_TYP, TokenSettings, TxnClaims};
use chaperone_core::token::{KeyKind, KeyRing, SigningKey, jwks_document};
use chaperone_fuzz::show;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;
const USER_ISSUER: &str = "https://idp.fuzz.example";

struct Fixture {
    verifier: Verifier,
    ring: KeyRing,
    settings: TokenSettings,
    audiences: Vec<String>,
}

fn key(kind: KeyKind, kid: &str) -> SigningKey {
    SigningKey::generate(kind, kid).unwrap_or_else(|e| panic!("no {kind:?} key: {e}"))
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // The end user's identity provider: one ES256 and one EdDSA key.
    let es = key(KeyKind::Es256, "es");
    let ed = key(KeyKind::EdDsa, "ed");
    let doc = jwks_document([&es, &ed]).to_string();
    let keys = KeySet::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("JWKS: {e}"));
    let algorithms = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]
        .into_iter()
        .filter_map(parse_allowed_alg)
        .collect();
    let issuer = Issuer {
        name: "fuzz".into(),
        iss: USER_ISSUER.into(),
        audiences: vec!["fuzz".into()],
        algorithms,
        keys: KeySource::Static(Arc::new(keys)),
        leeway: 30,
    };
    let verifier = Verifier::new(vec![Arc::new(issuer)], FixedClock::new(NOW));

    // chaperone's own keys, for Transaction Tokens.
    let ring = KeyRing::new(vec![key(KeyKind::Es256, "t1"), key(KeyKind::EdDsa, "t2")])
        .unwrap_or_else(|e| panic!("key ring: {e}"));
    let settings = TokenSettings {
        issuer: "https://chaperone.fuzz.example".into(),
        header: "txn-token".into(),
        ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(300),
        audience_trust_domain: false,
    };
    let fixture = Fixture {
        verifier,
        ring,
        settings,
        audiences: vec!["orders".into(), "fuzz.example".into()],
    };

    // The harness can accept: tokens signed by these keys pass.
    for signer in [&es, &ed] {
        let claims = serde_json::json!({
            "iss": USER_ISSUER, "sub": "alice", "aud": "fuzz", "exp": NOW + 600, "iat": NOW,
        });
        let token = signer
            .sign("JWT", &claims)
            .unwrap_or_else(|e| panic!("sign: {e}"));
        if let Err(e) = now_or_never(fixture.verifier.verify(&token)) {
            panic!(
                "a token signed by the issuer's key {} is refused: {e}",
                signer.kid
            );
        }
    }
    let claims = TxnClaims {
        iss: fixture.settings.issuer.clone(),
        iat: NOW,
        exp: NOW + 60,
        aud: "orders".into(),
        txn: "t".into(),
        sub: "alice".into(),
        scope: "orders.read".into(),
        req_wl: "edge".into(),
        act: None,
        tctx: None,
        rctx: None,
    };
    let token = fixture
        .ring
        .signer()
        .sign(TXN_TOKEN_TYP, &claims)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    if let Err(e) = txn::verify(
        &fixture.ring,
        &fixture.settings,
        &token,
        &fixture.audiences,
        NOW,
    ) {
        panic!("a Transaction Token chaperone signed is refused: {e}");
    }
    fixture
});

/// Polls a future once: with static keys, verification never waits.
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("token verification waited, with static keys"),
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = &*FIXTURE;
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let token = match selector % 4 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        // header \n payload \n signature, encoded here; with selector 2
        // the signature is taken as written.
        mode @ (1 | 2) => {
            let mut parts = rest.splitn(3, |b| *b == b'\n');
            let header = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
            let payload = URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
            let sig = parts.next().unwrap_or_default();
            let sig = if mode == 1 {
                URL_SAFE_NO_PAD.encode(sig)
            } else {
                String::from_utf8_lossy(sig).into_owned()
            };
            format!("{header}.{payload}.{sig}")
        }
        _ => {
            // A JWKS from outside: parsed or refused, never a panic.
            if let Ok(set) = KeySet::parse(rest) {
                assert!(!set.is_empty(), "an empty key set parsed: {}", show(rest));
            }
            return;
        }
    };
    if let Ok(user) = now_or_never(fx.verifier.verify(&token)) {
        panic!(
            "a forged end-user token was accepted (sub {:?}): {}",
            user.sub,
            show(token.as_bytes())
        );
    }
    if let Ok(claims) = txn::verify(&fx.ring, &fx.settings, &token, &fx.audiences, NOW) {
        panic!(
            "a forged Transaction Token was accepted ({claims:?}): {}",
            show(token.as_bytes())
        );
    }
});
