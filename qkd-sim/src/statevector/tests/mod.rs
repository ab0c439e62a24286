//! Tests of the state-vector engine. Statistical tests use fixed seeds and 5-sigma binomial
//! bounds (see [`binomial_bound`]).

mod errors;
mod gates;
mod measure;
mod props;
mod small;

use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub(super) const EPS: f64 = 1e-12;

pub(super) fn c(re: f64, im: f64) -> Complex64 {
    Complex64::new(re, im)
}

pub(super) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Asserts two amplitude vectors agree entry by entry within `tol`.
pub(super) fn assert_amps(actual: &[Complex64], expected: &[Complex64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).norm() <= tol,
            "amplitude {i}: got {a}, expected {e}"
        );
    }
}

/// Five standard deviations of the count of successes in `n` Bernoulli(p) trials:
/// `5 sqrt(n p (1 - p))`. For a fixed seed the test is deterministic; the bound says that an
/// unbiased implementation would fail it with probability below 6e-7 over seeds, while a wrong
/// probability of order 1/sqrt(n) or more is caught.
pub(super) fn binomial_bound(n: usize, p: f64) -> f64 {
    5.0 * (n as f64 * p * (1.0 - p)).sqrt()
}

/// The state of the given single-qubit-gate sequence on one qubit, computed from the 2x2
/// matrices (an independent reference for the kernels).
pub(super) fn reference_1q(gates: &[Gate], start: [Complex64; 2]) -> [Complex64; 2] {
    gates.iter().fold(start, |v, g| {
        let m = g.matrix();
        [
            m[0][0] * v[0] + m[0][1] * v[1],
            m[1][0] * v[0] + m[1][1] * v[1],
        ]
    })
}
