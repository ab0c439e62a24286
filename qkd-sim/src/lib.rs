//! # qkd-sim
//!
//! A physically faithful QKD simulator: an n-qubit [`statevector`] engine, quantum [`channel`]
//! models (noise, loss, detectors) and the [`eve`] eavesdropper, sans-IO [`protocol`] engines (BB84,
//! six-state, B92, E91, BBM92), a quantum random number generator ([`qrng`]), and the simulated
//! device that implements [`qkd_core::QuantumDevice`].

#![forbid(unsafe_code)]

pub mod channel;
pub mod device;
pub mod error;
pub mod eve;
pub mod protocol;
pub mod qrng;
pub mod statevector;

pub use error::SimError;
