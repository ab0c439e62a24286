//! BBM92 (Bennett, Brassard, Mermin, Phys. Rev. Lett. 68, 557 (1992)): entanglement-based BB84.
//!
//! The source emits singlets (or Phi+); Alice and Bob each measure their half in Z or X chosen
//! uniformly at random (Ekert angles 0 and 90 degrees, i.e. polariser angles 0 and 45), announce
//! their bases and keep the coincidences with matching bases (half of them). For the singlet Bob
//! flips his bits. There are no test rounds: the QBER is estimated from a disclosed sample in
//! post-processing, as for BB84. A full intercept-resend attack in the BB84 bases gives QBER 1/4.
//!
//! ```
//! use qkd_sim::protocol::bbm92;
//! use qkd_sim::protocol::entangled::SourceConfig;
//!
//! # fn main() -> Result<(), qkd_sim::SimError> {
//! let run = bbm92::run_in_process(&SourceConfig::default(), 2_000, 3)?;
//! assert_eq!(run.key_errors, 0);
//! # Ok(())
//! # }
//! ```

use qkd_core::Role;
use rand_core::Rng;

use super::entangled::{
    self, Analyser, BellState, EntangledParty, PairRun, RoundKind, Scheme, SourceConfig,
};
use crate::SimError;

/// The bases of both parties: Z and X as Ekert analyser angles, degrees.
pub const DEGREES: [f64; 2] = [0.0, 90.0];

/// The BBM92 settings and round kinds: key on matching bases, discard otherwise.
pub fn scheme() -> Scheme {
    use RoundKind::{Discard as D, Key as K};
    // Checked by `Scheme::new` in the tests.
    Scheme::from_parts(
        DEGREES.map(Analyser::from_degrees_const).to_vec(),
        DEGREES.map(Analyser::from_degrees_const).to_vec(),
        vec![K, D, D, K],
    )
}

/// A BBM92 party engine for one batch (see [`EntangledParty`]).
pub fn party<R: Rng>(
    role: Role,
    state: BellState,
    batch: u64,
    pairs: usize,
    rng: R,
) -> Result<EntangledParty<R>, SimError> {
    EntangledParty::new(role, scheme(), state, batch, pairs, rng)
}

/// Runs BBM92 on `pairs` pairs in-process with seeded, per-node RNGs (see
/// [`entangled::run_in_process`]).
pub fn run_in_process(source: &SourceConfig, pairs: usize, seed: u64) -> Result<PairRun, SimError> {
    entangled::run_in_process(&scheme(), source, pairs, seed)
}

#[cfg(test)]
mod tests {
    //! A frequency `p` from `n` trials has standard deviation `sqrt(p (1 - p) / n)`; we accept
    //! 5 standard deviations at fixed seeds.

    use super::*;
    use crate::channel::{Detector, Loss, QuantumChannel};
    use crate::eve::{EveBases, EveConfig};

    fn five_sigma(p: f64, n: usize) -> f64 {
        5.0 * (p * (1.0 - p) / n as f64).sqrt()
    }

    #[test]
    fn table_is_a_valid_scheme() {
        let t = DEGREES.map(|x| Analyser::from_degrees(x).unwrap()).to_vec();
        let k = RoundKind::Key;
        let d = RoundKind::Discard;
        assert_eq!(
            Scheme::new(t.clone(), t, vec![k, d, d, k]).unwrap(),
            scheme()
        );
        assert!((scheme().key_fraction() - 0.5).abs() < 1e-15);
    }

    #[test]
    fn no_noise_gives_identical_keys_of_half_the_pairs() {
        for state in [BellState::Singlet, BellState::PhiPlus] {
            let cfg = SourceConfig {
                state,
                ..SourceConfig::default()
            };
            let pairs = 50_000;
            let run = run_in_process(&cfg, pairs, 4).unwrap();
            assert_eq!(run.alice.sifted_key, run.bob.sifted_key);
            assert_eq!(run.key_errors, 0);
            let frac = run.alice.sifted_key.len() as f64 / pairs as f64;
            assert!((frac - 0.5).abs() <= five_sigma(0.5, pairs));
            assert_eq!(run.alice.stats.test_rounds, 0);
            // The key is balanced.
            let ones = run.alice.sifted_key.count_ones() as f64 / run.alice.sifted_key.len() as f64;
            assert!((ones - 0.5).abs() <= five_sigma(0.5, run.alice.sifted_key.len()));
        }
    }

    /// Full intercept-resend in the BB84 bases: QBER 1/4 (Eve's basis is wrong half the time, and
    /// then Bob's bit is random). Where her basis matched the key basis she knows the key bit
    /// (Alice's outcome is the opposite of hers on a singlet), otherwise she guesses: her guess
    /// "not my outcome" matches Alice's key bit with probability 1/2 + 1/2 * 1/2 = 3/4.
    #[test]
    fn full_intercept_resend_gives_a_quarter_and_eve_learns() {
        let cfg = SourceConfig {
            eve: Some(EveConfig::new(1.0, EveBases::Bb84).unwrap()),
            ..SourceConfig::default()
        };
        let pairs = 60_000;
        let run = run_in_process(&cfg, pairs, 21).unwrap();
        let n = run.alice.sifted_key.len();
        assert!(
            (run.qber() - 0.25).abs() <= five_sigma(0.25, n),
            "QBER {}",
            run.qber()
        );
        assert_eq!(run.eve.attacked(), pairs as u64);
        let rec = run.eve.frame(0).unwrap();
        let mut right = 0usize;
        for (j, &i) in run.alice.key_pairs.iter().enumerate() {
            let (_, outcome) = rec.get(i as usize).unwrap();
            right += usize::from(outcome != run.alice.sifted_key.get(j));
        }
        let right = right as f64 / n as f64;
        assert!(
            (right - 0.75).abs() <= five_sigma(0.75, n),
            "Eve right on {right}"
        );
        assert_eq!(run.alice.key_pairs, run.bob.key_pairs);
    }

    #[test]
    fn depolarizing_gives_the_werner_qber() {
        let d = 0.1;
        let h = QuantumChannel::ideal().with_depolarizing(d).unwrap();
        let cfg = SourceConfig {
            alice: h,
            bob: h,
            ..SourceConfig::default()
        };
        let run = run_in_process(&cfg, 60_000, 6).unwrap();
        let q = (1.0 - (1.0 - d) * (1.0 - d)) / 2.0;
        let n = run.alice.sifted_key.len();
        assert!(
            (run.qber() - q).abs() <= five_sigma(q, n),
            "QBER {}",
            run.qber()
        );
    }

    #[test]
    fn loss_reduces_coincidences() {
        // 25 km of 0.2 dB/km fibre to each party, detector efficiency 0.6:
        // t = 10^(-0.5) * 0.6 = 0.1897 per half, coincidence probability t^2.
        let h = QuantumChannel::ideal()
            .with_loss(Loss {
                attenuation_db_per_km: 0.2,
                length_km: 25.0,
                fixed_db: 0.0,
            })
            .unwrap()
            .with_detector(Detector {
                efficiency: 0.6,
                dark_count: 0.0,
            })
            .unwrap();
        let cfg = SourceConfig {
            alice: h,
            bob: h,
            ..SourceConfig::default()
        };
        let pairs = 100_000;
        let run = run_in_process(&cfg, pairs, 13).unwrap();
        let t = 10f64.powf(-0.5) * 0.6;
        let c = run.alice.stats.coincidences as f64 / pairs as f64;
        assert!(
            (c - t * t).abs() <= five_sigma(t * t, pairs),
            "coincidences {c}"
        );
        assert_eq!(run.key_errors, 0);
    }
}
