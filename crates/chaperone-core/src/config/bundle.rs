//! Signed policy bundles: a policy and every file it names in one archive,
//! with a manifest of SHA-256 hashes and an Ed25519 or ES256 signature over
//! the manifest. The format is in `docs/policy.md` ("Signed bundles").
//!
//! Opening checks, in this order and before anything is compiled: the size,
//! the framing, the signature against the trusted keys, the manifest
//! against its signed hash, then every name (relative, no `..`, unique) and
//! every file against its size and hash. Anything else refuses the bundle.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};

use super::compile::{CompileContext, MAX_POLICY_BYTES, compile_from};
use super::files::{Dir, FileError, InMemory, PolicyFiles as _, Recording};
use crate::identity::jwks::KeySet;
use crate::secret::sha256_hex;
use crate::token::SigningKey;

/// The first bytes of every bundle.
pub const MAGIC: &[u8] = b"chaperone-bundle/1\n";
/// Largest bundle accepted, whole.
pub const MAX_BUNDLE_BYTES: usize = 32 << 20;
/// Most files in one bundle, the policy included.
pub const MAX_FILES: usize = 256;
const MAX_MANIFEST_BYTES: usize = 256 << 10;
const MAX_SIGNATURE_BYTES: usize = 8 << 10;
const MAX_NAME_BYTES: usize = 255;
/// The `typ` of a bundle signature's JWS header.
pub const SIGNATURE_TYP: &str = "chaperone-bundle+jws";
const FORMAT: u32 = 1;

/// What the signature covers: every name, size and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The policy's name among `files`.
    pub policy: String,
    /// The policy's `version`, for people reading the manifest.
    pub version: String,
    /// In the order their bytes follow the manifest.
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// The signed claims: the manifest's hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    manifest_sha256: String,
}

/// Why a bundle was refused. Never holds a key or a file's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("bundle is malformed: {0}")]
    Format(String),
    #[error("bundle is not signed")]
    Unsigned,
    #[error("bundle signature does not verify with any trusted key")]
    Signature,
    #[error("bundle content does not match its signed manifest: {0}")]
    Integrity(String),
    #[error("bundle public keys: {0}")]
    Keys(String),
    #[error("bundle signing failed")]
    Sign,
}

impl BundleError {
    /// The metric label of the check that failed.
    pub fn stage(&self) -> &'static str {
        match self {
            BundleError::Unsigned | BundleError::Signature | BundleError::Keys(_) => "signature",
            BundleError::Integrity(_) => "integrity",
            BundleError::TooLarge | BundleError::Format(_) | BundleError::Sign => "format",
        }
    }
}

/// The public keys bundles must be signed with: a JWKS (such as
/// `chaperone keys jwks signer.pem` prints), or PEM `PUBLIC KEY` blocks
/// (P-256 or Ed25519), which verify a signature whatever `kid` it names.
#[derive(Debug)]
pub struct TrustedKeys(KeySet);

/// SubjectPublicKeyInfo DER before the key itself, for the two key types
/// bundles are signed with: the whole prefix is fixed for each.
const P256_SPKI: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const ED25519_SPKI: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl TrustedKeys {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let bad = |e: String| BundleError::Keys(e);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        if text.contains("-----BEGIN") {
            return Self::from_pem(text);
        }
        KeySet::parse(bytes)
            .map(Self)
            .map_err(|e| bad(e.to_string()))
    }

    fn from_pem(text: &str) -> Result<Self, BundleError> {
        const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
        let bad = |e: &str| BundleError::Keys(e.to_owned());
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(BEGIN) {
            rest = &rest[at..];
            let der = crate::token::keys::pem_block(rest, "PUBLIC KEY")
                .map_err(|_| bad("a PUBLIC KEY block is cut or not base64"))?
                .ok_or_else(|| bad("no PUBLIC KEY block"))?;
            let jwk = if let Some(point) = der.strip_prefix(P256_SPKI).filter(|p| p.len() == 65) {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            } else if let Some(x) = der.strip_prefix(ED25519_SPKI).filter(|x| x.len() == 32) {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "x": URL_SAFE_NO_PAD.encode(x),
                })
            } else {
                return Err(bad("a PUBLIC KEY is neither P-256 nor Ed25519"));
            };
            keys.push(jwk);
            rest = &rest[BEGIN.len()..];
        }
        if keys.is_empty() {
            return Err(bad("no PUBLIC KEY block (a JWKS or PEM public keys)"));
        }
        let jwks = serde_json::json!({ "keys": keys }).to_string();
        KeySet::parse(jwks.as_bytes())
            .map(Self)
            .map_err(|e| BundleError::Keys(e.to_string()))
    }
}

/// A bundle's three parts, as framed.
struct Parts<'a> {
    signature: &'a [u8],
    manifest: &'a [u8],
    payload: &'a [u8],
}

/// Reads a big-endian u32 length and that many bytes, within `max`.
fn take<'a>(rest: &mut &'a [u8], max: usize, what: &str) -> Result<&'a [u8], BundleError> {
    let malformed = || BundleError::Format(format!("{what} is cut short"));
    let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > max {
        return Err(BundleError::Format(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    let (part, tail) = tail.split_at_checked(len).ok_or_else(malformed)?;
    *rest = tail;
    Ok(part)
}

fn split(bytes: &[u8]) -> Result<Parts<'_>, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| BundleError::Format("not a chaperone bundle".into()))?;
    let signature = take(&mut rest, MAX_SIGNATURE_BYTES, "signature")?;
    let manifest = take(&mut rest, MAX_MANIFEST_BYTES, "manifest")?;
    Ok(Parts {
        signature,
        manifest,
        payload: rest,
    })
}

fn join(parts: &Parts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        MAGIC.len() + 8 + parts.signature.len() + parts.manifest.len() + parts.payload.len(),
    );
    out.extend_from_slice(MAGIC);
    for part in [parts.signature, parts.manifest] {
        // Bounded by MAX_SIGNATURE_BYTES and MAX_MANIFEST_BYTES.
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(parts.payload);
    out
}

/// Whether `name` may name a file in a bundle: relative, `/`-separated,
/// no empty, `.` or `..` segment, no backslash or control character.
pub fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("file name {name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return bad("must be 1 to 255 bytes");
    }
    if name.starts_with('/') {
        return bad("must be relative to the policy's directory");
    }
    if name.chars().any(|c| c == '\\' || c.is_control()) || name.contains(':') {
        return bad("must not hold a backslash, a colon or a control character");
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("must not have an empty, `.` or `..` segment");
    }
    Ok(())
}

/// An unsigned bundle of the policy `policy` (a name among `files`).
pub fn pack(
    policy: &str,
    version: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<u8>, BundleError> {
    if !files.contains_key(policy) {
        return Err(BundleError::Format(
            "the policy is not among the files".into(),
        ));
    }
    if files.len() > MAX_FILES {
        return Err(BundleError::Format(format!("more than {MAX_FILES} files")));
    }
    let mut entries = Vec::with_capacity(files.len());
    let mut payload = Vec::new();
    for (name, bytes) in files {
        check_name(name).map_err(BundleError::Format)?;
        entries.push(Entry {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
        payload.extend_from_slice(bytes);
    }
    let manifest = serde_json::to_vec_pretty(&Manifest {
        format: FORMAT,
        policy: policy.to_owned(),
        version: version.to_owned(),
        files: entries,
    })
    .map_err(|e| BundleError::Format(e.to_string()))?;
    if manifest.len() > MAX_MANIFEST_BYTES {
        return Err(BundleError::Format("the manifest is too long".into()));
    }
    let out = join(&Parts {
        signature: &[],
        manifest: &manifest,
        payload: &payload,
    });
    if out.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    Ok(out)
}

/// The bundle signed with `key` (any signature it had is replaced).
pub fn sign(bundle: &[u8], key: &SigningKey) -> Result<Vec<u8>, BundleError> {
    let parts = split(bundle)?;
    let claims = Claims {
        manifest_sha256: sha256_hex(parts.manifest),
    };
    let signature = key
        .sign(SIGNATURE_TYP, &claims)
        .map_err(|_| BundleError::Sign)?;
    Ok(join(&Parts {
        signature: signature.as_bytes(),
        ..parts
    }))
}

/// A verified bundle's contents.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Vec<u8>>,
    /// The `kid` of the key that signed it.
    pub signer: String,
    /// Hex SHA-256 of the whole bundle.
    pub digest: String,
}

impl Opened {
    pub fn policy(&self) -> &[u8] {
        self.files
            .get(&self.manifest.policy)
            .map_or(&[][..], Vec::as_slice)
    }
}

/// Compiles a verified bundle's policy against its own files only; `shown`
/// names the bundle in messages. The policy records its signer.
pub fn compile_opened(
    opened: &Opened,
    shown: &str,
    ctx: &CompileContext,
) -> Result<crate::policy::Policy, super::PolicyError> {
    let files = InMemory {
        files: &opened.files,
        origin: shown,
    };
    let origin = files.shown(&opened.manifest.policy);
    let mut policy = compile_from(&origin, &files, opened.policy(), ctx)?;
    policy.bundle = Some(crate::policy::Bundled {
        signer: opened.signer.as_str().into(),
        digest: opened.digest.clone(),
    });
    Ok(policy)
}

/// Verifies a bundle and returns its files; see the module's order of checks.
pub fn open(bundle: &[u8], keys: &TrustedKeys) -> Result<Opened, BundleError> {
    let parts = split(bundle)?;
    if parts.signature.is_empty() {
        return Err(BundleError::Unsigned);
    }
    let signer = verify(parts.signature, parts.manifest, keys)?;
    let manifest: Manifest = serde_json::from_slice(parts.manifest)
        .map_err(|e| BundleError::Format(format!("manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BundleError::Format(format!(
            "format {} is not {FORMAT}",
            manifest.format
        )));
    }
    if manifest.files.len() > MAX_FILES {
        return Err(BundleError::Format(format!("more than {MAX_FILES} files")));
    }
    let mut files = BTreeMap::new();
    let mut rest = parts.payload;
    for entry in &manifest.files {
        check_name(&entry.name).map_err(BundleError::Format)?;
        let size = usize::try_from(entry.size)
            .ok()
            .filter(|s| *s <= rest.len())
            .ok_or_else(|| BundleError::Integrity(format!("{} is cut short", entry.name)))?;
        let (bytes, tail) = rest.split_at(size);
        rest = tail;
        if sha256_hex(bytes) != entry.sha256 {
            return Err(BundleError::Integrity(format!(
                "{} does not match its hash",
                entry.name
            )));
        }
        if files.insert(entry.name.clone(), bytes.to_vec()).is_some() {
            return Err(BundleError::Format(format!("{} appears twice", entry.name)));
        }
    }
    if !rest.is_empty() {
        return Err(BundleError::Integrity(
            "bytes follow the last file".to_owned(),
        ));
    }
    if !files.contains_key(&manifest.policy) {
        return Err(BundleError::Format(
            "the manifest's policy is not among its files".into(),
        ));
    }
    Ok(Opened {
        manifest,
        files,
        signer,
        digest: sha256_hex(bundle),
    })
}

/// Checks the signature over the manifest; the signer's `kid`.
fn verify(signature: &[u8], manifest: &[u8], keys: &TrustedKeys) -> Result<String, BundleError> {
    #[derive(serde::Deserialize)]
    struct Header {
        alg: String,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        typ: Option<String>,
    }
    let token = std::str::from_utf8(signature).map_err(|_| BundleError::Signature)?;
    let header: Header = token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(BundleError::Signature)?;
    let alg = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(BundleError::Signature),
    };
    let kid = header
        .kid
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .ok_or(BundleError::Signature)?;
    if header.typ.as_deref() != Some(SIGNATURE_TYP) || token.split('.').count() != 3 {
        return Err(BundleError::Signature);
    }
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = keys
        .0
        .candidates(&kid, alg)
        .find_map(|key| jsonwebtoken::decode::<Claims>(token, &key.key, &validation).ok())
        .ok_or(BundleError::Signature)?
        .claims;
    if claims.manifest_sha256 != sha256_hex(manifest) {
        return Err(BundleError::Integrity(
            "the manifest is not the one signed".to_owned(),
        ));
    }
    Ok(kid)
}

/// Packs the policy file at `path` with every file it names, once it
/// compiles: the bundle holds exactly the bytes compiled. Each name is as
/// the policy writes it, so it must lie under the policy's directory.
pub fn build(path: &Path, ctx: &CompileContext) -> Result<Vec<u8>, String> {
    let origin = path.display().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{origin}: not a file name"))?;
    let bytes = Dir(None)
        .read(&origin, MAX_POLICY_BYTES as u64)
        .map_err(|e| match e {
            FileError::Io(e) => format!("{origin}: {e}"),
            FileError::NotAFile => format!("{origin}: not a regular file"),
            FileError::TooLarge => format!("{origin}: larger than {MAX_POLICY_BYTES} bytes"),
        })?;
    let recorded = Recording::new(path.parent());
    let policy = compile_from(&origin, &recorded, &bytes, ctx).map_err(|e| e.to_string())?;
    let mut files = recorded.into_files();
    for named in files.keys() {
        check_name(named).map_err(|e| {
            format!("{origin}: a bundle holds only files under the policy's directory: {e}")
        })?;
    }
    if files.insert(name.clone(), bytes).is_some() {
        return Err(format!("{origin}: the policy names itself as a file"));
    }
    pack(&name, &policy.version, &files).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::KeyKind;

    fn files() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("policy.yaml".to_owned(), b"version: v1\n".to_vec()),
            ("jwks/corp.json".to_owned(), b"{\"keys\":[]}".to_vec()),
        ])
    }

    fn trusted(keys: &[&SigningKey]) -> TrustedKeys {
        let doc = crate::token::jwks_document(keys.iter().copied()).to_string();
        TrustedKeys::parse(doc.as_bytes()).unwrap()
    }

    fn signed(key: &SigningKey) -> Vec<u8> {
        sign(&pack("policy.yaml", "v1", &files()).unwrap(), key).unwrap()
    }

    #[test]
    fn a_signed_bundle_opens_to_its_files_and_signer() {
        for kind in [KeyKind::Es256, KeyKind::EdDsa] {
            let key = SigningKey::generate(kind, "signer-1").unwrap();
            let bundle = signed(&key);
            let opened = open(&bundle, &trusted(&[&key])).unwrap();
            assert_eq!(opened.signer, "signer-1");
            assert_eq!(opened.files, files());
            assert_eq!(opened.policy(), b"version: v1\n");
            assert_eq!(opened.manifest.version, "v1");
            assert_eq!(opened.digest, sha256_hex(&bundle));
        }
    }

    #[test]
    fn unsigned_or_foreign_signatures_are_refused() {
        let key = SigningKey::generate(KeyKind::Es256, "k").unwrap();
        let other = SigningKey::generate(KeyKind::Es256, "k").unwrap();
        let unsigned = pack("policy.yaml", "v1", &files()).unwrap();
        assert_eq!(
            open(&unsigned, &trusted(&[&key])).unwrap_err(),
            BundleError::Unsigned
        );
        assert_eq!(
            open(&signed(&other), &trusted(&[&key])).unwrap_err(),
            BundleError::Signature,
            "the same kid on another key"
        );
        let ed = SigningKey::generate(KeyKind::EdDsa, "k").unwrap();
        assert_eq!(
            open(&signed(&ed), &trusted(&[&key])).unwrap_err(),
            BundleError::Signature
        );
    }

    /// Finds `needle` in `hay` and flips a bit of its first byte.
    fn flip(hay: &[u8], needle: &[u8]) -> Vec<u8> {
        let at = hay.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut out = hay.to_vec();
        out[at] ^= 1;
        out
    }

    #[test]
    fn any_change_after_signing_is_refused() {
        let key = SigningKey::generate(KeyKind::EdDsa, "k").unwrap();
        let keys = trusted(&[&key]);
        let bundle = signed(&key);
        // A file's bytes.
        let file = flip(&bundle, b"version: v1");
        assert!(matches!(open(&file, &keys), Err(BundleError::Integrity(_))));
        // The manifest (its recorded version), and so its signed hash.
        let manifest = flip(&bundle, b"\"v1\"");
        assert!(matches!(
            open(&manifest, &keys),
            Err(BundleError::Integrity(_))
        ));
        // The signature itself.
        let parts = split(&bundle).unwrap();
        let mut sig = parts.signature.to_vec();
        let last = sig.len() - 2;
        sig[last] = if sig[last] == b'A' { b'B' } else { b'A' };
        let forged = join(&Parts {
            signature: &sig,
            ..parts
        });
        assert_eq!(open(&forged, &keys).unwrap_err(), BundleError::Signature);
        // Bytes appended, or cut.
        let mut longer = bundle.clone();
        longer.push(b'x');
        assert!(matches!(
            open(&longer, &keys),
            Err(BundleError::Integrity(_))
        ));
        assert!(open(&bundle[..bundle.len() - 1], &keys).is_err());
        assert!(open(&bundle[..MAGIC.len() + 3], &keys).is_err());
    }

    /// A bundle whose manifest the signer was made to sign as written.
    fn with_manifest(manifest: &Manifest, payload: &[u8], key: &SigningKey) -> Vec<u8> {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let unsigned = join(&Parts {
            signature: &[],
            manifest: &bytes,
            payload,
        });
        sign(&unsigned, key).unwrap()
    }

    #[test]
    fn signed_but_unsafe_names_are_refused() {
        let key = SigningKey::generate(KeyKind::Es256, "k").unwrap();
        let keys = trusted(&[&key]);
        let entry = |name: &str, bytes: &[u8]| Entry {
            name: name.to_owned(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        };
        for name in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
            "C:x",
            "",
        ] {
            let manifest = Manifest {
                format: 1,
                policy: name.to_owned(),
                version: "v".into(),
                files: vec![entry(name, b"x")],
            };
            let err = open(&with_manifest(&manifest, b"x", &key), &keys).unwrap_err();
            assert!(matches!(err, BundleError::Format(_)), "{name:?}: {err}");
        }
        let twice = Manifest {
            format: 1,
            policy: "p".into(),
            version: "v".into(),
            files: vec![entry("p", b"x"), entry("p", b"x")],
        };
        let err = open(&with_manifest(&twice, b"xx", &key), &keys).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let huge = Manifest {
            format: 1,
            policy: "p".into(),
            version: "v".into(),
            files: vec![Entry {
                size: u64::MAX,
                ..entry("p", b"x")
            }],
        };
        assert!(matches!(
            open(&with_manifest(&huge, b"x", &key), &keys),
            Err(BundleError::Integrity(_))
        ));
    }

    #[test]
    fn oversized_parts_are_refused_before_any_check() {
        let keys = trusted(&[&SigningKey::generate(KeyKind::Es256, "k").unwrap()]);
        let big = vec![0u8; MAX_BUNDLE_BYTES + 1];
        assert_eq!(open(&big, &keys).unwrap_err(), BundleError::TooLarge);
        let mut long_sig = MAGIC.to_vec();
        long_sig.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            open(&long_sig, &keys),
            Err(BundleError::Format(_))
        ));
        assert!(matches!(
            open(b"PK\x03\x04", &keys),
            Err(BundleError::Format(_))
        ));
    }

    #[test]
    fn pem_public_keys_verify_whatever_kid_is_named() {
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let key = SigningKey::from_pkcs8(pkcs8.as_ref(), "any-kid").unwrap();
        let mut der = ED25519_SPKI.to_vec();
        der.extend_from_slice(pair.public_key().as_ref());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let keys = TrustedKeys::parse(pem.as_bytes()).unwrap();
        assert_eq!(open(&signed(&key), &keys).unwrap().signer, "any-kid");
        let other = SigningKey::generate(KeyKind::EdDsa, "any-kid").unwrap();
        assert_eq!(
            open(&signed(&other), &keys).unwrap_err(),
            BundleError::Signature
        );
        assert!(
            TrustedKeys::parse(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
        assert!(TrustedKeys::parse(b"{\"keys\":[]}").is_err());
    }

    #[test]
    fn a_private_key_never_shows_in_errors() {
        let key = SigningKey::generate(KeyKind::Es256, "k").unwrap();
        let err = TrustedKeys::parse(key.to_pem().as_bytes()).unwrap_err();
        let pem = key.to_pem();
        let body = pem.lines().nth(1).unwrap();
        assert!(!err.to_string().contains(body), "{err}");
    }
}
