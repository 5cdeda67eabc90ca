//! Byte-level helpers shared by the detectors.
//!
//! Every detector matches ASCII only, so a match starts on an ASCII byte and
//! ends after one (or at the end of the text): its range always falls on char
//! boundaries of the original `&str`.
//!
//! Word boundaries are ASCII letters and digits only. Non-ASCII characters
//! count as separators on purpose: scripts written without spaces (Chinese,
//! Japanese, Thai) put numbers right against words, and "卡号4111111111111111"
//! must still be found.

/// The byte at `i`, if any.
pub(super) fn at(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

/// The byte just before `i`, if any.
pub(super) fn before(b: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| b.get(j)).copied()
}

pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_digit_at(b: &[u8], i: usize) -> bool {
    at(b, i).is_some_and(|c| c.is_ascii_digit())
}

/// No letter or digit right before `start`.
pub(super) fn left_bounded(b: &[u8], start: usize) -> bool {
    !before(b, start).is_some_and(is_word)
}

/// No letter or digit at `end`.
pub(super) fn right_bounded(b: &[u8], end: usize) -> bool {
    !at(b, end).is_some_and(is_word)
}

/// Bounded on the left, and not the tail of a longer number written with one
/// of `joiners` ("0.4111…" is a decimal fraction, not a card number).
pub(super) fn left_free(b: &[u8], start: usize, joiners: &[u8]) -> bool {
    if !left_bounded(b, start) {
        return false;
    }
    match (before(b, start), start.checked_sub(2)) {
        (Some(j), Some(k)) if joiners.contains(&j) => !is_digit_at(b, k),
        _ => true,
    }
}

/// Bounded on the right, and not the head of a longer number written with
/// one of `joiners`.
pub(super) fn right_free(b: &[u8], end: usize, joiners: &[u8]) -> bool {
    if !right_bounded(b, end) {
        return false;
    }
    match at(b, end) {
        Some(j) if joiners.contains(&j) => !is_digit_at(b, end + 1),
        _ => true,
    }
}

/// The ASCII digits at `i`, counted up to `max + 1` (so that a caller sees
/// a run longer than `max` without reading all of it).
pub(super) fn digits_at(b: &[u8], i: usize, max: usize) -> usize {
    b.get(i..)
        .unwrap_or_default()
        .iter()
        .take(max + 1)
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// End of the run of bytes satisfying `keep` starting at `i`.
pub(super) fn run_end(b: &[u8], i: usize, keep: impl Fn(u8) -> bool) -> usize {
    let rest = b.get(i..).unwrap_or_default();
    i + rest.iter().position(|&c| !keep(c)).unwrap_or(rest.len())
}

/// Bytes looked at together by `next_ignore_case`: the checks inside a
/// block have no early exit, so the compiler turns them into SIMD; only a
/// block with a hit is searched byte by byte.
const BLOCK: usize = 64;

/// Position of the next ASCII `needle` byte at or after `i`.
pub(super) fn next_byte(text: &str, i: usize, needle: u8) -> Option<usize> {
    // `str::find(char)` runs core's word-at-a-time memchr; `i` is always a
    // char boundary here (callers step past ASCII bytes), the fallback is
    // only for safety.
    match text.get(i..) {
        Some(s) => s.find(char::from(needle)).map(|p| i + p),
        None => {
            let rest = text.as_bytes().get(i..)?;
            rest.iter().position(|&c| c == needle).map(|p| i + p)
        }
    }
}

/// Position of the next `needle` at or after `i`.
pub(super) fn next_str(text: &str, i: usize, needle: &str) -> Option<usize> {
    text.get(i..)?.find(needle).map(|p| i + p)
}

/// Position of the next occurrence of `needle` (lowercase ASCII letters, at
/// least three) in any case, at or after `i`.
pub(super) fn next_ignore_case(b: &[u8], i: usize, needle: &[u8]) -> Option<usize> {
    let &[n0, n1, n2, ..] = needle else {
        return None;
    };
    // Candidate starts run up to `last`; a block of starts is first checked
    // on the needle's first three bytes, folded to lowercase with 0x20 (exact
    // for letters).
    let last = b.len().checked_sub(needle.len())?;
    let mut from = i;
    while from <= last {
        let to = (from + BLOCK).min(last + 1);
        let (w0, w1, w2) = (
            b.get(from..to)?,
            b.get(from + 1..to + 1)?,
            b.get(from + 2..to + 2)?,
        );
        let any = w0.iter().zip(w1).zip(w2).fold(0u8, |acc, ((&x, &y), &z)| {
            acc | (u8::from(x | 0x20 == n0) & u8::from(y | 0x20 == n1) & u8::from(z | 0x20 == n2))
        });
        if any != 0 {
            let hit = (from..to).find(|&p| {
                b.get(p..p + needle.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(needle))
            });
            if hit.is_some() {
                return hit;
            }
        }
        from = to;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        let b = b"a1 2.3-4";
        assert!(!left_bounded(b, 1));
        assert!(left_bounded(b, 0));
        assert!(left_bounded(b, 3));
        assert!(!left_free(b, 5, b"."));
        assert!(left_free(b, 5, b"-"));
        assert!(!right_free(b, 4, b"."));
        assert!(right_free(b, 4, b"-"));
        assert!(right_bounded(b, 8));
    }

    #[test]
    fn searching() {
        assert_eq!(next_ignore_case(b"x BeArEr y", 0, b"bearer"), Some(2));
        assert_eq!(next_ignore_case(b"bearebearer", 1, b"bearer"), Some(5));
        assert_eq!(next_ignore_case(b"beare", 0, b"bearer"), None);
        assert_eq!(next_ignore_case(b"bearer", 1, b"bearer"), None);
        let long = format!("{}BEARER", "x".repeat(200));
        assert_eq!(next_ignore_case(long.as_bytes(), 0, b"bearer"), Some(200));
        assert_eq!(next_ignore_case(long.as_bytes(), 201, b"bearer"), None);

        assert_eq!(next_byte("ab@c", 0, b'@'), Some(2));
        assert_eq!(next_byte("ab@c", 3, b'@'), None);
        assert_eq!(next_byte("ab", 9, b'@'), None);
        assert_eq!(next_byte("é@", 1, b'@'), Some(2));
        assert_eq!(run_end(b"x123y", 1, |c| c.is_ascii_digit()), 4);
    }
}
