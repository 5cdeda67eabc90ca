//! One refusal type for both adapters, mapped once to what each answers:
//! the gRPC code, the HTTP status the caller sees, the error word and the
//! body (which names only the decision id, never why: that is in the event).
//!
//! Why each gRPC code makes Envoy deny:
//! - In a `CheckResponse`, any status but OK is a denial: Envoy answers with
//!   the `DeniedHttpResponse` we attach (status, headers, body). We send the
//!   code that matches the HTTP status, which Envoy records in its stats and
//!   access log (`ext_authz_denied` / `ext_authz_error`).
//! - On the ext_proc stream, a refusal is an `ImmediateResponse` with the
//!   HTTP status; the stream itself stays OK.
//! - When the stream itself fails (a message out of order, too many streams,
//!   a message that took too long), we end it with a gRPC error status. With
//!   `failure_mode_allow: false` (every shipped config) Envoy treats any
//!   non-OK status on the stream as a processing failure and answers the
//!   client itself (500, or 504 for its own message timeout): closed, never open.

use envoy_types::pb::envoy::r#type::v3::StatusCode as HttpCode;
use tonic::Code;

use crate::policy::{Deny, DenyKind, Reason};
use crate::scrub::Breach;

/// The header that carries the decision id on a refusal, for the caller to
/// quote (Envoy's configuration can pass it to callees: envoy/README.md).
pub const DECISION_ID_HEADER: &str = "x-chaperone-decision-id";

/// Why chaperone refuses a request, a message or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The policy denied the request.
    Denied(DenyKind),
    /// A message broke its hop's contract, in the request (toward the
    /// callee) or in the response (toward the caller).
    Breach { request: bool, breach: Breach },
    /// The ext_proc stream broke the protocol (a message out of order or
    /// with no phase).
    Protocol,
    /// More ext_proc streams open than chaperone takes.
    Busy,
    /// A message took longer than chaperone's time to answer it.
    Slow,
    /// The caller spent a budget of the hop (`exceeded`), or a budget that
    /// denies without its store could not be counted.
    Budget { exceeded: bool },
}

/// What a refusal answers with. For the stream's own failures (`Protocol`,
/// `Busy`, `Slow`) the HTTP status is Envoy's: it answers the client itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub grpc: Code,
    pub http: HttpCode,
    /// The `error` word of the JSON body.
    pub error: &'static str,
}

impl Refusal {
    pub fn answer(self) -> Answer {
        let (grpc, http, error) = match self {
            Refusal::Denied(kind) => match kind {
                DenyKind::BadRequest => {
                    (Code::InvalidArgument, HttpCode::BadRequest, "bad_request")
                }
                DenyKind::Unauthenticated => (
                    Code::Unauthenticated,
                    HttpCode::Unauthorized,
                    "unauthenticated",
                ),
                DenyKind::Forbidden => (Code::PermissionDenied, HttpCode::Forbidden, "forbidden"),
                DenyKind::Internal => (Code::Internal, HttpCode::InternalServerError, "internal"),
            },
            // Toward the caller: the callee failed its contract.
            Refusal::Breach { request: false, .. } => {
                (Code::PermissionDenied, HttpCode::BadGateway, "bad_gateway")
            }
            Refusal::Breach {
                request: true,
                breach,
            } => match breach {
                Breach::TooLarge => (
                    Code::InvalidArgument,
                    HttpCode::PayloadTooLarge,
                    "payload_too_large",
                ),
                Breach::Unsupported => (
                    Code::InvalidArgument,
                    HttpCode::UnsupportedMediaType,
                    "unsupported_media_type",
                ),
                Breach::Forbidden => (Code::PermissionDenied, HttpCode::Forbidden, "forbidden"),
                // A request chaperone could not finish judging (two findings
                // it cannot place apart) is refused as one it cannot read.
                Breach::Malformed | Breach::Internal => {
                    (Code::InvalidArgument, HttpCode::BadRequest, "bad_request")
                }
            },
            Refusal::Protocol => (
                Code::InvalidArgument,
                HttpCode::InternalServerError,
                "internal",
            ),
            Refusal::Busy => (
                Code::ResourceExhausted,
                HttpCode::InternalServerError,
                "internal",
            ),
            Refusal::Slow => (
                Code::DeadlineExceeded,
                HttpCode::InternalServerError,
                "internal",
            ),
            Refusal::Budget { exceeded: true } => (
                Code::ResourceExhausted,
                HttpCode::TooManyRequests,
                "budget_exceeded",
            ),
            Refusal::Budget { exceeded: false } => (
                Code::Unavailable,
                HttpCode::ServiceUnavailable,
                "budget_unavailable",
            ),
        };
        Answer { grpc, http, error }
    }

    /// The gRPC status that ends a stream (ext_proc) with this refusal; the
    /// message says what, never a value.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        tonic::Status::new(self.answer().grpc, message)
    }
}

/// The `www-authenticate` challenge a denial answers with (RFC 6750), if it
/// asks for credentials.
pub fn challenge(d: &Deny) -> Option<&'static str> {
    (d.kind() == DenyKind::Unauthenticated).then_some(if d.reason == Reason::CredentialsMissing {
        r#"Bearer realm="chaperone""#
    } else {
        r#"Bearer realm="chaperone", error="invalid_token""#
    })
}

/// The headers every refusal answers with, whichever adapter writes them:
/// JSON, never cached, the decision id, and a challenge when it asks for
/// credentials.
pub fn headers<'a>(
    decision_id: &'a str,
    challenge: Option<&'static str>,
) -> impl Iterator<Item = (&'static str, &'a str)> {
    [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
        (DECISION_ID_HEADER, decision_id),
    ]
    .into_iter()
    .chain(challenge.map(|www| ("www-authenticate", www)))
}

/// The short generic body a refused caller gets.
pub fn body(error: &str, decision_id: &str) -> String {
    format!(r#"{{"error":"{error}","decision_id":"{decision_id}"}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_denies_and_says_only_a_word() {
        let all = [
            Refusal::Denied(DenyKind::BadRequest),
            Refusal::Denied(DenyKind::Unauthenticated),
            Refusal::Denied(DenyKind::Forbidden),
            Refusal::Denied(DenyKind::Internal),
            Refusal::Protocol,
            Refusal::Busy,
            Refusal::Slow,
        ]
        .into_iter()
        .chain([true, false].into_iter().flat_map(|request| {
            [
                Breach::TooLarge,
                Breach::Unsupported,
                Breach::Forbidden,
                Breach::Malformed,
                Breach::Internal,
            ]
            .map(|breach| Refusal::Breach { request, breach })
        }));
        for r in all {
            let a = r.answer();
            assert_ne!(a.grpc, Code::Ok, "{r:?} must deny");
            assert!((400..600).contains(&(a.http as i32)), "{r:?}");
            assert!(a.error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        // A denial's HTTP status is the policy's (what `chaperone test` checks).
        for kind in [
            DenyKind::BadRequest,
            DenyKind::Unauthenticated,
            DenyKind::Forbidden,
            DenyKind::Internal,
        ] {
            assert_eq!(
                Refusal::Denied(kind).answer().http as i32,
                i32::from(kind.http_status())
            );
        }
        assert_eq!(
            body("forbidden", "d1"),
            r#"{"error":"forbidden","decision_id":"d1"}"#
        );
    }
}
