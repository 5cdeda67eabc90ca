//! The policy file as written: serde structs that refuse unknown keys.
//! The schema is documented in `docs/policy.md`.

use serde::Deserialize;

use crate::budget::{BudgetAction, Direction, OnStoreError};
use crate::scrub::contract::{LimitAction, OtherContent, Unknown};

/// The policy's (or a hop's) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Enforce,
    /// Decide and scrub, record, change nothing.
    Shadow,
}

/// What a callee's 5xx body becomes toward the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Errors {
    /// Replaced with chaperone's generic error (the default).
    Generic,
    /// Passed under the response contract like any body.
    Pass,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub version: String,
    pub trust_domain: String,
    /// `enforce` (default) or `shadow`: decide and scrub, record what would
    /// have been denied or changed, but let every request through unchanged.
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    #[serde(default)]
    pub workloads: RawWorkloads,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub tokens: RawTokens,
    /// Named kinds of sensitive data. Without any, the built-in classes apply
    /// (see docs/scrubbing.md).
    #[serde(default)]
    pub data_classes: std::collections::BTreeMap<String, RawDataClass>,
    /// Audience names of the services that call onward: `orders:
    /// spiffe://td/ns/shop/sa/orders`. A chaperone token arriving from that
    /// workload must carry that audience.
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, String>,
    /// Protobuf descriptor sets (`protoc --descriptor_set_out`, `buf build`)
    /// whose message types gRPC contracts name, relative to the policy file.
    #[serde(default)]
    pub descriptors: Vec<String>,
    pub hops: Vec<RawHop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataClass {
    /// Detector names (`Detector::name`): pan, iban, us_ssn, email, phone,
    /// jwt, private_key, aws_access_key, bearer_token, and the national and
    /// health identifiers (uk_nino, de_tax_id, fr_nir, nl_bsn, es_dni,
    /// it_fiscal_code, br_cpf, in_aadhaar, us_itin, us_ein, us_npi, us_dea,
    /// uk_nhs).
    #[serde(default)]
    pub detect: Vec<String>,
    /// A detector of the policy's own: a regular expression (matched in
    /// linear time, its size bounded) ...
    #[serde(default)]
    pub pattern: Option<String>,
    /// ... whose matches must pass a check: luhn, mod97, mod11, verhoeff
    /// or none ...
    #[serde(default)]
    pub check: Option<String>,
    /// ... and, if given, have one of these words nearby or in the name of
    /// their member.
    #[serde(default)]
    pub context: Vec<String>,
    /// A file of exact values (one per line, or `h:` hashes of them under
    /// the deployment's hashing key), relative to the policy file.
    #[serde(default)]
    pub dictionary: Option<String>,
    pub action: String,
    /// Values a match is never acted on (for example the card brands'
    /// published test numbers in a staging policy).
    #[serde(default)]
    pub safe: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    /// Field paths that may cross (`amount`, `items[*].sku`, `meta.*`); without
    /// it, every field may.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Per-field actions (an action name or a data class name).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// `drop` (default), `reject` or `allow`.
    #[serde(default)]
    pub unknown: Option<Unknown>,
    /// Data classes scanned for in every remaining string.
    #[serde(default)]
    pub scan: Option<Vec<String>>,
    #[serde(default)]
    pub limit: Option<RawLimit>,
    /// Bodies neither JSON nor text: `block` (default) or `pass`.
    #[serde(default)]
    pub other: Option<OtherContent>,
    /// Scan `text/*` bodies. Default true.
    #[serde(default)]
    pub text: Option<bool>,
    /// Largest body accepted, in bytes. Default 1 MiB.
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// Server-sent events, NDJSON and JSON cross as they flow, each event,
    /// line or JSON value judged whole when complete (`max_bytes` then bounds
    /// each one, not the stream). Default false: such bodies are judged
    /// whole like any other.
    #[serde(default)]
    pub stream: Option<bool>,
    /// gRPC bodies: the protobuf type of each message (`pkg.Message`), from
    /// the policy's `descriptors`. A hop's own, never a default.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    pub findings: u32,
    /// `block` or `alert`.
    pub action: LimitAction,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    /// `iss` of minted tokens. Default `https://chaperone.<trust_domain>`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Header the token travels in. Default `txn-token`.
    #[serde(default)]
    pub header: Option<String>,
    /// Default lifetime. Default 60s.
    #[serde(default)]
    pub ttl: Option<String>,
    /// Longest lifetime a hop may ask for. Default 5m, at most 1h.
    #[serde(default)]
    pub max_ttl: Option<String>,
    /// `callee` (default) or `trust_domain`.
    #[serde(default)]
    pub audience: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHopToken {
    /// `false`: the hop carries no token (an egress to a third party, a
    /// callee that takes none). Default true.
    #[serde(default = "mint_by_default")]
    pub mint: bool,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub scope: Option<Vec<String>>,
    #[serde(default)]
    pub ttl: Option<String>,
    /// Path parameters to record in `tctx`.
    #[serde(default)]
    pub tctx: Option<Vec<String>>,
    #[serde(default)]
    pub rctx: Option<bool>,
}

fn mint_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<String>,
    pub jwks: RawJwks,
    /// Clock skew tolerated, such as "30s". Default 30s, at most 5m.
    #[serde(default)]
    pub leeway: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwks {
    /// A JWKS file, relative to the policy file.
    #[serde(default)]
    pub file: Option<String>,
    /// A JWKS URL (https, or http for a local or in-cluster endpoint).
    #[serde(default)]
    pub url: Option<String>,
    /// How long fetched keys are used before a background refresh. Default 5m.
    #[serde(default)]
    pub max_age: Option<String>,
    /// An unknown `kid` refetches the JWKS at most once per this interval.
    /// Default 5s.
    #[serde(default)]
    pub min_refetch_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkloads {
    /// Read the workload from `x-forwarded-client-cert` when Envoy reports no
    /// mTLS peer. Only safe where Envoy sanitizes and sets that header.
    #[serde(default)]
    pub trust_xfcc: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Only "deny": a hop nobody described is never allowed.
    #[serde(default)]
    pub decision: Option<String>,
    /// Data classes every hop scans for unless it says otherwise.
    #[serde(default)]
    pub scan: Option<Vec<String>>,
    #[serde(default)]
    pub request: Option<RawDirection>,
    #[serde(default)]
    pub response: Option<RawDirection>,
    /// Budgets every hop keeps unless it lists its own.
    #[serde(default)]
    pub budgets: Option<Vec<RawBudget>>,
    /// Anomaly baselines every hop keeps unless it lists its own.
    #[serde(default)]
    pub anomalies: Option<Vec<RawAnomaly>>,
}

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawMeasure {
    Findings,
    Bytes,
    Records,
}

/// A data-egress budget: at most `limit` of what it counts per caller and
/// hop over a rolling `window` (see docs/policy.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    /// Names the budget in metrics and events: letters, digits, `-`, `_`.
    pub name: BudgetName,
    /// `response` (what the caller gets back) or `request` (what it sends).
    pub direction: Direction,
    /// `findings`, `bytes` or `records`.
    pub count: RawMeasure,
    /// Findings only: the data classes counted. Default: every class.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Records only: the array whose elements are counted (`orders[*]`).
    #[serde(default)]
    pub path: Option<RecordPath>,
    /// The rolling window, such as "1h" (1s to 7 days).
    pub window: Window,
    pub limit: std::num::NonZeroU64,
    /// `block` or `alert`.
    pub action: BudgetAction,
    /// `deny` or `allow` when the store cannot answer. Default: `deny` for
    /// a budget that blocks, `allow` for one that alerts.
    #[serde(default)]
    pub on_store_error: Option<OnStoreError>,
}

/// An anomaly: a baseline per caller of what it counts per window, and an
/// alert when a window goes `sigmas` standard deviations past it and past
/// `min` (see docs/policy.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnomaly {
    /// Names the anomaly in metrics and events; unique among the hop's
    /// budgets and anomalies.
    pub name: AnomalyName,
    pub direction: Direction,
    /// `findings`, `bytes` or `records`, as a budget counts.
    pub count: RawMeasure,
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Records only: the array whose elements are counted (`orders[*]`).
    #[serde(default)]
    pub path: Option<RecordPath>,
    /// A window's length, such as "1h" (1s to 7 days).
    pub window: Window,
    /// Standard deviations above the baseline's mean.
    pub sigmas: Sigmas,
    /// A window must count more than this to alert.
    pub min: u64,
    /// How long the baseline remembers, such as "7d" (default 7 days; at
    /// least two windows, at most 90 days).
    #[serde(default)]
    pub history: Option<History>,
    /// Windows seen before an alert is possible (default: half the
    /// history's windows).
    #[serde(default)]
    pub warmup: Option<u64>,
}

/// An anomaly's name, checked as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AnomalyName(pub String);

impl TryFrom<String> for AnomalyName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match name_ok(&s) {
            true => Ok(Self(s)),
            false => Err(format!(
                "anomaly name {s:?}: 1 to 64 letters, digits, '-' or '_'"
            )),
        }
    }
}

/// A number of standard deviations, checked as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Sigmas(pub f64);

impl TryFrom<f64> for Sigmas {
    type Error = String;
    fn try_from(x: f64) -> Result<Self, String> {
        match x > 0.0 && x <= crate::anomaly::MAX_SIGMAS {
            true => Ok(Self(x)),
            false => Err(format!(
                "sigmas: {x} is not above 0 and at most {}",
                crate::anomaly::MAX_SIGMAS
            )),
        }
    }
}

/// How long a baseline remembers, checked as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct History(pub std::time::Duration);

impl TryFrom<String> for History {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        // Days as well: histories are long.
        let d = match s.strip_suffix('d').map(str::parse::<u64>) {
            Some(Ok(days)) => std::time::Duration::from_secs(days.saturating_mul(86_400)),
            _ => super::compile::parse_duration(&s).map_err(|e| format!("history: {e}"))?,
        };
        if d > crate::anomaly::MAX_HISTORY {
            return Err(format!("history: {s:?} is longer than 90 days"));
        }
        Ok(Self(d))
    }
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// A budget's name, checked as it is read (so an error has its line).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BudgetName(pub String);

impl TryFrom<String> for BudgetName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match name_ok(&s) {
            true => Ok(Self(s)),
            false => Err(format!(
                "budget name {s:?}: 1 to 64 letters, digits, '-' or '_'"
            )),
        }
    }
}

/// A records budget's path, checked as it is read: a field path that ends
/// with `[*]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RecordPath(pub String);

impl TryFrom<String> for RecordPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match crate::scrub::contract::record_path(&s) {
            Ok(_) => Ok(Self(s)),
            Err(e) => Err(format!("path {s:?}: {}", e.problem)),
        }
    }
}

/// A budget's window, checked as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Window(pub std::time::Duration);

impl TryFrom<String> for Window {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = super::compile::parse_duration(&s).map_err(|e| format!("window: {e}"))?;
        if !(crate::budget::MIN_WINDOW..=crate::budget::MAX_WINDOW).contains(&d) {
            return Err(format!("window: {s:?} is not between 1s and 7 days"));
        }
        Ok(Self(d))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHop {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    pub from: Vec<RawCaller>,
    /// A CEL condition that must hold as well (see docs/policy.md).
    #[serde(default)]
    pub when: Option<String>,
    /// This hop in shadow mode (see `mode`).
    #[serde(default)]
    pub shadow: bool,
    /// Forward the caller's Authorization header to the callee. Default false.
    #[serde(default)]
    pub keep_authorization: bool,
    #[serde(default)]
    pub token: Option<RawHopToken>,
    #[serde(default)]
    pub request: Option<RawDirection>,
    #[serde(default)]
    pub response: Option<RawDirection>,
    /// Data-egress budgets; replaces the defaults' (`[]`: none).
    #[serde(default)]
    pub budgets: Option<Vec<RawBudget>>,
    /// Anomaly baselines; replaces the defaults' (`[]`: none).
    #[serde(default)]
    pub anomalies: Option<Vec<RawAnomaly>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// One host or a list; `*.example.com` for a suffix; `*` for any.
    pub host: OneOrMany,
    /// One method or a list; omitted means any.
    #[serde(default)]
    pub method: Option<OneOrMany>,
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaller {
    #[serde(default)]
    pub workloads: Option<Vec<String>>,
    #[serde(default)]
    pub users: Option<RawUsers>,
    /// Requires a valid chaperone token from the previous hop.
    #[serde(default)]
    pub transaction: Option<RawTransaction>,
    /// A CEL condition this caller rule needs as well.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransaction {
    /// All of these scopes must be in the incoming token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsers {
    pub issuer: String,
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirection {
    #[serde(default)]
    pub headers: Option<RawHeaders>,
    #[serde(default)]
    pub body: Option<RawBody>,
    /// Responses only: `generic` (default) replaces 5xx bodies from the
    /// callee with a generic error; `pass` lets them through (scrubbed).
    #[serde(default)]
    pub errors: Option<Errors>,
    /// Requests only: the query string (and the path's segments).
    #[serde(default)]
    pub query: Option<RawQuery>,
    /// Responses only: `private` (default), `no-store` or `public`: how a
    /// response that crossed the contract is marked for caches.
    #[serde(default)]
    pub cache: Option<String>,
    /// Responses only: `X-Content-Type-Options: nosniff` on JSON and text
    /// responses. Default true.
    #[serde(default)]
    pub nosniff: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// Parameters that cross as sent, unscanned (credentials the hop keeps).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Parameters that never cross.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Data classes looked for in parameter names and values and in path
    /// segments. Default: the request body's scan classes.
    #[serde(default)]
    pub scan: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaders {
    /// Names to remove; a trailing `*` matches a prefix (`x-internal-*`).
    #[serde(default)]
    pub remove: Vec<String>,
    /// Request headers the defaults would strip that this hop lets through,
    /// as sent (unscanned).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Data classes looked for in header values. Default: the direction's
    /// body scan classes.
    #[serde(default)]
    pub scan: Option<Vec<String>>,
}
