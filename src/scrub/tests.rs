//! Unit tests for the scrubber: contracts, actions, findings, validation and
//! the invariants (valid JSON out, idempotent, no detector match survives).

use super::class::{Action, Classes, DataClass};
use super::contract::{Contract, FieldAction, Limit, LimitAction, OtherContent, Unknown};
use super::detect::{self, Detector, DetectorSet};
use super::*;

fn classes() -> Classes {
    let c = |name: &str, d: &[Detector], action| DataClass {
        name: name.into(),
        detectors: d.iter().fold(DetectorSet::empty(), |s, d| s.with(*d)),
        action,
    };
    Classes::new(vec![
        c("card_number", &[Detector::Pan], Action::MaskPan),
        c("national_id", &[Detector::UsSsn], Action::Redact),
        c(
            "secret",
            &[Detector::Jwt, Detector::AwsAccessKey, Detector::PrivateKey],
            Action::Drop,
        ),
        c("email", &[Detector::Email], Action::Hash),
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

fn run(c: &Contract, input: &str) -> Result<(String, Findings), ScrubError> {
    let out = json::rewrite(input.as_bytes(), c, &classes(), &key())?;
    let body = out
        .0
        .map(|b| String::from_utf8(b).unwrap())
        .unwrap_or_else(|| input.to_owned());
    Ok((body, out.1))
}

fn value(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not valid JSON ({e}): {s}"))
}

#[test]
fn untouched_documents_are_returned_as_they_are() {
    let c = contract();
    let input = "{ \"order_id\": \"ORD-2024-000123\",\n  \"amount\": 12.5, \"ok\": true, \"n\": null, \"tags\": [\"a\", \"b\"] }";
    let out = json::rewrite(input.as_bytes(), &c, &classes(), &key()).unwrap();
    assert!(out.0.is_none(), "no change means no new body");
    assert_eq!(out.1.total(), 0);
}

#[test]
fn allow_list_drops_or_rejects_unknown_fields() {
    let mut c = contract();
    c.allow_path("amount").unwrap();
    c.allow_path("items[*].sku").unwrap();
    c.allow_path("customer").unwrap();
    let input = r#"{"amount":10,"internal":{"cost":3},"items":[{"sku":"A","margin":0.4},{"sku":"B"}],"customer":{"name":"x","tier":2},"debug":[1,2]}"#;
    let (out, _) = run(&c, input).unwrap();
    assert_eq!(
        value(&out),
        value(
            r#"{"amount":10,"items":[{"sku":"A"},{"sku":"B"}],"customer":{"name":"x","tier":2}}"#
        )
    );
    c.unknown = Unknown::Reject;
    assert_eq!(run(&c, input).unwrap_err(), ScrubError::UnknownField);
    c.unknown = Unknown::Allow;
    assert_eq!(value(&run(&c, input).unwrap().0), value(input));
}

#[test]
fn wildcard_keys_and_nested_arrays() {
    let mut c = contract();
    c.allow_path("meta.*.id").unwrap();
    c.allow_path("grid[*][*]").unwrap();
    let (out, _) = run(
        &c,
        r#"{"meta":{"a":{"id":1,"x":2},"b":{"id":3}},"grid":[[1,2],[3]],"z":0}"#,
    )
    .unwrap();
    assert_eq!(
        value(&out),
        value(r#"{"meta":{"a":{"id":1},"b":{"id":3}},"grid":[[1,2],[3]]}"#)
    );
}

#[test]
fn field_actions_apply_whatever_the_value() {
    let mut c = contract();
    c.allow_path("id").unwrap();
    let fa = |action| FieldAction {
        action,
        class: "field".into(),
    };
    c.field_action("card", fa(Action::MaskPanLast4)).unwrap();
    c.field_action("email", fa(Action::MaskEmail)).unwrap();
    c.field_action("profile", fa(Action::Redact)).unwrap();
    c.field_action("ssn", fa(Action::Drop)).unwrap();
    c.field_action("user", fa(Action::Hash)).unwrap();
    let (out, _) = run(
        &c,
        r#"{"id":1,"card":"4111 1111 1111 1111","email":"alice@example.com","profile":{"a":[1,2]},"ssn":"219-09-9999","user":12345,"other":1}"#,
    )
    .unwrap();
    let v = value(&out);
    assert_eq!(v["card"], "************1111");
    assert_eq!(v["email"], "a***@example.com");
    assert_eq!(v["profile"], "[REDACTED:field]");
    assert!(v.get("ssn").is_none());
    assert!(v["user"].as_str().unwrap().starts_with("h:"));
    assert!(v.get("other").is_none());
    // Same input, same output: the hash joins.
    assert_eq!(
        run(&c, r#"{"user":12345}"#).unwrap().0,
        run(&c, r#"{"user":12345}"#).unwrap().0
    );
    c.field_action("id", fa(Action::Block)).unwrap();
    assert!(matches!(
        run(&c, r#"{"id":1}"#),
        Err(ScrubError::Blocked { .. })
    ));
}

#[test]
fn detectors_catch_undeclared_data_in_free_text() {
    let c = contract();
    let input = r#"{"note":"card 4111 1111 1111 1111, ssn 123-45-6789 mail bob@example.com","n":4111111111111111,"k":"AKIAIOSFODNN7EXAMPLE"}"#;
    let (out, findings) = run(&c, input).unwrap();
    let v = value(&out);
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("411111******1111"), "{note}");
    assert!(!note.contains("bob@example.com"));
    assert!(note.contains("h:"));
    assert_eq!(
        v["n"], "411111******1111",
        "a card number sent as a JSON number"
    );
    assert!(v.get("k").is_none(), "a secret's class action is drop");
    let cl = classes();
    let counts = findings.by_class(&cl);
    assert!(counts.contains(&("card_number", 2)), "{counts:?}");
    assert!(counts.contains(&("email", 1)));
    assert!(counts.contains(&("secret", 1)));
}

#[test]
fn escaped_values_are_decoded_before_scanning() {
    let c = contract();
    // "4111111111111111" with its first digits written as \u escapes.
    let (out, findings) = run(&c, r#"{"x":"\u0034\u003111111111111111 is it"}"#).unwrap();
    assert_eq!(findings.total(), 1);
    assert!(
        value(&out)["x"]
            .as_str()
            .unwrap()
            .starts_with("411111******1111")
    );
}

#[test]
fn bulk_findings_block_or_alert() {
    let mut c = contract();
    let many = format!(
        "[{}]",
        (0..5)
            .map(|_| r#"{"pan":"4111111111111111"}"#)
            .collect::<Vec<_>>()
            .join(",")
    );
    c.limit = Some(Limit {
        findings: 3,
        action: LimitAction::Block,
    });
    let err = scrub_body(
        many.as_bytes(),
        BodyKind::Json,
        None,
        &c,
        &classes(),
        &key(),
    )
    .unwrap_err();
    assert_eq!(err, ScrubError::LimitExceeded { found: 5, limit: 3 });
    c.limit = Some(Limit {
        findings: 3,
        action: LimitAction::Alert,
    });
    let ok = scrub_body(
        many.as_bytes(),
        BodyKind::Json,
        None,
        &c,
        &classes(),
        &key(),
    )
    .unwrap();
    assert!(ok.alert);
    assert!(
        !String::from_utf8(ok.body.unwrap())
            .unwrap()
            .contains("4111111111111111")
    );
}

#[test]
fn content_types_sizes_and_encodings() {
    let mut c = contract();
    let k = key();
    let cl = classes();
    assert_eq!(
        BodyKind::of(Some("application/json; charset=utf-8")),
        BodyKind::Json
    );
    assert_eq!(
        BodyKind::of(Some("application/problem+json")),
        BodyKind::Json
    );
    assert_eq!(BodyKind::of(Some("text/plain")), BodyKind::Text);
    assert_eq!(BodyKind::of(Some("image/png")), BodyKind::Other);
    assert_eq!(BodyKind::of(None), BodyKind::Other);
    let text = scrub_body(
        b"call me, card 5555555555554444",
        BodyKind::Text,
        None,
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(text.body.unwrap()).unwrap(),
        "call me, card 555555******4444"
    );
    assert_eq!(
        scrub_body(b"\x89PNG", BodyKind::Other, None, &c, &cl, &k),
        Err(ScrubError::ContentType)
    );
    c.other = OtherContent::Pass;
    assert!(
        scrub_body(b"\x89PNG", BodyKind::Other, None, &c, &cl, &k)
            .unwrap()
            .body
            .is_none()
    );
    assert!(matches!(
        scrub_body(b"{}", BodyKind::Json, Some("gzip"), &c, &cl, &k),
        Err(ScrubError::Encoded(_))
    ));
    assert!(scrub_body(b"{}", BodyKind::Json, Some("identity"), &c, &cl, &k).is_ok());
    c.max_body = 4;
    assert_eq!(
        scrub_body(b"[1,2,3]", BodyKind::Json, None, &c, &cl, &k),
        Err(ScrubError::TooLarge { limit: 4 })
    );
    assert!(
        scrub_body(b"", BodyKind::Json, None, &c, &cl, &k)
            .unwrap()
            .body
            .is_none()
    );
}

#[test]
fn invalid_json_is_refused_never_passed() {
    let c = contract();
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    for bad in [
        "",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "01",
        "1.",
        "-",
        "1e",
        "tru",
        "nul",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"ctrl \u{1} char\"",
        "{} {}",
        "\"\\ud800\"",
        "{\"a\":1}x",
        "NaN",
        "'single'",
        &deep,
    ] {
        assert!(run(&c, bad).is_err(), "{bad:?} must be refused");
    }
    assert!(
        json::rewrite(b"\"\xff\"", &c, &classes(), &key()).is_err(),
        "not UTF-8"
    );
    assert_eq!(run(&c, &deep).unwrap_err(), ScrubError::TooDeep);
}

/// A small deterministic generator, so the property tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn random_doc(rng: &mut Rng, depth: usize) -> String {
    let leaves = [
        "\"4111 1111 1111 1111\"",
        "\"plain words\"",
        "42",
        "-1.5e3",
        "true",
        "null",
        "\"bob@example.com\"",
        "\"ssn 123-45-6789\"",
        "\"AKIAIOSFODNN7EXAMPLE\"",
        "\"\\u00e9t\\u00e9 \\\"quoted\\\"\"",
        "5555555555554444",
        "\"ORD-2024-000123\"",
        "\"\"",
    ];
    match (depth, rng.next() % 4) {
        (0, _) | (_, 0) => rng.pick(&leaves).to_owned(),
        (_, 1) => {
            let n = rng.next() % 4;
            let items: Vec<String> = (0..n).map(|_| random_doc(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let keys = ["id", "card", "note", "items", "email", "meta", "x"];
            let n = rng.next() % 4;
            let items: Vec<String> = (0..n)
                .map(|_| format!("\"{}\": {}", rng.pick(&keys), random_doc(rng, depth - 1)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

#[test]
fn invariants_hold_on_random_documents() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut allow = contract();
    allow.allow_path("id").unwrap();
    allow.allow_path("items[*]").unwrap();
    allow.allow_path("note").unwrap();
    for contract in [contract(), allow] {
        for _ in 0..500 {
            let doc = random_doc(&mut rng, 4);
            let (out, _) = run(&contract, &doc).unwrap_or_else(|e| panic!("{e} on {doc}"));
            // Valid JSON out.
            let parsed = value(&out);
            // No detector match survives in any string.
            let mut strings = Vec::new();
            collect_strings(&parsed, &mut strings);
            for s in &strings {
                assert!(
                    detect::scan(s, contract.scan).is_empty(),
                    "{s:?} survived in {out}"
                );
            }
            // Idempotent: scrubbing the result again changes nothing.
            let again = json::rewrite(out.as_bytes(), &contract, &classes(), &key()).unwrap();
            assert!(again.0.is_none(), "not idempotent: {out}");
        }
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
