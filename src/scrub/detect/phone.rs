//! Telephone numbers, conservatively: only shapes that say "phone" on their
//! own.
//!
//! - International (E.164): '+', a country code not starting with 0, then
//!   digits in groups split by single spaces or dashes, optionally one group
//!   in parentheses: "+14155552671", "+44 20 7946 0958", "+1 (415) 555-2671",
//!   "+44 (0)20 7946 0958". 8 to 15 digits in all; after +1, exactly a
//!   North American number (ten digits, area code and exchange starting
//!   with 2-9), which keeps signed amounts like "+150000000" out.
//! - North American: "(415) 555-2671", "(415)555-2671", "(415) 555 2671",
//!   "415-555-2671", with an optional leading "1-" / "1 ". Area code and
//!   exchange start with 2-9, as the numbering plan requires, which rules
//!   out "123-456-7890" and most dashed ids.
//!
//! Bare digit runs, dotted numbers and national formats without these
//! marks (e.g. "030 1234567") are not matched: they cannot be told apart
//! from timestamps, prices, versions and ids.

use super::text::{before, left_bounded, left_free, right_free};
#[cfg(test)]
use super::{Detector, Finding};
use super::{Mark, Profile};

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;
/// "+12345678.90" is a signed amount; "1-415-555-2671-3" a longer id.
const JOINERS: &[u8] = b"-.";

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    // '+' for E.164, '(' or two dashes for the North American shapes.
    p.digits() >= MIN_DIGITS && (p.has(Mark::Plus) || p.has(Mark::Paren) || p.dashes() >= 2)
}

#[cfg(test)]
fn find(text: &str, out: &mut Vec<Finding>) {
    super::numbers::find(text, Detector::Phone.into(), None, out);
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    let end = match b.first() {
        Some(b'+') => international(b, 0),
        Some(_) => north_american(b, 0),
        None => None,
    };
    end == Some(b.len())
}

fn digits_at(b: &[u8], i: usize, max: usize) -> usize {
    b.get(i..)
        .unwrap_or_default()
        .iter()
        .take(max + 1)
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// "+" at `start`: the end of an E.164 number, if one starts here.
pub(super) fn international(b: &[u8], start: usize) -> Option<usize> {
    // '+' must not follow a word or a '+' ("1.0.0+2013", "UTC+0800").
    if !left_bounded(b, start) || before(b, start) == Some(b'+') {
        return None;
    }
    let first = *b.get(start + 1)?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    // +1 numbers have exactly eleven digits: what follows is something else.
    let max = if first == b'1' { 11 } else { MAX_DIGITS };
    let mut parens = false;
    let (mut digits, mut end, _) = group_at(b, start + 1, true)?;
    // A country code has at most three digits; four or more and a dash is a
    // signed date or number ("+9999-12-31", "+2024-365"), not a phone.
    if digits > max || (digits >= 4 && b.get(end) == Some(&b'-')) {
        return None;
    }
    let mut after_paren = false;
    loop {
        // The next group follows one space or dash, or comes straight after a
        // parenthesised group, or is itself the parenthesised group.
        let separated = matches!(b.get(end), Some(b' ' | b'-'));
        let next = if separated { end + 1 } else { end };
        let next_group = match b.get(next) {
            Some(c) if c.is_ascii_digit() && (separated || after_paren) => group_at(b, next, false),
            Some(b'(') if !parens => group_at(b, next, false),
            _ => None,
        };
        match next_group {
            // A group that would pass the maximum belongs to what follows.
            Some((len, group_end, paren)) if digits + len <= max => {
                digits += len;
                end = group_end;
                parens |= paren;
                after_paren = paren;
            }
            _ => break,
        }
    }
    let valid = (MIN_DIGITS..=MAX_DIGITS).contains(&digits)
        && right_free(b, end, JOINERS)
        && (first != b'1' || north_american_digits(b.get(start + 1..end)?));
    valid.then_some(end)
}

/// The digits of "+1 …" (`number`, separators and all) form a North
/// American number: country code 1, then NXX NXX XXXX.
fn north_american_digits(number: &[u8]) -> bool {
    let mut d = number.iter().filter(|c| c.is_ascii_digit());
    let mut nth = |n| d.nth(n).copied();
    let (country, area, exchange) = (nth(0), nth(0), nth(2));
    let rest = d.count();
    country == Some(b'1')
        && area.is_some_and(|c| c >= b'2')
        && exchange.is_some_and(|c| c >= b'2')
        && rest == 6
}

/// A group of digits at `pos`, or (unless `digits_only`) digits in
/// parentheses: its digit count, its end and whether it was parenthesised.
fn group_at(b: &[u8], pos: usize, digits_only: bool) -> Option<(usize, usize, bool)> {
    if !digits_only && b.get(pos) == Some(&b'(') {
        let len = digits_at(b, pos + 1, MAX_DIGITS);
        let close = pos + 1 + len;
        return (len > 0 && b.get(close) == Some(&b')')).then_some((len, close + 1, true));
    }
    let len = digits_at(b, pos, MAX_DIGITS);
    (len > 0).then_some((len, pos + len, false))
}

/// "(415) 555-2671" or "415-555-2671" at `start`, optionally after a "1 "
/// or "1-" trunk prefix: the end of the number, if one starts here.
pub(super) fn north_american(b: &[u8], start: usize) -> Option<usize> {
    if !left_free(b, start, JOINERS) {
        return None;
    }
    match (b.get(start), b.get(start + 1)) {
        (Some(b'1'), Some(b'-')) => dashed(b, start + 2),
        (Some(b'1'), Some(b' ')) => parenthesised(b, start + 2),
        (Some(b'('), _) => parenthesised(b, start),
        _ => dashed(b, start),
    }
}

/// "(415) 555-2671", "(415)555-2671", "(415) 555 2671".
fn parenthesised(b: &[u8], pos: usize) -> Option<usize> {
    if b.get(pos) != Some(&b'(') {
        return None;
    }
    let mut pos = three(b, pos + 1)?;
    if b.get(pos) != Some(&b')') {
        return None;
    }
    pos += 1;
    if b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let exchange = three(b, pos)?;
    if !matches!(b.get(exchange), Some(b'-' | b' ')) {
        return None;
    }
    line(b, exchange + 1)
}

/// "415-555-2671".
fn dashed(b: &[u8], pos: usize) -> Option<usize> {
    let area = three(b, pos)?;
    if b.get(area) != Some(&b'-') {
        return None;
    }
    let exchange = three(b, area + 1)?;
    if b.get(exchange) != Some(&b'-') {
        return None;
    }
    line(b, exchange + 1)
}

/// Three digits at `pos` starting with 2-9, and the position after them.
fn three(b: &[u8], pos: usize) -> Option<usize> {
    let d = b.get(pos..pos + 3)?;
    let ok = d.iter().all(u8::is_ascii_digit) && d.first().is_some_and(|&c| c >= b'2');
    (ok && !b.get(pos + 3).is_some_and(u8::is_ascii_digit)).then_some(pos + 3)
}

/// The four-digit line number at `pos`, bounded on the right.
fn line(b: &[u8], pos: usize) -> Option<usize> {
    let d = b.get(pos..pos + 4)?;
    let end = pos + 4;
    (d.iter().all(u8::is_ascii_digit) && right_free(b, end, JOINERS)).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn international_numbers() {
        for n in [
            "+14155552671",
            "+1 415 555 2671",
            "+1-415-555-2671",
            "+1 (415) 555-2671",
            "+44 20 7946 0958",
            "+44 (0)20 7946 0958",
            "+49 30 901820",
            "+33 1 23 45 67 89",
            "+861012345678",
        ] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("call {n}.")), [n], "{n}");
        }
        assert_eq!(found("+1 415 555 2671 1234"), ["+1 415 555 2671"]);
        assert_eq!(found("+44 20 7946 0958 1234 5678"), ["+44 20 7946 0958"]);
    }

    #[test]
    fn north_american_numbers() {
        for n in [
            "(415) 555-2671",
            "(415)555-2671",
            "(415) 555 2671",
            "415-555-2671",
            "1-800-555-0199",
            "1 (800) 555-0199",
        ] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("tel: {n}, ext 3")), [n], "{n}");
        }
    }

    #[test]
    fn not_phones() {
        for t in [
            "4155552671",
            "+1234567",
            "+0123456789",
            "+12345678.90",
            "+1234567890123456",
            "2024-01-15T10:00:00+05:30",
            "1.0.0+20130313144700",
            "UTC+0800",
            "123-456-7890",
            "415-555-26710",
            "415-555-2671-1",
            "2024-415-555-2671",
            "(123) 555-2671",
            "(415) 155-2671",
            "415.555.2671",
            "1.2.3.4",
            "v10.2.0-1",
            "$12,345.67",
            "++14155552671",
            "a+14155552671",
            "+150000000",
            "+9999-12-31 23:59:59",
            "+999999-12-31 23",
            "+2024-365 12345678",
            "+10000000000",
            "+14155552671234",
            "+1 015 555 2671",
            "+1 415 155 2671",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
