//! Neighbours of the leak-proof data plane's classes, at the scrubber's level.
//!
//! Each `leak_*` / `bound_*` test asserts the secure behaviour and FAILS
//! while the hole it names is open: a body "crosses" a value when scrubbing
//! succeeds and the value is still in what would be sent (the new body, or
//! the original when nothing changed); a refusal is always secure.
//! `held_*` tests are hypotheses that were tried and held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::class::{Action, Classes, DataClass};
use super::contract::{Contract, FieldAction, OtherContent};
use super::detect::{Detector, DetectorSet};
use super::*;
use crate::secret::HashKey;

const VISA: &str = "4111111111111111";
const OPAQUE: &str = "opq7Rk2LmQ9vX3";

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
            &[
                Detector::Jwt,
                Detector::AwsAccessKey,
                Detector::PrivateKey,
                Detector::BearerToken,
            ],
            Action::Redact,
        ),
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

fn allow(paths: &[&str]) -> Contract {
    let mut c = contract();
    for p in paths {
        c.allow_path(p).unwrap();
    }
    c
}

fn fa(action: Action, class: &str) -> FieldAction {
    FieldAction {
        action,
        class: class.into(),
    }
}

fn key() -> HashKey {
    HashKey::from_bytes(b"test key")
}

fn scrub(c: &Contract, ct: &str, b: &[u8]) -> Result<Scrubbed, ScrubError> {
    let h = if ct.is_empty() {
        BodyHeaders::default()
    } else {
        BodyHeaders::typed(ct)
    };
    scrub_body(b, &h, c, &classes(), &key())
}

/// What would be sent: `None` when refused.
fn sent(c: &Contract, ct: &str, b: &[u8]) -> Option<String> {
    let s = scrub(c, ct, b).ok()?;
    Some(String::from_utf8_lossy(s.body.as_deref().unwrap_or(b)).into_owned())
}

/// Panics when the body would cross with any of `needles` in it.
#[track_caller]
fn never_crosses(c: &Contract, ct: &str, b: &[u8], needles: &[&str]) {
    if let Some(out) = sent(c, ct, b) {
        for n in needles {
            assert!(
                !out.contains(n),
                "content-type {ct:?}: {n:?} crossed in {out:?} (input {:?})",
                String::from_utf8_lossy(b)
            );
        }
    }
}

// --- Charsets: chaperone reads one encoding, a reader another ---------------

/// ASCII (even length) labelled `charset=utf-16le` (or utf-16be): chaperone
/// decodes CJK garbage, finds nothing and passes the bytes; a reader that
/// ignores the label (Go, fetch().text()/.json(), Flask get_json(force))
/// reads the ASCII. body.rs `decode` trusts the declared charset alone.
#[test]
fn leak_declared_utf16_over_ascii() {
    let c = allow(&["amount"]);
    let json = format!(r#"{{"amount":1,"card":"{VISA}"}}"#);
    assert_eq!(json.len() % 2, 0);
    never_crosses(&c, "text/plain; charset=utf-16le", json.as_bytes(), &[VISA]);
    never_crosses(
        &contract(),
        "text/plain; charset=utf-16be",
        format!("card {VISA} ").as_bytes(),
        &[VISA],
    );
    let form = format!("card={VISA}&x=12");
    assert_eq!(form.len() % 2, 0);
    never_crosses(
        &contract(),
        "application/x-www-form-urlencoded; charset=utf-16le",
        form.as_bytes(),
        &[VISA],
    );
    let mut pass = contract();
    pass.other = OtherContent::Pass;
    never_crosses(
        &pass,
        "application/octet-stream; charset=utf-16le",
        json.as_bytes(),
        &[VISA],
    );
}

/// `MediaType::parse` splits parameters on every `;` and takes the first
/// `charset`: a quoted parameter value holding `;charset=utf-16le`, or two
/// charset parameters, make it read UTF-16 where a MIME parser (Go's
/// mime.ParseMediaType) reads UTF-8.
#[test]
fn leak_charset_parameter_parsing() {
    let b = format!("card {VISA} ");
    never_crosses(
        &contract(),
        "text/plain; x=\"a;charset=utf-16le\"; charset=utf-8",
        b.as_bytes(),
        &[VISA],
    );
    never_crosses(
        &contract(),
        "text/plain; charset=utf-16le; charset=utf-8",
        b.as_bytes(),
        &[VISA],
    );
}

/// A UTF-16 byte order mark in front of ASCII: chaperone reads UTF-16 by the
/// mark, a UTF-8 reader (fetch().text(), Go) sees two bad bytes then ASCII.
#[test]
fn leak_utf16_bom_over_ascii() {
    let mut b = b"\xFF\xFE".to_vec();
    b.extend_from_slice(format!("card {VISA} ").as_bytes());
    never_crosses(&contract(), "text/plain", &b, &[VISA]);
}

// --- JSON that only a lenient or streaming parser reads ----------------------

/// Text that fails chaperone's strict JSON parse falls back to text scanning
/// under any non-JSON label (body.rs `read_text`): the allow-list does not
/// apply and `\u` escapes are not decoded. Go's json.NewDecoder reads the
/// first value and ignores the rest; Python's json accepts NaN/Infinity and
/// lone surrogates; JavaScript's JSON.parse and Go accept lone surrogates.
#[test]
fn leak_near_json_falls_back_to_text() {
    let c = allow(&["amount"]);
    let esc = format!("\\u0034{}", &VISA[1..]);
    for body in [
        format!(r#"{{"amount":1,"card":"{esc}"}} trailing"#),
        format!(r#"{{"amount":1,"card":"{esc}"}}{{}}"#),
        format!("{{\"amount\":1,\"card\":\"{esc}\"}}\u{c}"),
        format!(r#"{{"amount":NaN,"card":"{esc}"}}"#),
        format!(r#"{{"amount":-Infinity,"card":"{esc}"}}"#),
        format!(r#"{{"amount":"\ud800","card":"{esc}"}}"#),
        format!(r#"{{"amount":1,"card":"{esc}",}}"#),
        format!(r#"[NaN,{{"card":"{esc}"}}]"#),
        format!(r#"[ Infinity, "{esc}"]"#),
        format!(r#"["{esc}",]"#),
        format!(r#"[[NaN],["{esc}"]]"#),
    ] {
        for ct in ["text/plain", "text/csv"] {
            never_crosses(&c, ct, body.as_bytes(), &["\"card\"", &esc]);
        }
    }
}

/// An object or array behind whitespace a lenient parser skips (form feed,
/// no-break space, a second byte order mark) or a comment (JSON5, Gson,
/// YAML), or a bracketed word before one (Gson reads several top-level
/// values, YAML and Python literals read `[None, {...}]`), is structure
/// the allow-list must judge: refused. Text that a replacement makes
/// start like one is refused too, so no hop passes what the next refuses.
#[test]
fn hidden_structure_is_refused() {
    let c = allow(&["amount"]);
    let obj = format!(r#"{{"amount": 1, "card": "{OPAQUE}"}}"#);
    for body in [
        format!("[None, {obj}]"),
        format!("[True, {obj}]"),
        format!("[undefined, {obj}]"),
        format!("[INFO, {obj}]"),
        format!("[INFO] {obj}"),
        format!("\u{c}{obj}"),
        format!("\u{a0}{obj}"),
        format!("\u{feff}\u{feff}{obj}"),
        format!("/*c*/{obj}"),
        format!("// c\n{obj}"),
        format!("# c\n{obj}"),
        format!("// c\r{obj}"),
        format!("# c\r{obj}"),
        format!("// c\u{2028}{obj}"),
        format!(")]}}'\n{obj}"),
        format!(")]}}',\n{obj}"),
        format!("while(1);{obj}"),
        format!("for(;;);{obj}"),
        format!("event: x\ndata: {obj}\n\n"),
        "AKIAIOSFODNN7EXAMPLE is the key".to_owned(),
    ] {
        assert!(
            scrub(&c, "text/plain", body.as_bytes()).is_err(),
            "{body:?}"
        );
    }
    // Text is text: scanned, passed.
    let out = scrub(&c, "text/plain", b"shipped # 2 /* today */").expect("text");
    assert_eq!(out.kind, BodyKind::Text);
}

/// Text bodies are scanned as written and percent-decoded, never with JSON
/// or JavaScript `\u` escapes or HTML character references decoded: a
/// callee's Server-Sent Events (`data:` lines of JSON, what every streaming
/// API sends, JSON.parse'd by the caller), an inline script, or an HTML page
/// (the browser renders `&#52;` as 4) show the caller a card number.
#[test]
fn leak_text_escapes_not_decoded() {
    let esc = format!("\\u0034{}", &VISA[1..]);
    never_crosses(
        &contract(),
        "text/event-stream",
        format!("data: {{\"card\":\"{esc}\"}}\n\n").as_bytes(),
        &[&esc],
    );
    never_crosses(
        &contract(),
        "text/html",
        format!("<script>var c=\"{esc}\"</script>").as_bytes(),
        &[&esc],
    );
    never_crosses(
        &contract(),
        "text/html",
        format!("<p>&#52;{}</p>", &VISA[1..]).as_bytes(),
        &[&VISA[1..]],
    );
}

/// Under `other: pass`, a body labelled JSON (or anything) with one byte
/// that is not UTF-8 is "unreadable" and passes when its printable bytes
/// show no finding: no allow-list, no `\u` decoding. Go's json and
/// fetch().json() replace the bad byte and read the rest.
#[test]
fn leak_json_with_a_bad_byte_under_other_pass() {
    let mut c = allow(&["amount"]);
    c.other = OtherContent::Pass;
    let esc = format!("\\u0034{}", &VISA[1..]);
    let mut b = format!(r#"{{"amount":1,"card":"{esc}","x":"caf"#).into_bytes();
    b.extend_from_slice(b"\xe9\"}");
    never_crosses(&c, "application/json", &b, &["\"card\"", &esc]);
}

// --- Forms ---------------------------------------------------------------------

/// A form-labelled body that is also valid JSON gets the JSON contract
/// (`read_text` tries JSON first under any label); the callee parses the
/// form. `+` for spaces is decoded by no scan of a JSON string.
#[test]
fn leak_form_label_over_valid_json() {
    let c = allow(&["amount"]);
    let b = r#"{"amount":"1&card=4111+1111+1111+1111&secret=opq7Rk2LmQ9vX3&x="}"#;
    never_crosses(
        &c,
        "application/x-www-form-urlencoded",
        b.as_bytes(),
        &["4111+1111+1111+1111", OPAQUE],
    );
    let mut f = contract();
    f.field_action("account", fa(Action::Hash, "account"))
        .unwrap();
    never_crosses(
        &f,
        "application/x-www-form-urlencoded",
        br#""&account=opq7Rk2LmQ9vX3&x=""#,
        &[OPAQUE],
    );
}

/// `;` separates pairs for some parsers (Python < 3.9.2, older Rack, PHP
/// with arg_separator.input): query.rs `rewrite_pairs` splits on `&` only.
#[test]
fn leak_form_semicolon_separator() {
    never_crosses(
        &allow(&["amount"]),
        "application/x-www-form-urlencoded",
        format!("amount=1;card={OPAQUE}").as_bytes(),
        &[OPAQUE],
    );
}

/// RFC 6750 §2.2 access tokens and `_method` overrides (Rails, Laravel,
/// Symfony read `_method` from the form body) are stripped from the query
/// only (`DEFAULT_REMOVED`), not from form bodies.
#[test]
fn leak_form_credentials_and_method_override() {
    never_crosses(
        &contract(),
        "application/x-www-form-urlencoded",
        format!("access_token={OPAQUE}&_method=DELETE").as_bytes(),
        &[OPAQUE, "_method"],
    );
}

// --- Field actions -----------------------------------------------------------

/// A field action matches its name exactly: `Account` (Go encoding/json and
/// ASP.NET Core bind case-insensitively) and `account[]` (PHP, Rack) cross.
#[test]
fn leak_field_action_name_variants() {
    let mut c = contract();
    c.field_action("account", fa(Action::Hash, "account"))
        .unwrap();
    never_crosses(
        &c,
        "application/json",
        format!(r#"{{"Account":"{OPAQUE}"}}"#).as_bytes(),
        &[OPAQUE],
    );
    never_crosses(
        &c,
        "application/x-www-form-urlencoded",
        format!("account[]={OPAQUE}&Account={OPAQUE}").as_bytes(),
        &[OPAQUE],
    );
}

/// A field action's path is followed only through containers of the kind
/// it names: `customer.account` sent as `customer: [{account}]`, or
/// `items[*].account` sent as `items: {account}` or `[[{account}]]`, is
/// not acted on (no allow-list, or its parent allowed whole).
#[test]
fn leak_field_action_container_kind() {
    let mut c = contract();
    c.field_action("customer.account", fa(Action::Hash, "account"))
        .unwrap();
    c.field_action("items[*].account", fa(Action::Redact, "account"))
        .unwrap();
    for b in [
        format!(r#"{{"customer":[{{"account":"{OPAQUE}"}}]}}"#),
        format!(r#"{{"items":{{"account":"{OPAQUE}"}}}}"#),
        format!(r#"{{"items":[[{{"account":"{OPAQUE}"}}]]}}"#),
    ] {
        never_crosses(&c, "application/json", b.as_bytes(), &[OPAQUE]);
    }
    let mut d = allow(&["customer"]);
    d.field_action("customer.account", fa(Action::Hash, "account"))
        .unwrap();
    never_crosses(
        &d,
        "application/json",
        format!(r#"{{"customer":[{{"account":"{OPAQUE}"}}]}}"#).as_bytes(),
        &[OPAQUE],
    );
}

/// `hash` keeps any value shaped like its own token (class.rs
/// `is_hash_token`, for idempotence): 16 bytes of the sender's choice cross
/// a hashed field, a zero-padded card number among them.
#[test]
fn leak_hash_keeps_token_shaped_values() {
    let mut c = contract();
    c.field_action("account", fa(Action::Hash, "account"))
        .unwrap();
    let b = format!(r#"{{"account":"h:{VISA}0000000000000000"}}"#);
    never_crosses(&c, "application/json", b.as_bytes(), &[VISA]);
}

/// `mask_email` keeps the domain as written and its output is not scanned:
/// a card number (or anything) rides there, uncounted.
#[test]
fn leak_mask_email_domain() {
    let mut c = contract();
    c.field_action("contact", fa(Action::MaskEmail, "contact"))
        .unwrap();
    let b = format!(r#"{{"contact":"a@{VISA}.test"}}"#);
    never_crosses(&c, "application/json", b.as_bytes(), &[VISA]);
}

/// An allow-list entry below a wildcard field action switches the action
/// off for that key: `fields: {"meta.*": redact}` + `allow: [meta.card]`
/// lets `meta.card` through unredacted (`Node::child` prefers the key).
#[test]
fn leak_allow_entry_shadows_wildcard_action() {
    let mut c = allow(&["meta.card"]);
    c.field_action("meta.*", fa(Action::Redact, "meta"))
        .unwrap();
    never_crosses(
        &c,
        "application/json",
        format!(r#"{{"meta":{{"card":"{OPAQUE}"}}}}"#).as_bytes(),
        &[OPAQUE],
    );
}

// --- Allow-lists ---------------------------------------------------------------

/// `allow: []` ("nothing but the fields with actions crosses") makes a root
/// node with no children, whose shape is Any: a top-level string or number
/// crosses.
#[test]
fn leak_empty_allow_list_top_level_scalar() {
    let mut c = contract();
    c.allow = Some(Default::default());
    never_crosses(
        &c,
        "application/json",
        format!(r#""{OPAQUE}""#).as_bytes(),
        &[OPAQUE],
    );
    never_crosses(&c, "application/json", b"20240117", &["20240117"]);
}

// --- Numbers -------------------------------------------------------------------

/// A card number with a fraction a double keeps (`.5`, and `.3`/`.7`, which
/// round to `.5`): no integer candidate, but every truncation (Python int(),
/// JS Math.trunc/parseInt, Go int64(f), Java (long)) gives the card, and the
/// number's text shows it.
#[test]
fn leak_number_with_a_kept_fraction() {
    for n in [
        "4111111111111111.5",
        "4111111111111111.3",
        "-4111111111111111.7",
        "41111111111111115e-1",
    ] {
        never_crosses(
            &contract(),
            "application/json",
            format!(r#"{{"n":{n}}}"#).as_bytes(),
            &[VISA],
        );
    }
}

// --- Bounds --------------------------------------------------------------------

/// Cost of a 1 MiB body by shape, relative to a plain string (printed; the
/// assertion is loose so that it documents rather than flakes). Numbers
/// written with exponents make every number two 40-digit candidates.
#[test]
fn bound_cost_by_shape() {
    let c = contract();
    let mb = 1 << 20;
    let time = |b: &str| {
        let t = std::time::Instant::now();
        let _ = scrub(&c, "application/json", b.as_bytes());
        t.elapsed()
    };
    let plain = time(&format!("{{\"s\":\"{}\"}}", "a".repeat(mb - 10)));
    let exps = time(&format!("[{}1]", "1e39,".repeat((mb - 10) / 5)));
    let pct = time(&format!("{{\"s\":\"{}\"}}", "%41".repeat((mb - 10) / 3)));
    eprintln!("cost per MiB: plain {plain:?}, 1e39 numbers {exps:?}, %XX string {pct:?}");
    assert!(
        exps < plain * 200,
        "1e39 numbers cost {exps:?} vs {plain:?}"
    );
}

// --- Hypotheses that held ------------------------------------------------------

#[test]
fn held_json_edges() {
    let typed = allow(&["items[*].sku"]);
    // A duplicate key of another kind is dropped; a top-level array under an
    // object allow-list becomes {}.
    never_crosses(
        &typed,
        "application/json",
        br#"{"items":[{"sku":"a"}],"items":"opq7Rk2LmQ9vX3"}"#,
        &[OPAQUE],
    );
    assert_eq!(
        sent(&typed, "application/json", br#"[{"sku":"x"}]"#).as_deref(),
        Some("{}")
    );
    // `[*]` roots drop an object document, and every form name.
    let rooted = allow(&["[*].id"]);
    assert_eq!(
        sent(&rooted, "application/json", br#"{"id":"x"}"#).as_deref(),
        Some("[]")
    );
    assert_eq!(
        sent(&rooted, "application/x-www-form-urlencoded", b"id=1&s=2").as_deref(),
        Some("")
    );
    // Nested and empty containers under a mask; keys under it are scanned.
    let mut m = contract();
    m.field_action("card", fa(Action::MaskPan, "card")).unwrap();
    never_crosses(
        &m,
        "application/json",
        br#"{"card":{"a":[{"b":"4111 1111 1111 1111"},{}],"4111111111111111":[]}}"#,
        &[VISA, "4111 1111 1111 1111"],
    );
    // Keys spelled with escapes are judged decoded.
    never_crosses(
        &allow(&["amount"]),
        "application/json",
        br#"{"\u0063ard":"opq7Rk2LmQ9vX3"}"#,
        &[OPAQUE],
    );
    // BOM + JSON under text/plain is JSON; trailing whitespace is fine.
    let mut b = b"\xEF\xBB\xBF".to_vec();
    b.extend_from_slice(br#"{"amount":1,"card":"opq7Rk2LmQ9vX3"}   "#);
    never_crosses(&allow(&["amount"]), "text/plain", &b, &[OPAQUE]);
    // Exponents, -0 and huge numbers are bounded and never panic.
    for n in [
        "-0",
        "0e999999999",
        "1e400",
        "1e-400",
        "4.1111111111111115e15",
        &"9".repeat(100_000),
    ] {
        assert!(
            scrub(&contract(), "application/json", format!("[{n}]").as_bytes()).is_ok(),
            "{n}"
        );
    }
    // Depth is bounded in every walker (allowed, skipped, acted).
    let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
    assert!(scrub(&contract(), "application/json", deep.as_bytes()).is_err());
    assert!(
        scrub(
            &allow(&["a"]),
            "application/json",
            format!(r#"{{"x":{deep}}}"#).as_bytes()
        )
        .is_err()
    );
    assert!(
        scrub(
            &m,
            "application/json",
            format!(r#"{{"card":{deep}}}"#).as_bytes()
        )
        .is_err()
    );
    // Labels: empty, `;`, several types, unknown charsets are refused.
    for ct in [
        "",
        ";",
        "text/plain, application/json",
        "text/plain; charset=utf-7",
        "text/plain; charset=utf-32",
    ] {
        if ct.is_empty() {
            continue;
        }
        assert!(scrub(&contract(), ct, b"x").is_err(), "{ct}");
    }
    // UTF-16 with an odd length or a lone surrogate is not clean text.
    assert!(scrub(&contract(), "text/plain; charset=utf-16le", b"abc").is_err());
    assert!(
        scrub(
            &contract(),
            "text/plain; charset=utf-16le",
            b"\x00\xd8a\x00"
        )
        .is_err()
    );
}

/// A value is judged under its key as the key crosses: a key rewritten to
/// `[REDACTED:card_number]` says card to the next reader, so a 13-digit
/// number under it is a card here too.
#[test]
fn values_are_judged_under_the_key_that_crosses() {
    let classes = Classes::new(vec![DataClass {
        name: "card_number".into(),
        detectors: Detector::Pan.into(),
        action: Action::Redact,
    }]);
    let key = HashKey::from_bytes(b"k");
    let c = contract();
    let body = br#"{"4111111111111111":"4006381333924"}"#;
    let json = BodyHeaders::typed("application/json");
    let once = scrub_body(body, &json, &c, &classes, &key)
        .expect("scrubbed")
        .body
        .expect("changed");
    assert!(!String::from_utf8_lossy(&once).contains("4006381333924"));
    let twice = scrub_body(&once, &json, &c, &classes, &key).expect("scrubbed");
    assert!(twice.body.is_none(), "{}", String::from_utf8_lossy(&once));
}

/// Escapes that legacy decoders and browsers read: `%uXXXX` (JavaScript's
/// `unescape`, ASP.NET) and an HTML reference without its `;`.
#[test]
fn legacy_escapes_are_decoded() {
    for (ct, body) in [
        ("text/plain", "c=%u0034111111111111111"),
        ("text/html", "<p>4111 1111 1111 111&#49</p>"),
    ] {
        let out = scrub(&contract(), ct, body.as_bytes()).expect(body);
        assert!(out.findings.total() >= 1, "{body}");
    }
}
