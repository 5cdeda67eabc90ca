//! What chaperone mints and publishes: per-hop Transaction Tokens and the
//! keys that sign them.

pub mod keyring;
pub mod keys;
pub mod rotation;
pub mod txn;

pub use keyring::{KeyDir, KeyRing, KeyStore};
pub use keys::{KeyKind, SigningKey, jwks_document};
pub use txn::{HopToken, MintError, TokenSettings, TxnClaims, TxnError};
