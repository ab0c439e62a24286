//! Property tests over random circuits.

use super::*;
use proptest::prelude::*;
use std::f64::consts::FRAC_1_SQRT_2;

/// One step of a random circuit.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Gate(Gate, usize),
    Cnot(usize, usize),
    Cz(usize, usize),
    Swap(usize, usize),
    Measure(usize, Basis),
    MeasureAll,
    Reset,
}

/// A Haar-ish random unitary from Euler angles: `e^{i g} Rz(a) Ry(b) Rz(c)` as a matrix.
fn euler_unitary(g: f64, a: f64, b: f64, cc: f64) -> Matrix2 {
    let mul = |x: Matrix2, y: Matrix2| -> Matrix2 {
        let mut out = [[c(0.0, 0.0); 2]; 2];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, e) in row.iter_mut().enumerate() {
                *e = x[i][0] * y[0][j] + x[i][1] * y[1][j];
            }
        }
        out
    };
    let m = mul(
        Gate::Rz(a).matrix(),
        mul(Gate::Ry(b).matrix(), Gate::Rz(cc).matrix()),
    );
    let ph = Complex64::from_polar(1.0, g);
    m.map(|row| row.map(|z| z * ph))
}

fn gate() -> impl Strategy<Value = Gate> {
    let angle = -10.0f64..10.0;
    prop_oneof![
        Just(Gate::X),
        Just(Gate::Y),
        Just(Gate::Z),
        Just(Gate::H),
        Just(Gate::S),
        Just(Gate::Sdg),
        Just(Gate::T),
        Just(Gate::Tdg),
        angle.clone().prop_map(Gate::Rx),
        angle.clone().prop_map(Gate::Ry),
        angle.clone().prop_map(Gate::Rz),
        (angle.clone(), angle.clone(), angle.clone(), angle)
            .prop_map(|(g, a, b, cc)| Gate::Unitary(euler_unitary(g, a, b, cc))),
    ]
}

fn circuit() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=10).prop_flat_map(|n| {
        let q = 0..n;
        let pair = (0..n, 0..n).prop_filter("distinct", |(a, b)| a != b);
        let op = if n == 1 {
            (gate(), q).prop_map(|(g, q)| Op::Gate(g, q)).boxed()
        } else {
            prop_oneof![
                3 => (gate(), q).prop_map(|(g, q)| Op::Gate(g, q)),
                1 => pair.clone().prop_map(|(a, b)| Op::Cnot(a, b)),
                1 => pair.clone().prop_map(|(a, b)| Op::Cz(a, b)),
                1 => pair.prop_map(|(a, b)| Op::Swap(a, b)),
            ]
            .boxed()
        };
        (Just(n), proptest::collection::vec(op, 0..40))
    })
}

fn run(psi: &mut StateVector, ops: &[Op]) {
    for op in ops {
        match *op {
            Op::Gate(g, q) => psi.apply(g, q).unwrap(),
            Op::Cnot(a, b) => psi.cnot(a, b).unwrap(),
            Op::Cz(a, b) => psi.cz(a, b).unwrap(),
            Op::Swap(a, b) => psi.swap(a, b).unwrap(),
            Op::Measure(..) | Op::MeasureAll | Op::Reset => {
                unreachable!("unitary circuits only")
            }
        }
    }
}

/// The inverse circuit: reversed order, each gate inverted (two-qubit gates are self-inverse).
fn inverse(ops: &[Op]) -> Vec<Op> {
    ops.iter()
        .rev()
        .map(|op| match *op {
            Op::Gate(g, q) => Op::Gate(g.inverse(), q),
            ref other => other.clone(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_circuits_preserve_the_norm((n, ops) in circuit()) {
        let mut psi = StateVector::new(n).unwrap();
        run(&mut psi, &ops);
        prop_assert!((psi.norm_sqr() - 1.0).abs() < 1e-10, "norm^2 = {}", psi.norm_sqr());
    }

    #[test]
    fn circuit_then_inverse_is_identity((n, ops) in circuit()) {
        let mut psi = StateVector::new(n).unwrap();
        // Start from a non-trivial product state so every kernel sees generic amplitudes.
        for q in 0..n {
            psi.apply(Gate::Ry(0.3 + 0.5 * q as f64), q).unwrap();
            psi.apply(Gate::Rz(0.2 * q as f64 - 0.4), q).unwrap();
        }
        let start = psi.clone();
        run(&mut psi, &ops);
        run(&mut psi, &inverse(&ops));
        assert_amps(psi.amplitudes(), start.amplitudes(), 1e-9);
    }

    #[test]
    fn probabilities_are_valid_after_random_circuits((n, ops) in circuit(), theta in -4.0f64..4.0) {
        let mut psi = StateVector::new(n).unwrap();
        run(&mut psi, &ops);
        for q in 0..n {
            for basis in [Basis::Z, Basis::X, Basis::Y, Basis::Linear(theta)] {
                let p = psi.probability(q, basis).unwrap();
                prop_assert!((-1e-12..=1.0 + 1e-12).contains(&p), "{basis:?}: {p}");
            }
        }
    }
}

pub(super) fn basis() -> impl Strategy<Value = Basis> {
    prop_oneof![
        3 => Just(Basis::Z),
        1 => Just(Basis::X),
        1 => Just(Basis::Y),
        1 => (-4.0f64..4.0).prop_map(Basis::Linear),
    ]
}

/// Circuits with measurements and resets, on small registers (where known-qubit tracking does
/// the most).
pub(super) fn measured_circuit() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=6).prop_flat_map(|n| {
        let q = 0..n;
        let pair = (0..n, 0..n).prop_filter("distinct", |(a, b)| a != b);
        let two_qubit = if n == 1 {
            (gate(), q.clone())
                .prop_map(|(g, q)| Op::Gate(g, q))
                .boxed()
        } else {
            prop_oneof![
                pair.clone().prop_map(|(a, b)| Op::Cnot(a, b)),
                pair.clone().prop_map(|(a, b)| Op::Cz(a, b)),
                pair.prop_map(|(a, b)| Op::Swap(a, b)),
            ]
            .boxed()
        };
        let op = prop_oneof![
            4 => (gate(), q.clone()).prop_map(|(g, q)| Op::Gate(g, q)),
            2 => two_qubit,
            3 => (q, basis()).prop_map(|(q, b)| Op::Measure(q, b)),
            1 => Just(Op::MeasureAll),
            1 => Just(Op::Reset),
        ];
        (Just(n), proptest::collection::vec(op, 0..60))
    })
}

/// Runs a circuit with measurements, returning every outcome.
pub(super) fn run_measured(psi: &mut StateVector, ops: &[Op], seed: u64) -> Vec<u64> {
    let mut r = rng(seed);
    let mut outcomes = Vec::new();
    for op in ops {
        match *op {
            Op::Measure(q, b) => outcomes.push(u64::from(psi.measure(q, b, &mut r).unwrap())),
            Op::MeasureAll => outcomes.push(psi.measure_all(&mut r)),
            Op::Reset => psi.reset(),
            ref other => run(psi, std::slice::from_ref(other)),
        }
    }
    outcomes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Known-qubit tracking must not change any result: the tracked register and the plain dense
    /// one agree on every outcome (same seed) and on the final amplitudes.
    #[test]
    fn tracking_matches_the_dense_path((n, ops) in measured_circuit(), seed in 0u64..1000) {
        let mut tracked = StateVector::new(n).unwrap();
        let mut dense = StateVector::new_untracked(n).unwrap();
        let a = run_measured(&mut tracked, &ops, seed);
        let b = run_measured(&mut dense, &ops, seed);
        prop_assert_eq!(a, b);
        assert_amps(tracked.amplitudes(), dense.amplitudes(), 1e-12);
        prop_assert!((tracked.norm_sqr() - 1.0).abs() < 1e-10);
        for q in 0..n {
            for basis in [Basis::Z, Basis::X, Basis::Y] {
                let p = tracked.probability(q, basis).unwrap();
                let p_dense = dense.probability(q, basis).unwrap();
                prop_assert!((p - p_dense).abs() < 1e-12);
            }
        }
    }
}

/// A product state: each qubit one of |0>, |1>, |+>, or a generic state from two angles.
fn product_state() -> impl Strategy<Value = Vec<Complex64>> {
    let qubit = prop_oneof![
        Just([c(1.0, 0.0), c(0.0, 0.0)]),
        Just([c(0.0, 0.0), c(1.0, 0.0)]),
        Just([c(FRAC_1_SQRT_2, 0.0), c(FRAC_1_SQRT_2, 0.0)]),
        (0.0f64..3.1, -3.1f64..3.1).prop_map(|(t, p)| {
            [
                c((t / 2.0).cos(), 0.0),
                Complex64::from_polar((t / 2.0).sin(), p),
            ]
        }),
    ];
    proptest::collection::vec(qubit, 1..=6).prop_map(|qs| {
        let mut amps = vec![c(1.0, 0.0)];
        for v in qs {
            let n = amps.len();
            amps.extend_from_within(..n);
            let (lo, hi) = amps.split_at_mut(n);
            lo.iter_mut().for_each(|z| *z *= v[0]);
            hi.iter_mut().for_each(|z| *z *= v[1]);
        }
        amps
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Registers built from amplitudes detect their known qubits; results still match the
    /// dense path exactly.
    #[test]
    fn from_amplitudes_tracking_matches_the_dense_path(
        amps in product_state(),
        (_, ops) in measured_circuit(),
        seed in 0u64..1000,
    ) {
        let n = amps.len().trailing_zeros() as usize;
        // Keep only the operations that fit this register.
        let fits = |op: &Op| match *op {
            Op::Gate(_, q) | Op::Measure(q, _) => q < n,
            Op::Cnot(a, b) | Op::Cz(a, b) | Op::Swap(a, b) => a < n && b < n,
            Op::MeasureAll | Op::Reset => true,
        };
        let ops: Vec<Op> = ops.into_iter().filter(fits).collect();
        let mut tracked = StateVector::from_amplitudes(amps.clone()).unwrap();
        let mut dense = StateVector::from_amplitudes(amps).unwrap().into_untracked();
        let a = run_measured(&mut tracked, &ops, seed);
        let b = run_measured(&mut dense, &ops, seed);
        prop_assert_eq!(a, b);
        assert_amps(tracked.amplitudes(), dense.amplitudes(), 1e-12);
    }
}

#[test]
fn from_amplitudes_finds_basis_state_qubits() {
    // |psi> = |+>_2 (x) |1>_1 (x) |0>_0: qubits 0 and 1 known (values 0 and 1), qubit 2 free.
    let r = FRAC_1_SQRT_2;
    let mut amps = vec![c(0.0, 0.0); 8];
    amps[0b010] = c(r, 0.0);
    amps[0b110] = c(r, 0.0);
    let psi = StateVector::from_amplitudes(amps).unwrap();
    assert_eq!(psi.known, 0b011);
    assert_eq!(psi.values, 0b010);
}
