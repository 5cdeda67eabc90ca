//! PEM private keys: from a "-----BEGIN … PRIVATE KEY-----" line through the
//! matching END line. Without an END line the key runs to the end of the
//! text: a truncated key is still a leak, and its base64 body is no use to
//! anyone as data.

use super::text::next_str;
use super::{Detector, Finding, Profile};

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";
/// The labels of private keys: PKCS#8, PKCS#1, SEC 1, OpenSSH, PKCS#8
/// encrypted, DSA, and OpenPGP secret key blocks.
const LABELS: [&str; 7] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
];

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    // The BEGIN line alone holds ten dashes.
    p.dashes() >= 2 * DASHES.len() && p.text.contains(BEGIN)
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let mut i = 0;
    while let Some(start) = next_str(text, i, BEGIN) {
        match match_at(text, start) {
            Some(end) => {
                out.push(Finding::new(Detector::PrivateKey, start, end));
                i = end;
            }
            None => i = start + BEGIN.len(),
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    text.starts_with(BEGIN) && match_at(text, 0) == Some(text.len())
}

fn match_at(text: &str, start: usize) -> Option<usize> {
    let after_begin = text.get(start + BEGIN.len()..)?;
    let label = LABELS.iter().find(|l| {
        after_begin
            .strip_prefix(**l)
            .is_some_and(|r| r.starts_with(DASHES))
    })?;
    let body = start + BEGIN.len() + label.len() + DASHES.len();
    let end_line = format!("-----END {label}-----");
    Some(next_str(text, body, &end_line).map_or(text.len(), |p| p + end_line.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn keys() {
        for label in LABELS {
            let key = format!(
                "-----BEGIN {label}-----\nMIIEvQIBADANBg\nkqhkiG9w0B==\n-----END {label}-----"
            );
            assert!(whole(&key), "{label}");
            assert_eq!(found(&format!("key: {key}\ntrailer")), [key.as_str()]);
        }
    }

    #[test]
    fn truncated_key_runs_to_the_end() {
        let t = "x -----BEGIN RSA PRIVATE KEY-----\\nMIIEow";
        assert_eq!(found(t), ["-----BEGIN RSA PRIVATE KEY-----\\nMIIEow"]);
        // The END line must name the same label.
        let t = "-----BEGIN EC PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----";
        assert_eq!(found(t), [t]);
    }

    #[test]
    fn not_private_keys() {
        for t in [
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
            "-----BEGIN PRIVATE KEY",
            "----BEGIN PRIVATE KEY-----",
        ] {
            assert!(found(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn two_keys() {
        let k = "-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----";
        assert_eq!(found(&format!("{k}\n{k}")), [k, k]);
    }
}
