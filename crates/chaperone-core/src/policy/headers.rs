//! Which headers a hop lets cross: chaperone's own never, the policy's and
//! the hop's lists removed in each direction, credentials kept only where asked.

use super::{Hop, Policy};

/// Request headers named so are chaperone's own: one a client sends never
/// reaches a callee.
pub const OWN_HEADER_PREFIX: &str = "x-chaperone-";

/// The request headers to strip toward the callee, among `present`: the
/// defaults and the hop's list (names or `prefix*`), less what the hop
/// allows, and chaperone's own headers; plus the caller's `Authorization`
/// unless the hop keeps it, and on a hop that mints no token the token
/// header. With `unseen_too`, those two are listed even when absent from
/// `present`: ext_authz sees only the headers Envoy is configured to show it.
pub fn request_headers_to_remove<'h>(
    policy: &Policy,
    hop: &Hop,
    present: impl Iterator<Item = &'h str>,
    unseen_too: bool,
) -> Vec<String> {
    let listed = |name: &str| {
        policy
            .default_request_remove
            .iter()
            .chain(hop.request_headers_remove.iter())
            .any(|p| header_matches(p, name))
            && !hop
                .request_headers_allow
                .iter()
                .any(|p| header_matches(p, name))
    };
    let (mut authorization_shown, mut token_shown) = (false, false);
    let mut out: Vec<String> = present
        .filter(|name| {
            authorization_shown |= *name == "authorization";
            token_shown |= *name == policy.tokens.header;
            !name.starts_with(':') && (name.starts_with(OWN_HEADER_PREFIX) || listed(name))
        })
        .map(str::to_owned)
        .collect();
    let mut always = |name: &str| {
        if !out.iter().any(|h| h == name) {
            out.push(name.to_owned());
        }
    };
    if !hop.keep_authorization && (unseen_too || authorization_shown) {
        always("authorization");
    }
    // A hop that mints no token passes none on: not the client's, not the
    // previous hop's. (A minted token overwrites whatever was sent.)
    if hop.token.is_none() && (unseen_too || token_shown) {
        always(&policy.tokens.header);
    }
    out
}

/// The response headers to strip toward the caller, among `present`: the
/// defaults and the hop's list (names or `prefix*`); with no hop (a local
/// reply), the defaults.
pub fn response_headers_to_remove<'h>(
    policy: &Policy,
    hop: Option<&Hop>,
    present: impl Iterator<Item = &'h str>,
) -> Vec<String> {
    let hop_remove = hop
        .map(|h| h.response_headers_remove.as_slice())
        .unwrap_or_default();
    present
        .filter(|name| {
            !name.starts_with(':')
                && policy
                    .default_response_remove
                    .iter()
                    .chain(hop_remove.iter())
                    .any(|p| header_matches(p, name))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `name` matches a pattern list entry (a name, or `prefix*`).
pub fn header_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}
