//! Free text under a contract: a string value, an object key, a header
//! value, a query parameter. Finds what the detectors find, in the text as
//! written and in its percent-decoded form (a URL in a string, a `Location`
//! header, a double-encoded parameter), and applies each finding's class
//! action.

use super::class::{Applied, Classes, apply};
use super::detect::{self, Context, DetectorSet, Finding};
use super::{Findings, ScrubError};
use crate::secret::HashKey;

/// What scanning a piece of text decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOutcome {
    Unchanged,
    Replaced(String),
    /// A finding whose class action is `drop`: the field (member, header,
    /// parameter) goes; where there is no field to drop, the text with the
    /// match redacted stands instead.
    Drop(String),
}

/// Scans `text` for the detectors in `scan` and applies each finding's class
/// action. Counts findings.
pub fn scan_text(
    text: &str,
    scan: DetectorSet,
    ctx: Context<'_>,
    classes: &Classes,
    key: &HashKey,
    findings: &mut Findings,
) -> Result<TextOutcome, ScrubError> {
    if scan.is_empty() {
        return Ok(TextOutcome::Unchanged);
    }
    let found = find(text, scan, ctx);
    if found.is_empty() {
        return Ok(TextOutcome::Unchanged);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut drop = false;
    for f in &found {
        let Some(ci) = classes.class_of(f.finding.detector) else {
            continue;
        };
        let Some(class) = classes.get(ci) else {
            continue;
        };
        findings.add(ci);
        let Some(before) = text.get(last..f.finding.start) else {
            return Err(ScrubError::Internal);
        };
        out.push_str(before);
        match apply(class.action, &class.name, &f.matched, key) {
            Applied::Replace(r) => out.push_str(&r),
            Applied::Drop => {
                drop = true;
                out.push_str(&format!("[REDACTED:{}]", class.name));
            }
            Applied::Block => {
                return Err(ScrubError::Blocked {
                    class: class.name.to_string(),
                });
            }
        }
        last = f.finding.end;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    Ok(if drop {
        TextOutcome::Drop(out)
    } else {
        TextOutcome::Replaced(out)
    })
}

/// A finding in `text`, with the value it stands for (the decoded value
/// when it was found in the percent-decoded form).
struct Found {
    finding: Finding,
    matched: String,
}

/// Every finding in `text`, as written or once percent-decoded (up to three
/// times, for values encoded more than once), by start, never overlapping.
fn find(text: &str, scan: DetectorSet, ctx: Context<'_>) -> Vec<Found> {
    let mut found: Vec<Found> = if detect::may_contain(text, scan) {
        detect::scan_with(text, scan, ctx)
            .into_iter()
            .filter_map(|f| {
                Some(Found {
                    matched: text.get(f.range())?.to_owned(),
                    finding: f,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    // Most text has no escape: no decoded form is made for it.
    if !has_escape_somewhere(text.as_bytes()) {
        return found;
    }
    let mut view = Decoded::identity(text);
    for _ in 0..3 {
        let Some(next) = view.percent_decoded() else {
            break;
        };
        view = next;
        if !detect::may_contain(&view.text, scan) {
            continue;
        }
        for f in detect::scan_with(&view.text, scan, ctx) {
            let (Some(start), Some(end), Some(matched)) = (
                view.source(f.start),
                view.source(f.end),
                view.text.get(f.range()),
            ) else {
                continue;
            };
            let (start, end) = (widen_left(text, start), widen_right(text, end));
            if found
                .iter()
                .any(|g| g.finding.start < end && start < g.finding.end)
            {
                continue;
            }
            found.push(Found {
                finding: Finding { start, end, ..f },
                matched: matched.to_owned(),
            });
        }
    }
    found.sort_by_key(|f| f.finding.start);
    found
}

/// A decoded form of a text, with where each of its bytes came from.
struct Decoded {
    text: String,
    /// For each byte of `text` (and one past the end), the offset in the
    /// original text where it starts.
    starts: Vec<usize>,
}

impl Decoded {
    fn identity(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            starts: (0..=text.len()).collect(),
        }
    }

    /// The original range of this form's byte offset.
    fn source(&self, i: usize) -> Option<usize> {
        self.starts.get(i).copied()
    }

    /// This form with `%XX` escapes decoded, if it has any.
    fn percent_decoded(&self) -> Option<Self> {
        let b = self.text.as_bytes();
        let first = memchr::memchr(b'%', b)?;
        if !b.get(first..).is_some_and(has_escape_somewhere) {
            return None;
        }
        let mut bytes = Vec::with_capacity(b.len());
        let mut starts = Vec::with_capacity(b.len() + 1);
        let mut i = 0;
        while i < b.len() {
            let from = self.starts.get(i).copied().unwrap_or_default();
            match escape_at(b, i) {
                Some(v) => {
                    bytes.push(v);
                    starts.push(from);
                    i += 3;
                }
                None => {
                    bytes.push(b[i]);
                    starts.push(from);
                    i += 1;
                }
            }
        }
        starts.push(self.starts.last().copied().unwrap_or_default());
        // A byte that is not UTF-8 once decoded becomes a control character:
        // a separator to the detectors, one byte as before.
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => lossy_one_to_one(e.as_bytes()),
        };
        Some(Self { text, starts })
    }
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The byte a `%XX` escape at `i` stands for.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'%') {
        return None;
    }
    Some(hex(*b.get(i + 1)?)? * 16 + hex(*b.get(i + 2)?)?)
}

fn has_escape_somewhere(b: &[u8]) -> bool {
    memchr::memchr_iter(b'%', b).any(|i| escape_at(b, i).is_some())
}

/// `bytes` with every byte of an invalid UTF-8 sequence replaced by 0x1A.
fn lossy_one_to_one(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(rest) => {
                out.push_str(rest);
                return out;
            }
            Err(e) => {
                let (good, bad) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                out.extend(std::iter::repeat_n('\u{1a}', n.min(bad.len())));
                bytes = bad.get(n..).unwrap_or_default();
            }
        }
    }
}

/// `i` moved left to a char boundary of `text`.
fn widen_left(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `i` moved right to a char boundary of `text`.
fn widen_right(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::class::{Action, DataClass};
    use crate::scrub::detect::Detector;

    fn classes() -> Classes {
        Classes::new(vec![
            DataClass {
                name: "card_number".into(),
                detectors: Detector::Pan.into(),
                action: Action::MaskPanLast4,
            },
            DataClass {
                name: "secret".into(),
                detectors: Detector::Jwt.into(),
                action: Action::Drop,
            },
        ])
    }

    fn run(text: &str) -> (TextOutcome, u32) {
        let mut findings = Findings::new(2);
        let out = scan_text(
            text,
            DetectorSet::all(),
            Context::default(),
            &classes(),
            &HashKey::from_bytes(b"k"),
            &mut findings,
        )
        .unwrap();
        (out, findings.total())
    }

    #[test]
    fn findings_are_replaced_in_place() {
        assert_eq!(run("plain"), (TextOutcome::Unchanged, 0));
        assert_eq!(
            run("card 4111111111111111 ok"),
            (TextOutcome::Replaced("card ************1111 ok".into()), 1)
        );
    }

    #[test]
    fn percent_encoded_values_are_found_where_they_are_written() {
        assert_eq!(
            run("https://x.test/?c=4111%201111%201111%201111&n=1"),
            (
                TextOutcome::Replaced("https://x.test/?c=************1111&n=1".into()),
                1
            )
        );
        // Every digit encoded, and encoded twice.
        assert_eq!(
            run("c=%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31"),
            (TextOutcome::Replaced("c=************1111".into()), 1)
        );
        assert_eq!(
            run("c=%2534111111111111111"),
            (TextOutcome::Replaced("c=************1111".into()), 1)
        );
        // Not UTF-8 once decoded: still scanned, nothing panics.
        assert_eq!(run("%ff%fe4111111111111111").1, 1);
        assert_eq!(run("%ff%fe%e2%82").0, TextOutcome::Unchanged);
    }
}
