//! The compiled policy: hops, who may make them, and what a decision is.
//! Knows nothing of Envoy or gRPC.

pub mod condition;
pub mod decision;
pub mod diff;
pub mod eval;
pub mod flows;
pub mod headers;
pub mod path;
pub mod report;
pub mod suite;

use std::sync::Arc;

use crate::identity::{Verifier, WorkloadPattern};
use crate::scrub::class::Classes;
use crate::scrub::contract::{Contract, Envelope};
use crate::token::{HopToken, TokenSettings};
pub use condition::Condition;
pub use decision::{Allow, Decision, Deny, DenyKind, Reason, TxnToken};
pub use eval::{Engine, Evaluation, RequestFacts};
pub use path::{PathParams, PathTemplate};

/// An immutable, fully compiled policy snapshot.
#[derive(Debug)]
pub struct Policy {
    pub version: String,
    /// Hex SHA-256 of the source bytes.
    pub hash: String,
    /// Files the policy read besides itself (JWKS files): a change to any
    /// of them is a change to the policy.
    pub files: Vec<std::path::PathBuf>,
    /// A file path or "embedded".
    pub source: String,
    pub trust_domain: String,
    pub verifier: Verifier,
    /// Read the workload from `x-forwarded-client-cert` when Envoy reports no
    /// mTLS peer. Only for deployments where Envoy sanitizes and sets it.
    pub trust_xfcc: bool,
    pub hops: Vec<Hop>,
    /// Response headers removed on every hop, in addition to each hop's own.
    pub default_response_remove: Vec<String>,
    /// Request headers removed toward the callee on every hop.
    pub default_request_remove: Vec<String>,
    pub tokens: TokenSettings,
    /// Audience names of workloads that call onward, for chained tokens.
    pub services: Vec<(String, WorkloadPattern)>,
    pub classes: Classes,
    /// The whole policy in shadow mode: decide and scrub, record, change nothing.
    pub shadow: bool,
    /// The signed bundle it came from, if it did.
    pub bundle: Option<Bundled>,
}

/// A policy's signed bundle: who signed it, and the bundle's own hash.
#[derive(Debug, Clone)]
pub struct Bundled {
    /// The `kid` of the key that signed the bundle.
    pub signer: Arc<str>,
    /// Hex SHA-256 of the whole bundle.
    pub digest: String,
}

impl Policy {
    pub fn hop(&self, name: &str) -> Option<&Hop> {
        self.hops.iter().find(|h| &*h.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com`.
    Suffix(String),
    Any,
}

impl HostPattern {
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Suffix(s) => {
                host.len() > s.len()
                    && host
                        .get(host.len() - s.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(s))
            }
            HostPattern::Any => true,
        }
    }
}

/// One kind of service-to-service call the policy knows about.
#[derive(Debug)]
pub struct Hop {
    pub name: Arc<str>,
    pub hosts: Vec<HostPattern>,
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
    pub path: PathTemplate,
    /// Any one of these may make the hop.
    pub callers: Vec<Caller>,
    /// Must hold as well as a caller rule.
    pub when: Option<Arc<Condition>>,
    /// Forward the caller's `Authorization` header to the callee.
    pub keep_authorization: bool,
    /// What the hop's token holds; `None` when the hop mints none (the
    /// token header is then removed from the request).
    pub token: Option<HopToken>,
    /// Names or `prefix*` patterns.
    pub request_headers_remove: Vec<String>,
    pub response_headers_remove: Vec<String>,
    /// Request headers the defaults strip that this hop lets through.
    pub request_headers_allow: Vec<String>,
    /// What the callee may see.
    pub request_body: Contract,
    /// What the caller may get back.
    pub response_body: Contract,
    /// Header values and the URL toward the callee.
    pub request_envelope: Envelope,
    /// Header values toward the caller, and how the response is marked.
    pub response_envelope: Envelope,
    /// Replace 5xx bodies from the callee with a generic error.
    pub generic_errors: bool,
    /// This hop in shadow mode.
    pub shadow: bool,
    /// Data-egress budgets per caller (crate::budget).
    pub budgets: Vec<crate::budget::Budget>,
    /// Baselines per caller and the alerts past them (crate::anomaly).
    pub anomalies: Vec<crate::anomaly::Anomaly>,
}

impl Hop {
    /// The hop counts per caller (budgets, baselines): ext_proc must know
    /// who the caller is.
    pub fn per_caller(&self) -> bool {
        !self.budgets.is_empty() || !self.anomalies.is_empty()
    }

    pub fn matches(&self, host: &str, method: &str, path: &str) -> Option<PathParams> {
        if !self.hosts.iter().any(|h| h.matches(host)) {
            return None;
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == method) {
            return None;
        }
        self.path.matches(path)
    }

    pub fn needs_user(&self) -> bool {
        self.callers.iter().any(|c| c.user.is_some())
    }
}

/// Who may make a hop. Every part that is set must hold.
#[derive(Debug, Default)]
pub struct Caller {
    /// The mTLS peer must match one of these.
    pub workloads: Option<Vec<WorkloadPattern>>,
    pub user: Option<UserRequirement>,
    /// A valid chaperone token from the previous hop, with these scopes.
    pub transaction: Option<Vec<String>>,
    /// Set only by an explicit `anonymous: true`.
    pub anonymous: bool,
    pub when: Option<Arc<Condition>>,
}

#[derive(Debug, Default)]
pub struct UserRequirement {
    /// The issuer's name in the policy.
    pub issuer: Arc<str>,
    /// If set, `sub` must be one of these.
    pub subjects: Option<Vec<String>>,
    /// All of these scopes are required.
    pub scopes: Vec<String>,
}

#[cfg(test)]
mod tests;
