//! Distillation: turning a noisy sifted key shared by two ends into an identical, secret key.
//!
//! The steps, in order, all protocol-agnostic (a vendor whose device delivers sifted key uses them
//! too): [`estimate`] (parameter estimation), [`cascade`] (error correction), [`verify`]
//! (universal-hash verification), [`keylength`] (asymptotic and finite-key secret length) and
//! [`privacy`] (Toeplitz privacy amplification); [`pipeline`] runs them over a
//! [`ClassicalChannel`](crate::channel::ClassicalChannel).

pub mod cascade;
pub mod error;
pub mod estimate;
pub mod keylength;
pub mod pipeline;
pub mod privacy;
pub mod verify;

pub use error::DistillError;

/// Binary Shannon entropy h(p) = -p log2 p - (1-p) log2 (1-p), with h(0) = h(1) = 0.
/// Values of `p` outside [0, 1] are clamped.
pub fn binary_entropy(p: f64) -> f64 {
    let p = p.clamp(0.0, 1.0);
    if p == 0.0 || p == 1.0 {
        0.0
    } else {
        -p * p.log2() - (1.0 - p) * (1.0 - p).log2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_values() {
        assert_eq!(binary_entropy(0.0), 0.0);
        assert_eq!(binary_entropy(1.0), 0.0);
        assert!((binary_entropy(0.5) - 1.0).abs() < 1e-15);
        assert!((binary_entropy(0.11) - 0.4999).abs() < 1e-3);
    }
}
