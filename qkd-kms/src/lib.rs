//! # qkd-kms
//!
//! Key management for qkd-stack:
//!
//! * [`store`]: [`KeyStore`](qkd_core::KeyStore) backends — the in-memory [`MemoryStore`] and the
//!   durable, encrypted-at-rest [`RedbStore`] (the embedded default);
//! * [`module`]: the QKD module, a [`KeyModule`](qkd_core::KeyModule) (ETSI GS QKD 004 semantics)
//!   over any [`QuantumDevice`](qkd_core::QuantumDevice) and key store.
#![forbid(unsafe_code)]

pub mod store;

pub use store::{MasterKey, MemoryStore, RedbStore};
pub mod module;

pub use module::{ModuleConfig, QkdModule};
