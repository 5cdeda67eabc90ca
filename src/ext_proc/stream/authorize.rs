//! Request headers when this stream authorizes (ext_proc only, no ext_authz
//! in front): the policy decides here, as ext_authz would, and an allowed
//! request enters its hop with the decision's removals and minted token.

use std::collections::HashMap;

use envoy_types::pb::google::protobuf::{Struct, value::Kind};

use super::request::{Entry, only_without_own_headers};
use super::*;
use crate::policy::{Decision, RequestFacts};

/// The attributes Envoy's ext_proc filter sends (`request_attributes`), by
/// the filter's name.
const EXT_PROC_FILTER: &str = "envoy.filters.http.ext_proc";

impl HopStream {
    pub(super) async fn authorize_headers(
        &mut self,
        h: &HttpHeaders,
        attributes: &HashMap<String, Struct>,
    ) -> Answer {
        let started = Instant::now();
        let policy = self.app.store.current();
        let headers = Headers::of(h.headers.as_ref());
        if let Some(refused) = self.not_text(&headers) {
            return refused;
        }
        let value = |name: &str| {
            attributes
                .get(EXT_PROC_FILTER)?
                .fields
                .get(name)?
                .kind
                .as_ref()
        };
        let attribute = |name: &str| match value(name)? {
            Kind::StringValue(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        };
        // The peer as ext_authz reports it (`source.principal`): on an mTLS
        // connection the certificate's URI SAN, else its subject. Never
        // nothing: an mTLS caller is never identified by a header instead
        // (x-forwarded-client-cert), and one without a SPIFFE ID is invalid.
        let mtls = matches!(value("connection.mtls"), Some(Kind::BoolValue(true)));
        let principal = if mtls {
            Some(
                attribute("connection.uri_san_peer_certificate")
                    .or_else(|| attribute("connection.subject_peer_certificate"))
                    .unwrap_or("-"),
            )
        } else {
            None
        };
        let joined = headers.joined();
        let facts = RequestFacts {
            host: headers
                .get(":authority")
                .or_else(|| headers.get("host"))
                .unwrap_or_default(),
            method: headers.get(":method").unwrap_or_default(),
            path: headers.get(":path").unwrap_or_default(),
            headers: &joined,
            source_principal: principal,
            source_ip: attribute("source.address").map(without_port),
        };
        let evaluation = self.app.engine.evaluate_with_shadow(&policy, &facts).await;
        metrics::get()
            .check_seconds
            .observe(started.elapsed().as_secs_f64());
        telemetry::evaluation_recorded(&evaluation);
        let request_id =
            telemetry::request_id(headers.get("x-request-id"), self.app.engine.hash_key())
                .into_owned();
        let decision = evaluation.decision;
        telemetry::decision_event(
            &decision,
            &self.app.engine,
            "ext_proc",
            &request_id,
            started.elapsed(),
        );
        if let Some(span) = self.trace.span.as_mut() {
            telemetry::decision_span(span, &decision);
        }
        let hop_of = |name: &str| policy.hops.iter().position(|h| *h.name == *name);
        match &decision {
            // Shadow: the request goes on unchanged; its hop, if one fits,
            // only records what its contract would do.
            _ if decision.is_shadow() => {
                let (hop, id, principal) = match &decision {
                    Decision::Allow(a) => (
                        hop_of(&a.hop),
                        a.decision_id.clone(),
                        self.app.engine.principal(a),
                    ),
                    Decision::Deny(d) => (
                        d.hop.as_deref().and_then(hop_of),
                        d.decision_id.clone(),
                        "-".to_owned(),
                    ),
                };
                match hop {
                    Some(hop) => self.enter_hop(
                        &policy,
                        &headers,
                        Entry {
                            hop,
                            decision_id: OnceCell::from(id),
                            principal,
                            request_id,
                            allowed: None,
                            body_follows: !h.end_of_stream,
                        },
                    ),
                    None => {
                        self.passthrough = true;
                        Answer::RequestHeaders(only_without_own_headers(
                            &headers,
                            &policy.tokens.header,
                        ))
                    }
                }
            }
            Decision::Deny(d) => immediate_with(
                Refusal::Denied(d.kind()),
                &d.decision_id,
                d.reason.code(),
                refusal::challenge(d),
            ),
            Decision::Allow(a) => {
                let Some(hop) = hop_of(&a.hop) else {
                    // The decision names a hop of the policy it was made on.
                    return immediate(
                        Refusal::Denied(DenyKind::Internal),
                        &a.decision_id,
                        "hop_unknown",
                    );
                };
                self.enter_hop(
                    &policy,
                    &headers,
                    Entry {
                        hop,
                        decision_id: OnceCell::from(a.decision_id.clone()),
                        principal: self.app.engine.principal(a),
                        request_id,
                        allowed: Some(a),
                        body_follows: !h.end_of_stream,
                    },
                )
            }
        }
    }
}

/// The address of `source.address` (`ip:port`, `[ipv6]:port`), as ext_authz
/// reports the peer.
fn without_port(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(ip, _)| ip);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(super::without_port("10.0.0.7:51234"), "10.0.0.7");
        assert_eq!(super::without_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(super::without_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(super::without_port("10.0.0.7"), "10.0.0.7");
    }
}
