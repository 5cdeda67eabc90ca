//! gRPC message contracts without Envoy: `chaperone scrub --protobuf` (and
//! `--content-type application/grpc`) on messages of the demo payments
//! service, encoded and decoded with its generated types. The contract
//! speaks in protobuf field names; the message is rewritten in the wire
//! format. `--protobuf json` reads and writes the message as its JSON
//! mapping, and judges it exactly as its binary form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../examples/grpc-demo/service.rs"]
mod service;

use base64::Engine as _;
use common::*;
use prost::Message;
use serde_json::{Value, json};
use service::pb::{Card, ChargeReply, ChargeRequest, Item};

const POLICY: &str = r#"
version: "grpc.1"
trust_domain: shop.test
descriptors: [payments.binpb]
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  secret: { detect: [jwt, aws_access_key, private_key], action: drop }
  email: { detect: [email], action: hash }
defaults:
  scan: [card_number, secret]
hops:
  - name: charge
    match: { host: payments.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    request:
      body:
        message: chaperone.demo.v1.ChargeRequest
    response:
      body:
        message: chaperone.demo.v1.ChargeReply
        allow: [charge_id, card.number, "items[*].sku", receipt_email]
        fields: { receipt_email: email }
        unknown: drop
  - name: loose
    match: { host: loose.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest, unknown: allow }
  - name: strict
    match: { host: strict.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest, allow: [card, amount_cents], unknown: reject }
"#;

struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = TempDir::new("grpc-contracts");
        std::fs::write(dir.path("payments.binpb"), service::DESCRIPTORS).unwrap();
        std::fs::write(dir.path("policy.yaml"), POLICY).unwrap();
        std::fs::write(dir.path("hash.key"), [7u8; 32]).unwrap();
        Self { dir }
    }

    /// `chaperone scrub --protobuf <format>` with more arguments, under a
    /// fixed hashing key: exit status, stdout, stderr.
    fn run(
        &self,
        hop: &str,
        direction: &str,
        args: &[&str],
        stdin: &[u8],
    ) -> (bool, Vec<u8>, String) {
        let policy = self.dir.path("policy.yaml");
        let key = self.dir.path("hash.key");
        let mut all = vec![
            "scrub",
            "--policy",
            policy.to_str().unwrap(),
            "--hop",
            hop,
            "--direction",
            direction,
            "--hash-key-file",
            key.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = chaperone_cli(all, stdin);
        (
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The same message judged twice, as binary and as its JSON mapping:
    /// what crosses in each, the binary form converted to JSON.
    fn both<M: Message + Default>(
        &self,
        hop: &str,
        direction: &str,
        message: &M,
        to_json: fn(&M) -> Value,
    ) -> (Value, Value) {
        let (ok, out, err) = self.run(hop, direction, &["--protobuf"], &message.encode_to_vec());
        assert!(ok, "{err}");
        let binary = to_json(&M::decode(&out[..]).unwrap());
        let input = to_json(message).to_string();
        let (ok, out, err) = self.run(hop, direction, &["--protobuf", "json"], input.as_bytes());
        assert!(ok, "{err}");
        assert_eq!(out.last(), Some(&b'\n'));
        (binary, serde_json::from_slice(&out).unwrap())
    }

    /// `chaperone scrub --protobuf`: the bytes that cross, or the refusal.
    fn scrub(&self, hop: &str, direction: &str, message: &[u8]) -> Result<Vec<u8>, String> {
        let policy = self.dir.path("policy.yaml");
        let out = chaperone_cli(
            [
                "scrub",
                "--policy",
                policy.to_str().unwrap(),
                "--hop",
                hop,
                "--direction",
                direction,
                "--protobuf",
            ],
            message,
        );
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn reply() -> ChargeReply {
    ChargeReply {
        charge_id: "ch_1".into(),
        card: Some(Card {
            number: "4111 1111 1111 1111".into(),
            holder: "Alice Example".into(),
            number_digits: 4_111_111_111_111_111,
        }),
        receipt_email: "alice@example.com".into(),
        items: vec![
            Item {
                sku: "SKU-1".into(),
                qty: 2,
            },
            Item {
                sku: "5555555555554444".into(),
                qty: 1,
            },
        ],
        internal_trace: "node-7.rack-3".into(),
    }
}

#[test]
fn a_response_crosses_as_its_contract_says_in_protobuf_field_names() {
    let s = Setup::new();
    let out = s
        .scrub("charge", "response", &reply().encode_to_vec())
        .unwrap();
    let got = ChargeReply::decode(&out[..]).unwrap();
    assert_eq!(got.charge_id, "ch_1");
    let card = got.card.unwrap();
    assert_eq!(card.number, "411111******1111");
    // Not on the allow-list: gone (the receiver reads the defaults).
    assert_eq!(card.holder, "");
    assert_eq!(card.number_digits, 0);
    assert_eq!(got.internal_trace, "");
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.items[0].sku, "SKU-1");
    assert_eq!(got.items[1].sku, "555555******4444");
    assert!(got.items.iter().all(|i| i.qty == 0), "qty is not listed");
    assert!(got.receipt_email.starts_with("h:"), "{}", got.receipt_email);
    let raw = String::from_utf8_lossy(&out);
    assert!(!raw.contains("4111 1111 1111 1111") && !raw.contains("Alice"));
}

#[test]
fn a_request_is_scanned_everywhere_keys_numbers_and_bytes_included() {
    let s = Setup::new();
    let req = ChargeRequest {
        card: Some(Card {
            number: "4111111111111111".into(),
            holder: "Alice".into(),
            number_digits: 4_111_111_111_111_111,
        }),
        amount_cents: 1250,
        currency: "EUR".into(),
        note: "card 5555 5555 5555 4444 please".into(),
        tags: vec!["vip".into(), "4111-1111-1111-1111".into()],
        labels: [
            ("4111111111111111".to_owned(), "as a key".to_owned()),
            ("aws".to_owned(), "AKIAIOSFODNN7EXAMPLE".to_owned()),
            ("ok".to_owned(), "fine".to_owned()),
        ]
        .into_iter()
        .collect(),
        memo: b"memo 4111111111111111".to_vec(),
        saved_cards: Default::default(),
    };
    let out = s.scrub("charge", "request", &req.encode_to_vec()).unwrap();
    let got = ChargeRequest::decode(&out[..]).unwrap();
    let card = got.card.unwrap();
    assert_eq!(card.number, "411111******1111");
    assert_eq!(card.holder, "Alice");
    assert_eq!(card.number_digits, 0, "a number holding a card is removed");
    assert_eq!(got.amount_cents, 1250);
    assert!(!got.note.contains("5555 5555 5555 4444"), "{}", got.note);
    assert_eq!(got.tags[0], "vip");
    assert!(!got.tags[1].contains("1111-1111-1111"), "{:?}", got.tags);
    assert_eq!(got.labels.get("ok").map(String::as_str), Some("fine"));
    assert!(
        !got.labels.contains_key("4111111111111111"),
        "{:?}",
        got.labels
    );
    assert!(
        got.labels.keys().any(|k| k.ends_with("1111")),
        "the key masked: {:?}",
        got.labels
    );
    assert!(
        !got.labels.contains_key("aws"),
        "a secret's field is dropped"
    );
    assert!(!String::from_utf8_lossy(&got.memo).contains("4111111111111111"));
    let raw = String::from_utf8_lossy(&out);
    assert!(
        !raw.contains("4111111111111111") && !raw.contains("AKIA"),
        "{raw}"
    );
}

#[test]
fn unknown_and_malformed_messages_follow_the_contract_or_are_refused() {
    let s = Setup::new();
    let ok = ChargeRequest {
        card: Some(Card {
            number: "x".into(),
            ..Card::default()
        }),
        amount_cents: 5,
        ..ChargeRequest::default()
    }
    .encode_to_vec();
    assert_eq!(s.scrub("strict", "request", &ok).unwrap(), ok);
    // A field outside the allow-list, with `unknown: reject`.
    let mut noted = ok.clone();
    noted.extend_from_slice(
        &ChargeRequest {
            note: "hi".into(),
            ..ChargeRequest::default()
        }
        .encode_to_vec(),
    );
    assert!(
        s.scrub("strict", "request", &noted)
            .unwrap_err()
            .contains("unknown_field")
    );
    // A field number the descriptor does not know: unknown too.
    let mut extra = ok.clone();
    extra.extend_from_slice(&[0xca, 0x06, 3, b'a', b'b', b'c']); // field 89, length 3
    assert!(
        s.scrub("strict", "request", &extra)
            .unwrap_err()
            .contains("unknown_field")
    );
    // Without an allow-list too: the contract never described it, so it
    // goes (`unknown: drop`, the default)...
    assert_eq!(s.scrub("charge", "request", &extra).unwrap(), ok);
    // ...and with `unknown: allow` it stays, unless a detector finds
    // something in any reading of it: its printable bytes, or a number as
    // unsigned, signed, zigzag or floating.
    assert_eq!(s.scrub("loose", "request", &extra).unwrap(), extra);
    let mut carded = ok.clone();
    carded.extend_from_slice(&[0xca, 0x06, 16]);
    carded.extend_from_slice(b"4111111111111111");
    assert!(s.scrub("loose", "request", &carded).is_err());
    let card: u64 = 4_111_111_111_111_111;
    for varint in [card, (card << 1), (card as f64).to_bits()] {
        let mut numbered = ok.clone();
        let (tag, wire) = if varint == (card as f64).to_bits() {
            (0xc9u8, 8)
        } else {
            (0xc8u8, 0)
        };
        numbered.extend_from_slice(&[tag, 0x06]);
        if wire == 8 {
            numbered.extend_from_slice(&varint.to_le_bytes());
        } else {
            let mut v = varint;
            while v >= 0x80 {
                numbered.push((v as u8) | 0x80);
                v >>= 7;
            }
            numbered.push(v as u8);
        }
        assert!(
            s.scrub("loose", "request", &numbered).is_err(),
            "{varint:x}"
        );
    }
    // Truncated, a group, a string that is not UTF-8, a string field sent
    // as a number (one parser refuses it, another reads an unknown field):
    // refused.
    for bad in [
        &ok[..ok.len() - 1],
        &[0x0b, 0x0c][..],
        &[0x22, 2, 0xff, 0xfe][..],
        &[0x22, 1, b'x', 0x20, 7][..],
    ] {
        let e = s.scrub("charge", "request", bad).unwrap_err();
        assert!(
            e.contains("invalid_protobuf") || e.contains("not_utf8") || e.contains("unreadable"),
            "{e}"
        );
    }
}

/// A map whose values are messages: each entry's value is judged at
/// `saved_cards.<key>`; an entry with its value (or key) twice is refused,
/// since one parser merges the two values and another keeps the last.
#[test]
fn map_entries_are_judged_whole_and_never_twice_keyed_or_valued() {
    let s = Setup::new();
    let card = |n: &str| Card {
        number: n.into(),
        holder: "Alice".into(),
        number_digits: 0,
    };
    let req = ChargeRequest {
        saved_cards: [("home".to_owned(), card("4111111111111111"))]
            .into_iter()
            .collect(),
        ..ChargeRequest::default()
    };
    let out = s.scrub("charge", "request", &req.encode_to_vec()).unwrap();
    let got = ChargeRequest::decode(&out[..]).unwrap();
    assert_eq!(got.saved_cards["home"].number, "411111******1111");
    // saved_cards (8) { key "k", value { number "4111…" }, value {} }
    let mut twice = vec![0x42, 0x19, 0x0a, 0x01, b'k', 0x12, 0x12, 0x0a, 0x10];
    twice.extend_from_slice(b"4111111111111111");
    twice.extend_from_slice(&[0x12, 0x00]);
    let e = s.scrub("charge", "request", &twice).unwrap_err();
    assert!(e.contains("invalid_protobuf"), "{e}");
}

#[test]
fn grpc_framing_is_kept_and_compressed_messages_are_refused() {
    let s = Setup::new();
    let policy = s.dir.path("policy.yaml");
    let run = |body: &[u8]| {
        chaperone_cli(
            [
                "scrub",
                "--policy",
                policy.to_str().unwrap(),
                "--hop",
                "charge",
                "--content-type",
                "application/grpc",
            ],
            body,
        )
    };
    let message = reply().encode_to_vec();
    let mut two = Vec::new();
    for _ in 0..2 {
        two.push(0);
        two.extend_from_slice(&(message.len() as u32).to_be_bytes());
        two.extend_from_slice(&message);
    }
    let out = run(&two);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rest = &out.stdout[..out.stdout.len() - 1]; // the CLI's newline
    for _ in 0..2 {
        assert_eq!(rest[0], 0);
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let got = ChargeReply::decode(&rest[5..5 + len]).unwrap();
        assert_eq!(got.card.unwrap().number, "411111******1111");
        rest = &rest[5 + len..];
    }
    assert!(rest.is_empty());
    let mut compressed = two.clone();
    compressed[0] = 1;
    let out = run(&compressed);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compressed"));
    let out = run(&two[..two.len() - 3]);
    assert!(!out.status.success());
}

#[test]
fn a_policy_names_only_message_types_its_descriptors_hold() {
    let s = Setup::new();
    let policy = s.dir.path("bad.yaml");
    for (text, says) in [
        (
            POLICY.replace("chaperone.demo.v1.ChargeReply", "chaperone.demo.v1.Nope"),
            "no message type",
        ),
        (
            POLICY.replace("descriptors: [payments.binpb]", ""),
            "no `descriptors`",
        ),
        (
            POLICY.replace("payments.binpb", "policy.yaml"),
            "not a FileDescriptorSet",
        ),
        // Paths are checked against the message type: a misspelt field
        // would list nothing.
        (
            POLICY.replace(
                "allow: [charge_id, card.number",
                "allow: [charge_id, card.nubmer",
            ),
            "card.nubmer: chaperone.demo.v1.Card has no field \"nubmer\"",
        ),
        (
            POLICY.replace("\"items[*].sku\"", "\"items.sku\""),
            "items: a list; its elements are `items[*]`",
        ),
        (
            POLICY.replace(
                "fields: { receipt_email: email }",
                "fields: { \"receipt_email.x\": email }",
            ),
            "receipt_email: a scalar",
        ),
    ] {
        std::fs::write(&policy, text).unwrap();
        let out = chaperone_cli(["check", policy.to_str().unwrap()], b"");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}

/// A records budget on a gRPC hop counts the elements of a repeated field
/// of the hop's message type (`chaperone scrub --report json` shows the
/// count), and a path that names no repeated field is refused at load.
#[test]
fn a_records_budget_on_a_grpc_hop_counts_a_repeated_field() {
    let s = Setup::new();
    let policy = s.dir.path("policy.yaml");
    let with = |path: &str| {
        POLICY.replace(
            "        unknown: drop\n",
            &format!(
                "        unknown: drop\n    budgets:\n      - {{ name: items, direction: response, count: records, path: \"{path}\", window: 1h, limit: 100, action: block }}\n"
            ),
        )
    };
    std::fs::write(&policy, with("items[*]")).unwrap();
    let (ok, out, err) = s.run(
        "charge",
        "response",
        &["--protobuf", "--report", "json"],
        &reply().encode_to_vec(),
    );
    assert!(ok, "{err}");
    assert_eq!(ChargeReply::decode(&out[..]).unwrap().items.len(), 2);
    let report: Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(report["records"], json!({"items[*]": 2}), "{err}");
    for (path, says) in [
        (
            "[*]",
            "[*]: chaperone.demo.v1.ChargeReply is a message, not a list",
        ),
        ("card[*]", "card[*]: not a list"),
        (
            "nope[*]",
            "nope: chaperone.demo.v1.ChargeReply has no field \"nope\"",
        ),
        ("items[*].sku[*]", "items.sku[*]: not a list"),
    ] {
        std::fs::write(&policy, with(path)).unwrap();
        let out = chaperone_cli(["check", policy.to_str().unwrap()], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{path}");
        assert!(
            err.contains("hops[0] (\"charge\"): budgets[0] (\"items\"): path: ")
                && err.contains(says),
            "{path}: {err}"
        );
    }
}

/// The JSON mapping of a Card, as protobuf's JSON printers write it:
/// lowerCamelCase names, a uint64 as a string, defaults left out.
fn card_json(c: &Card) -> Value {
    let mut m = serde_json::Map::new();
    if !c.number.is_empty() {
        m.insert("number".into(), json!(c.number));
    }
    if !c.holder.is_empty() {
        m.insert("holder".into(), json!(c.holder));
    }
    if c.number_digits != 0 {
        m.insert("numberDigits".into(), json!(c.number_digits.to_string()));
    }
    Value::Object(m)
}

fn request_json(r: &ChargeRequest) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(c) = &r.card {
        m.insert("card".into(), card_json(c));
    }
    if r.amount_cents != 0 {
        m.insert("amountCents".into(), json!(r.amount_cents.to_string()));
    }
    for (k, v) in [("currency", &r.currency), ("note", &r.note)] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if !r.tags.is_empty() {
        m.insert("tags".into(), json!(r.tags));
    }
    if !r.labels.is_empty() {
        m.insert("labels".into(), json!(r.labels));
    }
    if !r.memo.is_empty() {
        let memo = base64::engine::general_purpose::STANDARD.encode(&r.memo);
        m.insert("memo".into(), json!(memo));
    }
    if !r.saved_cards.is_empty() {
        let cards = r
            .saved_cards
            .iter()
            .map(|(k, c)| (k.clone(), card_json(c)))
            .collect();
        m.insert("savedCards".into(), Value::Object(cards));
    }
    Value::Object(m)
}

fn reply_json(r: &ChargeReply) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("chargeId", &r.charge_id),
        ("receiptEmail", &r.receipt_email),
        ("internalTrace", &r.internal_trace),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(c) = &r.card {
        m.insert("card".into(), card_json(c));
    }
    if !r.items.is_empty() {
        let items = r
            .items
            .iter()
            .map(|i| {
                let mut item = serde_json::Map::new();
                if !i.sku.is_empty() {
                    item.insert("sku".into(), json!(i.sku));
                }
                if i.qty != 0 {
                    item.insert("qty".into(), json!(i.qty));
                }
                Value::Object(item)
            })
            .collect();
        m.insert("items".into(), Value::Array(items));
    }
    Value::Object(m)
}

fn canary_request() -> ChargeRequest {
    ChargeRequest {
        card: Some(Card {
            number: "4111111111111111".into(),
            holder: "Alice".into(),
            number_digits: 4_111_111_111_111_111,
        }),
        amount_cents: 1250,
        currency: "EUR".into(),
        note: "card 5555 5555 5555 4444, key AKIAIOSFODNN7EXAMPLE".into(),
        tags: vec!["vip".into(), "4111-1111-1111-1111".into()],
        labels: [
            ("4111111111111111".to_owned(), "as a key".to_owned()),
            ("aws".to_owned(), "AKIAIOSFODNN7EXAMPLE".to_owned()),
            ("ok".to_owned(), "fine".to_owned()),
        ]
        .into_iter()
        .collect(),
        memo: b"memo 4111111111111111".to_vec(),
        saved_cards: [(
            "home".to_owned(),
            Card {
                number: "5555555555554444".into(),
                ..Card::default()
            },
        )]
        .into_iter()
        .collect(),
    }
}

#[test]
fn a_message_in_the_json_mapping_crosses_exactly_as_its_binary_form() {
    let s = Setup::new();
    let (binary, json) = s.both("charge", "request", &canary_request(), request_json);
    assert_eq!(json, binary);
    // And what crossed is scrubbed: cards masked (in a key too), a number
    // holding one removed, secrets dropped, the rest as it was.
    assert_eq!(
        json["card"],
        json!({"number": "411111******1111", "holder": "Alice"})
    );
    assert_eq!(json["amountCents"], "1250");
    assert_eq!(json["savedCards"]["home"]["number"], "555555******4444");
    assert_eq!(json["labels"]["ok"], "fine");
    let text = json.to_string();
    for canary in [
        "4111111111111111",
        "5555 5555 5555 4444",
        "AKIA",
        "1111-1111-1111",
    ] {
        assert!(!text.contains(canary), "{canary}: {text}");
    }
    // A response, under an allow-list and a field action: the hash is the
    // same under the same key.
    let (binary, json) = s.both("charge", "response", &reply(), reply_json);
    assert_eq!(json, binary);
    assert_eq!(json["card"], json!({"number": "411111******1111"}));
    assert_eq!(
        json["items"],
        json!([{"sku": "SKU-1"}, {"sku": "555555******4444"}])
    );
    assert!(json["receiptEmail"].as_str().unwrap().starts_with("h:"));
    assert!(json.get("internalTrace").is_none());
}

#[test]
fn a_refusal_in_the_json_mapping_is_the_refusal_of_the_binary_form() {
    let s = Setup::new();
    let noted = ChargeRequest {
        card: Some(Card {
            number: "x".into(),
            ..Card::default()
        }),
        note: "not on the allow-list".into(),
        ..ChargeRequest::default()
    };
    let (ok, out, binary) = s.run("strict", "request", &["--protobuf"], &noted.encode_to_vec());
    assert!(!ok && out.is_empty());
    let input = request_json(&noted).to_string();
    let (ok, out, json) = s.run(
        "strict",
        "request",
        &["--protobuf", "json"],
        input.as_bytes(),
    );
    assert!(!ok && out.is_empty());
    assert!(json.contains("(unknown_field)"), "{json}");
    assert_eq!(json, binary);
}

#[test]
fn input_that_is_not_the_json_mapping_is_refused_with_where_and_why() {
    let s = Setup::new();
    for (input, says) in [
        (
            r#"{"card": {"nubmer": "4111111111111111"}}"#,
            r#"card: chaperone.demo.v1.Card has no field "nubmer""#,
        ),
        (r#"{"amountCents": "12x"}"#, "amountCents: not an integer"),
        (r#"{"memo": "%%%"}"#, "memo: bytes that are not base64"),
        (
            r#"{"tags": "4111111111111111"}"#,
            "tags: a repeated field is a JSON array",
        ),
        (r#"{"note": "a", "note": "b"}"#, "note: given twice"),
        (r#"{"card": "#, "not JSON"),
    ] {
        let (ok, out, err) = s.run(
            "charge",
            "request",
            &["--protobuf", "json"],
            input.as_bytes(),
        );
        assert!(!ok && out.is_empty(), "{input}");
        assert!(
            err.contains("stdin is not the JSON mapping of a chaperone.demo.v1.ChargeRequest"),
            "{err}"
        );
        assert!(
            err.contains(says) && err.contains("(invalid_json)"),
            "{input}: {err}"
        );
        assert!(
            !err.contains("4111111111111111"),
            "no value in an error: {err}"
        );
    }
    // --report json counts it as any refusal.
    let (ok, _, err) = s.run(
        "charge",
        "request",
        &["--protobuf", "json", "--report", "json"],
        b"[]",
    );
    assert!(!ok);
    let report: Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(report["refused"], json!({"invalid_json": 1}));
}

#[test]
fn descriptor_and_message_flags_name_what_the_message_is() {
    let s = Setup::new();
    let descriptors = s.dir.path("payments.binpb");
    let descriptors = descriptors.to_str().unwrap();
    // Another type, from a descriptor set given on the command line, under
    // the hop's open request contract.
    let entry = br#"{"seq": 3, "card": {"number": "4111111111111111"}, "note": "hi"}"#;
    let args = [
        "--protobuf",
        "json",
        "--descriptor",
        descriptors,
        "--message",
        "chaperone.demo.v1.HistoryEntry",
    ];
    let (ok, out, err) = s.run("charge", "request", &args, entry);
    assert!(ok, "{err}");
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        got,
        json!({"seq": 3, "card": {"number": "411111******1111"}, "note": "hi"})
    );
    // A type the hop's allow-list does not fit, a type the set lacks, a
    // file that is no descriptor set: errors before anything is read.
    let args = ["--protobuf", "--message", "chaperone.demo.v1.HistoryEntry"];
    let (ok, _, err) = s.run("charge", "response", &args, b"");
    assert!(!ok && err.contains("has no field \"charge_id\""), "{err}");
    let args = ["--protobuf", "--message", "chaperone.demo.v1.Nope"];
    let (ok, _, err) = s.run("charge", "request", &args, b"");
    assert!(
        !ok && err.contains("no message type \"chaperone.demo.v1.Nope\""),
        "{err}"
    );
    let policy = s.dir.path("policy.yaml");
    let args = ["--protobuf", "--descriptor", policy.to_str().unwrap()];
    let (ok, _, err) = s.run("charge", "request", &args, b"");
    assert!(!ok && err.contains("not a FileDescriptorSet"), "{err}");
}
