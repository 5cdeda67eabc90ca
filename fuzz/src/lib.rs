//! What the fuzz targets share: the data classes and hash key they scrub
//! with, the fixed contracts of `json_rewrite`, small oracles that state
//! the invariants independently of the code under test (a JSON syntax
//! check, a percent decoder, a detector set from input bits), and the list
//! of bugs found and not fixed yet.

use std::sync::LazyLock;

use chaperone::scrub::class::{Action, Classes, DataClass};
use chaperone::scrub::contract::{
    Contract, FieldAction, Limit, LimitAction, OtherContent, Unknown,
};
use chaperone::scrub::detect::{self, Detector, DetectorSet};
use chaperone::secret::HashKey;

/// Every detector in a class, with every kind of class action but `block`
/// (a `block` class refuses whatever it finds, so it would hide the rest).
pub fn classes() -> &'static Classes {
    static CLASSES: LazyLock<Classes> = LazyLock::new(|| {
        let c = |name: &str, d: &[Detector], action| DataClass {
            name: name.into(),
            detectors: d.iter().copied().collect(),
            action,
        };
        Classes::new(vec![
            c("card_number", &[Detector::Pan], Action::MaskPan),
            c("national_id", &[Detector::UsSsn], Action::Redact),
            c("bank_account", &[Detector::Iban], Action::Redact),
            c("email", &[Detector::Email], Action::Hash),
            c("phone", &[Detector::Phone], Action::MaskPhone),
            c(
                "secret",
                &[
                    Detector::Jwt,
                    Detector::PrivateKey,
                    Detector::AwsAccessKey,
                    Detector::BearerToken,
                ],
                Action::Drop,
            ),
        ])
    });
    &CLASSES
}

pub fn key() -> &'static HashKey {
    static KEY: LazyLock<HashKey> = LazyLock::new(|| HashKey::from_bytes(b"chaperone fuzz key"));
    &KEY
}

/// A fixed contract and what may be asserted of it.
pub struct Case {
    pub name: &'static str,
    pub contract: Contract,
    /// Scrubbing the output again gives the same bytes. False where a field
    /// action maps its own output to something new (`hash` hashes again,
    /// `mask_pan` of a masked number has too few digits and redacts).
    pub idempotent: bool,
}

fn field(action: Action, class: &str) -> FieldAction {
    FieldAction {
        action,
        class: class.into(),
    }
}

fn base() -> Contract {
    Contract {
        scan: DetectorSet::all(),
        text: true,
        max_body: 1 << 20,
        ..Contract::default()
    }
}

/// An allow-list typed by its paths, with field actions that take
/// containers whole (`redact`, `drop`).
fn typed(unknown: Unknown) -> Result<Contract, String> {
    let mut c = base();
    c.unknown = unknown;
    for path in [
        "id",
        "amount",
        "currency",
        "items[*].sku",
        "items[*].qty",
        "customer.name",
        "customer.address.city",
        "meta.*.id",
        "grid[*][*]",
        "tags[*]",
        "note",
    ] {
        c.allow_path(path).map_err(|e| e.to_string())?;
    }
    for (path, action) in [
        ("profile", Action::Redact),
        ("debug", Action::Drop),
        ("items[*].note", Action::Redact),
        ("customer.ssn", Action::Drop),
    ] {
        c.field_action(path, field(action, "field"))
            .map_err(|e| e.to_string())?;
    }
    Ok(c)
}

fn build_cases() -> Result<Vec<Case>, String> {
    // Masks and hashes, on scalars and on containers, without an allow-list.
    let mut masks = base();
    for (path, action) in [
        ("card", Action::MaskPanLast4),
        ("payment", Action::MaskPan),
        ("email", Action::MaskEmail),
        ("phone", Action::MaskPhone),
        ("user", Action::Hash),
        ("items[*].card", Action::MaskPan),
        ("secret", Action::Redact),
    ] {
        masks
            .field_action(path, field(action, "field"))
            .map_err(|e| e.to_string())?;
    }

    // A document whose root is an array of objects.
    let mut list = base();
    list.allow_path("[*].id").map_err(|e| e.to_string())?;
    list.allow_path("[*].tags[*]").map_err(|e| e.to_string())?;
    list.field_action("[*].card", field(Action::Redact, "card"))
        .map_err(|e| e.to_string())?;

    // The bulk guard, text not scanned, other bodies passed when clean.
    let limited = Contract {
        limit: Some(Limit {
            findings: 2,
            action: LimitAction::Block,
        }),
        text: false,
        other: OtherContent::Pass,
        ..base()
    };

    // Only some detectors, and a field that refuses the message.
    let mut narrow = Contract {
        scan: DetectorSet::from(Detector::Pan).with(Detector::Email),
        ..base()
    };
    narrow
        .field_action("blocked", field(Action::Block, "blocked"))
        .map_err(|e| e.to_string())?;
    narrow
        .field_action("items[*].secret", field(Action::Drop, "secret"))
        .map_err(|e| e.to_string())?;

    let case = |name, contract, idempotent| Case {
        name,
        contract,
        idempotent,
    };
    Ok(vec![
        case("open", base(), true),
        case("typed_drop", typed(Unknown::Drop)?, true),
        case("typed_reject", typed(Unknown::Reject)?, true),
        case(
            "typed_allow",
            Contract {
                other: OtherContent::Pass,
                ..typed(Unknown::Allow)?
            },
            true,
        ),
        case(
            "typed_drop_pass",
            Contract {
                other: OtherContent::Pass,
                ..typed(Unknown::Drop)?
            },
            true,
        ),
        case("masks", masks, false),
        case("root_list", list, true),
        case("limited", limited, true),
        case("narrow", narrow, true),
    ])
}

/// The fixed contracts, built once.
pub fn cases() -> &'static [Case] {
    static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| match build_cases() {
        Ok(c) => c,
        Err(e) => panic!("a fuzz contract does not compile: {e}"),
    });
    &CASES
}

/// A detector set from the low bits of `bits`, one bit per detector in the
/// order of `Detector::ALL`.
pub fn detector_set(bits: u16) -> DetectorSet {
    Detector::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, d)| *d)
        .collect()
}

/// The oracle for "this is JSON": RFC 8259 syntax, read by serde_json
/// without building values (so `1e400`, valid JSON that no f64 holds, is
/// JSON here as it is to chaperone).
pub fn json_syntax(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map(|_| ())
}

/// `%XX` decoded once (no `+`), bytes that are not UTF-8 kept as U+FFFD;
/// `None` when there is no escape.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let hex = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut any = false;
    while i < b.len() {
        let escape = match (b.get(i), b.get(i + 1), b.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) => hex(h).zip(hex(l)),
            _ => None,
        };
        match escape {
            Some((h, l)) => {
                out.push(h * 16 + l);
                i += 3;
                any = true;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    any.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// The detectors' findings in `text` and in up to three percent-decoded
/// forms of it (what the scrubber promises to look at), each with the form
/// it was found in.
pub fn findings_in_views(text: &str, set: DetectorSet) -> Vec<(String, detect::Finding)> {
    let mut out = Vec::new();
    let mut view = text.to_owned();
    for level in 0..4 {
        out.extend(
            detect::scan(&view, set)
                .into_iter()
                .map(|f| (view.clone(), f)),
        );
        if level == 3 {
            break;
        }
        match percent_decode(&view) {
            Some(next) => view = next,
            None => break,
        }
    }
    out
}

/// A short, printable rendering of fuzz input for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().take(400).collect();
    if s.chars().count() > 400 {
        out.push('…');
    }
    format!("{out:?}")
}

/// Bugs the fuzz targets have found that are not fixed yet, each with the
/// regression seeds that show it (`fuzz/README.md`). A target does not
/// fail on the shape of a listed bug, so that CI and long runs keep looking
/// for others; `CHAPERONE_FUZZ_STRICT=1` checks them too. Fixing one means
/// deleting its entry from [`KNOWN`] (the check it guards then holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Under `other: pass`, a body labelled JSON that is not clean text (an
    /// invalid UTF-8 byte, a control byte) crosses unchanged: the
    /// allow-list and the field actions never apply to it.
    UnreadableJsonPasses,
    /// A replacement changes what bounds the text around it, and what was
    /// glued to the value becomes a finding of its own that crosses: a mask
    /// keeps the last digits, which join the digits after the value (`%31`
    /// escapes once decoded, or groups after a space: `+2 415 11114111 1111
    /// 1111 1111` masks the phone and `4111 1111 1111 1111` crosses); a
    /// placeholder or a hash ends a token that encoded digits continued.
    ReplacementJoinsNeighbours,
    /// Where two matches overlap, the one dropped is not trimmed: what of
    /// it lies outside the one kept crosses unscrubbed. Between detectors
    /// (a bearer token run into a PEM block's dashes; an e-mail address
    /// whose local part starts with a card number's last group), and
    /// within the e-mail detector (`alice@example.com+bob@corp.com`:
    /// `bob@corp.com` is never found).
    OverlapLoserSurvives,
}

pub const KNOWN: &[Known] = &[
    Known::UnreadableJsonPasses,
    Known::ReplacementJoinsNeighbours,
    Known::OverlapLoserSurvives,
];

/// Whether a target tolerates `bug` (it is listed and the run is not strict).
pub fn tolerated(bug: Known) -> bool {
    static STRICT: LazyLock<bool> =
        LazyLock::new(|| std::env::var_os("CHAPERONE_FUZZ_STRICT").is_some_and(|v| v == "1"));
    !*STRICT && KNOWN.contains(&bug)
}

/// What replacements wrote in `text`, as byte ranges: placeholders
/// (`[REDACTED:class]`), masks (a run of `*`) and hashes (`h:` and 32 hex
/// digits).
pub fn replacements(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for (i, _) in text.match_indices("[REDACTED:") {
        if let Some(j) = b[i..].iter().position(|&c| c == b']') {
            out.push(i..i + j + 1);
        }
    }
    for (i, _) in text.match_indices("h:") {
        let hex = b[i + 2..]
            .iter()
            .take(32)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if hex == 32 {
            out.push(i..i + 34);
        }
    }
    let mut i = 0;
    while i < b.len() {
        let stars = b[i..].iter().take_while(|&&c| c == b'*').count();
        if stars > 0 {
            out.push(i..i + stars);
        }
        i += stars.max(1);
    }
    out
}

/// Whether finding `f` in `view` touches or overlaps what a replacement
/// wrote, but for one or two joiners between (`.`, `-`, `_`, `+` or a
/// space): the shape of [`Known::ReplacementJoinsNeighbours`].
pub fn next_to_replacement(view: &str, f: &detect::Finding) -> bool {
    let joiner = |c: char| ".-_+ ".contains(c);
    let before = view.get(..f.start).unwrap_or_default();
    let mut start = before.len();
    for c in before.chars().rev().take(2).take_while(|c| joiner(*c)) {
        start -= c.len_utf8();
    }
    let after = view.get(f.end..).unwrap_or_default();
    let end = f.end
        + after
            .chars()
            .take(2)
            .take_while(|c| joiner(*c))
            .map(char::len_utf8)
            .sum::<usize>();
    replacements(view)
        .iter()
        .any(|r| r.start <= end && start <= r.end)
}

/// Whether some detector's own match in `text` (or in a percent-decoded
/// form of it) overlaps a finding of the full scan without being one: the
/// shape of [`Known::OverlapLoserSurvives`] between detectors.
pub fn overlap_loser(text: &str, set: DetectorSet) -> bool {
    let mut view = text.to_owned();
    for _ in 0..4 {
        let kept = detect::scan(&view, set);
        let lost = set.iter().any(|d| {
            detect::scan(&view, d.into()).iter().any(|m| {
                !kept.contains(m) && kept.iter().any(|k| k.start < m.end && m.start < k.end)
            })
        });
        if lost {
            return true;
        }
        match percent_decode(&view) {
            Some(next) => view = next,
            None => return false,
        }
    }
    false
}
