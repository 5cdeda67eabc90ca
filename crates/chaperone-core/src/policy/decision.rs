//! A decision is a value. A denial carries a reason code for logs and metrics
//! and a status for the caller; neither carries a credential.

use std::sync::Arc;

use crate::identity::{SpiffeId, TokenError, User};
use crate::token::TxnError;

#[derive(Debug, Clone)]
pub enum Decision {
    Allow(Box<Allow>),
    Deny(Deny),
}

impl Decision {
    pub fn decision_id(&self) -> &str {
        match self {
            Decision::Allow(a) => &a.decision_id,
            Decision::Deny(d) => &d.decision_id,
        }
    }
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn is_shadow(&self) -> bool {
        match self {
            Decision::Allow(a) => a.shadow,
            Decision::Deny(d) => d.shadow,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Allow {
    pub hop: Arc<str>,
    pub decision_id: String,
    pub policy_version: String,
    /// The first 12 hex digits of the policy's content hash.
    pub policy_hash: String,
    /// The `kid` that signed the policy's bundle, when it came in one.
    pub policy_signer: Option<Arc<str>>,
    pub workload: Option<SpiffeId>,
    pub user: Option<User>,
    /// Headers to remove toward the callee.
    pub remove_headers: Vec<String>,
    /// Other hops' routes fit the request too, so ext_proc, matching the
    /// request again, could not tell which hop this is: it must be told.
    pub route_shared: bool,
    /// The hop keeps budgets or baselines per caller: ext_proc must learn
    /// who the caller is (its keyed hash, in the signed hop header).
    pub per_caller: bool,
    pub path_params: Vec<(String, String)>,
    /// The minted transaction token and the header it travels in. Never
    /// logged; Debug shows only that it is there.
    pub txn_token: Option<TxnToken>,
    /// Shadow mode: record, but let the request through unchanged.
    pub shadow: bool,
}

#[derive(Clone)]
pub struct TxnToken {
    pub header: String,
    pub token: String,
}

impl std::fmt::Debug for TxnToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxnToken({}: ..)", self.header)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyKind {
    /// 400: the request itself is unacceptable (malformed, oversized).
    BadRequest,
    /// 401: credentials missing or invalid.
    Unauthenticated,
    /// 403: an identified (or anonymous) caller may not make this hop.
    Forbidden,
    /// 500: chaperone could not finish (minting failed); fail closed.
    Internal,
}

impl DenyKind {
    pub fn http_status(self) -> u16 {
        match self {
            DenyKind::BadRequest => 400,
            DenyKind::Unauthenticated => 401,
            DenyKind::Forbidden => 403,
            DenyKind::Internal => 500,
        }
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RequestMalformed,
    RequestTooLarge,
    PathNotNormalized,
    NoHopMatched,
    CredentialsMissing,
    Token(TokenError),
    WorkloadInvalid,
    WorkloadMissing,
    CallerNotAllowed,
    /// The chaperone token from the previous hop is not valid for this caller.
    Txn(TxnError),
    ChainTooLong,
    MintFailed,
    /// The caller is identified, but a `when` condition does not hold.
    ConditionNotMet,
}

impl Reason {
    /// A stable code from a small fixed set: fine for metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Reason::RequestMalformed => "request_malformed",
            Reason::RequestTooLarge => "request_too_large",
            Reason::PathNotNormalized => "path_not_normalized",
            Reason::NoHopMatched => "no_hop_matched",
            Reason::CredentialsMissing => "credentials_missing",
            Reason::Token(e) => e.code(),
            Reason::WorkloadInvalid => "workload_invalid",
            Reason::WorkloadMissing => "workload_missing",
            Reason::CallerNotAllowed => "caller_not_allowed",
            Reason::Txn(e) => e.code(),
            Reason::ChainTooLong => "txn_chain_too_long",
            Reason::MintFailed => "token_mint_failed",
            Reason::ConditionNotMet => "condition_not_met",
        }
    }

    pub fn kind(self) -> DenyKind {
        match self {
            Reason::RequestMalformed | Reason::RequestTooLarge | Reason::PathNotNormalized => {
                DenyKind::BadRequest
            }
            Reason::CredentialsMissing | Reason::Token(_) | Reason::Txn(_) => {
                DenyKind::Unauthenticated
            }
            Reason::MintFailed => DenyKind::Internal,
            Reason::ChainTooLong
            | Reason::ConditionNotMet
            | Reason::NoHopMatched
            | Reason::WorkloadInvalid
            | Reason::WorkloadMissing
            | Reason::CallerNotAllowed => DenyKind::Forbidden,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::RequestMalformed => f.write_str("request is malformed"),
            Reason::RequestTooLarge => f.write_str("request exceeds a size bound"),
            Reason::PathNotNormalized => {
                f.write_str("path has dot segments, empty segments or encoded separators")
            }
            Reason::NoHopMatched => f.write_str("no hop matches host, method and path"),
            Reason::CredentialsMissing => {
                f.write_str("the hop requires an end-user token and none was sent")
            }
            Reason::Token(e) => write!(f, "{e}"),
            Reason::WorkloadInvalid => f.write_str("the peer identity is not a valid SPIFFE ID"),
            Reason::WorkloadMissing => {
                f.write_str("the hop requires a workload identity and the peer has none")
            }
            Reason::CallerNotAllowed => f.write_str("no caller rule of the hop admits this caller"),
            Reason::Txn(e) => write!(f, "{e}"),
            Reason::ChainTooLong => f.write_str("the chain of calling workloads is too long"),
            Reason::MintFailed => f.write_str("the hop's transaction token could not be minted"),
            Reason::ConditionNotMet => {
                f.write_str("a condition of the hop or caller rule does not hold")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deny {
    pub reason: Reason,
    pub hop: Option<Arc<str>>,
    pub decision_id: String,
    pub policy_version: String,
    pub policy_hash: String,
    /// As [`Allow::policy_signer`].
    pub policy_signer: Option<Arc<str>>,
    /// Shadow mode: this denial is only recorded; the request goes through.
    pub shadow: bool,
    /// As [`Allow::route_shared`], for a shadow denial that names its hop.
    pub route_shared: bool,
}

impl Deny {
    pub fn kind(&self) -> DenyKind {
        self.reason.kind()
    }
}
