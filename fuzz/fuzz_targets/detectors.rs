//! The detectors over arbitrary UTF-8: `scan`, `scan_with`, `may_contain`
//! and `matches_whole`. The first two bytes choose the detector set, the
//! rest is the text.
//!
//! Invariants:
//! - findings are sorted, disjoint, non-empty, inside the text, on char
//!   boundaries, and only of detectors in the set;
//! - `may_contain(t, set) == false` implies `scan(t, set)` is empty, and a
//!   finding of detector `d` implies `may_contain(t, {d})`;
//! - `scan_with` (with a member name as context) obeys the same rules;
//! - every finding is a whole value of its kind (`matches_whole`), as that
//!   function promises ("accepts the forms `scan` finds"), but for bearer
//!   tokens, whose whole form is the `Bearer <token>` header value, and
//!   for what another detector's longer match left of an overlapping one
//!   (a piece of a match its detector finds on its own);
//! - a scan is deterministic.

#![no_main]

use chaperone_core::scrub::detect::{self, Context, Detector, DetectorSet, Finding};
use chaperone_fuzz::{detector_set, show};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (set, text) = match data {
        [a, b, rest @ ..] => (detector_set(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    for set in [set, DetectorSet::all()] {
        let found = detect::scan(text, set);
        check(text, set, &found, "scan");
        if !detect::may_contain(text, set) {
            assert!(
                found.is_empty(),
                "may_contain said no, scan found {found:?} in {}",
                show(text.as_bytes())
            );
        }
        let piece = |f: &Finding| {
            detect::scan(text, f.detector.into())
                .iter()
                .any(|m| m.start <= f.start && f.end <= m.end && m.len() > f.len())
        };
        for f in &found {
            assert!(
                detect::may_contain(text, f.detector.into()),
                "may_contain({:?}) said no, scan found {f:?} in {}",
                f.detector,
                show(text.as_bytes())
            );
            let value = &text[f.range()];
            if f.detector != Detector::BearerToken && !detect::matches_whole(value, f.detector) {
                assert!(
                    piece(f),
                    "scan found {f:?} = {} but matches_whole refuses it",
                    show(value.as_bytes())
                );
            }
        }
        let with = detect::scan_with(text, set, Context::of_key(Some("note")));
        check(text, set, &with, "scan_with");
        assert_eq!(detect::scan(text, set), found, "scan is not deterministic");
    }
});

fn check(text: &str, set: DetectorSet, found: &[Finding], what: &str) {
    let shown = || format!("{what} in {}: {found:?}", show(text.as_bytes()));
    let mut last_end = 0;
    for f in found {
        assert!(
            set.contains(f.detector),
            "a detector not in the set: {}",
            shown()
        );
        assert!(f.start < f.end, "an empty finding: {}", shown());
        assert!(f.end <= text.len(), "a finding past the end: {}", shown());
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "a finding off char boundaries: {}",
            shown()
        );
        assert!(
            f.start >= last_end,
            "findings unsorted or overlapping: {}",
            shown()
        );
        last_end = f.end;
    }
}
