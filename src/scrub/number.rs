//! What a JSON number means to the parsers on the other side of a hop.
//!
//! `4111111111111111`, `-4111111111111111`, `4111111111111111.0`,
//! `4.111111111111111e15` and `41111111111111110e-1` are one card number to
//! any parser that reads them back, and `4111111111111110.9999` is that card
//! number too to every parser that reads numbers as doubles (JavaScript's,
//! most JSON libraries' default). So a number is judged by the integers it
//! stands for, written as plain digits: its exact value when that is an
//! integer, and its value as a double when that is one. Both are bounded: an
//! exponent cannot make a candidate longer than [`MAX_DIGITS`].

use std::borrow::Cow;

/// Longest integer (in digits) a number is read as. Every number-shaped
/// sensitive value is far shorter; longer values are not candidates.
const MAX_DIGITS: usize = 40;

/// The integers a JSON number token (already validated) stands for, as plain
/// digits without sign: at most two, the exact one first.
pub fn integers(raw: &str) -> Candidates<'_> {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let plain = unsigned.bytes().all(|b| b.is_ascii_digit());
    // The common case: a plain integer that a double holds exactly is its
    // own and only candidate.
    if plain && unsigned.len() <= 15 {
        return Candidates {
            exact: Some(Cow::Borrowed(unsigned)),
            double: None,
        };
    }
    let exact = if plain {
        Some(Cow::Borrowed(unsigned))
    } else {
        exact_integer(unsigned)
    };
    let double = double_integer(raw).filter(|d| exact.as_deref() != Some(d.as_str()));
    Candidates {
        exact,
        double: double.map(Cow::Owned),
    }
}

/// What [`integers`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates<'a> {
    pub exact: Option<Cow<'a, str>>,
    pub double: Option<Cow<'a, str>>,
}

impl Candidates<'_> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().chain(self.double.iter()).map(|c| &**c)
    }
}

/// The exact value of `digits[.fraction][e[+-]exp]` if it is an integer of
/// at most [`MAX_DIGITS`] digits.
fn exact_integer(unsigned: &str) -> Option<Cow<'static, str>> {
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], parse_exponent(&unsigned[i + 1..])?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is 0.DIGITS × 10^point, with DIGITS the mantissa's digits.
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let point = i64::try_from(int.len()).ok()?.checked_add(exp)?;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    let significant = digits.get(lead..)?;
    let last = significant
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |p| p + 1);
    let significant = significant.get(..last)?;
    if significant.is_empty() {
        return None; // zero
    }
    // Digits before the point, counted from the first significant digit.
    let whole = point.checked_sub(i64::try_from(lead).ok()?)?;
    let whole = usize::try_from(whole).ok()?;
    if whole < significant.len() || whole > MAX_DIGITS {
        return None; // a fraction remains, or the integer is too long
    }
    let mut out = String::with_capacity(whole);
    out.extend(significant.iter().map(|&d| char::from(d)));
    out.extend(std::iter::repeat_n('0', whole - significant.len()));
    Some(Cow::Owned(out))
}

/// `[+-]digits`, saturating far beyond any exponent that could matter.
fn parse_exponent(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut e: i64 = 0;
    for b in digits.bytes() {
        e = e.saturating_mul(10).saturating_add(i64::from(b - b'0'));
        if e > 1_000_000 {
            e = 1_000_000;
        }
    }
    Some(if negative { -e } else { e })
}

/// The number as a double, if that is an integer of sensible size.
fn double_integer(raw: &str) -> Option<String> {
    let x: f64 = raw.parse().ok()?;
    let x = x.abs();
    // Below 1e6 nothing sensitive fits; at 1e21 and beyond doubles print in
    // exponent form and no sensitive value is that long.
    if !(1e6..1e21).contains(&x) || x.fract() != 0.0 {
        return None;
    }
    Some(format!("{x:.0}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(raw: &str) -> Vec<String> {
        integers(raw).iter().map(str::to_owned).collect()
    }

    #[test]
    fn every_way_to_write_a_card_number() {
        for raw in [
            "4111111111111111",
            "-4111111111111111",
            "4111111111111111.0",
            "4111111111111111.000",
            "4.111111111111111e15",
            "4.111111111111111E+15",
            "4111111111111111e0",
            "41111111111111110e-1",
            "0.4111111111111111e16",
            "-0.4111111111111111E16",
            "411111111111111.1e1",
        ] {
            assert_eq!(all(raw)[0], "4111111111111111", "{raw}");
        }
        // Read as a double, this is the card number; exactly, it is not.
        assert_eq!(all("4111111111111110.9999"), ["4111111111111111"]);
        // A 19-digit integer a double cannot hold reads back as its neighbour.
        assert_eq!(
            all("4000000000000000007"),
            ["4000000000000000007", "4000000000000000000"]
        );
        assert_eq!(all("4111111111111111.0000000001"), ["4111111111111111"]);
    }

    #[test]
    fn what_is_not_an_integer() {
        for raw in ["0", "0.5", "12.25", "-0.0", "1e-5", "4111111111111111.5"] {
            let got = all(raw);
            assert!(
                got.iter().all(|g| g.len() < 7),
                "{raw}: {got:?} should hold no long integer"
            );
        }
        assert_eq!(all("12"), ["12"]);
        assert_eq!(all("1.5e3"), ["1500"]);
    }

    #[test]
    fn exponents_are_bounded() {
        assert!(all("1e999999999999999999999").is_empty());
        assert!(all("1e-999999999999999999999").is_empty());
        assert!(all("4e40").is_empty(), "41 digits is past the bound");
        assert_eq!(all("4e39")[0].len(), 40);
        assert!(all("123456789012345678901234567890123456789012345").len() == 1);
    }
}
