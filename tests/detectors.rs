//! The detectors against a corpus (tests/data/detectors: values that must be
//! found and look-alikes that must not) and against random input: scanning
//! never panics, findings are sorted, disjoint and on char boundaries, the
//! pre-check never rules out a finding, and the work stays linear.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chaperone::scrub::detect::{Detector, DetectorSet, Finding, matches_whole, may_contain, scan};

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

/// A positive: detector, text and expected match, escapes decoded.
fn positive(n: usize, line: &str) -> (Detector, String, String) {
    let fields: Vec<&str> = line.split('\t').collect();
    let [name, text, expected] = fields[..] else {
        panic!("positives.txt:{n}: want detector<TAB>text<TAB>expected");
    };
    let d = Detector::parse(name).unwrap_or_else(|| panic!("positives.txt:{n}: {name}?"));
    (d, unescape(text), unescape(expected))
}

/// Decodes \n, \t and \\.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
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
        let (d, text, expected) = positive(n, line);
        let (text, expected) = (text.as_str(), expected.as_str());
        let findings = scan(text, DetectorSet::all());
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
    assert!(count >= 50, "only {count} positives");
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
    assert!(count >= 100, "only {count} negatives");
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
        // Resolution only removes candidates: each survivor is also what
        // its own detector finds alone.
        let alone = scan(text, f.detector.into());
        assert!(
            alone.contains(f),
            "{text:?}: {f:?} not found by its detector alone"
        );
        if f.detector != Detector::BearerToken {
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
        let (d, _, expected) = positive(n, line);
        // A bearer finding is the token alone, and a truncated key runs to
        // the end of the text, whatever follows it.
        if d == Detector::BearerToken || (d == Detector::PrivateKey && !expected.ends_with("-----"))
        {
            continue;
        }
        for (before, after) in [
            (" ", " "),
            ("\"", "\""),
            ("<", ">"),
            ("é", "ж"),
            ("\n", "\n"),
            ("(", ")"),
        ] {
            let text = format!("{before}{expected}{after}");
            let got = scan(&text, d.into());
            assert_eq!(
                describe(&text, &got),
                [(d, expected.to_owned())],
                "positives.txt:{n} framed by {before:?}…{after:?}"
            );
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
