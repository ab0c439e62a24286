//! The small-register kernels the protocol uses (fused X/H layers, measure-and-absorb) against
//! the general engine: same amplitudes on random circuits, same outcomes for the same draw, and
//! measurement statistics.

use super::measure::generic_3q;
use super::props::{basis, measured_circuit, run_measured};
use super::*;
use crate::statevector::measure::uniform;
use proptest::prelude::*;

/// X on the qubits of `x`, then H on those of `h`, gate by gate with the checked API.
fn gate_by_gate(psi: &mut StateVector, x: u64, h: u64) {
    for q in 0..psi.num_qubits() {
        if x >> q & 1 == 1 {
            psi.apply(Gate::X, q).unwrap();
        }
    }
    for q in 0..psi.num_qubits() {
        if h >> q & 1 == 1 {
            psi.apply(Gate::H, q).unwrap();
        }
    }
}

/// What `measure_absorb` must leave, normalised, given the state `measure` collapsed to
/// (normalised, qubit `q` in basis vector `v`): every pair `(a, b)` becomes `(<v|(a, b)>, 0)`.
fn absorbed_from_collapsed(collapsed: &StateVector, q: usize, v: [Complex64; 2]) -> Vec<Complex64> {
    let a = collapsed.amplitudes();
    let bit = 1usize << q;
    (0..a.len())
        .map(|i| {
            if i & bit == 0 {
                v[0].conj() * a[i] + v[1].conj() * a[i | bit]
            } else {
                c(0.0, 0.0)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// The fused layers give the amplitudes of the gates applied one by one on the plain dense
    /// path, from any state reached by a random circuit with measurements (tracked qubits of
    /// every kind) and from `|0...0>` (the fused one-pass case).
    #[test]
    fn layers_match_single_gates(
        (n, ops) in measured_circuit(),
        seed in 0u64..1000,
        x in any::<u64>(),
        h in any::<u64>(),
    ) {
        let all = (1u64 << n) - 1;
        let (x, h) = (x & all, h & all);
        let mut start = StateVector::new(n).unwrap();
        run_measured(&mut start, &ops, seed);
        let mut fresh = StateVector::new(n).unwrap();
        fresh.reset();
        for base in [start, fresh] {
            let mut reference = base.clone().into_untracked();
            gate_by_gate(&mut reference, x, h);
            let mut layered = base.clone();
            layered.apply_x_layer(x);
            layered.apply_h_layer(h);
            assert_amps(layered.amplitudes(), reference.amplitudes(), 1e-12);
            let mut fused = base.clone();
            fused.apply_xh_layers(x, h);
            assert_amps(fused.amplitudes(), reference.amplitudes(), 1e-12);
            // The bookkeeping stays valid: the next operations agree with the dense path.
            let (mut r1, mut r2) = (rng(seed), rng(seed));
            for q in 0..n {
                let a = fused.measure(q, Basis::Z, &mut r1).unwrap();
                let b = reference.measure(q, Basis::Z, &mut r2).unwrap();
                prop_assert_eq!(a, b);
            }
        }
    }

    /// `measure_absorb` (any basis) and `measure_absorb_real` (real bases) draw the same outcome
    /// as `measure` for the same uniform, and leave the state `measure` collapses to with the
    /// measured qubit turned to `|0>` (up to the norm, which they do not restore), tracked or not.
    #[test]
    fn measure_absorb_matches_measure_then_rotate(
        (n, ops) in measured_circuit(),
        seed in 0u64..1000,
        q in 0usize..6,
        b in basis(),
    ) {
        let q = q % n;
        let mut base = StateVector::new(n).unwrap();
        run_measured(&mut base, &ops, seed);
        let mut r = rng(seed ^ 0x5eed);
        let u = uniform(&mut r.clone());
        let mut collapsed = base.clone();
        let outcome = collapsed.measure(q, b, &mut r).unwrap();
        let want = absorbed_from_collapsed(&collapsed, q, b.vectors()[usize::from(outcome)]);
        let frame = Frame::of(b);
        for start in [base.clone(), base.clone().into_untracked()] {
            let mut absorbed = start.clone();
            prop_assert_eq!(absorbed.measure_absorb(q, &frame, u), outcome);
            absorbed.normalize();
            assert_amps(absorbed.amplitudes(), &want, 1e-9);
            if let Some(w) = frame.real() {
                let mut real = start.clone();
                prop_assert_eq!(real.measure_absorb_real(q, &w, u), outcome);
                real.normalize();
                assert_amps(real.amplitudes(), &want, 1e-9);
                // The qubit is now |0>: measuring it in Z gives 0 with certainty.
                prop_assert_eq!(real.probability(q, Basis::Z).unwrap(), 0.0);
            }
        }
    }
}

/// Outcome frequencies of `measure_absorb_real` on a generic entangled state match the
/// probabilities of the general engine: 20,000 fresh copies per case, counts within the
/// 5-sigma binomial bound (see `binomial_bound`).
#[test]
fn measure_absorb_real_frequencies_match_probabilities() {
    let psi = generic_3q();
    for (q, b) in [(0, Basis::Z), (1, Basis::X), (2, Basis::Linear(0.3))] {
        let p = psi.probability(q, b).unwrap();
        assert!(p > 0.05 && p < 0.95, "a case with both outcomes: {p}");
        let w = Frame::of(b).real().unwrap();
        let n = 20_000;
        let mut r = rng(11 + q as u64);
        let ones = (0..n)
            .filter(|_| psi.clone().measure_absorb_real(q, &w, uniform(&mut r)))
            .count();
        let dev = (ones as f64 - n as f64 * p).abs();
        assert!(
            dev <= binomial_bound(n, p),
            "qubit {q} {b:?}: {ones} ones of {n}, p = {p}"
        );
    }
}

/// Absorbing one half of a Bell pair leaves the other half perfectly correlated in the same
/// basis, whichever half goes first; the two outcomes are uniform (5-sigma bound over 2,000
/// pairs per case).
#[test]
fn absorbed_bell_pairs_stay_correlated() {
    let mut bell = StateVector::new(2).unwrap();
    bell.apply(Gate::H, 0).unwrap();
    bell.cnot(0, 1).unwrap();
    let mut r = rng(5);
    for b in [Basis::Z, Basis::X] {
        let w = Frame::of(b).real().unwrap();
        for first in [0usize, 1] {
            let n = 2_000;
            let mut ones = 0usize;
            for _ in 0..n {
                let mut psi = bell.clone();
                let a = psi.measure_absorb_real(first, &w, uniform(&mut r));
                let b2 = psi.measure_absorb_real(1 - first, &w, uniform(&mut r));
                assert_eq!(a, b2, "{b:?}, first {first}");
                ones += usize::from(a);
            }
            let dev = (ones as f64 - n as f64 / 2.0).abs();
            assert!(dev <= binomial_bound(n, 0.5), "{b:?}: {ones} of {n}");
        }
    }
}
