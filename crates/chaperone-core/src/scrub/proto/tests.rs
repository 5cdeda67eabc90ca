//! The descriptor parser and the JSON mapping, on descriptor sets built here
//! field by field (the core has no protobuf compiler): the demo payments
//! types, a message with every kind, enum, map, oneof and well-known type,
//! and a proto2 file.

use super::json::{encode, print};
use super::*;
use serde_json::{Value, json};

fn len(n: u32, b: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    put_len(&mut o, n, b);
    o
}

fn var(n: u32, v: u64) -> Vec<u8> {
    let mut o = Vec::new();
    put_tag(&mut o, n, 0);
    put_varint(&mut o, v);
    o
}

// FieldDescriptorProto.Type
const DOUBLE: u64 = 1;
const FLOAT: u64 = 2;
const INT64: u64 = 3;
const UINT64: u64 = 4;
const INT32: u64 = 5;
const FIXED64: u64 = 6;
const FIXED32: u64 = 7;
const BOOL: u64 = 8;
const STRING: u64 = 9;
const MESSAGE: u64 = 11;
const BYTES: u64 = 12;
const UINT32: u64 = 13;
const ENUM: u64 = 14;
const SFIXED32: u64 = 15;
const SFIXED64: u64 = 16;
const SINT32: u64 = 17;
const SINT64: u64 = 18;

/// A field of a message (`DescriptorProto.field`), singular; `extra` holds
/// more of the FieldDescriptorProto (a label, json_name, oneof_index).
fn field(name: &str, number: u64, kind: u64, type_name: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut f = [len(1, name.as_bytes()), var(3, number), var(5, kind)].concat();
    if !type_name.is_empty() {
        f.extend(len(6, type_name.as_bytes()));
    }
    if !extra.iter().any(|e| e.first() == Some(&0x20)) {
        f.extend(var(4, 1));
    }
    f.extend(extra.concat());
    len(2, &f)
}

fn repeated() -> Vec<u8> {
    var(4, 3)
}

fn json_name(n: &str) -> Vec<u8> {
    len(10, n.as_bytes())
}

fn message(name: &str, body: &[Vec<u8>]) -> Vec<u8> {
    [len(1, name.as_bytes()), body.concat()].concat()
}

/// A map field's entry type, nested in its message.
fn entry(name: &str, key: u64, value: u64, value_type: &str) -> Vec<u8> {
    len(
        3,
        &message(
            name,
            &[
                field("key", 1, key, "", &[]),
                field("value", 2, value, value_type, &[]),
                len(7, &var(7, 1)),
            ],
        ),
    )
}

fn enumeration(name: &str, values: &[(&str, i32)]) -> Vec<u8> {
    let mut e = len(1, name.as_bytes());
    for (v, n) in values {
        e.extend(len(
            2,
            &[len(1, v.as_bytes()), var(2, *n as i64 as u64)].concat(),
        ));
    }
    e
}

fn file(package: &str, syntax: Option<&str>, messages: &[Vec<u8>], enums: &[Vec<u8>]) -> Vec<u8> {
    let mut f = len(2, package.as_bytes());
    for m in messages {
        f.extend(len(4, m));
    }
    for e in enums {
        f.extend(len(5, e));
    }
    if let Some(s) = syntax {
        f.extend(len(12, s.as_bytes()));
    }
    len(1, &f)
}

fn demo_file() -> Vec<u8> {
    let card = ".chaperone.demo.v1.Card";
    file(
        "chaperone.demo.v1",
        Some("proto3"),
        &[
            message(
                "Card",
                &[
                    field("number", 1, STRING, "", &[json_name("number")]),
                    field("holder", 2, STRING, "", &[]),
                    // Without json_name: derived as protoc derives it.
                    field("number_digits", 3, UINT64, "", &[]),
                ],
            ),
            message(
                "ChargeRequest",
                &[
                    field("card", 1, MESSAGE, card, &[]),
                    field("amount_cents", 2, INT64, "", &[json_name("amountCents")]),
                    field("currency", 3, STRING, "", &[]),
                    field("note", 4, STRING, "", &[]),
                    field("tags", 5, STRING, "", &[repeated()]),
                    field(
                        "labels",
                        6,
                        MESSAGE,
                        ".chaperone.demo.v1.ChargeRequest.LabelsEntry",
                        &[repeated()],
                    ),
                    field("memo", 7, BYTES, "", &[]),
                    field(
                        "saved_cards",
                        8,
                        MESSAGE,
                        ".chaperone.demo.v1.ChargeRequest.SavedCardsEntry",
                        &[repeated(), json_name("savedCards")],
                    ),
                    entry("LabelsEntry", STRING, STRING, ""),
                    entry("SavedCardsEntry", STRING, MESSAGE, card),
                ],
            ),
            message(
                "ChargeReply",
                &[
                    field("charge_id", 1, STRING, "", &[]),
                    field("card", 2, MESSAGE, card, &[]),
                    field("receipt_email", 3, STRING, "", &[]),
                    field(
                        "items",
                        4,
                        MESSAGE,
                        ".chaperone.demo.v1.Item",
                        &[repeated()],
                    ),
                    field("internal_trace", 5, STRING, "", &[]),
                ],
            ),
            message(
                "Item",
                &[
                    field("sku", 1, STRING, "", &[]),
                    field("qty", 2, INT32, "", &[]),
                ],
            ),
        ],
        &[],
    )
}

fn kitchen_file() -> Vec<u8> {
    let wk = |name: &str, number: u64, ty: &str| {
        field(
            name,
            number,
            MESSAGE,
            &format!(".google.protobuf.{ty}"),
            &[],
        )
    };
    let status = ".chaperone.test.v1.Status";
    file(
        "chaperone.test.v1",
        Some("proto3"),
        &[message(
            "Kitchen",
            &[
                field("status", 1, ENUM, status, &[]),
                field("statuses", 2, ENUM, status, &[repeated()]),
                field("ratio", 3, DOUBLE, "", &[]),
                field("weight", 4, FLOAT, "", &[]),
                field("flag", 5, BOOL, "", &[]),
                field("small", 6, SINT32, "", &[]),
                field("big", 7, SINT64, "", &[]),
                field("f32", 8, FIXED32, "", &[]),
                field("f64", 9, FIXED64, "", &[]),
                field("sf32", 10, SFIXED32, "", &[]),
                field("sf64", 11, SFIXED64, "", &[]),
                field("u32", 12, UINT32, "", &[]),
                field("i32", 13, INT32, "", &[]),
                field("counts", 14, INT64, "", &[repeated()]),
                field(
                    "by_id",
                    15,
                    MESSAGE,
                    ".chaperone.test.v1.Kitchen.ByIdEntry",
                    &[repeated()],
                ),
                field(
                    "switches",
                    16,
                    MESSAGE,
                    ".chaperone.test.v1.Kitchen.SwitchesEntry",
                    &[repeated()],
                ),
                field("pick_text", 17, STRING, "", &[var(9, 0)]),
                field("pick_number", 18, INT32, "", &[var(9, 0)]),
                field("maybe", 19, INT32, "", &[var(9, 1), var(17, 1)]),
                wk("at", 20, "Timestamp"),
                wk("took", 21, "Duration"),
                wk("i64w", 22, "Int64Value"),
                wk("sw", 23, "StringValue"),
                wk("bw", 24, "BytesValue"),
                wk("bool_w", 25, "BoolValue"),
                wk("dw", 26, "DoubleValue"),
                wk("fw", 27, "FloatValue"),
                wk("u32w", 28, "UInt32Value"),
                wk("i32w", 29, "Int32Value"),
                wk("u64w", 30, "UInt64Value"),
                wk("nothing", 31, "Empty"),
                wk("mask", 32, "FieldMask"),
                wk("meta", 33, "Struct"),
                wk("any", 34, "Any"),
                wk("one_value", 35, "Value"),
                wk("list", 36, "ListValue"),
                field("custom_named", 37, STRING, "", &[json_name("custom")]),
                field("inner", 38, MESSAGE, ".chaperone.test.v1.Kitchen", &[]),
                field("null", 39, ENUM, ".google.protobuf.NullValue", &[]),
                field(
                    "values",
                    40,
                    MESSAGE,
                    ".google.protobuf.Value",
                    &[repeated()],
                ),
                entry("ByIdEntry", INT32, STRING, ""),
                entry("SwitchesEntry", BOOL, INT64, ""),
                len(8, &len(1, b"pick")),
                len(8, &len(1, b"_maybe")),
            ],
        )],
        &[enumeration(
            "Status",
            &[
                ("STATUS_UNSPECIFIED", 0),
                ("STATUS_OPEN", 1),
                ("STATUS_CLOSED", 2),
                ("STATUS_BACKWARDS", -1),
            ],
        )],
    )
}

/// A proto2 file (no `syntax`): every singular field has presence.
fn legacy_file() -> Vec<u8> {
    file(
        "chaperone.test.v2",
        None,
        &[message("Legacy", &[field("n", 1, INT32, "", &[])])],
        &[],
    )
}

fn set() -> Descriptors {
    Descriptors::parse(&[demo_file(), kitchen_file(), legacy_file()].concat()).unwrap()
}

const REQUEST: &str = "chaperone.demo.v1.ChargeRequest";
const KITCHEN: &str = "chaperone.test.v1.Kitchen";

fn encoded(set: &Descriptors, ty: &str, j: &Value) -> Vec<u8> {
    encode(j.to_string().as_bytes(), set, ty).unwrap_or_else(|e| panic!("{e}: {j}"))
}

fn printed(set: &Descriptors, ty: &str, wire: &[u8]) -> Value {
    let text = print(wire, set, ty).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn fails(set: &Descriptors, ty: &str, text: &str) -> String {
    match encode(text.as_bytes(), set, ty) {
        Ok(w) => panic!("{text} was read: {w:?}"),
        Err(e) => e.to_string(),
    }
}

/// Encoded and printed back: the canonical form, and the same bytes again
/// when that form is encoded.
fn round_trip(set: &Descriptors, ty: &str, input: Value, canonical: Value) -> Vec<u8> {
    let wire = encoded(set, ty, &input);
    assert_eq!(printed(set, ty, &wire), canonical, "from {input}");
    assert_eq!(encoded(set, ty, &canonical), wire, "{canonical}");
    wire
}

#[test]
fn descriptors_hold_json_names_enums_oneofs_and_presence() {
    let set = set();
    let card = set.get("chaperone.demo.v1.Card").unwrap();
    let names: Vec<&str> = card.fields.iter().map(|f| f.json_name.as_str()).collect();
    assert_eq!(names, ["number", "holder", "numberDigits"]);
    let k = set.get(KITCHEN).unwrap();
    let by = |n: &str| k.fields.iter().find(|f| f.name == n).unwrap();
    assert_eq!(by("custom_named").json_name, "custom");
    assert_eq!(by("bool_w").json_name, "boolW");
    assert_eq!(
        (by("pick_text").oneof, by("pick_number").oneof),
        (Some(0), Some(0))
    );
    assert!(by("pick_text").presence && by("maybe").presence);
    assert!(!by("i32").presence && !by("status").presence);
    assert!(
        set.get("chaperone.test.v1.Kitchen.ByIdEntry")
            .unwrap()
            .map_entry
    );
    assert!(is_map(&set, by("by_id")) && !is_map(&set, by("statuses")));
    assert_eq!(
        set.enums["chaperone.test.v1.Status"],
        [
            ("STATUS_UNSPECIFIED".to_owned(), 0),
            ("STATUS_OPEN".to_owned(), 1),
            ("STATUS_CLOSED".to_owned(), 2),
            ("STATUS_BACKWARDS".to_owned(), -1),
        ]
    );
    let legacy = set.get("chaperone.test.v2.Legacy").unwrap();
    assert!(
        legacy.fields[0].presence,
        "proto2: singular fields have presence"
    );
    assert_eq!(lower_camel("a_b__c_1d"), "aBC1d");
}

#[test]
fn the_demo_messages_round_trip_through_the_json_mapping() {
    let set = set();
    let wire = round_trip(
        &set,
        REQUEST,
        json!({
            "card": {"number": "4111 1111 1111 1111", "holder": "Alice", "number_digits": 4111111111111111u64},
            "amount_cents": 1250,
            "currency": "EUR",
            "tags": ["vip", "", "4111-1111-1111-1111"],
            "labels": {"ok": "fine", "4111111111111111": "as a key", "": "empty key"},
            "memo": "bWVtbyA0MTExMTExMTExMTExMTExLz8-",
            "saved_cards": {"home": {"number": "5555555555554444"}, "empty": {}},
            "note": ""
        }),
        json!({
            "card": {"number": "4111 1111 1111 1111", "holder": "Alice", "numberDigits": "4111111111111111"},
            "amountCents": "1250",
            "currency": "EUR",
            "tags": ["vip", "", "4111-1111-1111-1111"],
            "labels": {"ok": "fine", "4111111111111111": "as a key", "": "empty key"},
            "memo": "bWVtbyA0MTExMTExMTExMTExMTExLz8+",
            "savedCards": {"home": {"number": "5555555555554444"}, "empty": {}}
        }),
    );
    // The wire format as any encoder writes it: field by field, defaults
    // (the empty note) left out, int64 as a varint.
    let card = [
        len(1, b"4111 1111 1111 1111"),
        len(2, b"Alice"),
        var(3, 4_111_111_111_111_111),
    ]
    .concat();
    assert!(wire.starts_with(&[len(1, &card), var(2, 1250), len(3, b"EUR")].concat()));
    assert!(!wire.windows(2).any(|w| w == [0x22, 0]), "no empty note");

    let reply = "chaperone.demo.v1.ChargeReply";
    round_trip(
        &set,
        reply,
        json!({"chargeId": "ch_1", "items": [{"sku": "SKU-1", "qty": -2}, {}, {"qty": 0}], "card": {}}),
        json!({"chargeId": "ch_1", "card": {}, "items": [{"sku": "SKU-1", "qty": -2}, {}, {}]}),
    );
    // The empty message prints as {}.
    assert_eq!(printed(&set, reply, &[]), json!({}));
}

#[test]
fn input_takes_every_form_the_mapping_allows() {
    let set = set();
    let canonical = encoded(
        &set,
        REQUEST,
        &json!({"amountCents": "-7", "memo": "+/+/", "card": {"numberDigits": "1000"}}),
    );
    for alternative in [
        json!({"amount_cents": -7, "memo": "-_-_", "card": {"number_digits": 1000}}),
        json!({"amountCents": -7.0, "memo": "+/+/", "card": {"numberDigits": 1e3}}),
        json!({"amountCents": "-7", "memo": "-_-_", "card": {"numberDigits": "1e3"}, "note": null, "tags": null}),
    ] {
        assert_eq!(
            encoded(&set, REQUEST, &alternative),
            canonical,
            "{alternative}"
        );
    }
    // Unpadded and padded base64 read the same bytes.
    let a = encoded(&set, REQUEST, &json!({"memo": "YWI"}));
    assert_eq!(a, encoded(&set, REQUEST, &json!({"memo": "YWI="})));
    assert_eq!(a, len(7, b"ab"));
    // Enums by name or number; a number the schema does not name prints
    // as a number.
    let by_name = encoded(&set, KITCHEN, &json!({"status": "STATUS_CLOSED"}));
    assert_eq!(by_name, encoded(&set, KITCHEN, &json!({"status": 2})));
    assert_eq!(by_name, var(1, 2));
    round_trip(&set, KITCHEN, json!({"status": 7}), json!({"status": 7}));
    round_trip(
        &set,
        KITCHEN,
        json!({"status": -1}),
        json!({"status": "STATUS_BACKWARDS"}),
    );
}

#[test]
fn every_kind_round_trips() {
    let set = set();
    round_trip(
        &set,
        KITCHEN,
        json!({
            "statuses": ["STATUS_OPEN", 0, "STATUS_BACKWARDS"],
            "ratio": -2.5e-10, "weight": 0.1, "flag": true,
            "small": -2147483648i64, "big": "-9223372036854775808",
            "f32": 4294967295u64, "f64": "18446744073709551615",
            "sf32": -5, "sf64": "-6", "u32": 7, "i32": -8,
            "counts": ["1", "-1", "9007199254740993"],
            "byId": {"-3": "minus three", "12": "twelve"},
            "switches": {"true": "1", "false": "0"},
            "pickNumber": 0, "maybe": 0,
            "custom": "by its json_name",
            "inner": {"inner": {"flag": true}},
            "null": null, "values": [null, 1, "two", [3], {"four": 4}]
        }),
        json!({
            "statuses": ["STATUS_OPEN", "STATUS_UNSPECIFIED", "STATUS_BACKWARDS"],
            "ratio": -2.5e-10, "weight": 0.1, "flag": true,
            "small": -2147483648i64, "big": "-9223372036854775808",
            "f32": 4294967295u64, "f64": "18446744073709551615",
            "sf32": -5, "sf64": "-6", "u32": 7, "i32": -8,
            "counts": ["1", "-1", "9007199254740993"],
            "byId": {"-3": "minus three", "12": "twelve"},
            "switches": {"true": "1", "false": "0"},
            // Members of a oneof and optional fields have presence: their
            // defaults are written.
            "pickNumber": 0, "maybe": 0,
            "custom": "by its json_name",
            "inner": {"inner": {"flag": true}},
            "values": [null, 1, "two", [3], {"four": 4}]
        }),
    );
    // proto3 defaults are left out; floats that JSON has no number for
    // are strings.
    round_trip(
        &set,
        KITCHEN,
        json!({"ratio": 0, "flag": false, "i32": "0", "counts": [], "byId": {}, "status": "STATUS_UNSPECIFIED"}),
        json!({}),
    );
    round_trip(
        &set,
        KITCHEN,
        json!({"ratio": "NaN", "weight": "-Infinity", "dw": "Infinity", "fw": "1.5"}),
        json!({"ratio": "NaN", "weight": "-Infinity", "dw": "Infinity", "fw": 1.5}),
    );
    // A oneof holds the member set last on the wire.
    let mut both = encoded(&set, KITCHEN, &json!({"pickText": "t"}));
    both.extend(encoded(&set, KITCHEN, &json!({"pickNumber": 3})));
    assert_eq!(printed(&set, KITCHEN, &both), json!({"pickNumber": 3}));
    // A message given twice is merged; a scalar given twice, the last.
    let mut twice = encoded(&set, KITCHEN, &json!({"inner": {"i32": 1}, "u32": 1}));
    twice.extend(encoded(
        &set,
        KITCHEN,
        &json!({"inner": {"flag": true}, "u32": 2}),
    ));
    assert_eq!(
        printed(&set, KITCHEN, &twice),
        json!({"inner": {"i32": 1, "flag": true}, "u32": 2})
    );
    // Unpacked repeated numbers read as packed ones.
    let unpacked = [var(14, 1), var(14, 2)].concat();
    assert_eq!(
        printed(&set, KITCHEN, &unpacked),
        json!({"counts": ["1", "2"]})
    );
}

#[test]
fn well_known_types_have_their_own_json() {
    let set = set();
    let wire = round_trip(
        &set,
        KITCHEN,
        json!({
            "at": "1972-01-01T11:00:20.021+01:00",
            "took": "-0.500s",
            "i64w": 0, "sw": "", "bw": "AAE", "boolW": false,
            "dw": 1.25, "fw": -0.5, "u32w": "4294967295", "i32w": -1, "u64w": 18446744073709551615u64,
            "nothing": {},
            "mask": "user.displayName,photo",
            "meta": {"a": [true, null, {"b": "c"}], "n": -1.5, "empty": {}},
            "oneValue": {"nested": []},
            "list": [1, "x"]
        }),
        json!({
            "at": "1972-01-01T10:00:20.021Z",
            "took": "-0.500s",
            // A wrapper that is there is written, default or not.
            "i64w": "0", "sw": "", "bw": "AAE=", "boolW": false,
            "dw": 1.25, "fw": -0.5, "u32w": 4294967295u64, "i32w": -1, "u64w": "18446744073709551615",
            "nothing": {},
            "mask": "user.displayName,photo",
            "meta": {"a": [true, null, {"b": "c"}], "n": -1.5, "empty": {}},
            "oneValue": {"nested": []},
            "list": [1, "x"]
        }),
    );
    // Timestamp { seconds: 63108020, nanos: 21000000 }, as the type is.
    assert!(wire.starts_with(&len(20, &[var(1, 63_108_020), var(2, 21_000_000)].concat())));
    let mask = len(
        32,
        &[len(1, b"user.display_name"), len(1, b"photo")].concat(),
    );
    assert!(wire.windows(mask.len()).any(|w| w == mask));
    for (given, written) in [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        (
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59.999999999Z",
        ),
        ("2024-02-29T12:00:00.5-00:30", "2024-02-29T12:30:00.500Z"),
        ("1969-12-31T23:59:59.000001Z", "1969-12-31T23:59:59.000001Z"),
    ] {
        round_trip(&set, KITCHEN, json!({"at": given}), json!({"at": written}));
    }
    for (given, written) in [
        ("1s", "1s"),
        ("-3.000000001s", "-3.000000001s"),
        ("0.25s", "0.250s"),
    ] {
        round_trip(
            &set,
            KITCHEN,
            json!({"took": given}),
            json!({"took": written}),
        );
    }
    // A whole message of a well-known type.
    let ts = encoded(
        &set,
        "google.protobuf.Timestamp",
        &json!("1970-01-01T00:00:01Z"),
    );
    assert_eq!(ts, var(1, 1));
    assert_eq!(
        printed(&set, "google.protobuf.Value", &[]),
        Value::Null,
        "a Value with nothing set (a member the contract removed) is null"
    );
}

#[test]
fn what_the_mapping_cannot_hold_is_an_error_never_a_guess() {
    let set = set();
    for (text, says) in [
        (
            "{\"any\": {\"@type\": \"type.googleapis.com/x.Y\"}}",
            "google.protobuf.Any is not read",
        ),
        ("{\"nope\": 1}", "has no field \"nope\""),
        ("{\"4111111111111111\": 1}", "not shown"),
        ("{\"i32\": 1, \"i32\": 2}", "i32: given twice"),
        ("{\"boolW\": true, \"bool_w\": false}", "boolW: given twice"),
        (
            "{\"pickText\": \"a\", \"pickNumber\": 1}",
            "pickNumber: a second member of the same oneof",
        ),
        ("{\"i32\": 2147483648}", "i32: out of range"),
        ("{\"u32\": -1}", "u32: out of range"),
        ("{\"big\": \"9223372036854775808\"}", "big: out of range"),
        ("{\"i32\": 1.5}", "i32: not an integer"),
        (
            "{\"i32\": true}",
            "i32: an integer (a number or a string), not a boolean",
        ),
        ("{\"weight\": 1e39}", "weight: out of range for a float"),
        ("{\"ratio\": \"inf\"}", "ratio: not a number"),
        ("{\"flag\": \"true\"}", "flag: true or false"),
        (
            "{\"status\": \"STATUS_NOPE\"}",
            "status: chaperone.test.v1.Status has no value",
        ),
        ("{\"bw\": \"not base64!\"}", "bw: bytes that are not base64"),
        (
            "{\"at\": \"2023-02-29T00:00:00Z\"}",
            "at: not an RFC 3339 timestamp",
        ),
        ("{\"at\": \"10000-01-01T00:00:00Z\"}", "at: not an RFC 3339"),
        ("{\"at\": \"1970-01-01t00:00:00z\"}", "at: not an RFC 3339"),
        (
            "{\"at\": \"1970-01-01T00:00:00.1234567891Z\"}",
            "at: not an RFC 3339",
        ),
        ("{\"took\": \"315576000001s\"}", "took: not a duration"),
        ("{\"took\": \"1.s\"}", "took: not a duration"),
        (
            "{\"took\": 5}",
            "took: Duration is a JSON string, not a number",
        ),
        ("{\"nothing\": {\"x\": 1}}", "nothing: an Empty is {}"),
        ("{\"mask\": \"user_name\"}", "mask: a field mask's paths"),
        ("{\"counts\": [1, null]}", "counts[1]: null in a list"),
        (
            "{\"counts\": 1}",
            "counts: a repeated field is a JSON array",
        ),
        (
            "{\"byId\": {\"x\": \"a\"}}",
            "byId.*: its key: not an integer",
        ),
        ("{\"switches\": {\"yes\": \"1\"}}", "switches.*: a bool key"),
        ("{\"byId\": {\"1\": null}}", "byId.*: null as a map value"),
        (
            "{\"inner\": [1]}",
            "inner: a chaperone.test.v1.Kitchen is a JSON object, not an array",
        ),
        (
            "[]",
            "a chaperone.test.v1.Kitchen is a JSON object, not an array",
        ),
        ("null", "not null"),
        ("{\"i32\": 1", "not JSON"),
        ("{\"i32\": 1} {}", "not JSON"),
        ("{\"sw\": \"\\ud800\"}", "not JSON"),
    ] {
        let e = fails(&set, KITCHEN, text);
        assert!(e.contains(says), "{text}: {e}");
        assert!(!e.contains("4111111111111111"), "{e}");
    }
    let deep = format!("{}{{}}{}", "{\"inner\":".repeat(70), "}".repeat(70));
    assert!(fails(&set, KITCHEN, &deep).contains("deeper than 64"));
    assert!(fails(&set, "x.Nope", "{}").contains("no message type x.Nope"));
    // A map key given twice: JSON that one parser reads one way and another
    // the other way.
    assert!(
        fails(&set, REQUEST, "{\"labels\": {\"a\": \"1\", \"a\": \"2\"}}")
            .contains("labels.*: a key given twice")
    );
}

#[test]
fn wire_the_mapping_cannot_print_is_an_error() {
    let set = set();
    let print_err = |ty: &str, wire: &[u8]| print(wire, &set, ty).unwrap_err().to_string();
    // A field number the descriptor does not know: the mapping has no
    // place for it.
    assert!(print_err(REQUEST, &len(89, b"abc")).contains("field 89 is not in"));
    // A string sent as a number, a string that is not UTF-8, truncated.
    assert!(print_err(REQUEST, &var(4, 7)).contains("note: a value whose wire type"));
    assert!(print_err(REQUEST, &len(4, &[0xff])).contains("note: a string that is not UTF-8"));
    assert!(print_err(REQUEST, &[0x22, 5, b'a']).contains("not valid protobuf"));
    assert!(print_err(KITCHEN, &len(34, b"")).contains("google.protobuf.Any"));
    let nan = [len(
        35,
        &[vec![0x11], f64::NAN.to_bits().to_le_bytes().to_vec()].concat(),
    )]
    .concat();
    assert!(print_err(KITCHEN, &nan).contains("NaN"));
    let far = len(20, &var(1, 253_402_300_800));
    assert!(print_err(KITCHEN, &far).contains("out of the range"));
    let mixed = len(21, &[var(1, 1), var(2, -1i64 as u64)].concat());
    assert!(print_err(KITCHEN, &mixed).contains("Duration out of the range"));
    let key_twice = len(6, &[len(1, b"a"), len(1, b"b"), len(2, b"c")].concat());
    assert!(print_err(REQUEST, &key_twice).contains("labels: a malformed map entry"));
}

/// Whatever bytes are printed, printing is an answer or an error, and what
/// it prints encodes to a message that prints the same.
#[test]
fn any_bytes_print_or_fail_and_what_prints_reads_back() {
    let set = set();
    let seeds = [
        encoded(
            &set,
            KITCHEN,
            &json!({"i32": 5, "byId": {"1": "a"}, "meta": {"k": [1]}, "at": "2000-01-01T00:00:00Z", "statuses": [1, 2]}),
        ),
        encoded(
            &set,
            REQUEST,
            &json!({"card": {"number": "n"}, "labels": {"a": "b"}, "tags": ["x"]}),
        ),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut printed_some = 0;
    for round in 0..4000 {
        let (ty, seed) = if round % 2 == 0 {
            (KITCHEN, &seeds[0])
        } else {
            (REQUEST, &seeds[1])
        };
        let mut wire = seed.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % wire.len();
            match next() % 3 {
                0 => wire[at] = next() as u8,
                1 => wire.truncate(at),
                _ => wire.insert(at, next() as u8),
            }
            if wire.is_empty() {
                break;
            }
        }
        let Ok(text) = print(&wire, &set, ty) else {
            continue;
        };
        printed_some += 1;
        let again = encode(text.as_bytes(), &set, ty).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(print(&again, &set, ty).unwrap(), text);
    }
    assert!(printed_some > 100, "{printed_some}");
}

/// One class, card numbers, acted on by `action`.
fn cards(action: crate::scrub::class::Action) -> crate::scrub::class::Classes {
    use crate::scrub::class::{Classes, DataClass};
    use crate::scrub::detect::{Detector, DetectorSet};
    Classes::new(vec![DataClass {
        name: "card_number".into(),
        detectors: DetectorSet::empty().with(Detector::Pan),
        action,
    }])
}

/// The JSON mapping is only a way in and out: the message is judged in the
/// wire format, so a card in a string is masked and one in an int64 given
/// as a JSON string is removed, as they would be in the binary message.
#[test]
fn a_message_given_as_json_is_judged_in_the_wire_format() {
    use crate::scrub::class::Action;
    use crate::scrub::detect::DetectorSet;
    let set = set();
    let classes = cards(Action::MaskPan);
    let contract = Contract {
        scan: DetectorSet::all(),
        ..Contract::default()
    };
    let key = HashKey::from_bytes(b"test key");
    let wire = encoded(
        &set,
        REQUEST,
        &json!({"card": {"number": "4111111111111111", "numberDigits": "4111111111111111"}, "amountCents": "1250", "memo": "NDExMTExMTExMTExMTExMQ=="}),
    );
    let (out, findings) = rewrite_message(&wire, &set, REQUEST, &contract, &classes, &key).unwrap();
    let out = out.expect("changed");
    assert_eq!(findings.total(), 3);
    assert_eq!(
        printed(&set, REQUEST, &out),
        json!({"card": {"number": "411111******1111"}, "amountCents": "1250", "memo": "NDExMTExKioqKioqMTExMQ=="})
    );
}

/// A records budget's path over protobuf: the elements of a repeated field
/// that cross, whatever their kind (messages, strings, numbers packed or
/// not), at any depth; an element the contract removes is not counted.
#[test]
fn the_elements_of_repeated_fields_count_as_records() {
    use crate::scrub::class::Action;
    use crate::scrub::contract::{FieldAction, Records};
    use crate::scrub::detect::DetectorSet;
    let set = set();
    let classes = cards(Action::Drop);
    let key = HashKey::from_bytes(b"test key");
    let counting = |paths: &[&str]| {
        let mut records = Records::default();
        for p in paths {
            records.add(p).unwrap();
        }
        Contract {
            scan: DetectorSet::all(),
            records: Some(std::sync::Arc::new(records)),
            ..Contract::default()
        }
    };
    let counts = |c: &Contract, ty: &str, j: Value| {
        let wire = encoded(&set, ty, &j);
        let (_, found) = rewrite_message(&wire, &set, ty, c, &classes, &key).unwrap();
        let n = c.records.as_ref().map_or(0, |r| r.paths.len());
        (0..n).map(|i| found.records(i)).collect::<Vec<_>>()
    };
    let reply = json!({"chargeId": "ch_1", "items": [{"sku": "a"}, {"sku": "b", "qty": 2}, {}]});
    assert_eq!(
        counts(
            &counting(&["items[*]"]),
            "chaperone.demo.v1.ChargeReply",
            reply.clone()
        ),
        [3]
    );
    // Under an allow-list that lets items cross: the same; where items
    // may not cross, none.
    let mut listed = counting(&["items[*]"]);
    listed.allow_path("items[*].sku").unwrap();
    assert_eq!(
        counts(&listed, "chaperone.demo.v1.ChargeReply", reply.clone()),
        [3]
    );
    let mut closed = counting(&["items[*]"]);
    closed.allow_path("charge_id").unwrap();
    assert_eq!(counts(&closed, "chaperone.demo.v1.ChargeReply", reply), [0]);
    // Strings: a tag dropped for the card it holds does not cross.
    let tags = json!({"tags": ["gift", "4111111111111111", "rush"]});
    assert_eq!(counts(&counting(&["tags[*]"]), REQUEST, tags.clone()), [2]);
    let mut dropped = counting(&["tags[*]"]);
    dropped
        .field_action(
            "tags",
            FieldAction {
                action: Action::Drop,
                class: "tags".into(),
            },
        )
        .unwrap();
    assert_eq!(counts(&dropped, REQUEST, tags), [0]);
    // Numbers (packed), enums, and a path through a message.
    let kitchen = json!({
        "counts": ["1", "2", "3"],
        "statuses": ["STATUS_OPEN", "STATUS_CLOSED"],
        "inner": {"counts": ["4", "5"], "statuses": ["STATUS_OPEN"]}
    });
    assert_eq!(
        counts(
            &counting(&["counts[*]", "statuses[*]", "inner.counts[*]"]),
            KITCHEN,
            kitchen
        ),
        [3, 2, 2]
    );
}
