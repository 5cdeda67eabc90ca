//! What the fuzz targets share: the data classes and hash key they scrub
//! with, the fixed contracts of `json_rewrite`, small oracles that state
//! the invariants independently of the code under test (a JSON syntax
//! check, a percent decoder, a detector set from input bits).

use std::sync::LazyLock;

use chaperone_core::scrub::class::{Action, Classes, DataClass};
use chaperone_core::scrub::contract::{
    Contract, FieldAction, Limit, LimitAction, OtherContent, Unknown,
};
use chaperone_core::scrub::detect::{self, Detector, DetectorSet};
use chaperone_core::secret::HashKey;

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

/// A detector set from `bits`, one bit per detector in the order of
/// `Detector::ALL`; past the sixteenth detector the bits repeat.
pub fn detector_set(bits: u16) -> DetectorSet {
    let bits = u32::from(bits) | (u32::from(bits) << 16);
    Detector::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits.checked_shr(*i as u32).is_some_and(|b| b & 1 != 0))
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
pub fn findings_in_views(
    text: &str,
    set: DetectorSet,
    ctx: detect::Context<'_>,
) -> Vec<(String, detect::Finding)> {
    let mut out = Vec::new();
    let mut view = text.to_owned();
    for level in 0..4 {
        out.extend(
            detect::scan_with(&view, set, ctx)
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
