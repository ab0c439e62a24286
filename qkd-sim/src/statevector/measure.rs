//! Measurement and sampling.

use num_complex::Complex64;
use rand_core::Rng;

use super::gate::Basis;
use super::{StateVector, kernels};
use crate::SimError;

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Basis vectors as plain numbers: `Real` when both vectors have real entries.
enum Frame {
    Computational,
    Real([[f64; 2]; 2]),
    Complex([[Complex64; 2]; 2]),
}

impl Frame {
    fn of(basis: Basis) -> Frame {
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
fn masses(amps: &[Complex64], q: usize, frame: &Frame) -> (f64, f64) {
    match frame {
        Frame::Computational => {
            let m1 = kernels::mass_upper(amps, q);
            let mut m0 = 0.0;
            kernels::for_each_half_ref(amps, q, false, |half| m0 += kernels::norm_sqr(half));
            (m0, m1)
        }
        Frame::Real(v) => {
            let (mut m0, mut m1) = (0.0, 0.0);
            pairs_ref(amps, q, |a, b| {
                // <v_k|(a, b)> with real v_k.
                m0 += (a * v[0][0] + b * v[0][1]).norm_sqr();
                m1 += (a * v[1][0] + b * v[1][1]).norm_sqr();
            });
            (m0, m1)
        }
        Frame::Complex(v) => {
            let (mut m0, mut m1) = (0.0, 0.0);
            pairs_ref(amps, q, |a, b| {
                m0 += (v[0][0].conj() * a + v[0][1].conj() * b).norm_sqr();
                m1 += (v[1][0].conj() * a + v[1][1].conj() * b).norm_sqr();
            });
            (m0, m1)
        }
    }
}

/// Read-only walk over the amplitude pairs that differ in bit `q`.
#[inline(always)]
fn pairs_ref<F: FnMut(Complex64, Complex64)>(amps: &[Complex64], q: usize, mut f: F) {
    let s = 1usize << q;
    for chunk in amps.chunks_exact(2 * s) {
        let (lo, hi) = chunk.split_at(s);
        for (a, b) in lo.iter().zip(hi) {
            f(*a, *b);
        }
    }
}

/// Projects qubit `q` onto basis vector `outcome` of `frame` and multiplies by `scale`.
fn collapse(amps: &mut [Complex64], q: usize, frame: &Frame, outcome: bool, scale: f64) {
    let k = usize::from(outcome);
    match frame {
        Frame::Computational => {
            kernels::for_each_half(amps, q, !outcome, |half| {
                half.fill(Complex64::new(0.0, 0.0))
            });
            kernels::for_each_half(amps, q, outcome, |half| {
                for z in half {
                    *z *= scale;
                }
            });
        }
        Frame::Real(v) => {
            let [v0, v1] = [v[k][0] * scale, v[k][1] * scale];
            let [w0, w1] = v[k];
            kernels::for_each_pair(amps, q, |a, b| {
                let c = *a * w0 + *b * w1;
                *a = c * v0;
                *b = c * v1;
            });
        }
        Frame::Complex(v) => {
            let [w0, w1] = [v[k][0].conj(), v[k][1].conj()];
            let [v0, v1] = [v[k][0] * scale, v[k][1] * scale];
            kernels::for_each_pair(amps, q, |a, b| {
                let c = w0 * *a + w1 * *b;
                *a = v0 * c;
                *b = v1 * c;
            });
        }
    }
}

impl StateVector {
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
        let (m0, m1) = masses(&self.amps, qubit, &Frame::of(basis));
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
        let frame = Frame::of(basis);
        let (m0, m1) = masses(&self.amps, qubit, &frame);
        let total = m0 + m1;
        let outcome = uniform(rng) * total < m1;
        let kept = if outcome { m1 } else { m0 };
        // `kept > 0`: an outcome of zero mass is never drawn (u * total < 0 is impossible and
        // u < 1 keeps outcome `false` away when m0 == 0).
        collapse(&mut self.amps, qubit, &frame, outcome, 1.0 / kept.sqrt());
        Ok(outcome)
    }

    /// Measures every qubit in the computational basis and returns the basis-state index (qubit
    /// `q` = bit `q`). The state collapses to that basis state (keeping its phase).
    pub fn measure_all<R: Rng + ?Sized>(&mut self, rng: &mut R) -> u64 {
        let target = uniform(rng) * self.norm_sqr();
        let mut acc = 0.0;
        let mut chosen = None;
        let mut last_nonzero = 0;
        for (i, z) in self.amps.iter().enumerate() {
            let p = z.norm_sqr();
            if p > 0.0 {
                last_nonzero = i;
                acc += p;
                if target < acc {
                    chosen = Some(i);
                    break;
                }
            }
        }
        // Rounding can leave `acc` a hair below `target`: fall back to the last nonzero state.
        let index = chosen.unwrap_or(last_nonzero);
        let z = self.amps[index];
        self.amps.fill(Complex64::new(0.0, 0.0));
        self.amps[index] = z / z.norm();
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
