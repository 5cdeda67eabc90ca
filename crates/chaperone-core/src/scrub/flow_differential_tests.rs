//! Differential fuzzing of the flowing JSON document (json::DocFlow)
//! against the whole-document rewriter.

use super::class::{Action, Classes, DataClass};
use super::contract::{Contract, FieldAction, Limit, LimitAction, Unknown};
use super::detect::{Detector, DetectorSet};
use super::stream::{Flow, Framing};
use super::*;
use crate::secret::HashKey;

fn classes() -> Classes {
    let c = |name: &str, d: &[Detector], action| DataClass {
        name: name.into(),
        detectors: d.iter().fold(DetectorSet::empty(), |s, d| s.with(*d)),
        action,
    };
    Classes::new(vec![
        c("card_number", &[Detector::Pan], Action::MaskPan),
        c(
            "national_id",
            &[Detector::UsSsn, Detector::UkNhs],
            Action::Redact,
        ),
        c(
            "secret",
            &[Detector::Jwt, Detector::AwsAccessKey, Detector::PrivateKey],
            Action::Drop,
        ),
        c("email", &[Detector::Email], Action::Hash),
        c("npi", &[Detector::UsNpi], Action::Redact),
    ])
}

fn contract() -> Contract {
    Contract {
        scan: DetectorSet::all(),
        text: true,
        max_body: 1 << 20,
        ..Contract::default()
    }
}

fn key() -> HashKey {
    HashKey::from_bytes(b"test key")
}

fn headers() -> BodyHeaders {
    BodyHeaders {
        content_type: vec!["application/json".to_owned()],
        content_encoding: Vec::new(),
    }
}

fn flow(c: &Contract, parts: &[&[u8]]) -> (Vec<u8>, Option<ScrubError>, Findings) {
    let h = headers();
    let mut f = Flow::new(Framing::Document, &classes());
    let mut out = Vec::new();
    let mut found = Findings::new(classes().len());
    for (i, p) in parts.iter().enumerate() {
        let fed = f.feed(p, i + 1 == parts.len(), &h, c, &classes(), &key());
        found.merge(&fed.findings);
        out.extend_from_slice(&fed.out);
        if let Some(e) = fed.refused {
            return (out, Some(e), found);
        }
    }
    (out, None, found)
}

fn compact(doc: &[u8]) -> Vec<u8> {
    let (mut out, mut string, mut escaped) = (Vec::new(), false, false);
    for &b in doc {
        if string {
            string = escaped || b != b'"';
            escaped = !escaped && b == b'\\';
        } else if b == b'"' {
            string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        out.push(b);
    }
    out
}

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'x>(&mut self, from: &[&'x str]) -> &'x str {
        from[self.below(from.len())]
    }
    fn ws(&mut self, out: &mut String) {
        if self.below(3) == 0 {
            out.push_str(self.pick(&[" ", "\n", "\t ", "\r\n  ", "   \n\n  "]));
        }
    }

    fn key(&mut self) -> &'static str {
        const KEYS: &[&str] = &[
            "id",
            "card",
            "items",
            "sku",
            "name",
            "value",
            "system",
            "nested",
            "Card",
            "account[]",
            "pan",
            "profile",
            "ssn",
            "data",
            "4111111111111111",
            "email",
            "x",
            "\\u0063ard",
            "brand",
            "number",
            "type",
            "kind",
            "use",
            "text",
            "values",
            "meta",
            "c\\\"ard",
            "\\u0000",
            "k\\\\",
            "\\ud83d\\ude00",
            "é",
            "nhs",
            "a b",
            "card_number",
            "number ",
            "Items",
            "items[]",
            "4111 1111 1111 1111",
            "deep",
            "list",
            "label",
            "identifier",
            "secret",
        ];
        KEYS[self.below(KEYS.len())]
    }

    fn value(&mut self, depth: usize, out: &mut String) {
        const STRINGS: &[&str] = &[
            "4111 1111 1111 1111",
            "5555555555554444",
            "plain",
            "a.person@mail.example",
            "123-45-6789",
            "urn:oid:2.16.840.1.113883.4.1",
            "urn:oid:2.16.840.1.113883.4.6",
            "urn:oid:2.16.840.1.113883.2.1.4.1",
            "http://hl7.org/fhir/sid/us-npi",
            "ssn",
            "visa",
            "card",
            "\\u00341111111111111111",
            "]",
            "}",
            "\\\"}",
            "\\\\",
            "pan",
            "",
            "4111111111111111110",
            "411111111117",
            "1234567893",
            "943 476 5919",
            "123456789",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIzNDU2",
            "é\\u00e9",
            "\\ud83d\\ude00",
            "a,b:c{[",
        ];
        const NUMBERS: &[&str] = &[
            "1",
            "4111111111111111",
            "4.111111111111111e15",
            "41111111111111.11e2",
            "-4111111111111111",
            "-0.5",
            "0",
            "123456789",
            "1234567893",
            "4111111111111111110",
            "411111111117",
            "5555555555554444.0",
        ];
        self.ws(out);
        let choices = if depth > 66 {
            3
        } else if depth > 5 && self.below(8) != 0 {
            4
        } else {
            10
        };
        match self.below(choices) {
            0 => {
                out.push('"');
                out.push_str(self.pick(STRINGS));
                out.push('"');
            }
            1 => out.push_str(self.pick(NUMBERS)),
            2 => out.push_str(self.pick(&["true", "false", "null"])),
            3 => {
                // A deep chain.
                if self.below(30) == 0 {
                    let n = 55 + self.below(14);
                    for _ in 0..n {
                        out.push_str(self.pick(&["[", "{\"deep\":"]));
                    }
                    // Close the chain just pushed, innermost first.
                    let mut stack = Vec::new();
                    let bytes = out.as_bytes();
                    let mut i = out.len();
                    while stack.len() < n && i > 0 {
                        i -= 1;
                        match bytes[i] {
                            b'[' => stack.push(']'),
                            b'{' => stack.push('}'),
                            _ => {}
                        }
                    }
                    out.push_str("\"4111111111111111\"");
                    for c in stack {
                        out.push(c);
                    }
                } else {
                    out.push_str("null");
                }
            }
            4..=6 => {
                out.push('{');
                for i in 0..self.below(6) {
                    if i > 0 {
                        out.push(',');
                    }
                    self.ws(out);
                    out.push('"');
                    let k = self.key();
                    out.push_str(k);
                    out.push('"');
                    self.ws(out);
                    out.push(':');
                    self.value(depth + 1, out);
                }
                self.ws(out);
                out.push('}');
            }
            7 => {
                // Labels and what they name, in either order.
                let label = self.pick(&[
                    r#""system":"urn:oid:2.16.840.1.113883.4.1""#,
                    r#""system":"http://hl7.org/fhir/sid/us-npi""#,
                    r#""system":"urn:oid:2.16.840.1.113883.2.1.4.1""#,
                    r#""brand":"visa""#,
                    r#""name":"card""#,
                    r#""type":"ssn""#,
                    r#""use":"official""#,
                    r#""kind":"pan""#,
                ]);
                let named = self.pick(&["value", "number", "id", "text", "data", "values", "x"]);
                out.push('{');
                let before = self.below(2) == 0;
                if before {
                    out.push_str(label);
                    out.push(',');
                }
                out.push('"');
                out.push_str(named);
                out.push_str("\":");
                self.value(depth + 1, out);
                if !before {
                    out.push(',');
                    out.push_str(label);
                }
                if self.below(2) == 0 {
                    out.push_str(",\"value\":");
                    self.value(depth + 1, out);
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                for i in 0..self.below(6) {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(depth + 1, out);
                }
                self.ws(out);
                out.push(']');
            }
        }
        self.ws(out);
    }
}

fn contracts() -> Vec<(String, Contract)> {
    let fa = |action| FieldAction {
        action,
        class: "field".into(),
    };
    let listed = |unknown, paths: &[&str]| {
        let mut c = contract();
        c.unknown = unknown;
        for p in paths {
            c.allow_path(p).unwrap();
        }
        c
    };
    let mut v: Vec<(String, Contract)> = Vec::new();
    v.push(("open".into(), contract()));
    for unknown in [Unknown::Drop, Unknown::Allow, Unknown::Reject] {
        for paths in [
            &[
                "id",
                "card",
                "items[*].sku",
                "items[*].card",
                "nested.*",
                "value",
                "system",
            ][..],
            &[
                "[*].id",
                "[*].card",
                "[*].items[*]",
                "[*].value",
                "[*].system",
            ],
            &["*.id", "*.value", "*.system", "*.card"],
            &["[*][*]", "[*].*.value"],
            &["items", "[*]"],
            &["nested.deep.deep", "deep"],
            &["items[*].items[*].sku", "items[*].value", "meta"],
            &["*"],
            &[
                "[*].*[*].value",
                "[*].*.system",
                "*[*].value",
                "*[*].system",
            ],
        ] {
            v.push((format!("{unknown:?} {paths:?}"), listed(unknown, paths)));
        }
    }
    let actions: &[(&str, Action)] = &[
        ("card", Action::MaskPanLast4),
        ("profile", Action::Redact),
        ("ssn", Action::Drop),
        ("items[*].name", Action::Hash),
        ("nested", Action::MaskPan),
        ("nested.data", Action::Hash),
        ("items", Action::MaskPanLast4),
        ("value", Action::Hash),
        ("*.value", Action::Redact),
        ("[*].card", Action::MaskPan),
        ("meta.*", Action::Redact),
        ("list[*]", Action::Hash),
        ("[*][*]", Action::Redact),
        ("deep", Action::Hash),
        ("pan", Action::Block),
        ("number", Action::Drop),
    ];
    for (i, chunk) in actions.chunks(3).enumerate() {
        let mut a = contract();
        let mut b = listed(
            Unknown::Drop,
            &["id", "items[*].sku", "nested.x", "value", "system"],
        );
        let mut d = listed(Unknown::Allow, &["[*].id", "*.value"]);
        for (p, act) in chunk {
            a.field_action(p, fa(*act)).unwrap();
            b.field_action(p, fa(*act)).unwrap();
            d.field_action(p, fa(*act)).unwrap();
        }
        v.push((format!("acted{i} open"), a));
        v.push((format!("acted{i} drop"), b));
        v.push((format!("acted{i} allow"), d));
    }
    for n in [0, 1, 3] {
        let mut l = contract();
        l.limit = Some(Limit {
            findings: n,
            action: LimitAction::Block,
        });
        v.push((format!("limit{n}"), l));
    }
    // Every contract counts records too, so the counts are compared with
    // everything else: the elements of named arrays, through wildcards, of
    // the document itself, and of arrays in arrays.
    for (_, c) in &mut v {
        let mut records = contract::Records::default();
        for path in RECORD_PATHS {
            records.add(path).unwrap();
        }
        c.records = Some(std::sync::Arc::new(records));
    }
    v
}

/// The record paths every contract above counts.
const RECORD_PATHS: [&str; 7] = [
    "items[*]",
    "[*]",
    "*[*]",
    "[*].items[*]",
    "nested.deep[*]",
    "[*][*]",
    "list[*]",
];

fn leaks(out: &[u8]) -> Option<&'static str> {
    let s = String::from_utf8_lossy(out);
    for needle in [
        "4111 1111 1111 1111",
        "5555555555554444",
        "123-45-6789",
        "AKIAIOSFODNN7EXAMPLE",
        "a.person@mail.example",
    ] {
        if s.contains(needle) {
            return Some(needle);
        }
    }
    let b = s.as_bytes();
    let n = b"4111111111111111";
    for i in 0..b.len().saturating_sub(n.len() - 1) {
        if &b[i..i + n.len()] == n
            && !b.get(i + n.len()).is_some_and(|c| c.is_ascii_digit())
            && !(i > 0 && b[i - 1].is_ascii_digit())
        {
            return Some("4111111111111111");
        }
    }
    None
}

fn run_rounds(seed: u64, rounds: usize) -> usize {
    let mut g = Gen(seed);
    let h = headers();
    let cs = contracts();
    let mut compared = 0;
    let mut records = 0;
    for round in 0..rounds {
        let mut doc = String::new();
        g.value(0, &mut doc);
        let mut doc = doc.into_bytes();
        if round % 6 == 5 && !doc.is_empty() {
            let at = g.below(doc.len());
            match g.below(4) {
                0 => {
                    doc.remove(at);
                }
                1 => doc[at] = b"{}[],:\"x1 \\\xff"[g.below(12)],
                2 => doc.insert(at, b"{}[],:\"x1 \\\xff"[g.below(12)]),
                _ => {
                    let at = g.below(doc.len() + 1);
                    doc.splice(at..at, b"\xc3".iter().copied());
                }
            }
        }
        let (name, c) = &cs[g.below(cs.len())];
        let whole = body::scrub_body(&doc, &h, c, &classes(), &key());
        let mut small = c.clone();
        small.max_body = [1, 2, 3, 8, 16, 40, 100, 1 << 20][g.below(8)];
        let mut parts: Vec<&[u8]> = Vec::new();
        if g.below(4) == 0 {
            parts = doc.chunks(1).collect();
        } else {
            let mut cuts: Vec<usize> = (0..g.below(6)).map(|_| g.below(doc.len() + 1)).collect();
            cuts.sort_unstable();
            let mut from = 0;
            for cut in cuts {
                parts.push(&doc[from..cut]);
                from = cut;
            }
            parts.push(&doc[from..]);
        }
        let (out, refused, found) = flow(&small, &parts);
        let what = || {
            format!(
                "contract {name}: {:?} split {:?} max {}",
                String::from_utf8_lossy(&doc),
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                small.max_body
            )
        };
        match (&whole, &refused) {
            (Ok(whole), Some(ScrubError::TooLarge { .. })) => {
                let expected = compact(whole.body.as_deref().unwrap_or(&doc));
                let got = compact(&out);
                assert!(
                    expected.starts_with(&got),
                    "cut output not a prefix: {} vs {}: {}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected),
                    what()
                );
            }
            (Err(_), Some(ScrubError::TooLarge { .. })) => {}
            (Ok(whole), None) => {
                let expected = compact(whole.body.as_deref().unwrap_or(&doc));
                assert_eq!(
                    String::from_utf8_lossy(&compact(&out)),
                    String::from_utf8_lossy(&expected),
                    "{}",
                    what()
                );
                assert_eq!(found.total(), whole.findings.total(), "{}", what());
                for (i, path) in RECORD_PATHS.iter().enumerate() {
                    assert_eq!(
                        found.records(i),
                        whole.findings.records(i),
                        "records of {path}: {}",
                        what()
                    );
                    records += whole.findings.records(i);
                }
                assert!(
                    expected.is_empty()
                        || serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
                    "not JSON: {}",
                    what()
                );
                compared += 1;
            }
            (Err(w), Some(f)) => assert!(
                std::mem::discriminant(w) == std::mem::discriminant(f)
                    || [w, f]
                        .iter()
                        .any(|e| matches!(e, ScrubError::LimitExceeded { .. }))
                    || serde_json::from_slice::<serde_json::Value>(&doc).is_err(),
                "{w:?} / {f:?}: {}",
                what()
            ),
            (w, f) => panic!("whole {w:?}, flowing {f:?}: {}", what()),
        }
        if refused.is_some()
            && c.limit.is_none()
            && let Some(n) = leaks(&out)
        {
            {
                // Only a leak if the whole rewriter (on a valid doc) would not write it.
                let whole_leaks = whole
                    .as_ref()
                    .ok()
                    .map(|w| leaks(w.body.as_deref().unwrap_or(&doc)).is_some())
                    .unwrap_or(false);
                assert!(
                    whole_leaks,
                    "leak {n} before refusal {refused:?}: {}",
                    what()
                );
            }
        }
    }
    assert!(records > 100, "records counted: {records}");
    compared
}

#[test]
fn flowing_documents_match_the_whole_rewriter_over_many_contracts() {
    let seeds: u64 = std::env::var("CHAPERONE_FLOW_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rounds: usize = std::env::var("CHAPERONE_FLOW_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut compared = 0;
    for s in 0..seeds {
        compared += run_rounds(
            0x1234_5678_9abc_def1 ^ (s.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            rounds,
        );
    }
    eprintln!("compared {compared}");
    assert!(compared > 10, "{compared}");
}

/// What a flowing document holds is one value or key and the path to it
/// (docs: memory per stream is the part and the held piece). The path's
/// member names are held too: 60 nested members whose names are each just
/// under `max_bytes` hold 60 times `max_bytes`.
#[test]
fn held_names_are_bounded_by_max_bytes() {
    let mut c = contract();
    c.max_body = 64 * 1024;
    let name = "n".repeat(c.max_body - 8);
    let mut f = Flow::new(Framing::Document, &classes());
    let h = headers();
    let first = f.feed(b"{", false, &h, &c, &classes(), &key());
    assert!(first.refused.is_none());
    for depth in 0..60 {
        // Objects, and arrays of objects (whose elements are judged under
        // the array's name).
        let part = match depth % 4 < 2 {
            true => format!("\"{name}\":{{"),
            false => format!("\"{name}\":[{{"),
        };
        let fed = f.feed(part.as_bytes(), false, &h, &c, &classes(), &key());
        if let Some(e) = fed.refused {
            // Refused as too large is a bound too.
            assert!(matches!(e, ScrubError::TooLarge { .. }), "{e:?}");
            break;
        }
    }
    // The flow's own state, as Debug prints it (every name it holds).
    let held = format!("{f:?}").len();
    assert!(
        held <= 4 * c.max_body,
        "a flowing document holds {held} bytes of path, {}x max_bytes",
        held / c.max_body
    );
}

/// A string held until it ends is searched once, however small the parts
/// it comes in (as an event's line is): 256 KiB in 1-byte parts.
#[test]
fn a_long_string_fed_byte_by_byte_is_searched_once() {
    let mut c = contract();
    c.max_body = 256 * 1024;
    let h = headers();
    let mut f = Flow::new(Framing::Document, &classes());
    f.feed(b"[\"", false, &h, &c, &classes(), &key());
    let started = std::time::Instant::now();
    for _ in 0..(c.max_body - 16) {
        let fed = f.feed(b"a", false, &h, &c, &classes(), &key());
        assert!(fed.refused.is_none());
    }
    let fed = f.feed(b"\"]", true, &h, &c, &classes(), &key());
    assert!(fed.refused.is_none(), "{:?}", fed.refused);
    let took = started.elapsed();
    // NDJSON's line of the same size in the same parts, for scale.
    let mut lines = Flow::new(Framing::Lines, &classes());
    let hl = BodyHeaders {
        content_type: vec!["application/x-ndjson".into()],
        content_encoding: Vec::new(),
    };
    lines.feed(b"[\"", false, &hl, &c, &classes(), &key());
    let base = std::time::Instant::now();
    for _ in 0..(c.max_body - 16) {
        lines.feed(b"a", false, &hl, &c, &classes(), &key());
    }
    lines.feed(b"\"]\n", true, &hl, &c, &classes(), &key());
    let baseline = base.elapsed();
    eprintln!("document {took:?}, lines {baseline:?}");
    assert!(
        took < baseline * 20 + std::time::Duration::from_millis(200),
        "held string rescanned on every part: {took:?} against {baseline:?}"
    );
}
