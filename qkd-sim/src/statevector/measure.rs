//! Measurement and sampling.

use num_complex::Complex64;
use rand_core::Rng;

use super::gate::Basis;
use super::space::{self, Space};
use super::{StateVector, kernels};
use crate::SimError;

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A measurement basis as plain numbers, ready for the kernels: `Real` when both vectors have
/// real entries. Build it once with [`Frame::of`] and reuse it across measurements.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Frame {
    Computational,
    Real([[f64; 2]; 2]),
    Complex([[Complex64; 2]; 2]),
}

impl Frame {
    /// The basis vectors as rows of real numbers, for a real basis (Z gives the identity).
    pub(crate) fn real(&self) -> Option<[[f64; 2]; 2]> {
        match *self {
            Frame::Computational => Some([[1.0, 0.0], [0.0, 1.0]]),
            Frame::Real(v) => Some(v),
            Frame::Complex(_) => None,
        }
    }

    /// The frame of a valid basis (see [`Basis::validate`]).
    pub(crate) fn of(basis: Basis) -> Frame {
        match basis {
            Basis::Z => Frame::Computational,
            Basis::Y => Frame::Complex(basis.vectors()),
            Basis::X | Basis::Linear(_) => {
                let v = basis.vectors();
                Frame::Real([[v[0][0].re, v[0][1].re], [v[1][0].re, v[1][1].re]])
            }
        }
    }
}

/// `(mass of outcome false, mass of outcome true)` of measuring qubit `q` in `frame`.
#[inline(always)]
fn masses(amps: &[Complex64], q: usize, space: Space, frame: &Frame) -> (f64, f64) {
    let (mut m0, mut m1) = (0.0, 0.0);
    match frame {
        Frame::Computational => {
            if space == Space::Full {
                kernels::for_each_half_ref(amps, q, false, |h| m0 += kernels::norm_sqr(h));
                kernels::for_each_half_ref(amps, q, true, |h| m1 += kernels::norm_sqr(h));
            } else {
                space::pairs_ref(amps, q, space, |a, b| {
                    m0 += a.norm_sqr();
                    m1 += b.norm_sqr();
                });
            }
        }
        // <v_k|(a, b)> with real v_k.
        Frame::Real(v) => space::pairs_ref(amps, q, space, |a, b| {
            m0 += (a * v[0][0] + b * v[0][1]).norm_sqr();
            m1 += (a * v[1][0] + b * v[1][1]).norm_sqr();
        }),
        Frame::Complex(v) => space::pairs_ref(amps, q, space, |a, b| {
            m0 += (v[0][0].conj() * a + v[0][1].conj() * b).norm_sqr();
            m1 += (v[1][0].conj() * a + v[1][1].conj() * b).norm_sqr();
        }),
    }
    (m0, m1)
}

/// Projects qubit `q` onto basis vector `outcome` of `frame` and multiplies by `scale`.
fn collapse(
    amps: &mut [Complex64],
    q: usize,
    space: Space,
    frame: &Frame,
    outcome: bool,
    scale: f64,
) {
    let k = usize::from(outcome);
    let zero = Complex64::new(0.0, 0.0);
    match frame {
        Frame::Computational => {
            if space == Space::Full {
                kernels::for_each_half(amps, q, !outcome, |half| half.fill(zero));
                kernels::for_each_half(amps, q, outcome, |half| {
                    for z in half {
                        *z *= scale;
                    }
                });
            } else if outcome {
                space::pairs(amps, q, space, |a, b| {
                    *a = zero;
                    *b *= scale;
                });
            } else {
                space::pairs(amps, q, space, |a, b| {
                    *a *= scale;
                    *b = zero;
                });
            }
        }
        Frame::Real(v) => {
            let [v0, v1] = [v[k][0] * scale, v[k][1] * scale];
            let [w0, w1] = v[k];
            space::pairs(amps, q, space, |a, b| {
                let c = *a * w0 + *b * w1;
                *a = c * v0;
                *b = c * v1;
            });
        }
        Frame::Complex(v) => {
            let [w0, w1] = [v[k][0].conj(), v[k][1].conj()];
            let [v0, v1] = [v[k][0] * scale, v[k][1] * scale];
            space::pairs(amps, q, space, |a, b| {
                let c = w0 * *a + w1 * *b;
                *a = v0 * c;
                *b = v1 * c;
            });
        }
    }
}

/// Projects qubit `q` onto basis vector `outcome` of `frame` and rotates the qubit to `|0>`
/// (without renormalising): each pair `(a, b)` becomes `(<v|(a, b)>, 0)`.
#[inline(always)]
fn absorb(amps: &mut [Complex64], q: usize, space: Space, frame: &Frame, outcome: bool) {
    let k = usize::from(outcome);
    let zero = Complex64::new(0.0, 0.0);
    match frame {
        Frame::Computational if outcome => space::pairs(amps, q, space, |a, b| {
            *a = *b;
            *b = zero;
        }),
        Frame::Computational => space::pairs(amps, q, space, |_, b| *b = zero),
        Frame::Real(v) => {
            let [w0, w1] = v[k];
            space::pairs(amps, q, space, |a, b| {
                *a = *a * w0 + *b * w1;
                *b = zero;
            });
        }
        Frame::Complex(v) => {
            let [w0, w1] = [v[k][0].conj(), v[k][1].conj()];
            space::pairs(amps, q, space, |a, b| {
                *a = w0 * *a + w1 * *b;
                *b = zero;
            });
        }
    }
}

impl StateVector {
    /// Measures `q` in `frame` with the uniform draw `u` in `[0, 1)`, then leaves the qubit in
    /// `|0>`: the photon is absorbed by the detector and its mode holds vacuum. Returns the
    /// outcome (`true` for the second basis vector).
    ///
    /// The outcome is drawn as in [`measure`](Self::measure) (same outcome for the same `u`):
    /// `true` when `u (m0 + m1) < m1`, where `m_k = sum |<v_k|(a, b)>|^2` over the amplitude
    /// pairs `(a, b)` of the qubit. Then, in one pass, the state is projected onto the outcome's
    /// basis vector `v` and the qubit is turned from `v` to `|0>` (a single-qubit unitary): each
    /// pair becomes `(<v|(a, b)>, 0)`. The qubit is known again afterwards, so the amplitudes
    /// the later operations visit halve instead of staying spread over both values of the qubit.
    ///
    /// The projected state is **not renormalised**: its squared norm is the previous one times
    /// the outcome's probability. Every sampling method of this type divides by the total mass
    /// (as this one does with `m0 + m1`), so a sequence of such measurements samples exactly
    /// the distribution of normalised ones, without a square root and a division on the critical
    /// path of each measurement. For registers that are consumed by the measurements (Bob's
    /// detector); rescale before reading amplitudes.
    ///
    /// Unchecked, for the protocol's hot loop: `q < num_qubits`, `u` in `[0, 1)`, and `frame`
    /// built from a valid basis.
    pub(crate) fn measure_absorb(&mut self, q: usize, frame: &Frame, u: f64) -> bool {
        let bit = 1u64 << q;
        if self.known & bit != 0 && matches!(frame, Frame::Computational) {
            // Known in Z: the outcome is certain; moving the amplitudes to |0> is exact.
            let v = self.values & bit != 0;
            if v {
                let space = self.space_forgetting(q);
                absorb(&mut self.amps, q, space, frame, true);
                self.values &= !bit;
            }
            return v;
        }
        self.forget(q);
        let space = self.space(q);
        let (m0, m1) = masses(&self.amps, q, space, frame);
        let outcome = u * (m0 + m1) < m1;
        absorb(&mut self.amps, q, space, frame, outcome);
        self.mark(q, false);
        outcome
    }

    /// [`measure_absorb`](Self::measure_absorb) for a real basis `w` (rows: the two basis
    /// vectors `[<0|v_k>, <1|v_k>]`, orthonormal; the Z basis is the identity), as one
    /// branch-free kernel: whether the qubit is known or free, the same two passes over the
    /// pairs `(a, b)` of the current support, the first summing `|w_k . (a, b)|^2` for both `k`,
    /// the second writing `(w_outcome . (a, b), 0)`. A known qubit has one zero in every pair,
    /// so Z on a known qubit gives its value with certainty and exactly (products with 0 and 1).
    /// Same preconditions and normalisation as `measure_absorb`.
    #[inline]
    pub(crate) fn measure_absorb_real(&mut self, q: usize, w: &[[f64; 2]; 2], u: f64) -> bool {
        let bit = 1u64 << q;
        self.forget(q);
        let (base, mask) = (self.values, self.free_mask() & !bit);
        let b = bit as usize;
        let a = &mut self.amps[..];
        let zero = Complex64::new(0.0, 0.0);
        if mask == 0 {
            // A single pair (every other qubit known): straight-line code, the projections
            // computed once.
            let i = base as usize;
            let (x, y) = (a[i], a[i | b]);
            let c = [x * w[0][0] + y * w[0][1], x * w[1][0] + y * w[1][1]];
            let (m0, m1) = (c[0].norm_sqr(), c[1].norm_sqr());
            let outcome = u * (m0 + m1) < m1;
            a[i] = c[usize::from(outcome)];
            a[i | b] = zero;
            self.mark(q, false);
            return outcome;
        }
        let (mut m0, mut m1) = (0.0, 0.0);
        space::for_each_submask(mask, |sub| {
            let i = (base | sub) as usize;
            let (x, y) = (a[i], a[i | b]);
            m0 += (x * w[0][0] + y * w[0][1]).norm_sqr();
            m1 += (x * w[1][0] + y * w[1][1]).norm_sqr();
        });
        let outcome = u * (m0 + m1) < m1;
        let [w0, w1] = w[usize::from(outcome)];
        space::for_each_submask(mask, |sub| {
            let i = (base | sub) as usize;
            a[i] = a[i] * w0 + a[i | b] * w1;
            a[i | b] = zero;
        });
        self.mark(q, false);
        outcome
    }

    /// Rescales the amplitudes to unit norm (after `measure_absorb`).
    #[cfg(test)]
    pub(crate) fn normalize(&mut self) {
        let scale = 1.0 / self.norm_sqr().sqrt();
        for z in self.amps.iter_mut() {
            *z *= scale;
        }
    }

    /// Probability that measuring `qubit` in the computational basis gives 1.
    pub fn probability_one(&self, qubit: usize) -> Result<f64, SimError> {
        self.probability(qubit, Basis::Z)
    }

    /// Probability that measuring `qubit` in `basis` gives `true` (the second basis vector).
    ///
    /// Computed directly as `sum |<v_1|(a, b)>|^2` over the amplitude pairs of the qubit, without
    /// changing the state; divided by the total mass so rounding drift in the norm cancels.
    pub fn probability(&self, qubit: usize, basis: Basis) -> Result<f64, SimError> {
        self.check_qubit(qubit)?;
        basis.validate()?;
        if basis == Basis::Z && self.known >> qubit & 1 == 1 {
            return Ok((self.values >> qubit & 1) as f64);
        }
        // A known qubit measured in another basis: visit both halves of its pairs.
        let space = self.space_forgetting(qubit);
        let (m0, m1) = masses(&self.amps, qubit, space, &Frame::of(basis));
        Ok(m1 / (m0 + m1))
    }

    /// Measures `qubit` in `basis`, returning `true` for the second basis vector.
    ///
    /// The state collapses: afterwards the qubit is in the measured basis vector (written in the
    /// computational frame), entangled partners are projected accordingly, and the state is
    /// renormalised. Measuring again in the same basis repeats the outcome.
    pub fn measure<R: Rng + ?Sized>(
        &mut self,
        qubit: usize,
        basis: Basis,
        rng: &mut R,
    ) -> Result<bool, SimError> {
        self.check_qubit(qubit)?;
        basis.validate()?;
        // One uniform per measurement whatever the state, so the random stream depends only on
        // the sequence of calls.
        let u = uniform(rng);
        if basis == Basis::Z && self.known >> qubit & 1 == 1 {
            return Ok(self.values >> qubit & 1 == 1);
        }
        self.forget(qubit);
        let space = self.space(qubit);
        let frame = Frame::of(basis);
        let (m0, m1) = masses(&self.amps, qubit, space, &frame);
        let total = m0 + m1;
        let outcome = u * total < m1;
        let kept = if outcome { m1 } else { m0 };
        // `kept > 0`: an outcome of zero mass is never drawn (u * total < 0 is impossible and
        // u < 1 keeps outcome `false` away when m0 == 0).
        collapse(
            &mut self.amps,
            qubit,
            space,
            &frame,
            outcome,
            1.0 / kept.sqrt(),
        );
        if basis == Basis::Z {
            self.mark(qubit, outcome);
        }
        Ok(outcome)
    }

    /// Measures every qubit in the computational basis and returns the basis-state index (qubit
    /// `q` = bit `q`). The state collapses to that basis state (keeping its phase).
    pub fn measure_all<R: Rng + ?Sized>(&mut self, rng: &mut R) -> u64 {
        let target = uniform(rng) * self.norm_sqr();
        let free = self.free_mask();
        let mut acc = 0.0;
        let mut chosen = None;
        let mut last_nonzero = 0;
        // Increasing index order over the amplitudes that can be nonzero (all, or the subspace).
        space::each(&mut self.amps, self.values, free, |i, z| {
            let p = z.norm_sqr();
            if chosen.is_none() && p > 0.0 {
                last_nonzero = i;
                acc += p;
                if target < acc {
                    chosen = Some(i);
                }
            }
        });
        // Rounding can leave `acc` a hair below `target`: fall back to the last nonzero state.
        let index = chosen.unwrap_or(last_nonzero);
        let z = self.amps[index];
        space::each(&mut self.amps, self.values, free, |_, a| {
            *a = Complex64::new(0.0, 0.0)
        });
        self.amps[index] = z / z.norm();
        self.mark_all(index as u64);
        index as u64
    }

    /// Draws `shots` independent computational-basis outcomes (basis-state indices) without
    /// collapsing the state.
    ///
    /// Uses the cumulative distribution: with fewer amplitudes than shots it is tabulated once and
    /// each shot is a binary search; otherwise the uniforms are sorted and matched against the
    /// distribution in one pass. Either way no operator is built and the extra memory is
    /// `O(min(2^n, shots))`. Outcomes are returned in draw order (independent, identically
    /// distributed).
    pub fn sample<R: Rng + ?Sized>(&self, shots: usize, rng: &mut R) -> Vec<u64> {
        let len = self.amps.len();
        if shots == 0 {
            return Vec::new();
        }
        if len <= shots {
            let mut cdf = Vec::with_capacity(len);
            let mut acc = 0.0;
            for z in &self.amps {
                acc += z.norm_sqr();
                cdf.push(acc);
            }
            let last = last_nonzero(&self.amps);
            (0..shots)
                .map(|_| {
                    let t = uniform(rng) * acc;
                    // First index whose cumulative mass exceeds t.
                    let i = cdf.partition_point(|&c| c <= t);
                    i.min(last) as u64
                })
                .collect()
        } else {
            let total = self.norm_sqr();
            let mut draws: Vec<(f64, usize)> =
                (0..shots).map(|k| (uniform(rng) * total, k)).collect();
            draws.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
            let last = last_nonzero(&self.amps);
            let mut out = vec![0u64; shots];
            let mut acc = 0.0;
            let mut i = 0usize;
            for (t, k) in draws {
                while i < last && acc + self.amps[i].norm_sqr() <= t {
                    acc += self.amps[i].norm_sqr();
                    i += 1;
                }
                out[k] = i as u64;
            }
            out
        }
    }
}

fn last_nonzero(amps: &[Complex64]) -> usize {
    amps.iter().rposition(|z| z.norm_sqr() > 0.0).unwrap_or(0)
}
