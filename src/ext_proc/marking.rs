//! How a response that crossed a contract is marked, so that no side door
//! opens after chaperone: a shared cache must not serve what was scrubbed for
//! one caller to another (`Cache-Control: private` or `no-store`, with
//! `Vary: Authorization` where callers are told apart by their token), and a
//! browser must not sniff a JSON or text body into something it runs
//! (`X-Content-Type-Options: nosniff`). A hop whose responses are the same
//! for everyone says `cache: public`.

use envoy_types::pb::envoy::config::core::v3::HeaderValueOption;

use super::stream::BodyMeta;
use crate::edge::headers;
use crate::scrub::contract::{CacheRule, Envelope};

/// How a response crossed: read as JSON or text, and judged under a
/// contract (readable, or changed by chaperone).
#[derive(Debug, Clone, Copy)]
pub(super) struct Crossing {
    pub readable: bool,
    pub crossed: bool,
}

/// What a response already carries of the marking (headers and body are
/// answered apart; each marks once).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Marked {
    cache: bool,
    nosniff: bool,
}

impl Marked {
    /// Adds to `set` (and `remove`) what the response still lacks:
    /// `nosniff` when it is readable (JSON or text), the cache marking when
    /// it crossed a contract (readable, or changed by chaperone).
    pub(super) fn mark(
        &mut self,
        meta: &BodyMeta,
        env: &Envelope,
        per_user: bool,
        how: Crossing,
        remove: &mut Vec<String>,
        set: &mut Vec<HeaderValueOption>,
    ) {
        let Crossing { readable, crossed } = how;
        if readable && env.nosniff && !self.nosniff {
            self.nosniff = true;
            set.push(headers::set("x-content-type-options", "nosniff"));
        }
        if crossed && !self.cache {
            self.cache = true;
            if let Some(cc) = cache_control(meta.cache_control.as_deref(), env.cache) {
                set.push(headers::set("cache-control", &cc));
            }
            if env.cache != CacheRule::Public {
                // Directives a CDN obeys before Cache-Control would still
                // let it keep the response for everyone.
                remove.extend(meta.targeted.iter().cloned());
            }
            if env.cache == CacheRule::Private
                && per_user
                && let Some(vary) = vary(meta.vary.as_deref())
            {
                set.push(headers::set("vary", &vary));
            }
        }
    }
}

/// Cache directives aimed at shared caches only (RFC 9213 and the CDNs').
pub(super) const TARGETED: &[&str] = &[
    "cdn-cache-control",
    "surrogate-control",
    "cloudflare-cdn-cache-control",
];

/// The Cache-Control a response crosses with, or `None` to leave it as it is.
fn cache_control(existing: Option<&str>, rule: CacheRule) -> Option<String> {
    let directives: Vec<&str> = existing
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let name = |d: &str| {
        d.split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let has = |n: &str| directives.iter().any(|d| name(d) == n);
    match rule {
        CacheRule::Public => None,
        CacheRule::NoStore if has("no-store") => None,
        CacheRule::NoStore => Some("no-store".to_owned()),
        CacheRule::Private if has("no-store") || (has("private") && !has("public")) => None,
        CacheRule::Private => {
            // What only shared caches read goes; the rest still holds for
            // the caller's own cache.
            let kept = directives
                .iter()
                .filter(|d| !matches!(name(d).as_str(), "public" | "s-maxage" | "proxy-revalidate"))
                .copied();
            Some(
                std::iter::once("private")
                    .chain(kept)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }
    }
}

/// Vary with `Authorization` added, or `None` when it is there already.
fn vary(existing: Option<&str>) -> Option<String> {
    let existing = existing.map(str::trim).filter(|v| !v.is_empty());
    match existing {
        None => Some("authorization".to_owned()),
        Some(v)
            if v.split(',')
                .map(str::trim)
                .any(|f| f == "*" || f.eq_ignore_ascii_case("authorization")) =>
        {
            None
        }
        Some(v) => Some(format!("{v}, authorization")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_is_made_private() {
        let p = |e| cache_control(e, CacheRule::Private);
        assert_eq!(p(None).as_deref(), Some("private"));
        assert_eq!(
            p(Some("public, max-age=600, s-maxage=3600")).as_deref(),
            Some("private, max-age=600")
        );
        assert_eq!(p(Some("private, max-age=60")), None);
        assert_eq!(p(Some("no-store")), None);
        assert_eq!(p(Some("no-cache")).as_deref(), Some("private, no-cache"));
        assert_eq!(
            cache_control(Some("public"), CacheRule::NoStore).as_deref(),
            Some("no-store")
        );
        assert_eq!(cache_control(Some("public"), CacheRule::Public), None);
    }

    #[test]
    fn vary_names_authorization_once() {
        assert_eq!(vary(None).as_deref(), Some("authorization"));
        assert_eq!(
            vary(Some("accept-encoding")).as_deref(),
            Some("accept-encoding, authorization")
        );
        assert_eq!(vary(Some("Authorization")), None);
        assert_eq!(vary(Some("*")), None);
    }
}
