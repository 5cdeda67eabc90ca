//! Trailers, judged as their direction's headers are.

use super::*;

impl HopStream {
    /// Trailers (where Envoy forwards them: HTTP/2 and gRPC) are header
    /// values like any other: scanned as the direction's headers are; one
    /// that a `block` class finds, or that cannot be judged, is removed (the
    /// message is already on its way, so removal is what is left).
    pub(super) fn on_trailers(
        &mut self,
        trailers: Option<&envoy_types::pb::envoy::config::core::v3::HeaderMap>,
        request: bool,
    ) -> TrailersResponse {
        let present = Headers::of(trailers);
        let (policy, hop_rule) = match &self.ctx {
            Some(ctx) if !ctx.shadow => (Arc::clone(&ctx.policy), Some(ctx.hop)),
            Some(_) => return TrailersResponse::default(),
            None if self.passthrough => return TrailersResponse::default(),
            None => (self.app.store.current(), None),
        };
        let hop = hop_rule.map(|i| &policy.hops[i]);
        let key = self.app.engine.hash_key();
        let change = match (request, hop) {
            (true, Some(hop)) => envelope::scan_trailers(&present, hop, &policy, key),
            (true, None) => Err(ScrubError::Internal),
            (false, hop) => envelope::scan_response(&present, hop, &policy, key, |_| false),
        };
        // What is not text cannot be judged: removed.
        let mut remove = present.unreadable().to_vec();
        let mut set = Vec::new();
        match change {
            Ok(change) => {
                self.record(
                    if request {
                        PhaseName::RequestTrailers
                    } else {
                        PhaseName::ResponseTrailers
                    },
                    &change.findings,
                    !change.is_empty(),
                    false,
                    Instant::now(),
                );
                change.mutation(&mut remove, &mut set);
            }
            Err(_) => remove.extend(present.keys().map(str::to_owned)),
        }
        TrailersResponse {
            header_mutation: mutation(remove, set),
        }
    }
}
