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
mod space;
#[cfg(test)]
mod tests;

pub use gate::{Basis, Gate, Matrix2, UNITARY_TOLERANCE, dagger};
pub use num_complex::Complex64;

use smallvec::SmallVec;

use crate::SimError;
use space::Space;

pub(crate) use measure::Frame;

/// Largest supported register: `2^30` amplitudes of 16 bytes each take 16 GiB.
pub const MAX_QUBITS: usize = 30;

/// Tolerance of [`StateVector::from_amplitudes`] on `|sum |a_i|^2 - 1|`.
pub const NORM_TOLERANCE: f64 = 1e-9;

/// Registers of up to this many qubits keep their amplitudes inline (inside the
/// [`StateVector`] value, 512 bytes for 5 qubits) instead of in a heap allocation, so building,
/// moving and dropping small registers never calls the allocator.
pub const INLINE_QUBITS: usize = 5;

/// The amplitude storage: inline up to [`INLINE_QUBITS`] qubits, on the heap beyond.
type Amps = SmallVec<[Complex64; 1 << INLINE_QUBITS]>;

/// The pure state of an n-qubit register as `2^n` complex amplitudes.
///
/// Qubit `q` is bit `q` of the basis-state index (little-endian). See the [module docs](self).
///
/// Internally the register remembers which qubits are in a known computational basis state
/// (after `new`, `reset` or a Z-basis measurement) and then only visits the amplitudes that can
/// be nonzero; this is invisible in every result and makes small registers cheap.
pub struct StateVector {
    num_qubits: usize,
    amps: Amps,
    /// Qubits known to be in a computational basis state. Invariant: every amplitude whose
    /// index disagrees with `values` on a `known` bit is exactly zero.
    known: u64,
    /// The values of the known qubits (a subset of `known`).
    values: u64,
    /// Whether to track known qubits at all (always, except in tests comparing with the plain
    /// dense path).
    tracking: bool,
}

impl Clone for StateVector {
    /// A copy; small registers are copied as one block (no allocation).
    fn clone(&self) -> Self {
        Self {
            num_qubits: self.num_qubits,
            amps: Amps::from_slice(&self.amps),
            known: self.known,
            values: self.values,
            tracking: self.tracking,
        }
    }
}

impl PartialEq for StateVector {
    /// Equal amplitudes (exactly); the internal bookkeeping is not compared.
    fn eq(&self, other: &Self) -> bool {
        self.num_qubits == other.num_qubits && self.amps[..] == other.amps[..]
    }
}

impl std::fmt::Debug for StateVector {
    /// Shows the register size only: the amplitudes can be huge, and in a QKD simulation they
    /// encode the raw key bits being transmitted, which must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateVector")
            .field("num_qubits", &self.num_qubits)
            .finish_non_exhaustive()
    }
}

const ZERO: Complex64 = Complex64::new(0.0, 0.0);
const ONE: Complex64 = Complex64::new(1.0, 0.0);

impl StateVector {
    /// A register of `num_qubits` qubits in `|0...0>`, for `1 <= num_qubits <= MAX_QUBITS`.
    ///
    /// Returns [`SimError::RegisterSize`] outside that range and [`SimError::InvalidParameter`] if
    /// the memory cannot be allocated.
    pub fn new(num_qubits: usize) -> Result<Self, SimError> {
        check_size(num_qubits)?;
        let len = 1usize << num_qubits;
        let mut amps = if num_qubits <= INLINE_QUBITS {
            Amps::from_elem(ZERO, len)
        } else {
            let mut v = Vec::new();
            v.try_reserve_exact(len)
                .map_err(|e| SimError::InvalidParameter {
                    name: "num_qubits",
                    reason: format!(
                        "cannot allocate {} bytes for {num_qubits} qubits: {e}",
                        len * 16
                    ),
                })?;
            v.resize(len, ZERO);
            Amps::from_vec(v)
        };
        amps[0] = ONE;
        Ok(Self {
            num_qubits,
            amps,
            known: full_mask(num_qubits),
            values: 0,
            tracking: true,
        })
    }

    /// A register holding the given amplitudes (qubit `q` = bit `q` of the index).
    ///
    /// The length must be `2^n` with `1 <= n <= MAX_QUBITS`, every entry finite, and the squared
    /// norm within [`NORM_TOLERANCE`] of 1. The amplitudes are kept as given (not renormalised).
    /// Qubits found in a computational basis state (all their nonzero amplitudes share the bit)
    /// get the cheap known-qubit treatment described on [`StateVector`].
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
        // Qubits whose nonzero amplitudes all agree on their bit are in a basis state: one pass
        // over the indices of the nonzero amplitudes (OR and AND of them) finds them all.
        let (mut any, mut all) = (0u64, u64::MAX);
        for (i, z) in amps.iter().enumerate() {
            if z.re != 0.0 || z.im != 0.0 {
                any |= i as u64;
                all &= i as u64;
            }
        }
        let full = full_mask(num_qubits);
        let known = (!any | all) & full;
        Ok(Self {
            num_qubits,
            amps: Amps::from_vec(amps),
            known,
            values: all & known,
            tracking: true,
        })
    }

    /// A register that never tracks known qubits: the plain dense path, for comparison tests.
    #[cfg(test)]
    pub(crate) fn new_untracked(num_qubits: usize) -> Result<Self, SimError> {
        let mut psi = Self::new(num_qubits)?;
        psi.tracking = false;
        psi.known = 0;
        Ok(psi)
    }

    /// This register without known-qubit tracking (see [`Self::new_untracked`]).
    #[cfg(test)]
    pub(crate) fn into_untracked(mut self) -> Self {
        self.tracking = false;
        self.known = 0;
        self.values = 0;
        self
    }

    /// Back to `|0...0>`, reusing the allocation.
    pub fn reset(&mut self) {
        if self.known != 0 {
            // Only the amplitudes of the current subspace can be nonzero.
            let free = self.free_mask();
            space::each(&mut self.amps, self.values, free, |_, z| *z = ZERO);
        } else {
            self.amps.fill(ZERO);
        }
        self.amps[0] = ONE;
        if self.tracking {
            self.known = full_mask(self.num_qubits);
            self.values = 0;
        }
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
        self.apply_unchecked(gate, qubit);
        Ok(())
    }

    /// [`apply`](Self::apply) for a valid gate (see [`Gate::validate`]) and qubit
    /// (`q < num_qubits`): no checks, for the protocol's hot loops, whose gates are valid by
    /// construction.
    #[inline]
    pub(crate) fn apply_unchecked(&mut self, gate: Gate, q: usize) {
        if self.known >> q & 1 == 1 {
            match gate {
                Gate::X => self.x_on_known(q),
                Gate::H => self.h_on_known(q),
                _ => self.apply_on_known(&gate.matrix(), q),
            }
        } else {
            self.apply_free(gate, q);
        }
    }

    /// A gate on a qubit that is not known.
    fn apply_free(&mut self, gate: Gate, q: usize) {
        let space = self.space(q);
        let a = &mut self.amps[..];
        let r = std::f64::consts::FRAC_1_SQRT_2;
        match gate {
            Gate::X => space::pairs(a, q, space, std::mem::swap),
            Gate::Y => space::pairs(a, q, space, |a, b| {
                // (a, b) -> (-i b, i a)
                let (a0, b0) = (*a, *b);
                *a = Complex64::new(b0.im, -b0.re);
                *b = Complex64::new(-a0.im, a0.re);
            }),
            Gate::Z => space::upper(a, q, space, |z| *z = -*z),
            Gate::H => space::pairs(a, q, space, |a, b| {
                let (a0, b0) = (*a, *b);
                *a = (a0 + b0) * r;
                *b = (a0 - b0) * r;
            }),
            Gate::S => space::upper(a, q, space, |z| *z = Complex64::new(-z.im, z.re)),
            Gate::Sdg => space::upper(a, q, space, |z| *z = Complex64::new(z.im, -z.re)),
            Gate::T => space::upper(a, q, space, |z| *z *= Complex64::new(r, r)),
            Gate::Tdg => space::upper(a, q, space, |z| *z *= Complex64::new(r, -r)),
            Gate::Rz(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                let (d0, d1) = (Complex64::new(c, -s), Complex64::new(c, s));
                space::pairs(a, q, space, |a, b| {
                    *a *= d0;
                    *b *= d1;
                });
            }
            Gate::Ry(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                space::pairs(a, q, space, |a, b| {
                    let (a0, b0) = (*a, *b);
                    *a = a0 * c - b0 * s;
                    *b = a0 * s + b0 * c;
                });
            }
            Gate::Rx(t) => {
                let (s, c) = (t / 2.0).sin_cos();
                space::pairs(a, q, space, |a, b| {
                    let (a0, b0) = (*a, *b);
                    // -i s z = (s z.im, -s z.re)
                    *a = Complex64::new(c * a0.re + s * b0.im, c * a0.im - s * b0.re);
                    *b = Complex64::new(c * b0.re + s * a0.im, c * b0.im - s * a0.re);
                });
            }
            Gate::Unitary(m) => {
                let [[m00, m01], [m10, m11]] = m;
                space::pairs(a, q, space, |a, b| {
                    let (a0, b0) = (*a, *b);
                    *a = m00 * a0 + m01 * b0;
                    *b = m10 * a0 + m11 * b0;
                });
            }
        }
    }

    /// X on a qubit known to hold `|v>`: every nonzero amplitude moves across the qubit and the
    /// qubit stays known with the other value (exact: no arithmetic on the amplitudes).
    #[inline]
    fn x_on_known(&mut self, q: usize) {
        let bit = 1u64 << q;
        let (from_base, free) = (self.values, self.free_mask());
        let a = &mut self.amps[..];
        space::for_each_submask(free, |sub| {
            let i = (from_base | sub) as usize;
            a[i ^ bit as usize] = a[i];
            a[i] = ZERO;
        });
        self.values ^= bit;
    }

    /// H on a qubit known to hold `|v>`: `H|v> = (|0> + (-1)^v |1>) / sqrt 2`, so each nonzero
    /// amplitude `z` becomes `z/sqrt 2` at bit 0 and `(-1)^v z/sqrt 2` at bit 1 (real scalings
    /// only). The qubit becomes free.
    #[inline]
    fn h_on_known(&mut self, q: usize) {
        let bit = 1u64 << q;
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let v = self.values & bit != 0;
        let (from_base, free) = (self.values, self.free_mask());
        let a = &mut self.amps[..];
        // Written as (value at bit 0, value at bit 1) from the amplitude at bit v.
        let (c0, c1) = if v { (r, -r) } else { (r, r) };
        space::for_each_submask(free, |sub| {
            let i = (from_base | sub) as usize;
            let z = a[i];
            let lo = i & !(bit as usize);
            a[lo] = z * c0;
            a[lo | bit as usize] = z * c1;
        });
        self.forget(q);
    }

    /// X on every qubit of `mask` at once (the gates commute). Qubits of `mask` that are known
    /// are flipped in one pass over the amplitudes that can be nonzero (each moves to its index
    /// with those bits flipped, which lies outside the current support, so nothing overlaps);
    /// the others get the ordinary kernel one by one. Unchecked: `mask` must lie within the
    /// register.
    pub(crate) fn apply_x_layer(&mut self, mask: u64) {
        let on_known = mask & self.known;
        if on_known != 0 {
            let (base, free) = (self.values, self.free_mask());
            let flip = on_known as usize;
            let a = &mut self.amps[..];
            space::for_each_submask(free, |sub| {
                let i = (base | sub) as usize;
                a[i ^ flip] = a[i];
                a[i] = ZERO;
            });
            self.values ^= on_known;
        }
        let mut rest = mask & !on_known;
        while rest != 0 {
            let q = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.apply_free(Gate::X, q);
        }
    }

    /// X on the qubits of `x`, then H on the qubits of `h` (see [`Self::apply_x_layer`] and
    /// [`Self::apply_h_layer`]). When the register is in a basis state (every qubit known, as
    /// after `new` or `reset`) both layers are one pass writing the `2^k` amplitudes of the
    /// result (`k` = qubits in `h`): `|v>` with `v = values ^ x` becomes
    /// `sum_s (-1)^{|s & v|} / sqrt(2)^k |(v & !h) | s>` over the subsets `s` of `h`, and the
    /// old amplitude is cleared first. Unchecked: the masks must lie within the register.
    pub(crate) fn apply_xh_layers(&mut self, x: u64, h: u64) {
        let full = full_mask(self.num_qubits);
        if self.known != full || h == 0 {
            self.apply_x_layer(x);
            self.apply_h_layer(h);
            return;
        }
        let from = self.values as usize;
        let v = self.values ^ x;
        let scale = inv_sqrt2_pow(h.count_ones());
        let a = &mut self.amps[..];
        let z = a[from] * scale;
        a[from] = ZERO;
        let (rest, vh) = (v & !h, v & h);
        space::for_each_submask(h, |s| {
            let sign = if (s & vh).count_ones() & 1 == 1 {
                -1.0
            } else {
                1.0
            };
            a[(rest | s) as usize] = z * sign;
        });
        self.known = full & !h;
        self.values = rest;
    }

    /// H on every qubit of `mask` at once (the gates commute). On known qubits this is one pass:
    /// with `k` known qubits in `mask` holding the bits `v`, every nonzero amplitude `z` spreads
    /// over the `2^k` values `s` of those qubits as `z (-1)^{|s & v|} / sqrt(2)^k` (the tensor
    /// product of `H|v_j> = (|0> + (-1)^{v_j}|1>) / sqrt 2`). Different amplitudes differ on free
    /// qubits, so their targets never overlap. Other qubits of `mask` get the ordinary kernel.
    /// Unchecked: `mask` must lie within the register.
    pub(crate) fn apply_h_layer(&mut self, mask: u64) {
        let on_known = mask & self.known;
        if on_known != 0 {
            let (base, free) = (self.values, self.free_mask());
            let v = base & on_known;
            let scale = inv_sqrt2_pow(on_known.count_ones());
            let a = &mut self.amps[..];
            space::for_each_submask(free, |sub| {
                let i = base | sub;
                let z = a[i as usize] * scale;
                let rest = i & !on_known;
                space::for_each_submask(on_known, |s| {
                    let sign = if (s & v).count_ones() & 1 == 1 {
                        -1.0
                    } else {
                        1.0
                    };
                    a[(rest | s) as usize] = z * sign;
                });
            });
            self.known &= !on_known;
            self.values &= !on_known;
        }
        let mut rest = mask & !on_known;
        while rest != 0 {
            let q = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.apply_free(Gate::H, q);
        }
    }

    /// A gate on a qubit known to hold `|v>`: `U|v> = m[0][v]|0> + m[1][v]|1>`, so each nonzero
    /// amplitude `a` becomes `m[v][v] a` in place and `m[1-v][v] a` across the qubit. The qubit
    /// stays known when one of the two is zero (diagonal and anti-diagonal gates).
    fn apply_on_known(&mut self, m: &Matrix2, q: usize) {
        let bit = 1u64 << q;
        let v = usize::from(self.values & bit != 0);
        let (stay, flip) = (m[v][v], m[1 - v][v]);
        let free = self.free_mask();
        let from_base = self.values;
        let a = &mut self.amps[..];
        if flip == ZERO {
            if stay != ONE {
                space::each(a, from_base, free, |_, z| *z *= stay);
            }
        } else {
            space::for_each_submask(free, |sub| {
                let i = (from_base | sub) as usize;
                let z = a[i];
                a[i] = stay * z;
                a[i ^ bit as usize] = flip * z;
            });
            if stay == ZERO {
                self.values ^= bit;
            } else {
                self.forget(q);
            }
        }
    }

    /// Controlled NOT: flips `target` where `control` is 1.
    ///
    /// Errors: [`SimError::QubitOutOfRange`]; [`SimError::InvalidParameter`] if
    /// `control == target`.
    pub fn cnot(&mut self, control: usize, target: usize) -> Result<(), SimError> {
        self.check_pair("cnot", control, target)?;
        let (cb, tb) = (1u64 << control, 1u64 << target);
        if self.known & cb != 0 {
            if self.values & cb != 0 {
                self.apply_unchecked(Gate::X, target);
            }
        } else if self.known == 0 {
            kernels::cnot(&mut self.amps, control, target);
        } else {
            self.forget(target);
            let mask = self.free_mask() & !cb & !tb;
            space::cnot_sub(&mut self.amps, control, target, self.values, mask);
        }
        Ok(())
    }

    /// Controlled Z (symmetric): negates the amplitudes where both qubits are 1.
    ///
    /// Errors: [`SimError::QubitOutOfRange`]; [`SimError::InvalidParameter`] if `a == b`.
    pub fn cz(&mut self, a: usize, b: usize) -> Result<(), SimError> {
        self.check_pair("cz", a, b)?;
        let (ba, bb) = (1u64 << a, 1u64 << b);
        if self.known & ba != 0 {
            if self.values & ba != 0 {
                self.apply_unchecked(Gate::Z, b);
            }
        } else if self.known & bb != 0 {
            if self.values & bb != 0 {
                self.apply_unchecked(Gate::Z, a);
            }
        } else if self.known == 0 {
            kernels::cz(&mut self.amps, a, b);
        } else {
            let mask = self.free_mask() & !ba & !bb;
            space::cz_sub(&mut self.amps, a, b, self.values, mask);
        }
        Ok(())
    }

    /// Exchanges qubits `a` and `b`. Swapping a qubit with itself is the identity.
    ///
    /// Errors: [`SimError::QubitOutOfRange`].
    pub fn swap(&mut self, a: usize, b: usize) -> Result<(), SimError> {
        self.check_qubit(a)?;
        self.check_qubit(b)?;
        if a == b {
            return Ok(());
        }
        if self.known == 0 {
            kernels::swap(&mut self.amps, a, b);
            return Ok(());
        }
        let (ba, bb) = (1u64 << a, 1u64 << b);
        // Remember what is known about each, swap on the subspace, then exchange the knowledge.
        let ka = (self.known & ba != 0).then_some(self.values & ba != 0);
        let kb = (self.known & bb != 0).then_some(self.values & bb != 0);
        if ka.is_some() && ka == kb {
            return Ok(()); // both known and equal: the state is symmetric in a and b
        }
        self.forget(a);
        self.forget(b);
        let mask = self.free_mask() & !ba & !bb;
        space::swap_sub(&mut self.amps, a, b, self.values, mask);
        if let Some(v) = ka {
            self.mark(b, v);
        }
        if let Some(v) = kb {
            self.mark(a, v);
        }
        Ok(())
    }

    /// The amplitudes an operation on free qubit `q` visits.
    fn space(&self, q: usize) -> Space {
        if self.known == 0 {
            Space::Full
        } else {
            let bit = 1u64 << q;
            Space::Sub {
                base: self.values & !bit,
                mask: self.free_mask() & !bit,
            }
        }
    }

    /// The space for qubit `q` as if it were not known (without changing the bookkeeping).
    fn space_forgetting(&self, q: usize) -> Space {
        let bit = 1u64 << q;
        let known = self.known & !bit;
        if known == 0 {
            Space::Full
        } else {
            Space::Sub {
                base: self.values & !bit,
                mask: full_mask(self.num_qubits) & !known & !bit,
            }
        }
    }

    /// Records that the register is in basis state `index`.
    fn mark_all(&mut self, index: u64) {
        if self.tracking {
            self.known = full_mask(self.num_qubits);
            self.values = index;
        }
    }

    /// The qubits not known to be in a computational basis state (all of them when tracking is
    /// off). Measurements of distinct qubits commute, so a caller measuring several qubits may
    /// use this to measure the free ones first: each such measurement makes its qubit known and
    /// halves the amplitudes the later ones visit.
    pub(crate) fn free_mask(&self) -> u64 {
        full_mask(self.num_qubits) & !self.known
    }

    /// Records that qubit `q` is now in `|v>` (the caller guarantees it).
    fn mark(&mut self, q: usize, v: bool) {
        if self.tracking {
            let bit = 1u64 << q;
            self.known |= bit;
            self.values = (self.values & !bit) | (u64::from(v) << q);
        }
    }

    /// Stops treating qubit `q` as known (always allowed).
    fn forget(&mut self, q: usize) {
        let bit = 1u64 << q;
        self.known &= !bit;
        self.values &= !bit;
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

/// `2^(-k/2)` for `k` up to 64: the power of two exactly from the exponent bits, times one
/// factor `1/sqrt 2` for odd `k`.
fn inv_sqrt2_pow(k: u32) -> f64 {
    let half = f64::from_bits(u64::from(1023 - k / 2) << 52);
    if k % 2 == 1 {
        half * std::f64::consts::FRAC_1_SQRT_2
    } else {
        half
    }
}

fn full_mask(num_qubits: usize) -> u64 {
    (1u64 << num_qubits) - 1
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
