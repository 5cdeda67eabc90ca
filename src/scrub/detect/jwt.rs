//! JSON Web Tokens in compact form: header.payload.signature, base64url,
//! header and payload both starting with "eyJ" (base64 of `{"`). Two such
//! segments joined by a dot are specific enough that no length beyond a
//! plausible minimum is needed; the signature may be empty (`alg: none`
//! tokens still carry their claims).

use super::text::{before, next_str, run_end};
use super::{Detector, Finding, Mark, Profile};

/// `{"a":1}` is the shortest JSON object a header or payload could be; it
/// encodes to ten characters.
const MIN_SEGMENT: usize = 10;
const MARK: &str = "eyJ";

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.len() >= 2 * MIN_SEGMENT + 2 && p.has(Mark::J) && p.text.contains(MARK)
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(start) = next_str(text, i, MARK) {
        let header_end = run_end(b, start, is_b64url);
        match match_at(b, start, header_end) {
            Some(end) => {
                out.push(Finding::new(Detector::Jwt, start, end));
                i = end;
            }
            // No token starts inside this header-like run; a payload that
            // follows it is tried on the next round, as a header.
            None => i = header_end,
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    text.starts_with(MARK) && match_at(b, 0, run_end(b, 0, is_b64url)) == Some(b.len())
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn match_at(b: &[u8], start: usize, header_end: usize) -> Option<usize> {
    // Inside a longer base64url string "eyJ" is just three characters.
    if before(b, start).is_some_and(is_b64url) || header_end - start < MIN_SEGMENT {
        return None;
    }
    let payload = header_end + 1;
    if b.get(header_end) != Some(&b'.') || !b.get(payload..)?.starts_with(MARK.as_bytes()) {
        return None;
    }
    let payload_end = run_end(b, payload, is_b64url);
    if payload_end - payload < MIN_SEGMENT || b.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(run_end(b, payload_end + 1, is_b64url))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn tokens() {
        assert!(whole(TOKEN));
        assert_eq!(found(&format!("Authorization: Bearer {TOKEN}")), [TOKEN]);
        assert_eq!(
            found(&format!("https://x.test/cb#id_token={TOKEN}&state=1")),
            [TOKEN]
        );
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.";
        assert!(whole(unsigned));
        assert_eq!(found(&format!("{unsigned} x")), [unsigned]);
    }

    #[test]
    fn not_tokens() {
        for t in [
            "eyJmb28iOiJiYXIifQ==",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
            "eyJhbGciOiJIUzI1NiJ9.abc.def",
            "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
            "eyJhIn0.eyJzdWIiOiIxIn0.sig",
            "eyJ.eyJ.eyJ",
        ] {
            assert!(found(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn after_a_base64_run() {
        let t = format!("QUJDeyJhbGciOiJIUzI1NiJ9 {TOKEN}");
        assert_eq!(found(&t), [TOKEN]);
    }
}
