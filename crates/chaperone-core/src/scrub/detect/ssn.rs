//! US Social Security numbers: AAA-GG-SSSS with dashes in free text (nine
//! bare digits are far too common to call an SSN), and also nine bare digits
//! in a value declared as one.
//!
//! Numbers the SSA never issues are excluded: area 000, 666 and 900-999,
//! group 00, serial 0000, and the two numbers made public in advertising
//! (078-05-1120 from a 1938 wallet insert, 219-09-9999 from an SSA pamphlet).
//! 123-45-6789 is *detected*: it was never issued either, but it is the
//! placeholder people type when they test a scrubber, and leaving it in place
//! would make a working contract look broken.

use super::Profile;
use super::text::{left_free, right_free};
#[cfg(test)]
use super::{Detector, Finding};

/// "1-123-45-6789" or "123-45-6789-0" is part of a longer dashed number.
const JOINERS: &[u8] = b"-.";

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.digits() >= 9 && p.dashes() >= 2
}

#[cfg(test)]
fn find(text: &str, out: &mut Vec<Finding>) {
    super::numbers::find(text, Detector::UsSsn.into(), None, out);
}

/// The end of the SSN starting at `start`, if one does.
pub(super) fn at(b: &[u8], start: usize) -> Option<usize> {
    match_at(b, start)
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() == 9 && b.iter().all(u8::is_ascii_digit) {
        return valid(b.get(..3), b.get(3..5), b.get(5..));
    }
    b.first().is_some_and(u8::is_ascii_digit) && match_at(b, 0) == Some(b.len())
}

fn match_at(b: &[u8], start: usize) -> Option<usize> {
    let s = b.get(start..start + 11)?;
    let shape = s.iter().enumerate().all(|(i, &c)| {
        if i == 3 || i == 6 {
            c == b'-'
        } else {
            c.is_ascii_digit()
        }
    });
    let end = start + 11;
    (shape
        && left_free(b, start, JOINERS)
        && right_free(b, end, JOINERS)
        && valid(s.get(..3), s.get(4..6), s.get(7..)))
    .then_some(end)
}

fn valid(area: Option<&[u8]>, group: Option<&[u8]>, serial: Option<&[u8]>) -> bool {
    let (Some(area), Some(group), Some(serial)) = (area, group, serial) else {
        return false;
    };
    let advertised: [(&[u8], &[u8], &[u8]); 2] =
        [(b"078", b"05", b"1120"), (b"219", b"09", b"9999")];
    area != b"000"
        && area != b"666"
        && area.first() != Some(&b'9')
        && group != b"00"
        && serial != b"0000"
        && !advertised.contains(&(area, group, serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn valid_numbers() {
        for n in ["123-45-6789", "001-01-0001", "899-99-9999", "665-12-3456"] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("ssn: {n}.")), [n]);
        }
        assert!(whole("123456789"));
    }

    #[test]
    fn invalid_numbers() {
        for n in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
            "219-09-9999",
            "000123456",
            "12345678",
            "123 45 6789",
        ] {
            assert!(!whole(n), "{n}");
            assert!(found(n).is_empty(), "{n}");
        }
    }

    #[test]
    fn context() {
        assert!(found("123456789").is_empty());
        assert!(found("1-123-45-6789").is_empty());
        assert!(found("123-45-6789-0").is_empty());
        assert!(found("123-45-67890").is_empty());
        assert!(found("A123-45-6789").is_empty());
        assert!(found("2024-01-15").is_empty());
        assert_eq!(
            found("a 123-45-6789, b 234-56-7890"),
            ["123-45-6789", "234-56-7890"]
        );
    }
}
