//! The number-shaped detectors (card, IBAN, SSN, phone, and the national
//! and health identifiers of `ids`) share one pass over the digit runs of a
//! text: each of their matches starts at, or a few bytes before, the start
//! of a run of digits, and what the run looks like (its length, the bytes
//! around it) rules most detectors out before any of them parses. Ordinary
//! text is full of short numbers (dates, sizes, ids), so this pass, not the
//! parsers, sets the speed.

use super::issuer::MIN_DIGITS;
use super::text::{at, before, digits_at};
use super::{Detector, DetectorSet, Finding, card, context, iban, ids, phone, ssn};

/// The detectors this pass serves.
pub(super) fn detectors() -> DetectorSet {
    [
        Detector::Pan,
        Detector::Iban,
        Detector::UsSsn,
        Detector::Phone,
    ]
    .into_iter()
    .collect::<DetectorSet>()
    .union(ids::detectors())
}

/// The matches of the number-shaped detectors in `set`, each detector's
/// leftmost first and never overlapping its own earlier matches. `key` is
/// the name of the JSON member whose value `text` is, if any.
#[cfg(test)]
pub(super) fn find(text: &str, set: DetectorSet, key: Option<&str>, out: &mut Vec<Finding>) {
    find_labelled(text, set, key, None, out);
}

/// [`find`] for a value a sibling label also names (see `Context::label`).
pub(super) fn find_labelled(
    text: &str,
    set: DetectorSet,
    key: Option<&str>,
    label: Option<&str>,
    out: &mut Vec<Finding>,
) {
    let mut pass = Pass {
        b: text.as_bytes(),
        key,
        label,
        pan: set.contains(Detector::Pan),
        iban: set.contains(Detector::Iban),
        ssn: set.contains(Detector::UsSsn),
        phone: set.contains(Detector::Phone),
        pan_from: 0,
        iban_from: 0,
        ssn_from: 0,
        phone_from: 0,
        ids: ids::Ids::new(set),
        out,
    };
    if !(pass.pan || pass.iban || pass.ssn || pass.phone) && pass.ids.is_empty() {
        return;
    }
    // The commonest digits in API bodies: a whole value that is a date or
    // a date-time holds none of these values (its fields are too short and
    // joined; `dates_and_times_hold_nothing` checks it against every
    // detector here, with context).
    if date_time(pass.b) {
        return;
    }
    pass.runs();
}

/// Whether all of `b` is an RFC 3339 / ISO 8601 date or date-time:
/// `YYYY-MM-DD`, then optionally `T` (or a space) `hh:mm`, `:ss`, a
/// fraction of up to nine digits, and `Z` or an offset `±hh:mm`; each field
/// in its range.
pub(super) fn date_time(b: &[u8]) -> bool {
    // The number of two digits at `i`, if both are digits.
    let two = |i: usize| match (at(b, i), at(b, i + 1)) {
        (Some(h @ b'0'..=b'9'), Some(l @ b'0'..=b'9')) => Some((h - b'0') * 10 + (l - b'0')),
        _ => None,
    };
    let field = |i: usize, lo: u8, hi: u8| two(i).is_some_and(|n| (lo..=hi).contains(&n));
    // Years of this millennium and the last, and 9999 (the open end of a
    // validity): `4012-03-15` may be a number written in dashes.
    let year = two(0)
        .zip(two(2))
        .map(|(c, y)| u16::from(c) * 100 + u16::from(y));
    let date = b.len() >= 10
        && year.is_some_and(|y| (1000..=2999).contains(&y) || y == 9999)
        && at(b, 4) == Some(b'-')
        && field(5, 1, 12)
        && at(b, 7) == Some(b'-')
        && field(8, 1, 31);
    if !date || b.len() == 10 {
        return date;
    }
    let time = matches!(at(b, 10), Some(b'T' | b't' | b' '))
        && field(11, 0, 23)
        && at(b, 13) == Some(b':')
        && field(14, 0, 59);
    if !time {
        return false;
    }
    let mut i = 16;
    if at(b, i) == Some(b':') {
        if !field(i + 1, 0, 60) {
            return false;
        }
        i += 3;
        if at(b, i) == Some(b'.') {
            let digits = digits_at(b, i + 1, 9);
            if !(1..=9).contains(&digits) {
                return false;
            }
            i += 1 + digits;
        }
    }
    match at(b, i) {
        None => true,
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && field(i + 1, 0, 23)
                && at(b, i + 3) == Some(b':')
                && field(i + 4, 0, 59)
        }
        _ => false,
    }
}

struct Pass<'a, 'o> {
    b: &'a [u8],
    key: Option<&'a str>,
    label: Option<&'a str>,
    pan: bool,
    iban: bool,
    ssn: bool,
    phone: bool,
    /// Where each detector may match next: past the end of its last match.
    pan_from: usize,
    iban_from: usize,
    ssn_from: usize,
    phone_from: usize,
    ids: ids::Ids,
    out: &'o mut Vec<Finding>,
}

impl Pass<'_, '_> {
    /// Tries the detectors on every digit run, with two tight searches per
    /// run: for its first digit, then for the byte after its last.
    fn runs(&mut self) {
        let b = self.b;
        let mut i = 0;
        while let Some(k) = b
            .get(i..)
            .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
        {
            let start = i + k;
            let rest = b.get(start..).unwrap_or_default();
            let end = start
                + rest
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
            self.run(start, end);
            i = end;
        }
    }

    /// Tries the detectors on the digit run `start..end`.
    fn run(&mut self, start: usize, end: usize) {
        let b = self.b;
        let len = end - start;
        let (prev, next) = (before(b, start), at(b, end));

        // Every card grouping starts with a group of four, or is one run.
        if self.pan
            && start >= self.pan_from
            && (len == 4 || len >= MIN_DIGITS)
            && matches!(at(b, start), Some(b'2'..=b'6'))
            && let Some(e) = card::at_run(b, start, self.key, self.label)
        {
            self.out.push(Finding::new(Detector::Pan, start, e));
            self.pan_from = e;
        }
        // Two letters right before the check digits.
        if self.iban
            && len >= 2
            && start >= self.iban_from + 2
            && prev.is_some_and(|c| c.is_ascii_alphabetic())
            && before(b, start - 1).is_some_and(|c| c.is_ascii_alphabetic())
            && let Some(e) = iban::at(b, start - 2)
        {
            self.out.push(Finding::new(Detector::Iban, start - 2, e));
            self.iban_from = e;
        }
        if self.ssn
            && start >= self.ssn_from
            && len == 3
            && next == Some(b'-')
            && let Some(e) = ssn::at(b, start)
        {
            self.out.push(Finding::new(Detector::UsSsn, start, e));
            self.ssn_from = e;
        }
        if self.phone
            && let Some((s, e)) = self.phone_at(start, len, prev, next)
        {
            self.out.push(Finding::new(Detector::Phone, s, e));
            self.phone_from = e;
        }
        if !self.ids.is_empty() {
            self.ids.run(b, start, end, self.key, self.label, self.out);
        }
    }

    /// A phone number starts at the '+' or '(' right before the run, or at
    /// the run itself ("415-", the trunk prefix "1-" / "1 ", a national
    /// number's first group).
    fn phone_at(
        &self,
        start: usize,
        len: usize,
        prev: Option<u8>,
        next: Option<u8>,
    ) -> Option<(usize, usize)> {
        let b = self.b;
        let mark = start.saturating_sub(1);
        let marked = match prev {
            Some(b'+') if mark >= self.phone_from => phone::international(b, mark),
            Some(b'(') if mark >= self.phone_from && len == 3 => phone::north_american(b, mark),
            _ => None,
        };
        if let Some(e) = marked {
            return Some((mark, e));
        }
        let dashed = (len == 3 && next == Some(b'-'))
            || (len == 1 && at(b, start) == Some(b'1') && matches!(next, Some(b'-' | b' ')));
        if dashed
            && start >= self.phone_from
            && let Some(e) = phone::north_american(b, start)
        {
            return Some((start, e));
        }
        // A national number: its area code in parentheses (`(020)`, `(0
        // 30)`, a plan without a trunk prefix: `(12)`), or from here.
        let area = (prev == Some(b'(')).then_some(mark);
        area.into_iter()
            .chain((len >= 2 || at(b, start) == Some(b'1')).then_some(start))
            .filter(|&from| from >= self.phone_from)
            .find_map(|from| {
                let (e, needs_context) = phone::national(b, from)?;
                // A member named for an id of a call or a contact holds
                // no phone number.
                let key = self.key.filter(|k| !context::key_names_an_id(k));
                let label = self.label.filter(|l| !context::key_names_an_id(l));
                (!needs_context || context::names_labelled(b, from, key, label, phone::WORDS))
                    .then_some((from, e))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        for yes in [
            "2026-11-21",
            "2026-11-21T07:23:00Z",
            "2026-11-21t07:23z",
            "2026-11-21 07:23:00",
            "2026-11-21T07:23:00.123Z",
            "2026-11-21T07:23:00.123456789+05:30",
            "2026-12-31T23:59:60-08:00",
            "9999-12-31",
            "1970-01-01T00:00:00Z",
        ] {
            assert!(date_time(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "2026-13-21",
            "2026-00-21",
            "2026-11-32",
            "2026-11-21T24:00:00Z",
            "2026-11-21T07:60Z",
            "2026-11-21T07:23:00.1234567890Z",
            "2026-11-21T07:23:00.Z",
            "2026-11-21T07:23:00Z 4111111111111111",
            "2026-11-21 4111 1111 1111 1111",
            "2026-11-21T07:23:00+05:30:00",
            "2026-11-21T07:23:00+0530",
            "2026-11-2",
            "2026/11/21",
            "12026-11-21",
            "4012-03-15",
        ] {
            assert!(!date_time(no.as_bytes()), "{no}");
        }
    }

    /// Skipping whole dates and date-times loses nothing: over many of
    /// them, fractions and offsets of every digit, under keys that name
    /// each of these detectors, the pass finds nothing in any. (Under a
    /// phone key it would read seconds and a fraction, `34.03307177`, as a
    /// number written with a dot: the skip is what stops that.)
    #[test]
    fn dates_and_times_hold_nothing() {
        let keys = [
            None,
            Some("ssn"),
            Some("card_number"),
            Some("npi"),
            Some("nhs_number"),
            Some("bsn"),
            Some("tax_id"),
            Some("ein"),
            Some("cpf"),
            Some("aadhaar"),
            Some("nir"),
            Some("dni"),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let set = detectors();
        for _ in 0..20_000 {
            let fraction: String = (0..1 + next(9))
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fraction}{}",
                1000 + next(2000),
                1 + next(12),
                1 + next(31),
                next(24),
                next(60),
                next(61),
                match next(3) {
                    0 => "Z".to_owned(),
                    1 => format!("+{:02}:{:02}", next(24), next(60)),
                    _ => String::new(),
                }
            );
            assert!(date_time(text.as_bytes()), "{text}");
            for key in keys {
                let mut out = Vec::new();
                let mut pass = Pass {
                    b: text.as_bytes(),
                    key,
                    label: None,
                    pan: true,
                    iban: true,
                    ssn: true,
                    phone: true,
                    pan_from: 0,
                    iban_from: 0,
                    ssn_from: 0,
                    phone_from: 0,
                    ids: ids::Ids::new(set),
                    out: &mut out,
                };
                pass.runs();
                assert!(out.is_empty(), "{text} under {key:?}: {out:?}");
            }
        }
    }
}
