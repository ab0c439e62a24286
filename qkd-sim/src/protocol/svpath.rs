//! State-vector path: building registers, applying channel operations and measuring qubits.

use rand::Rng;

use super::MeasBasis;
use super::frame::Register;
#[cfg(test)]
use super::frame::SliceState;
use crate::SimError;
use crate::statevector::{Basis, Frame, Gate, StateVector};

/// A single-qubit operation of the channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RegOp {
    X,
    Y,
    Z,
    /// Rotation about y by a Bloch angle (radians).
    Ry(f64),
}

/// The [`Basis`] of a protocol basis.
pub(crate) fn basis(b: MeasBasis) -> Basis {
    match b {
        MeasBasis::Z => Basis::Z,
        MeasBasis::X => Basis::X,
        MeasBasis::Y => Basis::Y,
        MeasBasis::Breidbart => Basis::Linear(std::f64::consts::FRAC_PI_8),
    }
}

/// The prepared states of one register as bit masks (bit `q` for qubit `q`), in the
/// [`ProductFrame`](super::ProductFrame) plane encoding: `k0, k1, k2` the bits of a
/// [`Linear`](super::SliceState::Linear) index, `y` set for circular states (then `k2` is the
/// sign).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RegisterStates {
    pub(crate) k0: u32,
    pub(crate) k1: u32,
    pub(crate) k2: u32,
    pub(crate) y: u32,
}

impl RegisterStates {
    /// The masks of a list of states (qubit `q` = `states[q]`, at most 32).
    #[cfg(test)]
    pub(crate) fn of(states: &[SliceState]) -> Self {
        let mut m = Self::default();
        for (q, s) in states.iter().enumerate() {
            let b = 1u32 << q;
            match *s {
                SliceState::Linear(k) => {
                    m.k0 |= b * u32::from(k & 1);
                    m.k1 |= b * u32::from(k >> 1 & 1);
                    m.k2 |= b * u32::from(k >> 2 & 1);
                }
                SliceState::CircularPlus => m.y |= b,
                SliceState::CircularMinus => {
                    m.y |= b;
                    m.k2 |= b;
                }
            }
        }
        m
    }
}

/// A register of `n` qubits in `|0...0>` (1 to `MAX_REGISTER_QUBITS`).
pub(crate) fn zero_register(n: usize) -> Result<Register, SimError> {
    Register::new(StateVector::new(n)?)
}

/// A register of `n` qubits prepared in the product state described by `s` (see [`prepare`]).
#[cfg(test)]
pub(crate) fn prepare_register(n: usize, s: RegisterStates) -> Result<Register, SimError> {
    let mut reg = zero_register(n)?;
    prepare(reg.state_mut(), s);
    Ok(reg)
}

/// Prepares `sv`, which must be in `|0...0>`, in the product state described by `s` (bits past
/// the register are ignored) by applying gates, qubit by qubit (qubits are independent, so all X gates come first, then Ry, H, S):
///
/// * `Linear(k)`, `k` even: X if `k & 4`, then H if `k & 2`. This gives `|0>`, `|+>`, `|1>`
///   exactly, and `H|1> = |->` for `Linear(6)`, which is `cos(3 pi/4)|0> + sin(3 pi/4)|1>` up to
///   the global phase -1 (invisible to every measurement).
/// * `Linear(k)`, `k` odd (the Breidbart states): `Ry(k pi/4)`, i.e. `cos(k pi/8)|0> +
///   sin(k pi/8)|1>`.
/// * `|+i>`: H then S; `|-i>`: X, H, then S (exact).
///
/// Basis states therefore have exactly zero amplitudes where they should (a rotation by `pi`
/// would leave `cos(pi/2) ~ 6e-17`), which keeps the register's known-qubit bookkeeping: a
/// Z-basis qubit costs nothing until someone measures it in another basis.
pub(crate) fn prepare(sv: &mut StateVector, s: RegisterStates) {
    let n = sv.num_qubits();
    let all = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    let (linear, circular) = (!s.y & all, s.y & all);
    let odd = s.k0 & linear;
    // One layer of X gates, then the Ry rotations, then one layer of H gates (each layer is a
    // single pass over the amplitudes, see `StateVector::apply_x_layer`).
    let (x, h) = (
        u64::from(s.k2 & !odd & all),
        u64::from((s.k1 & linear & !odd) | circular),
    );
    if odd == 0 {
        sv.apply_xh_layers(x, h);
    } else {
        sv.apply_x_layer(x);
        for q in Ones(odd) {
            let k = (1 | (s.k1 >> q & 1) << 1 | (s.k2 >> q & 1) << 2) as f64;
            sv.apply_unchecked(Gate::Ry(k * std::f64::consts::FRAC_PI_4), q);
        }
        sv.apply_h_layer(h);
    }
    for q in Ones(circular) {
        sv.apply_unchecked(Gate::S, q);
    }
}

/// The set bits of a mask, lowest first.
struct Ones(u32);

impl Iterator for Ones {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let q = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(q)
    }
}

/// The product state of `states` (qubit `q` = `states[q]`) as a register, prepared with gates
/// (see [`prepare_register`]).
#[cfg(test)]
pub(crate) fn build_register(states: &[SliceState]) -> Result<Register, SimError> {
    prepare_register(states.len(), RegisterStates::of(states))
}

/// Applies `ops` (operation, qubit) in order.
pub(crate) fn apply_ops(reg: &mut Register, ops: &[(RegOp, usize)]) -> Result<(), SimError> {
    let sv = reg.state_mut();
    for &(op, q) in ops {
        let gate = match op {
            RegOp::X => Gate::X,
            RegOp::Y => Gate::Y,
            RegOp::Z => Gate::Z,
            RegOp::Ry(t) => Gate::Ry(t),
        };
        sv.apply(gate, q)?;
    }
    Ok(())
}

/// Measures qubit `q` of `reg` in `basis` (a projective measurement of the state vector); the
/// qubit collapses onto the basis vector of the outcome (`false` = first vector).
pub(crate) fn measure<R: Rng + ?Sized>(
    reg: &mut Register,
    q: usize,
    b: MeasBasis,
    rng: &mut R,
) -> Result<bool, SimError> {
    reg.state_mut().measure(q, basis(b), rng)
}

/// The measurement frames of Bob's bases, built once per frame of qubits; the second field holds
/// the Z and X bases as real rows for `StateVector::measure_absorb_real`.
pub(crate) struct BobFrames([Frame; 4], pub(crate) [[[f64; 2]; 2]; 2]);

impl BobFrames {
    pub(crate) fn new() -> Self {
        let frames = [
            MeasBasis::Z,
            MeasBasis::X,
            MeasBasis::Y,
            MeasBasis::Breidbart,
        ]
        .map(|b| Frame::of(basis(b)));
        let identity = [[1.0, 0.0], [0.0, 1.0]];
        let z_x = [
            frames[0].real().unwrap_or(identity),
            frames[1].real().unwrap_or(identity),
        ];
        Self(frames, z_x)
    }

    /// The frame of `b`.
    pub(crate) fn get(&self, b: MeasBasis) -> &Frame {
        &self.0[match b {
            MeasBasis::Z => 0,
            MeasBasis::X => 1,
            MeasBasis::Y => 2,
            MeasBasis::Breidbart => 3,
        }]
    }
}

/// Bob's detection of qubit `q` of `sv`: a projective measurement in `frame` with the uniform
/// draw `u`, after which the detector has absorbed the photon and the qubit is back in `|0>`
/// (see `StateVector::measure_absorb`). `q` must be below `sv.num_qubits()` and `u` in `[0, 1)`.
pub(crate) fn measure_and_absorb(sv: &mut StateVector, q: usize, frame: &Frame, u: f64) -> bool {
    sv.measure_absorb(q, frame, u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex64;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn max_diff(a: &[Complex64], b: &[Complex64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    /// The single-qubit vector of a slice state, from its definition (global phase included).
    fn slice_vector(s: SliceState) -> [Complex64; 2] {
        let r = std::f64::consts::FRAC_1_SQRT_2;
        match s {
            SliceState::Linear(k) => {
                let (sin, cos) = (f64::from(k) * std::f64::consts::FRAC_PI_8).sin_cos();
                [Complex64::new(cos, 0.0), Complex64::new(sin, 0.0)]
            }
            SliceState::CircularPlus => [Complex64::new(r, 0.0), Complex64::new(0.0, r)],
            SliceState::CircularMinus => [Complex64::new(r, 0.0), Complex64::new(0.0, -r)],
        }
    }

    /// Every slice state prepared with gates equals its definition up to a global phase (-1 for
    /// `Linear(6)` only), and basis states have exactly zero amplitudes where they should.
    #[test]
    fn prepared_states_match_their_definitions() {
        let all: Vec<SliceState> = (0..8)
            .map(SliceState::Linear)
            .chain([SliceState::CircularPlus, SliceState::CircularMinus])
            .collect();
        for s in &all {
            let reg = build_register(&[*s]).expect("valid");
            let got = reg.state().amplitudes();
            let want = slice_vector(*s);
            let phase = if *s == SliceState::Linear(6) {
                -1.0
            } else {
                1.0
            };
            let want = [want[0] * phase, want[1] * phase];
            assert!(max_diff(got, &want) < 1e-15, "{s:?}: {got:?}");
        }
        let one = build_register(&[SliceState::Linear(4)]).expect("valid");
        assert_eq!(one.state().amplitudes()[0], Complex64::new(0.0, 0.0));
        // A product of three states is the Kronecker product (qubit 0 = lowest index bit).
        let states = [
            SliceState::Linear(2),
            SliceState::CircularMinus,
            SliceState::Linear(1),
        ];
        let reg = build_register(&states).expect("valid");
        let v: Vec<[Complex64; 2]> = states.iter().map(|s| slice_vector(*s)).collect();
        let want: Vec<Complex64> = (0..8)
            .map(|i| (0..3).map(|q| v[q][i >> q & 1]).product())
            .collect();
        assert!(max_diff(reg.state().amplitudes(), &want) < 1e-15);
    }

    /// Measuring a qubit of a product register in its own basis gives the prepared bit with
    /// certainty and leaves exactly the product state of the other qubits with `|0>` in its place.
    #[test]
    fn absorbing_a_qubit_leaves_the_rest_and_vacuum() {
        let frames = BobFrames::new();
        let rest: Vec<SliceState> = (0..4)
            .map(|i| match i % 4 {
                0 => SliceState::Linear(3),
                1 => SliceState::CircularMinus,
                2 => SliceState::Linear(5),
                _ => SliceState::CircularPlus,
            })
            .collect();
        for (s, basis, expect) in [
            (SliceState::Linear(6), MeasBasis::X, true),
            (SliceState::Linear(2), MeasBasis::X, false),
            (SliceState::Linear(4), MeasBasis::Z, true),
            (SliceState::Linear(0), MeasBasis::Z, false),
            (SliceState::CircularPlus, MeasBasis::Y, false),
            (SliceState::CircularMinus, MeasBasis::Y, true),
            (SliceState::Linear(5), MeasBasis::Breidbart, true),
        ] {
            for pos in [0, 2, 4] {
                let mut all = rest.clone();
                all.insert(pos, s);
                let (mut sv, _, _) = build_register(&all).expect("valid").into_parts();
                for u in [0.25, 0.5, 0.75] {
                    let mut sv = sv.clone();
                    let outcome = measure_and_absorb(&mut sv, pos, frames.get(basis), u);
                    assert_eq!(outcome, expect, "{s:?} in {basis:?}");
                    let mut vac = rest.clone();
                    vac.insert(pos, SliceState::Linear(0));
                    let (want, _, _) = build_register(&vac).expect("valid").into_parts();
                    let diff = max_diff(sv.amplitudes(), want.amplitudes());
                    assert!(
                        diff < 1e-12,
                        "{s:?} at {pos}: max amplitude difference {diff}"
                    );
                }
                // The general measurement agrees on the outcome.
                let mut rng = StdRng::seed_from_u64(9);
                assert_eq!(sv.measure(pos, super::basis(basis), &mut rng), Ok(expect));
            }
        }
    }
}
