//! Policy loading: raw serde structs → compiled snapshot → published `Arc`.

mod budgets;
pub mod compile;
pub mod contracts;
pub mod raw;
pub mod store;

pub use compile::{CompileContext, JwksRegistry, PolicyError, compile, parse_duration};
pub use store::{EMBEDDED_POLICY, PolicySource, PolicyStore};

#[cfg(test)]
mod tests;
