//! International bank account numbers: a country from the SWIFT IBAN
//! registry, two check digits, the national BBAN, exactly the registered
//! length for that country, and ISO 7064 mod-97 == 1. Written compact
//! ("DE89370400440532013000") or in groups of four split by single spaces
//! ("GB82 WEST 1234 5698 7654 32"), in any case: banks print them in
//! uppercase, but people and forms write "gb82west12345698765432" and
//! "Gb82 West 1234 …", and a bank reads them all the same. The exact
//! length per country and the mod-97 check (one random string in 97 passes
//! it) keep words and lowercase hex strings out.

use super::Profile;
use super::text::{left_bounded, right_bounded};
#[cfg(test)]
use super::{Detector, Finding};

/// The shortest IBAN (Norway) and the longest (Russia).
const MIN_LEN: usize = 15;
const MAX_LEN: usize = 33;

/// IBAN length per country, sorted by country code: the 89 countries of the
/// SWIFT IBAN registry as of early 2025 (release 100). Territories that use
/// their parent's code and format (French overseas departments under FR,
/// Jersey under GB ...) need no entry of their own.
const LENGTHS: [([u8; 2], u8); 89] = [
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BI", 27),
    (*b"BR", 29),
    (*b"BY", 28),
    (*b"CH", 21),
    (*b"CR", 22),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DJ", 27),
    (*b"DK", 18),
    (*b"DO", 28),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FK", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"GT", 28),
    (*b"HN", 28),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IQ", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LC", 32),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"LY", 25),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MN", 20),
    (*b"MR", 27),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NI", 28),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"OM", 23),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PS", 29),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"RU", 33),
    (*b"SA", 24),
    (*b"SC", 31),
    (*b"SD", 18),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"SO", 23),
    (*b"ST", 25),
    (*b"SV", 28),
    (*b"TL", 23),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"VG", 24),
    (*b"XK", 20),
    (*b"YE", 30),
];

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.len() >= MIN_LEN && p.digits() >= 2 && has_start(p.text.as_bytes())
}

/// Windows looked at together by `has_start`: no early exit inside a block,
/// so the check compiles to SIMD.
const BLOCK: usize = 64;

/// Two letters and two digits in a row somewhere, as every IBAN starts:
/// with lowercase accepted, the counts alone pass most text.
fn has_start(b: &[u8]) -> bool {
    let alpha = |c: u8| (c | 0x20).wrapping_sub(b'a') < 26;
    let digit = |c: u8| c.wrapping_sub(b'0') < 10;
    let Some(last) = b.len().checked_sub(4) else {
        return false;
    };
    let mut from = 0;
    while from <= last {
        let to = (from + BLOCK).min(last + 1);
        let (Some(w0), Some(w1), Some(w2), Some(w3)) = (
            b.get(from..to),
            b.get(from + 1..to + 1),
            b.get(from + 2..to + 2),
            b.get(from + 3..to + 3),
        ) else {
            return false;
        };
        let hit = w0
            .iter()
            .zip(w1)
            .zip(w2)
            .zip(w3)
            .fold(false, |hit, (((&c1, &c2), &d1), &d2)| {
                hit | (alpha(c1) & alpha(c2) & digit(d1) & digit(d2))
            });
        if hit {
            return true;
        }
        from = to;
    }
    false
}

#[cfg(test)]
fn find(text: &str, out: &mut Vec<Finding>) {
    super::numbers::find(text, Detector::Iban.into(), None, out);
}

/// The end of the IBAN starting at `start`, if one does.
pub(super) fn at(b: &[u8], start: usize) -> Option<usize> {
    match_at(b, start)
}

pub(super) fn whole(text: &str) -> bool {
    match_at(text.as_bytes(), 0) == Some(text.len())
}

fn country_len(code: [u8; 2]) -> Option<usize> {
    LENGTHS
        .binary_search_by_key(&code, |&(c, _)| c)
        .ok()
        .and_then(|k| LENGTHS.get(k))
        .map(|&(_, len)| usize::from(len))
}

fn is_bban(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn match_at(b: &[u8], start: usize) -> Option<usize> {
    let &[c1, c2, d1, d2] = b.get(start..start + 4)? else {
        return None;
    };
    if !(c1.is_ascii_alphabetic()
        && c2.is_ascii_alphabetic()
        && d1.is_ascii_digit()
        && d2.is_ascii_digit()
        && left_bounded(b, start))
    {
        return None;
    }
    // Check digits 00, 01 and 99 are never issued.
    if !(2..=98).contains(&((d1 - b'0') * 10 + (d2 - b'0'))) {
        return None;
    }
    let len = country_len([c1.to_ascii_uppercase(), c2.to_ascii_uppercase()])?;
    let grouped = b.get(start + 4) == Some(&b' ');
    let mut chars = [0u8; MAX_LEN];
    let mut n = 0;
    let mut pos = start;
    while n < len {
        if grouped && n > 0 && n % 4 == 0 {
            if b.get(pos) != Some(&b' ') {
                return None;
            }
            pos += 1;
        }
        let c = *b.get(pos).filter(|&&c| is_bban(c))?;
        *chars.get_mut(n)? = c.to_ascii_uppercase();
        n += 1;
        pos += 1;
    }
    if !right_bounded(b, pos) {
        return None;
    }
    let iban = chars.get(..len)?;
    (mod97(iban) == 1).then_some(pos)
}

/// ISO 7064 MOD 97-10 over the IBAN with its first four characters moved to
/// the end and letters read as 10..35.
fn mod97(iban: &[u8]) -> u32 {
    let (head, rest) = iban.split_at(4.min(iban.len()));
    rest.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn starts() {
        assert!(has_start(b"GB82"));
        assert!(has_start(b"pay to gb82west"));
        assert!(has_start(&[b"x".repeat(200), b"de89".to_vec()].concat()));
        assert!(!has_start(b"GB8"));
        assert!(!has_start(b"Organic cotton, 30 degrees, size M2"));
    }

    #[test]
    fn table_is_sorted_and_bounded() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            LENGTHS
                .iter()
                .all(|&(_, l)| (MIN_LEN..=MAX_LEN).contains(&usize::from(l)))
        );
    }

    #[test]
    fn registry_examples() {
        for iban in [
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91 ABNA 0417 1643 00",
            "NO93 8601 1117 947",
            "BE68 5390 0754 7034",
            "CH93 0076 2011 6238 5295 7",
            "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
            "LC55 HEMM 0001 0001 0012 0012 0002 3015",
            "IT60 X054 2811 1010 0000 0123 456",
        ] {
            assert!(whole(iban), "{iban}");
            assert_eq!(found(&format!("pay to {iban}, thanks")), [iban], "{iban}");
        }
    }

    #[test]
    fn any_case() {
        for iban in [
            "gb82west12345698765432",
            "gb82 west 1234 5698 7654 32",
            "Gb82 West 1234 5698 7654 32",
            "de89370400440532013000",
            "fr14 2004 1010 0505 0001 3m02 606",
            "nl91abna0417164300",
        ] {
            assert!(whole(iban), "{iban}");
            assert_eq!(found(&format!("iban: {iban}.")), [iban], "{iban}");
        }
    }

    #[test]
    fn look_alikes() {
        for text in [
            "GB82 WEST 1234 5698 7654 33",
            "GB82WEST12345698765433",
            "gb82west12345698765433",
            "GB82 WEST 1234 5698 7654 3299",
            "GB82WEST123456987654321",
            "XX82WEST12345698765432",
            "GB82 WEST 12345698765432",
            "AGB82WEST12345698765432",
            "GB82WEST12345698765432X",
        ] {
            assert!(found(text).is_empty(), "{text}");
        }
    }
}
