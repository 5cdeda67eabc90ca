//! The detectors against a corpus (tests/data/detectors: values that must be
//! found and look-alikes that must not), against random input (scanning
//! never panics, findings are sorted, disjoint and on char boundaries, the
//! pre-check never rules out a finding, the work stays linear, a text
//! disguised in other Unicode digits, letters, dashes, spaces and hidden
//! characters gives the same findings), and against generated data: the
//! false-positive rate on look-alikes of each kind, and the recall on card
//! numbers of every network, length and written form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chaperone::scrub::detect::{
    Context, Detector, DetectorSet, Finding, matches_whole, may_contain, scan, scan_with,
};

fn corpus(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/detectors", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Corpus lines with their line numbers, without blank lines and comments.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, l)| (n + 1, l))
}

/// A positive: detector, text, expected match and the JSON member name it
/// is scanned under (if any), escapes decoded.
struct Positive {
    d: Detector,
    text: String,
    expected: String,
    key: Option<String>,
}

impl Positive {
    fn ctx(&self) -> Context<'_> {
        Context::of_key(self.key.as_deref())
    }
}

fn positive(n: usize, line: &str) -> Positive {
    let fields: Vec<&str> = line.split('\t').collect();
    let (name, text, expected, key) = match fields[..] {
        [name, text, expected] => (name, text, expected, None),
        [name, text, expected, key] => (name, text, expected, Some(key.to_owned())),
        _ => panic!("positives.txt:{n}: want detector<TAB>text<TAB>expected[<TAB>key]"),
    };
    let d = Detector::parse(name).unwrap_or_else(|| panic!("positives.txt:{n}: {name}?"));
    Positive {
        d,
        text: unescape(text),
        expected: unescape(expected),
        key,
    }
}

/// Decodes \n, \r, \t, \\ and \u{HEX}.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('u') if chars.peek() == Some(&'{') => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or_else(|| panic!("bad escape \\u{{{hex}}}"));
                out.push(c);
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn describe(text: &str, findings: &[Finding]) -> Vec<(Detector, String)> {
    findings
        .iter()
        .map(|f| (f.detector, text[f.start..f.end].to_owned()))
        .collect()
}

#[test]
fn positives_are_found() {
    let data = corpus("positives.txt");
    let mut seen = DetectorSet::empty();
    let mut count = 0;
    for (n, line) in lines(&data) {
        let p = positive(n, line);
        let (d, text, expected) = (p.d, p.text.as_str(), p.expected.as_str());
        let findings = scan_with(text, DetectorSet::all(), p.ctx());
        let hit = findings
            .iter()
            .any(|f| f.detector == d && &text[f.start..f.end] == expected);
        assert!(
            hit,
            "positives.txt:{n}: {d} {expected:?} not found in {text:?}; found {:?}",
            describe(text, &findings)
        );
        assert!(
            may_contain(text, d.into()),
            "positives.txt:{n}: may_contain"
        );
        if d != Detector::BearerToken {
            // A bearer finding is the token alone; matches_whole wants the
            // whole "Bearer <token>" header value.
            assert!(
                matches_whole(expected, d),
                "positives.txt:{n}: matches_whole"
            );
        }
        seen = seen.with(d);
        count += 1;
    }
    assert!(count >= 150, "only {count} positives");
    assert_eq!(seen, DetectorSet::all(), "every detector has positives");
}

#[test]
fn negatives_are_not_found() {
    let data = corpus("negatives.txt");
    let mut count = 0;
    let mut failures = Vec::new();
    for (n, line) in lines(&data) {
        let text = unescape(line);
        let findings = scan(&text, DetectorSet::all());
        if !findings.is_empty() {
            failures.push(format!(
                "negatives.txt:{n}: {text:?} -> {:?}",
                describe(&text, &findings)
            ));
        }
        // Embedded in JSON-ish context, still nothing.
        let framed = format!("{{\"value\":\"{text}\",\"n\":1}}");
        if !scan(&framed, DetectorSet::all()).is_empty() {
            failures.push(format!("negatives.txt:{n}: framed {framed:?}"));
        }
        count += 1;
    }
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
    assert!(count >= 250, "only {count} negatives");
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Pieces that make detectors start, half-match and fail, mixed with
/// multi-byte characters, so random strings exercise every branch.
const PIECES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "4111",
    "1111",
    "5555",
    "4444",
    "-",
    " ",
    ".",
    ",",
    "+",
    "(",
    ")",
    "@",
    "e",
    "yJ",
    "eyJ",
    "eyJhbGciOiJIUzI1NiJ9",
    ".",
    "_",
    "=",
    "/",
    "A",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "GB82",
    "WEST",
    "DE89",
    "Bearer ",
    "bearer",
    "-----BEGIN ",
    "PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "example.com",
    "bob",
    "x",
    "Z",
    "\n",
    "\t",
    "é",
    "€",
    "😀",
    "ж",
    "卡",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "123-45-6789",
    "(415) 555-2671",
    "+14155552671",
    "4111111111111111",
    "bob@example.com",
    "４",
    "٤",
    "١",
    "\u{a0}",
    "\u{ad}",
    "\u{2013}",
    "\u{3000}",
    "\u{feff}",
    "ｅｙ",
    "ew",
    "e30",
    "ewogICJhbGciOiAiSFMyNTYiCn0",
    "bearer=",
    "bearer\t",
    "%20",
    "gb82",
    "west",
    "CARD",
    "exp",
    "josé",
    "用户",
    "例子.广告",
    "xn--p1ai",
    "4222222222222",
    "4000000000000000006",
    "4006381333924",
];

fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    let pieces = rng.below(40);
    for _ in 0..pieces {
        if rng.below(4) == 0 {
            // Any char at all, including multi-byte ones.
            let c = char::from_u32(rng.next() as u32 % 0x1_0000).unwrap_or('?');
            s.push(c);
        } else {
            s.push_str(rng.pick(PIECES));
        }
    }
    s
}

fn check_invariants(text: &str) {
    let all = scan(text, DetectorSet::all());
    let mut last_end = 0;
    for f in &all {
        assert!(f.start < f.end, "{text:?}: empty finding {f:?}");
        assert!(
            f.start >= last_end,
            "{text:?}: unsorted or overlapping {all:?}"
        );
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end) && f.end <= text.len(),
            "{text:?}: {f:?} off a char boundary"
        );
        last_end = f.end;
        // Resolution keeps candidates whole, or what a longer match of
        // another detector left of one: each survivor is, or lies within,
        // what its own detector finds alone.
        let alone = scan(text, f.detector.into());
        let whole = alone.contains(f);
        assert!(
            whole || alone.iter().any(|m| m.start <= f.start && f.end <= m.end),
            "{text:?}: {f:?} not found by its detector alone"
        );
        if whole && f.detector != Detector::BearerToken {
            assert!(
                matches_whole(&text[f.start..f.end], f.detector),
                "{text:?}: {f:?} is not a whole match on its own"
            );
        }
    }
    if !all.is_empty() {
        assert!(
            may_contain(text, DetectorSet::all()),
            "{text:?}: may_contain said no"
        );
    }
    for d in Detector::ALL {
        if !scan(text, d.into()).is_empty() {
            assert!(
                may_contain(text, d.into()),
                "{text:?}: may_contain({d}) said no"
            );
        }
    }
}

#[test]
fn random_text_keeps_the_invariants() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        check_invariants(&random_text(&mut rng));
    }
}

#[test]
fn random_bytes_as_lossy_utf8_keep_the_invariants() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(3) {
                0 => b"0123456789-+( )@.AEBKyJ"[rng.below(23)],
                _ => rng.next() as u8,
            })
            .collect();
        check_invariants(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn every_positive_survives_any_surrounding_separator() {
    let data = corpus("positives.txt");
    for (n, line) in lines(&data) {
        let p = positive(n, line);
        let (d, expected) = (p.d, p.expected.as_str());
        // A bearer finding is the token alone, and a truncated key runs to
        // the end of the text, whatever follows it.
        if d == Detector::BearerToken || (d == Detector::PrivateKey && !expected.ends_with("-----"))
        {
            continue;
        }
        // The value alone, where it is one on its own; else the whole text
        // with the context that makes it one.
        let alone = describe(expected, &scan_with(expected, d.into(), p.ctx()));
        let standalone = alone == [(d, expected.to_owned())];
        let body = if standalone {
            expected
        } else {
            p.text.as_str()
        };
        for (before, after) in [
            (" ", " "),
            ("\"", "\""),
            ("<", ">"),
            ("é", "ж"),
            ("«", "»"),
            ("「", "」"),
            ("\n", "\n"),
            ("(", ")"),
        ] {
            // Letters of any script may be part of an e-mail address.
            if d == Detector::Email && before == "é" {
                continue;
            }
            let text = format!("{before}{body}{after}");
            let got = describe(&text, &scan_with(&text, d.into(), p.ctx()));
            let want = (d, expected.to_owned());
            if standalone {
                assert_eq!(
                    got,
                    [want],
                    "positives.txt:{n} framed by {before:?}…{after:?}"
                );
            } else {
                assert!(
                    got.contains(&want),
                    "positives.txt:{n} framed by {before:?}…{after:?}: {got:?}"
                );
            }
        }
    }
}

/// Inputs built to make a careless scanner quadratic: each is scanned at
/// 1 MiB, which takes milliseconds when linear and hours when not.
#[test]
fn adversarial_inputs_scan_in_linear_time() {
    let patterns: &[&str] = &[
        "4111 ",
        "4111-",
        "1",
        "4",
        "@a",
        "a@",
        "a.",
        "@a.b",
        "eyJ.",
        "eyJaaaaaaaaaaaa.",
        "eyJ",
        "bearer ",
        "Bearer  ",
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN ",
        "AKIA",
        "A",
        "GB82 ",
        "GB82",
        "+1 ",
        "+1(",
        "(415) ",
        "415-",
        "123-45-",
        "é",
        "4006381333924 ",
        "card 4006381333924 ",
        "4000000000000000006 ",
        "CARD4",
        "ab4111111111111111",
        "4111  ",
        "4111 - ",
        "4111.",
        "ey",
        "ew.",
        "e30.",
        "eyAiYWxnIjogIkhTMjU2IiB9.",
        "bearer\t",
        "bearer=",
        "bearer%20",
        "用户@",
        "@例子.",
        "josé@",
        "gb82 ",
        "gb82west",
        "４",
        "\u{200b}4",
        "\u{ad}",
        "\u{a0}4111",
    ];
    let budget = if cfg!(debug_assertions) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    };
    for p in patterns {
        let text = p.repeat((1 << 20) / p.len());
        let t = Instant::now();
        let findings = scan(&text, DetectorSet::all());
        let took = t.elapsed();
        assert!(took < budget, "{p:?} x {}: {took:?}", text.len() / p.len());
        assert!(findings.windows(2).all(|w| w[0].end <= w[1].start));
    }
}

#[test]
fn many_findings_resolve_quickly() {
    // Overlapping candidates of several detectors over a long text.
    let unit = "Bearer 4111111111111111a+14155552671b bob@example.com 123-45-6789 ";
    let text = unit.repeat(20_000);
    let t = Instant::now();
    let findings = scan(&text, DetectorSet::all());
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(findings.len() >= 60_000, "{}", findings.len());
}

/// Zeros of decimal digits in other scripts (a sample of the Nd table):
/// Arabic-Indic, Extended Arabic-Indic, NKo, Devanagari, Bengali, Thai,
/// Tibetan, Myanmar, Khmer, Mongolian, fullwidth, Osmanya, mathematical
/// bold and monospace, Adlam, segmented.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0E50, 0x0F20, 0x1040, 0x17E0, 0x1810, 0xFF10,
    0x104A0, 0x1D7CE, 0x1D7F6, 0x1E950, 0x1FBF0,
];
/// Characters a reader does not see, and controls a parser may skip.
const HIDDEN: &[char] = &[
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{200e}',
    '\u{2060}',
    '\u{2063}',
    '\u{feff}',
    '\u{ad}',
    '\u{180e}',
    '\u{fe0f}',
    '\u{e0041}',
    '\u{0}',
    '\u{1b}',
    '\u{7f}',
    '\u{9b}',
];
const SPACES: &[char] = &[
    '\u{a0}', '\u{2000}', '\u{2002}', '\u{2007}', '\u{2009}', '\u{200a}', '\u{202f}', '\u{205f}',
    '\u{3000}',
];
const DASHES: &[char] = &[
    '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}', '\u{fe58}',
    '\u{fe63}', '\u{ff0d}',
];

/// `text` written as a callee still reads it: digits of other scripts,
/// fullwidth letters and punctuation, Unicode spaces and dashes, hidden
/// characters in between. Also, for each byte offset of `text` that starts
/// a character, where that character starts and ends in the disguise.
fn disguise(text: &str, rng: &mut Rng) -> (String, Vec<usize>, Vec<usize>) {
    let mut out = String::new();
    let mut starts = vec![0; text.len() + 1];
    let mut ends = vec![0; text.len() + 1];
    for (i, c) in text.char_indices() {
        if rng.below(5) == 0 {
            out.push(rng.pick(HIDDEN));
        }
        starts[i] = out.len();
        let odd = rng.below(2) == 0;
        let to = match c {
            '0'..='9' if odd => char::from_u32(rng.pick(DIGIT_ZEROS) + (c as u32 - '0' as u32)),
            ' ' if odd => Some(rng.pick(SPACES)),
            '-' if odd => Some(rng.pick(DASHES)),
            '!'..='~' if odd => char::from_u32(c as u32 - 0x21 + 0xff01),
            c => Some(c),
        };
        out.push(to.unwrap());
        ends[i] = out.len();
    }
    (out, starts, ends)
}

/// Folding makes a disguised text give the findings of the plain one, at
/// the same characters.
fn check_disguise(text: &str, rng: &mut Rng) {
    let (u, starts, ends) = disguise(text, rng);
    let plain = scan(text, DetectorSet::all());
    let want: Vec<(Detector, String)> = plain
        .iter()
        .map(|f| {
            let last = text[..f.end].char_indices().next_back().unwrap().0;
            (f.detector, u[starts[f.start]..ends[last]].to_owned())
        })
        .collect();
    let got = scan(&u, DetectorSet::all());
    assert_eq!(describe(&u, &got), want, "{text:?} disguised as {u:?}");
    if !got.is_empty() {
        assert!(may_contain(&u, DetectorSet::all()), "{u:?}: may_contain");
    }
    check_invariants(&u);
}

#[test]
fn disguised_text_gives_the_same_findings() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let data = corpus("positives.txt");
    for (n, line) in lines(&data) {
        let p = positive(n, line);
        // Hidden characters inside a bearer token's separator glue the
        // word to the token; the rest must hold in every variant.
        if p.text.contains('\u{ad}') || !p.text.is_ascii() {
            continue;
        }
        for _ in 0..20 {
            check_disguise(&p.text, &mut rng);
        }
    }
    for _ in 0..10_000 {
        let text: String = random_text(&mut rng)
            .chars()
            .filter(|c| c.is_ascii() && (*c >= ' ' || *c == '\n'))
            .collect();
        check_disguise(&text, &mut rng);
    }
}

/// Random values and written forms, for the rates below.
impl Rng {
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// `n` digits, the first not 0.
    fn number(&mut self, n: usize) -> String {
        let first = char::from(b'1' + self.below(9) as u8);
        format!("{first}{}", self.digits(n - 1))
    }

    /// `from + below(spread)` digits.
    fn digits_n(&mut self, from: usize, spread: usize) -> String {
        let n = from + self.below(spread);
        self.digits(n)
    }

    fn base64url_n(&mut self, from: usize, spread: usize) -> String {
        let n = from + self.below(spread);
        self.base64url(n)
    }

    fn number_n(&mut self, from: usize, spread: usize) -> String {
        let n = from + self.below(spread);
        self.number(n)
    }

    fn range(&mut self, from: u64, to: u64) -> u64 {
        from + self.next() % (to - from + 1)
    }

    fn hex(&mut self, n: usize, upper: bool) -> String {
        let set: &[u8] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        (0..n).map(|_| char::from(set[self.below(16)])).collect()
    }

    fn base64url(&mut self, n: usize) -> String {
        const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n).map(|_| char::from(SET[self.below(64)])).collect()
    }

    fn word(&mut self) -> &'static str {
        self.pick(&[
            "lodash",
            "react",
            "left-pad",
            "core-js",
            "express",
            "typescript",
            "requests",
            "numpy",
            "vue",
            "babel-core",
            "eslint",
            "left",
            "chalk",
            "debug",
            "tslib",
            "rxjs",
            "zod",
        ])
    }
}

/// The check digit that makes `body` Luhn-valid.
fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let x = u32::from(c - b'0');
            if i % 2 == 0 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// The GS1 check digit of a GTIN body.
fn gtin_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// One look-alike: a text and the member name it is scanned under.
type LookAlike = (String, Option<&'static str>);

/// A value of a kind, in one of the ways it is written: alone, in a
/// sentence, in a JSON object, or as the value of a named member.
fn present(rng: &mut Rng, value: String, words: &[&str], keys: &[&'static str]) -> LookAlike {
    match rng.below(4) {
        0 => (value, None),
        1 => (format!("{} {value} ok", rng.pick(words)), None),
        2 => (format!("{{\"{}\":\"{value}\"}}", rng.pick(keys)), None),
        _ => (value, Some(rng.pick(keys))),
    }
}

fn ean13(rng: &mut Rng) -> LookAlike {
    // Half German (400-440), half any GS1 prefix.
    let prefix = if rng.below(2) == 0 {
        rng.range(400, 440).to_string()
    } else {
        rng.digits(3)
    };
    let body = format!("{prefix}{}", rng.digits(9));
    let code = format!("{body}{}", gtin_digit(&body));
    present(
        rng,
        code,
        &["EAN", "gtin:", "barcode", "Artikel", "item", "sku"],
        &["ean", "gtin", "barcode", "gtin13", "value", "code"],
    )
}

fn upc12(rng: &mut Rng) -> LookAlike {
    let body = rng.digits(11);
    let code = format!("{body}{}", gtin_digit(&body));
    present(
        rng,
        code,
        &["UPC", "upc:", "item"],
        &["upc", "gtin", "value"],
    )
}

fn id19(rng: &mut Rng) -> LookAlike {
    let id = match rng.below(3) {
        0 => rng.number(19),
        1 => rng.next().to_string(),
        _ => {
            let n = 17 + rng.below(3);
            rng.number(n)
        }
    };
    present(
        rng,
        id,
        &["id", "user", "ref", "tweet", "message"],
        &["id", "user_id", "id_str", "value", "messageId"],
    )
}

fn timestamp(rng: &mut Rng) -> LookAlike {
    let secs = rng.range(1_000_000_000, 1_999_999_999);
    let value = match rng.below(8) {
        0 => secs.to_string(),
        1 => format!("{secs}{}", rng.digits(3)),
        2 => format!("{secs}{}", rng.digits(6)),
        3 => format!("{secs}{}", rng.digits(9)),
        4 => format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            rng.below(40),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.digits_n(1, 9)
        ),
        5 => format!(
            "20{:02}{:02}{:02}{:02}{:02}{:02}{}",
            rng.below(40),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.digits_n(0, 4)
        ),
        6 => format!("{secs}.{}", rng.digits(6)),
        _ => format!(
            "20{:02}-{:02}-{:02} {:02}:{:02}:{:02}.{}",
            rng.below(40),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.digits(6)
        ),
    };
    present(
        rng,
        value,
        &["at", "created", "ts", "updated"],
        &["ts", "timestamp", "created_at", "time", "value"],
    )
}

fn price(rng: &mut Rng) -> LookAlike {
    let n = 1 + rng.below(16);
    let value = match rng.below(7) {
        0 => format!("{}.{}", rng.number(n), rng.digits(2)),
        1 => format!("0.{}", rng.digits_n(13, 5)),
        2 => format!("{}.{}", rng.number_n(13, 4), rng.digits_n(1, 3)),
        3 => format!(
            "${},{}.{}",
            rng.number_n(1, 3),
            rng.digits(3),
            rng.digits(2)
        ),
        4 => format!(
            "€{}.{},{}",
            rng.number_n(1, 3),
            rng.digits(3),
            rng.digits(2)
        ),
        5 => format!(
            "{}.{}e+{}",
            rng.number(1),
            rng.digits(15),
            10 + rng.below(10)
        ),
        _ => format!("-{}.{}", rng.number(n), rng.digits(2)),
    };
    present(
        rng,
        value,
        &["total", "amount", "price", "EUR", "USD", "balance"],
        &["amount", "price", "total", "value"],
    )
}

fn uuid(rng: &mut Rng) -> LookAlike {
    let upper = rng.below(4) == 0;
    let variant = rng.pick(&["8", "9", "a", "b"]);
    let u = format!(
        "{}-{}-4{}-{variant}{}-{}",
        rng.hex(8, upper),
        rng.hex(4, upper),
        rng.hex(3, upper),
        rng.hex(3, upper),
        rng.hex(12, upper)
    );
    let value = match rng.below(3) {
        0 => u,
        1 => u.replace('-', ""),
        _ => format!("https://api.example.com/v1/orders/{u}?page=2"),
    };
    present(
        rng,
        value,
        &["id", "request"],
        &["id", "uuid", "request_id"],
    )
}

fn order_ref(rng: &mut Rng) -> LookAlike {
    let value = match rng.below(9) {
        0 => format!("ORD-20{:02}-{}", rng.below(30), rng.digits(6)),
        1 => format!("ORD{}", rng.number_n(10, 4)),
        2 => format!("{}-{}-{}", rng.digits(3), rng.digits(7), rng.digits(7)),
        3 => format!("#{}", rng.number_n(4, 3)),
        4 => format!("INV-{}", rng.digits(8)),
        5 => format!("PO#{}", rng.number(13)),
        6 => format!(
            "SO-20{:02}{:02}{:02}-{}",
            rng.below(30),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.digits(4)
        ),
        7 => format!("order {}", rng.number_n(12, 2)),
        _ => format!("ORD-{}", rng.number_n(17, 3)),
    };
    present(
        rng,
        value,
        &["order", "ref", "invoice"],
        &["order_id", "orderId", "ref", "reference"],
    )
}

fn hex_hash(rng: &mut Rng) -> LookAlike {
    let upper = rng.below(4) == 0;
    let n = rng.pick(&[7, 12, 32, 40, 64]);
    let value = match rng.below(3) {
        0 => rng.hex(n, upper),
        1 => format!("0x{}", rng.hex(n, upper)),
        _ => format!("sha256:{}", rng.hex(64, upper)),
    };
    present(
        rng,
        value,
        &["commit", "sha1", "etag", "digest"],
        &["sha", "hash", "etag", "digest"],
    )
}

fn base64_token(rng: &mut Rng) -> LookAlike {
    let value = match rng.below(4) {
        0 => rng.base64url_n(16, 48),
        1 => format!(
            "{}.{}.{}",
            rng.base64url_n(20, 20),
            rng.base64url_n(20, 40),
            rng.base64url(43)
        ),
        2 => rng.base64url(22).to_lowercase(),
        _ => format!("{}==", rng.base64url(22)),
    };
    present(
        rng,
        value,
        &["token", "nonce", "state", "key"],
        &["nonce", "state", "value", "session"],
    )
}

fn phone_digits(rng: &mut Rng) -> LookAlike {
    let value = match rng.below(5) {
        0 => format!("4915{}", rng.digits(9)),
        1 => format!("4917{}", rng.digits(9)),
        2 => format!("4366{}", rng.digits(9)),
        3 => format!("447{}", rng.digits(9)),
        _ => format!("1{}{}", rng.range(200, 999), rng.digits(7)),
    };
    present(
        rng,
        value,
        &["tel", "phone", "whatsapp", "call"],
        &["phone", "msisdn", "tel", "value"],
    )
}

fn version_or_address(rng: &mut Rng) -> LookAlike {
    fn part(rng: &mut Rng) -> String {
        let n = 1 + rng.below(4);
        rng.number(n)
    }
    let value = match rng.below(6) {
        0 => format!("{}.{}.{}", part(rng), part(rng), part(rng)),
        1 => format!("{}.{}.{}.{}", part(rng), part(rng), part(rng), part(rng)),
        2 => format!(
            "{}.{}.{}.{}:{}",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.range(1, 65535)
        ),
        3 => format!(
            "v{}.{}.{}-rc.{}+build.{}",
            part(rng),
            part(rng),
            part(rng),
            part(rng),
            rng.number(6)
        ),
        4 => format!("{}.{}", rng.number(4), rng.digits(4)),
        _ => format!(
            "20{:02}.{}.{}",
            rng.below(30),
            1 + rng.below(12),
            rng.number(4)
        ),
    };
    present(
        rng,
        value,
        &["version", "ip", "build", "from"],
        &["version", "ip", "addr", "value"],
    )
}

fn package_specifier(rng: &mut Rng) -> LookAlike {
    let (name, v) = (
        rng.word(),
        format!("{}.{}.{}", rng.below(30), rng.below(30), rng.below(30)),
    );
    let value = match rng.below(9) {
        0 => format!("{name}@{v}"),
        1 => format!("@scope/{name}@{v}"),
        2 => format!("{name}@^{v}"),
        3 => format!("pkg:npm/{name}@{v}"),
        4 => format!("{name}@latest"),
        5 => format!("registry.example/{name}@sha256:{}", rng.hex(64, false)),
        6 => format!("git@github.com:{name}/{name}.git"),
        7 => format!("https://cdn.jsdelivr.net/npm/{name}@{v}/dist/{name}.min.js"),
        _ => format!("golang.org/x/{name}@v{v}"),
    };
    present(
        rng,
        value,
        &["npm i", "pip install", "uses", "dependency"],
        &["dependency", "package", "value"],
    )
}

fn bearer_prose(rng: &mut Rng) -> LookAlike {
    let sep = rng.pick(&[" ", "\t", "\n", "  ", ": ", "=", "\u{a0}"]);
    let rest = rng.pick(&[
        "tokens are short-lived",
        "authentication is required for this endpoint",
        "realm=\"example\", error=\"invalid_token\"",
        "of this bond is entitled to payment",
        "authentication_required",
        "token must be presented",
        "scheme (RFC 6750)",
    ]);
    let word = rng.pick(&["Bearer", "bearer", "BEARER"]);
    present(
        rng,
        format!("{word}{sep}{rest}"),
        &["note:", "the"],
        &["description", "note"],
    )
}

type Generator = fn(&mut Rng) -> LookAlike;

/// Look-alikes of every kind: at most 0.1% of them may give any finding.
/// `cargo test --test detectors false_positive_rates -- --nocapture`
/// prints the rates.
#[test]
fn false_positive_rates() {
    const N: usize = 100_000;
    let kinds: &[(&str, Generator)] = &[
        ("ean13", ean13),
        ("upc12", upc12),
        ("id17_19", id19),
        ("timestamp", timestamp),
        ("price", price),
        ("uuid", uuid),
        ("order_ref", order_ref),
        ("hex_hash", hex_hash),
        ("base64", base64_token),
        ("phone_digits", phone_digits),
        ("version_ip", version_or_address),
        ("package_spec", package_specifier),
        ("bearer_prose", bearer_prose),
    ];
    let mut rng = Rng(0x0005_eed0_f100_a11c);
    let mut failures = Vec::new();
    for &(name, generate) in kinds {
        let mut hits = 0;
        let mut example = None;
        for _ in 0..N {
            let (text, key) = generate(&mut rng);
            let mut found = scan_with(&text, DetectorSet::all(), Context::of_key(key));
            // A phone number is a phone number: only the other detectors
            // count against this kind.
            if name == "phone_digits" {
                found.retain(|f| f.detector != Detector::Phone);
            }
            if !found.is_empty() {
                hits += 1;
                example.get_or_insert((text.clone(), key, describe(&text, &found)));
            }
        }
        let rate = hits as f64 / N as f64;
        println!(
            "false positives {name:>13}: {hits:>4} / {N} = {:.4}%",
            rate * 100.0
        );
        if rate > 0.001 {
            failures.push(format!("{name}: {:.4}%, e.g. {example:?}", rate * 100.0));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A card network's leading digits and the lengths it issues.
const NETWORKS: &[(&str, &[&str], &[usize])] = &[
    ("visa", &["4"], &[13, 16, 19]),
    (
        "mastercard",
        &["51", "53", "55", "2221", "2720", "2500"],
        &[16],
    ),
    ("amex", &["34", "37"], &[15]),
    ("discover", &["6011", "644", "649", "65"], &[16, 17, 18, 19]),
    ("jcb", &["3528", "3589", "3566"], &[16, 17, 18, 19]),
    ("diners36", &["36"], &[14, 15, 16, 17, 18, 19]),
    (
        "diners",
        &["300", "305", "3095", "38", "39"],
        &[14, 16, 17, 18, 19],
    ),
    ("unionpay", &["62"], &[16, 17, 18, 19]),
    (
        "maestro",
        &[
            "5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763", "676770",
        ],
        &[12, 13, 14, 15, 16, 17, 18, 19],
    ),
    ("mir", &["2200", "2204"], &[16, 17, 18, 19]),
];

fn card_number(rng: &mut Rng, prefixes: &[&str], len: usize) -> String {
    let prefix = rng.pick(prefixes);
    let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    format!("{body}{}", luhn_digit(&body))
}

/// Groups of four with a shorter last group, each separator from `seps`
/// in turn.
fn grouped(number: &str, seps: &[&str]) -> String {
    let mut out = String::new();
    for (k, chunk) in number.as_bytes().chunks(4).enumerate() {
        if k > 0 {
            out.push_str(seps[(k - 1) % seps.len()]);
        }
        out.push_str(std::str::from_utf8(chunk).unwrap());
    }
    out
}

fn in_digits(text: &str, zero: u32) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(zero + (c as u32 - '0' as u32)).unwrap(),
            ' ' => '\u{3000}',
            c => c,
        })
        .collect()
}

/// The written forms of a card number, and whether each is one on its own
/// at every length (grouped and glued forms are; a single run of 12, 13 or
/// 17 to 19 digits needs context, see card.rs).
const FORMS: &[(&str, bool)] = &[
    ("plain", false),
    ("spaces", true),
    ("dashes", true),
    ("dots", true),
    ("mixed", true),
    ("doubled", true),
    ("spaced_dash", true),
    ("glued_card", true),
    ("glued_exp", true),
    ("fullwidth", false),
    ("fullwidth_grouped", true),
    ("arabic_indic", false),
    ("zero_width", false),
    ("nbsp_grouped", true),
];

/// A card number written in `form`, and what a scan should find of it.
fn written(rng: &mut Rng, form: &str, n: &str) -> (String, String) {
    let same = |w: String| (w.clone(), w);
    match form {
        "plain" => same(n.to_owned()),
        "spaces" => same(grouped(n, &[" "])),
        "dashes" => same(grouped(n, &["-"])),
        "dots" => same(grouped(n, &["."])),
        "mixed" => same(grouped(n, &[" ", "-", "."])),
        "doubled" => same(grouped(n, &["  "])),
        "spaced_dash" => same(grouped(n, &[" - "])),
        "glued_card" => (
            format!("{}{n}", rng.pick(&["CARD", "card", "Visa", "cc"])),
            n.to_owned(),
        ),
        "glued_exp" => (
            format!("{n}{}", rng.pick(&["exp", "EXP", "cvv"])),
            n.to_owned(),
        ),
        "fullwidth" => same(in_digits(n, 0xff10)),
        "fullwidth_grouped" => same(in_digits(&grouped(n, &[" "]), 0xff10)),
        "arabic_indic" => same(in_digits(n, 0x0660)),
        // A hidden character after the last digit is not part of the card.
        "zero_width" => {
            let w: String = n.chars().flat_map(|c| [c, '\u{200b}']).collect();
            let expected = w.trim_end_matches('\u{200b}').to_owned();
            (w, expected)
        }
        "nbsp_grouped" => same(grouped(n, &["\u{a0}"])),
        _ => unreachable!(),
    }
}

/// Card numbers of every network, length and written form: at least 99.9%
/// are found in card context, and where the form and length are a card on
/// their own, without any context too.
/// `cargo test --test detectors card_recall -- --nocapture` prints the
/// rates.
#[test]
fn card_recall() {
    const N: usize = 1_000;
    let mut rng = Rng(0x00c0_ffee_cafe_0001);
    let mut failures = Vec::new();
    for &(network, prefixes, lengths) in NETWORKS {
        for &len in lengths {
            let mut line = format!("recall {network:>10} {len}:");
            for &(form, standalone) in FORMS {
                let (mut in_context, mut alone) = (0, 0);
                for _ in 0..N {
                    let n = card_number(&mut rng, prefixes, len);
                    let (w, expected) = written(&mut rng, form, &n);
                    let hit = |text: &str, key| {
                        scan_with(text, Detector::Pan.into(), Context::of_key(key))
                            .iter()
                            .any(|f| text[f.start..f.end] == expected)
                    };
                    let word = rng.pick(&["card:", "paid with", "Card number", "visa"]);
                    let sentence = format!("{word} {w}.");
                    if hit(&sentence, None) && hit(&w, Some("card_number")) {
                        in_context += 1;
                    }
                    if hit(&w, None) {
                        alone += 1;
                    }
                }
                let (c, a) = (in_context as f64 / N as f64, alone as f64 / N as f64);
                line.push_str(&format!(" {form}={:.1}/{:.1}", c * 100.0, a * 100.0));
                let needs_context = !standalone && (len <= 13 || len >= 17);
                if c < 0.999 || (!needs_context && a < 0.999) {
                    failures.push(format!(
                        "{network} {len} {form}: {:.2}% in context, {:.2}% alone",
                        c * 100.0,
                        a * 100.0
                    ));
                }
            }
            println!("{line}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
