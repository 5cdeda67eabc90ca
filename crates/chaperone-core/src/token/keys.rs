//! Signing keys: ES256 (default) or EdDSA, from PKCS#8 PEM files (or SEC1
//! "EC PRIVATE KEY" P-256 files, as Helm's `genPrivateKey "ecdsa"` and
//! OpenSSL write them) or generated, with their public JWK. A key's Debug
//! output prints nothing secret.

use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Es256,
    EdDsa,
}

impl KeyKind {
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::Es256 => Algorithm::ES256,
            KeyKind::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// Signing failed (the RNG or serialization); nothing more is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signing failed")]
pub struct SignError;

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1) document")]
    NotPem,
    #[error("not a P-256 or Ed25519 PKCS#8 private key, nor a P-256 SEC1 one")]
    Unsupported,
    #[error("key generation failed")]
    Generate,
}

/// A private signing key with its `kid`.
pub struct SigningKey {
    pub kid: String,
    pub kind: KeyKind,
    /// Parsed once: parsing PKCS#8 costs more than signing.
    pair: Pair,
    pkcs8: Vec<u8>,
    public_jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate(kind: KeyKind, kid: &str) -> Result<Self, KeyError> {
        let pkcs8 = match kind {
            KeyKind::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
            KeyKind::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8(&pkcs8, kid)
    }

    /// From PKCS#8 DER; the kind is whatever the key is.
    pub fn from_pkcs8(der: &[u8], kid: &str) -> Result<Self, KeyError> {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || x || y.
            if point.len() != 65 {
                return Err(KeyError::Unsupported);
            }
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            return Ok(Self {
                kid: kid.to_owned(),
                kind: KeyKind::Es256,
                pair: Pair::Ec(pair),
                pkcs8: der.to_vec(),
                public_jwk: jwk,
            });
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            let jwk = serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            return Ok(Self {
                kid: kid.to_owned(),
                kind: KeyKind::EdDsa,
                pair: Pair::Ed(pair),
                pkcs8: der.to_vec(),
                public_jwk: jwk,
            });
        }
        Err(KeyError::Unsupported)
    }

    /// From PEM: a PKCS#8 "PRIVATE KEY" block (P-256 or Ed25519), else a
    /// SEC1 "EC PRIVATE KEY" block (P-256 only), kept as PKCS#8 from then on.
    pub fn from_pem(pem: &str, kid: &str) -> Result<Self, KeyError> {
        if let Some(der) = pem_block(pem, "PRIVATE KEY")? {
            return Self::from_pkcs8(&der, kid);
        }
        let der = pem_block(pem, "EC PRIVATE KEY")?.ok_or(KeyError::NotPem)?;
        // Parsed against P-256: a SEC1 key on another curve is refused here.
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::Unsupported)?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Unsupported)?;
        Self::from_pkcs8(pkcs8.as_ref(), kid)
    }

    /// PKCS#8 PEM, the format [`SigningKey::from_pem`] reads.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.pkcs8);
        let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PRIVATE KEY-----\n");
        out
    }

    pub fn algorithm(&self) -> Algorithm {
        self.kind.algorithm()
    }

    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// Signs `claims` as a compact JWS with this key's `kid` and the given `typ`.
    pub fn sign<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, SignError> {
        #[derive(serde::Serialize)]
        struct Header<'a> {
            typ: &'a str,
            alg: &'a str,
            kid: &'a str,
        }
        let header = Header {
            typ,
            alg: crate::identity::jwt::alg_name(self.algorithm()),
            kid: &self.kid,
        };
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| SignError)?);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(|_| SignError)?, &mut out);
        let signature = match &self.pair {
            Pair::Ec(p) => p
                .sign(&aws_lc_rs::rand::SystemRandom::new(), out.as_bytes())
                .map_err(|_| SignError)?
                .as_ref()
                .to_vec(),
            Pair::Ed(p) => p.sign(out.as_bytes()).as_ref().to_vec(),
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}

/// The DER inside the first `label` block of a PEM document; none when the
/// document has no such block, an error when the block is cut or not base64.
pub(crate) fn pem_block(pem: &str, label: &str) -> Result<Option<Vec<u8>>, KeyError> {
    let (begin, end) = (
        format!("-----BEGIN {label}-----"),
        format!("-----END {label}-----"),
    );
    let mut lines = pem.lines().map(str::trim).skip_while(|l| *l != begin);
    if lines.next().is_none() {
        return Ok(None);
    }
    let mut body = String::new();
    for line in lines {
        if line == end {
            let der = STANDARD.decode(body).map_err(|_| KeyError::NotPem)?;
            return if der.is_empty() {
                Err(KeyError::NotPem)
            } else {
                Ok(Some(der))
            };
        }
        body.push_str(line);
    }
    Err(KeyError::NotPem)
}

/// A JWKS document of public keys.
pub fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> serde_json::Value {
    serde_json::json!({ "keys": keys.into_iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() })
}

/// Verifies that a detached signature check works with the public half; used
/// at load to refuse a key file whose halves do not agree.
pub fn self_test(key: &SigningKey) -> bool {
    let Ok(token) = key.sign("JWT", &serde_json::json!({"t": 1})) else {
        return false;
    };
    let Some((message, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    match key.kind {
        KeyKind::Es256 => {
            let (Some(x), Some(y)) = (key.public_jwk["x"].as_str(), key.public_jwk["y"].as_str())
            else {
                return false;
            };
            let mut point = vec![4u8];
            point.extend(URL_SAFE_NO_PAD.decode(x).unwrap_or_default());
            point.extend(URL_SAFE_NO_PAD.decode(y).unwrap_or_default());
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message.as_bytes(), &sig)
                .is_ok()
        }
        KeyKind::EdDsa => {
            let x = key.public_jwk["x"]
                .as_str()
                .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
                .unwrap_or_default();
            signature::UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message.as_bytes(), &sig)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_pem_roundtrip_and_sign() {
        for kind in [KeyKind::Es256, KeyKind::EdDsa] {
            let key = SigningKey::generate(kind, "k1").unwrap();
            let again = SigningKey::from_pem(&key.to_pem(), "k1").unwrap();
            assert_eq!(again.public_jwk(), key.public_jwk());
            assert!(self_test(&again));
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    fn sec1_pem(alg: &'static signature::EcdsaSigningAlgorithm) -> (String, EcdsaKeyPair) {
        use aws_lc_rs::encoding::AsDer;
        let pair = EcdsaKeyPair::generate(alg).unwrap();
        let der = pair.private_key().as_der().unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        // OpenSSL's `ecparam -genkey` writes the curve's block first.
        let pem = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
             -----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
            lines.join("\n")
        );
        (pem, pair)
    }

    #[test]
    fn reads_sec1_p256_keys_and_keeps_them_as_pkcs8() {
        let (pem, pair) = sec1_pem(&ECDSA_P256_SHA256_FIXED_SIGNING);
        let key = SigningKey::from_pem(&pem, "helm").unwrap();
        assert_eq!(key.kind, KeyKind::Es256);
        let point = pair.public_key().as_ref();
        assert_eq!(
            key.public_jwk()["x"],
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            "the public half is the SEC1 key's"
        );
        assert!(self_test(&key));
        // Written back as PKCS#8, read again to the same key.
        let again = SigningKey::from_pem(&key.to_pem(), "helm").unwrap();
        assert!(key.to_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(again.public_jwk(), key.public_jwk());
    }

    #[test]
    fn refuses_sec1_keys_on_other_curves_and_cut_blocks() {
        let (pem, _) = sec1_pem(&signature::ECDSA_P384_SHA384_FIXED_SIGNING);
        assert!(matches!(
            SigningKey::from_pem(&pem, "k"),
            Err(KeyError::Unsupported)
        ));
        let (pem, _) = sec1_pem(&ECDSA_P256_SHA256_FIXED_SIGNING);
        let cut = &pem[..pem.len() - 30];
        assert!(matches!(
            SigningKey::from_pem(cut, "k"),
            Err(KeyError::NotPem)
        ));
        let garbage = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(garbage, "k"),
            Err(KeyError::Unsupported)
        ));
    }

    #[test]
    fn rejects_garbage_pem() {
        assert!(matches!(
            SigningKey::from_pem("nope", "k"),
            Err(KeyError::NotPem)
        ));
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(pem, "k"),
            Err(KeyError::Unsupported)
        ));
    }
}
