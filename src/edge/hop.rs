//! The hand-off from ext_authz to ext_proc: the decision metadata Envoy
//! forwards, and the signed hop header for when it cannot (several hops'
//! routes fit a request). A client can forge neither: the metadata is
//! Envoy's, and the header's tag is keyed with the hash key and bound to
//! the request and the policy.

use envoy_types::pb::envoy::config::core::v3::{HeaderValueOption, Metadata};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};

use crate::edge::headers;
use crate::policy::Policy;
use crate::secret::HashKey;

/// The metadata namespace ext_authz writes its decision under.
pub const AUTHZ_NAMESPACE: &str = "envoy.filters.http.ext_authz";

/// The header that carries the decided hop from ext_authz to ext_proc, signed
/// with the hash key, when ext_proc could not find it again by the route
/// alone (several hops' routes fit the request); ext_proc removes it before
/// the callee sees it.
pub const HOP_HEADER: &str = "x-chaperone-hop";
const HOP_TAG_LABEL: &str = "ext_proc_hop";

/// The request a hop header was made for, as Envoy reports it to both
/// ext_authz and ext_proc (after path normalization), with Envoy's request
/// id: a header made for one request does not hold for another.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopRequest<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    /// `x-request-id` as [`telemetry::last_value`] reads it, else "".
    pub request_id: &'a str,
}

/// What the hop header's tag covers: the decision, its hop and caller, the
/// request it was made for, and the policy.
fn hop_tag_input(
    decision_id: &str,
    hop: &str,
    principal: &str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> Vec<u8> {
    [
        decision_id,
        hop,
        principal,
        request.method,
        request.authority,
        request.path,
        request.request_id,
        policy_hash,
    ]
    .join("\0")
    .into_bytes()
}

/// The hop header, `<hop>.<decision id>.<hashed principal>.<tag>`: the hop
/// ext_authz decided, and the decision and who it was for (a keyed hash),
/// for ext_proc's decision events.
pub fn hop_header(
    key: &HashKey,
    decision_id: &str,
    hop: &str,
    principal: &str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> HeaderValueOption {
    let input = hop_tag_input(decision_id, hop, principal, request, policy_hash);
    let tag = key.tag("", HOP_TAG_LABEL, &input);
    headers::authz_set(
        HOP_HEADER,
        &format!("{hop}.{decision_id}.{principal}.{tag}"),
    )
}

/// What a hop header names: the hop, the decision id and the caller's keyed
/// hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHop<'v> {
    pub hop: &'v str,
    pub decision_id: &'v str,
    pub principal: &'v str,
}

/// What a hop header names, if its tag is right for this request and this
/// policy: a header a client made up, one made for another request, or one
/// from another policy, is not believed.
pub fn verify_hop_header<'v>(
    key: &HashKey,
    value: &'v str,
    request: HopRequest<'_>,
    policy_hash: &str,
) -> Option<SignedHop<'v>> {
    let mut parts = value.rsplitn(4, '.');
    let tag = parts.next()?;
    let principal = parts.next()?;
    let decision_id = parts.next()?;
    let hop = parts.next()?;
    let input = hop_tag_input(decision_id, hop, principal, request, policy_hash);
    key.verify_tag("", HOP_TAG_LABEL, &input, tag)
        .then_some(SignedHop {
            hop,
            decision_id,
            principal,
        })
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

/// Envoy puts this under the `envoy.filters.http.ext_authz` namespace, which
/// the ext_proc filter forwards to us (`metadata_options.forwarding_namespaces`).
/// Envoy copies it into every ext_proc message, at a cost per field measured
/// in BENCHMARKS.md, so it holds only what ext_proc and access logs need; the
/// hashed principal is in the decision event.
pub fn decision_metadata(hop: &str, decision_id: &str, policy_version: &str) -> Struct {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("hop".to_owned(), string_value(hop));
    fields.insert("decision_id".to_owned(), string_value(decision_id));
    fields.insert("policy_version".to_owned(), string_value(policy_version));
    Struct {
        fields: fields.into_iter().collect(),
    }
}

/// The hop and decision id ext_authz recorded, if the hop still exists.
pub fn authz_decision(meta: &Metadata, policy: &Policy) -> Option<(usize, Option<String>)> {
    let fields = &meta.filter_metadata.get(AUTHZ_NAMESPACE)?.fields;
    let text = |k: &str| match fields.get(k)?.kind.as_ref()? {
        Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    };
    let hop = text("hop")?;
    let index = policy.hops.iter().position(|h| *h.name == *hop)?;
    Some((index, text("decision_id")))
}
