//! What both Envoy adapters share at the edge: header reading and writing,
//! the signed hop header, refusals and their answers, the HTTP client for
//! remote key sets and policy bundles, the bundle poller, and the reload
//! driver.

pub mod bundle;
pub mod headers;
pub mod hop;
pub mod jwks;
pub mod refusal;
pub mod reload;
