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
//! - National formats of the countries whose numbers start with the trunk
//!   prefix 0 (UK, DE, FR, NL, CH, AT, BE, IE, SE, AU, IN, and IT's
//!   landlines, whose 0 is part of the number): a 0, then a digit 1-9, 9 to
//!   12 digits in all, in groups of two or more split by one space, dash,
//!   dot or slash ("020 7946 0958", "06 12 34 56 78", "0151-12345678",
//!   "030/1234567", "08-123 456 78", "01.23.45.67.89"), or with the area
//!   code in parentheses ("(020) 7946 0958", "(02) 9876 5432"). Dots only
//!   where every separator is one; a slash only after the area code; groups
//!   that read as a date (`05-12-2026 10`) are not a number. The same after
//!   the international prefix 00 ("0044 20 7946 0958").
//! - With a word nearby that says phone (`tel`, `mobile`, `telefon`, a key
//!   such as `phone_number`), also what other numbers look like: the same
//!   numbers as one run ("07700900123"), and the plans without a trunk
//!   prefix: ES and PL (nine digits), DK and NO (eight), IT mobiles (ten
//!   from 3), IN mobiles (ten from 6-9), and North American numbers spaced
//!   or dotted ("415 555 2671", "415.555.2671").
//!
//! Without such a word, bare digit runs and those plans' groupings are not
//! matched: they cannot be told apart from timestamps, prices and ids.

use super::Profile;
use super::text::{at, before, digits_at, left_bounded, left_free, right_free};
#[cfg(test)]
use super::{Detector, Finding};

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;
/// "+12345678.90" is a signed amount; "1-415-555-2671-3" a longer id.
const JOINERS: &[u8] = b"-.";

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    // The shortest national number holds eight digits (DK, NO).
    p.digits() >= MIN_DIGITS
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
    end == Some(b.len()) || national(b, 0).is_some_and(|(end, _)| end == b.len())
}

/// Words that say a number nearby is a phone number (see `context`).
pub(super) const WORDS: &[&str] = &[
    "phone",
    "phones",
    "telephone",
    "tel",
    "tele",
    "tlf",
    "telf",
    "mobile",
    "mob",
    "mobil",
    "mobiel",
    "cell",
    "cellphone",
    "cellular",
    "fax",
    "call",
    "sms",
    "whatsapp",
    "msisdn",
    "gsm",
    "fon",
    "landline",
    "festnetz",
    "handynummer",
    "mobiltelefon",
    "celular",
    "telefone",
    "telefonu",
    "handy",
    "telefon",
    "telefonnummer",
    "rufnummer",
    "portable",
    "movil",
    "telefono",
    "cellulare",
    "telefoon",
    "telefonnr",
    "mobilnummer",
    "contact",
    "ph",
    "telemovel",
    "komorka",
    "komorkowy",
    "telefonszam",
    "puhelin",
    "телефон",
    "тел",
    "моб",
    "мобильный",
    "电话",
    "手机",
    "電話",
    "携帯",
    "전화",
    "휴대폰",
    "هاتف",
    "جوال",
    "טלפון",
];

/// Most digits in a grouped number: 00 and fifteen.
const MAX_GROUPED: usize = 17;
/// Digits in a national number with its trunk prefix.
const NATIONAL: std::ops::RangeInclusive<usize> = 9..=12;
const MAX_GROUPS: usize = 7;

/// A number written in groups of digits.
#[derive(Clone, Copy)]
struct Grouped {
    digits: [u8; MAX_GROUPED],
    count: usize,
    groups: [usize; MAX_GROUPS],
    /// Where each group ends.
    ends: [usize; MAX_GROUPS],
    n: usize,
    /// What comes after each group but the last: one of ` -./` (` ` for
    /// any run of up to two spaces or a tab), or `)` after an area code in
    /// parentheses.
    seps: [u8; MAX_GROUPS],
}

impl Grouped {
    fn digits(&self) -> &[u8] {
        self.digits.get(..self.count).unwrap_or_default()
    }

    fn groups(&self) -> &[usize] {
        self.groups.get(..self.n).unwrap_or_default()
    }

    fn seps(&self) -> &[u8] {
        self.seps
            .get(..self.n.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Its first `k` groups.
    fn first(&self, k: usize) -> Self {
        let mut g = *self;
        g.n = k.min(self.n);
        g.count = self.groups().iter().take(g.n).sum();
        g
    }
}

/// The groups of digits at `start` (a digit, or '(' before one), split by
/// one separator each: None where they run on past `MAX_GROUPED` digits or
/// `MAX_GROUPS` groups, which no phone number does.
fn grouped(b: &[u8], start: usize) -> Option<Grouped> {
    let mut g = Grouped {
        digits: [0; MAX_GROUPED],
        count: 0,
        groups: [0; MAX_GROUPS],
        ends: [0; MAX_GROUPS],
        n: 0,
        seps: [0; MAX_GROUPS],
    };
    let parenthesised = at(b, start) == Some(b'(');
    let mut pos = start + usize::from(parenthesised);
    let digit_at = |i: usize| at(b, i).is_some_and(|c| c.is_ascii_digit());
    loop {
        let len = digits_at(b, pos, MAX_GROUPED);
        if len == 0 || g.count + len > MAX_GROUPED {
            return None;
        }
        for (k, &c) in b.get(pos..pos + len)?.iter().enumerate() {
            *g.digits.get_mut(g.count + k)? = c;
        }
        *g.groups.get_mut(g.n)? = len;
        g.count += len;
        pos += len;
        *g.ends.get_mut(g.n)? = pos;
        g.n += 1;
        // "(0 30) 123 45 67": the trunk prefix apart, inside the area
        // code's parentheses.
        if parenthesised
            && g.n == 1
            && len == 1
            && at(b, pos - 1) == Some(b'0')
            && at(b, pos) == Some(b' ')
            && digit_at(pos + 1)
        {
            let more = digits_at(b, pos + 1, MAX_GROUPED);
            if g.count + more > MAX_GROUPED {
                return None;
            }
            for (k, &c) in b.get(pos + 1..pos + 1 + more)?.iter().enumerate() {
                *g.digits.get_mut(g.count + k)? = c;
            }
            g.count += more;
            *g.groups.get_mut(0)? += more;
            pos += 1 + more;
            *g.ends.get_mut(0)? = pos;
        }
        let sep = if parenthesised && g.n == 1 {
            if at(b, pos) != Some(b')') {
                return None;
            }
            pos += 1 + usize::from(at(b, pos + 1) == Some(b' '));
            if !digit_at(pos) {
                return None;
            }
            b')'
        } else {
            let (width, c) = match (at(b, pos), at(b, pos + 1), at(b, pos + 2)) {
                // "0151 / 12345678"
                (Some(b' '), Some(b'/'), Some(b' ')) => (3, b'/'),
                (Some(b'/'), Some(b' '), _) => (2, b'/'),
                (Some(b' '), Some(b' '), _) => (2, b' '),
                (Some(b'\t'), _, _) => (1, b' '),
                (Some(c @ (b' ' | b'-' | b'.' | b'/')), _, _) => (1, c),
                _ => return Some(g),
            };
            if !digit_at(pos + width) {
                return Some(g);
            }
            pos += width;
            c
        };
        if g.n == MAX_GROUPS {
            return None;
        }
        *g.seps.get_mut(g.n - 1)? = sep;
    }
}

/// A national number, or one after the international prefix 00, at
/// `start` (a digit, or '(' before the area code): its end and whether it
/// needs a word that says phone, if one starts here.
pub(super) fn national(b: &[u8], start: usize) -> Option<(usize, bool)> {
    // Not part of a token joined by dashes or dots (a UUID's groups).
    let joined = |j: Option<u8>, c: Option<u8>| {
        j.is_some_and(|j| JOINERS.contains(&j)) && c.is_some_and(|c| c.is_ascii_alphanumeric())
    };
    let left_joined = joined(
        before(b, start),
        start.checked_sub(2).and_then(|k| at(b, k)),
    );
    if !left_free(b, start, JOINERS) || before(b, start) == Some(b'+') || left_joined {
        return None;
    }
    // After a number and a space, it may be the rest of that number.
    let spaced_before = before(b, start) == Some(b' ')
        && start
            .checked_sub(2)
            .and_then(|k| at(b, k))
            .is_some_and(|c| c.is_ascii_digit());
    let g = grouped(b, start)?;
    // The most groups a plan reads: what follows a space may be something
    // else ("020 7946 0958 24/7"), then only context says where the number
    // ends.
    for k in (1..=g.n).rev() {
        let cut = k < g.n;
        if cut && g.seps.get(k - 1) != Some(&b' ') {
            continue;
        }
        let end = g.ends.get(k - 1).copied()?;
        if !right_free(b, end, JOINERS) || joined(at(b, end), at(b, end + 1)) {
            continue;
        }
        if let Some(needs_context) = judge(&g.first(k)) {
            return Some((end, needs_context || cut || spaced_before));
        }
    }
    None
}

/// Whether grouped digits are a phone number by a numbering plan: None if
/// not; else whether only a word that says phone makes them one.
///
/// On their own, only the forms order and invoice numbers do not take: an
/// area code in parentheses or before a slash (`(020) 7946 0958`,
/// `030/1234567`), and five pairs from a trunk prefix (`06 12 34 56 78`).
fn judge(g: &Grouped) -> Option<bool> {
    let (d, groups, seps) = (g.digits(), g.groups(), g.seps());
    let parenthesised = seps.first() == Some(&b')');
    let slashed = seps.first() == Some(&b'/');
    let separated = !seps.is_empty();
    let international = d.starts_with(b"00");
    // Groups of two digits or more (after 00, a one-digit area code:
    // `0033 6 12 34 56 78`); a slash only after the area code; dots only
    // where every separator is one.
    // North America's trunk prefix on its own: `1 415 555 2671`.
    let nanp_trunk = groups == [1, 3, 3, 4] && d.first() == Some(&b'1');
    let short_ok = |i: usize, &l: &usize| l >= 2 || (international && i == 1) || nanp_trunk;
    let shape_ok = groups.iter().enumerate().all(|(i, l)| short_ok(i, l))
        && !seps.iter().skip(1).any(|&s| s == b'/')
        && (!seps.contains(&b'.') || seps.iter().skip(usize::from(slashed)).all(|&s| s == b'.'));
    // `078-05-1120` is written as a US SSN is.
    let ssn_like = groups == [3, 2, 4] && seps == b"--";
    if !shape_ok || ssn_like || date_like(d, groups) {
        return None;
    }
    let first = groups.first().copied().unwrap_or_default();
    let pairs = groups == [2, 2, 2, 2, 2] && seps.windows(2).all(|w| w.first() == w.last());
    match d {
        // The international prefix: a country code, then as after '+'.
        [b'0', b'0', rest @ ..] => {
            let ok = match rest.first() {
                Some(b'1') => rest.len() == 11 && north_american_digits(rest),
                Some(b'2'..=b'9') => (MIN_DIGITS..=MAX_DIGITS).contains(&rest.len()),
                _ => false,
            };
            (ok && !parenthesised && (!separated || first <= 5)).then_some(true)
        }
        // The trunk prefix, then the area code or mobile prefix.
        [b'0', b'1'..=b'9', ..] => {
            let ok = NATIONAL.contains(&d.len()) && (!separated || (2..=6).contains(&first));
            ok.then_some(!(parenthesised || slashed || pairs))
        }
        // Plans without a trunk prefix, and numbers with their country
        // code but no '+' (an MSISDN): only with a word that says phone.
        [c, ..] => {
            let ok = match d.len() {
                8 => (b'2'..=b'9').contains(c) && !parenthesised,
                // `(12) 345 67 89`: a Polish area code in parentheses.
                9 => (b'1'..=b'9').contains(c) && (!parenthesised || first == 2),
                10 => {
                    let na = north_american_digits(&[b"1", d].concat());
                    na || (!parenthesised && (*c == b'3' || (b'6'..=b'9').contains(c)))
                }
                // `1 415 555 2671`: North America's trunk prefix, spaced.
                11 if groups == [1, 3, 3, 4] => north_american_digits(d),
                11..=15 => !separated && *c != b'0',
                _ => false,
            };
            ok.then_some(true)
        }
        [] => None,
    }
}

/// A date first ("05-12-2026 10 30", "12-05-2026", "05.12.2026"), day or
/// month leading, or year first: a date and a time, not a phone number.
fn date_like(d: &[u8], groups: &[usize]) -> bool {
    let value = |from: usize, len: usize| {
        d.get(from..from + len)
            .map(|g| g.iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0')))
    };
    let day_or_month = |x: Option<u32>| x.is_some_and(|x| (1..=31).contains(&x));
    let month = |x: Option<u32>| x.is_some_and(|x| (1..=12).contains(&x));
    let year = |x: Option<u32>| x.is_some_and(|x| (1900..=2099).contains(&x));
    match groups {
        [2, 2, 4, ..] => {
            let (a, b) = (value(0, 2), value(2, 2));
            day_or_month(a) && day_or_month(b) && (month(a) || month(b)) && year(value(4, 4))
        }
        [4, 2, 2, ..] => year(value(0, 4)) && month(value(4, 2)),
        _ => false,
    }
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
    // Dots between the groups only where every separator is one, from
    // right after a country code (`+1.415.555.2671`), in three groups or
    // more: `+40.7128` is a coordinate, `+1234.5678` a signed number.
    let dotted = digits <= 3 && b.get(end) == Some(&b'.');
    let mut groups = 1;
    loop {
        // The next group follows one space or dash, or comes straight after a
        // parenthesised group, or is itself the parenthesised group.
        let separated = if dotted {
            b.get(end) == Some(&b'.')
        } else {
            matches!(b.get(end), Some(b' ' | b'-'))
        };
        let next = if separated { end + 1 } else { end };
        let next_group = match b.get(next) {
            Some(c) if c.is_ascii_digit() && (separated || after_paren) => group_at(b, next, false),
            Some(b'(') if !parens => group_at(b, next, false),
            _ => None,
        };
        match next_group {
            // A group that would pass the maximum belongs to what follows.
            Some((len, group_end, paren)) if digits + len <= max && !(dotted && paren) => {
                digits += len;
                end = group_end;
                parens |= paren;
                after_paren = paren;
                groups += 1;
            }
            _ => break,
        }
    }
    let valid = (MIN_DIGITS..=MAX_DIGITS).contains(&digits)
        && (!dotted || groups >= 3)
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
        for n in ["+1.415.555.2671", "+33.6.12.34.56.78", "+44.20.7946.0958"] {
            assert_eq!(found(&format!("call {n}.")), [n], "{n}");
        }
        // Dots only from the country code on, in three groups or more.
        for t in [
            "+40.7128",
            "+1234.5678",
            "+123.456789",
            "+1.2.3",
            "+44 20.7946.0958",
        ] {
            assert!(
                found(&format!("x {t} y")).iter().all(|f| !f.contains('.')),
                "{t}"
            );
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

    fn found_with(text: &str, key: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        super::super::numbers::find(text, Detector::Phone.into(), key, &mut out);
        out.iter().map(|f| text[f.range()].to_owned()).collect()
    }

    /// National formats with a trunk prefix in the forms order and invoice
    /// numbers do not take: found on their own.
    #[test]
    fn national_numbers() {
        for n in [
            "(020) 7946 0958",  // UK, area code in parentheses
            "030/1234567",      // DE, slash after the area code
            "(089) 1234567",    // DE Munich
            "0151 / 12345678",  // DE mobile
            "01 23 45 67 89",   // FR pairs
            "06 12 34 56 78",   // FR mobile
            "01.23.45.67.89",   // FR dotted
            "06-12-34-56-78",   // FR dashed
            "(02) 9876 5432",   // AU Sydney
            "044/668 18 00",    // CH Zurich
            "0470/12.34.56",    // BE mobile, dots after the slash
            "(0 30) 123 45 67", // DE, the trunk prefix apart
        ] {
            assert!(whole(n), "whole {n}");
            assert_eq!(found_with(&format!("x {n}."), None), [n], "{n}");
            assert_eq!(found_with(&format!("{{\"v\":\"{n}\"}}"), None), [n], "{n}");
        }
    }

    /// Forms other numbers share (order and invoice numbers with leading
    /// zeros, account numbers): found where a word or the member's name
    /// says phone.
    #[test]
    fn national_numbers_with_context() {
        for n in [
            "020 7946 0958",     // UK London
            "0161 496 0000",     // UK Manchester
            "07700 900123",      // UK mobile
            "030 12345678",      // DE Berlin
            "0151 12345678",     // DE mobile
            "0171-1234567",      // DE mobile, dashed
            "020 123 4567",      // NL Amsterdam
            "06 12345678",       // NL mobile
            "06-12345678",       // NL mobile, dashed
            "010-123 45 67",     // NL Rotterdam
            "044 668 18 00",     // CH Zurich
            "079 123 45 67",     // CH mobile
            "01 234 5678",       // AT Vienna, IE Dublin
            "0664 1234567",      // AT mobile
            "02 123 45 67",      // BE Brussels
            "0470 12 34 56",     // BE mobile
            "087 123 4567",      // IE mobile
            "08-123 456 78",     // SE Stockholm
            "070-123 45 67",     // SE mobile
            "0412 345 678",      // AU mobile
            "011 2345 6789",     // IN Delhi
            "06 1234 5678",      // IT Rome
            "020  7946  0958",   // two spaces
            "0044 20 7946 0958", // international prefix 00
            "0049 30 12345678",
            "0033 6 12 34 56 78", // a one-digit area code after 00
            "07700900123",        // UK, one run
            "0612345678",         // FR, NL
            "612 345 678",        // ES mobile
            "91 123 45 67",       // ES Madrid
            "512 345 678",        // PL mobile
            "22 123 45 67",       // PL Warsaw
            "32 14 56 78",        // DK
            "3214 5678",          // DK
            "912 34 567",         // NO mobile
            "333 123 4567",       // IT mobile
            "3331234567",
            "98765 43210",  // IN mobile
            "415 555 2671", // US, spaced
            "415.555.2671", // US, dotted
            "0049301234567",
            "4915112345678",  // an MSISDN: country code, no '+'
            "(12) 345 67 89", // PL, the area code in parentheses
            "1 415 555 2671", // US, the trunk prefix and spaces
        ] {
            assert!(found_with(&format!("ref {n}"), None).is_empty(), "bare {n}");
            for text in [
                format!("tel {n}"),
                format!("Telefon: {n}"),
                format!("mobile number is {n}"),
            ] {
                assert_eq!(found_with(&text, None), [n], "{text}");
            }
            assert_eq!(found_with(n, Some("phone_number")), [n], "key {n}");
            assert_eq!(found_with(n, Some("contactPhone")), [n], "key {n}");
            assert!(found_with(n, Some("callId")).is_empty(), "id key {n}");
            assert!(whole(n), "whole {n}");
        }
        // Words with accents and in other scripts say phone too.
        for word in [
            "Tél.",
            "Móvil:",
            "komórka",
            "телефон:",
            "电话：",
            "Ph:",
            "TEL番号",
            "phone号码",
        ] {
            let text = format!("{word} 020 7946 0958");
            assert_eq!(found_with(&text, None), ["020 7946 0958"], "{text}");
        }
        // Where the number ends, context decides: what follows a space is
        // something else.
        for (text, n) in [
            ("Tel. 020 7946 0958 24/7", "020 7946 0958"),
            ("call 0151 12345678 8-18 Uhr", "0151 12345678"),
            ("Zimmer 12, Tel 030 1234567", "030 1234567"),
        ] {
            assert_eq!(found_with(text, None), [n], "{text}");
        }
    }

    /// What national formats must not take: dates and times, prices,
    /// versions, ids, longer grouped numbers, and plans' numbers of the
    /// wrong length or prefix.
    #[test]
    fn national_look_alikes() {
        for t in [
            "05.12.2026",
            "05-12-2026 10 30",
            "05/12/2026 12:00",
            "2026 12 05 0830",
            "0.25",
            "01.02.03",
            "0-306-40615-2",
            "0012 3456 7890",
            "1234 0567 8901 2345",
            "020 7946 0958 1234",
            "ORD-0207946-0958",
            "0207946095812345",
            "012-34",
            "v0.12.34.56.78",
            "00 00 00 00 00",
            "078-05-1120",
            "0 12 34 56 78",
            "06 12 34 56 78 90 12 34",
            "phone 123 45 67",
            "0123 4567 8901 2345",
            "04-3711-8882",
            "058.397.119",
            "0588 30945",
            "12-05-2026 10:30",
            "020.016.112.140",
            "0800 1200 1400",
            "01067 04109",
            "85d17fba-0821-4423-9578-d4b1bf5f987d",
            "DE88FA1B-0327-4515-8748-ABBCBCB6EF5C",
        ] {
            assert!(
                found_with(t, None).is_empty(),
                "{t}: {:?}",
                found_with(t, None)
            );
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
