//! Single-qubit gates and measurement bases.

use num_complex::Complex64;

use crate::SimError;

/// A 2x2 complex matrix, row-major: `m[row][column]`.
pub type Matrix2 = [[Complex64; 2]; 2];

/// Tolerance of the unitarity check of [`Gate::Unitary`]: every entry of `U U^dagger - I` must be
/// within this bound.
pub const UNITARY_TOLERANCE: f64 = 1e-9;

const ZERO: Complex64 = Complex64::new(0.0, 0.0);
const ONE: Complex64 = Complex64::new(1.0, 0.0);
const I: Complex64 = Complex64::new(0.0, 1.0);

/// A single-qubit gate.
///
/// Conventions (the usual ones, as in Qiskit and Nielsen & Chuang):
/// `S = diag(1, i)`, `T = diag(1, e^{i pi/4})`, `Rx(t) = exp(-i t X / 2)`, `Ry(t) = exp(-i t Y / 2)`,
/// `Rz(t) = exp(-i t Z / 2) = diag(e^{-i t/2}, e^{i t/2})`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    /// Pauli X (bit flip).
    X,
    /// Pauli Y.
    Y,
    /// Pauli Z (phase flip).
    Z,
    /// Hadamard.
    H,
    /// Phase gate `diag(1, i)`.
    S,
    /// Inverse phase gate `diag(1, -i)`.
    Sdg,
    /// `diag(1, e^{i pi/4})`.
    T,
    /// `diag(1, e^{-i pi/4})`.
    Tdg,
    /// Rotation about the X axis by an angle in radians.
    Rx(f64),
    /// Rotation about the Y axis by an angle in radians.
    Ry(f64),
    /// Rotation about the Z axis by an angle in radians.
    Rz(f64),
    /// An arbitrary unitary matrix (row-major), checked to be unitary within
    /// [`UNITARY_TOLERANCE`] when applied.
    Unitary(Matrix2),
}

impl Gate {
    /// The matrix of the gate (row-major).
    pub fn matrix(&self) -> Matrix2 {
        let r = std::f64::consts::FRAC_1_SQRT_2;
        match *self {
            Gate::X => [[ZERO, ONE], [ONE, ZERO]],
            Gate::Y => [[ZERO, -I], [I, ZERO]],
            Gate::Z => [[ONE, ZERO], [ZERO, -ONE]],
            Gate::H => {
                let h = Complex64::new(r, 0.0);
                [[h, h], [h, -h]]
            }
            Gate::S => [[ONE, ZERO], [ZERO, I]],
            Gate::Sdg => [[ONE, ZERO], [ZERO, -I]],
            Gate::T => [[ONE, ZERO], [ZERO, Complex64::new(r, r)]],
            Gate::Tdg => [[ONE, ZERO], [ZERO, Complex64::new(r, -r)]],
            Gate::Rx(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                let c = Complex64::new(c, 0.0);
                let mis = Complex64::new(0.0, -s);
                [[c, mis], [mis, c]]
            }
            Gate::Ry(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                [
                    [Complex64::new(c, 0.0), Complex64::new(-s, 0.0)],
                    [Complex64::new(s, 0.0), Complex64::new(c, 0.0)],
                ]
            }
            Gate::Rz(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                [[Complex64::new(c, -s), ZERO], [ZERO, Complex64::new(c, s)]]
            }
            Gate::Unitary(m) => m,
        }
    }

    /// The inverse gate (`U^dagger`).
    pub fn inverse(&self) -> Gate {
        match *self {
            Gate::X | Gate::Y | Gate::Z | Gate::H => *self,
            Gate::S => Gate::Sdg,
            Gate::Sdg => Gate::S,
            Gate::T => Gate::Tdg,
            Gate::Tdg => Gate::T,
            Gate::Rx(t) => Gate::Rx(-t),
            Gate::Ry(t) => Gate::Ry(-t),
            Gate::Rz(t) => Gate::Rz(-t),
            Gate::Unitary(m) => Gate::Unitary(dagger(&m)),
        }
    }

    /// Checks the parameters: angles must be finite, a [`Gate::Unitary`] matrix finite and unitary
    /// within [`UNITARY_TOLERANCE`].
    pub fn validate(&self) -> Result<(), SimError> {
        match *self {
            Gate::Rx(t) | Gate::Ry(t) | Gate::Rz(t) => check_angle("gate angle", t),
            Gate::Unitary(m) => check_unitary(&m),
            _ => Ok(()),
        }
    }
}

/// The conjugate transpose of a 2x2 matrix.
pub fn dagger(m: &Matrix2) -> Matrix2 {
    [
        [m[0][0].conj(), m[1][0].conj()],
        [m[0][1].conj(), m[1][1].conj()],
    ]
}

fn check_angle(name: &'static str, t: f64) -> Result<(), SimError> {
    if t.is_finite() {
        Ok(())
    } else {
        Err(SimError::InvalidParameter {
            name,
            reason: format!("angle must be finite, got {t}"),
        })
    }
}

fn check_unitary(m: &Matrix2) -> Result<(), SimError> {
    if m.iter()
        .flatten()
        .any(|z| !z.re.is_finite() || !z.im.is_finite())
    {
        return Err(SimError::InvalidParameter {
            name: "unitary",
            reason: "matrix has a non-finite entry".into(),
        });
    }
    let mut worst: f64 = 0.0;
    for row in 0..2 {
        for col in 0..2 {
            // (U U^dagger)[row][col] = sum_k U[row][k] conj(U[col][k])
            let z = m[row][0] * m[col][0].conj() + m[row][1] * m[col][1].conj();
            let expected = if row == col { ONE } else { ZERO };
            worst = worst.max((z - expected).norm());
        }
    }
    if worst <= UNITARY_TOLERANCE {
        Ok(())
    } else {
        Err(SimError::InvalidParameter {
            name: "unitary",
            reason: format!(
                "matrix is not unitary: |U U^dagger - I| entry {worst:.3e} exceeds {UNITARY_TOLERANCE:e}"
            ),
        })
    }
}

/// A single-qubit measurement basis: an orthonormal pair of states. Outcome `false` is the first
/// vector, outcome `true` the second.
///
/// `Linear(theta)` is the linear-polarisation basis at angle `theta` (radians):
/// `{cos t|0> + sin t|1>, -sin t|0> + cos t|1>}`, a great circle of the Bloch sphere through `|0>`
/// and `|+>` at Bloch angle `2 theta`. `Z == Linear(0)` (`{|0>, |1>}`) and `X == Linear(pi/4)`
/// (`{|+>, |->}` up to a global phase of the second vector, which does not affect measurement).
/// `Y` is `{|+i>, |-i>}` with `|+-i> = (|0> +- i|1>)/sqrt 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// Computational basis `{|0>, |1>}`.
    Z,
    /// Diagonal basis `{|+>, |->}`.
    X,
    /// Circular basis `{|+i>, |-i>}`.
    Y,
    /// Linear-polarisation basis at angle `theta` in radians (see the type docs).
    Linear(f64),
}

impl Basis {
    /// The two basis vectors `[v0, v1]`, each as `[amplitude of |0>, amplitude of |1>]`.
    pub fn vectors(&self) -> [[Complex64; 2]; 2] {
        let r = std::f64::consts::FRAC_1_SQRT_2;
        match *self {
            Basis::Z => [[ONE, ZERO], [ZERO, ONE]],
            Basis::X => [
                [Complex64::new(r, 0.0), Complex64::new(r, 0.0)],
                [Complex64::new(r, 0.0), Complex64::new(-r, 0.0)],
            ],
            Basis::Y => [
                [Complex64::new(r, 0.0), Complex64::new(0.0, r)],
                [Complex64::new(r, 0.0), Complex64::new(0.0, -r)],
            ],
            Basis::Linear(t) => {
                let (s, c) = t.sin_cos();
                [
                    [Complex64::new(c, 0.0), Complex64::new(s, 0.0)],
                    [Complex64::new(-s, 0.0), Complex64::new(c, 0.0)],
                ]
            }
        }
    }

    /// The gate that prepares basis vector `outcome` from `|outcome>` of the computational basis
    /// (its columns are the basis vectors). Applying it to `|0>` or `|1>` prepares the state that
    /// this basis measures as `false` or `true` with certainty.
    pub fn preparation(&self) -> Gate {
        match *self {
            Basis::Z => Gate::Unitary([[ONE, ZERO], [ZERO, ONE]]),
            Basis::X => Gate::H,
            Basis::Linear(t) => Gate::Ry(2.0 * t),
            Basis::Y => {
                let [v0, v1] = self.vectors();
                Gate::Unitary([[v0[0], v1[0]], [v0[1], v1[1]]])
            }
        }
    }

    /// Checks the parameters (a `Linear` angle must be finite).
    pub fn validate(&self) -> Result<(), SimError> {
        match *self {
            Basis::Linear(t) => check_angle("basis angle", t),
            _ => Ok(()),
        }
    }
}
