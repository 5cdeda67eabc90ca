//! What both Envoy adapters share at the edge: the HTTP client for remote
//! key sets and the reload driver.

pub mod jwks;
pub mod reload;
