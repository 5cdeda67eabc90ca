//! Free text under a contract: a string value, an object key, a header
//! value, a query parameter. Finds what the detectors find, in the text as
//! written and in its decoded forms (a URL in a string, a `Location` header,
//! a double-encoded parameter, JSON in a server-sent event, a number written
//! as HTML character references), and applies each finding's class action.

use super::class::{Applied, Classes, apply_scanned};
use super::detect::{self, Context, Detector, DetectorSet, Finding};
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

impl TextOutcome {
    /// What crosses of the text: `None` the text as it is, `Some(None)`
    /// nothing (its field goes), `Some(Some(new))` the new text.
    pub fn crossing(self) -> Option<Option<String>> {
        match self {
            TextOutcome::Unchanged => None,
            TextOutcome::Replaced(s) => Some(Some(s)),
            TextOutcome::Drop(_) => Some(None),
        }
    }
}

/// Scans `text` for the detectors in `scan` and applies each finding's class
/// action. Counts findings. (An empty set has no shortest finding: nothing
/// is scanned.)
#[inline]
pub fn scan_text(
    text: &str,
    scan: DetectorSet,
    ctx: Context<'_>,
    classes: &Classes,
    key: &HashKey,
    findings: &mut Findings,
) -> Result<TextOutcome, ScrubError> {
    // Most keys and values are shorter than anything sensitive: ruled out by
    // their length alone (an encoded or folded form is never shorter).
    if text.len() < shortest(scan) {
        return Ok(TextOutcome::Unchanged);
    }
    // Most of the rest hold no byte a detector or an escape needs: one
    // pass over them decides.
    let hints = detect::hints(text, scan);
    if !hints.may_contain && !hints.escapes {
        return Ok(TextOutcome::Unchanged);
    }
    let ctx = Context {
        custom: Some(classes.custom()),
        hash_key: Some(key),
        ..ctx
    };
    let found = find_hinted(text, scan, ctx, classes, &hints);
    if found.is_empty() {
        return Ok(TextOutcome::Unchanged);
    }
    let (mut out, mut drop) = replace(text, &found, scan, classes, key, findings)?;
    // A replacement changes what bounds the text around it: a mask's last
    // digits join the digits after the value, a placeholder ends a token an
    // escape continued, and what of an overlapping match lies outside the
    // one replaced is left. What crosses is scanned again until nothing is
    // found; text still not clean after a few rounds crosses as one
    // placeholder.
    for round in 0..=REPLACE_ROUNDS {
        let found = find(&out, scan, ctx, classes);
        let Some(first) = found.first() else {
            break;
        };
        let (next, dropped) = replace(&out, &found, scan, classes, key, findings)?;
        drop |= dropped;
        out = if round == REPLACE_ROUNDS {
            // What is left still obeys its class (`block` refused above,
            // `drop` drops), and the text goes whole.
            let name = classes
                .class_of(first.finding.detector)
                .and_then(|ci| classes.get(ci))
                .map(|c| c.name.to_string());
            format!("[REDACTED:{}]", name.unwrap_or_default())
        } else {
            next
        };
    }
    Ok(if drop {
        TextOutcome::Drop(out)
    } else {
        TextOutcome::Replaced(out)
    })
}

/// Rounds of scanning a replaced text again (`scan_text`).
const REPLACE_ROUNDS: usize = 3;

/// `text` with each finding replaced as its class says, and whether one of
/// them drops its field. Counts findings.
fn replace(
    text: &str,
    found: &[Found],
    scan: DetectorSet,
    classes: &Classes,
    key: &HashKey,
    findings: &mut Findings,
) -> Result<(String, bool), ScrubError> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut drop = false;
    for f in found {
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
        match apply_scanned(class.action, &class.name, &f.matched, key, scan) {
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
    Ok((out, drop))
}

/// A finding in `text`, with the value it stands for (the decoded value
/// when it was found in the percent-decoded form).
struct Found {
    finding: Finding,
    matched: String,
}

/// Every finding in `text`, as written or with its escapes decoded (up to
/// three times, for values encoded more than once), by start, never
/// overlapping; those of a detector no class names, and a class's safe
/// values, are left out.
fn find(text: &str, scan: DetectorSet, ctx: Context<'_>, classes: &Classes) -> Vec<Found> {
    find_hinted(text, scan, ctx, classes, &detect::hints(text, scan))
}

/// [`find`] with the text's hints at hand.
fn find_hinted(
    text: &str,
    scan: DetectorSet,
    ctx: Context<'_>,
    classes: &Classes,
    hints: &detect::Hints,
) -> Vec<Found> {
    let mut found = find_all(text, scan, ctx, hints);
    found.retain(|f| {
        classes
            .class_of(f.finding.detector)
            .is_some_and(|c| !classes.is_safe(c, f.finding.detector, &f.matched))
    });
    found
}

fn find_all(text: &str, scan: DetectorSet, ctx: Context<'_>, hints: &detect::Hints) -> Vec<Found> {
    let mut found: Vec<Found> = if hints.may_contain {
        detect::scan_hinted(text, scan, ctx, hints)
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
    if !hints.escapes || (!has_escape_somewhere(text.as_bytes()) && !form_like(text)) {
        return found;
    }
    // Every escape decoded at each level; and where that decoded more than
    // `%XX`, the `%XX` escapes alone too, as a URL decoder reads the text
    // (an HTML reference decoded to a control folds away and joins what a
    // reader that leaves it sees apart).
    let mut other_kinds = false;
    for kinds in [Escapes::All, Escapes::Percent] {
        if kinds == Escapes::Percent && !other_kinds {
            break;
        }
        let mut view = Decoded::identity(text);
        for _ in 0..3 {
            let Some(next) = view.decoded(kinds) else {
                break;
            };
            view = next;
            other_kinds |= view.other_kinds;
            judge_view(text, &view, &mut found, scan, ctx);
        }
    }
    found.sort_by_key(|f| f.finding.start);
    found
}

/// Adds to `found` what a decoded form of `text` holds. Bytes that are not
/// UTF-8 read as U+FFFD to most decoders; one that drops them instead joins
/// what they separated. Both readings are judged (the second keeps the
/// offsets: three bytes for three).
fn judge_view(
    text: &str,
    view: &Decoded,
    found: &mut Vec<Found>,
    scan: DetectorSet,
    ctx: Context<'_>,
) {
    let dropped = view
        .text
        .contains('\u{fffd}')
        .then(|| view.text.replace('\u{fffd}', "\u{1a}\u{1a}\u{1a}"));
    for reading in std::iter::once(view.text.as_str()).chain(dropped.as_deref()) {
        if detect::may_contain(reading, scan) {
            let added = found_in_reading(text, view, reading, found, scan, ctx);
            found.extend(added);
            found.sort_by_key(|f| f.finding.start);
        }
    }
}

/// Which escapes a decoding reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    All,
    /// `%XX` and `%uXXXX` only.
    Percent,
}

/// What one decoded reading of `text` adds to `found` (by start, never
/// overlapping): each finding mapped to where it is written; where it is
/// found in part already (as written, or less decoded), the rest of it, as
/// written, is a finding too (as `detect::scan` resolves overlaps).
fn found_in_reading(
    text: &str,
    view: &Decoded,
    reading: &str,
    found: &[Found],
    scan: DetectorSet,
    ctx: Context<'_>,
) -> Vec<Found> {
    let mut added: Vec<Found> = Vec::new();
    for f in detect::scan_with(reading, scan, ctx) {
        let (Some(start), Some(end), Some(matched)) = (
            view.source(f.start),
            view.source(f.end),
            reading.get(f.range()),
        ) else {
            continue;
        };
        let (start, end) = (widen_left(text, start), widen_right(text, end));
        // Widened, it may reach what this reading added just before.
        let from = added.last().map_or(start, |a| start.max(a.finding.end));
        if from >= end {
            continue;
        }
        let first = found.partition_point(|g| g.finding.end <= from);
        let overlapping = found
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|g| g.finding.start < end);
        if from == start && overlapping.clone().next().is_none() {
            added.push(Found {
                finding: Finding { start, end, ..f },
                matched: matched.to_owned(),
            });
            continue;
        }
        let covered = overlapping.map(|g| g.finding.range());
        for piece in detect::leftovers(text, covered, from..end) {
            let Some(written) = text.get(piece.clone()) else {
                continue;
            };
            added.push(Found {
                finding: Finding {
                    start: piece.start,
                    end: piece.end,
                    ..f
                },
                matched: written.to_owned(),
            });
        }
    }
    added
}

/// The fewest bytes any finding of the detectors in `scan` can span, with
/// room to spare: a lower bound, never more than the shortest match. The
/// table is in rising order, so the first detector of the set answers.
#[inline]
pub(super) fn shortest(scan: DetectorSet) -> usize {
    // A policy's own detectors may find anything.
    if !scan.custom().is_empty() {
        return 1;
    }
    const BY_LENGTH: [(Detector, usize); 22] = [
        // "a@b.co"
        (Detector::Email, 6),
        // "+4930123"
        (Detector::Phone, 7),
        // Nine characters, the shortest national identifiers.
        (Detector::UsSsn, 9),
        (Detector::UsItin, 9),
        (Detector::UkNino, 9),
        (Detector::NlBsn, 9),
        (Detector::EsDni, 9),
        (Detector::UsDea, 9),
        // "-----BEGIN"
        (Detector::PrivateKey, 10),
        (Detector::UsEin, 10),
        (Detector::UsNpi, 10),
        (Detector::UkNhs, 10),
        (Detector::DeTaxId, 11),
        (Detector::BrCpf, 11),
        // Twelve digits and more.
        (Detector::Pan, 12),
        (Detector::InAadhaar, 12),
        // Norway's IBAN.
        (Detector::Iban, 15),
        (Detector::FrNir, 15),
        // A token of 16 characters after the word.
        (Detector::BearerToken, 16),
        (Detector::AwsAccessKey, 16),
        (Detector::ItFiscalCode, 16),
        // Two segments of ten and two dots.
        (Detector::Jwt, 22),
    ];
    BY_LENGTH
        .iter()
        .find(|(d, _)| scan.contains(*d))
        .map_or(usize::MAX, |(_, n)| *n)
}

/// A decoded form of a text, with where each of its bytes came from.
struct Decoded {
    text: String,
    /// An escape other than `%` was decoded to make it.
    other_kinds: bool,
    /// For each byte of `text` (and one past the end), the offset in the
    /// original text where it starts (bodies are at most 8 MiB: u32 holds it).
    starts: Vec<u32>,
}

impl Decoded {
    fn identity(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            other_kinds: false,
            starts: (0..=text.len())
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
        }
    }

    /// The original offset of this form's byte offset.
    fn source(&self, i: usize) -> Option<usize> {
        self.starts.get(i).and_then(|&s| usize::try_from(s).ok())
    }

    /// This form with its escapes decoded, if it has any: `%XX` and
    /// `%uXXXX`, JSON and JavaScript `\uXXXX` (pairs joined) and `\xXX`,
    /// HTML `&#NN;` and `&#xHH;` (the `;` optional, as browsers read them),
    /// and `+` as a space where the text reads like `name=value`.
    fn decoded(&self, kinds: Escapes) -> Option<Self> {
        let b = self.text.as_bytes();
        let plus = form_like(&self.text);
        if !has_escape_somewhere(b) && !plus {
            return None;
        }
        let mut bytes = Vec::with_capacity(b.len());
        let mut starts = Vec::with_capacity(b.len() + 1);
        let mut other_kinds = false;
        let mut i = 0;
        while i < b.len() {
            let from = self.starts.get(i).copied().unwrap_or_default();
            let escape = match (kinds, b[i]) {
                (Escapes::Percent, c) if c != b'%' => None,
                _ => escape_at(b, i),
            };
            other_kinds |= escape.is_some() && b[i] != b'%';
            let (decoded, used) = escape.unwrap_or_else(|| {
                let c = b[i];
                (Decodes::Byte(if plus && c == b'+' { b' ' } else { c }), 1)
            });
            match decoded {
                Decodes::Byte(v) => {
                    bytes.push(v);
                    starts.push(from);
                }
                Decodes::Char(c) => {
                    let mut buf = [0u8; 4];
                    for &v in c.encode_utf8(&mut buf).as_bytes() {
                        bytes.push(v);
                        starts.push(from);
                    }
                }
            }
            i += used;
        }
        starts.push(self.starts.last().copied().unwrap_or_default());
        let (text, starts) = match String::from_utf8(bytes) {
            Ok(t) => (t, starts),
            Err(e) => lossy(e.as_bytes(), &starts),
        };
        Some(Self {
            text,
            other_kinds,
            starts,
        })
    }
}

/// What an escape stands for.
enum Decodes {
    Byte(u8),
    Char(char),
}

fn hex(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

/// `n` hex digits at `i`.
fn hex_at(b: &[u8], i: usize, n: usize) -> Option<u32> {
    b.get(i..i + n)?
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + hex(c)?))
}

/// The escape at `i`, if one starts there, and how many bytes it spans.
fn escape_at(b: &[u8], i: usize) -> Option<(Decodes, usize)> {
    match (b.get(i)?, b.get(i + 1)) {
        // `%uXXXX`: what JavaScript's `unescape` and ASP.NET read.
        (b'%', Some(b'u' | b'U')) => {
            let c = char::from_u32(hex_at(b, i + 2, 4)?).unwrap_or('\u{fffd}');
            Some((Decodes::Char(c), 6))
        }
        (b'%', _) => {
            let v = u8::try_from(hex_at(b, i + 1, 2)?).ok()?;
            Some((Decodes::Byte(v), 3))
        }
        (b'\\', Some(b'x')) => {
            let v = char::from_u32(hex_at(b, i + 2, 2)?)?;
            Some((Decodes::Char(v), 4))
        }
        (b'\\', Some(b'u')) => {
            let hi = hex_at(b, i + 2, 4)?;
            if (0xD800..0xDC00).contains(&hi)
                && b.get(i + 6) == Some(&b'\\')
                && b.get(i + 7) == Some(&b'u')
                && let Some(lo) = hex_at(b, i + 8, 4).filter(|lo| (0xDC00..0xE000).contains(lo))
            {
                let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
                return Some((Decodes::Char(c), 12));
            }
            Some((Decodes::Char(char::from_u32(hi).unwrap_or('\u{fffd}')), 6))
        }
        (b'&', Some(b'#')) => {
            let (radix, start) = match b.get(i + 2) {
                Some(b'x' | b'X') => (16, i + 3),
                _ => (10, i + 2),
            };
            let digits = b
                .get(start..)?
                .iter()
                .take(8)
                .take_while(|c| char::from(**c).is_digit(radix))
                .count();
            if digits == 0 {
                return None;
            }
            // Browsers read a reference without its `;` too.
            let semicolon = usize::from(b.get(start + digits) == Some(&b';'));
            let text = std::str::from_utf8(b.get(start..start + digits)?).ok()?;
            let c = char::from_u32(u32::from_str_radix(text, radix).ok()?)?;
            Some((Decodes::Char(c), start + digits + semicolon - i))
        }
        _ => None,
    }
}

/// Text that reads like `name=value` pairs with `+` for spaces.
fn form_like(text: &str) -> bool {
    let b = text.as_bytes();
    b.contains(&b'+') && b.contains(&b'=')
}

fn has_escape_somewhere(b: &[u8]) -> bool {
    memchr::memchr3_iter(b'%', b'\\', b'&', b).any(|i| escape_at(b, i).is_some())
}

/// Bytes that are not UTF-8 once decoded, read as a lenient decoder reads
/// them (`fetch().text()`, Go, `from_utf8_lossy`): each invalid sequence is
/// a U+FFFD, a character the callee sees and the detectors take as a
/// separator (a control byte in its place would fold away and join the
/// digits around it). Returns the text and, for each of its bytes and one
/// past the end, where it starts in the original.
fn lossy(bytes: &[u8], starts: &[u32]) -> (String, Vec<u32>) {
    let mut text = String::with_capacity(bytes.len() + 8);
    let mut map = Vec::with_capacity(starts.len() + 8);
    let mut at = 0;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        text.push_str(valid);
        map.extend_from_slice(starts.get(at..at + valid.len()).unwrap_or_default());
        at += valid.len();
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
            let from = starts.get(at).copied().unwrap_or_default();
            map.extend(std::iter::repeat_n(
                from,
                char::REPLACEMENT_CHARACTER.len_utf8(),
            ));
            at += chunk.invalid().len();
        }
    }
    map.push(starts.last().copied().unwrap_or_default());
    (text, map)
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
pub(super) mod tests {
    use super::*;
    use crate::scrub::class::{Action, DataClass};

    /// Card numbers (masked to the last four) and JWTs (dropped).
    pub(in crate::scrub) fn classes() -> Classes {
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
    use crate::scrub::detect::Detector;

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
    fn every_detector_has_a_length_gate() {
        for d in Detector::ALL {
            assert!(
                shortest(d.into()) < usize::MAX,
                "{d} would never be scanned"
            );
        }
    }

    #[test]
    fn no_finding_is_shorter_than_the_length_gate() {
        // Every positive in the detectors' corpus (detector, text, match).
        let corpus = include_str!("../../../../tests/data/detectors/positives.txt");
        for line in corpus
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let fields: Vec<&str> = line.split('\t').collect();
            let (Some(name), Some(expected)) = (fields.first(), fields.get(2)) else {
                continue;
            };
            let Some(d) = Detector::parse(name) else {
                continue;
            };
            assert!(
                expected.len() >= shortest(d.into()),
                "{name}: {expected:?} is shorter than the gate"
            );
        }
    }

    /// What crosses after replacement is scanned again: what a mask keeps,
    /// a placeholder's edge or an overlapping match's remainder never
    /// becomes a finding that crosses.
    #[test]
    fn replaced_text_is_clean_when_scanned_again() {
        let c = |name: &str, d: Detector, action| DataClass {
            name: name.into(),
            detectors: d.into(),
            action,
        };
        let classes = Classes::new(vec![
            c("card_number", Detector::Pan, Action::MaskPan),
            c("email", Detector::Email, Action::Hash),
            c("phone", Detector::Phone, Action::MaskPhone),
            c("secret", Detector::BearerToken, Action::Redact),
            c("private_key", Detector::PrivateKey, Action::Redact),
        ]);
        let scan = DetectorSet::all();
        let key = HashKey::from_bytes(b"k");
        for text in [
            // A phone mask keeps digits that open a card's groups.
            "call +2 415 11114111 1111 1111 1111 now",
            // An address whose local part goes on past another address.
            "to alice@example.com+bob@corp.example.org please",
            // A card's last group opens an address.
            "pay 4111 1111 1111 1111@pay.example.net",
            // A bearer token run into a key block's dashes.
            "Bearer abcdefghijklmnopqrstuv-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
        ] {
            let mut findings = Findings::new(classes.len());
            let out = scan_text(
                text,
                scan,
                Context::default(),
                &classes,
                &key,
                &mut findings,
            )
            .unwrap();
            let (TextOutcome::Replaced(out) | TextOutcome::Drop(out)) = out else {
                panic!("{text}: unchanged");
            };
            let left = find(&out, scan, Context::default(), &classes);
            assert!(
                left.is_empty(),
                "{text} -> {out}: {:?}",
                left.iter().map(|f| &f.matched).collect::<Vec<_>>()
            );
            for secret in ["4111 1111 1111 1111", "bob@corp", "abcdefghijklmnop"] {
                assert!(!out.contains(secret), "{text} -> {out}");
            }
        }
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
        // An invalid byte reads as U+FFFD, which ends a number: it does not
        // fold away and join the digit before it to the card after it.
        assert_eq!(
            run("x 1%E44111111111111111"),
            (TextOutcome::Replaced("x 1%E4************1111".into()), 1)
        );
        // A reader that drops such bytes joins what they separate: that
        // reading is judged too.
        for text in [
            "4111%FF111111111111",
            "4111%C0%AF111111111111",
            "4111 1111%80 1111 1111",
        ] {
            assert_eq!(run(text).1, 1, "{text}");
        }
    }

    /// Where an escape other than `%XX` decodes to a character that folds
    /// away, the `%XX`-only reading (a URL decoder's) is judged too.
    #[test]
    fn a_percent_only_reading_is_judged_too() {
        assert_eq!(run("a%6&#1;%124111112222220 b").1, 1);
    }

    /// Text still not clean after the rounds goes whole, and what is left
    /// still obeys its class: `block` refuses, `drop` drops.
    #[test]
    fn the_last_round_obeys_block_and_drop() {
        // Each placeholder names a card, the context that makes the next
        // 19-digit run one: every round finds one more.
        let text = "4111111111111111 x x 4111111111111111110 x x 4222222222222222224 \
                    x x 4555555555555555557+2 078-05-11201 and the rest";
        let key = HashKey::from_bytes(b"k");
        for (action, block) in [(Action::Block, true), (Action::Drop, false)] {
            let classes = Classes::new(vec![
                DataClass {
                    name: "card_number".into(),
                    detectors: Detector::Pan.into(),
                    action: Action::Redact,
                },
                DataClass {
                    name: "phone".into(),
                    detectors: Detector::Phone.into(),
                    action,
                },
            ]);
            let mut findings = Findings::new(classes.len());
            let out = scan_text(
                text,
                DetectorSet::all(),
                Context::default(),
                &classes,
                &key,
                &mut findings,
            );
            if block {
                assert!(matches!(out, Err(ScrubError::Blocked { .. })), "{out:?}");
            } else {
                assert!(matches!(out, Ok(TextOutcome::Drop(_))), "{out:?}");
            }
        }
    }

    #[test]
    fn escapes_of_every_kind_are_decoded() {
        for text in [
            r#"data: {"c":"\u0034111111111111111"}"#,
            r#"var c="\x34111111111111111""#,
            "<p>&#52;111111111111111</p>",
            "<p>&#x34;111111111111111</p>",
            "a=1&c=4111+1111+1111+1111",
            r#"\u0034\u0031\u0031\u0031 1111 1111 1111"#,
        ] {
            let (out, n) = run(text);
            assert_eq!(n, 1, "{text}");
            let TextOutcome::Replaced(out) = out else {
                panic!("{text}")
            };
            assert!(out.contains("************1111"), "{text}: {out}");
        }
        // `+` is a space only where the text reads like name=value pairs.
        assert_eq!(run("C++ and 4111+1111+1111+1111").1, 0);
        // Escapes that stand for nothing are left alone.
        assert_eq!(run(r#"\u12 \xZZ &#; &#x; %G1"#).0, TextOutcome::Unchanged);
    }
}
