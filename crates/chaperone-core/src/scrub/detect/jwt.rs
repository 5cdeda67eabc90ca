//! JSON Web Tokens in compact form, signed (JWS: header.payload.signature)
//! or encrypted (JWE: header.encrypted-key.iv.ciphertext.tag), base64url
//! segments joined by dots.
//!
//! A token is known by what its segments decode to, not by how they are
//! spelled: the header is a JSON object that opens with a member name, so
//! it decodes to '{', optional JSON whitespace, '"', a printable name and
//! '"' ':'. The usual `{"alg"` encodes to "eyJ", but `{ "alg"` encodes to
//! "eyAi", `{\n` to "ewo", `{\r\n` to "ew0K", `{\t` to "ewk", and member
//! order changes everything after the first characters. Only a bounded
//! prefix (`PROBE` characters) of a segment is decoded.
//!
//! A JWS's payload must decode to a JSON object too (`{}` included); the
//! signature may be empty (`alg: none` tokens still carry their claims). A
//! JWE's other four segments are opaque: the encrypted key may be empty
//! (direct encryption), the IV, ciphertext and tag may not.
//!
//! Every header and payload starts with 'e' (the high bits of '{'), then
//! 'w' or 'y' for a header ('{' followed by whitespace or '"'); that is what
//! the pre-check and the scan look for.

use super::text::{at, before, run_end};
use super::{Detector, Finding, Mark, Profile};

/// `{"a":1}` is the shortest JSON object a header could be; it encodes to
/// ten characters.
const MIN_HEADER: usize = 10;
/// `{}` encodes to "e30".
const MIN_PAYLOAD: usize = 3;
/// Base64url characters decoded from the start of a segment: 24 bytes.
const PROBE: usize = 32;

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    if p.len() < MIN_HEADER + MIN_PAYLOAD + 2 || !p.has(Mark::Dot) {
        return false;
    }
    let b = p.text.as_bytes();
    // Two dots at least; then a header start ("ew", "ey" after a byte that
    // is not base64url), rare in text that holds no token; then a payload
    // after a dot (JWS) or four dots (JWE).
    let dots = memchr::memchr_iter(b'.', b).take(4).count();
    if dots < 2 {
        return false;
    }
    let header = header_start(b, 0)
        || any_window(b, |prev, c, next| {
            !is_b64url(prev) & (c == b'e') & ((next == b'w') | (next == b'y'))
        });
    let payload = || {
        any_window(b, |dot, e, next| {
            (dot == b'.') & (e == b'e') & matches!(next, b'w' | b'y' | b'3')
        })
    };
    header && (dots >= 4 || payload())
}

/// Windows looked at together by `any_window`: the check inside a block
/// has no early exit, so it compiles to SIMD.
const BLOCK: usize = 64;

/// Whether `hit` holds for some three bytes in a row of `b`.
fn any_window(b: &[u8], hit: impl Fn(u8, u8, u8) -> bool) -> bool {
    let Some(last) = b.len().checked_sub(3) else {
        return false;
    };
    let mut from = 0;
    while from <= last {
        let to = (from + BLOCK).min(last + 1);
        let (Some(w0), Some(w1), Some(w2)) = (
            b.get(from..to),
            b.get(from + 1..to + 1),
            b.get(from + 2..to + 2),
        ) else {
            return false;
        };
        if w0
            .iter()
            .zip(w1)
            .zip(w2)
            .fold(false, |any, ((&x, &y), &z)| any | hit(x, y, z))
        {
            return true;
        }
        from = to;
    }
    false
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(start) = next_header(b, i) {
        let header_end = run_end(b, start, is_b64url);
        match match_at(b, start, header_end) {
            Some(end) => {
                out.push(Finding::new(Detector::Jwt, start, end));
                i = end;
            }
            // No token starts inside this header-like run; a segment that
            // follows it is tried on the next round, as a header.
            None => i = header_end,
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    header_start(b, 0) && match_at(b, 0, run_end(b, 0, is_b64url)) == Some(b.len())
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// A header may start at `k`: "ew" or "ey" at the start of a base64url run
/// (inside a longer run "ey" is just two characters).
fn header_start(b: &[u8], k: usize) -> bool {
    at(b, k) == Some(b'e')
        && matches!(at(b, k + 1), Some(b'w' | b'y'))
        && !before(b, k).is_some_and(is_b64url)
}

/// The next place at or after `from` where a header may start. Callers
/// ask with `from` never going back, so the scans add up to one pass.
fn next_header(b: &[u8], from: usize) -> Option<usize> {
    let rest = b.get(from..)?;
    memchr::memchr_iter(b'e', rest)
        .map(|k| from + k)
        .find(|&k| header_start(b, k))
}

/// The end of the token whose header spans `start..header_end`, if one does.
fn match_at(b: &[u8], start: usize, header_end: usize) -> Option<usize> {
    let header = b.get(start..header_end)?;
    if header.len() < MIN_HEADER || !json_object(header, Segment::Header) {
        return None;
    }
    // The segments after the header, as (start, end).
    let mut segments = [(0usize, 0usize); 4];
    let mut n = 0;
    let mut end = header_end;
    while n < segments.len() && at(b, end) == Some(b'.') {
        let s = end + 1;
        end = run_end(b, s, is_b64url);
        if let Some(slot) = segments.get_mut(n) {
            *slot = (s, end);
        }
        n += 1;
    }
    let seg = |k: usize| {
        segments
            .get(k)
            .and_then(|&(s, e)| b.get(s..e))
            .unwrap_or_default()
    };
    let payload = seg(0);
    if n >= 2 && payload.len() >= MIN_PAYLOAD && json_object(payload, Segment::Payload) {
        return segments.get(1).map(|&(_, e)| e);
    }
    let jwe = n == 4 && (1..4).all(|k| !seg(k).is_empty());
    if jwe {
        segments.get(3).map(|&(_, e)| e)
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment {
    Header,
    Payload,
}

fn b64url_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Whether the base64url `segment` decodes to the start of a JSON object
/// that opens with a member name (or, for a payload, is `{}`), as far as
/// its first `PROBE` characters tell.
fn json_object(segment: &[u8], kind: Segment) -> bool {
    let mut bytes = [0u8; PROBE * 3 / 4];
    let mut n = 0;
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in segment.iter().take(PROBE) {
        let Some(v) = b64url_value(c) else {
            return false;
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if let Some(slot) = bytes.get_mut(n) {
                *slot = ((acc >> bits) & 0xff) as u8;
            }
            n += 1;
        }
    }
    let probed = bytes.get(..n).unwrap_or_default();
    // The probe ran out before the question was settled: only a segment
    // longer than the probe may leave it open.
    let open = segment.len() > PROBE;
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let Some((&b'{', rest)) = probed.split_first() else {
        return false;
    };
    let rest = rest
        .get(rest.iter().take_while(|c| is_ws(c)).count()..)
        .unwrap_or_default();
    match rest.split_first() {
        Some((b'"', name)) => {
            let len = name.iter().take_while(|&&c| c != b'"').count();
            let printable = name
                .iter()
                .take(len)
                .all(|&c| (0x20..0x7f).contains(&c) && c != b'\\');
            // After the closing quote, a ':'; a name the probe cuts short
            // leaves the question open.
            let colon = match name.get(len + 1..) {
                None => open,
                Some(after) => match after.iter().find(|c| !is_ws(c)) {
                    Some(&c) => c == b':',
                    None => open,
                },
            };
            printable && len > 0 && colon
        }
        Some((b'}', _)) => kind == Segment::Payload,
        Some(_) => false,
        None => open,
    }
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
    fn headers_spelled_otherwise() {
        for t in [
            // { "alg": "HS256", "typ": "JWT" }
            "eyAiYWxnIjogIkhTMjU2IiwgInR5cCI6ICJKV1QiIH0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
            // {\n  "alg": "HS256",\n  "typ": "JWT"\n}, and a payload alike
            "ewogICJhbGciOiAiSFMyNTYiLAogICJ0eXAiOiAiSldUIgp9.ewogICJzdWIiOiAiMTIzNDU2Nzg5MCIsCiAgIm5hbWUiOiAiSm9obiBEb2UiCn0.c2lnbmF0dXJl",
            // {\r\n  "alg": "HS256"\r\n}
            "ew0KICAiYWxnIjogIkhTMjU2Ig0KfQ.eyJzdWIiOiIxIn0.c2ln",
            // {\t"alg":"none"}
            "ewkiYWxnIjoibm9uZSJ9.eyJzdWIiOiIxIn0.",
            // {"typ":"JWT","alg":"HS256"} and an empty payload {}
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
        ] {
            assert!(whole(t), "{t}");
            assert_eq!(found(&format!("token={t}&x=1")), [t], "{t}");
        }
    }

    #[test]
    fn encrypted_tokens() {
        for t in [
            // {"alg":"RSA-OAEP","enc":"A256GCM"}
            "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ",
            // {"alg":"dir","enc":"A128GCM"}: no encrypted key
            "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4.XFBoMYUZodetZdvTiFvSkQ",
        ] {
            assert!(whole(t), "{t}");
            assert_eq!(found(&format!("jwe {t} end")), [t], "{t}");
        }
        // The IV, ciphertext and tag may not be empty.
        assert!(found("eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..iv..tag").is_empty());
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
            // Base64url that decodes to '{' but no member name.
            "eyEyMzQ1Njc4OTAxMjM0NQ.eyJzdWIiOiIxIn0.sig",
            // Words that start like a header.
            "eyes.everywhere.ewes",
            "eyeballs.eyebrows.eyelids",
        ] {
            assert!(found(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn after_a_base64_run() {
        let t = format!("QUJDeyJhbGciOiJIUzI1NiJ9 {TOKEN}");
        assert_eq!(found(&t), [TOKEN]);
    }

    #[test]
    fn probes() {
        let j = |s: &str, k| json_object(s.as_bytes(), k);
        assert!(j("eyJhbGciOiJIUzI1NiJ9", Segment::Header));
        assert!(j("e30", Segment::Payload));
        assert!(!j("e30", Segment::Header));
        assert!(!j("eyJmb28", Segment::Header));
        assert!(!j("YWJj", Segment::Header));
        assert!(!j("ey!", Segment::Header));
    }
}
