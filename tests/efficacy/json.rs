//! A JSON value built by the generator and written as services write it,
//! and the reading the scorer needs: a document's text with every string
//! unescaped in place, so a value is looked for as a reader would see it.

use chaperone::scrub::detect;

/// A JSON value. Numbers keep their spelling.
pub enum J {
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

/// How a service writes JSON.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// `serde_json::to_string`, Go's encoding/json without HTML escaping.
    Compact,
    /// Two-space indentation, as `JSON.stringify(v, null, 2)`.
    Pretty,
    /// PHP's `json_encode` default: `\/` and `\uXXXX` for everything
    /// outside ASCII.
    Escaped,
}

pub fn obj(members: Vec<(&str, J)>) -> J {
    J::Obj(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

pub fn s(text: impl Into<String>) -> J {
    J::Str(text.into())
}

pub fn n(spelled: impl Into<String>) -> J {
    J::Num(spelled.into())
}

impl J {
    pub fn write(&self, style: Style) -> String {
        let mut out = String::new();
        self.write_to(&mut out, style, 0);
        out
    }

    fn write_to(&self, out: &mut String, style: Style, depth: usize) {
        let newline = |out: &mut String, depth: usize| {
            if style == Style::Pretty {
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
            }
        };
        match self {
            J::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    string(out, k, style);
                    out.push(':');
                    if style == Style::Pretty {
                        out.push(' ');
                    }
                    v.write_to(out, style, depth + 1);
                }
                if !members.is_empty() {
                    newline(out, depth);
                }
                out.push('}');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    v.write_to(out, style, depth + 1);
                }
                if !items.is_empty() {
                    newline(out, depth);
                }
                out.push(']');
            }
            J::Str(text) => string(out, text, style),
            J::Num(spelled) => out.push_str(spelled),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Null => out.push_str("null"),
        }
    }

    /// Every string and number under this value with the name the scan
    /// reads it under: the member holding it (an array's items inherit the
    /// array's name), or an earlier sibling label's (`detect::label_kind`).
    pub fn leaves<'a>(&'a self, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
        match self {
            J::Obj(members) => {
                let (mut label, mut strength): (Option<&str>, u8) = (None, 0);
                for (k, v) in members {
                    let (s, labelled) = detect::label_kind(k);
                    let name = label.filter(|_| labelled).unwrap_or(k.as_str());
                    v.leaves(name, out);
                    if let (J::Str(t), true) = (v, s > 0 && s >= strength)
                        && let Some(l) = detect::label_name(t)
                    {
                        label = Some(l);
                        strength = s;
                    }
                }
            }
            J::Arr(items) => items.iter().for_each(|v| v.leaves(key, out)),
            J::Str(t) | J::Num(t) => out.push((key, t)),
            J::Bool(_) | J::Null => {}
        }
    }
}

fn string(out: &mut String, text: &str, style: Style) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '/' if style == Style::Escaped => out.push_str("\\/"),
            c if (c as u32) < 0x20 || (style == Style::Escaped && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The text of a JSON document with each string's escapes decoded in place
/// (quotes kept), everything else as written: what a reader of any member
/// sees, in one text to search. The document is assumed valid.
pub fn unescaped(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut chars = doc.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        let mut pending: Option<u32> = None;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    out.push('"');
                    break;
                }
                '\\' => {
                    let e = chars.next().unwrap_or('\\');
                    let decoded = match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let unit = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                            if (0xd800..0xdc00).contains(&unit) {
                                pending = Some(unit);
                                continue;
                            }
                            let code = match pending.take() {
                                Some(high) if (0xdc00..0xe000).contains(&unit) => {
                                    0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00)
                                }
                                _ => unit,
                            };
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        other => other,
                    };
                    out.push(decoded);
                }
                c => out.push(c),
            }
        }
    }
    out
}
