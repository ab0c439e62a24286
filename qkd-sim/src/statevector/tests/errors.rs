//! Bad input returns errors, never panics.

use super::*;

fn invalid(e: SimError) -> bool {
    matches!(e, SimError::InvalidParameter { .. })
}

#[test]
fn register_size_limits() {
    assert!(matches!(
        StateVector::new(0),
        Err(SimError::RegisterSize { num_qubits: 0, .. })
    ));
    assert!(matches!(
        StateVector::new(MAX_QUBITS + 1),
        Err(SimError::RegisterSize { .. })
    ));
    assert!(matches!(
        StateVector::new(usize::MAX),
        Err(SimError::RegisterSize { .. })
    ));
    assert_eq!(StateVector::new(1).unwrap().num_qubits(), 1);
}

#[test]
fn qubit_out_of_range_everywhere() {
    let mut psi = StateVector::new(3).unwrap();
    let mut r = rng(1);
    let oor = |e: SimError| {
        matches!(
            e,
            SimError::QubitOutOfRange {
                qubit: 3,
                num_qubits: 3
            }
        )
    };
    assert!(oor(psi.apply(Gate::H, 3).unwrap_err()));
    assert!(oor(psi.cnot(3, 0).unwrap_err()));
    assert!(oor(psi.cnot(0, 3).unwrap_err()));
    assert!(oor(psi.cz(3, 1).unwrap_err()));
    assert!(oor(psi.swap(1, 3).unwrap_err()));
    assert!(oor(psi.probability_one(3).unwrap_err()));
    assert!(oor(psi.probability(3, Basis::X).unwrap_err()));
    assert!(oor(psi.measure(3, Basis::Z, &mut r).unwrap_err()));
    assert!(psi.apply(Gate::H, usize::MAX).is_err());
    assert_eq!(
        psi,
        StateVector::new(3).unwrap(),
        "failed calls leave the state alone"
    );
}

#[test]
fn two_qubit_gates_need_distinct_qubits() {
    let mut psi = StateVector::new(2).unwrap();
    assert!(invalid(psi.cnot(1, 1).unwrap_err()));
    assert!(invalid(psi.cz(0, 0).unwrap_err()));
}

#[test]
fn non_unitary_and_non_finite_gates_are_rejected() {
    let mut psi = StateVector::new(2).unwrap();
    let before = psi.clone();
    let o = c(0.0, 0.0);
    let l = c(1.0, 0.0);
    for m in [
        [[l, l], [o, l]],                     // not unitary
        [[c(2.0, 0.0), o], [o, l]],           // wrong norm
        [[l, o], [o, c(1.0 + 1e-6, 0.0)]],    // just outside the tolerance
        [[c(f64::NAN, 0.0), o], [o, l]],      // NaN
        [[l, o], [o, c(0.0, f64::INFINITY)]], // infinite
    ] {
        assert!(
            invalid(psi.apply(Gate::Unitary(m), 0).unwrap_err()),
            "{m:?}"
        );
    }
    for g in [
        Gate::Rx(f64::NAN),
        Gate::Ry(f64::INFINITY),
        Gate::Rz(f64::NEG_INFINITY),
    ] {
        assert!(invalid(psi.apply(g, 1).unwrap_err()), "{g:?}");
    }
    // Within tolerance is accepted.
    psi.apply(Gate::Unitary([[l, o], [o, c(1.0 + 1e-12, 0.0)]]), 0)
        .unwrap();
    assert_amps(psi.amplitudes(), before.amplitudes(), EPS);
}

#[test]
fn non_finite_basis_angle_is_rejected() {
    let mut psi = StateVector::new(1).unwrap();
    let mut r = rng(2);
    assert!(invalid(
        psi.probability(0, Basis::Linear(f64::NAN)).unwrap_err()
    ));
    assert!(invalid(
        psi.measure(0, Basis::Linear(f64::INFINITY), &mut r)
            .unwrap_err()
    ));
}

#[test]
fn bad_amplitude_vectors_are_rejected() {
    let o = c(0.0, 0.0);
    let l = c(1.0, 0.0);
    assert!(invalid(StateVector::from_amplitudes(vec![]).unwrap_err()));
    assert!(invalid(StateVector::from_amplitudes(vec![l]).unwrap_err()));
    assert!(invalid(
        StateVector::from_amplitudes(vec![l, o, o]).unwrap_err()
    ));
    assert!(invalid(
        StateVector::from_amplitudes(vec![l, l]).unwrap_err()
    ));
    assert!(invalid(
        StateVector::from_amplitudes(vec![o, o]).unwrap_err()
    ));
    assert!(invalid(
        StateVector::from_amplitudes(vec![c(f64::NAN, 0.0), o]).unwrap_err()
    ));
    assert!(invalid(
        StateVector::from_amplitudes(vec![l, c(0.0, f64::INFINITY)]).unwrap_err()
    ));
    let psi = StateVector::from_amplitudes(vec![o, o, c(0.0, 1.0), o]).unwrap();
    assert_eq!(psi.num_qubits(), 2);
    assert!((psi.probability_one(1).unwrap() - 1.0).abs() < EPS);
}

#[test]
fn errors_have_readable_messages() {
    let e = StateVector::new(0).unwrap_err().to_string();
    assert!(e.contains("0 qubits"), "{e}");
    let mut psi = StateVector::new(1).unwrap();
    let e = psi.apply(Gate::H, 5).unwrap_err().to_string();
    assert!(e.contains("qubit 5"), "{e}");
}
