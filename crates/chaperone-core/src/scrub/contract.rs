//! A hop's data contract for one direction: which fields may cross, what is
//! done to them, what is scanned for, and the bounds.

use std::sync::Arc;

use super::Findings;
use super::class::Action;
use super::detect::DetectorSet;

/// What happens to a field the allow-list does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    #[default]
    Drop,
    /// Refuse the message: 400 toward a callee, 502 toward a caller.
    Reject,
    Allow,
}

/// Bodies that are neither JSON nor text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherContent {
    Pass,
    #[default]
    Block,
}

/// What happens past a findings limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAction {
    Block,
    Alert,
}

/// The bulk-exfiltration guard: more than `findings` findings in one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub findings: u32,
    pub action: LimitAction,
}

impl Limit {
    /// Judges `found` findings in one message: `Ok(true)` when past the
    /// limit and the hop only alerts, `Err` when it blocks.
    pub fn judge(&self, found: u32) -> Result<bool, super::ScrubError> {
        if found <= self.findings {
            return Ok(false);
        }
        match self.action {
            LimitAction::Block => Err(super::ScrubError::LimitExceeded {
                found,
                limit: self.findings,
            }),
            LimitAction::Alert => Ok(true),
        }
    }
}

/// The field action: an action with the class name its placeholder shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAction {
    pub action: Action,
    pub class: String,
}

/// One level of the allow-list, keyed by field name.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Few keys per level: a vector searched in order beats hashing.
    pub keys: Vec<(Box<str>, Node)>,
    /// `*`: any key at this level.
    pub any_key: Option<Box<Node>>,
    /// `[*]`: every element of an array here.
    pub elements: Option<Box<Node>>,
    /// Listed itself: the whole subtree may cross.
    pub allow_subtree: bool,
    pub action: Option<FieldAction>,
    /// A listed name holds an upper-case letter.
    pub cased: bool,
    /// In a records trie ([`Records`]): the record paths whose records
    /// stand here, the elements of the array a path names.
    pub records: Vec<usize>,
}

impl Node {
    /// The node for a member named `key`: the listed name, else one that
    /// parsers bind it to (any case, a `[…]` suffix as PHP and Rack read
    /// `account[]`), else `*`.
    pub fn child(&self, key: &str) -> Option<&Node> {
        if self.keys.is_empty() {
            return self.any_key.as_deref();
        }
        if let Some((_, n)) = self.keys.iter().find(|(k, _)| **k == *key) {
            return Some(n);
        }
        // Only a name with an upper-case letter or a '[', or any name where
        // a listed one has an upper-case letter, can bind to a listed name
        // it does not equal.
        let bare = match memchr::memchr(b'[', key.as_bytes()) {
            Some(i) => &key[..i],
            None if !self.cased && !key.bytes().any(|b| b.is_ascii_uppercase()) => "",
            None => key,
        };
        (!bare.is_empty())
            .then(|| self.keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(bare)))
            .flatten()
            .map(|(_, n)| n)
            .or(self.any_key.as_deref())
    }

    /// In a records trie: where the elements of an array standing here
    /// stand. At a node that names no elements and holds no records, an
    /// array's elements stand where the array does (`data.items[*]` counts
    /// in `data: [{items: [...]}, ...]` too), as field actions follow arrays.
    pub fn record_elements(&self) -> Option<&Node> {
        match &self.elements {
            Some(e) => Some(e),
            None => self.records.is_empty().then_some(self),
        }
    }

    /// In a records trie: counts a value that crosses standing here, whose
    /// first byte is `first`: one record for each path whose records stand
    /// here, and, where a path's array stands, one for a value that is not
    /// an array (a record sent bare: `"orders": {...}`, or a document that
    /// is one object under `[*]`). `null` is none.
    pub fn count_records(&self, first: Option<u8>, findings: &mut Findings) {
        if first == Some(b'n') {
            return;
        }
        for &r in &self.records {
            findings.add_record(r);
        }
        if first != Some(b'[')
            && let Some(e) = &self.elements
        {
            for &r in &e.records {
                findings.add_record(r);
            }
        }
    }

    /// Folds what `*` says into every listed sibling, level by level: a
    /// listed name does not escape an action or an allowance aimed at all
    /// names (`allow: [meta.card]` with `fields: {"meta.*": redact}`).
    pub fn merge_wildcards(&mut self) {
        if let Some(any) = self.any_key.as_deref() {
            let any = any.clone();
            for (_, child) in &mut self.keys {
                child.absorb(&any);
            }
        }
        for (_, child) in &mut self.keys {
            child.merge_wildcards();
        }
        for child in [self.any_key.as_deref_mut(), self.elements.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            child.merge_wildcards();
        }
    }

    /// Adds `other`'s allowances and actions where this node has none.
    fn absorb(&mut self, other: &Node) {
        self.allow_subtree |= other.allow_subtree;
        for r in &other.records {
            if !self.records.contains(r) {
                self.records.push(*r);
            }
        }
        if self.action.is_none() {
            self.action = other.action.clone();
        }
        for (k, n) in &other.keys {
            match self.keys.iter_mut().find(|(m, _)| m == k) {
                Some((_, mine)) => mine.absorb(n),
                None => {
                    self.cased |= k.bytes().any(|b| b.is_ascii_uppercase());
                    self.keys.push((k.clone(), n.clone()));
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.any_key, &other.any_key),
            (&mut self.elements, &other.elements),
        ] {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(Box::default).absorb(theirs);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field path {path:?}: {problem}")]
pub struct PathError {
    pub path: String,
    pub problem: &'static str,
}

/// A compiled contract.
#[derive(Debug, Clone, Default)]
pub struct Contract {
    /// `None`: every field may cross (only scanning and field actions apply).
    pub allow: Option<Node>,
    /// Field actions when there is no allow-list.
    pub actions: Node,
    pub unknown: Unknown,
    /// Detectors run on every remaining string.
    pub scan: DetectorSet,
    pub limit: Option<Limit>,
    pub other: OtherContent,
    /// Scan `text/*` bodies as text.
    pub text: bool,
    pub max_body: usize,
    /// Server-sent events, NDJSON and JSON may cross as they flow, a piece
    /// at a time, each bounded by `max_body` (scrub::stream).
    pub stream: bool,
    /// gRPC bodies hold messages of this protobuf type (scrub::proto).
    pub message: Option<MessageType>,
    /// The arrays whose elements records budgets count; `None` when no
    /// budget counts records (nothing is looked for then).
    pub records: Option<Arc<Records>>,
}

/// The record paths of a direction's budgets (`orders[*]`, `[*]`), as a
/// trie of [`Node`]s like the allow-list's, walked beside it: a node's
/// `records` names the paths whose records stand there.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub root: Node,
    /// Each path as written, by its index in [`Findings`]' record counts.
    pub paths: Vec<String>,
}

impl Records {
    /// Adds a record path (once: the same path twice is one count). Returns
    /// its index.
    pub fn add(&mut self, path: &str) -> Result<usize, PathError> {
        if let Some(i) = self.paths.iter().position(|p| p == path) {
            return Ok(i);
        }
        let steps = record_path(path)?;
        let index = self.paths.len();
        walk(&mut self.root, &steps).records.push(index);
        self.paths.push(path.to_owned());
        self.root.merge_wildcards();
        fold_elements(&mut self.root);
        Ok(index)
    }
}

/// Folds the fields named at each node of a records trie into its
/// elements' node, where the node holds no records: an array standing
/// where fields are named holds elements with those fields (see
/// [`Node::record_elements`]), also where another path names the array's
/// elements (`[*]` beside `orders[*]`: `[{"orders": [...]}]` counts its
/// orders as well as its objects).
fn fold_elements(node: &mut Node) {
    if node.records.is_empty()
        && let Some(elements) = node.elements.as_deref_mut()
    {
        elements.absorb(&Node {
            keys: node.keys.clone(),
            any_key: node.any_key.clone(),
            cased: node.cased,
            ..Node::default()
        });
    }
    for (_, child) in &mut node.keys {
        fold_elements(child);
    }
    for child in [node.any_key.as_deref_mut(), node.elements.as_deref_mut()]
        .into_iter()
        .flatten()
    {
        fold_elements(child);
    }
}

/// A record path: a field path (`a.b`, `a[*]`, `*`) that ends with `[*]`,
/// the elements of the array it names.
pub fn record_path(path: &str) -> Result<Vec<Step>, PathError> {
    let steps = parse_path(path)?;
    if steps.last() != Some(&Step::Elements) {
        return Err(PathError {
            path: path.to_owned(),
            problem: "names no array's elements: a record path ends with [*] (`orders[*]`, `data.items[*]`, `[*]`)",
        });
    }
    Ok(steps)
}

/// The protobuf type of a direction's gRPC messages, and the descriptors
/// that say what its fields are.
#[derive(Debug, Clone)]
pub struct MessageType {
    pub descriptors: std::sync::Arc<super::proto::Descriptors>,
    /// Its full name, `pkg.Message`.
    pub name: String,
}

/// How a response that crossed a contract is marked for shared caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheRule {
    /// `Cache-Control: private`: no shared cache serves it to another caller.
    #[default]
    Private,
    /// `Cache-Control: no-store`.
    NoStore,
    /// Left as the callee said: the hop's responses are the same for everyone.
    Public,
}

impl CacheRule {
    pub fn name(self) -> &'static str {
        match self {
            CacheRule::Private => "private",
            CacheRule::NoStore => "no-store",
            CacheRule::Public => "public",
        }
    }
}

/// What crosses a hop besides the body, in one direction: header values,
/// and for requests the path and query; for responses how they are marked.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Detectors run on header values.
    pub header_scan: DetectorSet,
    /// Detectors run on the path's segments and the query's names and values.
    pub url_scan: DetectorSet,
    /// Query parameters that cross as sent, unscanned.
    pub query_allow: Vec<String>,
    /// Query parameters that never cross.
    pub query_remove: Vec<String>,
    pub cache: CacheRule,
    /// `X-Content-Type-Options: nosniff` on JSON and text responses.
    pub nosniff: bool,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    AnyKey,
    Elements,
}

/// `a.b`, `items[*].sku`, `tags[*]`, `meta.*`.
fn parse_path(path: &str) -> Result<Vec<Step>, PathError> {
    let err = |problem| PathError {
        path: path.to_owned(),
        problem,
    };
    if path.is_empty() || path.len() > 512 {
        return Err(err("must be 1 to 512 characters"));
    }
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        match name {
            "" if rest.is_empty() => return Err(err("has an empty segment")),
            "" => {}
            "*" => steps.push(Step::AnyKey),
            n if n.contains(['*', ']', ' ']) => {
                return Err(err("a name holds '*', ']' or a space"));
            }
            n => steps.push(Step::Key(n.to_owned())),
        }
        while !rest.is_empty() {
            rest = rest
                .strip_prefix("[*]")
                .ok_or_else(|| err("only [*] may index an array"))?;
            steps.push(Step::Elements);
        }
    }
    if steps.len() > 32 {
        return Err(err("is deeper than 32 levels"));
    }
    Ok(steps)
}

fn walk<'n>(mut node: &'n mut Node, steps: &[Step]) -> &'n mut Node {
    for step in steps {
        node = match step {
            Step::Key(k) => {
                let i = match node.keys.iter().position(|(name, _)| **name == **k) {
                    Some(i) => i,
                    None => {
                        node.cased |= k.bytes().any(|b| b.is_ascii_uppercase());
                        node.keys.push((k.as_str().into(), Node::default()));
                        node.keys.len() - 1
                    }
                };
                &mut node.keys[i].1
            }
            Step::AnyKey => node.any_key.get_or_insert_with(Box::default),
            Step::Elements => node.elements.get_or_insert_with(Box::default),
        };
    }
    node
}

impl Contract {
    /// Adds an allow-list entry.
    pub fn allow_path(&mut self, path: &str) -> Result<(), PathError> {
        let steps = parse_path(path)?;
        walk(self.allow.get_or_insert_with(Node::default), &steps).allow_subtree = true;
        self.finish();
        Ok(())
    }

    /// Adds a field action. With an allow-list, the field is allowed too.
    pub fn field_action(&mut self, path: &str, action: FieldAction) -> Result<(), PathError> {
        let steps = parse_path(path)?;
        if let Some(allow) = self.allow.as_mut() {
            let node = walk(allow, &steps);
            node.allow_subtree = true;
            node.action = Some(action.clone());
        }
        walk(&mut self.actions, &steps).action = Some(action);
        self.finish();
        Ok(())
    }

    /// Completes the contract once every path is in: see
    /// [`Node::merge_wildcards`].
    pub fn finish(&mut self) {
        if let Some(allow) = self.allow.as_mut() {
            allow.merge_wildcards();
        }
        self.actions.merge_wildcards();
    }

    /// Whether a body framed so may flow under this contract: gRPC messages
    /// of a type it names always (a gRPC body ends with trailers, never
    /// whole), the others with `stream: true`.
    pub fn flows(&self, framing: super::stream::Framing) -> bool {
        use super::stream::Framing;
        match framing {
            Framing::Messages => self.message.is_some(),
            Framing::Events | Framing::Lines | Framing::Document => self.stream,
        }
    }

    /// Whether the contract says anything of the document's structure (an
    /// allow-list or a field action), beyond scanning its values.
    pub fn is_structural(&self) -> bool {
        let a = &self.actions;
        self.allow.is_some() || !a.keys.is_empty() || a.any_key.is_some() || a.elements.is_some()
    }

    /// Field actions must be set after the allow-list so they land in it.
    pub fn root(&self) -> &Node {
        self.allow.as_ref().unwrap_or(&self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert!(parse_path("items[*].sku").is_ok());
        assert!(parse_path("a.*.b").is_ok());
        assert!(parse_path("m[*][*]").is_ok());
        for bad in ["", "a..b", "a[0]", "a[*", "a b", "x]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trie_shape() {
        let mut c = Contract::default();
        c.allow_path("items[*].sku").unwrap();
        c.allow_path("id").unwrap();
        let root = c.root();
        assert!(root.child("id").unwrap().allow_subtree);
        let items = root.child("items").unwrap();
        assert!(!items.allow_subtree);
        assert!(
            items
                .elements
                .as_ref()
                .unwrap()
                .child("sku")
                .unwrap()
                .allow_subtree
        );
        assert!(root.child("other").is_none());
    }
}
