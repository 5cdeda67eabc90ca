//! AWS access key ids: a four-letter type prefix (AKIA for long-term user
//! keys, ASIA for temporary ones, and the other documented unique-id
//! prefixes) and sixteen uppercase letters or digits, as a whole word. Real
//! ids only use A-Z and 2-7 after the prefix; 0, 1, 8 and 9 are accepted too
//! so that hand-made test ids are caught.

use super::text::{left_bounded, next_byte, right_bounded};
use super::{Detector, Finding, Profile};

const LEN: usize = 20;
const PREFIXES: [&[u8; 4]; 11] = [
    b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AROA", b"AIPA", b"ANPA", b"ANVA",
    b"APKA",
];

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.len() >= LEN && p.upper() >= 4 && p.upper() + p.digits() >= LEN
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(start) = next_byte(text, i, b'A') {
        if matches_at(b, start) {
            out.push(Finding::new(Detector::AwsAccessKey, start, start + LEN));
            i = start + LEN;
        } else {
            i = start + 1;
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    text.len() == LEN && matches_at(text.as_bytes(), 0)
}

fn matches_at(b: &[u8], start: usize) -> bool {
    let Some(id) = b.get(start..start + LEN) else {
        return false;
    };
    let (prefix, rest) = id.split_at(4);
    PREFIXES.iter().any(|p| p[..] == *prefix)
        && rest
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && left_bounded(b, start)
        && right_bounded(b, start + LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn key_ids() {
        for id in [
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "AROA1234567890ABCDEF",
        ] {
            assert!(whole(id), "{id}");
            assert_eq!(found(&format!("aws_access_key_id={id}\n")), [id]);
        }
    }

    #[test]
    fn not_key_ids() {
        for t in [
            "AKIAIOSFODNN7EXAMPL",
            "AKIAIOSFODNN7EXAMPLE1",
            "XAKIAIOSFODNN7EXAMPLE",
            "AKIAiosfodnn7example",
            "AXIAIOSFODNN7EXAMPLE",
            "akiaiosfodnn7example",
        ] {
            assert!(found(t).is_empty(), "{t}");
            assert!(!whole(t), "{t}");
        }
    }
}
