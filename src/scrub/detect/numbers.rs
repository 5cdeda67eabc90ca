//! The number-shaped detectors (card, IBAN, SSN, phone, and the national
//! and health identifiers of `ids`) share one pass over the digit runs of a
//! text: each of their matches starts at, or a few bytes before, the start
//! of a run of digits, and what the run looks like (its length, the bytes
//! around it) rules most detectors out before any of them parses. Ordinary
//! text is full of short numbers (dates, sizes, ids), so this pass, not the
//! parsers, sets the speed.

use super::issuer::MIN_DIGITS;
use super::text::{at, before};
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
pub(super) fn find(text: &str, set: DetectorSet, key: Option<&str>, out: &mut Vec<Finding>) {
    let mut pass = Pass {
        b: text.as_bytes(),
        key,
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
    // Two tight searches per run: for its first digit, then for the byte
    // after its last.
    let b = pass.b;
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
        pass.run(start, end);
        i = end;
    }
}

struct Pass<'a, 'o> {
    b: &'a [u8],
    key: Option<&'a str>,
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
            && let Some(e) = card::at_run(b, start, self.key)
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
            self.ids.run(b, start, end, self.key, self.out);
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
        // A national number: its area code in parentheses, or from here.
        if len < 2 {
            return None;
        }
        let area = (prev == Some(b'(') && at(b, start) == Some(b'0')).then_some(mark);
        area.into_iter()
            .chain([start])
            .filter(|&from| from >= self.phone_from)
            .find_map(|from| {
                let (e, needs_context) = phone::national(b, from)?;
                // A member named for an id of a call or a contact holds
                // no phone number.
                let key = self.key.filter(|k| !context::key_names_an_id(k));
                (!needs_context || context::names(b, from, key, phone::WORDS)).then_some((from, e))
            })
    }
}
