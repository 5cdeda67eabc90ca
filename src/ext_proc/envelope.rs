//! What crosses a hop besides the body: header values in both directions,
//! and toward the callee the path and query string. Each is scanned with the
//! hop's classes; a finding masks, hashes or redacts the value in place,
//! drops the header or parameter, or refuses the message, as its class says.
//! JWTs never travel back to a caller in a response header.

use envoy_types::pb::envoy::config::core::v3::HeaderValueOption;

use crate::edge::headers::{self, Headers};
use crate::policy::headers::header_matches;
use crate::policy::{Hop, Policy};
use crate::scrub::detect::{self, Context, Detector, DetectorSet};
use crate::scrub::query::{
    PairRule, Scanner, is_default_removed, param_name, rewrite_pairs, rewrite_path,
};
use crate::scrub::text::{TextOutcome, scan_text};
use crate::scrub::{Findings, ScrubError};
use crate::secret::HashKey;

/// What scanning one message's headers (and URL) decided.
#[derive(Debug)]
pub(super) struct Change {
    pub findings: Findings,
    /// Headers whose values change: every value of the name is removed, then
    /// these set (none: the header is gone).
    pub rewritten: Vec<(String, Vec<String>)>,
    /// The new `:path`.
    pub path: Option<String>,
}

impl Change {
    pub(super) fn is_empty(&self) -> bool {
        self.rewritten.is_empty() && self.path.is_none()
    }

    /// The header mutation's part: names to remove, values to set.
    pub(super) fn mutation(&self, remove: &mut Vec<String>, set: &mut Vec<HeaderValueOption>) {
        for (name, values) in &self.rewritten {
            if !remove.contains(name) {
                remove.push(name.clone());
            }
            for (i, v) in values.iter().enumerate() {
                set.push(if i > 0 {
                    headers::add(name, v)
                } else {
                    headers::set(name, v)
                });
            }
        }
        if let Some(path) = &self.path {
            set.push(headers::set(":path", path));
        }
    }
}

/// The request's headers toward the callee, and its path and query: each
/// header value not `skipped` is scanned, and the URL, with the query's
/// credential parameters dropped unless the hop keeps them.
pub(super) fn scan_request(
    headers: &Headers<'_>,
    hop: &Hop,
    policy: &Policy,
    key: &HashKey,
    skipped: impl Fn(&str) -> bool,
) -> Result<Change, ScrubError> {
    let env = &hop.request_envelope;
    let mut change = scan_headers(headers, env.header_scan, None, policy, key, |name| {
        name.starts_with(':')
            || name == "host"
            || skipped(name)
            || (name == "authorization" && hop.keep_authorization)
            || (hop.token.is_some() && name == policy.tokens.header)
            || hop
                .request_headers_allow
                .iter()
                .any(|p| header_matches(p, name))
    })?;
    if let Some(path) = headers.get(":path") {
        change.path = rewrite_url(path, hop, policy, key, &mut change.findings)?;
    }
    // The host cannot be rewritten (Envoy routes on it): a finding in it
    // (a card number as a subdomain a wildcard hop matched) refuses.
    let host_ctx = detect::Context {
        custom: Some(policy.classes.custom()),
        hash_key: Some(key),
        ..detect::Context::default()
    };
    if let Some(host) = headers.get(":authority").or_else(|| headers.get("host"))
        && !detect::scan_with(host, env.url_scan, host_ctx).is_empty()
    {
        return Err(ScrubError::Blocked {
            class: "host".to_owned(),
        });
    }
    Ok(change)
}

/// Request trailers toward the callee: scanned as its headers are.
pub(super) fn scan_trailers(
    trailers: &Headers<'_>,
    hop: &Hop,
    policy: &Policy,
    key: &HashKey,
) -> Result<Change, ScrubError> {
    scan_headers(
        trailers,
        hop.request_envelope.header_scan,
        None,
        policy,
        key,
        |name| name.starts_with(':'),
    )
}

/// The response's headers toward the caller: every value is scanned, and a
/// JWT is never let through, whatever the hop scans for.
pub(super) fn scan_response(
    headers: &Headers<'_>,
    hop: Option<&Hop>,
    policy: &Policy,
    key: &HashKey,
    skipped: impl Fn(&str) -> bool,
) -> Result<Change, ScrubError> {
    let scan = hop.map_or(DetectorSet::empty(), |h| h.response_envelope.header_scan);
    scan_headers(headers, scan, Some(Detector::Jwt), policy, key, |name| {
        name.starts_with(':') || skipped(name)
    })
}

/// Scans every value of every header not skipped. `always`: a detector
/// whose findings go even when no class (or no scanned class) holds it; the
/// header is then removed.
fn scan_headers(
    headers: &Headers<'_>,
    scan: DetectorSet,
    always: Option<Detector>,
    policy: &Policy,
    key: &HashKey,
    skipped: impl Fn(&str) -> bool,
) -> Result<Change, ScrubError> {
    let classes = &policy.classes;
    let mut findings = Findings::new(classes.len());
    let mut rewritten: Vec<(String, Vec<String>)> = Vec::new();
    let scan = always.map_or(scan, |d| scan.with(d));
    for name in headers.keys() {
        if skipped(name) {
            continue;
        }
        let values: Vec<&str> = headers.values(name).collect();
        let mut kept = Vec::with_capacity(values.len());
        let mut changed = false;
        for value in values {
            if let Some(d) = always
                && classes.class_of(d).is_none()
                && !detect::scan(value, d.into()).is_empty()
            {
                changed = true;
                continue;
            }
            match scan_text(value, scan, Context::default(), classes, key, &mut findings)? {
                TextOutcome::Unchanged => kept.push(value.to_owned()),
                TextOutcome::Replaced(v) => {
                    changed = true;
                    kept.push(v);
                }
                TextOutcome::Drop(_) => changed = true,
            }
        }
        if changed {
            if name.starts_with("x-envoy-") {
                // Envoy does not let these be changed: refuse rather than pass.
                return Err(ScrubError::Blocked {
                    class: "unmodifiable_header".to_owned(),
                });
            }
            rewritten.push((name.to_owned(), kept));
        }
    }
    Ok(Change {
        findings,
        rewritten,
        path: None,
    })
}

/// The new `:path` when the path's segments or the query change.
fn rewrite_url(
    path: &str,
    hop: &Hop,
    policy: &Policy,
    key: &HashKey,
    findings: &mut Findings,
) -> Result<Option<String>, ScrubError> {
    let env = &hop.request_envelope;
    let (route, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut scanner = Scanner {
        scan: env.url_scan,
        classes: &policy.classes,
        key,
        findings,
    };
    let new_route = rewrite_path(route, &mut scanner)?;
    let new_query = match query {
        Some(q) => rewrite_pairs(
            q,
            |name| {
                // Names as the callee's parser binds them.
                let bound = param_name(name);
                let listed = |list: &[String]| list.iter().any(|n| param_name(n) == bound);
                if listed(&env.query_allow) {
                    PairRule::Pass
                } else if listed(&env.query_remove) || is_default_removed(name) {
                    PairRule::Drop
                } else {
                    PairRule::Scan(None)
                }
            },
            &mut scanner,
        )?,
        None => None,
    };
    if new_route.is_none() && new_query.is_none() {
        return Ok(None);
    }
    let route = new_route.as_deref().unwrap_or(route);
    Ok(Some(match (new_query, query) {
        (Some(q), _) if q.is_empty() => route.to_owned(),
        (Some(q), _) => format!("{route}?{q}"),
        (None, Some(q)) => format!("{route}?{q}"),
        (None, None) => route.to_owned(),
    }))
}
