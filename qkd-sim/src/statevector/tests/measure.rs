//! Measurement and sampling: probabilities, statistics, collapse.

use super::gates::state_prep;
use super::*;
use std::f64::consts::PI;

/// A generic entangled 3-qubit state.
pub(super) fn generic_3q() -> StateVector {
    let mut psi = StateVector::new(3).unwrap();
    psi.apply(Gate::Ry(1.1), 0).unwrap();
    psi.apply(Gate::Rx(0.5), 1).unwrap();
    psi.apply(Gate::H, 2).unwrap();
    psi.cnot(0, 1).unwrap();
    psi.apply(Gate::T, 1).unwrap();
    psi.cnot(2, 0).unwrap();
    psi.apply(Gate::Ry(-0.7), 2).unwrap();
    psi
}

#[test]
fn computational_probabilities_are_squared_amplitudes() {
    let psi = generic_3q();
    for q in 0..3 {
        let expected: f64 = psi
            .amplitudes()
            .iter()
            .enumerate()
            .filter(|(i, _)| i >> q & 1 == 1)
            .map(|(_, z)| z.norm_sqr())
            .sum();
        let p = psi.probability_one(q).unwrap();
        assert!((p - expected).abs() < EPS, "qubit {q}: {p} vs {expected}");
        assert!(
            expected > 0.01 && expected < 0.99,
            "the test state should be generic"
        );
    }
}

#[test]
fn basis_probability_equals_rotate_then_measure_z() {
    // P(true in basis B) = P(1) after applying the inverse of B's preparation unitary.
    let psi = generic_3q();
    for basis in [Basis::X, Basis::Y, Basis::Linear(0.4), Basis::Linear(2.0)] {
        for q in 0..3 {
            let mut rotated = psi.clone();
            rotated.apply(basis.preparation().inverse(), q).unwrap();
            let expected = rotated.probability_one(q).unwrap();
            let p = psi.probability(q, basis).unwrap();
            assert!(
                (p - expected).abs() < EPS,
                "{basis:?} qubit {q}: {p} vs {expected}"
            );
        }
    }
}

#[test]
fn measurement_frequencies_match_probabilities() {
    // A single qubit Ry(t)|0> measured in Linear(phi): P(true) = sin^2(t/2 - phi).
    let mut r = rng(11);
    let n = 20_000;
    for (t, phi) in [(1.0, 0.0), (PI / 2.0, PI / 4.0), (2.0, 0.3), (0.4, -1.0)] {
        let p: f64 = (t / 2.0 - phi).sin().powi(2);
        let mut psi = StateVector::new(1).unwrap();
        let mut ones = 0usize;
        for _ in 0..n {
            psi.reset();
            psi.apply(Gate::Ry(t), 0).unwrap();
            ones += usize::from(psi.measure(0, Basis::Linear(phi), &mut r).unwrap());
        }
        let dev = (ones as f64 - n as f64 * p).abs();
        assert!(
            dev <= binomial_bound(n, p),
            "t={t} phi={phi}: {ones} of {n}, p={p}"
        );
    }
}

#[test]
fn bell_pair_correlations_follow_cos_squared() {
    // |Phi+> measured in Linear(a) and Linear(b): P(outcomes equal) = cos^2(a - b).
    // This is the correlation E91 relies on.
    let mut r = rng(12);
    let n = 10_000;
    let mut psi = StateVector::new(2).unwrap();
    for (a, b) in [
        (0.0, 0.0),
        (0.0, PI / 8.0),
        (PI / 4.0, PI / 8.0),
        (0.0, PI / 2.0),
        (0.3, 1.0),
    ] {
        let p: f64 = (a - b).cos().powi(2);
        let mut equal = 0usize;
        for _ in 0..n {
            psi.reset();
            psi.apply(Gate::H, 0).unwrap();
            psi.cnot(0, 1).unwrap();
            let x = psi.measure(0, Basis::Linear(a), &mut r).unwrap();
            let y = psi.measure(1, Basis::Linear(b), &mut r).unwrap();
            equal += usize::from(x == y);
        }
        let dev = (equal as f64 - n as f64 * p).abs();
        // p in {0, 1}: the bound is 0 and the outcomes must be perfectly (anti)correlated.
        assert!(
            dev <= binomial_bound(n, p) + 1e-9,
            "a={a} b={b}: {equal} of {n}, p={p}"
        );
    }
}

#[test]
fn collapse_is_normalised_consistent_and_repeatable() {
    let mut r = rng(13);
    for basis in [Basis::Z, Basis::X, Basis::Y, Basis::Linear(0.9)] {
        for q in 0..3 {
            for _ in 0..20 {
                let mut psi = generic_3q();
                let outcome = psi.measure(q, basis, &mut r).unwrap();
                assert!((psi.norm_sqr() - 1.0).abs() < 1e-12);
                let p = psi.probability(q, basis).unwrap();
                assert!(
                    (p - f64::from(u8::from(outcome))).abs() < 1e-12,
                    "{basis:?} q={q}"
                );
                for _ in 0..3 {
                    assert_eq!(psi.measure(q, basis, &mut r).unwrap(), outcome);
                }
            }
        }
    }
}

#[test]
fn collapse_leaves_the_measured_basis_vector() {
    // Measure a product state's qubit 1 in a basis: afterwards qubit 1 is exactly the basis
    // vector (up to phase) and the other qubits are untouched.
    let mut r = rng(14);
    let v = [c(0.6, 0.0), Complex64::from_polar(0.8, 1.2)];
    for basis in [Basis::X, Basis::Y, Basis::Linear(0.25)] {
        let mut psi = StateVector::new(2).unwrap();
        psi.apply(Gate::X, 0).unwrap();
        psi.apply(Gate::Unitary(state_prep(v)), 1).unwrap();
        let k = usize::from(psi.measure(1, basis, &mut r).unwrap());
        let w = basis.vectors()[k];
        let a = psi.amplitudes();
        // Qubit 0 is 1: only indices 1 and 3 carry amplitude.
        assert!(a[0].norm() < EPS && a[2].norm() < EPS);
        // (a[1], a[3]) is a unit multiple of w.
        let overlap = w[0].conj() * a[1] + w[1].conj() * a[3];
        assert!((overlap.norm() - 1.0).abs() < EPS, "{basis:?}");
    }
}

#[test]
fn measure_all_distribution_and_collapse() {
    let mut r = rng(15);
    let base = generic_3q();
    let probs: Vec<f64> = base.amplitudes().iter().map(|z| z.norm_sqr()).collect();
    let n = 20_000;
    let mut counts = [0usize; 8];
    for _ in 0..n {
        let mut psi = base.clone();
        let i = psi.measure_all(&mut r) as usize;
        counts[i] += 1;
        // Collapsed onto basis state i with its phase.
        let a = psi.amplitudes();
        assert!((a[i].norm() - 1.0).abs() < EPS);
        assert!((psi.norm_sqr() - 1.0).abs() < EPS);
        let z = base.amplitudes()[i];
        assert!((a[i] - z / z.norm()).norm() < EPS);
    }
    for (i, &p) in probs.iter().enumerate() {
        let dev = (counts[i] as f64 - n as f64 * p).abs();
        assert!(
            dev <= binomial_bound(n, p) + 1e-9,
            "state {i}: {} vs p={p}",
            counts[i]
        );
    }
}

#[test]
fn sample_matches_probabilities_without_collapse() {
    let base = generic_3q();
    let probs: Vec<f64> = base.amplitudes().iter().map(|z| z.norm_sqr()).collect();
    // 4 shots (sorted-uniform path, fewer shots than amplitudes) repeated, and 20000 shots
    // (cumulative-table path).
    let mut r = rng(16);
    let mut many = base.sample(20_000, &mut r);
    let mut few = Vec::new();
    for _ in 0..5_000 {
        few.extend(base.sample(4, &mut r));
    }
    assert_eq!(base, generic_3q(), "sampling must not change the state");
    for shots in [&mut many, &mut few] {
        let n = shots.len();
        assert_eq!(n, 20_000);
        let mut counts = [0usize; 8];
        for &i in shots.iter() {
            counts[i as usize] += 1;
        }
        for (i, &p) in probs.iter().enumerate() {
            let dev = (counts[i] as f64 - n as f64 * p).abs();
            assert!(
                dev <= binomial_bound(n, p) + 1e-9,
                "state {i}: {} vs p={p}",
                counts[i]
            );
        }
    }
    assert!(base.sample(0, &mut r).is_empty());
}

#[test]
fn sample_returns_shots_in_random_order() {
    // The sorted-uniform path must restore draw order: for |+>^3 sampled 3 at a time... use a
    // larger register so shots < amplitudes: 6 qubits uniform, 32 shots per call. Consecutive
    // outcomes must not be sorted (ascending) more often than chance: P(ascending pair) is
    // (1 - 1/64)/2 for independent uniform draws.
    let mut psi = StateVector::new(6).unwrap();
    for q in 0..6 {
        psi.apply(Gate::H, q).unwrap();
    }
    let mut r = rng(17);
    let (mut ascending, mut pairs) = (0usize, 0usize);
    for _ in 0..200 {
        let s = psi.sample(32, &mut r);
        assert!(s.iter().all(|&i| i < 64));
        ascending += s.windows(2).filter(|w| w[0] < w[1]).count();
        pairs += 31;
    }
    let p = (1.0 - 1.0 / 64.0) / 2.0;
    let dev = (ascending as f64 - pairs as f64 * p).abs();
    assert!(
        dev <= binomial_bound(pairs, p),
        "{ascending} ascending of {pairs}"
    );
}

#[test]
fn ghz_samples_are_all_zeros_or_all_ones() {
    let n_qubits = 10;
    let mut psi = StateVector::new(n_qubits).unwrap();
    psi.apply(Gate::H, 0).unwrap();
    for q in 1..n_qubits {
        psi.cnot(0, q).unwrap();
    }
    let all = (1u64 << n_qubits) - 1;
    let mut r = rng(18);
    let n = 10_000;
    let shots = psi.sample(n, &mut r);
    assert!(shots.iter().all(|&i| i == 0 || i == all));
    let zeros = shots.iter().filter(|&&i| i == 0).count();
    assert!((zeros as f64 - n as f64 / 2.0).abs() <= binomial_bound(n, 0.5));
    // Measuring one qubit fixes all the others.
    let mut r = rng(19);
    for _ in 0..50 {
        let mut ghz = psi.clone();
        let first = ghz.measure(3, Basis::Z, &mut r).unwrap();
        for q in 0..n_qubits {
            assert_eq!(ghz.measure(q, Basis::Z, &mut r).unwrap(), first);
        }
    }
}

#[test]
fn identical_seeds_give_identical_runs() {
    let run = |seed| {
        let mut r = rng(seed);
        let mut out = Vec::new();
        let mut psi = StateVector::new(4).unwrap();
        for _ in 0..100 {
            psi.reset();
            for q in 0..4 {
                psi.apply(Gate::H, q).unwrap();
            }
            out.push(u64::from(psi.measure(1, Basis::X, &mut r).unwrap()));
            out.push(psi.measure_all(&mut r));
        }
        out.extend(psi.sample(50, &mut r));
        out
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}
