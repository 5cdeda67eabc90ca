//! GS1 barcodes (GTIN-12 / UPC-A and GTIN-13 / EAN-13): product numbers
//! whose last digit is a check digit over the others, weighted 3 and 1 from
//! the right. They fill product and order APIs, are 12 or 13 digits long
//! like some card numbers, and one in ten of them also passes Luhn: a
//! number valid under both is ambiguous, and only context tells.

/// Whether `d` (digit values) is a valid GTIN of its length.
pub(super) fn gtin_ok(d: &[u8]) -> bool {
    let Some((&check, body)) = d.split_last() else {
        return false;
    };
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        let digits = |s: &str| s.bytes().map(|c| c - b'0').collect::<Vec<_>>();
        for (code, ok) in [
            ("4006381333931", true),
            ("4006381333924", true),
            ("4006381333925", false),
            ("5901234123457", true),
            ("036000291452", true),
            ("036000291453", false),
            ("9783161484100", true),
            ("4222222222222", false),
        ] {
            assert_eq!(gtin_ok(&digits(code)), ok, "{code}");
        }
    }
}
