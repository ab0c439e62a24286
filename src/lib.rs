//! # qkd-stack
//!
//! Quantum Key Distribution for cloud infrastructure. This facade re-exports the crates of the stack:
//!
//! * [`core`]: identifiers, key material, errors, traits and classical post-processing;
//! * `sim` (feature `sim`): the quantum simulator, protocol engines and simulated devices;
//! * `kms` (feature `kms`): key stores, the ETSI GS QKD 004 module and the key server;
//! * `etsi` (feature `etsi`): ETSI GS QKD 014/004 servers, clients and the `qkd-kme` daemon.

#![forbid(unsafe_code)]

pub use qkd_core as core;
#[cfg(feature = "etsi")]
pub use qkd_etsi as etsi;
#[cfg(feature = "kms")]
pub use qkd_kms as kms;
#[cfg(feature = "sim")]
pub use qkd_sim as sim;
