//! National and health identifiers, each checked as its issuer specifies:
//! the shape (groups of digits and letters, the separators people type
//! between them), the ranges the issuer allocates, and the check digit or
//! letter where there is one. A number that fails any of them is not found.
//!
//! | detector | shape | check |
//! |---|---|---|
//! | `uk_nino` | `AB123456C`, `AB 12 34 56 C` (without the suffix, with context) | allocated prefixes, suffix A–D |
//! | `de_tax_id` | 11 digits, `12 345 678 901` | one digit twice or thrice in the first ten, ISO 7064 MOD 11,10 |
//! | `fr_nir` | 15 characters, `1 84 12 76 451 089 46`, Corsica `2A`/`2B` | sex, month, key 97 − (n mod 97) |
//! | `nl_bsn` | 9 digits, `1234.56.782` | the 11-test |
//! | `es_dni` | DNI `12345678Z`, NIE `X1234567L` (a `-` or space before the letter) | control letter (mod 23) |
//! | `it_fiscal_code` | 16 characters (`RSSMRA85T10A562S`, letters for digits too) | month letter, day, check character |
//! | `br_cpf` | 11 digits, `123.456.789-09` | two mod 11 check digits |
//! | `in_aadhaar` | 12 digits, `2345 6789 0124` | first digit 2–9, Verhoeff |
//! | `us_itin` | `9XX-7X-XXXX` | the IRS's group ranges |
//! | `us_ein` | `12-3456789` | the IRS's campus prefixes (no check digit exists) |
//! | `us_npi` | 10 digits | Luhn with the `80840` prefix |
//! | `us_dea` | `AB1234563` | registrant letter, DEA checksum |
//! | `uk_nhs` | 10 digits, `943 476 5919` | mod 11 |
//!
//! A check digit passes one random number in ten or so: a bare run of nine
//! to twelve digits that passes it is as likely an order id, a timestamp or
//! a phone number. So a form that other numbers share (a bare run, three
//! groups a phone number is written in, a check that passes often) is found
//! only where the words before it or the member's name say what it is
//! (`bsn`, `nhs`, `npi`, `aadhaar`, ...). The forms only the identifier
//! takes (`123.456.789-09`, a NINO's letters, a codice fiscale) need no
//! context. A value declared as one of them (`matches_whole`) needs none.
//!
//! Matches start at a word start, or right after letters glued to the
//! number where those letters are a context word (`NHS9434765919`), and end
//! at a word end, not inside a longer number written with `-` or `.`. They
//! are looked for around digit runs only (a codice fiscale whose year, too,
//! is written in omocodia letters, which takes six holders of one code, is
//! not found).

use super::Detector;
use super::Profile;
use super::context;
use super::text::{at, before, digits_at, is_word, left_free, right_free};
use super::{DetectorSet, Finding};

/// The detectors of this module, in the order of `Detector::ALL`.
pub(super) const DETECTORS: [Detector; 13] = [
    Detector::UkNino,
    Detector::DeTaxId,
    Detector::FrNir,
    Detector::NlBsn,
    Detector::EsDni,
    Detector::ItFiscalCode,
    Detector::BrCpf,
    Detector::InAadhaar,
    Detector::UsItin,
    Detector::UsEin,
    Detector::UsNpi,
    Detector::UsDea,
    Detector::UkNhs,
];

pub(super) fn detectors() -> DetectorSet {
    DETECTORS.into_iter().collect()
}

/// "1-123-45-6789" or "12.345.678-9.1" is part of a longer number.
const JOINERS: &[u8] = b"-.";

/// What a character of a group may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Digit,
    Letter,
    /// A codice fiscale's digit places: a digit, or the letter that stands
    /// for it (omocodia: L M N P Q R S T U V).
    CfDigit,
    /// A French department's second place: a digit, or Corsica's A or B.
    Dept,
    Alnum,
}

impl Class {
    fn admits(self, c: u8) -> bool {
        match self {
            Class::Digit => c.is_ascii_digit(),
            Class::Letter => c.is_ascii_alphabetic(),
            Class::CfDigit => c.is_ascii_digit() || b"LMNPQRSTUV".contains(&c.to_ascii_uppercase()),
            Class::Dept => c.is_ascii_digit() || b"ABab".contains(&c),
            Class::Alnum => c.is_ascii_alphanumeric(),
        }
    }
}

/// One way an identifier is written: groups of characters and the
/// separators allowed between them (one byte; every boundary separated or
/// none, unless `loose`; an empty set joins two groups).
struct Shape {
    groups: &'static [(usize, Class)],
    /// Separators allowed at each boundary (`groups.len() - 1` of them).
    seps: &'static [&'static [u8]],
    /// Boundaries may be separated or not independently (`12345678-Z`).
    loose: bool,
}

/// An identifier's characters without separators.
struct Read {
    chars: [u8; 20],
    len: usize,
    end: usize,
    separated: bool,
    /// Which of the shapes read.
    shape: usize,
}

impl Read {
    fn chars(&self) -> &[u8] {
        self.chars.get(..self.len).unwrap_or_default()
    }
}

/// `shape` read at `start` of `b`.
fn read(b: &[u8], start: usize, shape: &Shape) -> Option<Read> {
    let mut r = Read {
        chars: [0; 20],
        len: 0,
        end: start,
        separated: false,
        shape: 0,
    };
    let mut pos = start;
    let mut compact = false;
    for (i, &(n, class)) in shape.groups.iter().enumerate() {
        let seps = match i.checked_sub(1) {
            Some(k) => shape.seps.get(k).copied().unwrap_or_default(),
            None => b"",
        };
        if !seps.is_empty() {
            match at(b, pos) {
                Some(c) if seps.contains(&c) => {
                    if compact && !shape.loose {
                        return None;
                    }
                    r.separated = true;
                    pos += 1;
                }
                _ => {
                    if r.separated && !shape.loose {
                        return None;
                    }
                    compact = true;
                }
            }
        }
        for _ in 0..n {
            let c = at(b, pos).filter(|&c| class.admits(c))?;
            *r.chars.get_mut(r.len)? = c;
            r.len += 1;
            pos += 1;
        }
    }
    r.end = pos;
    Some(r)
}

/// The detectors of this module that may find something in the profiled
/// text: enough digits for the shortest form of each (a codice fiscale may
/// hold its digits as letters).
pub(super) fn plausible(p: &Profile<'_>) -> DetectorSet {
    // By the digits a text holds, up to the most any shortest form needs:
    // the detectors whose shortest form fits.
    const BY_DIGITS: [DetectorSet; 14] = {
        const fn need(d: Detector) -> usize {
            match d {
                Detector::UkNino => 6,
                Detector::EsDni | Detector::UsDea => 7,
                Detector::NlBsn | Detector::UsItin | Detector::UsEin => 9,
                Detector::UsNpi | Detector::UkNhs => 10,
                Detector::DeTaxId | Detector::BrCpf => 11,
                Detector::InAadhaar => 12,
                Detector::FrNir => 13,
                _ => 99,
            }
        }
        let mut table = [DetectorSet(0); 14];
        let mut n = 0;
        while n < table.len() {
            let mut bits = 0;
            let mut i = 0;
            while i < DETECTORS.len() {
                if need(DETECTORS[i]) <= n {
                    bits |= 1 << DETECTORS[i].index();
                }
                i += 1;
            }
            table[n] = DetectorSet(bits);
            n += 1;
        }
        table
    };
    let digits = p.digits().min(BY_DIGITS.len() - 1);
    let mut set = BY_DIGITS.get(digits).copied().unwrap_or_default();
    // A codice fiscale's first digit follows a letter (its six letters lead,
    // and a digit place written as a letter is still a letter).
    if p.len() >= 16 && (p.upper() >= 9 || (digits >= 1 && letter_then_digit(p.text.as_bytes()))) {
        set = set.with(Detector::ItFiscalCode);
    }
    set
}

/// A letter right before a digit somewhere in `b` (no early exit, so the
/// test compiles to SIMD).
fn letter_then_digit(b: &[u8]) -> bool {
    b.iter().zip(b.iter().skip(1)).fold(false, |hit, (&l, &d)| {
        hit | ((l | 0x20).wrapping_sub(b'a') < 26) & (d.wrapping_sub(b'0') < 10)
    })
}

/// The words that say what each identifier is, compared without case (see
/// `context`).
fn words(d: Detector) -> &'static [&'static str] {
    // In capitals: a word only in capitals in text (see `context::one_of`).
    match d {
        Detector::UkNino => &[
            "nino",
            "nin",
            "NI",
            "ninumber",
            "insurance",
            "nationalinsurance",
        ],
        Detector::DeTaxId => &[
            "steuer",
            "steuerid",
            "steueridnr",
            "idnr",
            "identifikationsnummer",
            "steueridentifikationsnummer",
            "TIN",
            "taxid",
        ],
        Detector::FrNir => &[
            "nir",
            "insee",
            "secu",
            "numsecu",
            "securite",
            "securitesociale",
            "sociale",
            "ssn",
        ],
        Detector::NlBsn => &["bsn", "burgerservicenummer", "sofi", "sofinummer"],
        Detector::EsDni => &["dni", "NIE", "nif", "documento"],
        Detector::ItFiscalCode => &["cf", "codice", "fiscale", "codicefiscale"],
        Detector::BrCpf => &["cpf"],
        Detector::InAadhaar => &["aadhaar", "aadhar", "uidai"],
        Detector::UsItin => &["itin", "TIN", "taxpayer"],
        Detector::UsEin => &["EIN", "FEIN", "TIN", "taxid"],
        Detector::UsNpi => &["npi"],
        Detector::UsDea => &["dea"],
        Detector::UkNhs => &["nhs"],
        _ => &[],
    }
}

/// The identifiers' share of the pass over a text's digit runs
/// (`numbers`): every identifier holds a digit within its first seven
/// characters, so each is looked for at a run's start or at the letters a
/// letter-led shape puts before it (`AB12…`, `AB 12…`, `X-12…`, six letters
/// of a codice fiscale).
pub(super) struct Ids {
    set: DetectorSet,
    /// Where each detector may match next: past the end of its last match.
    from: [usize; DETECTORS.len()],
}

impl Ids {
    pub(super) fn new(set: DetectorSet) -> Self {
        Self {
            set: set.intersection(detectors()),
            from: [0; DETECTORS.len()],
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The matches around the digit run `first..end` of `b`, each
    /// detector's leftmost first and never overlapping its own.
    pub(super) fn run(
        &mut self,
        b: &[u8],
        first: usize,
        end: usize,
        key: Option<&str>,
        label: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        for &back in backs(before(b, first)) {
            let Some(start) = first.checked_sub(back) else {
                continue;
            };
            let Some(c) = at(b, start) else { continue };
            let prev = before(b, start);
            let word_start = !prev.is_some_and(is_word);
            // Digits right after letters: only where the letters say what
            // the number is (`NHS9434765919`).
            let glued = back == 0 && prev.is_some_and(|p| p.is_ascii_alphabetic());
            if !(word_start || glued) || (back > 0 && !c.is_ascii_alphabetic()) {
                continue;
            }
            // A run right after a joiner and a digit (`2026-11`, `1.5`)
            // continues a number: no shape starts there (`at_start`).
            if back == 0
                && prev.is_some_and(|p| JOINERS.contains(&p))
                && start
                    .checked_sub(2)
                    .is_some_and(|k| at(b, k).is_some_and(|c| c.is_ascii_digit()))
            {
                continue;
            }
            let run = (back == 0).then_some(end - first);
            let candidates = candidates(b, start, run).intersection(self.set);
            if candidates.is_empty() {
                continue;
            }
            for (i, &d) in DETECTORS.iter().enumerate() {
                if !candidates.contains(d) || start < self.from.get(i).copied().unwrap_or_default()
                {
                    continue;
                }
                let Some((end, needs_context)) = at_start(b, start, d) else {
                    continue;
                };
                if (glued || needs_context)
                    && !context::names_labelled(b, start, key, label, words(d))
                {
                    continue;
                }
                if let Some(f) = self.from.get_mut(i) {
                    *f = end;
                }
                out.push(Finding {
                    detector: d,
                    start,
                    end,
                });
            }
        }
    }
}

/// How far before a digit run, `prev` being the byte before it, a shape
/// may start: letters glued to the run (`AB12…`, `X1…`, a codice fiscale's
/// six), two letters and a space or dash (`AB 12…`), a letter and a dash
/// (`X-12…`).
fn backs(prev: Option<u8>) -> &'static [usize] {
    match prev {
        Some(c) if c.is_ascii_alphabetic() => &[6, 2, 1, 0],
        Some(b' ') => &[3, 0],
        Some(b'-') => &[3, 2, 0],
        _ => &[0],
    }
}

/// The detectors whose shapes can start at `start`, from the first bytes
/// alone (the length of the digit run there and the byte after it, or the
/// letters before the first digit): most word starts rule them all out, so
/// no shape is read there. A necessary condition of every shape above.
/// `run` is the length of the digit run at `start`, where known.
fn candidates(b: &[u8], start: usize, run: Option<usize>) -> DetectorSet {
    let mut set = DetectorSet::empty();
    let Some(c) = at(b, start) else {
        return set;
    };
    let digit_at = |i: usize| at(b, start + i).is_some_and(|x| x.is_ascii_digit());
    let letter_at = |i: usize| at(b, start + i).is_some_and(|x| x.is_ascii_alphabetic());
    if c.is_ascii_digit() {
        let run = run.unwrap_or_else(|| digits_at(b, start, 15));
        // No shape starts with a run of these lengths.
        if matches!(run, 0 | 5 | 7 | 14) || run >= 16 {
            return set;
        }
        let next = at(b, start + run);
        let then = |seps: &[u8]| next.is_some_and(|n| seps.contains(&n));
        // The digits after that separator: every grouped shape's second
        // group has an exact length (a shorter or longer run breaks it), so
        // dates, times and codes like `2026-11-21` rule most shapes out.
        let second = digits_at(b, start + run + 1, 7);
        let group = |seps: &[u8], n: usize| then(seps) && second == n;
        let mut add = |d: Detector, ok: bool| {
            if ok {
                set = set.with(d);
            }
        };
        add(Detector::DeTaxId, run == 11 || (run == 2 && group(b" ", 3)));
        add(
            Detector::FrNir,
            run == 15
                || (run == 6 && then(b"ABab"))
                || (run == 1 && group(b" ", 2))
                || (run == 13 && group(SPACE_DASH, 2)),
        );
        add(
            Detector::NlBsn,
            run == 9 || (run == 4 && group(b".", 2)) || (run == 3 && group(b" .", 3)),
        );
        add(
            Detector::EsDni,
            (run == 8 && next.is_some_and(|n| n.is_ascii_alphabetic() || n == b'-' || n == b' '))
                || (run == 2 && group(b".", 3)),
        );
        add(
            Detector::BrCpf,
            run == 11 || (run == 3 && group(b".", 3)) || (run == 9 && group(b"-", 2)),
        );
        add(
            Detector::InAadhaar,
            run == 12 || (run == 4 && group(SPACE_DASH, 4)),
        );
        add(
            Detector::UsItin,
            run == 9 || (run == 3 && group(SPACE_DASH, 2)),
        );
        add(
            Detector::UsEin,
            run == 9 || (run == 2 && group(SPACE_DASH, 7)),
        );
        add(Detector::UsNpi, run == 10);
        add(
            Detector::UkNhs,
            run == 10 || (run == 3 && group(SPACE_DASH, 3)),
        );
    } else if c.is_ascii_alphabetic() {
        let spaced = at(b, start + 2).is_some_and(|x| SPACE_DASH.contains(&x));
        if letter_at(1) && (digit_at(2) || (spaced && digit_at(3))) {
            set = set.with(Detector::UkNino);
        }
        if b"XYZxyz".contains(&c)
            && (digit_at(1) || (at(b, start + 1) == Some(b'-') && digit_at(2)))
        {
            set = set.with(Detector::EsDni);
        }
        if letter_at(5) && at(b, start + 6).is_some_and(|x| Class::CfDigit.admits(x)) {
            set = set.with(Detector::ItFiscalCode);
        }
        if digit_at(2) {
            set = set.with(Detector::UsDea);
        }
    }
    set
}

/// Whether all of `text` is one identifier of kind `d`, in any of its
/// forms, context or not.
pub(super) fn whole(text: &str, d: Detector) -> bool {
    let b = text.as_bytes();
    at_start(b, 0, d).is_some_and(|(end, _)| end == b.len())
}

/// The identifier of kind `d` starting at `start`, if one does: where it
/// ends and whether it needs context to count.
fn at_start(b: &[u8], start: usize, d: Detector) -> Option<(usize, bool)> {
    let first = at(b, start)?;
    let found = match d {
        Detector::UkNino if first.is_ascii_alphabetic() => nino(b, start),
        Detector::DeTaxId if first.is_ascii_digit() => de_tax_id(b, start),
        Detector::FrNir if matches!(first, b'1'..=b'4' | b'7' | b'8') => fr_nir(b, start),
        Detector::NlBsn if first.is_ascii_digit() => nl_bsn(b, start),
        Detector::EsDni if first.is_ascii_digit() || b"XYZxyz".contains(&first) => es_dni(b, start),
        Detector::ItFiscalCode if first.is_ascii_alphabetic() => it_fiscal_code(b, start),
        Detector::BrCpf if first.is_ascii_digit() => br_cpf(b, start),
        Detector::InAadhaar if matches!(first, b'2'..=b'9') => in_aadhaar(b, start),
        Detector::UsItin if first == b'9' => us_itin(b, start),
        Detector::UsEin if first.is_ascii_digit() => us_ein(b, start),
        Detector::UsNpi if matches!(first, b'1' | b'2') => us_npi(b, start),
        Detector::UsDea if first.is_ascii_alphabetic() => us_dea(b, start),
        Detector::UkNhs if first.is_ascii_digit() => uk_nhs(b, start),
        _ => None,
    }?;
    let (end, _) = found;
    (left_free(b, start, JOINERS) || before(b, start).is_some_and(|p| p.is_ascii_alphabetic()))
        .then_some(())
        .filter(|()| right_free(b, end, JOINERS))
        .map(|()| found)
}

/// The first of `shapes` that reads at `start` and passes `valid`.
fn first_valid(
    b: &[u8],
    start: usize,
    shapes: &[Shape],
    mut valid: impl FnMut(&Read) -> bool,
) -> Option<Read> {
    shapes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| read(b, start, s).map(|r| Read { shape: i, ..r }))
        .find(|r| valid(r))
}

fn digit(c: u8) -> u32 {
    u32::from(c.wrapping_sub(b'0'))
}

const D: Class = Class::Digit;
const L: Class = Class::Letter;
const SPACE: &[u8] = b" ";
const SPACE_DASH: &[u8] = b" -";

fn nino(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 5] = [
        Shape {
            groups: &[(2, L), (2, D), (2, D), (2, D), (1, L)],
            seps: &[SPACE_DASH, SPACE_DASH, SPACE_DASH, SPACE_DASH],
            loose: false,
        },
        // The suffix against the last pair: `AB 12 34 56C`.
        Shape {
            groups: &[(2, L), (2, D), (2, D), (2, D), (1, L)],
            seps: &[SPACE_DASH, SPACE_DASH, SPACE_DASH, b""],
            loose: false,
        },
        Shape {
            groups: &[(2, L), (6, D), (1, L)],
            seps: &[SPACE, SPACE],
            loose: true,
        },
        // Without the suffix, which forms and records often leave out.
        Shape {
            groups: &[(2, L), (2, D), (2, D), (2, D)],
            seps: &[SPACE_DASH, SPACE_DASH, SPACE_DASH],
            loose: false,
        },
        Shape {
            groups: &[(2, L), (6, D)],
            seps: &[SPACE],
            loose: true,
        },
    ];
    /// The first of `SHAPES` without the suffix.
    const NO_SUFFIX: usize = 3;
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let up = |i: usize| c.get(i).map_or(0, u8::to_ascii_uppercase);
        let (a, b2, suffix) = (up(0), up(1), up(8));
        !b"DFIQUV".contains(&a)
            && !b"DFIOQUV".contains(&b2)
            && ![*b"BG", *b"GB", *b"KN", *b"NK", *b"NT", *b"TN", *b"ZZ"].contains(&[a, b2])
            && (r.shape >= NO_SUFFIX || (b'A'..=b'D').contains(&suffix))
    })?;
    // Without the suffix, not where one is written apart (`AB 12 34 56 E`
    // has one, and past D).
    let suffix_apart = at(b, r.end).is_some_and(|c| SPACE_DASH.contains(&c))
        && at(b, r.end + 1).is_some_and(|c| c.is_ascii_alphabetic())
        && !at(b, r.end + 2).is_some_and(is_word);
    if r.shape >= NO_SUFFIX && suffix_apart {
        return None;
    }
    // Written as one word, or in lower case, it is as likely a part number
    // or a SKU with a revision letter; without the suffix, two letters and
    // six digits are as likely anything: context decides.
    let lower = r.chars().iter().any(u8::is_ascii_lowercase);
    Some((r.end, lower || !r.separated || r.shape >= NO_SUFFIX))
}

/// ISO 7064 MOD 11,10 over `digits`: the check digit.
fn mod11_10(digits: &[u8]) -> u32 {
    let mut product = 10;
    for &c in digits {
        let mut sum = (digit(c) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    (11 - product) % 10
}

fn de_tax_id(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(2, D), (3, D), (3, D), (3, D)],
        seps: &[SPACE, SPACE, SPACE],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let (Some(body), Some(&check)) = (c.get(..10), c.get(10)) else {
            return false;
        };
        if body.first() == Some(&b'0') {
            return false;
        }
        // One digit twice or thrice (not three in a row), the others once
        // at most.
        let mut counts = [0u8; 10];
        for &d in body {
            if let Some(n) = counts.get_mut(digit(d) as usize) {
                *n += 1;
            }
        }
        let repeated: Vec<usize> = (0..10)
            .filter(|&i| counts.get(i).is_some_and(|&n| n > 1))
            .collect();
        let shape_ok = match repeated.as_slice() {
            [d] => match counts.get(*d) {
                Some(2) => true,
                Some(3) => !body
                    .windows(3)
                    .any(|w| w.iter().all(|&x| digit(x) as usize == *d)),
                _ => false,
            },
            _ => false,
        };
        shape_ok && mod11_10(body) == digit(check)
    })?;
    // Eleven digits, or two and three threes as phone numbers are written:
    // the check passes about one in three hundred of them.
    Some((r.end, true))
}

fn fr_nir(b: &[u8], start: usize) -> Option<(usize, bool)> {
    // The department may be `2A` or `2B` (Corsica).
    const DEPT: Class = Class::Dept;
    const GROUPS: &[(usize, Class)] = &[
        (1, D),
        (2, D),
        (2, D),
        (1, D),
        (1, DEPT),
        (3, D),
        (3, D),
        (2, D),
    ];
    const SHAPES: [Shape; 2] = [
        Shape {
            groups: GROUPS,
            seps: &[SPACE, SPACE, SPACE, b"", SPACE, SPACE, SPACE],
            loose: false,
        },
        // The key apart, as forms ask for it: `1840176451089 46`.
        Shape {
            groups: GROUPS,
            seps: &[b"", b"", b"", b"", b"", b"", SPACE_DASH],
            loose: false,
        },
    ];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let two = |i: usize| {
            let hi = c.get(i).copied().map_or(99, digit);
            let lo = c.get(i + 1).copied().map_or(99, digit);
            hi * 10 + lo
        };
        let month = two(3);
        let month_ok = (1..=12).contains(&month) || (20..=42).contains(&month) || month >= 50;
        // Corsica: 2A and 2B count as 19 and 18 in the key.
        let dept = (c.get(5).copied(), c.get(6).copied());
        let (n, dept_ok) = match dept {
            (Some(b'2'), Some(b'A' | b'a')) => (digits_value(c, Some(b"19")), true),
            (Some(b'2'), Some(b'B' | b'b')) => (digits_value(c, Some(b"18")), true),
            (_, Some(x)) if x.is_ascii_digit() => (digits_value(c, None), true),
            _ => (None, false),
        };
        let (Some(n), Some(key)) = (n, Some(two(13))) else {
            return false;
        };
        month_ok && dept_ok && (1..=97).contains(&key) && 97 - (n % 97) == u64::from(key)
    })?;
    // A 15-digit run passes one in a few thousand, but ids that share a
    // prefix pass one in 97: written as one run, or with only the key
    // apart, context decides.
    Some((r.end, !r.separated || r.shape == 1))
}

/// The value of a NIR's first 13 characters, the department replaced by
/// `dept` where given.
fn digits_value(c: &[u8], dept: Option<&[u8; 2]>) -> Option<u64> {
    let mut n = 0u64;
    for i in 0..13 {
        let ch = match (i, dept) {
            (5, Some(d)) => d[0],
            (6, Some(d)) => d[1],
            _ => *c.get(i)?,
        };
        if !ch.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(digit(ch));
    }
    Some(n)
}

fn nl_bsn(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 2] = [
        Shape {
            groups: &[(4, D), (2, D), (3, D)],
            seps: &[b".", b"."],
            loose: false,
        },
        Shape {
            groups: &[(3, D), (3, D), (3, D)],
            seps: &[b" .", b" ."],
            loose: false,
        },
    ];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let sum: i64 = c
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let w = if i == 8 { -1 } else { 9 - i as i64 };
                w * i64::from(digit(x))
            })
            .sum();
        sum % 11 == 0 && sum != 0
    })?;
    // The 11-test passes one number in eleven.
    Some((r.end, true))
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn es_dni(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 4] = [
        Shape {
            groups: &[(8, D), (1, L)],
            seps: &[b"- "],
            loose: true,
        },
        // `12.345.678-Z`, as printed on the card.
        Shape {
            groups: &[(2, D), (3, D), (3, D), (1, L)],
            seps: &[b".", b".", b"- "],
            loose: false,
        },
        Shape {
            groups: &[(2, D), (3, D), (3, D), (1, L)],
            seps: &[b".", b".", b""],
            loose: false,
        },
        // NIE: X, Y or Z, seven digits, the letter.
        Shape {
            groups: &[(1, L), (7, D), (1, L)],
            seps: &[b"-", b"- "],
            loose: true,
        },
    ];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let (n, letter) = if c.first().is_some_and(u8::is_ascii_digit) {
            (c.get(..8), c.get(8))
        } else {
            (c.get(1..8), c.get(8))
        };
        let prefix: u64 = match c.first().map(u8::to_ascii_uppercase) {
            Some(b'X') => 0,
            Some(b'Y') => 1,
            Some(b'Z') => 2,
            Some(x) if x.is_ascii_digit() => 0,
            _ => return false,
        };
        let (Some(n), Some(letter)) = (n, letter) else {
            return false;
        };
        let value = n.iter().fold(prefix, |v, &x| v * 10 + u64::from(digit(x)));
        DNI_LETTERS.get((value % 23) as usize) == Some(&letter.to_ascii_uppercase())
    })?;
    // The control letter passes one number in 23: eight digits and a
    // letter, or X, Y or Z, seven digits and a letter, are as likely a lot
    // number or a SKU with a revision letter. Only the dotted form, as
    // printed on the card, is the DNI's own.
    Some((r.end, !(1..=2).contains(&r.shape)))
}

fn it_fiscal_code(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const C: Class = Class::CfDigit;
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(6, L), (2, C), (1, L), (2, C), (1, L), (3, C), (1, L)],
        seps: &[b"", b"", b"", b"", b"", b""],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c: Vec<u8> = r.chars().iter().map(u8::to_ascii_uppercase).collect();
        // Omocodia letters stand for digits.
        let as_digit = |x: u8| match x {
            b'0'..=b'9' => Some(digit(x)),
            _ => b"LMNPQRSTUV".iter().position(|&l| l == x).map(|p| p as u32),
        };
        let day = match (
            c.get(9).copied().and_then(as_digit),
            c.get(10).copied().and_then(as_digit),
        ) {
            (Some(h), Some(l)) => h * 10 + l,
            _ => return false,
        };
        let month_ok = c.get(8).is_some_and(|m| b"ABCDEHLMPRST".contains(m));
        let day_ok = (1..=31).contains(&day) || (41..=71).contains(&day);
        month_ok && day_ok && cf_check(&c)
    })?;
    Some((r.end, false))
}

/// A codice fiscale's check character: odd places (1st, 3rd, ...) by the
/// ministry's table, even places by their value, mod 26.
fn cf_check(c: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let value = |x: u8| -> Option<usize> {
        match x {
            b'0'..=b'9' => Some((x - b'0') as usize),
            b'A'..=b'Z' => Some((x - b'A') as usize),
            _ => None,
        }
    };
    let mut sum = 0u32;
    for (i, &x) in c.iter().take(15).enumerate() {
        let Some(v) = value(x) else { return false };
        sum += if i % 2 == 0 {
            ODD.get(v).copied().unwrap_or_default()
        } else {
            v as u32
        };
    }
    c.get(15).copied() == Some(b'A' + (sum % 26) as u8)
}

fn br_cpf(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 2] = [
        Shape {
            groups: &[(3, D), (3, D), (3, D), (2, D)],
            seps: &[b".", b".", b"-"],
            loose: false,
        },
        Shape {
            groups: &[(9, D), (2, D)],
            seps: &[b"-"],
            loose: false,
        },
    ];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        if c.iter().all(|&x| Some(&x) == c.first()) {
            return false;
        }
        let check = |n: usize| {
            let sum: u32 = c
                .iter()
                .take(n)
                .enumerate()
                .map(|(i, &x)| digit(x) * (n as u32 + 1 - i as u32))
                .sum();
            (sum * 10) % 11 % 10
        };
        c.get(9).map(|&x| digit(x)) == Some(check(9))
            && c.get(10).map(|&x| digit(x)) == Some(check(10))
    })?;
    // Only the dotted form is the CPF's own.
    Some((r.end, !r.separated || r.shape == 1))
}

/// Verhoeff's check over `digits`, the last being the check digit.
pub(super) fn verhoeff(digits: &[u8]) -> bool {
    const MUL: [[u8; 10]; 10] = [
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
    const PERM: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, &x) in digits.iter().rev().enumerate() {
        let p = PERM
            .get(i % 8)
            .and_then(|row| row.get(digit(x) as usize))
            .copied()
            .unwrap_or_default();
        c = MUL
            .get(c as usize)
            .and_then(|row| row.get(p as usize))
            .copied()
            .unwrap_or_default();
    }
    c == 0
}

fn in_aadhaar(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(4, D), (4, D), (4, D)],
        seps: &[SPACE_DASH, SPACE_DASH],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| verhoeff(r.chars()))?;
    // Twelve digits in threes of four are also how couriers print tracking
    // numbers: context decides.
    Some((r.end, true))
}

fn us_itin(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(3, D), (2, D), (4, D)],
        seps: &[SPACE_DASH, SPACE_DASH],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let group = c
            .get(3..5)
            .map_or(0, |g| g.iter().fold(0, |v, &x| v * 10 + digit(x)));
        c.first() == Some(&b'9') && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
    })?;
    Some((r.end, !r.separated))
}

fn us_ein(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(2, D), (7, D)],
        seps: &[SPACE_DASH],
        loose: false,
    }];
    const PREFIXES: &[(u32, u32)] = &[
        (1, 6),
        (10, 16),
        (20, 27),
        (30, 48),
        (50, 68),
        (71, 77),
        (80, 88),
        (90, 95),
        (98, 99),
    ];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let prefix = c
            .get(..2)
            .map_or(0, |g| g.iter().fold(0, |v, &x| v * 10 + digit(x)));
        PREFIXES.iter().any(|&(lo, hi)| (lo..=hi).contains(&prefix))
    })?;
    // No check digit exists: only context tells it from other numbers.
    Some((r.end, true))
}

fn us_npi(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(10, D)],
        seps: &[],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let values: Vec<u8> = b"80840"
            .iter()
            .chain(r.chars())
            .map(|&x| x.wrapping_sub(b'0'))
            .collect();
        super::issuer::luhn_ok(&values)
    })?;
    Some((r.end, true))
}

fn us_dea(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(1, L), (1, Class::Alnum), (7, D)],
        seps: &[b"", b""],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let kind = c.first().map_or(0, u8::to_ascii_uppercase);
        let second = c.get(1).copied().unwrap_or_default();
        let d: Vec<u32> = c
            .get(2..)
            .unwrap_or_default()
            .iter()
            .map(|&x| digit(x))
            .collect();
        let [d1, d2, d3, d4, d5, d6, d7] = d.as_slice() else {
            return false;
        };
        b"ABCDEFGHJKLMPRSTUX".contains(&kind)
            && (second.is_ascii_alphabetic() || second == b'9')
            && (d1 + d3 + d5 + 2 * (d2 + d4 + d6)) % 10 == *d7
    })?;
    Some((r.end, true))
}

fn uk_nhs(b: &[u8], start: usize) -> Option<(usize, bool)> {
    const SHAPES: [Shape; 1] = [Shape {
        groups: &[(3, D), (3, D), (4, D)],
        seps: &[SPACE_DASH, SPACE_DASH],
        loose: false,
    }];
    let r = first_valid(b, start, &SHAPES, |r| {
        let c = r.chars();
        let sum: u32 = c
            .iter()
            .take(9)
            .enumerate()
            .map(|(i, &x)| digit(x) * (10 - i as u32))
            .sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => return false,
            x => x,
        };
        c.get(9).map(|&x| digit(x)) == Some(check)
    })?;
    // Three, three and four digits is how phone numbers are written too.
    Some((r.end, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::detect::{Context, scan_with};

    /// What `d` alone finds in `text` under `key`.
    fn found(d: Detector, text: &str, key: Option<&str>) -> Vec<String> {
        scan_with(text, d.into(), Context::of_key(key))
            .iter()
            .map(|f| text[f.range()].to_owned())
            .collect()
    }

    /// Per detector: numbers found in free text, found only with context,
    /// and look-alikes (a wrong check, a range never allocated) never.
    struct Case {
        d: Detector,
        free: &'static [&'static str],
        with_context: &'static [&'static str],
        invalid: &'static [&'static str],
    }

    const CASES: &[Case] = &[
        Case {
            d: Detector::UkNino,
            free: &[
                "AB 12 34 56 C",
                "AB 123456 C",
                "AB-12-34-56-C",
                "AB 12 34 56C",
            ],
            with_context: &[
                "ab123456c",
                "AB123456C",
                "JG103759A",
                "AB123456",    // no suffix
                "AB 12 34 56", // no suffix, grouped
            ],
            invalid: &[
                "AB123456E",     // suffix past D
                "DA123456A",     // D never first
                "AO123456A",     // O never second
                "GB123456A",     // never allocated
                "AB 12 3456 C",  // mixed grouping
                "AB 12 34 56 E", // a suffix apart, past D
            ],
        },
        Case {
            d: Detector::DeTaxId,
            free: &[],
            with_context: &[
                "86095742719",
                "65929970489",
                "86 095 742 719",
                "47 036 892 816",
            ],
            invalid: &[
                "86095742718", // check digit
                "01234567890", // leading zero
                "11111111111", // digit structure
                "12 345 678 901",
            ],
        },
        Case {
            d: Detector::FrNir,
            free: &["1 84 12 76 451 089 46", "2 55 08 2A 004 012 83"],
            with_context: &[
                "755029912345662",
                "184127645108946",
                "1841276451089 46",
                "1841276451089-46",
            ],
            invalid: &[
                "184127645108947",
                "5 84 12 76 451 089 46",
                "1 84 13 76 451 089 46",
            ],
        },
        Case {
            d: Detector::NlBsn,
            free: &[],
            with_context: &[
                "111222333",
                "1112.22.333",
                "123456782",
                "123 456 782",
                "123.456.782",
            ],
            invalid: &["111222334", "000000000", "123456789"],
        },
        Case {
            d: Detector::EsDni,
            free: &["12.345.678-Z", "12.345.678Z", "12.345.678 Z"],
            with_context: &[
                "12345678z",
                "12345678 Z",
                "12345678Z",
                "12345678-Z",
                "X1234567L",
                "Y-1234567-X",
                "00000000T",
            ],
            invalid: &["12345678A", "X1234567A", "W1234567L", "12345.678-Z"],
        },
        Case {
            d: Detector::ItFiscalCode,
            free: &[
                "RSSMRA85T10A562S",
                "rssmra85t10a562s",
                "MRTMTT91D08F205J",
                "RSSMRA85T10A56NH",
            ],
            with_context: &[],
            invalid: &["RSSMRA85T10A562T", "RSSMRA85Z10A562S", "RSSMRA85T99A562S"],
        },
        Case {
            d: Detector::BrCpf,
            free: &["529.982.247-25", "111.444.777-35"],
            with_context: &["52998224725", "529982247-25"],
            invalid: &["529.982.247-26", "111.111.111-11", "529.982.24725"],
        },
        Case {
            d: Detector::InAadhaar,
            free: &[],
            with_context: &["2345 6789 0124", "234567890124", "4991-1866-5246"],
            invalid: &["2345 6789 0123", "1234 5678 9012", "0345 6789 0124"],
        },
        Case {
            d: Detector::UsItin,
            free: &["912-70-1234", "999-88-1234", "900 70 0000"],
            with_context: &["912701234"],
            invalid: &["912-69-1234", "812-70-1234", "912-93-1234"],
        },
        Case {
            d: Detector::UsEin,
            free: &[],
            with_context: &["12-3456789", "98-7654321", "12 3456789"],
            invalid: &["07-3456789", "89-1234567", "123-456789"],
        },
        Case {
            d: Detector::UsNpi,
            free: &[],
            with_context: &["1234567893", "1245319599"],
            invalid: &["1234567890", "3234567893"],
        },
        Case {
            d: Detector::UsDea,
            free: &[],
            with_context: &["AB1234563", "F91234563", "bj6125341"],
            invalid: &["AB1234564", "IB1234563", "A11234563"],
        },
        Case {
            d: Detector::UkNhs,
            free: &[],
            with_context: &["943 476 5919", "9434765919", "401-023-2137"],
            invalid: &["9434765918", "943 476 5910", "1234567890"],
        },
    ];

    /// A member's name says what its value is in its last word, or the word
    /// before a generic one; the text, in the nearest words before it.
    #[test]
    fn context_from_names_and_words() {
        let npi = "1234567893";
        for (key, says) in [
            ("npi", true),
            ("provider_npi", true),
            ("npiNumber", true),
            ("NPINumber", true),
            ("NPI_NO", true),
            ("npi_verified_at", false),
            ("npi_count", false),
            ("number", false),
            // Whose it is, after the noun.
            ("npi_principal", true),
            ("npiPrimary", true),
            ("npi_owner_count", false),
        ] {
            let got = found(Detector::UsNpi, npi, Some(key));
            assert_eq!(!got.is_empty(), says, "{key}");
        }
        let cpf = "12345678909";
        for key in ["cpf_cliente", "cpfCliente", "numero_cpf", "cpf_do_titular"] {
            assert_eq!(found(Detector::BrCpf, cpf, Some(key)), [cpf], "{key}");
        }
        let nhs = "9434765919";
        assert_eq!(found(Detector::UkNhs, nhs, Some("NHSNumber")), [nhs]);
        let ein = "12-3456789";
        assert_eq!(found(Detector::UsEin, ein, Some("tax_id")), [ein]);
        assert_eq!(found(Detector::UsEin, ein, Some("taxId")), [ein]);
        let text = format!("the NHS number of the patient is {nhs}");
        assert_eq!(found(Detector::UkNhs, &text, None), [nhs]);
        // A word of another script glued to a context word is a word of its
        // own, before or after it.
        for text in [
            format!("NHS号码 {nhs}"),
            format!("患者のNHS番号は{nhs}です"),
            format!("NHSномер {nhs}"),
        ] {
            assert_eq!(found(Detector::UkNhs, &text, None), [nhs], "{text}");
        }
        assert_eq!(found(Detector::UkNhs, nhs, Some("患者NHS番号")), [nhs]);
        let far = format!("NHS: see the notes, ring the ward, then {nhs}");
        assert!(found(Detector::UkNhs, &far, None).is_empty());
        // Plural and one-word names, and a list after its name.
        for key in [
            "nhsNumbers",
            "nhs_numbers",
            "nhsnumber",
            "NHSNUMBER",
            "patientnhsnumber",
        ] {
            assert_eq!(found(Detector::UkNhs, nhs, Some(key)), [nhs], "{key}");
        }
        let list = "NHS numbers: 943 476 5919, 401 023 2137";
        assert_eq!(
            found(Detector::UkNhs, list, None),
            ["943 476 5919", "401 023 2137"]
        );
        // Two words apart, and two generic words, joined.
        assert_eq!(found(Detector::UsEin, "Tax ID: 12-3456789", None), [ein]);
        let tax_id = "86095742719";
        assert_eq!(found(Detector::DeTaxId, tax_id, Some("IdNr")), [tax_id]);
        // A nearer word that names something else stops the search.
        let text = "EIN 12-3456789 order 98-7654321";
        assert_eq!(found(Detector::UsEin, text, None), [ein]);
        // "ein" is German for "a": only EIN in capitals names one in text.
        assert!(found(Detector::UsEin, "ein Ticket 12-3456789", None).is_empty());
        assert_eq!(found(Detector::UsEin, ein, Some("ein")), [ein]);
        // A name that only holds the word among others says nothing.
        assert!(found(Detector::UsEin, ein, Some("employerId")).is_empty());
    }

    #[test]
    fn identifiers_checked_as_issued() {
        for case in CASES {
            let d = case.d;
            for &n in case.free {
                assert_eq!(found(d, &format!("x {n}."), None), [n], "{d} free: {n}");
                assert!(whole(n, d), "{d} whole: {n}");
            }
            for &n in case.with_context {
                assert!(
                    found(d, &format!("ref {n}"), None).is_empty(),
                    "{d} bare: {n}"
                );
                let word = words(d).first().copied().unwrap_or_default();
                assert_eq!(
                    found(d, &format!("{word}: {n}"), None),
                    [n],
                    "{d} text: {n}"
                );
                let key = format!("patient_{word}_number");
                assert_eq!(found(d, n, Some(&key)), [n], "{d} key: {n}");
                assert!(whole(n, d), "{d} whole: {n}");
            }
            for &n in case.invalid {
                let word = words(d).first().copied().unwrap_or_default();
                assert!(
                    found(d, &format!("{word}: {n}"), None).is_empty(),
                    "{d} invalid: {n}"
                );
                assert!(!whole(n, d), "{d} whole invalid: {n}");
            }
        }
    }

    /// The first-bytes filter never rules out a shape that reads: every
    /// start of every case, in every detector, with the bytes around.
    #[test]
    fn candidates_never_hide_a_shape() {
        let mut texts: Vec<String> = Vec::new();
        for case in CASES {
            for n in case
                .free
                .iter()
                .chain(case.with_context)
                .chain(case.invalid)
            {
                for (pre, post) in [("", ""), ("x ", "."), ("(", ")"), ("a:", "-"), ("9", "9")] {
                    texts.push(format!("{pre}{n}{post}"));
                }
            }
        }
        let mut shapes = 0;
        for t in &texts {
            let b = t.as_bytes();
            for start in 0..b.len() {
                for d in DETECTORS {
                    if at_start(b, start, d).is_some() {
                        shapes += 1;
                        assert!(
                            candidates(b, start, None).contains(d),
                            "{d} at {start} of {t:?}"
                        );
                        let first = (start..b.len()).find(|&i| b[i].is_ascii_digit());
                        let first = first.unwrap_or(b.len());
                        assert!(
                            backs(before(b, first)).contains(&(first - start)),
                            "{d} at {start} of {t:?}: the run starts {} later",
                            first - start
                        );
                    }
                }
            }
        }
        assert!(shapes > 100, "{shapes}");
    }

    #[test]
    fn bounded_by_words_and_longer_numbers() {
        let d = Detector::BrCpf;
        assert!(found(d, "1529.982.247-25", None).is_empty());
        assert!(found(d, "529.982.247-25-1", None).is_empty());
        assert!(found(d, "x529.982.247-25", None).is_empty());
        // Glued to the letters that name it.
        assert_eq!(
            found(Detector::UkNhs, "NHS9434765919", None),
            ["9434765919"]
        );
        assert!(found(Detector::UkNhs, "REF9434765919", None).is_empty());
        assert_eq!(
            found(Detector::EsDni, "dni 12345678Z, 87654321X", None),
            ["12345678Z", "87654321X"]
        );
    }
}
