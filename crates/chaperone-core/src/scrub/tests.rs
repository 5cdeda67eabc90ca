//! Unit tests for the scrubber: contracts, actions, findings, validation and
//! the invariants (valid JSON out, idempotent, no detector match survives).

use super::class::{Action, Classes, DataClass};
use super::contract::{Contract, FieldAction, Limit, LimitAction, OtherContent, Unknown};
use super::detect::{self, Detector, DetectorSet};
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
fn keys_are_data() {
    let c = contract();
    let (out, findings) = run(
        &c,
        r#"{"4111111111111111":"visa","note":{"5555555555554444":1},"AKIAIOSFODNN7EXAMPLE":"k","ok":2}"#,
    )
    .unwrap();
    assert!(!out.contains("4111111111111111") && !out.contains("5555555555554444"));
    let v = value(&out);
    assert_eq!(v["411111******1111"], "visa", "masked in place: {out}");
    assert_eq!(v["note"]["555555******4444"], 1);
    assert!(
        !out.contains("AKIA"),
        "a secret key drops its member: {out}"
    );
    assert_eq!(v["ok"], 2);
    assert_eq!(findings.total(), 3);
    // Keys count toward the limit like values, and a `block` class refuses.
    let mut limited = contract();
    limited.limit = Some(Limit {
        findings: 1,
        action: LimitAction::Block,
    });
    let body = br#"{"4111111111111111":1,"5555555555554444":2}"#;
    assert_eq!(
        scrub_body(body, &json_headers(), &limited, &classes(), &key()),
        Err(ScrubError::LimitExceeded { found: 2, limit: 1 })
    );
    // Inside an allow-listed subtree too; a member the allow-list drops is
    // not judged (it does not cross).
    let mut allow = contract();
    allow.allow_path("meta").unwrap();
    let (out, findings) = run(
        &allow,
        r#"{"meta":{"4111111111111111":true},"5555555555554444":0}"#,
    )
    .unwrap();
    assert_eq!(value(&out), value(r#"{"meta":{"411111******1111":true}}"#));
    assert_eq!(findings.total(), 1);
    // An escaped key is judged by what it says.
    let (out, f) = run(&c, r#"{"\u0034111111111111111":1}"#).unwrap();
    assert_eq!(f.total(), 1);
    assert!(
        !value(&out)
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("4111111111111111"))
    );
}

#[test]
fn numbers_are_judged_by_what_parsers_read() {
    let c = contract();
    for n in [
        "4111111111111111",
        "-4111111111111111",
        "4111111111111111.0",
        "4.111111111111111e15",
        "4.111111111111111E+15",
        "41111111111111110e-1",
        "0.4111111111111111e16",
        "4111111111111110.9999",
    ] {
        let (out, findings) = run(&c, &format!(r#"{{"n":{n},"m":[{n}]}}"#)).unwrap();
        let v = value(&out);
        assert_eq!(v["n"], "411111******1111", "{n}: {out}");
        assert_eq!(v["m"][0], "411111******1111", "{n}: {out}");
        assert_eq!(findings.total(), 2, "{n}");
    }
    // Every spelling of one value hashes alike.
    let mut hashed = contract();
    hashed
        .field_action(
            "n",
            FieldAction {
                action: Action::Hash,
                class: "n".into(),
            },
        )
        .unwrap();
    let h = |n: &str| value(&run(&hashed, &format!(r#"{{"n":{n}}}"#)).unwrap().0)["n"].clone();
    assert_eq!(h("4111111111111111"), h("4.111111111111111e15"));
    assert_eq!(h("4111111111111111"), h("4111111111111111.00"));
    // Ordinary numbers cross as written.
    let input = r#"{"a":12.5,"b":-3,"c":1e3,"d":1700000000123,"e":0.4111111111111111}"#;
    let out = json::rewrite(input.as_bytes(), &c, &classes(), &key()).unwrap();
    assert!(out.0.is_none());
}

#[test]
fn allow_lists_are_typed_by_their_paths() {
    let mut c = contract();
    c.allow_path("items[*].sku").unwrap();
    c.allow_path("customer.name").unwrap();
    c.allow_path("id").unwrap();
    for (input, expected) in [
        (r#"{"items":"CANARY","id":1}"#, r#"{"id":1}"#),
        (r#"{"items":42,"id":1}"#, r#"{"id":1}"#),
        (r#"{"items":{"sku":"CANARY"},"id":1}"#, r#"{"id":1}"#),
        (
            r#"{"items":["CANARY",{"sku":"a"},7,[1]],"id":1}"#,
            r#"{"items":[{"sku":"a"}],"id":1}"#,
        ),
        (r#"{"customer":"CANARY"}"#, r#"{}"#),
        (r#"{"customer":["CANARY"]}"#, r#"{}"#),
        (
            r#"{"customer":null,"items":null}"#,
            r#"{"customer":null,"items":null}"#,
        ),
        (r#""CANARY""#, r#"{}"#),
        (r#"["CANARY"]"#, r#"{}"#),
        (r#"4111111111111111"#, r#"{}"#),
    ] {
        let (out, _) = run(&c, input).unwrap();
        assert_eq!(value(&out), value(expected), "{input}");
    }
    c.unknown = Unknown::Reject;
    for input in [r#"{"items":"CANARY"}"#, r#""CANARY""#, r#"{"items":[1]}"#] {
        assert_eq!(
            run(&c, input).unwrap_err(),
            ScrubError::UnknownField,
            "{input}"
        );
    }
    // A root that is an array of objects.
    let mut list = contract();
    list.allow_path("[*].id").unwrap();
    let (out, _) = run(&list, r#"[{"id":1,"x":2},"CANARY"]"#).unwrap();
    assert_eq!(value(&out), value(r#"[{"id":1}]"#));
    assert_eq!(value(&run(&list, r#"{"id":1}"#).unwrap().0), value("[]"));
}

#[test]
fn names_bind_as_parsers_bind_them() {
    let mut c = contract();
    c.allow_path("orderId").unwrap();
    c.allow_path("amount").unwrap();
    let (out, _) = run(
        &c,
        r#"{"orderid":1,"ORDERID":2,"Amount":3,"amount[]":4,"x":5}"#,
    )
    .unwrap();
    assert_eq!(
        value(&out),
        value(r#"{"orderid":1,"ORDERID":2,"Amount":3,"amount[]":4}"#)
    );
}

#[test]
fn field_actions_never_render_a_container() {
    let mut c = contract();
    let fa = |action| FieldAction {
        action,
        class: "card".into(),
    };
    c.field_action("card", fa(Action::MaskPanLast4)).unwrap();
    let input = r#"{"card":{"number":"4111111111111111","exp":"12/29","cvv":"987","n":[5555555555554444,{"pin":1234}],"ok":true,"none":null}}"#;
    let (out, _) = run(&c, input).unwrap();
    for secret in [
        "12/29",
        "1229",
        "987",
        "1234",
        "4111111111111111",
        "5555555555554444",
    ] {
        assert!(!out.contains(secret), "{secret} shows in {out}");
    }
    let v = value(&out);
    assert_eq!(v["card"]["number"], "************1111");
    assert_eq!(v["card"]["n"][0], "************4444");
    assert_eq!(v["card"]["none"], serde_json::Value::Null);
    c.field_action("card", fa(Action::MaskPan)).unwrap();
    let (out, _) = run(&c, input).unwrap();
    assert!(!out.contains("987") && !out.contains("12/29"), "{out}");
    c.field_action("card", fa(Action::Hash)).unwrap();
    let (out, _) = run(&c, input).unwrap();
    assert!(!out.contains("987") && !out.contains("12/29"), "{out}");
    // Keys under an acted field are still data.
    let (out, _) = run(&c, r#"{"card":{"4111111111111111":"x"}}"#).unwrap();
    assert!(!out.contains("4111111111111111"), "{out}");
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
    let err = scrub_body(many.as_bytes(), &json_headers(), &c, &classes(), &key()).unwrap_err();
    assert_eq!(err, ScrubError::LimitExceeded { found: 5, limit: 3 });
    c.limit = Some(Limit {
        findings: 3,
        action: LimitAction::Alert,
    });
    let ok = scrub_body(many.as_bytes(), &json_headers(), &c, &classes(), &key()).unwrap();
    assert!(ok.alert);
    assert!(
        !String::from_utf8(ok.body.unwrap())
            .unwrap()
            .contains("4111111111111111")
    );
}

fn json_headers() -> BodyHeaders {
    BodyHeaders::typed("application/json")
}

fn body_text(out: &Scrubbed) -> String {
    String::from_utf8(out.body.clone().unwrap()).unwrap()
}

#[test]
fn content_types_sizes_and_encodings() {
    let mut c = contract();
    let k = key();
    let cl = classes();
    let typed = BodyHeaders::typed;
    assert_eq!(
        typed("application/json; charset=utf-8").kind(),
        BodyKind::Json
    );
    assert_eq!(typed("application/problem+json").kind(), BodyKind::Json);
    assert_eq!(typed("text/json").kind(), BodyKind::Json);
    assert_eq!(typed("text/plain").kind(), BodyKind::Text);
    assert_eq!(typed("image/png").kind(), BodyKind::Other);
    assert_eq!(BodyHeaders::default().kind(), BodyKind::Other);
    let text = scrub_body(
        b"call me, card 5555555555554444",
        &typed("text/plain"),
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(body_text(&text), "call me, card 555555******4444");
    assert_eq!(
        scrub_body(b"\x89PNG\0", &typed("image/png"), &c, &cl, &k),
        Err(ScrubError::ContentType)
    );
    c.other = OtherContent::Pass;
    assert!(
        scrub_body(b"\x89PNG\0", &typed("image/png"), &c, &cl, &k)
            .unwrap()
            .body
            .is_none()
    );
    let gzip = BodyHeaders {
        content_encoding: vec!["gzip".into()],
        ..json_headers()
    };
    assert!(matches!(
        scrub_body(b"{}", &gzip, &c, &cl, &k),
        Err(ScrubError::Encoded(_))
    ));
    let identity = BodyHeaders {
        content_encoding: vec!["identity".into()],
        ..json_headers()
    };
    assert!(scrub_body(b"{}", &identity, &c, &cl, &k).is_ok());
    // Sent twice, or as a list: every value must be identity.
    for encodings in [
        vec!["gzip", "identity"],
        vec!["identity, br"],
        vec!["identity", "x"],
    ] {
        let h = BodyHeaders {
            content_encoding: encodings.iter().map(|e| (*e).to_owned()).collect(),
            ..json_headers()
        };
        assert!(matches!(
            scrub_body(b"{}", &h, &c, &cl, &k),
            Err(ScrubError::Encoded(_))
        ));
    }
    c.max_body = 4;
    assert_eq!(
        scrub_body(b"[1,2,3]", &json_headers(), &c, &cl, &k),
        Err(ScrubError::TooLarge { limit: 4 })
    );
    assert!(
        scrub_body(b"", &json_headers(), &c, &cl, &k)
            .unwrap()
            .body
            .is_none()
    );
}

#[test]
fn a_label_does_not_switch_the_contract_off() {
    let mut c = contract();
    c.allow_path("id").unwrap();
    let (k, cl) = (key(), classes());
    let body = br#"{"id":1,"secret_field":"CANARY","n":"4111111111111111"}"#;
    for headers in [
        BodyHeaders::typed("text/plain"),
        BodyHeaders::typed("text/json"),
        BodyHeaders::typed("application/octet-stream"),
        BodyHeaders::typed("text/html; charset=us-ascii"),
        BodyHeaders::default(),
    ] {
        let out = scrub_body(body, &headers, &c, &cl, &k).unwrap();
        assert_eq!(body_text(&out), r#"{"id":1}"#, "{headers:?}");
        assert_eq!(out.kind, BodyKind::Json);
    }
    // Several content types, sent twice or joined: refused.
    for headers in [
        BodyHeaders {
            content_type: vec!["application/json".into(), "text/plain".into()],
            ..BodyHeaders::default()
        },
        BodyHeaders::typed("application/json,text/plain"),
        BodyHeaders::typed("text/plain, application/json"),
    ] {
        assert_eq!(
            scrub_body(body, &headers, &c, &cl, &k),
            Err(ScrubError::ContentTypeConflict),
            "{headers:?}"
        );
    }
    // What the contract refuses in JSON it refuses under any label.
    let mut strict = c.clone();
    strict.unknown = Unknown::Reject;
    for headers in [BodyHeaders::typed("text/plain"), BodyHeaders::default()] {
        assert_eq!(
            scrub_body(body, &headers, &strict, &cl, &k),
            Err(ScrubError::UnknownField),
            "{headers:?}"
        );
    }
    // A comma inside a quoted parameter is not a second type.
    let quoted = BodyHeaders::typed(r#"application/json; profile="a,b""#);
    assert!(scrub_body(body, &quoted, &c, &cl, &k).is_ok());
    // Labelled JSON and not JSON: refused; labelled text: read as text.
    assert!(matches!(
        scrub_body(b"{oops 4111111111111111", &json_headers(), &c, &cl, &k),
        Err(ScrubError::InvalidJson { .. })
    ));
    // Where a JSON contract applies, something shaped like JSON that is
    // not strict JSON is refused under any label (a lenient parser would
    // read it); where only scanning applies, it is scanned as text.
    assert!(matches!(
        scrub_body(
            b"{oops 4111111111111111",
            &BodyHeaders::typed("text/plain"),
            &c,
            &cl,
            &k
        ),
        Err(ScrubError::InvalidJson { .. })
    ));
    let text = scrub_body(
        b"{oops 4111111111111111",
        &BodyHeaders::typed("text/plain"),
        &contract(),
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(body_text(&text), "{oops 411111******1111");
}

#[test]
fn charsets_are_read_or_refused() {
    let c = contract();
    let (k, cl) = (key(), classes());
    let text = "card 4111111111111111 é";
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut bom_le = vec![0xFF, 0xFE];
    bom_le.extend(&utf16le);
    let latin1: Vec<u8> = text
        .chars()
        .map(|ch| u8::try_from(u32::from(ch)).unwrap())
        .collect();
    for (body, ct) in [
        (&utf16le, "text/plain; charset=utf-16le"),
        (&utf16be, "text/plain; charset=UTF-16"),
        (&bom_le, "text/plain"),
        (&bom_le, "text/plain; charset=utf-16"),
        (&latin1, "text/plain; charset=ISO-8859-1"),
        (&latin1, "text/plain; charset=windows-1252"),
    ] {
        let out = scrub_body(body, &BodyHeaders::typed(ct), &c, &cl, &k).unwrap();
        assert_eq!(body_text(&out), "card 411111******1111 é", "{ct}");
        assert_eq!(
            out.content_type.as_deref(),
            Some("text/plain; charset=utf-8"),
            "{ct}: the new body says what it is"
        );
    }
    // JSON in UTF-16 gets the JSON contract.
    let json: Vec<u8> =
        r#"{"n":"4111111111111111"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let out = scrub_body(
        &json,
        &BodyHeaders::typed("application/json; charset=utf-16le"),
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(body_text(&out), r#"{"n":"411111******1111"}"#);
    // A charset chaperone does not read is refused, never passed.
    assert_eq!(
        scrub_body(
            b"x",
            &BodyHeaders::typed("text/plain; charset=shift_jis"),
            &c,
            &cl,
            &k
        ),
        Err(ScrubError::Charset)
    );
    // Unchanged text crosses as it came.
    let plain: Vec<u8> = "nothing here"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let out = scrub_body(
        &plain,
        &BodyHeaders::typed("text/plain; charset=utf-16le"),
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert!(out.body.is_none() && out.content_type.is_none());
}

#[test]
fn text_hidden_behind_nul_bytes_is_not_clean() {
    let mut c = contract();
    let (k, cl) = (key(), classes());
    // ASCII with NULs between (UTF-16 with no label), and NUL-padded.
    let hidden: Vec<u8> = "card 4111111111111111"
        .bytes()
        .flat_map(|b| [b, 0])
        .collect();
    let padded = b"card 4111\x001111\x001111\x001111".to_vec();
    for body in [&hidden, &padded] {
        for ct in ["text/plain", "application/octet-stream"] {
            c.other = OtherContent::Block;
            assert!(
                scrub_body(body, &BodyHeaders::typed(ct), &c, &cl, &k).is_err(),
                "{ct}"
            );
            // `other: pass` passes what chaperone cannot read, but not this.
            c.other = OtherContent::Pass;
            assert_eq!(
                scrub_body(body, &BodyHeaders::typed(ct), &c, &cl, &k),
                Err(ScrubError::Unreadable {
                    class: "card_number".into()
                }),
                "{ct}"
            );
        }
    }
    // Binary without anything found passes under `other: pass`.
    let binary = [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13, 0xFF, 0x10];
    assert!(
        scrub_body(&binary, &BodyHeaders::typed("image/png"), &c, &cl, &k)
            .unwrap()
            .body
            .is_none()
    );
    // Text under `other: pass` is scanned, and rewritten.
    let out = scrub_body(
        b"card 4111111111111111",
        &BodyHeaders::typed("application/x-custom"),
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(body_text(&out), "card 411111******1111");
}

#[test]
fn forms_are_pairs_under_the_allow_list() {
    let mut c = contract();
    c.allow_path("amount").unwrap();
    c.allow_path("card").unwrap();
    let (k, cl) = (key(), classes());
    let form = BodyHeaders::typed("application/x-www-form-urlencoded");
    let out = scrub_body(
        b"amount=10&card=4111+1111+1111+1111&debug=CANARY",
        &form,
        &c,
        &cl,
        &k,
    )
    .unwrap();
    assert_eq!(body_text(&out), "amount=10&card=411111******1111");
    assert_eq!(out.kind, BodyKind::Form);
    c.unknown = Unknown::Reject;
    assert_eq!(
        scrub_body(b"amount=1&x=2", &form, &c, &cl, &k),
        Err(ScrubError::UnknownField)
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

/// Canaries in every position a value can take: keys, strings, numbers
/// written every way, nested containers, escaped text.
fn canary_doc(rng: &mut Rng, depth: usize) -> String {
    let leaves = [
        "\"4111111111111111\"",
        "\"pan 5555 5555 5555 4444 exp 12/29\"",
        "4111111111111111",
        "-4111111111111111",
        "4111111111111111.0",
        "4.111111111111111e15",
        "0.5555555555554444E16",
        "4111111111111110.9999",
        "\"\\u0034111111111111111\"",
        "\"ssn 536-22-8726\"",
        "\"key AKIAIOSFODNN7EXAMPLE\"",
        "\"https://x.test/?c=4111%201111%201111%201111\"",
        "12.5",
        "true",
        "null",
        "\"ORD-2024-000123\"",
    ];
    let keys = [
        "\"id\"",
        "\"card\"",
        "\"4111111111111111\"",
        "\"note 536-22-8726\"",
        "\"\\u0035555555555554444\"",
        "\"items\"",
        "\"meta\"",
    ];
    match (depth, rng.next() % 4) {
        (0, _) | (_, 0) => rng.pick(&leaves).to_owned(),
        (_, 1) => {
            let n = rng.next() % 4;
            let items: Vec<String> = (0..n).map(|_| canary_doc(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.next() % 4;
            let items: Vec<String> = (0..n)
                .map(|_| format!("{}: {}", rng.pick(&keys), canary_doc(rng, depth - 1)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Every scalar and key of a document, numbers as every integer a parser
/// reads them as.
fn everything(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => {
            let raw = n.to_string();
            out.extend(super::number::integers(&raw).iter().map(str::to_owned));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| everything(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                everything(x, out);
            }
        }
        _ => {}
    }
}

#[test]
fn canaries_never_survive_anywhere() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut allow = contract();
    allow.allow_path("id").unwrap();
    allow.allow_path("items[*]").unwrap();
    allow.allow_path("meta").unwrap();
    let mut acted = contract();
    acted
        .field_action(
            "card",
            FieldAction {
                action: Action::MaskPanLast4,
                class: "card".into(),
            },
        )
        .unwrap();
    for contract in [contract(), allow, acted] {
        for _ in 0..2000 {
            let doc = canary_doc(&mut rng, 4);
            let (out, _) = run(&contract, &doc).unwrap_or_else(|e| panic!("{e} on {doc}"));
            let parsed = value(&out);
            let mut all = Vec::new();
            everything(&parsed, &mut all);
            for s in &all {
                assert!(
                    detect::scan(s, contract.scan).is_empty(),
                    "{s:?} survived in {out} (from {doc})"
                );
            }
            // Sensitive digits in no spelling at all, whatever parses them.
            for canary in [
                "4111111111111111",
                "5555555555554444",
                "536-22-8726",
                "AKIA",
            ] {
                assert!(!out.contains(canary), "{canary} in {out} (from {doc})");
            }
            let (again, _) = run(&contract, &out).unwrap();
            assert_eq!(again, out, "not idempotent (from {doc})");
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

/// A label member names what its sibling holds: FHIR identifiers and
/// contact points, name/value custom fields. Without it the same numbers
/// need context they do not have.
#[test]
fn labels_name_what_their_siblings_hold() {
    let c = |name: &str, d: &[Detector]| DataClass {
        name: name.into(),
        detectors: d.iter().fold(DetectorSet::empty(), |s, d| s.with(*d)),
        action: Action::Redact,
    };
    let classes = Classes::new(vec![
        c("health_id", &[Detector::UkNhs, Detector::UsNpi]),
        c("national_id", &[Detector::UsSsn, Detector::NlBsn]),
        c("phone", &[Detector::Phone]),
        c("card_number", &[Detector::Pan]),
    ]);
    let scrub = |input: &str| {
        let out = json::rewrite(input.as_bytes(), &contract(), &classes, &key()).unwrap();
        out.0
            .map(|b| String::from_utf8(b).unwrap())
            .unwrap_or_else(|| input.to_owned())
    };
    for (input, value) in [
        (
            r#"{"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}"#,
            "9434765919",
        ),
        (
            r#"{"identifier":[{"use":"official","system":"urn:oid:2.16.840.1.113883.2.1.4.1","value":"943 476 5919"}]}"#,
            "943 476 5919",
        ),
        (
            r#"{"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}]}"#,
            "1234567893",
        ),
        (
            r#"{"identifier":[{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"123456782"}]}"#,
            "123456782",
        ),
        (
            r#"{"telecom":[{"system":"phone","value":"020 7946 0958","use":"home"}]}"#,
            "020 7946 0958",
        ),
        (
            r#"{"custom_fields":[{"name":"Mobile","value":"07700 900461"}]}"#,
            "07700 900461",
        ),
        (
            r#"{"attributes":[{"key":"bsn","values":["123456782"]}]}"#,
            "123456782",
        ),
        (
            r#"{"cards":[{"brand":"visa","number":"4006381333924"}]}"#,
            "4006381333924",
        ),
        (
            r#"{"identifier":[{"system":"http:\/\/hl7.org\/fhir\/sid\/us-npi","value":"1234567893"}]}"#,
            "1234567893",
        ),
    ] {
        let out = scrub(input);
        assert!(!out.contains(value), "{value} crossed: {out}");
        let unlabelled = ["system", "name", "key", "brand"]
            .iter()
            .fold(input.to_owned(), |t, l| {
                t.replace(&format!("\"{l}\""), r#""x""#)
            });
        assert!(
            scrub(&unlabelled).contains(value),
            "found without its label: {unlabelled}"
        );
    }
    // A label adds context, never takes it away: one that says id leaves a
    // card number a card.
    for input in [
        r#"{"type":"sku","value":"4222222222222"}"#,
        r#"{"name":"id","value":4222222222222}"#,
        r#"{"system":"http://example.com/ids/order-id","value":"501800000009"}"#,
    ] {
        assert!(!scrub(input).contains("222222222"), "{input}");
        assert!(!scrub(input).contains("5018000000"), "{input}");
    }
    // A label longer than a label is read as none.
    let long = format!(
        r#"{{"system":"https://{}.example/nhs-number","value":"9434765919"}}"#,
        "x".repeat(200)
    );
    assert_eq!(scrub(&long), long);
    // A label names its own object's members only, and only the value ones.
    for input in [
        r#"{"items":[{"system":"phone"},{"value":"020 7946 0958"}]}"#,
        r#"{"system":"https://fhir.nhs.uk/Id/nhs-number","period":"9434765919"}"#,
        r#"{"system":"https://example.com/orders","value":"9434765919"}"#,
    ] {
        assert_eq!(scrub(input), input);
    }
}

/// Objects of several shapes at one depth, repeated: each member is judged
/// by its own path however the remembered shapes interleave.
#[test]
fn remembered_shapes_keep_their_paths_apart() {
    let mut c = contract();
    for p in ["[*].a.x", "[*].b.y", "[*].a.k", "[*].c"] {
        c.allow_path(p).unwrap();
    }
    let one =
        r#"{"a":{"x":"1","y":"2","k":"4111111111111111"},"b":{"x":"3","y":"4"},"c":{"x":"5"}}"#;
    let input = format!("[{}]", [one; 12].join(","));
    let (out, findings) = run(&c, &input).unwrap();
    let want = r#"{"a":{"x":"1","k":"411111******1111"},"b":{"y":"4"},"c":{"x":"5"}}"#;
    assert_eq!(value(&out), value(&format!("[{}]", [want; 12].join(","))));
    assert_eq!(findings.total(), 12);
}

/// An object whose remembered shape is replaced by the objects inside it
/// (more of them than shapes are kept) judges its later keys by its own
/// path, not by the key bytes another object left at that place.
#[test]
fn a_replaced_shape_never_lends_its_paths() {
    let mut strict = contract();
    for p in ["amount", "currency", "items[*].*"] {
        strict.allow_path(p).unwrap();
    }
    strict.unknown = Unknown::Reject;
    let inner: Vec<String> = (0..8).map(|i| format!(r#"{{"a{i}":0}}"#)).collect();
    let input = format!(
        r#"{{"amount":100,"items":[{},{{"a7":0,"b":0,"role":0}}],"role":"admin"}}"#,
        inner.join(",")
    );
    assert!(matches!(
        run(&strict, &input),
        Err(ScrubError::UnknownField)
    ));

    let mut acted = contract();
    let fa = |action| FieldAction {
        action,
        class: "password".into(),
    };
    acted
        .field_action("user.password", fa(Action::Redact))
        .unwrap();
    acted.field_action("user.dob", fa(Action::Drop)).unwrap();
    let meta: Vec<String> = (0..8).map(|i| format!(r#"{{"x{i}":1}}"#)).collect();
    let input = format!(
        r#"{{"user":{{"meta":[{},{{"x7":1,"password":1,"dob":1}}],"password":"hunter2","dob":"1980-01-02"}}}}"#,
        meta.join(",")
    );
    let (out, _) = run(&acted, &input).unwrap();
    let v = value(&out);
    assert_eq!(v["user"]["password"], "[REDACTED:password]", "{out}");
    assert!(v["user"].get("dob").is_none(), "{out}");
}

mod flows {
    use super::*;
    use crate::scrub::stream::{Flow, Framing};

    fn headers(ct: &str) -> BodyHeaders {
        BodyHeaders {
            content_type: vec![ct.to_owned()],
            content_encoding: Vec::new(),
        }
    }

    /// Feeds `parts` and returns each part's output, and the refusal if any.
    fn flow(c: &Contract, ct: &str, parts: &[&[u8]]) -> (Vec<Vec<u8>>, Option<ScrubError>, u32) {
        let h = headers(ct);
        let framing = h.framing().expect("a flowing type");
        let mut f = Flow::new(framing, &classes());
        let mut outs = Vec::new();
        let mut found = 0;
        for (i, p) in parts.iter().enumerate() {
            let fed = f.feed(p, i + 1 == parts.len(), &h, c, &classes(), &key());
            found += fed.findings.total();
            outs.push(fed.out);
            if let Some(e) = fed.refused {
                return (outs, Some(e), found);
            }
        }
        (outs, None, found)
    }

    const EVENTS: &str = "id: 1\r\nevent: charge\r\ndata: {\"card\":\"4111 1111 1111 1111\"}\r\n\r\n: keep-alive\n\ndata: plain\rdata: 5555555555554444\r\rdata: {\"n\":1}\n\n";

    #[test]
    fn framing_is_read_from_the_headers() {
        assert_eq!(
            headers("text/event-stream").framing(),
            Some(Framing::Events)
        );
        assert_eq!(
            headers("text/event-stream; charset=UTF-8").framing(),
            Some(Framing::Events)
        );
        assert_eq!(
            headers("application/x-ndjson").framing(),
            Some(Framing::Lines)
        );
        assert_eq!(headers("application/jsonl").framing(), Some(Framing::Lines));
        assert_eq!(headers("text/event-stream; charset=utf-16").framing(), None);
        assert_eq!(
            headers("application/json").framing(),
            Some(Framing::Document)
        );
        assert_eq!(
            headers("application/problem+json").framing(),
            Some(Framing::Document)
        );
        assert_eq!(headers("application/json; charset=utf-16").framing(), None);
        assert_eq!(headers("text/plain").framing(), None);
        let mut zipped = headers("text/event-stream");
        zipped.content_encoding = vec!["gzip".into()];
        assert_eq!(zipped.framing(), None);
        let two = BodyHeaders {
            content_type: vec!["text/event-stream".into(), "text/plain".into()],
            content_encoding: Vec::new(),
        };
        assert_eq!(two.framing(), None);
    }

    #[test]
    fn events_split_anywhere_cross_the_same_and_masked() {
        let c = contract();
        let (whole, refused, found) = flow(&c, "text/event-stream", &[EVENTS.as_bytes()]);
        assert!(refused.is_none());
        assert_eq!(found, 2);
        let whole = String::from_utf8(whole.concat()).unwrap();
        assert!(!whole.contains("4111 1111 1111 1111"), "{whole}");
        assert!(!whole.contains("5555555555554444"), "{whole}");
        assert!(whole.contains(": keep-alive\n\n"), "{whole}");
        assert!(whole.contains("data: {\"n\":1}\n\n"), "{whole}");
        // Every split of the stream in two, and byte by byte, gives the same.
        let bytes = EVENTS.as_bytes();
        for cut in 0..=bytes.len() {
            let (outs, refused, found) =
                flow(&c, "text/event-stream", &[&bytes[..cut], &bytes[cut..]]);
            assert!(refused.is_none());
            assert_eq!(found, 2, "cut at {cut}");
            assert_eq!(
                String::from_utf8(outs.concat()).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let (outs, _, _) = flow(&c, "text/event-stream", &singles);
        assert_eq!(String::from_utf8(outs.concat()).unwrap(), whole);
    }

    #[test]
    fn an_event_crosses_when_it_is_complete_not_before() {
        let c = contract();
        let (outs, refused, _) = flow(
            &c,
            "text/event-stream",
            &[
                b"data: 4111 1111",
                b" 1111 1111\n",
                b"\ndata: next",
                b"\n\n",
            ],
        );
        assert!(refused.is_none());
        assert!(outs[0].is_empty() && outs[1].is_empty());
        let first = String::from_utf8(outs[2].clone()).unwrap();
        assert!(
            first.starts_with("data: ") && first.ends_with("\n\n"),
            "{first}"
        );
        assert!(!first.contains("4111 1111 1111 1111"), "{first}");
        assert_eq!(outs[3], b"data: next\n\n");
    }

    #[test]
    fn lines_follow_the_json_contract_one_document_each() {
        let mut c = contract();
        c.allow_path("id").unwrap();
        c.unknown = Unknown::Drop;
        let body = b"{\"id\":1,\"card\":\"4111111111111111\"}\n\n{\"id\":2,\"x\":3}\r\n{\"id\":3}";
        let (outs, refused, _) = flow(&c, "application/x-ndjson", &[&body[..20], &body[20..]]);
        assert!(refused.is_none());
        assert_eq!(
            String::from_utf8(outs.concat()).unwrap(),
            "{\"id\":1}\n\n{\"id\":2}\n{\"id\":3}"
        );
        // A line that is not JSON ends the stream.
        let (outs, refused, _) = flow(
            &c,
            "application/x-ndjson",
            &[b"{\"id\":1}\n{\"id\":2,}\n{\"id\":3}\n"],
        );
        assert!(matches!(refused, Some(ScrubError::InvalidJson { .. })));
        assert_eq!(outs.concat(), b"{\"id\":1}\n");
    }

    #[test]
    fn the_findings_limit_counts_across_the_stream() {
        let mut c = contract();
        c.limit = Some(Limit {
            findings: 2,
            action: LimitAction::Block,
        });
        let line = b"{\"card\":\"4111111111111111\"}\n";
        let h = headers("application/x-ndjson");
        let mut f = Flow::new(Framing::Lines, &classes());
        let mut crossed = 0;
        for i in 0..5 {
            let fed = f.feed(line, false, &h, &c, &classes(), &key());
            if i < 2 {
                assert!(fed.refused.is_none());
                crossed += 1;
            } else if i == 2 {
                assert!(
                    matches!(
                        fed.refused,
                        Some(ScrubError::Blocked { .. }) | Some(ScrubError::LimitExceeded { .. })
                    ),
                    "{:?}",
                    fed.refused
                );
                assert!(fed.out.is_empty());
            } else {
                // Cut: nothing more crosses.
                assert!(fed.out.is_empty() && f.is_cut());
            }
        }
        assert_eq!(crossed, 2);
    }

    #[test]
    fn what_is_held_is_bounded_by_max_bytes() {
        let mut c = contract();
        c.max_body = 64;
        let (outs, refused, _) = flow(
            &c,
            "text/event-stream",
            &[b"data: short\n\n", &[b'a'; 40], &[b'b'; 40], b"\n\n"],
        );
        assert_eq!(outs[0], b"data: short\n\n");
        assert!(matches!(refused, Some(ScrubError::TooLarge { limit: 64 })));
        assert_eq!(outs.len(), 3);
    }

    /// A JSON array flows element by element and reads as the whole
    /// document would, however it is split; anything that is not strict
    /// JSON is refused.
    #[test]
    fn a_json_array_flows_element_by_element_as_the_whole_reads() {
        let mut c = contract();
        c.allow_path("[*].id").unwrap();
        c.allow_path("[*].card").unwrap();
        c.unknown = Unknown::Drop;
        let doc = br#" [ {"id":1,"card":"4111111111111111","x":"y"} ,"loose",
            {"id":2,"nested":{"a":[1,2,"]"]},"card":"5555 5555 5555 4444"}, {"id":"3\"]"} ] "#;
        let whole =
            body::scrub_body(doc, &headers("application/json"), &c, &classes(), &key()).unwrap();
        let expected: serde_json::Value =
            serde_json::from_slice(whole.body.as_deref().unwrap()).unwrap();
        for cut in 0..=doc.len() {
            let (outs, refused, found) = flow(&c, "application/json", &[&doc[..cut], &doc[cut..]]);
            assert!(refused.is_none(), "cut at {cut}: {refused:?}");
            assert_eq!(found, 2, "cut at {cut}");
            let all = outs.concat();
            let got: serde_json::Value = serde_json::from_slice(&all).unwrap_or_else(|e| {
                panic!("cut at {cut}: {e}: {:?}", String::from_utf8_lossy(&all))
            });
            assert_eq!(got, expected, "cut at {cut}");
        }
        // An object flows too: what is complete of it crosses.
        let (outs, refused, _) = flow(&c, "application/json", &[br#"{"id":1,"#, br#""x":2}"#]);
        assert!(refused.is_none(), "{refused:?}");
        let object = br#"{"id":1,"x":2}"#;
        let whole =
            body::scrub_body(object, &headers("application/json"), &c, &classes(), &key()).unwrap();
        assert_eq!(outs.concat(), whole.body.unwrap());
        for bad in [
            &b"[1,]"[..],
            b"[1 2]",
            b"[,1]",
            b"[1]x",
            b"[1,2",
            b"[{\"a\":1}",
            b"[\"\\u00\"]",
        ] {
            let open = contract();
            let (_, refused, _) = flow(&open, "application/json", &[bad]);
            assert!(
                matches!(refused, Some(ScrubError::InvalidJson { .. })),
                "{:?}: {refused:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_json_array_element_is_bounded_and_the_limit_counts_across() {
        let mut c = contract();
        c.max_body = 64;
        let big = format!("[\"{}\"]", "a".repeat(100));
        let (_, refused, _) = flow(&c, "application/json", &[big.as_bytes()]);
        assert!(matches!(refused, Some(ScrubError::TooLarge { limit: 64 })));
        // An element still open is held no further than the bound.
        let h = headers("application/json");
        let mut f = Flow::new(Framing::Document, &classes());
        let mut refused = None;
        for part in std::iter::once(&b"[\""[..]).chain(std::iter::repeat_n(&[b'a'; 16][..], 8)) {
            let fed = f.feed(part, false, &h, &c, &classes(), &key());
            if fed.refused.is_some() {
                refused = fed.refused;
                break;
            }
        }
        assert!(matches!(refused, Some(ScrubError::TooLarge { limit: 64 })));
        // Whitespace alone, and whitespace before a byte order mark, are
        // refused as the whole document is.
        for bad in [&b"  \n"[..], b" \xEF\xBB\xBF[1]"] {
            let (_, refused, _) = flow(&contract(), "application/json", &[bad]);
            assert!(refused.is_some(), "{bad:?}");
        }
        let mut c = contract();
        c.limit = Some(Limit {
            findings: 1,
            action: LimitAction::Block,
        });
        let (outs, refused, _) = flow(
            &c,
            "application/json",
            &[br#"["4111111111111111","#, br#""5555555555554444"]"#],
        );
        assert!(
            matches!(refused, Some(ScrubError::LimitExceeded { .. })),
            "{refused:?}"
        );
        assert!(!String::from_utf8_lossy(&outs.concat()).contains("5555"));
    }

    /// Removes the whitespace between a document's tokens.
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

    /// A small deterministic generator of documents and their splits.
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
            if self.below(4) == 0 {
                out.push_str(self.pick(&[" ", "\n", "\t ", "\r\n  "]));
            }
        }

        fn value(&mut self, depth: usize, out: &mut String) {
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
            ];
            const STRINGS: &[&str] = &[
                "4111 1111 1111 1111",
                "5555555555554444",
                "plain",
                "a.person@mail.example",
                "123-45-6789",
                "urn:oid:2.16.840.1.113883.4.1",
                "ssn",
                "visa",
                "\\u00341111111111111111",
                "]",
                "\\\"}",
                "pan",
                "",
                "4111111111111111110",
                "411111111117",
                "card",
            ];
            const NUMBERS: &[&str] = &[
                "1",
                "4111111111111111",
                "4.111111111111111e15",
                "-0.5",
                "0",
                "123456789",
                "4111111111111111110",
                "411111111117",
            ];
            self.ws(out);
            match self.below(if depth > 4 { 3 } else { 7 }) {
                // A label and the member it names.
                6 => {
                    out.push_str(self.pick(&[
                        r#"{"brand":"visa","number":"#,
                        r#"{"system":"urn:oid:2.16.840.1.113883.4.1","value":"#,
                        r#"{"name":"card","value":"#,
                    ]));
                    self.value(depth + 1, out);
                    out.push('}');
                }
                0 => {
                    out.push('"');
                    out.push_str(self.pick(STRINGS));
                    out.push('"');
                }
                1 => out.push_str(self.pick(NUMBERS)),
                2 => out.push_str(self.pick(&["true", "false", "null"])),
                3 | 4 => {
                    out.push('{');
                    for i in 0..self.below(5) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.ws(out);
                        out.push('"');
                        out.push_str(self.pick(KEYS));
                        out.push('"');
                        self.ws(out);
                        out.push(':');
                        self.value(depth + 1, out);
                    }
                    self.ws(out);
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for i in 0..self.below(5) {
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

    /// The contracts a flowing document is compared under.
    fn contracts() -> Vec<Contract> {
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
        let shop = [
            "id",
            "card",
            "items[*].sku",
            "items[*].card",
            "nested.*",
            "value",
            "system",
        ];
        let mut acted = listed(Unknown::Drop, &shop);
        let mut open_acted = contract();
        for c in [&mut acted, &mut open_acted] {
            c.field_action("card", fa(Action::MaskPanLast4)).unwrap();
            c.field_action("profile", fa(Action::Redact)).unwrap();
            c.field_action("ssn", fa(Action::Drop)).unwrap();
            c.field_action("items[*].name", fa(Action::Hash)).unwrap();
            c.field_action("nested.data", fa(Action::Hash)).unwrap();
        }
        let mut limited = contract();
        limited.limit = Some(Limit {
            findings: 3,
            action: LimitAction::Block,
        });
        let mut blocking = contract();
        blocking.field_action("pan", fa(Action::Block)).unwrap();
        vec![
            contract(),
            listed(Unknown::Drop, &shop),
            listed(Unknown::Allow, &shop),
            listed(Unknown::Reject, &shop),
            listed(Unknown::Drop, &["[*].id", "[*].card", "[*].items[*]"]),
            listed(Unknown::Drop, &["items", "[*]"]),
            acted,
            open_acted,
            limited,
            blocking,
        ]
    }

    /// Whatever the document, the contract and the splits, a flowing
    /// document crosses exactly as the whole-document rewriter writes it,
    /// with the same findings, and is refused where it is refused; however
    /// small `max_bytes` makes the pieces (only a value or key over it is
    /// refused, as too large).
    #[test]
    fn a_flowing_document_crosses_as_the_whole_one_would() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let h = headers("application/json");
        let mut compared = 0;
        for round in 0..3000 {
            let mut doc = String::new();
            g.value(0, &mut doc);
            let mut doc = doc.into_bytes();
            if round % 5 == 4 && !doc.is_empty() {
                // A byte lost or changed: mostly not JSON any more.
                let at = g.below(doc.len());
                match g.below(3) {
                    0 => {
                        doc.remove(at);
                    }
                    1 => doc[at] = b"{}[],:\"x1 "[g.below(10)],
                    _ => doc.insert(at, b"{}[],:\"x1 "[g.below(10)]),
                }
            }
            for c in contracts() {
                let whole = body::scrub_body(&doc, &h, &c, &classes(), &key());
                let mut small = c.clone();
                small.max_body = [16, 40, 100, 1 << 20][g.below(4)];
                let mut cuts: Vec<usize> =
                    (0..g.below(4)).map(|_| g.below(doc.len() + 1)).collect();
                cuts.sort_unstable();
                let mut parts = Vec::new();
                let mut from = 0;
                for cut in cuts {
                    parts.push(&doc[from..cut]);
                    from = cut;
                }
                parts.push(&doc[from..]);
                let (outs, refused, found) = flow(&small, "application/json", &parts);
                let what = || {
                    format!(
                        "{:?} split {:?} max {}",
                        String::from_utf8_lossy(&doc),
                        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                        small.max_body
                    )
                };
                match (&whole, &refused) {
                    (_, Some(ScrubError::TooLarge { .. })) => {}
                    (Ok(whole), None) => {
                        let expected = compact(whole.body.as_deref().unwrap_or(&doc));
                        assert_eq!(
                            String::from_utf8_lossy(&compact(&outs.concat())),
                            String::from_utf8_lossy(&expected),
                            "{}",
                            what()
                        );
                        assert_eq!(found, whole.findings.total(), "{}", what());
                        compared += 1;
                    }
                    // Both refuse; for the same reason, but where the whole
                    // document's limit is judged at its end and a flowing
                    // one's as it goes, or the document is not JSON further
                    // on than a flowing one is read.
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
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    #[test]
    fn the_terminal_piece_is_one_a_reader_recognises() {
        assert_eq!(
            Framing::Events.terminal("{\"error\":\"x\"}"),
            b"event: error\ndata: {\"error\":\"x\"}\n\n"
        );
        assert_eq!(
            Framing::Lines.terminal("{\"error\":\"x\"}"),
            b"{\"error\":\"x\"}\n"
        );
    }
}

/// An event-stream line ended by a lone CR is a line to every event-stream
/// reader: its `data:` JSON is held to the contract like any other.
#[test]
fn event_data_after_a_lone_cr_is_held_to_the_json_contract() {
    let mut c = contract();
    c.allow_path("n").unwrap();
    c.unknown = Unknown::Drop;
    let headers = BodyHeaders {
        content_type: vec!["text/event-stream".into()],
        content_encoding: Vec::new(),
    };
    for body in [
        "id: 1\rdata: {\"n\":1,\"password\":\"hunter2\"}\n\n",
        ":\rdata: {\"n\":1,\"password\":\"hunter2\"}\r\r",
        "event: x\r\ndata: [1]\r\r",
    ] {
        let out = body::scrub_body(body.as_bytes(), &headers, &c, &classes(), &key());
        assert!(
            matches!(out, Err(ScrubError::InvalidJson { .. })),
            "{body:?}: {out:?}"
        );
    }
}
