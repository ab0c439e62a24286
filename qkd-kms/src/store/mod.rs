//! Key stores: the in-memory reference store and the durable, encrypted [`RedbStore`].
//!
//! | store           | durable | encrypted at rest | use                                  |
//! |-----------------|---------|-------------------|--------------------------------------|
//! | [`MemoryStore`] | no      | n/a               | tests, ephemeral deployments         |
//! | [`RedbStore`]   | yes     | AES-256-GCM       | the embedded default                 |
//!
//! Both implement [`qkd_core::KeyStore`] and pass its conformance suite.

pub mod crypto;
pub mod master_key;
pub mod redb;

pub use self::master_key::{MasterKey, MasterKeyError};
pub use self::redb::{OpenError, RedbOptions, RedbStore};
pub use qkd_core::store::{DEFAULT_STREAM_CAPACITY, KeyStore, MemoryStore, StreamCounts};
