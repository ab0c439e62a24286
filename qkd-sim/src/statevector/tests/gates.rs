//! Gate correctness: closed forms, identities, two-qubit truth tables.

use super::*;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

const ALL_FIXED: [Gate; 8] = [
    Gate::X,
    Gate::Y,
    Gate::Z,
    Gate::H,
    Gate::S,
    Gate::Sdg,
    Gate::T,
    Gate::Tdg,
];

/// A generic single-qubit state to apply gates to.
fn generic_1q() -> [Complex64; 2] {
    // |psi> = 0.6|0> + 0.8 e^{i 0.3}|1>
    [c(0.6, 0.0), Complex64::from_polar(0.8, 0.3)]
}

#[test]
fn bell_state_amplitudes() {
    let mut psi = StateVector::new(2).unwrap();
    psi.apply(Gate::H, 0).unwrap();
    psi.cnot(0, 1).unwrap();
    let r = FRAC_1_SQRT_2;
    assert_amps(
        psi.amplitudes(),
        &[c(r, 0.0), c(0.0, 0.0), c(0.0, 0.0), c(r, 0.0)],
        EPS,
    );
}

#[test]
fn ghz_state_amplitudes() {
    for n in [3, 5, 8] {
        let mut psi = StateVector::new(n).unwrap();
        psi.apply(Gate::H, 0).unwrap();
        for q in 1..n {
            psi.cnot(q - 1, q).unwrap();
        }
        let r = FRAC_1_SQRT_2;
        for (i, a) in psi.amplitudes().iter().enumerate() {
            let expected = if i == 0 || i == (1 << n) - 1 { r } else { 0.0 };
            assert!((a - c(expected, 0.0)).norm() < EPS, "n={n} i={i} a={a}");
        }
    }
}

#[test]
fn single_qubit_gates_match_their_matrices_on_every_qubit_position() {
    // Embed a generic qubit state at each position of a 4-qubit register (other qubits in a
    // fixed basis state) and compare the gate kernel with the 2x2 matrix product.
    let v = generic_1q();
    let mut gates: Vec<Gate> = ALL_FIXED.to_vec();
    gates.extend([Gate::Rx(0.7), Gate::Ry(-1.9), Gate::Rz(2.4)]);
    gates.push(Gate::Unitary(Gate::Rx(0.3).matrix()));
    for &g in &gates {
        for q in 0..4 {
            let others = 0b1010 & !(1 << q); // background basis state of the other qubits
            let mut amps = vec![c(0.0, 0.0); 16];
            amps[others] = v[0];
            amps[others | 1 << q] = v[1];
            let mut psi = StateVector::from_amplitudes(amps).unwrap();
            psi.apply(g, q).unwrap();
            let w = reference_1q(&[g], v);
            let mut expected = vec![c(0.0, 0.0); 16];
            expected[others] = w[0];
            expected[others | 1 << q] = w[1];
            assert_amps(psi.amplitudes(), &expected, EPS);
        }
    }
}

#[test]
fn rotations_match_closed_forms() {
    for &t in &[0.0, 0.3, PI / 2.0, PI, -2.2, 5.0] {
        let (s, co) = (t / 2.0).sin_cos();
        // Rx(t)|0> = cos(t/2)|0> - i sin(t/2)|1>
        let mut psi = StateVector::new(1).unwrap();
        psi.apply(Gate::Rx(t), 0).unwrap();
        assert_amps(psi.amplitudes(), &[c(co, 0.0), c(0.0, -s)], EPS);
        // Ry(t)|0> = cos(t/2)|0> + sin(t/2)|1>
        psi.reset();
        psi.apply(Gate::Ry(t), 0).unwrap();
        assert_amps(psi.amplitudes(), &[c(co, 0.0), c(s, 0.0)], EPS);
        // Rz(t)|+> = (e^{-it/2}|0> + e^{it/2}|1>)/sqrt 2
        psi.reset();
        psi.apply(Gate::H, 0).unwrap();
        psi.apply(Gate::Rz(t), 0).unwrap();
        let r = FRAC_1_SQRT_2;
        assert_amps(
            psi.amplitudes(),
            &[c(r * co, -r * s), c(r * co, r * s)],
            EPS,
        );
        // P(1) after Rx(t) or Ry(t) on |0> is sin^2(t/2).
        psi.reset();
        psi.apply(Gate::Ry(t), 0).unwrap();
        assert!((psi.probability_one(0).unwrap() - s * s).abs() < EPS);
    }
}

#[test]
fn gate_identities() {
    let v = generic_1q();
    let id = |gs: &[Gate]| {
        let mut psi = StateVector::from_amplitudes(v.to_vec()).unwrap();
        for &g in gs {
            psi.apply(g, 0).unwrap();
        }
        psi
    };
    let same = |a: &StateVector, b: &StateVector| assert_amps(a.amplitudes(), b.amplitudes(), EPS);
    let start = id(&[]);
    same(&id(&[Gate::H, Gate::H]), &start);
    same(&id(&[Gate::S, Gate::S]), &id(&[Gate::Z]));
    same(&id(&[Gate::T, Gate::T]), &id(&[Gate::S]));
    same(&id(&[Gate::S, Gate::Sdg]), &start);
    same(&id(&[Gate::T, Gate::Tdg]), &start);
    same(&id(&[Gate::X, Gate::X]), &start);
    same(&id(&[Gate::Y, Gate::Y]), &start);
    same(&id(&[Gate::Z, Gate::Z]), &start);
    // HXH = Z, HZH = X
    same(&id(&[Gate::H, Gate::X, Gate::H]), &id(&[Gate::Z]));
    same(&id(&[Gate::H, Gate::Z, Gate::H]), &id(&[Gate::X]));
    // Rz(pi/2) = e^{-i pi/4} S: compare up to that global phase.
    let a = id(&[Gate::Rz(PI / 2.0)]);
    let b = id(&[Gate::S]);
    let ph = Complex64::from_polar(1.0, -PI / 4.0);
    let b: Vec<Complex64> = b.amplitudes().iter().map(|z| z * ph).collect();
    assert_amps(a.amplitudes(), &b, EPS);
    // Every gate followed by its inverse is the identity.
    for g in ALL_FIXED
        .into_iter()
        .chain([Gate::Rx(0.4), Gate::Ry(1.1), Gate::Rz(-0.8)])
        .chain([Gate::Unitary(Gate::Ry(0.9).matrix())])
    {
        same(&id(&[g, g.inverse()]), &start);
    }
}

#[test]
fn cnot_truth_table() {
    // Control 0, target 2 and the reverse, on a 3-qubit register: every basis state.
    for (control, target) in [(0, 2), (2, 0), (1, 2), (1, 0)] {
        for input in 0..8usize {
            let mut psi = StateVector::new(3).unwrap();
            for q in 0..3 {
                if input >> q & 1 == 1 {
                    psi.apply(Gate::X, q).unwrap();
                }
            }
            psi.cnot(control, target).unwrap();
            let expected = if input >> control & 1 == 1 {
                input ^ (1 << target)
            } else {
                input
            };
            for (i, a) in psi.amplitudes().iter().enumerate() {
                let want = if i == expected { 1.0 } else { 0.0 };
                assert!(
                    (a - c(want, 0.0)).norm() < EPS,
                    "cnot({control},{target}) |{input:03b}> amplitude {i} = {a}"
                );
            }
        }
    }
}

#[test]
fn cz_and_swap_on_basis_states() {
    for (a, b) in [(0, 1), (2, 0), (1, 3)] {
        for input in 0..16usize {
            let mut amps = vec![c(0.0, 0.0); 16];
            amps[input] = c(1.0, 0.0);
            let mut psi = StateVector::from_amplitudes(amps.clone()).unwrap();
            psi.cz(a, b).unwrap();
            let sign = if input >> a & 1 == 1 && input >> b & 1 == 1 {
                -1.0
            } else {
                1.0
            };
            assert!((psi.amplitudes()[input] - c(sign, 0.0)).norm() < EPS);

            let mut psi = StateVector::from_amplitudes(amps).unwrap();
            psi.swap(a, b).unwrap();
            let (ba, bb) = (input >> a & 1, input >> b & 1);
            let swapped = (input & !(1 << a) & !(1 << b)) | (bb << a) | (ba << b);
            assert!((psi.amplitudes()[swapped] - c(1.0, 0.0)).norm() < EPS);
        }
    }
}

#[test]
fn swap_moves_a_generic_qubit_and_self_swap_is_identity() {
    let v = generic_1q();
    let mut psi = StateVector::new(3).unwrap();
    psi.apply(Gate::Unitary(state_prep(v)), 0).unwrap();
    psi.swap(0, 2).unwrap();
    assert_amps(
        psi.amplitudes(),
        &[
            v[0],
            c(0.0, 0.0),
            c(0.0, 0.0),
            c(0.0, 0.0),
            v[1],
            c(0.0, 0.0),
            c(0.0, 0.0),
            c(0.0, 0.0),
        ],
        EPS,
    );
    let before = psi.clone();
    psi.swap(1, 1).unwrap();
    assert_eq!(psi, before);
}

#[test]
fn cz_equals_h_cnot_h() {
    let mut a = StateVector::new(3).unwrap();
    for q in 0..3 {
        a.apply(Gate::Ry(0.4 + q as f64), q).unwrap();
    }
    let mut b = a.clone();
    a.cz(0, 2).unwrap();
    b.apply(Gate::H, 2).unwrap();
    b.cnot(0, 2).unwrap();
    b.apply(Gate::H, 2).unwrap();
    assert_amps(a.amplitudes(), b.amplitudes(), EPS);
}

#[test]
fn basis_preparation_prepares_the_basis_vectors() {
    for basis in [
        Basis::Z,
        Basis::X,
        Basis::Y,
        Basis::Linear(0.3),
        Basis::Linear(-1.2),
    ] {
        let vs = basis.vectors();
        for (k, v) in vs.iter().enumerate() {
            let mut psi = StateVector::new(1).unwrap();
            if k == 1 {
                psi.apply(Gate::X, 0).unwrap();
            }
            psi.apply(basis.preparation(), 0).unwrap();
            assert_amps(psi.amplitudes(), v, EPS);
            // Measuring the prepared vector in its own basis is certain.
            let p = psi.probability(0, basis).unwrap();
            assert!((p - k as f64).abs() < EPS, "{basis:?} k={k} p={p}");
        }
    }
    // Z == Linear(0) and X == Linear(pi/4) as measurements.
    let mut psi = StateVector::new(1).unwrap();
    psi.apply(Gate::Ry(1.0), 0).unwrap();
    psi.apply(Gate::Rz(0.7), 0).unwrap();
    let p = |b| psi.probability(0, b).unwrap();
    assert!((p(Basis::Z) - p(Basis::Linear(0.0))).abs() < EPS);
    assert!((p(Basis::X) - p(Basis::Linear(PI / 4.0))).abs() < EPS);
}

#[test]
fn reset_returns_to_ground_state() {
    let mut psi = StateVector::new(5).unwrap();
    for q in 0..5 {
        psi.apply(Gate::H, q).unwrap();
    }
    psi.reset();
    assert_eq!(psi, StateVector::new(5).unwrap());
}

/// The unitary whose first column is `v` (prepares `v` from `|0>`).
pub(super) fn state_prep(v: [Complex64; 2]) -> Matrix2 {
    [[v[0], -v[1].conj()], [v[1], v[0].conj()]]
}
