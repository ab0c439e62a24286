//! Engine tests. Statistical checks use fixed seeds and 5-sigma binomial bounds: for `n` trials
//! of a proportion with true value `p`, the estimate has standard deviation `sqrt(p (1 - p) / n)`;
//! a correct implementation fails a 5-sigma check with probability below 1e-6 (and the seeds are
//! fixed, so a passing test keeps passing).

mod compare;
mod errors;
mod physics;

use super::{Backend, EngineConfig, Protocol, RunReport, SimConfig, run_in_process};
use crate::channel::QuantumChannel;
use crate::eve::EveConfig;

pub(super) const SV5: Backend = Backend::StateVector { register_qubits: 5 };

/// Runs `protocol` on `backend` to `bits` sifted bits over `channel`, with optional Eve.
pub(super) fn run(
    protocol: Protocol,
    backend: Backend,
    bits: usize,
    channel: QuantumChannel,
    eve: Option<EveConfig>,
    seed: u64,
) -> RunReport {
    let config = SimConfig {
        engine: EngineConfig::new(protocol, backend, bits),
        channel,
        eve,
    };
    match run_in_process(&config, seed) {
        Ok(r) => r,
        Err(e) => panic!("run failed: {e}"),
    }
}

/// Asserts `|observed - p| <= 5 sqrt(p (1 - p) / n)` (plus 1e-12 for p in {0, 1}).
pub(super) fn assert_proportion(what: &str, successes: u64, n: u64, p: f64) {
    assert!(n > 0, "{what}: no trials");
    let observed = successes as f64 / n as f64;
    let sigma = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (observed - p).abs() <= 5.0 * sigma + 1e-12,
        "{what}: observed {observed:.5} ({successes}/{n}), expected {p:.5} +- {:.5}",
        5.0 * sigma
    );
}
