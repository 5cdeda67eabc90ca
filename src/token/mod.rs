//! Keys chaperone signs with and publishes.

pub mod keys;

pub use keys::{KeyKind, SigningKey, jwks_document};
