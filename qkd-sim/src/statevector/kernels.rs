//! The amplitude-update kernels: one pass over the state per operation, no dense operators.
//!
//! Qubit `q` is bit `q` of the basis-state index, so the amplitudes with bit `q` clear and set
//! come in runs of `s = 2^q`: the state splits into chunks of `2s`, whose lower half has the bit
//! clear and upper half set. Every kernel walks these chunks with `chunks_exact_mut` and
//! `split_at_mut` so that the inner loops run over contiguous slices the compiler can vectorise.
//! For `q = 0` (runs of one amplitude) a dedicated loop over pairs avoids the per-chunk overhead.

use num_complex::Complex64;

use super::gate::Matrix2;

/// Calls `f(a, b)` for every pair of amplitudes that differ only in bit `q` (`a` has the bit
/// clear, `b` set). `amps.len()` must be a power of two larger than `2^q`.
#[inline(always)]
pub(crate) fn for_each_pair<F>(amps: &mut [Complex64], q: usize, mut f: F)
where
    F: FnMut(&mut Complex64, &mut Complex64),
{
    let s = 1usize << q;
    if s == 1 {
        for pair in amps.chunks_exact_mut(2) {
            if let [a, b] = pair {
                f(a, b);
            }
        }
    } else {
        for chunk in amps.chunks_exact_mut(2 * s) {
            let (lo, hi) = chunk.split_at_mut(s);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                f(a, b);
            }
        }
    }
}

/// Calls `f` on every run of amplitudes that have bit `q` set (`upper`) or clear (`!upper`).
#[inline(always)]
pub(crate) fn for_each_half<F>(amps: &mut [Complex64], q: usize, upper: bool, mut f: F)
where
    F: FnMut(&mut [Complex64]),
{
    let s = 1usize << q;
    for chunk in amps.chunks_exact_mut(2 * s) {
        let (lo, hi) = chunk.split_at_mut(s);
        f(if upper { hi } else { lo });
    }
}

/// Read-only counterpart of [`for_each_half`].
#[inline(always)]
pub(crate) fn for_each_half_ref<F>(amps: &[Complex64], q: usize, upper: bool, mut f: F)
where
    F: FnMut(&[Complex64]),
{
    let s = 1usize << q;
    for chunk in amps.chunks_exact(2 * s) {
        let (lo, hi) = chunk.split_at(s);
        f(if upper { hi } else { lo });
    }
}

/// Pauli X on qubit `q`: swaps the halves.
pub(crate) fn x(amps: &mut [Complex64], q: usize) {
    if q == 0 {
        for pair in amps.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    } else {
        let s = 1usize << q;
        for chunk in amps.chunks_exact_mut(2 * s) {
            let (lo, hi) = chunk.split_at_mut(s);
            lo.swap_with_slice(hi);
        }
    }
}

/// Pauli Y on qubit `q`: `(a, b) -> (-i b, i a)`.
pub(crate) fn y(amps: &mut [Complex64], q: usize) {
    for_each_pair(amps, q, |a, b| {
        let (a0, b0) = (*a, *b);
        *a = Complex64::new(b0.im, -b0.re);
        *b = Complex64::new(-a0.im, a0.re);
    });
}

/// Multiplies every amplitude with bit `q` set (or clear) by the phase `d`.
pub(crate) fn phase(amps: &mut [Complex64], q: usize, upper: bool, d: Complex64) {
    if q == 0 {
        let k = usize::from(upper);
        for pair in amps.chunks_exact_mut(2) {
            pair[k] *= d;
        }
    } else {
        for_each_half(amps, q, upper, |half| {
            for z in half {
                *z *= d;
            }
        });
    }
}

/// Negates every amplitude with bit `q` set (Pauli Z).
pub(crate) fn negate_upper(amps: &mut [Complex64], q: usize) {
    if q == 0 {
        for pair in amps.chunks_exact_mut(2) {
            pair[1] = -pair[1];
        }
    } else {
        for_each_half(amps, q, true, |half| {
            for z in half {
                *z = -*z;
            }
        });
    }
}

/// Multiplies every amplitude with bit `q` set by `i` (`sign = 1.0`) or `-i` (`sign = -1.0`).
pub(crate) fn mul_i_upper(amps: &mut [Complex64], q: usize, sign: f64) {
    let f = |z: &mut Complex64| *z = Complex64::new(-sign * z.im, sign * z.re);
    if q == 0 {
        for pair in amps.chunks_exact_mut(2) {
            f(&mut pair[1]);
        }
    } else {
        for_each_half(amps, q, true, |half| half.iter_mut().for_each(f));
    }
}

/// Hadamard on qubit `q`: `(a, b) -> ((a + b)/sqrt 2, (a - b)/sqrt 2)`.
pub(crate) fn h(amps: &mut [Complex64], q: usize) {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    for_each_pair(amps, q, |a, b| {
        let (a0, b0) = (*a, *b);
        *a = (a0 + b0) * r;
        *b = (a0 - b0) * r;
    });
}

/// A real 2x2 matrix on qubit `q` (Ry, real bases).
pub(crate) fn real2(amps: &mut [Complex64], q: usize, m: [[f64; 2]; 2]) {
    for_each_pair(amps, q, |a, b| {
        let (a0, b0) = (*a, *b);
        *a = a0 * m[0][0] + b0 * m[0][1];
        *b = a0 * m[1][0] + b0 * m[1][1];
    });
}

/// Rx-shaped matrix `[[c, -i s], [-i s, c]]` on qubit `q`.
pub(crate) fn rx(amps: &mut [Complex64], q: usize, c: f64, s: f64) {
    for_each_pair(amps, q, |a, b| {
        let (a0, b0) = (*a, *b);
        // -i s z = (s z.im, -s z.re)
        *a = Complex64::new(c * a0.re + s * b0.im, c * a0.im - s * b0.re);
        *b = Complex64::new(c * b0.re + s * a0.im, c * b0.im - s * a0.re);
    });
}

/// A general complex 2x2 matrix on qubit `q`.
pub(crate) fn general2(amps: &mut [Complex64], q: usize, m: &Matrix2) {
    let [[m00, m01], [m10, m11]] = *m;
    for_each_pair(amps, q, |a, b| {
        let (a0, b0) = (*a, *b);
        *a = m00 * a0 + m01 * b0;
        *b = m10 * a0 + m11 * b0;
    });
}

/// CNOT: flips `target` on the amplitudes whose `control` bit is set.
pub(crate) fn cnot(amps: &mut [Complex64], control: usize, target: usize) {
    let sc = 1usize << control;
    let st = 1usize << target;
    if control > target {
        // Within the control-set half of every control chunk, X on the target.
        for_each_half(amps, control, true, |half| x(half, target));
    } else {
        // Within every target chunk, swap the control-set runs of its lower and upper halves.
        for chunk in amps.chunks_exact_mut(2 * st) {
            let (lo, hi) = chunk.split_at_mut(st);
            for (l, h) in lo.chunks_exact_mut(2 * sc).zip(hi.chunks_exact_mut(2 * sc)) {
                l[sc..].swap_with_slice(&mut h[sc..]);
            }
        }
    }
}

/// CZ: negates the amplitudes with both bits set. Requires `a != b`.
pub(crate) fn cz(amps: &mut [Complex64], a: usize, b: usize) {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    for_each_half(amps, high, true, |half| negate_upper(half, low));
}

/// SWAP: exchanges the amplitudes with bits `(a, b) = (1, 0)` and `(0, 1)`. Requires `a != b`.
pub(crate) fn swap(amps: &mut [Complex64], a: usize, b: usize) {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let sl = 1usize << low;
    let sh = 1usize << high;
    for chunk in amps.chunks_exact_mut(2 * sh) {
        let (h0, h1) = chunk.split_at_mut(sh);
        for (c0, c1) in h0.chunks_exact_mut(2 * sl).zip(h1.chunks_exact_mut(2 * sl)) {
            // c0[sl..]: low bit set, high clear; c1[..sl]: high bit set, low clear.
            c0[sl..].swap_with_slice(&mut c1[..sl]);
        }
    }
}

/// Sum of `|z|^2` over a slice.
#[inline]
pub(crate) fn norm_sqr(amps: &[Complex64]) -> f64 {
    // Four accumulators break the dependency chain so the loop pipelines and vectorises.
    let mut acc = [0.0f64; 4];
    let mut chunks = amps.chunks_exact(2);
    for c in &mut chunks {
        acc[0] += c[0].re * c[0].re;
        acc[1] += c[0].im * c[0].im;
        acc[2] += c[1].re * c[1].re;
        acc[3] += c[1].im * c[1].im;
    }
    for z in chunks.remainder() {
        acc[0] += z.norm_sqr();
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Probability mass of the amplitudes with bit `q` set.
pub(crate) fn mass_upper(amps: &[Complex64], q: usize) -> f64 {
    if q == 0 {
        let mut acc = [0.0f64; 2];
        for pair in amps.chunks_exact(2) {
            acc[0] += pair[1].re * pair[1].re;
            acc[1] += pair[1].im * pair[1].im;
        }
        acc[0] + acc[1]
    } else {
        let mut total = 0.0;
        for_each_half_ref(amps, q, true, |half| total += norm_sqr(half));
        total
    }
}
