//! Operator-facing surfaces: the HTTP admin listener and the gRPC Admin API.

pub mod api;
pub mod http;
