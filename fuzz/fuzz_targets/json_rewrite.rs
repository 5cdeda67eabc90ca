//! `scrub_body` under fixed contracts, with the label, charset and encoding
//! taken from the input's first byte and the body from the rest.
//!
//! Invariants:
//! - it never panics;
//! - a body labelled JSON that is passed or rewritten was JSON: the oracle
//!   (serde_json) parses its decoded text; anything else is refused;
//! - a changed JSON body parses as JSON;
//! - what crossed (rewritten or passed) holds nothing the detectors find:
//!   scrubbing it again finds nothing, and gives the same bytes unless a
//!   field action maps its own output anew (`Case::idempotent`);
//! - a compressed body is refused.

#![no_main]

use chaperone_core::scrub::detect::Context;
use chaperone_core::scrub::number;
use chaperone_core::scrub::query::form_decode;
use chaperone_core::scrub::{BodyHeaders, BodyKind, ScrubError, Scrubbed, scrub_body};
use chaperone_fuzz::{Case, cases, classes, findings_in_views, json_syntax, key, show};
use libfuzzer_sys::fuzz_target;

/// How the body is presented, from the first byte's low three bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// The bytes as they are, labelled `application/json`.
    Raw,
    /// The bytes, labelled `application/json; charset=utf-8`.
    RawUtf8,
    /// A UTF-8 byte order mark, then the text.
    Bom,
    /// UTF-16LE with its byte order mark, labelled `application/json`.
    Utf16Bom,
    /// UTF-16BE without a mark, labelled `charset=utf-16`.
    Utf16,
    /// ISO-8859-1, labelled so.
    Latin1,
    /// The bytes under another label (from the first byte's top bits).
    Relabelled,
    /// The bytes with a Content-Encoding.
    Encoded,
}

const OTHER_LABELS: [Option<&str>; 4] = [
    Some("text/plain"),
    Some("application/problem+json"),
    None,
    Some("application/x-www-form-urlencoded"),
];

const ENCODINGS: [&str; 4] = ["gzip", "identity, br", "identity", "x-custom"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let shape = [
        Shape::Raw,
        Shape::RawUtf8,
        Shape::Bom,
        Shape::Utf16Bom,
        Shape::Utf16,
        Shape::Latin1,
        Shape::Relabelled,
        Shape::Encoded,
    ][usize::from(selector & 7)];
    let all = cases();
    let case = &all[usize::from(selector >> 3) % all.len()];
    let pick = usize::from(selector >> 6);
    let text = String::from_utf8_lossy(rest);

    // The body, its headers, and the text chaperone must read from it (for
    // the oracle), when it is known.
    let (body, headers, decoded): (Vec<u8>, BodyHeaders, Option<String>) = match shape {
        Shape::Raw => (rest.to_vec(), json(), None),
        Shape::RawUtf8 => (
            rest.to_vec(),
            BodyHeaders::typed("application/json; charset=utf-8"),
            None,
        ),
        Shape::Bom => {
            let mut b = b"\xEF\xBB\xBF".to_vec();
            b.extend_from_slice(text.as_bytes());
            (b, json(), Some(text.to_string()))
        }
        Shape::Utf16Bom => {
            let mut b = vec![0xFF, 0xFE];
            b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            (b, json(), Some(text.to_string()))
        }
        Shape::Utf16 => (
            text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            BodyHeaders::typed("application/json; charset=utf-16"),
            // A leading U+FEFF is read as the byte order mark it looks like.
            Some(text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned()),
        ),
        Shape::Latin1 => {
            let Some(b) = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
            else {
                return;
            };
            (
                b,
                BodyHeaders::typed("application/json; charset=iso-8859-1"),
                Some(text.to_string()),
            )
        }
        Shape::Relabelled => {
            let headers = OTHER_LABELS[pick].map_or_else(BodyHeaders::default, BodyHeaders::typed);
            (rest.to_vec(), headers, None)
        }
        Shape::Encoded => {
            let headers = BodyHeaders {
                content_encoding: vec![ENCODINGS[pick].to_owned()],
                ..json()
            };
            (rest.to_vec(), headers, None)
        }
    };

    let result = scrub_body(&body, &headers, &case.contract, classes(), key());
    let context = || {
        format!(
            "case {}, {shape:?}, {:?}, body {}",
            case.name,
            headers.content_type,
            show(&body)
        )
    };

    if shape == Shape::Encoded && ENCODINGS[pick] != "identity" {
        assert!(
            matches!(result, Err(ScrubError::Encoded(_))),
            "a compressed body must be refused, got {result:?}: {}",
            context()
        );
        return;
    }
    let Ok(out) = result else {
        return;
    };
    let labelled_json = headers.kind() == BodyKind::Json;
    if labelled_json && !body.is_empty() {
        // Labelled JSON and not refused: it was read as JSON.
        assert_eq!(
            out.kind,
            BodyKind::Json,
            "a body labelled JSON crossed without being read as JSON: {}",
            context()
        );
        let text = match decoded {
            Some(t) => t,
            None => oracle_decode(&body)
                .unwrap_or_else(|| panic!("a JSON body that is not UTF-8 crossed: {}", context())),
        };
        if let Err(e) = json_syntax(text.as_bytes()) {
            panic!(
                "a body that is not JSON ({e}) crossed as JSON: {}",
                context()
            );
        }
    }
    if out.body.is_none() {
        assert_eq!(
            out.findings.total(),
            0,
            "findings, yet the body crossed unchanged: {}",
            context()
        );
        return;
    }
    check_output(case, &headers, &out, &context);
});

fn json() -> BodyHeaders {
    BodyHeaders::typed("application/json")
}

/// The text of a body labelled JSON without a charset, or with UTF-8: by
/// its byte order mark, else UTF-8.
fn oracle_decode(body: &[u8]) -> Option<String> {
    let utf16 = |b: &[u8], le: bool| {
        if !b.len().is_multiple_of(2) {
            return None;
        }
        let units = b.chunks_exact(2).map(|p| {
            if le {
                u16::from_le_bytes([p[0], p[1]])
            } else {
                u16::from_be_bytes([p[0], p[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .ok()
    };
    match body {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => std::str::from_utf8(rest).ok().map(str::to_owned),
        _ => std::str::from_utf8(body).ok().map(str::to_owned),
    }
}

/// A rewritten body: valid JSON when it is JSON, and nothing left to find.
fn check_output(case: &Case, headers: &BodyHeaders, out: &Scrubbed, context: &dyn Fn() -> String) {
    let Some(new) = out.body.as_deref() else {
        return;
    };
    let shown = || format!("{}; output {}", context(), show(new));
    let new_text = new.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(new);
    if out.kind == BodyKind::Json
        && let Err(e) = json_syntax(new_text)
    {
        panic!("the rewritten body is not JSON ({e}): {}", shown());
    }
    // The output as it would cross: with the Content-Type it now carries.
    let again_headers = match &out.content_type {
        Some(ct) => BodyHeaders::typed(ct),
        None => headers.clone(),
    };
    let again = scrub_body(new, &again_headers, &case.contract, classes(), key())
        .unwrap_or_else(|e| panic!("scrubbing the output again failed ({e:?}): {}", shown()));
    assert_eq!(
        again.findings.total(),
        0,
        "scrubbing the output again finds something ({:?}; the oracle sees {:?}): {}",
        again.findings.by_class(classes()),
        leftovers(case, &String::from_utf8_lossy(new_text), out.kind),
        shown()
    );
    if case.idempotent
        && let Some(twice) = again.body.as_deref()
    {
        assert_eq!(
            twice,
            new,
            "not idempotent: {}; twice {}",
            shown(),
            show(twice)
        );
    }
}

/// What the oracle finds in the output.
fn leftovers(case: &Case, output: &str, kind: BodyKind) -> Vec<String> {
    pieces(output, kind)
        .iter()
        .flat_map(|p| findings_in_views(p, case.contract.scan, Context::default()))
        .map(|(view, f)| view.get(f.range()).unwrap_or_default().to_owned())
        .collect()
}

/// The texts chaperone scans in a body read as `kind`: a JSON document's
/// keys and strings (every one: a name given twice is two texts); a form's
/// decoded names and values; else the whole text.
fn pieces(text: &str, kind: BodyKind) -> Vec<String> {
    match kind {
        BodyKind::Json => json_strings(text).unwrap_or_else(|| vec![text.to_owned()]),
        BodyKind::Form => text
            .split('&')
            .flat_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                [form_decode(name), form_decode(value)]
            })
            .collect(),
        BodyKind::Text | BodyKind::Other => vec![text.to_owned()],
    }
}

/// Every key and string of a JSON document, in order, decoded, and the
/// integers each number stands for (as chaperone judges numbers); `None`
/// when a string token does not decode.
fn json_strings(text: &str) -> Option<Vec<String>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let token = text.get(start..=i)?;
                out.push(serde_json::from_str::<String>(token).ok()?);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = text.get(start..i)?;
                out.extend(number::integers(token).iter().map(str::to_owned));
            }
            _ => i += 1,
        }
    }
    Some(out)
}
