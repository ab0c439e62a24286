//! # qkd-core
//!
//! The vocabulary of the qkd-stack QKD SDK: identifiers, zeroizing key material, errors, and the
//! traits that connect the layers of a QKD deployment:
//!
//! ```text
//! QuantumDevice (hardware or simulator) -> KeyModule (ETSI GS QKD 004) -> key server / KME -> SAEs (ETSI GS QKD 014)
//!                                          KeyStore (per-stream key chunks)
//! ClassicalChannel + ChannelAuth (authenticated classical messages between the two ends of a link)
//! ```
//!
//! With the `conformance` feature, [`conformance`] offers one test suite per trait that any
//! implementation runs against itself.

#![deny(unsafe_code)]

pub mod auth;
pub mod bits;
pub mod channel;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod device;
pub mod distill;
pub mod error;
pub mod id;
pub mod key;
pub mod module;
pub mod packed;
pub mod store;

pub use auth::{AuthUsage, ChannelAuth, NoAuth};
pub use bits::BitString;
pub use channel::{ClassicalChannel, MemoryChannel};
pub use device::{DeviceInfo, DeviceState, DeviceStatus, QuantumDevice, Role};
pub use error::{AuthError, ChannelError, DeviceError, IdError, StoreError};
pub use id::{Endpoint, KeyId, KmeId, SaeId, StreamId};
pub use key::{BlockStats, KeyBlock, SecretKey};
pub use module::{KeyChunk, KeyModule, ModuleError, OpenConnect, Qos, Status};
pub use store::{KeyStore, MemoryStore, StreamCounts};
