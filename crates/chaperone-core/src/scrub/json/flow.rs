//! A JSON document judged as it flows. Its containers are entered as they
//! open; inside one, every value complete in what is held (a string, a
//! number, a literal, or a container no longer than the contract's
//! `max_bytes`) is judged whole where it stands, exactly as the
//! whole-document rewriter judges it there, and crosses; a container still
//! open is entered in turn. What is held is at most one value or key
//! (bounded by `max_bytes`) and the path to it, so a 100 MB array of records
//! flows a record at a time wherever it is in the document.
//!
//! A place carries all the whole-document rewriter knows there: the
//! allow-list node (by the steps to it from the contract's root, so that it
//! outlives one part of the body) and whether everything below is allowed,
//! the field action, the member name the value is judged under, the label a
//! sibling gives it, and the depth.

use std::borrow::Cow;

use super::{
    At, Contract, Findings, HashKey, MAX_DEPTH, Node, Rewriter, ScrubError, Shape, admit,
    element_node, fitted, judge_at, object_at,
};
use crate::scrub::class::Classes;

/// One step from a contract node to a node below it, or to itself.
#[derive(Debug, Clone, Copy)]
enum Step {
    Key(usize),
    AnyKey,
    Elements,
    Same,
}

impl Step {
    /// The step from `parent` to `child`, which is reached from it.
    fn between(parent: &Node, child: &Node) -> Result<Step, ScrubError> {
        if std::ptr::eq(parent, child) {
            return Ok(Step::Same);
        }
        if parent
            .elements
            .as_deref()
            .is_some_and(|e| std::ptr::eq(e, child))
        {
            return Ok(Step::Elements);
        }
        if parent
            .any_key
            .as_deref()
            .is_some_and(|a| std::ptr::eq(a, child))
        {
            return Ok(Step::AnyKey);
        }
        parent
            .keys
            .iter()
            .position(|(_, n)| std::ptr::eq(n, child))
            .map(Step::Key)
            .ok_or(ScrubError::Internal)
    }

    fn take(self, node: &Node) -> Option<&Node> {
        match self {
            Step::Key(i) => node.keys.get(i).map(|(_, n)| n),
            Step::AnyKey => node.any_key.as_deref(),
            Step::Elements => node.elements.as_deref(),
            Step::Same => Some(node),
        }
    }
}

/// Where a value stands.
#[derive(Debug, Clone, Default)]
struct Place {
    /// Its contract node, by the steps from the root; `None`: it has none.
    node: Option<Vec<Step>>,
    /// Its node in the records trie (`Contract::records`), likewise.
    rec: Option<Vec<Step>>,
    /// Everything below may cross.
    open: bool,
    /// The member name it is judged under.
    name: Option<String>,
    /// What a sibling label says it is.
    label: Option<String>,
    depth: usize,
}

/// The node `steps` lead to from `root`.
fn follow<'c>(root: &'c Node, steps: &Option<Vec<Step>>) -> Result<Option<&'c Node>, ScrubError> {
    let Some(steps) = steps else {
        return Ok(None);
    };
    let mut node = root;
    for step in steps {
        node = step.take(node).ok_or(ScrubError::Internal)?;
    }
    Ok(Some(node))
}

/// The steps to `to`, reached from `from`, which `steps` lead to.
fn steps_below(
    steps: &Option<Vec<Step>>,
    from: Option<&Node>,
    to: Option<&Node>,
) -> Result<Option<Vec<Step>>, ScrubError> {
    match (steps, from, to) {
        (_, _, None) => Ok(None),
        (Some(steps), Some(parent), Some(child)) => {
            let step = Step::between(parent, child)?;
            Ok(Some(steps.iter().copied().chain([step]).collect()))
        }
        // A node is only ever reached from its parent's.
        _ => Err(ScrubError::Internal),
    }
}

impl Place {
    fn node<'c>(&self, contract: &'c Contract) -> Result<Option<&'c Node>, ScrubError> {
        follow(contract.root(), &self.node)
    }

    fn at<'c>(&self, contract: &'c Contract) -> Result<At<'c>, ScrubError> {
        let rec = match &contract.records {
            Some(records) => follow(&records.root, &self.rec)?,
            None => None,
        };
        Ok(At {
            node: self.node(contract)?,
            open: self.open,
            rec,
        })
    }

    /// The place below this one (at `from`) that `to` describes.
    fn below(
        &self,
        from: At<'_>,
        to: At<'_>,
        name: Option<String>,
        label: Option<String>,
    ) -> Result<Self, ScrubError> {
        Ok(Place {
            node: steps_below(&self.node, from.node, to.node)?,
            rec: steps_below(&self.rec, from.rec, to.rec)?,
            open: to.open,
            name,
            label,
            depth: self.depth + 1,
        })
    }
}

/// An open container.
#[derive(Debug)]
struct Frame {
    object: bool,
    /// What is inside crosses (false: it is only validated, and goes).
    keep: bool,
    /// Where the container stands (an object's as its members see it).
    place: Place,
    /// Nothing inside it crossed yet: the next needs no comma.
    first: bool,
    /// An object's sibling label so far: the name it gives (if it gives
    /// one) and how strongly it labels.
    label: Option<(Option<String>, u8)>,
}

/// A member or element whose value comes next.
#[derive(Debug)]
struct Member {
    /// Where its value stands; `None`: it goes (its value is validated).
    place: Option<Place>,
    /// Its key and `:` as they cross (nothing for an element).
    key: Vec<u8>,
    /// How strongly it labels its siblings, if its value is a string.
    labels: u8,
    depth: usize,
}

#[derive(Debug)]
enum Next {
    /// A value.
    Value(Member),
    /// Right after `{` or `[`: a member, an element, or the close.
    Opened,
    /// After a `,` in an object: a key.
    Key,
    /// After a value inside a container: `,` or the close.
    After,
    /// After the document: whitespace only.
    Done,
}

/// A document that is an object or an array, judged as it flows.
#[derive(Debug)]
pub struct DocFlow {
    /// Bytes not read yet: at most one token waiting for its end.
    held: Vec<u8>,
    stack: Vec<Frame>,
    next: Next,
    changed: bool,
    /// How far the token waiting in `held` was searched.
    scan: Scan,
}

/// What a flowing document is judged under.
pub struct Under<'c> {
    pub contract: &'c Contract,
    pub classes: &'c Classes,
    pub key: &'c HashKey,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// How far the token held at the start of `held` was searched for its end
/// without finding it: the next part resumes there, so a token that comes in
/// many small parts is searched once.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    pos: usize,
    /// Containers open (a container's search).
    depth: usize,
    /// Inside a string (a container's search).
    string: bool,
    /// A key's token ended here; what follows is searched for its `:`.
    key_end: Option<usize>,
}

/// The end (exclusive) of the string token starting at `buf[0]` (a quote),
/// if it is complete; the search resumes at `scan.pos`.
fn string_end(buf: &[u8], scan: &mut Scan) -> Option<usize> {
    let mut i = scan.pos.max(1);
    while i < buf.len() {
        match buf[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    scan.pos = i;
    None
}

/// The end (exclusive) of the container starting at `buf[0]`, if it is
/// complete within the first `limit` bytes; the search resumes where
/// `scan` left it.
fn container_end(buf: &[u8], limit: usize, scan: &mut Scan) -> Option<usize> {
    let buf = &buf[..buf.len().min(limit)];
    while scan.pos < buf.len() {
        let b = buf[scan.pos];
        if scan.string {
            match b {
                b'\\' => {
                    scan.pos += 2;
                    continue;
                }
                b'"' => scan.string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => scan.string = true,
                b'{' | b'[' => scan.depth += 1,
                b'}' | b']' => {
                    scan.depth = scan.depth.saturating_sub(1);
                    if scan.depth == 0 {
                        return Some(scan.pos + 1);
                    }
                }
                _ => {}
            }
        }
        scan.pos += 1;
    }
    None
}

/// The end of a number or literal token: the first byte that may follow a
/// value, if one came; the search resumes at `scan.pos`.
fn scalar_end(buf: &[u8], scan: &mut Scan) -> Option<usize> {
    let from = scan.pos.min(buf.len());
    match buf[from..]
        .iter()
        .position(|&b| is_ws(b) || matches!(b, b',' | b']' | b'}'))
    {
        Some(i) => Some(from + i),
        None => {
            scan.pos = buf.len();
            None
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, ScrubError> {
    std::str::from_utf8(bytes).map_err(|e| ScrubError::InvalidJson {
        offset: e.valid_up_to(),
    })
}

impl DocFlow {
    /// A document whose first byte (not yet fed) opens an object or array.
    pub fn new(contract: &Contract) -> Self {
        let root = Place {
            node: Some(Vec::new()),
            rec: contract.records.as_ref().map(|_| Vec::new()),
            open: contract.allow.is_none(),
            ..Place::default()
        };
        DocFlow {
            held: Vec::new(),
            stack: Vec::new(),
            next: Next::Value(Member {
                place: Some(root),
                key: Vec::new(),
                labels: 0,
                depth: 0,
            }),
            changed: false,
            scan: Scan::default(),
        }
    }

    /// Reads the next part of the document (`end`: the last), writing what
    /// crosses to `out`. `count` takes each judged piece's findings before
    /// the piece crosses; its error ends the document there. Returns whether
    /// anything crossed other than it came, so far.
    pub fn feed(
        &mut self,
        part: &[u8],
        end: bool,
        under: &Under<'_>,
        out: &mut Vec<u8>,
        count: &mut dyn FnMut(&Findings) -> Result<(), ScrubError>,
    ) -> Result<bool, ScrubError> {
        self.held.extend_from_slice(part);
        let mut i = 0;
        let read = loop {
            while self.held.get(i).copied().is_some_and(is_ws) {
                i += 1;
            }
            if i == self.held.len() {
                break Ok(());
            }
            match self.step(i, under, out, count) {
                Ok(Some(next)) => {
                    // A token was read: the next is searched afresh.
                    self.scan = Scan::default();
                    i = next;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.held.drain(..i);
        read?;
        let max = under.contract.max_body;
        if self.held.len() > max {
            return Err(ScrubError::TooLarge { limit: max });
        }
        // The names of the arrays open, which their elements are judged
        // under, are held too: together no more than a value.
        let names: usize = self
            .stack
            .iter()
            .filter_map(|f| f.place.name.as_ref().map(String::len))
            .sum();
        if names > max {
            return Err(ScrubError::TooLarge { limit: max });
        }
        if end && (!matches!(self.next, Next::Done) || !self.held.is_empty()) {
            return Err(ScrubError::InvalidJson { offset: 0 });
        }
        Ok(self.changed)
    }

    /// Reads what comes at `i` (not whitespace): where reading goes on, or
    /// `None` when it waits for more.
    fn step(
        &mut self,
        i: usize,
        under: &Under<'_>,
        out: &mut Vec<u8>,
        count: &mut dyn FnMut(&Findings) -> Result<(), ScrubError>,
    ) -> Result<Option<usize>, ScrubError> {
        let b = self.held[i];
        let invalid = ScrubError::InvalidJson { offset: i };
        match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => Err(invalid),
            Next::Value(member) => self.value(i, member, under, out, count),
            Next::After => {
                let frame = self.stack.last().ok_or(ScrubError::Internal)?;
                let close = if frame.object { b'}' } else { b']' };
                if b == close {
                    self.close(out);
                } else if b == b',' {
                    self.next = if frame.object {
                        Next::Key
                    } else {
                        Next::Value(self.element(under.contract)?)
                    };
                } else {
                    return Err(invalid);
                }
                Ok(Some(i + 1))
            }
            Next::Opened => {
                let frame = self.stack.last().ok_or(ScrubError::Internal)?;
                let close = if frame.object { b'}' } else { b']' };
                if b == close {
                    self.close(out);
                    Ok(Some(i + 1))
                } else if frame.object {
                    self.key(i, under, count)
                } else {
                    self.next = Next::Value(self.element(under.contract)?);
                    Ok(Some(i))
                }
            }
            Next::Key => self.key(i, under, count),
        }
    }

    /// Ends the innermost container.
    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(frame) = self.stack.pop()
            && frame.keep
        {
            out.push(if frame.object { b'}' } else { b']' });
        }
        self.next = if self.stack.is_empty() {
            Next::Done
        } else {
            Next::After
        };
    }

    /// The next element of the innermost container, an array.
    fn element(&self, contract: &Contract) -> Result<Member, ScrubError> {
        let frame = self.stack.last().ok_or(ScrubError::Internal)?;
        let depth = frame.place.depth + 1;
        let place = if frame.keep {
            let at = frame.place.at(contract)?;
            let node = element_node(at);
            match admit(
                contract,
                node,
                at.open,
                at.rec.and_then(Node::record_elements),
            )? {
                Some(to) => Some(frame.place.below(
                    at,
                    to,
                    frame.place.name.clone(),
                    frame.place.label.clone(),
                )?),
                None => None,
            }
        } else {
            None
        };
        Ok(Member {
            place,
            key: Vec::new(),
            labels: 0,
            depth,
        })
    }

    /// A member's key and its `:` at `i`, read when all of it is held.
    fn key(
        &mut self,
        i: usize,
        under: &Under<'_>,
        count: &mut dyn FnMut(&Findings) -> Result<(), ScrubError>,
    ) -> Result<Option<usize>, ScrubError> {
        let held = &self.held[i..];
        if held[0] != b'"' {
            return Err(ScrubError::InvalidJson { offset: i });
        }
        let token_end = match self.scan.key_end {
            Some(end) => end,
            None => {
                let Some(end) = string_end(held, &mut self.scan) else {
                    self.next = Next::Key;
                    return Ok(None);
                };
                self.scan = Scan {
                    pos: end,
                    key_end: Some(end),
                    ..Scan::default()
                };
                end
            }
        };
        let from = self.scan.pos.max(token_end);
        let Some(colon) = held[from..]
            .iter()
            .position(|&b| !is_ws(b))
            .map(|c| from + c - token_end)
        else {
            self.scan.pos = held.len();
            self.next = Next::Key;
            return Ok(None);
        };
        if held[token_end + colon] != b':' {
            return Err(ScrubError::InvalidJson {
                offset: i + token_end + colon,
            });
        }
        let token = utf8(&held[..token_end])?;
        let frame = self.stack.last_mut().ok_or(ScrubError::Internal)?;
        let depth = frame.place.depth + 1;
        let mut r = Rewriter::new(token, under.contract, under.classes, under.key);
        let name = r.string_token()?;
        let member = if frame.keep {
            let at = frame.place.at(under.contract)?;
            let m = r.plan_member(at, &name, token.as_bytes(), None)?;
            count(&r.findings)?;
            self.changed |= m.at.is_none() || m.crossing.is_some();
            let label = match &frame.label {
                Some((name, _)) if m.labelled() => name.clone(),
                _ => None,
            };
            let own = m.crossing.clone().unwrap_or_else(|| name.to_string());
            let mut key = m.written.as_deref().unwrap_or_default().to_vec();
            key.push(b':');
            Member {
                place: match m.at {
                    Some(to) => Some(frame.place.below(at, to, Some(own), label)?),
                    None => None,
                },
                key,
                labels: m.key_label.strength,
                depth,
            }
        } else {
            Member {
                place: None,
                key: Vec::new(),
                labels: 0,
                depth,
            }
        };
        self.next = Next::Value(member);
        Ok(Some(i + token_end + colon + 1))
    }

    /// A value at `i`: judged whole when all of it is held, entered when it
    /// is a container still open (or the document itself).
    fn value(
        &mut self,
        i: usize,
        member: Member,
        under: &Under<'_>,
        out: &mut Vec<u8>,
        count: &mut dyn FnMut(&Findings) -> Result<(), ScrubError>,
    ) -> Result<Option<usize>, ScrubError> {
        if member.depth > MAX_DEPTH {
            return Err(ScrubError::TooDeep);
        }
        let contract = under.contract;
        let held = &self.held[i..];
        let first = held[0];
        let root = self.stack.is_empty();
        let container = matches!(first, b'{' | b'[');
        // A field action takes its value whole.
        let acted = !root
            && match &member.place {
                Some(p) => p.node(contract)?.is_some_and(|n| n.action.is_some()),
                None => false,
            };
        let whole_end = match first {
            b'"' => string_end(held, &mut self.scan),
            b'{' | b'[' if root => None,
            b'{' | b'[' => container_end(held, contract.max_body.saturating_add(1), &mut self.scan),
            _ => scalar_end(held, &mut self.scan),
        };
        let Some(len) = whole_end.filter(|&l| l <= contract.max_body) else {
            if !container || acted {
                // Held until it is complete: bounded as a piece is.
                if held.len() > contract.max_body {
                    return Err(ScrubError::TooLarge {
                        limit: contract.max_body,
                    });
                }
                self.next = Next::Value(member);
                return Ok(None);
            }
            self.enter(first, member, under, out, count)?;
            return Ok(Some(i + 1));
        };
        let text = utf8(&held[..len])?;
        let parent = self.stack.last_mut().ok_or(ScrubError::Internal)?;
        if first == b'"'
            && member.labels > 0
            && parent
                .label
                .as_ref()
                .is_none_or(|(_, s)| member.labels >= *s)
        {
            let mut r = Rewriter::new(text, contract, under.classes, under.key);
            let name = r.label_at(0).map(Cow::into_owned);
            parent.label = Some((name, member.labels));
        }
        match &member.place {
            None => {
                let mut r = Rewriter::new(text, contract, under.classes, under.key);
                r.skip_value(member.depth)?;
                if r.pos != text.len() {
                    return Err(r.invalid());
                }
                self.changed |= parent.keep;
            }
            Some(place) => {
                let at = place.at(contract)?;
                let action = at.node.and_then(|n| n.action.as_ref());
                let judged = judge_at(
                    text,
                    at,
                    action,
                    place.name.as_deref(),
                    place.label.as_deref(),
                    member.depth,
                    contract,
                    under.classes,
                    under.key,
                )?;
                count(&judged.findings)?;
                self.changed |= judged.changed;
                if judged.kept {
                    if !std::mem::take(&mut parent.first) {
                        out.push(b',');
                    }
                    out.extend_from_slice(&member.key);
                    out.extend_from_slice(&judged.out);
                }
            }
        }
        self.next = Next::After;
        Ok(Some(i + len))
    }

    /// Enters a container that opens with `first`.
    fn enter(
        &mut self,
        first: u8,
        member: Member,
        under: &Under<'_>,
        out: &mut Vec<u8>,
        count: &mut dyn FnMut(&Findings) -> Result<(), ScrubError>,
    ) -> Result<(), ScrubError> {
        let contract = under.contract;
        let object = first == b'{';
        let root = self.stack.is_empty();
        let mut frame = Frame {
            object,
            keep: false,
            place: Place {
                depth: member.depth,
                ..Place::default()
            },
            first: true,
            label: None,
        };
        if let Some(place) = member.place {
            let at = place.at(contract)?;
            match fitted(contract, at, Some(first))? {
                Some(at) => {
                    let inner = if object { object_at(at) } else { at };
                    // An array's name and label are its elements'; an
                    // object's members have their own.
                    // An object's members have their own names and labels:
                    // it keeps none (held names are bounded, see `feed`).
                    let (name, label) = match object {
                        true => (None, None),
                        false => (place.name.clone(), place.label.clone()),
                    };
                    frame.place = Place {
                        depth: place.depth,
                        ..place.below(at, inner, name, label)?
                    };
                    frame.keep = true;
                    // A record counts as it starts to cross.
                    if let Some(rec) = at.rec {
                        let mut found = Findings::new(under.classes.len());
                        rec.count_records(Some(first), &mut found);
                        count(&found)?;
                    }
                    if let Some(parent) = self.stack.last_mut() {
                        if !std::mem::take(&mut parent.first) {
                            out.push(b',');
                        }
                        out.extend_from_slice(&member.key);
                    }
                    out.push(first);
                }
                None => {
                    self.changed = true;
                    if root {
                        // The whole document goes: an empty container of the
                        // kind the contract expects crosses in its place.
                        out.extend_from_slice(match contract.root().shape() {
                            Shape::Array => b"[]",
                            _ => b"{}",
                        });
                    }
                }
            }
        } else if let Some(parent) = self.stack.last() {
            self.changed |= parent.keep;
        }
        self.stack.push(frame);
        self.next = Next::Opened;
        Ok(())
    }
}
