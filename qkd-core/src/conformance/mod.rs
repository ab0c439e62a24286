//! Conformance suites: one per trait, run by every implementation from its own tests.
//!
//! Following the pattern of `object_store`'s integration tests, each suite is a set of public async
//! functions that take the implementation under test (or a factory for fresh instances) and panic
//! with a descriptive message when the implementation breaks the trait's contract. `run_*` functions
//! run a whole suite.
//!
//! Enable with the `conformance` feature (usually as a dev-dependency):
//!
//! ```toml
//! [dev-dependencies]
//! qkd-core = { version = "0.1", features = ["conformance"] }
//! ```

pub mod auth;
pub mod channel;
pub mod device;
pub mod module;
pub mod store;
