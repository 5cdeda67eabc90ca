//! Keyed hashing and random identifiers.
//!
//! Identifiers that must be logged (principals) are logged as keyed hashes so
//! the same caller gives the same token in every replica that shares the key,
//! while the raw identity never leaves the process.

use aws_lc_rs::{hmac, rand};

/// An HMAC key whose Debug output prints nothing of the key.
#[derive(Clone)]
pub struct HashKey(hmac::Key);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl HashKey {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// A random key for this process only; hashes will differ across replicas.
    pub fn ephemeral() -> Self {
        let mut bytes = [0u8; 32];
        // A failing system RNG leaves a zero key; hashes are still keyed per
        // label and never reversible, only not secret. aws-lc's RNG does not fail
        // on supported platforms.
        let _ = rand::fill(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// `prefix` + [`Self::digest`], hex.
    pub fn tag(&self, prefix: &str, label: &str, value: &[u8]) -> String {
        let mut out = String::with_capacity(prefix.len() + 32);
        out.push_str(prefix);
        push_hex(&mut out, &self.digest(label, value));
        out
    }

    /// The first 16 bytes of HMAC-SHA-256(label || 0 || value).
    pub fn digest(&self, label: &str, value: &[u8]) -> [u8; 16] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }
}

impl HashKey {
    /// Whether `tag` is `self.tag(prefix, label, value)`, compared in constant time.
    pub fn verify_tag(&self, prefix: &str, label: &str, value: &[u8], tag: &str) -> bool {
        let want = self.tag(prefix, label, value);
        want.len() == tag.len()
            && want
                .bytes()
                .zip(tag.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// 128 random bits as 32 lower-case hex digits.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = rand::fill(&mut bytes);
    let mut out = String::with_capacity(32);
    push_hex(&mut out, &bytes);
    out
}

pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    push_hex(&mut out, digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_stable_and_keyed() {
        let a = HashKey::from_bytes(b"k1");
        let b = HashKey::from_bytes(b"k2");
        assert_eq!(
            a.tag("p_", "principal", b"x"),
            a.tag("p_", "principal", b"x")
        );
        assert_ne!(
            a.tag("p_", "principal", b"x"),
            b.tag("p_", "principal", b"x")
        );
        assert_ne!(a.tag("p_", "principal", b"x"), a.tag("p_", "other", b"x"));
        assert_eq!(a.tag("p_", "l", b"v").len(), 2 + 32);
    }

    #[test]
    fn debug_hides_key() {
        assert_eq!(
            format!("{:?}", HashKey::from_bytes(b"secret")),
            "HashKey(..)"
        );
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
