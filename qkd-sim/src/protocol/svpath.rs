//! State-vector path: building registers, applying channel operations and measuring qubits.

use num_complex::Complex64;
use rand::Rng;

use super::MeasBasis;
use super::frame::{Register, SliceState};
use crate::SimError;

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

/// The two vectors of a measurement basis (outcome 0 first).
pub(crate) fn basis_vectors(b: MeasBasis) -> [[Complex64; 2]; 2] {
    match b {
        MeasBasis::Z => [
            state_vector(SliceState::Linear(0)),
            state_vector(SliceState::Linear(4)),
        ],
        MeasBasis::X => [
            state_vector(SliceState::Linear(2)),
            state_vector(SliceState::Linear(6)),
        ],
        MeasBasis::Y => [
            state_vector(SliceState::CircularPlus),
            state_vector(SliceState::CircularMinus),
        ],
        MeasBasis::Breidbart => [
            state_vector(SliceState::Linear(1)),
            state_vector(SliceState::Linear(5)),
        ],
    }
}

/// The product state of `states` (qubit `q` = `states[q]`) as a register.
pub(crate) fn build_register(states: &[SliceState]) -> Result<Register, SimError> {
    let mut amps = Vec::with_capacity(1 << states.len());
    amps.push(Complex64::new(1.0, 0.0));
    for &s in states {
        let v = state_vector(s);
        let n = amps.len();
        amps.extend_from_within(..n);
        for (j, a) in amps.iter_mut().enumerate() {
            *a *= v[(j >= n) as usize];
        }
    }
    Register::from_amplitudes(amps)
}

/// Applies `ops` (operation, qubit) in order.
pub(crate) fn apply_ops(reg: &mut Register, ops: &[(RegOp, usize)]) -> Result<(), SimError> {
    let n = reg.num_qubits();
    let mut amps = reg.take_amplitudes();
    let mut result = Ok(());
    for &(op, q) in ops {
        if q >= n {
            result = Err(SimError::QubitOutOfRange {
                qubit: q,
                num_qubits: n,
            });
            break;
        }
        let m = op_matrix(op);
        apply_matrix(&mut amps, q, &m);
    }
    reg.put_amplitudes(amps);
    result
}

fn op_matrix(op: RegOp) -> [[Complex64; 2]; 2] {
    let (z, o, i) = (
        Complex64::new(0.0, 0.0),
        Complex64::new(1.0, 0.0),
        Complex64::new(0.0, 1.0),
    );
    match op {
        RegOp::X => [[z, o], [o, z]],
        RegOp::Y => [[z, -i], [i, z]],
        RegOp::Z => [[o, z], [z, -o]],
        RegOp::Ry(t) => {
            let (s, c) = (t / 2.0).sin_cos();
            [
                [Complex64::new(c, 0.0), Complex64::new(-s, 0.0)],
                [Complex64::new(s, 0.0), Complex64::new(c, 0.0)],
            ]
        }
    }
}

fn apply_matrix(amps: &mut [Complex64], q: usize, m: &[[Complex64; 2]; 2]) {
    let stride = 1usize << q;
    for block in amps.chunks_mut(2 * stride) {
        let (lo, hi) = block.split_at_mut(stride);
        for (a0, a1) in lo.iter_mut().zip(hi.iter_mut()) {
            let (x, y) = (*a0, *a1);
            *a0 = m[0][0] * x + m[0][1] * y;
            *a1 = m[1][0] * x + m[1][1] * y;
        }
    }
}

/// Measures qubit `q` of `reg` in `basis`; the qubit collapses onto the basis vector of the outcome
/// (`false` = first vector), the rest of the register is renormalised.
pub(crate) fn measure<R: Rng + ?Sized>(
    reg: &mut Register,
    q: usize,
    basis: MeasBasis,
    rng: &mut R,
) -> Result<bool, SimError> {
    let n = reg.num_qubits();
    if q >= n {
        return Err(SimError::QubitOutOfRange {
            qubit: q,
            num_qubits: n,
        });
    }
    let [v0, v1] = basis_vectors(basis);
    let mut amps = reg.take_amplitudes();
    let stride = 1usize << q;
    let mut p0 = 0.0;
    for block in amps.chunks(2 * stride) {
        let (lo, hi) = block.split_at(stride);
        for (a0, a1) in lo.iter().zip(hi) {
            p0 += (v0[0].conj() * a0 + v0[1].conj() * a1).norm_sqr();
        }
    }
    let u = ((rng.next_u64() >> 11) as f64) * (1.0 / 9_007_199_254_740_992.0);
    let outcome = u >= p0;
    let (v, p) = if outcome { (v1, 1.0 - p0) } else { (v0, p0) };
    let scale = 1.0 / p.max(f64::MIN_POSITIVE).sqrt();
    for block in amps.chunks_mut(2 * stride) {
        let (lo, hi) = block.split_at_mut(stride);
        for (a0, a1) in lo.iter_mut().zip(hi.iter_mut()) {
            let c = (v[0].conj() * *a0 + v[1].conj() * *a1) * scale;
            *a0 = v[0] * c;
            *a1 = v[1] * c;
        }
    }
    reg.put_amplitudes(amps);
    Ok(outcome)
}
