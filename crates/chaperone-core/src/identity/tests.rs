//! Unit tests for `identity`: end-user token verification against an
//! injected clock and static keys, and the remote JWKS cache against a tiny
//! HTTP server on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::jwks::{JwksError, KeyLookupError, KeySet, KeySource, RemoteJwks, RemoteJwksSettings};
use super::jwt::MAX_TOKEN_BYTES;
use super::{Issuer, TokenError, Verifier};
use crate::clock::FixedClock;
use crate::token::{KeyKind, SigningKey, jwks_document};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://idp.test";
const AUD: &str = "api";
const LEEWAY: i64 = 30;

struct Fixture {
    key: SigningKey,
    clock: Arc<FixedClock>,
    verifier: Verifier,
}

fn issuer(name: &str, iss: &str, algorithms: Vec<Algorithm>, keys: &[&SigningKey]) -> Issuer {
    let doc = jwks_document(keys.iter().copied()).to_string();
    Issuer {
        name: name.into(),
        iss: iss.to_owned(),
        audiences: vec![AUD.to_owned(), "other-api".to_owned()],
        algorithms,
        keys: KeySource::Static(Arc::new(KeySet::parse(doc.as_bytes()).unwrap())),
        leeway: LEEWAY,
    }
}

fn fixture() -> Fixture {
    let key = SigningKey::generate(KeyKind::Es256, "k").unwrap();
    let clock = FixedClock::new(NOW);
    let verifier = Verifier::new(
        vec![Arc::new(issuer(
            "corp",
            ISS,
            vec![Algorithm::ES256],
            &[&key],
        ))],
        clock.clone(),
    );
    Fixture {
        key,
        clock,
        verifier,
    }
}

/// Valid claims, with overrides; a null override removes the claim.
fn claims(overrides: Value) -> Value {
    let mut c = json!({
        "iss": ISS, "aud": AUD, "sub": "alice", "scope": "orders:read orders:write",
        "iat": NOW - 10, "exp": NOW + 300,
    });
    let map = c.as_object_mut().unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    c
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCS#8 DER of a signing key, to sign tokens with headers that
/// `SigningKey::sign` does not make.
fn der(key: &SigningKey) -> Vec<u8> {
    let pem = key.to_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// Signs an arbitrary header and payload (raw bytes) with an ES256 key.
fn sign_raw(key: &SigningKey, header: &Value, payload: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(payload));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_ec_der(&der(key)),
        Algorithm::ES256,
    )
    .unwrap();
    format!("{message}.{sig}")
}

impl Fixture {
    fn token(&self, overrides: Value) -> String {
        self.key.sign("JWT", &claims(overrides)).unwrap()
    }

    async fn verify(&self, token: &str) -> Result<super::User, TokenError> {
        self.verifier.verify(token).await
    }
}

#[tokio::test]
async fn valid_token_gives_the_user() {
    let f = fixture();
    let user = f.verify(&f.token(json!({"tenant": "t1"}))).await.unwrap();
    assert_eq!(&*user.issuer, "corp");
    assert_eq!(user.sub, "alice");
    assert_eq!(user.exp, NOW + 300);
    assert_eq!(user.scopes, vec!["orders:read", "orders:write"]);
    assert_eq!(user.claims["tenant"], "t1");
    assert_eq!(user.claims["iss"], ISS);
    assert_eq!(user.claims["sub"], "alice");
    assert_eq!(user.claims["exp"], NOW + 300);
}

#[tokio::test]
async fn time_claims_against_the_injected_clock() {
    let f = fixture();
    // (what, claim overrides, clock, want)
    let cases: Vec<(&str, Value, i64, Result<(), TokenError>)> = vec![
        ("fresh", json!({}), NOW, Ok(())),
        (
            "expired long ago",
            json!({"exp": NOW - 3600, "iat": NOW - 7200}),
            NOW,
            Err(TokenError::Expired),
        ),
        (
            "expired within leeway",
            json!({"exp": NOW - LEEWAY + 1}),
            NOW,
            Ok(()),
        ),
        (
            "expired exactly at leeway",
            json!({"exp": NOW - LEEWAY}),
            NOW,
            Ok(()),
        ),
        (
            "expired one second past leeway",
            json!({"exp": NOW - LEEWAY - 1}),
            NOW,
            Err(TokenError::Expired),
        ),
        (
            "clock moved past exp",
            json!({}),
            NOW + 300 + LEEWAY + 1,
            Err(TokenError::Expired),
        ),
        (
            "clock exactly at exp + leeway",
            json!({}),
            NOW + 300 + LEEWAY,
            Ok(()),
        ),
        ("nbf in the past", json!({"nbf": NOW - 5}), NOW, Ok(())),
        (
            "nbf within leeway",
            json!({"nbf": NOW + LEEWAY}),
            NOW,
            Ok(()),
        ),
        (
            "nbf in the future",
            json!({"nbf": NOW + LEEWAY + 1}),
            NOW,
            Err(TokenError::NotYetValid),
        ),
        (
            "iat within leeway",
            json!({"iat": NOW + LEEWAY}),
            NOW,
            Ok(()),
        ),
        (
            "iat in the future",
            json!({"iat": NOW + LEEWAY + 1}),
            NOW,
            Err(TokenError::IssuedInFuture),
        ),
        ("no iat", json!({"iat": null}), NOW, Ok(())),
        (
            "huge exp does not overflow",
            json!({"exp": i64::MAX}),
            NOW,
            Ok(()),
        ),
        (
            "huge nbf",
            json!({"nbf": i64::MAX}),
            NOW,
            Err(TokenError::NotYetValid),
        ),
        (
            "very negative exp",
            json!({"exp": i64::MIN}),
            NOW,
            Err(TokenError::Expired),
        ),
        (
            "exp as a string",
            json!({"exp": "soon"}),
            NOW,
            Err(TokenError::MissingClaim),
        ),
        (
            "no exp",
            json!({"exp": null}),
            NOW,
            Err(TokenError::MissingClaim),
        ),
    ];
    for (what, overrides, now, want) in cases {
        f.clock.set(now);
        let got = f.verify(&f.token(overrides)).await.map(|_| ());
        assert_eq!(got, want, "{what}");
    }
}

#[tokio::test]
async fn audience_rules() {
    let f = fixture();
    let cases: Vec<(&str, Value, Result<(), TokenError>)> = vec![
        ("string", json!({"aud": AUD}), Ok(())),
        (
            "second accepted audience",
            json!({"aud": "other-api"}),
            Ok(()),
        ),
        ("array holding ours", json!({"aud": ["x", AUD]}), Ok(())),
        (
            "wrong string",
            json!({"aud": "billing"}),
            Err(TokenError::WrongAudience),
        ),
        (
            "array without ours",
            json!({"aud": ["x", "y"]}),
            Err(TokenError::WrongAudience),
        ),
        (
            "empty array",
            json!({"aud": []}),
            Err(TokenError::WrongAudience),
        ),
        (
            "missing",
            json!({"aud": null}),
            Err(TokenError::WrongAudience),
        ),
        (
            "case differs",
            json!({"aud": "API"}),
            Err(TokenError::WrongAudience),
        ),
    ];
    for (what, overrides, want) in cases {
        assert_eq!(
            f.verify(&f.token(overrides)).await.map(|_| ()),
            want,
            "{what}"
        );
    }
    // A number is neither form: refused (as a claim that does not parse).
    assert!(f.verify(&f.token(json!({"aud": 5}))).await.is_err());
}

#[tokio::test]
async fn issuer_and_subject_claims() {
    let f = fixture();
    assert_eq!(
        f.verify(&f.token(json!({"iss": "https://evil.test"})))
            .await
            .unwrap_err(),
        TokenError::UnknownIssuer
    );
    assert_eq!(
        f.verify(&f.token(json!({"iss": null}))).await.unwrap_err(),
        TokenError::MissingClaim
    );
    assert_eq!(
        f.verify(&f.token(json!({"sub": null}))).await.unwrap_err(),
        TokenError::MissingClaim
    );
    assert!(f.verify(&f.token(json!({"sub": 42}))).await.is_err());
}

#[tokio::test]
async fn the_issuer_chooses_keys_and_algorithms() {
    let corp = SigningKey::generate(KeyKind::Es256, "k").unwrap();
    let partner = SigningKey::generate(KeyKind::EdDsa, "p").unwrap();
    let verifier = Verifier::new(
        vec![
            Arc::new(issuer("corp", ISS, vec![Algorithm::ES256], &[&corp])),
            Arc::new(issuer(
                "partner",
                "https://partner.test",
                vec![Algorithm::EdDSA],
                &[&partner],
            )),
        ],
        FixedClock::new(NOW),
    );
    let partner_claims = claims(json!({"iss": "https://partner.test"}));
    let user = verifier
        .verify(&partner.sign("JWT", &partner_claims).unwrap())
        .await
        .unwrap();
    assert_eq!(&*user.issuer, "partner");
    // A token claiming to be corp's but signed EdDSA: corp allows only ES256.
    assert_eq!(
        verifier
            .verify(&partner.sign("JWT", &claims(json!({}))).unwrap())
            .await
            .unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // A token claiming to be partner's but signed with corp's key: partner's
    // keys do not hold it.
    assert_eq!(
        verifier
            .verify(&corp.sign("JWT", &partner_claims).unwrap())
            .await
            .unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    let user = verifier
        .verify(&corp.sign("JWT", &claims(json!({}))).unwrap())
        .await
        .unwrap();
    assert_eq!(&*user.issuer, "corp");
}

#[tokio::test]
async fn algorithm_attacks_are_refused() {
    let f = fixture();
    let c = claims(json!({}));

    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"}).to_string()),
        b64(c.to_string())
    );
    assert_eq!(
        f.verify(&none).await.unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    let none_kid = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "k"}).to_string()),
        b64(c.to_string())
    );
    assert_eq!(
        f.verify(&none_kid).await.unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );

    // HS256 keyed with the public JWK (the classic key-confusion attack).
    let public_jwk = f.key.public_jwk().to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k".into());
    let hs = jsonwebtoken::encode(
        &header,
        &c,
        &EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        f.verify(&hs).await.unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // Also with the public key's raw coordinates as the secret.
    let x = f.key.public_jwk()["x"].as_str().unwrap().to_owned();
    let hs = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(x.as_bytes())).unwrap();
    assert_eq!(
        f.verify(&hs).await.unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );

    // Even an issuer built by hand with HS256 on its list has no HMAC key to
    // use: the key set holds public keys only.
    let careless = Verifier::new(
        vec![Arc::new(issuer(
            "corp",
            ISS,
            vec![Algorithm::ES256, Algorithm::HS256],
            &[&f.key],
        ))],
        FixedClock::new(NOW),
    );
    let hs = jsonwebtoken::encode(
        &header,
        &c,
        &EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        careless.verify(&hs).await.unwrap_err(),
        TokenError::UnknownKey
    );

    // ES384 header on an ES256 key (the JWK pins ES256), and a header whose
    // alg is not the one the signature was made with.
    let mut es384 = json!({"alg": "ES384", "kid": "k"});
    assert_eq!(
        f.verify(&sign_raw(&f.key, &es384, c.to_string().as_bytes()))
            .await
            .unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    es384["alg"] = json!("RS256");
    assert_eq!(
        f.verify(&sign_raw(&f.key, &es384, c.to_string().as_bytes()))
            .await
            .unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn crit_header_is_refused() {
    let f = fixture();
    let header = json!({"alg": "ES256", "kid": "k", "crit": ["exp"], "exp": 1});
    let token = sign_raw(&f.key, &header, claims(json!({})).to_string().as_bytes());
    assert_eq!(
        f.verify(&token).await.unwrap_err(),
        TokenError::CriticalHeader
    );
    // Even an empty crit list.
    let header = json!({"alg": "ES256", "kid": "k", "crit": []});
    let token = sign_raw(&f.key, &header, claims(json!({})).to_string().as_bytes());
    assert_eq!(
        f.verify(&token).await.unwrap_err(),
        TokenError::CriticalHeader
    );
    // And the same token without crit verifies: the signing path is sound.
    let header = json!({"alg": "ES256", "kid": "k"});
    let token = sign_raw(&f.key, &header, claims(json!({})).to_string().as_bytes());
    assert!(f.verify(&token).await.is_ok());
}

#[tokio::test]
async fn malformed_tokens() {
    let f = fixture();
    let good = f.token(json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let header_b64 = b64(json!({"alg": "ES256", "kid": "k"}).to_string());
    let cases: Vec<(&str, String, TokenError)> = vec![
        ("empty", String::new(), TokenError::Malformed),
        ("one segment", "abc".into(), TokenError::Malformed),
        (
            "two segments",
            format!("{}.{}", parts[0], parts[1]),
            TokenError::Malformed,
        ),
        ("four segments", format!("{good}.x"), TokenError::Malformed),
        (
            "five segments (JWE shape)",
            "a.b.c.d.e".into(),
            TokenError::Malformed,
        ),
        (
            "bad base64 header",
            format!("!!!.{}.{}", parts[1], parts[2]),
            TokenError::Malformed,
        ),
        (
            "bad base64 payload",
            format!("{}.$$$.{}", parts[0], parts[2]),
            TokenError::Malformed,
        ),
        (
            "padded base64",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            TokenError::Malformed,
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", b64("hello"), parts[1], parts[2]),
            TokenError::Malformed,
        ),
        (
            "header without alg",
            format!("{}.{}.{}", b64("{}"), parts[1], parts[2]),
            TokenError::Malformed,
        ),
        (
            "payload not JSON",
            format!("{header_b64}.{}.{}", b64("hello"), parts[2]),
            TokenError::Malformed,
        ),
        (
            "payload an array",
            format!("{header_b64}.{}.{}", b64("[1]"), parts[2]),
            TokenError::Malformed,
        ),
        (
            "header over 1 KiB",
            format!(
                "{}.{}.{}",
                b64(format!(r#"{{"alg":"ES256","x":"{}"}}"#, "a".repeat(1200))),
                parts[1],
                parts[2]
            ),
            TokenError::Malformed,
        ),
        (
            "bad base64 signature",
            format!("{}.{}.***", parts[0], parts[1]),
            TokenError::Malformed,
        ),
        (
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            TokenError::BadSignature,
        ),
        (
            "too large",
            "a".repeat(MAX_TOKEN_BYTES + 1),
            TokenError::TooLarge,
        ),
        (
            "too large though well-formed",
            f.token(json!({"pad": "x".repeat(MAX_TOKEN_BYTES)})),
            TokenError::TooLarge,
        ),
    ];
    for (what, token, want) in cases {
        let got = f.verify(&token).await.map(|_| ());
        assert_eq!(got, Err(want), "{what}");
    }
}

#[tokio::test]
async fn deeply_nested_json_is_an_error_not_a_crash() {
    let f = fixture();
    let header_b64 = b64(json!({"alg": "ES256", "kid": "k"}).to_string());

    // Far past the size bound: refused before any parsing.
    let huge = format!("{header_b64}.{}.sig", b64("[".repeat(100_000)));
    assert_eq!(f.verify(&huge).await.unwrap_err(), TokenError::TooLarge);

    // As deep as fits under the size bound: the JSON parser's depth limit.
    let deep = format!("{header_b64}.{}.sig", b64("[".repeat(6000)));
    assert!(deep.len() <= MAX_TOKEN_BYTES);
    assert_eq!(f.verify(&deep).await.unwrap_err(), TokenError::Malformed);
    let deep_obj = format!("{header_b64}.{}.sig", b64(r#"{"a":"#.repeat(1000)));
    assert!(deep_obj.len() <= MAX_TOKEN_BYTES);
    assert_eq!(
        f.verify(&deep_obj).await.unwrap_err(),
        TokenError::Malformed
    );

    // In the header.
    let deep_header = format!(
        "{}.{}.sig",
        b64("[".repeat(700)),
        b64(claims(json!({})).to_string())
    );
    assert_eq!(
        f.verify(&deep_header).await.unwrap_err(),
        TokenError::Malformed
    );

    // Signed, with a deeply nested claim inside an otherwise valid payload:
    // the signature is good, the claims still do not parse.
    let nested = format!("{}{}", "[".repeat(2500), "]".repeat(2500));
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{},"x":{nested}}}"#,
        NOW + 60
    );
    let token = sign_raw(
        &f.key,
        &json!({"alg": "ES256", "kid": "k"}),
        payload.as_bytes(),
    );
    assert!(token.len() <= MAX_TOKEN_BYTES, "{}", token.len());
    assert!(f.verify(&token).await.is_err());
    // A moderately nested claim is fine.
    let ok_nested = format!("{}{}", "[".repeat(20), "]".repeat(20));
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{},"x":{ok_nested}}}"#,
        NOW + 60
    );
    let token = sign_raw(
        &f.key,
        &json!({"alg": "ES256", "kid": "k"}),
        payload.as_bytes(),
    );
    assert!(f.verify(&token).await.is_ok());
}

#[tokio::test]
async fn signatures_and_keys() {
    let f = fixture();
    // Another key with the same kid.
    let impostor = SigningKey::generate(KeyKind::Es256, "k").unwrap();
    assert_eq!(
        f.verify(&impostor.sign("JWT", &claims(json!({}))).unwrap())
            .await
            .unwrap_err(),
        TokenError::BadSignature
    );
    // A changed payload under the original signature.
    let good = f.token(json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims(json!({"sub": "mallory"})).to_string()),
        parts[2]
    );
    assert_eq!(
        f.verify(&forged).await.unwrap_err(),
        TokenError::BadSignature
    );
    // A tampered signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0xff;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert_eq!(
        f.verify(&tampered).await.unwrap_err(),
        TokenError::BadSignature
    );
    // An unknown kid.
    let stranger = SigningKey::generate(KeyKind::Es256, "rotated").unwrap();
    assert_eq!(
        f.verify(&stranger.sign("JWT", &claims(json!({}))).unwrap())
            .await
            .unwrap_err(),
        TokenError::UnknownKey
    );
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_fitting_key() {
    let f = fixture();
    let payload = claims(json!({})).to_string();
    let token = sign_raw(&f.key, &json!({"alg": "ES256"}), payload.as_bytes());
    assert_eq!(f.verify(&token).await.unwrap().sub, "alice");

    // With two keys of the family, no kid is ambiguous: refused.
    let second = SigningKey::generate(KeyKind::Es256, "k2").unwrap();
    let two = Verifier::new(
        vec![Arc::new(issuer(
            "corp",
            ISS,
            vec![Algorithm::ES256],
            &[&f.key, &second],
        ))],
        FixedClock::new(NOW),
    );
    assert_eq!(
        two.verify(&token).await.unwrap_err(),
        TokenError::UnknownKey
    );
    // With a kid, either key works.
    assert!(
        two.verify(&second.sign("JWT", &claims(json!({}))).unwrap())
            .await
            .is_ok()
    );
    assert!(two.verify(&f.token(json!({}))).await.is_ok());
}

#[tokio::test]
async fn scopes_from_scope_or_scp() {
    let f = fixture();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"scope": "a b  c"}), vec!["a", "b", "c"]),
        (json!({"scope": ""}), vec![]),
        (json!({"scope": null, "scp": ["x", "y"]}), vec!["x", "y"]),
        (json!({"scope": null, "scp": ["x", 5, "y"]}), vec!["x", "y"]),
        (json!({"scope": "a", "scp": ["x"]}), vec!["a"]),
        (json!({"scope": null}), vec![]),
        (json!({"scope": ["not", "a", "string"]}), vec![]),
        (json!({"scope": null, "scp": "x y"}), vec![]),
    ];
    for (overrides, want) in cases {
        let user = f.verify(&f.token(overrides.clone())).await.unwrap();
        assert_eq!(user.scopes, want, "{overrides}");
    }
}

#[tokio::test]
async fn errors_never_carry_the_token() {
    let f = fixture();
    let token = f.token(json!({"exp": NOW - 3600}));
    let e = f.verify(&token).await.unwrap_err();
    let shown = format!("{e} {e:?} {}", e.code());
    for part in token.split('.') {
        assert!(!shown.contains(part), "{shown}");
    }
    assert!(!shown.contains("alice"));
}

// ---- RemoteJwks against a tiny HTTP/1.1 server ----

#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

/// A one-route HTTP/1.1 server on 127.0.0.1: answers every request with the
/// current reply and counts requests.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    reply: Arc<std::sync::Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start(body: impl Into<Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(std::sync::Mutex::new(Reply {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
        }));
        let (h, r) = (Arc::clone(&hits), Arc::clone(&reply));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (h, r) = (Arc::clone(&h), Arc::clone(&r));
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let reply = r.lock().unwrap().clone();
                    tokio::time::sleep(reply.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&reply.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self {
            url,
            hits,
            reply,
            task,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set(&self, status: u16, body: impl Into<Vec<u8>>) {
        let mut r = self.reply.lock().unwrap();
        r.status = status;
        r.body = body.into();
    }

    fn set_delay(&self, delay: Duration) {
        self.reply.lock().unwrap().delay = delay;
    }

    fn remote(&self, settings: RemoteJwksSettings) -> Arc<RemoteJwks> {
        RemoteJwks::new(
            self.url.clone(),
            crate::identity::test_fetch::TcpFetch::shared(),
            settings,
        )
    }
}

fn settings(min_refetch: Duration) -> RemoteJwksSettings {
    RemoteJwksSettings {
        max_age: Duration::from_secs(3600),
        min_refetch_interval: min_refetch,
        timeout: Duration::from_secs(5),
    }
}

fn jwks(keys: &[&SigningKey]) -> Vec<u8> {
    jwks_document(keys.iter().copied()).to_string().into_bytes()
}

#[tokio::test]
async fn concurrent_lookups_collapse_into_one_fetch() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    server.set_delay(Duration::from_millis(100));
    // No refetch interval at all: only the collapsing keeps it to one fetch.
    let remote = server.remote(settings(Duration::ZERO));

    // Cold cache: 20 lookups of a known kid, one fetch.
    let found =
        futures_util::future::join_all((0..20).map(|_| remote.find(Some("k1"), Algorithm::ES256)))
            .await;
    assert!(found.iter().all(Result::is_ok), "{found:?}");
    assert_eq!(server.hits(), 1);

    // Warm cache, 20 lookups of an unknown kid: one refetch between them.
    let missing = futures_util::future::join_all(
        (0..20).map(|_| remote.find(Some("nope"), Algorithm::ES256)),
    )
    .await;
    assert!(
        missing
            .iter()
            .all(|r| matches!(r, Err(KeyLookupError::UnknownKey))),
        "{missing:?}"
    );
    assert_eq!(server.hits(), 2);

    // The same from 20 tasks on the runtime.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let remote = Arc::clone(&remote);
            tokio::spawn(async move { remote.find(Some("gone"), Algorithm::ES256).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), KeyLookupError::UnknownKey);
    }
    let hits = server.hits();
    assert_eq!(hits, 3, "20 concurrent lookups made {} fetches", hits - 2);

    // Known keys never fetch.
    for _ in 0..10 {
        assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
    }
    assert_eq!(server.hits(), hits);
}

#[tokio::test]
async fn an_unknown_kid_refetches_and_finds_a_rotated_key() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let k2 = SigningKey::generate(KeyKind::Es256, "k2").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    let remote = server.remote(settings(Duration::ZERO));
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
    assert_eq!(
        remote.find(Some("k2"), Algorithm::ES256).await.unwrap_err(),
        KeyLookupError::UnknownKey
    );
    server.set(200, jwks(&[&k1, &k2]));
    let key = remote.find(Some("k2"), Algorithm::ES256).await.unwrap();
    assert_eq!(key.kid.as_deref(), Some("k2"));
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn the_last_good_keys_are_kept_when_a_fetch_fails() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    let remote = server.remote(settings(Duration::ZERO));
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());

    for (status, body) in [
        (500, b"oops".to_vec()),
        (200, b"not json".to_vec()),
        (200, br#"{"keys":[]}"#.to_vec()),
        (404, jwks(&[&k1])),
    ] {
        server.set(status, body);
        let before = server.hits();
        // An unknown kid forces a fetch, which fails.
        assert_eq!(
            remote.find(Some("k9"), Algorithm::ES256).await.unwrap_err(),
            KeyLookupError::UnknownKey,
            "status {status}"
        );
        assert_eq!(server.hits(), before + 1, "status {status}");
        // The key fetched before still verifies.
        assert!(
            remote.find(Some("k1"), Algorithm::ES256).await.is_ok(),
            "status {status}"
        );
    }
}

#[tokio::test]
async fn no_keys_ever_fetched_is_unavailable() {
    let server = JwksServer::start(b"oops".to_vec()).await;
    server.set(500, b"oops".to_vec());
    let remote = server.remote(settings(Duration::ZERO));
    assert_eq!(
        remote.find(Some("k1"), Algorithm::ES256).await.unwrap_err(),
        KeyLookupError::Unavailable
    );
    assert_eq!(server.hits(), 1);

    // Through the verifier: keys unavailable, not an allow.
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let verifier = Verifier::new(
        vec![Arc::new(Issuer {
            name: "corp".into(),
            iss: ISS.into(),
            audiences: vec![AUD.into()],
            algorithms: vec![Algorithm::ES256],
            keys: KeySource::Remote(Arc::clone(&remote)),
            leeway: 0,
        })],
        FixedClock::new(NOW),
    );
    let token = k1.sign("JWT", &claims(json!({}))).unwrap();
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        TokenError::KeysUnavailable
    );

    // Once the server recovers, the same token verifies.
    server.set(200, jwks(&[&k1]));
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "alice");
}

#[tokio::test]
async fn min_refetch_interval_limits_unknown_kid_fetches() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    let remote = server.remote(settings(Duration::from_secs(3600)));
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
    assert_eq!(server.hits(), 1);
    for i in 0..10 {
        assert_eq!(
            remote
                .find(Some(&format!("unknown-{i}")), Algorithm::ES256)
                .await
                .unwrap_err(),
            KeyLookupError::UnknownKey
        );
    }
    assert_eq!(
        server.hits(),
        1,
        "unknown kids within the interval make no fetch"
    );

    // A refresh queued behind an older generation does nothing: someone
    // already fetched since it looked.
    remote.refresh(0, true).await;
    assert_eq!(server.hits(), 1);
    // A background refresh (allowed to ignore the interval) at the current
    // generation fetches: one fetch so far, so the generation is 1.
    remote.refresh(1, true).await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    let remote = server.remote(RemoteJwksSettings {
        max_age: Duration::ZERO,
        min_refetch_interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
    });
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
    assert_eq!(server.hits(), 1);
    // Past max_age: the lookup answers from the cache at once and a refresh
    // runs in the background.
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.hits() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    // A valid document followed by whitespace: still valid JSON, only too big.
    let mut body = jwks(&[&k1]);
    body.extend(std::iter::repeat_n(b' ', super::jwks::MAX_JWKS_BYTES));
    assert!(matches!(KeySet::parse(&body), Err(JwksError::TooLarge)));
    let server = JwksServer::start(body).await;
    let remote = server.remote(settings(Duration::ZERO));
    assert_eq!(
        remote.find(Some("k1"), Algorithm::ES256).await.unwrap_err(),
        KeyLookupError::Unavailable
    );
    assert_eq!(server.hits(), 1);
    // The same document without the padding is accepted.
    server.set(200, jwks(&[&k1]));
    assert!(remote.find(Some("k1"), Algorithm::ES256).await.is_ok());
}

#[tokio::test]
async fn a_slow_jwks_server_times_out() {
    let k1 = SigningKey::generate(KeyKind::Es256, "k1").unwrap();
    let server = JwksServer::start(jwks(&[&k1])).await;
    server.set_delay(Duration::from_secs(30));
    let remote = server.remote(RemoteJwksSettings {
        max_age: Duration::from_secs(3600),
        min_refetch_interval: Duration::ZERO,
        timeout: Duration::from_millis(200),
    });
    let started = std::time::Instant::now();
    assert_eq!(
        remote.find(Some("k1"), Algorithm::ES256).await.unwrap_err(),
        KeyLookupError::Unavailable
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn key_set_parsing() {
    let ec = SigningKey::generate(KeyKind::Es256, "ec").unwrap();
    let ed = SigningKey::generate(KeyKind::EdDsa, "ed").unwrap();
    let mut enc = ec.public_jwk().clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc");
    let doc = json!({"keys": [ec.public_jwk(), ed.public_jwk(), enc, {"kty": "oct", "k": "c2VjcmV0"}, "junk"]});
    let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(
        set.len(),
        2,
        "encryption, symmetric and junk keys are skipped"
    );
    assert!(set.find(Some("ec"), Algorithm::ES256).is_some());
    assert!(set.find(Some("ed"), Algorithm::EdDSA).is_some());
    assert!(set.find(Some("enc"), Algorithm::ES256).is_none());
    assert!(set.find(Some("ed"), Algorithm::ES256).is_none());
    assert!(set.find(None, Algorithm::HS256).is_none());
    assert!(matches!(KeySet::parse(b"{}"), Err(JwksError::Parse(_))));
    assert!(matches!(KeySet::parse(b"[]"), Err(JwksError::Parse(_))));
    // Deep nesting inside a JWKS is an error, not a crash.
    let deep = format!(r#"{{"keys":[{}]}}"#, "[".repeat(100_000));
    assert!(matches!(
        KeySet::parse(deep.as_bytes()),
        Err(JwksError::Parse(_))
    ));
}

#[tokio::test]
async fn verified_tokens_are_remembered_no_longer_than_they_are_valid() {
    let f = fixture();
    let token = f.token(json!({"exp": NOW + 60}));
    assert!(f.verify(&token).await.is_ok());
    // Within its lifetime, the cached verification answers.
    f.clock.set(NOW + 60 + LEEWAY);
    assert!(f.verify(&token).await.is_ok());
    // Past `exp` plus leeway, the cache does not keep it alive.
    f.clock.set(NOW + 61 + LEEWAY);
    assert_eq!(f.verify(&token).await.unwrap_err(), TokenError::Expired);
    // A failed verification is never cached as a success.
    f.clock.set(NOW);
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert!(f.verify(&tampered).await.is_err());
    assert!(f.verify(&tampered).await.is_err());
}

#[tokio::test]
async fn stale_tokens_are_refused_before_any_key_or_signature_work() {
    let f = fixture();
    // Signed by a key no issuer publishes: expired or not yet valid, it is
    // refused for its time, before the key is looked up.
    let stranger = SigningKey::generate(KeyKind::Es256, "stranger").unwrap();
    let expired = stranger
        .sign("JWT", &claims(json!({"exp": NOW - 3600})))
        .unwrap();
    assert_eq!(f.verify(&expired).await.unwrap_err(), TokenError::Expired);
    let early = stranger
        .sign("JWT", &claims(json!({"nbf": NOW + 3600})))
        .unwrap();
    assert_eq!(f.verify(&early).await.unwrap_err(), TokenError::NotYetValid);
    // A fresh token from that key still fails on its key, as before.
    let fresh = stranger.sign("JWT", &claims(json!({}))).unwrap();
    assert_eq!(f.verify(&fresh).await.unwrap_err(), TokenError::UnknownKey);
}

/// The cache is bounded and keeps working past its size: more distinct
/// tokens in rotation than it holds still leave most of them remembered
/// (a cache that empties itself when full would answer none), and a burst
/// of tokens seen once does not push out those in steady use.
#[tokio::test]
async fn the_token_cache_stays_bounded_and_useful_past_its_size() {
    use super::jwt::CacheUse;
    let f = fixture();
    let bounded = Verifier::with_cache(f.verifier.issuers().to_vec(), f.clock.clone(), 100);
    let tokens: Vec<String> = (0..120)
        .map(|i| f.token(json!({"sub": format!("user-{i}")})))
        .collect();
    let mut hits = 0;
    for round in 0..4 {
        for t in &tokens {
            let (user, cache) = bounded.verify_noting(t).await.unwrap();
            assert!(user.sub.starts_with("user-"));
            if round > 0 && cache == CacheUse::Hit {
                hits += 1;
            }
        }
        assert!(bounded.cached() <= 100, "{}", bounded.cached());
    }
    // 120 tokens in rotation over 100 places, three rounds after the first.
    assert!(hits >= 3 * 120 / 2, "hits {hits} of {}", 3 * 120);

    // Steady users, then a flood of one-off tokens, then the steady users again.
    let steady = Verifier::with_cache(f.verifier.issuers().to_vec(), f.clock.clone(), 100);
    for _ in 0..3 {
        for t in &tokens[..50] {
            steady.verify_noting(t).await.unwrap();
        }
    }
    for i in 0..300 {
        let once = f.token(json!({"sub": format!("once-{i}")}));
        steady.verify_noting(&once).await.unwrap();
    }
    let mut kept = 0;
    for t in &tokens[..50] {
        if steady.verify_noting(t).await.unwrap().1 == CacheUse::Hit {
            kept += 1;
        }
    }
    assert!(
        kept >= 40,
        "steady tokens kept through the flood: {kept} of 50"
    );
}
