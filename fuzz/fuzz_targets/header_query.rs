//! Header values, query strings, form bodies and URL paths: `scan_text`,
//! `rewrite_pairs` and `rewrite_path` over arbitrary strings. The first
//! byte chooses the detectors scanned and the field action on the `card`
//! parameter; the rest is the text.
//!
//! Invariants:
//! - they never panic, and refuse only with `UnknownField` (a `reject`
//!   parameter) where the rules say so, or `Unreadable` where a query with
//!   `;` keeps changing as one reader and the other read it;
//! - what crosses holds no card number the detectors find, in its decoded
//!   form (`form_decode` for a pair's name and value, split on `&` alone
//!   and on `;` too, `%XX` for a path
//!   segment or a header value) nor in up to three more percent-decodings,
//!   as `scan_text` promises; parameters passed unscanned by rule aside;
//! - what crosses unchanged was found clean, so it carries no findings.

#![no_main]

use chaperone_core::scrub::Findings;
use chaperone_core::scrub::class::Action;
use chaperone_core::scrub::contract::FieldAction;
use chaperone_core::scrub::detect::{Context, Detector, DetectorSet};
use chaperone_core::scrub::query::{PairRule, Scanner, form_decode, rewrite_pairs, rewrite_path};
use chaperone_core::scrub::text::{TextOutcome, scan_text};
use chaperone_core::scrub::{ScrubError, class::Classes};
use chaperone_fuzz::{classes, findings_in_views, key, show};
use libfuzzer_sys::fuzz_target;

const CARD_ACTIONS: [Option<Action>; 4] = [
    None,
    Some(Action::MaskPanLast4),
    Some(Action::Hash),
    Some(Action::Redact),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    // Every detector, or only card numbers and e-mail addresses.
    let scan = if selector & 1 == 0 {
        DetectorSet::all()
    } else {
        DetectorSet::from(Detector::Pan).with(Detector::Email)
    };
    let card_action = CARD_ACTIONS[usize::from((selector >> 1) & 3)].map(|action| FieldAction {
        action,
        class: "card".into(),
    });
    let cl = classes();

    header_value(&text, scan, cl);
    query(&text, scan, card_action.as_ref(), cl);
    path(&text, scan, cl);
});

/// What the callee reads in one direction.
struct Seen<'a> {
    what: &'static str,
    input: &'a str,
    crossed: &'a str,
}

/// No card number in `decoded` (one text that crossed, as the callee
/// decodes it), judged as chaperone judges it: in the context of the
/// parameter's name, for a value.
fn no_card_left(seen: &Seen<'_>, decoded: &str, ctx: Context<'_>) {
    let Seen {
        what,
        input,
        crossed,
    } = *seen;
    let left = findings_in_views(decoded, DetectorSet::from(Detector::Pan), ctx);
    let values: Vec<&str> = left
        .iter()
        .map(|(view, f)| view.get(f.range()).unwrap_or_default())
        .collect();
    assert!(
        left.is_empty(),
        "{what}: a card number crossed: {values:?}; input {}, crossed {}",
        show(input.as_bytes()),
        show(crossed.as_bytes())
    );
}

fn header_value(text: &str, scan: DetectorSet, cl: &Classes) {
    let mut findings = Findings::new(cl.len());
    let outcome = scan_text(text, scan, Context::default(), cl, key(), &mut findings)
        .unwrap_or_else(|e| panic!("scan_text refused ({e:?}): {}", show(text.as_bytes())));
    let crossed = match &outcome {
        TextOutcome::Unchanged => {
            assert_eq!(
                findings.total(),
                0,
                "findings, yet unchanged: {}",
                show(text.as_bytes())
            );
            text
        }
        TextOutcome::Replaced(s) | TextOutcome::Drop(s) => s.as_str(),
    };
    let seen = Seen {
        what: "header value",
        input: text,
        crossed,
    };
    no_card_left(&seen, crossed, Context::default());
}

fn query(text: &str, scan: DetectorSet, card: Option<&FieldAction>, cl: &Classes) {
    let rule = |name: &str| match name {
        "keep" => PairRule::Pass,
        "access_token" | "drop" => PairRule::Drop,
        "reject" => PairRule::Reject,
        "card" => PairRule::Scan(card),
        _ => PairRule::Scan(None),
    };
    let mut findings = Findings::new(cl.len());
    let mut scanner = Scanner {
        scan,
        classes: cl,
        key: key(),
        findings: &mut findings,
    };
    let result = rewrite_pairs(text, rule, &mut scanner);
    let out = match result {
        Ok(out) => out,
        Err(ScrubError::UnknownField) => {
            assert!(
                text.split(['&', ';'])
                    .any(|p| form_decode(p.split_once('=').map_or(p, |(n, _)| n)) == "reject"),
                "refused without a `reject` parameter: {}",
                show(text.as_bytes())
            );
            return;
        }
        Err(ScrubError::Unreadable { .. }) if text.contains(';') => return,
        Err(e) => panic!("rewrite_pairs refused ({e:?}): {}", show(text.as_bytes())),
    };
    if out.is_none() {
        assert_eq!(
            findings.total(),
            0,
            "findings, yet unchanged: {}",
            show(text.as_bytes())
        );
    }
    let crossed = out.as_deref().unwrap_or(text);
    let seen = |what| Seen {
        what,
        input: text,
        crossed,
    };
    // As readers that split on `&` alone read it, and as those that split
    // on `;` too.
    let amp: Vec<&str> = crossed.split('&').collect();
    let both: Vec<&str> = crossed.split(['&', ';']).collect();
    for (reader, pairs) in [("&", amp), ("&;", both)] {
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .map_or((pair, None), |(n, v)| (n, Some(v)));
            let name = form_decode(name);
            if name == "keep" {
                continue;
            }
            assert!(
                !matches!(name.as_str(), "access_token" | "drop" | "reject"),
                "a parameter the rules drop crossed (split on {reader}): {}",
                show(crossed.as_bytes())
            );
            no_card_left(&seen("query name"), &name, Context::default());
            if let Some(value) = value {
                let ctx = Context::of_key(Some(&name));
                no_card_left(&seen("query value"), &form_decode(value), ctx);
            }
        }
    }
}

fn path(text: &str, scan: DetectorSet, cl: &Classes) {
    let mut findings = Findings::new(cl.len());
    let mut scanner = Scanner {
        scan,
        classes: cl,
        key: key(),
        findings: &mut findings,
    };
    let out = rewrite_path(text, &mut scanner)
        .unwrap_or_else(|e| panic!("rewrite_path refused ({e:?}): {}", show(text.as_bytes())));
    if out.is_none() {
        assert_eq!(
            findings.total(),
            0,
            "findings, yet unchanged: {}",
            show(text.as_bytes())
        );
    }
    // A path's `+` is a plus, not a space: decode `%XX` only.
    let decode = |segment: &str| form_decode(&segment.replace('+', "%2B"));
    let crossed = out.as_deref().unwrap_or(text);
    let seen = Seen {
        what: "path segment",
        input: text,
        crossed,
    };
    for segment in crossed.split('/') {
        no_card_left(&seen, &decode(segment), Context::default());
    }
}
