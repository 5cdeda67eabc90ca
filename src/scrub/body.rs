//! One whole message body under a contract, whatever its headers claim.
//!
//! A label does not switch the contract off: a body that is JSON gets the
//! JSON contract under any Content-Type (`text/plain`, `text/json`, none);
//! a declared charset other than UTF-8 is transcoded and scanned (UTF-16,
//! ISO-8859-1, windows-1252) or refused; several Content-Types, or a
//! compressed body, are refused; text that hides behind NUL bytes is not
//! clean text; and a body chaperone cannot read passes (`other: pass`) only
//! when nothing the detectors know shows in its printable bytes.

use super::class::Classes;
use super::contract::{Contract, OtherContent};
use super::detect::Context;
use super::query::{PairRule, Scanner, rewrite_pairs};
use super::text::{TextOutcome, scan_text};
use super::{Findings, ScrubError, json};
use crate::secret::HashKey;

/// What a message's headers say about its body: every value of each, as
/// sent (a header sent twice is two values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyHeaders {
    pub content_type: Vec<String>,
    pub content_encoding: Vec<String>,
}

impl BodyHeaders {
    /// One Content-Type and no encoding.
    pub fn typed(content_type: &str) -> Self {
        Self {
            content_type: vec![content_type.to_owned()],
            content_encoding: Vec::new(),
        }
    }

    /// The kind the (single) Content-Type names, before the body is read.
    pub fn kind(&self) -> BodyKind {
        match self.content_type.as_slice() {
            [one] => MediaType::parse(one).map_or(BodyKind::Other, |m| m.kind()),
            _ => BodyKind::Other,
        }
    }
}

/// How a body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Text,
    /// `application/x-www-form-urlencoded`: name=value pairs.
    Form,
    Other,
}

/// The result of scrubbing one message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The new body; `None` when the original may cross unchanged.
    pub body: Option<Vec<u8>>,
    /// The Content-Type the new body must carry (it was transcoded to UTF-8).
    pub content_type: Option<String>,
    /// How the body was read: JSON and text get `nosniff`.
    pub kind: BodyKind,
    pub findings: Findings,
    /// The findings passed the hop's limit and the hop only alerts.
    pub alert: bool,
}

/// A parsed Content-Type: its essence and charset.
struct MediaType {
    essence: String,
    charset: Option<String>,
}

impl MediaType {
    /// `type/subtype; param=value…`. `None` for a value that names several
    /// media types (a comma outside quotes) or none.
    fn parse(value: &str) -> Option<Self> {
        let mut quoted = false;
        for c in value.bytes() {
            match c {
                b'"' => quoted = !quoted,
                b',' if !quoted => return None,
                _ => {}
            }
        }
        let mut parts = value.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if essence.is_empty() {
            return None;
        }
        let charset = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
        });
        Some(Self { essence, charset })
    }

    fn kind(&self) -> BodyKind {
        let e = self.essence.as_str();
        if e == "application/json"
            || e == "text/json"
            || (e.starts_with("application/") && e.ends_with("+json"))
        {
            BodyKind::Json
        } else if e == "application/x-www-form-urlencoded" {
            BodyKind::Form
        } else if e.starts_with("text/") {
            BodyKind::Text
        } else {
            BodyKind::Other
        }
    }
}

/// Encodings chaperone transcodes to read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Utf16Le,
    Utf16Be,
    Latin1,
    Windows1252,
}

impl Charset {
    fn named(name: &str) -> Result<Self, ScrubError> {
        Ok(match name {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Charset::Utf8,
            "utf-16le" => Charset::Utf16Le,
            // UTF-16 without a byte order mark is big-endian (RFC 2781).
            "utf-16" | "utf-16be" => Charset::Utf16Be,
            "iso-8859-1" | "latin1" | "latin-1" | "iso_8859-1" | "l1" => Charset::Latin1,
            "windows-1252" | "cp1252" => Charset::Windows1252,
            _ => return Err(ScrubError::Charset),
        })
    }
}

/// Scrubs one complete message body under a contract.
pub fn scrub_body(
    body: &[u8],
    headers: &BodyHeaders,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<Scrubbed, ScrubError> {
    if body.len() > contract.max_body {
        return Err(ScrubError::TooLarge {
            limit: contract.max_body,
        });
    }
    check_encodings(&headers.content_encoding)?;
    let media = match headers.content_type.as_slice() {
        [] => None,
        [one] => Some(MediaType::parse(one).ok_or(ScrubError::ContentTypeConflict)?),
        _ => return Err(ScrubError::ContentTypeConflict),
    };
    let label = media.as_ref().map_or(BodyKind::Other, MediaType::kind);
    let declared = media
        .as_ref()
        .and_then(|m| m.charset.as_deref())
        .map(Charset::named)
        .transpose()?;
    let mut out = Scrubbed {
        body: None,
        content_type: None,
        kind: label,
        findings: Findings::new(classes.len()),
        alert: false,
    };
    if body.is_empty() {
        return Ok(out);
    }
    match decode(body, declared) {
        Some(text) => {
            read_text(&text, label, contract, classes, key, &mut out)?;
            // What was read in another encoding crosses re-encoded only
            // when it changed, and then says it is UTF-8 now.
            if out.body.is_some()
                && let (Some(m), true) = (&media, text.transcoded)
            {
                out.content_type = Some(format!("{}; charset=utf-8", m.essence));
            }
            if let (Some(new), Some(bom)) = (out.body.as_mut(), text.bom) {
                new.splice(0..0, bom.iter().copied());
            }
        }
        None => read_unreadable(body, contract, classes, key, &mut out)?,
    }
    if let Some(limit) = contract.limit {
        out.alert = limit.judge(out.findings.total())?;
    }
    Ok(out)
}

/// Every Content-Encoding value (a header sent twice, a comma-joined list)
/// must be identity: chaperone never passes what it cannot inspect.
fn check_encodings(values: &[String]) -> Result<(), ScrubError> {
    for enc in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
            continue;
        }
        // Named from a fixed list: the header's own text never reaches an error.
        let known = ["gzip", "x-gzip", "br", "deflate", "zstd", "compress"];
        return Err(ScrubError::Encoded(
            known
                .into_iter()
                .find(|k| enc.eq_ignore_ascii_case(k))
                .unwrap_or("an unknown encoding"),
        ));
    }
    Ok(())
}

/// A body read as text.
struct Text {
    text: String,
    /// It was read in another encoding than UTF-8.
    transcoded: bool,
    /// A UTF-8 byte order mark before the text, kept on a new body.
    bom: Option<&'static [u8]>,
}

/// The body as clean text, if it is one: in its declared charset, else by
/// its byte order mark, else as UTF-8. Text with NUL or other control bytes
/// (but tab, newline, carriage return, form feed) is not clean.
fn decode(body: &[u8], declared: Option<Charset>) -> Option<Text> {
    const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
    let (charset, rest, bom) = match (declared, body) {
        (Some(Charset::Utf16Le | Charset::Utf16Be) | None, [0xFF, 0xFE, rest @ ..]) => {
            (Charset::Utf16Le, rest, None)
        }
        (Some(Charset::Utf16Le | Charset::Utf16Be) | None, [0xFE, 0xFF, rest @ ..]) => {
            (Charset::Utf16Be, rest, None)
        }
        (Some(Charset::Utf8) | None, b) if b.starts_with(UTF8_BOM) => {
            (Charset::Utf8, &b[UTF8_BOM.len()..], Some(UTF8_BOM))
        }
        (Some(c), b) => (c, b, None),
        (None, b) => (Charset::Utf8, b, None),
    };
    let text = match charset {
        Charset::Utf8 => std::str::from_utf8(rest).ok()?.to_owned(),
        Charset::Utf16Le | Charset::Utf16Be => utf16(rest, charset == Charset::Utf16Le)?,
        Charset::Latin1 => rest.iter().map(|&b| char::from(b)).collect(),
        Charset::Windows1252 => rest.iter().map(|&b| windows_1252(b)).collect(),
    };
    let clean = !text
        .bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C) || b == 0x7F);
    clean.then_some(Text {
        text,
        transcoded: charset != Charset::Utf8,
        bom,
    })
}

fn utf16(b: &[u8], little_endian: bool) -> Option<String> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let units = b.chunks_exact(2).map(|p| {
        let pair = [p[0], p[1]];
        if little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// windows-1252: ISO-8859-1 but for 0x80–0x9F.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Clean text: JSON when it parses as JSON (whatever the label says), a
/// form when labelled so, else text.
fn read_text(
    text: &Text,
    label: BodyKind,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
    out: &mut Scrubbed,
) -> Result<(), ScrubError> {
    let t = text.text.as_str();
    let json_like = matches!(
        t.trim_start_matches([' ', '\t', '\n', '\r'])
            .as_bytes()
            .first(),
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    );
    if label == BodyKind::Json || json_like {
        match json::rewrite(t.as_bytes(), contract, classes, key) {
            Ok((body, findings)) => {
                out.kind = BodyKind::Json;
                out.findings = findings;
                out.body = body;
                return Ok(());
            }
            // Text that merely starts like JSON is read as text below; a
            // body labelled JSON that is not JSON, and any JSON the contract
            // refuses, is refused, never passed.
            Err(ScrubError::InvalidJson { .. }) if label != BodyKind::Json => {}
            Err(e) => return Err(e),
        }
    }
    match label {
        BodyKind::Form => {
            out.kind = BodyKind::Form;
            let mut scanner = Scanner {
                scan: contract.scan,
                classes,
                key,
                findings: &mut out.findings,
            };
            let rule = |name: &str| form_rule(contract, name);
            out.body = rewrite_pairs(t, rule, &mut scanner)?.map(String::into_bytes);
            Ok(())
        }
        BodyKind::Text if !contract.text => Ok(()),
        BodyKind::Json | BodyKind::Text => scan_as_text(t, contract, classes, key, out),
        BodyKind::Other => match contract.other {
            OtherContent::Block => Err(ScrubError::ContentType),
            // `other: pass` passes what chaperone cannot read; this it can.
            OtherContent::Pass => scan_as_text(t, contract, classes, key, out),
        },
    }
}

fn scan_as_text(
    t: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
    out: &mut Scrubbed,
) -> Result<(), ScrubError> {
    out.kind = BodyKind::Text;
    out.body = match scan_text(
        t,
        contract.scan,
        Context::default(),
        classes,
        key,
        &mut out.findings,
    )? {
        TextOutcome::Unchanged => None,
        TextOutcome::Replaced(s) | TextOutcome::Drop(s) => Some(s.into_bytes()),
    };
    Ok(())
}

/// A form's names against the allow-list's top level.
fn form_rule<'c>(contract: &'c Contract, name: &str) -> PairRule<'c> {
    let Some(allow) = &contract.allow else {
        return PairRule::Scan(contract.actions.child(name).and_then(|n| n.action.as_ref()));
    };
    match allow.child(name) {
        Some(node) => PairRule::Scan(node.action.as_ref()),
        None => match contract.unknown {
            super::contract::Unknown::Drop => PairRule::Drop,
            super::contract::Unknown::Reject => PairRule::Reject,
            super::contract::Unknown::Allow => PairRule::Scan(None),
        },
    }
}

/// A body chaperone cannot read as text: refused, or (`other: pass`) passed
/// unchanged when no detector finds anything in its printable bytes (text
/// hidden between NULs, UTF-16 without a label, strings in a binary). What
/// cannot be rewritten and holds a finding is refused.
fn read_unreadable(
    body: &[u8],
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
    out: &mut Scrubbed,
) -> Result<(), ScrubError> {
    out.kind = BodyKind::Other;
    if contract.other == OtherContent::Block {
        return Err(ScrubError::ContentType);
    }
    let printable: String = body
        .iter()
        .filter(|&&b| (0x20..0x7F).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
        .map(|&b| char::from(b))
        .collect();
    let mut findings = Findings::new(classes.len());
    match scan_text(
        &printable,
        contract.scan,
        Context::default(),
        classes,
        key,
        &mut findings,
    ) {
        Ok(TextOutcome::Unchanged) => Ok(()),
        Ok(_) | Err(ScrubError::Blocked { .. }) => {
            let class = findings
                .by_class(classes)
                .first()
                .map_or_else(|| "unknown".to_owned(), |(c, _)| (*c).to_owned());
            out.findings = findings;
            Err(ScrubError::Unreadable { class })
        }
        Err(e) => Err(e),
    }
}
