//! Policy loading: raw serde structs → compiled snapshot → published `Arc`.

mod anomalies;
mod budgets;
pub mod bundle;
pub mod compile;
pub mod contracts;
pub mod files;
pub mod raw;
pub mod store;

pub use compile::{
    CompileContext, JwksRegistry, PolicyError, compile, compile_from, parse_duration,
};
pub use store::{BundleFrom, EMBEDDED_POLICY, PolicySource, PolicyStore, shown_url};

#[cfg(test)]
mod tests;
