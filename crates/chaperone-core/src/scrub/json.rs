//! The streaming JSON rewriter: one pass over the bytes that validates the
//! document (RFC 8259, strictly), applies the contract (allow-list typed by
//! its paths, field actions, unknown fields) and scans every remaining key,
//! string and number, writing the result as it goes. No document tree is
//! built; memory is the output buffer (at most about the input's size) plus
//! a stack bounded by [`MAX_DEPTH`].
//!
//! Everything a parser on the other side reads is under the contract:
//! - object keys are scanned like strings (a key that is a card number is
//!   masked, hashed or redacted in place, or its member dropped);
//! - a number is judged by the integers parsers read it as (`number.rs`), so
//!   `4.111111111111111e15` is the card number it stands for;
//! - an allow-list path admits containers of the kind it implies only
//!   (`items[*].sku`: `items` an array of objects); anything else in their
//!   place is an unknown field;
//! - a field action aimed at an object or array applies to every leaf under
//!   it, never to the container's text.

use std::borrow::Cow;

use super::class::{Applied, Classes, apply_scanned};
use super::contract::{Contract, FieldAction, Node, Unknown};
use super::detect::{self, Context};
use super::number;
use super::text::{TextOutcome, scan_text};
use super::{Findings, ScrubError};
use crate::secret::HashKey;

mod flow;
pub use flow::{DocFlow, Under};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Where the walk is in the contract: the allow-list node (if any),
/// whether everything below is allowed, and the node of the records trie
/// (`Contract::records`) the value stands at, if any.
#[derive(Clone, Copy)]
struct At<'c> {
    node: Option<&'c Node>,
    open: bool,
    rec: Option<&'c Node>,
}

struct Rewriter<'a> {
    input: &'a [u8],
    /// The same bytes, validated once as UTF-8.
    text: &'a str,
    pos: usize,
    out: Vec<u8>,
    contract: &'a Contract,
    classes: &'a Classes,
    key: &'a HashKey,
    findings: Findings,
    changed: bool,
    /// The keys of the objects read last, in order (the first
    /// [`MEMO_KEYS`]), up to [`MEMO_SHAPES`] shapes, each known by its
    /// depth, contract node and first key. Objects in an array mostly
    /// repeat their keys in the same order (and those inside them too,
    /// `customer` and `shipping` of each order): a key equal to the one at
    /// its place last time is looked up and judged once. Only clean keys
    /// without escapes are kept. Fixed arrays: nothing is allocated for it.
    shapes: [KeysSeen<'a>; MEMO_SHAPES],
    /// The shape a new one replaces next (round robin).
    next_shape: usize,
    /// Shapes started so far: each shape carries the count at its start,
    /// so an object whose shape was replaced while it was open (by the
    /// objects inside it) knows it no longer owns it.
    shapes_started: u64,
    /// What a sibling label says the value being read is (see
    /// `Context::label`): set by an object for each member a label names,
    /// kept through arrays, cleared for the members of objects inside.
    label: Option<Cow<'a, str>>,
    /// Text shorter than this holds no finding of the contract's classes.
    gate: usize,
}

/// Object shapes remembered.
const MEMO_SHAPES: usize = 8;
/// Keys remembered per object.
const MEMO_KEYS: usize = 16;

/// The clean keys of the last object of one shape.
#[derive(Clone, Copy, Default)]
struct KeysSeen<'a> {
    /// When it was started (`Rewriter::shapes_started`).
    started: u64,
    depth: usize,
    node: Option<&'a Node>,
    len: usize,
    keys: [Seen<'a>; MEMO_KEYS],
}

/// A key (its token's place in the input), the contract node it led to,
/// and what it is as a label (`detect::label_kind`).
#[derive(Clone, Copy, Default)]
struct Seen<'a> {
    start: usize,
    end: usize,
    child: Option<&'a Node>,
    label: Label,
}

/// A remembered key found again: where its token ends, the node it led to,
/// what it is as a label.
type Known<'a> = (usize, Option<&'a Node>, Label);

/// What a member's name is as a label: how strongly it labels its siblings,
/// and whether it holds what a label names.
#[derive(Clone, Copy, Default)]
struct Label {
    strength: u8,
    labelled: bool,
}

impl Label {
    fn of(key: &str) -> Self {
        let (strength, labelled) = detect::label_kind(key);
        Self { strength, labelled }
    }
}

/// What a member's key decides.
struct Planned<'a> {
    /// The contract node its name leads to.
    child: Option<&'a Node>,
    key_label: Label,
    /// Where its value stands; `None`: the member is dropped.
    at: Option<At<'a>>,
    /// The key as it is written, when the member stays.
    written: Option<Cow<'a, [u8]>>,
    /// The key as it crosses, when a finding rewrote it.
    crossing: Option<String>,
    /// Nothing was found in the key.
    clean: bool,
}

impl Planned<'_> {
    /// Whether the member, by its name as it crosses, holds what a
    /// sibling label names.
    fn labelled(&self) -> bool {
        match &self.crossing {
            Some(c) => detect::label_kind(c).1,
            None => self.key_label.labelled,
        }
    }
}

/// Where a member or element under `node` stands: allowed (and how), or
/// `None` to drop it; `Err` when the contract rejects unknown fields.
fn admit<'c>(
    contract: &Contract,
    node: Option<&'c Node>,
    parent_open: bool,
    rec: Option<&'c Node>,
) -> Result<Option<At<'c>>, ScrubError> {
    let open = parent_open || node.is_some_and(|c| c.allow_subtree);
    if open || node.is_some() {
        return Ok(Some(At { node, open, rec }));
    }
    match contract.unknown {
        Unknown::Drop => Ok(None),
        Unknown::Reject => Err(ScrubError::UnknownField),
        Unknown::Allow => Ok(Some(At {
            node: None,
            open: true,
            rec,
        })),
    }
}

/// Where a value starting with `first` stands: `at` itself, `None` when it
/// is dropped, `Err` when the contract rejects it. A value of another kind
/// than the allow-list's path implies (a string where `items[*].sku` needs
/// an array) is an unknown field.
fn fitted<'c>(
    contract: &Contract,
    at: At<'c>,
    first: Option<u8>,
) -> Result<Option<At<'c>>, ScrubError> {
    match at.node {
        Some(node) if !at.open && !fits(node.shape(), first) => match contract.unknown {
            Unknown::Drop => Ok(None),
            Unknown::Reject => Err(ScrubError::UnknownField),
            Unknown::Allow => Ok(Some(At { open: true, ..at })),
        },
        _ => Ok(Some(at)),
    }
}

/// Where an object's members stand: an object where elements are named
/// (`items[*].account` sent as `items: {account}`) is read as one element.
fn object_at(at: At<'_>) -> At<'_> {
    match at.node {
        Some(n) if at.open && n.keys.is_empty() && n.any_key.is_none() => At {
            node: n.elements.as_deref().or(Some(n)),
            open: true,
            rec: at.rec,
        },
        _ => at,
    }
}

/// The node an array's elements stand under: its `[*]`, or, where
/// everything may cross, the array's own (an array in a place that names
/// fields holds elements with those fields: the actions aimed at
/// `customer.account` reach `customer: [{account}]` too).
fn element_node(at: At<'_>) -> Option<&Node> {
    at.node.and_then(|n| match &n.elements {
        Some(e) => Some(&**e),
        None if at.open => Some(n),
        None => None,
    })
}

fn same_node(a: Option<&Node>, b: Option<&Node>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Rewrites `input` under `contract`. Returns the new body, or `None` when
/// nothing changed (the original bytes may cross as they are).
pub fn rewrite(
    input: &[u8],
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<(Option<Vec<u8>>, Findings), ScrubError> {
    // One validation of the UTF-8 up front lets every slice be a &str later.
    let text = std::str::from_utf8(input).map_err(|e| ScrubError::InvalidJson {
        offset: e.valid_up_to(),
    })?;
    rewrite_text(text, contract, classes, key)
}

/// What one value judged at its place became.
pub(super) struct Judged {
    /// The value as it crosses (when it stays).
    out: Vec<u8>,
    findings: Findings,
    /// It stays (false: its member or element goes).
    kept: bool,
    /// It crosses other than it came.
    changed: bool,
}

/// The records `contract` counts in `text`, a JSON document read as it is
/// (nothing judged): what a body that crosses as text holds for a reader
/// that parses it (`body::count_streamed_records`). Not JSON: none.
pub fn count_records(
    text: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Findings {
    let counting = Contract {
        records: contract.records.clone(),
        ..Contract::default()
    };
    match rewrite_text(text, &counting, classes, key) {
        Ok((_, found)) => found,
        Err(_) => Findings::new(classes.len()),
    }
}

/// One complete value (`text`, whitespace around it allowed), judged
/// exactly as [`rewrite_text`] judges it where it stands: at `at`, under
/// its field action, named `name`, labelled `label` by a sibling, at
/// `depth`.
#[allow(clippy::too_many_arguments)]
fn judge_at(
    text: &str,
    at: At<'_>,
    action: Option<&FieldAction>,
    name: Option<&str>,
    label: Option<&str>,
    depth: usize,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<Judged, ScrubError> {
    let mut r = Rewriter::new(text, contract, classes, key);
    r.label = label.map(Cow::Borrowed);
    r.ws();
    let kept = r.value(at, action, name, depth)?;
    r.ws();
    if r.pos != text.len() {
        return Err(r.invalid());
    }
    Ok(Judged {
        changed: r.changed || !kept,
        out: r.out,
        findings: r.findings,
        kept,
    })
}

/// [`rewrite`] of text already known to be UTF-8.
pub fn rewrite_text(
    text: &str,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<(Option<Vec<u8>>, Findings), ScrubError> {
    let input = text.as_bytes();
    let mut r = Rewriter::new(text, contract, classes, key);
    r.ws();
    let root = At {
        node: Some(contract.root()),
        open: contract.allow.is_none(),
        rec: contract.records.as_deref().map(|r| &r.root),
    };
    let kept = r.value(root, None, None, 0)?;
    r.ws();
    if r.pos != input.len() {
        return Err(r.invalid());
    }
    if !kept {
        // The whole document was dropped: send an empty container of the
        // kind the contract expects.
        r.out.clear();
        let empty: &[u8] = match contract.root().shape() {
            Shape::Array => b"[]",
            _ => b"{}",
        };
        r.out.extend_from_slice(empty);
        r.changed = true;
    }
    let body = r.changed.then_some(r.out);
    Ok((body, r.findings))
}

impl<'a> Rewriter<'a> {
    fn new(text: &'a str, contract: &'a Contract, classes: &'a Classes, key: &'a HashKey) -> Self {
        let input = text.as_bytes();
        Rewriter {
            input,
            text,
            pos: 0,
            out: Vec::with_capacity(input.len()),
            contract,
            classes,
            key,
            findings: Findings::new(classes.len()),
            changed: false,
            shapes: [KeysSeen::default(); MEMO_SHAPES],
            next_shape: 0,
            shapes_started: 0,
            label: None,
            gate: super::text::shortest(contract.scan),
        }
    }
}

impl<'c> At<'c> {
    /// Everything below may cross (at `rec` in the records trie).
    fn open(rec: Option<&'c Node>) -> Self {
        At {
            node: None,
            open: true,
            rec,
        }
    }
}

/// Whether the value starting with `first` is of a kind `shape` admits.
/// `null` stands for an absent container and carries nothing.
fn fits(shape: Shape, first: Option<u8>) -> bool {
    matches!(
        (shape, first),
        (Shape::Any, _)
            | (_, Some(b'n'))
            | (Shape::Object, Some(b'{'))
            | (Shape::Array, Some(b'['))
            | (Shape::Either, Some(b'{' | b'['))
    )
}

/// What [`Rewriter::number_parts`] reads of a number token.
struct NumberParts {
    start: usize,
    int_digits: usize,
    exponent: bool,
}

/// The kinds of value an allow-list node admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Listed itself: anything.
    Any,
    Object,
    Array,
    /// Paths through it go both ways (`a.b` and `a[*]`).
    Either,
}

impl Node {
    pub(super) fn shape(&self) -> Shape {
        let object = !self.keys.is_empty() || self.any_key.is_some();
        let array = self.elements.is_some();
        match (self.allow_subtree, object, array) {
            (true, _, _) => Shape::Any,
            // Only the root of an empty allow-list: a document with no field.
            (false, false, false) => Shape::Object,
            (false, true, false) => Shape::Object,
            (false, false, true) => Shape::Array,
            (false, true, true) => Shape::Either,
        }
    }
}

impl<'a> Rewriter<'a> {
    fn invalid(&self) -> ScrubError {
        ScrubError::InvalidJson { offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), ScrubError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    /// Parses one value at `pos` and writes it (or its replacement). Returns
    /// false when it was dropped (nothing was written). `name` is the member
    /// name the value belongs to (an array's elements belong to the array's),
    /// context for the detectors.
    fn value(
        &mut self,
        at: At<'a>,
        action: Option<&FieldAction>,
        name: Option<&str>,
        depth: usize,
    ) -> Result<bool, ScrubError> {
        if depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        let first = self.peek();
        let kept = match action {
            Some(fa) => self.acted(fa, at.rec, name, depth)?,
            None => self.judged(at, name, depth)?,
        };
        // A record counts when it crosses (whatever the contract removed
        // from inside it).
        if kept && let Some(rec) = at.rec {
            rec.count_records(first, &mut self.findings);
        }
        Ok(kept)
    }

    /// A value under no field action, judged where it stands: whether it
    /// stays.
    fn judged(&mut self, at: At<'a>, name: Option<&str>, depth: usize) -> Result<bool, ScrubError> {
        let Some(at) = fitted(self.contract, at, self.peek())? else {
            self.skip_value(depth)?;
            self.changed = true;
            return Ok(false);
        };
        match self.peek() {
            Some(b'{') => self.object(at, depth),
            Some(b'[') => self.array(at, name, depth),
            Some(b'"') => self.string_value(name),
            Some(b't' | b'f' | b'n') => {
                let start = self.pos;
                self.literal()?;
                self.out.extend_from_slice(&self.input[start..self.pos]);
                Ok(true)
            }
            Some(b'-' | b'0'..=b'9') => self.number(name),
            _ => Err(self.invalid()),
        }
    }

    fn str_of(&self, start: usize, end: usize) -> &'a str {
        // Token boundaries are ASCII, so always char boundaries: O(1).
        self.text.get(start..end).unwrap_or_default()
    }

    /// Where a member or element stands: allowed (and how), or `None` to
    /// drop it; `Err` when the contract rejects unknown fields.
    fn admit(
        &self,
        node: Option<&'a Node>,
        parent_open: bool,
        rec: Option<&'a Node>,
    ) -> Result<Option<At<'a>>, ScrubError> {
        admit(self.contract, node, parent_open, rec)
    }

    /// Writes one member (with its key, as written or rewritten) or element,
    /// or skips it when it is dropped; keeps the commas right either way.
    fn member(
        &mut self,
        at: Option<At<'a>>,
        key: Option<&[u8]>,
        action: Option<&FieldAction>,
        name: Option<&str>,
        first: &mut bool,
        depth: usize,
    ) -> Result<(), ScrubError> {
        let Some(at) = at else {
            self.skip_value(depth)?;
            self.changed = true;
            return Ok(());
        };
        let mark = self.out.len();
        if !*first {
            self.out.push(b',');
        }
        if let Some(key) = key {
            self.out.extend_from_slice(key);
            self.out.push(b':');
        }
        if self.value(at, action, name, depth)? {
            *first = false;
        } else {
            self.out.truncate(mark);
            self.changed = true;
        }
        Ok(())
    }

    /// After a member: `,` continues (false), `close` ends the container (true).
    fn next_or_close(&mut self, close: u8) -> Result<bool, ScrubError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                self.out.push(close);
                Ok(true)
            }
            _ => Err(self.invalid()),
        }
    }

    /// Opens a container; true when it is empty (and already closed).
    fn open(&mut self, open: u8, close: u8) -> bool {
        self.pos += 1;
        self.out.push(open);
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            self.out.push(close);
            return true;
        }
        false
    }

    fn object(&mut self, at: At<'a>, depth: usize) -> Result<bool, ScrubError> {
        if self.open(b'{', b'}') {
            return Ok(true);
        }
        let at = object_at(at);
        let mut first = true;
        let mut index = 0;
        // What an earlier member said the value members hold (`"system":
        // ".../nhs-number"`), as a name for them.
        // Where its value is, and how strongly it labels; read only when a
        // member it names comes.
        let mut label: Option<(usize, u8)> = None;
        // The remembered shape this object takes, known by its first key,
        // and when that shape was started.
        let mut shape: Option<(usize, u64)> = None;
        // The name the label gives, read once, when a member it names comes.
        let mut label_name: Option<Option<Cow<'a, str>>> = None;
        // The label the object's container gave, back when the object ends.
        let outer = self.label.take();
        loop {
            self.ws();
            // A key seen at this place before is known by its bytes alone:
            // no decoding, no lookup.
            let known = match shape {
                None if index == 0 => self.first_seen(depth, at.node).map(|(s, k)| {
                    shape = Some(s);
                    k
                }),
                Some(s) => self.seen(s, index),
                None => None,
            };
            let (key, key_start, key_end, seen) = match known {
                Some((end, child, label)) => {
                    let start = self.pos;
                    self.pos = end;
                    self.colon()?;
                    let key = Cow::Borrowed(self.str_of(start + 1, end - 1));
                    (key, start, end, Some((child, label)))
                }
                None => {
                    let (key, start, end) = self.member_key()?;
                    (key, start, end, None)
                }
            };
            let raw = &self.input[key_start..key_end];
            let m = self.plan_member(at, &key, raw, seen)?;
            // Only keys without escapes: a key seen again is then the text
            // between its quotes.
            if seen.is_none() && m.clean && matches!(key, Cow::Borrowed(_)) {
                let seen = Seen {
                    start: key_start,
                    end: key_end,
                    child: m.child,
                    label: m.key_label,
                };
                match shape {
                    Some(s) => self.remember(s, index, seen),
                    None if index == 0 => shape = self.new_shape(depth, at.node, seen),
                    None => {}
                }
            }
            index += 1;
            let action = m.child.and_then(|c| c.action.as_ref());
            let own = m.crossing.as_deref().unwrap_or(&key);
            self.label = match label {
                Some((at, _)) if m.labelled() => {
                    label_name.get_or_insert_with(|| self.label_at(at)).clone()
                }
                _ => None,
            };
            let strength = m.key_label.strength;
            if strength > 0 && label.is_none_or(|(_, s)| strength >= s) && self.peek() == Some(b'"')
            {
                label = Some((self.pos, strength));
                label_name = None;
            }
            self.member(
                m.at,
                m.written.as_deref(),
                action,
                Some(own),
                &mut first,
                depth + 1,
            )?;
            if self.next_or_close(b'}')? {
                self.label = outer;
                return Ok(true);
            }
        }
    }

    /// The name the label member's string value at `at` gives its
    /// siblings, if it is short enough to read: its token is looked at for
    /// at most what [`detect::MAX_LABEL`] characters take escaped.
    fn label_at(&mut self, at: usize) -> Option<Cow<'a, str>> {
        let raw = self.input.get(at + 1..)?;
        let mut i = 0;
        while *raw.get(i)? != b'"' {
            i += if raw.get(i) == Some(&b'\\') { 2 } else { 1 };
            if i > detect::MAX_LABEL * 6 {
                return None;
            }
        }
        let here = self.pos;
        self.pos = at;
        let token = self.string_token();
        self.pos = here;
        match token.ok().filter(|t| t.len() <= detect::MAX_LABEL)? {
            Cow::Borrowed(label) => detect::label_name(label).map(Cow::Borrowed),
            Cow::Owned(label) => detect::label_name(&label).map(|l| Cow::Owned(l.to_owned())),
        }
    }

    /// What a member's key decides (`seen`: the node and label a key
    /// remembered at its place led to, judged clean before).
    fn plan_member(
        &mut self,
        at: At<'a>,
        key: &str,
        raw: &'a [u8],
        seen: Option<(Option<&'a Node>, Label)>,
    ) -> Result<Planned<'a>, ScrubError> {
        let (child, key_label) = match seen {
            Some(known) => known,
            None => (at.node.and_then(|n| n.child(key)), Label::of(key)),
        };
        let mut m = Planned {
            child,
            key_label,
            at: self.admit(child, at.open, at.rec.and_then(|n| n.child(key)))?,
            written: None,
            crossing: None,
            clean: true,
        };
        if m.at.is_some() && seen.is_none() {
            // Only a key that crosses is judged (and counted).
            match self.judge_key(key)? {
                None => m.written = Some(Cow::Borrowed(raw)),
                Some(Some(new)) => {
                    m.clean = false;
                    m.written = Some(Cow::Owned(json_string(&new)));
                    m.crossing = Some(new);
                }
                Some(None) => {
                    m.clean = false;
                    m.at = None;
                }
            }
        } else if m.at.is_some() {
            m.written = Some(Cow::Borrowed(raw));
        }
        Ok(m)
    }

    /// A member's key and the `:` after it: the decoded key and where its
    /// token lies in the input.
    fn member_key(&mut self) -> Result<(Cow<'a, str>, usize, usize), ScrubError> {
        self.ws();
        let start = self.pos;
        let key = self.string_token()?;
        let end = self.pos;
        self.colon()?;
        Ok((key, start, end))
    }

    /// The `:` after a key, with the whitespace around it.
    fn colon(&mut self) -> Result<(), ScrubError> {
        self.ws();
        self.expect(b':')?;
        self.ws();
        Ok(())
    }

    /// The remembered shape of an object at `depth` under `node` whose
    /// first key is the token at `pos`, and that key (see [`Self::seen`]).
    fn first_seen(
        &self,
        depth: usize,
        node: Option<&'a Node>,
    ) -> Option<((usize, u64), Known<'a>)> {
        self.shapes.iter().enumerate().find_map(|(s, shape)| {
            let id = (s, shape.started);
            (shape.len > 0 && shape.depth == depth && same_node(shape.node, node))
                .then(|| self.seen(id, 0))
                .flatten()
                .map(|k| (id, k))
        })
    }

    /// Whether the key token at `pos` is the one at `index` of shape `id`
    /// (the same bytes: a string token ends where its bytes do), while the
    /// shape is still the one the object took; if so, where it ends, the
    /// node it led to and what it is as a label.
    fn seen(&self, (s, started): (usize, u64), index: usize) -> Option<Known<'a>> {
        let shape = self
            .shapes
            .get(s)
            .filter(|shape| shape.started == started)?;
        let k = shape.keys.get(index).filter(|_| index < shape.len)?;
        let end = self.pos + (k.end - k.start);
        (self.input.get(k.start..k.end) == self.input.get(self.pos..end))
            .then_some((end, k.child, k.label))
    }

    /// Starts a shape from an object's first key, in place of the one
    /// remembered longest ago.
    fn new_shape(
        &mut self,
        depth: usize,
        node: Option<&'a Node>,
        first: Seen<'a>,
    ) -> Option<(usize, u64)> {
        let s = self.next_shape;
        self.next_shape = (s + 1) % MEMO_SHAPES;
        self.shapes_started += 1;
        let started = self.shapes_started;
        let shape = self.shapes.get_mut(s)?;
        *shape = KeysSeen {
            started,
            depth,
            node,
            len: 0,
            keys: shape.keys,
        };
        self.remember((s, started), 0, first);
        Some((s, started))
    }

    /// Keeps a clean key at its place in shape `id`, while the shape is
    /// still the one the object took.
    fn remember(&mut self, (s, started): (usize, u64), index: usize, seen: Seen<'a>) {
        let Some(shape) = self
            .shapes
            .get_mut(s)
            .filter(|shape| shape.started == started)
        else {
            return;
        };
        // In order only: a key at a place not reached yet is not kept.
        if index <= shape.len
            && let Some(slot) = shape.keys.get_mut(index)
        {
            *slot = seen;
            shape.len = shape.len.max(index + 1);
        }
    }

    /// A key as data: `None` when it is clean, `Some(Some(key))` for the
    /// rewritten key (decoded), `Some(None)` when a finding drops the member.
    fn judge_key(&mut self, key: &str) -> Result<Option<Option<String>>, ScrubError> {
        if key.len() < self.gate {
            return Ok(None);
        }
        let crossing = scan_text(
            key,
            self.contract.scan,
            Context::default(),
            self.classes,
            self.key,
            &mut self.findings,
        )?
        .crossing();
        self.changed |= crossing.is_some();
        Ok(crossing)
    }

    fn array(&mut self, at: At<'a>, name: Option<&str>, depth: usize) -> Result<bool, ScrubError> {
        if self.open(b'[', b']') {
            return Ok(true);
        }
        let element = element_node(at);
        let element_at = self.admit(element, at.open, at.rec.and_then(Node::record_elements))?;
        let action = element.and_then(|e| e.action.as_ref());
        let mut first = true;
        loop {
            self.ws();
            self.member(element_at, None, action, name, &mut first, depth + 1)?;
            if self.next_or_close(b']')? {
                return Ok(true);
            }
        }
    }

    /// A value under a field action. `drop`, `block` and `redact` take it
    /// whole; a mask or a hash applies to each string, number and boolean
    /// under it, so that no part of a container's text (a sibling's digits)
    /// ever shows through a mask. Keys under it are judged as everywhere.
    fn acted(
        &mut self,
        fa: &FieldAction,
        rec: Option<&'a Node>,
        name: Option<&str>,
        depth: usize,
    ) -> Result<bool, ScrubError> {
        if depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        match fa.action {
            super::class::Action::Drop => {
                self.skip_value(depth)?;
                self.changed = true;
                return Ok(false);
            }
            super::class::Action::Block => {
                self.skip_value(depth)?;
                return Err(ScrubError::Blocked {
                    class: fa.class.clone(),
                });
            }
            super::class::Action::Redact if matches!(self.peek(), Some(b'{' | b'[')) => {
                self.skip_value(depth)?;
                return self.apply_field(fa, "");
            }
            _ => {}
        }
        match self.peek() {
            Some(b'{') => {
                if self.open(b'{', b'}') {
                    return Ok(true);
                }
                let mut first = true;
                loop {
                    let (key, key_start, key_end) = self.member_key()?;
                    let raw = &self.input[key_start..key_end];
                    let open = At::open(rec.and_then(|n| n.child(&key)));
                    let (at, written, crossing) = match self.judge_key(&key)? {
                        None => (Some(open), Some(Cow::Borrowed(raw)), None),
                        Some(Some(new)) => {
                            (Some(open), Some(Cow::Owned(json_string(&new))), Some(new))
                        }
                        Some(None) => (None, None, None),
                    };
                    self.member(
                        at,
                        written.as_deref(),
                        Some(fa),
                        Some(crossing.as_deref().unwrap_or(&key)),
                        &mut first,
                        depth + 1,
                    )?;
                    if self.next_or_close(b'}')? {
                        return Ok(true);
                    }
                }
            }
            Some(b'[') => {
                if self.open(b'[', b']') {
                    return Ok(true);
                }
                let mut first = true;
                loop {
                    self.ws();
                    let open = At::open(rec.and_then(Node::record_elements));
                    self.member(Some(open), None, Some(fa), name, &mut first, depth + 1)?;
                    if self.next_or_close(b']')? {
                        return Ok(true);
                    }
                }
            }
            Some(b'"') => {
                let text = self.string_token()?;
                self.apply_field(fa, &text)
            }
            Some(b'n') => {
                // null carries nothing.
                let start = self.pos;
                self.literal()?;
                self.out.extend_from_slice(&self.input[start..self.pos]);
                Ok(true)
            }
            Some(b't' | b'f') => {
                let start = self.pos;
                self.literal()?;
                let raw = self.str_of(start, self.pos);
                self.apply_field(fa, raw)
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.number_token()?;
                let raw = self.str_of(start, self.pos);
                let candidates = number::integers(raw);
                let value = candidates.first().unwrap_or(raw).to_owned();
                self.apply_field(fa, &value)
            }
            _ => Err(self.invalid()),
        }
    }

    /// Writes what a field action makes of one scalar.
    fn apply_field(&mut self, fa: &FieldAction, value: &str) -> Result<bool, ScrubError> {
        self.changed = true;
        match apply_scanned(fa.action, &fa.class, value, self.key, self.contract.scan) {
            Applied::Replace(s) => {
                write_json_string(&mut self.out, &s);
                Ok(true)
            }
            Applied::Drop => Ok(false),
            Applied::Block => Err(ScrubError::Blocked {
                class: fa.class.clone(),
            }),
        }
    }

    /// Validates and skips a value without writing it.
    fn skip_value(&mut self, depth: usize) -> Result<(), ScrubError> {
        if depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                let (object, close) = (open == b'{', if open == b'{' { b'}' } else { b']' });
                self.pos += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if object {
                        self.skip_string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b) if b == close => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.invalid()),
                    }
                }
            }
            Some(b'"') => self.skip_string(),
            Some(b't' | b'f' | b'n') => self.literal(),
            Some(b'-' | b'0'..=b'9') => self.number_token().map(|_| ()),
            _ => Err(self.invalid()),
        }
    }

    fn literal(&mut self) -> Result<(), ScrubError> {
        for lit in [&b"true"[..], b"false", b"null"] {
            if self.input[self.pos..].starts_with(lit) {
                self.pos += lit.len();
                return Ok(());
            }
        }
        Err(self.invalid())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; returns its span
    /// start.
    fn number_token(&mut self) -> Result<usize, ScrubError> {
        self.number_parts().map(|n| n.start)
    }

    /// The number token at `pos`: where it starts, how many digits its
    /// integer part has, and whether it has an exponent.
    fn number_parts(&mut self) -> Result<NumberParts, ScrubError> {
        let start = self.pos;
        let digits = |r: &mut Self| {
            let s = r.pos;
            while let Some(b'0'..=b'9') = r.peek() {
                r.pos += 1;
            }
            r.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_digits = match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                1
            }
            Some(b'1'..=b'9') => digits(self),
            _ => return Err(self.invalid()),
        };
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.invalid());
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.invalid());
            }
        }
        Ok(NumberParts {
            start,
            int_digits,
            exponent,
        })
    }

    /// A number is scanned as the integers parsers read it as: a finding in
    /// any of them makes the whole number that finding, replaced by what its
    /// class makes of the integer (so every spelling of one value masks and
    /// hashes alike).
    fn number(&mut self, name: Option<&str>) -> Result<bool, ScrubError> {
        let parts = self.number_parts()?;
        let raw = self.str_of(parts.start, self.pos);
        // The common case: a number whose integer part is short and which
        // has no exponent (a count, a price) stands for no integer long
        // enough to hold a finding.
        let short = !parts.exponent && parts.int_digits < 6;
        // A policy's own detectors may find any number, as written too
        // (`1234.56`, `-1234567`).
        let custom = !self.contract.scan.custom().is_empty();
        if (!short || custom) && !self.contract.scan.is_empty() {
            let integers = number::integers(raw);
            let mut candidates: Vec<&str> = integers.iter().collect();
            if custom && !candidates.contains(&raw) {
                candidates.push(raw);
            }
            for integer in candidates {
                if !detect::may_contain(integer, self.contract.scan) {
                    continue;
                }
                let mut findings = Findings::new(self.classes.len());
                let outcome = scan_text(
                    integer,
                    self.contract.scan,
                    Context {
                        label: self.label.as_deref(),
                        ..Context::of_key(name)
                    },
                    self.classes,
                    self.key,
                    &mut findings,
                )?;
                let keep = match outcome {
                    TextOutcome::Unchanged => continue,
                    TextOutcome::Replaced(s) => Some(s),
                    TextOutcome::Drop(_) => None,
                };
                self.findings.merge(&findings);
                self.changed = true;
                return Ok(match keep {
                    Some(s) => {
                        write_json_string(&mut self.out, &s);
                        true
                    }
                    None => false,
                });
            }
        }
        self.out.extend_from_slice(raw.as_bytes());
        Ok(true)
    }

    fn string_value(&mut self, name: Option<&str>) -> Result<bool, ScrubError> {
        let start = self.pos;
        let text = self.string_token()?;
        let end = self.pos;
        if text.len() < self.gate {
            self.out.extend_from_slice(&self.input[start..end]);
            return Ok(true);
        }
        let ctx = Context {
            label: self.label.as_deref(),
            ..Context::of_key(name)
        };
        match scan_text(
            &text,
            self.contract.scan,
            ctx,
            self.classes,
            self.key,
            &mut self.findings,
        )? {
            TextOutcome::Unchanged => {
                self.out.extend_from_slice(&self.input[start..end]);
                Ok(true)
            }
            TextOutcome::Replaced(s) => {
                self.changed = true;
                write_json_string(&mut self.out, &s);
                Ok(true)
            }
            TextOutcome::Drop(_) => {
                self.changed = true;
                Ok(false)
            }
        }
    }

    fn skip_string(&mut self) -> Result<(), ScrubError> {
        self.string_token().map(|_| ())
    }

    /// Parses a string token and returns its decoded text (borrowed when it
    /// has no escapes).
    fn string_token(&mut self) -> Result<Cow<'a, str>, ScrubError> {
        self.expect(b'"')?;
        let start = self.pos;
        let input = self.input;
        // Fast path: jump to the first quote, backslash or control byte; a
        // string with no escape is borrowed as it is.
        let Some(i) = plain_end(&input[start..]).map(|off| start + off) else {
            self.pos = input.len();
            return Err(self.invalid());
        };
        if input[i] < 0x20 {
            self.pos = i;
            return Err(self.invalid());
        }
        if input[i] == b'"' {
            self.pos = i + 1;
            return Ok(Cow::Borrowed(self.str_of(start, i)));
        }
        let mut s = String::from(self.str_of(start, i));
        self.pos = i;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.invalid());
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(s));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.invalid())?;
                    self.pos += 1;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.input[self.pos..].starts_with(b"\\u") {
                                    return Err(self.invalid());
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.invalid());
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                char::from_u32(hi)
                            };
                            s.push(c.ok_or_else(|| self.invalid())?);
                        }
                        _ => return Err(self.invalid()),
                    }
                }
                b if b < 0x20 => return Err(self.invalid()),
                _ => {
                    // Copy the run up to the next quote, backslash or control byte.
                    let run_start = self.pos;
                    while let Some(c) = self.peek() {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    s.push_str(self.str_of(run_start, self.pos));
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ScrubError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.invalid())?;
        let mut v = 0u32;
        for d in digits {
            v = v * 16 + char::from(*d).to_digit(16).ok_or_else(|| self.invalid())?;
        }
        self.pos += 4;
        Ok(v)
    }
}

/// Where the plain run of a string's bytes ends: the first quote,
/// backslash or control byte in `b`, looked for eight bytes at a time.
fn plain_end(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that stops: `t - 1 & !t` flags the zero
    // bytes of `t` (a zero below borrows into the bytes above, so only the
    // lowest flag is sure, and only the lowest is read), and `x - 0x20 &
    // !x` the bytes below 0x20.
    let stops = |x: u64| {
        let zero = |t: u64| t.wrapping_sub(ONES) & !t;
        (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGHS
    };
    let (words, rest) = b.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let hits = stops(u64::from_le_bytes(*word));
        if hits != 0 {
            return Some(n * 8 + hits.trailing_zeros() as usize / 8);
        }
    }
    // The document's last bytes, padded with a byte that does not stop.
    let mut last = [b'a'; 8];
    last.get_mut(..rest.len())?.copy_from_slice(rest);
    let hits = stops(u64::from_le_bytes(last));
    (hits != 0).then(|| words.len() * 8 + hits.trailing_zeros() as usize / 8)
}

/// `text` as a JSON string token.
fn json_string(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    out
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            b if b < 0x20 => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::plain_end;

    /// The word-at-a-time search finds what a byte loop finds, whatever
    /// precedes the stop (bytes that borrow, high bytes) and wherever it
    /// lies in a word.
    #[test]
    fn plain_end_finds_the_first_stop() {
        let fillers: [&[u8]; 4] = [b"a", b"\x21", b"\xc3\xa9", b"\xff"];
        for stop in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for filler in fillers {
                for at in 0..40 {
                    let mut b: Vec<u8> = filler.iter().copied().cycle().take(at).collect();
                    b.push(stop);
                    b.extend_from_slice(b"\x00\"\\tail");
                    assert_eq!(plain_end(&b), Some(at), "{stop:#x} after {at} {filler:?}");
                    b.truncate(at);
                    assert_eq!(plain_end(&b), None);
                }
            }
        }
        for clean in [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xa2, 0xdc] {
            assert_eq!(plain_end(&[clean; 19]), None, "{clean:#x}");
        }
    }
}
