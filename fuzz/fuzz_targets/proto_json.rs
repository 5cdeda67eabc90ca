//! The JSON mapping of protobuf messages (`scrub::proto::json`), on a
//! descriptor set built here: strings, 64-bit integers, bytes, an enum,
//! doubles, packed lists, a map, a oneof, a nested message of the same
//! type, and the well-known types the mapping reads. The first byte picks
//! the direction; the rest is JSON to encode or wire bytes to print.
//!
//! Invariants:
//! - neither direction panics;
//! - what encodes, prints, and what prints encodes to the same bytes
//!   (`encode(print(w)) == w` for every `w` that `encode` wrote);
//! - what prints from any bytes encodes, and prints the same again.

#![no_main]

use std::sync::LazyLock;

use chaperone_core::scrub::proto::Descriptors;
use chaperone_core::scrub::proto::json::{encode, print};
use libfuzzer_sys::fuzz_target;

const TY: &str = "fuzz.Doc";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len(n: u64, b: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    varint(&mut o, n << 3 | 2);
    varint(&mut o, b.len() as u64);
    o.extend_from_slice(b);
    o
}

fn var(n: u64, v: u64) -> Vec<u8> {
    let mut o = Vec::new();
    varint(&mut o, n << 3);
    varint(&mut o, v);
    o
}

/// A FieldDescriptorProto: (name, number, type, type_name, repeated, oneof).
fn field(name: &str, number: u64, kind: u64, ty: &str, repeated: bool, oneof: bool) -> Vec<u8> {
    let mut f = [
        len(1, name.as_bytes()),
        var(3, number),
        var(4, if repeated { 3 } else { 1 }),
        var(5, kind),
    ]
    .concat();
    if !ty.is_empty() {
        f.extend(len(6, ty.as_bytes()));
    }
    if oneof {
        f.extend(var(9, 0));
    }
    len(2, &f)
}

static SET: LazyLock<Descriptors> = LazyLock::new(|| {
    let wk = |name: &str, number, ty: &str| {
        field(
            name,
            number,
            11,
            &format!(".google.protobuf.{ty}"),
            false,
            false,
        )
    };
    let entry = [
        len(1, b"TagsEntry"),
        field("key", 1, 9, "", false, false),
        field("value", 2, 3, "", false, false),
        len(7, &var(7, 1)),
    ]
    .concat();
    let doc = [
        len(1, b"Doc"),
        field("text", 1, 9, "", false, false),
        field("big", 2, 3, "", false, false),
        field("blob", 3, 12, "", false, false),
        field("state", 4, 14, ".fuzz.State", false, false),
        field("ratio", 5, 1, "", false, false),
        field("counts", 6, 17, "", true, false),
        field("tags", 7, 11, ".fuzz.Doc.TagsEntry", true, false),
        field("either_text", 8, 9, "", false, true),
        field("either_flag", 9, 8, "", false, true),
        field("child", 10, 11, ".fuzz.Doc", false, false),
        field("children", 11, 11, ".fuzz.Doc", true, false),
        field("weight", 12, 2, "", false, false),
        field("unsigned", 13, 6, "", false, false),
        wk("at", 20, "Timestamp"),
        wk("took", 21, "Duration"),
        wk("meta", 22, "Struct"),
        wk("value", 23, "Value"),
        wk("wrapped", 24, "UInt64Value"),
        wk("mask", 25, "FieldMask"),
        wk("nothing", 26, "Empty"),
        len(3, &entry),
        len(8, &len(1, b"either")),
    ]
    .concat();
    let state = [
        len(1, b"State"),
        len(2, &[len(1, b"STATE_UNSPECIFIED"), var(2, 0)].concat()),
        len(2, &[len(1, b"STATE_ON"), var(2, 1)].concat()),
    ]
    .concat();
    let file = [
        len(2, b"fuzz"),
        len(4, &doc),
        len(5, &state),
        len(12, b"proto3"),
    ]
    .concat();
    match Descriptors::parse(&len(1, &file)) {
        Ok(set) => set,
        Err(e) => panic!("the target's descriptor set: {e}"),
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let set = &*SET;
    if selector & 1 == 0 {
        let Ok(wire) = encode(rest, set, TY) else {
            return;
        };
        let text =
            print(&wire, set, TY).unwrap_or_else(|e| panic!("encoded but does not print: {e}"));
        let again = encode(text.as_bytes(), set, TY)
            .unwrap_or_else(|e| panic!("printed {text} but it does not encode: {e}"));
        assert_eq!(again, wire, "{text}");
    } else if let Ok(text) = print(rest, set, TY) {
        let wire = encode(text.as_bytes(), set, TY)
            .unwrap_or_else(|e| panic!("printed {text} but it does not encode: {e}"));
        assert_eq!(print(&wire, set, TY).as_deref(), Ok(text.as_str()));
    }
});
