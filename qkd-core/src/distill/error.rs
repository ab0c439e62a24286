//! [`DistillError`]: everything that can go wrong while distilling a key (estimation, error
//! correction, verification, privacy amplification, key length).
//!
//! Like the other error enums of this crate, no variant carries key material: only lengths,
//! counts, rates and static or protocol descriptions.

use thiserror::Error;

/// Failures of the distillation steps.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DistillError {
    /// A key (or a sample, or a block) that must not be empty was empty.
    #[error("empty key")]
    EmptyKey,
    /// Two bit strings that must have the same length do not.
    #[error("length mismatch: expected {expected} bits, got {actual}")]
    LengthMismatch {
        /// The length required (for example the local key length).
        expected: usize,
        /// The length found (for example the peer's or the second argument's).
        actual: usize,
    },
    /// A QBER (given or estimated) lies outside the range the step accepts, typically the open
    /// interval (0, 0.5).
    #[error("QBER {qber} is outside the accepted range {min}..{max}")]
    QberOutOfRange {
        /// The offending value.
        qber: f64,
        /// The smallest accepted value (exclusive).
        min: f64,
        /// The largest accepted value (exclusive).
        max: f64,
    },
    /// The statistical upper bound on the QBER exceeds the abort threshold: the block must be
    /// discarded (noise too high, or an eavesdropper).
    #[error(
        "QBER too high: estimate {estimate:.5}, upper bound {bound:.5} exceeds threshold {threshold:.5}"
    )]
    QberAboveThreshold {
        /// The point estimate.
        estimate: f64,
        /// The upper confidence bound used for the decision.
        bound: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// A parameter is invalid (sample size, failure probability, block schedule, ...).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The peer sent a message that does not fit the protocol state: out of order, from another
    /// session, malformed, or inconsistent with what was asked.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A method was called in a state where it is not allowed (for example asking for the
    /// result of an unfinished exchange).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// A random seed is shorter than required.
    #[error("seed too short: {len} bits given, at least {min} required")]
    SeedTooShort {
        /// Seed length provided, in bits.
        len: usize,
        /// Seed length required, in bits.
        min: usize,
    },
}
