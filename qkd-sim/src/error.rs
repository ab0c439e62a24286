//! Errors of the simulator.

use thiserror::Error;

/// A simulation could not be set up or run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// A parameter is out of its valid range (probability outside [0, 1], negative length, ...).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A qubit index is outside the register.
    #[error("qubit {qubit} out of range for a {num_qubits}-qubit register")]
    QubitOutOfRange {
        /// The index.
        qubit: usize,
        /// The register size.
        num_qubits: usize,
    },
    /// The register is too large to simulate (or zero-sized).
    #[error("register of {num_qubits} qubits not supported (1 to {max} qubits)")]
    RegisterSize {
        /// Requested size.
        num_qubits: usize,
        /// Largest supported size.
        max: usize,
    },
    /// A protocol engine received a message it did not expect in its current state.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The operating system's entropy source failed (seeding a CSPRNG).
    #[error("entropy source unavailable: {0}")]
    Entropy(String),
}
