//! Payment card numbers (PAN): 12 to 19 digits, Luhn-valid, at a length the
//! network of their leading digits issues (`issuer`), written in one run or
//! in the groups printed on cards and typed into forms.
//!
//! Written forms. Groups are split by one to three of ' ', '-' and '.', in
//! any mix ("4111 1111-1111 1111", "4111  1111  1111  1111",
//! "4111 - 1111 - 1111 - 1111", "4111.1111.1111.1111"); Unicode digits,
//! dashes and spaces reach this scanner already folded to ASCII. The digits
//! may be glued to letters on either side ("CARD4111…", "4111…exp"), as
//! long as those letters are not hexadecimal: a run of digits inside a hash
//! or a UUID ("…ae41e4649b93…") is not a card. Never glued to more digits:
//! a run of 20 digits holds no card, and a '.' with a digit beyond it makes
//! a decimal number ("0.4111…", "4111….50"); a '+' before it makes a phone
//! number.
//!
//! The issuer check keeps timestamps, snowflake ids and most order numbers
//! out (they start with 1, which no network below uses). What remains
//! ambiguous is settled by evidence:
//!
//! - 13 digits: a Luhn-valid run that is not a valid EAN-13 is a card (a
//!   13-digit Visa, or Maestro). One that is also a valid EAN-13 (one in ten
//!   German barcodes, prefixes 400-440, and UK ones under Maestro's 50xx),
//!   or that reads as a German or Austrian mobile number without its '+'
//!   (49 15x-17x, 43 65x-69x: WhatsApp ids, CSV exports), is a card only
//!   where the context says card.
//! - 12 digits (Maestro): likewise with UPC-A barcodes.
//! - 17 to 19 digits in one run: random 64-bit ids printed in decimal are 19
//!   digits long, and more than one in a hundred would pass as a card of
//!   some network. A card only where the context says card. Written in
//!   groups ("4111 1111 1111 1111 110"), every length is a card.
//! - Maestro at 12 to 15 digits, and 13-digit Visa: cards unless the
//!   context says identifier.
//!
//! The context (`context`) is the words just before the number (glued ones
//! included), a card word just after it, and the name of the JSON member
//! holding it. A number that is a card on its own is a card whatever the
//! context says: naming a field "id" does not hide a card number in it.
//! A value declared as a card number (`whole`) needs no context at all.

use super::Profile;
use super::barcode::gtin_ok;
use super::context::{self, Hint};
use super::issuer::{MAX_DIGITS, MIN_DIGITS, Network, luhn_ok, network};
use super::text::{at, before, digits_at};
#[cfg(test)]
use super::{Detector, Finding};

/// Bytes of one separator between groups: "4111 - 1111" has three.
const MAX_SEPARATOR: usize = 3;
/// Letters of a glued word looked at.
const MAX_GLUE: usize = 32;

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.digits() >= MIN_DIGITS
}

#[cfg(test)]
fn find(text: &str, out: &mut Vec<Finding>) {
    super::numbers::find(text, Detector::Pan.into(), None, out);
}

#[cfg(test)]
fn find_in(text: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    super::numbers::find(text, Detector::Pan.into(), Some(key), &mut out);
    out.iter()
        .map(|f| text[f.start..f.end].to_owned())
        .collect()
}

/// The end of the card number in free text whose first digit run starts at
/// `start`, in the value of the member named `key`.
pub(super) fn at_run(
    b: &[u8],
    start: usize,
    key: Option<&str>,
    label: Option<&str>,
) -> Option<usize> {
    match_at(b, start, Scope::Text { key, label })
}

pub(super) fn whole(text: &str) -> bool {
    let b = text.as_bytes();
    b.first().is_some_and(u8::is_ascii_digit) && match_at(b, 0, Scope::Whole) == Some(b.len())
}

/// Where a number is being matched: in free text, or as a whole declared
/// value (which needs no context).
#[derive(Clone, Copy)]
enum Scope<'k> {
    Text {
        key: Option<&'k str>,
        label: Option<&'k str>,
    },
    Whole,
}

/// What a number needs from its context to count as a card.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    Nothing,
    /// A card unless the context says identifier.
    NoIdContext,
    /// A card only if the context says card.
    CardContext,
}

fn is_separator(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.')
}

/// The end of a separator at `i` (one to three separator bytes) that a
/// digit follows.
fn separator_at(b: &[u8], i: usize) -> Option<usize> {
    let n = b
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take(MAX_SEPARATOR + 1)
        .take_while(|&&c| is_separator(c))
        .count();
    let end = i + n;
    ((1..=MAX_SEPARATOR).contains(&n) && at(b, end).is_some_and(|c| c.is_ascii_digit()))
        .then_some(end)
}

fn digit_run(b: &[u8], i: usize) -> usize {
    digits_at(b, i, MAX_DIGITS)
}

/// Letters glued to a number may be a word ("CARD", "exp", "x"), but not a
/// piece of a hexadecimal string ("…c44298fc1c149afb…"): at least one of
/// them is past 'f', or they are a card word ("cc"), or they end the token
/// (`at_edge`: no letter or digit beyond them), which hexadecimal strings,
/// with their short runs of letters between digits, hardly ever do.
fn glue_ok(letters: &[u8], at_edge: bool) -> bool {
    // "cc" is the one card word written in hexadecimal letters only.
    at_edge
        || letters
            .iter()
            .any(|c| matches!(c.to_ascii_lowercase(), b'g'..=b'z'))
        || letters.eq_ignore_ascii_case(b"cc")
}

/// The number's left edge at `start` allows a card.
fn left_ok(b: &[u8], start: usize) -> bool {
    match before(b, start) {
        None => true,
        Some(c) if c.is_ascii_digit() => false,
        // A phone number in E.164 ("+4915112345678").
        Some(b'+') => false,
        // A decimal fraction ("0.4111…").
        Some(b'.') => !start
            .checked_sub(2)
            .and_then(|k| at(b, k))
            .is_some_and(|c| c.is_ascii_digit()),
        Some(c) if c.is_ascii_alphabetic() => {
            let head = b
                .get(start.saturating_sub(MAX_GLUE)..start)
                .unwrap_or_default();
            let n = head
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let edge = start.checked_sub(n + 1).and_then(|k| at(b, k));
            // "0x4111…" is a hexadecimal literal.
            if n == 1 && c | 0x20 == b'x' && edge == Some(b'0') {
                return false;
            }
            glue_ok(
                head.get(head.len() - n..).unwrap_or_default(),
                n < MAX_GLUE && !edge.is_some_and(|c| c.is_ascii_alphanumeric()),
            )
        }
        Some(_) => true,
    }
}

/// The number's right edge at `end` allows a card.
fn right_ok(b: &[u8], end: usize) -> bool {
    match at(b, end) {
        None => true,
        Some(c) if c.is_ascii_digit() => false,
        // A decimal number ("4111….50").
        Some(b'.') => !at(b, end + 1).is_some_and(|c| c.is_ascii_digit()),
        Some(c) if c.is_ascii_alphabetic() => {
            let tail = b
                .get(end..end + MAX_GLUE)
                .unwrap_or_else(|| b.get(end..).unwrap_or_default());
            let n = tail.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let edge = at(b, end + n);
            glue_ok(
                tail.get(..n).unwrap_or_default(),
                n < MAX_GLUE && !edge.is_some_and(|c| c.is_ascii_alphanumeric()),
            )
        }
        Some(_) => true,
    }
}

/// The end of the longest card number starting at `start`, if any.
fn match_at(b: &[u8], start: usize, scope: Scope<'_>) -> Option<usize> {
    // Most digit runs are short numbers: a card is one run of 12 or more,
    // or starts with a group of four and a separator.
    // No network issues under 0, 1, 7, 8 or 9 (`issuer`).
    if !matches!(at(b, start), Some(b'2'..=b'6')) {
        return None;
    }
    let first = digit_run(b, start);
    let long = (MIN_DIGITS..=MAX_DIGITS).contains(&first);
    // A grouped card's second group has 3, 4 or 6 digits (`grouping_ok`):
    // dates and times (`2026-11-21`) stop here.
    let grouped = first == 4
        && separator_at(b, start + first)
            .is_some_and(|next| matches!(digit_run(b, next), 3 | 4 | 6));
    if !(long || grouped) || !left_ok(b, start) {
        return None;
    }
    // Read up to MAX_DIGITS digits in groups.
    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    // (group length, end offset) for each group read.
    let mut groups = [(0usize, 0usize); MAX_DIGITS];
    let mut ngroups = 0;
    let mut pos = start;
    loop {
        let len = digit_run(b, pos);
        if count + len > MAX_DIGITS {
            if ngroups == 0 {
                return None; // one run of 20 digits or more: never a card
            }
            break;
        }
        let run = b.get(pos..pos + len).unwrap_or_default();
        for (slot, &c) in digits.iter_mut().skip(count).zip(run) {
            *slot = c - b'0';
        }
        count += len;
        let end = pos + len;
        if let Some(slot) = groups.get_mut(ngroups) {
            *slot = (len, end);
        }
        ngroups += 1;
        match separator_at(b, end) {
            Some(next) => pos = next,
            None => break,
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
        if !((MIN_DIGITS..=MAX_DIGITS).contains(&n) && grouping_ok(lens) && right_ok(b, end)) {
            continue;
        }
        let Some(net) = network(number) else {
            continue;
        };
        if !luhn_ok(number) {
            continue;
        }
        let ok = match scope {
            Scope::Whole => true,
            Scope::Text { key, label } => match need(number, net, k > 1) {
                Need::Nothing => true,
                Need::NoIdContext => context::of_labelled(b, start, end, key, label) != Hint::Id,
                Need::CardContext => context::of_labelled(b, start, end, key, label) == Hint::Card,
            },
        };
        if ok {
            return Some(end);
        }
    }
    None
}

/// What a Luhn-valid number of network `net` needs from its context (see
/// the module comment).
fn need(number: &[u8], net: Network, grouped: bool) -> Need {
    if grouped {
        return Need::Nothing;
    }
    match (number.len(), net) {
        (17.., _) => Need::CardContext,
        (12 | 13, _) if gtin_ok(number) => Need::CardContext,
        (13, _) if phone_number(number) => Need::CardContext,
        (12 | 13, _) | (14 | 15, Network::Maestro) => Need::NoIdContext,
        _ => Need::Nothing,
    }
}

/// A German (49 15x-17x) or Austrian (43 65x-69x) mobile number in E.164
/// without its '+': 13 digits starting with 4, like a 13-digit Visa.
fn phone_number(d: &[u8]) -> bool {
    matches!(d, [4, 9, 1, 5..=7, ..] | [4, 3, 6, 5..=9, ..])
}

/// One run of digits, or the groupings printed on cards and in forms: fours
/// with a shorter last group (4-4-4-4, 4-4-4-4-3), Amex/Diners 4-6-5 and
/// 4-6-4, and the 13-digit 4-3-3-3 and 4-4-5.
fn grouping_ok(groups: &[(usize, usize)]) -> bool {
    let Some(((last, _), init)) = groups.split_last() else {
        return false;
    };
    init.is_empty()
        || matches!(
            groups,
            [(4, _), (6, _), (4 | 5, _)]
                | [(4, _), (3, _), (3, _), (3, _)]
                | [(4, _), (4, _), (5, _)]
        )
        || (init.iter().all(|g| g.0 == 4) && (1..=4).contains(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    /// A card word glued to a long number, or with an expiry date after it,
    /// says card whatever an id word before it says; the word apart alone
    /// does not.
    #[test]
    fn expiry_after_outweighs_an_id_word() {
        let n = "4000000000000000006";
        assert_eq!(found(&format!("id {n} exp 12/27")), [n]);
        assert_eq!(found(&format!("order id 7, {n} exp: 01/2028")), [n]);
        assert_eq!(found(&format!("{n} exp 12/27")), [n]);
        assert_eq!(found(&format!("ts=1627026561 {n}exp")), [n]);
        // A barcode and its best-before stay what the word before says.
        assert!(found("EAN 4006381333924 exp 06/28").is_empty());
        assert!(found("GTIN 4006381333924 EXP 12/2027 LOT A1234").is_empty());
        assert!(found(&format!("id {n} exp soon")).is_empty());
        assert!(found(&format!("id {n} exp 12/27x")).is_empty());
    }

    #[test]
    fn well_known_test_numbers() {
        for n in [
            "4111111111111111",
            "4012888888881881",
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
            "4222222222222",
        ] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("card {n}.")), [n], "{n}");
            assert_eq!(found(n), [n], "{n}");
        }
    }

    #[test]
    fn ambiguous_lengths_need_context() {
        // Luhn-valid, and valid EAN-13 barcodes too.
        for n in ["4006381333924", "4012888888881"] {
            assert!(whole(n), "{n}");
            assert!(found(n).is_empty(), "{n}");
            assert!(found(&format!("gtin {n}")).is_empty(), "{n}");
            assert_eq!(found(&format!("pay with {n}")), [n], "{n}");
            assert_eq!(found(&format!("CARD{n}")), [n], "{n}");
            assert_eq!(find_in(n, "card_number"), [n], "{n}");
            assert!(find_in(n, "ean").is_empty(), "{n}");
            assert!(find_in(n, "note").is_empty(), "{n}");
        }
        // 19-digit runs: Visa, Discover, UnionPay.
        for n in [
            "4000000000000000006",
            "6011000000000000001",
            "6221260000000000001",
        ] {
            assert!(whole(n), "{n}");
            assert!(found(n).is_empty(), "{n}");
            assert!(found(&format!("id {n}")).is_empty(), "{n}");
            assert_eq!(found(&format!("visa {n}")), [n], "{n}");
            assert_eq!(found(&format!("paid with card: {n}")), [n], "{n}");
            assert_eq!(find_in(n, "pan"), [n], "{n}");
            assert!(find_in(n, "user_id").is_empty(), "{n}");
        }
        // A 13-digit Visa that is no barcode: a card unless said otherwise.
        assert_eq!(found("pay with 4222222222222"), ["4222222222222"]);
        assert_eq!(found("4222222222222"), ["4222222222222"]);
        assert!(found("order 4222222222222").is_empty());
        assert!(find_in("4222222222222", "order_id").is_empty());
        // German phone numbers without their '+', and with it.
        assert!(found("4915112345678").is_empty());
        assert!(found("+4915112345678").is_empty());
        assert_eq!(found("card 4915112345678"), ["4915112345678"]);
        // A number that is a card on its own stays one whatever the key.
        assert_eq!(find_in("4111111111111111", "id"), ["4111111111111111"]);
        assert_eq!(
            find_in("4000 0000 0000 0000 006", "id"),
            ["4000 0000 0000 0000 006"]
        );
    }

    #[test]
    fn groupings() {
        for n in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111.1111.1111.1111",
            "4111 1111-1111 1111",
            "4111 1111.1111-1111",
            "4111  1111  1111  1111",
            "4111 - 1111 - 1111 - 1111",
            "4111--1111--1111--1111",
            "3782 822463 10005",
            "3782-822463-10005",
            "3056 930902 5904",
            "6011 1111 1111 1117",
            "4222 222 222 222",
            "4222 2222 22222",
            "4000 0000 0000 0000 006",
        ] {
            assert!(whole(n), "{n}");
            assert_eq!(found(&format!("x {n} y")), [n], "{n}");
        }
        for n in [
            "4111    1111 1111 1111",
            "41 11 11 11 11 11 11 11",
            "411 111 111 111 1111",
            "4111-1111-1111-1111-",
            "4111/1111/1111/1111",
        ] {
            assert!(!whole(n), "{n}");
        }
    }

    #[test]
    fn edges() {
        for (text, want) in [
            ("4111 1111 1111 1111 123", "4111 1111 1111 1111"),
            ("ref 12 4111 1111 1111 1111", "4111 1111 1111 1111"),
            ("卡号4111111111111111。", "4111111111111111"),
            ("CARD4111111111111111", "4111111111111111"),
            ("card4111111111111111exp", "4111111111111111"),
            ("4111111111111111exp1227", "4111111111111111"),
            ("x4111111111111111", "4111111111111111"),
            ("cc4111111111111111", "4111111111111111"),
            ("AB4111111111111111CD", "4111111111111111"),
            ("4111111111111111.", "4111111111111111"),
            ("-4111111111111111-", "4111111111111111"),
        ] {
            assert_eq!(found(text), [want], "{text}");
        }
        assert_eq!(
            found("4111111111111111,5555555555554444"),
            ["4111111111111111", "5555555555554444"]
        );
        for text in [
            "04111111111111111",
            "41111111111111111111",
            "0.4111111111111111",
            "4111111111111111.5",
            "4111.1111.1111.1111.50",
            "1.4111 1111 1111 1111",
            "+4111111111111111",
            "1ae4111111111111111",
            "4111111111111111cafe0",
            "e3b0c44298fc1c4111111111111111ab",
            "e3b0c4111111111111111ab3c",
            "0x4111111111111111",
            "1234567890123",
            "1700000000123456",
            "4111111111111112",
            "4111 1111 1111 1112",
        ] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn maestro_short_lengths() {
        // 12-digit Maestro: Luhn-valid, no UPC-A.
        let n = "675964982648";
        assert!(whole(n));
        assert_eq!(found(&format!("maestro {n}")), [n]);
        assert_eq!(found(n), [n]);
        assert!(found(&format!("ref {n}")).is_empty());
        assert_eq!(found("6759 6498 2648"), ["6759 6498 2648"]);
    }
}
