//! Bearer credentials: the word "Bearer" (any case, as a whole word), a
//! separator, then a token of at least 16 characters from the token68 set
//! (letters, digits, `-._~+/`, with `=` padding).
//!
//! The separator is what HTTP stacks, logs and encodings put there: any
//! run of whitespace (spaces, tabs, CR/LF, VT, FF; Unicode spaces such as
//! U+00A0, U+2000–U+200A and U+3000 reach this scanner folded to ' '), its
//! URL and form encodings ("%20", "%09", '+'), or one ':' or '=' with
//! optional whitespace around it ("bearer=…" in a query string or cookie,
//! "Bearer: …" in a log line).
//!
//! The finding covers the token only, not the word "Bearer": a redaction
//! then reads "Bearer [redacted]", and a JWT carried as a bearer token is
//! the same range, so the more specific `jwt` finding wins the tie.
//!
//! To keep prose such as "Bearer authentication-required" out, the token
//! must hold a digit or both upper- and lowercase letters; a random 16-char
//! token fails that about twice in a million.

use super::text::{left_bounded, next_ignore_case, run_end};
use super::{Detector, Finding, Mark, Profile};

const WORD: &[u8] = b"bearer";
const MIN_TOKEN: usize = 16;

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.len() > WORD.len() + MIN_TOKEN
        && p.has(Mark::B)
        && next_ignore_case(p.text.as_bytes(), 0, WORD).is_some()
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(word) = next_ignore_case(b, i, WORD) {
        match token_after(b, word) {
            Ok((start, end)) => {
                out.push(Finding::new(Detector::BearerToken, start, end));
                i = end;
            }
            Err(resume) => i = resume.max(word + WORD.len()),
        }
    }
}

/// A whole `Authorization` value: "Bearer <token>".
pub(super) fn whole(text: &str) -> bool {
    token_of(text).is_some()
}

/// The token of a whole `Authorization` value, "Bearer <token>".
pub(super) fn token_of(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    if !b.get(..WORD.len())?.eq_ignore_ascii_case(WORD) {
        return None;
    }
    let (start, end) = token_after(b, 0).ok()?;
    (end == b.len()).then(|| text.get(start..end)).flatten()
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// The end of the separator after the word "bearer" that ends at `from`,
/// if there is one.
fn separator_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut assigned = false;
    loop {
        let step = match b.get(i..).unwrap_or_default() {
            [c, ..] if is_space(*c) => 1,
            [b'%', b'2', b'0', ..] | [b'%', b'0', b'9', ..] => 3,
            [b'+', ..] if !assigned => 1,
            [b':' | b'=', ..] if !assigned => {
                assigned = true;
                1
            }
            _ => break,
        };
        i += step;
    }
    (i > from).then_some(i)
}

/// The token after the word "bearer" at `word`; else where to look for the
/// word again. A token that fails the checks below fails them in every
/// suffix too, and a "bearer" inside it is followed by such a suffix (its
/// separator can only be '=' or '+', themselves token characters), unless
/// it ends the token, where ':' or a space may follow. So the search
/// resumes at the token's last six bytes: that keeps "bearer=bearer=…"
/// linear.
fn token_after(b: &[u8], word: usize) -> Result<(usize, usize), usize> {
    let next = word + WORD.len();
    if !left_bounded(b, word) {
        return Err(next);
    }
    let start = separator_end(b, next).ok_or(next)?;
    // token68 ends with its padding; it never starts with it.
    if b.get(start) == Some(&b'=') {
        return Err(next);
    }
    // Padding only at the end is token68; a token with '=' inside is still
    // taken whole, as over-matching a credential is the safe side.
    let end = run_end(b, start, is_token68);
    let token = b.get(start..end).ok_or(next)?;
    let body = token.iter().filter(|&&c| c != b'=').count();
    let has_digit = token.iter().any(u8::is_ascii_digit);
    let mixed_case =
        token.iter().any(u8::is_ascii_uppercase) && token.iter().any(u8::is_ascii_lowercase);
    if body >= MIN_TOKEN && (has_digit || mixed_case) {
        Ok((start, end))
    } else {
        Err(end.saturating_sub(WORD.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn tokens() {
        assert_eq!(
            found("Authorization: Bearer mF_9.B5f-4.1JqM"),
            Vec::<&str>::new()
        );
        assert_eq!(
            found("Authorization: Bearer mF_9.B5f-4.1JqMxyz"),
            ["mF_9.B5f-4.1JqMxyz"]
        );
        assert_eq!(found("bearer  ya29.a0AfH6SMBx3"), ["ya29.a0AfH6SMBx3"]);
        assert_eq!(found("BEARER abcdefghijklmnoP"), ["abcdefghijklmnoP"]);
        assert_eq!(
            found("Bearer dGhpcyBpcyBhIHRva2VuCg=="),
            ["dGhpcyBpcyBhIHRva2VuCg=="]
        );
        assert!(whole("Bearer ya29.a0AfH6SMBx3dDk"));
        assert!(!whole("Bearer ya29.a0AfH6SMBx3dDk "));
        assert!(!whole("ya29.a0AfH6SMBx3dDk"));
    }

    #[test]
    fn separators() {
        let token = "ya29.a0AfH6SMBx3dDkQ";
        for sep in [
            "\t", "   ", "\r\n", "\n", "\x0b", "\x0c", " \t ", "%20", "%09", "+", ":", "=", ": ",
            " = ", "\t:\t",
        ] {
            let text = format!("Authorization: Bearer{sep}{token}");
            assert_eq!(found(&text), [token], "{sep:?}");
            assert!(whole(&format!("bearer{sep}{token}")), "{sep:?}");
        }
        assert_eq!(found(&format!("?bearer={token}&x=1")), [token]);
        // A word that ends a failed token still starts one of its own.
        assert_eq!(found(&format!("Bearer abc.bearer:{token}")), [token]);
        assert_eq!(found(&format!("bearer=x=bearer {token}")), [token]);
        assert_eq!(found(&format!("Cookie: bearer={token}; path=/")), [token]);
        for sep in ["", "::", "==", ":=", "-", "_", "/", "%2"] {
            assert!(found(&format!("Bearer{sep}{token}")).is_empty(), "{sep:?}");
        }
    }

    #[test]
    fn not_tokens() {
        for t in [
            "Bearer authentication_required",
            "Bearer tokens are short-lived",
            "Bearer realm=\"example\"",
            "Bearer realm=\"example\", error=\"invalid_token\"",
            "bearer: the person who holds the bond",
            "Bearer\ntokens are short-lived",
            "Bearer\t\tauthentication_required",
            "xBearer abcdefghijklmnop123",
            "Bearer abc123",
            "the bearer of this bond",
        ] {
            assert!(found(t).is_empty(), "{t}");
        }
    }
}
