//! What crosses a hop besides the body: header values in both directions,
//! and toward the callee the path and query string. Each is scanned with the
//! hop's classes; a finding masks, hashes or redacts the value in place,
//! drops the header or parameter, or refuses the message, as its class says.
//! JWTs never travel back to a caller in a response header.

use std::borrow::Cow;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue, HeaderValueOption};
use envoy_types::pb::google::protobuf::BoolValue;

use crate::config::contracts::header_matches;
use crate::policy::{Hop, Policy};
use crate::scrub::detect::{self, Context, Detector, DetectorSet};
use crate::scrub::query::{
    PairRule, Scanner, is_default_removed, param_name, rewrite_pairs, rewrite_path,
};
use crate::scrub::text::{TextOutcome, scan_text};
use crate::scrub::{Findings, ScrubError};
use crate::secret::HashKey;

/// Headers as Envoy sent them, borrowed from its message: lower-case names
/// and values (Envoy sends them in `raw_value`). A value that is not UTF-8 is
/// read lossily: it is scanned and compared, and forwarded as sent unless a
/// finding rewrites it. Envoy joins most repeated headers with commas and
/// sends a few (`cookie`, `set-cookie`, unknown names) once per value.
/// A list, not a map: a request has a few dozen headers at most (Envoy bounds
/// them), and looking through them costs less than hashing each one.
#[derive(Debug, Default)]
pub(super) struct Headers<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Headers<'a> {
    pub(super) fn of(map: Option<&'a HeaderMap>) -> Self {
        let Some(map) = map else {
            return Self::default();
        };
        Self(
            map.headers
                .iter()
                .map(|h| {
                    let name = if h.key.bytes().any(|b| b.is_ascii_uppercase()) {
                        Cow::Owned(h.key.to_ascii_lowercase())
                    } else {
                        Cow::Borrowed(h.key.as_str())
                    };
                    let value = if h.raw_value.is_empty() {
                        Cow::Borrowed(h.value.as_str())
                    } else {
                        String::from_utf8_lossy(&h.raw_value)
                    };
                    (name, value)
                })
                .collect(),
        )
    }

    /// The last value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of `name`, in order.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// Each name once.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| !self.0[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.as_ref())
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }
}

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
                set.push(header_value(name, v, i > 0));
            }
        }
        if let Some(path) = &self.path {
            set.push(header_value(":path", path, false));
        }
    }
}

/// A header to set; `append` adds a value beside those already set (removes
/// are applied before sets, so a rewritten header starts empty).
pub(super) fn header_value(key: &str, value: &str, append: bool) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: String::new(),
            raw_value: value.as_bytes().to_vec(),
        }),
        // Envoy's ext_proc reads only this (deprecated) flag, not append_action.
        append: append.then_some(BoolValue { value: true }),
        ..HeaderValueOption::default()
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
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_like_a_map() {
        let raw = |k: &str, v: &[u8]| HeaderValue {
            key: k.to_owned(),
            value: String::new(),
            raw_value: v.to_vec(),
        };
        let map = HeaderMap {
            headers: vec![
                raw(":path", b"/a"),
                raw("X-Dup", b"1"),
                raw("x-dup", b"2"),
                raw("bad", b"\xff"),
                HeaderValue {
                    key: "plain".to_owned(),
                    value: "v".to_owned(),
                    raw_value: Vec::new(),
                },
            ],
        };
        let h = Headers::of(Some(&map));
        assert_eq!(h.get(":path"), Some("/a"));
        // Names are lower-case; a name sent twice has its last value, once.
        assert_eq!(h.get("x-dup"), Some("2"));
        assert_eq!(h.all("x-dup"), ["1", "2"]);
        assert!(h.get("X-Dup").is_none());
        assert_eq!(
            h.keys().collect::<Vec<_>>(),
            [":path", "x-dup", "bad", "plain"]
        );
        assert_eq!(h.get("bad"), Some("\u{fffd}"));
        assert_eq!(h.get("plain"), Some("v"));
        assert!(h.contains_key("plain") && !h.contains_key("absent"));
        assert!(Headers::of(None).keys().next().is_none());
    }
}
