//! State-vector path: building registers, applying channel operations and measuring qubits.

use num_complex::Complex64;
use rand::Rng;

use super::MeasBasis;
use super::frame::{Register, SliceState};
use crate::SimError;
use crate::statevector::{Basis, Gate};

/// A single-qubit operation of the channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RegOp {
    X,
    Y,
    Z,
    /// Rotation about y by a Bloch angle (radians).
    Ry(f64),
}

/// The single-qubit vector of a slice state: `[amp of |0>, amp of |1>]`.
pub(crate) fn state_vector(s: SliceState) -> [Complex64; 2] {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    match s {
        SliceState::Linear(k) => {
            let (sin, cos) = (k as f64 * std::f64::consts::FRAC_PI_8).sin_cos();
            [Complex64::new(cos, 0.0), Complex64::new(sin, 0.0)]
        }
        SliceState::CircularPlus => [Complex64::new(r, 0.0), Complex64::new(0.0, r)],
        SliceState::CircularMinus => [Complex64::new(r, 0.0), Complex64::new(0.0, -r)],
    }
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

/// The product state of `states` (qubit `q` = `states[q]`) as a register: the Kronecker product
/// of the single-qubit vectors, built by doubling (`2^n` multiplications in all).
pub(crate) fn build_register(states: &[SliceState]) -> Result<Register, SimError> {
    let mut amps = Vec::with_capacity(1 << states.len());
    amps.push(Complex64::new(1.0, 0.0));
    for &s in states {
        let v = state_vector(s);
        let n = amps.len();
        amps.extend_from_within(..n);
        let (lo, hi) = amps.split_at_mut(n);
        for a in lo.iter_mut() {
            *a *= v[0];
        }
        for a in hi.iter_mut() {
            *a *= v[1];
        }
    }
    Register::from_amplitudes(amps)
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
