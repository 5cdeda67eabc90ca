//! Protobuf messages under a contract, in the wire format: the contract speaks
//! in the field names of the message's descriptor (`card.number`,
//! `items[*].sku`, a map as an object: `labels.*`), and a message is rewritten
//! field by field, lengths fixed, nothing else re-encoded. gRPC's
//! length-prefixed framing around each message is here too.
//!
//! What a field holds is judged as a JSON value at the same path would be:
//! strings (and bytes that are UTF-8 text) are scanned and acted on; numbers
//! are scanned, and one with a finding or a field action is removed (a number
//! cannot carry a mask; the receiver reads its default); a field the contract
//! does not list follows `unknown`, as does a field the descriptor does not
//! know. Map keys are data and are scanned like JSON keys. Groups, and
//! anything not well formed, are refused.
//!
//! `json` reads and writes a message as its proto3 JSON mapping, with the
//! same descriptors; the message is judged in the wire format all the same.

use std::collections::HashMap;

use super::class::{Applied, Classes, apply_scanned};
use super::contract::{Contract, FieldAction, Node, Unknown};
use super::detect::Context;
use super::text::{TextOutcome, scan_text};
use super::{Findings, ScrubError, number};
use crate::secret::HashKey;

pub mod json;

/// Nesting deeper than this is refused, as in JSON.
const MAX_DEPTH: usize = 64;
/// Largest descriptor set read.
pub const MAX_DESCRIPTOR_BYTES: usize = 4 << 20;

/// The message types of a `FileDescriptorSet` (`protoc --descriptor_set_out`,
/// `buf build`), by full name (`pkg.Message`).
#[derive(Debug, Default)]
pub struct Descriptors {
    messages: HashMap<String, MessageType>,
    /// Enum types by full name: their values' names and numbers.
    enums: HashMap<String, Vec<(String, i32)>>,
}

#[derive(Debug, Default)]
struct MessageType {
    fields: Vec<Field>,
    /// A map's entry type (`map<K, V>`): key 1, value 2.
    map_entry: bool,
}

#[derive(Debug, Clone)]
struct Field {
    number: u32,
    name: String,
    /// Its name in the JSON mapping: the descriptor's `json_name`, or the
    /// name in lowerCamelCase where the descriptor has none.
    json_name: String,
    kind: Kind,
    repeated: bool,
    /// Message and enum fields: the type's full name, without the dot.
    type_name: String,
    /// The oneof it belongs to (a proto3 `optional` field's too).
    oneof: Option<u32>,
    /// Whether a default value that was set is told from one that was not
    /// (`optional`, a oneof's member, every singular field before proto3).
    presence: bool,
}

impl Field {
    /// Whether a value of this wire type fits the field: its kind's, or a
    /// packed list of numbers.
    fn fits(&self, wire: u8) -> bool {
        wire == self.kind.wire() || (wire == 2 && self.repeated && self.kind.scalar_number())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Group,
    Message,
    Bytes,
    Uint32,
    Enum,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
}

impl Kind {
    fn of(n: u64) -> Option<Self> {
        use Kind::*;
        Some(match n {
            1 => Double,
            2 => Float,
            3 => Int64,
            4 => Uint64,
            5 => Int32,
            6 => Fixed64,
            7 => Fixed32,
            8 => Bool,
            9 => String,
            10 => Group,
            11 => Message,
            12 => Bytes,
            13 => Uint32,
            14 => Enum,
            15 => Sfixed32,
            16 => Sfixed64,
            17 => Sint32,
            18 => Sint64,
            _ => return None,
        })
    }

    /// The wire type a value of this kind has (unpacked).
    fn wire(self) -> u8 {
        use Kind::*;
        match self {
            Double | Fixed64 | Sfixed64 => 1,
            Float | Fixed32 | Sfixed32 => 5,
            String | Message | Bytes => 2,
            Group => 3,
            _ => 0,
        }
    }

    fn scalar_number(self) -> bool {
        !matches!(
            self,
            Kind::String | Kind::Bytes | Kind::Message | Kind::Group
        )
    }
}

/// Reads the wire format: varints, tags, lengths, all bounded.
struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn bad(&self) -> ScrubError {
        ScrubError::InvalidProtobuf { offset: self.pos }
    }

    fn varint(&mut self) -> Result<u64, ScrubError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.bad())?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.bad());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ScrubError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.bad())?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.bad())?;
        self.pos = end;
        Ok(s)
    }

    /// A field's tag: its number and wire type.
    fn tag(&mut self) -> Result<(u32, u8), ScrubError> {
        let t = self.varint()?;
        let number = u32::try_from(t >> 3).map_err(|_| self.bad())?;
        if number == 0 {
            return Err(self.bad());
        }
        Ok((number, (t & 7) as u8))
    }

    /// The raw value of a field of `wire` type.
    fn value(&mut self, wire: u8) -> Result<Raw<'a>, ScrubError> {
        Ok(match wire {
            0 => Raw::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Raw::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| self.bad())?))
            }
            5 => {
                let b = self.take(4)?;
                Raw::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| self.bad())?))
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| self.bad())?;
                Raw::Len(self.take(n)?)
            }
            // Groups (3, 4) and wire types 6, 7: refused.
            _ => return Err(self.bad()),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, number: u32, wire: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_len(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(out, number, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Writes a value as it was read, under field `number`.
fn put_raw(out: &mut Vec<u8>, number: u32, raw: Raw<'_>) {
    match raw {
        Raw::Varint(v) => {
            put_tag(out, number, 0);
            put_varint(out, v);
        }
        Raw::Fixed64(v) => {
            put_tag(out, number, 1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Raw::Fixed32(v) => {
            put_tag(out, number, 5);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Raw::Len(b) => put_len(out, number, b),
    }
}

impl Descriptors {
    /// Reads a serialized `FileDescriptorSet`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_DESCRIPTOR_BYTES {
            return Err(format!("larger than {MAX_DESCRIPTOR_BYTES} bytes"));
        }
        let bad = |e: ScrubError| format!("not a FileDescriptorSet ({e})");
        let mut set = Descriptors::default();
        let mut w = Wire::new(bytes);
        while !w.done() {
            let (n, wire) = w.tag().map_err(bad)?;
            let v = w.value(wire).map_err(bad)?;
            if let (1, Raw::Len(file)) = (n, v) {
                set.file(file).map_err(bad)?;
            }
        }
        if set.messages.is_empty() {
            return Err("holds no message type".into());
        }
        Ok(set)
    }

    fn file(&mut self, bytes: &[u8]) -> Result<(), ScrubError> {
        let mut package = String::new();
        let mut messages = Vec::new();
        let mut enums = Vec::new();
        // Without `syntax`, a file is proto2.
        let mut proto3 = false;
        let mut w = Wire::new(bytes);
        while !w.done() {
            let (n, wire) = w.tag()?;
            match (n, w.value(wire)?) {
                (2, Raw::Len(p)) => package = text(p)?.to_owned(),
                (4, Raw::Len(m)) => messages.push(m),
                (5, Raw::Len(e)) => enums.push(e),
                (12, Raw::Len(s)) => proto3 = s == b"proto3",
                _ => {}
            }
        }
        for e in enums {
            self.enumeration(&package, e)?;
        }
        for m in messages {
            self.message(&package, m, proto3)?;
        }
        Ok(())
    }

    fn message(&mut self, scope: &str, bytes: &[u8], proto3: bool) -> Result<(), ScrubError> {
        let mut name = "";
        let mut ty = MessageType::default();
        let mut nested = Vec::new();
        let mut enums = Vec::new();
        let mut w = Wire::new(bytes);
        while !w.done() {
            let (n, wire) = w.tag()?;
            match (n, w.value(wire)?) {
                (1, Raw::Len(s)) => name = text(s)?,
                (2, Raw::Len(f)) => ty.fields.push(field(f, proto3)?),
                (3, Raw::Len(m)) => nested.push(m),
                (4, Raw::Len(e)) => enums.push(e),
                (7, Raw::Len(options)) => ty.map_entry = map_entry(options)?,
                _ => {}
            }
        }
        let full = scoped(scope, name);
        for m in nested {
            self.message(&full, m, proto3)?;
        }
        for e in enums {
            self.enumeration(&full, e)?;
        }
        ty.fields.sort_by_key(|f| f.number);
        self.messages.insert(full, ty);
        Ok(())
    }

    /// An `EnumDescriptorProto`: its values' names and numbers.
    fn enumeration(&mut self, scope: &str, bytes: &[u8]) -> Result<(), ScrubError> {
        let mut name = "";
        let mut values = Vec::new();
        let mut w = Wire::new(bytes);
        while !w.done() {
            let (n, wire) = w.tag()?;
            match (n, w.value(wire)?) {
                (1, Raw::Len(s)) => name = text(s)?,
                (2, Raw::Len(v)) => values.push(enum_value(v)?),
                _ => {}
            }
        }
        self.enums.insert(scoped(scope, name), values);
        Ok(())
    }

    /// Adds another set's types (a later file's win).
    pub fn merge(&mut self, other: Descriptors) {
        self.messages.extend(other.messages);
        self.enums.extend(other.enums);
    }

    /// Whether the set holds a message type of this full name.
    pub fn has(&self, name: &str) -> bool {
        self.messages.contains_key(name.trim_start_matches('.'))
    }

    fn get(&self, name: &str) -> Option<&MessageType> {
        self.messages.get(name.trim_start_matches('.'))
    }
}

impl Descriptors {
    /// Whether every path of an allow-list or field action under `root`
    /// names fields the message type `ty` has (a misspelt path would list
    /// nothing: its field dropped, its action never applied). `*` stands
    /// for any field, a map's `*` or key for its entries; `[*]` only
    /// follows a repeated field.
    pub fn check_paths(&self, ty: &str, root: &Node) -> Result<(), String> {
        self.check_node(ty, root, "", 0)
    }

    fn check_node(&self, ty: &str, node: &Node, at: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let desc = self
            .get(ty)
            .ok_or_else(|| format!("no message type {ty:?}"))?;
        if node.elements.is_some() {
            return Err(format!("{at}[*]: {ty} is a message, not a list"));
        }
        for (name, child) in &node.keys {
            let path = if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            };
            let field = desc
                .fields
                .iter()
                .find(|f| *f.name == **name)
                .ok_or_else(|| format!("{path}: {ty} has no field {name:?}"))?;
            self.check_field(field, child, &path, depth)?;
        }
        if let Some(any) = &node.any_key {
            for field in &desc.fields {
                self.check_field(field, any, &format!("{at}.*"), depth)?;
            }
        }
        Ok(())
    }

    /// What a path below `field` may name: a map's entries, a list's
    /// elements, a message's fields; nothing below a scalar.
    fn check_field(
        &self,
        field: &Field,
        node: &Node,
        path: &str,
        depth: usize,
    ) -> Result<(), String> {
        let below_scalar =
            |n: &Node| !n.keys.is_empty() || n.any_key.is_some() || n.elements.is_some();
        if is_map(self, field) {
            let value = self
                .get(&field.type_name)
                .and_then(|e| e.fields.iter().find(|f| f.number == 2))
                .ok_or_else(|| format!("{path}: a map without a value"))?;
            if node.elements.is_some() {
                return Err(format!(
                    "{path}[*]: a map's entries are named by key (`{path}.*`)"
                ));
            }
            for entry in node
                .keys
                .iter()
                .map(|(_, n)| n)
                .chain(node.any_key.as_deref())
            {
                self.check_value(value, entry, &format!("{path}.*"), depth)?;
            }
            return Ok(());
        }
        let element = if field.repeated {
            if !node.keys.is_empty() || node.any_key.is_some() {
                return Err(format!("{path}: a list; its elements are `{path}[*]`"));
            }
            match node.elements.as_deref() {
                Some(e) => e,
                None => return Ok(()),
            }
        } else if node.elements.is_some() {
            return Err(format!("{path}[*]: not a list"));
        } else {
            node
        };
        match field.kind {
            Kind::Message => self.check_node(&field.type_name, element, path, depth + 1),
            _ if below_scalar(element) => Err(format!("{path}: a scalar, with no fields below it")),
            _ => Ok(()),
        }
    }

    fn check_value(
        &self,
        value: &Field,
        node: &Node,
        path: &str,
        depth: usize,
    ) -> Result<(), String> {
        match value.kind {
            Kind::Message => self.check_node(&value.type_name, node, path, depth + 1),
            _ if !node.keys.is_empty() || node.any_key.is_some() || node.elements.is_some() => {
                Err(format!("{path}: a scalar, with no fields below it"))
            }
            _ => Ok(()),
        }
    }
}

fn text(b: &[u8]) -> Result<&str, ScrubError> {
    std::str::from_utf8(b).map_err(|_| ScrubError::InvalidProtobuf { offset: 0 })
}

/// An `EnumValueDescriptorProto`: a name and its number.
fn enum_value(bytes: &[u8]) -> Result<(String, i32), ScrubError> {
    let (mut name, mut number) = (String::new(), 0);
    let mut w = Wire::new(bytes);
    while !w.done() {
        let (n, wire) = w.tag()?;
        match (n, w.value(wire)?) {
            (1, Raw::Len(s)) => name = text(s)?.to_owned(),
            // An int32, sign-extended on the wire.
            (2, Raw::Varint(v)) => number = v as i32,
            _ => {}
        }
    }
    Ok((name, number))
}

fn scoped(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// A `FieldDescriptorProto`, in a file of `proto3` syntax or not.
fn field(bytes: &[u8], proto3: bool) -> Result<Field, ScrubError> {
    let mut f = Field {
        number: 0,
        name: String::new(),
        json_name: String::new(),
        kind: Kind::Bytes,
        repeated: false,
        type_name: String::new(),
        oneof: None,
        presence: !proto3,
    };
    let mut w = Wire::new(bytes);
    while !w.done() {
        let (n, wire) = w.tag()?;
        match (n, w.value(wire)?) {
            (1, Raw::Len(s)) => f.name = text(s)?.to_owned(),
            (3, Raw::Varint(v)) => f.number = u32::try_from(v).unwrap_or(0),
            (4, Raw::Varint(v)) => f.repeated = v == 3,
            (5, Raw::Varint(v)) => f.kind = Kind::of(v).ok_or(w.bad())?,
            (6, Raw::Len(s)) => f.type_name = text(s)?.trim_start_matches('.').to_owned(),
            (9, Raw::Varint(v)) => f.oneof = u32::try_from(v).ok(),
            (10, Raw::Len(s)) => f.json_name = text(s)?.to_owned(),
            (17, Raw::Varint(v)) => f.presence |= v != 0,
            _ => {}
        }
    }
    f.presence |= f.oneof.is_some();
    if f.json_name.is_empty() {
        f.json_name = lower_camel(&f.name);
    }
    Ok(f)
}

/// A field's default JSON name, as protoc derives it: each `_` dropped and
/// the letter after it upper-cased.
fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn map_entry(options: &[u8]) -> Result<bool, ScrubError> {
    let mut w = Wire::new(options);
    let mut entry = false;
    while !w.done() {
        let (n, wire) = w.tag()?;
        if let (7, Raw::Varint(v)) = (n, w.value(wire)?) {
            entry = v != 0;
        }
    }
    Ok(entry)
}

/// Where the walk is in the contract, and in its records trie, as in JSON.
#[derive(Clone, Copy)]
struct At<'c> {
    node: Option<&'c Node>,
    open: bool,
    rec: Option<&'c Node>,
}

struct Rewriter<'a> {
    set: &'a Descriptors,
    contract: &'a Contract,
    classes: &'a Classes,
    key: &'a HashKey,
    findings: Findings,
    changed: bool,
}

/// Rewrites one message of type `ty` under `contract`. Returns the new bytes,
/// or `None` when nothing changed.
pub fn rewrite_message(
    input: &[u8],
    set: &Descriptors,
    ty: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<(Option<Vec<u8>>, Findings), ScrubError> {
    let mut r = Rewriter {
        set,
        contract,
        classes,
        key,
        findings: Findings::new(classes.len()),
        changed: false,
    };
    let root = At {
        node: Some(contract.root()),
        open: contract.allow.is_none(),
        rec: contract.records.as_deref().map(|r| &r.root),
    };
    let out = r.message(input, ty, root, None, 0)?;
    let findings = r.findings;
    Ok((r.changed.then_some(out), findings))
}

impl<'a> Rewriter<'a> {
    fn message(
        &mut self,
        input: &[u8],
        ty: &str,
        at: At<'a>,
        action: Option<&'a FieldAction>,
        depth: usize,
    ) -> Result<Vec<u8>, ScrubError> {
        if depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        let set = self.set;
        let desc = set.get(ty).ok_or(ScrubError::Internal)?;
        let mut out = Vec::with_capacity(input.len());
        let mut w = Wire::new(input);
        while !w.done() {
            let start = w.pos;
            let (number, wire) = w.tag()?;
            let raw = w.value(wire)?;
            let whole = &input[start..w.pos];
            let known = desc
                .fields
                .binary_search_by_key(&number, |f| f.number)
                .ok()
                .map(|i| &desc.fields[i]);
            let Some(field) = known else {
                self.unknown(whole, raw, &mut out)?;
                continue;
            };
            // A value whose wire type does not fit its field: one parser
            // refuses the message, another reads an unknown field. Refused.
            if !field.fits(wire) {
                return Err(ScrubError::InvalidProtobuf { offset: start });
            }
            let child = at.node.and_then(|n| n.child(&field.name));
            let field_action = action.or(child.and_then(|c| c.action.as_ref()));
            let open = at.open || child.is_some_and(|c| c.allow_subtree);
            let rec = at.rec.and_then(|n| n.child(&field.name));
            let Some(node_at) = self.admit(child, open, rec)? else {
                self.changed = true;
                continue;
            };
            let element_at = if field.repeated && !is_map(set, field) {
                let elements = node_at.node.and_then(|n| n.elements.as_deref());
                At {
                    node: elements,
                    open: node_at.open || elements.is_some_and(|n| n.allow_subtree),
                    rec: node_at.rec.and_then(|n| n.elements.as_deref()),
                }
            } else {
                node_at
            };
            // A scalar crosses where it is listed itself (or below a listed
            // field) or has an action; a path through it (`card.number` on
            // a string `card`) lists nothing it holds.
            let leaf = |a: At<'_>| {
                a.open
                    || a.node
                        .is_some_and(|n| n.allow_subtree || n.action.is_some())
            };
            if field.kind != Kind::Message
                && !leaf(element_at)
                && !leaf(node_at)
                && self.admit(None, false, None)?.is_none()
            {
                self.changed = true;
                continue;
            }
            let element_action = field_action.or(element_at
                .node
                .filter(|_| field.repeated)
                .and_then(|n| n.action.as_ref()));
            match raw {
                Raw::Len(bytes) if field.kind.scalar_number() => {
                    // Packed repeated numbers.
                    self.packed(
                        field,
                        bytes,
                        whole,
                        element_at.rec,
                        element_action,
                        &mut out,
                    )?;
                }
                Raw::Len(bytes) if field.kind == Kind::Message && is_map(set, field) => {
                    self.map_entry(field, bytes, whole, node_at, field_action, depth, &mut out)?;
                }
                Raw::Len(bytes) if field.kind == Kind::Message => {
                    if !self.message_stays(element_action)? {
                        continue;
                    }
                    self.count_record(element_at.rec);
                    let before = self.changed;
                    self.changed = false;
                    let inner = self.message(
                        bytes,
                        &field.type_name,
                        element_at,
                        element_action,
                        depth + 1,
                    )?;
                    if self.changed {
                        put_len(&mut out, number, &inner);
                    } else {
                        out.extend_from_slice(whole);
                    }
                    self.changed |= before;
                }
                Raw::Len(bytes) => match self.string(field, bytes, element_action)? {
                    None => {
                        self.count_record(element_at.rec);
                        out.extend_from_slice(whole);
                    }
                    Some(Some(new)) => {
                        self.count_record(element_at.rec);
                        put_len(&mut out, number, new.as_bytes());
                    }
                    Some(None) => {}
                },
                _ => {
                    if self.number(field, raw, element_action)? {
                        self.count_record(element_at.rec);
                        out.extend_from_slice(whole);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A value that crosses at `rec` in the records trie: one record of
    /// each path whose records stand there (the elements of a repeated
    /// field it names).
    fn count_record(&mut self, rec: Option<&Node>) {
        for &r in rec.map_or(&[][..], |n| &n.records) {
            self.findings.add_record(r);
        }
    }

    /// Whether a message value stays under a field action aimed at it
    /// whole: `drop` and `redact` remove it (a message cannot hold a
    /// placeholder), `block` refuses; a mask or a hash applies to each
    /// scalar inside.
    fn message_stays(&mut self, action: Option<&FieldAction>) -> Result<bool, ScrubError> {
        match action.map(|fa| (fa.action, fa)) {
            Some((super::class::Action::Block, fa)) => Err(ScrubError::Blocked {
                class: fa.class.clone(),
            }),
            Some((super::class::Action::Drop | super::class::Action::Redact, _)) => {
                self.changed = true;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Where a field stands: allowed, or `None` to drop it; `Err` when the
    /// contract rejects unknown fields.
    fn admit(
        &self,
        node: Option<&'a Node>,
        open: bool,
        rec: Option<&'a Node>,
    ) -> Result<Option<At<'a>>, ScrubError> {
        if open || node.is_some() {
            return Ok(Some(At { node, open, rec }));
        }
        match self.contract.unknown {
            Unknown::Drop => Ok(None),
            Unknown::Reject => Err(ScrubError::UnknownField),
            Unknown::Allow => Ok(Some(At {
                node: None,
                open: true,
                rec,
            })),
        }
    }

    /// A field the descriptor does not know: what the contract never
    /// described. Dropped or refused as `unknown` says; with `unknown:
    /// allow`, kept if nothing is found in it (a receiver with a newer
    /// schema reads it).
    fn unknown(&mut self, whole: &[u8], raw: Raw<'_>, out: &mut Vec<u8>) -> Result<(), ScrubError> {
        if self.contract.unknown != Unknown::Allow {
            return match self.contract.unknown {
                Unknown::Reject => Err(ScrubError::UnknownField),
                _ => {
                    self.changed = true;
                    Ok(())
                }
            };
        }
        // Kept as it is: its bytes cannot be rewritten without knowing
        // them, so anything a detector finds in them refuses the message.
        // Every reading a receiver's type could give it: the printable
        // bytes, or a number as unsigned, signed, zigzag or floating.
        let printable = match raw {
            Raw::Len(b) => b
                .iter()
                .filter(|&&b| (0x20..0x7F).contains(&b))
                .map(|&b| char::from(b))
                .collect::<String>(),
            Raw::Varint(_) => [Kind::Uint64, Kind::Int64, Kind::Sint64]
                .map(|k| decimal(k, raw))
                .join(" "),
            Raw::Fixed64(_) => [Kind::Fixed64, Kind::Sfixed64, Kind::Double]
                .map(|k| decimal(k, raw))
                .join(" "),
            Raw::Fixed32(_) => [Kind::Fixed32, Kind::Sfixed32, Kind::Float]
                .map(|k| decimal(k, raw))
                .join(" "),
        };
        let mut findings = Findings::new(self.classes.len());
        match scan_text(
            &printable,
            self.contract.scan,
            Context::default(),
            self.classes,
            self.key,
            &mut findings,
        )? {
            TextOutcome::Unchanged => {
                out.extend_from_slice(whole);
                Ok(())
            }
            _ => {
                let class = findings
                    .by_class(self.classes)
                    .first()
                    .map(|(c, _)| (*c).to_owned())
                    .unwrap_or_default();
                Err(ScrubError::Unreadable { class })
            }
        }
    }

    /// A string (or bytes) value: `None` unchanged, `Some(None)` dropped,
    /// `Some(Some(text))` rewritten.
    fn string(
        &mut self,
        field: &Field,
        bytes: &[u8],
        action: Option<&FieldAction>,
    ) -> Result<Option<Option<String>>, ScrubError> {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            // A string must be UTF-8; bytes that are not text are judged
            // by what a detector finds in their printable reading.
            Err(_) if field.kind == Kind::String => return Err(ScrubError::NotUtf8),
            Err(_) => {
                if let Some(fa) = action {
                    return self.apply(fa, "");
                }
                let printable: String = bytes
                    .iter()
                    .filter(|&&b| (0x20..0x7F).contains(&b))
                    .map(|&b| char::from(b))
                    .collect();
                let mut findings = Findings::new(self.classes.len());
                return match scan_text(
                    &printable,
                    self.contract.scan,
                    Context::of_key(Some(&field.name)),
                    self.classes,
                    self.key,
                    &mut findings,
                )? {
                    TextOutcome::Unchanged => Ok(None),
                    _ => {
                        self.findings.merge(&findings);
                        self.changed = true;
                        Ok(Some(None))
                    }
                };
            }
        };
        if let Some(fa) = action {
            return self.apply(fa, text);
        }
        let crossing = scan_text(
            text,
            self.contract.scan,
            Context::of_key(Some(&field.name)),
            self.classes,
            self.key,
            &mut self.findings,
        )?
        .crossing();
        self.changed |= crossing.is_some();
        Ok(crossing)
    }

    /// What a field action makes of one value, as text.
    fn apply(
        &mut self,
        fa: &FieldAction,
        value: &str,
    ) -> Result<Option<Option<String>>, ScrubError> {
        self.changed = true;
        match apply_scanned(fa.action, &fa.class, value, self.key, self.contract.scan) {
            Applied::Replace(s) => Ok(Some(Some(s))),
            Applied::Drop => Ok(Some(None)),
            Applied::Block => Err(ScrubError::Blocked {
                class: fa.class.clone(),
            }),
        }
    }

    /// A number: whether it stays. One a field action is aimed at, or in
    /// which a detector finds something, is removed (a `block` refuses).
    fn number(
        &mut self,
        field: &Field,
        raw: Raw<'_>,
        action: Option<&FieldAction>,
    ) -> Result<bool, ScrubError> {
        let decimal = decimal(field.kind, raw);
        if let Some(fa) = action {
            if fa.action == super::class::Action::Block {
                return Err(ScrubError::Blocked {
                    class: fa.class.clone(),
                });
            }
            self.changed = true;
            return Ok(false);
        }
        if self.contract.scan.is_empty() || decimal.trim_start_matches('-').len() < 6 {
            return Ok(true);
        }
        for integer in number::integers(&decimal).iter() {
            let mut findings = Findings::new(self.classes.len());
            let outcome = scan_text(
                integer,
                self.contract.scan,
                Context::of_key(Some(&field.name)),
                self.classes,
                self.key,
                &mut findings,
            )?;
            if outcome != TextOutcome::Unchanged {
                self.findings.merge(&findings);
                self.changed = true;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Packed repeated numbers: each judged (and counted at `rec` when it
    /// stays); the list rewritten without the ones removed.
    fn packed(
        &mut self,
        field: &Field,
        bytes: &[u8],
        whole: &[u8],
        rec: Option<&Node>,
        action: Option<&FieldAction>,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let mut w = Wire::new(bytes);
        let mut kept = Vec::with_capacity(bytes.len());
        let mut dropped = false;
        while !w.done() {
            let start = w.pos;
            let raw = w.value(field.kind.wire())?;
            if self.number(field, raw, action)? {
                self.count_record(rec);
                kept.extend_from_slice(&bytes[start..w.pos]);
            } else {
                dropped = true;
            }
        }
        if !dropped {
            out.extend_from_slice(whole);
        } else if !kept.is_empty() {
            put_len(out, field.number, &kept);
        }
        Ok(())
    }

    /// One entry of a map field, read as a member of an object: its key is
    /// scanned like a JSON key, its value judged at `field.<key>`.
    #[allow(clippy::too_many_arguments)]
    fn map_entry(
        &mut self,
        field: &Field,
        bytes: &[u8],
        whole: &[u8],
        at: At<'a>,
        action: Option<&'a FieldAction>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let set = self.set;
        let entry = set.get(&field.type_name).ok_or(ScrubError::Internal)?;
        let key_field = entry.fields.iter().find(|f| f.number == 1);
        let value_field = entry.fields.iter().find(|f| f.number == 2);
        let (Some(key_field), Some(value_field)) = (key_field, value_field) else {
            return Err(ScrubError::Internal);
        };
        let mut key_raw = None;
        let mut value_raw = None;
        let mut w = Wire::new(bytes);
        while !w.done() {
            let (n, wire) = w.tag()?;
            let raw = w.value(wire)?;
            // A key or value given twice is merged by one parser (a message
            // value) and replaced by another; anything else in an entry is
            // read differently too. Refused.
            match n {
                1 if wire == key_field.kind.wire() && key_raw.is_none() => key_raw = Some(raw),
                2 if wire == value_field.kind.wire() && value_raw.is_none() => {
                    value_raw = Some(raw)
                }
                _ => return Err(w.bad()),
            }
        }
        let before = self.changed;
        self.changed = false;
        // The key: text keys scanned, numbers judged as numbers.
        let key_text = match key_raw {
            Some(Raw::Len(b)) => text(b).map_err(|_| ScrubError::NotUtf8)?.to_owned(),
            Some(raw) => decimal(key_field.kind, raw),
            None => String::new(),
        };
        let mut new_key: Option<String> = None;
        if matches!(key_raw, Some(Raw::Len(_))) {
            match scan_text(
                &key_text,
                self.contract.scan,
                Context::default(),
                self.classes,
                self.key,
                &mut self.findings,
            )?
            .crossing()
            {
                None => {}
                Some(Some(s)) => {
                    self.changed = true;
                    new_key = Some(s);
                }
                Some(None) => {
                    self.changed = true;
                    return Ok(());
                }
            }
        } else if let Some(raw) = key_raw
            && !self.number(key_field, raw, None)?
        {
            self.changed |= before;
            return Ok(());
        }
        let child = at.node.and_then(|n| n.child(&key_text));
        let open = at.open || child.is_some_and(|c| c.allow_subtree);
        let rec = at.rec.and_then(|n| n.child(&key_text));
        let Some(value_at) = self.admit(child, open, rec)? else {
            self.changed = true;
            return Ok(());
        };
        let value_action = action.or(child.and_then(|c| c.action.as_ref()));
        let mut entry_out = Vec::new();
        match (new_key.as_deref(), key_raw) {
            (Some(k), _) => put_len(&mut entry_out, 1, k.as_bytes()),
            (None, Some(raw)) => put_raw(&mut entry_out, 1, raw),
            (None, None) => {}
        }
        let mut keep = true;
        match value_raw {
            None => {}
            Some(Raw::Len(b)) if value_field.kind == Kind::Message => {
                keep = self.message_stays(value_action)?;
                if keep {
                    let inner =
                        self.message(b, &value_field.type_name, value_at, value_action, depth + 1)?;
                    put_len(&mut entry_out, 2, &inner);
                }
            }
            Some(Raw::Len(b)) => match self.string(value_field, b, value_action)? {
                None => put_len(&mut entry_out, 2, b),
                Some(Some(s)) => put_len(&mut entry_out, 2, s.as_bytes()),
                Some(None) => keep = false,
            },
            Some(raw) => {
                keep = self.number(value_field, raw, value_action)?;
                if keep {
                    put_raw(&mut entry_out, 2, raw);
                }
            }
        }
        if !keep {
            self.changed = true;
        } else if self.changed {
            put_len(out, field.number, &entry_out);
        } else {
            out.extend_from_slice(whole);
        }
        self.changed |= before;
        Ok(())
    }
}

fn is_map(set: &Descriptors, field: &Field) -> bool {
    field.repeated
        && field.kind == Kind::Message
        && set.get(&field.type_name).is_some_and(|t| t.map_entry)
}

/// A number's value as its type reads it, in decimal.
fn decimal(kind: Kind, raw: Raw<'_>) -> String {
    match (kind, raw) {
        (Kind::Int64 | Kind::Int32 | Kind::Enum, Raw::Varint(v)) => (v as i64).to_string(),
        (Kind::Sint32 | Kind::Sint64, Raw::Varint(v)) => {
            (((v >> 1) as i64) ^ -((v & 1) as i64)).to_string()
        }
        (Kind::Sfixed64, Raw::Fixed64(v)) => (v as i64).to_string(),
        (Kind::Double, Raw::Fixed64(v)) => format!("{}", f64::from_bits(v)),
        (Kind::Sfixed32, Raw::Fixed32(v)) => (v as i32).to_string(),
        (Kind::Float, Raw::Fixed32(v)) => format!("{}", f32::from_bits(v)),
        (_, Raw::Varint(v) | Raw::Fixed64(v)) => v.to_string(),
        (_, Raw::Fixed32(v)) => v.to_string(),
        (_, Raw::Len(_)) => String::new(),
    }
}

/// gRPC's framing: each message behind a compressed flag and a 4-byte
/// length. The message `(flag, bytes)` at the start of `buf`, and the bytes
/// it took; `None` when it is not complete yet.
pub fn frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let head: [u8; 5] = buf.get(..5)?.try_into().ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let end = 5usize.checked_add(len)?;
    Some((head[0], buf.get(5..end)?, end))
}

/// The declared length of the frame at the start of `buf`, once its header
/// is complete.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let head = buf.get(..5)?;
    Some(u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize)
}

/// Writes one uncompressed gRPC frame.
pub fn put_frame(out: &mut Vec<u8>, message: &[u8]) {
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
}

/// A whole gRPC body (every message of it) under the contract; compressed
/// messages and a body that ends inside a frame are refused.
pub fn rewrite_grpc(
    body: &[u8],
    set: &Descriptors,
    ty: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<(Option<Vec<u8>>, Findings), ScrubError> {
    let mut findings = Findings::new(classes.len());
    let mut out = Vec::with_capacity(body.len());
    let mut changed = false;
    let mut rest = body;
    while !rest.is_empty() {
        let (flag, message, used) = frame(rest).ok_or(ScrubError::InvalidProtobuf {
            offset: body.len() - rest.len(),
        })?;
        if flag != 0 {
            return Err(ScrubError::Encoded("grpc-encoding"));
        }
        let (new, found) = rewrite_message(message, set, ty, contract, classes, key)?;
        findings.merge(&found);
        match new {
            Some(m) => {
                changed = true;
                put_frame(&mut out, &m);
            }
            None => out.extend_from_slice(&rest[..used]),
        }
        rest = &rest[used..];
    }
    Ok((changed.then_some(out), findings))
}

#[cfg(test)]
mod tests;
