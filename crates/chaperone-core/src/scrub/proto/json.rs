//! The JSON mapping of protobuf messages (proto3's canonical JSON,
//! <https://protobuf.dev/programming-guides/json/>), read and written with a
//! descriptor set: a message given as JSON is encoded to the wire format,
//! judged there like any gRPC message (`rewrite_message`), and what crosses
//! is printed back as JSON. The contract, findings and refusals are those of
//! the wire format; this module only translates.
//!
//! Written: fields by `json_name`, proto3 defaults left out, 64-bit integers
//! as decimal strings, bytes as padded standard base64, enums by name,
//! `NaN`/`Infinity`/`-Infinity` as strings. Read: a field by `json_name` or
//! its proto name, integers as numbers or strings, bytes in standard or
//! URL-safe base64 with or without padding, enums by name or number, `null`
//! as absent. A key that names no field, a field or map key given twice,
//! two members of one oneof, anything malformed: an error naming where,
//! never a value. Well-known types with a JSON form of their own:
//! Timestamp, Duration, the wrappers, Empty, FieldMask, Struct, Value and
//! ListValue; `Any` is refused (its JSON names a type by URL).

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Descriptors, Field, Kind, MAX_DEPTH, Raw, Wire, is_map, put_len, put_tag, put_varint};
use crate::scrub::json::write_json_string;

/// Where a message could not be read or written in the JSON mapping (a path
/// of field names) and why; never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    /// Innermost segment first.
    at: Vec<String>,
    why: String,
}

impl MappingError {
    fn new(why: impl Into<String>) -> Self {
        Self {
            at: Vec::new(),
            why: why.into(),
        }
    }

    fn at(mut self, segment: impl Into<String>) -> Self {
        self.at.push(segment.into());
        self
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = String::new();
        for segment in self.at.iter().rev() {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        if path.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "{path}: {}", self.why)
        }
    }
}

impl std::error::Error for MappingError {}

/// Encodes the JSON mapping of a message of type `ty` in the wire format.
pub fn encode(json: &[u8], set: &Descriptors, ty: &str) -> Result<Vec<u8>, MappingError> {
    let value: J =
        serde_json::from_slice(json).map_err(|e| MappingError::new(format!("not JSON ({e})")))?;
    if matches!(value, J::Null) && WellKnown::of(ty) != Some(WellKnown::Value) {
        return Err(MappingError::new(format!(
            "a {ty} is a JSON object, not null"
        )));
    }
    let mut out = Vec::new();
    Encoder { set }.message(ty, &value, 0, &mut out)?;
    Ok(out)
}

/// Prints a message of type `ty`, in the wire format, as its JSON mapping.
pub fn print(wire: &[u8], set: &Descriptors, ty: &str) -> Result<String, MappingError> {
    let mut out = Vec::new();
    Printer { set }.message(ty, wire, 0, &mut out)?;
    String::from_utf8(out).map_err(|_| MappingError::new("printed text that is not UTF-8"))
}

/// A JSON value with its object members in order, duplicates kept (a key
/// given twice is an error, not a last-one-wins).
enum J {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<J>),
    Object(Vec<(String, J)>),
}

impl J {
    fn kind(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "a boolean",
            J::Number(_) => "a number",
            J::String(_) => "a string",
            J::Array(_) => "an array",
            J::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J, E> {
        serde_json::Number::from_f64(v)
            .map(J::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::String(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element()? {
            items.push(item);
        }
        Ok(J::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = a.next_entry::<String, J>()? {
            members.push(member);
        }
        Ok(J::Object(members))
    }
}

/// The well-known types whose JSON form is their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WellKnown {
    Timestamp,
    Duration,
    /// `google.protobuf.Int64Value` and the like: the JSON of their `value`.
    Wrapper(Kind),
    Empty,
    FieldMask,
    Struct,
    Value,
    ListValue,
    /// `google.protobuf.Any`: refused.
    Any,
}

impl WellKnown {
    fn of(ty: &str) -> Option<Self> {
        let name = ty
            .trim_start_matches('.')
            .strip_prefix("google.protobuf.")?;
        Some(match name {
            "Timestamp" => Self::Timestamp,
            "Duration" => Self::Duration,
            "DoubleValue" => Self::Wrapper(Kind::Double),
            "FloatValue" => Self::Wrapper(Kind::Float),
            "Int64Value" => Self::Wrapper(Kind::Int64),
            "UInt64Value" => Self::Wrapper(Kind::Uint64),
            "Int32Value" => Self::Wrapper(Kind::Int32),
            "UInt32Value" => Self::Wrapper(Kind::Uint32),
            "BoolValue" => Self::Wrapper(Kind::Bool),
            "StringValue" => Self::Wrapper(Kind::String),
            "BytesValue" => Self::Wrapper(Kind::Bytes),
            "Empty" => Self::Empty,
            "FieldMask" => Self::FieldMask,
            "Struct" => Self::Struct,
            "Value" => Self::Value,
            "ListValue" => Self::ListValue,
            "Any" => Self::Any,
            _ => return None,
        })
    }
}

const VALUE: &str = "google.protobuf.Value";
const NULL_VALUE: &str = "google.protobuf.NullValue";
const ANY_REFUSED: &str = "google.protobuf.Any is not read or written in the JSON mapping \
                           (its JSON names a type by URL); use the binary form";
/// Timestamps the JSON mapping writes: 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z.
const MIN_TIMESTAMP: i64 = -62_135_596_800;
const MAX_TIMESTAMP: i64 = 253_402_300_799;
/// Durations: ±10,000 years.
const MAX_DURATION: i64 = 315_576_000_000;

/// A field of a well-known type's layout, which the descriptor set may not
/// hold.
fn pseudo(number: u32, kind: Kind, repeated: bool, type_name: &str) -> Field {
    Field {
        number,
        name: String::new(),
        json_name: String::new(),
        kind,
        repeated,
        type_name: type_name.to_owned(),
        oneof: None,
        presence: false,
    }
}

/// Whether JSON `null` is a value of this field (`google.protobuf.Value`,
/// `NullValue`) rather than its absence.
fn null_is_value(f: &Field) -> bool {
    (f.kind == Kind::Message && f.type_name == VALUE)
        || (f.kind == Kind::Enum && f.type_name == NULL_VALUE)
}

/// A key shown in an error only when it reads like a field name: keys can
/// carry data.
fn shown(key: &str) -> String {
    let plain = key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && key.bytes().filter(u8::is_ascii_digit).count() < 4;
    if plain {
        format!("{key:?}")
    } else {
        "named by this key (not shown: keys can hold data)".to_owned()
    }
}

fn no_type(ty: &str) -> MappingError {
    MappingError::new(format!("no message type {ty} in the descriptors"))
}

fn too_deep() -> MappingError {
    MappingError::new(format!("nests deeper than {MAX_DEPTH} levels"))
}

fn wire_error(e: super::ScrubError) -> MappingError {
    MappingError::new(e.to_string())
}

struct Encoder<'a> {
    set: &'a Descriptors,
}

impl Encoder<'_> {
    fn message(
        &self,
        ty: &str,
        v: &J,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some(wk) = WellKnown::of(ty) {
            return self.well_known(wk, v, depth, out);
        }
        let desc = self.set.get(ty).ok_or_else(|| no_type(ty))?;
        let J::Object(members) = v else {
            return Err(MappingError::new(format!(
                "a {ty} is a JSON object, not {}",
                v.kind()
            )));
        };
        // Each member's field, checked, then written in field order as
        // encoders write them.
        let mut given: Vec<(usize, &J)> = Vec::with_capacity(members.len());
        let mut oneofs: Vec<u32> = Vec::new();
        for (key, value) in members {
            let i = desc
                .fields
                .iter()
                .position(|f| f.json_name == *key || f.name == *key)
                .ok_or_else(|| MappingError::new(format!("{ty} has no field {}", shown(key))))?;
            let field = &desc.fields[i];
            let fail = |why: &str| Err(MappingError::new(why).at(&field.json_name));
            if given.iter().any(|(j, _)| *j == i) {
                return fail("given twice (by its JSON and its proto name)");
            }
            given.push((i, value));
            if matches!(value, J::Null) && (field.repeated || !null_is_value(field)) {
                continue;
            }
            if let Some(o) = field.oneof {
                if oneofs.contains(&o) {
                    return fail("a second member of the same oneof");
                }
                oneofs.push(o);
            }
        }
        given.sort_by_key(|(i, _)| *i);
        for (i, value) in given {
            let field = &desc.fields[i];
            if matches!(value, J::Null) && (field.repeated || !null_is_value(field)) {
                continue;
            }
            self.field(field, value, depth, out)
                .map_err(|e| e.at(&field.json_name))?;
        }
        Ok(())
    }

    fn field(&self, f: &Field, v: &J, depth: usize, out: &mut Vec<u8>) -> Result<(), MappingError> {
        if is_map(self.set, f) {
            let entry = self
                .set
                .get(&f.type_name)
                .ok_or_else(|| no_type(&f.type_name))?;
            let key = entry.fields.iter().find(|g| g.number == 1);
            let value = entry.fields.iter().find(|g| g.number == 2);
            let (Some(key), Some(value)) = (key, value) else {
                return Err(MappingError::new("a map entry type without a key or value"));
            };
            return self.map(f.number, key, value, v, depth, out);
        }
        if f.repeated {
            let J::Array(items) = v else {
                return Err(MappingError::new(format!(
                    "a repeated field is a JSON array, not {}",
                    v.kind()
                )));
            };
            let mut packed = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let at = |e: MappingError| e.at(format!("[{i}]"));
                if matches!(item, J::Null) && !null_is_value(f) {
                    return Err(at(MappingError::new("null in a list")));
                }
                if f.kind.scalar_number() {
                    let (_, bits) = self.number(f, item).map_err(at)?;
                    put_bits(&mut packed, f.kind.wire(), bits);
                } else {
                    self.value(f, item, depth, true, out).map_err(at)?;
                }
            }
            if !packed.is_empty() {
                put_len(out, f.number, &packed);
            }
            return Ok(());
        }
        let keep = f.presence || f.kind == Kind::Message;
        self.value(f, v, depth, keep, out)
    }

    /// A map (or a Struct's fields): a JSON object, its keys the map's keys
    /// as strings.
    fn map(
        &self,
        number: u32,
        key: &Field,
        value: &Field,
        v: &J,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        let J::Object(members) = v else {
            return Err(MappingError::new(format!(
                "a map is a JSON object, not {}",
                v.kind()
            )));
        };
        let mut seen = std::collections::HashSet::new();
        for (k, item) in members {
            let at = |e: MappingError| e.at("*");
            if !seen.insert(k.as_str()) {
                return Err(at(MappingError::new("a key given twice")));
            }
            let mut entry = Vec::new();
            let key_json = match key.kind {
                Kind::String => J::String(k.clone()),
                Kind::Bool => match k.as_str() {
                    "true" => J::Bool(true),
                    "false" => J::Bool(false),
                    _ => return Err(at(MappingError::new("a bool key is \"true\" or \"false\""))),
                },
                _ => J::String(k.clone()),
            };
            self.value(key, &key_json, depth, true, &mut entry)
                .map_err(|e| at(MappingError::new(format!("its key: {}", e.why))))?;
            if matches!(item, J::Null) && !null_is_value(value) {
                return Err(at(MappingError::new("null as a map value")));
            }
            self.value(value, item, depth, true, &mut entry)
                .map_err(at)?;
            put_len(out, number, &entry);
        }
        Ok(())
    }

    /// One value of `f`, tagged; a default left out unless `keep`.
    fn value(
        &self,
        f: &Field,
        v: &J,
        depth: usize,
        keep: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        match f.kind {
            Kind::Message => {
                let mut inner = Vec::new();
                self.message(&f.type_name, v, depth + 1, &mut inner)?;
                put_len(out, f.number, &inner);
            }
            Kind::Group => return Err(MappingError::new("a group, which chaperone does not read")),
            Kind::String | Kind::Bytes => {
                let J::String(s) = v else {
                    return Err(MappingError::new(format!("a string, not {}", v.kind())));
                };
                let bytes = if f.kind == Kind::Bytes {
                    base64_decode(s)
                        .ok_or_else(|| MappingError::new("bytes that are not base64"))?
                } else {
                    s.as_bytes().to_vec()
                };
                if keep || !bytes.is_empty() {
                    put_len(out, f.number, &bytes);
                }
            }
            _ => {
                let (wire, bits) = self.number(f, v)?;
                if keep || bits != 0 {
                    put_tag(out, f.number, wire);
                    put_bits(out, wire, bits);
                }
            }
        }
        Ok(())
    }

    /// A number, bool or enum as its wire type and bits.
    fn number(&self, f: &Field, v: &J) -> Result<(u8, u64), MappingError> {
        use Kind::*;
        let bits = match f.kind {
            Int32 => integer(v, i32::MIN.into(), i32::MAX.into())? as i64 as u64,
            Sint32 => {
                let i = integer(v, i32::MIN.into(), i32::MAX.into())? as i32;
                u64::from(((i << 1) ^ (i >> 31)) as u32)
            }
            Sfixed32 => u64::from(integer(v, i32::MIN.into(), i32::MAX.into())? as i32 as u32),
            Uint32 | Fixed32 => integer(v, 0, u32::MAX.into())? as u64,
            Int64 | Sfixed64 => integer(v, i64::MIN.into(), i64::MAX.into())? as i64 as u64,
            Sint64 => {
                let i = integer(v, i64::MIN.into(), i64::MAX.into())? as i64;
                ((i << 1) ^ (i >> 63)) as u64
            }
            Uint64 | Fixed64 => integer(v, 0, u64::MAX.into())? as u64,
            Bool => match v {
                J::Bool(b) => u64::from(*b),
                _ => {
                    return Err(MappingError::new(format!(
                        "true or false, not {}",
                        v.kind()
                    )));
                }
            },
            Enum => match v {
                J::Null if f.type_name == NULL_VALUE => 0,
                J::String(name) => {
                    let values = self.set.enums.get(&f.type_name).ok_or_else(|| {
                        MappingError::new(format!(
                            "no enum type {} in the descriptors",
                            f.type_name
                        ))
                    })?;
                    let (_, n) = values.iter().find(|(v, _)| v == name).ok_or_else(|| {
                        MappingError::new(format!("{} has no value {}", f.type_name, shown(name)))
                    })?;
                    *n as i64 as u64
                }
                _ => integer(v, i32::MIN.into(), i32::MAX.into())? as i64 as u64,
            },
            Double => float(v)?.to_bits(),
            Float => {
                let x = float(v)?;
                if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                    return Err(MappingError::new("out of range for a float"));
                }
                u64::from((x as f32).to_bits())
            }
            String | Bytes | Message | Group => return Err(MappingError::new("not a number")),
        };
        Ok((f.kind.wire(), bits))
    }

    fn well_known(
        &self,
        wk: WellKnown,
        v: &J,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        let string = || match v {
            J::String(s) => Ok(s.as_str()),
            _ => Err(MappingError::new(format!(
                "{wk:?} is a JSON string, not {}",
                v.kind()
            ))),
        };
        match wk {
            WellKnown::Timestamp => {
                let (seconds, nanos) = parse_timestamp(string()?).ok_or_else(|| {
                    MappingError::new(
                        "not an RFC 3339 timestamp between years 1 and 9999 \
                         (1972-01-01T10:00:20.021Z)",
                    )
                })?;
                put_seconds(out, seconds, nanos);
            }
            WellKnown::Duration => {
                let (seconds, nanos) = parse_duration(string()?).ok_or_else(|| {
                    MappingError::new("not a duration of at most 10000 years (\"1.5s\", \"-3s\")")
                })?;
                put_seconds(out, seconds, nanos);
            }
            WellKnown::Wrapper(kind) => {
                self.value(&pseudo(1, kind, false, ""), v, depth, false, out)?
            }
            WellKnown::Empty => match v {
                J::Object(m) if m.is_empty() => {}
                _ => return Err(MappingError::new("an Empty is {}")),
            },
            WellKnown::FieldMask => {
                for path in string()?.split(',').filter(|p| !p.is_empty()) {
                    let snake = snake_path(path).ok_or_else(|| {
                        MappingError::new(
                            "a field mask's paths are lowerCamelCase, comma-separated",
                        )
                    })?;
                    put_len(out, 1, snake.as_bytes());
                }
            }
            WellKnown::Struct => self.map(
                1,
                &pseudo(1, Kind::String, false, ""),
                &pseudo(2, Kind::Message, false, VALUE),
                v,
                depth,
                out,
            )?,
            WellKnown::ListValue => {
                self.field(&pseudo(1, Kind::Message, true, VALUE), v, depth, out)?
            }
            WellKnown::Value => {
                let (number, kind, type_name) = match v {
                    J::Null => (1, Kind::Enum, NULL_VALUE),
                    J::Number(_) => (2, Kind::Double, ""),
                    J::String(_) => (3, Kind::String, ""),
                    J::Bool(_) => (4, Kind::Bool, ""),
                    J::Object(_) => (5, Kind::Message, "google.protobuf.Struct"),
                    J::Array(_) => (6, Kind::Message, "google.protobuf.ListValue"),
                };
                // A oneof's member: written even when it is a default.
                self.value(&pseudo(number, kind, false, type_name), v, depth, true, out)?;
            }
            WellKnown::Any => return Err(MappingError::new(ANY_REFUSED)),
        }
        Ok(())
    }
}

fn put_bits(out: &mut Vec<u8>, wire: u8, bits: u64) {
    match wire {
        1 => out.extend_from_slice(&bits.to_le_bytes()),
        5 => out.extend_from_slice(&(bits as u32).to_le_bytes()),
        _ => put_varint(out, bits),
    }
}

/// A Timestamp's or Duration's two fields, defaults left out.
fn put_seconds(out: &mut Vec<u8>, seconds: i64, nanos: i32) {
    if seconds != 0 {
        put_tag(out, 1, 0);
        put_varint(out, seconds as u64);
    }
    if nanos != 0 {
        put_tag(out, 2, 0);
        put_varint(out, i64::from(nanos) as u64);
    }
}

/// An integer from a JSON number or a string holding one, within
/// `min..=max`.
fn integer(v: &J, min: i128, max: i128) -> Result<i128, MappingError> {
    let n = match v {
        J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Some(i128::from(u)),
            (_, Some(i), _) => Some(i128::from(i)),
            (_, _, Some(x)) => integral(x),
            _ => None,
        },
        J::String(s) => s
            .parse::<i128>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(integral)),
        _ => {
            return Err(MappingError::new(format!(
                "an integer (a number or a string), not {}",
                v.kind()
            )));
        }
    };
    let n = n.ok_or_else(|| MappingError::new("not an integer"))?;
    if n < min || n > max {
        return Err(MappingError::new(format!("out of range ({min} to {max})")));
    }
    Ok(n)
}

/// A float that is a whole number, as an integer.
fn integral(x: f64) -> Option<i128> {
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 1e38).then_some(x as i128)
}

/// A floating number from a JSON number, a string holding one, or "NaN",
/// "Infinity", "-Infinity".
fn float(v: &J) -> Result<f64, MappingError> {
    match v {
        J::Number(n) => n.as_f64().ok_or_else(|| MappingError::new("not a number")),
        J::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            // Rust also reads "inf" and "nan": only finite numbers here.
            _ => s
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| MappingError::new("not a number")),
        },
        _ => Err(MappingError::new(format!("a number, not {}", v.kind()))),
    }
}

/// Standard or URL-safe base64, padded or not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if s.contains(['-', '_']) {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, config).decode(s).ok()
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Digits at `s[at..at + n]` as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = s.get(at..at + n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')))
}

/// A fraction of a second after its `.`: 1 to 9 digits, as nanoseconds,
/// and the bytes it took.
fn fraction(s: &[u8]) -> Option<(i32, usize)> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let v = digits(s, 0, n)? * 10i64.pow(9 - n as u32);
    Some((i32::try_from(v).ok()?, n))
}

/// RFC 3339, `YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|±HH:MM)`, as seconds and
/// nanoseconds since the epoch.
fn parse_timestamp(text: &str) -> Option<(i64, i32)> {
    let s = text.as_bytes();
    let sep = |at: usize, c: u8| (s.get(at) == Some(&c)).then_some(());
    let (y, mo, d) = (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?);
    sep(4, b'-')?;
    sep(7, b'-')?;
    sep(10, b'T')?;
    let (h, mi, sec) = (digits(s, 11, 2)?, digits(s, 14, 2)?, digits(s, 17, 2)?);
    sep(13, b':')?;
    sep(16, b':')?;
    if !(1..=12).contains(&mo) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    // A day the month does not have (February 30) reads as another date.
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0;
    if s.get(at) == Some(&b'.') {
        let (n, used) = fraction(s.get(at + 1..)?)?;
        nanos = n;
        at += 1 + used;
    }
    let offset = match s.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let (oh, om) = (digits(rest, 0, 2)?, digits(rest, 3, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let seconds = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    (MIN_TIMESTAMP..=MAX_TIMESTAMP)
        .contains(&seconds)
        .then_some((seconds, nanos))
}

fn format_timestamp(seconds: i64, nanos: i32) -> Option<String> {
    if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&seconds) || !(0..=999_999_999).contains(&nanos) {
        return None;
    }
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        nanos_text(nanos)
    ))
}

/// A fraction of a second in 0, 3, 6 or 9 digits, as the mapping writes it.
fn nanos_text(nanos: i32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1000 == 0 {
        format!(".{:06}", nanos / 1000)
    } else {
        format!(".{nanos:09}")
    }
}

/// `[-]S[.fffffffff]s` as seconds and nanoseconds of the same sign.
fn parse_duration(text: &str) -> Option<(i64, i32)> {
    let s = text.as_bytes().strip_suffix(b"s")?;
    let (negative, s) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let whole = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if whole == 0 || whole > 12 {
        return None;
    }
    let seconds = digits(s, 0, whole)?;
    let nanos = match &s[whole..] {
        [] => 0,
        [b'.', rest @ ..] => match fraction(rest)? {
            (n, used) if used == rest.len() => n,
            _ => return None,
        },
        _ => return None,
    };
    if seconds > MAX_DURATION {
        return None;
    }
    Some(if negative {
        (-seconds, -nanos)
    } else {
        (seconds, nanos)
    })
}

fn format_duration(seconds: i64, nanos: i32) -> Option<String> {
    let mixed = (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0);
    if mixed || seconds.abs() > MAX_DURATION || nanos.abs() > 999_999_999 {
        return None;
    }
    let sign = if seconds < 0 || nanos < 0 { "-" } else { "" };
    Some(format!(
        "{sign}{}{}s",
        seconds.abs(),
        nanos_text(nanos.abs())
    ))
}

/// A field mask path in the JSON mapping (`user.displayName`) in proto
/// names (`user.display_name`).
fn snake_path(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        match c {
            '_' => return None,
            'A'..='Z' => {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// A proto path in the JSON mapping; `None` for one that would not read
/// back the same (an upper-case letter, `_` not before a lower-case one).
fn camel_path(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            'A'..='Z' => return None,
            '_' if upper => return None,
            '_' => upper = true,
            'a'..='z' if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            _ if upper => return None,
            _ => out.push(c),
        }
    }
    (!upper).then_some(out)
}

struct Printer<'a> {
    set: &'a Descriptors,
}

impl Printer<'_> {
    fn message(
        &self,
        ty: &str,
        bytes: &[u8],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some(wk) = WellKnown::of(ty) {
            return self.well_known(wk, bytes, depth, out);
        }
        let desc = self.set.get(ty).ok_or_else(|| no_type(ty))?;
        let mut values: Vec<Vec<Raw<'_>>> = vec![Vec::new(); desc.fields.len()];
        // When each field was last seen: a oneof holds its last member set.
        let mut last = vec![0usize; desc.fields.len()];
        let mut w = Wire::new(bytes);
        let mut seq = 0;
        while !w.done() {
            let (number, wire) = w.tag().map_err(wire_error)?;
            let raw = w.value(wire).map_err(wire_error)?;
            let i = desc
                .fields
                .binary_search_by_key(&number, |f| f.number)
                .map_err(|_| {
                    MappingError::new(format!(
                        "field {number} is not in {ty} (the JSON mapping has no unknown fields)"
                    ))
                })?;
            let f = &desc.fields[i];
            if !f.fits(wire) {
                return Err(
                    MappingError::new("a value whose wire type does not fit").at(&f.json_name)
                );
            }
            seq += 1;
            last[i] = seq;
            values[i].push(raw);
        }
        for (i, f) in desc.fields.iter().enumerate() {
            let superseded = f.oneof.is_some_and(|o| {
                desc.fields
                    .iter()
                    .zip(&last)
                    .any(|(g, &l)| g.oneof == Some(o) && l > last[i])
            });
            if superseded {
                values[i].clear();
            }
        }
        out.push(b'{');
        let mut first = true;
        let mut member = Vec::new();
        for (f, raws) in desc.fields.iter().zip(&values) {
            if raws.is_empty() {
                continue;
            }
            member.clear();
            if !self
                .field(f, raws, depth, &mut member)
                .map_err(|e| e.at(&f.json_name))?
            {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(out, &f.json_name);
            out.push(b':');
            out.extend_from_slice(&member);
        }
        out.push(b'}');
        Ok(())
    }

    /// Writes a field's values; false when the mapping leaves it out (a
    /// proto3 default, an empty list).
    fn field(
        &self,
        f: &Field,
        raws: &[Raw<'_>],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, MappingError> {
        if is_map(self.set, f) {
            let entry = self
                .set
                .get(&f.type_name)
                .ok_or_else(|| no_type(&f.type_name))?;
            let key = entry.fields.iter().find(|g| g.number == 1);
            let value = entry.fields.iter().find(|g| g.number == 2);
            let (Some(key), Some(value)) = (key, value) else {
                return Err(MappingError::new("a map entry type without a key or value"));
            };
            return self.map(key, value, raws, depth, out);
        }
        if f.repeated {
            let mut items = Vec::with_capacity(raws.len());
            for raw in raws {
                match raw {
                    Raw::Len(b) if f.kind.scalar_number() => {
                        let mut w = Wire::new(b);
                        while !w.done() {
                            items.push(w.value(f.kind.wire()).map_err(wire_error)?);
                        }
                    }
                    r => items.push(*r),
                }
            }
            if items.is_empty() {
                return Ok(false);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self.value(f, *item, depth, out)
                    .map_err(|e| e.at(format!("[{i}]")))?;
            }
            out.push(b']');
            return Ok(true);
        }
        if f.kind == Kind::Message {
            // A message given several times is one message: merged.
            let mut merged = Vec::new();
            for raw in raws {
                if let Raw::Len(b) = raw {
                    merged.extend_from_slice(b);
                }
            }
            self.message(&f.type_name, &merged, depth + 1, out)?;
            return Ok(true);
        }
        // A scalar given several times: the last one counts.
        let Some(&raw) = raws.last() else {
            return Ok(false);
        };
        let default = matches!(raw, Raw::Varint(0) | Raw::Fixed64(0) | Raw::Fixed32(0))
            || matches!(raw, Raw::Len(b) if b.is_empty());
        if default && !f.presence {
            return Ok(false);
        }
        self.value(f, raw, depth, out)?;
        Ok(true)
    }

    /// A map's entries as a JSON object: keys as strings, a key given twice
    /// holding its last value.
    fn map(
        &self,
        key: &Field,
        value: &Field,
        raws: &[Raw<'_>],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, MappingError> {
        let mut members: Vec<(String, Vec<u8>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for raw in raws {
            let Raw::Len(entry) = raw else {
                return Err(MappingError::new("a map entry that is not a message"));
            };
            let (mut k, mut v) = (None, None);
            let mut w = Wire::new(entry);
            while !w.done() {
                let (n, wire) = w.tag().map_err(wire_error)?;
                let r = w.value(wire).map_err(wire_error)?;
                // As the rewriter: a key or value given twice is refused.
                match n {
                    1 if key.fits(wire) && k.is_none() => k = Some(r),
                    2 if value.fits(wire) && v.is_none() => v = Some(r),
                    _ => return Err(MappingError::new("a malformed map entry")),
                }
            }
            let key_text = match (key.kind, k.unwrap_or_else(|| zero(key.kind))) {
                (Kind::String, Raw::Len(b)) => std::str::from_utf8(b)
                    .map_err(|_| MappingError::new("a map key that is not UTF-8"))?
                    .to_owned(),
                (Kind::Bool, Raw::Varint(b)) => (b != 0).to_string(),
                (kind, r) => integer_text(kind, r)
                    .map(|(t, _)| t)
                    .ok_or_else(|| MappingError::new("a map key of a kind maps do not have"))?,
            };
            let mut text = Vec::new();
            self.value(
                value,
                v.unwrap_or_else(|| zero(value.kind)),
                depth,
                &mut text,
            )
            .map_err(|e| e.at("*"))?;
            match index.get(&key_text) {
                Some(&i) => members[i].1 = text,
                None => {
                    index.insert(key_text.clone(), members.len());
                    members.push((key_text, text));
                }
            }
        }
        if members.is_empty() {
            return Ok(false);
        }
        out.push(b'{');
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(out, k);
            out.push(b':');
            out.extend_from_slice(v);
        }
        out.push(b'}');
        Ok(true)
    }

    /// One value of `f`.
    fn value(
        &self,
        f: &Field,
        raw: Raw<'_>,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        match (f.kind, raw) {
            (Kind::Message, Raw::Len(b)) => return self.message(&f.type_name, b, depth + 1, out),
            (Kind::String, Raw::Len(b)) => {
                let s = std::str::from_utf8(b)
                    .map_err(|_| MappingError::new("a string that is not UTF-8"))?;
                write_json_string(out, s);
            }
            (Kind::Bytes, Raw::Len(b)) => {
                write_json_string(out, &base64::engine::general_purpose::STANDARD.encode(b));
            }
            (Kind::Bool, Raw::Varint(v)) => {
                out.extend_from_slice(if v != 0 { b"true" } else { b"false" })
            }
            (Kind::Enum, Raw::Varint(v)) if f.type_name == NULL_VALUE => {
                let _ = v;
                out.extend_from_slice(b"null");
            }
            (Kind::Enum, Raw::Varint(v)) => {
                let n = v as i32;
                let name = self
                    .set
                    .enums
                    .get(&f.type_name)
                    .and_then(|values| values.iter().find(|(_, m)| *m == n));
                match name {
                    Some((name, _)) => write_json_string(out, name),
                    // A value this schema does not name: as its number.
                    None => out.extend_from_slice(n.to_string().as_bytes()),
                }
            }
            (Kind::Double, Raw::Fixed64(v)) => write_float(out, f64::from_bits(v), false),
            (Kind::Float, Raw::Fixed32(v)) => write_float(out, f64::from(f32::from_bits(v)), true),
            (kind, r) => {
                let (text, quoted) = integer_text(kind, r)
                    .ok_or_else(|| MappingError::new("a value whose wire type does not fit"))?;
                if quoted {
                    write_json_string(out, &text);
                } else {
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        Ok(())
    }

    fn well_known(
        &self,
        wk: WellKnown,
        bytes: &[u8],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), MappingError> {
        let fields = |bytes| -> Result<Vec<(u32, Raw<'_>)>, MappingError> {
            let mut w = Wire::new(bytes);
            let mut all = Vec::new();
            while !w.done() {
                let (n, wire) = w.tag().map_err(wire_error)?;
                all.push((n, w.value(wire).map_err(wire_error)?));
            }
            Ok(all)
        };
        let unexpected = || MappingError::new(format!("not a {wk:?} as the well-known type is"));
        match wk {
            WellKnown::Timestamp | WellKnown::Duration => {
                let (mut seconds, mut nanos) = (0i64, 0i32);
                for (n, raw) in fields(bytes)? {
                    match (n, raw) {
                        (1, Raw::Varint(v)) => seconds = v as i64,
                        (2, Raw::Varint(v)) => nanos = v as i32,
                        _ => return Err(unexpected()),
                    }
                }
                let text = if wk == WellKnown::Timestamp {
                    format_timestamp(seconds, nanos)
                } else {
                    format_duration(seconds, nanos)
                };
                let text = text.ok_or_else(|| {
                    MappingError::new(format!("a {wk:?} out of the range the JSON mapping writes"))
                })?;
                write_json_string(out, &text);
            }
            WellKnown::Wrapper(kind) => {
                let f = pseudo(1, kind, false, "");
                let mut value = zero(kind);
                for (n, raw) in fields(bytes)? {
                    match n {
                        1 if kind.wire() == wire_of(raw) => value = raw,
                        _ => return Err(unexpected()),
                    }
                }
                self.value(&f, value, depth, out)?;
            }
            WellKnown::Empty => {
                if !bytes.is_empty() {
                    return Err(unexpected());
                }
                out.extend_from_slice(b"{}");
            }
            WellKnown::FieldMask => {
                let mut paths = Vec::new();
                for (n, raw) in fields(bytes)? {
                    let (1, Raw::Len(p)) = (n, raw) else {
                        return Err(unexpected());
                    };
                    let camel = std::str::from_utf8(p)
                        .ok()
                        .and_then(camel_path)
                        .ok_or_else(|| {
                            MappingError::new("a field mask path the JSON mapping cannot write")
                        })?;
                    paths.push(camel);
                }
                write_json_string(out, &paths.join(","));
            }
            WellKnown::Struct => {
                let entries = fields(bytes)?
                    .into_iter()
                    .map(|(n, raw)| if n == 1 { Ok(raw) } else { Err(unexpected()) })
                    .collect::<Result<Vec<_>, _>>()?;
                let key = pseudo(1, Kind::String, false, "");
                let value = pseudo(2, Kind::Message, false, VALUE);
                if !self.map(&key, &value, &entries, depth, out)? {
                    out.extend_from_slice(b"{}");
                }
            }
            WellKnown::ListValue => {
                let items = fields(bytes)?
                    .into_iter()
                    .map(|(n, raw)| if n == 1 { Ok(raw) } else { Err(unexpected()) })
                    .collect::<Result<Vec<_>, _>>()?;
                if !self.field(&pseudo(1, Kind::Message, true, VALUE), &items, depth, out)? {
                    out.extend_from_slice(b"[]");
                }
            }
            WellKnown::Value => {
                // A oneof: its last member counts; a message member given
                // several times in a row is merged.
                let mut kind: Option<(u32, Raw<'_>)> = None;
                let mut merged = Vec::new();
                for (n, raw) in fields(bytes)? {
                    if kind.is_some_and(|(k, _)| k != n) {
                        merged.clear();
                    }
                    if let Raw::Len(b) = raw {
                        merged.extend_from_slice(b);
                    }
                    kind = Some((n, raw));
                }
                match kind {
                    // No kind set (a member the contract removed): null.
                    None | Some((1, Raw::Varint(_))) => out.extend_from_slice(b"null"),
                    Some((2, Raw::Fixed64(v))) => {
                        let x = f64::from_bits(v);
                        if !x.is_finite() {
                            return Err(MappingError::new(
                                "a Value holding NaN or an infinity, which JSON cannot",
                            ));
                        }
                        write_float(out, x, false);
                    }
                    Some((3, raw @ Raw::Len(_))) => {
                        self.value(&pseudo(3, Kind::String, false, ""), raw, depth, out)?
                    }
                    Some((4, Raw::Varint(v))) => {
                        out.extend_from_slice(if v != 0 { b"true" } else { b"false" })
                    }
                    Some((5, Raw::Len(_))) => {
                        self.message("google.protobuf.Struct", &merged, depth + 1, out)?
                    }
                    Some((6, Raw::Len(_))) => {
                        self.message("google.protobuf.ListValue", &merged, depth + 1, out)?
                    }
                    _ => return Err(unexpected()),
                }
            }
            WellKnown::Any => return Err(MappingError::new(ANY_REFUSED)),
        }
        Ok(())
    }
}

/// The wire value a field of this kind holds when it is not given.
fn zero(kind: Kind) -> Raw<'static> {
    match kind.wire() {
        1 => Raw::Fixed64(0),
        5 => Raw::Fixed32(0),
        2 => Raw::Len(&[]),
        _ => Raw::Varint(0),
    }
}

fn wire_of(raw: Raw<'_>) -> u8 {
    match raw {
        Raw::Varint(_) => 0,
        Raw::Fixed64(_) => 1,
        Raw::Len(_) => 2,
        Raw::Fixed32(_) => 5,
    }
}

/// An integer as its kind reads it, in decimal, and whether the mapping
/// quotes it (the 64-bit kinds).
fn integer_text(kind: Kind, raw: Raw<'_>) -> Option<(String, bool)> {
    use Kind::*;
    Some(match (kind, raw) {
        (Int32, Raw::Varint(v)) => ((v as i32).to_string(), false),
        (Sint32, Raw::Varint(v)) => {
            let v = v as u32;
            (((v >> 1) as i32 ^ -((v & 1) as i32)).to_string(), false)
        }
        (Uint32, Raw::Varint(v)) => ((v as u32).to_string(), false),
        (Fixed32, Raw::Fixed32(v)) => (v.to_string(), false),
        (Sfixed32, Raw::Fixed32(v)) => ((v as i32).to_string(), false),
        (Int64, Raw::Varint(v)) => ((v as i64).to_string(), true),
        (Sint64, Raw::Varint(v)) => ((((v >> 1) as i64) ^ -((v & 1) as i64)).to_string(), true),
        (Uint64, Raw::Varint(v)) | (Fixed64, Raw::Fixed64(v)) => (v.to_string(), true),
        (Sfixed64, Raw::Fixed64(v)) => ((v as i64).to_string(), true),
        _ => return None,
    })
}

/// A float: a JSON number (the shortest that reads back the same), or
/// "NaN", "Infinity", "-Infinity".
fn write_float(out: &mut Vec<u8>, x: f64, single: bool) {
    let text = if x.is_nan() {
        "\"NaN\"".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .to_owned()
    } else if single {
        format!("{}", x as f32)
    } else {
        format!("{x}")
    };
    out.extend_from_slice(text.as_bytes());
}
