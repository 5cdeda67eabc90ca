//! What a JSON number means to the parsers on the other side of a hop.
//!
//! `4111111111111111`, `-4111111111111111`, `4111111111111111.0`,
//! `4.111111111111111e15` and `41111111111111110e-1` are one card number to
//! any parser that reads them back; `4111111111111110.9999` is that card
//! number to every parser that reads numbers as doubles (JavaScript's, most
//! JSON libraries' default); and `4111111111111111.5` is it to any code that
//! turns the number into an integer (truncating, flooring or rounding). So a
//! number is judged by the integers it stands for, written as plain digits
//! without sign: its exact value's integer part and the next integer up when
//! there is a fraction, and the same for its value as a double. All bounded:
//! an exponent cannot make a candidate longer than [`MAX_DIGITS`].

use std::borrow::Cow;

/// Shortest integer part worth reading: nothing sensitive is shorter.
const MIN_DIGITS: usize = 6;

/// Longest integer (in digits) a number is read as. Every number-shaped
/// sensitive value is shorter; longer values are not candidates.
const MAX_DIGITS: usize = 24;

/// The integers a JSON number token (already validated) stands for, as plain
/// digits without sign, each once; the exact integer part first.
pub fn integers(raw: &str) -> Candidates<'_> {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let plain = unsigned.bytes().all(|b| b.is_ascii_digit());
    let mut out = Candidates(Vec::new());
    // The common case: a plain integer that a double holds exactly is its
    // own and only candidate.
    if plain && unsigned.len() <= 15 {
        out.0.push(Cow::Borrowed(unsigned));
        return out;
    }
    // Without an exponent, a number whose integer part is short stands for
    // no integer long enough to hold anything sensitive.
    if !unsigned.contains(['e', 'E']) && unsigned.find('.').unwrap_or(unsigned.len()) < MIN_DIGITS {
        return out;
    }
    if plain {
        out.push(Cow::Borrowed(unsigned));
    } else if let Some((int, fraction)) = exact_parts(unsigned) {
        let next = fraction.then(|| plus_one(&int));
        out.push(Cow::Owned(int));
        out.extend(next);
    }
    if let Some((int, fraction)) = double_parts(raw) {
        let next = fraction.then(|| plus_one(&int));
        out.push(Cow::Owned(int));
        out.extend(next);
    }
    out
}

/// What [`integers`] found: at most four integers, no two alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates<'a>(Vec<Cow<'a, str>>);

impl<'a> Candidates<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| &**c)
    }

    /// The exact value's integer part, if it is a candidate.
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(|c| &**c)
    }

    fn extend(&mut self, c: Option<String>) {
        if let Some(c) = c {
            self.push(Cow::Owned(c));
        }
    }

    fn push(&mut self, c: Cow<'a, str>) {
        if (MIN_DIGITS..=MAX_DIGITS).contains(&c.len()) && !self.0.contains(&c) {
            self.0.push(c);
        }
    }
}

/// The integer part of the exact value of `digits[.fraction][e[+-]exp]`
/// (without leading zeros, "0" for none), and whether a fraction remains;
/// `None` when the integer part is longer than [`MAX_DIGITS`].
fn exact_parts(unsigned: &str) -> Option<(String, bool)> {
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], parse_exponent(&unsigned[i + 1..])?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is DIGITS with the point after `point` of them.
    let digits = int.bytes().chain(frac.bytes());
    let point = i64::try_from(int.len()).ok()?.checked_add(exp)?;
    let total = i64::try_from(int.len() + frac.len()).ok()?;
    // Digits before the point: the mantissa's, padded with zeros.
    let whole = usize::try_from(point.clamp(0, total)).ok()?;
    let mut out = String::new();
    for d in digits.clone().take(whole) {
        if !(out.is_empty() && d == b'0') {
            out.push(char::from(d));
        }
    }
    let padding = usize::try_from((point - total).max(0)).ok()?;
    if out.len() + padding > MAX_DIGITS {
        return None;
    }
    if !out.is_empty() {
        out.extend(std::iter::repeat_n('0', padding));
    }
    if out.is_empty() {
        out.push('0');
    }
    let fraction = digits.skip(whole).any(|d| d != b'0');
    Some((out, fraction))
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

/// The integer part of the number as a double, and whether a fraction
/// remains, if that is of sensible size.
fn double_parts(raw: &str) -> Option<(String, bool)> {
    let x: f64 = raw.parse().ok()?;
    let x = x.abs();
    // Below 1e5 nothing sensitive fits; at 1e21 and beyond doubles print in
    // exponent form and no sensitive value is that long.
    if !(1e5..1e21).contains(&x) {
        return None;
    }
    Some((format!("{:.0}", x.trunc()), x.fract() != 0.0))
}

/// A decimal integer plus one.
fn plus_one(digits: &str) -> String {
    let mut out: Vec<u8> = digits.bytes().collect();
    for d in out.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return String::from_utf8_lossy(&out).into_owned();
        }
    }
    out.insert(0, b'1');
    String::from_utf8_lossy(&out).into_owned()
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
            "4111111111111111.5",
            "-4111111111111111.25",
            "41111111111111115e-1",
        ] {
            assert_eq!(all(raw)[0], "4111111111111111", "{raw}");
        }
        // Read as a double, or rounded up, this is the card number.
        for raw in ["4111111111111110.9999", "4111111111111111.0000000001"] {
            assert!(all(raw).contains(&"4111111111111111".to_owned()), "{raw}");
        }
        assert!(all("4111111111111110.5").contains(&"4111111111111111".to_owned()));
        // A 19-digit integer a double cannot hold reads back as its neighbour.
        assert_eq!(
            all("4000000000000000007"),
            ["4000000000000000007", "4000000000000000000"]
        );
    }

    #[test]
    fn short_and_small_numbers_stand_for_nothing_long() {
        for raw in ["0", "0.5", "12.25", "-0.0", "1e-5", "19.99", "-123.5"] {
            let got = all(raw);
            assert!(got.iter().all(|g| g.len() < 7), "{raw}: {got:?}");
        }
        assert_eq!(all("12"), ["12"]);
        assert_eq!(all("1.5e5"), ["150000"]);
    }

    #[test]
    fn exponents_are_bounded() {
        assert!(all("1e999999999999999999999").is_empty());
        assert!(all("1e-999999999999999999999").is_empty());
        assert!(all("4e24").is_empty(), "25 digits is past the bound");
        assert_eq!(all("4e23")[0].len(), 24);
        assert_eq!(
            all("123456789012345678901234567890123456789012345").len(),
            0,
            "longer than any sensitive value"
        );
        assert_eq!(plus_one("999"), "1000");
        assert_eq!(plus_one("4111111111111110"), "4111111111111111");
    }
}
