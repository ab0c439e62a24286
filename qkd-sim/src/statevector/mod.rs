//! An n-qubit state-vector simulator.
//!
//! [`StateVector`] holds the `2^n` complex amplitudes of an n-qubit pure state. Qubit `q` is bit `q`
//! of the basis-state index (little-endian, as in Qiskit): in a 3-qubit register, amplitude index
//! `0b110` is the state with qubits 1 and 2 set and qubit 0 clear.
//!
//! Every operation is one pass over the amplitudes, updating them pairwise (single-qubit gates) or
//! by swaps and sign flips (CNOT, CZ, SWAP); no `2^n x 2^n` matrix is ever built. Measurement draws
//! its randomness from any [`rand_core::Rng`] (rand_core 0.10's infallible RNG trait, formerly
//! `RngCore`), so a seeded generator gives reproducible runs.
//!
//! ```
//! use qkd_sim::statevector::{Basis, Gate, StateVector};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! # fn main() -> Result<(), qkd_sim::SimError> {
//! // A Bell pair: H on qubit 0, then CNOT 0 -> 1.
//! let mut psi = StateVector::new(2)?;
//! psi.apply(Gate::H, 0)?;
//! psi.cnot(0, 1)?;
//! assert!((psi.probability_one(1)? - 0.5).abs() < 1e-12);
//!
//! // Measuring both halves in the same basis gives equal outcomes.
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! let a = psi.measure(0, Basis::X, &mut rng)?;
//! let b = psi.measure(1, Basis::X, &mut rng)?;
//! assert_eq!(a, b);
//! # Ok(())
//! # }
//! ```

mod gate;
mod kernels;
mod measure;
#[cfg(test)]
mod tests;

pub use gate::{Basis, Gate, Matrix2, UNITARY_TOLERANCE, dagger};
pub use num_complex::Complex64;

use crate::SimError;

/// Largest supported register: `2^30` amplitudes of 16 bytes each take 16 GiB.
pub const MAX_QUBITS: usize = 30;

/// Tolerance of [`StateVector::from_amplitudes`] on `|sum |a_i|^2 - 1|`.
pub const NORM_TOLERANCE: f64 = 1e-9;

/// The pure state of an n-qubit register as `2^n` complex amplitudes.
///
/// Qubit `q` is bit `q` of the basis-state index (little-endian). See the [module docs](self).
#[derive(Clone, PartialEq)]
pub struct StateVector {
    num_qubits: usize,
    amps: Vec<Complex64>,
}

impl std::fmt::Debug for StateVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The amplitudes can be huge; show them only for small registers.
        let mut d = f.debug_struct("StateVector");
        d.field("num_qubits", &self.num_qubits);
        if self.num_qubits <= 4 {
            d.field("amplitudes", &self.amps);
        }
        d.finish_non_exhaustive()
    }
}

impl StateVector {
    /// A register of `num_qubits` qubits in `|0...0>`, for `1 <= num_qubits <= MAX_QUBITS`.
    ///
    /// Returns [`SimError::RegisterSize`] outside that range and [`SimError::InvalidParameter`] if
    /// the memory cannot be allocated.
    pub fn new(num_qubits: usize) -> Result<Self, SimError> {
        check_size(num_qubits)?;
        let len = 1usize << num_qubits;
        let mut amps = Vec::new();
        amps.try_reserve_exact(len)
            .map_err(|e| SimError::InvalidParameter {
                name: "num_qubits",
                reason: format!(
                    "cannot allocate {} bytes for {num_qubits} qubits: {e}",
                    len * 16
                ),
            })?;
        amps.resize(len, Complex64::new(0.0, 0.0));
        amps[0] = Complex64::new(1.0, 0.0);
        Ok(Self { num_qubits, amps })
    }

    /// A register holding the given amplitudes (qubit `q` = bit `q` of the index).
    ///
    /// The length must be `2^n` with `1 <= n <= MAX_QUBITS`, every entry finite, and the squared
    /// norm within [`NORM_TOLERANCE`] of 1. The amplitudes are kept as given (not renormalised).
    pub fn from_amplitudes(amps: Vec<Complex64>) -> Result<Self, SimError> {
        let len = amps.len();
        if len < 2 || !len.is_power_of_two() {
            return Err(SimError::InvalidParameter {
                name: "amplitudes",
                reason: format!("length must be a power of two of at least 2, got {len}"),
            });
        }
        let num_qubits = len.trailing_zeros() as usize;
        check_size(num_qubits)?;
        if amps.iter().any(|z| !z.re.is_finite() || !z.im.is_finite()) {
            return Err(SimError::InvalidParameter {
                name: "amplitudes",
                reason: "non-finite amplitude".into(),
            });
        }
        let n2 = kernels::norm_sqr(&amps);
        if (n2 - 1.0).abs() > NORM_TOLERANCE {
            return Err(SimError::InvalidParameter {
                name: "amplitudes",
                reason: format!("squared norm is {n2}, expected 1 within {NORM_TOLERANCE:e}"),
            });
        }
        Ok(Self { num_qubits, amps })
    }

    /// Back to `|0...0>`, reusing the allocation.
    pub fn reset(&mut self) {
        self.amps.fill(Complex64::new(0.0, 0.0));
        self.amps[0] = Complex64::new(1.0, 0.0);
    }

    /// The number of qubits.
    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    /// The `2^n` amplitudes (qubit `q` = bit `q` of the index).
    pub fn amplitudes(&self) -> &[Complex64] {
        &self.amps
    }

    /// `sum |a_i|^2`: 1 up to rounding for every state this type produces.
    pub fn norm_sqr(&self) -> f64 {
        kernels::norm_sqr(&self.amps)
    }

    /// Applies a single-qubit gate to `qubit`.
    ///
    /// Errors: [`SimError::QubitOutOfRange`]; [`SimError::InvalidParameter`] for a non-finite
    /// angle or a [`Gate::Unitary`] that is not unitary (see [`Gate::validate`]).
    pub fn apply(&mut self, gate: Gate, qubit: usize) -> Result<(), SimError> {
        self.check_qubit(qubit)?;
        gate.validate()?;
        let a = &mut self.amps[..];
        let q = qubit;
        let r = std::f64::consts::FRAC_1_SQRT_2;
        match gate {
            Gate::X => kernels::x(a, q),
            Gate::Y => kernels::y(a, q),
            Gate::Z => kernels::negate_upper(a, q),
            Gate::H => kernels::h(a, q),
            Gate::S => kernels::mul_i_upper(a, q, 1.0),
            Gate::Sdg => kernels::mul_i_upper(a, q, -1.0),
            Gate::T => kernels::phase(a, q, true, Complex64::new(r, r)),
            Gate::Tdg => kernels::phase(a, q, true, Complex64::new(r, -r)),
            Gate::Rz(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                kernels::phase(a, q, false, Complex64::new(c, -s));
                kernels::phase(a, q, true, Complex64::new(c, s));
            }
            Gate::Ry(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                kernels::real2(a, q, [[c, -s], [s, c]]);
            }
            Gate::Rx(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                kernels::rx(a, q, c, s);
            }
            Gate::Unitary(m) => kernels::general2(a, q, &m),
        }
        Ok(())
    }

    /// Controlled NOT: flips `target` where `control` is 1.
    ///
    /// Errors: [`SimError::QubitOutOfRange`]; [`SimError::InvalidParameter`] if
    /// `control == target`.
    pub fn cnot(&mut self, control: usize, target: usize) -> Result<(), SimError> {
        self.check_pair("cnot", control, target)?;
        kernels::cnot(&mut self.amps, control, target);
        Ok(())
    }

    /// Controlled Z (symmetric): negates the amplitudes where both qubits are 1.
    ///
    /// Errors: [`SimError::QubitOutOfRange`]; [`SimError::InvalidParameter`] if `a == b`.
    pub fn cz(&mut self, a: usize, b: usize) -> Result<(), SimError> {
        self.check_pair("cz", a, b)?;
        kernels::cz(&mut self.amps, a, b);
        Ok(())
    }

    /// Exchanges qubits `a` and `b`. Swapping a qubit with itself is the identity.
    ///
    /// Errors: [`SimError::QubitOutOfRange`].
    pub fn swap(&mut self, a: usize, b: usize) -> Result<(), SimError> {
        self.check_qubit(a)?;
        self.check_qubit(b)?;
        if a != b {
            kernels::swap(&mut self.amps, a, b);
        }
        Ok(())
    }

    fn check_qubit(&self, qubit: usize) -> Result<(), SimError> {
        if qubit < self.num_qubits {
            Ok(())
        } else {
            Err(SimError::QubitOutOfRange {
                qubit,
                num_qubits: self.num_qubits,
            })
        }
    }

    fn check_pair(&self, op: &'static str, a: usize, b: usize) -> Result<(), SimError> {
        self.check_qubit(a)?;
        self.check_qubit(b)?;
        if a == b {
            return Err(SimError::InvalidParameter {
                name: op,
                reason: format!("the two qubits must differ, got {a} twice"),
            });
        }
        Ok(())
    }
}

fn check_size(num_qubits: usize) -> Result<(), SimError> {
    if (1..=MAX_QUBITS).contains(&num_qubits) {
        Ok(())
    } else {
        Err(SimError::RegisterSize {
            num_qubits,
            max: MAX_QUBITS,
        })
    }
}
