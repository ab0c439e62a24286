//! The additive FFT of Lin, Chung and Han in the novel polynomial basis (see [`super::basis`]),
//! over GF(2^64) with the Cantor basis: n/2 field products and n XORs per level, no Taylor
//! expansions inside the transform.
//!
//! Points: `w_u = sum_j bit_j(u) beta_(j+1)`, value `u` stored at index `u`. A block of `2^k`
//! novel coefficients whose points start at `w_base` (`base` a multiple of `2^k`) is
//! `f = g0 + s_(k-1) g1`; since `s_(k-1)` is GF(2)-linear, vanishes on `span(beta_1 ..
//! beta_(k-1))` and `s_(k-1)(beta_k) = 1`, the values of `f` on the block's two halves are those
//! of `h0 = g0 + c g1` and `h1 = h0 + g1`, with `c = s_(k-1)(w_base) = t[base >> k]`
//! (`s_(k-1)(beta_(j+1)) = beta_(j+2-k)`, and `t` is [`twiddles`](super::field::twiddles)). The
//! forward transform applies this butterfly from the top level down, the inverse from the bottom
//! up (`g1 = h0 + h1`, `g0 = h0 + c g1`).

use super::super::kernel::Kernel;
use super::field::{Local, Twiddles};

/// Blocks of at most this many words (16 KiB, L1-resident with the other operand of the
/// product) are transformed level by level in one kernel call; larger ones recursively, depth
/// first, two levels per pass from four chunks on. 2^11 measured faster than 2^9, 2^10, 2^12 and
/// 2^13 (docs/benchmarks.md, `pa-speed2`).
pub(crate) const CHUNK: usize = 1 << 11;

/// Forward butterfly on one level: `u += c v`, `v += u`.
#[inline(always)]
pub(crate) fn butterfly_fwd_generic(
    mul: impl Fn(u64, u64) -> u64,
    c: u64,
    u: &mut [u64],
    v: &mut [u64],
) {
    for (x, y) in u.iter_mut().zip(v.iter_mut()) {
        *x ^= mul(c, *y);
        *y ^= *x;
    }
}

/// Inverse butterfly: `v += u`, `u += c v`.
#[inline(always)]
pub(crate) fn butterfly_inv_generic(
    mul: impl Fn(u64, u64) -> u64,
    c: u64,
    u: &mut [u64],
    v: &mut [u64],
) {
    for (x, y) in u.iter_mut().zip(v.iter_mut()) {
        *y ^= *x;
        *x ^= mul(c, *y);
    }
}

/// Two levels at once on a block of four quarters `q0 .. q3` (one pass over memory instead of
/// two): the top level pairs `(q0, q2)` and `(q1, q3)` with twiddle `c[0]`, the next pairs
/// `(q0, q1)` with `c[1]` and `(q2, q3)` with `c[2]`.
#[inline(always)]
pub(crate) fn radix4_fwd_generic(mul: impl Fn(u64, u64) -> u64, c: [u64; 3], a: &mut [u64]) {
    let q = a.len() / 4;
    let (h0, h1) = a.split_at_mut(2 * q);
    let (q0, q1) = h0.split_at_mut(q);
    let (q2, q3) = h1.split_at_mut(q);
    for (((w, x), y), z) in q0
        .iter_mut()
        .zip(q1.iter_mut())
        .zip(q2.iter_mut())
        .zip(q3.iter_mut())
    {
        *w ^= mul(c[0], *y);
        *y ^= *w;
        *x ^= mul(c[0], *z);
        *z ^= *x;
        *w ^= mul(c[1], *x);
        *x ^= *w;
        *y ^= mul(c[2], *z);
        *z ^= *y;
    }
}

/// Inverse of [`radix4_fwd_generic`].
#[inline(always)]
pub(crate) fn radix4_inv_generic(mul: impl Fn(u64, u64) -> u64, c: [u64; 3], a: &mut [u64]) {
    let q = a.len() / 4;
    let (h0, h1) = a.split_at_mut(2 * q);
    let (q0, q1) = h0.split_at_mut(q);
    let (q2, q3) = h1.split_at_mut(q);
    for (((w, x), y), z) in q0
        .iter_mut()
        .zip(q1.iter_mut())
        .zip(q2.iter_mut())
        .zip(q3.iter_mut())
    {
        *x ^= *w;
        *w ^= mul(c[1], *x);
        *z ^= *y;
        *y ^= mul(c[2], *z);
        *y ^= *w;
        *w ^= mul(c[0], *y);
        *z ^= *x;
        *x ^= mul(c[0], *z);
    }
}

/// Twiddles of the two levels of a radix-4 step on a block of `n` words at `off`.
fn radix4_twiddles(tw: &Twiddles, n: usize, off: usize) -> [u64; 3] {
    let k = n.trailing_zeros();
    [
        tw.get(off >> k),
        tw.get(off >> (k - 1)),
        tw.get((off + n / 2) >> (k - 1)),
    ]
}

/// Every level of the forward transform of the block `a` (a power of two long) whose points
/// start at index `off` (a multiple of `a.len()`).
#[inline(always)]
pub(crate) fn forward_generic(mul: impl Fn(u64, u64) -> u64 + Copy, tw: &Local<'_>, a: &mut [u64]) {
    let mut half = a.len() / 2;
    let mut k = a.len().trailing_zeros();
    while half >= 1 {
        for (b, block) in a.chunks_exact_mut(2 * half).enumerate() {
            let (u, v) = block.split_at_mut(half);
            butterfly_fwd_generic(mul, tw.get(k, b), u, v);
        }
        half /= 2;
        k -= 1;
    }
}

/// Inverse of [`forward_generic`].
#[inline(always)]
pub(crate) fn inverse_generic(mul: impl Fn(u64, u64) -> u64 + Copy, tw: &Local<'_>, a: &mut [u64]) {
    let mut half = 1;
    let mut k = 1;
    while half < a.len() {
        for (b, block) in a.chunks_exact_mut(2 * half).enumerate() {
            let (u, v) = block.split_at_mut(half);
            butterfly_inv_generic(mul, tw.get(k, b), u, v);
        }
        half *= 2;
        k += 1;
    }
}

/// Forward transform of `a` (a power of two long, points from index `off`).
pub(crate) fn forward(kernel: Kernel, tw: &Twiddles, a: &mut [u64], off: usize) {
    let n = a.len();
    if n <= CHUNK {
        kernel.lch_forward(&tw.local(off, n), a);
        return;
    }
    if n >= 4 * CHUNK {
        kernel.lch_radix4_fwd(radix4_twiddles(tw, n, off), a);
        for (i, q) in a.chunks_exact_mut(n / 4).enumerate() {
            forward(kernel, tw, q, off + i * n / 4);
        }
        return;
    }
    let k = n.trailing_zeros();
    let (u, v) = a.split_at_mut(n / 2);
    kernel.lch_butterfly_fwd(tw.get(off >> k), u, v);
    forward(kernel, tw, u, off);
    forward(kernel, tw, v, off + n / 2);
}

/// Inverse of [`forward`] (the product uses [`convolve`], which fuses it in).
#[cfg(test)]
pub(crate) fn inverse(kernel: Kernel, tw: &Twiddles, a: &mut [u64], off: usize) {
    let n = a.len();
    if n <= CHUNK {
        kernel.lch_inverse(&tw.local(off, n), a);
        return;
    }
    let k = n.trailing_zeros();
    let (u, v) = a.split_at_mut(n / 2);
    inverse(kernel, tw, u, off);
    inverse(kernel, tw, v, off + n / 2);
    kernel.lch_butterfly_inv(tw.get(off >> k), u, v);
}

/// `b <- inverse(forward(b) * a_hat)` (pointwise products in the field), fused so that each
/// cache-sized block is transformed, multiplied and transformed back in one visit.
pub(crate) fn convolve(kernel: Kernel, tw: &Twiddles, b: &mut [u64], a_hat: &[u64], off: usize) {
    let n = b.len();
    if n <= CHUNK {
        let local = tw.local(off, n);
        kernel.lch_forward(&local, b);
        kernel.gf_mul_into(b, a_hat);
        kernel.lch_inverse(&local, b);
        return;
    }
    if n >= 4 * CHUNK {
        let c = radix4_twiddles(tw, n, off);
        kernel.lch_radix4_fwd(c, b);
        for (i, (q, aq)) in b
            .chunks_exact_mut(n / 4)
            .zip(a_hat.chunks_exact(n / 4))
            .enumerate()
        {
            convolve(kernel, tw, q, aq, off + i * n / 4);
        }
        kernel.lch_radix4_inv(c, b);
        return;
    }
    let k = n.trailing_zeros();
    let c = tw.get(off >> k);
    let (u, v) = b.split_at_mut(n / 2);
    let (au, av) = a_hat.split_at(n / 2);
    kernel.lch_butterfly_fwd(c, u, v);
    convolve(kernel, tw, u, au, off);
    convolve(kernel, tw, v, av, off + n / 2);
    kernel.lch_butterfly_inv(c, u, v);
}

#[cfg(test)]
mod tests {
    use super::super::field::{cantor_basis, mul_portable};
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn kernels() -> Vec<Kernel> {
        super::super::super::ClmulBackend::available()
            .into_iter()
            .filter_map(Kernel::for_backend)
            .collect()
    }

    /// `X_i(w) = prod_(j in bits(i)) s_j(w)` with `s_(j+1)(w) = s_j(w)^2 + s_j(w)`.
    fn eval_novel(d: &[u64], w: u64) -> u64 {
        let mut acc = 0;
        for (i, &c) in d.iter().enumerate() {
            let (mut s, mut x) = (w, 1u64);
            for j in 0..usize::BITS {
                if i >> j == 0 {
                    break;
                }
                if (i >> j) & 1 == 1 {
                    x = mul_portable(x, s);
                }
                s = mul_portable(s, s) ^ s;
            }
            acc ^= mul_portable(c, x);
        }
        acc
    }

    /// The transform evaluates the novel-basis polynomial at every point and inverts, for every
    /// kernel, on sizes below and above [`CHUNK`] (the recursion).
    #[test]
    fn transform_evaluates_and_inverts() {
        let mut rng = StdRng::seed_from_u64(61);
        let basis = cantor_basis();
        for log in [0usize, 1, 2, 3, 4, 5, 6, 9, 13, 14] {
            let len = 1usize << log;
            let tw = Twiddles::new(len / 2);
            let f: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let point = |u: usize| {
                (0..log).fold(0u64, |acc, j| {
                    acc ^ if (u >> j) & 1 == 1 { basis[j] } else { 0 }
                })
            };
            // Direct evaluation is O(len^2 log len): check all points when small, a sample else.
            let checked: Vec<usize> = if len <= 512 {
                (0..len).collect()
            } else {
                (0..24).map(|_| rng.random_range(0..len)).collect()
            };
            for kernel in kernels() {
                let mut a = f.clone();
                forward(kernel, &tw, &mut a, 0);
                for &u in &checked {
                    assert_eq!(
                        a[u],
                        eval_novel(&f, point(u)),
                        "{kernel:?} len={len} point {u}"
                    );
                }
                inverse(kernel, &tw, &mut a, 0);
                assert_eq!(a, f, "{kernel:?} len={len}");
            }
        }
    }

    /// The fused convolution equals forward, pointwise product and inverse done one by one.
    #[test]
    fn convolve_equals_separate_steps() {
        let mut rng = StdRng::seed_from_u64(62);
        for log in [3usize, 12, 14] {
            let len = 1usize << log;
            let tw = Twiddles::new(len / 2);
            let a: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let b: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let mut want = b.clone();
            forward(Kernel::Portable, &tw, &mut want, 0);
            for (w, &x) in want.iter_mut().zip(&a) {
                *w = mul_portable(*w, x);
            }
            inverse(Kernel::Portable, &tw, &mut want, 0);
            for kernel in kernels() {
                let mut got = b.clone();
                convolve(kernel, &tw, &mut got, &a, 0);
                assert_eq!(got, want, "{kernel:?} len={len}");
            }
        }
    }
}
