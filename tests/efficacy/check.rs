//! Check digits and letters as each issuer specifies them, written here
//! from the specifications (not from the detectors), so the corpus checks
//! the detectors rather than agreeing with them by construction. Digits are
//! values 0–9 unless a function takes text.

/// Luhn's mod-10 check digit for `body` (the check digit goes to its right).
pub fn luhn_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_ok(number: &[u8]) -> bool {
    match number.split_last() {
        Some((&check, body)) => luhn_digit(body) == check,
        None => false,
    }
}

/// US NPI (CMS, "NPI check digit"): Luhn over the nine digits prefixed
/// with 80840, the card-issuer prefix of health applications.
pub fn npi_digit(nine: &[u8]) -> u8 {
    let mut body = vec![8, 0, 8, 4, 0];
    body.extend_from_slice(nine);
    luhn_digit(&body)
}

/// ISO 13616 IBAN check digits for a country and BBAN (uppercase ASCII):
/// 98 − (BBAN ‖ country ‖ "00" as digits, letters A=10 … Z=35) mod 97.
pub fn iban_check(country: &str, bban: &str) -> u32 {
    98 - iban_mod97(&format!("{bban}{country}00"))
}

/// The rearranged IBAN's value mod 97.
pub fn iban_mod97(rearranged: &str) -> u32 {
    let mut rem = 0u32;
    for c in rearranged.bytes() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => 0,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

/// UK NHS number: weights 10 … 2 over nine digits, 11 − (sum mod 11); 11
/// gives 0, and 10 means the nine digits are never issued (None).
pub fn nhs_digit(nine: &[u8]) -> Option<u8> {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * (10 - i as u32))
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        x => Some(x as u8),
    }
}

/// Dutch BSN 11-test: 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11). The ninth
/// digit for eight, or None where it would have to be 10.
pub fn bsn_digit(eight: &[u8]) -> Option<u8> {
    let sum: u32 = eight
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * (9 - i as u32))
        .sum();
    let d9 = sum % 11;
    (d9 < 10).then_some(d9 as u8)
}

pub fn bsn_ok(nine: &[u8]) -> bool {
    let sum: i64 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let w = if i == 8 { -1 } else { 9 - i as i64 };
            w * i64::from(d)
        })
        .sum();
    sum % 11 == 0
}

/// Brazilian CPF: two mod-11 check digits, weights 10 … 2 then 11 … 2, a
/// remainder under 2 giving 0.
pub fn cpf_digits(nine: &[u8]) -> (u8, u8) {
    let digit = |ds: &[u8]| {
        let n = ds.len() as u32 + 1;
        let sum: u32 = ds
            .iter()
            .enumerate()
            .map(|(i, &d)| u32::from(d) * (n - i as u32))
            .sum();
        let r = sum % 11;
        if r < 2 { 0 } else { (11 - r) as u8 }
    };
    let d10 = digit(nine);
    let mut ten = nine.to_vec();
    ten.push(d10);
    (d10, digit(&ten))
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const VERHOEFF_INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// Verhoeff's check digit (the dihedral group D5), as Aadhaar uses it.
pub fn verhoeff_digit(body: &[u8]) -> u8 {
    let mut c = 0usize;
    for (i, &d) in body.iter().rev().enumerate() {
        c = VERHOEFF_D[c][VERHOEFF_P[(i + 1) % 8][d as usize] as usize] as usize;
    }
    VERHOEFF_INV[c]
}

pub fn verhoeff_ok(number: &[u8]) -> bool {
    let mut c = 0usize;
    for (i, &d) in number.iter().rev().enumerate() {
        c = VERHOEFF_D[c][VERHOEFF_P[i % 8][d as usize] as usize] as usize;
    }
    c == 0
}

/// French NIR key: 97 − (the 13-character number mod 97), Corsica's 2A
/// and 2B read as 19 and 18. `thirteen` is ASCII.
pub fn nir_key(thirteen: &str) -> u32 {
    let digits = thirteen.replace("2A", "19").replace("2B", "18");
    let n: u64 = digits.parse().unwrap_or_default();
    97 - (n % 97) as u32
}

/// Spanish DNI/NIE control letter: the number (NIE: X, Y, Z as 0, 1, 2)
/// mod 23 into this table (Ministerio del Interior).
pub const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

pub fn dni_letter(number: u32) -> char {
    char::from(DNI_LETTERS[(number % 23) as usize])
}

/// Italian codice fiscale check character (DM 23/12/1976): the 15
/// characters, odd places (1st, 3rd, …) by the decree's table, even places
/// by their value (digits 0–9, letters A–Z 0–25), sum mod 26 as a letter.
pub fn cf_check(fifteen: &str) -> char {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let sum: u32 = fifteen
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let v = match c {
                b'0'..=b'9' => (c - b'0') as usize,
                _ => (c - b'A') as usize,
            };
            if i % 2 == 0 { ODD[v] } else { v as u32 }
        })
        .sum();
    char::from(b'A' + (sum % 26) as u8)
}

/// The omocodia letters that stand for the digits 0–9 in a codice fiscale.
pub const CF_OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// The month letters of a codice fiscale, January to December.
pub const CF_MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// German Steuer-IdNr check digit: ISO 7064 MOD 11,10 over ten digits.
pub fn mod11_10_digit(ten: &[u8]) -> u8 {
    let mut product = 10u32;
    for &d in ten {
        let mut sum = (u32::from(d) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = 11 - product;
    if check == 10 { 0 } else { check as u8 }
}

/// The Steuer-IdNr digit structure of the first ten digits: no leading
/// zero, one digit twice or three times (not three in a row), every other
/// digit at most once.
pub fn steuer_structure_ok(ten: &[u8]) -> bool {
    if ten.first() == Some(&0) {
        return false;
    }
    let mut counts = [0u8; 10];
    for &d in ten {
        counts[d as usize] += 1;
    }
    let repeated: Vec<usize> = (0..10).filter(|&d| counts[d] > 1).collect();
    match repeated.as_slice() {
        [d] if counts[*d] == 2 => true,
        [d] if counts[*d] == 3 => !ten.windows(3).any(|w| w.iter().all(|&x| x as usize == *d)),
        _ => false,
    }
}

/// US DEA registration checksum: (d1 + d3 + d5) + 2·(d2 + d4 + d6), its
/// last digit is d7.
pub fn dea_digit(six: &[u8]) -> u8 {
    let s = u32::from(six[0] + six[2] + six[4]) + 2 * u32::from(six[1] + six[3] + six[5]);
    (s % 10) as u8
}

/// GS1 check digit (EAN-13, UPC, ISBN-13): weights 3 and 1 from the right.
pub fn gtin_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// ISBN-10 check character: weights 10 … 2, 11 − (sum mod 11), 10 as X.
pub fn isbn10_check(nine: &[u8]) -> char {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * (10 - i as u32))
        .sum();
    match (11 - sum % 11) % 11 {
        10 => 'X',
        x => char::from(b'0' + x as u8),
    }
}

/// UPU S10 (Royal Mail international) check digit over eight digits.
pub fn s10_digit(eight: &[u8]) -> u8 {
    const W: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = eight.iter().zip(W).map(|(&d, w)| u32::from(d) * w).sum();
    match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        x => x as u8,
    }
}

/// UPS 1Z tracking check digit: letters as (code − 63) mod 10, odd places
/// once and even places twice, then the complement to ten.
pub fn ups_digit(fifteen: &str) -> u8 {
    let sum: u32 = fifteen
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                (u32::from(c) - 63) % 10
            };
            if i % 2 == 1 { 2 * v } else { v }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// FedEx Express 12-digit check digit: weights 1, 3, 7 from the right
/// over the first eleven, mod 11, 10 as 0.
pub fn fedex_digit(eleven: &[u8]) -> u8 {
    const W: [u32; 3] = [1, 3, 7];
    let sum: u32 = eleven
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * W[i % 3])
        .sum();
    ((sum % 11) % 10) as u8
}

/// Card networks' leading digits and lengths (the networks' published IIN
/// tables), as the corpus issues them.
pub const NETWORKS: &[(&str, &[&str], &[usize])] = &[
    ("visa", &["4"], &[13, 16, 19]),
    (
        "mastercard",
        &["51", "52", "53", "54", "55", "2221", "2500", "2720"],
        &[16],
    ),
    ("amex", &["34", "37"], &[15]),
    (
        "discover",
        &["6011", "644", "645", "649", "65"],
        &[16, 17, 18, 19],
    ),
    ("jcb", &["3528", "3566", "3589"], &[16, 17, 18, 19]),
    ("diners", &["36"], &[14, 15, 16, 17, 18, 19]),
    (
        "diners",
        &["300", "305", "3095", "38", "39"],
        &[14, 16, 17, 18, 19],
    ),
    ("unionpay", &["62"], &[16, 17, 18, 19]),
    (
        "maestro",
        &[
            "5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763",
        ],
        &[12, 13, 14, 15, 16, 17, 18, 19],
    ),
    ("maestro", &["50", "56", "57", "58"], &[16, 17, 18, 19]),
    ("mir", &["2200", "2204"], &[16, 17, 18, 19]),
];

/// Whether digit values at this length fall in some network's range
/// (`NETWORKS`, plus the Maestro and Mastercard ranges between the listed
/// prefixes).
pub fn branded(d: &[u8]) -> bool {
    let len = d.len();
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |v, &x| v * 10 + u32::from(x));
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    let within = |lo: usize, hi: usize| (lo..=hi).contains(&len);
    (d.first() == Some(&4) && matches!(len, 13 | 16 | 19))
        || ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16
        || (p2 == 34 || p2 == 37) && len == 15
        || (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && within(16, 19)
        || (3528..=3589).contains(&p4) && within(16, 19)
        || p2 == 36 && within(14, 19)
        || ((300..=305).contains(&p3) || p4 == 3095 || p2 == 38 || p2 == 39)
            && (len == 14 || within(16, 19))
        || p2 == 62 && within(16, 19)
        || (2200..=2204).contains(&p4) && within(16, 19)
        || ([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763].contains(&p4)
            || p6 == 676770
            || p6 == 676774)
            && within(12, 19)
        || (p2 == 50 || (56..=58).contains(&p2)) && within(16, 19)
}

/// Whether some card number, by the networks' rules, is written in `text`:
/// a run of digits (or groups of four and a last shorter one, split by
/// spaces, dashes or dots) whose whole-group prefix of 12 to 19 digits is
/// branded and Luhn-valid. Look-alikes that are cards are not look-alikes.
pub fn holds_card(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // Groups from here: digit runs joined by one to three separators.
        let mut groups: Vec<Vec<u8>> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push(b[start..j].iter().map(|c| c - b'0').collect());
            let sep = b[j..]
                .iter()
                .take(4)
                .take_while(|c| matches!(c, b' ' | b'-' | b'.'))
                .count();
            if (1..=3).contains(&sep) && b.get(j + sep).is_some_and(u8::is_ascii_digit) {
                j += sep;
            } else {
                break;
            }
        }
        let mut number = Vec::new();
        for g in &groups {
            number.extend_from_slice(g);
            if (12..=19).contains(&number.len()) && branded(&number) && luhn_ok(&number) {
                return true;
            }
        }
        // The next group may start a card of its own ("DE89 3704 …").
        i += groups[0].len().max(1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|c| c - b'0')
            .collect()
    }

    /// Each algorithm against numbers its issuer or a standard publishes
    /// as an example.
    #[test]
    fn published_examples() {
        assert!(luhn_ok(&values("4111111111111111")));
        assert!(luhn_ok(&values("378282246310005")));
        assert_eq!(npi_digit(&values("123456789")), 3);
        assert_eq!(iban_check("GB", "WEST12345698765432"), 82);
        assert_eq!(iban_check("DE", "370400440532013000"), 89);
        assert_eq!(nhs_digit(&values("943476591")), Some(9));
        assert_eq!(bsn_digit(&values("12345678")), Some(2));
        assert!(bsn_ok(&values("111222333")));
        assert_eq!(cpf_digits(&values("529982247")), (2, 5));
        assert_eq!(verhoeff_digit(&values("23456789012")), 4);
        assert!(verhoeff_ok(&values("234567890124")));
        assert_eq!(nir_key("1841276451089"), 46);
        assert_eq!(nir_key("255082A004012"), 83);
        assert_eq!(dni_letter(12_345_678), 'Z');
        assert_eq!(dni_letter(1_234_567), 'L');
        assert_eq!(cf_check("RSSMRA85T10A562"), 'S');
        assert_eq!(mod11_10_digit(&values("8609574271")), 9);
        assert!(steuer_structure_ok(&values("8609574271")));
        assert_eq!(dea_digit(&values("123456")), 3);
        assert_eq!(gtin_digit(&values("400638133393")), 1);
        assert_eq!(isbn10_check(&values("030640615")), '2');
        assert_eq!(gtin_digit(&values("978316148410")), 0);
        assert_eq!(s10_digit(&values("47312482")), 9);
        assert!(holds_card("card 4111 1111 1111 1111 exp"));
        assert!(!holds_card("4111 1111 1111 1112"));
        assert!(holds_card("DE96 3849 1563 8652 8037 08"));
    }
}
