//! Scrubbing: data classes, detectors, the streaming JSON rewriter and actions.
//! Knows nothing of Envoy: it turns a body and a contract into a body (or a
//! refusal) and a count of findings per class.

pub mod class;
pub mod contract;
pub mod detect;
pub mod json;

use class::Classes;
use contract::{Contract, LimitAction, OtherContent};
use json::TextOutcome;

use crate::secret::HashKey;

/// Findings per class index; never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    counts: Vec<u32>,
}

impl Findings {
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![0; classes],
        }
    }

    pub fn add(&mut self, class: usize) {
        if let Some(c) = self.counts.get_mut(class) {
            *c = c.saturating_add(1);
        }
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
    #[error("internal scrubbing error")]
    Internal,
}

impl ScrubError {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ScrubError::InvalidJson { .. } => "invalid_json",
            ScrubError::TooDeep => "too_deep",
            ScrubError::UnknownField => "unknown_field",
            ScrubError::Blocked { .. } => "blocked_class",
            ScrubError::LimitExceeded { .. } => "findings_limit",
            ScrubError::TooLarge { .. } => "too_large",
            ScrubError::Encoded(_) => "encoded",
            ScrubError::ContentType => "content_type",
            ScrubError::NotUtf8 => "not_utf8",
            ScrubError::Internal => "internal",
        }
    }
}

/// The result of scrubbing one message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The new body; `None` when the original may cross unchanged.
    pub body: Option<Vec<u8>>,
    pub findings: Findings,
    /// The findings passed the hop's limit and the hop only alerts.
    pub alert: bool,
}

/// How a body is to be read, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Text,
    Other,
}

impl BodyKind {
    /// `application/json` and `application/*+json` are JSON; `text/*` is text.
    pub fn of(content_type: Option<&str>) -> Self {
        let Some(ct) = content_type else {
            return BodyKind::Other;
        };
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
        {
            BodyKind::Json
        } else if essence.starts_with("text/") {
            BodyKind::Text
        } else {
            BodyKind::Other
        }
    }
}

/// Scrubs one complete message body under a contract.
pub fn scrub_body(
    body: &[u8],
    kind: BodyKind,
    content_encoding: Option<&str>,
    contract: &Contract,
    classes: &Classes,
    key: &HashKey,
) -> Result<Scrubbed, ScrubError> {
    if body.len() > contract.max_body {
        return Err(ScrubError::TooLarge {
            limit: contract.max_body,
        });
    }
    if body.is_empty() {
        return Ok(Scrubbed {
            body: None,
            findings: Findings::new(classes.len()),
            alert: false,
        });
    }
    if let Some(enc) = content_encoding
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
    {
        // Named from a fixed list: the header's own text never reaches an error.
        let known = ["gzip", "x-gzip", "br", "deflate", "zstd", "compress"];
        return Err(ScrubError::Encoded(
            known
                .into_iter()
                .find(|k| enc.eq_ignore_ascii_case(k))
                .unwrap_or("an unknown encoding"),
        ));
    }
    let (new_body, findings) = match kind {
        BodyKind::Json => json::rewrite(body, contract, classes, key)?,
        BodyKind::Text if contract.text => {
            let text = std::str::from_utf8(body).map_err(|_| ScrubError::NotUtf8)?;
            let mut findings = Findings::new(classes.len());
            let out = match json::scan_text(text, contract.scan, classes, key, &mut findings)? {
                TextOutcome::Unchanged => None,
                TextOutcome::Replaced(s) | TextOutcome::Drop(s) => Some(s.into_bytes()),
            };
            (out, findings)
        }
        BodyKind::Text | BodyKind::Other => match contract.other {
            OtherContent::Pass => (None, Findings::new(classes.len())),
            OtherContent::Block => return Err(ScrubError::ContentType),
        },
    };
    let mut alert = false;
    if let Some(limit) = contract.limit {
        let found = findings.total();
        if found > limit.findings {
            match limit.action {
                LimitAction::Block => {
                    return Err(ScrubError::LimitExceeded {
                        found,
                        limit: limit.findings,
                    });
                }
                LimitAction::Alert => alert = true,
            }
        }
    }
    Ok(Scrubbed {
        body: new_body,
        findings,
        alert,
    })
}

#[cfg(test)]
mod tests;
