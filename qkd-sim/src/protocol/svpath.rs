//! State-vector path: building registers, applying channel operations and measuring qubits.

use num_complex::Complex64;
use rand::Rng;

use super::MeasBasis;
use super::frame::{Register, SliceState};
use crate::SimError;
use crate::statevector::{Basis, Gate, StateVector};

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

/// Registers at least this large drop each qubit Bob has measured (see [`measure_and_absorb`]).
pub(crate) const ABSORB_FROM_QUBITS: usize = 8;

/// Bob's detection of qubit `q` of `sv`: a projective measurement in `b`, after which the
/// detector has absorbed the photon. When `q` is the highest qubit of a register of at least
/// [`ABSORB_FROM_QUBITS`] qubits, the measured qubit (now in a product state with the rest) is
/// traced out and the register shrinks by half, so measuring the remaining qubits from the top
/// down costs about two passes over the original register in all instead of `2n`. Otherwise the
/// state is only collapsed.
pub(crate) fn measure_and_absorb<R: Rng + ?Sized>(
    sv: &mut StateVector,
    q: usize,
    b: MeasBasis,
    rng: &mut R,
) -> Result<bool, SimError> {
    let n = sv.num_qubits();
    let outcome = sv.measure(q, basis(b), rng)?;
    if n < ABSORB_FROM_QUBITS || q + 1 != n {
        return Ok(outcome);
    }
    // After the collapse, amplitudes are rest (x) v: the lower half is rest * v[0], the upper half
    // rest * v[1]. Divide by the larger component of v to read `rest` back.
    let v = outcome_vector(b, outcome);
    let c = usize::from(v[1].norm_sqr() > v[0].norm_sqr());
    let half = 1usize << q;
    let inv = 1.0 / v[c];
    let rest: Vec<Complex64> = sv.amplitudes()[c * half..(c + 1) * half]
        .iter()
        .map(|a| a * inv)
        .collect();
    *sv = StateVector::from_amplitudes(rest)?;
    Ok(outcome)
}

/// The basis vector of `outcome` in `b`, as the state that basis measures with certainty.
fn outcome_vector(b: MeasBasis, outcome: bool) -> [Complex64; 2] {
    let o = u8::from(outcome);
    state_vector(match b {
        MeasBasis::Z => SliceState::Linear(4 * o),
        MeasBasis::X => SliceState::Linear(2 + 4 * o),
        MeasBasis::Breidbart => SliceState::Linear(1 + 4 * o),
        MeasBasis::Y if outcome => SliceState::CircularMinus,
        MeasBasis::Y => SliceState::CircularPlus,
    })
}
