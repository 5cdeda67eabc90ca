//! One whole message body under a contract, whatever its headers claim.
//!
//! A label does not switch the contract off: a body that is JSON gets the
//! JSON contract under any Content-Type (`text/plain`, `text/json`, none);
//! a declared charset other than UTF-8 is transcoded and scanned (UTF-16,
//! ISO-8859-1, windows-1252) or refused; several Content-Types, or a
//! compressed body, are refused; text that hides behind NUL bytes is not
//! clean text; and a body chaperone cannot read passes (`other: pass`) only
//! when nothing the detectors know shows in its printable bytes.

use std::borrow::Cow;

use super::class::Classes;
use super::contract::{Contract, OtherContent};
use super::detect::Context;
use super::query::{PairRule, Scanner, is_default_removed, rewrite_pairs};
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

impl BodyHeaders {
    /// How a body with these headers is cut into pieces that are each judged
    /// whole as it flows: server-sent events, or newline-delimited JSON. Only
    /// for one Content-Type, in UTF-8 (events are UTF-8 whatever a label
    /// says, so one naming another charset is read whole), with no encoding.
    pub fn framing(&self) -> Option<super::stream::Framing> {
        use super::stream::Framing;
        check_encodings(&self.content_encoding).ok()?;
        let [one] = self.content_type.as_slice() else {
            return None;
        };
        let media = MediaType::parse(one).ok()?;
        if media
            .charset
            .as_deref()
            .is_some_and(|c| c != "utf-8" && c != "utf8")
        {
            return None;
        }
        if media.is_grpc() {
            return Some(Framing::Messages);
        }
        match media.essence.as_str() {
            "text/event-stream" => Some(Framing::Events),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Some(Framing::Lines),
            _ if media.kind() == BodyKind::Json => Some(Framing::Document),
            _ => None,
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
    /// `type/subtype; param=value…` (RFC 9110: a value may be a quoted
    /// string, where `;` and `,` are text). `Err(ContentTypeConflict)` for a
    /// value that names several media types (a comma outside quotes) or none,
    /// `Err(Charset)` for two charsets: one reader would take the first,
    /// another the last.
    fn parse(value: &str) -> Result<Self, ScrubError> {
        let (essence, mut rest) = value.split_once(';').unwrap_or((value, ""));
        let essence = essence.trim().to_ascii_lowercase();
        if essence.is_empty() || essence.contains(',') || !essence.contains('/') {
            return Err(ScrubError::ContentTypeConflict);
        }
        let mut charset = None;
        while !rest.is_empty() {
            let (name, after) = rest.split_once('=').unwrap_or((rest, ""));
            let (value, next) = param_value(after.trim_start())?;
            if name.trim().eq_ignore_ascii_case("charset") {
                if charset.is_some() {
                    return Err(ScrubError::Charset);
                }
                charset = Some(value.trim().to_ascii_lowercase());
            }
            rest = next;
        }
        Ok(Self { essence, charset })
    }
    /// gRPC over HTTP/2, in protobuf (`application/grpc`, `+proto`).
    fn is_grpc(&self) -> bool {
        matches!(
            self.essence.as_str(),
            "application/grpc" | "application/grpc+proto"
        )
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

/// A parameter's value (a token or a quoted string) and what follows the
/// `;` after it; a `,` outside quotes is a second media type.
fn param_value(s: &str) -> Result<(String, &str), ScrubError> {
    let conflict = || ScrubError::ContentTypeConflict;
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    let after = quoted.get(i + 1..).unwrap_or_default().trim_start();
                    return match after.strip_prefix(';') {
                        Some(next) => Ok((value, next)),
                        None if after.is_empty() => Ok((value, "")),
                        None => Err(conflict()),
                    };
                }
                _ => value.push(c),
            }
        }
        return Err(conflict());
    }
    let (value, next) = s.split_once(';').unwrap_or((s, ""));
    if value.contains(',') {
        return Err(conflict());
    }
    Ok((value.to_owned(), next))
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
        [one] => Some(MediaType::parse(one)?),
        _ => return Err(ScrubError::ContentTypeConflict),
    };
    if let (Some(m), Some(message)) = (&media, &contract.message)
        && m.is_grpc()
    {
        let (body, findings) = super::proto::rewrite_grpc(
            body,
            &message.descriptors,
            &message.name,
            contract,
            classes,
            key,
        )?;
        let alert = match contract.limit {
            Some(limit) => limit.judge(findings.total())?,
            None => false,
        };
        return Ok(Scrubbed {
            body,
            content_type: None,
            kind: BodyKind::Other,
            findings,
            alert,
        });
    }
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
            read_text(body, &text, label, contract, classes, key, &mut out)?;
            if out.kind != BodyKind::Json {
                count_streamed_records(headers, &text.text, contract, classes, key, &mut out);
            }
            // A body read in another encoding that crosses as it came must
            // hold nothing for a reader that ignores the label either (ASCII
            // labelled UTF-16 reads as noise to chaperone, as ASCII to Go).
            // UTF-8 after its byte order mark reads the same to both.
            if out.body.is_none() && text.transcoded {
                scan_printable(body, contract, classes, key)?;
            }
            // What was read in another encoding crosses re-encoded only
            // when it changed, and then says it is UTF-8 now.
            if out.body.is_some() && text.transcoded {
                out.content_type = Some(utf8_label(media.as_ref(), out.kind));
            }
            if let (Some(new), Some(bom)) = (out.body.as_mut(), text.bom) {
                new.splice(0..0, bom.iter().copied());
            }
        }
        // Labelled as something chaperone reads, and not that: refused,
        // whatever `other` says.
        None if label == BodyKind::Json => {
            let offset = std::str::from_utf8(body)
                .err()
                .map_or(0, |e| e.valid_up_to());
            return Err(ScrubError::InvalidJson { offset });
        }
        None if matches!(label, BodyKind::Text | BodyKind::Form) => {
            return Err(ScrubError::NotUtf8);
        }
        None => read_unreadable(body, contract, classes, key, &mut out)?,
    }
    if let Some(limit) = contract.limit {
        out.alert = limit.judge(out.findings.total())?;
    }
    Ok(out)
}

/// The Content-Type of a body re-encoded as UTF-8: its media type when
/// that is a plain `type/subtype` with nothing a detector finds in it, else
/// the kind it was read as. Never the label's text as sent.
fn utf8_label(media: Option<&MediaType>, kind: BodyKind) -> String {
    let clean = media.map(|m| m.essence.as_str()).filter(|e| {
        e.len() <= 64
            && e.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/.+-".contains(&b))
            && super::detect::scan(e, super::detect::DetectorSet::all()).is_empty()
            && e.bytes().filter(u8::is_ascii_digit).nth(5).is_none()
    });
    let essence = clean.unwrap_or(match kind {
        BodyKind::Json => "application/json",
        BodyKind::Form => "application/x-www-form-urlencoded",
        BodyKind::Text | BodyKind::Other => "text/plain",
    });
    format!("{essence}; charset=utf-8")
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
struct Text<'a> {
    text: Cow<'a, str>,
    /// It was read in another encoding than UTF-8.
    transcoded: bool,
    /// A UTF-8 byte order mark before the text, kept on a new body.
    bom: Option<&'static [u8]>,
}

/// The body as text, if it is one: in its declared charset, else by its
/// byte order mark, else as UTF-8.
fn decode(body: &[u8], declared: Option<Charset>) -> Option<Text<'_>> {
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
        Charset::Utf8 => Cow::Borrowed(std::str::from_utf8(rest).ok()?),
        Charset::Utf16Le | Charset::Utf16Be => {
            Cow::Owned(utf16(rest, charset == Charset::Utf16Le)?)
        }
        Charset::Latin1 => Cow::Owned(rest.iter().map(|&b| char::from(b)).collect()),
        Charset::Windows1252 => Cow::Owned(rest.iter().map(|&b| windows_1252(b)).collect()),
    };
    Some(Text {
        text,
        transcoded: charset != Charset::Utf8,
        bom,
    })
}

/// Text with NUL or other control bytes (but tab, newline, carriage return,
/// form feed) is not clean: it may hide what it says from a byte scanner.
/// Counted without an early exit, block by block, so it compiles to SIMD.
fn clean(text: &str) -> bool {
    text.as_bytes().chunks(256).all(|block| {
        let hidden = block.iter().fold(0u8, |acc, &b| {
            let control = (b < 0x20) & !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C);
            acc | u8::from(control | (b == 0x7F))
        });
        hidden == 0
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

/// Text: JSON when it parses as JSON (whatever the label says; JSON has no
/// control bytes), else, when it is clean, a form when labelled so, or text;
/// text that is not clean is read as unreadable.
fn read_text(
    body: &[u8],
    text: &Text<'_>,
    label: BodyKind,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
    out: &mut Scrubbed,
) -> Result<(), ScrubError> {
    let t: &str = &text.text;
    // A form is read as the callee's form parser reads it, even when it
    // would parse as JSON too.
    if label == BodyKind::Form {
        if !clean(t) {
            return read_unreadable(body, contract, classes, key, out);
        }
        out.kind = BodyKind::Form;
        let mut scanner = Scanner {
            scan: contract.scan,
            classes,
            key,
            findings: &mut out.findings,
        };
        let rule = |name: &str| form_rule(contract, name);
        out.body = rewrite_pairs(t, rule, &mut scanner)?.map(String::into_bytes);
        return Ok(());
    }
    let start = t
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first();
    let json_like = matches!(
        start,
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    );
    if label == BodyKind::Json || json_like {
        match json::rewrite_text(t, contract, classes, key) {
            Ok((body, findings)) => {
                out.kind = BodyKind::Json;
                out.findings = findings;
                out.body = body;
                return Ok(());
            }
            // Where a JSON contract applies, an object or array that is
            // not strict JSON is refused: a lenient parser on the other side
            // (trailing data, NaN, a trailing comma, a lone surrogate) would
            // read what the contract never judged.
            Err(ScrubError::InvalidJson { .. })
                if label != BodyKind::Json && !(contract.is_structural() && opens_structure(t)) => {
            }
            // A body labelled JSON that is not JSON, and any JSON the
            // contract refuses, is refused, never passed.
            Err(e) => return Err(e),
        }
    } else if contract.is_structural() && opens_structure(t) {
        // An object or array behind comments or other whitespace.
        return Err(ScrubError::InvalidJson { offset: 0 });
    }
    if !clean(t) {
        return read_unreadable(body, contract, classes, key, out);
    }
    match label {
        BodyKind::Text if !contract.text => Ok(()),
        BodyKind::Json | BodyKind::Text | BodyKind::Form => {
            scan_as_text(t, contract, classes, key, out)
        }
        BodyKind::Other => match contract.other {
            OtherContent::Block => Err(ScrubError::ContentType),
            // `other: pass` passes what chaperone cannot read; this it can.
            OtherContent::Pass => scan_as_text(t, contract, classes, key, out),
        },
    }
}

/// Records in a body that crossed as text but holds JSON documents its
/// reader parses: each event's `data` (its `data:` lines joined, as an
/// event-stream client reads them) of a `text/event-stream` body, each line
/// of any other, read as it crosses: NDJSON is read as NDJSON whatever its
/// label says (`text/plain`, bytes a contract passes). What is not JSON
/// holds none; a form holds none.
fn count_streamed_records(
    headers: &BodyHeaders,
    text: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
    out: &mut Scrubbed,
) {
    use super::stream::Framing;
    if contract.records.is_none() || out.kind == BodyKind::Form {
        return;
    }
    let framing = match headers.framing() {
        Some(Framing::Events) => Some(Framing::Events),
        _ => Some(Framing::Lines),
    };
    let crossing = match &out.body {
        Some(new) => String::from_utf8_lossy(new),
        None => Cow::Borrowed(text),
    };
    let mut count = |doc: &str| {
        let found = json::count_records(doc, contract, classes, key);
        out.findings.merge(&found);
    };
    // Lines as an event-stream reader splits them: at CRLF, LF or a lone CR.
    let lines = crossing.split("\r\n").flat_map(|l| l.split(['\r', '\n']));
    if framing == Some(Framing::Lines) {
        lines.for_each(&mut count);
        return;
    }
    let mut data = String::new();
    for line in lines.chain([""]) {
        if line.is_empty() {
            count(&data);
            data.clear();
            continue;
        }
        let value = match line.strip_prefix("data") {
            Some("") => "",
            Some(rest) => match rest.strip_prefix(':') {
                Some(v) => v.strip_prefix(' ').unwrap_or(v),
                None => continue,
            },
            None => continue,
        };
        if !data.is_empty() {
            data.push('\n');
        }
        data.push_str(value);
    }
}

/// Whether text opens an object or an array as a lenient parser reads one:
/// a `{` or a `[` after any whitespace (Unicode's too), byte order marks,
/// comments (`//`, `/* */`, `#`) that JSON5, Gson or YAML skip, and the
/// prefixes that guard JSON from being run as a script (`)]}'`, which
/// Angular and Gson strip, `while(1);`, `for(;;);`); or a server-sent
/// event whose `data:` is such a value (every client parses it).
fn opens_structure(t: &str) -> bool {
    // Lines as an event-stream reader splits them: at CRLF, LF or a lone CR.
    opens_value(t)
        || t.split(['\r', '\n'])
            .filter_map(|line| line.strip_prefix("data:"))
            .any(opens_value)
}

fn opens_value(t: &str) -> bool {
    let line_end = |c: char| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
    let mut rest = t;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        let skipped = if rest.starts_with("//") || rest.starts_with('#') {
            rest.find(line_end).map_or("", |i| &rest[i..])
        } else if let Some(body) = rest.strip_prefix("/*") {
            body.find("*/").map_or("", |i| &body[i + 2..])
        } else if let Some(after) = rest.strip_prefix(")]}'") {
            after.strip_prefix(',').unwrap_or(after)
        } else if let Some(after) = ["while(1);", "for(;;);"]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
        {
            after
        } else {
            return rest.starts_with(['{', '[']);
        };
        rest = skipped;
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
        TextOutcome::Replaced(s) | TextOutcome::Drop(s) => {
            // Text that a replacement makes open like an array (a finding
            // at its start becomes `[REDACTED:class]`) would be refused by
            // the next hop: it is refused here.
            if contract.is_structural() && opens_structure(&s) {
                return Err(ScrubError::InvalidJson { offset: 0 });
            }
            Some(s.into_bytes())
        }
    };
    Ok(())
}

/// A form's names against the allow-list's top level; the credentials and
/// method overrides a query may not carry (RFC 6750 §2.2 puts access tokens
/// in form bodies too) are dropped unless the allow-list names them.
fn form_rule<'c>(contract: &'c Contract, name: &str) -> PairRule<'c> {
    let listed = contract.allow.as_ref().and_then(|a| a.child(name));
    if listed.is_none() && is_default_removed(name) {
        return PairRule::Drop;
    }
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
    scan_printable(body, contract, classes, key)
}

/// Refuses bytes whose printable reading (NULs and other bytes left out)
/// holds anything the contract's detectors find: bytes that cross as they
/// are cannot be rewritten.
fn scan_printable(
    body: &[u8],
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<(), ScrubError> {
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
            Err(ScrubError::Unreadable { class })
        }
        Err(e) => Err(e),
    }
}
