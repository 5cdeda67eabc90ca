//! Payment card numbers (PAN): 13 to 19 digits, written together or in
//! groups split by single spaces or dashes, Luhn-valid, with a length that
//! fits a known issuer range.
//!
//! The issuer check is what keeps timestamps, snowflake ids and most order
//! numbers out: they start with 1, which none of the networks below uses
//! (UATP airline cards do, and are left out for that reason).
//!
//! A '.' before or after the digits makes them part of a decimal number
//! ("0.4111…", "4111….50") and not a card; a ',' does not, so that a
//! comma-separated list of card numbers is still found.
//!
//! In free text, 13-digit Visa numbers are not matched: Visa stopped issuing
//! them decades ago, while EAN-13 barcodes from Germany (prefixes 400-440)
//! are 13 digits starting with 4, fill product APIs, and one in ten of them
//! passes Luhn. A value declared as a card number (`whole`) still accepts
//! them. So free text needs 14 digits at least.
//!
//! Likewise, in free text a single run of 17 to 19 digits is a card only for
//! UnionPay (62), the one network where such cards are common: random 64-bit
//! ids printed in decimal are 19 digits long, and a tenth of those starting
//! with 4 would otherwise pass as 19-digit Visa numbers. Written in groups,
//! every network keeps its long lengths.

use super::Profile;
use super::text::{left_free, right_free};
#[cfg(test)]
use super::{Detector, Finding};

const MIN_DIGITS: usize = 13;
/// The shortest card number matched in free text (see above).
const MIN_DIGITS_IN_TEXT: usize = 14;
const MAX_DIGITS: usize = 19;
/// See the module comment on '.' and ','.
const JOINERS: &[u8] = b".";

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.digits() >= MIN_DIGITS_IN_TEXT
}

#[cfg(test)]
fn find(text: &str, out: &mut Vec<Finding>) {
    super::numbers::find(text, Detector::Pan.into(), out);
}

/// The end of the card number in free text starting at `start`, the start
/// of a digit run.
pub(super) fn at(b: &[u8], start: usize) -> Option<usize> {
    match_at(b, start, Scope::Text)
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    b.first().is_some_and(u8::is_ascii_digit) && match_at(b, 0, Scope::Whole) == Some(b.len())
}

/// Where a number is being matched: in free text, or as a whole declared
/// value (which may also be a 13-digit Visa number).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Text,
    Whole,
}

/// The end of the longest card number starting at `start`, if any.
fn match_at(b: &[u8], start: usize, scope: Scope) -> Option<usize> {
    if !left_free(b, start, JOINERS) {
        return None;
    }
    // Most digit runs are short numbers: a card is one run of 13 or more,
    // or starts with a group of four and a separator.
    let first = b
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take(MAX_DIGITS + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    let separated = matches!(b.get(start + first), Some(b' ' | b'-'))
        && b.get(start + first + 1).is_some_and(u8::is_ascii_digit);
    if !((MIN_DIGITS..=MAX_DIGITS).contains(&first) || (first == 4 && separated)) {
        return None;
    }
    // Read up to MAX_DIGITS digits in groups; a separator is ' ' or '-', the
    // same one throughout, and must sit between two digits.
    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    // (group length, end offset) for each group read.
    let mut groups = [(0usize, 0usize); MAX_DIGITS];
    let mut ngroups = 0;
    let mut separator = None;
    let mut pos = start;
    loop {
        let run = b.get(pos..).unwrap_or_default();
        let len = run
            .iter()
            .take(MAX_DIGITS + 1)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if count + len > MAX_DIGITS {
            if ngroups == 0 {
                return None; // one run of 20 digits or more: never a card
            }
            break;
        }
        for (slot, &c) in digits.iter_mut().skip(count).zip(run.iter().take(len)) {
            *slot = c - b'0';
        }
        count += len;
        let end = pos + len;
        if let Some(slot) = groups.get_mut(ngroups) {
            *slot = (len, end);
        }
        ngroups += 1;
        match (b.get(end), b.get(end + 1)) {
            (Some(&s @ (b' ' | b'-')), Some(next))
                if next.is_ascii_digit() && separator.is_none_or(|sep| sep == s) =>
            {
                separator = Some(s);
                pos = end + 1;
            }
            _ => break,
        }
    }
    // Longest prefix of whole groups first: "4111 1111 1111 1111 123" (a card
    // followed by its CVV) is still the card.
    for k in (1..=ngroups).rev() {
        let lens = groups.get(..k).unwrap_or_default();
        let Some(&(_, end)) = lens.last() else {
            continue;
        };
        let n: usize = lens.iter().map(|g| g.0).sum();
        let number = digits.get(..n).unwrap_or_default();
        if grouping_ok(lens)
            && (MIN_DIGITS..=MAX_DIGITS).contains(&n)
            && (scope == Scope::Whole || k > 1 || n <= 16 || number.starts_with(&[6, 2]))
            && right_free(b, end, JOINERS)
            && issuer_ok(number, scope)
            && luhn_ok(number)
        {
            return Some(end);
        }
    }
    None
}

/// One run of digits, or the groupings printed on cards and in forms: fours
/// with a shorter last group (4-4-4-4, 4-4-4-4-3), and Amex/Diners 4-6-5 and
/// 4-6-4.
fn grouping_ok(groups: &[(usize, usize)]) -> bool {
    let Some(((last, _), init)) = groups.split_last() else {
        return false;
    };
    init.is_empty()
        || matches!(groups, [(4, _), (6, _), (4 | 5, _)])
        || (init.iter().all(|g| g.0 == 4) && (1..=4).contains(last))
}

/// The number read from the first `n` digits.
fn prefix(d: &[u8], n: usize) -> u32 {
    d.iter().take(n).fold(0, |acc, &x| acc * 10 + u32::from(x))
}

/// Whether the leading digits (IIN) and the length fit a card network.
fn issuer_ok(d: &[u8], scope: Scope) -> bool {
    let len = d.len();
    let visa_lengths: &[usize] = match scope {
        Scope::Text => &[16, 19],
        Scope::Whole => &[13, 16, 19],
    };
    let (p2, p3, p4) = (prefix(d, 2), prefix(d, 3), prefix(d, 4));
    let long = (16..=19).contains(&len);
    // Visa
    (d.first() == Some(&4) && visa_lengths.contains(&len))
        // Mastercard
        || (((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16)
        // American Express
        || (matches!(p2, 34 | 37) && len == 15)
        // Discover
        || ((p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && long)
        // JCB
        || ((3528..=3589).contains(&p4) && long)
        // Diners Club
        || ((p2 == 36 || (300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 38 | 39))
            && (14..=16).contains(&len))
        // UnionPay
        || (p2 == 62 && long)
        // Maestro, restricted to its 16-19 digit forms and its own ranges
        // (not the whole of "6"): 12-15 digit numbers are too common.
        || ((matches!(p2, 50 | 56..=58) || matches!(p4, 6304 | 6759 | 6761..=6763)) && long)
        // Mir
        || ((2200..=2204).contains(&p4) && long)
}

fn luhn_ok(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn luhn() {
        let digits = |s: &str| s.bytes().map(|c| c - b'0').collect::<Vec<_>>();
        assert!(luhn_ok(&digits("4111111111111111")));
        assert!(luhn_ok(&digits("79927398713")));
        assert!(!luhn_ok(&digits("4111111111111112")));
    }

    #[test]
    fn well_known_test_numbers() {
        for n in [
            "4111111111111111",
            "4012888888881881",
            "6221260000000000001",
            "5555555555554444",
            "5105105105105100",
            "2223003122003222",
            "378282246310005",
            "371449635398431",
            "6011111111111117",
            "6011000990139424",
            "3530111333300000",
            "3566002020360505",
            "30569309025904",
            "38520000023237",
            "36227206271667",
            "6200000000000005",
            "6759649826438453",
            "2200000000000004",
        ] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("card {n}.")), [n], "{n}");
        }
        // 13-digit Visa: only as a declared value.
        assert!(whole("4222222222222"));
        assert!(found("card 4222222222222").is_empty());
        // An EAN-13 barcode that also passes Luhn.
        assert!(found("gtin 4006381333924").is_empty());
    }

    #[test]
    fn groupings() {
        for n in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "3782 822463 10005",
            "3782-822463-10005",
            "3056 930902 5904",
            "6011 1111 1111 1117",
        ] {
            assert!(whole(n), "{n}");
        }
        for n in [
            "4111 1111-1111 1111",
            "4111  1111 1111 1111",
            "41 11 11 11 11 11 11 11",
            "411 111 111 111 1111",
            "4111-1111-1111-1111-",
        ] {
            assert!(!whole(n), "{n}");
        }
    }

    #[test]
    fn context() {
        assert_eq!(found("4111 1111 1111 1111 123"), ["4111 1111 1111 1111"]);
        assert_eq!(found("ref 12 4111 1111 1111 1111"), ["4111 1111 1111 1111"]);
        assert_eq!(
            found("4111111111111111,5555555555554444"),
            ["4111111111111111", "5555555555554444"]
        );
        assert_eq!(found("卡号4111111111111111。"), ["4111111111111111"]);
        assert!(found("x4111111111111111").is_empty());
        assert!(found("4111111111111111x").is_empty());
        assert!(found("04111111111111111").is_empty());
        assert!(found("0.4111111111111111").is_empty());
        assert!(found("4111111111111111.5").is_empty());
        assert!(found("41111111111111111111").is_empty());
        assert!(found("1234567890123").is_empty());
        assert!(found("1700000000123456").is_empty());
        assert!(found("4111111111111112").is_empty());
    }

    #[test]
    fn long_runs() {
        // 64-bit ids: 19 digits, Luhn-valid, Visa and Maestro prefixes.
        for id in [
            "4488286894823169796",
            "5029875928683246316",
            "4111111111111111110",
        ] {
            assert!(found(&format!("id {id}")).is_empty(), "{id}");
        }
        assert!(whole("4111111111111111110"));
        assert_eq!(
            found("4111 1111 1111 1111 110"),
            ["4111 1111 1111 1111 110"]
        );
        assert_eq!(found("up 6221260000000000001"), ["6221260000000000001"]);
    }

    #[test]
    fn issuer_lengths() {
        // A Luhn-valid 15-digit number starting with 4: Visa has no such length.
        assert!(!whole("411111111111116"));
        // Amex must be 15 digits.
        assert!(!whole("3782822463100053"));
    }
}
