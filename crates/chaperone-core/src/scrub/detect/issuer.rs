//! Card networks: the leading digits (IIN ranges) each one issues under,
//! and the lengths its card numbers have, from the networks' published
//! tables (Visa, Mastercard, American Express, the Discover Global Network
//! table that also lists Diners Club International and the UnionPay and
//! JCB ranges it accepts, JCB, UnionPay, Mir, Maestro).
//!
//! Numbers starting with 1 (UATP airline cards) and the national schemes
//! (RuPay, Troy, Verve, ...) are left out: their ranges hold timestamps,
//! snowflake ids and phone numbers far more often than cards.

/// A card network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Network {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
    Mir,
}

/// Lengths `from..=to` as a bit set.
const fn lengths(from: u32, to: u32) -> u32 {
    (u32::MAX >> (31 - to)) & !((1 << from) - 1)
}

const fn one(len: u32) -> u32 {
    1 << len
}

/// (first prefix, last prefix, digits in the prefix, network, lengths).
const RANGES: [(u32, u32, usize, Network, u32); 26] = [
    (4, 4, 1, Network::Visa, one(13) | one(16) | one(19)),
    (51, 55, 2, Network::Mastercard, one(16)),
    (2221, 2720, 4, Network::Mastercard, one(16)),
    (34, 34, 2, Network::Amex, one(15)),
    (37, 37, 2, Network::Amex, one(15)),
    (6011, 6011, 4, Network::Discover, lengths(16, 19)),
    (644, 649, 3, Network::Discover, lengths(16, 19)),
    (65, 65, 2, Network::Discover, lengths(16, 19)),
    (3528, 3589, 4, Network::Jcb, lengths(16, 19)),
    // Diners Club International: 36 at 14 to 19 digits; the other ranges
    // at 16 to 19, and at the 14 digits of their older cards.
    (36, 36, 2, Network::Diners, lengths(14, 19)),
    (300, 305, 3, Network::Diners, one(14) | lengths(16, 19)),
    (3095, 3095, 4, Network::Diners, one(14) | lengths(16, 19)),
    (38, 39, 2, Network::Diners, one(14) | lengths(16, 19)),
    (62, 62, 2, Network::UnionPay, lengths(16, 19)),
    (2200, 2204, 4, Network::Mir, lengths(16, 19)),
    // Maestro: 12 to 19 digits in its own ranges, ...
    (5018, 5018, 4, Network::Maestro, lengths(12, 19)),
    (5020, 5020, 4, Network::Maestro, lengths(12, 19)),
    (5038, 5038, 4, Network::Maestro, lengths(12, 19)),
    (5893, 5893, 4, Network::Maestro, lengths(12, 19)),
    (6304, 6304, 4, Network::Maestro, lengths(12, 19)),
    (6759, 6759, 4, Network::Maestro, lengths(12, 19)),
    (6761, 6763, 4, Network::Maestro, lengths(12, 19)),
    (676770, 676770, 6, Network::Maestro, lengths(12, 19)),
    (676774, 676774, 6, Network::Maestro, lengths(12, 19)),
    // ... and 16 to 19 in the wider ranges it shares with debit schemes.
    (50, 50, 2, Network::Maestro, lengths(16, 19)),
    (56, 58, 2, Network::Maestro, lengths(16, 19)),
];

/// The shortest and longest card numbers of any network.
pub(super) const MIN_DIGITS: usize = 12;
pub(super) const MAX_DIGITS: usize = 19;

/// The longest prefix in the table.
const MAX_PREFIX: usize = 6;

/// The network that issues card numbers of this length under these leading
/// digits (`d` holds digit values, not ASCII), if one does.
pub(super) fn network(d: &[u8]) -> Option<Network> {
    // No network issues under 0, 1, 7, 8 or 9: most digit runs stop here.
    if !matches!(d.first(), Some(2..=6)) {
        return None;
    }
    let len = u32::try_from(d.len()).ok()?.min(31);
    // prefixes[n] is the number read from the first n digits.
    let mut prefixes = [0u32; MAX_PREFIX + 1];
    let mut acc = 0;
    for (slot, &x) in prefixes.iter_mut().skip(1).zip(d) {
        acc = acc * 10 + u32::from(x);
        *slot = acc;
    }
    RANGES
        .iter()
        .find(|&&(first, last, n, _, lens)| {
            lens & (1 << len) != 0 && prefixes.get(n).is_some_and(|p| (first..=last).contains(p))
        })
        .map(|&(.., network, _)| network)
}

/// Luhn's mod-10 check, which every network's numbers pass.
pub(super) fn luhn_ok(d: &[u8]) -> bool {
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

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|c| c - b'0').collect()
    }

    #[test]
    fn length_sets() {
        assert_eq!(lengths(16, 19), one(16) | one(17) | one(18) | one(19));
        assert_eq!(lengths(12, 12), one(12));
    }

    #[test]
    fn luhn() {
        assert!(luhn_ok(&digits("4111111111111111")));
        assert!(luhn_ok(&digits("79927398713")));
        assert!(!luhn_ok(&digits("4111111111111112")));
    }

    #[test]
    fn networks_and_lengths() {
        let n = |s: &str| network(&digits(s));
        for (number, want) in [
            ("4222222222222", Some(Network::Visa)),
            ("4111111111111111", Some(Network::Visa)),
            ("4111111111111111110", Some(Network::Visa)),
            ("411111111111116", None),
            ("41111111111111111", None),
            ("5555555555554444", Some(Network::Mastercard)),
            ("2223003122003222", Some(Network::Mastercard)),
            ("55555555555544441", None),
            ("378282246310005", Some(Network::Amex)),
            ("3782822463100053", None),
            ("6011111111111117", Some(Network::Discover)),
            ("6011000000000000001", Some(Network::Discover)),
            ("3530111333300000", Some(Network::Jcb)),
            ("36227206271667", Some(Network::Diners)),
            ("362272062716671", Some(Network::Diners)),
            ("30569309025904", Some(Network::Diners)),
            ("305693090259041", None),
            ("6221260000000000001", Some(Network::UnionPay)),
            ("2200000000000004", Some(Network::Mir)),
            ("6759649826438453", Some(Network::Maestro)),
            ("675964982643", Some(Network::Maestro)),
            ("501800000009", Some(Network::Maestro)),
            ("500000000000", None),
            ("5000000000000009", Some(Network::Maestro)),
            ("1700000000123456", None),
            ("9999999999999999", None),
        ] {
            assert_eq!(n(number), want, "{number}");
        }
    }
}
