//! Who is calling: end users by JWT, workloads by SPIFFE ID.

pub mod jwks;
pub mod jwt;
pub mod spiffe;

pub use jwt::{Issuer, TokenError, User, Verifier};
pub use spiffe::{SpiffeId, WorkloadPattern};

#[cfg(test)]
pub(crate) mod test_fetch;
#[cfg(test)]
mod tests;
