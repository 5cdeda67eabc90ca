//! chaperone's domain: what a hop may carry and who may take it. Policy,
//! data contracts and scrubbing, transaction tokens, caller identity.
//!
//! Nothing here speaks gRPC or HTTP or knows Envoy: adapters hand in borrowed
//! facts and get values back (decisions, findings, reload outcomes), and
//! record metrics, events and spans themselves.
#![forbid(unsafe_code)]

pub mod anomaly;
pub mod budget;
pub mod clock;
pub mod config;
pub mod identity;
pub mod policy;
pub mod reload;
pub mod request_id;
pub mod scrub;
pub mod secret;
pub mod token;
