//! Records: the elements of the arrays a records budget names, counted as a
//! body crosses: whole, as it flows (each piece what it brought), in NDJSON
//! and event streams, and never where the body holds no JSON.

use std::sync::Arc;

use super::class::{Action, Classes, DataClass};
use super::contract::{Contract, FieldAction, OtherContent, Records, Unknown};
use super::detect::{Detector, DetectorSet};
use super::stream::{Flow, Framing};
use super::*;
use crate::secret::HashKey;

fn classes() -> Classes {
    Classes::new(vec![DataClass {
        name: "card_number".into(),
        detectors: DetectorSet::empty().with(Detector::Pan),
        action: Action::MaskPan,
    }])
}

fn key() -> HashKey {
    HashKey::from_bytes(b"test key")
}

/// An open contract counting `paths` (record path `i` is `paths[i]`).
fn counting(paths: &[&str]) -> Contract {
    let mut records = Records::default();
    for (i, p) in paths.iter().enumerate() {
        assert_eq!(records.add(p).unwrap(), i);
    }
    Contract {
        scan: DetectorSet::all(),
        text: true,
        max_body: 1 << 20,
        records: Some(Arc::new(records)),
        ..Contract::default()
    }
}

/// The records of each path in `body` judged whole as `content_type`.
fn whole(c: &Contract, content_type: &str, body: &str) -> Vec<u64> {
    let found = scrub_body(
        body.as_bytes(),
        &BodyHeaders::typed(content_type),
        c,
        &classes(),
        &key(),
    )
    .unwrap_or_else(|e| panic!("{e}: {body}"))
    .findings;
    let n = c.records.as_ref().map_or(0, |r| r.paths.len());
    (0..n).map(|i| found.records(i)).collect()
}

fn json(c: &Contract, body: &str) -> Vec<u64> {
    whole(c, "application/json", body)
}

/// The records of path 0 each part brought, flowing as `framing`.
fn flowing(c: &Contract, framing: Framing, content_type: &str, parts: &[&str]) -> Vec<u64> {
    let headers = BodyHeaders::typed(content_type);
    let mut flow = Flow::new(framing, &classes());
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let fed = flow.feed(
                part.as_bytes(),
                i + 1 == parts.len(),
                &headers,
                c,
                &classes(),
                &key(),
            );
            assert!(fed.refused.is_none(), "{:?} at {part:?}", fed.refused);
            fed.findings.records(0)
        })
        .collect()
}

#[test]
fn record_paths_end_with_the_elements_of_an_array() {
    let mut r = Records::default();
    for good in [
        "orders[*]",
        "[*]",
        "data.items[*]",
        "*[*]",
        "a[*][*]",
        "[*].lines[*]",
    ] {
        r.add(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    assert_eq!(r.add("orders[*]").unwrap(), 0, "the same path counts once");
    for bad in [
        "orders",
        "orders[*].id",
        "",
        "a..b[*]",
        "orders[0]",
        "a b[*]",
        "*",
        "x]",
    ] {
        assert!(r.add(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_whole_body_counts_the_elements_that_cross() {
    let c = counting(&["orders[*]", "[*]", "data.items[*]"]);
    assert_eq!(
        json(&c, r#"{"orders":[{"id":1},{"id":2},{"id":3}],"next":null}"#),
        [3, 1, 0],
        "a document that is one object is one record of `[*]`"
    );
    assert_eq!(json(&c, r#"[{"id":1},{"id":2}]"#), [0, 2, 0]);
    assert_eq!(json(&c, "[]"), [0, 0, 0]);
    assert_eq!(json(&c, r#"{"orders":[]}"#), [0, 1, 0]);
    // What stands in the array's place: null is no record, anything else
    // that is no array one record sent bare.
    assert_eq!(json(&c, r#"{"orders":null}"#)[0], 0);
    assert_eq!(json(&c, r#"{"orders":{"id":1}}"#)[0], 1);
    assert_eq!(json(&c, r#"{"orders":"one"}"#)[0], 1);
    // Elements of every kind count, nulls excepted.
    assert_eq!(json(&c, r#"{"orders":[1,"a",true,{},[],null]}"#)[0], 5);
    // Nested arrays: the elements of `orders`, not theirs.
    assert_eq!(json(&c, r#"{"orders":[[1,2],[3]]}"#)[0], 2);
    // Arrays on the way are followed, as field actions follow them.
    assert_eq!(
        json(&c, r#"{"data":[{"items":[1,2]},{"items":[3]}]}"#)[2],
        3
    );
    assert_eq!(json(&c, r#"[{"orders":[1,2]},{"orders":[3]}]"#)[0], 3);
    // Names bind as parsers bind them (and as the allow-list reads them).
    assert_eq!(json(&c, r#"{"Orders":[1,2],"orders[]":[3]}"#)[0], 3);
    // Elsewhere, nothing.
    assert_eq!(json(&c, r#"{"other":[1,2],"o":{"orders":[1]}}"#)[0], 0);
}

#[test]
fn wildcards_and_several_paths_count_each_their_own() {
    let c = counting(&["*[*]", "a.*.b[*]", "a.x.b[*]"]);
    assert_eq!(
        json(&c, r#"{"a":{"x":{"b":[1,2]},"y":{"b":[3]}},"c":[1,2,3,4]}"#),
        // `*[*]`: the arrays at the top (`c`; `a` is an object, one bare
        // record); `a.*.b[*]` reaches `a.x.b` as well as `a.y.b`.
        [5, 3, 2]
    );
}

#[test]
fn what_the_contract_removes_whole_is_not_counted() {
    let fa = |action| FieldAction {
        action,
        class: "f".into(),
    };
    // An allow-list: an element of the wrong kind goes (`unknown: drop`),
    // an element emptied of its fields still crosses, and counts.
    let mut c = counting(&["orders[*]"]);
    c.allow_path("orders[*].id").unwrap();
    c.unknown = Unknown::Drop;
    assert_eq!(
        json(&c, r#"{"orders":[{"id":1},"stray",{"secret":"x"},7]}"#),
        [2]
    );
    // Not on the allow-list at all: nothing of it crosses.
    let mut c = counting(&["orders[*]", "other[*]"]);
    c.allow_path("orders[*].id").unwrap();
    assert_eq!(json(&c, r#"{"other":[1,2]}"#), [0, 0]);
    // Field actions: a mask or a hash keeps the elements; drop and redact
    // take the array whole.
    for (action, n) in [
        (Action::Hash, 2),
        (Action::MaskPan, 2),
        (Action::Drop, 0),
        (Action::Redact, 0),
    ] {
        let mut c = counting(&["orders[*]", "orders[*].lines[*]"]);
        c.field_action("orders", fa(action)).unwrap();
        assert_eq!(
            json(&c, r#"{"orders":[{"lines":["a","b"]},{"lines":["c"]}]}"#),
            [n, [0, 3][usize::from(n > 0)]],
            "{action:?}"
        );
    }
    // A string element dropped for what it holds does not cross.
    let mut c = counting(&["cards[*]"]);
    c.scan = DetectorSet::empty().with(Detector::Pan);
    let drop = Classes::new(vec![DataClass {
        name: "card_number".into(),
        detectors: DetectorSet::empty().with(Detector::Pan),
        action: Action::Drop,
    }]);
    let (_, found) = json::rewrite(
        br#"{"cards":["4111 1111 1111 1111","plain"]}"#,
        &c,
        &drop,
        &key(),
    )
    .unwrap();
    assert_eq!(found.records(0), 1);
}

#[test]
fn a_contract_without_record_paths_counts_nothing() {
    let c = Contract {
        scan: DetectorSet::all(),
        max_body: 1 << 20,
        ..Contract::default()
    };
    let (_, found) = json::rewrite(br#"{"orders":[1,2,3]}"#, &c, &classes(), &key()).unwrap();
    assert_eq!(found, Findings::new(1), "no record count at all");
}

#[test]
fn a_flowing_document_counts_each_record_in_the_piece_that_brings_it() {
    let c = counting(&["orders[*]"]);
    let flow = |parts: &[&str]| flowing(&c, Framing::Document, "application/json", parts);
    assert_eq!(
        flow(&[
            r#"{"orders":[{"id":1},"#,
            r#"{"id":2"#,
            r#"},{"id":3},{"id":"#,
            r#"4}],"total":4}"#
        ]),
        // A record still open when a part ends is entered: it counts as it
        // starts to cross.
        [1, 1, 2, 0]
    );
    // A record larger than `max_bytes` is entered, and counts as it opens.
    let mut small = c.clone();
    small.max_body = 24;
    let parts = [
        r#"{"orders":[{"a":"xxxxxxxxxx","#,
        r#""b":"yyyyyyyyyy","#,
        r#""id":1}]}"#,
    ];
    assert_eq!(
        flowing(&small, Framing::Document, "application/json", &parts),
        [1, 0, 0]
    );
    // The same document whole: the same count.
    assert_eq!(json(&c, &parts.concat())[0], 1);
}

#[test]
fn ndjson_counts_inside_each_line_and_each_line_under_its_own_path() {
    let c = counting(&["[*]"]);
    let lines = "{\"id\":1}\n{\"id\":2}\r\n[1,2,3]\n\nnull\n";
    // Flowing: `[*]` counts each line that is one document (a record), the
    // elements of a line that is an array.
    assert_eq!(
        flowing(&c, Framing::Lines, "application/x-ndjson", &[lines, ""]),
        [5, 0]
    );
    // Whole (crossing as text, where `other: pass`): the same.
    let mut c = c;
    c.other = OtherContent::Pass;
    assert_eq!(whole(&c, "application/x-ndjson", lines), [5]);
    let mut c = counting(&["orders[*]"]);
    c.other = OtherContent::Pass;
    let lines = "{\"orders\":[1,2]}\n{\"orders\":[3]}\n{\"other\":[4]}\n";
    assert_eq!(
        flowing(&c, Framing::Lines, "application/x-ndjson", &[lines]),
        [3]
    );
    assert_eq!(whole(&c, "application/x-ndjson", lines), [3]);
}

#[test]
fn events_count_the_json_their_data_holds() {
    let c = counting(&["[*]", "choices[*]"]);
    let events = [
        "event: chunk\ndata: {\"choices\":[{\"t\":\"a\"},{\"t\":\"b\"}]}\n\n",
        // `data:` lines joined, as a client reads them.
        "data: {\"choices\":\r\ndata: [{\"t\":\"c\"}]}\r\n\r\n",
        ": a comment\nid: 7\ndata:[1,2]\n\n",
        "data: not json\n\n",
        "data: [DONE]\n\n",
    ];
    // Whole, as the text it crosses as.
    assert_eq!(whole(&c, "text/event-stream", &events.concat()), [4, 3]);
    // Flowing, an event at a time: what each event brought.
    assert_eq!(
        flowing(&c, Framing::Events, "text/event-stream", &events),
        [1, 1, 2, 0, 0]
    );
}

#[test]
fn bodies_that_hold_no_json_hold_no_records() {
    let c = counting(&["[*]"]);
    assert_eq!(whole(&c, "text/plain", "one\ntwo\nthree"), [0]);
    assert_eq!(
        whole(&c, "application/x-www-form-urlencoded", "a=1&b=2"),
        [0]
    );
    // JSON under another label is read as JSON, its records with it.
    assert_eq!(whole(&c, "text/plain", "[1,2]"), [2]);
    // And NDJSON as NDJSON: a label the callee (or the caller, by asking
    // for it) chooses does not hide the lines a client parses.
    let lines = "{\"n\":1}\n{\"n\":2}\n[3,4]\nnot json\n";
    assert_eq!(whole(&c, "text/plain", lines), [4]);
    let mut pass = counting(&["[*]"]);
    pass.other = OtherContent::Pass;
    assert_eq!(whole(&pass, "application/octet-stream", lines), [4]);
    assert_eq!(
        whole(&pass, "application/x-ndjson; charset=latin1", lines),
        [4]
    );
}
