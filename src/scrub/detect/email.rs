//! E-mail addresses: the practical subset of RFC 5322 that real addresses
//! use. Local part of letters, digits and `. _ % + -` (at most 64 bytes, no
//! leading, trailing or doubled dot); a domain of at least two
//! letter-digit-hyphen labels ending in an alphabetic TLD of two or more
//! letters; at most 254 bytes in all. ASCII only: non-ASCII characters end
//! an address, so an internationalised address is found only in part.
//!
//! Quoted local parts and IP-literal domains are left out: they are rare in
//! data and the characters they allow (quotes, slashes, brackets) would make
//! addresses swallow the text around them.

use super::text::next_byte;
use super::{Detector, Finding, Mark, Profile};

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_TOTAL: usize = 254;
const MAX_LABEL: usize = 63;

/// File extensions that are not top-level domains: "icon@2x.png" and
/// "logo@3x.webp" are image names, common in API bodies.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"bmp", b"ico", b"tif", b"tiff", b"heic",
    b"avif", b"js", b"mjs", b"css", b"map", b"json", b"txt", b"html", b"htm", b"xml", b"pdf",
    b"yaml", b"yml", b"md",
];

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.has(Mark::At)
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut i = 0;
    // The end of the last address: the next one's local part may not reach
    // back into it ("a@x.com@y.org" holds one address, not two).
    let mut floor = 0;
    while let Some(at) = next_byte(text, i, b'@') {
        match match_around(b, at, floor) {
            Some((start, end)) => {
                out.push(Finding::new(Detector::Email, start, end));
                i = end;
                floor = end;
            }
            None => i = at + 1,
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter()
        .position(|&c| c == b'@')
        .and_then(|at| match_around(b, at, 0))
        == Some((0, b.len()))
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// The address around the '@' at `at` whose local part starts at or after
/// `floor`, if there is one.
fn match_around(b: &[u8], at: usize, floor: usize) -> Option<(usize, usize)> {
    let local_start = local_start(b, at, floor)?;
    let domain_end = domain_end(b, at + 1)?;
    (domain_end - local_start <= MAX_TOTAL).then_some((local_start, domain_end))
}

fn local_start(b: &[u8], at: usize, floor: usize) -> Option<usize> {
    let head = b.get(..at)?;
    // Look one byte past the limit to tell "exactly 64" from "longer".
    let run = head
        .iter()
        .rev()
        .take(MAX_LOCAL + 1)
        .take_while(|&&c| is_local(c))
        .count();
    if run > MAX_LOCAL || at - run < floor {
        return None;
    }
    let mut start = at - run;
    // "see.bob@example.com" cannot start with a dot; "...bob@" is punctuation.
    while b.get(start) == Some(&b'.') && start < at {
        start += 1;
    }
    let local = b.get(start..at)?;
    let valid =
        !local.is_empty() && local.last() != Some(&b'.') && !local.windows(2).any(|w| w == b"..");
    valid.then_some(start)
}

fn domain_end(b: &[u8], from: usize) -> Option<usize> {
    let tail = b.get(from..)?;
    let run = tail
        .iter()
        .take(MAX_DOMAIN + 1)
        .take_while(|&&c| is_domain(c))
        .count();
    if run > MAX_DOMAIN {
        return None;
    }
    // A sentence may end right after the address: "write to bob@x.com."
    let mut domain = tail.get(..run)?;
    while let Some(rest) = domain.strip_suffix(b".") {
        domain = rest;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&c| c == b'.') {
        let ok = (1..=MAX_LABEL).contains(&label.len())
            && label.first().is_some_and(u8::is_ascii_alphanumeric)
            && label.last().is_some_and(u8::is_ascii_alphanumeric);
        if !ok {
            return None;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = last.len() >= 2
        && last.iter().all(u8::is_ascii_alphabetic)
        && !FILE_EXTENSIONS
            .iter()
            .any(|ext| last.eq_ignore_ascii_case(ext));
    (labels >= 2 && tld_ok).then_some(from + domain.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn addresses() {
        for a in [
            "bob@example.com",
            "first.last+tag@sub.example.co.uk",
            "x_y%z-1@a-b.example",
            "user@163.com",
            "A@B.CD",
        ] {
            assert!(whole(a), "{a}");
            assert_eq!(found(&format!("mail <{a}>.")), [a], "{a}");
        }
    }

    #[test]
    fn in_text() {
        assert_eq!(found("write to bob@example.com."), ["bob@example.com"]);
        assert_eq!(found("mailto:bob@example.com"), ["bob@example.com"]);
        assert_eq!(found("...bob@example.com"), ["bob@example.com"]);
        assert_eq!(found("a@b@example.com"), ["b@example.com"]);
        assert_eq!(found("联系bob@example.com谢谢"), ["bob@example.com"]);
        assert_eq!(found("a@x.com,b@y.org"), ["a@x.com", "b@y.org"]);
        assert_eq!(found("bob@example.com@example.org"), ["bob@example.com"]);
    }

    #[test]
    fn not_addresses() {
        for t in [
            "user@localhost",
            "icon@2x.png",
            "logo@3x.WEBP",
            "lodash@4.17.21",
            "react@18.2.0",
            "image@sha256:abcdef",
            "@scope/package",
            "bob@",
            "@example.com",
            "bob@example.c",
            "bob.@example.com",
            "a..b@example.com",
            "bob@-example.com",
            "bob@example-.com",
            "bob@example..com",
            "bob@example.c0m",
        ] {
            assert!(found(t).is_empty(), "{t}");
            assert!(!whole(t), "{t}");
        }
    }

    #[test]
    fn length_limits() {
        let local = "a".repeat(64);
        assert!(whole(&format!("{local}@example.com")));
        assert!(!whole(&format!("a{local}@example.com")));
        assert!(found(&format!("a{local}@example.com")).is_empty());
        let label = "d".repeat(63);
        let domain = format!("{label}.{label}.{label}.{}.com", "d".repeat(50));
        assert!(domain.len() <= MAX_DOMAIN);
        assert!(!whole(&format!("bob@{label}x.com")));
        assert!(!whole(&format!("{local}@{domain}")));
    }
}
