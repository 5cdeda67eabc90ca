//! Scrubbing: data classes, detectors, the streaming JSON rewriter and actions.
//! Knows nothing of Envoy: it turns a body and a contract into a body (or a
//! refusal) and a count of findings per class.

pub mod body;
pub mod class;
pub mod contract;
pub mod detect;
pub mod json;
pub mod number;
pub mod proto;
pub mod query;
pub mod stream;
pub mod text;

pub use body::{BodyHeaders, BodyKind, Scrubbed, scrub_body};
use class::Classes;

/// Findings per class index, and the records counted per record path
/// (`contract::Records`); never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    counts: Vec<u32>,
    /// Grown as records are counted: empty where no path counts any.
    records: Vec<u64>,
}

impl Findings {
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![0; classes],
            records: Vec::new(),
        }
    }

    /// One record of the record path `path` crossed.
    pub fn add_record(&mut self, path: usize) {
        // Paths are few (a contract holds one per budget at most).
        if self.records.len() <= path {
            self.records.resize(path + 1, 0);
        }
        if let Some(n) = self.records.get_mut(path) {
            *n = n.saturating_add(1);
        }
    }

    /// Records of the record path `path`.
    pub fn records(&self, path: usize) -> u64 {
        self.records.get(path).copied().unwrap_or(0)
    }

    pub fn add(&mut self, class: usize) {
        if let Some(c) = self.counts.get_mut(class) {
            *c = c.saturating_add(1);
        }
    }

    /// Adds another count of the same classes.
    pub fn merge(&mut self, other: &Findings) {
        for (c, n) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.saturating_add(*n);
        }
        if self.records.len() < other.records.len() {
            self.records.resize(other.records.len(), 0);
        }
        for (r, n) in self.records.iter_mut().zip(&other.records) {
            *r = r.saturating_add(*n);
        }
    }

    /// Findings of one class.
    pub fn count(&self, class: usize) -> u32 {
        self.counts.get(class).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().fold(0u32, |a, b| a.saturating_add(*b))
    }

    /// (class name, count) for every class found at least once.
    pub fn by_class<'c>(&self, classes: &'c Classes) -> Vec<(&'c str, u32)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| classes.get(i).map(|c| (&*c.name, *n)))
            .collect()
    }
}

/// Why a body may not cross. None of these carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    #[error("body is not valid JSON (at byte {offset})")]
    InvalidJson { offset: usize },
    #[error("message is not valid protobuf (at byte {offset})")]
    InvalidProtobuf { offset: usize },
    #[error("body nests deeper than {} levels", json::MAX_DEPTH)]
    TooDeep,
    #[error("body has a field the contract does not allow")]
    UnknownField,
    #[error("body holds data of class {class}, which this hop blocks")]
    Blocked { class: String },
    #[error("body holds {found} findings, more than the hop's limit of {limit}")]
    LimitExceeded { found: u32, limit: u32 },
    #[error("body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body is compressed ({0}); chaperone does not pass what it cannot inspect")]
    Encoded(&'static str),
    #[error("body has a content type this hop does not pass")]
    ContentType,
    #[error("text body is not UTF-8")]
    NotUtf8,
    #[error("message has several content types")]
    ContentTypeConflict,
    #[error("body has a charset chaperone does not read")]
    Charset,
    #[error("body chaperone cannot rewrite holds data of class {class}")]
    Unreadable { class: String },
    #[error("internal scrubbing error")]
    Internal,
}

/// What kind of breach of a contract an error is, for the adapter to answer
/// (toward a callee, by kind; toward a caller, always as the callee's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Too large to judge whole.
    TooLarge,
    /// Compressed, of a content type or charset the hop does not pass.
    Unsupported,
    /// Holds what the contract refuses to carry.
    Forbidden,
    /// Not what it claims to be (invalid JSON, too deep, a field not allowed).
    Malformed,
    /// chaperone could not finish; fail closed.
    Internal,
}

impl ScrubError {
    pub fn breach(&self) -> Breach {
        match self {
            ScrubError::TooLarge { .. } => Breach::TooLarge,
            ScrubError::Encoded(_)
            | ScrubError::ContentType
            | ScrubError::ContentTypeConflict
            | ScrubError::Charset
            | ScrubError::NotUtf8 => Breach::Unsupported,
            ScrubError::Blocked { .. }
            | ScrubError::LimitExceeded { .. }
            | ScrubError::Unreadable { .. } => Breach::Forbidden,
            ScrubError::InvalidJson { .. }
            | ScrubError::InvalidProtobuf { .. }
            | ScrubError::TooDeep
            | ScrubError::UnknownField => Breach::Malformed,
            ScrubError::Internal => Breach::Internal,
        }
    }

    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ScrubError::InvalidJson { .. } => "invalid_json",
            ScrubError::InvalidProtobuf { .. } => "invalid_protobuf",
            ScrubError::TooDeep => "too_deep",
            ScrubError::UnknownField => "unknown_field",
            ScrubError::Blocked { .. } => "blocked_class",
            ScrubError::LimitExceeded { .. } => "findings_limit",
            ScrubError::TooLarge { .. } => "too_large",
            ScrubError::Encoded(_) => "encoded",
            ScrubError::ContentType => "content_type",
            ScrubError::NotUtf8 => "not_utf8",
            ScrubError::ContentTypeConflict => "content_type_conflict",
            ScrubError::Charset => "charset",
            ScrubError::Unreadable { .. } => "unreadable_finding",
            ScrubError::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod flow_differential_tests;
#[cfg(test)]
mod neighbour_tests;
#[cfg(test)]
mod records_tests;
#[cfg(test)]
mod tests;
