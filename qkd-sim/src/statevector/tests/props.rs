//! Property tests over random circuits.

use super::*;
use proptest::prelude::*;

/// One step of a random circuit.
#[derive(Debug, Clone)]
enum Op {
    Gate(Gate, usize),
    Cnot(usize, usize),
    Cz(usize, usize),
    Swap(usize, usize),
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
